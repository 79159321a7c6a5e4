//! One broadcast's supervisor: owns the capture and the engagement pollers (tasks under one
//! cancellation token, waited for with a task tracker), restarts a task that fails, decides
//! when the broadcast has ended — whichever end signal comes first — and finalizes once.
//!
//! States (persisted): detected → recording ⇄ interrupted → finalizing → finished | failed.
//! `interrupted` keeps everything running; if the broadcast stays interrupted longer than
//! `recording.interrupted_grace` it is finalized.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Engine, RecordingConfig};
use crate::instagram::{Broadcast, Client};
use crate::output;
use crate::store::{now_unix, query, AccountRow, BroadcastRow, RecordingRow, Store, Write, Writer};

use super::capture::{CaptureControl, CaptureExit, CaptureProgress, CaptureRequest};
use super::context::{Ctx, Signal};
use super::registry::{LiveRecording, Registry, State};
use super::{comments, finalize, heartbeat, likes, postlive};

/// Everything a recording needs from the daemon.
#[derive(Clone)]
pub struct Deps {
    pub client: Client,
    /// For the CDN (manifests and segments): no Instagram cookies are sent there.
    pub http: reqwest::Client,
    pub writer: Writer,
    pub store: Store,
    pub recording: RecordingConfig,
    pub recordings_dir: PathBuf,
    pub registry: Registry,
    pub events: Option<mpsc::Sender<RecorderEvent>>,
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
}

/// Why a recording ended; written to `broadcasts.end_reason`.
#[derive(Debug, Clone, PartialEq)]
pub enum EndReason {
    /// The broadcast's status left `active`/`interrupted` (`stopped`, `hard_stop`, `post_live`).
    Status(String),
    /// A live endpoint answered 404.
    Gone,
    /// The manifest carried the end signal.
    StreamEnded,
    /// `interrupted` for longer than the grace period.
    InterruptedTimeout,
    /// iglive was asked to stop; the recording holds what was captured so far.
    Shutdown,
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
            EndReason::CaptureFailed(e) => format!("capture failed: {e}"),
        }
    }
}

/// How long the capture may take to drain after the end before it is aborted.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the post-live merge may take.
const POSTLIVE_TIMEOUT: Duration = Duration::from_secs(120);
/// How often live figures are written to the database.
const FIGURES_EVERY: Duration = Duration::from_secs(5);

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
/// folder says it was cut short); `abort` additionally skips the drain (second signal).
pub async fn supervise(
    deps: Deps,
    broadcast: Broadcast,
    user_id: String,
    username: Option<String>,
    shutdown: CancellationToken,
    abort: CancellationToken,
) {
    let id = broadcast.id.clone();
    let published_time = broadcast
        .published_time
        .map(|t| t as f64)
        .unwrap_or_else(now_unix);
    // The broadcast object's owner is the freshest source of the username (it can change).
    let username = broadcast
        .broadcast_owner
        .as_ref()
        .and_then(|o| o.username.clone())
        .or(username);
    let folder = match existing_folder(&deps.store, &id).await {
        Some(f) => f,
        None => match folder_for(
            &deps.recordings_dir,
            &user_id,
            username.as_deref(),
            published_time,
            &id,
        ) {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(
                    "broadcast {id}: cannot create its folder under {}: {e}",
                    deps.recordings_dir.display()
                );
                return;
            }
        },
    };
    let claimed = deps.registry.claim(LiveRecording {
        broadcast_id: id.clone(),
        user_id: user_id.clone(),
        username: username.clone(),
        state: State::Recording,
        started_at: now_unix(),
        folder: folder.display().to_string(),
        viewers: None,
        comments: 0,
        segments_captured: 0,
        segments_missing: 0,
        bytes: 0,
        duration_s: 0.0,
    });
    if !claimed {
        tracing::debug!("broadcast {id} is already being recorded");
        return;
    }
    let result = record(
        &deps,
        &broadcast,
        &user_id,
        username.clone(),
        published_time,
        &folder,
        &shutdown,
        &abort,
    )
    .await;
    deps.registry.release(&id);
    if let Some(tx) = &deps.events {
        let (ok, reason) = match &result {
            Ok(r) => (true, r.clone()),
            Err(e) => (false, e.clone()),
        };
        let _ = tx
            .send(RecorderEvent::Finished {
                broadcast_id: id.clone(),
                user_id,
                username,
                folder,
                ok,
                reason,
            })
            .await;
    }
}

