//! Notifications on topic 76 (`/fbns_msg`) as typed `Push` values (docs/instagram.md §9
//! "Notification messages" and "Live broadcast notifications"). The outer JSON carries `nid`,
//! `cp` and `fbpushnotif`, a JSON document inside a string whose `collapse_key` names the event
//! and whose `ig` deep link (`broadcast?id=…&reel_id=…&published_time=…`) names the broadcast.
//! Parsing is lenient (numbers or strings, a missing inner document) and a message that is
//! not a notification at all is a `MessageError` for that message only.

use std::time::SystemTime;

use serde_json::{Map, Value};

/// What a notification announces.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PushKind {
    /// `live_broadcast`: an account started a live video.
    LiveBroadcast,
    /// `live_with_broadcast`: an account went live together with another.
    LiveWithBroadcast,
    /// `live_broadcast_revoke`: the live ended or was withdrawn (an end hint, not a start).
    LiveBroadcastRevoke,
    /// Any other collapse key (`post`, `reachability_silent_push`, `direct_v2_message`, …).
    Other(String),
}

impl PushKind {
    pub fn from_collapse_key(key: &str) -> PushKind {
        match key {
            "live_broadcast" => PushKind::LiveBroadcast,
            "live_with_broadcast" => PushKind::LiveWithBroadcast,
            "live_broadcast_revoke" => PushKind::LiveBroadcastRevoke,
            other => PushKind::Other(other.to_string()),
        }
    }

    /// The collapse key.
    pub fn as_str(&self) -> &str {
        match self {
            PushKind::LiveBroadcast => "live_broadcast",
            PushKind::LiveWithBroadcast => "live_with_broadcast",
            PushKind::LiveBroadcastRevoke => "live_broadcast_revoke",
            PushKind::Other(k) => k,
        }
    }

    /// One of the three live kinds.
    pub fn is_live(&self) -> bool {
        !matches!(self, PushKind::Other(_))
    }

    /// A live start (`live_broadcast` or `live_with_broadcast`).
    pub fn is_start(&self) -> bool {
        matches!(self, PushKind::LiveBroadcast | PushKind::LiveWithBroadcast)
    }
}

/// One notification, as the detector needs it. Every id is only a hint: confirm it with
/// `live/{id}/info/` before recording (docs/instagram.md §9 "How iglive maps a push").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    pub kind: PushKind,
    /// `id` of the `broadcast?…` deep link.
    pub broadcast_id: Option<String>,
    /// `reel_id` of the deep link, else the inner `s`: the broadcaster for `live_broadcast`.
    /// For `live_with_broadcast` which participant it names is unverified; read
    /// `broadcast_owner` and `cobroadcasters` from `live/{id}/info/`.
    pub owner_pk: Option<String>,
    /// Inner `s`: the acting account's pk.
    pub source_pk: Option<String>,
    /// Inner `u`: the logged-in account the notification is for.
    pub recipient_pk: Option<String>,
    /// Outer `nid`: the notification id (duplicates repeat it).
    pub nid: Option<String>,
    /// `published_time` of the deep link; its unit is uncertain (seconds or milliseconds), so
    /// compare it only with other values of the same account.
    pub published_time: Option<i64>,
    /// Inner `m`, the text shown.
    pub message: Option<String>,
    /// A silent push (collapse key `…silent…`, e.g. `reachability_silent_push`).
    pub silent: bool,
    pub received_at: SystemTime,
}

/// Why a message on `/fbns_msg` is not a notification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("notification is not JSON: {0}")]
    NotJson(String),
    #[error("notification is not a JSON object")]
    NotAnObject,
    #[error("notification has no collapse key (`collapse_key`, `cp` or `c`)")]
    NoCollapseKey,
}

