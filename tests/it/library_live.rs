//! The library inside the running daemon: a simulated broadcast shows up in `/api/v1/live`,
//! `/api/v1/events` streams its progress (`live`) and its end (`recording`), the session and
//! the watch list are the daemon's own, an account added over the API is watched at once, and
//! the status endpoint's routes still answer as before.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::daemon::{Harness, FAST_ENGAGEMENT};
use crate::support::library::Server;

const ID: &str = "17900000000006001";

const SCENARIO: &str = r#"
seed = 11

[[accounts]]
pk = 6001
username = "live.host"
followed = true

[[broadcasts]]
id = 17900000000006001
owner = 6001
start = 1.0
duration = 60.0
end_status = "stopped"
post_live_after = 1.0
segments = { duration_ms = 2000, jitter_ms = 100, base_segments = 4 }
likes = [[0.0, 0.0], [60.0, 600.0]]
viewers = [[0.0, 5.0], [30.0, 90.0], [60.0, 40.0]]

[[broadcasts.comment_streams]]
from = 2.0
to = 58.0
per_second = 2.0
texts = ["so live", "hello from the sim"]
"#;

const ACCOUNTS: &str = r#"
[[accounts]]
user_id = "6001"
"#;

/// Reads server-sent events from `resp` until `done` says so or `limit` passes.
async fn read_events(
    mut resp: reqwest::Response,
    limit: Duration,
    mut done: impl FnMut(&str, &Value) -> bool,
) {
    let deadline = Instant::now() + limit;
    let mut buf = String::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "the events did not arrive within {limit:?}"
        );
        let chunk = tokio::time::timeout(left, resp.chunk())
            .await
            .expect("an event within the limit")
            .expect("stream")
            .expect("the stream stays open");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(i) = buf.find("\n\n") {
            let block: String = buf.drain(..i + 2).collect();
            let mut event = "message".to_string();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(e) = line.strip_prefix("event:") {
                    event = e.trim().to_string();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim_start());
                }
            }
            if data.is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(&data).expect("event data is JSON");
            if done(&event, &v) {
                return;
            }
        }
    }
}

fn segments_of(items: &Value) -> Option<i64> {
    items.as_array()?.iter().find(|i| i["broadcast_id"] == ID)?["segments_captured"].as_i64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_recording_streams_its_progress_and_its_end() {
    let h = Harness::start(SCENARIO, 5.0, &format!("{FAST_ENGAGEMENT}{ACCOUNTS}")).await;
    let base = h.listen();
    drop(h.store());
    let d = h.run_daemon();
    let s = Server::new(base.clone(), None);
    let mut answered = false;
    for _ in 0..200 {
        if s.http.get(s.url("/health")).send().await.is_ok() {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(answered, "the status listener answers");

    // It shows up in /api/v1/live with capture figures from the daemon.
    let deadline = Instant::now() + Duration::from_secs(60);
    let first = loop {
        let live = s.get("/api/v1/live").await;
        assert_eq!(live.status, 200);
        if let Some(n) = segments_of(&live.json["data"]).filter(|n| *n > 0) {
            let item = live.json["data"][0].clone();
            assert_eq!(item["in_this_process"], true);
            assert_eq!(item["username"], "live.host");
            break n;
        }
        assert!(
            Instant::now() < deadline,
            "the broadcast never showed up as live"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // The daemon's own session, watch list and status routes.
    let sessions = s.get("/api/v1/sessions").await;
    assert_eq!(sessions.json["data"][0]["state"], "ok", "{}", sessions.json);
    let accounts = s.get("/api/v1/accounts").await;
    assert_eq!(
        accounts.json["data"][0]["state"], "recording",
        "{}",
        accounts.json
    );
    let added = s
        .send(
            s.http
                .post(s.url("/api/v1/accounts"))
                .json(&serde_json::json!({"user_id": "6002", "label": "second"})),
        )
        .await;
    assert_eq!(added.status, 201, "{}", added.json);
    assert_eq!(
        added.json["data"]["state"], "watching",
        "the daemon watches it at once"
    );
    assert!(h.config().accounts.iter().any(|a| a.user_id == "6002"));
    let recs = s.get("/recordings").await;
    assert!(
        recs.json
            .as_array()
            .is_some_and(|a| a.iter().any(|r| r["broadcast_id"] == ID)),
        "{}",
        recs.json
    );
    assert_eq!(s.get("/ready").await.status, 200);
    assert!(String::from_utf8_lossy(&s.get("/metrics").await.bytes)
        .contains("iglive_recordings_in_progress 1"));

    // The event stream: progress while live, then the end.
    let resp = s
        .http
        .get(s.url("/api/v1/events"))
        .send()
        .await
        .expect("events");
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .expect("ctype")
        .starts_with("text/event-stream"));
    let mut seen: Vec<i64> = Vec::new();
    let mut comments_seen = false;
    let mut ended = None;
    read_events(resp, Duration::from_secs(90), |event, data| {
        match event {
            "live" => {
                if let Some(n) = segments_of(data) {
                    seen.push(n);
                    let item = data
                        .as_array()
                        .and_then(|a| a.iter().find(|i| i["broadcast_id"] == ID));
                    if item.is_some_and(|i| {
                        i["latest_comments"]
                            .as_array()
                            .is_some_and(|c| !c.is_empty())
                    }) {
                        comments_seen = true;
                    }
                }
            }
            "recording" if data["broadcast_id"] == ID => {
                if let Some(st) = data["status"]
                    .as_str()
                    .filter(|s| ["finished", "failed"].contains(s))
                {
                    ended = Some(st.to_string());
                    return true;
                }
            }
            _ => {}
        }
        false
    })
    .await;
    assert!(seen.len() >= 2, "several live updates: {seen:?}");
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]) && seen.last() > Some(&first),
        "{seen:?}"
    );
    assert!(comments_seen, "the latest comments ride along");
    assert_eq!(ended.as_deref(), Some("finished"));
    let after = s.get("/api/v1/live").await;
    assert_eq!(after.json["data"], serde_json::json!([]));
    let rec = s.get(&format!("/api/v1/recordings/{ID}")).await;
    assert_eq!(rec.json["data"]["status"], "finished");
    assert_eq!(rec.json["data"]["is_being_updated"], false);
    assert!(rec.json["data"]["video_url"].is_string());
    d.stop().await;
}
