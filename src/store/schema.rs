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
