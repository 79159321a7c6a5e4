//! The engagement merge after the end, in the background: the folder is finalized from what is
//! on disk as soon as the capture ends, whatever the API does; then this asks for the final
//! status (`info`) and the replay's comments and likes, through the pool's lease and within the
//! session's pacing (a throttled session makes it wait, never the recorder), and when they land
//! re-renders the chat files, the page and `broadcast.json`. It gives up after
//! `recording.merge_timeout` and says so; a shutdown cancels it at once, leaving it `pending`
//! for crash recovery to resume at the next start.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use crate::backoff::{Backoff, MAX_DELAY};
use crate::instagram::ApiErrorKind;
use crate::pool::Demand;
use crate::states::MergeState;
use crate::store::query::MergeFacts;
use crate::store::{now_unix, Catalog, StatusSource, Write};

use super::context::Ctx;
use super::deps::Deps;
use super::finalize::render_folder;
use super::postlive::{self, PostLiveCursor, PostLiveStop};

/// First pause after a failed attempt; it doubles up to `RETRY_CAP`.
const RETRY_BASE: Duration = Duration::from_secs(2);
/// Longest pause between two attempts.
const RETRY_CAP: Duration = Duration::from_secs(5 * 60);
/// Attempts at most, whatever the deadline (6 h at the cap is about 80).
const MAX_ATTEMPTS: u32 = 2_000;

/// The background merges of a process: cancelled together at shutdown, never waited on for
/// long.
#[derive(Clone)]
pub struct Merges {
    tracker: TaskTracker,
    cancel: CancellationToken,
}

impl Merges {
    /// Merges that stop when `cancel` fires (the daemon's shutdown).
    pub fn new(cancel: CancellationToken) -> Merges {
        Merges {
            tracker: TaskTracker::new(),
            cancel,
        }
    }

    /// Runs `job` in the background, in the recording's span.
    pub fn spawn(&self, deps: Deps, job: MergeJob) {
        let span = tracing::info_span!(
            "merge",
            broadcast_id = %job.broadcast_id,
            user_id = %job.user_id,
        );
        let cancel = self.cancel.child_token();
        self.tracker
            .spawn(async move { job.run(&deps, &cancel).await }.instrument(span));
    }

    /// Cancels every merge (they stay `pending`) and waits at most `grace` for them to let go
    /// of the database.
    pub async fn stop(&self, grace: Duration) {
        self.cancel.cancel();
        self.tracker.close();
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(?grace, "a post-live merge did not stop in time");
        }
    }
}

/// One finished recording whose engagement is still to be merged.
#[derive(Debug, Clone)]
pub struct MergeJob {
    pub broadcast_id: String,
    pub user_id: String,
    pub published_time: f64,
    pub folder: PathBuf,
}

