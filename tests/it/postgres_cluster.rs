//! Three nodes on one PostgreSQL catalog against the simulator, each a process with its own
//! session: the watched accounts spread over them, each broadcast recorded once (also the one
//! two nodes see through a watched guest), a node killed mid-recording has its recording
//! finished by another with every segment once and every comment, and the killed node rejoins.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use iglive::{Catalog, PgCatalog, PostgresUrl};

use crate::support::capture::held;
use crate::support::daemon::{free_port, session_of, Harness, Process, FAST_ENGAGEMENT};
use crate::support::postgres;

/// Simulated seconds per real second.
const SPEED: f64 = 4.0;
/// A node silent this long loses its accounts and leases.
const TTL_S: u64 = 5;
const NODES: [&str; 3] = ["n1", "n2", "n3"];
/// The lives: three owners alone, one host with a watched guest.
pub(crate) const LIVES: [&str; 4] = ["19401", "19402", "19403", "19405"];

const SCENARIO: &str = r#"
seed = 15
comment_page_cap = 50

[[accounts]]
pk = 9401
username = "node.one"
followed = false
[[accounts]]
pk = 9402
username = "node.two"
followed = false
[[accounts]]
pk = 9403
username = "node.three"
followed = false
[[accounts]]
pk = 9404
username = "never.live"
followed = false
[[accounts]]
pk = 9405
username = "the.host"
followed = false
[[accounts]]
pk = 9406
username = "the.guest"
followed = false

[[broadcasts]]
id = 19401
owner = 9401
start = 1.0
duration = 140.0
end_status = "stopped"
post_live_after = 1.0
segments = { duration_ms = 2000, jitter_ms = 0, base_segments = 4 }
[[broadcasts.comment_streams]]
from = 1.0
to = 138.0
per_second = 1.0
texts = ["one", "🔥"]

[[broadcasts]]
id = 19402
owner = 9402
start = 1.5
duration = 140.0
end_status = "stopped"
post_live_after = 1.0
segments = { duration_ms = 2000, jitter_ms = 0, base_segments = 4 }
[[broadcasts.comment_streams]]
from = 1.5
to = 138.0
per_second = 1.0
texts = ["two"]

[[broadcasts]]
id = 19403
owner = 9403
start = 2.0
duration = 140.0
end_status = "stopped"
post_live_after = 1.0
segments = { duration_ms = 2000, jitter_ms = 0, base_segments = 4 }
[[broadcasts.comment_streams]]
from = 2.0
to = 138.0
per_second = 1.0
texts = ["three"]

[[broadcasts]]
id = 19405
owner = 9405
cobroadcasters = [9406]
start = 1.0
duration = 140.0
end_status = "stopped"
post_live_after = 1.0
segments = { duration_ms = 2000, jitter_ms = 0, base_segments = 4 }
[[broadcasts.comment_streams]]
from = 1.0
to = 138.0
per_second = 1.0
texts = ["host"]
"#;

const ACCOUNTS: &str = r#"
[[accounts]]
user_id = "9401"
[[accounts]]
user_id = "9402"
[[accounts]]
user_id = "9403"
[[accounts]]
user_id = "9404"
[[accounts]]
user_id = "9405"
[[accounts]]
user_id = "9406"
"#;

/// Each node's config: the harness's, with the node's own session and name.
/// Each node's config: the harness's, with the node's own session, name and status port;
/// returns the config's path and the status endpoint's base URL.
fn node_config(h: &Harness, node: &str, url: &str) -> (PathBuf, String) {
    let session = h.session_file(node);
    let port = free_port();
    let base = std::fs::read_to_string(&h.config_path).expect("config");
    let text =
        base.replace(
            "session_file = \"session.json\"",
            &format!("session_file = \"{session}\""),
        )
        .replace(
            "listen = \"off\"",
            &format!("listen = \"127.0.0.1:{port}\""),
        ) + &format!(
            "\n[cluster]\npostgres_url = \"{url}\"\nnode = \"{node}\"\nlease_ttl = \"{TTL_S}s\"\n"
        );
    let path = h.dir().join(format!("{node}.toml"));
    std::fs::write(&path, text).expect("node config");
    (path, format!("http://127.0.0.1:{port}"))
}

/// A node's `/cluster` document, when its status endpoint answers.
async fn cluster_view(base: &str) -> Option<serde_json::Value> {
    reqwest::get(format!("{base}/cluster"))
        .await
        .ok()?
        .json()
        .await
        .ok()
}

