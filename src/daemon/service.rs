//! The daemon as a value: built once at start ([`Daemon::start`]), then driven by one loop that
//! waits for the next event from any source and hands it to that source's method.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt as _;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use tokio::sync::mpsc;
use tokio::task::JoinError;
use tokio::time::{Instant, Interval};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::launch::Launcher;
use super::seen::DbSeenStore;
use super::watcher::{watched, Watcher};
use super::{recovery, systemd, Exit};
use crate::config::Config;
use crate::instagram::{ApiError, Client, ClientOptions, Reloaded, Saver, SessionSource};
use crate::notify::Notifier;
use crate::pool::{Member, PlanOptions, Pool};
use crate::recording::{Deps, RecorderEvent, Registry};
use crate::status::{ReloadOutcome, ReloadRequest, ReloadSender};
use crate::store::{now_unix, AccountRow, Store, Write, Writer, WriterThread};
use crate::watch::{Accounts, LiveEvent};

/// How long recordings get to finalize after SIGTERM (systemd's default stop timeout is 90 s).
const STOP_GRACE: Duration = Duration::from_secs(75);
/// How long notifications still under way may delay the exit.
const NOTIFY_GRACE: Duration = Duration::from_secs(5);
/// How often an expired session is tried again.
const SESSION_RETRY: Duration = Duration::from_secs(30 * 60);
/// How often a broadcast waiting for a free slot or disk space is looked at again.
const PENDING_RETRY: Duration = Duration::from_secs(30);

/// The running daemon's state; every field is shared with the tasks it started.
pub(super) struct Daemon {
    cfg: Config,
    deps: Deps,
    client: Client,
    /// Where the session came from; `saver` keeps its rotations there.
    session: Arc<SessionSource>,
    saver: Saver,
    writer_thread: Option<WriterThread>,
    notifier: Notifier,
    accounts: Accounts,
    shutdown: CancellationToken,
    abort: CancellationToken,
    recordings: TaskTracker,
    pending: VecDeque<LiveEvent>,
    watcher: Watcher,
    stop_deadline: Option<Instant>,
}

/// Where events come from, apart from the daemon's own state.
pub(super) struct Sources {
    signals: signal_hook_tokio::Signals,
    /// `POST /api/v1/reload` on the status listener: the same reload as SIGHUP, answered.
    reload: mpsc::Receiver<ReloadRequest>,
    live: mpsc::Receiver<LiveEvent>,
    recorder: mpsc::Receiver<RecorderEvent>,
    pending_retry: Interval,
    session_retry: Interval,
    watchdog: Interval,
}

/// One thing that happened.
enum Event {
    Signal(Option<i32>),
    Reload(ReloadRequest),
    Stop,
    RecordingsDone,
    StopDeadline,
    Live(Option<Box<LiveEvent>>),
    Recorder(Option<RecorderEvent>),
    RetryPending,
    WatcherDone(Result<Result<(), ApiError>, JoinError>),
    SessionRetry,
    Watchdog,
}

