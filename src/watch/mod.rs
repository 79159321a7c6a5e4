//! Detection of lives: which watched account to poll when, within a hard request budget,
//! and the loop that turns polls into one `LiveEvent` per broadcast.
pub mod accounts;
pub mod detector;
pub mod scheduler;
pub mod seen;

pub use accounts::{Accounts, AccountsState, WatchedAccount};
pub use detector::{DetectionSource, Detector, DetectorOptions, LiveEvent, TrayOptions};
pub use scheduler::{Scheduler, SchedulerConfig};
pub use seen::{MemorySeenStore, SeenStore};
