//! Detection over the pool: the watched accounts spread over the usable sessions
//! (rendezvous hashing, so a session joining or leaving moves only its own share), one
//! detector per session over its share, paced to the detection budget the session's plan
//! leaves it (divided by the push factor while that session's push is healthy). When a
//! session is challenged or expires its detector stops and its accounts move to the others;
//! when it comes back they move back.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::instagram::ApiError;
use crate::pool::{assign_accounts, Pool};
use crate::watch::{
    Accounts, AccountsState, Detector, DetectorOptions, LiveEvent, SchedulerConfig, SeenStore,
    TrayOptions, WatchedAccount,
};

/// One session's detector.
struct Running {
    /// This session's share of the watched accounts (and which of them are paused).
    accounts: Accounts,
    cancel: CancellationToken,
    /// Bumped at each respawn, so the end of an old detector is told from the current one.
    generation: u64,
}

/// Every session's detector.
pub(super) struct Detection {
    pool: Pool,
    seen: Arc<dyn SeenStore>,
    live_tx: mpsc::Sender<LiveEvent>,
    root: CancellationToken,
    running: BTreeMap<String, Running>,
    tasks: JoinSet<(String, u64, Result<(), ApiError>)>,
    next_generation: u64,
    /// How much slower each session polls because its push is healthy (1: not at all).
    push_factor: BTreeMap<String, f64>,
}

/// How a detector ended.
pub(super) struct Ended {
    pub session: String,
    pub result: Result<(), ApiError>,
}

impl Detection {
    pub(super) fn new(
        pool: Pool,
        seen: Arc<dyn SeenStore>,
        live_tx: mpsc::Sender<LiveEvent>,
        root: CancellationToken,
    ) -> Detection {
        Detection {
            pool,
            seen,
            live_tx,
            root,
            running: BTreeMap::new(),
            tasks: JoinSet::new(),
            next_generation: 0,
            push_factor: BTreeMap::new(),
        }
    }

    /// Brings the detectors in line with the usable sessions and the watched accounts:
    /// assignments recomputed, missing detectors started, the others' shares replaced.
    pub(super) fn sync(&mut self, cfg: &Config, master: &AccountsState) {
        let usable: Vec<String> = self.pool.usable().into_iter().map(|m| m.name).collect();
        let shares = assign_accounts(master.watched.keys().map(String::as_str), &usable);
        let stale: Vec<String> = self
            .running
            .keys()
            .filter(|n| !usable.contains(n))
            .cloned()
            .collect();
        for name in stale {
            if let Some(r) = self.running.remove(&name) {
                r.cancel.cancel();
            }
            self.pool.set_detection_demand(&name, 0.0);
        }
        for (session, ids) in shares {
            let share: Vec<WatchedAccount> = ids
                .iter()
                .filter_map(|id| master.watched.get(id).cloned())
                .collect();
            let demand = detection_demand(cfg, &share);
            let budget = self.pool.set_detection_demand(&session, demand);
            let factor = self.push_factor.get(&session).copied().unwrap_or(1.0);
            let budget = scaled(budget, factor, &self.root);
            match self.running.get(&session) {
                Some(r) => {
                    r.accounts.replace(share);
                    sync_paused(&r.accounts, master);
                }
                None => self.spawn(cfg, &session, share, master, budget),
            }
        }
    }

    fn spawn(
        &mut self,
        cfg: &Config,
        session: &str,
        share: Vec<WatchedAccount>,
        master: &AccountsState,
        budget: watch::Receiver<u32>,
    ) {
        let Some(member) = self.pool.member(session) else {
            return;
        };
        let accounts = Accounts::new(share);
        sync_paused(&accounts, master);
        let cancel = self.root.child_token();
        self.next_generation += 1;
        let generation = self.next_generation;
        let detector = Detector::new(
            detector_options(cfg, member.budget, budget),
            self.seen.clone(),
        );
        let (client, view, stop, tx) = (
            member.client.clone(),
            accounts.clone(),
            cancel.clone(),
            self.live_tx.clone(),
        );
        let name = session.to_string();
        let span = tracing::info_span!("detection", session = %name);
        self.tasks.spawn(tracing::Instrument::instrument(
            async move { (name, generation, detector.run(client, view, tx, stop).await) },
            span,
        ));
        self.running.insert(
            session.to_string(),
            Running {
                accounts,
                cancel,
                generation,
            },
        );
    }

