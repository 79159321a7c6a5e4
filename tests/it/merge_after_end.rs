//! Nothing waits on the API that need not: a 429 storm across the end of a broadcast leaves
//! the recording `finished` within seconds (the folder finalized from disk), the engagement
//! merge `pending`; once the storm passes the merge lands and re-renders the folder with the
//! simulator's whole chat. A merge pending at shutdown does not delay the stop and completes
//! after a restart.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::support::daemon::{wait_until, Harness};

const ID: &str = "17900000000000991";
/// Simulated seconds: the broadcast runs [1, 31); the API answers 429 over [27, 70).
const END: f64 = 31.0;
const STORM_END: f64 = 70.0;
const SPEED: f64 = 2.0;

fn scenario() -> String {
    scenario_with(STORM_END, "")
}

/// The storm lasts until `storm_end`; `broadcast_extra` adds keys to the broadcast.
fn scenario_with(storm_end: f64, broadcast_extra: &str) -> String {
    format!(
        r#"
seed = 11
comment_page_cap = 40

[[accounts]]
pk = 5101
username = "stormy.host"
followed = true

[[broadcasts]]
id = {ID}
owner = 5101
start = 1.0
duration = 30.0
end_status = "stopped"
gone_after = 600.0
segments = {{ duration_ms = 2000, jitter_ms = 0, base_segments = 4 }}
likes = [[0.0, 0.0], [30.0, 900.0]]
{broadcast_extra}

[[broadcasts.comment_streams]]
from = 2.0
to = 30.5
per_second = 3.0
texts = ["storm", "🌧️", "hello"]

[[faults]]
kind = "throttle"
from = 27.0
to = {storm_end}
path = "api"
retry_after = 1
"#
    )
}

const CONFIG: &str = r#"
[recording]
heartbeat_interval = "500ms"
comments_interval = "500ms"
likes_interval = "1s"
interrupted_grace = "30s"
merge_timeout = "10m"

[[accounts]]
user_id = "5101"
"#;

async fn storm_harness() -> Harness {
    harness(&scenario(), CONFIG).await
}

async fn harness(scenario: &str, config: &str) -> Harness {
    let h = Harness::start(scenario, SPEED, config).await;
    h.edit_config(|t| {
        t.replace(
            "max_requests_per_minute = 600",
            "max_requests_per_minute = 600\nthrottle_pause = \"1s\"",
        )
    });
    h
}

fn merge_state(h: &Harness) -> Option<String> {
    let conn = h.store().connect().ok()?;
    conn.query_row(
        "SELECT merge_state FROM recordings WHERE broadcast_id = ?1",
        [ID],
        |r| r.get(0),
    )
    .ok()
    .flatten()
}

fn stored(h: &Harness) -> BTreeSet<String> {
    h.stored_comment_pks(ID).into_iter().collect()
}

fn truth(h: &Harness) -> BTreeSet<String> {
    h.truth_comment_pks(ID)
}

fn folder(h: &Harness) -> std::path::PathBuf {
    let conn = h.store().connect().expect("connect");
    let f: String = conn
        .query_row(
            "SELECT folder FROM recordings WHERE broadcast_id = ?1",
            [ID],
            |r| r.get(0),
        )
        .expect("folder");
    f.into()
}

fn broadcast_json(h: &Harness) -> serde_json::Value {
    let text = std::fs::read_to_string(folder(h).join("broadcast.json")).expect("broadcast.json");
    serde_json::from_str(&text).expect("json")
}

/// Waits for the simulated end, then for `finished`: returns the real seconds between them.
async fn finished_after_end(h: &Harness) -> f64 {
    wait_until("the broadcast ends", Duration::from_secs(60), || {
        h.sim.now() >= END
    })
    .await;
    let ended = Instant::now();
    wait_until(
        "finished within 30 s of the end",
        Duration::from_secs(30),
        || h.state(ID).as_deref() == Some("finished"),
    )
    .await;
    ended.elapsed().as_secs_f64()
}

