//! Paged read queries behind the library (web app and REST API): recordings filtered and sorted
//! with keyset paging, one recording's comments, likes and viewer samples page by page, the
//! accounts with their last live, and the figures of recordings in progress. Every page is
//! one indexed query, whatever the size of the archive.

use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::query::{
    comment_export, summary, CommentExport, RecordingSummary, SUMMARY_COLUMNS, SUMMARY_JOINS,
};
use super::StoreError;

/// What recordings can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    Started,
    Duration,
    Comments,
    PeakViewers,
    Likes,
    Account,
}

impl SortKey {
    pub const ALL: [SortKey; 6] = [
        SortKey::Started,
        SortKey::Duration,
        SortKey::Comments,
        SortKey::PeakViewers,
        SortKey::Likes,
        SortKey::Account,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Started => "started",
            SortKey::Duration => "duration",
            SortKey::Comments => "comments",
            SortKey::PeakViewers => "peak_viewers",
            SortKey::Likes => "likes",
            SortKey::Account => "account",
        }
    }

    pub fn parse(s: &str) -> Option<SortKey> {
        SortKey::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The key as SQL, never NULL (unknown figures sort as -1), so keyset paging is exact.
    fn expr(self) -> &'static str {
        match self {
            SortKey::Started => "coalesce(b.published_time, r.started_at, 0)",
            SortKey::Duration => "coalesce(r.duration_s, -1)",
            SortKey::Comments => "coalesce(s.comments, 0)",
            SortKey::PeakViewers => "coalesce(s.peak_viewers, -1)",
            SortKey::Likes => "coalesce(s.likes, -1)",
            SortKey::Account => "lower(coalesce(b.username, a.username, b.user_id))",
        }
    }
}

/// A sort key's value at a page boundary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KeyValue {
    Number(f64),
    Text(String),
}

impl KeyValue {
    fn sql(&self) -> Value {
        match self {
            KeyValue::Number(n) => Value::Real(*n),
            KeyValue::Text(s) => Value::Text(s.clone()),
        }
    }
}

/// Where a page of recordings ends: its last row's sort key and broadcast id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingKey {
    pub key: KeyValue,
    pub broadcast_id: String,
}

/// Which recordings to list.
#[derive(Debug, Clone, Default)]
pub struct BrowseFilter {
    /// A user id, username or configured label.
    pub account: Option<String>,
    /// Recording states (`recordings.state`); empty means all.
    pub states: Vec<String>,
    /// Started at or after (unix time).
    pub since: Option<f64>,
    /// Started before (unix time).
    pub until: Option<f64>,
}

/// One recording with what the library shows beyond `iglive list --json`.
#[derive(Debug, Clone, PartialEq)]
pub struct BrowseRow {
    pub summary: RecordingSummary,
    pub label: Option<String>,
    pub bytes_captured: i64,
    /// Unix time of the last change to the recording, its broadcast or its engagement.
    pub last_update: f64,
    pub key: KeyValue,
}

/// The extra columns after `SUMMARY_COLUMNS` (indexes 19..).
const EXTRA_COLUMNS: &str = "a.label, r.bytes_captured,
    max(r.updated_at, b.updated_at, coalesce(s.last_change, 0))";

fn browse_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<BrowseRow> {
    let key = match r.get_ref(22)? {
        rusqlite::types::ValueRef::Text(t) => KeyValue::Text(String::from_utf8_lossy(t).into()),
        v => KeyValue::Number(v.as_f64().or_else(|_| v.as_i64().map(|i| i as f64))?),
    };
    Ok(BrowseRow {
        summary: summary(r)?,
        label: r.get(19)?,
        bytes_captured: r.get(20)?,
        last_update: r.get(21)?,
        key,
    })
}

