//! One broadcast's recording: the supervisor that owns the capture and the engagement pollers
//! (heartbeat/viewers, comments, likes), decides when the broadcast has ended, and finalizes.

pub mod capture;
pub mod comments;
pub mod context;
pub mod heartbeat;
pub mod likes;
pub mod postlive;

pub use context::{Ctx, Signal};
