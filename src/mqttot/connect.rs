//! The MQTToT Connect payload: the Thrift `Connect` struct with its `ClientInfo`, in the values
//! FBNS clients send (docs/instagram.md §9 "Thrift compact encoding", the two field tables),
//! compressed into a CONNECT packet; and the reverse, for a broker.

use bytes::Bytes;

use super::framing::{Connect, Packet, CONNECT_FLAGS};
use super::thrift::{self, Field, ThriftError, Value};
use super::zlib::{self, ZlibError, MAX_INFLATED};

/// ClientInfo.appId: Instagram's FBNS application id (all three reference clients).
pub const FBNS_APP_ID: i64 = 567_310_203_415_052;
/// Bits 0, 1, 2, 4, 5, 7 (acknowledged delivery … enum topics, Thrift for inbox).
pub const CLIENT_CAPABILITIES: i64 = 183;
pub const ENDPOINT_CAPABILITIES: i64 = 128;
/// `/fbns_msg`, `/fbns_reg_resp`, `/fbns_exp_logging`.
pub const SUBSCRIBE_TOPICS: [i32; 3] = [76, 80, 231];
pub const CLIENT_TYPE: &str = "device_auth";

/// Why a Connect payload could not be built or read.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("Connect payload: {0}")]
    Thrift(#[from] ThriftError),
    #[error("Connect payload: {0}")]
    Zlib(#[from] ZlibError),
    #[error("Connect payload: cannot compress: {0}")]
    Compress(std::io::Error),
    #[error("Connect payload: field {field} has the wrong type")]
    WrongType { field: &'static str },
    #[error("Connect payload: no clientInfo struct (field 4)")]
    NoClientInfo,
}

/// The Connect struct, flattened: `ClientInfo`'s fields beside the two top-level ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectPayload {
    /// Connect 1: `phone_id[:20]` first, then `di[:20]`.
    pub client_identifier: String,
    /// Connect 5: empty first, then `cs`.
    pub password: String,
    /// ClientInfo 1: 0 first, then `ck`.
    pub user_id: i64,
    pub user_agent: String,
    pub client_capabilities: i64,
    pub endpoint_capabilities: i64,
    /// 1: JSON + zlib.
    pub publish_format: i32,
    pub no_automatic_foreground: bool,
    pub make_user_available_in_foreground: bool,
    /// ClientInfo 8: empty first, then `di`.
    pub device_id: String,
    pub is_initially_foreground: bool,
    /// 1: WIFI.
    pub network_type: i32,
    pub network_subtype: i32,
    pub client_mqtt_session_id: i64,
    pub subscribe_topics: Vec<i32>,
    pub client_type: String,
    pub app_id: i64,
    /// ClientInfo 20: empty first, then `ds`.
    pub device_secret: String,
    pub client_stack: i8,
    /// ClientInfo 26 (instagram_mqtt's "anotherUnknown", fbns-react's luid): -1.
    pub another_unknown: i64,
}

impl ConnectPayload {
    /// A first connection's payload: no device auth, `client_identifier` (the app's
    /// `phone_id[:20]`), `user_agent`, and `session_id` as ClientInfo.clientMqttSessionId (the
    /// clients send the time in ms, low 32 bits).
    pub fn new(client_identifier: String, user_agent: String, session_id: i64) -> Self {
        ConnectPayload {
            client_identifier,
            password: String::new(),
            user_id: 0,
            user_agent,
            client_capabilities: CLIENT_CAPABILITIES,
            endpoint_capabilities: ENDPOINT_CAPABILITIES,
            publish_format: 1,
            no_automatic_foreground: true,
            make_user_available_in_foreground: false,
            device_id: String::new(),
            is_initially_foreground: false,
            network_type: 1,
            network_subtype: 0,
            client_mqtt_session_id: session_id,
            subscribe_topics: SUBSCRIBE_TOPICS.to_vec(),
            client_type: CLIENT_TYPE.into(),
            app_id: FBNS_APP_ID,
            device_secret: String::new(),
            client_stack: 3,
            another_unknown: -1,
        }
    }

    /// The same presenting a device auth: connection key `ck`, secret `cs`, device id `di`
    /// (whose first 20 characters become the client identifier) and device secret `ds`.
    pub fn with_auth(mut self, ck: i64, cs: &str, di: &str, ds: &str) -> Self {
        self.client_identifier = di.chars().take(20).collect();
        self.user_id = ck;
        self.password = cs.to_string();
        self.device_id = di.to_string();
        self.device_secret = ds.to_string();
        self
    }

    /// A first connection: no device auth presented.
    pub fn is_fresh(&self) -> bool {
        self.user_id == 0 && self.password.is_empty()
    }

    /// The Thrift bytes, fields in numeric order as instagrapi writes them.
    pub fn to_thrift(&self) -> Result<Vec<u8>, ThriftError> {
        let bin = |s: &str| Value::Binary(s.as_bytes().to_vec());
        let info = vec![
            Field::new(1, Value::I64(self.user_id)),
            Field::new(2, bin(&self.user_agent)),
            Field::new(3, Value::I64(self.client_capabilities)),
            Field::new(4, Value::I64(self.endpoint_capabilities)),
            Field::new(5, Value::I32(self.publish_format)),
            Field::new(6, Value::Bool(self.no_automatic_foreground)),
            Field::new(7, Value::Bool(self.make_user_available_in_foreground)),
            Field::new(8, bin(&self.device_id)),
            Field::new(9, Value::Bool(self.is_initially_foreground)),
            Field::new(10, Value::I32(self.network_type)),
            Field::new(11, Value::I32(self.network_subtype)),
            Field::new(12, Value::I64(self.client_mqtt_session_id)),
            Field::new(14, Value::I32List(self.subscribe_topics.clone())),
            Field::new(15, bin(&self.client_type)),
            Field::new(16, Value::I64(self.app_id)),
            Field::new(20, bin(&self.device_secret)),
            Field::new(21, Value::Byte(self.client_stack)),
            Field::new(26, Value::I64(self.another_unknown)),
        ];
        thrift::write_struct(&[
            Field::new(1, bin(&self.client_identifier)),
            Field::new(4, Value::Struct(info)),
            Field::new(5, bin(&self.password)),
        ])
    }

    /// Reads Thrift bytes in any field order; absent fields take their zero value, unknown
    /// ones are ignored.
    pub fn from_thrift(bytes: &[u8]) -> Result<ConnectPayload, ConnectError> {
        let top = thrift::read_struct(bytes)?;
        let info = match find(&top, 4) {
            Some(Value::Struct(f)) => f,
            Some(_) => {
                return Err(ConnectError::WrongType {
                    field: "clientInfo",
                })
            }
            None => return Err(ConnectError::NoClientInfo),
        };
        let r = Reader(info);
        Ok(ConnectPayload {
            client_identifier: Reader(&top).text(1, "clientIdentifier")?,
            password: Reader(&top).text(5, "password")?,
            user_id: r.i64(1, "userId")?,
            user_agent: r.text(2, "userAgent")?,
            client_capabilities: r.i64(3, "clientCapabilities")?,
            endpoint_capabilities: r.i64(4, "endpointCapabilities")?,
            publish_format: r.i32(5, "publishFormat")?,
            no_automatic_foreground: r.bool(6, "noAutomaticForeground")?,
            make_user_available_in_foreground: r.bool(7, "makeUserAvailableInForeground")?,
            device_id: r.text(8, "deviceId")?,
            is_initially_foreground: r.bool(9, "isInitiallyForeground")?,
            network_type: r.i32(10, "networkType")?,
            network_subtype: r.i32(11, "networkSubtype")?,
            client_mqtt_session_id: r.i64(12, "clientMqttSessionId")?,
            subscribe_topics: match find(info, 14) {
                Some(Value::I32List(l)) => l.clone(),
                None => Vec::new(),
                Some(_) => {
                    return Err(ConnectError::WrongType {
                        field: "subscribeTopics",
                    })
                }
            },
            client_type: r.text(15, "clientType")?,
            app_id: r.i64(16, "appId")?,
            device_secret: r.text(20, "deviceSecret")?,
            client_stack: match find(info, 21) {
                Some(Value::Byte(b)) => *b,
                None => 0,
                Some(_) => {
                    return Err(ConnectError::WrongType {
                        field: "clientStack",
                    })
                }
            },
            another_unknown: r.i64(26, "anotherUnknown")?,
        })
    }

    /// The CONNECT packet carrying this payload, zlib level 9.
    pub fn to_packet(&self, keep_alive: u16) -> Result<Packet, ConnectError> {
        let payload = zlib::compress(&self.to_thrift()?).map_err(ConnectError::Compress)?;
        Ok(Packet::Connect(Connect {
            keep_alive,
            flags: CONNECT_FLAGS,
            payload: Bytes::from(payload),
        }))
    }

    /// The payload of a received CONNECT (inflated within `MAX_INFLATED`).
    pub fn from_connect(connect: &Connect) -> Result<ConnectPayload, ConnectError> {
        let thrift = zlib::inflate(&connect.payload, MAX_INFLATED)?;
        ConnectPayload::from_thrift(&thrift)
    }
}

fn find(fields: &[Field], id: i16) -> Option<&Value> {
    fields.iter().find(|f| f.id == id).map(|f| &f.value)
}

/// Typed access to a decoded struct's fields.
struct Reader<'a>(&'a [Field]);

