//! The coordination rows on a real server: one node wins a broadcast; a living holder keeps
//! an expired lease until it is abandoned; a silent holder's lease is taken over (and counted);
//! orphans are the unfinished recordings nobody alive holds; leaving frees everything at once.

use std::time::Duration;

use iglive::{
    BroadcastRow, Catalog, Holder, PgCatalog, PostgresUrl, RecordingRow, RecordingState, Write,
};

use crate::support::postgres;

const TTL: Duration = Duration::from_secs(1);

async fn catalog(name: &str) -> (postgres::TestDb, PgCatalog) {
    let db = postgres::database(name).await;
    let pg = PgCatalog::open(&PostgresUrl::parse(&db.url).expect("url"))
        .await
        .expect("catalog");
    (db, pg)
}

/// Unfinished recordings of `ids`, owned by account 77.
async fn unfinished(pg: &PgCatalog, ids: &[&str]) {
    let writes = ids.iter().flat_map(|id| {
        [
            Write::Broadcast(BroadcastRow {
                broadcast_id: id.to_string(),
                user_id: "77".into(),
                detected_at: Some(1_700_000_000.0),
                ..Default::default()
            }),
            Write::Recording(RecordingRow::new(*id, RecordingState::Recording)),
        ]
    });
    postgres::write_all(&Catalog::Postgres(pg.clone()), writes).await;
}

/// Polls until the lease of `id` has been expired for at least `by`.
async fn expired(pg: &PgCatalog, id: &str, by: Duration, keep_alive: &[&str]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        for n in keep_alive {
            pg.heartbeat(n, TTL, &[]).await.expect("heartbeat");
        }
        let lease = pg
            .leases()
            .await
            .expect("leases")
            .into_iter()
            .find(|l| l.broadcast_id == id)
            .expect("a lease");
        if lease.expires_in_s <= -by.as_secs_f64() {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{id} never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run scripts/test-postgres"]
async fn postgres_leases_one_winner_and_a_living_holder_keeps_its_broadcast() {
    let (_db, pg) = catalog("leases_win").await;
    for n in ["a", "b"] {
        pg.register_node(n).await.expect("register");
    }
    assert_eq!(
        pg.acquire("a", TTL, "x", true).await.expect("a"),
        Holder::This
    );
    assert_eq!(
        pg.acquire("b", TTL, "x", true).await.expect("b"),
        Holder::Other("a".into())
    );
    // a renews through its heartbeat, which also says who is alive.
    let beat = pg
        .heartbeat("a", TTL, &["x".to_string()])
        .await
        .expect("beat");
    assert_eq!(beat.nodes, ["a", "b"]);
    assert!(beat.held.contains("x"));
    // a stops renewing x but stays alive: b may not take it while it is merely expired…
    expired(&pg, "x", Duration::from_millis(200), &["a", "b"]).await;
    assert_eq!(
        pg.acquire("b", TTL, "x", true).await.expect("b"),
        Holder::Other("a".into())
    );
    // …only once it is abandoned (expired for three TTLs).
    expired(&pg, "x", TTL * 3, &["a", "b"]).await;
    assert_eq!(
        pg.acquire("b", TTL, "x", true).await.expect("b"),
        Holder::This
    );
    let lease = pg.leases().await.expect("leases");
    assert_eq!((lease[0].node.as_str(), lease[0].takeovers), ("b", 1));
    // a's next heartbeat tells it lost x.
    let beat = pg
        .heartbeat("a", TTL, &["x".to_string()])
        .await
        .expect("beat");
    assert!(!beat.held.contains("x"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run scripts/test-postgres"]
async fn postgres_leases_a_silent_holder_s_recordings_are_orphans_and_leaving_frees_at_once() {
    let (_db, pg) = catalog("leases_orphans").await;
    unfinished(&pg, &["dead1", "left1", "alive1"]).await;
    for n in ["dead", "left", "alive", "b"] {
        pg.register_node(n).await.expect("register");
    }
    for (n, id) in [("dead", "dead1"), ("left", "left1"), ("alive", "alive1")] {
        assert_eq!(
            pg.acquire(n, TTL, id, true).await.expect("acquire"),
            Holder::This
        );
    }
    // "left" stops cleanly: its lease is free at once, its row gone.
    pg.leave("left").await.expect("leave");
    let orphans = pg.orphans("b", TTL, 10).await.expect("orphans");
    let ids: Vec<&str> = orphans.iter().map(|o| o.broadcast_id.as_str()).collect();
    assert_eq!(ids, ["left1"], "{orphans:?}");
    assert_eq!(orphans[0].user_id, "77");
    assert_eq!(
        pg.acquire("b", TTL, "left1", true).await.expect("b"),
        Holder::This
    );
    // "dead" stops heartbeating; "alive" goes on renewing alive1.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let orphans = loop {
        pg.heartbeat("alive", TTL, &["alive1".to_string()])
            .await
            .expect("beat");
        pg.heartbeat("b", TTL, &["left1".to_string()])
            .await
            .expect("beat");
        let o = pg.orphans("b", TTL, 10).await.expect("orphans");
        if !o.is_empty() {
            break o;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "dead1 never orphaned"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let ids: Vec<&str> = orphans.iter().map(|o| o.broadcast_id.as_str()).collect();
    assert_eq!(ids, ["dead1"], "{orphans:?}");
    assert_eq!(orphans[0].holder.as_deref(), Some("dead"));
    let beat = pg.heartbeat("b", TTL, &[]).await.expect("beat");
    assert_eq!(beat.nodes, ["alive", "b"], "dead and left are not alive");
    // Without take-over (a node whose catalog has not answered for a TTL yet) it stays.
    assert_eq!(
        pg.acquire("b", TTL, "dead1", false).await.expect("b"),
        Holder::Other("dead".into())
    );
    assert_eq!(
        pg.acquire("b", TTL, "dead1", true).await.expect("b"),
        Holder::This
    );
    // A finished recording is nobody's orphan, whatever its lease.
    postgres::write_all(
        &Catalog::Postgres(pg.clone()),
        [Write::Recording(RecordingRow::new(
            "alive1",
            RecordingState::Finished,
        ))],
    )
    .await;
    expired(&pg, "alive1", TTL * 4, &["b"]).await;
    assert!(pg.orphans("b", TTL, 10).await.expect("orphans").is_empty());
    // Releasing is the holder's alone.
    pg.release("alive", "dead1").await.expect("release");
    assert!(pg
        .leases()
        .await
        .expect("leases")
        .iter()
        .any(|l| l.broadcast_id == "dead1" && l.node == "b"));
    pg.release("b", "dead1").await.expect("release");
    assert!(!pg
        .leases()
        .await
        .expect("leases")
        .iter()
        .any(|l| l.broadcast_id == "dead1"));
}