impl Daemon {
    /// Opens everything the daemon needs, serves the status endpoint, recovers unfinished
    /// recordings and starts detection.
    pub(super) async fn start(cfg: Config) -> anyhow::Result<(Daemon, Sources)> {
        let source = Arc::new(SessionSource::from_config(&cfg));
        let loaded = source.load()?;
        tracing::info!("{}", loaded.describe(&source));
        std::fs::create_dir_all(&cfg.storage.recordings_dir).with_context(|| {
            format!(
                "cannot create the recordings folder {}",
                cfg.storage.recordings_dir.display()
            )
        })?;
        let store = Store::open(&cfg.storage.database)?;
        let (writer, writer_thread) = Writer::spawn(&store)?;
        let client = Client::new(
            cfg.instagram.api_base_url.clone(),
            loaded.session,
            ClientOptions {
                timeout: cfg.instagram.request_timeout,
                max_requests_per_minute: cfg.watch.max_requests_per_minute,
                ..Default::default()
            },
        )?;
        // Rotated cookies are saved as they change, so a restart uses the freshest.
        let saver = source.spawn_saver(client.clone());
        let notifier = Notifier::new(cfg.notify.clone(), Some(store.clone()))
            .context("cannot build the notification HTTP client")?;
        let (events_tx, recorder) = mpsc::channel::<RecorderEvent>(256);
        let (reload_tx, reload) = mpsc::channel::<ReloadRequest>(4);
        let http = crate::dash::cdn_client().context("cannot build the CDN HTTP client")?;
        let member = Member {
            name: "default".into(),
            client: client.clone(),
            cdn: http.clone(),
            budget: cfg.watch.max_requests_per_minute,
        };
        let deps = Deps {
            pool: Pool::new(vec![member], PlanOptions::default()),
            http,
            writer,
            store: store.clone(),
            recording: cfg.recording.clone(),
            recordings_dir: cfg.storage.recordings_dir.clone(),
            min_free_space: cfg.storage.min_free_space,
            registry: Registry::default(),
            events: Some(events_tx),
        };
        let shutdown = CancellationToken::new();
        let accounts = Accounts::new(watched(&cfg));
        let (live_tx, live) = mpsc::channel::<LiveEvent>(256);
        let seen = Arc::new(DbSeenStore::load(&store)?);
        let watcher = Watcher::new(
            client.clone(),
            accounts.clone(),
            seen,
            shutdown.child_token(),
            live_tx,
        );
        let mut daemon = Daemon {
            cfg,
            deps,
            client,
            session: source,
            saver,
            writer_thread: Some(writer_thread),
            notifier,
            accounts,
            shutdown,
            abort: CancellationToken::new(),
            recordings: TaskTracker::new(),
            pending: VecDeque::new(),
            watcher,
            stop_deadline: None,
        };
        daemon.persist_accounts().await;
        daemon.serve_status(reload_tx).await?;
        // Recovery before watching: unfinished recordings resume or are finalized.
        recovery::run(
            &daemon.cfg,
            &daemon.deps,
            &daemon.recordings,
            &daemon.accounts,
            &daemon.shutdown,
            &daemon.abort,
        )
        .await;
        daemon.watcher.spawn(&daemon.cfg);
        let sources = Sources::new(live, recorder, reload)?;
        Ok((daemon, sources))
    }

    async fn persist_accounts(&self) {
        for a in &self.cfg.accounts {
            let row = Write::Account(AccountRow {
                user_id: a.user_id.clone(),
                label: a.label.clone(),
                ..Default::default()
            });
            if let Err(e) = self.deps.writer.send(row).await {
                tracing::error!(user_id = %a.user_id, error = %e, "the account was not stored");
            }
        }
    }

    async fn serve_status(&self, reload: ReloadSender) -> anyhow::Result<()> {
        let Some(addr) = self.cfg.status.listen else {
            return Ok(());
        };
        let state = crate::status::StatusState {
            registry: self.deps.registry.clone(),
            client: self.client.clone(),
            store: self.deps.store.clone(),
            writer_stats: self.deps.writer.stats().clone(),
            recordings_dir: self.cfg.storage.recordings_dir.clone(),
            min_free_space: self.cfg.storage.min_free_space,
            accounts: self.accounts.clone(),
            started_at: now_unix(),
            reload: Some(reload),
        };
        let bound = crate::status::serve(addr, state, self.shutdown.clone()).await?;
        tracing::info!(
            "status endpoint on http://{bound}/ (/health, /ready, /metrics, /recordings)"
        );
        Ok(())
    }

    fn summary(&self) -> String {
        format!(
            "watching {} account(s), {} recording(s) in progress",
            self.accounts.snapshot().watched.len(),
            self.deps.registry.len()
        )
    }