/// A string or number as text; anything else is absent.
fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An id safe to put into an API path: digits, letters, `_`, `-`, at most 64 characters.
fn id(v: Option<String>) -> Option<String> {
    v.filter(|s| {
        s.len() <= 64
            && s != "None"
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}

/// The inner `fbpushnotif`: a JSON string (as sent), or already an object; empty otherwise.
fn inner(outer: &Map<String, Value>) -> Map<String, Value> {
    match outer.get("fbpushnotif") {
        Some(Value::String(s)) => match serde_json::from_str(s) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        },
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    }
}

impl Push {
    /// Parses the inflated JSON of one `/fbns_msg` PUBLISH.
    pub fn parse(json: &[u8], received_at: SystemTime) -> Result<Push, MessageError> {
        let outer = match serde_json::from_slice::<Value>(json) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err(MessageError::NotAnObject),
            Err(e) => return Err(MessageError::NotJson(e.to_string())),
        };
        let inner = inner(&outer);
        let key = text(inner.get("collapse_key"))
            .or_else(|| text(outer.get("cp")))
            .or_else(|| text(inner.get("c")))
            .ok_or(MessageError::NoCollapseKey)?;
        let (mut broadcast_id, mut reel_id, mut published_time) = (None, None, None);
        if let Some(link) = text(inner.get("ig")) {
            let (path, query) = link.split_once('?').unwrap_or((&link, ""));
            if path.trim_matches('/') == "broadcast" {
                for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
                    match &*k {
                        "id" => broadcast_id = Some(v.into_owned()),
                        "reel_id" => reel_id = Some(v.into_owned()),
                        "published_time" => {
                            published_time = v.parse::<i64>().ok().or_else(|| {
                                v.parse::<f64>()
                                    .ok()
                                    .filter(|f| f.is_finite() && f.abs() < 1e18)
                                    .map(|f| f as i64)
                            })
                        }
                        _ => {}
                    }
                }
            }
        }
        let source_pk = id(text(inner.get("s")));
        Ok(Push {
            silent: key.contains("silent"),
            kind: PushKind::from_collapse_key(&key),
            broadcast_id: id(broadcast_id),
            owner_pk: id(reel_id).or_else(|| source_pk.clone()),
            source_pk,
            recipient_pk: id(text(inner.get("u"))),
            nid: text(outer.get("nid")),
            published_time,
            message: text(inner.get("m")),
            received_at,
        })
    }

    /// Keys under which a repeat of this notification is recognised: the `nid`, and for a
    /// live push (kind, account, `published_time`) (docs/instagram.md §9).
    pub fn dedup_keys(&self) -> Vec<String> {
        let mut keys = Vec::with_capacity(2);
        if let Some(nid) = &self.nid {
            keys.push(format!("nid:{nid}"));
        }
        if let (true, Some(owner), Some(t)) =
            (self.kind.is_live(), &self.owner_pk, self.published_time)
        {
            keys.push(format!("live:{}:{owner}:{t}", self.kind.as_str()));
        }
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqttot::{self, ConnectPayload, MqttotCodec, Packet, Publish, Qos};
    use bytes::{Bytes, BytesMut};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::time::{Duration, Instant};
    use tokio_util::codec::Decoder;

    fn parse(json: &str) -> Result<Push, MessageError> {
        Push::parse(json.as_bytes(), SystemTime::UNIX_EPOCH)
    }

    #[test]
    fn live_push_of_the_reference_example() {
        // docs/instagram.md §9 "A synthetic live push".
        let inner = r#"{"t":"","m":"alice started a live video. Watch it before it ends!","collapse_key":"live_broadcast","c":"live_broadcast","ig":"broadcast?id=17999999999999999&reel_id=1234567890&published_time=1700000000","s":"1234567890","u":9876543210,"pi":"x","sound":"default","bc":"{\"dt\":0}","SuppressBadge":"1"}"#;
        let outer = serde_json::json!({
            "token": "t", "ck": "1", "pn": "com.instagram.android", "cp": "live_broadcast",
            "nid": "n-1", "fbpushnotif": inner,
        });
        let p = parse(&outer.to_string()).expect("parses");
        assert_eq!(p.kind, PushKind::LiveBroadcast);
        assert!(p.kind.is_start() && !p.silent);
        assert_eq!(p.broadcast_id.as_deref(), Some("17999999999999999"));
        assert_eq!(p.owner_pk.as_deref(), Some("1234567890"));
        assert_eq!(p.recipient_pk.as_deref(), Some("9876543210"));
        assert_eq!(p.published_time, Some(1_700_000_000));
        assert_eq!(p.nid.as_deref(), Some("n-1"));
        assert_eq!(
            p.dedup_keys(),
            ["nid:n-1", "live:live_broadcast:1234567890:1700000000"]
        );
    }

    #[test]
    fn post_silent_and_outer_only_pushes() {
        // iHelp101/XInsta#83 (a post), abbreviated.
        let post = serde_json::json!({"nid": 5, "fbpushnotif":
            r#"{"c":"post","collapse_key":"post","s":"345665244","u":204115507,"ig":"media?id=1913642976221097665_345665244"}"#});
        let p = parse(&post.to_string()).expect("parses");
        assert_eq!(p.kind, PushKind::Other("post".into()));
        assert!(!p.kind.is_live());
        assert_eq!(
            (p.broadcast_id, p.owner_pk.as_deref()),
            (None, Some("345665244"))
        );
        assert_eq!(p.nid.as_deref(), Some("5"));
        let silent = serde_json::json!({"fbpushnotif":
            r#"{"collapse_key":"reachability_silent_push","ig":"news","s":"None"}"#});
        let p = parse(&silent.to_string()).expect("parses");
        assert!(p.silent);
        assert_eq!(p.owner_pk, None, "\"None\" is no pk");
        // The inner document unreadable: the outer collapse key still types the push.
        let p =
            parse(r#"{"cp":"live_broadcast_revoke","fbpushnotif":"{not json"}"#).expect("parses");
        assert_eq!(p.kind, PushKind::LiveBroadcastRevoke);
        // An id that could reach another API path is dropped.
        let p = parse(r#"{"fbpushnotif":"{\"collapse_key\":\"live_broadcast\",\"ig\":\"broadcast?id=../../x&reel_id=1&published_time=1.7e9\"}"}"#)
            .expect("parses");
        assert_eq!(
            (p.broadcast_id, p.published_time),
            (None, Some(1_700_000_000))
        );
    }

    #[test]
    fn garbage_is_a_typed_error() {
        assert!(matches!(parse("nope"), Err(MessageError::NotJson(_))));
        assert_eq!(parse("[1]"), Err(MessageError::NotAnObject));
        assert_eq!(parse(r#"{"nid":"1"}"#), Err(MessageError::NoCollapseKey));
        assert_eq!(
            parse(r#"{"fbpushnotif":"{\"collapse_key\":7}"}"#).map(|p| p.kind),
            Ok(PushKind::Other("7".into()))
        );
    }

    /// Random, truncated, corrupted and compressed-garbage packets through the decoder, the
    /// payload inflation and the notification parser: typed errors, never a panic.
    #[test]
    fn hostile_bytes_through_the_decoder_and_the_parser() {
        let mut rng = StdRng::seed_from_u64(0xfb75);
        let started = Instant::now();
        let valid: Vec<Vec<u8>> = [
            ConnectPayload::new("p".into(), "UA".into(), 1)
                .to_packet(60)
                .expect("connect"),
            Packet::Publish(Publish {
                topic: "76".into(),
                qos: Qos::AtLeastOnce,
                dup: false,
                retain: false,
                packet_id: Some(3),
                payload: Bytes::from(
                    mqttot::compress(br#"{"cp":"live_broadcast"}"#).expect("zlib"),
                ),
            }),
            Packet::PingResp,
        ]
        .iter()
        .map(|p| p.to_bytes().expect("encodes").to_vec())
        .collect();
        let (mut packets, mut errors, mut typed_pushes) = (0u32, 0u32, 0u32);
        for round in 0..20_000u32 {
            let mut bytes: Vec<u8> = match round % 5 {
                // Random bytes behind a random header byte.
                0 => (0..rng.gen_range(0..48)).map(|_| rng.gen()).collect(),
                // A valid packet cut short, or with bytes flipped.
                1 | 2 => {
                    let mut v = valid[rng.gen_range(0..valid.len())].clone();
                    if round % 5 == 1 {
                        v.truncate(rng.gen_range(0..v.len()));
                    } else {
                        for _ in 0..rng.gen_range(1..4) {
                            let i = rng.gen_range(0..v.len());
                            v[i] = rng.gen();
                        }
                    }
                    v
                }
                // A PUBLISH on the notification topic with compressed garbage, or a raw zlib
                // header followed by junk.
                3 => {
                    let junk: Vec<u8> = (0..rng.gen_range(0..200)).map(|_| rng.gen()).collect();
                    let payload = if rng.gen() {
                        mqttot::compress(&junk).expect("zlib")
                    } else {
                        [&[0x78, 0xda][..], &junk].concat()
                    };
                    Packet::Publish(Publish {
                        topic: "76".into(),
                        qos: Qos::AtMostOnce,
                        dup: false,
                        retain: false,
                        packet_id: None,
                        payload: Bytes::from(payload),
                    })
                    .to_bytes()
                    .expect("encodes")
                    .to_vec()
                }
                // A CONNECT whose payload is compressed garbage.
                _ => {
                    let junk: Vec<u8> = (0..rng.gen_range(0..100)).map(|_| rng.gen()).collect();
                    let Ok(Packet::Connect(mut c)) =
                        ConnectPayload::new("p".into(), "UA".into(), 1).to_packet(60)
                    else {
                        panic!("not a CONNECT");
                    };
                    c.payload = Bytes::from(mqttot::compress(&junk).expect("zlib"));
                    Packet::Connect(c).to_bytes().expect("encodes").to_vec()
                }
            };
            if round % 5 == 0 && !bytes.is_empty() {
                bytes[0] = rng.gen();
            }
            let mut codec = MqttotCodec;
            let mut buf = BytesMut::new();
            // Fed in random pieces; then end of stream.
            let mut rest = &bytes[..];
            'feed: loop {
                let n = rng.gen_range(0..=rest.len().min(16));
                buf.extend_from_slice(&rest[..n]);
                rest = &rest[n..];
                let last = rest.is_empty();
                loop {
                    let r = if last {
                        codec.decode_eof(&mut buf)
                    } else {
                        codec.decode(&mut buf)
                    };
                    match r {
                        Ok(Some(p)) => {
                            packets += 1;
                            match p {
                                Packet::Publish(m) => {
                                    if let Ok(json) =
                                        mqttot::payload(&m.payload, mqttot::MAX_INFLATED)
                                    {
                                        if Push::parse(&json, SystemTime::now()).is_ok() {
                                            typed_pushes += 1;
                                        }
                                    }
                                }
                                Packet::Connect(c) => {
                                    let _ = ConnectPayload::from_connect(&c);
                                }
                                _ => {}
                            }
                        }
                        Ok(None) => break,
                        Err(_) => {
                            errors += 1;
                            break 'feed;
                        }
                    }
                }
                if last {
                    break;
                }
            }
        }
        // A zlib bomb inside a valid PUBLISH is refused, not inflated.
        let bomb = mqttot::compress(&vec![b'{'; 64 * 1024 * 1024]).expect("zlib");
        assert!(bomb.len() < (1 << 20));
        assert!(mqttot::payload(&bomb, mqttot::MAX_INFLATED).is_err());
        assert!(
            packets > 1000 && errors > 1000,
            "{packets} packets, {errors} errors"
        );
        assert!(typed_pushes > 0, "an unharmed notification still parses");
        assert!(started.elapsed() < Duration::from_secs(20));
    }
}
