//! `iglive run`: the long-running service. It wires the pipeline together — watcher →
//! recording supervisors → finalized folders — and owns the process-wide concerns: signals
//! (SIGTERM/SIGINT stop, a second one exits at once, SIGHUP reloads), systemd notification,
//! crash recovery at start, the status endpoint, and the limits on concurrent recordings and
//! free disk space.
//!
//! Shutdown plumbing: `shutdown` (a `CancellationToken`) is the root; the watcher and every
//! recording listen to it, recordings are tracked by a `TaskTracker`, and `abort` is the
//! second-signal escape hatch.

pub mod recovery;
pub mod seen;
pub mod systemd;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt as _;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::instagram::{Client, ClientOptions, Session};
use crate::recording::{supervise, Deps, RecorderEvent, Registry};
use crate::store::{now_unix, BroadcastRow, RecordingRow, Store, Write, Writer};
use crate::watch::{
    Accounts, Detector, DetectorOptions, LiveEvent, SchedulerConfig, TrayOptions, WatchedAccount,
};

/// How long recordings get to finalize after SIGTERM (systemd's default stop timeout is 90 s).
const STOP_GRACE: Duration = Duration::from_secs(75);
/// How long notifications still under way may delay the exit.
const NOTIFY_GRACE: Duration = Duration::from_secs(5);
/// How often an expired session is tried again.
const SESSION_RETRY: Duration = Duration::from_secs(30 * 60);
/// How often a broadcast waiting for a free slot or disk space is looked at again.
const PENDING_RETRY: Duration = Duration::from_secs(30);

/// Free bytes on the filesystem holding `path`.
pub fn free_space(path: &Path) -> Result<u64, String> {
    let st = nix::sys::statvfs::statvfs(path).map_err(|e| format!("statvfs: {e}"))?;
    Ok((st.blocks_available() as u64).saturating_mul(st.fragment_size() as u64))
}

/// The HTTP client for the CDN (manifests, segments, covers): no Instagram cookies, bounded
/// timeouts, and redirects only within the same host.
pub fn cdn_client() -> anyhow::Result<reqwest::Client> {
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        let same_host = attempt
            .previous()
            .first()
            .map(|first| first.host_str() == attempt.url().host_str())
            .unwrap_or(false);
        if attempt.previous().len() > 5 {
            attempt.error("too many redirects")
        } else if same_host {
            attempt.follow()
        } else {
            attempt.error("redirect to another host refused")
        }
    });
    reqwest::Client::builder()
        .redirect(policy)
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .pool_idle_timeout(Duration::from_secs(30))
        .use_rustls_tls()
        .build()
        .context("cannot build the CDN HTTP client")
}

fn watched(cfg: &Config) -> Vec<WatchedAccount> {
    cfg.accounts
        .iter()
        .map(|a| WatchedAccount {
            user_id: a.user_id.clone(),
            // The label is the operator's name for the account, not its username.
            username: None,
            in_tray: cfg.watch.use_reels_tray,
        })
        .collect()
}

fn detector_options(cfg: &Config) -> DetectorOptions {
    DetectorOptions {
        scheduler: SchedulerConfig {
            poll_interval: cfg.watch.poll_interval,
            max_requests_per_minute: cfg.watch.max_requests_per_minute,
            ..Default::default()
        },
        tray: cfg.watch.use_reels_tray.then(|| TrayOptions {
            // One tray call covers every followed account, so it gets a fifth of the budget
            // (every 15 s at the default 20 requests per minute).
            interval: Duration::from_secs_f64(
                (5.0 * 60.0 / f64::from(cfg.watch.max_requests_per_minute.max(1))).max(15.0),
            ),
            // The tray has been seen to miss lives (reference §5): keep a slow safety net.
            covered_poll_interval: Some(cfg.watch.poll_interval * 4),
        }),
        seed: None,
    }
}

