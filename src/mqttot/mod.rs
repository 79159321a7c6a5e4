//! MQTToT, the MQTT variant FBNS speaks (docs/instagram.md §9), as a protocol alone: packet
//! framing, the Thrift compact Connect payload, zlib payloads, topic ids and the registration
//! JSON. No I/O and no knowledge of the recorder, so that the FBNS client (`fbns`) and the
//! simulator's broker share one codec, pinned by the reference's byte vectors.
//!
//! Layer: the bottom line (it imports nothing of the crate).

mod connect;
mod framing;
mod registration;
mod thrift;
pub(crate) mod topic;
mod zlib;

pub use connect::{ConnectError, ConnectPayload};
pub use framing::{ConnAck, FrameError, MqttotCodec, Packet, Publish, Qos, SubAck, Subscribe};
pub use registration::{parse_response, request_json, RegisterError, APP_ID, PACKAGE};
pub use zlib::{compress, payload, MAX_INFLATED};
