//! What a recording needs from the daemon, and what the daemon hears back.

use std::path::PathBuf;

use tokio::sync::mpsc;

use crate::config::RecordingConfig;
use crate::dash::SegmentHook;
use crate::objects::Uploads;
use crate::pool::Pool;
use crate::store::{Catalog, Writer};

use super::merge::Merges;
use super::registry::Registry;

/// Everything a recording needs from the daemon.
#[derive(Clone)]
pub struct Deps {
    /// The sessions every API request of a recording goes through.
    pub pool: Pool,
    /// For the CDN (manifests and segments): no Instagram cookies are sent there.
    pub http: reqwest::Client,
    pub writer: Writer,
    pub store: Catalog,
    pub recording: RecordingConfig,
    pub recordings_dir: PathBuf,
    /// Below this much free space a capture that failed to write waits instead of retrying.
    pub min_free_space: u64,
    pub registry: Registry,
    /// The engagement merges after the end, in the background.
    pub merges: Merges,
    /// Finished folders and live segments to object storage (disabled without
    /// `storage.object_store`).
    pub uploads: Uploads,
    pub events: Option<mpsc::Sender<RecorderEvent>>,
}

impl Deps {
    /// The capture's hook that hands each new segment file to the live upload.
    pub fn segment_hook(&self) -> Option<SegmentHook> {
        let uploads = self.uploads.clone();
        uploads
            .is_enabled()
            .then(|| SegmentHook::new(move |path, bytes| uploads.segment(path, bytes)))
    }

    /// Tells the daemon (notifications, status); nothing to do once it stopped listening.
    pub async fn tell(&self, ev: RecorderEvent) {
        if let Some(tx) = &self.events {
            if tx.send(ev).await.is_err() {
                tracing::debug!("recorder event after the daemon stopped listening");
            }
        }
    }
}

/// What the daemon (notifications, status) hears about recordings.
#[derive(Debug, Clone)]
pub enum RecorderEvent {
    Started {
        broadcast_id: String,
        user_id: String,
        username: Option<String>,
        folder: PathBuf,
    },
    Finished {
        broadcast_id: String,
        user_id: String,
        username: Option<String>,
        folder: PathBuf,
        ok: bool,
        reason: String,
    },
    SessionExpired(String),
    /// Stopped here without finalizing: another node continues it.
    HandedOver {
        broadcast_id: String,
        user_id: String,
    },
}
