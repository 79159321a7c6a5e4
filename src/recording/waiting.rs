//! A live that found no free recording slot (`recording.max_concurrent`) or too little disk
//! space. It is made durable and ready at detection — its folder, the state `waiting`, and the
//! manifest it was detected with saved beside the segments to come — so that when a slot
//! frees it is recorded from the CDN alone, from its first segment, whether it is still live
//! or has ended meanwhile: segments stay fetchable by URL while the broadcast lasts and a
//! while after its end (docs/instagram.md §3 "Rewind availability"), and the saved manifest
//! gives the segment URLs once the live one has lost its `<Period>` or answers 404.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::config::Footprint;
use crate::dash::fetch::{get_once, FetchError};
use crate::dash::{FetchLimits, LiveManifest};
use crate::states::RecordingState;
use crate::store::{now_unix, BroadcastRow, RecordingRow, Write};

use super::after_live::AfterLive;
use super::catch_up::catch_up;
use super::deps::{Deps, RecorderEvent};
use super::supervisor::{folder_of, run_claimed, Target};

/// One manifest request at detection or when the slot comes; its failure costs nothing more.
const MANIFEST_LIMITS: FetchLimits = FetchLimits {
    timeout: Duration::from_secs(10),
    max_bytes: 4 * 1024 * 1024,
    attempts: 2,
    backoff: Duration::from_millis(500),
};

/// A live waiting for a recording slot, in detection order.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub target: Target,
    /// Made at detection (`None` when it could not be: tried again when the slot comes).
    pub folder: Option<PathBuf>,
}

impl Waiting {
    pub fn broadcast_id(&self) -> &str {
        &self.target.broadcast.id
    }
}

/// What the live manifest says when it is looked at.
#[derive(Debug)]
enum Manifest {
    /// Live: a `<Period>` and no end signal.
    Live(crate::dash::fetch::Fetched),
    /// The end header or signal; the body is kept when it still lists segments.
    Ended(Option<crate::dash::fetch::Fetched>),
    /// 404 or 410: the live manifest is gone.
    Gone(FetchError),
    /// Anything else (an outage, a broken body): nothing is concluded.
    Unknown(String),
}

async fn look(http: &reqwest::Client, mpd: &url::Url) -> Manifest {
    let fetched = match get_once(http, mpd, &MANIFEST_LIMITS).await {
        Ok(f) => f,
        Err(e) if e.is_absent() => return Manifest::Gone(e),
        Err(e) => return Manifest::Unknown(e.to_string()),
    };
    let ended_header = fetched
        .headers
        .get("x-fb-video-broadcast-ended")
        .is_some_and(|v| v.as_bytes().trim_ascii() == b"1");
    match LiveManifest::parse(&fetched.body, &fetched.url) {
        Ok(m) if ended_header || m.is_ended_signal() || !m.has_period => {
            Manifest::Ended(m.has_period.then_some(fetched))
        }
        Ok(_) => Manifest::Live(fetched),
        Err(e) => Manifest::Unknown(e.to_string()),
    }
}

fn mpd_of(target: &Target) -> Option<url::Url> {
    target
        .broadcast
        .mpd_url()
        .and_then(|u| url::Url::parse(u).ok())
}

fn segments_dir(folder: &Path) -> PathBuf {
    folder.join(".segments")
}

