//! Starting a recording for a detected live: durable before anything else, then either
//! started now or kept `waiting` (the concurrency limit, low disk space) and started, in
//! detection order, as soon as a slot frees — from the CDN, without asking the API again.

use std::collections::VecDeque;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cluster::Cluster;
use crate::config::Config;
use crate::recording::{
    folder_of, prepare_waiting, record_waiting, supervise_claimed, via_json, Deps, Target, Waiting,
};
use crate::states::RecordingState;
use crate::store::{now_unix, BroadcastRow, RecordingRow, Via, Write};
use crate::watch::{Accounts, LiveEvent};

/// What starting a recording needs from the daemon.
pub(super) struct Launcher<'a> {
    pub cfg: &'a Config,
    pub cluster: &'a Cluster,
    pub deps: &'a Deps,
    pub recordings: &'a TaskTracker,
    pub accounts: &'a Accounts,
    pub shutdown: &'a CancellationToken,
    pub abort: &'a CancellationToken,
}

/// What a detected live is recorded as: under its owner (`broadcast_owner`, else the watched
/// account that found it when the owner is unknown), found through the watched accounts among
/// its participants — the finder first (docs/instagram.md §2 "Broadcast object", §8
/// "Co-broadcast": a guest's story feed shows the host's broadcast).
pub(super) fn target_of(cfg: &Config, accounts: &Accounts, ev: &LiveEvent) -> Target {
    let b = &ev.broadcast;
    let state = accounts.snapshot();
    let owner = b.owner_pk().unwrap_or_else(|| ev.user_id.clone());
    let owner_name = b.broadcast_owner.as_ref().and_then(|o| o.username.clone());
    let name_of = |pk: &str| {
        let watched = state.watched.get(pk).and_then(|a| a.username.clone());
        let guest = b
            .cobroadcasters
            .iter()
            .find(|c| c.pk.as_deref() == Some(pk))
            .and_then(|c| c.username.clone());
        let own = (pk == owner).then(|| owner_name.clone()).flatten();
        let finder = (pk == ev.user_id).then(|| ev.username.clone()).flatten();
        own.or(guest).or(watched).or(finder)
    };
    let mut via = vec![Via {
        user_id: ev.user_id.clone(),
        username: name_of(&ev.user_id),
    }];
    for pk in b.participant_pks() {
        if state.watched.contains_key(&pk) && !via.iter().any(|v| v.user_id == pk) {
            via.push(Via {
                username: name_of(&pk),
                user_id: pk,
            });
        }
    }
    let username = name_of(&owner);
    Target {
        footprint: cfg.footprint_of(&ev.user_id),
        broadcast: b.clone(),
        user_id: owner,
        username,
        via,
    }
}

impl Launcher<'_> {
    /// Starts recording a detected broadcast, or queues it `waiting` behind those that wait
    /// already (detection order).
    pub(super) async fn start(&self, ev: LiveEvent, pending: &mut VecDeque<Waiting>) {
        let id = ev.broadcast.id.clone();
        let deps = self.deps;
        if deps.registry.contains(&id) {
            return;
        }
        // With several nodes, the one whose lease it is records it (a watched guest's node
        // and the host's node both see the broadcast).
        if !self.cluster.acquire(&id).await {
            return;
        }
        let target = target_of(self.cfg, self.accounts, &ev);
        self.persist_detected(&ev, &target).await;
        let guests: Vec<&str> = target
            .via
            .iter()
            .filter(|v| v.user_id != target.user_id)
            .map(|v| v.username.as_deref().unwrap_or(&v.user_id))
            .collect();
        tracing::info!(
            broadcast_id = %id,
            user_id = %target.user_id,
            via = ?guests,
            "{} is live{}",
            target.username.as_deref().unwrap_or(&target.user_id),
            if guests.is_empty() {
                String::new()
            } else {
                format!(" with watched guest(s) {}", guests.join(", "))
            }
        );
        let via: Vec<String> = target.via.iter().map(|v| v.user_id.clone()).collect();
        self.accounts.pause_for(&id, &via);
        if pending.is_empty() && self.slot_free(&id) {
            if let Some(folder) = folder_of(deps, &target).await {
                if deps
                    .registry
                    .claim(target.entry(RecordingState::Recording, &folder))
                {
                    self.recordings.spawn(supervise_claimed(
                        deps.clone(),
                        target,
                        folder,
                        self.shutdown.clone(),
                        self.abort.clone(),
                    ));
                }
                return;
            }
        }
        pending.push_back(prepare_waiting(deps, target).await);
        self.fill(pending);
    }

    /// Whether a recording can start now; says why not.
    fn slot_free(&self, id: &str) -> bool {
        let running = self.deps.registry.len();
        if running >= self.cfg.recording.max_concurrent {
            tracing::warn!(
                broadcast_id = %id,
                "{running} recordings already in progress (recording.max_concurrent); it waits for a free slot and is recorded from its first segment then"
            );
            return false;
        }
        self.enough_space(id)
    }

    /// Starts waiting lives, oldest detection first, while slots are free and the disk has
    /// room; each is recorded from the CDN whether it is still live or has ended.
    pub(super) fn fill(&self, pending: &mut VecDeque<Waiting>) {
        while self.deps.registry.len() < self.cfg.recording.max_concurrent {
            let Some(front) = pending.front() else {
                return;
            };
            if !self.enough_space(front.broadcast_id()) {
                return;
            }
            let Some(w) = pending.pop_front() else {
                return;
            };
            let folder = w.folder.clone().unwrap_or_default();
            if !self
                .deps
                .registry
                .claim(w.target.entry(RecordingState::Recording, &folder))
            {
                continue;
            }
            self.recordings.spawn(record_waiting(
                self.deps.clone(),
                w,
                self.shutdown.clone(),
                self.abort.clone(),
            ));
        }
    }

    /// Durable before anything else: a restart now still knows about this broadcast, its
    /// owner, how it was found and where its manifest is.
    async fn persist_detected(&self, ev: &LiveEvent, target: &Target) {
        let id = ev.broadcast.id.clone();
        let detected_at = ev
            .detected_at
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_else(|_| now_unix());
        let broadcast = Write::Broadcast(BroadcastRow {
            broadcast_id: id.clone(),
            user_id: target.user_id.clone(),
            username: target.username.clone(),
            status: ev.broadcast.broadcast_status.clone(),
            published_time: ev.broadcast.published_time.map(|t| t as f64),
            detected_at: Some(detected_at),
            dash_url: ev.broadcast.mpd_url().map(str::to_string),
            cover_frame_url: ev.broadcast.cover_frame_url.clone(),
            raw_json: Some(crate::recording::broadcast_json(&ev.broadcast).to_string()),
            via: via_json(&target.via),
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
}
