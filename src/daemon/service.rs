//! The daemon as a value: built once at start ([`Daemon::start`]), then driven by one loop that
//! waits for the next event from any source and hands it to that source's method.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt as _;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use tokio::sync::mpsc;
use tokio::time::{Instant, Interval};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::detection::{watched, Detection, Ended};
use super::launch::Launcher;
use super::push::{Forwarding, PushLinks, PushRecord};
use super::seen::DbSeenStore;
use super::sessions::Sessions;
use super::{recovery, systemd, Exit};
use crate::cluster::{Cluster, ClusterEvent};
use crate::config::Config;
use crate::notify::Notifier;
use crate::objects::{Bucket, Uploads};
use crate::pool::{PlanOptions, Pool, PoolEvent, SessionState};
use crate::recording::{Deps, Merges, RecorderEvent, Registry, Waiting};
use crate::status::{
    BoardEntry, ClusterBoard, ClusterView, ReloadOutcome, ReloadRequest, ReloadSender, SessionBoard,
};
use crate::store::{now_unix, AccountRow, Catalog, Write, WriterThread};
use crate::watch::{Accounts, AccountsState, DetectionSource, LiveEvent};

/// How long recordings get to finalize after SIGTERM (systemd's default stop timeout is 90 s).
const STOP_GRACE: Duration = Duration::from_secs(75);
/// How long notifications still under way may delay the exit.
const NOTIFY_GRACE: Duration = Duration::from_secs(5);
/// How long a stop waits for the cancelled post-live merges to let go of the database.
const MERGE_STOP_GRACE: Duration = Duration::from_secs(3);
/// How often a live waiting for disk space is looked at again (a freed slot starts the next
/// waiting live at once).
const PENDING_RETRY: Duration = Duration::from_secs(30);

/// The running daemon's state; every field is shared with the tasks it started.
pub(super) struct Daemon {
    cfg: Config,
    /// This node's name on a PostgreSQL catalog, held while it runs.
    _claim: Option<crate::store::NodeClaim>,
    /// This node among the others sharing the catalog (alone on SQLite).
    cluster: Cluster,
    /// Everything a recording needs, the pool of sessions among it.
    deps: Deps,
    /// The configured sessions: their files, rotations and clients.
    sessions: Sessions,
    detection: Detection,
    push: PushLinks,
    push_record: PushRecord,
    forwarding: Forwarding,
    /// Push connections and the pool's monitor.
    background: TaskTracker,
    /// What the status endpoint shows of each session beyond the pool.
    board: SessionBoard,
    /// What it shows of this node among the others.
    cluster_board: ClusterBoard,
    writer_thread: Option<WriterThread>,
    notifier: Notifier,
    /// Every watched account, paused while it is being recorded.
    accounts: Accounts,
    shutdown: CancellationToken,
    abort: CancellationToken,
    recordings: TaskTracker,
    /// Lives waiting for a recording slot, in detection order.
    pending: VecDeque<Waiting>,
    stop_deadline: Option<Instant>,
}

/// Where events come from, apart from the daemon's own state.
pub(super) struct Sources {
    signals: signal_hook_tokio::Signals,
    /// `POST /api/v1/reload` on the status listener: the same reload as SIGHUP, answered.
    reload: mpsc::Receiver<ReloadRequest>,
    live: mpsc::Receiver<LiveEvent>,
    recorder: mpsc::Receiver<RecorderEvent>,
    /// A session's health changed (each change once).
    pool: mpsc::Receiver<PoolEvent>,
    /// The heartbeat: membership changes, adopted and lost recordings.
    cluster: mpsc::Receiver<ClusterEvent>,
    /// The watched accounts changed (paused, resumed, reloaded).
    accounts: tokio::sync::watch::Receiver<AccountsState>,
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
    DetectorEnded(Ended),
    Pool(Option<PoolEvent>),
    Cluster(Option<ClusterEvent>),
    AccountsChanged,
    SessionRetry,
    Watchdog,
}

/// The upload worker of `storage.object_store`, or none; a credentials problem stops the start.
fn start_uploads(
    cfg: &Config,
    writer: &crate::store::Writer,
    store: &Catalog,
    cancel: CancellationToken,
) -> Result<Uploads, crate::objects::ObjectsError> {
    let Some(o) = &cfg.storage.object_store else {
        return Ok(Uploads::disabled());
    };
    let bucket = Bucket::connect(o, &cfg.storage.recordings_dir)?;
    tracing::info!(bucket = %bucket, keep_local = o.keep_local, "finished recordings go to object storage");
    Ok(Uploads::start(
        bucket,
        o,
        writer.clone(),
        store.clone(),
        cancel,
    ))
}

