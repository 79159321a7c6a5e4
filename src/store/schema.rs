//! Versioned migrations, applied at start. `PRAGMA user_version` holds how many have run, so an
//! existing database is brought forward step by step and a new one is built from scratch.

use rusqlite::Connection;

/// Each entry is one migration; never edit a released one, append a new one instead.
const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    r#"
    CREATE TABLE accounts (
        user_id     TEXT PRIMARY KEY,
        username    TEXT,
        full_name   TEXT,
        is_verified INTEGER,
        label       TEXT,
        updated_at  REAL NOT NULL
    );
    CREATE TABLE broadcasts (
        broadcast_id    TEXT PRIMARY KEY,
        user_id         TEXT NOT NULL,
        username        TEXT,
        status          TEXT,
        published_time  REAL,
        detected_at     REAL,
        ended_at        REAL,
        end_reason      TEXT,
        dash_url        TEXT,
        cover_frame_url TEXT,
        raw_json        TEXT,
        updated_at      REAL NOT NULL
    );
    CREATE INDEX broadcasts_by_user ON broadcasts(user_id, published_time);
    CREATE TABLE broadcast_status (
        id           INTEGER PRIMARY KEY,
        broadcast_id TEXT NOT NULL,
        status       TEXT NOT NULL,
        at           REAL NOT NULL,
        source       TEXT NOT NULL
    );
    CREATE INDEX broadcast_status_by_broadcast ON broadcast_status(broadcast_id, at);
    CREATE TABLE recordings (
        broadcast_id       TEXT PRIMARY KEY,
        state              TEXT NOT NULL,
        folder             TEXT,
        video              TEXT,
        started_at         REAL,
        finished_at        REAL,
        error              TEXT,
        duration_s         REAL,
        segments_expected  INTEGER NOT NULL DEFAULT 0,
        segments_captured  INTEGER NOT NULL DEFAULT 0,
        segments_missing   INTEGER NOT NULL DEFAULT 0,
        missing_ranges     TEXT,
        bytes_captured     INTEGER NOT NULL DEFAULT 0,
        first_segment_t    INTEGER,
        rewind_used        INTEGER NOT NULL DEFAULT 0,
        quality            TEXT,
        cut_by_shutdown    INTEGER NOT NULL DEFAULT 0,
        updated_at         REAL NOT NULL
    );
    CREATE INDEX recordings_by_state ON recordings(state);
    CREATE TABLE viewer_samples (
        id                        INTEGER PRIMARY KEY,
        broadcast_id              TEXT NOT NULL,
        ts                        REAL NOT NULL,
        viewer_count              REAL,
        total_unique_viewer_count INTEGER,
        broadcast_status          TEXT,
        offset_to_video_start     INTEGER,
        cobroadcaster_ids         TEXT,
        offset_s                  REAL
    );
    CREATE INDEX viewer_samples_by_broadcast ON viewer_samples(broadcast_id, ts);
    CREATE TABLE comments (
        broadcast_id TEXT NOT NULL,
        pk           TEXT NOT NULL,
        user_id      TEXT,
        username     TEXT,
        text         TEXT NOT NULL,
        created_at   REAL NOT NULL,
        offset_s     REAL,
        kind         TEXT NOT NULL DEFAULT 'comment',
        source       TEXT NOT NULL DEFAULT 'live',
        raw_json     TEXT NOT NULL,
        PRIMARY KEY (broadcast_id, pk)
    ) WITHOUT ROWID;
    CREATE INDEX comments_by_time ON comments(broadcast_id, created_at);
    CREATE TABLE like_samples (
        id           INTEGER PRIMARY KEY,
        broadcast_id TEXT NOT NULL,
        ts           REAL NOT NULL,
        likes        INTEGER,
        burst_likes  INTEGER,
        offset_s     REAL,
        source       TEXT NOT NULL DEFAULT 'live',
        UNIQUE (broadcast_id, source, ts)
    );
    CREATE TABLE cursors (
        broadcast_id TEXT NOT NULL,
        name         TEXT NOT NULL,
        value        TEXT NOT NULL,
        PRIMARY KEY (broadcast_id, name)
    ) WITHOUT ROWID;
    "#,
    // 2: the library (src/library). Per-recording figures, so listing 10,000 recordings never
    // counts 10 million comments, and full-text search over the chat: `comments_fts`
    // (unicode61, diacritics folded) for words in every script, and `comments_cjk` (trigram)
    // holding only comments with Han, kana or Hangul, whose words are not separated by spaces
    // (docs/library.md explains the choice). Built here from the existing rows; from then on
    // the writer keeps them (`search::index_comment`, `stats`): an insert trigger into FTS5
    // would flush its pending index at every statement (a savepoint each), five times slower.
    // Deletes, which iglive never does, are followed by a trigger.
    r#"
    CREATE TABLE recording_stats (
        broadcast_id TEXT PRIMARY KEY,
        comments     INTEGER NOT NULL DEFAULT 0,
        likes        INTEGER,
        peak_viewers REAL,
        last_change  REAL
    ) WITHOUT ROWID;
    INSERT INTO recording_stats (broadcast_id, comments, last_change)
        SELECT broadcast_id, count(*), max(created_at) FROM comments GROUP BY broadcast_id;
    INSERT INTO recording_stats (broadcast_id, likes, last_change)
        SELECT broadcast_id, max(likes), max(ts) FROM like_samples WHERE true GROUP BY broadcast_id
        ON CONFLICT(broadcast_id) DO UPDATE SET likes = excluded.likes,
            last_change = max(coalesce(last_change, 0), excluded.last_change);
    INSERT INTO recording_stats (broadcast_id, peak_viewers, last_change)
        SELECT broadcast_id, max(viewer_count), max(ts) FROM viewer_samples WHERE true GROUP BY broadcast_id
        ON CONFLICT(broadcast_id) DO UPDATE SET peak_viewers = excluded.peak_viewers,
            last_change = max(coalesce(last_change, 0), excluded.last_change);

    -- Covering indexes for the library's paged list: choosing a page reads only these.
    CREATE INDEX recordings_library ON recordings(broadcast_id, started_at, duration_s, state);
    CREATE INDEX broadcasts_library ON broadcasts(broadcast_id, published_time, user_id, username);

    CREATE VIRTUAL TABLE comments_fts USING fts5(
        text, username, bid, broadcast_id UNINDEXED, pk UNINDEXED,
        content = '', contentless_delete = 1, contentless_unindexed = 1,
        tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE VIRTUAL TABLE comments_cjk USING fts5(
        text, username, broadcast_id UNINDEXED, pk UNINDEXED,
        tokenize = 'trigram remove_diacritics 1'
    );
    INSERT INTO comments_fts (text, username, bid, broadcast_id, pk)
        SELECT text, username, broadcast_id, broadcast_id, pk FROM comments ORDER BY created_at;
    INSERT INTO comments_cjk (text, username, broadcast_id, pk)
        SELECT text, username, broadcast_id, pk FROM comments
        WHERE text GLOB '*[ᄀ-ᇿ぀-ヿ㄰-㆏㐀-䶿一-鿿가-힯豈-﫿ｦ-ﾟ]*' ORDER BY created_at;

    CREATE TRIGGER comments_library_delete AFTER DELETE ON comments BEGIN
        UPDATE recording_stats SET comments = max(0, comments - 1),
            last_change = (julianday('now') - 2440587.5) * 86400.0
            WHERE broadcast_id = old.broadcast_id;
        DELETE FROM comments_fts WHERE rowid IN (
            SELECT rowid FROM comments_fts
            WHERE comments_fts MATCH 'bid:"' || replace(old.broadcast_id, '"', '""') || '"'
            AND pk = old.pk);
        DELETE FROM comments_cjk WHERE old.text GLOB '*[ᄀ-ᇿ぀-ヿ㄰-㆏㐀-䶿一-鿿가-힯豈-﫿ｦ-ﾟ]*'
            AND broadcast_id = old.broadcast_id AND pk = old.pk;
    END;
    "#,
    // 3: the watched accounts a broadcast was found through (its owner, guests of it), as a
    // JSON list of `{user_id, username}`; `user_id` stays the broadcast's owner.
    r#"
    ALTER TABLE broadcasts ADD COLUMN via TEXT;
    "#,
    // 4: the engagement merge runs after the folder is finalized (src/recording/merge.rs):
    // where it stands (`pending`, `done`, `gave_up`; NULL when none was wanted), when it gives
    // up (unix time), and where the video starts, so the comments it adds get the same offsets
    // as those finalized before them.
    r#"
    ALTER TABLE recordings ADD COLUMN merge_state TEXT;
    ALTER TABLE recordings ADD COLUMN merge_deadline REAL;
    ALTER TABLE recordings ADD COLUMN video_start REAL;
    CREATE INDEX recordings_by_merge ON recordings(merge_state) WHERE merge_state IS NOT NULL;
    "#,
    // 5: the upload of a finished folder to object storage (src/objects): `pending`, `done`,
    // `failed`; NULL when no object store is configured.
    r#"
    ALTER TABLE recordings ADD COLUMN upload_state TEXT;
    "#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Applies every migration the database has not seen yet, each in its own transaction.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<MigrationReport> {
    // An immediate transaction takes the write lock before reading the version, so two
    // processes starting together (the daemon and `iglive list`) never migrate twice.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let from: u32 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if from > SCHEMA_VERSION {
        return Ok(MigrationReport {
            from,
            to: from,
            newer_than_binary: true,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as u32)?;
    }
    tx.commit()?;
    Ok(MigrationReport {
        from,
        to: SCHEMA_VERSION,
        newer_than_binary: false,
    })
}

/// What `migrate` did, for the start-up log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationReport {
    pub from: u32,
    pub to: u32,
    /// The database was written by a newer iglive: refuse to write to it.
    pub newer_than_binary: bool,
}

/// The GLOB class migration 2 uses to pick comments for the trigram index (every occurrence in
/// it must be the same; `search::is_cjk` must agree with it).
#[cfg(test)]
pub(crate) fn cjk_glob_for_tests() -> String {
    let sql = MIGRATIONS[1];
    let globs: Vec<&str> = sql
        .split("GLOB '")
        .skip(1)
        .filter_map(|s| s.split('\'').next())
        .collect();
    assert_eq!(globs.len(), 2, "two uses of the class in migration 2");
    assert!(globs.iter().all(|g| *g == globs[0]), "{globs:?}");
    globs[0].to_string()
}