impl MergeJob {
    /// Runs to `done` or `gave_up`; `None` when cancelled (still `pending`) or when there was
    /// nothing pending.
    pub async fn run(self, deps: &Deps, cancel: &CancellationToken) -> Option<MergeState> {
        let facts = read_facts(&deps.store, &self.broadcast_id).await;
        if facts.state != Some(MergeState::Pending) {
            return None;
        }
        let timeout = deps.recording.merge_timeout.min(MAX_DELAY);
        let deadline = facts
            .deadline
            .unwrap_or_else(|| now_unix() + timeout.as_secs_f64());
        let (signals, _unused) = mpsc::channel(1);
        let ctx = Ctx {
            broadcast_id: self.broadcast_id.clone(),
            user_id: self.user_id.clone(),
            published_time: self.published_time,
            lease: Arc::new(deps.pool.lease(&self.broadcast_id, Demand::default())),
            writer: deps.writer.clone(),
            signals,
            cancel: cancel.child_token(),
        };
        let mut status_known = facts.status.as_ref().is_some_and(|s| !s.is_live());
        let mut cursor = PostLiveCursor::default();
        let mut backoff = Backoff::new(RETRY_BASE, RETRY_CAP);
        for _ in 0..MAX_ATTEMPTS {
            let left = deadline - now_unix();
            if left <= 0.0 {
                break;
            }
            let left = Duration::from_secs_f64(left.min(MAX_DELAY.as_secs_f64()));
            let attempt = async {
                if !status_known {
                    settle_status(&ctx).await?;
                    status_known = true;
                }
                postlive::fetch(&ctx, &mut cursor).await
            };
            let error = tokio::select! {
                _ = cancel.cancelled() => return None,
                r = tokio::time::timeout(left, attempt) => match r {
                    Ok(Ok(report)) => {
                        tracing::info!(
                            comments = report.comments_seen,
                            like_points = report.like_points,
                            pages = report.pages,
                            "post-live merge done; the folder is re-rendered"
                        );
                        return self.land(deps, MergeState::Done).await;
                    }
                    Ok(Err(PostLiveStop::Cancelled)) => return None,
                    Ok(Err(PostLiveStop::Database(e))) => {
                        tracing::error!(error = %e, "the post-live merge cannot store what it reads; it resumes at the next start");
                        return None;
                    }
                    Ok(Err(PostLiveStop::Api(e))) => e.to_string(),
                    Err(_) => break,
                },
            };
            let wait = backoff.next_delay().min(left);
            tracing::info!(%error, retry_in = ?wait, "post-live merge: the API did not answer; the folder is already finalized");
            tokio::select! {
                _ = cancel.cancelled() => return None,
                _ = tokio::time::sleep(wait) => {}
            }
        }
        tracing::warn!(
            timeout = ?timeout,
            "post-live merge: gave up (recording.merge_timeout); the chat holds what the live polls read"
        );
        self.land(deps, MergeState::GaveUp).await
    }

    /// Settles the offsets of what was added, records the outcome and re-renders the folder.
    async fn land(&self, deps: &Deps, state: MergeState) -> Option<MergeState> {
        let id = &self.broadcast_id;
        let facts = read_facts(&deps.store, id).await;
        let mut writes = Vec::new();
        if let Some(video_start) = facts.video_start {
            writes.push(Write::Offsets {
                broadcast_id: id.clone(),
                video_start,
            });
        }
        writes.push(Write::Merge {
            broadcast_id: id.clone(),
            state,
        });
        for w in writes {
            if let Err(e) = deps.writer.send(w).await {
                tracing::error!(error = %e, "the merge's outcome was not stored");
                return None;
            }
        }
        if let Err(e) = deps.writer.flush().await {
            tracing::error!(error = %e, "the merge's outcome was not stored");
            return None;
        }
        render_folder(&deps.store, id, &self.folder).await;
        // The rewritten chat files and broadcast.json go to the bucket too; now the folder is
        // final.
        deps.uploads.finished(id, &self.folder, true).await;
        Some(state)
    }
}

/// Asks `info` once for the final status, so the folder says `stopped`/`hard_stop`/`post_live`
/// rather than the last status seen live. A 404 means it is gone: nothing more to know.
async fn settle_status(ctx: &Ctx) -> Result<(), PostLiveStop> {
    let client = ctx.client().await.ok_or(PostLiveStop::Cancelled)?;
    match client.broadcast_info(&ctx.broadcast_id).await {
        Ok(b) => {
            if let Some(status) = b.broadcast_status.filter(|s| !s.is_live()) {
                ctx.write(Write::Status {
                    broadcast_id: ctx.broadcast_id.clone(),
                    status,
                    at: now_unix(),
                    source: StatusSource::Info,
                })
                .await?;
            }
            Ok(())
        }
        Err(e) if e.kind() == ApiErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn read_facts(store: &Catalog, id: &str) -> MergeFacts {
    match store.merge_facts(id).await {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the recording's merge state");
            MergeFacts::default()
        }
    }
}