impl Daemon {
    /// Opens everything the daemon needs, serves the status endpoint, recovers unfinished
    /// recordings and starts detection.
    pub(super) async fn start(cfg: Config) -> anyhow::Result<(Daemon, Sources)> {
        // First of all: a stop signal during a slow start (recovery asks the API about every
        // unfinished recording) waits in the stream and is handled as soon as the loop runs,
        // instead of killing the process with rows unwritten.
        let signals = signal_hook_tokio::Signals::new([SIGTERM, SIGINT, SIGHUP])
            .context("cannot install signal handlers")?;
        for w in &cfg.warnings {
            tracing::warn!("{w}");
        }
        let http = crate::dash::cdn_client().context("cannot build the CDN HTTP client")?;
        let sessions = Sessions::open(&cfg, http.clone())?;
        std::fs::create_dir_all(&cfg.storage.recordings_dir).with_context(|| {
            format!(
                "cannot create the recordings folder {}",
                cfg.storage.recordings_dir.display()
            )
        })?;
        let store = Catalog::open(&cfg).await?;
        let claim = store.claim_node(&cfg.cluster.node).await?;
        let cluster = Cluster::join(&store, &cfg.cluster).await?;
        let (writer, writer_thread) = store.spawn_writer()?;
        let notifier = Notifier::new(cfg.notify.clone(), Some(store.clone()))
            .context("cannot build the notification HTTP client")?;
        let (events_tx, recorder) = mpsc::channel::<RecorderEvent>(256);
        let (reload_tx, reload) = mpsc::channel::<ReloadRequest>(4);
        let pool = Pool::new(sessions.members(), PlanOptions::default());
        let shutdown = CancellationToken::new();
        // Like the merges, a stop cancels the uploads at once: they stay pending for the next start.
        let uploads = start_uploads(&cfg, &writer, &store, shutdown.child_token())?;
        let deps = Deps {
            pool: pool.clone(),
            http,
            writer,
            store: store.clone(),
            recording: cfg.recording.clone(),
            recordings_dir: cfg.storage.recordings_dir.clone(),
            min_free_space: cfg.storage.min_free_space,
            registry: Registry::default(),
            // A shutdown cancels the merges at once: they stay pending for the next start.
            merges: Merges::new(shutdown.child_token()),
            uploads,
            events: Some(events_tx),
        };
        let accounts = Accounts::new(watched(&cfg));
        let (live_tx, live) = mpsc::channel::<LiveEvent>(256);
        let seen = Arc::new(DbSeenStore::load(&store).await?);
        let detection = Detection::new(
            pool.clone(),
            seen.clone(),
            live_tx.clone(),
            shutdown.child_token(),
        );
        let forwarding = Forwarding {
            accounts: accounts.clone(),
            seen,
            live_tx,
        };
        let mut daemon = Daemon {
            cfg,
            deps,
            sessions,
            detection,
            push: PushLinks::default(),
            push_record: PushRecord::default(),
            forwarding,
            background: TaskTracker::new(),
            board: SessionBoard::default(),
            cluster_board: ClusterBoard::default(),
            writer_thread: Some(writer_thread),
            notifier,
            accounts,
            shutdown,
            abort: CancellationToken::new(),
            recordings: TaskTracker::new(),
            pending: VecDeque::new(),
            stop_deadline: None,
            _claim: claim,
            cluster,
        };
        daemon.persist_accounts().await;
        daemon.serve_status(reload_tx).await?;
        daemon.recover().await;
        let pool_events = daemon.start_monitor();
        let cluster_events = daemon.start_heartbeat();
        daemon.sync_detection();
        daemon.sync_push();
        let sources = Sources::new(
            signals,
            live,
            recorder,
            reload,
            pool_events,
            cluster_events,
            daemon.accounts.subscribe(),
            daemon.cfg.instagram.session_retry,
        );
        Ok((daemon, sources))
    }

    /// Recovery before watching: unfinished recordings resume or are finalized, lives that
    /// waited for a slot wait again (in detection order) and start as slots free.
    async fn recover(&mut self) {
        self.pending = self.resume(None).await;
        self.deps.uploads.resume().await;
        self.fill_slots();
    }