async fn existing_folder(store: &Store, id: &str) -> Option<PathBuf> {
    let store = store.clone();
    let id = id.to_string();
    tokio::task::spawn_blocking(move || {
        let conn = store.connect().ok()?;
        query::recording(&conn, &id)
            .ok()
            .flatten()
            .and_then(|r| r.folder)
            .map(PathBuf::from)
    })
    .await
    .ok()
    .flatten()
}

async fn load_cursor(store: &Store, id: &str, name: &str) -> Option<String> {
    let store = store.clone();
    let (id, name) = (id.to_string(), name.to_string());
    tokio::task::spawn_blocking(move || {
        let conn = store.connect().ok()?;
        query::cursor(&conn, &id, &name).ok().flatten()
    })
    .await
    .ok()
    .flatten()
}

fn recording_row(id: &str, state: State) -> RecordingRow {
    RecordingRow {
        broadcast_id: id.to_string(),
        state: state.as_str().to_string(),
        ..Default::default()
    }
}

#[allow(clippy::too_many_arguments)]
async fn record(
    deps: &Deps,
    broadcast: &Broadcast,
    user_id: &str,
    username: Option<String>,
    published_time: f64,
    folder: &std::path::Path,
    shutdown: &CancellationToken,
    abort: &CancellationToken,
) -> Result<String, String> {
    let id = broadcast.id.clone();
    let w = &deps.writer;
    let owner = broadcast.broadcast_owner.as_ref();
    let _ = w
        .send(Write::Account(AccountRow {
            user_id: user_id.to_string(),
            username: username.clone(),
            full_name: owner.and_then(|o| o.full_name.clone()),
            is_verified: owner.and_then(|o| o.is_verified),
            label: None,
        }))
        .await;
    let raw = serde_json::json!({
        "id": broadcast.id,
        "broadcast_status": broadcast.broadcast_status.as_ref().map(|s| s.as_str().to_string()),
        "published_time": broadcast.published_time,
        "broadcast_message": broadcast.broadcast_message,
        "media_id": broadcast.media_id,
        "cover_frame_url": broadcast.cover_frame_url,
        "dash_playback_url": broadcast.dash_playback_url,
        "dash_abr_playback_url": broadcast.dash_abr_playback_url,
        "broadcast_owner": owner.map(|o| serde_json::json!({
            "pk": o.pk, "username": o.username, "full_name": o.full_name, "is_verified": o.is_verified,
        })),
        "cobroadcasters": broadcast.cobroadcasters.iter().map(|c| serde_json::json!({
            "pk": c.pk, "username": c.username, "full_name": c.full_name,
        })).collect::<Vec<_>>(),
    });
    let _ = w
        .send(Write::Broadcast(BroadcastRow {
            broadcast_id: id.clone(),
            user_id: user_id.to_string(),
            username: username.clone(),
            status: broadcast
                .broadcast_status
                .as_ref()
                .map(|s| s.as_str().to_string()),
            published_time: Some(published_time),
            detected_at: Some(now_unix()),
            dash_url: broadcast.mpd_url().map(str::to_string),
            cover_frame_url: broadcast.cover_frame_url.clone(),
            raw_json: Some(raw.to_string()),
            ..Default::default()
        }))
        .await;
    let _ = w
        .send(Write::Recording(RecordingRow {
            folder: Some(folder.display().to_string()),
            started_at: Some(now_unix()),
            ..recording_row(&id, State::Recording)
        }))
        .await;
    if let Some(tx) = &deps.events {
        let _ = tx
            .send(RecorderEvent::Started {
                broadcast_id: id.clone(),
                user_id: user_id.to_string(),
                username: username.clone(),
                folder: folder.to_path_buf(),
            })
            .await;
    }
    tracing::info!(
        "recording broadcast {id} of {} into {}",
        username.as_deref().unwrap_or(user_id),
        folder.display()
    );

    let segments_dir = folder.join(".segments");
    let tasks = TaskTracker::new();
    let pollers_cancel = CancellationToken::new();
    let (signals_tx, mut signals) = mpsc::channel::<Signal>(64);
    let ctx = Ctx {
        broadcast_id: id.clone(),
        user_id: user_id.to_string(),
        published_time,
        client: deps.client.clone(),
        writer: deps.writer.clone(),
        signals: signals_tx.clone(),
        cancel: pollers_cancel.clone(),
    };
    let rc = &deps.recording;
    let comment_cursor = load_cursor(&deps.store, &id, comments::CURSOR)
        .await
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    let like_cursor = load_cursor(&deps.store, &id, likes::CURSOR)
        .await
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0);
    {
        let (c, i) = (ctx.clone(), rc.heartbeat_interval);
        spawn_restarting(
            &tasks,
            "heartbeat",
            &id,
            pollers_cancel.clone(),
            move || heartbeat::run(c.clone(), i),
        );
        let (c, i) = (ctx.clone(), rc.comments_interval);
        spawn_restarting(&tasks, "comments", &id, pollers_cancel.clone(), move || {
            comments::run(c.clone(), i, comment_cursor)
        });
        let (c, i) = (ctx.clone(), rc.likes_interval);
        spawn_restarting(&tasks, "likes", &id, pollers_cancel.clone(), move || {
            likes::run(c.clone(), i, like_cursor)
        });
    }

    // The capture, restarted with backoff when it fails while the broadcast goes on.
    let control = CaptureControl::default();
    let (progress_tx, mut progress_rx) = watch::channel(CaptureProgress::default());
    match broadcast.mpd_url().and_then(|u| url::Url::parse(u).ok()) {
        Some(mpd_url) => {
            let req = CaptureRequest {
                broadcast_id: id.clone(),
                mpd_url,
                segments_dir: segments_dir.clone(),
                rewind: rc.rewind,
                max_height: rc.max_height,
            };
            let (http, control, engine) = (deps.http.clone(), control.clone(), rc.engine);
            let (signals_tx, client) = (signals_tx.clone(), deps.client.clone());
            let progress_tx = Arc::new(progress_tx);
            tasks.spawn(async move {
                capture_loop(req, http, engine, control, progress_tx, signals_tx, client).await;
            });
        }
        None => {
            tracing::error!("broadcast {id}: no DASH playback URL in the broadcast object; only engagement is recorded");
        }
    }
    // Only the tasks hold senders now: when every one of them has stopped, `recv` says so.
    drop(signals_tx);
    let postlive_parts = (ctx.client.clone(), ctx.writer.clone());
    drop(ctx);

    // The end-of-broadcast decision.
    let mut interrupted_since: Option<Instant> = None;
    let mut figures = tokio::time::interval(FIGURES_EVERY);
    let end = loop {
        let grace_end = interrupted_since.map(|t| t + rc.interrupted_grace);
        tokio::select! {
            _ = shutdown.cancelled() => break EndReason::Shutdown,
            _ = async { match grace_end { Some(t) => tokio::time::sleep_until(t).await, None => std::future::pending().await } } => {
                break EndReason::InterruptedTimeout;
            }
            sig = signals.recv() => match sig {
                Some(Signal::Status(s)) => match s.as_str() {
                    "active" => {
                        if interrupted_since.take().is_some() {
                            tracing::info!("broadcast {id} is active again");
                            let _ = w.send(Write::Recording(recording_row(&id, State::Recording))).await;
                            deps.registry.update(&id, |r| r.state = State::Recording);
                        }
                    }
                    "interrupted" => {
                        if interrupted_since.is_none() {
                            tracing::info!("broadcast {id} is interrupted; waiting up to {:?}", rc.interrupted_grace);
                            interrupted_since = Some(Instant::now());
                            let _ = w.send(Write::Recording(recording_row(&id, State::Interrupted))).await;
                            deps.registry.update(&id, |r| r.state = State::Interrupted);
                        }
                    }
                    other => break EndReason::Status(other.to_string()),
                },
                Some(Signal::Gone(_)) => break EndReason::Gone,
                Some(Signal::StreamEnded(_)) => break EndReason::StreamEnded,
                Some(Signal::SessionExpired(m)) => {
                    if let Some(tx) = &deps.events {
                        let _ = tx.send(RecorderEvent::SessionExpired(m)).await;
                    }
                }
                None => break EndReason::CaptureFailed("every task of the recording stopped".into()),
            },
            _ = figures.tick() => {
                let p = progress_rx.borrow_and_update().clone();
                deps.registry.set_progress(&id, &p);
                let _ = w.send(Write::Recording(progress_row(&id, State::Recording, &p, interrupted_since.is_some()))).await;
            }
        }
    };
    tracing::info!("broadcast {id} ended: {}", end.describe());
    // When the end came from the stream or a 404, ask once for the final status so the
    // folder says `stopped`/`hard_stop`/`post_live` rather than the last status seen live.
    let mut final_status = match &end {
        EndReason::Status(s) => Some(s.clone()),
        _ => None,
    };
    if matches!(end, EndReason::StreamEnded | EndReason::Gone) {
        let info =
            tokio::time::timeout(Duration::from_secs(15), deps.client.broadcast_info(&id)).await;
        if let Ok(Ok(b)) = info {
            final_status = b
                .broadcast_status
                .as_ref()
                .map(|s| s.as_str().to_string())
                .filter(|s| s != "active" && s != "interrupted");
        }
        if let Some(s) = &final_status {
            let _ = w
                .send(Write::Status {
                    broadcast_id: id.clone(),
                    status: s.clone(),
                    at: now_unix(),
                    source: "info".into(),
                })
                .await;
        }
    }
    let _ = w
        .send(Write::Broadcast(BroadcastRow {
            broadcast_id: id.clone(),
            user_id: user_id.to_string(),
            ended_at: Some(now_unix()),
            end_reason: Some(end.describe()),
            status: final_status,
            ..Default::default()
        }))
        .await;
    deps.registry.update(&id, |r| r.state = State::Finalizing);
    let _ = w
        .send(Write::Recording(recording_row(&id, State::Finalizing)))
        .await;

    // Stop the pollers, drain the capture.
    pollers_cancel.cancel();
    if end == EndReason::Shutdown || abort.is_cancelled() {
        control.abort.cancel();
    } else {
        control.drain.cancel();
    }
    tasks.close();
    tokio::select! {
        _ = tasks.wait() => {}
        _ = abort.cancelled() => { control.abort.cancel(); tasks.wait().await; }
        _ = shutdown.cancelled(), if end != EndReason::Shutdown => {
            tracing::info!("broadcast {id}: shutdown while draining; keeping what was captured");
            control.abort.cancel();
            tasks.wait().await;
        }
        _ = tokio::time::sleep(DRAIN_TIMEOUT) => {
            tracing::warn!("broadcast {id}: the capture did not drain within {DRAIN_TIMEOUT:?}; stopping it");
            control.abort.cancel();
            tasks.wait().await;
        }
    }
    let progress = progress_rx.borrow().clone();

    // Post-live engagement fills what the live pollers missed (not at shutdown: no time).
    if !shutdown.is_cancelled() && !abort.is_cancelled() {
        let (signals, _unused) = mpsc::channel(1);
        let ctx = Ctx {
            broadcast_id: id.clone(),
            user_id: user_id.to_string(),
            published_time,
            client: postlive_parts.0.clone(),
            writer: postlive_parts.1.clone(),
            signals,
            cancel: abort.child_token(),
        };
        match tokio::time::timeout(POSTLIVE_TIMEOUT, postlive::fetch(&ctx)).await {
            Ok(r) => tracing::info!(
                "broadcast {id}: post-live merge read {} comments and {} like points",
                r.comments_seen,
                r.like_points
            ),
            Err(_) => tracing::warn!("broadcast {id}: post-live merge timed out"),
        }
    }

    let _ = w
        .send(Write::Recording(RecordingRow {
            cut_by_shutdown: Some(end == EndReason::Shutdown),
            ..progress_row(&id, State::Finalizing, &progress, false)
        }))
        .await;
    let outcome = finalize::finalize(
        &deps.writer,
        &deps.store,
        &deps.http,
        &id,
        folder,
        &progress,
        published_time,
        deps.recording.keep_segments,
    )
    .await;
    match &outcome {
        Ok(msg) => tracing::info!("broadcast {id}: {msg}"),
        Err(e) => tracing::error!("broadcast {id}: finalization failed: {e}"),
    }
    outcome.map(|m| format!("{}; {m}", end.describe()))
}

