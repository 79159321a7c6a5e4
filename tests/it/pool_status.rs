//! `/sessions` and `/metrics` against the simulator's own count: once traffic has stopped,
//! every session's state, budget (limit and last minute) and requests by endpoint are the
//! figures the simulator saw from that session (its per-session `/truth` and its request log).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::support::daemon::{get_json, get_text, session_of, wait_until, Harness};

const ID: &str = "17900000000000999";
const SPEED: f64 = 10.0;

fn scenario() -> String {
    let mut s = format!(
        r#"seed = 23
[throttle]
rate_per_minute = 1000000

[[accounts]]
pk = 7001
username = "counted.host"
followed = false

[[broadcasts]]
id = {ID}
owner = 7001
start = 0.0
duration = 120.0
end_status = "stopped"
segments = {{ duration_ms = 2000, jitter_ms = 100, base_segments = 6 }}

[[broadcasts.comment_streams]]
from = 2.0
to = 119.0
per_second = 1.0
texts = ["hi"]
"#
    );
    for i in 0..4 {
        s.push_str(&format!(
            "\n[[accounts]]\npk = {}\nusername = \"quiet.{i}\"\nfollowed = false\n",
            7100 + i
        ));
    }
    s
}

fn config() -> String {
    let mut s = String::from(
        "[recording]\nheartbeat_interval = \"300ms\"\ncomments_interval = \"300ms\"\n\
         likes_interval = \"400ms\"\ninterrupted_grace = \"5s\"\n\
         [[accounts]]\nuser_id = \"7001\"\n",
    );
    for i in 0..4 {
        s.push_str(&format!("[[accounts]]\nuser_id = \"{}\"\n", 7100 + i));
    }
    s
}

/// The daemon's endpoint name for a simulator path (src/instagram/endpoint.rs).
fn endpoint_of(path: &str) -> &'static str {
    [
        ("/story/", "story_feed"),
        ("/heartbeat_and_get_viewer_count/", "heartbeat"),
        ("/get_comment/", "comments"),
        ("/get_like_count/", "like_count"),
        ("/get_post_live_comments/", "post_live_comments"),
        ("/get_post_live_likes/", "post_live_likes"),
        ("/reels_tray/", "reels_tray"),
        ("/info/", "broadcast_info"),
    ]
    .iter()
    .find(|(p, _)| path.contains(p))
    .map_or("other", |(_, e)| e)
}

/// Session → endpoint → requests, as the simulator logged them.
fn sim_counts(h: &Harness) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut out: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for r in h.sim.requests() {
        if !r.path.starts_with("/api/v1/") {
            continue;
        }
        if let Some(s) = session_of(&r) {
            *out.entry(s)
                .or_default()
                .entry(endpoint_of(&r.path).to_string())
                .or_default() += 1;
        }
    }
    out
}

