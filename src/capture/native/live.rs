//! The live loop: polls the manifest every `minimumUpdatePeriod`, selects the tracks and
//! fetches their init segments, queues each new `t` of the window as a segment task, starts
//! walks for what the window never showed (the rewind, outage gaps, the tail at the end), and
//! finishes the run: waits for queued segments and bounded walks, with a last round for the
//! missing ones.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::task::JoinSet;
use tracing::Instrument as _;

use super::ledger::SegState;
use super::segments::{self, Shared, TrackState, Tracks};
use super::walker::Walker;
use super::{saved_manifest, MISSING_ROUNDS};
use crate::backoff::Backoff;
use crate::capture::contract::{CaptureControl, CaptureError, CaptureExit, CaptureRequest};
use crate::dash::fetch::{get_once, get_retrying, FetchError, RETRY_CAP};
use crate::dash::mp4;
use crate::dash::rewind::{self, RewindPlan};
use crate::dash::{LiveManifest, ManifestError, Track, AUDIO, VIDEO};

/// The live loop's own state.
pub(super) struct Live {
    shared: Arc<Shared>,
    req: CaptureRequest,
    control: CaptureControl,
    tracks: Option<Arc<Tracks>>,
    segs: JoinSet<()>,
    walks: JoinSet<()>,
    /// End of the last `t` any manifest listed: a later window starting beyond it means
    /// an outage hid segments, which a walk then fetches.
    listed_end: Option<u64>,
    first_manifest: bool,
    /// Rounds used and when the last one started, per missing `t`.
    retries: HashMap<u64, (u32, Instant)>,
}

/// What one manifest poll concluded.
enum Poll {
    Continue(Duration),
    Ended,
}