    /// Resumes or finalizes this node's unfinished recordings (`adopted: None`), or only the
    /// ones adopted from a stopped node; returns the lives left waiting for a slot.
    async fn resume(&self, adopted: Option<&[String]>) -> VecDeque<Waiting> {
        let scope = recovery::Scope {
            cluster: &self.cluster,
            adopted,
        };
        recovery::run(
            &self.cfg,
            &self.deps,
            &self.recordings,
            &self.accounts,
            scope,
            &self.shutdown,
            &self.abort,
        )
        .await
    }

    /// The pool's monitor: each change of a session's health, once.
    fn start_monitor(&self) -> mpsc::Receiver<PoolEvent> {
        let (tx, rx) = mpsc::channel(64);
        let (pool, cancel) = (self.deps.pool.clone(), self.shutdown.child_token());
        self.background
            .spawn(async move { pool.monitor(tx, cancel).await });
        rx
    }

    /// The heartbeat of this node among the others (nothing on SQLite).
    fn start_heartbeat(&self) -> mpsc::Receiver<ClusterEvent> {
        let (tx, rx) = mpsc::channel(16);
        self.cluster.start(
            self.deps.registry.clone(),
            tx,
            self.shutdown.child_token(),
            &self.background,
        );
        rx
    }

    /// Detection over this node's share of the watched accounts (all of them when alone).
    fn sync_detection(&mut self) {
        let mut master = self.accounts.snapshot();
        let watched = master.watched.len();
        master.watched.retain(|id, _| self.cluster.watches(id));
        if let Some(v) = self.cluster.view() {
            self.cluster_board.set(ClusterView {
                node: v.me,
                nodes: v.nodes,
                accounts_polled: master.watched.len(),
                accounts_watched: watched,
            });
        }
        self.detection.sync(&self.cfg, &master);
        self.publish_board();
    }

    /// The status endpoint's view of each session: accounts polled, push connection.
    fn publish_board(&self) {
        let assignment = self.detection.assignment();
        let push = self.push.health();
        let entries = self
            .deps
            .pool
            .names()
            .into_iter()
            .map(|name| {
                let entry = BoardEntry {
                    accounts: assignment.values().filter(|s| **s == name).count(),
                    push: push.get(&name).cloned(),
                };
                (name, entry)
            })
            .collect();
        self.board.set(entries);
    }