/// One Prometheus sample's value, by metric name and labels (in the exposition's order).
fn sample(metrics: &str, name_and_labels: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_and_metrics_show_the_figures_the_simulator_saw() {
    let h = Harness::start(&scenario(), SPEED, &config()).await;
    let base = h.listen();
    h.with_sessions(&["a", "b", "c"], "");
    // The live runs from the simulator's start for 12 real seconds, so the one detection poll at
    // start finds it however fast or slow the daemon starts. Different budgets, refused sessions never retried: once the
    // recording is over, nothing is sent and the figures must match exactly.
    h.edit_config(|t| {
        t.replace(
            "poll_interval = \"300ms\"",
            "poll_interval = \"1h\"\nuse_reels_tray = false",
        )
        .replace(
            "request_timeout = \"5s\"",
            "request_timeout = \"5s\"\nsession_retry = \"1h\"",
        )
        .replace(
            "session_file = \"session-a.json\"\n",
            "session_file = \"session-a.json\"\nmax_requests_per_minute = 500\n",
        )
        .replace(
            "session_file = \"session-b.json\"\n",
            "session_file = \"session-b.json\"\nmax_requests_per_minute = 300\n",
        )
    });
    h.force_session("c", "challenged").await;
    let started = std::time::Instant::now();
    let run = h.run_daemon();
    wait_until("the recording finishes", Duration::from_secs(60), || {
        matches!(h.state(ID).as_deref(), Some("finished" | "failed"))
    })
    .await;
    // Quiet: no API request for two real seconds.
    let mut last = (h.sim.requests().len(), std::time::Instant::now());
    wait_until("traffic stops", Duration::from_secs(30), || {
        let n = h.sim.requests().len();
        if n != last.0 {
            last = (n, std::time::Instant::now());
        }
        last.1.elapsed() > Duration::from_secs(2)
    })
    .await;
    let doc = get_json(&format!("{base}/sessions")).await;
    let metrics = get_text(&format!("{base}/metrics")).await;
    let seen = sim_counts(&h);
    let truth = h.sim.truth().sessions;
    let quiet = h.sim.requests().len() == last.0;
    let elapsed = started.elapsed();
    run.stop().await;
    assert!(quiet, "traffic resumed while the figures were read");
    assert!(
        elapsed < Duration::from_secs(55),
        "the whole run fits one budget minute"
    );

    let sessions = doc.as_array().expect("an array of sessions");
    let names: Vec<&str> = sessions.iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    for s in sessions {
        let name = s["name"].as_str().expect("name");
        let sid = format!("sid-{name}");
        let mut by_endpoint: BTreeMap<String, u64> = BTreeMap::new();
        for (endpoint, outcomes) in s["requests"].as_object().expect("requests") {
            let n: u64 = outcomes
                .as_object()
                .expect("outcomes")
                .values()
                .filter_map(|v| v.as_u64())
                .sum();
            by_endpoint.insert(endpoint.clone(), n);
        }
        let expected = seen.get(name).cloned().unwrap_or_default();
        // Every request iglive sends is counted, a poll cancelled when the recording ends as
        // `cancelled`; such a one may not have reached the simulator, so iglive may count one
        // per endpoint more than the simulator saw, never fewer.
        let keys: BTreeSet<&String> = by_endpoint.keys().chain(expected.keys()).collect();
        for k in keys {
            let (got, saw) = (
                by_endpoint.get(k).copied().unwrap_or(0),
                expected.get(k).copied().unwrap_or(0),
            );
            assert!(
                saw <= got && got <= saw + 1,
                "{name}: {k}: iglive counted {got}, the simulator saw {saw}: {by_endpoint:?} vs {expected:?}"
            );
        }
        let total: u64 = expected.values().sum();
        let counted: u64 = by_endpoint.values().sum();
        assert!(total > 0, "{name} sent something");
        let budgeted = s["budget"]["last_minute"].as_u64().unwrap_or(0);
        assert!(
            budgeted.abs_diff(total) <= 1,
            "{name}: the budget counted {budgeted} requests, the simulator saw {total}"
        );
        let metric_total: f64 = metrics
            .lines()
            .filter(|l| {
                l.starts_with("iglive_api_requests_total{")
                    && l.contains(&format!("session=\"{name}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        assert_eq!(metric_total, counted as f64, "{name}: /metrics requests");
        let state = s["state"]["state"].as_str().expect("state");
        assert_eq!(
            sample(
                &metrics,
                &format!("iglive_session_state{{session=\"{name}\",state=\"{state}\"}}")
            ),
            Some(1.0),
            "{name}: /metrics state"
        );
        let limit = s["budget"]["per_minute"].as_u64().expect("limit");
        assert_eq!(
            sample(
                &metrics,
                &format!("iglive_session_budget_per_minute{{session=\"{name}\"}}")
            ),
            Some(limit as f64)
        );
        match name {
            // The simulator's throttle model counted every request it answered.
            "a" | "b" => {
                assert_eq!(state, "ok");
                let t = &truth[&sid];
                assert_eq!(t.requests_last_hour as u64, total, "{name}: /truth");
                assert_eq!(format!("{:?}", t.stage), "Fine");
                assert_eq!(limit, if name == "a" { 500 } else { 300 });
            }
            _ => {
                assert_eq!(state, "challenged", "c was refused");
                assert!(
                    s["requests"]["story_feed"]["challenge"].as_u64().is_some()
                        || s["requests"]
                            .as_object()
                            .is_some_and(|r| r.values().any(|o| o
                                .as_object()
                                .is_some_and(|o| o.keys().any(|k| k.contains("challenge"))))),
                    "c's refusals are counted as such: {}",
                    s["requests"]
                );
                assert_eq!(limit, 600);
            }
        }
    }
}