/// Why one manifest poll gave nothing usable; counted against the failure budget.
#[derive(Debug, thiserror::Error)]
enum PollError {
    #[error("{0}")]
    Fetch(#[from] FetchError),
    #[error("{0}")]
    Manifest(#[from] ManifestError),
    #[error("the manifest lists no {0} track")]
    NoTrack(&'static str),
    #[error("track {0} has no init segment")]
    NoInit(String),
    #[error("init segment of {track}: {reason}")]
    Init { track: String, reason: String },
    #[error("storing the {track} init: {reason}")]
    StoreInit { track: &'static str, reason: String },
    #[error("aborted")]
    Aborted,
}

impl Live {
    pub(super) fn new(shared: Arc<Shared>, req: CaptureRequest, control: CaptureControl) -> Live {
        Live {
            shared,
            req,
            control,
            tracks: None,
            segs: JoinSet::new(),
            walks: JoinSet::new(),
            listed_end: None,
            first_manifest: true,
            retries: HashMap::new(),
        }
    }

    /// Runs until the end, a drain, an abort or a failure; no task of the run outlives it.
    pub(super) async fn run(mut self) -> CaptureExit {
        let exit = self.live_loop().await;
        self.segs.abort_all();
        self.walks.abort_all();
        self.shared.publish();
        exit
    }

    async fn live_loop(&mut self) -> CaptureExit {
        let mut failing_since: Option<Instant> = None;
        let mut backoff = Backoff::new(self.shared.opts.manifest.backoff, RETRY_CAP);
        let mut draining = false;
        loop {
            if self.control.abort.is_cancelled() {
                return CaptureExit::Stopped;
            }
            if let Some(e) = self.shared.fatal() {
                return CaptureExit::Failed(e);
            }
            if self.control.drain.is_cancelled() {
                draining = true;
            }
            self.reap();
            let wait = match self.poll().await {
                Ok(Poll::Ended) => {
                    self.shared.books(|l| l.stream_ended = true);
                    let bound = self.shared.opts.end_walk_bound;
                    return self.finish(bound, CaptureExit::StreamEnded).await;
                }
                Ok(Poll::Continue(next)) => {
                    failing_since = None;
                    backoff.reset();
                    self.retry_missing(false);
                    next
                }
                Err(PollError::Aborted) => return CaptureExit::Stopped,
                // Draining and the manifest is gone (404/410): the broadcast is over and
                // waiting out the failure budget only delays what the saved manifest can
                // still reach (a catch-up after the end, docs/instagram.md §3).
                Err(PollError::Fetch(e)) if draining && e.is_absent() => {
                    tracing::info!(error = %e, "the manifest is gone; walking from the saved one");
                    self.walk_tail().await;
                    let bound = self.shared.opts.drain_walk_bound;
                    return self.finish(bound, CaptureExit::Stopped).await;
                }
                Err(e) => {
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    let failing_for = since.elapsed();
                    tracing::warn!(error = %e, ?failing_for, "manifest failed");
                    if failing_for >= self.shared.opts.failure_budget {
                        let bound = self.shared.opts.drain_walk_bound;
                        let error = CaptureError::ManifestUnavailable {
                            failing_for,
                            last: e.to_string(),
                        };
                        return self.finish(bound, CaptureExit::Failed(error)).await;
                    }
                    backoff.next_delay().min(self.shared.opts.poll_ceiling)
                }
            };
            self.shared.publish();
            if draining {
                // The one last manifest after the drain request has been read. The end
                // may have come before the manifest showed it (or it is gone already):
                // segments past the last listed one are still worth a bounded look.
                self.walk_tail().await;
                let bound = self.shared.opts.drain_walk_bound;
                return self.finish(bound, CaptureExit::Stopped).await;
            }
            tokio::select! {
                _ = self.control.abort.cancelled() => return CaptureExit::Stopped,
                _ = self.control.drain.cancelled() => draining = true,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Starts another round for segments given up on: after `missing_retry_after` per
    /// round, or right away when `now` (the end), at most [`MISSING_ROUNDS`] per `t`.
    fn retry_missing(&mut self, now: bool) {
        let Some(tracks) = self.tracks.clone() else {
            return;
        };
        let at = Instant::now();
        let after = self.shared.opts.missing_retry_after;
        for (t, d) in self.shared.books(|l| l.missing()) {
            let e = self.retries.entry(t).or_insert((0, at));
            if e.0 >= MISSING_ROUNDS || (!now && at.duration_since(e.1) < after) {
                continue;
            }
            *e = (e.0 + 1, at);
            self.shared.books(|l| l.set(t, d, SegState::Pending));
            self.spawn_segment(tracks.clone(), t, d);
        }
    }

    /// Drops finished tasks so the sets stay small over a long broadcast.
    fn reap(&mut self) {
        while self.segs.try_join_next().is_some() {}
        while self.walks.try_join_next().is_some() {}
    }

    /// Waits for queued segments and (bounded) walks, then reports `exit`.
    async fn finish(&mut self, walk_bound: Duration, exit: CaptureExit) -> CaptureExit {
        let abort = self.control.abort.clone();
        let segs = async { while self.segs.join_next().await.is_some() {} };
        tokio::select! {
            _ = abort.cancelled() => return CaptureExit::Stopped,
            _ = segs => {}
        }
        let walks = async { while self.walks.join_next().await.is_some() {} };
        tokio::select! {
            _ = abort.cancelled() => return CaptureExit::Stopped,
            r = tokio::time::timeout(walk_bound, walks) => if r.is_err() {
                tracing::warn!(?walk_bound, "rewind did not finish in time; the rest counts as missing");
                self.walks.abort_all();
                self.shared.books(|l| l.walks_running = 0);
            }
        }
        // A last round for what is still missing, now that nothing else competes.
        self.retry_missing(true);
        let segs = async { while self.segs.join_next().await.is_some() {} };
        tokio::select! {
            _ = abort.cancelled() => return CaptureExit::Stopped,
            _ = segs => {}
        }
        self.shared.publish();
        if let Some(e) = self.shared.fatal() {
            return CaptureExit::Failed(e);
        }
        exit
    }

    /// One manifest fetch and everything it implies.
    async fn poll(&mut self) -> Result<Poll, PollError> {
        let opts = &self.shared.opts;
        let fetched = tokio::select! {
            _ = self.control.abort.cancelled() => return Err(PollError::Aborted),
            r = get_once(&self.shared.http, &self.req.mpd_url, &opts.manifest) => r,
        }?;
        let ended_header = fetched
            .headers
            .get("x-fb-video-broadcast-ended")
            .is_some_and(|v| v.as_bytes().trim_ascii() == b"1");
        let manifest = LiveManifest::parse(&fetched.body, &fetched.url)?;
        let wait = manifest
            .minimum_update_period
            .unwrap_or(opts.poll_floor)
            .clamp(opts.poll_floor, opts.poll_ceiling);
        if let Some(pft) = manifest.publish_frame_time {
            self.shared.books(|l| l.publish_frame_time = Some(pft));
        }
        if manifest.has_period {
            let changed = self.ensure_tracks(&manifest).await?;
            if changed {
                saved_manifest::save(&self.req.segments_dir, &fetched.body, &fetched.url).await;
            }
            self.queue_window(&manifest);
        }
        if ended_header || manifest.is_ended_signal() {
            self.walk_tail().await;
            return Ok(Poll::Ended);
        }
        Ok(Poll::Continue(wait))
    }

    /// At the end, segments after the last one held may exist that no manifest listed to
    /// this run (it started after the `<Period>` was gone, or an earlier run was killed
    /// near the end). Old segments stay fetchable (docs/instagram.md §3), so walk on from the last
    /// held `t` until the chain ends; with nothing held and rewind on, from
    /// `publishFrameTime`. Costs a bounded handful of 404s when nothing is left.
    async fn walk_tail(&mut self) {
        if self.tracks.is_none() {
            match saved_manifest::load(&self.req.segments_dir).await {
                Some(m) => {
                    if let Some(pft) = m.publish_frame_time {
                        self.shared
                            .books(|l| l.publish_frame_time = l.publish_frame_time.or(Some(pft)));
                    }
                    if let Err(e) = self.ensure_tracks(&m).await {
                        tracing::warn!(error = %e, "the saved manifest is unusable");
                        return;
                    }
                }
                None => return,
            }
        }
        let Some(tracks) = self.tracks.clone() else {
            return;
        };
        // From the last known `t` itself: held ones are re-read from disk, which gives
        // their true duration (an earlier run's are only estimated).
        let (last_t, pft) = self.shared.books(|l| (l.last_t(), l.publish_frame_time));
        let from = match (last_t, pft) {
            (Some(t), _) => t,
            (None, Some(pft)) if self.req.rewind => {
                self.shared.books(|l| {
                    l.start_t = Some(pft);
                    l.rewind_used = true;
                });
                pft
            }
            _ => return,
        };
        self.spawn_walk(tracks, from, u64::MAX);
    }

    /// Selects the tracks and fetches their init segments when new or changed; true when
    /// they changed.
    async fn ensure_tracks(&mut self, m: &LiveManifest) -> Result<bool, PollError> {
        let video = m
            .select_video(self.req.max_height)
            .ok_or(PollError::NoTrack("video"))?;
        let audio = m.select_audio().ok_or(PollError::NoTrack("audio"))?;
        if let Some(cur) = &self.tracks {
            if cur.video.track.id == video.id
                && cur.video.track.init_url == video.init_url
                && cur.audio.track.id == audio.id
                && cur.audio.track.init_url == audio.init_url
            {
                return Ok(false);
            }
        }
        let v = self.fetch_init(VIDEO, video).await?;
        let a = self.fetch_init(AUDIO, audio).await?;
        let quality = match (video.width, video.height) {
            (Some(w), Some(h)) => format!("{} {w}x{h}", video.id),
            _ => video.id.clone(),
        };
        self.shared.books(|l| l.quality = Some(quality));
        self.tracks = Some(Arc::new(Tracks { video: v, audio: a }));
        Ok(true)
    }

    async fn fetch_init(&self, name: &'static str, track: &Track) -> Result<TrackState, PollError> {
        let url = track
            .init_url
            .as_ref()
            .ok_or_else(|| PollError::NoInit(track.id.clone()))?;
        let check = |b: &Bytes| mp4::parse_init(b).map(|_| ());
        let init_error = |reason: String| PollError::Init {
            track: track.id.clone(),
            reason,
        };
        let body = get_retrying(
            &self.shared.http,
            url,
            &self.shared.opts.init,
            &self.shared.cancel,
            check,
        )
        .await
        .map_err(|e| init_error(e.to_string()))?
        .body;
        let init = mp4::parse_init(&body).map_err(|e| init_error(e.to_string()))?;
        let store = self.shared.store.clone();
        let stored = tokio::task::spawn_blocking(move || {
            store
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .put_init(name, &body)
        })
        .await;
        let failed = match stored {
            Ok(Ok(_part)) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(e) => Some(format!("store task: {e}")),
        };
        if let Some(reason) = failed {
            self.shared
                .set_fatal(format!("storing the {name} init: {reason}"));
            return Err(PollError::StoreInit {
                track: name,
                reason,
            });
        }
        Ok(TrackState {
            track: track.clone(),
            init,
        })
    }

    /// Queues every new `t` of the window and starts walks over what the window skipped.
    fn queue_window(&mut self, m: &LiveManifest) {
        let Some(tracks) = self.tracks.clone() else {
            return;
        };
        let window = tracks_window(m, &tracks);
        let Some(&(first_t, _)) = window.first() else {
            return;
        };
        if self.first_manifest {
            self.first_manifest = false;
            let pft = m.publish_frame_time.filter(|&p| p < first_t);
            // An earlier run's last held `t` (its duration is only estimated: the walk
            // re-reads it from disk to learn where the next one starts).
            let held_end = self.shared.books(|l| {
                l.last_t()
                    .filter(|&t| t < first_t)
                    .map(|t| (l.first_t(), t))
            });
            match (self.req.rewind, pft) {
                (true, Some(pft)) => {
                    self.shared.books(|l| {
                        l.start_t = Some(pft);
                        l.rewind_used = true;
                    });
                    self.spawn_walk(tracks.clone(), pft, first_t);
                }
                _ => {
                    // Resuming without rewind: fill from what an earlier run held.
                    let start = held_end.and_then(|(f, _)| f).unwrap_or(first_t);
                    self.shared.books(|l| l.start_t = Some(start.min(first_t)));
                    if let Some((_, end)) = held_end {
                        self.spawn_walk(tracks.clone(), end, first_t);
                    }
                }
            }
        } else if let Some(end) = self.listed_end {
            if first_t > end.saturating_add(1) {
                tracing::info!(
                    from = end,
                    until = first_t,
                    "the window skipped segments; walking them"
                );
                self.spawn_walk(tracks.clone(), end, first_t);
            }
        }
        for &(t, d) in &window {
            let end = t.saturating_add(d);
            self.listed_end = Some(self.listed_end.map_or(end, |e| e.max(end)));
            let new = self.shared.books(|l| {
                if l.state(t).is_some() {
                    l.note(t, d);
                    false
                } else {
                    l.note(t, d);
                    true
                }
            });
            if new {
                self.spawn_segment(tracks.clone(), t, d);
            }
        }
    }

    fn spawn_segment(&mut self, tracks: Arc<Tracks>, t: u64, d: u64) {
        let shared = self.shared.clone();
        self.segs.spawn(
            async move {
                let Ok(_permit) = shared.permits.clone().acquire_owned().await else {
                    return;
                };
                let (v, a) = tokio::join!(
                    shared.capture_track(VIDEO, &tracks.video, t),
                    shared.capture_track(AUDIO, &tracks.audio, t),
                );
                if shared.cancel.is_cancelled() {
                    return;
                }
                shared.books(|l| l.set(t, d, segments::combined(v, a)));
                shared.publish();
            }
            .in_current_span(),
        );
    }

    fn spawn_walk(&mut self, tracks: Arc<Tracks>, from: u64, until: u64) {
        let shared = self.shared.clone();
        shared.books(|l| l.walks_running += 1);
        self.walks.spawn(
            async move {
                let plan = RewindPlan {
                    start_t: from,
                    live_first_t: until,
                    timescale: tracks.video.init.timescale,
                    trex: tracks.video.init.trex,
                    config: shared.opts.rewind,
                };
                let mut source = Walker {
                    shared: shared.clone(),
                    tracks,
                };
                match rewind::run(&plan, &mut source).await {
                    Ok(report) => tracing::info!(
                        from,
                        until,
                        segments = report.segments,
                        requests = report.requests,
                        end = ?report.end,
                        "walk done"
                    ),
                    Err(e) => tracing::warn!(from, until, error = %e, "walk stopped"),
                }
                shared.books(|l| l.walks_running = l.walks_running.saturating_sub(1));
                shared.publish();
            }
            .in_current_span(),
        );
    }
}

/// The video timeline of the window (audio shares the same `t`, docs/instagram.md §3).
fn tracks_window(m: &LiveManifest, tracks: &Tracks) -> Vec<(u64, u64)> {
    let video = m
        .video
        .iter()
        .find(|t| t.id == tracks.video.track.id)
        .or_else(|| m.video.first());
    let Some(v) = video else {
        return Vec::new();
    };
    // `t`/`d` stay in the SegmentTemplate timescale: `$Time$` needs them as listed. The
    // ledger reads them as milliseconds, which is Instagram's timescale (docs/instagram.md §3);
    // other timescales only skew the reported seconds.
    v.timeline.clone()
}
