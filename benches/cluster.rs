//! Several nodes on one PostgreSQL catalog: each node is the real `iglive` binary (its own
//! process, its own session and budget) against the in-process simulator. Prints two
//! markdown tables:
//!
//! * failover: a node SIGKILLed while it records a live; how long until another node holds
//!   the lease (kill → adopted) and until a new segment lands in the folder (kill → resumed),
//!   against `cluster.lease_ttl`, and whether the finished recording holds every segment;
//! * detection latency as nodes with their own sessions are added: N watched accounts, lives
//!   starting at spread times, each node polling its share within its own budget; latency is
//!   `detected_at - published_time` from the catalog.
//!
//! Needs a PostgreSQL server: `scripts/bench-cluster` starts a throwaway one and sets
//! `IGLIVE_TEST_POSTGRES_URL`. Knobs: `TRIALS` (failover runs, 3), `TTL` (seconds, 6),
//! `N` (accounts for detection, 24), `BUDGET` (requests per minute per node, 48).

#[path = "support/common.rs"]
mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/postgres.rs"]
mod postgres;

use iglive::sim::{self, Scenario, SimHandle, SimOptions};
use iglive::{Catalog, PgCatalog, PostgresUrl};

const FIRST_PK: u64 = 7_100_000;

fn broadcast_id(i: usize) -> String {
    (17_980_000_000_000_000u64 + i as u64).to_string()
}

/// `n` accounts; live `i` starts at `starts[i]` (simulated seconds) and lasts `secs`.
fn scenario(n: usize, starts: &[f64], secs: f64, seed: u64) -> Scenario {
    let mut t = format!("seed = {seed}\n");
    for i in 0..n {
        t.push_str(&format!(
            "[[accounts]]\npk = {}\nusername = \"c{i}\"\nfollowed = false\n",
            FIRST_PK + i as u64
        ));
    }
    for (i, start) in starts.iter().enumerate() {
        t.push_str(&format!(
            "[[broadcasts]]\nid = {}\nowner = {}\nstart = {start}\nduration = {secs}\n\
             end_status = \"stopped\"\ngone_after = 3600.0\n\
             [broadcasts.segments]\nduration_ms = 2000\njitter_ms = 0\nbase_segments = 4\n",
            broadcast_id(i),
            FIRST_PK + i as u64,
        ));
    }
    Scenario::from_toml_str(&t).expect("scenario")
}

/// A node: its config (own session file, name, budget) and its process.
struct Node {
    name: String,
    config: PathBuf,
    child: Option<Child>,
}

struct Setup<'a> {
    sim: &'a SimHandle,
    dir: &'a Path,
    url: &'a str,
    ttl_s: f64,
    budget: u32,
    accounts: usize,
    engagement: &'a str,
}

impl Setup<'_> {
    fn node(&self, name: &str) -> Node {
        let session = self.dir.join(format!("session-{name}.json"));
        let mut json: serde_json::Value =
            serde_json::from_str(&sim::session_json()).expect("session json");
        json["cookies"]["sessionid"] = format!("sid-{name}").into();
        std::fs::write(&session, json.to_string()).expect("session");
        std::fs::set_permissions(&session, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let mut t = format!(
            "[instagram]\napi_base_url = \"{}\"\nsession_file = \"{}\"\nrequest_timeout = \"10s\"\n\
             max_requests_per_minute = {}\n\
             [watch]\npoll_interval = \"1s\"\nuse_reels_tray = false\n\
             [recording]\nengagement = \"{}\"\nmax_concurrent = 100\n\
             [storage]\nrecordings_dir = \"recordings\"\nmin_free_space = \"100MB\"\n\
             [status]\nlisten = \"off\"\n\
             [cluster]\npostgres_url = \"{}\"\nnode = \"{name}\"\nlease_ttl = \"{}ms\"\n",
            self.sim.api_base_url(),
            session.display(),
            self.budget,
            self.engagement,
            self.url,
            (self.ttl_s * 1000.0) as u64,
        );
        for i in 0..self.accounts {
            t.push_str(&format!(
                "[[accounts]]\nuser_id = \"{}\"\n",
                FIRST_PK + i as u64
            ));
        }
        let config = self.dir.join(format!("{name}.toml"));
        std::fs::write(&config, t).expect("config");
        let mut node = Node {
            name: name.to_string(),
            config,
            child: None,
        };
        node.spawn(self.dir);
        node
    }
}

