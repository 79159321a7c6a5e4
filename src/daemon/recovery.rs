//! Crash recovery at start, before watching: every recording not finished is examined. If its
//! broadcast is still live the capture resumes into the same folder (the segment store knows
//! what it holds; rewind fills the gap while the daemon was down); otherwise a catch-up
//! capture fetches what the CDN still holds and the after-live phase finalizes it, as for a
//! recording that just ended. Lives that were detected or waiting for a recording slot wait
//! again, in detection order.

use std::collections::VecDeque;
use std::path::PathBuf;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use crate::capture::CaptureProgress;
use crate::cluster::Cluster;
use crate::config::Config;
use crate::instagram::{ApiErrorKind, Broadcast};
use crate::recording::{
    catch_up, prepare_waiting, supervise, supervise_claimed, AfterLive, Deps, MergeJob, Target,
    Waiting,
};
use crate::states::RecordingState;
use crate::store::query::Unfinished;
use crate::store::{RecordingRow, Write};
use crate::watch::Accounts;

/// What is unknown about a broadcast the database remembers, rebuilt as a broadcast object
/// (when `info` cannot be asked, the capture finds out whether it goes on).
fn reconstructed(u: &Unfinished) -> Option<Broadcast> {
    serde_json::from_value(serde_json::json!({
        "id": u.broadcast_id,
        "broadcast_status": "active",
        "published_time": u.published_time.map(|t| t as i64),
        "dash_playback_url": u.dash_url,
        "broadcast_owner": {"pk": u.user_id, "username": u.username},
    }))
    .ok()
}

/// What recovery makes of a row: the target it is recorded as.
fn target_of(cfg: &Config, u: &Unfinished, broadcast: Broadcast) -> Target {
    let finder = u
        .via
        .first()
        .map_or(u.user_id.as_str(), |v| v.user_id.as_str());
    Target {
        footprint: cfg.footprint_of(finder),
        broadcast,
        user_id: u.user_id.clone(),
        username: u.username.clone(),
        via: u.via.clone(),
    }
}

/// Examines every unfinished recording; returns the lives that were detected or waiting for a
/// slot, in detection order, to wait again (never a stale `detected`: each is recorded from the
/// CDN, or fails saying why, when its slot comes).
/// With several nodes, only those whose lease this node takes (the others are recorded by
/// living nodes); `adopted` names the recordings of a stopped node whose leases the heartbeat
/// has taken already, to resume them alone.
pub(super) struct Scope<'a> {
    pub cluster: &'a Cluster,
    pub adopted: Option<&'a [String]>,
}

pub(super) async fn run(
    cfg: &Config,
    deps: &Deps,
    recordings: &TaskTracker,
    accounts: &Accounts,
    scope: Scope<'_>,
    shutdown: &CancellationToken,
    abort: &CancellationToken,
) -> VecDeque<Waiting> {
    if scope.adopted.is_none() {
        resume_merges(deps, scope.cluster).await;
    }
    let mut waiting = VecDeque::new();
    let mine = mine(deps, &scope).await;
    if mine.is_empty() {
        return waiting;
    }
    tracing::info!("recovery: {} unfinished recording(s)", mine.len());
    for u in mine {
        let id = u.broadcast_id.clone();
        let held: Vec<String> = if u.via.is_empty() {
            vec![u.user_id.clone()]
        } else {
            u.via.iter().map(|v| v.user_id.clone()).collect()
        };
        if matches!(u.state, RecordingState::Detected | RecordingState::Waiting) {
            let Some(b) = reconstructed(&u) else {
                continue;
            };
            tracing::info!(broadcast_id = %id, "recovery: it waits for a recording slot again");
            accounts.pause_for(&id, &held);
            waiting.push_back(prepare_waiting(deps, target_of(cfg, &u, b)).await);
            continue;
        }
        let answer = match deps.pool.any_client() {
            Some(client) => client.broadcast_info(&id).await.map_err(Some),
            None => Err(None),
        };
        let live = match answer {
            Ok(b) if b.is_live() => Some(b),
            Ok(_) => None,
            Err(Some(e)) if e.kind() == ApiErrorKind::NotFound => None,
            Err(e) => {
                let error = e.map_or("no session is usable".into(), |e| e.to_string());
                tracing::warn!(broadcast_id = %id, %error, "recovery: cannot ask whether it goes on; resuming the capture to find out");
                reconstructed(&u)
            }
        };
        match live {
            Some(b) => {
                tracing::info!(broadcast_id = %id, "recovery: still live; resuming its recording");
                accounts.pause_for(&id, &held);
                let target = target_of(cfg, &u, b);
                match u.folder.as_deref().map(PathBuf::from) {
                    // Claimed now, so the slots left for waiting lives are counted right.
                    Some(folder)
                        if deps
                            .registry
                            .claim(target.entry(RecordingState::Recording, &folder)) =>
                    {
                        recordings.spawn(supervise_claimed(
                            deps.clone(),
                            target,
                            folder,
                            shutdown.clone(),
                            abort.clone(),
                        ));
                    }
                    Some(_) => {}
                    None => {
                        recordings.spawn(supervise(
                            deps.clone(),
                            target,
                            shutdown.clone(),
                            abort.clone(),
                        ));
                    }
                }
            }
            None => {
                tracing::info!(broadcast_id = %id, "recovery: it has ended; finalizing it from disk");
                let span =
                    tracing::info_span!("recording", broadcast_id = %id, user_id = %u.user_id);
                let (deps, abort) = (deps.clone(), abort.clone());
                let (kept, cluster) = (scope.cluster.keep(&id), scope.cluster.clone());
                recordings.spawn(
                    async move {
                        finalize_ended(&deps, &u, &abort).await;
                        drop(kept);
                        cluster.release(&u.broadcast_id);
                    }
                    .instrument(span),
                );
            }
        }
    }
    waiting
}

