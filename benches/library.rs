//! The library at archive scale: 10,000 recordings and 10,000,000 comments in one database
//! (generated in one transaction with prepared statements, the triggers keeping the search
//! index and the figures as the writer's inserts do), then the REST API over HTTP on loopback:
//! p50/p90/p99 of list pages (filters, sorts, deep cursors), searches (common, rare and
//! two-word queries, prefixes, CJK) and comment pages; last the daemon's memory with the app
//! idle against without it.
//!
//! Run: `scripts/bench-library` (`cargo bench --bench library`). The generated database is
//! kept in `target/bench-library/` and reused by later runs (`IGLIVE_BENCH_REGENERATE=1`
//! builds it again; `IGLIVE_BENCH_COMMENTS` and `IGLIVE_BENCH_RECORDINGS` shrink it).
//! Targets: list p99 < 50 ms, search p99 < 100 ms, comment page p99 < 20 ms.

#[path = "support/common.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::params;

use iglive::Config;
use iglive::Store;
use iglive::{serve_library, Library};

const T0: f64 = 1_700_000_000.0;
const ACCOUNTS: usize = 250;
const SAMPLES: usize = 60;

const WORDS: &[&str] = &[
    "nice",
    "hello",
    "love",
    "wow",
    "amazing",
    "beautiful",
    "great",
    "thanks",
    "please",
    "song",
    "again",
    "where",
    "from",
    "brazil",
    "italy",
    "france",
    "morning",
    "night",
    "happy",
    "birthday",
    "queen",
    "king",
    "best",
    "live",
    "today",
    "tomorrow",
    "music",
    "dance",
    "food",
    "cooking",
    "bonjour",
    "merci",
    "café",
    "très",
    "belle",
    "hola",
    "gracias",
    "qué",
    "linda",
    "olá",
    "obrigado",
    "saudade",
    "ciao",
    "grazie",
    "bella",
    "danke",
    "schön",
    "привет",
    "спасибо",
    "مرحبا",
    "شكرا",
    "جميل",
    "🔥",
    "❤️",
    "😂",
    "👏",
    "🙏",
    "😍",
    "lol",
    "omg",
    "first",
    "second",
    "question",
    "answer",
    "when",
    "next",
    "video",
    "camera",
    "sound",
    "light",
    "outfit",
    "hair",
    "city",
    "travel",
    "beach",
    "summer",
    "winter",
    "coffee",
    "tea",
    "cat",
    "dog",
    "game",
    "win",
];
const CJK: &[&str] = &[
    "こんにちは",
    "ありがとう",
    "かわいい",
    "日本語",
    "配信",
    "最高",
    "おはよう",
    "东京",
    "你好",
    "谢谢",
    "很好看",
    "直播",
    "加油",
    "안녕하세요",
    "감사합니다",
    "사랑해요",
    "예뻐요",
    "친구",
];

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn text(rng: &mut StdRng, i: u64) -> String {
    if i.is_multiple_of(20) {
        // 5 % of the chat in Chinese, Japanese or Korean.
        let n = rng.gen_range(1..=3);
        (0..n)
            .map(|_| CJK[rng.gen_range(0..CJK.len())])
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        let n = rng.gen_range(1..=8);
        // Zipf-like: earlier words are much more frequent.
        (0..n)
            .map(|_| {
                let r: f64 = rng.gen();
                WORDS[((r * r * r) * WORDS.len() as f64) as usize % WORDS.len()]
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What generation took: the bulk load of the rows, then migration 2 building the search
/// indexes and the figures from them (as it does for an existing database when iglive is
/// upgraded).
struct Generated {
    load_s: f64,
    migrate_s: f64,
    comments: u64,
}

/// Builds the archive as a database of schema version 1 (before the library), loaded in one
/// transaction with prepared statements, then opens it so that migration 2 runs.
fn generate(dir: &Path, recordings: usize, comments_per: usize) -> Generated {
    let started = Instant::now();
    let path = dir.join("library.sqlite3");
    let store = Store::open(&path).expect("open");
    let mut conn = store.connect().expect("connect");
    conn.execute_batch(
        "DROP TRIGGER comments_library_delete;
         DROP TABLE comments_fts; DROP TABLE IF EXISTS comments_fts_content;
         DROP TABLE comments_cjk; DROP TABLE recording_stats;
         DROP INDEX recordings_library; DROP INDEX broadcasts_library; PRAGMA user_version = 1;",
    )
    .expect("back to schema 1");
    // A fresh file needs no write-ahead log for a bulk load: new pages are not journaled.
    let _: String = conn
        .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))
        .expect("journal mode");
    conn.pragma_update(None, "synchronous", "OFF")
        .expect("pragma");
    conn.pragma_update(None, "cache_size", -262_144)
        .expect("pragma");
    let mut rng = StdRng::seed_from_u64(7);
    let tx = conn.transaction().expect("tx");
    let mut total = 0u64;
    {
        let mut acc = tx
            .prepare("INSERT INTO accounts (user_id, username, label, updated_at) VALUES (?1, ?2, ?3, ?4)")
            .expect("prepare");
        for a in 0..ACCOUNTS {
            acc.execute(params![
                (5_000_000 + a).to_string(),
                format!("host.{a}"),
                (a % 5 == 0).then(|| format!("label {a}")),
                T0
            ])
            .expect("account");
        }
        let mut b = tx
            .prepare(
                "INSERT INTO broadcasts (broadcast_id, user_id, username, status, published_time,
                   detected_at, ended_at, end_reason, updated_at)
                 VALUES (?1, ?2, ?3, 'stopped', ?4, ?4, ?5, 'the stream signalled its end', ?5)",
            )
            .expect("prepare");
        let mut r = tx
            .prepare(
                "INSERT INTO recordings (broadcast_id, state, folder, video, started_at, finished_at,
                   duration_s, segments_expected, segments_captured, bytes_captured, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?6)",
            )
            .expect("prepare");
        let mut c = tx
            .prepare(
                "INSERT INTO comments (broadcast_id, pk, user_id, username, text, created_at,
                   offset_s, kind, source, raw_json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'comment', 'live', ?8)",
            )
            .expect("prepare");
        let mut v = tx
            .prepare(
                "INSERT INTO viewer_samples (broadcast_id, ts, viewer_count, offset_s)
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .expect("prepare");
        let mut l = tx
            .prepare(
                "INSERT INTO like_samples (broadcast_id, ts, likes, offset_s, source)
                 VALUES (?1, ?2, ?3, ?4, 'live')",
            )
            .expect("prepare");
        let root = dir.join("recordings");
        for i in 0..recordings {
            let id = (17_900_000_000_000_000u64 + i as u64).to_string();
            let user = 5_000_000 + (i * 7919) % ACCOUNTS;
            let start = T0 + i as f64 * 3000.0 + rng.gen_range(0.0..600.0);
            let duration: f64 = rng.gen_range(300.0..5400.0);
            let folder = root.join(format!("host.{}", user - 5_000_000)).join(&id);
            // A folder with a video's worth of bytes (sparse) and the small artifacts, so the
            // size column walks real directories.
            std::fs::create_dir_all(&folder).expect("folder");
            let video = folder.join("video.mp4");
            std::fs::File::create(&video)
                .and_then(|f| f.set_len((duration * 250_000.0) as u64))
                .expect("video");
            std::fs::write(folder.join("broadcast.json"), b"{}").expect("json");
            let state = if i % 97 == 0 { "failed" } else { "finished" };
            b.execute(params![
                id,
                user.to_string(),
                format!("host.{}", user - 5_000_000),
                start,
                start + duration
            ])
            .expect("broadcast");
            r.execute(params![
                id,
                state,
                folder.display().to_string(),
                video.display().to_string(),
                start,
                start + duration,
                duration,
                (duration / 2.0) as i64,
                (duration * 250_000.0) as i64
            ])
            .expect("recording");
            for k in 0..SAMPLES {
                let off = duration * k as f64 / SAMPLES as f64;
                v.execute(params![
                    id,
                    start + off,
                    50.0 + (k * k) as f64 + rng.gen_range(0.0..20.0),
                    off
                ])
                .expect("viewer");
                l.execute(params![id, start + off, (k * 37) as i64, off])
                    .expect("like");
            }
            let mut offs: Vec<f64> = (0..comments_per)
                .map(|_| rng.gen_range(0.0..duration))
                .collect();
            offs.sort_by(f64::total_cmp);
            for off in offs {
                total += 1;
                let pk = (18_000_000_000_000_000u64 + total).to_string();
                let u = rng.gen_range(0..100_000u32);
                let t = text(&mut rng, total);
                let raw = format!(
                    "{{\"pk\":\"{pk}\",\"user_id\":\"{u}\",\"text\":{},\"created_at\":{},\"type\":0,\"user\":{{\"pk\":\"{u}\",\"username\":\"viewer_{u}\",\"is_verified\":false}}}}",
                    serde_json::to_string(&t).unwrap_or_default(),
                    (start + off) as i64
                );
                c.execute(params![
                    id,
                    pk,
                    u.to_string(),
                    format!("viewer_{u}"),
                    t,
                    start + off,
                    off,
                    raw
                ])
                .expect("comment");
                if total.is_multiple_of(1_000_000) {
                    eprintln!(
                        "  … {total} comments in {:.0} s",
                        started.elapsed().as_secs_f64()
                    );
                }
            }
        }
    }
    tx.commit().expect("commit");
    let _: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .expect("journal mode");
    drop(conn);
    let load_s = started.elapsed().as_secs_f64();
    eprintln!("  loaded {total} comments in {load_s:.0} s; migrating …");
    let migrating = Instant::now();
    let store = Store::open(&path).expect("migration 2");
    let migrate_s = migrating.elapsed().as_secs_f64();
    store
        .connect()
        .expect("connect")
        .execute_batch("PRAGMA optimize; PRAGMA wal_checkpoint(TRUNCATE);")
        .expect("optimize");
    Generated {
        load_s,
        migrate_s,
        comments: total,
    }
}

