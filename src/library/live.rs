//! Recordings in progress and the event feed of the live page. One poller (started by the
//! first subscriber, idle while nobody listens) reads the registry and the database once a
//! second and broadcasts `live` (the whole snapshot, when it changed) and `recording` (a
//! recording started, changed state or ended) to every `/api/v1/events` stream.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;
use serde::Serialize;
use tokio::sync::broadcast;
use utoipa::ToSchema;

use super::api::{urlencode, Comment, STATES};
use super::Library;
use crate::recording::LiveRecording;
use crate::store::browse::{self, BrowseFilter, BrowseRow, SortKey};
use crate::store::query::CommentExport;
use crate::store::StoreError;

/// How often the poller looks.
pub const POLL: Duration = Duration::from_secs(1);
/// Comments shown per live recording.
pub(super) const LATEST_COMMENTS: usize = 5;
/// Most recordings in one snapshot.
pub(super) const MAX_LIVE: usize = 200;

/// One recording in progress.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LiveItem {
    pub broadcast_id: String,
    pub user_id: String,
    pub username: Option<String>,
    pub label: Option<String>,
    /// detected, recording, interrupted or finalizing.
    pub status: String,
    /// When the broadcast started (unix time); the page ticks the elapsed time from it.
    pub started_at: Option<f64>,
    /// Seconds of video captured so far.
    pub duration_s: f64,
    pub segments_captured: i64,
    pub segments_missing: i64,
    pub bytes_captured: i64,
    /// The last heartbeat's viewer count.
    pub viewers: Option<f64>,
    pub peak_viewers: Option<f64>,
    pub comments: i64,
    pub likes: Option<i64>,
    /// The newest comments, oldest first.
    pub latest_comments: Vec<Comment>,
    pub page_url: String,
    /// Whether this process is recording it (false: waiting for a slot, or another process).
    pub in_this_process: bool,
}

/// A change of one recording's state.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RecordingChange {
    pub broadcast_id: String,
    pub username: Option<String>,
    /// The state before (`null`: it just appeared).
    pub previous: Option<String>,
    /// The state now (finished or failed once it has left the live list).
    pub status: Option<String>,
    pub page_url: String,
}

/// What the event stream carries.
#[derive(Debug, Clone)]
pub enum FeedEvent {
    Live(Arc<Vec<LiveItem>>),
    Recording(RecordingChange),
}

/// The shared feed.
pub struct Feed {
    tx: broadcast::Sender<FeedEvent>,
    started: AtomicBool,
}

impl Default for Feed {
    fn default() -> Feed {
        Feed {
            tx: broadcast::channel(64).0,
            started: AtomicBool::new(false),
        }
    }
}

/// Which recordings are in progress: those in a state that is not final.
pub(super) fn in_progress_filter() -> BrowseFilter {
    BrowseFilter {
        states: STATES
            .iter()
            .filter(|s| !s.is_final())
            .map(|s| s.as_str().to_string())
            .collect(),
        ..Default::default()
    }
}

/// The recordings in progress now: the registry's capture figures (daemon) over the
/// database's rows in a live state, with engagement from the database (SQLite; the
/// PostgreSQL catalog's is `Library::live_snapshot`).
pub fn snapshot(conn: &Connection, running: &[LiveRecording]) -> Result<Vec<LiveItem>, StoreError> {
    let filter = in_progress_filter();
    let (rows, _) = browse::recordings(conn, &filter, SortKey::Started, true, None, MAX_LIVE)?;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        let latest = browse::latest_comments(conn, &row.summary.broadcast_id, LATEST_COMMENTS)?;
        let viewers = browse::current_viewers(conn, &row.summary.broadcast_id)?;
        items.push(item(row, running, latest, viewers));
    }
    Ok(items)
}

/// One recording in progress from its row, the registry, its latest comments and its last
/// viewer count.
pub(super) fn item(
    row: BrowseRow,
    running: &[LiveRecording],
    latest: Vec<CommentExport>,
    viewers: Option<f64>,
) -> LiveItem {
    let s = &row.summary;
    let reg = running.iter().find(|r| r.broadcast_id == s.broadcast_id);
    LiveItem {
        broadcast_id: s.broadcast_id.clone(),
        user_id: s.user_id.clone(),
        username: s
            .username
            .clone()
            .or_else(|| reg.and_then(|r| r.username.clone())),
        label: row.label.clone(),
        status: reg
            .map(|r| r.state.as_str().to_string())
            .unwrap_or_else(|| s.status.clone()),
        started_at: s.started_at,
        duration_s: reg.map(|r| r.duration_s).or(s.duration_s).unwrap_or(0.0),
        segments_captured: reg
            .map(|r| r.segments_captured as i64)
            .unwrap_or(s.segments_captured),
        segments_missing: reg
            .map(|r| r.segments_missing as i64)
            .unwrap_or(s.segments_missing),
        bytes_captured: reg.map(|r| r.bytes as i64).unwrap_or(row.bytes_captured),
        viewers,
        peak_viewers: s.peak_viewers,
        comments: s.comments,
        likes: s.likes,
        latest_comments: latest
            .into_iter()
            .map(|c| Comment::from_export(c, s.started_at))
            .collect(),
        page_url: format!("/recording/{}", urlencode(&s.broadcast_id)),
        in_this_process: reg.is_some(),
    }
}