    fn sync_push(&mut self) {
        let members = self.deps.pool.members();
        self.push.sync(
            &self.cfg,
            &members,
            &self.forwarding,
            &self.background,
            &self.shutdown,
        );
        self.publish_board();
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
            pool: self.deps.pool.clone(),
            store: self.deps.store.clone(),
            writer_stats: self.deps.writer.stats().clone(),
            recordings_dir: self.cfg.storage.recordings_dir.clone(),
            min_free_space: self.cfg.storage.min_free_space,
            accounts: self.accounts.clone(),
            started_at: now_unix(),
            reload: Some(reload),
            sessions: self.board.clone(),
            cluster: self.cluster_board.clone(),
        };
        let library = crate::library::Library::daemon(
            &self.cfg,
            self.deps.store.clone(),
            crate::library::DaemonParts {
                registry: self.deps.registry.clone(),
                accounts: self.accounts.clone(),
                pool: self.deps.pool.clone(),
            },
        )?;
        // A taken address is retried in the background: it never stops recording.
        let listening = crate::status::serve(addr, state, library, self.shutdown.clone()).await?;
        if let crate::status::Listening::Bound(bound) = listening {
            tracing::info!(
                "status endpoint and library on http://{bound}/ (/health, /ready, /metrics, /recordings, /sessions, /api/v1, /docs)"
            );
        }
        Ok(())
    }

    fn summary(&self) -> String {
        format!(
            "watching {} account(s), {} recording(s) in progress, {} waiting for a slot",
            self.accounts.snapshot().watched.len(),
            self.deps.registry.len(),
            self.pending.len()
        )
    }

    fn launcher(&self) -> Launcher<'_> {
        Launcher {
            cfg: &self.cfg,
            cluster: &self.cluster,
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
                    return daemon.abort_now().await;
                }
                Event::Signal(Some(_)) | Event::Stop => daemon.begin_shutdown(),
                Event::Signal(None) => {}
                Event::RecordingsDone => break,
                Event::StopDeadline => daemon.on_stop_deadline(),
                Event::Live(ev) => daemon.on_live(ev).await,
                Event::Recorder(ev) => daemon.on_recorder_event(ev),
                Event::RetryPending => daemon.fill_slots(),
                Event::DetectorEnded(ended) => daemon.on_detector_ended(ended),
                Event::Pool(ev) => daemon.on_pool_event(ev),
                Event::Cluster(ev) => daemon.on_cluster_event(ev).await,
                Event::AccountsChanged => daemon.sync_detection(),
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
        tokio::select! {
            sig = src.signals.next() => Event::Signal(sig),
            Some(req) = src.reload.recv() => Event::Reload(req),
            _ = stop.cancelled(), if !stopping => Event::Stop,
            _ = self.recordings.wait(), if stopping => Event::RecordingsDone,
            _ = sleep_until(self.stop_deadline) => Event::StopDeadline,
            ev = src.live.recv(), if !stopping => Event::Live(ev.map(Box::new)),
            ev = src.recorder.recv() => Event::Recorder(ev),
            _ = src.pending_retry.tick(), if pending && !stopping => Event::RetryPending,
            ended = self.detection.next_ended(), if !stopping => Event::DetectorEnded(ended),
            ev = src.pool.recv() => Event::Pool(ev),
            ev = src.cluster.recv(), if !stopping => Event::Cluster(ev),
            Ok(()) = src.accounts.changed(), if !stopping => Event::AccountsChanged,
            _ = src.session_retry.tick(), if !stopping => Event::SessionRetry,
            _ = src.watchdog.tick() => Event::Watchdog,
        }
    }

    /// SIGHUP or `POST /api/v1/reload`: fixed session files and a changed config take
    /// effect (log in again, replace the file, `systemctl reload iglive`; a systemd credential
    /// needs a restart): sessions join, leave or reload, accounts move, budgets apply. The
    /// outcome, or why the config was refused (the old one stays), is the reload's answer.
    async fn on_reload(&mut self) -> Result<ReloadOutcome, String> {
        systemd::reloading();
        let outcome = match Config::load(&self.cfg.path) {
            Ok(new) => {
                for w in &new.warnings {
                    tracing::warn!("{w}");
                }
                let problems = self.sessions.reload(&new).await;
                self.deps.pool.replace(self.sessions.members());
                self.accounts.replace(watched(&new));
                self.deps.recording = new.recording.clone();
                self.notifier.replace(new.notify.clone());
                tracing::info!(
                    "configuration reloaded from {}: {} account(s), {} session(s)",
                    new.path.display(),
                    new.accounts.len(),
                    new.instagram.sessions.len()
                );
                self.cfg = new;
                self.persist_accounts().await;
                Ok(ReloadOutcome {
                    accounts: self.cfg.accounts.len(),
                    session_error: (!problems.is_empty()).then(|| problems.join("; ")),
                })
            }
            Err(e) => {
                tracing::error!(error = %e, "configuration not reloaded");
                Err(e.to_string())
            }
        };
        // Reloaded sessions may be usable again; detectors restart with the new options.
        let master = self.accounts.snapshot();
        self.detection.restart(&self.cfg, &master);
        self.sync_push();
        systemd::ready(&self.summary());
        outcome
    }

    fn begin_shutdown(&mut self) {
        if self.cluster.others_alive() {
            // Other nodes go on: they continue this node's recordings instead of a cut.
            let n = self.deps.registry.hand_over_all();
            tracing::info!(
                "stopping: handing {n} recording(s) over to the other nodes (send the signal again to exit at once)"
            );
        } else {
            tracing::info!(
                "stopping: finalizing {} recording(s) with what was captured (send the signal again to exit at once)",
                self.deps.registry.len()
            );
        }
        systemd::stopping();
        self.shutdown.cancel();
        self.recordings.close();
        self.stop_deadline = Some(Instant::now() + STOP_GRACE);
    }

    /// A second stop signal: abort every recording and return; what is on disk is recovered
    /// at the next start.
    async fn abort_now(mut self) -> Exit {
        tracing::warn!("second stop signal: exiting now; unfinished recordings are recovered at the next start");
        self.sessions.save_all();
        self.abort.cancel();
        self.deps.merges.stop(MERGE_STOP_GRACE).await;
        self.deps.uploads.stop(MERGE_STOP_GRACE).await;
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
        if !self.push.connected().is_empty() {
            self.note_push_reliability(ev.source == DetectionSource::Push);
        }
        self.notifier.live_detected(&ev);
        let mut pending = std::mem::take(&mut self.pending);
        self.launcher().start(ev, &mut pending).await;
        self.pending = pending;
    }

    fn on_recorder_event(&mut self, ev: Option<RecorderEvent>) {
        let Some(ev) = ev else {
            return;
        };
        // Refusals are reported once per session by the pool, not per poller.
        if !matches!(ev, RecorderEvent::SessionExpired(_)) {
            self.notifier.recorder_event(&ev);
        }
        match ev {
            RecorderEvent::Finished {
                user_id,
                broadcast_id,
                ok,
                reason,
                ..
            } => {
                self.accounts.resume_for(&broadcast_id, &user_id);
                self.cluster.release(&broadcast_id);
                // Its slot is free: the live that waits longest takes it.
                self.fill_slots();
                if ok {
                    tracing::info!(%broadcast_id, "recording finished: {reason}");
                } else {
                    tracing::error!(%broadcast_id, "recording failed: {reason}; retry with `iglive finalize {broadcast_id}`");
                }
                systemd::status(&self.summary());
            }
            RecorderEvent::Started { .. } => systemd::status(&self.summary()),
            RecorderEvent::SessionExpired(m) => tracing::error!("session refused: {m}"),
            // Its lease stays for the next holder (it expires, or `leave` expires it).
            RecorderEvent::HandedOver {
                broadcast_id,
                user_id,
            } => {
                self.accounts.resume_for(&broadcast_id, &user_id);
                self.fill_slots();
                systemd::status(&self.summary());
            }
        }
    }

    /// Starts waiting lives while slots are free (and the disk has room).
    fn fill_slots(&mut self) {
        if self.shutdown.is_cancelled() {
            return;
        }
        let mut pending = std::mem::take(&mut self.pending);
        self.launcher().fill(&mut pending);
        self.pending = pending;
    }

    /// A session's detector stopped: its session was refused (its accounts move to the
    /// others), or it ended for good.
    fn on_detector_ended(&mut self, ended: Ended) {
        match ended.result {
            Ok(()) => {}
            Err(e) => {
                tracing::error!(session = %ended.session, error = %e, "detection on this session stopped; its accounts move to the other sessions")
            }
        }
        self.sync_detection();
    }

    /// A session changed state: notify once when it is taken out, and move detection.
    fn on_pool_event(&mut self, ev: Option<PoolEvent>) {
        let Some(ev) = ev else {
            return;
        };
        match &ev.to {
            SessionState::Ok => {
                tracing::info!(session = %ev.session, from = ev.from, "session usable again")
            }
            SessionState::Throttled { for_s, evidence } => {
                tracing::warn!(session = %ev.session, for_s, %evidence, "session throttled; its requests wait and its intervals stretch")
            }
            SessionState::Challenged {
                evidence,
                challenge_url,
            } => {
                tracing::error!(session = %ev.session, %evidence, challenge = challenge_url.as_deref().unwrap_or("-"), "session challenged: taken out of the pool; pass the challenge in the app or replace the session file, then reload")
            }
            SessionState::Expired { evidence } => {
                tracing::error!(session = %ev.session, %evidence, "session expired: taken out of the pool; log in again (iglive login) and reload")
            }
            SessionState::Unreachable { evidence } => {
                tracing::error!(session = %ev.session, %evidence, "session unreachable (its calls fail without an answer): its work moves to the other sessions; check its proxy")
            }
        }
        self.notifier.session_state(&ev.session, &ev.to);
        if self.deps.pool.usable().is_empty() {
            tracing::error!("no session is usable: recordings go on from the CDN, nothing new is detected until a session is replaced");
        }
        self.sync_detection();
    }

    /// What the heartbeat learned: nodes joined or left (detection follows), recordings of a
    /// stopped node adopted (resumed like a restart's recovery), or leases lost.
    async fn on_cluster_event(&mut self, ev: Option<ClusterEvent>) {
        match ev {
            None => {}
            Some(ClusterEvent::Nodes(nodes)) => {
                self.sync_detection();
                let master = self.accounts.snapshot();
                let here = master
                    .watched
                    .keys()
                    .filter(|id| self.cluster.watches(id))
                    .count();
                tracing::info!(
                    ?nodes,
                    "{} node(s) share the catalog; this one polls {here} of {} watched account(s)",
                    nodes.len(),
                    master.watched.len()
                );
            }
            Some(ClusterEvent::Adopt(ids)) => {
                let waiting = self.resume(Some(&ids)).await;
                self.pending.extend(waiting);
                self.fill_slots();
            }
            Some(ClusterEvent::Lost(ids)) => {
                for id in ids {
                    tracing::error!(broadcast_id = %id, "another node holds this recording's lease now (this node's heartbeat lapsed): handing the recording over to it; check the catalog's reachability and cluster.lease_ttl");
                    self.deps.registry.hand_over(&id);
                }
            }
        }
    }

    /// Retries refused sessions rarely: one request now and then tells whether Instagram
    /// accepts them again, without hammering a dead login.
    fn on_session_retry(&mut self) {
        let mut retried = false;
        for m in self.deps.pool.members() {
            if m.client.retry_expired_session() {
                tracing::warn!(session = %m.name, every = ?self.cfg.instagram.session_retry, "retrying the refused session once; replace its file and reload if it fails again");
                retried = true;
            }
        }
        if retried {
            self.sync_detection();
        }
    }

    /// Which lives push announced first moves how much polling slows while push is healthy.
    fn note_push_reliability(&mut self, by_push: bool) {
        self.push_record.note(by_push);
        self.apply_push_factors();
    }

    fn apply_push_factors(&mut self) {
        let connected = self.push.connected();
        let factor = self.push_record.factor(self.cfg.watch.push_poll_factor);
        let mut changed = false;
        for m in self.deps.pool.members() {
            let f = if connected.contains(&m.name) {
                // Half steps: a factor that moves by a hair does not restart detection.
                (factor * 2.0).floor() / 2.0
            } else {
                1.0
            };
            changed |= self.detection.set_push_factor(&m.name, f);
        }
        if changed {
            let master = self.accounts.snapshot();
            self.detection.restart(&self.cfg, &master);
        }
    }

    /// The watchdog is fed only while the loop runs and the database takes writes.
    fn on_watchdog(&mut self) {
        let healthy = &self.deps.writer.stats().healthy;
        if healthy.load(std::sync::atomic::Ordering::Relaxed) {
            systemd::watchdog();
        }
        // Push connections come and go on their own: polling follows them.
        self.apply_push_factors();
    }

    /// After the last recording finalized: deliver what is left to notify, then stop.
    async fn finish(mut self, mut sources: Sources) {
        self.detection.stop();
        self.background.close();
        // Pending merges were cancelled with the shutdown; recovery resumes them.
        self.deps.merges.stop(MERGE_STOP_GRACE).await;
        self.deps.uploads.stop(MERGE_STOP_GRACE).await;
        // Events sent just before the last recording ended may not have been read by the loop.
        while let Ok(ev) = sources.recorder.try_recv() {
            self.notifier.recorder_event(&ev);
        }
        self.notifier.drain(NOTIFY_GRACE).await;
        self.sessions.finish().await;
        // What this node wrote lands before another node takes over its leases.
        if let Err(e) = self.deps.writer.flush().await {
            tracing::warn!(error = %e, "the last rows were not written before leaving");
        }
        self.cluster.leave().await;
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
    #[allow(clippy::too_many_arguments)] // one per event source; each is used once, here
    fn new(
        signals: signal_hook_tokio::Signals,
        live: mpsc::Receiver<LiveEvent>,
        recorder: mpsc::Receiver<RecorderEvent>,
        reload: mpsc::Receiver<ReloadRequest>,
        pool: mpsc::Receiver<PoolEvent>,
        cluster: mpsc::Receiver<ClusterEvent>,
        accounts: tokio::sync::watch::Receiver<AccountsState>,
        session_retry_every: Duration,
    ) -> Sources {
        let watchdog_every = systemd::watchdog_interval()
            .unwrap_or(Duration::from_secs(15))
            .max(Duration::from_millis(500));
        let mut session_retry = tokio::time::interval(session_retry_every);
        // The first tick of an interval is immediate; the first retry is one period away.
        session_retry.reset();
        Sources {
            signals,
            reload,
            live,
            recorder,
            pool,
            cluster,
            accounts,
            pending_retry: tokio::time::interval(PENDING_RETRY),
            session_retry,
            watchdog: tokio::time::interval(watchdog_every),
        }
    }
}

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