    fn launcher(&self) -> Launcher<'_> {
        Launcher {
            cfg: &self.cfg,
            deps: &self.deps,
            recordings: &self.recordings,
            accounts: &self.accounts,
            shutdown: &self.shutdown,
            abort: &self.abort,
        }
    }

    /// Runs until every recording is finalized after a stop, or a second signal.
    pub(super) async fn run(self, mut sources: Sources, stop: CancellationToken) -> Exit {
        let mut daemon = self;
        systemd::ready(&daemon.summary());
        tracing::info!(
            "iglive {} started: {}",
            env!("CARGO_PKG_VERSION"),
            daemon.summary()
        );
        loop {
            if daemon.shutdown.is_cancelled() && daemon.recordings.is_empty() {
                break;
            }
            match daemon.next_event(&mut sources, &stop).await {
                Event::Signal(Some(SIGHUP)) => {
                    // Logged either way; a signal has nobody to answer.
                    if let Err(refused) = daemon.on_reload().await {
                        tracing::debug!(%refused, "SIGHUP reload refused");
                    }
                }
                Event::Reload(req) => {
                    let outcome = daemon.on_reload().await;
                    if req.reply.send(outcome).is_err() {
                        tracing::debug!("the reload's requester stopped waiting");
                    }
                }
                Event::Signal(Some(_)) if daemon.shutdown.is_cancelled() => {
                    return daemon.abort_now();
                }
                Event::Signal(Some(_)) | Event::Stop => daemon.begin_shutdown(),
                Event::Signal(None) => {}
                Event::RecordingsDone => break,
                Event::StopDeadline => daemon.on_stop_deadline(),
                Event::Live(ev) => daemon.on_live(ev).await,
                Event::Recorder(ev) => daemon.on_recorder_event(ev),
                Event::RetryPending => daemon.on_retry_pending().await,
                Event::WatcherDone(res) => daemon.on_watcher_done(res),
                Event::SessionRetry => daemon.on_session_retry(),
                Event::Watchdog => daemon.on_watchdog(),
            }
        }
        daemon.finish(sources).await;
        Exit::Stopped
    }

    async fn next_event(&mut self, src: &mut Sources, stop: &CancellationToken) -> Event {
        let stopping = self.shutdown.is_cancelled();
        let pending = !self.pending.is_empty();
        let watching = self.watcher.running();
        tokio::select! {
            sig = src.signals.next() => Event::Signal(sig),
            Some(req) = src.reload.recv() => Event::Reload(req),
            _ = stop.cancelled(), if !stopping => Event::Stop,
            _ = self.recordings.wait(), if stopping => Event::RecordingsDone,
            _ = sleep_until(self.stop_deadline) => Event::StopDeadline,
            ev = src.live.recv(), if !stopping => Event::Live(ev.map(Box::new)),
            ev = src.recorder.recv() => Event::Recorder(ev),
            _ = src.pending_retry.tick(), if pending && !stopping => Event::RetryPending,
            res = self.watcher.join(), if watching => Event::WatcherDone(res),
            _ = src.session_retry.tick(), if !watching && !stopping => Event::SessionRetry,
            _ = src.watchdog.tick() => Event::Watchdog,
        }
    }

    /// SIGHUP or `POST /api/v1/reload`: a fixed session file and a changed config take
    /// effect (log in again, replace the file, `systemctl reload iglive`; a systemd credential
    /// needs a restart). The outcome, or why the config was refused (the old one stays), is the
    /// reload request's answer.
    async fn on_reload(&mut self) -> Result<ReloadOutcome, String> {
        systemd::reloading();
        let session_error = match self.session.reload(&self.client) {
            Ok(Reloaded::Replaced) => {
                tracing::info!("session reloaded from {}", self.session);
                None
            }
            Ok(Reloaded::Unchanged) => None,
            Err(e) => {
                tracing::error!(error = %e, "session not reloaded");
                Some(e.to_string())
            }
        };
        let outcome = match Config::load(&self.cfg.path) {
            Ok(new) => {
                if new.instagram.session_file != *self.session.file() {
                    tracing::warn!(
                        "instagram.session_file changed to {}: that takes effect at the next start",
                        new.instagram.session_file
                    );
                }
                self.accounts.replace(watched(&new));
                self.deps.recording = new.recording.clone();
                self.notifier.replace(new.notify.clone());
                tracing::info!(
                    "configuration reloaded from {}: {} account(s)",
                    new.path.display(),
                    new.accounts.len()
                );
                self.cfg = new;
                self.persist_accounts().await;
                Ok(ReloadOutcome {
                    accounts: self.cfg.accounts.len(),
                    session_error,
                })
            }
            Err(e) => {
                tracing::error!(error = %e, "configuration not reloaded");
                Err(e.to_string())
            }
        };
        if !self.watcher.running() && self.client.health().expired.is_none() {
            tracing::info!("detection restarts with the reloaded session");
            self.watcher.spawn(&self.cfg);
        }
        systemd::ready(&self.summary());
        outcome
    }

    fn begin_shutdown(&mut self) {
        tracing::info!(
            "stopping: finalizing {} recording(s) with what was captured (send the signal again to exit at once)",
            self.deps.registry.len()
        );
        systemd::stopping();
        self.shutdown.cancel();
        self.recordings.close();
        self.stop_deadline = Some(Instant::now() + STOP_GRACE);
    }

    /// A second stop signal: abort every recording and return; what is on disk is recovered
    /// at the next start.
    fn abort_now(mut self) -> Exit {
        tracing::warn!("second stop signal: exiting now; unfinished recordings are recovered at the next start");
        if let Err(e) = self.session.save(&self.client) {
            tracing::warn!("{e}");
        }
        self.abort.cancel();
        let thread = self.writer_thread.take();
        drop(self);
        if let Some(t) = thread {
            t.join();
        }
        Exit::Aborted
    }

    fn on_stop_deadline(&mut self) {
        tracing::warn!("recordings did not finalize within {STOP_GRACE:?}; stopping them now");
        self.abort.cancel();
        self.stop_deadline = None;
    }

    async fn on_live(&mut self, ev: Option<Box<LiveEvent>>) {
        let Some(ev) = ev.map(|ev| *ev) else {
            return;
        };
        self.notifier.live_detected(&ev);
        if let Some(ev) = self.launcher().start(ev).await {
            self.pending.push_back(ev);
        }
    }

    fn on_recorder_event(&mut self, ev: Option<RecorderEvent>) {
        let Some(ev) = ev else {
            return;
        };
        self.notifier.recorder_event(&ev);
        match ev {
            RecorderEvent::Finished {
                user_id,
                broadcast_id,
                ok,
                reason,
                ..
            } => {
                self.accounts.resume(&user_id);
                if ok {
                    tracing::info!(%broadcast_id, "recording finished: {reason}");
                } else {
                    tracing::error!(%broadcast_id, "recording failed: {reason}; retry with `iglive finalize {broadcast_id}`");
                }
                systemd::status(&self.summary());
            }
            RecorderEvent::Started { .. } => systemd::status(&self.summary()),
            RecorderEvent::SessionExpired(m) => tracing::error!("session expired: {m}"),
        }
    }

    async fn on_retry_pending(&mut self) {
        let mut pending = std::mem::take(&mut self.pending);
        self.launcher().retry(&self.client, &mut pending).await;
        self.pending = pending;
    }

    fn on_watcher_done(&mut self, res: Result<Result<(), ApiError>, JoinError>) {
        match res {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "detection stopped");
                if e.kind().expires_session() {
                    self.notifier
                        .recorder_event(&RecorderEvent::SessionExpired(e.to_string()));
                }
            }
            Err(e) => tracing::error!(error = %e, "detection crashed"),
        }
    }

    /// Retries an expired session rarely: one request now and then tells whether Instagram
    /// accepts it again, without hammering a dead login.
    fn on_session_retry(&mut self) {
        if self.client.retry_expired_session() {
            tracing::warn!("retrying the expired session once (every {SESSION_RETRY:?}); replace the session file and reload if it fails again");
        }
        self.watcher.spawn(&self.cfg);
    }

    /// The watchdog is fed only while the loop runs and the database takes writes.
    fn on_watchdog(&self) {
        let healthy = &self.deps.writer.stats().healthy;
        if healthy.load(std::sync::atomic::Ordering::Relaxed) {
            systemd::watchdog();
        }
    }

    /// After the last recording finalized: deliver what is left to notify, then stop.
    async fn finish(mut self, mut sources: Sources) {
        self.watcher.stop();
        // Events sent just before the last recording ended may not have been read by the loop.
        while let Ok(ev) = sources.recorder.try_recv() {
            self.notifier.recorder_event(&ev);
        }
        self.notifier.drain(NOTIFY_GRACE).await;
        self.saver.finish().await;
        systemd::stopping();
        tracing::info!("iglive stopped");
        let thread = self.writer_thread.take();
        drop(self);
        if let Some(t) = thread {
            t.join();
        }
    }
}

impl Sources {
    fn new(
        live: mpsc::Receiver<LiveEvent>,
        recorder: mpsc::Receiver<RecorderEvent>,
        reload: mpsc::Receiver<ReloadRequest>,
    ) -> anyhow::Result<Sources> {
        let signals = signal_hook_tokio::Signals::new([SIGTERM, SIGINT, SIGHUP])
            .context("cannot install signal handlers")?;
        let watchdog_every = systemd::watchdog_interval()
            .unwrap_or(Duration::from_secs(15))
            .max(Duration::from_millis(500));
        let mut session_retry = tokio::time::interval(SESSION_RETRY);
        // The first tick of an interval is immediate; the first retry is one period away.
        session_retry.reset();
        Ok(Sources {
            signals,
            reload,
            live,
            recorder,
            pending_retry: tokio::time::interval(PENDING_RETRY),
            session_retry,
            watchdog: tokio::time::interval(watchdog_every),
        })
    }
}

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
