//! Recordings in progress and their live figures, shared with the status endpoint and the
//! daemon (which must not start a second recording of the same broadcast).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::capture::CaptureProgress;
use crate::states::RecordingState;

/// One recording in progress, as `/recordings` and `iglive status` show it.
#[derive(Debug, Clone, Serialize)]
pub struct LiveRecording {
    pub broadcast_id: String,
    pub user_id: String,
    pub username: Option<String>,
    pub state: RecordingState,
    pub started_at: f64,
    pub folder: String,
    pub viewers: Option<f64>,
    pub comments: u64,
    pub segments_captured: u64,
    pub segments_missing: u64,
    pub bytes: u64,
    pub duration_s: f64,
}

/// Shared map broadcast id → live figures.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    inner: Arc<Mutex<BTreeMap<String, LiveRecording>>>,
}

impl Registry {
    /// Registers a recording; `false` when that broadcast is already being recorded.
    pub fn claim(&self, r: LiveRecording) -> bool {
        let Ok(mut m) = self.inner.lock() else {
            return false;
        };
        if m.contains_key(&r.broadcast_id) {
            return false;
        }
        m.insert(r.broadcast_id.clone(), r);
        true
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

    pub fn len(&self) -> usize {
        self.inner.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn contains(&self, broadcast_id: &str) -> bool {
        self.inner
            .lock()
            .map(|m| m.contains_key(broadcast_id))
            .unwrap_or(false)
    }
}
