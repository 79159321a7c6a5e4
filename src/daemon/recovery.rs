//! Crash recovery at start, before watching: every recording not finished is examined. If its
//! broadcast is still live the capture resumes into the same folder (the segment store knows
//! what it holds; rewind fills the gap while the daemon was down); otherwise it is finalized
//! from what is on disk, after post-live engagement fills the comments it missed.

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::instagram::{ApiErrorKind, Broadcast};
use crate::recording::capture::CaptureProgress;
use crate::recording::{finalize, postlive, supervise, Ctx, Deps};
use crate::watch::Accounts;

/// How long the catch-up capture of an ended broadcast may take.
const DRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

/// An unfinished recording as the database remembers it.
#[derive(Debug, Clone)]
pub struct Unfinished {
    pub broadcast_id: String,
    pub user_id: String,
    pub username: Option<String>,
    pub published_time: Option<f64>,
    pub dash_url: Option<String>,
    pub folder: Option<String>,
    pub first_segment_t: Option<i64>,
}

pub fn unfinished(
    store: &crate::store::Store,
) -> Result<Vec<Unfinished>, crate::store::StoreError> {
    let conn = store.connect()?;
    let mut stmt = conn.prepare(
        "SELECT r.broadcast_id, b.user_id, b.username, b.published_time, b.dash_url, r.folder,
                r.first_segment_t
         FROM recordings r JOIN broadcasts b ON b.broadcast_id = r.broadcast_id
         WHERE r.state NOT IN ('finished', 'failed')
         ORDER BY b.published_time",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok(Unfinished {
                broadcast_id: r.get(0)?,
                user_id: r.get(1)?,
                username: r.get(2)?,
                published_time: r.get(3)?,
                dash_url: r.get(4)?,
                folder: r.get(5)?,
                first_segment_t: r.get(6)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

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

pub async fn run(
    deps: &Deps,
    recordings: &TaskTracker,
    accounts: &Accounts,
    shutdown: &CancellationToken,
    abort: &CancellationToken,
) {
    let store = deps.store.clone();
    let list = match tokio::task::spawn_blocking(move || unfinished(&store)).await {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => {
            tracing::error!("recovery: cannot read unfinished recordings: {e}");
            return;
        }
        Err(e) => {
            tracing::error!("recovery crashed: {e}");
            return;
        }
    };
    if list.is_empty() {
        return;
    }
    tracing::info!("recovery: {} unfinished recording(s)", list.len());
    for u in list {
        let id = u.broadcast_id.clone();
        let live = match deps.client.broadcast_info(&id).await {
            Ok(b) if b.is_live() => Some(b),
            Ok(_) => None,
            Err(e) if e.kind() == ApiErrorKind::NotFound => None,
            Err(e) => {
                // Unknown: record on; the heartbeat or the manifest will tell when it ends.
                tracing::warn!("recovery: broadcast {id}: {e}; resuming the capture to find out");
                reconstructed(&u)
            }
        };
        match live {
            Some(b) => {
                tracing::info!("recovery: broadcast {id} is still live; resuming its recording");
                accounts.pause(&u.user_id);
                recordings.spawn(supervise(
                    deps.clone(),
                    b,
                    u.user_id.clone(),
                    u.username.clone(),
                    shutdown.clone(),
                    abort.clone(),
                ));
            }
            None => {
                tracing::info!("recovery: broadcast {id} has ended; finalizing it from disk");
                let deps = deps.clone();
                let abort = abort.clone();
                recordings.spawn(async move { finalize_ended(&deps, &u, abort).await });
            }
        }
    }
}

/// Finalizes a recording whose broadcast has ended while iglive was not running.
pub async fn finalize_ended(deps: &Deps, u: &Unfinished, abort: CancellationToken) {
    let Some(folder) = u.folder.as_deref().map(std::path::PathBuf::from) else {
        tracing::warn!(
            "broadcast {}: detected but never recorded (no folder); marking it failed",
            u.broadcast_id
        );
        let _ = deps
            .writer
            .send(crate::store::Write::Recording(crate::store::RecordingRow {
                broadcast_id: u.broadcast_id.clone(),
                state: "failed".into(),
                error: Some("the broadcast ended before iglive could record it".into()),
                ..Default::default()
            }))
            .await;
        return;
    };
    let published_time = u.published_time.unwrap_or(0.0);
    let (signals, _rx) = mpsc::channel(1);
    let ctx = Ctx {
        broadcast_id: u.broadcast_id.clone(),
        user_id: u.user_id.clone(),
        published_time,
        client: deps.client.clone(),
        writer: deps.writer.clone(),
        signals,
        cancel: abort,
    };
    let report = postlive::fetch(&ctx).await;
    tracing::info!(
        "broadcast {}: post-live merge read {} comments",
        u.broadcast_id,
        report.comments_seen
    );
    let mut progress = CaptureProgress {
        first_t: u.first_segment_t.map(|t| t.max(0) as u64),
        ..Default::default()
    };
    // Segments stay fetchable for a while after the end (reference §3): one draining capture
    // run picks up what was published while iglive was down, before the mux.
    if let Some(mpd_url) = u
        .dash_url
        .as_deref()
        .and_then(|d| url::Url::parse(d).ok())
        .filter(|_| deps.recording.engine == crate::config::Engine::Native)
    {
        let control = crate::recording::capture::CaptureControl::default();
        control.drain.cancel();
        let req = crate::recording::capture::CaptureRequest {
            broadcast_id: u.broadcast_id.clone(),
            mpd_url,
            segments_dir: folder.join(".segments"),
            rewind: deps.recording.rewind,
            max_height: deps.recording.max_height,
        };
        let (tx, rx) = tokio::sync::watch::channel(CaptureProgress::default());
        let run = crate::dash::capture::run(req, deps.http.clone(), control.clone(), tx);
        match tokio::time::timeout(DRAIN_LIMIT, run).await {
            Ok(exit) => tracing::info!(
                "broadcast {}: catch-up capture after the restart: {exit:?}",
                u.broadcast_id
            ),
            Err(_) => {
                control.abort.cancel();
                tracing::warn!("broadcast {}: catch-up capture timed out", u.broadcast_id);
            }
        }
        let p = rx.borrow().clone();
        if p.first_t.is_some() {
            progress = p;
        }
    }
    match finalize::finalize(
        &deps.writer,
        &deps.store,
        &deps.http,
        &u.broadcast_id,
        &folder,
        &progress,
        published_time,
        deps.recording.keep_segments,
    )
    .await
    {
        Ok(m) => tracing::info!("broadcast {}: {m}", u.broadcast_id),
        Err(e) => tracing::error!("broadcast {}: finalization failed: {e}", u.broadcast_id),
    }
}