/// The unfinished recordings this node resumes: the adopted ones, or at a start those whose
/// lease it takes.
async fn mine(deps: &Deps, scope: &Scope<'_>) -> Vec<Unfinished> {
    let list = match deps.store.unfinished().await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "recovery: cannot read unfinished recordings");
            return Vec::new();
        }
    };
    let mut mine = Vec::new();
    for u in list {
        let take = match scope.adopted {
            Some(ids) => ids.contains(&u.broadcast_id),
            None => {
                !deps.registry.contains(&u.broadcast_id)
                    && scope.cluster.acquire(&u.broadcast_id).await
            }
        };
        if take {
            mine.push(u);
        }
    }
    mine
}

/// Resumes the engagement merges a stop or a crash left `pending` (their recordings are
/// finished; only the chat and the folder's files are still to be updated).
async fn resume_merges(deps: &Deps, cluster: &Cluster) {
    let list = match deps.store.pending_merges().await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "recovery: cannot read the pending post-live merges");
            return;
        }
    };
    for m in list {
        let Some(folder) = m.folder.map(PathBuf::from) else {
            continue;
        };
        // Merges are idempotent, but two nodes starting together need not both run one.
        if !cluster.acquire(&m.broadcast_id).await {
            continue;
        }
        tracing::info!(broadcast_id = %m.broadcast_id, "recovery: resuming its post-live merge");
        let job = MergeJob {
            broadcast_id: m.broadcast_id,
            user_id: m.user_id,
            published_time: m.published_time.unwrap_or(0.0),
            folder,
        };
        deps.merges.spawn(deps.clone(), job);
    }
}

/// Finalizes a recording whose broadcast has ended while iglive was not running.
async fn finalize_ended(deps: &Deps, u: &Unfinished, abort: &CancellationToken) {
    let Some(folder) = u.folder.as_deref().map(PathBuf::from) else {
        tracing::warn!("detected but never recorded (no folder); marking it failed");
        let row = RecordingRow {
            error: Some("the broadcast ended before iglive could record it".into()),
            ..RecordingRow::new(&u.broadcast_id, RecordingState::Failed)
        };
        if let Err(e) = deps.writer.send(Write::Recording(row)).await {
            tracing::error!(error = %e, "the failure was not stored");
        }
        return;
    };
    let caught = match u.dash_url.as_deref().and_then(|d| url::Url::parse(d).ok()) {
        Some(mpd) => {
            catch_up(
                &deps.recording,
                &deps.http,
                &u.broadcast_id,
                mpd,
                &folder,
                abort,
            )
            .await
        }
        None => None,
    };
    let progress = caught.clone().unwrap_or_else(|| CaptureProgress {
        first_t: u.first_segment_t.map(|t| t.max(0) as u64),
        ..Default::default()
    });
    let after = AfterLive {
        broadcast_id: u.broadcast_id.clone(),
        user_id: u.user_id.clone(),
        published_time: u.published_time.unwrap_or(0.0),
        folder,
        progress,
        captured: caught.is_some(),
        cut_by_shutdown: false,
        merge: true,
    };
    match after.run(deps).await {
        Ok(done) => tracing::info!("{done}"),
        Err(e) => tracing::error!(error = %e, "finalization failed"),
    }
}
