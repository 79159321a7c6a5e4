//! Live chat. `get_comment` returns comments at or after `last_comment_ts`, newest first and
//! capped per call (docs/instagram.md §2), so the cursor advances to the newest `created_at` seen
//! (never `created_at_utc`), comments are de-duplicated by pk, and a full page is followed
//! at once by another so a burst sharing one second is read completely.

use std::collections::HashMap;
use std::time::Duration;

use crate::instagram::types::Comment;
use crate::store::{CommentRow, Write};

use super::context::Ctx;
use crate::pool::PollerClass;

/// The persisted cursor's name in the `cursors` table.
pub const CURSOR: &str = "last_comment_ts";
/// Follow-up pages read back to back before pausing, whatever happens.
const MAX_PAGES_PER_ROUND: usize = 50;

/// A comment as stored; `None` when it lacks what makes it a comment (a pk and a time).
pub fn to_row(ctx: &Ctx, c: &Comment, kind: &str, source: &str) -> Option<CommentRow> {
    let created_at = c.created_at.filter(|t| t.is_finite())?;
    if c.pk.is_empty() {
        return None;
    }
    Some(CommentRow {
        broadcast_id: ctx.broadcast_id.clone(),
        pk: c.pk.clone(),
        user_id: c.user_id.clone(),
        username: c.user.as_ref().and_then(|u| u.username.clone()),
        // SQLite and every consumer take NUL badly; it carries no meaning in a comment.
        text: c.text.replace('\0', ""),
        created_at,
        offset_s: Some(ctx.offset(created_at)),
        kind: kind.into(),
        source: source.into(),
        raw_json: c.raw.to_string(),
    })
}

pub async fn run(ctx: Ctx, interval: Duration, start_cursor: f64) {
    let mut cursor = start_cursor;
    // pk → created_at of comments at or after the cursor: the ones the next page repeats.
    let mut seen: HashMap<String, f64> = HashMap::new();
    // The service's page size is not documented; a page as large as the largest seen is "full".
    let mut largest_page = 10usize;
    let started = std::time::Instant::now();
    loop {
        let mut pages = 0;
        loop {
            pages += 1;
            let Some(client) = ctx.client().await else {
                return;
            };
            let page = tokio::select! {
                _ = ctx.cancel.cancelled() => return,
                r = client.comments(&ctx.broadcast_id, cursor) => r,
            };
            let page = match page {
                Ok(p) => p,
                Err(e) => {
                    if !ctx.on_error("comments", &e).await {
                        return;
                    }
                    break;
                }
            };
            let mut fresh = 0usize;
            for c in &page.comments {
                if seen.contains_key(&c.pk) {
                    continue;
                }
                match to_row(&ctx, c, "comment", "live") {
                    Some(row) => {
                        seen.insert(row.pk.clone(), row.created_at);
                        fresh += 1;
                        if ctx.write(Write::Comment(row)).await.is_err() {
                            return;
                        }
                    }
                    None => tracing::warn!(raw = %c.raw, "skipped a comment without pk or time"),
                }
            }
            let pinned = page
                .pinned_comment
                .iter()
                .filter_map(|p| to_row(&ctx, p, "pinned", "live"));
            let system = page
                .system_comments
                .iter()
                .filter_map(|s| serde_json::from_value::<Comment>(s.clone()).ok())
                .filter_map(|c| to_row(&ctx, &c, "system", "live"));
            for row in pinned.chain(system).collect::<Vec<_>>() {
                if seen.insert(row.pk.clone(), row.created_at).is_none()
                    && ctx.write(Write::Comment(row)).await.is_err()
                {
                    return;
                }
            }
            // A comment stamped absurdly far in the future must not push the cursor past every
            // real comment: only times within a day of the broadcast's own clock count.
            let horizon = ctx.published_time + started.elapsed().as_secs_f64() + 86_400.0;
            let newest = page
                .comments
                .iter()
                .filter_map(|c| c.created_at)
                .filter(|t| t.is_finite() && *t <= horizon)
                .fold(cursor, f64::max);
            let advanced = newest > cursor;
            if advanced {
                cursor = newest;
                seen.retain(|_, t| *t >= cursor);
                let saved = Write::Cursor {
                    broadcast_id: ctx.broadcast_id.clone(),
                    name: CURSOR.into(),
                    value: cursor.to_string(),
                };
                if ctx.write(saved).await.is_err() {
                    return;
                }
            }
            // A page that brought something new and may have more behind it: read on now.
            largest_page = largest_page.max(page.comments.len());
            let full = page.comments.len() >= largest_page;
            let more = page.has_more_comments.unwrap_or(false) || (fresh > 0 && full);
            if !(more && (advanced || fresh > 0)) || pages >= MAX_PAGES_PER_ROUND {
                if more && !advanced && fresh == 0 {
                    tracing::warn!(cursor, "a full page did not move the cursor; comments sharing that exact time beyond one page cannot be read");
                }
                break;
            }
        }
        if !ctx.pause(interval, PollerClass::Critical).await {
            return;
        }
    }
}
