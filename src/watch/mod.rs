//! Detection of lives: which watched account to poll when, within a hard request budget,
//! and the loop that turns polls into one `LiveEvent` per broadcast.
pub(crate) mod accounts;
pub(crate) mod detector;
pub(crate) mod scheduler;
pub(crate) mod seen;

pub use accounts::{Accounts, AccountsState, WatchedAccount};
pub use detector::{DetectionSource, Detector, DetectorOptions, LiveEvent, TrayOptions};
pub use scheduler::SchedulerConfig;
pub use seen::{MemorySeenStore, SeenStore};
