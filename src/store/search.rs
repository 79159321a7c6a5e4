//! Full-text search over every recording's chat, on migration 2's two indexes: `comments_fts`
//! (unicode61 with diacritics folded: whole words, `caf` + `*` for a prefix) and
//! `comments_cjk` (trigram, only comments holding Han, kana or Hangul: substrings, since those
//! scripts do not separate words with spaces). A query with a CJK character goes to the
//! trigram index, any other query to the word index; docs/library.md explains why.
//!
//! The writer adds each new comment (`index_comment`); migration 2 indexed the older ones.
//! User text never becomes FTS5 syntax: every term is quoted, and terms of one or two CJK
//! characters (too short for trigrams) become escaped `LIKE` patterns.

use rusqlite::types::Value;
use rusqlite::Connection;
use serde::Serialize;

use super::{CommentRow, StoreError};

/// Longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// Most terms in one query.
pub const MAX_TERMS: usize = 8;

/// Characters whose words are not separated by spaces (or, for Hangul, carry attached
/// particles): Hangul Jamo, kana, Hangul compatibility Jamo, CJK ideographs (extension A,
/// unified, compatibility), Hangul syllables, half-width kana. The same ranges are written as a
/// GLOB class in migration 2 (`schema.rs`); a test keeps them equal.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x11FF
        | 0x3040..=0x30FF
        | 0x3130..=0x318F
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xAC00..=0xD7AF
        | 0xF900..=0xFAFF
        | 0xFF66..=0xFF9F)
}

/// Adds a newly stored comment to the search indexes (the writer calls it in its batch
/// transaction, right after the comment's insert).
pub(crate) fn index_comment(conn: &Connection, c: &CommentRow) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO comments_fts (text, username, bid, broadcast_id, pk)
         VALUES (?1, ?2, ?3, ?3, ?4)",
    )?
    .execute(rusqlite::params![c.text, c.username, c.broadcast_id, c.pk])?;
    if c.text.chars().any(is_cjk) {
        conn.prepare_cached(
            "INSERT INTO comments_cjk (text, username, broadcast_id, pk) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(rusqlite::params![c.text, c.username, c.broadcast_id, c.pk])?;
    }
    Ok(())
}

/// How a query runs, decided from its text alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchPlan {
    /// Every term as a whole word (or a prefix, written `term*`) in `comments_fts`.
    Words { fts: String },
    /// Every term as a substring in `comments_cjk`: terms of three or more characters in one
    /// trigram expression, shorter ones as `LIKE` patterns.
    Substrings {
        fts: Option<String>,
        like: Vec<String>,
    },
}

/// Why a query cannot run, worded for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("the query has no letters or digits to search for")]
    Empty,
    #[error("the query is longer than {MAX_QUERY_CHARS} characters: shorten it")]
    TooLong,
    #[error("the query has more than {MAX_TERMS} words: use fewer")]
    TooManyTerms,
}

fn quoted(term: &str) -> String {
    format!("\"{}\"", term.replace('"', "\"\""))
}

fn like_pattern(term: &str) -> String {
    let mut p = String::from("%");
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// A query as typed, parsed: its terms (each `(text, prefix)`, the `*` removed), all of which
/// must match, and whether it searches substrings (a term holds a CJK character). `plan`
/// turns it into SQLite's FTS5 expressions; the PostgreSQL catalog translates the same terms
/// (`store/postgres/browse.rs`), so both backends read one parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub terms: Vec<(String, bool)>,
    pub substrings: bool,
}

/// Parses a query: terms are separated by white space and all of them must match.
pub fn parse(q: &str) -> Result<Parsed, QueryError> {
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(QueryError::TooLong);
    }
    let terms: Vec<(String, bool)> = q
        .split_whitespace()
        .map(|t| {
            let prefix = t.ends_with('*');
            let clean: String = t
                .trim_end_matches('*')
                .chars()
                .filter(|c| !c.is_control())
                .collect();
            (clean, prefix)
        })
        .filter(|(t, _)| t.chars().any(char::is_alphanumeric))
        .collect();
    if terms.is_empty() {
        return Err(QueryError::Empty);
    }
    if terms.len() > MAX_TERMS {
        return Err(QueryError::TooManyTerms);
    }
    let substrings = terms.iter().any(|(t, _)| t.chars().any(is_cjk));
    Ok(Parsed { terms, substrings })
}

