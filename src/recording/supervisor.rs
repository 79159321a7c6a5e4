//! One broadcast's supervisor, in named phases: persist the start, spawn the tasks (capture and
//! engagement pollers under one cancellation token, waited for with a task tracker), await the
//! end — whichever end signal comes first —, settle the final status, drain the capture, and
//! hand over to the after-live phase it shares with crash recovery (merge, finalize once).
//!
//! States (persisted): detected → recording ⇄ interrupted → finalizing → finished | failed.
//! `interrupted` keeps everything running; if the broadcast stays interrupted longer than
//! `recording.interrupted_grace` it is finalized.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use crate::capture::{CaptureControl, CaptureProgress, CaptureRequest};
use crate::config::Footprint;
use crate::instagram::Broadcast;
use crate::output;
use crate::pool::{Demand, PollerClass};
use crate::states::{BroadcastStatus, RecordingState};
use crate::store::{
    now_unix, AccountRow, BroadcastRow, Catalog, RecordingRow, StatusSource, Via, Write,
};

use super::after_live::{figures_row, AfterLive};
use super::context::{Ctx, Signal};
use super::deps::{Deps, RecorderEvent};
use super::end::EndReason;
use super::finalize::{FinalizeFailure, Finalized};
use super::registry::LiveRecording;
use super::tasks::spawn_restarting;
use super::{capture_task, comments, heartbeat, likes};

/// How long the capture may take to drain after the end before it is aborted.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);
/// How often live figures are written to the database.
const FIGURES_EVERY: Duration = Duration::from_secs(5);
/// How long the one `info` call after a stream-signalled end may take.
const FINAL_STATUS_TIMEOUT: Duration = Duration::from_secs(5);
/// The status check of a chat-only recording: slow, since viewer counts are not wanted.
const CHAT_STATUS_EVERY: Duration = Duration::from_secs(30);
/// The status check of a video-only recording: what the end of the broadcast needs, when
/// the manifest does not say it first.
const VIDEO_STATUS_EVERY: Duration = Duration::from_secs(60);

/// The engagement pollers a recording may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Poller {
    Heartbeat,
    Comments,
    Likes,
}

/// What the pollers ask of the session's budget at their nominal intervals.
fn recording_demand(pollers: &[(Poller, PollerClass, Duration)]) -> Demand {
    let classes: Vec<(PollerClass, Duration)> = pollers.iter().map(|&(_, c, d)| (c, d)).collect();
    crate::pool::recording_demand(&classes)
}

/// The folder for a broadcast: `<recordings_dir>/<username>/<date>_<id>/`.
pub fn folder_for(
    recordings_dir: &std::path::Path,
    user_id: &str,
    username: Option<&str>,
    published_time: f64,
    broadcast_id: &str,
) -> std::io::Result<PathBuf> {
    let account = output::account_folder(recordings_dir, user_id, username)?;
    Ok(output::recording_folder(
        &account,
        published_time,
        broadcast_id,
    ))
}

/// Records one broadcast from detection to a finished folder. `shutdown` ends it early (the
/// folder says it was cut short); `abort` additionally skips the drain (second signal). Every
/// log line of the recording carries its broadcast and account through the span.
pub async fn supervise(
    deps: Deps,
    target: Target,
    shutdown: CancellationToken,
    abort: CancellationToken,
) {
    let span = target.span();
    async move {
        let Some(folder) = folder_of(&deps, &target).await else {
            return;
        };
        if !deps
            .registry
            .claim(target.entry(RecordingState::Recording, &folder))
        {
            tracing::debug!("already being recorded");
            return;
        }
        Recording::new(deps, target)
            .run_claimed(folder, shutdown, abort)
            .await
    }
    .instrument(span)
    .await
}

/// [`supervise`] for a broadcast whose slot the caller has claimed in the registry already
/// (with [`Target::entry`]), into `folder`; the slot is released at the end.
pub async fn supervise_claimed(
    deps: Deps,
    target: Target,
    folder: PathBuf,
    shutdown: CancellationToken,
    abort: CancellationToken,
) {
    let span = target.span();
    run_claimed(deps, target, folder, shutdown, abort)
        .instrument(span)
        .await
}