impl Node {
    fn spawn(&mut self, dir: &Path) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(format!("{}.log", self.name)))
            .expect("log");
        self.child = Some(
            Command::new(env!("CARGO_BIN_EXE_iglive"))
                .args(["run", "-c"])
                .arg(&self.config)
                .env("IGLIVE_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("iglive starts"),
        );
    }

    fn signal(&mut self, sig: nix::sys::signal::Signal) {
        if let Some(c) = &self.child {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), sig);
        }
    }

    fn stop(&mut self) {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        if let Some(mut c) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(120);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A new empty database on the benchmark's server; its URL.
async fn fresh_database(prefix: &str) -> String {
    let admin =
        postgres::admin_url().expect("IGLIVE_TEST_POSTGRES_URL is set: run scripts/bench-cluster");
    postgres::fresh_database(&admin, prefix).await
}

async fn open(url: &str) -> PgCatalog {
    PgCatalog::open(&PostgresUrl::parse(url).expect("url"))
        .await
        .expect("catalog")
}

async fn holder(pg: &PgCatalog, id: &str) -> Option<String> {
    pg.leases()
        .await
        .ok()?
        .into_iter()
        .find(|l| l.broadcast_id == id)
        .map(|l| l.node)
}

/// Segment files under a folder's `.segments/video`.
fn segment_files(folder: &Path) -> usize {
    let mut n = 0;
    for part in std::fs::read_dir(folder.join(".segments").join("video"))
        .into_iter()
        .flatten()
        .flatten()
    {
        n += std::fs::read_dir(part.path())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|f| f.file_name().to_string_lossy().ends_with(".m4s"))
            .count();
    }
    n
}

