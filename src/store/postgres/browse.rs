//! The library's reads (`store/browse.rs` and `store/search.rs` on SQLite) in PostgreSQL's
//! dialect, returning the same types in the same order with the same keyset cursors.
//!
//! Text is ordered and compared with `COLLATE "C"` (code point order, as SQLite's BINARY
//! collation), whatever the database's locale, and `lower()` under "C" folds ASCII only, as
//! SQLite's does, so the account sort and its cursors agree with SQLite's.
//!
//! Chat search: PostgreSQL has no FTS5, and its own text search (`to_tsvector`) parses words
//! otherwise than FTS5's unicode61 tokenizer (hyphenated words, URLs, e-mail addresses are
//! tokens of their own; no diacritics folding without the `unaccent` extension), so the same
//! query would find other comments. Instead, the writer stores each comment's words as FTS5
//! sees them, folded in Rust by the same rules (`search::words_column`: lower case,
//! diacritics removed, runs of letters and digits, ` w1 w2 | user `), and a term is a `LIKE`
//! on that column: `% w %` a whole word, `% w%` a prefix, `% w1 w2 %` the words of a term
//! such as `NEAR(x)`, which FTS5 reads as a phrase. A query with a CJK character searches
//! substrings of the folded text and username (`search::chars_column`, set only for comments
//! whose text has one, as SQLite's trigram index holds only those). Both are `LIKE '%…%'`,
//! which a pg_trgm GIN index serves when migration 4 could create the extension; without it
//! the search scans the comments (correct, slower). Hits come newest stored first by `seq`,
//! the order of SQLite's FTS5 rowids. The one known difference: SQLite matches CJK terms of
//! one or two characters with `LIKE`, which folds ASCII case only; here they fold as the
//! longer terms do.

use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::query::{comment, summary, SUMMARY_COLUMNS, SUMMARY_JOINS};
use super::PgCatalog;
use crate::store::browse::{
    AccountSummary, BrowseFilter, BrowseRow, CommentKey, KeyValue, LikePoint, RecordingKey,
    SampleKey, SortKey, ViewerPoint,
};
use crate::store::query::CommentExport;
use crate::store::search::{self, Parsed, SearchHit};
use crate::store::StoreError;

/// One owned statement parameter.
type Param = Box<dyn ToSql + Sync + Send>;

/// Statement parameters numbered as they are added.
#[derive(Default)]
struct Args(Vec<Param>);

impl Args {
    fn add(&mut self, v: impl ToSql + Sync + Send + 'static) -> String {
        self.0.push(Box::new(v));
        format!("${}", self.0.len())
    }

    fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.0
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

/// The sort key as SQL (SQLite's `SortKey::expr`), never NULL; numbers as `float8`.
fn key_expr(sort: SortKey) -> &'static str {
    match sort {
        SortKey::Started => "coalesce(b.published_time, r.started_at, 0)",
        SortKey::Duration => "coalesce(r.duration_s, -1)",
        SortKey::Comments => "coalesce(s.comments, 0)::float8",
        SortKey::PeakViewers => "coalesce(s.peak_viewers, -1)",
        SortKey::Likes => "coalesce(s.likes, -1)::float8",
        SortKey::Account => r#"lower(coalesce(b.username, a.username, b.user_id) COLLATE "C")"#,
    }
}

/// How a page boundary limits the rows when its value has the other type than the sort's
/// (a cursor made by hand): SQLite orders every number before every text.
enum Boundary {
    Compare,
    Everything,
    Nothing,
}

fn boundary(sort: SortKey, key: &KeyValue, descending: bool) -> Boundary {
    let text_sort = sort == SortKey::Account;
    match (key, text_sort) {
        (KeyValue::Text(_), true) | (KeyValue::Number(_), false) => Boundary::Compare,
        // Rows are numbers, the boundary a text: every row is below it.
        (KeyValue::Text(_), false) if descending => Boundary::Everything,
        (KeyValue::Text(_), false) => Boundary::Nothing,
        // Rows are texts, the boundary a number: every row is above it.
        (KeyValue::Number(_), true) if descending => Boundary::Nothing,
        (KeyValue::Number(_), true) => Boundary::Everything,
    }
}

fn browse_row(r: &Row, text_key: bool) -> Result<BrowseRow, StoreError> {
    let key = if text_key {
        KeyValue::Text(r.try_get(22)?)
    } else {
        KeyValue::Number(r.try_get(22)?)
    };
    Ok(BrowseRow {
        summary: summary(r)?,
        label: r.try_get(19)?,
        bytes_captured: r.try_get(20)?,
        last_update: r.try_get(21)?,
        key,
    })
}

