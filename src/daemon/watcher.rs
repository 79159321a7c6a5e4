//! The detection task as the daemon runs it: started from the config, restarted after a
//! reload or an expired session's retry, and joined when it stops.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::{JoinError, JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::instagram::{ApiError, Client};
use crate::watch::{
    Accounts, Detector, DetectorOptions, LiveEvent, SchedulerConfig, SeenStore, TrayOptions,
    WatchedAccount,
};

/// The running detector (if any) and what a new one is built from.
pub(super) struct Watcher {
    handle: Option<JoinHandle<Result<(), ApiError>>>,
    client: Client,
    accounts: Accounts,
    seen: Arc<dyn SeenStore>,
    cancel: CancellationToken,
    live_tx: mpsc::Sender<LiveEvent>,
}

impl Watcher {
    pub(super) fn new(
        client: Client,
        accounts: Accounts,
        seen: Arc<dyn SeenStore>,
        cancel: CancellationToken,
        live_tx: mpsc::Sender<LiveEvent>,
    ) -> Watcher {
        Watcher {
            handle: None,
            client,
            accounts,
            seen,
            cancel,
            live_tx,
        }
    }

    pub(super) fn running(&self) -> bool {
        self.handle.is_some()
    }

    /// Starts a detector with the config's options (the old one, if any, keeps running until
    /// it notices the cancellation; callers start one only when none runs).
    pub(super) fn spawn(&mut self, cfg: &Config) {
        let detector = Detector::new(detector_options(cfg), self.seen.clone());
        let (client, accounts, cancel, tx) = (
            self.client.clone(),
            self.accounts.clone(),
            self.cancel.clone(),
            self.live_tx.clone(),
        );
        self.handle = Some(tokio::spawn(async move {
            detector.run(client, accounts, tx, cancel).await
        }));
    }

    /// Waits for the running detector to stop (pending forever when none runs).
    pub(super) async fn join(&mut self) -> Result<Result<(), ApiError>, JoinError> {
        match self.handle.as_mut() {
            Some(h) => {
                let r = h.await;
                self.handle = None;
                r
            }
            None => std::future::pending().await,
        }
    }

    pub(super) fn stop(&self) {
        self.cancel.cancel();
    }
}

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
            // The tray has been seen to miss lives (docs/instagram.md §5): keep a slow
            // safety net.
            covered_poll_interval: Some(cfg.watch.poll_interval * 4),
        }),
        seed: None,
    }
}