/// [`supervise_claimed`] inside the caller's span.
pub(super) async fn run_claimed(
    deps: Deps,
    target: Target,
    folder: PathBuf,
    shutdown: CancellationToken,
    abort: CancellationToken,
) {
    Recording::new(deps, target)
        .run_claimed(folder, shutdown, abort)
        .await
}

/// The folder a broadcast's recording uses: the one an earlier run (or its wait for a slot)
/// made, else a new one under its owner's folder.
pub async fn folder_of(deps: &Deps, target: &Target) -> Option<PathBuf> {
    Recording::new(deps.clone(), target.clone()).folder().await
}

/// What to record: the broadcast, its owner (whose folder it goes in), the watched accounts
/// it was found through, and how much to ask the API while recording it.
#[derive(Debug, Clone)]
pub struct Target {
    pub broadcast: Broadcast,
    /// The broadcast's owner (`broadcast_owner`), or the watched account that found it when
    /// the owner is unknown.
    pub user_id: String,
    pub username: Option<String>,
    /// The watched accounts it was found through: the owner when watched, guests of it.
    pub via: Vec<Via>,
    pub footprint: Footprint,
}

impl Target {
    /// The span every log line of the recording carries.
    pub fn span(&self) -> tracing::Span {
        tracing::info_span!(
            "recording",
            broadcast_id = %self.broadcast.id,
            user_id = %self.user_id,
            username = self.owner_username().unwrap_or("?"),
        )
    }

    /// The broadcast object's owner is the freshest source of the username (it can change).
    fn owner_username(&self) -> Option<&str> {
        self.broadcast
            .broadcast_owner
            .as_ref()
            .and_then(|o| o.username.as_deref())
            .or(self.username.as_deref())
    }

    /// Its registry entry in `state`, recorded into `folder`.
    pub fn entry(&self, state: RecordingState, folder: &std::path::Path) -> LiveRecording {
        LiveRecording {
            broadcast_id: self.broadcast.id.clone(),
            user_id: self.user_id.clone(),
            username: self.owner_username().map(str::to_string),
            via: self.via.clone(),
            state,
            started_at: now_unix(),
            folder: folder.display().to_string(),
            viewers: None,
            comments: 0,
            segments_captured: 0,
            segments_missing: 0,
            bytes: 0,
            duration_s: 0.0,
            handover: CancellationToken::new(),
        }
    }
}

/// The facts of one recording every phase uses.
struct Recording {
    deps: Deps,
    broadcast: Broadcast,
    id: String,
    user_id: String,
    username: Option<String>,
    via: Vec<Via>,
    published_time: f64,
    footprint: Footprint,
}

/// The tasks of a running recording.
struct Running {
    tasks: TaskTracker,
    pollers_cancel: CancellationToken,
    control: CaptureControl,
    signals: mpsc::Receiver<Signal>,
    progress: watch::Receiver<CaptureProgress>,
}

impl Recording {
    fn new(deps: Deps, target: Target) -> Self {
        let username = target.owner_username().map(str::to_string);
        let Target {
            broadcast,
            user_id,
            via,
            footprint,
            ..
        } = target;
        let published_time = broadcast
            .published_time
            .map(|t| t as f64)
            .unwrap_or_else(now_unix);
        Recording {
            id: broadcast.id.clone(),
            deps,
            broadcast,
            user_id,
            username,
            via,
            published_time,
            footprint,
        }
    }

    async fn run_claimed(
        self,
        folder: PathBuf,
        shutdown: CancellationToken,
        abort: CancellationToken,
    ) {
        let handover = self.deps.registry.handover_token(&self.id);
        let (end, result) = self.record(&folder, &shutdown, &abort, &handover).await;
        self.deps.registry.release(&self.id);
        let Some(result) = result else {
            tracing::info!("handed over: the node that takes its lease continues it from the folder and the CDN");
            self.deps
                .tell(RecorderEvent::HandedOver {
                    broadcast_id: self.id.clone(),
                    user_id: self.user_id.clone(),
                })
                .await;
            return;
        };
        let (ok, reason) = match result {
            Ok(done) => (true, format!("{}; {done}", end.describe())),
            Err(e) => (false, e.to_string()),
        };
        self.deps
            .tell(RecorderEvent::Finished {
                broadcast_id: self.id.clone(),
                user_id: self.user_id.clone(),
                username: self.username.clone(),
                folder,
                ok,
                reason,
            })
            .await;
    }