/// At detection, when no slot is free: the folder, the manifest kept beside the segments to
/// come, the state `waiting` in the database and the registry. Never fails: what could not be
/// done now (a folder, the manifest) is tried again when the slot comes.
pub async fn prepare(deps: &Deps, target: Target) -> Waiting {
    let folder = folder_of(deps, &target).await;
    if let (Some(folder), Some(mpd)) = (&folder, mpd_of(&target)) {
        let dir = segments_dir(folder);
        if !save_manifest(deps, &mpd, &dir, true).await {
            // Right after the start the manifest can answer 404 until its first segment
            // exists: looked at again (CDN requests only) while it waits, a bounded number
            // of times.
            let (deps, id) = (deps.clone(), target.broadcast.id.clone());
            let span = tracing::Span::current();
            tokio::spawn(
                async move {
                    for _ in 0..MANIFEST_TRIES {
                        tokio::time::sleep(MANIFEST_RETRY).await;
                        if !still_waiting(&deps, &id)
                            || save_manifest(&deps, &mpd, &dir, false).await
                        {
                            return;
                        }
                    }
                    tracing::warn!(
                        "no manifest with segments to save while it waited; the slot will tell"
                    );
                }
                .instrument(span),
            );
        }
    }
    let row = RecordingRow {
        folder: folder.as_ref().map(|f| f.display().to_string()),
        ..RecordingRow::new(&target.broadcast.id, RecordingState::Waiting)
    };
    if let Err(e) = deps.writer.send(Write::Recording(row)).await {
        tracing::error!(error = %e, "the waiting state was not stored");
    }
    let entry = target.entry(
        RecordingState::Waiting,
        folder.as_deref().unwrap_or(Path::new("")),
    );
    deps.registry.wait(entry);
    Waiting { target, folder }
}

/// How often, and how many times, the manifest of a waiting live is fetched again until one
/// listing segments is saved.
const MANIFEST_RETRY: Duration = Duration::from_secs(2);
const MANIFEST_TRIES: u32 = 60;

fn still_waiting(deps: &Deps, id: &str) -> bool {
    deps.registry
        .snapshot()
        .iter()
        .any(|r| r.broadcast_id == id && r.state == RecordingState::Waiting)
}

/// Saves the manifest beside the segments when it lists some; whether it did. `loud` logs why
/// not (the first try).
async fn save_manifest(deps: &Deps, mpd: &url::Url, dir: &Path, loud: bool) -> bool {
    match look(&deps.http, mpd).await {
        Manifest::Live(f) | Manifest::Ended(Some(f)) => {
            crate::capture::keep_manifest(dir, &f.body, &f.url).await;
            return true;
        }
        Manifest::Ended(None) if loud => {
            tracing::warn!("the manifest lists no segments any more; nothing to save")
        }
        Manifest::Gone(e) if loud => tracing::info!(error = %e, "no manifest to save yet"),
        Manifest::Unknown(e) if loud => {
            tracing::warn!(error = %e, "cannot save the manifest now; trying again while it waits")
        }
        _ => {}
    }
    false
}

/// When its slot has come (the caller claimed it in the registry): still live → the usual
/// supervisor, rewinding to the first segment; ended → a catch-up from the CDN, then the
/// after-live phase; nothing left to fetch → `failed`, saying so. The slot is released and
/// the daemon told at the end, whatever happened.
pub async fn record_waiting(
    deps: Deps,
    w: Waiting,
    shutdown: CancellationToken,
    abort: CancellationToken,
) {
    let span = w.target.span();
    record(deps, w, shutdown, abort).instrument(span).await
}

async fn record(deps: Deps, w: Waiting, shutdown: CancellationToken, abort: CancellationToken) {
    let folder = match w.folder {
        Some(f) => Some(f),
        None => folder_of(&deps, &w.target).await,
    };
    let target = w.target;
    let Some(folder) = folder else {
        let why = "its folder could not be created (see the error above; check the recordings folder's permissions and free space)";
        return give_up(&deps, &target, None, why.to_string()).await;
    };
    let Some(mpd) = mpd_of(&target) else {
        // Only the API can tell; the supervisor records what engagement there is.
        return run_claimed(deps, target, folder, shutdown, abort).await;
    };
    match look(&deps.http, &mpd).await {
        Manifest::Live(_) | Manifest::Unknown(_) => {
            tracing::info!("a recording slot is free; recording it from its first segment");
            run_claimed(deps, target, folder, shutdown, abort).await
        }
        Manifest::Ended(_) => {
            let how = "it ended while waiting for a recording slot".to_string();
            catch_up_ended(&deps, &target, &folder, mpd, how, &shutdown, &abort).await
        }
        Manifest::Gone(e) => {
            let how = format!("it ended while waiting for a recording slot (manifest: {e})");
            catch_up_ended(&deps, &target, &folder, mpd, how, &shutdown, &abort).await
        }
    }
}