impl Reader<'_> {
    fn text(&self, id: i16, field: &'static str) -> Result<String, ConnectError> {
        match find(self.0, id) {
            Some(Value::Binary(b)) => Ok(String::from_utf8_lossy(b).into_owned()),
            None => Ok(String::new()),
            Some(_) => Err(ConnectError::WrongType { field }),
        }
    }

    fn i64(&self, id: i16, field: &'static str) -> Result<i64, ConnectError> {
        match find(self.0, id) {
            Some(Value::I64(n)) => Ok(*n),
            None => Ok(0),
            Some(_) => Err(ConnectError::WrongType { field }),
        }
    }

    fn i32(&self, id: i16, field: &'static str) -> Result<i32, ConnectError> {
        match find(self.0, id) {
            Some(Value::I32(n)) => Ok(*n),
            None => Ok(0),
            Some(_) => Err(ConnectError::WrongType { field }),
        }
    }

    fn bool(&self, id: i16, field: &'static str) -> Result<bool, ConnectError> {
        match find(self.0, id) {
            Some(Value::Bool(b)) => Ok(*b),
            None => Ok(false),
            Some(_) => Err(ConnectError::WrongType { field }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/instagram.md §9: the 91 Thrift bytes instagrapi writes for a first connection.
    const VECTOR: &str = "181430313233343536373839616263646566303132333c16001802554116ee021680021502111218001215021500168e\
                          da960129359801a001ce03180b6465766963655f617574681698a8b7b2e6fd810248001303560100180000";

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    fn first_connect() -> ConnectPayload {
        ConnectPayload::new("0123456789abcdef0123".into(), "UA".into(), 1_234_567)
    }

    #[test]
    fn first_connect_matches_the_reference_vector() {
        let p = first_connect();
        assert!(p.is_fresh());
        let bytes = p.to_thrift().expect("writes");
        assert_eq!(bytes.len(), 91);
        assert_eq!(bytes, hex(VECTOR));
        assert_eq!(ConnectPayload::from_thrift(&bytes).expect("reads"), p);
    }

    #[test]
    fn reads_the_instagram_mqtt_field_order() {
        // Field 26 before 21: `… 48 00 66 01 03 2a 03 00`, 21 in a long-form header.
        let mut v = hex(VECTOR);
        let tail = hex("48001303560100180000");
        let at = v.len() - tail.len();
        assert_eq!(v[at..], tail[..]);
        v.truncate(at);
        v.extend(hex("48006601032a0300180000"));
        assert_eq!(
            ConnectPayload::from_thrift(&v).expect("reads"),
            first_connect()
        );
    }

    #[test]
    fn with_auth_and_through_a_packet() {
        let p = ConnectPayload::new("p".into(), "[FBAN/MQTT;]".into(), 5).with_auth(
            987_654_321_012_345,
            "secret",
            "3f6c2a6e-1d1b-4a6c-9a0e-0123456789ab",
            "dsecret",
        );
        assert!(!p.is_fresh());
        assert_eq!(
            (p.client_identifier.as_str(), p.user_id, p.password.as_str()),
            ("3f6c2a6e-1d1b-4a6c-9", 987_654_321_012_345, "secret")
        );
        let Packet::Connect(c) = p.to_packet(60).expect("packet") else {
            panic!("not a CONNECT");
        };
        assert_eq!(
            (c.keep_alive, c.flags, &c.payload[..2]),
            (60, 0xc2, &[0x78, 0xda][..])
        );
        assert_eq!(ConnectPayload::from_connect(&c).expect("reads"), p);
    }

    #[test]
    fn wrong_shapes_are_errors() {
        let no_info =
            thrift::write_struct(&[Field::new(1, Value::Binary(b"x".to_vec()))]).expect("writes");
        assert!(matches!(
            ConnectPayload::from_thrift(&no_info),
            Err(ConnectError::NoClientInfo)
        ));
        let bad = thrift::write_struct(&[Field::new(
            4,
            Value::Struct(vec![Field::new(1, Value::Binary(vec![]))]),
        )])
        .expect("writes");
        assert!(matches!(
            ConnectPayload::from_thrift(&bad),
            Err(ConnectError::WrongType { field: "userId" })
        ));
    }
}