    /// The folder an earlier run used (a resumed recording), else a new one.
    async fn folder(&self) -> Option<PathBuf> {
        if let Some(f) = existing_folder(&self.deps.store, &self.id).await {
            return Some(f);
        }
        let dir = &self.deps.recordings_dir;
        let made = folder_for(
            dir,
            &self.user_id,
            self.username.as_deref(),
            self.published_time,
            &self.id,
        );
        match made {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::error!(error = %e, "cannot create the recording's folder under {}", dir.display());
                None
            }
        }
    }

    /// The phases, in order; why it ended and how finalizing went are what the daemon logs
    /// and notifies (nothing to finalize when it was handed over to another node).
    async fn record(
        &self,
        folder: &std::path::Path,
        shutdown: &CancellationToken,
        abort: &CancellationToken,
        handover: &CancellationToken,
    ) -> (EndReason, Option<Result<Finalized, FinalizeFailure>>) {
        self.persist_start(folder).await;
        let mut running = self.spawn_tasks(folder).await;
        let end = self.await_end(&mut running, shutdown, handover).await;
        if end == EndReason::HandedOver {
            // Left `recording`, with what is on disk: the next holder resumes it.
            let progress = self.drain(running, &end, shutdown, abort).await;
            let row = figures_row(&self.id, RecordingState::Recording, &progress);
            self.persist(Write::Recording(row)).await;
            return (end, None);
        }
        tracing::info!(reason = %end.describe(), "the broadcast ended");
        self.settle_final_status(&end).await;
        let progress = self.drain(running, &end, shutdown, abort).await;
        // The engagement merge (the final status, the replay's comments and likes) runs after
        // the folder is finalized, in the background: nothing here waits on the API.
        let after = AfterLive {
            broadcast_id: self.id.clone(),
            user_id: self.user_id.clone(),
            published_time: self.published_time,
            folder: folder.to_path_buf(),
            progress,
            captured: true,
            cut_by_shutdown: end == EndReason::Shutdown,
            merge: self.footprint == Footprint::Full
                && !shutdown.is_cancelled()
                && !abort.is_cancelled(),
        };
        let outcome = after.run(&self.deps).await;
        match &outcome {
            Ok(done) => tracing::info!("{done}"),
            Err(e) => tracing::error!(error = %e, "finalization failed"),
        }
        (end, Some(outcome))
    }

    /// Phase 1: durable facts before anything runs, so a restart knows this recording.
    async fn persist_start(&self, folder: &std::path::Path) {
        let b = &self.broadcast;
        let owner = b.broadcast_owner.as_ref();
        let account = Write::Account(AccountRow {
            user_id: self.user_id.clone(),
            username: self.username.clone(),
            full_name: owner.and_then(|o| o.full_name.clone()),
            is_verified: owner.and_then(|o| o.is_verified),
            label: None,
        });
        let broadcast = Write::Broadcast(BroadcastRow {
            broadcast_id: self.id.clone(),
            user_id: self.user_id.clone(),
            username: self.username.clone(),
            status: b.broadcast_status.clone(),
            published_time: Some(self.published_time),
            detected_at: Some(now_unix()),
            dash_url: b.mpd_url().map(str::to_string),
            cover_frame_url: b.cover_frame_url.clone(),
            raw_json: Some(broadcast_json(b).to_string()),
            via: via_json(&self.via),
            ..Default::default()
        });
        let recording = Write::Recording(RecordingRow {
            folder: Some(folder.display().to_string()),
            started_at: Some(now_unix()),
            ..RecordingRow::new(&self.id, RecordingState::Recording)
        });
        for w in [account, broadcast, recording] {
            self.persist(w).await;
        }
        self.deps
            .tell(RecorderEvent::Started {
                broadcast_id: self.id.clone(),
                user_id: self.user_id.clone(),
                username: self.username.clone(),
                folder: folder.to_path_buf(),
            })
            .await;
        tracing::info!("recording into {}", folder.display());
    }

    /// A write the supervisor cannot do without telling: the capture goes on (its segments
    /// are on disk and recovery reads them), but the database will miss this fact.
    async fn persist(&self, w: Write) {
        if let Err(e) = self.deps.writer.send(w).await {
            tracing::error!(error = %e, "a recording fact was not stored");
        }
    }

    /// Phase 2: the pollers (restarted if they panic) and the capture (restarted when it
    /// fails while the broadcast goes on).
    async fn spawn_tasks(&self, folder: &std::path::Path) -> Running {
        let tasks = TaskTracker::new();
        let pollers_cancel = CancellationToken::new();
        let (signals_tx, signals) = mpsc::channel::<Signal>(64);
        let pollers = self.pollers();
        let lease = self.deps.pool.lease(&self.id, recording_demand(&pollers));
        if let Some(session) = lease.session() {
            tracing::info!(%session, footprint = self.footprint.as_str(), "engagement polls go through this session");
        }
        let ctx = Ctx {
            broadcast_id: self.id.clone(),
            user_id: self.user_id.clone(),
            published_time: self.published_time,
            lease: Arc::new(lease),
            writer: self.deps.writer.clone(),
            signals: signals_tx.clone(),
            cancel: pollers_cancel.clone(),
        };
        self.spawn_pollers(&tasks, &ctx, &pollers).await;
        let control = CaptureControl::default();
        let (progress_tx, progress) = watch::channel(CaptureProgress::default());
        match self
            .broadcast
            .mpd_url()
            .and_then(|u| url::Url::parse(u).ok())
        {
            Some(mpd_url) => {
                let req = CaptureRequest {
                    broadcast_id: self.id.clone(),
                    mpd_url,
                    segments_dir: folder.join(".segments"),
                    rewind: self.deps.recording.rewind,
                    max_height: self.deps.recording.max_height,
                    on_segment: self.deps.segment_hook(),
                };
                // The session's proxy carries the CDN traffic too when it is configured to.
                let cdn = ctx.lease.cdn().unwrap_or_else(|| self.deps.http.clone());
                let run = capture_task::run(
                    self.deps.clone(),
                    req,
                    cdn,
                    control.clone(),
                    Arc::new(progress_tx),
                    signals_tx,
                );
                tasks.spawn(run.in_current_span());
            }
            None => tracing::error!(
                "no DASH playback URL in the broadcast object; only engagement is recorded"
            ),
        }
        // Only the tasks hold senders now: when every one of them has stopped, `recv` says so.
        Running {
            tasks,
            pollers_cancel,
            control,
            signals,
            progress,
        }
    }

    /// The pollers this footprint runs, with their class and nominal interval.
    fn pollers(&self) -> Vec<(Poller, PollerClass, Duration)> {
        // No session at all (`iglive record` from an MPD URL): nothing is asked of the API.
        if self.deps.pool.names().is_empty() {
            return Vec::new();
        }
        let rc = &self.deps.recording;
        let heartbeat = (
            Poller::Heartbeat,
            PollerClass::Critical,
            rc.heartbeat_interval,
        );
        let comments = (
            Poller::Comments,
            PollerClass::Critical,
            rc.comments_interval,
        );
        let likes = (Poller::Likes, PollerClass::Low, rc.likes_interval);
        let slow_heartbeat = |floor: Duration| {
            let every = rc.heartbeat_interval.max(floor);
            (Poller::Heartbeat, PollerClass::Critical, every)
        };
        match self.footprint {
            Footprint::Full => vec![heartbeat, comments, likes],
            Footprint::Chat => vec![slow_heartbeat(CHAT_STATUS_EVERY), comments],
            Footprint::Video => vec![slow_heartbeat(VIDEO_STATUS_EVERY)],
        }
    }

    async fn spawn_pollers(
        &self,
        tasks: &TaskTracker,
        ctx: &Ctx,
        pollers: &[(Poller, PollerClass, Duration)],
    ) {
        let comment_cursor = load_cursor(&self.deps.store, &self.id, comments::CURSOR)
            .await
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        let like_cursor = load_cursor(&self.deps.store, &self.id, likes::CURSOR)
            .await
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0);
        let cancel = &ctx.cancel;
        for &(poller, _, every) in pollers {
            let c = ctx.clone();
            match poller {
                Poller::Heartbeat => {
                    spawn_restarting(tasks, "heartbeat", cancel.clone(), move || {
                        heartbeat::run(c.clone(), every)
                    })
                }
                Poller::Comments => {
                    spawn_restarting(tasks, "comments", cancel.clone(), move || {
                        comments::run(c.clone(), every, comment_cursor)
                    })
                }
                Poller::Likes => spawn_restarting(tasks, "likes", cancel.clone(), move || {
                    likes::run(c.clone(), every, like_cursor)
                }),
            }
        }
    }

    /// Phase 3: the end-of-broadcast decision. Tasks only report; the first end signal wins.
    async fn await_end(
        &self,
        running: &mut Running,
        shutdown: &CancellationToken,
        handover: &CancellationToken,
    ) -> EndReason {
        let grace = self.deps.recording.interrupted_grace;
        let mut interrupted_since: Option<Instant> = None;
        let mut figures = tokio::time::interval(FIGURES_EVERY);
        loop {
            let grace_end = interrupted_since.map(|t| t + grace);
            tokio::select! {
                // A node leaving hands over before it shuts down: the hand-over wins.
                biased;
                _ = handover.cancelled() => return EndReason::HandedOver,
                _ = shutdown.cancelled() => return EndReason::Shutdown,
                _ = sleep_until(grace_end) => return EndReason::InterruptedTimeout,
                sig = running.signals.recv() => match sig {
                    Some(Signal::Status(s)) => {
                        if let Some(end) = self.on_status(s, &mut interrupted_since).await {
                            return end;
                        }
                    }
                    Some(Signal::Gone(_)) => return EndReason::Gone,
                    Some(Signal::StreamEnded(_)) => return EndReason::StreamEnded,
                    Some(Signal::SessionExpired(m)) => {
                        self.deps.tell(RecorderEvent::SessionExpired(m)).await;
                    }
                    None => return EndReason::CaptureFailed("every task of the recording stopped".into()),
                },
                _ = figures.tick() => {
                    let p = running.progress.borrow_and_update().clone();
                    self.deps.registry.set_progress(&self.id, &p);
                    let state = if interrupted_since.is_some() {
                        RecordingState::Interrupted
                    } else {
                        RecordingState::Recording
                    };
                    self.persist(Write::Recording(figures_row(&self.id, state, &p))).await;
                }
            }
        }
    }

    /// A status from a heartbeat or `info`: `interrupted` starts the grace period, `active`
    /// ends it, anything else ends the recording.
    async fn on_status(
        &self,
        status: BroadcastStatus,
        interrupted_since: &mut Option<Instant>,
    ) -> Option<EndReason> {
        let grace = self.deps.recording.interrupted_grace;
        let state = match status {
            BroadcastStatus::Active if interrupted_since.take().is_some() => {
                tracing::info!("the broadcast is active again");
                RecordingState::Recording
            }
            BroadcastStatus::Interrupted if interrupted_since.is_none() => {
                tracing::info!(?grace, "the broadcast is interrupted; waiting for it");
                *interrupted_since = Some(Instant::now());
                RecordingState::Interrupted
            }
            BroadcastStatus::Active | BroadcastStatus::Interrupted => return None,
            other => return Some(EndReason::Status(other)),
        };
        self.persist(Write::Recording(RecordingRow::new(&self.id, state)))
            .await;
        self.deps.registry.update(&self.id, |r| r.state = state);
        None
    }

    /// Phase 4: record the end. When it came from the stream or a 404 the final status is
    /// worth asking for, so the folder says `stopped`/`hard_stop`/`post_live` rather than the
    /// last status seen live: the engagement merge asks for it after the folder is finalized;
    /// a footprint without that merge asks here, briefly (`FINAL_STATUS_TIMEOUT`).
    async fn settle_final_status(&self, end: &EndReason) {
        let mut final_status = match end {
            EndReason::Status(s) => Some(s.clone()),
            _ => None,
        };
        if let Some(client) = self
            .deps
            .pool
            .any_client()
            .filter(|_| end.wants_final_status() && self.footprint != Footprint::Full)
        {
            let info =
                tokio::time::timeout(FINAL_STATUS_TIMEOUT, client.broadcast_info(&self.id)).await;
            if let Ok(Ok(b)) = info {
                final_status = b.broadcast_status.filter(|s| !s.is_live());
            }
            if let Some(s) = &final_status {
                self.persist(Write::Status {
                    broadcast_id: self.id.clone(),
                    status: s.clone(),
                    at: now_unix(),
                    source: StatusSource::Info,
                })
                .await;
            }
        }
        self.persist(Write::Broadcast(BroadcastRow {
            broadcast_id: self.id.clone(),
            user_id: self.user_id.clone(),
            ended_at: Some(now_unix()),
            end_reason: Some(end.describe()),
            status: final_status,
            ..Default::default()
        }))
        .await;
        self.deps
            .registry
            .update(&self.id, |r| r.state = RecordingState::Finalizing);
        self.persist(Write::Recording(RecordingRow::new(
            &self.id,
            RecordingState::Finalizing,
        )))
        .await;
    }

    /// Phase 5: stop the pollers and drain the capture (fetch what the last manifest lists and
    /// finish the walks), bounded; at a shutdown, abort it and keep what is on disk.
    async fn drain(
        &self,
        running: Running,
        end: &EndReason,
        shutdown: &CancellationToken,
        abort: &CancellationToken,
    ) -> CaptureProgress {
        let Running {
            tasks,
            pollers_cancel,
            control,
            signals,
            progress,
        } = running;
        drop(signals);
        pollers_cancel.cancel();
        if matches!(end, EndReason::Shutdown | EndReason::HandedOver) || abort.is_cancelled() {
            control.abort.cancel();
        } else {
            control.drain.cancel();
        }
        tasks.close();
        tokio::select! {
            _ = tasks.wait() => {}
            _ = abort.cancelled() => { control.abort.cancel(); tasks.wait().await; }
            _ = shutdown.cancelled(), if *end != EndReason::Shutdown => {
                tracing::info!("shutdown while draining; keeping what was captured");
                control.abort.cancel();
                tasks.wait().await;
            }
            _ = tokio::time::sleep(DRAIN_TIMEOUT) => {
                tracing::warn!(timeout = ?DRAIN_TIMEOUT, "the capture did not drain in time; stopping it");
                control.abort.cancel();
                tasks.wait().await;
            }
        }
        let p = progress.borrow().clone();
        p
    }
}

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// `broadcasts.via` as written; `None` (keep what is stored) when the list is empty.
pub fn via_json(via: &[Via]) -> Option<String> {
    if via.is_empty() {
        return None;
    }
    serde_json::to_string(via).ok()
}

