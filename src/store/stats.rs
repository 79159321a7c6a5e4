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
    raise(conn, "likes", broadcast_id, likes.map(|l| l as f64), now)
}

/// A viewer sample stored: the peak so far.
pub(crate) fn viewers_seen(
    conn: &Connection,
    broadcast_id: &str,
    viewers: Option<f64>,
    now: f64,
) -> rusqlite::Result<()> {
    raise(conn, "peak_viewers", broadcast_id, viewers, now)
}

/// Raises `column` to `value` when it is higher (or unknown so far).
fn raise(
    conn: &Connection,
    column: &'static str,
    broadcast_id: &str,
    value: Option<f64>,
    now: f64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(&format!(
        "INSERT INTO recording_stats (broadcast_id, {column}, last_change) VALUES (?1, ?2, ?3)
         ON CONFLICT(broadcast_id) DO UPDATE SET
             {column} = CASE WHEN excluded.{column} IS NULL THEN {column}
                             WHEN {column} IS NULL OR excluded.{column} > {column}
                             THEN excluded.{column}
                             ELSE {column} END,
             last_change = excluded.last_change"
    ))?
    .execute(params![broadcast_id, value, now])?;
    Ok(())
}
