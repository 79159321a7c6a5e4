//! Why an FBNS connection attempt or connection failed. Every error ends that connection; the
//! task reconnects with backoff, so each message says what happened and, where an operator
//! can act, what to do.

use std::time::Duration;

use crate::instagram::ApiError;

use crate::mqttot::{ConnectError, FrameError, RegisterError};

use super::auth::AuthError;

#[derive(Debug, thiserror::Error)]
pub enum FbnsError {
    #[error("push setup: {0}")]
    Setup(String),
    #[error("cannot connect to {addr}: {source}; check the network and push.host/push.port")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("TLS handshake with {host} failed: {source}")]
    Tls {
        host: String,
        source: std::io::Error,
    },
    #[error("{what} did not complete within {} ms", .after.as_millis())]
    Timeout { what: &'static str, after: Duration },
    #[error("the broker closed the connection {during}")]
    Closed { during: &'static str },
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("broker sent {got} where {expected} was expected")]
    Unexpected {
        expected: &'static str,
        got: &'static str,
    },
    #[error("broker refused the connection with return code {code} ({})", return_code_name(*.code))]
    Refused { code: u8 },
    #[error("broker rejected the stored device auth (return code 4); it was dropped and the next connection registers afresh")]
    BadAuth,
    #[error("CONNACK carried no device auth for a first connection")]
    NoAuth,
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Payload(#[from] ConnectError),
    #[error(transparent)]
    Register(#[from] RegisterError),
    #[error("push/register failed: {0}")]
    PushRegister(#[from] ApiError),
    #[error("no answer to PINGREQ within {} ms", .0.as_millis())]
    PingTimeout(Duration),
}

/// MQTT 3.1.1's names of the CONNACK return codes.
pub fn return_code_name(code: u8) -> &'static str {
    match code {
        0 => "accepted",
        1 => "unacceptable protocol version",
        2 => "identifier rejected",
        3 => "server unavailable",
        4 => "bad user name or password",
        5 => "not authorized",
        _ => "unknown",
    }
}