async fn poll_until<F, Fut>(timeout: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

struct Trial {
    adopted_s: f64,
    resumed_s: f64,
    complete: bool,
}

/// One failover: two nodes, one live; the node holding it is killed mid-live.
async fn failover_trial(seed: u64, ttl_s: f64) -> Option<Trial> {
    let secs = 60.0 + 4.0 * ttl_s;
    let sim = sim::start(scenario(1, &[1.0], secs, seed), SimOptions::default())
        .await
        .expect("simulator");
    let dir = tempfile::tempdir().expect("tempdir");
    let url = fresh_database("bench_failover").await;
    let setup = Setup {
        sim: &sim,
        dir: dir.path(),
        url: &url,
        ttl_s,
        budget: 120,
        accounts: 1,
        engagement: "video",
    };
    let mut nodes = vec![setup.node("a"), setup.node("b")];
    let pg = open(&url).await;
    let catalog = Catalog::Postgres(pg.clone());
    let id = broadcast_id(0);
    let folder_of = || async {
        catalog
            .recording(&id)
            .await
            .ok()
            .flatten()
            .and_then(|r| r.folder)
            .map(PathBuf::from)
    };
    poll_until(Duration::from_secs(60), || async {
        folder_of().await.is_some_and(|f| segment_files(&f) >= 8)
    })
    .await;
    let folder = folder_of().await?;
    let victim = holder(&pg, &id).await?;
    let v = nodes.iter().position(|n| n.name == victim)?;
    nodes[v].kill9();
    let killed = Instant::now();
    let at_kill = segment_files(&folder);
    poll_until(Duration::from_secs_f64(ttl_s * 10.0), || async {
        holder(&pg, &id).await.is_some_and(|h| h != victim)
    })
    .await;
    let adopted_s = killed.elapsed().as_secs_f64();
    poll_until(Duration::from_secs(60), || async {
        segment_files(&folder) > at_kill
    })
    .await;
    let resumed_s = killed.elapsed().as_secs_f64();
    poll_until(Duration::from_secs_f64(secs * 2.0 + 60.0), || async {
        catalog
            .recording(&id)
            .await
            .ok()
            .flatten()
            .is_some_and(|r| r.status == "finished" || r.status == "failed")
    })
    .await;
    let published = sim
        .truth()
        .broadcasts
        .iter()
        .find(|b| b.id == id)
        .map_or(0, |b| b.segments.len() as i64);
    let r = catalog.recording(&id).await.ok().flatten()?;
    for n in &mut nodes {
        n.stop();
    }
    sim.shutdown().await;
    Some(Trial {
        adopted_s,
        resumed_s,
        complete: r.status == "finished"
            && r.segments_captured == published
            && r.segments_missing == 0,
    })
}

/// Detection latency of every broadcast the catalog knows: detected minus published.
async fn latencies(url: &str) -> Vec<f64> {
    let Ok((client, conn)) = tokio_postgres::connect(url, tokio_postgres::NoTls).await else {
        return Vec::new();
    };
    tokio::spawn(conn);
    client
        .query(
            "SELECT detected_at - published_time FROM broadcasts
              WHERE detected_at IS NOT NULL AND published_time IS NOT NULL",
            &[],
        )
        .await
        .map(|rows| rows.iter().filter_map(|r| r.try_get(0).ok()).collect())
        .unwrap_or_default()
}

struct Latency {
    detected: usize,
    mean_s: f64,
    p95_s: f64,
    max_s: f64,
}

/// `k` nodes watching `n` accounts, every account going live once at a spread time.
async fn detection_run(k: usize, n: usize, budget: u32, seed: u64) -> Latency {
    let secs = 90.0;
    // Spread over the first 45 s, in an order unrelated to which node polls the account.
    let starts: Vec<f64> = (0..n)
        .map(|i| 2.0 + ((i * 37) % n) as f64 * 45.0 / n as f64)
        .collect();
    let sim = sim::start(scenario(n, &starts, secs, seed), SimOptions::default())
        .await
        .expect("simulator");
    let dir = tempfile::tempdir().expect("tempdir");
    let url = fresh_database("bench_detection").await;
    let setup = Setup {
        sim: &sim,
        dir: dir.path(),
        url: &url,
        ttl_s: 10.0,
        budget,
        accounts: n,
        engagement: "video",
    };
    let mut nodes: Vec<Node> = (0..k).map(|i| setup.node(&format!("d{i}"))).collect();
    open(&url).await;
    poll_until(Duration::from_secs_f64(secs + 60.0), || async {
        latencies(&url).await.len() >= n
    })
    .await;
    let mut l = latencies(&url).await;
    for node in &mut nodes {
        node.stop();
    }
    sim.shutdown().await;
    l.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        l.get(((l.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    Latency {
        detected: l.len(),
        mean_s: l.iter().sum::<f64>() / l.len().max(1) as f64,
        p95_s: pick(0.95),
        max_s: l.last().copied().unwrap_or(f64::NAN),
    }
}

fn main() {
    let rt = common::runtime();
    let trials = common::env_num("TRIALS", 3.0) as u64;
    let ttl_s = common::env_num("TTL", 6.0);
    let n = common::env_num("N", 24.0) as usize;
    let budget = common::env_num("BUDGET", 48.0) as u32;
    rt.block_on(async {
        println!(
            "| failover trial | lease_ttl | kill → adopted | kill → resumed | recording complete |"
        );
        println!("|---|---|---|---|---|");
        for t in 0..trials {
            match failover_trial(20_261_203 + t, ttl_s).await {
                Some(r) => println!(
                    "| {} | {ttl_s:.0} s | {:.2} s | {:.2} s | {} |",
                    t + 1,
                    r.adopted_s,
                    r.resumed_s,
                    if r.complete {
                        "yes, every segment once"
                    } else {
                        "NO"
                    }
                ),
                None => println!(
                    "| {} | {ttl_s:.0} s | the live was never recorded | | |",
                    t + 1
                ),
            }
        }
        println!();
        println!("| nodes | accounts | budget per node | detected | mean latency | p95 | max |");
        println!("|---|---|---|---|---|---|---|");
        for k in 1..=3 {
            let l = detection_run(k, n, budget, 20_261_210 + k as u64).await;
            println!(
                "| {k} | {n} | {budget}/min | {}/{n} | {:.1} s | {:.1} s | {:.1} s |",
                l.detected, l.mean_s, l.p95_s, l.max_s
            );
        }
    });
}