/// Polls an async condition every 100 ms until it holds or `timeout` passes.
async fn eventually<F, Fut>(what: &str, timeout: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !cond().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn states(c: &Catalog) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for id in LIVES {
        if let Ok(Some(r)) = c.recording(id).await {
            out.insert(id.to_string(), r.status);
        }
    }
    out
}

async fn holder(pg: &PgCatalog, id: &str) -> Option<(String, i32)> {
    pg.leases()
        .await
        .ok()?
        .into_iter()
        .find(|l| l.broadcast_id == id)
        .map(|l| (l.node, l.takeovers))
}

/// Which sessions polled each account's story feed since request `from` of the simulator's log.
fn pollers(h: &Harness, from: usize) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in h.sim.requests().into_iter().skip(from) {
        let Some(pk) = r
            .path
            .strip_prefix("/api/v1/feed/user/")
            .and_then(|p| p.strip_suffix("/story/"))
        else {
            continue;
        };
        if let Some(s) = session_of(&r) {
            out.entry(pk.to_string()).or_default().insert(s);
        }
    }
    out
}

fn log_of(h: &Harness, node: &str) -> String {
    std::fs::read_to_string(h.dir().join(format!("{node}.log"))).unwrap_or_default()
}

/// Whether a node's latest view of the membership names all three nodes.
fn sees_all(log: &str) -> bool {
    log.lines()
        .rfind(|l| {
            l.contains("joined the nodes sharing the catalog") || l.contains("share the catalog")
        })
        .is_some_and(|l| NODES.iter().all(|n| l.contains(&format!("\"{n}\""))))
}

pub(crate) fn folders_of(root: &Path, id: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for account in std::fs::read_dir(root).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(account.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if f.file_name().to_string_lossy().ends_with(&format!("_{id}")) {
                out.push(f.path());
            }
        }
    }
    out
}

/// The simulator and three node processes on one catalog.
pub(crate) struct Nodes {
    pub(crate) h: Harness,
    configs: Vec<PathBuf>,
    /// Each node's status endpoint.
    status: Vec<String>,
    pg: PgCatalog,
    pub(crate) catalog: Catalog,
    procs: Vec<Option<Process>>,
}

impl Nodes {
    async fn start(url: &str) -> Nodes {
        Nodes::start_with(url, "").await
    }

    /// Three nodes with `storage` keys added to their `[storage]` table.
    pub(crate) async fn start_with(url: &str, storage: &str) -> Nodes {
        let extra = format!("{FAST_ENGAGEMENT}keep_segments = true\n{ACCOUNTS}");
        let h = Harness::start(SCENARIO, SPEED, &extra).await;
        h.edit_config(|t| t.replacen("[storage]\n", &format!("[storage]\n{storage}"), 1));
        // Each account polled on its own, so the simulator's log shows which node polls it.
        h.edit_config(|t| {
            t.replace(
                "poll_interval = \"300ms\"",
                "poll_interval = \"300ms\"\nuse_reels_tray = false",
            )
        });
        let (configs, status): (Vec<PathBuf>, Vec<String>) =
            NODES.iter().map(|n| node_config(&h, n, url)).unzip();
        let pg = PgCatalog::open(&PostgresUrl::parse(url).expect("url"))
            .await
            .expect("catalog");
        let catalog = Catalog::Postgres(pg.clone());
        let procs = NODES
            .iter()
            .zip(&configs)
            .map(|(n, c)| Some(h.spawn_binary_with(c, n)))
            .collect();
        Nodes {
            h,
            configs,
            status,
            pg,
            catalog,
            procs,
        }
    }

    pub(crate) async fn all_recording(&self) {
        eventually("every live recording", Duration::from_secs(60), || async {
            let s = states(&self.catalog).await;
            s.len() == LIVES.len() && s.values().all(|st| st == "recording")
        })
        .await;
    }

    /// Waits until every recording is finished and its chat merge settled.
    pub(crate) async fn all_done(&self) {
        let catalog = &self.catalog;
        eventually(
            "every recording finished",
            Duration::from_secs(180),
            || async {
                let s = states(catalog).await;
                s.len() == LIVES.len() && s.values().all(|st| st == "finished" || st == "failed")
            },
        )
        .await;
        eventually(
            "every chat merge settled",
            Duration::from_secs(60),
            || async {
                let mut all = true;
                for id in LIVES {
                    let r = catalog.recording(id).await.ok().flatten();
                    all &= r.is_some_and(|r| {
                        !matches!(r.chat_merge, Some(iglive::MergeState::Pending))
                    });
                }
                all
            },
        )
        .await;
    }

