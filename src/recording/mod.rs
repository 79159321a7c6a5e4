//! One broadcast's recording: the supervisor that owns the capture and the engagement pollers
//! (heartbeat/viewers, comments, likes), decides when the broadcast has ended, and hands over
//! to the after-live phase (finalization, then the engagement merge in the background) it
//! shares with crash recovery.

mod after_live;
mod capture_task;
mod catch_up;
pub mod comments;
mod context;
mod deps;
mod end;
pub(crate) mod finalize;
mod heartbeat;
pub(crate) mod likes;
mod merge;
pub(crate) mod postlive;
mod registry;
mod supervisor;
mod tasks;
mod waiting;

pub use after_live::AfterLive;
pub use catch_up::catch_up;
pub use context::Ctx;
pub use deps::{Deps, RecorderEvent};
pub use finalize::{FinalizeJob, Finalizer};
pub use merge::{MergeJob, Merges};
pub use registry::{LiveRecording, Registry};
pub use supervisor::{broadcast_json, folder_of, supervise, supervise_claimed, via_json, Target};
pub use waiting::{prepare as prepare_waiting, record_waiting, Waiting};
