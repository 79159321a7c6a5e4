//! The native capture engine: polls the live MPD, fetches every listed segment of the chosen
//! video and audio tracks into the [`SegmentStore`], walks back to the broadcast's first
//! frame beside the live edge, and keeps the supervisor's figures current.
//!
//! Three kinds of work run at once and never wait on each other:
//! * the **live loop** (this task) polls the manifest and queues each new `$Time$`;
//! * **segment tasks** fetch one `t` of both tracks (bounded concurrency, retries);
//! * **walks** chain fragments from a known start to a known end through segments that the
//!   manifest no longer lists ([`super::rewind`]): the rewind from `publishFrameTime`, and a
//!   gap fill whenever a manifest outage outlasted the ~20 s window (reference §3 "Rewind
//!   availability": old segments stay fetchable).
//!
//! Everything on disk is crash-safe and self-describing, so a new run on the same directory
//! learns what is held and fetches only the rest.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::fetch::{get_once, get_retrying, jittered, FetchError, FetchLimits};
use super::ledger::{Ledger, SegState};
use super::manifest::{LiveManifest, Track};
use super::mp4::{self, FragmentInfo, InitInfo};
use super::rewind::{self, RewindConfig, RewindPlan, RewindSource};
use super::store::SegmentStore;
use crate::recording::capture::{CaptureControl, CaptureExit, CaptureProgress, CaptureRequest};

/// Store track names: fixed, so a quality change mid-broadcast becomes a new part of the
/// same track (a changed init) rather than a second video track.
pub const VIDEO: &str = "video";
pub const AUDIO: &str = "audio";

/// Extra attempts for a listed segment that answers 404.
const NOT_FOUND_RETRIES: u32 = 2;

/// Knobs of the engine; [`CaptureOptions::default`] suits Instagram, tests shrink them.
#[derive(Debug, Clone)]
pub struct CaptureOptions {
    pub manifest: FetchLimits,
    pub segment: FetchLimits,
    pub init: FetchLimits,
    /// Segment `t` values fetched at once (each fetches video and audio).
    pub concurrency: usize,
    /// Shortest pause between manifest polls (`minimumUpdatePeriod` is honoured above it).
    pub poll_floor: Duration,
    /// Longest pause between polls, whatever the manifest says.
    pub poll_ceiling: Duration,
    /// How long the manifest may fail in a row before the run gives up.
    pub failure_budget: Duration,
    /// How long walks may go on after the live side finished, on drain / on stream end.
    pub drain_walk_bound: Duration,
    pub end_walk_bound: Duration,
    pub rewind: RewindConfig,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions {
            manifest: FetchLimits {
                timeout: Duration::from_secs(10),
                max_bytes: super::prescan::Limits::default().max_bytes,
                attempts: 1,
                backoff: Duration::from_secs(1),
            },
            segment: FetchLimits {
                timeout: Duration::from_secs(20),
                max_bytes: 32 * 1024 * 1024,
                attempts: 4,
                backoff: Duration::from_millis(500),
            },
            init: FetchLimits {
                timeout: Duration::from_secs(10),
                max_bytes: 1024 * 1024,
                attempts: 4,
                backoff: Duration::from_millis(500),
            },
            concurrency: 4,
            poll_floor: Duration::from_secs(1),
            poll_ceiling: Duration::from_secs(5),
            // A 20 s outage must lose nothing; ten minutes means the broadcast is gone.
            failure_budget: Duration::from_secs(600),
            // The supervisor aborts a drain after 120 s.
            drain_walk_bound: Duration::from_secs(90),
            end_walk_bound: Duration::from_secs(600),
            rewind: RewindConfig::default(),
        }
    }
}

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
    let opened = tokio::task::spawn_blocking(move || SegmentStore::open(dir)).await;
    let store = match opened {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return CaptureExit::Failed(format!("segment store: {e}")),
        Err(e) => return CaptureExit::Failed(format!("segment store task: {e}")),
    };
    let mut ledger = Ledger::default();
    resume_books(&store, &mut ledger);
    let shared = Arc::new(Shared {
        http,
        store: Arc::new(Mutex::new(store)),
        ledger: Mutex::new(ledger),
        progress,
        cancel: control.abort.clone(),
        fatal: Mutex::new(None),
        permits: Arc::new(Semaphore::new(opts.concurrency.max(1))),
        opts,
    });
    shared.publish();
    let mut live = Live {
        shared,
        req,
        control,
        tracks: None,
        segs: JoinSet::new(),
        walks: JoinSet::new(),
        listed_end: None,
        first_manifest: true,
    };
    let exit = live.run().await;
    live.segs.abort_all();
    live.walks.abort_all();
    live.shared.publish();
    exit
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

/// State every task of one run shares.
struct Shared {
    http: reqwest::Client,
    store: Arc<Mutex<SegmentStore>>,
    ledger: Mutex<Ledger>,
    progress: watch::Sender<CaptureProgress>,
    cancel: CancellationToken,
    /// A store failure (disk full, permissions) ends the run; the supervisor restarts it.
    fatal: Mutex<Option<String>>,
    permits: Arc<Semaphore>,
    opts: CaptureOptions,
}