fn config(dir: &Path) -> PathBuf {
    let p = dir.join("iglive.toml");
    std::fs::write(
        &p,
        "[instagram]\nsession_file = \"session.json\"\n[storage]\nrecordings_dir = \"recordings\"\ndatabase = \"library.sqlite3\"\n[[accounts]]\nuser_id = \"5000000\"\n",
    )
    .expect("config");
    p
}

struct Stats(Vec<f64>);

impl Stats {
    fn pct(&self, p: f64) -> f64 {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        v.get(((v.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(0.0)
    }
}

async fn timed(http: &reqwest::Client, url: &str) -> (f64, serde_json::Value) {
    let t = Instant::now();
    let resp = http.get(url).send().await.expect("request");
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.expect("json");
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    assert!(status.is_success(), "{url}: {status} {body}");
    (ms, body)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The daemon's RSS after `settle`, with the status listener off or on (and used once).
async fn daemon_rss(listen: bool, used: bool) -> u64 {
    let scenario = iglive::sim::Scenario::from_toml_str(
        "seed = 1\n[[accounts]]\npk = 4001\nusername = \"idle.host\"\nfollowed = true\n",
    )
    .expect("scenario");
    let sim = iglive::sim::start(scenario, Default::default())
        .await
        .expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let session = dir.path().join("session.json");
    std::fs::write(&session, iglive::sim::session_json()).expect("session");
    std::fs::set_permissions(
        &session,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .expect("chmod");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let listen_line = if listen {
        format!("127.0.0.1:{port}")
    } else {
        "off".into()
    };
    std::fs::write(
        dir.path().join("iglive.toml"),
        format!(
            "[instagram]\napi_base_url = \"{}\"\nsession_file = \"session.json\"\n[watch]\npoll_interval = \"2s\"\n[storage]\nrecordings_dir = \"recordings\"\nmin_free_space = \"1MB\"\n[status]\nlisten = \"{listen_line}\"\n[[accounts]]\nuser_id = \"4001\"\n",
            sim.api_base_url()
        ),
    )
    .expect("config");
    // IGLIVE_BIN: a copy of the binary, when the build directory is shared with other builds.
    let bin = std::env::var_os("IGLIVE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_iglive")));
    let mut child = std::process::Command::new(bin)
        .args(["run", "-c"])
        .arg(dir.path().join("iglive.toml"))
        .env("IGLIVE_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("daemon");
    tokio::time::sleep(Duration::from_secs(3)).await;
    if used {
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        for p in [
            "/",
            "/assets/app.js",
            "/api/v1/recordings",
            "/api/v1/live",
            "/api/v1/accounts",
            "/openapi.json",
            "/api/v1/search?q=nice",
        ] {
            let _ = http
                .get(format!("{base}{p}"))
                .send()
                .await
                .map(|r| r.bytes());
        }
        // An SSE client for a few seconds (starts the live feed), then gone.
        if let Ok(mut r) = http.get(format!("{base}/api/v1/events")).send().await {
            let until = Instant::now() + Duration::from_secs(3);
            while Instant::now() < until {
                if tokio::time::timeout(Duration::from_secs(1), r.chunk())
                    .await
                    .is_err()
                {
                    continue;
                }
            }
        }
    }
    // Idle: a few detection polls, nobody on the app.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let rss = rss_kib(child.id());
    let _ = child.kill();
    let _ = child.wait();
    rss
}

fn main() {
    let recordings = env_usize("IGLIVE_BENCH_RECORDINGS", 10_000);
    let comments_per = env_usize("IGLIVE_BENCH_COMMENTS", 10_000_000) / recordings.max(1);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/bench-library")
        .join(format!("{recordings}x{comments_per}"));
    let marker = dir.join("complete");
    let regenerate = std::env::var_os("IGLIVE_BENCH_REGENERATE").is_some();
    let generation = if marker.is_file() && !regenerate {
        None
    } else {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        eprintln!("generating {recordings} recordings × {comments_per} comments …");
        let g = generate(&dir, recordings, comments_per);
        std::fs::write(
            &marker,
            format!("{} {} {}", g.load_s, g.migrate_s, g.comments),
        )
        .expect("marker");
        Some(g)
    };
    let db_size = std::fs::metadata(dir.join("library.sqlite3"))
        .map(|m| m.len())
        .unwrap_or(0);
    let rt = common::runtime();
    rt.block_on(async move {
        let cfg = Config::load(&config(&dir)).expect("config");
        let store = Store::open(&cfg.storage.database).expect("store");
        let (n_rec, n_com): (i64, i64) = store
            .connect()
            .expect("connect")
            .query_row(
                "SELECT (SELECT count(*) FROM recordings), (SELECT coalesce(sum(comments), 0) FROM recording_stats)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("counts");
        let lib = Library::archive(&cfg, store).expect("library");
        let shutdown = tokio_util::sync::CancellationToken::new();
        let served = serve_library("127.0.0.1:0".parse().expect("addr"), lib, shutdown.clone())
            .await
            .expect("serve");
        let base = format!("http://{}", served.addr);
        let http = reqwest::Client::builder().no_proxy().build().expect("client");
        let mut rng = StdRng::seed_from_u64(99);
        // Warm the page cache and the read pool.
        for _ in 0..5 {
            let _ = timed(&http, &format!("{base}/api/v1/recordings")).await;
        }

        // Lists: the first page of each view, and pages deep into the archive.
        let mut list = Stats(Vec::new());
        let views = [
            "",
            "sort=comments",
            "sort=duration&order=asc",
            "sort=peak_viewers",
            "sort=account",
            "status=failed",
            "status=finished&since=2023-12-01&until=2024-03-01",
        ];
        for round in 0..40 {
            for v in views {
                let acc = format!("account=host.{}", rng.gen_range(0..ACCOUNTS));
                let q = if round % 3 == 0 { acc.as_str() } else { v };
                let (ms, body) = timed(&http, &format!("{base}/api/v1/recordings?limit=50&{q}")).await;
                list.0.push(ms);
                let mut cursor = body["meta"]["next_cursor"].as_str().map(str::to_string);
                for _ in 0..rng.gen_range(0..4) {
                    let Some(c) = cursor.take() else { break };
                    let (ms, body) = timed(&http, &format!("{base}/api/v1/recordings?limit=50&{q}&cursor={c}")).await;
                    list.0.push(ms);
                    cursor = body["meta"]["next_cursor"].as_str().map(str::to_string);
                }
            }
        }

        // Searches, by kind.
        let kinds: [(&str, Vec<String>); 6] = [
            ("common word", ["nice", "hello", "love", "wow", "amazing"].map(String::from).to_vec()),
            ("rare word", ["cat", "dog", "game", "win", "schön", "saudade", "grazie", "outfit"].map(String::from).to_vec()),
            ("two words", ["nice love", "hello brazil", "happy birthday", "merci belle", "coffee tea"].map(String::from).to_vec()),
            ("prefix", ["amaz*", "beau*", "birth*", "tom*"].map(String::from).to_vec()),
            ("username", (0..8).map(|i| format!("viewer_{}", i * 12_345)).collect()),
            ("CJK", ["配信", "こんにちは", "你好", "直播", "친구", "사랑해요", "日本語"].map(String::from).to_vec()),
        ];
        let mut search_all = Stats(Vec::new());
        let mut by_kind = Vec::new();
        for (kind, qs) in &kinds {
            let mut s = Stats(Vec::new());
            for round in 0..60 {
                let q = &qs[round % qs.len()];
                let enc: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
                let (ms, body) = timed(&http, &format!("{base}/api/v1/search?limit=50&q={enc}")).await;
                s.0.push(ms);
                if round % 4 == 0 {
                    if let Some(c) = body["meta"]["next_cursor"].as_str() {
                        let (ms, _) = timed(&http, &format!("{base}/api/v1/search?limit=50&q={enc}&cursor={c}")).await;
                        s.0.push(ms);
                    }
                }
            }
            search_all.0.extend(s.0.iter().copied());
            by_kind.push((*kind, s));
        }

        // Comment pages: random recordings, first pages, deep pages, from a moment.
        let mut pages = Stats(Vec::new());
        for round in 0..400 {
            let id = 17_900_000_000_000_000u64 + rng.gen_range(0..n_rec.max(1)) as u64;
            let from = if round % 3 == 0 { format!("&from_s={}", rng.gen_range(0..3000)) } else { String::new() };
            let (ms, body) = timed(&http, &format!("{base}/api/v1/recordings/{id}/comments?limit=100{from}")).await;
            pages.0.push(ms);
            let mut cursor = body["meta"]["next_cursor"].as_str().map(str::to_string);
            for _ in 0..rng.gen_range(0..3) {
                let Some(c) = cursor.take() else { break };
                let (ms, body) = timed(&http, &format!("{base}/api/v1/recordings/{id}/comments?limit=100&cursor={c}")).await;
                pages.0.push(ms);
                cursor = body["meta"]["next_cursor"].as_str().map(str::to_string);
            }
        }
        shutdown.cancel();

        let rss_off = daemon_rss(false, false).await;
        let rss_on = daemon_rss(true, false).await;
        let rss_used = daemon_rss(true, true).await;

        println!("library benchmark: {n_rec} recordings, {n_com} comments, database {:.2} GiB", db_size as f64 / (1u64 << 30) as f64);
        match generation {
            Some(g) => println!(
                "generated {} comments in {:.0} s ({:.0} comments/s, one transaction, prepared statements); migration 2 then built the search indexes and figures in {:.0} s",
                g.comments,
                g.load_s,
                g.comments as f64 / g.load_s,
                g.migrate_s
            ),
            None => println!("database reused from an earlier run (IGLIVE_BENCH_REGENERATE=1 rebuilds it)"),
        }
        println!();
        println!("| request | n | p50 | p90 | p99 | max | target |");
        println!("|---|---|---|---|---|---|---|");
        let row = |name: &str, s: &Stats, target: &str| {
            println!(
                "| {name} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {target} |",
                s.0.len(),
                s.pct(0.5),
                s.pct(0.9),
                s.pct(0.99),
                s.pct(1.0)
            );
        };
        row("list page (filters, sorts, cursors)", &list, "p99 < 50 ms");
        row("search, all kinds", &search_all, "p99 < 100 ms");
        for (k, s) in &by_kind {
            row(&format!("search: {k}"), s, "");
        }
        row("comment page (100)", &pages, "p99 < 20 ms");
        println!();
        println!("| daemon, idle | RSS |");
        println!("|---|---|");
        println!("| status listener off | {:.1} MiB |", rss_off as f64 / 1024.0);
        println!("| listener with the library, never used | {:.1} MiB |", rss_on as f64 / 1024.0);
        println!("| listener with the library, idle after pages, API and an SSE client | {:.1} MiB |", rss_used as f64 / 1024.0);
    });
}