/// A page of recordings and the key to continue after it (`None` on the last page).
///
/// Two steps in one statement: the page's ids are chosen on narrow rows (only the tables the
/// sort and the filters need), then only those rows are read in full, so a page costs one
/// pass over the recordings' keys, not over their every column.
pub fn recordings(
    conn: &Connection,
    filter: &BrowseFilter,
    sort: SortKey,
    descending: bool,
    after: Option<&RecordingKey>,
    limit: usize,
) -> Result<(Vec<BrowseRow>, Option<RecordingKey>), StoreError> {
    let expr = sort.expr();
    let mut args: Vec<Value> = Vec::new();
    let mut arg = |v: Value| {
        args.push(v);
        format!("?{}", args.len())
    };
    let mut conds: Vec<String> = Vec::new();
    if let Some(a) = &filter.account {
        let p = arg(Value::Text(a.clone()));
        conds.push(format!(
            "(b.user_id = {p} OR coalesce(b.username, a.username) = {p} OR a.label = {p})"
        ));
    }
    if !filter.states.is_empty() {
        let ps: Vec<String> = filter
            .states
            .iter()
            .map(|s| arg(Value::Text(s.clone())))
            .collect();
        conds.push(format!("r.state IN ({})", ps.join(", ")));
    }
    if let Some(t) = filter.since {
        conds.push(format!(
            "coalesce(b.published_time, r.started_at) >= {}",
            arg(Value::Real(t))
        ));
    }
    if let Some(t) = filter.until {
        conds.push(format!(
            "coalesce(b.published_time, r.started_at) < {}",
            arg(Value::Real(t))
        ));
    }
    let cmp = if descending { "<" } else { ">" };
    if let Some(k) = after {
        let (pk, pid) = (arg(k.key.sql()), arg(Value::Text(k.broadcast_id.clone())));
        conds.push(format!("({expr}, r.broadcast_id) {cmp} ({pk}, {pid})"));
    }
    let dir = if descending { "DESC" } else { "ASC" };
    let limit_arg = arg(Value::Integer(limit as i64 + 1));
    let mut joins = String::from("JOIN broadcasts b ON b.broadcast_id = r.broadcast_id");
    if filter.account.is_some() || sort == SortKey::Account {
        joins.push_str(" LEFT JOIN accounts a ON a.user_id = b.user_id");
    }
    if matches!(
        sort,
        SortKey::Comments | SortKey::PeakViewers | SortKey::Likes
    ) {
        joins.push_str(" LEFT JOIN recording_stats s ON s.broadcast_id = r.broadcast_id");
    }
    let sql = format!(
        "WITH page AS (
             SELECT r.broadcast_id AS id, {expr} AS k FROM recordings r {joins}
             {} ORDER BY k {dir}, id {dir} LIMIT {limit_arg})
         SELECT {SUMMARY_COLUMNS}, {EXTRA_COLUMNS}, page.k
         FROM page JOIN recordings r ON r.broadcast_id = page.id {SUMMARY_JOINS}
         ORDER BY page.k {dir}, page.id {dir}",
        if conds.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conds.join(" AND "))
        }
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt
        .query_map(rusqlite::params_from_iter(args), browse_row)?
        .collect::<Result<Vec<_>, _>>()?;
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|r| RecordingKey {
            key: r.key.clone(),
            broadcast_id: r.summary.broadcast_id.clone(),
        })
    } else {
        None
    };
    Ok((rows, next))
}

/// One recording as the library shows it.
pub fn recording(conn: &Connection, broadcast_id: &str) -> Result<Option<BrowseRow>, StoreError> {
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS}, {EXTRA_COLUMNS}, 0 FROM recordings r {SUMMARY_JOINS}
         WHERE r.broadcast_id = ?1"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![broadcast_id], browse_row)
        .optional()?)
}

/// Where a page of comments ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommentKey {
    pub created_at: f64,
    pub pk: String,
}

/// A page of one broadcast's comments in time order (as `iglive export` orders them), after
/// `after`, from `from_offset` seconds into the video when given.
pub fn comments(
    conn: &Connection,
    broadcast_id: &str,
    after: Option<&CommentKey>,
    from_offset: Option<f64>,
    limit: usize,
) -> Result<(Vec<CommentExport>, Option<CommentKey>), StoreError> {
    let (c, l, p) = match after {
        Some(k) => (k.created_at, k.pk.len() as i64, k.pk.clone()),
        None => (f64::MIN, -1, String::new()),
    };
    let mut stmt = conn.prepare_cached(
        "SELECT pk, user_id, username, text, created_at, offset_s FROM comments
         WHERE broadcast_id = ?1 AND created_at >= ?2
           AND (created_at > ?2 OR (length(pk), pk) > (?3, ?4))
           AND (?5 IS NULL OR coalesce(offset_s, 0) >= ?5)
         ORDER BY created_at, length(pk), pk LIMIT ?6",
    )?;
    let mut rows = stmt
        .query_map(
            params![broadcast_id, c, l, p, from_offset, limit as i64 + 1],
            comment_export,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|r| CommentKey {
            created_at: r.created_at,
            pk: r.pk.clone(),
        })
    } else {
        None
    };
    Ok((rows, next))
}

/// The newest comments of a broadcast, newest last.
pub fn latest_comments(
    conn: &Connection,
    broadcast_id: &str,
    n: usize,
) -> Result<Vec<CommentExport>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT pk, user_id, username, text, created_at, offset_s FROM comments
         WHERE broadcast_id = ?1 ORDER BY created_at DESC, length(pk) DESC, pk DESC LIMIT ?2",
    )?;
    let mut rows = stmt
        .query_map(params![broadcast_id, n as i64], comment_export)?
        .collect::<Result<Vec<_>, _>>()?;
    rows.reverse();
    Ok(rows)
}

/// Where a page of samples (likes or viewers) ends: its last row's time and id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleKey {
    pub ts: f64,
    pub id: i64,
}

/// One like-count sample (live polling).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LikePoint {
    pub ts: f64,
    pub likes: Option<i64>,
    pub burst_likes: Option<i64>,
    pub offset_s: Option<f64>,
}

