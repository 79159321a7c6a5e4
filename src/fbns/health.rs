//! What the FBNS task reports: its connection state, the last error and counters, published
//! through a `watch` channel that the daemon (status endpoint) reads and tests wait on.

use std::time::{Duration, SystemTime};

use tokio::sync::watch;

/// Where the connection is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FbnsState {
    /// Connecting (TCP, TLS, CONNECT, CONNACK) since then.
    Connecting { since: SystemTime },
    /// CONNACK accepted at `since`; `registered` once Instagram took the token.
    Connected { since: SystemTime, registered: bool },
    /// The last attempt failed at `since`; the next one starts after `retry_in`.
    Down {
        since: SystemTime,
        retry_in: Duration,
    },
    /// The task has ended (cancelled, or the receiver of pushes was dropped).
    Stopped,
}

/// Counts since the task started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FbnsCounters {
    /// Connections that got an accepting CONNACK.
    pub connects: u64,
    /// Attempts or connections that ended in an error.
    pub failures: u64,
    /// Live pushes handed to the receiver.
    pub delivered: u64,
    /// Notifications dropped as repeats (same `nid`, or same live event).
    pub duplicates: u64,
    /// Notifications that are silent or not about a live.
    pub ignored: u64,
    /// Messages on the notification topics that could not be read.
    pub malformed: u64,
    /// Live pushes dropped because the receiver's queue was full.
    pub overflowed: u64,
    /// PINGRESPs received.
    pub pongs: u64,
}

/// One snapshot of the task's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FbnsStatus {
    pub state: FbnsState,
    /// The most recent failure, in words (kept after a later success).
    pub last_error: Option<String>,
    /// Failures since the last healthy connection (drives the backoff).
    pub consecutive_failures: u32,
    pub counters: FbnsCounters,
}

/// A cheap, cloneable handle on the task's health.
#[derive(Debug, Clone)]
pub struct FbnsHealth {
    rx: watch::Receiver<FbnsStatus>,
}

impl FbnsHealth {
    /// The current snapshot.
    pub fn status(&self) -> FbnsStatus {
        self.rx.borrow().clone()
    }

    pub fn is_connected(&self) -> bool {
        matches!(self.rx.borrow().state, FbnsState::Connected { .. })
    }

    /// Waits until `f` holds for a snapshot and returns it; `None` if the task ended first.
    pub async fn wait_for(&self, f: impl FnMut(&FbnsStatus) -> bool) -> Option<FbnsStatus> {
        let mut rx = self.rx.clone();
        let status = rx.wait_for(f).await.ok()?.clone();
        Some(status)
    }
}

/// The task's side of the channel.
#[derive(Debug)]
pub(super) struct HealthWriter {
    tx: watch::Sender<FbnsStatus>,
}

impl HealthWriter {
    pub(super) fn new() -> (HealthWriter, FbnsHealth) {
        let (tx, rx) = watch::channel(FbnsStatus {
            state: FbnsState::Connecting {
                since: SystemTime::now(),
            },
            last_error: None,
            consecutive_failures: 0,
            counters: FbnsCounters::default(),
        });
        (HealthWriter { tx }, FbnsHealth { rx })
    }

    pub(super) fn update(&self, f: impl FnOnce(&mut FbnsStatus)) {
        self.tx.send_modify(f);
    }

    pub(super) fn count(&self, f: impl FnOnce(&mut FbnsCounters)) {
        self.tx.send_modify(|s| f(&mut s.counters));
    }
}
