//! Recordings in progress and their live figures, shared with the status endpoint and the
//! daemon (which must not start a second recording of the same broadcast).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::capture::CaptureProgress;
use crate::states::RecordingState;

/// One recording in progress, as `/recordings` and `iglive status` show it.
#[derive(Debug, Clone, Serialize)]
pub struct LiveRecording {
    pub broadcast_id: String,
    /// The broadcast's owner.
    pub user_id: String,
    pub username: Option<String>,
    /// The watched accounts it was found through (the owner, guests).
    pub via: Vec<crate::store::Via>,
    pub state: RecordingState,
    pub started_at: f64,
    pub folder: String,
    pub viewers: Option<f64>,
    pub comments: u64,
    pub segments_captured: u64,
    pub segments_missing: u64,
    pub bytes: u64,
    pub duration_s: f64,
    /// Cancelled to hand the recording over to another node: it stops capturing without
    /// finalizing, and the node that takes its lease continues it.
    #[serde(skip)]
    pub handover: CancellationToken,
}

/// Shared map broadcast id → live figures.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    inner: Arc<Mutex<BTreeMap<String, LiveRecording>>>,
}

impl Registry {
    /// Registers a recording; `false` when that broadcast is already being recorded. A
    /// waiting entry of the same broadcast is taken over: its slot has come.
    pub fn claim(&self, r: LiveRecording) -> bool {
        let Ok(mut m) = self.inner.lock() else {
            return false;
        };
        if m.get(&r.broadcast_id)
            .is_some_and(|cur| cur.state != RecordingState::Waiting)
        {
            return false;
        }
        m.insert(r.broadcast_id.clone(), r);
        true
    }

    /// Shows a live that waits for a recording slot (state `waiting`); it takes no slot.
    /// `false` when the broadcast is already known.
    pub fn wait(&self, r: LiveRecording) -> bool {
        let Ok(mut m) = self.inner.lock() else {
            return false;
        };
        if m.contains_key(&r.broadcast_id) {
            return false;
        }
        m.insert(
            r.broadcast_id.clone(),
            LiveRecording {
                state: RecordingState::Waiting,
                ..r
            },
        );
        true
    }

    /// Hands a recording over (see `LiveRecording::handover`); whether it was here.
    pub fn hand_over(&self, broadcast_id: &str) -> bool {
        self.inner
            .lock()
            .ok()
            .and_then(|m| m.get(broadcast_id).map(|r| r.handover.cancel()))
            .is_some()
    }

    /// Hands every recording over (a node leaving while others go on).
    pub fn hand_over_all(&self) -> usize {
        self.inner
            .lock()
            .map(|m| {
                m.values()
                    .filter(|r| r.state != RecordingState::Waiting)
                    .map(|r| r.handover.cancel())
                    .count()
            })
            .unwrap_or(0)
    }

    /// The recording's hand-over token (one never cancelled when it is not here).
    pub fn handover_token(&self, broadcast_id: &str) -> CancellationToken {
        self.inner
            .lock()
            .ok()
            .and_then(|m| m.get(broadcast_id).map(|r| r.handover.clone()))
            .unwrap_or_default()
    }

    pub fn release(&self, broadcast_id: &str) {
        if let Ok(mut m) = self.inner.lock() {
            m.remove(broadcast_id);
        }
    }

    pub fn update(&self, broadcast_id: &str, f: impl FnOnce(&mut LiveRecording)) {
        if let Ok(mut m) = self.inner.lock() {
            if let Some(r) = m.get_mut(broadcast_id) {
                f(r);
            }
        }
    }

    pub fn set_progress(&self, broadcast_id: &str, p: &CaptureProgress) {
        self.update(broadcast_id, |r| {
            r.segments_captured = p.segments_captured;
            r.segments_missing = p.segments_missing;
            r.bytes = p.bytes;
            r.duration_s = p.duration_s;
        });
    }

    pub fn snapshot(&self) -> Vec<LiveRecording> {
        self.inner
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Recordings taking a slot (`recording.max_concurrent`): every entry but the waiting.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .map(|m| {
                m.values()
                    .filter(|r| r.state != RecordingState::Waiting)
                    .count()
            })
            .unwrap_or(0)
    }

    /// Lives waiting for a slot.
    pub fn waiting(&self) -> usize {
        self.inner
            .lock()
            .map(|m| {
                m.values()
                    .filter(|r| r.state == RecordingState::Waiting)
                    .count()
            })
            .unwrap_or(0)
    }

    pub fn contains(&self, broadcast_id: &str) -> bool {
        self.inner
            .lock()
            .map(|m| m.contains_key(broadcast_id))
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str) -> LiveRecording {
        LiveRecording {
            broadcast_id: id.into(),
            user_id: "1".into(),
            username: None,
            via: Vec::new(),
            state: RecordingState::Recording,
            started_at: 0.0,
            folder: String::new(),
            viewers: None,
            comments: 0,
            segments_captured: 0,
            segments_missing: 0,
            bytes: 0,
            duration_s: 0.0,
            handover: CancellationToken::new(),
        }
    }

    #[test]
    fn waiting_entries_take_no_slot_until_claimed() {
        let r = Registry::default();
        assert!(r.claim(entry("a")));
        assert!(r.wait(entry("b")));
        assert!(
            !r.wait(entry("a")),
            "a recording is not put back to waiting"
        );
        assert_eq!((r.len(), r.waiting()), (1, 1));
        assert!(r.contains("b"));
        assert!(r.claim(entry("b")), "the slot of a waiting live comes");
        assert!(!r.claim(entry("b")), "no second recording of one broadcast");
        assert_eq!((r.len(), r.waiting()), (2, 0));
    }
}