    pub(crate) async fn stop_all(&mut self) {
        for p in self.procs.iter_mut().flatten() {
            p.signal(nix::sys::signal::Signal::SIGTERM);
        }
        for p in self.procs.iter_mut().flatten() {
            assert!(
                p.wait(Duration::from_secs(60)).await.is_some(),
                "a node stops"
            );
        }
    }

    /// Every live finished with every published segment once and every comment once.
    pub(crate) async fn assert_complete(&self) {
        let (h, catalog) = (&self.h, &self.catalog);
        for id in LIVES {
            let r = catalog.recording(id).await.expect("read").expect("row");
            assert_eq!(r.status, "finished", "{id}: {:?}", r.error);
            let folders = folders_of(&h.dir().join("recordings"), id);
            assert_eq!(folders.len(), 1, "{id}: one folder: {folders:?}");
            let (ts, files) = held(&folders[0].join(".segments"), "video");
            assert_eq!(ts, h.truth_segment_ts(id), "{id}: every published segment");
            assert_eq!(files, ts.len(), "{id}: each once");
            let stored: Vec<String> = catalog
                .comments(id)
                .await
                .expect("comments")
                .into_iter()
                .map(|c| c.pk)
                .collect();
            let unique: BTreeSet<String> = stored.iter().cloned().collect();
            assert_eq!(unique.len(), stored.len(), "{id}: no comment twice");
            assert_eq!(unique, h.truth_comment_pks(id), "{id}: every comment");
        }
    }
}

/// How many node logs tell of starting a recording of `id`.
fn starts_of(h: &Harness, id: &str) -> usize {
    NODES
        .iter()
        .map(|n| {
            log_of(h, n)
                .lines()
                .filter(|l| {
                    l.contains(&format!("broadcast_id={id}")) && l.contains("recording into")
                })
                .count()
        })
        .sum()
}

/// What the node logs say of one broadcast's ownership, for a failure's message.
fn trace(h: &Harness, id: &str) -> String {
    let mut out = String::new();
    for n in NODES {
        for l in log_of(h, n).lines() {
            let about = l.contains(id) || l.contains("catalog");
            let what = [
                "recording into",
                "adopting",
                "handing",
                "lease",
                "another node",
                "catalog",
            ];
            if about && what.iter().any(|w| l.contains(w)) {
                out.push_str(&format!("{n}: {l}\n"));
            }
        }
    }
    out
}

