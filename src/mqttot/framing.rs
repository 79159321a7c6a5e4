//! MQTToT framing: MQTT 3.1.1 packets as FBNS uses them (docs/instagram.md §9 "MQTToT against
//! MQTT 3.1.1"). CONNECT names the protocol `MQTToT` at level 3, carries fixed flags `0xC2` and
//! a zlib-compressed Thrift payload instead of the client-id/username/password strings; CONNACK
//! may carry a u16-length-prefixed JSON device auth after its two bytes; topics are numeric
//! strings (`"76"`); PUBACK's fixed-header flags are not checked.
//!
//! No MQTT crate can carry this: `mqttbytes`, `rumqttc`'s codec and `mqttrs` hard-code the
//! protocol name `MQTT` and level 4 (3.1 as `MQIsdp`), `mqtt-protocol` lets the name be chosen
//! but insists on the standard CONNECT payload (with `0xC2` it would look for a user name and a
//! password), and all of them read exactly two CONNACK bytes, dropping the device auth. So this
//! is a small codec of its own, for `tokio_util::codec::Framed`
//! (docs/instagram.md §7 "The Rust crates").
//!
//! The decoder is incremental (a packet may arrive in any number of pieces), refuses a
//! remaining length above `MAX_REMAINING` before buffering it, and returns a typed error, never
//! a panic, for any input.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Largest remaining length accepted (1 MiB): FBNS packets are well under a kilobyte.
pub const MAX_REMAINING: usize = 1024 * 1024;
/// The MQTT 3.1.1 ceiling of the remaining-length varint (four bytes).
const VARINT_MAX: usize = 268_435_455;

/// CONNECT's protocol name and level (docs/instagram.md §9).
pub const PROTOCOL_NAME: &str = "MQTToT";
pub const PROTOCOL_LEVEL: u8 = 3;
/// Username, password and clean-session bits, though no username or password follow.
pub const CONNECT_FLAGS: u8 = 0xC2;

/// Why bytes could not be read or written as an MQTToT packet.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
    #[error("packet of {len} bytes is above the {max}-byte limit; closing the connection")]
    TooLarge { len: usize, max: usize },
    #[error("remaining length is not a valid MQTT varint (more than four bytes)")]
    BadRemainingLength,
    #[error("unknown MQTT packet type {0}")]
    UnknownType(u8),
    #[error("malformed {packet}: {reason}")]
    Malformed {
        packet: &'static str,
        reason: &'static str,
    },
    #[error("CONNECT for protocol {name:?} level {level}, expected \"MQTToT\" level 3")]
    BadProtocol { name: String, level: u8 },
    #[error("connection closed in the middle of a packet ({buffered} bytes buffered)")]
    ClosedMidPacket { buffered: usize },
}

/// Quality of service of a PUBLISH or a subscription.
#[allow(clippy::enum_variant_names)] // the MQTT specification's names
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qos {
    AtMostOnce = 0,
    AtLeastOnce = 1,
    ExactlyOnce = 2,
}

impl Qos {
    fn from_bits(bits: u8) -> Option<Qos> {
        match bits {
            0 => Some(Qos::AtMostOnce),
            1 => Some(Qos::AtLeastOnce),
            2 => Some(Qos::ExactlyOnce),
            _ => None,
        }
    }
}

/// CONNECT: keep-alive and the (compressed) Connect payload, as on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    pub keep_alive: u16,
    /// Always `CONNECT_FLAGS` when sending; kept when decoding, where it is ignored.
    pub flags: u8,
    /// zlib of the Thrift `Connect` struct (see `connect.rs`).
    pub payload: Bytes,
}

/// CONNACK: the return code and, when present, the device-auth JSON after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnAck {
    pub session_present: bool,
    /// 0 accepted; 1–5 as in MQTT (4: bad user name or password, i.e. bad device auth).
    pub return_code: u8,
    /// The bytes of the u16-length-prefixed string after the two CONNACK bytes.
    pub payload: Option<Bytes>,
}

