//! A daemon on the PostgreSQL catalog records a live from the simulator end to end, and
//! `iglive migrate` copies the SQLite catalog of a real daemon run with every count equal.

use std::time::Duration;

use iglive::{Catalog, PgCatalog, PostgresUrl, RecordingFacts};

use crate::support::daemon::{wait_until, Harness, FAST_ENGAGEMENT};
use crate::support::postgres;

fn scenario(id: &str) -> String {
    format!(
        r#"
seed = 5
comment_page_cap = 50

[[accounts]]
pk = 6101
username = "pg.node"
followed = true

[[broadcasts]]
id = {id}
owner = 6101
start = 0.5
duration = 30.0
end_status = "stopped"
post_live_after = 1.0
segments = {{ duration_ms = 2000, jitter_ms = 100, base_segments = 4 }}
likes = [[0.0, 0.0], [30.0, 80.0]]
viewers = [[0.0, 5.0], [30.0, 40.0]]

[[broadcasts.comment_streams]]
from = 0.5
to = 29.0
per_second = 2.0
texts = ["hi from postgres", "🔥"]
"#
    )
}

fn config(cluster: &str) -> String {
    format!("{FAST_ENGAGEMENT}\n[[accounts]]\nuser_id = \"6101\"\n{cluster}")
}