/// Runs the daemon until SIGTERM/SIGINT (or `stop` is cancelled, for tests).
pub async fn run(cfg: Config, stop: CancellationToken) -> anyhow::Result<()> {
    let session = Session::load(&cfg.instagram.session_file)?;
    std::fs::create_dir_all(&cfg.storage.recordings_dir).with_context(|| {
        format!(
            "cannot create the recordings folder {}",
            cfg.storage.recordings_dir.display()
        )
    })?;
    let store = Store::open(&cfg.storage.database)?;
    let (writer, writer_thread) = Writer::spawn(&store)?;
    for a in &cfg.accounts {
        let _ = writer
            .send(Write::Account(crate::store::AccountRow {
                user_id: a.user_id.clone(),
                label: a.label.clone(),
                ..Default::default()
            }))
            .await;
    }
    let client = Client::new(
        cfg.instagram.api_base_url.clone(),
        session,
        ClientOptions {
            timeout: cfg.instagram.request_timeout,
            ..Default::default()
        },
    )?;
    let registry = Registry::default();
    let notifier = crate::notify::Notifier::new(cfg.notify.clone(), Some(store.clone()))
        .context("cannot build the notification HTTP client")?;
    let (events_tx, mut events_rx) = mpsc::channel::<RecorderEvent>(256);
    let mut deps = Deps {
        client: client.clone(),
        http: cdn_client()?,
        writer: writer.clone(),
        store: store.clone(),
        recording: cfg.recording.clone(),
        recordings_dir: cfg.storage.recordings_dir.clone(),
        registry: registry.clone(),
        events: Some(events_tx),
    };
    let shutdown = CancellationToken::new();
    let abort = CancellationToken::new();
    let recordings = TaskTracker::new();
    let accounts = Accounts::new(watched(&cfg));
    let mut cfg = cfg;

    let status_state = crate::status::StatusState {
        registry: registry.clone(),
        client: client.clone(),
        store: store.clone(),
        writer_stats: writer.stats().clone(),
        recordings_dir: cfg.storage.recordings_dir.clone(),
        min_free_space: cfg.storage.min_free_space,
        accounts: accounts.clone(),
        started_at: now_unix(),
    };
    if let Some(addr) = cfg.status.listen {
        let library = crate::library::Library::daemon(
            &cfg,
            store.clone(),
            crate::library::DaemonParts {
                registry: registry.clone(),
                accounts: accounts.clone(),
                client: client.clone(),
            },
        )?;
        let bound = crate::status::serve(addr, status_state, library, shutdown.clone()).await?;
        tracing::info!(
            "status endpoint and library on http://{bound}/ (/health, /ready, /metrics, /recordings, /api/v1, /docs)"
        );
    }

    // Recovery before watching: unfinished recordings resume or are finalized.
    recovery::run(&deps, &recordings, &accounts, &shutdown, &abort).await;

    let (live_tx, mut live_rx) = mpsc::channel::<LiveEvent>(256);
    let watch_cancel = shutdown.child_token();
    let seen = Arc::new(seen::DbSeenStore::load(&store)?);
    let spawn_watcher = |cfg: &Config| {
        let detector = Detector::new(detector_options(cfg), seen.clone());
        let (client, accounts, cancel, tx) = (
            client.clone(),
            accounts.clone(),
            watch_cancel.clone(),
            live_tx.clone(),
        );
        tokio::spawn(async move { detector.run(client, accounts, tx, cancel).await })
    };
    let mut watcher = spawn_watcher(&cfg);
    let mut watcher_done = false;
    let mut session_retry = tokio::time::interval(SESSION_RETRY);
    session_retry.tick().await;

    let mut signals = signal_hook_tokio::Signals::new([SIGTERM, SIGINT, SIGHUP])
        .context("cannot install signal handlers")?;
    let summary = |registry: &Registry, accounts: &Accounts| {
        format!(
            "watching {} account(s), {} recording(s) in progress",
            accounts.snapshot().watched.len(),
            registry.len()
        )
    };
    systemd::ready(&summary(&registry, &accounts));
    tracing::info!(
        "iglive {} started: {}",
        env!("CARGO_PKG_VERSION"),
        summary(&registry, &accounts)
    );

    let mut heartbeat = tokio::time::interval(
        systemd::watchdog_interval()
            .unwrap_or(Duration::from_secs(15))
            .max(Duration::from_millis(500)),
    );
    let mut pending: VecDeque<LiveEvent> = VecDeque::new();
    let mut retry = tokio::time::interval(PENDING_RETRY);
    let mut stop_deadline: Option<tokio::time::Instant> = None;

    loop {
        if shutdown.is_cancelled() && recordings.is_empty() {
            break;
        }
        tokio::select! {
            sig = signals.next() => match sig {
                Some(SIGHUP) => {
                    systemd::reloading();
                    // A fixed session file takes effect on reload: log in again, replace the
                    // file, `systemctl reload iglive`.
                    match Session::load(&cfg.instagram.session_file) {
                        Ok(session) => client.reload_session(&session),
                        Err(e) => tracing::error!("session not reloaded: {e}"),
                    }
                    match Config::load(&cfg.path) {
                        Ok(new) => {
                            accounts.replace(watched(&new));
                            deps.recording = new.recording.clone();
                            notifier.replace(new.notify.clone());
                            tracing::info!("configuration reloaded from {}: {} account(s)", new.path.display(), new.accounts.len());
                            cfg = new;
                        }
                        Err(e) => tracing::error!("configuration not reloaded: {e}"),
                    }
                    if watcher_done && client.health().expired.is_none() {
                        tracing::info!("detection restarts with the reloaded session");
                        watcher = spawn_watcher(&cfg);
                        watcher_done = false;
                    }
                    systemd::ready(&summary(&registry, &accounts));
                }
                Some(_) if shutdown.is_cancelled() => {
                    tracing::warn!("second stop signal: exiting now; unfinished recordings are recovered at the next start");
                    abort.cancel();
                    drop(writer);
                    drop(deps);
                    writer_thread.join();
                    std::process::exit(130);
                }
                Some(_) => {
                    begin_shutdown(&shutdown, &recordings, &registry);
                    stop_deadline = Some(tokio::time::Instant::now() + STOP_GRACE);
                }
                None => {}
            },
            _ = stop.cancelled(), if !shutdown.is_cancelled() => {
                begin_shutdown(&shutdown, &recordings, &registry);
                stop_deadline = Some(tokio::time::Instant::now() + STOP_GRACE);
            }
            _ = recordings.wait(), if shutdown.is_cancelled() => break,
            _ = async { match stop_deadline { Some(t) => tokio::time::sleep_until(t).await, None => std::future::pending().await } } => {
                tracing::warn!("recordings did not finalize within {STOP_GRACE:?}; stopping them now");
                abort.cancel();
                stop_deadline = None;
            }
            ev = live_rx.recv(), if !shutdown.is_cancelled() => {
                if let Some(ev) = ev {
                    notifier.live_detected(&ev);
                    if let Some(ev) = start_recording(&cfg, &deps, &recordings, &accounts, &shutdown, &abort, ev).await {
                        pending.push_back(ev);
                    }
                }
            }
            ev = events_rx.recv() => match ev.inspect(|ev| notifier.recorder_event(ev)) {
                Some(RecorderEvent::Finished { user_id, broadcast_id, ok, reason, .. }) => {
                    accounts.resume(&user_id);
                    if ok {
                        tracing::info!("recording of broadcast {broadcast_id} finished: {reason}");
                    } else {
                        tracing::error!("recording of broadcast {broadcast_id} failed: {reason}; retry with `iglive finalize {broadcast_id}`");
                    }
                    systemd::status(&summary(&registry, &accounts));
                }
                Some(RecorderEvent::Started { .. }) => systemd::status(&summary(&registry, &accounts)),
                Some(RecorderEvent::SessionExpired(m)) => tracing::error!("session expired: {m}"),
                None => {}
            },
            _ = retry.tick(), if !pending.is_empty() && !shutdown.is_cancelled() => {
                let waiting: Vec<LiveEvent> = pending.drain(..).collect();
                for ev in waiting {
                    match client.broadcast_info(&ev.broadcast.id).await {
                        Ok(b) if b.is_live() => {
                            let ev = LiveEvent { broadcast: b, ..ev };
                            if let Some(ev) = start_recording(&cfg, &deps, &recordings, &accounts, &shutdown, &abort, ev).await {
                                pending.push_back(ev);
                            }
                        }
                        Ok(_) => tracing::warn!("broadcast {} ended before a recording slot was free; it was not recorded", ev.broadcast.id),
                        Err(e) => {
                            tracing::warn!("broadcast {}: {e}", ev.broadcast.id);
                            if !e.kind().expires_session() && e.kind() != crate::instagram::ApiErrorKind::NotFound {
                                pending.push_back(ev);
                            }
                        }
                    }
                }
            }
            res = &mut watcher, if !watcher_done => {
                watcher_done = true;
                match res {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::error!("detection stopped: {e}");
                        if e.kind().expires_session() {
                            notifier.recorder_event(&RecorderEvent::SessionExpired(e.to_string()));
                        }
                    }
                    Err(e) => tracing::error!("detection crashed: {e}"),
                }
            }
            _ = session_retry.tick(), if watcher_done && !shutdown.is_cancelled() => {
                // Retry an expired session rarely: one request now and then tells whether
                // Instagram accepts it again, without hammering a dead login.
                if client.retry_expired_session() {
                    tracing::warn!("retrying the expired session once (every {SESSION_RETRY:?}); replace the session file and reload if it fails again");
                }
                watcher = spawn_watcher(&cfg);
                watcher_done = false;
            }
            _ = heartbeat.tick() => {
                // The watchdog is fed only while the loop runs and the database takes writes.
                if writer.stats().healthy.load(std::sync::atomic::Ordering::Relaxed) {
                    systemd::watchdog();
                }
            }
        }
    }
    watch_cancel.cancel();
    // Events sent just before the last recording ended may not have been read by the loop.
    while let Ok(ev) = events_rx.try_recv() {
        notifier.recorder_event(&ev);
    }
    notifier.drain(NOTIFY_GRACE).await;
    systemd::stopping();
    tracing::info!("iglive stopped");
    drop(deps);
    drop(writer);
    writer_thread.join();
    Ok(())
}

