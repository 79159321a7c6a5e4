//! Segment fetch and store: what every task of one capture run shares (the HTTP client, the
//! segment store, the books), and fetching one `t` of one track into the store.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::{watch, Semaphore};
use tokio_util::sync::CancellationToken;

use super::ledger::{Ledger, SegState};
use super::options::CaptureOptions;
use crate::backoff::Backoff;
use crate::capture::contract::{CaptureError, CaptureProgress};
use crate::dash::fetch::{get_retrying, FetchError, RETRY_CAP};
use crate::dash::mp4::{self, InitInfo};
use crate::dash::{SegmentStore, Track};

/// Extra attempts for a listed segment that answers 404 (a CDN edge catching up).
const NOT_FOUND_RETRIES: u32 = 2;

/// State every task of one run shares.
pub(super) struct Shared {
    pub(super) http: reqwest::Client,
    pub(super) segments_dir: PathBuf,
    pub(super) store: Arc<Mutex<SegmentStore>>,
    pub(super) ledger: Mutex<Ledger>,
    pub(super) progress: watch::Sender<CaptureProgress>,
    pub(super) cancel: CancellationToken,
    /// A store failure (disk full, permissions) ends the run; the supervisor decides what next.
    pub(super) fatal: Mutex<Option<CaptureError>>,
    pub(super) permits: Arc<Semaphore>,
    pub(super) opts: CaptureOptions,
}

impl Shared {
    pub(super) fn books<R>(&self, f: impl FnOnce(&mut Ledger) -> R) -> R {
        let mut guard = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    pub(super) fn publish(&self) {
        let p = self.books(|l| l.progress());
        self.progress.send_replace(p);
    }

    /// Records a storage failure: the run ends with it at the next chance.
    pub(super) fn set_fatal(&self, message: String) {
        let mut f = self.fatal.lock().unwrap_or_else(|p| p.into_inner());
        if f.is_none() {
            *f = Some(CaptureError::Storage {
                dir: self.segments_dir.clone(),
                message,
            });
        }
    }

    pub(super) fn fatal(&self) -> Option<CaptureError> {
        self.fatal.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(super) fn held(&self, track: &str, t: u64) -> bool {
        self.store
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .has(track, t)
    }

    /// Stores one segment on a blocking thread; returns the bytes newly written.
    pub(super) async fn put(
        &self,
        track: &'static str,
        t: u64,
        bytes: Bytes,
    ) -> Result<u64, String> {
        let store = self.store.clone();
        let len = bytes.len() as u64;
        let r = tokio::task::spawn_blocking(move || {
            store
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .put(track, t, &bytes)
        })
        .await;
        match r {
            Ok(Ok(true)) => Ok(len),
            Ok(Ok(false)) => Ok(0),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(format!("store task: {e}")),
        }
    }

    /// Fetches a media segment, retrying anything but 404, and checks it is a fragment of
    /// the track (a truncated or non-MP4 body is retried, then given up on).
    pub(super) async fn fetch_segment(
        &self,
        track: &TrackState,
        t: u64,
    ) -> Result<Bytes, FetchError> {
        let url = track
            .track
            .media_url(t)
            .map_err(|e| FetchError::Invalid(e.to_string()))?;
        let trex = track.init.trex;
        let check = move |b: &Bytes| mp4::parse_fragment(b, trex.as_ref()).map(|_| ());
        get_retrying(&self.http, &url, &self.opts.segment, &self.cancel, check)
            .await
            .map(|f| f.body)
    }

    /// Fetches (unless held) and stores one track of `t`.
    ///
    /// `t` is known to exist here (listed, or the video at `t` was found), so a 404 is
    /// a CDN edge that has not caught up yet and is retried too, unlike in a walk's probe;
    /// a 410 is final.
    pub(super) async fn capture_track(
        &self,
        name: &'static str,
        track: &TrackState,
        t: u64,
    ) -> SegState {
        if self.held(name, t) {
            return SegState::Captured;
        }
        let mut fetched = self.fetch_segment(track, t).await;
        let mut backoff = Backoff::new(self.opts.segment.backoff.saturating_mul(4), RETRY_CAP);
        while fetched == Err(FetchError::NotFound) && backoff.attempts() < NOT_FOUND_RETRIES {
            if !backoff.wait(&self.cancel).await {
                return SegState::Missing;
            }
            fetched = self.fetch_segment(track, t).await;
        }
        match fetched {
            Ok(body) => match self.put(name, t, body).await {
                Ok(n) => {
                    self.books(|l| l.bytes += n);
                    SegState::Captured
                }
                Err(e) => {
                    self.set_fatal(format!("storing {name} t={t}: {e}"));
                    SegState::Missing
                }
            },
            Err(FetchError::Cancelled) => SegState::Missing,
            Err(FetchError::Gone) => {
                tracing::warn!(
                    track = name,
                    t,
                    "segment gone from the CDN (410); not asked again"
                );
                SegState::Gone
            }
            Err(e) => {
                tracing::warn!(track = name, t, error = %e, "segment given up");
                SegState::Missing
            }
        }
    }
}

/// The state of a segment from its two tracks' outcomes.
pub(super) fn combined(video: SegState, audio: SegState) -> SegState {
    match (video, audio) {
        (SegState::Captured, SegState::Captured) => SegState::Captured,
        (SegState::Gone, _) | (_, SegState::Gone) => SegState::Gone,
        _ => SegState::Missing,
    }
}

/// One selected representation with what its init segment says.
#[derive(Debug)]
pub(super) struct TrackState {
    pub(super) track: Track,
    pub(super) init: InitInfo,
}

/// The selected pair.
#[derive(Debug)]
pub(super) struct Tracks {
    pub(super) video: TrackState,
    pub(super) audio: TrackState,
}
