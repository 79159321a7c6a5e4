//! FBNS push: Instagram's notifications over MQTToT, as an accelerator in front of polling
//! (docs/instagram.md §9, docs/push.md). `spawn` runs one session's connection and yields live
//! pushes (`Push`) and a health handle; the daemon confirms each push through the API before
//! recording, since delivery is best-effort and the protocol private.
//!
//! Layer: above `instagram` (it calls `push/register/` through `instagram::Client`), below
//! `watch`; the wire protocol itself is `mqttot`, on the bottom line.

mod auth;
mod client;
mod dedup;
mod error;
mod health;
mod identity;
mod message;

pub use auth::{DeviceAuth, DeviceAuthStore, AUTH_FILE};
pub use client::{spawn, FbnsOptions, FbnsTrust};
pub use error::FbnsError;
pub use health::{FbnsCounters, FbnsHealth, FbnsState, FbnsStatus};
pub use identity::FbnsIdentity;
pub use message::{Push, PushKind};
