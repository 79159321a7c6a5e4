//! `[[notify]]` hooks: a webhook receiver on 127.0.0.1 gets each event of a
//! simulated broadcast exactly once with the documented payload, a command hook gets the same
//! facts in its environment and on stdin, and hooks that hang or fail delay neither the
//! recording's finalization nor the daemon's exit.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::daemon::{wait_until, Harness};
use axum::extract::State;
use axum::http::HeaderMap;

const ID: &str = "17900000000000888";

const SCENARIO: &str = r#"
seed = 3

[[accounts]]
pk = 7001
username = "hook.host"
full_name = "Hook Host"
followed = true

[[broadcasts]]
id = 17900000000000888
owner = 7001
start = 1.0
duration = 30.0
end_status = "stopped"
post_live_after = 1.0
segments = { duration_ms = 2000, jitter_ms = 100, base_segments = 4 }
likes = [[0.0, 0.0], [30.0, 100.0]]
viewers = [[0.0, 5.0], [30.0, 50.0]]

[[broadcasts.comments]]
at = 5.0
text = "hello"
"#;

type Received = Arc<Mutex<Vec<(String, serde_json::Value)>>>;

/// A webhook receiver that records every POST (event header and JSON body).
async fn receiver() -> (String, Received) {
    let got: Received = Arc::default();
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |State(got): State<Received>, headers: HeaderMap, body: String| async move {
                    let event = headers
                        .get("x-iglive-event")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    let json = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
                    got.lock().expect("lock").push((event, json));
                    "ok"
                },
            ),
        )
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), got)
}

/// A receiver that accepts connections and never answers.
async fn black_hole() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
            if held.len() > 100 {
                break;
            }
        }
    });
    format!("http://{addr}/hang")
}

fn events(got: &Received) -> Vec<String> {
    got.lock()
        .expect("lock")
        .iter()
        .map(|(e, _)| e.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_event_once_and_hanging_hooks_do_not_delay() {
    let (url, got) = receiver().await;
    let hang = black_hole().await;
    let scratch = tempfile::tempdir().expect("tempdir");
    let log = scratch.path().join("events.log");
    let script = scratch.path().join("hook.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s %s %s\\n' \"$IGLIVE_EVENT\" \"$IGLIVE_BROADCAST_ID\" \"$IGLIVE_USERNAME\" >> {log}\ncat > {dir}/$IGLIVE_EVENT.json\n",
            log = log.display(),
            dir = scratch.path().display()
        ),
    )
    .expect("script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let config = format!(
        r#"
[recording]
heartbeat_interval = "300ms"
comments_interval = "300ms"
likes_interval = "500ms"
interrupted_grace = "30s"

[[accounts]]
user_id = "7001"

[[notify]]
name = "receiver"
url = "{url}"

[[notify]]
name = "hangs"
url = "{hang}"
timeout = "60s"
retries = 5

[[notify]]
name = "fails"
command = ["/bin/sh", "-c", "exit 7"]

[[notify]]
name = "sleeps"
shell = "sleep 60"
timeout = "60s"
events = ["recording_finished", "recording_failed"]

[[notify]]
name = "script"
command = ["{script}"]
"#,
        script = script.display()
    );
    let h = Harness::start(SCENARIO, 10.0, &config).await;
    // Migrated before the daemon and this test both open it (two first opens can race).
    drop(h.store());
    let d = h.run_daemon();
    let terminal = |e: &String| e == "recording_finished" || e == "recording_failed";
    wait_until(
        "the receiver hears the end of the recording",
        Duration::from_secs(90),
        || events(&got).iter().any(terminal),
    )
    .await;
    // The recording is settled in the database while the hanging hooks are still hanging.
    let state = h.state(ID).expect("recording row");
    assert!(state == "finished" || state == "failed", "state {state}");
    let stopping = Instant::now();
    d.stop().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(20),
        "hanging hooks delayed the exit by {:?}",
        stopping.elapsed()
    );

    let seen = events(&got);
    for e in ["live_detected", "recording_started"] {
        assert_eq!(
            seen.iter().filter(|x| *x == e).count(),
            1,
            "{e} once: {seen:?}"
        );
    }
    assert_eq!(seen.iter().filter(|e| terminal(e)).count(), 1, "{seen:?}");
    assert_eq!(seen.len(), 3, "{seen:?}");

    let all = got.lock().expect("lock").clone();
    for (event, body) in &all {
        assert_eq!(&body["event"], event, "header and body agree");
        assert_eq!(body["format"], "iglive-event/1");
        assert_eq!(body["broadcast_id"], ID);
        assert_eq!(body["user_id"], "7001");
        assert_eq!(body["username"], "hook.host");
        assert!(body["at"].as_str().is_some_and(|a| a.ends_with('Z')));
    }
    let (end_event, end) = all
        .iter()
        .find(|(e, _)| terminal(e))
        .expect("terminal event");
    let folder = end["folder"].as_str().expect("folder");
    assert!(std::path::Path::new(folder).starts_with(h.dir()));
    assert_eq!(end["recording"]["broadcast_id"], ID);
    assert_eq!(end["recording"]["recording"]["state"], state);
    assert_eq!(end["recording"]["engagement"]["comments"], 1);
    assert!(end["message"].as_str().is_some_and(|m| !m.is_empty()));
    if end_event == "recording_finished" {
        assert_eq!(end["video"], format!("{folder}/video.mp4"));
    }

    // The command hook saw the same events, with facts in its environment and on stdin.
    let lines = std::fs::read_to_string(&log).expect("hook log");
    let mut logged: Vec<&str> = lines.lines().collect();
    logged.sort();
    let mut expected = vec![
        format!("{end_event} {ID} hook.host"),
        format!("live_detected {ID} hook.host"),
        format!("recording_started {ID} hook.host"),
    ];
    expected.sort();
    assert_eq!(logged, expected);
    let stdin: serde_json::Value = serde_json::from_slice(
        &std::fs::read(scratch.path().join(format!("{end_event}.json"))).expect("stdin copy"),
    )
    .expect("stdin is JSON");
    assert_eq!(&stdin, end, "stdin carries the webhook's document");
}