/// PUBLISH. Topics are numeric strings on FBNS (`"76"`, `"79"`, `"80"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    pub topic: String,
    pub qos: Qos,
    pub dup: bool,
    pub retain: bool,
    /// Present exactly when `qos` is above 0.
    pub packet_id: Option<u16>,
    /// As on the wire (zlib-compressed JSON on FBNS).
    pub payload: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    pub packet_id: u16,
    pub topics: Vec<(String, Qos)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    pub packet_id: u16,
    /// Granted QoS per topic (0x80: failure).
    pub return_codes: Vec<u8>,
}

/// One MQTToT packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    Connect(Connect),
    ConnAck(ConnAck),
    Publish(Publish),
    PubAck {
        packet_id: u16,
    },
    Subscribe(Subscribe),
    SubAck(SubAck),
    PingReq,
    PingResp,
    Disconnect,
    /// A valid MQTT packet type FBNS does not use (PUBREC, PUBREL, PUBCOMP, UNSUBSCRIBE,
    /// UNSUBACK); decoded so that a stray one can be skipped rather than end the connection.
    Unhandled {
        packet_type: u8,
    },
}

impl Packet {
    /// The packet's name, for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Packet::Connect(_) => "CONNECT",
            Packet::ConnAck(_) => "CONNACK",
            Packet::Publish(_) => "PUBLISH",
            Packet::PubAck { .. } => "PUBACK",
            Packet::Subscribe(_) => "SUBSCRIBE",
            Packet::SubAck(_) => "SUBACK",
            Packet::PingReq => "PINGREQ",
            Packet::PingResp => "PINGRESP",
            Packet::Disconnect => "DISCONNECT",
            Packet::Unhandled { .. } => "unhandled packet",
        }
    }

    /// The packet as bytes on the wire.
    pub fn to_bytes(&self) -> Result<BytesMut, FrameError> {
        let mut out = BytesMut::new();
        encode(self, &mut out)?;
        Ok(out)
    }
}

/// `tokio_util` codec for MQTToT packets, both directions (the FBNS client and the
/// simulator's broker share it).
#[derive(Debug, Clone, Copy, Default)]
pub struct MqttotCodec;

