//! `iglive record TARGET`: one live, now, in the foreground, through the same recording
//! supervisor as the daemon (same folder layout, same finalization, same database), from the
//! first segment. A username, profile URL or broadcast id is resolved through the config's
//! sessions; a bare MPD URL needs none, and nothing is asked of the API for it.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Footprint};
use crate::instagram::{ApiErrorKind, Broadcast};
use crate::pool::{PlanOptions, Pool};
use crate::recording::{supervise, Deps, LiveRecording, Merges, RecorderEvent, Registry, Target};
use crate::store::Catalog;

use super::record_target::{mpd_broadcast_id, RecordTarget};
use super::sessions::Sessions;

/// How long a stop waits for the cancelled post-live merge to let go of the database.
const MERGE_STOP_GRACE: Duration = Duration::from_secs(3);

/// How one `iglive record` ended.
#[derive(Debug)]
pub enum RecordOutcome {
    /// Finalized; `interrupted` when a stop signal cut it short.
    Finished {
        folder: PathBuf,
        broadcast_id: String,
        interrupted: bool,
        /// The post-live merge was left pending (the daemon's recovery resumes it).
        merge_pending: bool,
    },
    /// Recorded but not finalized (the reason says why; the raw capture is kept).
    Failed { reason: String },
    /// The account is not live, or the broadcast or account does not exist.
    NotLive(String),
}

/// Records `target` until its end or `stop` (finalizing what was captured); `abort` exits at
/// once. `progress` receives the live figures about once a second.
pub async fn record(
    cfg: &Config,
    with_sessions: bool,
    target: RecordTarget,
    stop: CancellationToken,
    abort: CancellationToken,
    progress: mpsc::Sender<LiveRecording>,
) -> anyhow::Result<RecordOutcome> {
    let http = crate::dash::cdn_client().context("cannot build the CDN HTTP client")?;
    let sessions = if with_sessions && target.needs_session() {
        Some(Sessions::open(cfg, http.clone())?)
    } else {
        None
    };
    let members = sessions.as_ref().map(Sessions::members).unwrap_or_default();
    let pool = Pool::new(members, PlanOptions::default());
    let resolved = match resolve(&pool, &target).await? {
        Ok(t) => t,
        Err(why) => return Ok(RecordOutcome::NotLive(why)),
    };
    std::fs::create_dir_all(&cfg.storage.recordings_dir).with_context(|| {
        format!(
            "cannot create the recordings folder {}",
            cfg.storage.recordings_dir.display()
        )
    })?;
    let store = Catalog::open(cfg).await?;
    let (writer, writer_thread) = store.spawn_writer()?;
    let (events_tx, mut events) = mpsc::channel::<RecorderEvent>(16);
    let registry = Registry::default();
    let merges = Merges::new(stop.child_token());
    let deps = Deps {
        pool,
        http,
        writer,
        store,
        recording: cfg.recording.clone(),
        recordings_dir: cfg.storage.recordings_dir.clone(),
        min_free_space: cfg.storage.min_free_space,
        registry: registry.clone(),
        merges: merges.clone(),
        // `iglive record` exits when the live ends: its folder stays local.
        uploads: crate::objects::Uploads::disabled(),
        events: Some(events_tx),
    };
    let id = resolved.broadcast.id.clone();
    let merge_wanted = resolved.footprint == Footprint::Full;
    let run = tokio::spawn(supervise(deps, resolved, stop.clone(), abort.clone()));
    let mut finished = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut run = std::pin::pin!(run);
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(RecorderEvent::Finished { folder, ok, reason, .. }) => finished = Some((folder, ok, reason)),
                Some(_) => {}
                None => break,
            },
            _ = tick.tick() => {
                if let Some(r) = registry.snapshot().into_iter().find(|r| r.broadcast_id == id) {
                    let _ = progress.try_send(r);
                }
            }
            r = &mut run => {
                if let Err(e) = r {
                    anyhow::bail!("the recording crashed: {e}");
                }
                // Events sent before the supervisor returned are still in the channel.
                while let Ok(ev) = events.try_recv() {
                    if let RecorderEvent::Finished { folder, ok, reason, .. } = ev {
                        finished = Some((folder, ok, reason));
                    }
                }
                break;
            }
        }
    }
    // The merge keeps going only as long as this process does: stop it, pending.
    merges.stop(MERGE_STOP_GRACE).await;
    drop(events);
    if let Some(s) = &sessions {
        s.save_all();
    }
    tokio::task::spawn_blocking(move || writer_thread.join())
        .await
        .ok();
    let interrupted = stop.is_cancelled();
    Ok(match finished {
        Some((folder, true, _)) => RecordOutcome::Finished {
            folder,
            broadcast_id: id,
            interrupted,
            merge_pending: merge_wanted && !interrupted,
        },
        Some((_, false, reason)) => RecordOutcome::Failed { reason },
        None => RecordOutcome::Failed {
            reason: "the recording ended without finalizing (see the messages above)".into(),
        },
    })
}

/// The broadcast to record, or why there is none (`Ok(Err)`: not live / not found).
async fn resolve(pool: &Pool, target: &RecordTarget) -> anyhow::Result<Result<Target, String>> {
    if let RecordTarget::Mpd(url) = target {
        return Ok(Ok(mpd_target(url)?));
    }
    let Some(client) = pool.any_client() else {
        anyhow::bail!("no session is usable to look the live up; record from its MPD URL instead, or fix the session (iglive doctor)");
    };
    let not_found = |e: &crate::instagram::ApiError| e.kind() == ApiErrorKind::NotFound;
    let broadcast = match target {
        RecordTarget::Broadcast(id) => match client.broadcast_info(id).await {
            Ok(b) if b.is_live() => b,
            Ok(b) => {
                let status = b
                    .broadcast_status
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                return Ok(Err(format!("broadcast {id} is not live (status {status})")));
            }
            Err(e) if not_found(&e) => return Ok(Err(format!("broadcast {id} not found"))),
            Err(e) => return Err(e.into()),
        },
        RecordTarget::Username(name) => {
            let user = match client.user_by_username(name).await {
                Ok(u) => u,
                Err(e) if not_found(&e) => return Ok(Err(format!("no account @{name}"))),
                Err(e) => return Err(e.into()),
            };
            let Some(pk) = user.pk else {
                return Ok(Err(format!("no account @{name}")));
            };
            match client.user_broadcast(&pk).await? {
                Some(b) if b.is_live() => b,
                _ => return Ok(Err(format!("@{name} is not live now"))),
            }
        }
        RecordTarget::Mpd(url) => return Ok(Ok(mpd_target(url)?)),
    };
    let user_id = broadcast
        .broadcast_owner
        .as_ref()
        .and_then(|o| o.pk.clone())
        .unwrap_or_default();
    Ok(Ok(Target {
        broadcast,
        user_id,
        username: None,
        footprint: Footprint::Full,
        via: Vec::new(),
    }))
}

/// A broadcast object for a bare MPD URL: nothing but the manifest is known.
fn mpd_target(url: &url::Url) -> anyhow::Result<Target> {
    let broadcast: Broadcast = serde_json::from_value(serde_json::json!({
        "id": mpd_broadcast_id(url),
        "broadcast_status": "active",
        "dash_playback_url": url.as_str(),
    }))
    .context("cannot describe the MPD's broadcast")?;
    Ok(Target {
        broadcast,
        user_id: "mpd".into(),
        username: None,
        footprint: Footprint::Video,
        via: Vec::new(),
    })
}