/// Polls the catalog until the recording is finished or failed (bounded).
async fn wait_finished(
    c: &Catalog,
    id: &str,
    timeout: Duration,
) -> iglive::query::RecordingSummary {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Ok(Some(r)) = c.recording(id).await {
            if r.status == "finished" || r.status == "failed" {
                return r;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "recording {id} not finished within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run scripts/test-postgres"]
async fn postgres_daemon_records_a_live_end_to_end() {
    let id = "17900000000000601";
    let server = postgres::database("daemon").await;
    let raw = server.url.clone();
    // The URL from a private file, as a deployment keeps it.
    let cluster = "[cluster]\npostgres_url_file = \"pg-url\"\n";
    let h = Harness::start(&scenario(id), 10.0, &config(cluster)).await;
    let url_file = h.dir().join("pg-url");
    std::fs::write(&url_file, format!("{raw}\n")).expect("url file");
    std::fs::set_permissions(
        &url_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .expect("chmod");
    let running = h.run_daemon();
    let catalog = Catalog::Postgres(
        PgCatalog::open(&PostgresUrl::parse(&raw).expect("url"))
            .await
            .expect("catalog"),
    );
    let r = wait_finished(&catalog, id, Duration::from_secs(90)).await;
    assert_eq!(r.status, "finished", "{:?}", r.error);
    running.stop().await;
    // Nothing went to a SQLite file.
    assert!(
        !h.config().storage.database.exists(),
        "no SQLite catalog was made"
    );
    let r = catalog.recording(id).await.expect("read").expect("row");
    assert!(r.comments > 10, "comments stored: {}", r.comments);
    assert_eq!(
        r.comments as usize,
        catalog.comments(id).await.expect("comments").len()
    );
    assert!(r.peak_viewers.is_some() && r.likes.is_some(), "{r:?}");
    assert!(r.segments_captured > 0 && r.segments_missing == 0, "{r:?}");
    let video = r.video.clone().expect("video");
    iglive::probe(std::path::Path::new(&video), Duration::from_secs(30))
        .await
        .expect("a playable video");
    // broadcast.json in the folder was written from the PostgreSQL catalog.
    let folder = std::path::PathBuf::from(r.folder.expect("folder"));
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(folder.join("broadcast.json")).expect("broadcast.json"),
    )
    .expect("json");
    let facts = RecordingFacts::load_from(&catalog, id)
        .await
        .expect("facts")
        .expect("some");
    assert_eq!(doc, facts.broadcast_json());
    assert!(catalog.broadcast_known(id).await.expect("known"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run scripts/test-postgres"]
async fn postgres_migrate_copies_a_real_daemon_catalog() {
    let id = "17900000000000602";
    let h = Harness::start(&scenario(id), 10.0, &config("")).await;
    let running = h.run_daemon();
    wait_until("finished", Duration::from_secs(90), || {
        h.state(id)
            .is_some_and(|s| s == "finished" || s == "failed")
    })
    .await;
    running.stop().await;
    let db = h.config().storage.database;
    let server = postgres::database("migrate").await;
    let raw = server.url.clone();
    let out = crate::support::cli::iglive(
        [
            "migrate",
            "--from",
            db.to_str().expect("utf-8"),
            "--to",
            &raw,
        ],
        "",
    )
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(out.stdout.contains("verified:"), "{}", out.stdout);
    assert!(!out.all().contains(&postgres::password()), "{}", out.all());
    let conn = rusqlite::Connection::open(&db).expect("sqlite");
    for table in [
        "accounts",
        "broadcasts",
        "broadcast_status",
        "recordings",
        "viewer_samples",
        "comments",
        "like_samples",
        "cursors",
        "recording_stats",
    ] {
        let sql = format!("SELECT count(*) FROM {table}");
        let n: i64 = conn.query_row(&sql, [], |r| r.get(0)).expect("count");
        assert_eq!(postgres::scalar(&raw, &sql).await, n, "{table}");
        assert!(
            out.stdout.contains(&format!("  {table}: {n} rows")),
            "{table}: {}",
            out.stdout
        );
        if ["comments", "recordings", "viewer_samples"].contains(&table) {
            assert!(n > 0, "{table} has rows to copy");
        }
    }
    // The copy answers like the original.
    let sqlite = Catalog::from(iglive::Store::open(&db).expect("store"));
    let pg = Catalog::Postgres(
        PgCatalog::open(&PostgresUrl::parse(&raw).expect("url"))
            .await
            .expect("catalog"),
    );
    assert_eq!(
        format!("{:?}", sqlite.recording(id).await.expect("a")),
        format!("{:?}", pg.recording(id).await.expect("b"))
    );
    assert_eq!(
        RecordingFacts::load_from(&sqlite, id)
            .await
            .expect("a")
            .map(|f| f.broadcast_json()),
        RecordingFacts::load_from(&pg, id)
            .await
            .expect("b")
            .map(|f| f.broadcast_json())
    );
    // A second copy into the now non-empty catalog is refused, and changes nothing.
    let again = crate::support::cli::iglive(
        [
            "migrate",
            "--from",
            db.to_str().expect("utf-8"),
            "--to",
            &raw,
        ],
        "",
    )
    .await;
    assert_ne!(again.code, Some(0));
    assert!(
        again.all().contains("empty catalog only"),
        "{}",
        again.all()
    );
    assert!(
        !again.all().contains(&postgres::password()),
        "{}",
        again.all()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run scripts/test-postgres"]
async fn postgres_a_second_daemon_with_the_same_node_name_refuses_to_start() {
    let id = "17900000000000603";
    let server = postgres::database("claim").await;
    // Both default to the host name: one machine's two daemons share it.
    let cluster = format!("[cluster]\npostgres_url = \"{}\"\n", server.url);
    let first = Harness::start(&scenario(id), 10.0, &config(&cluster)).await;
    let running = first.run_daemon();
    let catalog = Catalog::Postgres(
        PgCatalog::open(&PostgresUrl::parse(&server.url).expect("url"))
            .await
            .expect("catalog"),
    );
    // The first daemon is up once it records the live.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !matches!(catalog.recording(id).await, Ok(Some(_))) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first daemon did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let second = Harness::start(&scenario(id), 10.0, &config(&cluster)).await;
    let out =
        crate::support::cli::iglive(["run", "-c", &second.config_path.display().to_string()], "")
            .await;
    running.stop().await;
    assert_ne!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("another iglive daemon is already running on this catalog as node")
            && out.stderr.contains("cluster.node"),
        "{}",
        out.stderr
    );
    let password = server
        .url
        .split(':')
        .nth(2)
        .and_then(|p| p.split('@').next())
        .unwrap_or("");
    assert!(
        !password.is_empty() && !out.stderr.contains(password),
        "the password stays out"
    );
    // Once the first has stopped, the catalog is free again.
    let node = iglive::Config::load(&second.config_path)
        .expect("config")
        .cluster
        .node;
    let claim = catalog
        .claim_node(&node)
        .await
        .expect("free after the stop");
    assert!(claim.is_some());
}
