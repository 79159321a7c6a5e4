//! Why the simulator could not start; each message says what to fix.

use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("{path}: cannot read the scenario: {source}")]
    ReadScenario {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid scenario: {0}")]
    InvalidScenario(String),
    #[error("the simulator only listens on loopback; {0} is not a loopback address")]
    NotLoopback(SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("speed must be a positive finite number, got {0}")]
    BadSpeed(f64),
    #[error("media generation failed: {0} (is ffmpeg installed in PATH?)")]
    Media(String),
    #[error("the FBNS broker cannot start: {0}")]
    Fbns(String),
}
