//! What every task of one recording shares: which broadcast, its lease on the pool of sessions
//! (which session its requests go through, and how much its intervals are stretched), the
//! single database writer, and a channel back to the supervisor.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::instagram::{ApiError, Client};
use crate::pool::{Lease, PollerClass};
use crate::states::BroadcastStatus;
use crate::store::{StoreError, Write, Writer};

/// Something a task learned that the supervisor decides on (the end-of-broadcast decision is
/// the supervisor's alone; tasks only report).
#[derive(Debug, Clone, PartialEq)]
pub enum Signal {
    /// The status a heartbeat or `info` reported (`active`, `interrupted`, `stopped`, …).
    Status(BroadcastStatus),
    /// A live endpoint answered 404: the broadcast is over.
    Gone(String),
    /// The manifest carried Instagram's end signal.
    StreamEnded(String),
    /// A session was refused; the pool moves the pollers to another one.
    SessionExpired(String),
}

/// The shared context of one recording's tasks.
#[derive(Clone)]
pub struct Ctx {
    pub broadcast_id: String,
    pub user_id: String,
    /// Unix seconds of the broadcast's `published_time`: provisional origin of offsets until
    /// the capture knows where the video starts.
    pub published_time: f64,
    /// Which session the requests go through; shared by the recording's pollers.
    pub lease: Arc<Lease>,
    pub writer: Writer,
    pub signals: mpsc::Sender<Signal>,
    pub cancel: CancellationToken,
}

impl Ctx {
    /// The client for the next request: the lease's session, or another usable one; waits
    /// while none is. `None` when cancelled.
    pub async fn client(&self) -> Option<Client> {
        self.lease.client(&self.cancel).await
    }

    /// Sleeps for `interval` stretched by the session's throttling slowdown or its budget
    /// plan for `class`, whichever is larger; `false` when cancelled.
    pub async fn pause(&self, interval: Duration, class: PollerClass) -> bool {
        let slowdown = match self.lease.session().and_then(|s| self.lease.member(&s)) {
            Some(m) => m.client.health().slowdown,
            None => 1.0,
        };
        let stretch = self.lease.stretch(class).max(slowdown).clamp(1.0, 64.0);
        tokio::select! {
            _ = self.cancel.cancelled() => false,
            _ = tokio::time::sleep(interval.mul_f64(stretch)) => true,
        }
    }

    /// Reports a signal to the supervisor. Once the supervisor is gone nobody decides on it
    /// any more, so it is dropped.
    pub async fn signal(&self, s: Signal) {
        if self.signals.send(s).await.is_err() {
            tracing::debug!("signal after the supervisor finished; dropped");
        }
    }

    /// Persists `w`. The writer only closes when the daemon stops or the database thread died:
    /// either way a poller has nothing left to do, so the error tells it to stop.
    pub async fn write(&self, w: Write) -> Result<(), StoreError> {
        let r = self.writer.send(w).await;
        if r.is_err() && !self.cancel.is_cancelled() {
            tracing::error!("the database writer has stopped; this poller stops too");
        }
        r
    }

    /// Offset of a unix time into the recording, provisional (see `Ctx::published_time`).
    pub fn offset(&self, unix: f64) -> f64 {
        (unix - self.published_time).max(0.0)
    }

    /// What a poller does with an error: `true` to keep polling, `false` to stop.
    pub async fn on_error(&self, poller: &'static str, e: &ApiError) -> bool {
        use crate::instagram::ApiErrorKind as K;
        match e.kind() {
            K::NotFound => {
                tracing::info!(poller, error = %e, "the broadcast is gone");
                self.signal(Signal::Gone(e.to_string())).await;
                false
            }
            K::LoginRequired | K::Challenge => {
                // The session's governor marked it; the next request goes through another.
                tracing::error!(poller, error = %e, "the session was refused; moving on");
                self.signal(Signal::SessionExpired(e.to_string())).await;
                true
            }
            _ => {
                tracing::warn!(poller, error = %e, "poll failed");
                true
            }
        }
    }
}