fn progress_row(id: &str, state: State, p: &CaptureProgress, interrupted: bool) -> RecordingRow {
    let state = if interrupted && state == State::Recording {
        State::Interrupted
    } else {
        state
    };
    RecordingRow {
        segments_expected: Some(p.segments_expected as i64),
        segments_captured: Some(p.segments_captured as i64),
        segments_missing: Some(p.segments_missing as i64),
        missing_ranges: serde_json::to_string(
            &p.missing_ranges
                .iter()
                .map(|(a, b)| serde_json::json!({"start_t": a, "end_t": b}))
                .collect::<Vec<_>>(),
        )
        .ok(),
        bytes_captured: Some(p.bytes as i64),
        first_segment_t: p.first_t.map(|t| t as i64),
        rewind_used: Some(p.rewind_used),
        quality: p.quality.clone(),
        duration_s: (p.duration_s > 0.0).then_some(p.duration_s),
        ..recording_row(id, state)
    }
}

/// Runs the capture engine until it ends, restarting it with backoff when it fails while
/// neither drain nor abort was asked for. A panic in the engine counts as a failure.
async fn capture_loop(
    req: CaptureRequest,
    http: reqwest::Client,
    engine: Engine,
    control: CaptureControl,
    progress: Arc<watch::Sender<CaptureProgress>>,
    signals: mpsc::Sender<Signal>,
    client: Client,
) {
    let mut delay = Duration::from_secs(1);
    let mut fruitless = 0u32;
    loop {
        let captured_before = progress.borrow().segments_captured;
        let (req2, http2, control2) = (req.clone(), http.clone(), control.clone());
        let (ptx, mut prx) = watch::channel(progress.borrow().clone());
        let forward = {
            let progress = progress.clone();
            tokio::spawn(async move {
                while prx.changed().await.is_ok() {
                    let p = prx.borrow_and_update().clone();
                    progress.send_replace(p);
                }
            })
        };
        let run = tokio::spawn(async move {
            match engine {
                Engine::Native => crate::dash::capture::run(req2, http2, control2, ptx).await,
                Engine::Ffmpeg => crate::media::ffmpeg_engine::run(req2, control2, ptx).await,
            }
        });
        let exit = match run.await {
            Ok(exit) => exit,
            Err(e) => CaptureExit::Failed(format!("the capture task crashed: {e}")),
        };
        let _ = forward.await;
        match exit {
            CaptureExit::StreamEnded => {
                let _ = signals
                    .send(Signal::StreamEnded("manifest end signal".into()))
                    .await;
                return;
            }
            CaptureExit::Stopped => return,
            CaptureExit::Failed(e) => {
                if control.drain.is_cancelled() || control.abort.is_cancelled() {
                    return;
                }
                if progress.borrow().segments_captured == captured_before {
                    fruitless += 1;
                } else {
                    fruitless = 0;
                }
                // Nothing captured over several runs and no session left to ask whether the
                // broadcast goes on: stop rather than retry forever.
                if fruitless >= 3 && client.health().expired.is_some() {
                    tracing::error!("broadcast {}: capture failed repeatedly ({e}) and the session is expired; giving up", req.broadcast_id);
                    return;
                }
                tracing::warn!(
                    "broadcast {}: capture failed: {e}; restarting in {delay:?}",
                    req.broadcast_id
                );
                tokio::select! {
                    _ = control.drain.cancelled() => return,
                    _ = control.abort.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(60));
            }
        }
    }
}

/// Spawns a poller that is restarted with backoff if it panics; a normal return ends it.
fn spawn_restarting<F, Fut>(
    tasks: &TaskTracker,
    name: &'static str,
    broadcast_id: &str,
    cancel: CancellationToken,
    make: F,
) where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let id = broadcast_id.to_string();
    tasks.spawn(async move {
        let mut delay = Duration::from_secs(1);
        loop {
            match tokio::spawn(make()).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::error!(
                        "broadcast {id}: the {name} task crashed ({e}); restarting in {delay:?}"
                    );
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(60));
        }
    });
}