/// The columns after `SUMMARY_COLUMNS` (indexes 19..21), as SQLite's `EXTRA_COLUMNS`.
const EXTRA_COLUMNS: &str =
    "a.label, r.bytes_captured, greatest(r.updated_at, b.updated_at, coalesce(s.last_change, 0))";

/// The next page's key when `rows` holds one more than `limit` (then dropped).
fn next_page<T, K>(rows: &mut Vec<T>, limit: usize, key: impl Fn(&T) -> K) -> Option<K> {
    if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(key)
    } else {
        None
    }
}

impl PgCatalog {
    /// A page of recordings (`store::browse::recordings`).
    pub(crate) async fn browse_recordings(
        &self,
        filter: &BrowseFilter,
        sort: SortKey,
        descending: bool,
        after: Option<&RecordingKey>,
        limit: usize,
    ) -> Result<(Vec<BrowseRow>, Option<RecordingKey>), StoreError> {
        let expr = key_expr(sort);
        let text_key = sort == SortKey::Account;
        let mut args = Args::default();
        let mut conds: Vec<String> = Vec::new();
        if let Some(a) = &filter.account {
            let p = args.add(a.clone());
            conds.push(format!(
                "(b.user_id = {p}::text OR coalesce(b.username, a.username) = {p}::text \
                 OR a.label = {p}::text)"
            ));
        }
        if !filter.states.is_empty() {
            let p = args.add(filter.states.clone());
            conds.push(format!("r.state = ANY({p}::text[])"));
        }
        if let Some(t) = filter.since {
            let p = args.add(t);
            conds.push(format!(
                "coalesce(b.published_time, r.started_at) >= {p}::float8"
            ));
        }
        if let Some(t) = filter.until {
            let p = args.add(t);
            conds.push(format!(
                "coalesce(b.published_time, r.started_at) < {p}::float8"
            ));
        }
        let cmp = if descending { "<" } else { ">" };
        if let Some(k) = after {
            match boundary(sort, &k.key, descending) {
                Boundary::Compare => {
                    let pk = match &k.key {
                        KeyValue::Number(n) => format!("{}::float8", args.add(*n)),
                        KeyValue::Text(t) => format!("{}::text", args.add(t.clone())),
                    };
                    let pid = args.add(k.broadcast_id.clone());
                    conds.push(format!(
                        r#"({expr}, r.broadcast_id COLLATE "C") {cmp} ({pk}, {pid}::text)"#
                    ));
                }
                Boundary::Everything => {}
                Boundary::Nothing => return Ok((Vec::new(), None)),
            }
        }
        let dir = if descending { "DESC" } else { "ASC" };
        let limit_arg = args.add(limit as i64 + 1);
        let sql = format!(
            r#"WITH page AS (
                 SELECT r.broadcast_id AS id, {expr} AS k
                 FROM recordings r {SUMMARY_JOINS}
                 {} ORDER BY k {dir}, r.broadcast_id COLLATE "C" {dir} LIMIT {limit_arg}::bigint)
             SELECT {SUMMARY_COLUMNS}, {EXTRA_COLUMNS}, page.k
             FROM page JOIN recordings r ON r.broadcast_id = page.id {SUMMARY_JOINS}
             ORDER BY page.k {dir}, page.id COLLATE "C" {dir}"#,
            if conds.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", conds.join(" AND "))
            }
        );
        let mut rows = self
            .rows(&sql, &args.refs())
            .await?
            .iter()
            .map(|r| browse_row(r, text_key))
            .collect::<Result<Vec<_>, _>>()?;
        let next = next_page(&mut rows, limit, |r| RecordingKey {
            key: r.key.clone(),
            broadcast_id: r.summary.broadcast_id.clone(),
        });
        Ok((rows, next))
    }

    /// One recording as the library shows it (`store::browse::recording`).
    pub(crate) async fn browse_recording(
        &self,
        broadcast_id: &str,
    ) -> Result<Option<BrowseRow>, StoreError> {
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS}, {EXTRA_COLUMNS}, 0::float8 FROM recordings r {SUMMARY_JOINS}
             WHERE r.broadcast_id = $1::text"
        );
        self.rows(&sql, &[&broadcast_id])
            .await?
            .first()
            .map(|r| browse_row(r, false))
            .transpose()
    }

    /// A page of one broadcast's comments in time order (`store::browse::comments`).
    pub(crate) async fn browse_comments(
        &self,
        broadcast_id: &str,
        after: Option<&CommentKey>,
        from_offset: Option<f64>,
        limit: usize,
    ) -> Result<(Vec<CommentExport>, Option<CommentKey>), StoreError> {
        let (c, l, p) = match after {
            // Bytes, as SQLite's `browse::comments` binds it (pks are ASCII digits).
            Some(k) => (k.created_at, k.pk.len() as i64, k.pk.clone()),
            None => (f64::MIN, -1, String::new()),
        };
        let mut rows = self
            .rows(
                r#"SELECT pk, user_id, username, text, created_at, offset_s FROM comments
                 WHERE broadcast_id = $1::text AND created_at >= $2::float8
                   AND (created_at > $2::float8
                        OR (length(pk)::bigint, pk COLLATE "C") > ($3::bigint, $4::text))
                   AND ($5::float8 IS NULL OR coalesce(offset_s, 0) >= $5::float8)
                 ORDER BY created_at, length(pk), pk COLLATE "C" LIMIT $6::bigint"#,
                &[&broadcast_id, &c, &l, &p, &from_offset, &(limit as i64 + 1)],
            )
            .await?
            .iter()
            .map(comment)
            .collect::<Result<Vec<_>, _>>()?;
        let next = next_page(&mut rows, limit, |r| CommentKey {
            created_at: r.created_at,
            pk: r.pk.clone(),
        });
        Ok((rows, next))
    }

    /// The newest comments of a broadcast, newest last (`store::browse::latest_comments`).
    pub(crate) async fn latest_comments(
        &self,
        broadcast_id: &str,
        n: usize,
    ) -> Result<Vec<CommentExport>, StoreError> {
        let mut rows = self
            .rows(
                r#"SELECT pk, user_id, username, text, created_at, offset_s FROM comments
                 WHERE broadcast_id = $1::text
                 ORDER BY created_at DESC, length(pk) DESC, pk COLLATE "C" DESC LIMIT $2::bigint"#,
                &[&broadcast_id, &(n as i64)],
            )
            .await?
            .iter()
            .map(comment)
            .collect::<Result<Vec<_>, _>>()?;
        rows.reverse();
        Ok(rows)
    }

    /// A page of samples: `sql` selects `ts, id, …` after `($2, $3)`, limited by `$4`.
    async fn sample_page<T>(
        &self,
        sql: &str,
        broadcast_id: &str,
        after: Option<&SampleKey>,
        limit: usize,
        map: impl Fn(&Row) -> Result<T, StoreError>,
    ) -> Result<(Vec<T>, Option<SampleKey>), StoreError> {
        let (ts, id) = after.map(|k| (k.ts, k.id)).unwrap_or((f64::MIN, i64::MIN));
        let mut rows = self
            .rows(sql, &[&broadcast_id, &ts, &id, &(limit as i64 + 1)])
            .await?
            .iter()
            .map(|r| {
                Ok((
                    SampleKey {
                        ts: r.try_get(0)?,
                        id: r.try_get(1)?,
                    },
                    map(r)?,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let next = next_page(&mut rows, limit, |(k, _)| k.clone());
        Ok((rows.into_iter().map(|(_, v)| v).collect(), next))
    }

    /// A page of live like counts (`store::browse::likes`).
    pub(crate) async fn browse_likes(
        &self,
        broadcast_id: &str,
        after: Option<&SampleKey>,
        limit: usize,
    ) -> Result<(Vec<LikePoint>, Option<SampleKey>), StoreError> {
        self.sample_page(
            "SELECT ts, id, likes, burst_likes, offset_s FROM like_samples
             WHERE broadcast_id = $1::text AND source = 'live'
               AND (ts, id) > ($2::float8, $3::bigint)
             ORDER BY ts, id LIMIT $4::bigint",
            broadcast_id,
            after,
            limit,
            |r| {
                Ok(LikePoint {
                    ts: r.try_get(0)?,
                    likes: r.try_get(2)?,
                    burst_likes: r.try_get(3)?,
                    offset_s: r.try_get(4)?,
                })
            },
        )
        .await
    }

    /// A page of viewer counts (`store::browse::viewers`).
    pub(crate) async fn browse_viewers(
        &self,
        broadcast_id: &str,
        after: Option<&SampleKey>,
        limit: usize,
    ) -> Result<(Vec<ViewerPoint>, Option<SampleKey>), StoreError> {
        self.sample_page(
            "SELECT ts, id, viewer_count, total_unique_viewer_count, offset_s FROM viewer_samples
             WHERE broadcast_id = $1::text AND (ts, id) > ($2::float8, $3::bigint)
             ORDER BY ts, id LIMIT $4::bigint",
            broadcast_id,
            after,
            limit,
            |r| {
                Ok(ViewerPoint {
                    ts: r.try_get(0)?,
                    viewer_count: r.try_get(2)?,
                    total_unique_viewer_count: r.try_get(3)?,
                    offset_s: r.try_get(4)?,
                })
            },
        )
        .await
    }

    /// The last viewer count a broadcast's heartbeat reported.
    pub(crate) async fn current_viewers(
        &self,
        broadcast_id: &str,
    ) -> Result<Option<f64>, StoreError> {
        Ok(self
            .rows(
                "SELECT viewer_count FROM viewer_samples WHERE broadcast_id = $1::text
                 ORDER BY ts DESC LIMIT 1",
                &[&broadcast_id],
            )
            .await?
            .first()
            .map(|r| r.try_get::<_, Option<f64>>(0))
            .transpose()?
            .flatten())
    }

    /// Every account in `accounts` or owning a recording (`store::browse::accounts`).
    pub(crate) async fn browse_accounts(&self) -> Result<Vec<AccountSummary>, StoreError> {
        self.rows(
            r#"WITH rec AS (
                 SELECT b.user_id AS user_id, count(*) AS n,
                        max(coalesce(b.published_time, r.started_at)) AS last_at,
                        max(b.username COLLATE "C") COLLATE "default" AS username
                 FROM recordings r JOIN broadcasts b ON b.broadcast_id = r.broadcast_id
                 GROUP BY b.user_id),
             ids AS (SELECT user_id FROM accounts UNION SELECT user_id FROM rec)
             SELECT ids.user_id, coalesce(a.username, rec.username), a.full_name, a.is_verified,
                    a.label, coalesce(rec.n, 0), rec.last_at,
                    (SELECT b2.broadcast_id FROM broadcasts b2 JOIN recordings r2
                       ON r2.broadcast_id = b2.broadcast_id
                     WHERE b2.user_id = ids.user_id
                     ORDER BY coalesce(b2.published_time, r2.started_at) DESC NULLS LAST LIMIT 1)
             FROM ids LEFT JOIN accounts a ON a.user_id = ids.user_id
             LEFT JOIN rec ON rec.user_id = ids.user_id
             ORDER BY lower(coalesce(a.username, rec.username, ids.user_id) COLLATE "C")"#,
            &[],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(AccountSummary {
                user_id: r.try_get(0)?,
                username: r.try_get(1)?,
                full_name: r.try_get(2)?,
                is_verified: r.try_get(3)?,
                label: r.try_get(4)?,
                recordings: r.try_get(5)?,
                last_live_at: r.try_get(6)?,
                last_broadcast_id: r.try_get(7)?,
            })
        })
        .collect()
    }

    /// The hits of a parsed query, newest stored first, before `seq` `before`
    /// (`store::search::search`; the translation is this module's doc).
    pub(crate) async fn search(
        &self,
        query: &Parsed,
        broadcast_id: Option<&str>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<SearchHit>, StoreError> {
        let mut args = Args::default();
        let before = args.add(before.unwrap_or(i64::MAX));
        let limit = args.add(limit as i64);
        let mut conds = vec![format!("c.seq < {before}::bigint")];
        for p in patterns(query) {
            let column = if query.substrings {
                "c.search_chars"
            } else {
                "c.search_words"
            };
            conds.push(format!(r"{column} LIKE {}::text ESCAPE '\'", args.add(p)));
        }
        if let Some(id) = broadcast_id {
            conds.push(format!(
                "c.broadcast_id = {}::text",
                args.add(id.to_string())
            ));
        }
        let sql = format!(
            "SELECT c.seq, c.broadcast_id, c.pk, c.user_id, c.username, c.text, c.created_at,
                    c.offset_s, b.user_id, coalesce(b.username, a.username),
                    coalesce(b.published_time, r.started_at)
             FROM comments c
             LEFT JOIN broadcasts b ON b.broadcast_id = c.broadcast_id
             LEFT JOIN accounts a ON a.user_id = b.user_id
             LEFT JOIN recordings r ON r.broadcast_id = c.broadcast_id
             WHERE {}
             ORDER BY c.seq DESC LIMIT {limit}::bigint",
            conds.join(" AND ")
        );
        self.rows(&sql, &args.refs())
            .await?
            .iter()
            .map(|r| {
                Ok(SearchHit {
                    rowid: r.try_get(0)?,
                    broadcast_id: r.try_get(1)?,
                    pk: r.try_get(2)?,
                    user_id: r.try_get(3)?,
                    username: r.try_get(4)?,
                    text: r.try_get(5)?,
                    created_at: r.try_get(6)?,
                    offset_s: r.try_get(7)?,
                    owner_user_id: r.try_get(8)?,
                    owner_username: r.try_get(9)?,
                    started_at: r.try_get(10)?,
                })
            })
            .collect()
    }

    /// How many recordings there are and the schema version (the library's `/deps`).
    pub async fn library_status(&self) -> Result<(i64, u32), StoreError> {
        let rows = self
            .rows(
                "SELECT (SELECT count(*) FROM recordings), (SELECT max(version) FROM iglive_schema)",
                &[],
            )
            .await?;
        let row = rows
            .first()
            .ok_or_else(|| StoreError::Other("the catalog answered no row".into()))?;
        let version: i32 = row.try_get(1)?;
        Ok((row.try_get(0)?, version.max(0) as u32))
    }

    /// Fills the search columns of comments stored before migration 4 or copied by
    /// `iglive migrate` (bounded: as many batches as there were such rows at the start).
    pub(super) async fn backfill_search(
        &self,
        client: &tokio_postgres::Client,
    ) -> Result<u64, StoreError> {
        const BATCH: i64 = 1000;
        let err = |e| self.query_error(e);
        let todo: i64 = client
            .query_one(
                "SELECT count(*) FROM comments WHERE search_words IS NULL",
                &[],
            )
            .await
            .map_err(err)?
            .try_get(0)?;
        let mut done = 0u64;
        for _ in 0..=(todo / BATCH) {
            let rows = client
                .query(
                    "SELECT seq, text, username FROM comments WHERE search_words IS NULL
                     ORDER BY seq LIMIT $1::bigint",
                    &[&BATCH],
                )
                .await
                .map_err(err)?;
            if rows.is_empty() {
                break;
            }
            for r in &rows {
                let (seq, text, user): (i64, String, Option<String>) =
                    (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
                client
                    .execute(
                        "UPDATE comments SET search_words = $2::text, search_chars = $3::text
                         WHERE seq = $1::bigint",
                        &[
                            &seq,
                            &search::words_column(&text, user.as_deref()),
                            &search::chars_column(&text, user.as_deref()),
                        ],
                    )
                    .await
                    .map_err(err)?;
                done += 1;
            }
        }
        Ok(done)
    }
}

/// Escapes `LIKE`'s wildcards and its escape character.
fn escaped(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One `LIKE` pattern per term: on `search_words` a whole word, a run of words or a prefix;
/// on `search_chars` a substring.
fn patterns(query: &Parsed) -> Vec<String> {
    query
        .terms
        .iter()
        .map(|(term, prefix)| {
            if query.substrings {
                format!("%{}%", escaped(&search::fold(term)))
            } else {
                let words = escaped(&search::words(term).join(" "));
                if *prefix {
                    format!("% {words}%")
                } else {
                    format!("% {words} %")
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_become_patterns_on_the_folded_columns() {
        let q = search::parse("Café NEAR(x) nic* 100%").expect("parse");
        assert_eq!(
            patterns(&q),
            vec!["% cafe %", "% near x %", "% nic%", "% 100 %"]
        );
        let q = search::parse("你好 50%_off").expect("parse");
        assert_eq!(patterns(&q), vec!["%你好%", "%50\\%\\_off%"]);
        assert_eq!(
            search::words_column("Hello, CAFÉ-au-lait!", Some("Ünder_score")),
            " hello cafe au lait | under score "
        );
        assert_eq!(search::chars_column("no cjk", None), None);
        assert_eq!(
            search::chars_column("Ça 你好", Some("Bob")).as_deref(),
            Some("ca 你好\nbob")
        );
    }

    #[test]
    fn a_boundary_of_the_other_type_orders_as_sqlite() {
        let t = KeyValue::Text("x".into());
        let n = KeyValue::Number(1.0);
        assert!(matches!(
            boundary(SortKey::Started, &t, true),
            Boundary::Everything
        ));
        assert!(matches!(
            boundary(SortKey::Started, &t, false),
            Boundary::Nothing
        ));
        assert!(matches!(
            boundary(SortKey::Account, &n, true),
            Boundary::Nothing
        ));
        assert!(matches!(
            boundary(SortKey::Account, &n, false),
            Boundary::Everything
        ));
        assert!(matches!(
            boundary(SortKey::Account, &t, false),
            Boundary::Compare
        ));
    }
}