/// An ended broadcast: what the CDN still holds, from the first segment, then finalized.
async fn catch_up_ended(
    deps: &Deps,
    target: &Target,
    folder: &Path,
    mpd: url::Url,
    how: String,
    shutdown: &CancellationToken,
    abort: &CancellationToken,
) {
    let id = &target.broadcast.id;
    tracing::info!("{how}; fetching what the CDN still holds");
    let started = RecordingRow {
        folder: Some(folder.display().to_string()),
        started_at: Some(now_unix()),
        ..RecordingRow::new(id, RecordingState::Recording)
    };
    persist(deps, Write::Recording(started)).await;
    deps.registry
        .update(id, |r| r.folder = folder.display().to_string());
    let stop = shutdown.child_token();
    let caught = catch_up(&deps.recording, &deps.http, id, mpd, folder, &stop).await;
    if shutdown.is_cancelled() {
        // Left `recording`: the next start's recovery catches up again and finalizes.
        tracing::info!("stopping during the catch-up; the next start finishes it");
        deps.registry.release(id);
        return;
    }
    let Some(progress) = caught else {
        let why = format!(
            "{how}, and the CDN no longer has its segments (neither the first nor any the saved manifest names); nothing could be recorded"
        );
        return give_up(deps, target, Some(folder), why).await;
    };
    persist(
        deps,
        Write::Broadcast(BroadcastRow {
            broadcast_id: id.clone(),
            user_id: target.user_id.clone(),
            end_reason: Some(how.clone()),
            ..Default::default()
        }),
    )
    .await;
    deps.registry.set_progress(id, &progress);
    deps.registry
        .update(id, |r| r.state = RecordingState::Finalizing);
    let after = AfterLive {
        broadcast_id: id.clone(),
        user_id: target.user_id.clone(),
        published_time: target
            .broadcast
            .published_time
            .map(|t| t as f64)
            .unwrap_or_else(now_unix),
        folder: folder.to_path_buf(),
        progress,
        captured: true,
        cut_by_shutdown: false,
        merge: target.footprint == Footprint::Full && !abort.is_cancelled(),
    };
    let outcome = after.run(deps).await;
    match &outcome {
        Ok(done) => tracing::info!("{done}"),
        Err(e) => tracing::error!(error = %e, "finalization failed"),
    }
    let (ok, reason) = match outcome {
        Ok(done) => (true, format!("{how}; {done}")),
        Err(e) => (false, e.to_string()),
    };
    finish(deps, target, folder.to_path_buf(), ok, reason).await;
}

/// Nothing could be had: `failed`, with why and what happened.
async fn give_up(deps: &Deps, target: &Target, folder: Option<&Path>, why: String) {
    tracing::error!("not recorded: {why}");
    let row = RecordingRow {
        error: Some(why.clone()),
        finished_at: Some(now_unix()),
        ..RecordingRow::new(&target.broadcast.id, RecordingState::Failed)
    };
    persist(deps, Write::Recording(row)).await;
    let folder = folder.map(Path::to_path_buf).unwrap_or_default();
    finish(deps, target, folder, false, why).await;
}

async fn finish(deps: &Deps, target: &Target, folder: PathBuf, ok: bool, reason: String) {
    deps.registry.release(&target.broadcast.id);
    deps.tell(RecorderEvent::Finished {
        broadcast_id: target.broadcast.id.clone(),
        user_id: target.user_id.clone(),
        username: target.username.clone(),
        folder,
        ok,
        reason,
    })
    .await;
}

async fn persist(deps: &Deps, w: Write) {
    if let Err(e) = deps.writer.send(w).await {
        tracing::error!(error = %e, "a recording fact was not stored");
    }
}
