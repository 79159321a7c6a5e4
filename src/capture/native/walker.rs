//! The rewind walker's view of a capture: [`crate::dash::rewind`] decides which `t` to try
//! next; this adapter fetches the video fragment there (from disk when an earlier run holds
//! it), stores it, and fetches the audio at the same `t` (docs/instagram.md §3: both tracks
//! share `t`).

use std::sync::Arc;

use bytes::Bytes;

use super::ledger::SegState;
use super::segments::{Shared, Tracks};
use crate::dash::mp4::FragmentInfo;
use crate::dash::rewind::RewindSource;
use crate::dash::{AUDIO, VIDEO};

pub(super) struct Walker {
    pub(super) shared: Arc<Shared>,
    pub(super) tracks: Arc<Tracks>,
}

/// A walk fetch that failed for a reason other than 404/410.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct WalkError(String);

impl RewindSource for Walker {
    type Error = WalkError;

    async fn fetch(&mut self, t: u64) -> Result<Option<Bytes>, WalkError> {
        let path = self
            .shared
            .store
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .segment_path(VIDEO, t);
        if let Some(path) = path {
            if let Ok(Ok(b)) = tokio::task::spawn_blocking(move || std::fs::read(path)).await {
                return Ok(Some(Bytes::from(b)));
            }
        }
        match self.shared.fetch_segment(&self.tracks.video, t).await {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.is_absent() => Ok(None),
            Err(e) => Err(WalkError(e.to_string())),
        }
    }

    async fn accept(
        &mut self,
        t: u64,
        fragment: Bytes,
        info: FragmentInfo,
    ) -> Result<(), WalkError> {
        let d = info
            .duration_ms(self.tracks.video.init.timescale)
            .unwrap_or(2000);
        self.shared.books(|l| l.note(t, d));
        let v = if self.shared.held(VIDEO, t) {
            SegState::Captured
        } else {
            match self.shared.put(VIDEO, t, fragment).await {
                Ok(n) => {
                    self.shared.books(|l| l.bytes += n);
                    SegState::Captured
                }
                Err(e) => {
                    self.shared.set_fatal(format!("storing video t={t}: {e}"));
                    return Err(WalkError(e));
                }
            }
        };
        let a = self
            .shared
            .capture_track(AUDIO, &self.tracks.audio, t)
            .await;
        let state = super::segments::combined(v, a);
        self.shared.books(|l| l.set(t, d, state));
        self.shared.publish();
        if self.shared.cancel.is_cancelled() {
            return Err(WalkError("aborted".into()));
        }
        Ok(())
    }
}
