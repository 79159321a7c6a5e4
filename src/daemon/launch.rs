//! Starting a recording for a detected live: durable before anything else, then either
//! started now or kept waiting (the concurrency limit, low disk space), and looked at again
//! later.

use std::collections::VecDeque;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::instagram::ApiErrorKind;
use crate::pool::Pool;
use crate::recording::{supervise, Deps, Target};
use crate::states::RecordingState;
use crate::store::{now_unix, BroadcastRow, RecordingRow, Write};
use crate::watch::{Accounts, LiveEvent};

/// What starting a recording needs from the daemon.
pub(super) struct Launcher<'a> {
    pub cfg: &'a Config,
    pub deps: &'a Deps,
    pub recordings: &'a TaskTracker,
    pub accounts: &'a Accounts,
    pub shutdown: &'a CancellationToken,
    pub abort: &'a CancellationToken,
}

impl Launcher<'_> {
    /// Starts recording a detected broadcast, or hands it back when it must wait.
    pub(super) async fn start(&self, ev: LiveEvent) -> Option<LiveEvent> {
        let id = ev.broadcast.id.clone();
        let deps = self.deps;
        if deps.registry.contains(&id) {
            return None;
        }
        self.persist_detected(&ev).await;
        tracing::info!(
            broadcast_id = %id,
            user_id = %ev.user_id,
            "{} is live",
            ev.username.as_deref().unwrap_or(&ev.user_id)
        );
        if deps.registry.len() >= self.cfg.recording.max_concurrent {
            tracing::error!(
                broadcast_id = %id,
                "{} recordings already in progress (recording.max_concurrent); it waits for a free slot",
                deps.registry.len()
            );
            return Some(ev);
        }
        if !self.enough_space(&id) {
            return Some(ev);
        }
        self.accounts.pause(&ev.user_id);
        let target = Target {
            footprint: self.cfg.footprint_of(&ev.user_id),
            broadcast: ev.broadcast,
            user_id: ev.user_id,
            username: ev.username,
        };
        self.recordings.spawn(supervise(
            deps.clone(),
            target,
            self.shutdown.clone(),
            self.abort.clone(),
        ));
        None
    }

    /// Durable before anything else: a restart now still knows about this broadcast.
    async fn persist_detected(&self, ev: &LiveEvent) {
        let id = ev.broadcast.id.clone();
        let detected_at = ev
            .detected_at
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_else(|_| now_unix());
        let broadcast = Write::Broadcast(BroadcastRow {
            broadcast_id: id.clone(),
            user_id: ev.user_id.clone(),
            username: ev.username.clone(),
            status: ev.broadcast.broadcast_status.clone(),
            published_time: ev.broadcast.published_time.map(|t| t as f64),
            detected_at: Some(detected_at),
            dash_url: ev.broadcast.mpd_url().map(str::to_string),
            ..Default::default()
        });
        let recording = Write::Recording(RecordingRow::new(&id, RecordingState::Detected));
        for w in [broadcast, recording] {
            if let Err(e) = self.deps.writer.send(w).await {
                tracing::error!(broadcast_id = %id, error = %e, "the detected live was not stored");
            }
        }
    }

    fn enough_space(&self, id: &str) -> bool {
        let dir = &self.cfg.storage.recordings_dir;
        let floor = self.cfg.storage.min_free_space;
        match crate::disk::free_space(dir) {
            Ok(free) if free < floor => {
                tracing::error!(
                    broadcast_id = %id,
                    "only {} free in {} (storage.min_free_space is {}); not recording until space is freed",
                    crate::output::human_size(free),
                    dir.display(),
                    crate::output::human_size(floor)
                );
                false
            }
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(error = %e, "cannot check free space in {}", dir.display());
                true
            }
        }
    }

    /// Looks at every waiting live again: still live ones start (or wait on), ended ones are
    /// dropped with a warning.
    pub(super) async fn retry(&self, pool: &Pool, pending: &mut VecDeque<LiveEvent>) {
        let Some(client) = pool.any_client() else {
            tracing::warn!("no session is usable to ask whether the waiting lives go on");
            return;
        };
        let waiting: Vec<LiveEvent> = pending.drain(..).collect();
        for ev in waiting {
            let id = ev.broadcast.id.clone();
            match client.broadcast_info(&id).await {
                Ok(b) if b.is_live() => {
                    let ev = LiveEvent { broadcast: b, ..ev };
                    if let Some(ev) = self.start(ev).await {
                        pending.push_back(ev);
                    }
                }
                Ok(_) => tracing::warn!(
                    broadcast_id = %id,
                    "ended before a recording slot was free; it was not recorded"
                ),
                Err(e) => {
                    tracing::warn!(broadcast_id = %id, error = %e, "cannot ask whether the waiting live goes on");
                    if !e.kind().expires_session() && e.kind() != ApiErrorKind::NotFound {
                        pending.push_back(ev);
                    }
                }
            }
        }
    }
}
