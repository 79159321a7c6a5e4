//! Catalog write throughput: comments from 8 concurrent producers through the one batched
//! writer, into a real SQLite file (1,000,000) and, when `IGLIVE_TEST_POSTGRES_URL` names a
//! server (scripts/bench-cluster starts one), into a real PostgreSQL database (200,000,
//! `PG_TOTAL=…`). Prints rows per second and the p50/p99 time a batch takes from its first
//! row to its commit.
//! Run: `cargo bench --bench writer` (target: at least 50,000 comments per second on SQLite).

#[path = "support/common.rs"]
mod common;

use std::sync::atomic::Ordering;
use std::time::Instant;

#[path = "support/postgres.rs"]
mod postgres;

use iglive::{Catalog, CommentRow, PgCatalog, PostgresUrl, Store, Write, Writer, WriterThread};

const TOTAL: u64 = 1_000_000;
const PG_TOTAL: u64 = 200_000;
const PRODUCERS: u64 = 8;

fn comment(p: u64, per: u64, i: u64) -> Write {
    let pk = 17_000_000_000_000_000 + p * per + i;
    Write::Comment(CommentRow {
        broadcast_id: format!("b{}", p % 2),
        pk: pk.to_string(),
        user_id: Some((1000 + i % 5000).to_string()),
        username: Some(format!("viewer_{}", i % 5000)),
        text: format!("comment number {i} from producer {p} 🎉"),
        created_at: 1_764_000_000.0 + (i / 50) as f64,
        offset_s: Some((i / 50) as f64),
        kind: "comment".into(),
        source: "live".into(),
        raw_json: format!("{{\"pk\":\"{pk}\",\"text\":\"comment number {i}\"}}"),
    })
}

/// Sends `total` comments from the producers, then reads back how many the catalog holds.
fn bench(
    rt: &tokio::runtime::Runtime,
    label: &str,
    catalog: &Catalog,
    writer: Writer,
    thread: WriterThread,
    total: u64,
) {
    writer.stats().record_waits.store(true, Ordering::Relaxed);
    let started = Instant::now();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for p in 0..PRODUCERS {
            let w = writer.clone();
            tasks.push(tokio::spawn(async move {
                let per = total / PRODUCERS;
                for i in 0..per {
                    w.send(comment(p, per, i)).await.expect("send");
                }
                w.flush().await.expect("flush");
            }));
        }
        for t in tasks {
            t.await.expect("producer");
        }
    });
    let elapsed = started.elapsed();
    let stats = writer.stats().clone();
    drop(writer);
    thread.join();
    let stored = rt.block_on(async {
        catalog.comments("b0").await.expect("b0").len()
            + catalog.comments("b1").await.expect("b1").len()
    });
    let mut waits = stats.waits.lock().map(|w| w.clone()).unwrap_or_default();
    waits.sort_unstable();
    let pct = |p: f64| {
        waits
            .get(((waits.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    println!("writer benchmark ({label}): {total} comments from {PRODUCERS} producers");
    println!("  stored rows        {stored}");
    println!("  elapsed            {:.2} s", elapsed.as_secs_f64());
    println!(
        "  throughput         {:.0} comments/s",
        total as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  batches            {}",
        stats.batches.load(Ordering::Relaxed)
    );
    println!("  batch wait p50     {:.1} ms", pct(0.50));
    println!("  batch wait p99     {:.1} ms", pct(0.99));
    assert_eq!(stored as u64, total, "every comment stored exactly once");
}

fn main() {
    let rt = common::runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("bench.sqlite3")).expect("open");
    let (writer, thread) = Writer::spawn(&store).expect("writer");
    bench(
        &rt,
        "SQLite",
        &Catalog::Sqlite(store),
        writer,
        thread,
        TOTAL,
    );

    let Some(admin) = postgres::admin_url() else {
        println!(
            "(no PostgreSQL: IGLIVE_TEST_POSTGRES_URL is not set; scripts/bench-cluster sets it)"
        );
        return;
    };
    let total = std::env::var("PG_TOTAL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(PG_TOTAL);
    let catalog = rt.block_on(async {
        let url = postgres::fresh_database(&admin, "bench_writer").await;
        PgCatalog::open(&PostgresUrl::parse(&url).expect("url"))
            .await
            .expect("catalog")
    });
    let catalog = Catalog::Postgres(catalog);
    let (writer, thread) = catalog.spawn_writer().expect("writer");
    bench(&rt, "PostgreSQL", &catalog, writer, thread, total);
}