fn begin_shutdown(shutdown: &CancellationToken, recordings: &TaskTracker, registry: &Registry) {
    tracing::info!(
        "stopping: finalizing {} recording(s) with what was captured (send the signal again to exit at once)",
        registry.len()
    );
    systemd::stopping();
    shutdown.cancel();
    recordings.close();
}

/// Starts recording a detected broadcast, or hands it back when it must wait (concurrency
/// limit, low disk space).
#[allow(clippy::too_many_arguments)]
async fn start_recording(
    cfg: &Config,
    deps: &Deps,
    recordings: &TaskTracker,
    accounts: &Accounts,
    shutdown: &CancellationToken,
    abort: &CancellationToken,
    ev: LiveEvent,
) -> Option<LiveEvent> {
    let id = ev.broadcast.id.clone();
    if deps.registry.contains(&id) {
        return None;
    }
    let detected_at = ev
        .detected_at
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_else(|_| now_unix());
    // Durable before anything else: a restart now still knows about this broadcast.
    let _ = deps
        .writer
        .send(Write::Broadcast(BroadcastRow {
            broadcast_id: id.clone(),
            user_id: ev.user_id.clone(),
            username: ev.username.clone(),
            status: ev
                .broadcast
                .broadcast_status
                .as_ref()
                .map(|s| s.as_str().to_string()),
            published_time: ev.broadcast.published_time.map(|t| t as f64),
            detected_at: Some(detected_at),
            dash_url: ev.broadcast.mpd_url().map(str::to_string),
            ..Default::default()
        }))
        .await;
    let _ = deps
        .writer
        .send(Write::Recording(RecordingRow {
            broadcast_id: id.clone(),
            state: "detected".into(),
            ..Default::default()
        }))
        .await;
    tracing::info!(
        "{} is live: broadcast {id}",
        ev.username.as_deref().unwrap_or(&ev.user_id)
    );
    if deps.registry.len() >= cfg.recording.max_concurrent {
        tracing::error!(
            "broadcast {id}: {} recordings already in progress (recording.max_concurrent); it waits for a free slot",
            deps.registry.len()
        );
        return Some(ev);
    }
    match free_space(&cfg.storage.recordings_dir) {
        Ok(free) if free < cfg.storage.min_free_space => {
            tracing::error!(
                "broadcast {id}: only {} free in {} (storage.min_free_space is {}); not recording until space is freed",
                crate::output::human_size(free),
                cfg.storage.recordings_dir.display(),
                crate::output::human_size(cfg.storage.min_free_space)
            );
            return Some(ev);
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("cannot check free space: {e}"),
    }
    accounts.pause(&ev.user_id);
    recordings.spawn(supervise(
        deps.clone(),
        ev.broadcast,
        ev.user_id,
        ev.username,
        shutdown.clone(),
        abort.clone(),
    ));
    None
}