    /// Waits for the current detector of some session to end (pending while none runs).
    pub(super) async fn next_ended(&mut self) -> Ended {
        loop {
            match self.tasks.join_next().await {
                Some(Ok((session, generation, result))) => {
                    let current = self
                        .running
                        .get(&session)
                        .is_some_and(|r| r.generation == generation);
                    if current {
                        self.running.remove(&session);
                        return Ended { session, result };
                    }
                }
                Some(Err(e)) => tracing::error!(error = %e, "a detector crashed"),
                None => std::future::pending::<()>().await,
            }
        }
    }

    /// Push is healthy (or not) for `session`: its polls slow by `factor` (1: full rate).
    pub(super) fn set_push_factor(&mut self, session: &str, factor: f64) -> bool {
        let old = self.push_factor.insert(session.to_string(), factor);
        old.unwrap_or(1.0) != factor
    }

    /// Restarts every detector (new options after a reload).
    pub(super) fn restart(&mut self, cfg: &Config, master: &AccountsState) {
        for (_, r) in std::mem::take(&mut self.running) {
            r.cancel.cancel();
        }
        self.sync(cfg, master);
    }

    pub(super) fn stop(&mut self) {
        self.root.cancel();
    }

    /// Which session polls each watched account now.
    pub(super) fn assignment(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (session, r) in &self.running {
            for id in r.accounts.snapshot().watched.keys() {
                out.insert(id.clone(), session.clone());
            }
        }
        out
    }
}

/// The plan's detection budget divided by the push factor, followed as the plan moves.
fn scaled(
    mut budget: watch::Receiver<u32>,
    factor: f64,
    cancel: &CancellationToken,
) -> watch::Receiver<u32> {
    if factor <= 1.0 {
        return budget;
    }
    let apply = move |b: u32| ((f64::from(b) / factor).floor() as u32).max(1);
    let (tx, rx) = watch::channel(apply(*budget.borrow_and_update()));
    let cancel = cancel.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                changed = budget.changed() => {
                    if changed.is_err() || tx.send(apply(*budget.borrow_and_update())).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}

/// Mirrors which of the share's accounts are paused (being recorded) in the master list.
fn sync_paused(view: &Accounts, master: &AccountsState) {
    let state = view.snapshot();
    for id in state.watched.keys() {
        if master.paused.contains(id) {
            view.pause(id);
        } else {
            view.resume(id);
        }
    }
}

/// What detection of `share` would use at the configured intervals, per minute.
fn detection_demand(cfg: &Config, share: &[WatchedAccount]) -> f64 {
    let per_minute = |every: Duration| 60.0 / every.as_secs_f64().max(0.001);
    let poll = cfg.watch.poll_interval;
    let (in_tray, alone): (Vec<_>, Vec<_>) = share
        .iter()
        .partition(|a| cfg.watch.use_reels_tray && a.in_tray);
    let mut demand = alone.len() as f64 * per_minute(poll);
    if !in_tray.is_empty() {
        demand += per_minute(TRAY_EVERY) + in_tray.len() as f64 * per_minute(poll * 4);
    }
    demand
}

/// The tray's pace: one call covers every followed account.
const TRAY_EVERY: Duration = Duration::from_secs(15);

/// The accounts to watch, from the config.
pub(super) fn watched(cfg: &Config) -> Vec<WatchedAccount> {
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

fn detector_options(
    cfg: &Config,
    session_budget: u32,
    budget: watch::Receiver<u32>,
) -> DetectorOptions {
    DetectorOptions {
        scheduler: SchedulerConfig {
            poll_interval: cfg.watch.poll_interval,
            max_requests_per_minute: session_budget,
            ..Default::default()
        },
        tray: cfg.watch.use_reels_tray.then(|| TrayOptions {
            // One tray call covers every followed account, so it gets a fifth of the budget
            // (every 15 s at 20 requests per minute; never more often).
            interval: Duration::from_secs_f64(
                (5.0 * 60.0 / f64::from(session_budget.max(1))).max(TRAY_EVERY.as_secs_f64()),
            ),
            // The tray has been seen to miss lives (docs/instagram.md §5): keep a slow
            // safety net.
            covered_poll_interval: Some(cfg.watch.poll_interval * 4),
        }),
        seed: None,
        budget: Some(budget),
    }
}