/// Reads the remaining-length varint from `bytes` (after the first header byte): `None` when
/// more bytes are needed, else `(length, bytes used)`.
fn remaining_length(bytes: &[u8]) -> Result<Option<(usize, usize)>, FrameError> {
    let mut value = 0usize;
    for (i, b) in bytes.iter().take(4).enumerate() {
        value |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    if bytes.len() >= 4 {
        Err(FrameError::BadRemainingLength)
    } else {
        Ok(None)
    }
}

impl Decoder for MqttotCodec {
    type Item = Packet;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Packet>, FrameError> {
        let Some(&first) = src.first() else {
            return Ok(None);
        };
        let Some((len, varint_len)) = remaining_length(&src[1..])? else {
            return Ok(None);
        };
        if len > MAX_REMAINING {
            return Err(FrameError::TooLarge {
                len,
                max: MAX_REMAINING,
            });
        }
        let total = 1 + varint_len + len;
        if src.len() < total {
            src.reserve(total - src.len());
            return Ok(None);
        }
        let mut frame = src.split_to(total).freeze();
        frame.advance(1 + varint_len);
        parse(first, frame).map(Some)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Packet>, FrameError> {
        match self.decode(src)? {
            Some(p) => Ok(Some(p)),
            None if src.is_empty() => Ok(None),
            None => Err(FrameError::ClosedMidPacket {
                buffered: src.len(),
            }),
        }
    }
}

impl Encoder<Packet> for MqttotCodec {
    type Error = FrameError;

    fn encode(&mut self, item: Packet, dst: &mut BytesMut) -> Result<(), FrameError> {
        encode(&item, dst)
    }
}

/// A bounds-checked reader over one packet body.
struct Body {
    bytes: Bytes,
    packet: &'static str,
}

impl Body {
    fn short(&self) -> FrameError {
        FrameError::Malformed {
            packet: self.packet,
            reason: "shorter than its fields",
        }
    }

    fn u8(&mut self) -> Result<u8, FrameError> {
        if self.bytes.remaining() < 1 {
            return Err(self.short());
        }
        Ok(self.bytes.get_u8())
    }

    fn u16(&mut self) -> Result<u16, FrameError> {
        if self.bytes.remaining() < 2 {
            return Err(self.short());
        }
        Ok(self.bytes.get_u16())
    }

    /// A u16-length-prefixed byte string.
    fn prefixed(&mut self) -> Result<Bytes, FrameError> {
        let n = usize::from(self.u16()?);
        if self.bytes.remaining() < n {
            return Err(self.short());
        }
        Ok(self.bytes.split_to(n))
    }

    fn string(&mut self) -> Result<String, FrameError> {
        let b = self.prefixed()?;
        String::from_utf8(b.to_vec()).map_err(|_| FrameError::Malformed {
            packet: self.packet,
            reason: "string is not UTF-8",
        })
    }

    fn rest(&mut self) -> Bytes {
        self.bytes.split_to(self.bytes.remaining())
    }
}

fn parse(first: u8, bytes: Bytes) -> Result<Packet, FrameError> {
    let (kind, flags) = (first >> 4, first & 0x0f);
    let packet = match kind {
        1 => "CONNECT",
        2 => "CONNACK",
        3 => "PUBLISH",
        4 => "PUBACK",
        8 => "SUBSCRIBE",
        9 => "SUBACK",
        _ => "packet",
    };
    let mut b = Body { bytes, packet };
    Ok(match kind {
        1 => {
            let name = b.string()?;
            let level = b.u8()?;
            if name != PROTOCOL_NAME || level != PROTOCOL_LEVEL {
                return Err(FrameError::BadProtocol { name, level });
            }
            let flags = b.u8()?;
            let keep_alive = b.u16()?;
            Packet::Connect(Connect {
                keep_alive,
                flags,
                payload: b.rest(),
            })
        }
        2 => {
            let ack_flags = b.u8()?;
            let return_code = b.u8()?;
            let payload = if b.bytes.has_remaining() {
                Some(b.prefixed()?)
            } else {
                None
            };
            Packet::ConnAck(ConnAck {
                session_present: ack_flags & 1 == 1,
                return_code,
                payload,
            })
        }
        3 => {
            let qos = Qos::from_bits((flags >> 1) & 3).ok_or(FrameError::Malformed {
                packet,
                reason: "QoS 3 does not exist",
            })?;
            let topic = b.string()?;
            let packet_id = if qos == Qos::AtMostOnce {
                None
            } else {
                Some(b.u16()?)
            };
            Packet::Publish(Publish {
                topic,
                qos,
                dup: flags & 0x08 != 0,
                retain: flags & 0x01 != 0,
                packet_id,
                payload: b.rest(),
            })
        }
        // FBNS sets non-standard PUBACK flags (fbns-react); they are not checked.
        4 => Packet::PubAck {
            packet_id: b.u16()?,
        },
        8 => {
            let packet_id = b.u16()?;
            let mut topics = Vec::new();
            while b.bytes.has_remaining() {
                let topic = b.string()?;
                let qos = Qos::from_bits(b.u8()? & 3).ok_or(FrameError::Malformed {
                    packet,
                    reason: "QoS 3 does not exist",
                })?;
                topics.push((topic, qos));
            }
            if topics.is_empty() {
                return Err(FrameError::Malformed {
                    packet,
                    reason: "no topic",
                });
            }
            Packet::Subscribe(Subscribe { packet_id, topics })
        }
        9 => Packet::SubAck(SubAck {
            packet_id: b.u16()?,
            return_codes: b.rest().to_vec(),
        }),
        12 => Packet::PingReq,
        13 => Packet::PingResp,
        14 => Packet::Disconnect,
        5 | 6 | 7 | 10 | 11 => Packet::Unhandled { packet_type: kind },
        other => return Err(FrameError::UnknownType(other)),
    })
}

fn put_prefixed(out: &mut BytesMut, bytes: &[u8], packet: &'static str) -> Result<(), FrameError> {
    let n = u16::try_from(bytes.len()).map_err(|_| FrameError::Malformed {
        packet,
        reason: "string longer than 65535 bytes",
    })?;
    out.put_u16(n);
    out.put_slice(bytes);
    Ok(())
}

fn encode(p: &Packet, dst: &mut BytesMut) -> Result<(), FrameError> {
    let name = p.name();
    let mut body = BytesMut::new();
    let first: u8 = match p {
        Packet::Connect(c) => {
            put_prefixed(&mut body, PROTOCOL_NAME.as_bytes(), name)?;
            body.put_u8(PROTOCOL_LEVEL);
            body.put_u8(c.flags);
            body.put_u16(c.keep_alive);
            body.put_slice(&c.payload);
            0x10
        }
        Packet::ConnAck(a) => {
            body.put_u8(u8::from(a.session_present));
            body.put_u8(a.return_code);
            if let Some(payload) = &a.payload {
                put_prefixed(&mut body, payload, name)?;
            }
            0x20
        }
        Packet::Publish(m) => {
            put_prefixed(&mut body, m.topic.as_bytes(), name)?;
            match (m.qos, m.packet_id) {
                (Qos::AtMostOnce, _) => {}
                (_, Some(id)) => body.put_u16(id),
                (_, None) => {
                    return Err(FrameError::Malformed {
                        packet: name,
                        reason: "QoS above 0 needs a packet id",
                    })
                }
            }
            body.put_slice(&m.payload);
            0x30 | (u8::from(m.dup) << 3) | ((m.qos as u8) << 1) | u8::from(m.retain)
        }
        Packet::PubAck { packet_id } => {
            body.put_u16(*packet_id);
            0x40
        }
        Packet::Subscribe(s) => {
            body.put_u16(s.packet_id);
            for (topic, qos) in &s.topics {
                put_prefixed(&mut body, topic.as_bytes(), name)?;
                body.put_u8(*qos as u8);
            }
            0x82
        }
        Packet::SubAck(s) => {
            body.put_u16(s.packet_id);
            body.put_slice(&s.return_codes);
            0x90
        }
        Packet::PingReq => 0xC0,
        Packet::PingResp => 0xD0,
        Packet::Disconnect => 0xE0,
        Packet::Unhandled { .. } => {
            return Err(FrameError::Malformed {
                packet: name,
                reason: "cannot be sent",
            })
        }
    };
    let len = body.len();
    if len > VARINT_MAX {
        return Err(FrameError::TooLarge {
            len,
            max: VARINT_MAX,
        });
    }
    dst.reserve(len + 5);
    dst.put_u8(first);
    let mut rest = len;
    loop {
        let byte = (rest & 0x7f) as u8;
        rest >>= 7;
        if rest == 0 {
            dst.put_u8(byte);
            break;
        }
        dst.put_u8(byte | 0x80);
    }
    dst.put_slice(&body);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(p: &Packet) -> Vec<u8> {
        p.to_bytes().expect("encodes").to_vec()
    }

    fn decode_all(data: &[u8]) -> Result<Vec<Packet>, FrameError> {
        let mut codec = MqttotCodec;
        let mut buf = BytesMut::from(data);
        let mut out = Vec::new();
        while let Some(p) = codec.decode_eof(&mut buf)? {
            out.push(p);
        }
        Ok(out)
    }

    #[test]
    fn reference_vectors() {
        // docs/instagram.md §9 "Test vectors".
        let sub = Packet::Subscribe(Subscribe {
            packet_id: 1,
            topics: vec![("76".into(), Qos::AtLeastOnce)],
        });
        assert_eq!(
            bytes(&sub),
            [0x82, 0x07, 0x00, 0x01, 0x00, 0x02, 0x37, 0x36, 0x01]
        );
        assert_eq!(
            bytes(&Packet::PubAck { packet_id: 0x1234 }),
            [0x40, 0x02, 0x12, 0x34]
        );
        assert_eq!(bytes(&Packet::PingReq), [0xc0, 0x00]);
        assert_eq!(bytes(&Packet::PingResp), [0xd0, 0x00]);
        assert_eq!(bytes(&Packet::Disconnect), [0xe0, 0x00]);
        let connect = Packet::Connect(Connect {
            keep_alive: 60,
            flags: CONNECT_FLAGS,
            payload: Bytes::from(vec![0x78, 0xda]),
        });
        assert_eq!(
            bytes(&connect)[2..14],
            [0x00, 0x06, b'M', b'Q', b'T', b'T', b'o', b'T', 0x03, 0xc2, 0x00, 0x3c]
        );
        // PUBLISH "79" QoS 1, packet id 2, with a 66-byte payload: remaining length 0x48.
        let publish = Packet::Publish(Publish {
            topic: "79".into(),
            qos: Qos::AtLeastOnce,
            dup: false,
            retain: false,
            packet_id: Some(2),
            payload: Bytes::from(vec![0x78; 66]),
        });
        assert_eq!(
            bytes(&publish)[..8],
            [0x32, 0x48, 0x00, 0x02, 0x37, 0x39, 0x00, 0x02]
        );
    }

    #[test]
    fn every_packet_round_trips_through_any_split() {
        let packets = vec![
            Packet::Connect(Connect {
                keep_alive: 900,
                flags: CONNECT_FLAGS,
                payload: Bytes::from_static(b"\x78\xdapayload"),
            }),
            Packet::ConnAck(ConnAck {
                session_present: false,
                return_code: 0,
                payload: Some(Bytes::from_static(br#"{"ck":1,"cs":"s"}"#)),
            }),
            Packet::ConnAck(ConnAck {
                session_present: false,
                return_code: 4,
                payload: None,
            }),
            Packet::Publish(Publish {
                topic: "76".into(),
                qos: Qos::AtLeastOnce,
                dup: true,
                retain: false,
                packet_id: Some(9),
                payload: Bytes::from(vec![7u8; 300]),
            }),
            Packet::Publish(Publish {
                topic: "80".into(),
                qos: Qos::AtMostOnce,
                dup: false,
                retain: true,
                packet_id: None,
                payload: Bytes::new(),
            }),
            Packet::PubAck { packet_id: 65535 },
            Packet::SubAck(SubAck {
                packet_id: 1,
                return_codes: vec![1],
            }),
            Packet::PingReq,
            Packet::PingResp,
            Packet::Disconnect,
        ];
        let mut wire = Vec::new();
        for p in &packets {
            wire.extend(bytes(p));
        }
        assert_eq!(decode_all(&wire).expect("decodes"), packets);
        // Fed one byte at a time, and in two pieces split at every offset.
        let mut codec = MqttotCodec;
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for b in &wire {
            buf.put_u8(*b);
            while let Some(p) = codec.decode(&mut buf).expect("decodes") {
                out.push(p);
            }
        }
        assert_eq!(out, packets);
        for cut in 0..wire.len() {
            let mut buf = BytesMut::from(&wire[..cut]);
            let mut out = Vec::new();
            while let Some(p) = codec.decode(&mut buf).expect("decodes") {
                out.push(p);
            }
            buf.extend_from_slice(&wire[cut..]);
            while let Some(p) = codec.decode(&mut buf).expect("decodes") {
                out.push(p);
            }
            assert_eq!(out, packets, "split at {cut}");
        }
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        assert!(matches!(
            decode_all(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x01]),
            Err(FrameError::BadRemainingLength)
        ));
        assert!(matches!(
            decode_all(&[0x30, 0xff, 0xff, 0x7f]),
            Err(FrameError::TooLarge { .. })
        ));
        assert!(matches!(
            decode_all(&[0x00, 0x00]),
            Err(FrameError::UnknownType(0))
        ));
        assert!(matches!(
            decode_all(&[0xf0, 0x00]),
            Err(FrameError::UnknownType(15))
        ));
        assert!(matches!(
            decode_all(&[0x36, 0x02, 0x00, 0x00]),
            Err(FrameError::Malformed { .. })
        ));
        assert!(matches!(
            decode_all(&[0x32, 0x03, 0x00, 0x05, 0x37]),
            Err(FrameError::Malformed { .. })
        ));
        assert!(matches!(
            decode_all(&[0x32, 0x04, 0x00, 0x02, 0xff, 0xfe]),
            Err(FrameError::Malformed { .. })
        ));
        let mqtt = [
            0x10, 0x0a, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x3c,
        ];
        assert!(matches!(
            decode_all(&mqtt),
            Err(FrameError::BadProtocol { .. })
        ));
        assert!(matches!(
            decode_all(&[0x32, 0x10, 0x00]),
            Err(FrameError::ClosedMidPacket { buffered: 3 })
        ));
        // PUBACK with non-standard flags and a trailing byte is accepted.
        assert_eq!(
            decode_all(&[0x4f, 0x03, 0x00, 0x07, 0x00]).expect("lenient"),
            [Packet::PubAck { packet_id: 7 }]
        );
    }
}