impl Shared {
    fn books<R>(&self, f: impl FnOnce(&mut Ledger) -> R) -> R {
        let mut guard = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    fn publish(&self) {
        let p = self.books(|l| l.progress());
        self.progress.send_replace(p);
    }

    fn set_fatal(&self, msg: String) {
        let mut f = self.fatal.lock().unwrap_or_else(|p| p.into_inner());
        if f.is_none() {
            *f = Some(msg);
        }
    }

    fn fatal(&self) -> Option<String> {
        self.fatal.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn held(&self, track: &str, t: u64) -> bool {
        self.store
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .has(track, t)
    }

    /// Stores one segment on a blocking thread; returns the bytes newly written.
    async fn put(&self, track: &'static str, t: u64, bytes: Bytes) -> Result<u64, String> {
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
    async fn fetch_segment(&self, track: &TrackState, t: u64) -> Result<Bytes, FetchError> {
        let url = track
            .track
            .media_url(t)
            .map_err(|e| FetchError::Invalid(e.to_string()))?;
        let trex = track.init.trex;
        let check = move |b: &Bytes| {
            mp4::parse_fragment(b, trex.as_ref())
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        get_retrying(&self.http, &url, &self.opts.segment, &self.cancel, check)
            .await
            .map(|f| f.body)
    }

    /// Fetches (unless held) and stores one track of `t`; false when it could not.
    ///
    /// `t` is known to exist here (listed, or the video at `t` was found), so a 404 is
    /// a CDN edge that has not caught up yet and is retried too, unlike in a walk's probe.
    async fn capture_track(&self, name: &'static str, track: &TrackState, t: u64) -> bool {
        if self.held(name, t) {
            return true;
        }
        let mut fetched = self.fetch_segment(track, t).await;
        for n in 0..NOT_FOUND_RETRIES {
            if fetched != Err(FetchError::NotFound) {
                break;
            }
            let delay = jittered(self.opts.segment.backoff.saturating_mul(4), n);
            tokio::select! {
                _ = self.cancel.cancelled() => return false,
                _ = tokio::time::sleep(delay) => {}
            }
            fetched = self.fetch_segment(track, t).await;
        }
        match fetched {
            Ok(body) => match self.put(name, t, body).await {
                Ok(n) => {
                    self.books(|l| l.bytes += n);
                    true
                }
                Err(e) => {
                    self.set_fatal(format!("storing {name} t={t}: {e}"));
                    false
                }
            },
            Err(FetchError::Cancelled) => false,
            Err(e) => {
                tracing::warn!("segment {name} t={t}: giving up: {e}");
                false
            }
        }
    }
}

/// One selected representation with what its init segment says.
#[derive(Debug)]
struct TrackState {
    track: Track,
    init: InitInfo,
}

/// The selected pair.
#[derive(Debug)]
struct Tracks {
    video: TrackState,
    audio: TrackState,
}

/// The live loop's own state.
struct Live {
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
}

/// What one manifest poll concluded.
enum Poll {
    Continue(Duration),
    Ended,
}

impl Live {
    async fn run(&mut self) -> CaptureExit {
        let mut failing_since: Option<Instant> = None;
        let mut failures: u32 = 0;
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
                    failures = 0;
                    next
                }
                Err(e) => {
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    tracing::warn!(
                        "broadcast {}: manifest: {e} (failing for {:?})",
                        self.req.broadcast_id,
                        since.elapsed()
                    );
                    if since.elapsed() >= self.shared.opts.failure_budget {
                        let bound = self.shared.opts.drain_walk_bound;
                        let msg = format!("the manifest has failed for {:?}: {e}", since.elapsed());
                        return self.finish(bound, CaptureExit::Failed(msg)).await;
                    }
                    failures += 1;
                    jittered(self.shared.opts.manifest.backoff, failures - 1)
                        .min(self.shared.opts.poll_ceiling)
                }
            };
            self.shared.publish();
            if draining {
                // The one last manifest after the drain request has been read.
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
                tracing::warn!(
                    "broadcast {}: rewind did not finish within {walk_bound:?}; the rest counts as missing",
                    self.req.broadcast_id
                );
                self.walks.abort_all();
                self.shared.books(|l| l.walks_running = 0);
            }
        }
        self.shared.publish();
        if let Some(e) = self.shared.fatal() {
            return CaptureExit::Failed(e);
        }
        exit
    }

    /// One manifest fetch and everything it implies.
    async fn poll(&mut self) -> Result<Poll, String> {
        let opts = &self.shared.opts;
        let fetched = tokio::select! {
            _ = self.control.abort.cancelled() => return Err("aborted".into()),
            r = get_once(&self.shared.http, &self.req.mpd_url, &opts.manifest) => r,
        }
        .map_err(|e| e.to_string())?;
        let ended_header = fetched
            .headers
            .get("x-fb-video-broadcast-ended")
            .is_some_and(|v| v.as_bytes().trim_ascii() == b"1");
        let manifest =
            LiveManifest::parse(&fetched.body, &fetched.url).map_err(|e| e.to_string())?;
        let wait = manifest
            .minimum_update_period
            .unwrap_or(opts.poll_floor)
            .clamp(opts.poll_floor, opts.poll_ceiling);
        if let Some(pft) = manifest.publish_frame_time {
            self.shared.books(|l| l.publish_frame_time = Some(pft));
        }
        if manifest.has_period {
            self.ensure_tracks(&manifest).await?;
            self.queue_window(&manifest);
        }
        if ended_header || manifest.is_ended_signal() {
            return Ok(Poll::Ended);
        }
        Ok(Poll::Continue(wait))
    }

    /// Selects the tracks and fetches their init segments when new or changed.
    async fn ensure_tracks(&mut self, m: &LiveManifest) -> Result<(), String> {
        let video = m
            .select_video(self.req.max_height)
            .ok_or("the manifest lists no video track")?;
        let audio = m
            .select_audio()
            .ok_or("the manifest lists no audio track")?;
        if let Some(cur) = &self.tracks {
            if cur.video.track.id == video.id
                && cur.video.track.init_url == video.init_url
                && cur.audio.track.id == audio.id
                && cur.audio.track.init_url == audio.init_url
            {
                return Ok(());
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
        Ok(())
    }

    async fn fetch_init(&self, name: &'static str, track: &Track) -> Result<TrackState, String> {
        let url = track
            .init_url
            .as_ref()
            .ok_or_else(|| format!("track {} has no init segment", track.id))?;
        let check = |b: &Bytes| mp4::parse_init(b).map(|_| ()).map_err(|e| e.to_string());
        let body = get_retrying(
            &self.shared.http,
            url,
            &self.shared.opts.init,
            &self.shared.cancel,
            check,
        )
        .await
        .map_err(|e| format!("init segment of {}: {e}", track.id))?
        .body;
        let init = mp4::parse_init(&body).map_err(|e| format!("init of {}: {e}", track.id))?;
        let store = self.shared.store.clone();
        let stored = tokio::task::spawn_blocking(move || {
            store
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .put_init(name, &body)
        })
        .await;
        match stored {
            Ok(Ok(_part)) => {}
            Ok(Err(e)) => {
                let msg = format!("storing the {name} init: {e}");
                self.shared.set_fatal(msg.clone());
                return Err(msg);
            }
            Err(e) => return Err(format!("store task: {e}")),
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
            let held_end = self.shared.books(|l| {
                l.last_end()
                    .filter(|&e| e < first_t)
                    .map(|e| (l.first_t(), e))
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
                    "broadcast {}: the window skipped {end}..{first_t}; walking it",
                    self.req.broadcast_id
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
        self.segs.spawn(async move {
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
            let state = if v && a {
                SegState::Captured
            } else {
                SegState::Missing
            };
            shared.books(|l| l.set(t, d, state));
            shared.publish();
        });
    }

    fn spawn_walk(&mut self, tracks: Arc<Tracks>, from: u64, until: u64) {
        let shared = self.shared.clone();
        shared.books(|l| l.walks_running += 1);
        let id = self.req.broadcast_id.clone();
        self.walks.spawn(async move {
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
                    "broadcast {id}: walk {from}..{until}: {} segments, {} requests, {:?}",
                    report.segments,
                    report.requests,
                    report.end
                ),
                Err(e) => tracing::warn!("broadcast {id}: walk {from}..{until} stopped: {e}"),
            }
            shared.books(|l| l.walks_running = l.walks_running.saturating_sub(1));
            shared.publish();
        });
    }
}

/// The video timeline of the window (audio shares the same `t`, reference §3).
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
    // ledger reads them as milliseconds, which is Instagram's timescale (reference §3);
    // other timescales only skew the reported seconds.
    v.timeline.clone()
}

/// The rewind walker's view of the capture: fetch video at `t` (from disk when a previous run
/// holds it), store it and fetch the audio at the same `t`.
struct Walker {
    shared: Arc<Shared>,
    tracks: Arc<Tracks>,
}

/// A walk fetch that failed for a reason other than 404.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct WalkError(String);

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
            Err(FetchError::NotFound) => Ok(None),
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
            true
        } else {
            match self.shared.put(VIDEO, t, fragment).await {
                Ok(n) => {
                    self.shared.books(|l| l.bytes += n);
                    true
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
        let state = if v && a {
            SegState::Captured
        } else {
            SegState::Missing
        };
        self.shared.books(|l| l.set(t, d, state));
        self.shared.publish();
        if self.shared.cancel.is_cancelled() {
            return Err(WalkError("aborted".into()));
        }
        Ok(())
    }
}
