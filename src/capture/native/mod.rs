//! The native capture engine: polls the live MPD, fetches every listed segment of the chosen
//! video and audio tracks into the [`SegmentStore`], walks back to the broadcast's first
//! frame beside the live edge, and keeps the supervisor's figures current.
//!
//! Three kinds of work run at once and never wait on each other:
//! * the **live loop** ([`live`]) polls the manifest and queues each new `$Time$`;
//! * **segment tasks** ([`segments`]) fetch one `t` of both tracks (bounded concurrency,
//!   retries);
//! * **walks** ([`walker`]) chain fragments from a known start to a known end through segments
//!   that the manifest no longer lists ([`crate::dash::rewind`]): the rewind from
//!   `publishFrameTime`, and a gap fill whenever a manifest outage outlasted the ~20 s window
//!   (docs/instagram.md §3 "Rewind availability": old segments stay fetchable).
//!
//! Everything on disk is crash-safe and self-describing ([`ledger`] is rebuilt from the store,
//! [`saved_manifest`] keeps the last usable manifest), so a new run on the same directory
//! learns what is held and fetches only the rest.

mod ledger;
mod live;
mod options;
mod saved_manifest;
mod segments;
mod walker;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tokio::sync::{watch, Semaphore};

use super::contract::{CaptureControl, CaptureError, CaptureExit, CaptureProgress, CaptureRequest};
use crate::dash::{SegmentStore, AUDIO, VIDEO};
use ledger::Ledger;
use segments::Shared;

pub use options::CaptureOptions;
pub(crate) use saved_manifest::save as save_manifest;

/// Later rounds for a segment given up on (a long 5xx spell outlasts one round's retries).
pub const MISSING_ROUNDS: u32 = 3;

/// Records `req` until the manifest ends, `control.drain` (finish what is listed) or
/// `control.abort` (stop now), publishing figures through `progress`.
pub async fn run(
    req: CaptureRequest,
    http: reqwest::Client,
    control: CaptureControl,
    progress: watch::Sender<CaptureProgress>,
) -> CaptureExit {
    run_with(req, http, control, progress, CaptureOptions::default()).await
}

/// [`run`] with explicit options.
pub async fn run_with(
    req: CaptureRequest,
    http: reqwest::Client,
    control: CaptureControl,
    progress: watch::Sender<CaptureProgress>,
    opts: CaptureOptions,
) -> CaptureExit {
    let dir = req.segments_dir.clone();
    let storage = |message: String| {
        CaptureExit::Failed(CaptureError::Storage {
            dir: req.segments_dir.clone(),
            message,
        })
    };
    let opened = tokio::task::spawn_blocking(move || SegmentStore::open(dir)).await;
    let store = match opened {
        Ok(Ok(mut s)) => {
            s.set_hook(req.on_segment.clone());
            s
        }
        Ok(Err(e)) => return storage(format!("segment store: {e}")),
        Err(e) => return CaptureExit::Failed(CaptureError::Crashed(format!("segment store: {e}"))),
    };
    let mut ledger = Ledger::default();
    resume_books(&store, &mut ledger);
    let shared = Arc::new(Shared {
        http,
        segments_dir: req.segments_dir.clone(),
        store: Arc::new(Mutex::new(store)),
        ledger: Mutex::new(ledger),
        progress,
        cancel: control.abort.clone(),
        fatal: Mutex::new(None),
        permits: Arc::new(Semaphore::new(opts.concurrency.max(1))),
        opts,
    });
    shared.publish();
    live::Live::new(shared, req, control).run().await
}

/// Learns what an earlier run left on disk: a `t` counts as held when both tracks have it.
/// Durations are estimated from the next held `t` until a manifest or walk states them.
fn resume_books(store: &SegmentStore, ledger: &mut Ledger) {
    let audio: HashSet<u64> = store.list(AUDIO).into_iter().collect();
    let both: Vec<u64> = store
        .list(VIDEO)
        .into_iter()
        .filter(|t| audio.contains(t))
        .collect();
    for (i, &t) in both.iter().enumerate() {
        let d = both
            .get(i + 1)
            .map(|n| n - t)
            .filter(|&d| d <= 10_000)
            .unwrap_or(2000);
        ledger.note_held(t, d);
    }
    ledger.bytes = store.held_bytes();
}