/// One heartbeat's viewer count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ViewerPoint {
    pub ts: f64,
    pub viewer_count: Option<f64>,
    pub total_unique_viewer_count: Option<i64>,
    pub offset_s: Option<f64>,
}

fn sample_page<T>(
    conn: &Connection,
    sql: &str,
    broadcast_id: &str,
    after: Option<&SampleKey>,
    limit: usize,
    map: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<(Vec<T>, Option<SampleKey>), StoreError> {
    let (ts, id) = after.map(|k| (k.ts, k.id)).unwrap_or((f64::MIN, i64::MIN));
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt
        .query_map(params![broadcast_id, ts, id, limit as i64 + 1], |r| {
            Ok((
                SampleKey {
                    ts: r.get(0)?,
                    id: r.get(1)?,
                },
                map(r)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|(k, _)| k.clone())
    } else {
        None
    };
    Ok((rows.into_iter().map(|(_, v)| v).collect(), next))
}

/// A page of a broadcast's live like counts in time order.
pub fn likes(
    conn: &Connection,
    broadcast_id: &str,
    after: Option<&SampleKey>,
    limit: usize,
) -> Result<(Vec<LikePoint>, Option<SampleKey>), StoreError> {
    sample_page(
        conn,
        "SELECT ts, id, likes, burst_likes, offset_s FROM like_samples
         WHERE broadcast_id = ?1 AND source = 'live' AND (ts, id) > (?2, ?3)
         ORDER BY ts, id LIMIT ?4",
        broadcast_id,
        after,
        limit,
        |r| {
            Ok(LikePoint {
                ts: r.get(0)?,
                likes: r.get(2)?,
                burst_likes: r.get(3)?,
                offset_s: r.get(4)?,
            })
        },
    )
}

/// A page of a broadcast's viewer counts in time order.
pub fn viewers(
    conn: &Connection,
    broadcast_id: &str,
    after: Option<&SampleKey>,
    limit: usize,
) -> Result<(Vec<ViewerPoint>, Option<SampleKey>), StoreError> {
    sample_page(
        conn,
        "SELECT ts, id, viewer_count, total_unique_viewer_count, offset_s FROM viewer_samples
         WHERE broadcast_id = ?1 AND (ts, id) > (?2, ?3)
         ORDER BY ts, id LIMIT ?4",
        broadcast_id,
        after,
        limit,
        |r| {
            Ok(ViewerPoint {
                ts: r.get(0)?,
                viewer_count: r.get(2)?,
                total_unique_viewer_count: r.get(3)?,
                offset_s: r.get(4)?,
            })
        },
    )
}

/// The last viewer count a broadcast's heartbeat reported.
pub fn current_viewers(conn: &Connection, broadcast_id: &str) -> Result<Option<f64>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT viewer_count FROM viewer_samples WHERE broadcast_id = ?1
             ORDER BY ts DESC LIMIT 1",
        )?
        .query_row(params![broadcast_id], |r| r.get(0))
        .optional()?
        .flatten())
}

/// An account the database knows, with its recordings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountSummary {
    pub user_id: String,
    pub username: Option<String>,
    pub full_name: Option<String>,
    pub is_verified: Option<bool>,
    pub label: Option<String>,
    pub recordings: i64,
    /// When its last recorded broadcast started (unix time).
    pub last_live_at: Option<f64>,
    pub last_broadcast_id: Option<String>,
}

/// Every account that is in the `accounts` table or owns a recording.
pub fn accounts(conn: &Connection) -> Result<Vec<AccountSummary>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "WITH rec AS (
             SELECT b.user_id AS user_id, count(*) AS n,
                    max(coalesce(b.published_time, r.started_at)) AS last_at,
                    max(b.username) AS username
             FROM recordings r JOIN broadcasts b ON b.broadcast_id = r.broadcast_id
             GROUP BY b.user_id),
         ids AS (SELECT user_id FROM accounts UNION SELECT user_id FROM rec)
         SELECT ids.user_id, coalesce(a.username, rec.username), a.full_name, a.is_verified,
                a.label, coalesce(rec.n, 0), rec.last_at,
                (SELECT b2.broadcast_id FROM broadcasts b2 JOIN recordings r2
                   ON r2.broadcast_id = b2.broadcast_id
                 WHERE b2.user_id = ids.user_id
                 ORDER BY coalesce(b2.published_time, r2.started_at) DESC LIMIT 1)
         FROM ids LEFT JOIN accounts a ON a.user_id = ids.user_id
         LEFT JOIN rec ON rec.user_id = ids.user_id
         ORDER BY lower(coalesce(a.username, rec.username, ids.user_id))",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok(AccountSummary {
                user_id: r.get(0)?,
                username: r.get(1)?,
                full_name: r.get(2)?,
                is_verified: r.get(3)?,
                label: r.get(4)?,
                recordings: r.get(5)?,
                last_live_at: r.get(6)?,
                last_broadcast_id: r.get(7)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}
