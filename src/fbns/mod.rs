//! FBNS push: Instagram's notifications over MQTToT, as an accelerator in front of polling
//! (docs/instagram.md §9, docs/push.md). `spawn` runs one session's connection and yields live
//! pushes (`Push`) and a health handle; the daemon confirms each push through the API before
//! recording, since delivery is best-effort and the protocol private.
//!
//! Layer: above `instagram` (it calls `push/register/` through `instagram::Client`), below
//! `watch`. `wire` is the protocol alone (framing, Connect payload, zlib, topics), which the
//! simulator's broker shares.

mod auth;
mod client;
mod connect;
mod dedup;
mod error;
mod health;
mod identity;
mod message;
mod mqttot;
mod register;
mod thrift;
pub mod topic;
mod zlib;

pub use auth::{AuthError, AuthStore, DeviceAuth, AUTH_FILE};
pub use client::{spawn, FbnsOptions, Trust, FBNS_HOST, FBNS_PORT};
pub use error::FbnsError;
pub use health::{FbnsCounters, FbnsHealth, FbnsState, FbnsStatus};
pub use identity::DeviceIdentity;
pub use message::{MessageError, Push, PushKind};

/// The MQTToT protocol without the connection: what a broker needs as much as a client.
pub mod wire {
    pub use super::connect::{ConnectError, ConnectPayload, FBNS_APP_ID};
    pub use super::mqttot::{
        ConnAck, Connect, FrameError, MqttotCodec, Packet, Publish, Qos, SubAck, Subscribe,
        MAX_REMAINING,
    };
    pub use super::register::{parse_response, request_json, RegisterError, APP_ID, PACKAGE};
    pub use super::thrift::{read_struct, write_struct, Field, ThriftError, Value};
    pub use super::zlib::{compress, inflate, payload, ZlibError, MAX_INFLATED};
}