pub(crate) fn segments_published(h: &Harness, id: &str) -> usize {
    h.sim
        .truth()
        .broadcasts
        .iter()
        .find(|b| b.id == id)
        .map_or(0, |b| b.segments.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run scripts/test-postgres"]
async fn postgres_cluster_three_nodes_share_the_accounts_and_a_killed_node_s_recording_completes_elsewhere(
) {
    let server = postgres::database("cluster").await;
    let mut nodes = Nodes::start(&server.url).await;
    nodes.all_recording().await;
    let (h, pg, catalog, configs) = (&nodes.h, &nodes.pg, &nodes.catalog, &nodes.configs);
    let procs = &mut nodes.procs;
    // One node records each: the host's broadcast, which the guest's node sees too, included.
    for id in LIVES {
        assert_eq!(starts_of(h, id), 1, "{id}: recorded by one node");
    }

    // Kill the node recording 19401, mid-broadcast.
    let (victim, _) = holder(pg, "19401").await.expect("a lease on 19401");
    let v = NODES.iter().position(|n| **n == victim).expect("a node");
    procs[v].take().expect("running").kill9();
    let killed = std::time::Instant::now();
    eventually(
        "another node takes 19401 over",
        Duration::from_secs(10 * TTL_S),
        || async { holder(pg, "19401").await.is_some_and(|(n, _)| n != victim) },
    )
    .await;
    let failover = killed.elapsed();
    eprintln!("failover: 19401 taken over {failover:?} after the kill (lease_ttl {TTL_S} s)");

    // The killed node rejoins and gets accounts again.
    procs[v] = Some(h.spawn_binary_with(&configs[v], &victim));
    eventually(
        "the killed node rejoins",
        Duration::from_secs(30),
        || async {
            let log = log_of(h, &victim);
            log.matches("joined the nodes sharing the catalog").count() >= 2 && sees_all(&log)
        },
    )
    .await;

    // A node stopped cleanly while others run hands its recordings over instead of cutting
    // them: the live goes on elsewhere, and the stopped node rejoins.
    eventually("19402 held", Duration::from_secs(10), || async {
        holder(pg, "19402").await.is_some()
    })
    .await;
    let (leaving, _) = holder(pg, "19402").await.expect("a lease on 19402");
    let l = NODES.iter().position(|n| **n == leaving).expect("a node");
    let mut p = procs[l].take().expect("running");
    p.signal(nix::sys::signal::Signal::SIGTERM);
    let stopped = std::time::Instant::now();
    let status = p.wait(Duration::from_secs(60)).await.expect("stops");
    assert!(status.success(), "{status:?}");
    assert!(
        log_of(h, &leaving).contains("recording(s) over to the other nodes"),
        "the stop hands over"
    );
    eventually(
        "another node takes 19402 over",
        Duration::from_secs(10 * TTL_S),
        || async { holder(pg, "19402").await.is_some_and(|(n, _)| n != leaving) },
    )
    .await;
    eprintln!(
        "hand-over: 19402 taken over {:?} after SIGTERM (lease_ttl {TTL_S} s)",
        stopped.elapsed()
    );
    let r = catalog
        .recording("19402")
        .await
        .expect("read")
        .expect("row");
    // Left unfinished for the next holder (which may show it `waiting` or `detected` for a
    // moment while it takes it up), never finalized by the leaving node.
    assert!(
        !["finished", "failed"].contains(&r.status.as_str()),
        "not finalized by the leaving node: {}\n{}",
        r.status,
        trace(h, "19402")
    );
    procs[l] = Some(h.spawn_binary_with(&configs[l], &leaving));

    nodes.all_done().await;
    eventually(
        "every node sees the three",
        Duration::from_secs(30),
        || async { NODES.iter().all(|n| sees_all(&log_of(h, n))) },
    )
    .await;
    let mark = h.sim.requests().len();
    eventually(
        "every account polled again",
        Duration::from_secs(30),
        || async { pollers(h, mark).len() == 6 },
    )
    .await;
    let spread = pollers(h, mark);
    for (pk, sessions) in &spread {
        assert_eq!(
            sessions.len(),
            1,
            "account {pk} polled by one node: {spread:?}"
        );
    }
    let polling: BTreeSet<&String> = spread.values().flatten().collect();
    assert!(
        polling.len() >= 2,
        "the accounts spread over the nodes: {spread:?}"
    );
    // Each node's own account of it: the three alive, the six accounts shared out.
    let mut polled = 0;
    for (n, base) in NODES.iter().zip(&nodes.status) {
        let v = cluster_view(base).await.expect("/cluster answers");
        assert_eq!(v["clustered"], true, "{v}");
        assert_eq!(v["node"], *n, "{v}");
        assert_eq!(v["nodes"], serde_json::json!(NODES), "{v}");
        assert_eq!(v["accounts_watched"], 6, "{v}");
        polled += v["accounts_polled"].as_u64().expect("a count");
    }
    assert_eq!(polled, 6, "every account polled by exactly one node");

    nodes.stop_all().await;
    nodes.assert_complete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run scripts/test-postgres"]
async fn postgres_cluster_a_catalog_restart_mid_run_loses_nothing_and_moves_nothing() {
    let server = postgres::database_alone("cluster_restart").await;
    let mut nodes = Nodes::start(&server.url).await;
    nodes.all_recording().await;
    let h = &nodes.h;
    postgres::stop();
    // Down until every node has noticed and the leases have expired: the stream has moved on
    // by two TTLs' worth of segments (2 s of simulated time each).
    let down_at = segments_published(h, "19401");
    let outage = (2.0 * TTL_S as f64 * SPEED / 2.0).ceil() as usize;
    eventually(
        "every node notices the outage",
        Duration::from_secs(30),
        || async {
            NODES.iter().all(|n| {
                let log = log_of(h, n);
                log.contains("the catalog does not answer")
                    || log.contains("did not answer a heartbeat")
            }) && segments_published(h, "19401") >= down_at + outage
        },
    )
    .await;
    let restart = postgres::start();
    eprintln!("catalog down for {outage} segments of 19401 (2 s simulated each), restarted in {restart:?}");
    nodes.all_done().await;
    nodes.stop_all().await;
    nodes.assert_complete().await;
    let h = &nodes.h;
    for id in LIVES {
        assert_eq!(
            starts_of(h, id),
            1,
            "{id}: recorded by one node throughout:\n{}",
            trace(h, id)
        );
    }
    for n in NODES {
        let log = log_of(h, n);
        assert!(
            log.contains("the catalog answers again"),
            "{n} saw the catalog back"
        );
        assert!(
            !log.contains("adopting the recording"),
            "{n}: nothing moved"
        );
        assert!(
            !log.contains("handing the recording over"),
            "{n}: no lease lost"
        );
    }
}
