//! Why a recording ended: the first end signal wins, and its reason is written to
//! `broadcasts.end_reason` and `broadcast.json`.

use crate::states::BroadcastStatus;

/// Why a recording ended.
#[derive(Debug, Clone, PartialEq)]
pub enum EndReason {
    /// The broadcast's status left `active`/`interrupted` (`stopped`, `hard_stop`, `post_live`).
    Status(BroadcastStatus),
    /// A live endpoint answered 404.
    Gone,
    /// The manifest carried the end signal.
    StreamEnded,
    /// `interrupted` for longer than the grace period.
    InterruptedTimeout,
    /// iglive was asked to stop; the recording holds what was captured so far.
    Shutdown,
    /// Another node continues the recording (this one is leaving, or lost the lease).
    HandedOver,
    /// The capture gave up and no poller can tell whether the broadcast goes on.
    CaptureFailed(String),
}

impl EndReason {
    pub fn describe(&self) -> String {
        match self {
            EndReason::Status(s) => format!("broadcast status became {s}"),
            EndReason::Gone => "the broadcast is gone (404)".into(),
            EndReason::StreamEnded => "the stream signalled its end".into(),
            EndReason::InterruptedTimeout => "interrupted for longer than the grace period".into(),
            EndReason::Shutdown => "cut short by an iglive shutdown".into(),
            EndReason::HandedOver => "handed over to another node".into(),
            EndReason::CaptureFailed(e) => format!("capture failed: {e}"),
        }
    }

    /// An end the API did not state: the final status is worth asking for once.
    pub fn wants_final_status(&self) -> bool {
        matches!(self, EndReason::StreamEnded | EndReason::Gone)
    }
}
