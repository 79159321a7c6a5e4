//! The PostgreSQL catalog against a real server (scripts/test-postgres): the same writes give
//! the same answers as SQLite, a newer schema is refused, bad URLs fail clearly without the
//! password, and the writer loses nothing while the server is down.

use std::time::Duration;

use iglive::query::ListFilter;
use iglive::{
    AccountRow, BroadcastRow, BroadcastStatus, Catalog, CommentRow, LikeSample, MergeState,
    PgCatalog, PostgresUrl, RecordingFacts, RecordingRow, RecordingState, StatusSource, Store,
    ViewerSample, Write,
};

use crate::support::postgres;

/// One of every kind of write, with the repeats and unknowns the upserts must handle.
fn writes() -> Vec<Write> {
    let mut w = vec![
        Write::Account(AccountRow {
            user_id: "100".into(),
            username: Some("first.name".into()),
            full_name: Some("First Name".into()),
            is_verified: Some(true),
            label: Some("friend".into()),
        }),
        Write::Account(AccountRow {
            user_id: "100".into(),
            username: None,
            full_name: None,
            is_verified: None,
            label: None,
        }),
        Write::Account(AccountRow {
            user_id: "200".into(),
            username: Some("second".into()),
            ..Default::default()
        }),
    ];
    for (id, owner, t) in [
        ("b1", "100", 1_700_000_000.0),
        ("b2", "200", 1_700_050_000.0),
    ] {
        w.push(Write::Broadcast(BroadcastRow {
            broadcast_id: id.into(),
            user_id: owner.into(),
            username: None,
            status: Some(BroadcastStatus::parse("active")),
            published_time: Some(t),
            detected_at: Some(t + 3.0),
            dash_url: Some(format!("http://cdn.test/{id}.mpd")),
            raw_json: Some(r#"{"broadcast_message":"hello there"}"#.into()),
            via: Some(format!(r#"[{{"user_id":"{owner}","username":null}}]"#)),
            ..Default::default()
        }));
        w.push(Write::Recording(RecordingRow {
            started_at: Some(t + 4.0),
            folder: Some(format!("/rec/{id}")),
            ..RecordingRow::new(id, RecordingState::Recording)
        }));
        for s in ["active", "active", "interrupted", "active"] {
            w.push(Write::Status {
                broadcast_id: id.into(),
                status: BroadcastStatus::parse(s),
                at: t + w.len() as f64,
                source: StatusSource::Heartbeat,
            });
        }
    }
    for i in 0..30u32 {
        let t = 1_700_000_010.0 + i as f64;
        w.push(Write::Viewer(ViewerSample {
            broadcast_id: "b1".into(),
            ts: t,
            viewer_count: Some((i * 7 % 40) as f64),
            total_unique_viewer_count: Some(i as i64 * 3),
            broadcast_status: Some(BroadcastStatus::parse("active")),
            ..Default::default()
        }));
        w.push(Write::Like(LikeSample {
            broadcast_id: "b1".into(),
            ts: t,
            likes: (i % 5 != 0).then_some(i as i64 * 10),
            burst_likes: Some(i as i64),
            offset_s: None,
            source: "live".into(),
        }));
        // Every comment twice (an overlapping page): stored and counted once.
        for _ in 0..2 {
            w.push(Write::Comment(CommentRow {
                broadcast_id: if i % 3 == 0 { "b2" } else { "b1" }.into(),
                pk: format!("{}", 9 + i * 11),
                user_id: Some(format!("u{}", i % 4)),
                username: Some(format!("viewer{}", i % 4)),
                text: format!("comment {i} café 你好 🔥"),
                created_at: t + (i % 2) as f64,
                offset_s: None,
                kind: "comment".into(),
                source: "live".into(),
                raw_json: format!(r#"{{"pk":"{i}"}}"#),
            }));
        }
    }
    w.push(Write::Like(LikeSample {
        broadcast_id: "b1".into(),
        ts: 5.0,
        likes: Some(999),
        burst_likes: None,
        offset_s: Some(5.0),
        source: "post_live".into(),
    }));
    w.push(Write::Cursor {
        broadcast_id: "b1".into(),
        name: "last_comment_ts".into(),
        value: "1".into(),
    });
    w.push(Write::Cursor {
        broadcast_id: "b1".into(),
        name: "last_comment_ts".into(),
        value: "1700000040".into(),
    });
    w.push(Write::Offsets {
        broadcast_id: "b1".into(),
        video_start: 1_700_000_012.5,
    });
    w.push(Write::Recording(RecordingRow {
        finished_at: Some(1_700_000_100.0),
        duration_s: Some(88.5),
        video: Some("/rec/b1/video.mp4".into()),
        segments_expected: Some(44),
        segments_captured: Some(43),
        segments_missing: Some(1),
        missing_ranges: Some("[[10,11]]".into()),
        bytes_captured: Some(123_456_789_012),
        first_segment_t: Some(42),
        rewind_used: Some(true),
        quality: Some("720p".into()),
        merge_state: Some(MergeState::Pending),
        merge_deadline: Some(1_700_009_000.0),
        ..RecordingRow::new("b1", RecordingState::Finished)
    }));
    w.push(Write::Merge {
        broadcast_id: "b1".into(),
        state: MergeState::Pending,
    });
    w
}

async fn fill(catalog: &Catalog) {
    postgres::write_all(catalog, writes()).await;
}

/// Every read of the interface, as comparable text.
async fn answers(c: &Catalog) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut put = |what: &str, v: String| out.push((what.to_string(), v));
    put(
        "list",
        format!(
            "{:?}",
            c.list_recordings(&ListFilter::default())
                .await
                .expect("list")
        ),
    );
    for account in ["first.name", "friend", "200", "nobody"] {
        let f = ListFilter {
            account: Some(account.into()),
            since: None,
        };
        put(
            account,
            format!("{:?}", c.list_recordings(&f).await.expect("list")),
        );
    }
    let since = ListFilter {
        account: None,
        since: Some(1_700_010_000.0),
    };
    put(
        "since",
        format!("{:?}", c.list_recordings(&since).await.expect("since")),
    );
    for id in ["b1", "b2", "missing"] {
        put(
            "recording",
            format!("{:?}", c.recording(id).await.expect("show")),
        );
        put(
            "comments",
            format!("{:?}", c.comments(id).await.expect("comments")),
        );
        put("likes", format!("{:?}", c.likes(id).await.expect("likes")));
        put(
            "viewers",
            format!("{:?}", c.viewers(id).await.expect("viewers")),
        );
        put(
            "known",
            format!("{:?}", c.broadcast_known(id).await.expect("known")),
        );
        put(
            "merge",
            format!("{:?}", c.merge_facts(id).await.expect("merge")),
        );
        let facts = RecordingFacts::load_from(c, id).await.expect("facts");
        put("facts", format!("{:?}", facts.map(|f| f.broadcast_json())));
    }
    put(
        "cursor",
        format!(
            "{:?}",
            c.cursor("b1", "last_comment_ts").await.expect("cursor")
        ),
    );
    put(
        "no cursor",
        format!("{:?}", c.cursor("b2", "x").await.expect("cursor")),
    );
    let mut ids: Vec<String> = c.broadcast_ids().await.expect("ids").into_iter().collect();
    ids.sort();
    put("ids", format!("{ids:?}"));
    put(
        "unfinished",
        format!("{:?}", c.unfinished().await.expect("unfinished")),
    );
    put(
        "pending",
        format!("{:?}", c.pending_merges().await.expect("pending")),
    );
    for user in ["100", "200", "300"] {
        put(
            "activity",
            format!("{:?}", c.account_activity(user).await.expect("activity")),
        );
    }
    put(
        "totals",
        format!("{:?}", c.recording_totals().await.expect("totals")),
    );
    out
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run scripts/test-postgres"]
async fn postgres_the_same_writes_give_the_same_answers_as_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = Catalog::from(Store::open(&dir.path().join("iglive.sqlite3")).expect("sqlite"));
    let server = postgres::database("same_answers").await;
    let url = PostgresUrl::parse(&server.url).expect("url");
    let pg = Catalog::Postgres(PgCatalog::open(&url).await.expect("postgres"));
    fill(&sqlite).await;
    fill(&pg).await;
    let (a, b) = (answers(&sqlite).await, answers(&pg).await);
    assert_eq!(a.len(), b.len());
    for ((what, s), (_, p)) in a.iter().zip(&b) {
        assert_eq!(s, p, "{what}: SQLite and PostgreSQL differ");
    }
    // The figures are the ones written, not just equal (the replay's 999 likes count too).
    let b1 = pg.recording("b1").await.expect("b1").expect("b1 exists");
    assert_eq!(
        (b1.comments, b1.likes, b1.peak_viewers),
        (20, Some(999), Some(39.0))
    );
    assert_eq!(b1.status, "finished");
    assert_eq!(pg.comments("b2").await.expect("b2").len(), 10);
    // Opening again applies nothing and keeps the rows.
    let again = PgCatalog::open(&url).await.expect("reopen");
    assert_eq!(
        Catalog::Postgres(again)
            .comments("b1")
            .await
            .expect("b1")
            .len(),
        20
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run scripts/test-postgres"]
async fn postgres_refuses_a_catalog_from_a_newer_iglive() {
    let server = postgres::database("newer").await;
    let raw = server.url.clone();
    let url = PostgresUrl::parse(&raw).expect("url");
    PgCatalog::open(&url).await.expect("first open migrates");
    assert_eq!(
        postgres::scalar(&raw, "SELECT max(version)::bigint FROM iglive_schema").await,
        iglive::PG_SCHEMA_VERSION as i64
    );
    postgres::scalar(
        &raw,
        "UPDATE iglive_schema SET version = 999 RETURNING 0::bigint",
    )
    .await;
    let err = PgCatalog::open(&url).await.expect_err("must refuse");
    let text = err.to_string();
    assert!(
        text.contains("upgrade iglive") && text.contains("999"),
        "{text}"
    );
    assert!(!text.contains(&postgres::password()), "{text}");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run scripts/test-postgres"]
async fn postgres_bad_urls_fail_clearly_without_the_password() {
    let secret = postgres::password();
    let server = postgres::database("bad_urls").await;
    let db = server.url.clone();
    let name = url::Url::parse(&db)
        .expect("url")
        .path()
        .trim_start_matches('/')
        .to_string();
    let wrong = postgres::url_with_password(&name, "Wr0ng-Pa55word-xyz");
    let port = crate::support::daemon::free_port();
    let unreachable = format!("postgres://postgres:{secret}@127.0.0.1:{port}/x");
    let no_db = postgres::url_of("no_such_database_here");
    for (url, expect) in [
        (wrong.as_str(), "check the user and password"),
        (unreachable.as_str(), "reachable"),
        (no_db.as_str(), "create it"),
    ] {
        let parsed = PostgresUrl::parse(url).expect("well-formed");
        let started = std::time::Instant::now();
        let err = PgCatalog::open(&parsed)
            .await
            .expect_err("must fail")
            .to_string();
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "bounded: {err}"
        );
        assert!(err.contains(expect), "{url:?}: {err}");
        assert!(err.contains("postgres://postgres:***@127.0.0.1"), "{err}");
        assert!(
            !err.contains(&secret) && !err.contains("Wr0ng-Pa55word-xyz"),
            "{err}"
        );
    }
    // A config with such a URL: `iglive doctor` says what is wrong, without the password.
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("iglive.toml");
    std::fs::write(dir.path().join("session.json"), iglive::sim::session_json()).expect("session");
    std::fs::write(
        &cfg,
        format!(
            "[instagram]\nsession_file = \"session.json\"\n[[accounts]]\nuser_id = \"1\"\n[cluster]\npostgres_url = \"{wrong}\"\n"
        ),
    )
    .expect("config");
    let out = crate::support::cli::iglive(["doctor", "-c", cfg.to_str().expect("utf-8")], "").await;
    let text = out.all();
    assert!(text.contains("check the user and password"), "{text}");
    assert!(
        !text.contains("Wr0ng-Pa55word-xyz") && !text.contains(&secret),
        "{text}"
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run scripts/test-postgres"]
async fn postgres_writer_retries_while_the_server_is_down_and_loses_nothing() {
    let db = postgres::database_alone("restart").await;
    let raw = db.url.clone();
    let url = PostgresUrl::parse(&raw).expect("url");
    let pg = Catalog::Postgres(PgCatalog::open(&url).await.expect("open"));
    let (writer, thread) = pg.spawn_writer().expect("writer");
    let comment = |pk: u32| {
        Write::Comment(CommentRow {
            broadcast_id: "r1".into(),
            pk: pk.to_string(),
            text: format!("c{pk}"),
            created_at: 1_700_000_000.0 + pk as f64,
            kind: "comment".into(),
            source: "live".into(),
            raw_json: "{}".into(),
            ..Default::default()
        })
    };
    for pk in 0..500 {
        writer.send(comment(pk)).await.expect("send");
    }
    writer.flush().await.expect("flush before");
    let stats = writer.stats().clone();
    let retries = || {
        stats
            .batch_retries
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    tokio::task::spawn_blocking(postgres::stop)
        .await
        .expect("stop");
    // Written while the server is down: the writer's commits fail and are retried.
    let sender = {
        let writer = writer.clone();
        tokio::spawn(async move {
            for pk in 500..1500 {
                writer.send(comment(pk)).await.expect("send");
            }
        })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while retries() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the writer never retried"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!stats.healthy.load(std::sync::atomic::Ordering::Relaxed));
    let last = stats
        .last_error
        .lock()
        .expect("lock")
        .clone()
        .unwrap_or_default();
    assert!(
        last.contains("***") || !last.contains(&postgres::password()),
        "{last}"
    );
    let took = tokio::task::spawn_blocking(postgres::start)
        .await
        .expect("start");
    sender.await.expect("sent");
    tokio::time::timeout(Duration::from_secs(60), writer.flush())
        .await
        .expect("the writer catches up within 60 s of the start")
        .expect("flush after");
    drop(writer);
    tokio::task::spawn_blocking(move || thread.join())
        .await
        .expect("join");
    assert_eq!(pg.comments("r1").await.expect("read").len(), 1500);
    assert_eq!(
        postgres::scalar(
            &raw,
            "SELECT comments FROM recording_stats WHERE broadcast_id = 'r1'"
        )
        .await,
        1500
    );
    assert!(stats.healthy.load(std::sync::atomic::Ordering::Relaxed));
    eprintln!(
        "start took {took:?}; batches {}, retries {}",
        stats.batches.load(std::sync::atomic::Ordering::Relaxed),
        stats
            .batch_retries
            .load(std::sync::atomic::Ordering::Relaxed)
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run scripts/test-postgres"]
async fn postgres_writer_batches_a_burst_into_few_transactions() {
    let server = postgres::database("burst").await;
    let raw = server.url.clone();
    let pg = Catalog::Postgres(
        PgCatalog::open(&PostgresUrl::parse(&raw).expect("url"))
            .await
            .expect("open"),
    );
    let (writer, thread) = pg.spawn_writer().expect("writer");
    const ROWS: u32 = 20_000;
    let started = std::time::Instant::now();
    for pk in 0..ROWS {
        writer
            .send(Write::Comment(CommentRow {
                broadcast_id: "burst".into(),
                pk: pk.to_string(),
                text: format!("burst {pk}"),
                created_at: 1_700_000_000.0 + pk as f64 / 100.0,
                kind: "comment".into(),
                source: "live".into(),
                raw_json: "{}".into(),
                ..Default::default()
            }))
            .await
            .expect("send");
    }
    tokio::time::timeout(Duration::from_secs(120), writer.flush())
        .await
        .expect("20,000 rows within 120 s")
        .expect("flush");
    let took = started.elapsed();
    let stats = writer.stats().clone();
    drop(writer);
    tokio::task::spawn_blocking(move || thread.join())
        .await
        .expect("join");
    let batches = stats.batches.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        stats
            .rows_written
            .load(std::sync::atomic::Ordering::Relaxed),
        ROWS as u64
    );
    assert!(batches <= 200, "{batches} transactions for {ROWS} rows");
    assert_eq!(
        pg.comments("burst").await.expect("read").len(),
        ROWS as usize
    );
    eprintln!(
        "PostgreSQL writer: {ROWS} comments in {took:?} ({:.0} rows/s), {batches} transactions",
        ROWS as f64 / took.as_secs_f64()
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run scripts/test-postgres"]
async fn postgres_a_refused_row_is_skipped_a_nul_is_kept_and_the_rest_of_its_batch_commits() {
    let server = postgres::database("rejected").await;
    let pg = Catalog::Postgres(
        PgCatalog::open(&PostgresUrl::parse(&server.url).expect("url"))
            .await
            .expect("open"),
    );
    // A row the database refuses (class 23), as an operator's own constraint would.
    postgres::execute(
        &server.url,
        "ALTER TABLE comments ADD CONSTRAINT test_refuses CHECK (text <> 'refused')",
    )
    .await;
    let (writer, thread) = pg.spawn_writer().expect("writer");
    for (pk, text) in [
        ("1", "fine"),
        ("2", "refused"),
        ("3", "a NUL \u{0} PostgreSQL text cannot hold"),
        ("4", "also fine"),
    ] {
        writer
            .send(Write::Comment(CommentRow {
                broadcast_id: "rej".into(),
                pk: pk.into(),
                text: text.into(),
                created_at: 1_700_000_000.0,
                kind: "comment".into(),
                source: "live".into(),
                raw_json: "{}".into(),
                ..Default::default()
            }))
            .await
            .expect("send");
    }
    writer.flush().await.expect("flush");
    let stats = writer.stats().clone();
    drop(writer);
    tokio::task::spawn_blocking(move || thread.join())
        .await
        .expect("join");
    let kept: Vec<(String, String)> = pg
        .comments("rej")
        .await
        .expect("read")
        .into_iter()
        .map(|c| (c.pk, c.text))
        .collect();
    let kept: Vec<(&str, &str)> = kept.iter().map(|(p, t)| (&**p, &**t)).collect();
    assert_eq!(
        kept,
        [
            ("1", "fine"),
            ("3", "a NUL \u{FFFD} PostgreSQL text cannot hold"),
            ("4", "also fine")
        ],
        "the refused row skipped, the NUL kept as U+FFFD"
    );
    assert_eq!(
        stats
            .rows_rejected
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert_eq!(
        stats
            .rows_written
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );
    assert_eq!(pg.recording("rej").await.expect("read"), None);
    assert_eq!(
        postgres::scalar(
            &server.url,
            "SELECT comments FROM recording_stats WHERE broadcast_id = 'rej'"
        )
        .await,
        3
    );
}