/// The folder's chat after the merge: every comment of the simulator's truth, once.
fn assert_chat_complete(h: &Harness) {
    let truth = truth(h);
    assert!(truth.len() > 60, "the scenario published {}", truth.len());
    assert_eq!(stored(h), truth, "the database holds exactly the truth");
    let jsonl = std::fs::read_to_string(folder(h).join("comments.jsonl")).expect("comments.jsonl");
    let in_file: BTreeSet<String> = jsonl
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["pk"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        in_file, truth,
        "comments.jsonl was re-rendered with the merge"
    );
    let doc = broadcast_json(h);
    assert_eq!(doc["recording"]["chat_merge"], "done");
    assert_eq!(doc["engagement"]["comments"], truth.len());
    assert_eq!(
        doc["final_status"], "stopped",
        "the merge settled the final status"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_across_the_end_does_not_delay_finishing() {
    let h = storm_harness().await;
    let d = h.run_daemon();
    let took = finished_after_end(&h).await;
    eprintln!("finished {took:.1} real s after the simulated end (speed {SPEED})");
    assert!(
        h.sim.now() < STORM_END,
        "finished while the storm still blew"
    );
    assert_eq!(merge_state(&h).as_deref(), Some("pending"));
    assert_eq!(broadcast_json(&h)["recording"]["chat_merge"], "pending");
    let video = folder(&h).join("video.mp4");
    assert!(video.is_file(), "the video is finalized before the merge");

    // The library's recording object says it is still being updated.
    let list = crate::support::cli::iglive(
        ["list", "--json", "-c", &h.config_path.display().to_string()],
        "",
    )
    .await;
    let rows: serde_json::Value = serde_json::from_str(&list.stdout).expect("list --json");
    assert_eq!(rows[0]["status"], "finished");
    assert_eq!(rows[0]["chat_merge"], "pending");

    wait_until("the merge lands", Duration::from_secs(120), || {
        merge_state(&h).as_deref() == Some("done")
    })
    .await;
    assert!(
        h.sim.now() >= STORM_END - 1.0,
        "not before the storm passed"
    );
    d.stop().await;
    assert_chat_complete(&h);
    let show =
        crate::support::cli::iglive(["show", ID, "-c", &h.config_path.display().to_string()], "")
            .await;
    assert!(show.stdout.contains("chat merge   done"), "{}", show.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_pending_at_shutdown_completes_after_a_restart() {
    let h = storm_harness().await;
    let d = h.run_daemon();
    finished_after_end(&h).await;
    assert_eq!(merge_state(&h).as_deref(), Some("pending"));
    let stopping = Instant::now();
    d.stop().await;
    let stop_took = stopping.elapsed();
    assert!(
        stop_took < Duration::from_secs(10),
        "the stop did not wait on the merge: {stop_took:?}"
    );
    assert_eq!(merge_state(&h).as_deref(), Some("pending"), "still pending");

    wait_until("the storm passes", Duration::from_secs(60), || {
        h.sim.now() >= STORM_END
    })
    .await;
    let d = h.run_daemon();
    wait_until(
        "recovery resumes the merge",
        Duration::from_secs(60),
        || merge_state(&h).as_deref() == Some("done"),
    )
    .await;
    d.stop().await;
    assert_chat_complete(&h);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_the_api_never_lets_through_gives_up_and_the_recording_stays_finished() {
    // The storm never ends; the merge may try for 3 s.
    let config = CONFIG.replace("merge_timeout = \"10m\"", "merge_timeout = \"3s\"");
    let h = harness(&scenario_with(100_000.0, ""), &config).await;
    let d = h.run_daemon();
    finished_after_end(&h).await;
    wait_until("the merge gives up", Duration::from_secs(60), || {
        merge_state(&h).as_deref() == Some("gave_up")
    })
    .await;
    d.stop().await;
    assert_eq!(h.state(ID).as_deref(), Some("finished"));
    assert!(folder(&h).join("video.mp4").is_file());
    let doc = broadcast_json(&h);
    assert_eq!(doc["recording"]["chat_merge"], "gave_up", "re-rendered");
    // What the live polls read before the storm is kept, and nothing the truth lacks.
    let (kept, truth) = (stored(&h), truth(&h));
    assert!(
        !kept.is_empty() && kept.is_subset(&truth),
        "{} kept",
        kept.len()
    );
    let list = crate::support::cli::iglive(
        ["list", "--json", "-c", &h.config_path.display().to_string()],
        "",
    )
    .await;
    let rows: serde_json::Value = serde_json::from_str(&list.stdout).expect("list --json");
    assert_eq!(rows[0]["chat_merge"], "gave_up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_endpoints_answering_404_end_the_merge_with_what_the_live_read() {
    // No storm at all (it "ends" before the start); the replay endpoints are withdrawn
    // (docs/instagram.md §8), so the merge learns the final status and stops at the 404.
    let h = harness(
        &scenario_with(0.5, "replay_endpoints = \"not_found\""),
        CONFIG,
    )
    .await;
    let d = h.run_daemon();
    finished_after_end(&h).await;
    wait_until("the merge lands", Duration::from_secs(60), || {
        merge_state(&h).as_deref() == Some("done")
    })
    .await;
    d.stop().await;
    let doc = broadcast_json(&h);
    assert_eq!(doc["recording"]["chat_merge"], "done");
    assert_eq!(doc["final_status"], "stopped");
    let asked: Vec<u16> = h
        .sim
        .requests()
        .iter()
        .filter(|r| r.path.contains("get_post_live_comments"))
        .map(|r| r.status)
        .collect();
    assert_eq!(asked, [404], "one call, answered 404, not retried");
    let (kept, truth) = (stored(&h), truth(&h));
    assert!(kept.is_subset(&truth));
    assert!(
        kept.len() * 10 >= truth.len() * 9,
        "the live polls read {} of {} comments",
        kept.len(),
        truth.len()
    );
}
