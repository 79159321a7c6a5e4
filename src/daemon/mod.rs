//! `iglive run`: the long-running service. It wires the pipeline together — watcher →
//! recording supervisors → finalized folders — and owns the process-wide concerns: signals
//! (SIGTERM/SIGINT stop, a second one exits at once, SIGHUP reloads), systemd notification,
//! crash recovery at start, the status endpoint, and the limits on concurrent recordings and
//! free disk space.
//!
//! Shutdown plumbing: `shutdown` (a `CancellationToken`) is the root; the watcher and every
//! recording listen to it, recordings are tracked by a `TaskTracker`, and `abort` is the
//! second-signal escape hatch. The daemon never ends the process itself: [`run`] returns how
//! it stopped and `main` turns that into the exit code.

mod detection;
mod launch;
mod push;
mod record;
mod record_target;
mod recovery;
mod seen;
mod service;
mod sessions;
mod systemd;

pub use record::{record, RecordOutcome};
pub use record_target::RecordTarget;

use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// How the daemon stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Stopped cleanly: every recording was finalized with what it had.
    Stopped,
    /// A second stop signal: exited at once; unfinished recordings are recovered next start.
    Aborted,
}

impl Exit {
    /// The process exit code: 0, or 130 like a shell's Ctrl-C for an abort.
    pub fn code(self) -> u8 {
        match self {
            Exit::Stopped => 0,
            Exit::Aborted => 130,
        }
    }
}

/// Runs the daemon until SIGTERM/SIGINT (or `stop` is cancelled, for tests).
pub async fn run(cfg: Config, stop: CancellationToken) -> anyhow::Result<Exit> {
    let (daemon, sources) = service::Daemon::start(cfg).await?;
    Ok(daemon.run(sources, stop).await)
}
