//! One broadcast's recording: the supervisor that owns the capture and the engagement pollers
//! (heartbeat/viewers, comments, likes), decides when the broadcast has ended, and finalizes.

pub mod capture;
pub mod comments;
pub mod context;
pub mod finalize;
pub mod heartbeat;
pub mod likes;
pub mod postlive;
pub mod registry;
pub mod supervisor;

pub use context::{Ctx, Signal};
pub use registry::{LiveRecording, Registry, State};
pub use supervisor::{supervise, Deps, EndReason, RecorderEvent};