/// Plans a query for SQLite's FTS5 indexes.
pub fn plan(q: &str) -> Result<SearchPlan, QueryError> {
    Ok(parse(q)?.plan())
}

impl Parsed {
    /// The FTS5 plan of these terms.
    pub fn plan(&self) -> SearchPlan {
        let terms = &self.terms;
        if self.substrings {
            let (long, short): (Vec<_>, Vec<_>) =
                terms.iter().partition(|(t, _)| t.chars().count() >= 3);
            let fts = (!long.is_empty()).then(|| {
                long.iter()
                    .map(|(t, _)| quoted(t))
                    .collect::<Vec<_>>()
                    .join(" AND ")
            });
            let like = short.iter().map(|(t, _)| like_pattern(t)).collect();
            return SearchPlan::Substrings { fts, like };
        }
        let fts = terms
            .iter()
            .map(|(t, prefix)| {
                format!(
                    "{{text username}} : {}{}",
                    quoted(t),
                    if *prefix { "*" } else { "" }
                )
            })
            .collect::<Vec<_>>()
            .join(" AND ");
        SearchPlan::Words { fts }
    }
}

/// Lower case with diacritics removed (NFD, combining marks dropped), as FTS5's
/// `remove_diacritics` folds them.
pub fn fold(s: &str) -> String {
    use unicode_normalization::char::is_combining_mark;
    use unicode_normalization::UnicodeNormalization;
    s.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The words of `s` as FTS5's unicode61 tokenizer sees them: runs of letters and digits,
/// folded.
pub fn words(s: &str) -> Vec<String> {
    fold(s)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// A comment's words for the PostgreSQL catalog's search: ` w1 w2 | u1 `, the text's words
/// then the username's, each with a space on both sides, so `LIKE '% w %'` finds a whole
/// word, `'% w%'` a prefix, and `'% w1 w2 %'` a run of words, never across the two columns.
pub fn words_column(text: &str, username: Option<&str>) -> String {
    let mut out = String::from(" ");
    for w in words(text) {
        out.push_str(&w);
        out.push(' ');
    }
    out.push_str("| ");
    for w in words(username.unwrap_or_default()) {
        out.push_str(&w);
        out.push(' ');
    }
    out
}

/// The folded text and username (a newline between them, which no term holds) of a comment
/// whose text has a CJK character, for substring search; `None` for the others, as only those
/// are in SQLite's trigram index.
pub fn chars_column(text: &str, username: Option<&str>) -> Option<String> {
    text.chars()
        .any(is_cjk)
        .then(|| format!("{}\n{}", fold(text), fold(username.unwrap_or_default())))
}

/// One comment that matched, with where it belongs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchHit {
    /// Position in the index (newest recorded first); the paging key.
    #[serde(skip)]
    pub rowid: i64,
    pub broadcast_id: String,
    pub pk: String,
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub text: String,
    pub created_at: f64,
    pub offset_s: Option<f64>,
    /// The broadcaster.
    pub owner_user_id: Option<String>,
    pub owner_username: Option<String>,
    /// When the broadcast started (unix time).
    pub started_at: Option<f64>,
}

/// The hits of `plan`, most recently recorded first, after index position `before` (a previous
/// page's last `rowid`), optionally within one broadcast.
pub fn search(
    conn: &Connection,
    plan: &SearchPlan,
    broadcast_id: Option<&str>,
    before: Option<i64>,
    limit: usize,
) -> Result<Vec<SearchHit>, StoreError> {
    let mut args: Vec<Value> = vec![
        Value::Integer(before.unwrap_or(i64::MAX)),
        Value::Integer(limit as i64),
    ];
    let mut arg = |v: Value| {
        args.push(v);
        format!("?{}", args.len())
    };
    let inner = match plan {
        SearchPlan::Words { fts } => {
            let expr = match broadcast_id {
                Some(id) => format!("bid : {} AND ({fts})", quoted(id)),
                None => fts.clone(),
            };
            format!(
                "SELECT rowid, broadcast_id, pk FROM comments_fts
                 WHERE comments_fts MATCH {} AND rowid < ?1 ORDER BY rowid DESC LIMIT ?2",
                arg(Value::Text(expr))
            )
        }
        SearchPlan::Substrings { fts, like } => {
            let mut conds = Vec::new();
            if let Some(f) = fts {
                conds.push(format!(
                    "comments_cjk MATCH {}",
                    arg(Value::Text(f.clone()))
                ));
            }
            for p in like {
                conds.push(format!(
                    "(text LIKE {0} ESCAPE '\\' OR username LIKE {0} ESCAPE '\\')",
                    arg(Value::Text(p.clone()))
                ));
            }
            if let Some(id) = broadcast_id {
                conds.push(format!("broadcast_id = {}", arg(Value::Text(id.into()))));
            }
            conds.push("rowid < ?1".into());
            format!(
                "SELECT rowid, broadcast_id, pk FROM comments_cjk WHERE {}
                 ORDER BY rowid DESC LIMIT ?2",
                conds.join(" AND ")
            )
        }
    };
    let sql = format!(
        "SELECT h.rowid, c.broadcast_id, c.pk, c.user_id, c.username, c.text, c.created_at,
                c.offset_s, b.user_id, coalesce(b.username, a.username),
                coalesce(b.published_time, r.started_at)
         FROM ({inner}) h
         JOIN comments c ON c.broadcast_id = h.broadcast_id AND c.pk = h.pk
         LEFT JOIN broadcasts b ON b.broadcast_id = c.broadcast_id
         LEFT JOIN accounts a ON a.user_id = b.user_id
         LEFT JOIN recordings r ON r.broadcast_id = c.broadcast_id
         ORDER BY h.rowid DESC"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(args), |r| {
            Ok(SearchHit {
                rowid: r.get(0)?,
                broadcast_id: r.get(1)?,
                pk: r.get(2)?,
                user_id: r.get(3)?,
                username: r.get(4)?,
                text: r.get(5)?,
                created_at: r.get(6)?,
                offset_s: r.get(7)?,
                owner_user_id: r.get(8)?,
                owner_username: r.get(9)?,
                started_at: r.get(10)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_and_cannot_inject_syntax() {
        let p = plan("Café \"OR\" NEAR(x) nic*").expect("plan");
        assert_eq!(
            p,
            SearchPlan::Words {
                fts: "{text username} : \"Café\" AND {text username} : \"\"\"OR\"\"\" AND \
                      {text username} : \"NEAR(x)\" AND {text username} : \"nic\"*"
                    .into()
            }
        );
        assert_eq!(plan("  !!! ... "), Err(QueryError::Empty));
        assert_eq!(plan(&"a".repeat(201)), Err(QueryError::TooLong));
        assert_eq!(plan("a b c d e f g h i"), Err(QueryError::TooManyTerms));
    }

    #[test]
    fn cjk_terms_become_substrings() {
        assert_eq!(
            plan("你好 世界和平 50%_off").expect("plan"),
            SearchPlan::Substrings {
                fts: Some("\"世界和平\" AND \"50%_off\"".into()),
                like: vec!["%你好%".into()],
            }
        );
        assert_eq!(
            plan("草 a_").expect("plan"),
            SearchPlan::Substrings {
                fts: None,
                like: vec!["%草%".into(), "%a\\_%".into()],
            }
        );
        assert!(matches!(
            plan("친구").expect("plan"),
            SearchPlan::Substrings { .. }
        ));
    }

    #[test]
    fn the_cjk_ranges_match_the_migration_glob() {
        let conn = Connection::open_in_memory().expect("memory db");
        let glob = super::super::schema::cjk_glob_for_tests();
        for c in [
            'a', 'é', 'ß', 'я', 'م', '🔥', 'ᄀ', 'ᇿ', '぀', 'ヿ', '㄰', '㆏', '㐀', '䶿', '一', '鿿',
            '가', '힯', '豈', '﫿', 'ｦ', 'ﾟ', '\u{10ff}', '\u{1200}', '\u{303f}', '\u{3100}',
            '\u{ff65}', '\u{ffa0}', '\u{d7b0}',
        ] {
            let sql: bool = conn
                .query_row("SELECT ?1 GLOB ?2", [c.to_string(), glob.clone()], |r| {
                    r.get(0)
                })
                .expect("glob");
            assert_eq!(sql, is_cjk(c), "{c:?} U+{:04X}", c as u32);
        }
    }
}