/// The snapshot for `lib` (registry included in the daemon).
pub async fn current(lib: &Library) -> Result<Vec<LiveItem>, super::ApiError> {
    let running = lib
        .daemon_parts()
        .map(|d| d.registry.snapshot())
        .unwrap_or_default();
    lib.live_snapshot(running).await
}

/// The state changes between two snapshots; recordings that left are looked up in `ended`.
fn changes(
    before: &[LiveItem],
    after: &[LiveItem],
    ended: &BTreeMap<String, String>,
) -> Vec<RecordingChange> {
    let mut out = Vec::new();
    for a in after {
        let prev = before.iter().find(|b| b.broadcast_id == a.broadcast_id);
        if prev.map(|p| &p.status) != Some(&a.status) {
            out.push(RecordingChange {
                broadcast_id: a.broadcast_id.clone(),
                username: a.username.clone(),
                previous: prev.map(|p| p.status.clone()),
                status: Some(a.status.clone()),
                page_url: a.page_url.clone(),
            });
        }
    }
    for b in before {
        if !after.iter().any(|a| a.broadcast_id == b.broadcast_id) {
            out.push(RecordingChange {
                broadcast_id: b.broadcast_id.clone(),
                username: b.username.clone(),
                previous: Some(b.status.clone()),
                status: ended.get(&b.broadcast_id).cloned(),
                page_url: b.page_url.clone(),
            });
        }
    }
    out
}

impl Feed {
    /// A receiver of the feed; the first one starts the poller.
    pub fn subscribe(&self, lib: &Library) -> broadcast::Receiver<FeedEvent> {
        let rx = self.tx.subscribe();
        if !self.started.swap(true, Ordering::SeqCst) {
            tokio::spawn(poll(lib.clone()));
        }
        rx
    }
}

/// The poller: until the library stops, once a second while anybody listens.
async fn poll(lib: Library) {
    let mut last: Vec<LiveItem> = Vec::new();
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = lib.0.stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        if lib.0.live.tx.receiver_count() == 0 {
            last.clear();
            continue;
        }
        let now = match current(&lib).await {
            Ok(n) => n,
            Err(e) => {
                tracing::debug!("live feed: {e}");
                continue;
            }
        };
        let gone: Vec<String> = last
            .iter()
            .filter(|b| !now.iter().any(|a| a.broadcast_id == b.broadcast_id))
            .map(|b| b.broadcast_id.clone())
            .collect();
        let ended: BTreeMap<String, String> = if gone.is_empty() {
            BTreeMap::new()
        } else {
            let mut m = BTreeMap::new();
            for id in gone {
                if let Ok(Some(r)) = lib.browse_recording(id.clone()).await {
                    m.insert(id, r.summary.status);
                }
            }
            m
        };
        for c in changes(&last, &now, &ended) {
            let _ = lib.0.live.tx.send(FeedEvent::Recording(c));
        }
        if now != last {
            let _ = lib.0.live.tx.send(FeedEvent::Live(Arc::new(now.clone())));
            last = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, status: &str) -> LiveItem {
        LiveItem {
            broadcast_id: id.into(),
            user_id: "1".into(),
            username: None,
            label: None,
            status: status.into(),
            started_at: None,
            duration_s: 0.0,
            segments_captured: 0,
            segments_missing: 0,
            bytes_captured: 0,
            viewers: None,
            peak_viewers: None,
            comments: 0,
            likes: None,
            latest_comments: vec![],
            page_url: format!("/recording/{id}"),
            in_this_process: true,
        }
    }

    #[test]
    fn changes_report_starts_state_changes_and_ends() {
        let before = vec![item("a", "recording"), item("b", "recording")];
        let after = vec![item("a", "finalizing"), item("c", "detected")];
        let ended = BTreeMap::from([("b".to_string(), "finished".to_string())]);
        let c = changes(&before, &after, &ended);
        let seen: Vec<(&str, Option<&str>, Option<&str>)> = c
            .iter()
            .map(|c| {
                (
                    c.broadcast_id.as_str(),
                    c.previous.as_deref(),
                    c.status.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                ("a", Some("recording"), Some("finalizing")),
                ("c", None, Some("detected")),
                ("b", Some("recording"), Some("finished")),
            ]
        );
        assert!(changes(&after, &after, &ended).is_empty());
    }
}
