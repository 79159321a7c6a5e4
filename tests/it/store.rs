//! The SQLite store on a real file: migrations and the batched writer.

use iglive::{query, BroadcastStatus, CommentRow, StatusSource, Store, Write, Writer};

fn comment(b: &str, pk: u64) -> Write {
    Write::Comment(CommentRow {
        broadcast_id: b.into(),
        pk: pk.to_string(),
        user_id: Some("42".into()),
        username: Some("someone".into()),
        text: format!("comment {pk} ✨ مرحبا"),
        created_at: 1_700_000_000.0 + (pk / 10) as f64,
        offset_s: None,
        kind: "comment".into(),
        source: "live".into(),
        raw_json: format!("{{\"pk\":\"{pk}\"}}"),
    })
}

fn user_version(store: &Store) -> u32 {
    store
        .connect()
        .expect("connect")
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("user_version")
}

#[test]
fn migrates_an_empty_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sub/iglive.sqlite3");
    let store = Store::open(&path).expect("open");
    assert_eq!(user_version(&store), iglive::SCHEMA_VERSION);
    let mode: String = store
        .connect()
        .expect("connect")
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("journal_mode");
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn reopening_an_existing_database_keeps_its_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("iglive.sqlite3");
    {
        let store = Store::open(&path).expect("open");
        let (w, t) = Writer::spawn(&store).expect("writer");
        w.send(comment("b1", 1)).await.expect("send");
        w.flush().await.expect("flush");
        drop(w);
        t.join();
    }
    let store = Store::open(&path).expect("reopen");
    assert_eq!(user_version(&store), iglive::SCHEMA_VERSION);
    let conn = store.connect().expect("connect");
    assert_eq!(query::comments(&conn, "b1").expect("comments").len(), 1);
}

#[test]
fn refuses_a_database_from_a_newer_iglive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("iglive.sqlite3");
    {
        let conn = rusqlite::Connection::open(&path).expect("open raw");
        conn.pragma_update(None, "user_version", 999)
            .expect("set version");
    }
    let err = Store::open(&path).expect_err("must refuse");
    assert!(err.to_string().contains("upgrade iglive"), "{err}");
}

#[test]
fn migrates_a_database_at_an_older_version() {
    // A database created before any migration ran (user_version 0) with unrelated content.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("iglive.sqlite3");
    {
        let conn = rusqlite::Connection::open(&path).expect("open raw");
        conn.execute_batch("CREATE TABLE notes(x); INSERT INTO notes VALUES (1);")
            .expect("seed");
    }
    let store = Store::open(&path).expect("open");
    assert_eq!(user_version(&store), iglive::SCHEMA_VERSION);
    let n: i64 = store
        .connect()
        .expect("connect")
        .query_row("SELECT count(*) FROM notes", [], |r| r.get(0))
        .expect("notes survive");
    assert_eq!(n, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_writer_under_concurrent_producers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("iglive.sqlite3")).expect("open");
    let (w, thread) = Writer::spawn(&store).expect("writer");
    // 8 producers, 4000 comments each, half of them overlapping with the next producer's:
    // re-read pages must not duplicate a comment.
    let mut tasks = Vec::new();
    for p in 0..8u64 {
        let w = w.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..4000u64 {
                let pk = p * 2000 + i;
                w.send(comment("burst", pk)).await.expect("send");
            }
            w.flush().await.expect("flush");
        }));
    }
    for t in tasks {
        t.await.expect("producer");
    }
    let stats = w.stats().clone();
    drop(w);
    thread.join();
    let conn = store.connect().expect("connect");
    let comments = query::comments(&conn, "burst").expect("comments");
    assert_eq!(comments.len(), 7 * 2000 + 4000);
    let batches = stats.batches.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        (1..32_000).contains(&batches),
        "rows were batched: {batches} batches"
    );
    // Time order holds in the export.
    assert!(comments
        .windows(2)
        .all(|w| w[0].created_at <= w[1].created_at));
}

#[tokio::test]
async fn status_history_records_changes_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("iglive.sqlite3")).expect("open");
    let (w, thread) = Writer::spawn(&store).expect("writer");
    for (i, s) in [
        "active",
        "active",
        "interrupted",
        "active",
        "stopped",
        "stopped",
    ]
    .iter()
    .enumerate()
    {
        w.send(Write::Status {
            broadcast_id: "b".into(),
            status: BroadcastStatus::parse(s),
            at: i as f64,
            source: StatusSource::Heartbeat,
        })
        .await
        .expect("send");
    }
    w.flush().await.expect("flush");
    drop(w);
    thread.join();
    let conn = store.connect().expect("connect");
    let mut stmt = conn
        .prepare("SELECT status FROM broadcast_status WHERE broadcast_id='b' ORDER BY at")
        .expect("prepare");
    let got: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(got, ["active", "interrupted", "active", "stopped"]);
}

#[test]
fn concurrent_first_opens_migrate_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("iglive.sqlite3");
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || Store::open(&path).map(|_| ()).map_err(|e| e.to_string()))
        })
        .collect();
    for t in threads {
        t.join().expect("thread").expect("every open succeeds");
    }
}
