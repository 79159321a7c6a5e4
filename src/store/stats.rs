//! `recording_stats`: each broadcast's comment count, highest like count, peak viewer count
//! and last change, kept by the writer as it inserts the rows (migration 2 built them for the
//! rows that existed before). They equal counting the rows, which `iglive list` did before
//! and which no longer scales to millions of comments.

use rusqlite::{params, Connection};

/// One more comment stored for `broadcast_id`.
pub(crate) fn comment_added(
    conn: &Connection,
    broadcast_id: &str,
    now: f64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO recording_stats (broadcast_id, comments, last_change) VALUES (?1, 1, ?2)
         ON CONFLICT(broadcast_id) DO UPDATE SET comments = comments + 1,
             last_change = excluded.last_change",
    )?
    .execute(params![broadcast_id, now])?;
    Ok(())
}

/// A like sample stored: the highest count so far (an unknown count changes nothing).
pub(crate) fn likes_seen(
    conn: &Connection,
    broadcast_id: &str,
    likes: Option<i64>,
    now: f64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO recording_stats (broadcast_id, likes, last_change) VALUES (?1, ?2, ?3)
         ON CONFLICT(broadcast_id) DO UPDATE SET
             likes = CASE WHEN excluded.likes IS NULL THEN likes
                          WHEN likes IS NULL OR excluded.likes > likes THEN excluded.likes
                          ELSE likes END,
             last_change = excluded.last_change",
    )?
    .execute(params![broadcast_id, likes, now])?;
    Ok(())
}

/// A viewer sample stored: the peak so far.
pub(crate) fn viewers_seen(
    conn: &Connection,
    broadcast_id: &str,
    viewers: Option<f64>,
    now: f64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO recording_stats (broadcast_id, peak_viewers, last_change) VALUES (?1, ?2, ?3)
         ON CONFLICT(broadcast_id) DO UPDATE SET
             peak_viewers = CASE WHEN excluded.peak_viewers IS NULL THEN peak_viewers
                                 WHEN peak_viewers IS NULL OR excluded.peak_viewers > peak_viewers
                                 THEN excluded.peak_viewers
                                 ELSE peak_viewers END,
             last_change = excluded.last_change",
    )?
    .execute(params![broadcast_id, viewers, now])?;
    Ok(())
}