/// The broadcast object as stored in `broadcasts.raw_json`: what `broadcast.json` reports.
pub fn broadcast_json(b: &Broadcast) -> serde_json::Value {
    let owner = b.broadcast_owner.as_ref();
    serde_json::json!({
        "id": b.id,
        "broadcast_status": b.broadcast_status.as_ref().map(BroadcastStatus::as_str),
        "published_time": b.published_time,
        "broadcast_message": b.broadcast_message,
        "media_id": b.media_id,
        "cover_frame_url": b.cover_frame_url,
        "dash_playback_url": b.dash_playback_url,
        "dash_abr_playback_url": b.dash_abr_playback_url,
        "broadcast_owner": owner.map(|o| serde_json::json!({
            "pk": o.pk, "username": o.username, "full_name": o.full_name, "is_verified": o.is_verified,
        })),
        "cobroadcasters": b.cobroadcasters.iter().map(|c| serde_json::json!({
            "pk": c.pk, "username": c.username, "full_name": c.full_name,
        })).collect::<Vec<_>>(),
    })
}

async fn existing_folder(store: &Catalog, id: &str) -> Option<PathBuf> {
    store
        .recording(id)
        .await
        .ok()
        .flatten()
        .and_then(|r| r.folder)
        .map(PathBuf::from)
}

async fn load_cursor(store: &Catalog, id: &str, name: &str) -> Option<String> {
    store.cursor(id, name).await.ok().flatten()
}
