//! Lives beyond `recording.max_concurrent` wait (`waiting`, visible) and are recorded from
//! their first segment when a slot frees, even after they ended; a status address that cannot
//! be bound never stops recording; a broadcast found through a watched guest is recorded under
//! its owner, naming the watched accounts that led to it.

use std::time::Duration;

use serde_json::Value;

use crate::support::capture::held;
use crate::support::cli::iglive;
use crate::support::daemon::{wait_until, Harness};

fn states(h: &Harness) -> Vec<(String, String)> {
    let Ok(conn) = h.store().connect() else {
        return Vec::new();
    };
    let Ok(mut stmt) = conn.prepare("SELECT broadcast_id, state FROM recordings") else {
        return Vec::new();
    };
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map(|rows| rows.filter_map(Result::ok).collect())
        .unwrap_or_default()
}

fn count_in(h: &Harness, state: &str) -> usize {
    states(h).iter().filter(|(_, s)| s == state).count()
}

async fn get_json(url: &str) -> Option<Value> {
    let r = crate::support::sim::client().get(url).send().await.ok()?;
    r.json().await.ok()
}

fn config_arg(h: &Harness) -> [String; 2] {
    ["-c".into(), h.config_path.display().to_string()]
}

const LIVES: u64 = 12;

fn twelve_lives() -> String {
    let mut s = String::from("seed = 5\n");
    for i in 0..LIVES {
        s.push_str(&format!(
            "[[accounts]]\npk = {pk}\nusername = \"wait.{i}\"\n\n",
            pk = 8100 + i
        ));
    }
    for i in 0..LIVES {
        s.push_str(&format!(
            r#"[[broadcasts]]
id = {id}
owner = {pk}
start = 1.0
duration = 24.0
period_removed_after = 2.0
gone_after = 100000.0
segments = {{ duration_ms = 2000, jitter_ms = 100, base_segments = 4 }}

"#,
            id = 18100 + i,
            pk = 8100 + i
        ));
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twelve_lives_with_eight_slots_are_all_recorded_from_their_first_segment() {
    let accounts: String = (0..LIVES)
        .map(|i| format!("[[accounts]]\nuser_id = \"{}\"\n", 8100 + i))
        .collect();
    let h = Harness::start(
        &twelve_lives(),
        8.0,
        &format!("[recording]\nmax_concurrent = 8\nkeep_segments = true\n{accounts}"),
    )
    .await;
    h.edit_config(|t| {
        t.replace(
            "max_requests_per_minute = 600",
            "max_requests_per_minute = 6000",
        )
    });
    let base = h.listen();
    let daemon = h.run_daemon();
    // While the first eight record, the others wait, visibly: /recordings, database, list.
    let mut seen_in_status = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !seen_in_status {
        assert!(
            tokio::time::Instant::now() < deadline,
            "/recordings never showed a waiting live"
        );
        if let Some(v) = get_json(&format!("{base}/recordings")).await {
            let list = v.as_array().cloned().unwrap_or_default();
            let recording = list.iter().filter(|r| r["state"] != "waiting").count();
            assert!(recording <= 8, "never more than max_concurrent: {v}");
            seen_in_status = list.iter().any(|r| r["state"] == "waiting");
        }
        if !seen_in_status {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    wait_until(
        "lives waiting in the database",
        Duration::from_secs(10),
        || count_in(&h, "waiting") > 0,
    )
    .await;
    let listed = iglive(
        ["list", "--json"]
            .into_iter()
            .map(String::from)
            .chain(config_arg(&h)),
        "",
    )
    .await;
    let waiting_listed = serde_json::from_str::<Value>(&listed.stdout)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter(|r| r["status"] == "waiting")
        .count();
    assert!(waiting_listed > 0, "list --json: {}", listed.stdout);
    wait_until("every live recorded", Duration::from_secs(150), || {
        count_in(&h, "finished") + count_in(&h, "failed") == LIVES as usize
    })
    .await;
    daemon.stop().await;
    let conn = h.store().connect().expect("connect");
    for i in 0..LIVES {
        let id = (18100 + i).to_string();
        let (state, error, folder, missing, first): (String, Option<String>, String, i64, i64) =
            conn.query_row(
                "SELECT state, error, folder, segments_missing, first_segment_t FROM recordings WHERE broadcast_id = ?1",
                [&id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .expect("row");
        assert_eq!(state, "finished", "{id}: {error:?}");
        let truth = h.truth_segment_ts(&id);
        let (ts, files) = held(&std::path::Path::new(&folder).join(".segments"), "video");
        assert_eq!(ts, truth, "{id}: every published segment, from the first");
        assert_eq!(files, ts.len(), "{id}: no duplicates");
        assert_eq!(missing, 0, "{id}");
        assert_eq!(first as u64, truth[0], "{id}: from the first segment");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_live_whose_segments_are_gone_fails_saying_so() {
    // One slot; the second live ends and is gone from the CDN before the first finishes. The
    // first records video only, so that its engagement polls do not stretch detection past the
    // second live's two seconds (both share the one budget).
    let scenario = r#"
seed = 6
[[accounts]]
pk = 8201
username = "first.one"
[[accounts]]
pk = 8202
username = "gone.soon"

[[broadcasts]]
id = 18201
owner = 8201
start = 1.0
duration = 30.0
segments = { duration_ms = 2000, jitter_ms = 0, base_segments = 4 }

[[broadcasts]]
id = 18202
owner = 8202
start = 4.0
duration = 8.0
period_removed_after = 0.5
gone_after = 1.0
segments = { duration_ms = 2000, jitter_ms = 0, base_segments = 4 }
"#;
    let h = Harness::start(
        scenario,
        4.0,
        "[recording]\nmax_concurrent = 1\n[[accounts]]\nuser_id = \"8201\"\nengagement = \"video\"\n[[accounts]]\nuser_id = \"8202\"\n",
    )
    .await;
    let daemon = h.run_daemon();
    wait_until("both settled", Duration::from_secs(120), || {
        let s = states(&h);
        s.len() == 2 && s.iter().all(|(_, st)| st == "finished" || st == "failed")
    })
    .await;
    daemon.stop().await;
    // The first took the only slot; the second waited, ended, and was gone from the CDN.
    let s = states(&h);
    assert!(s.contains(&("18201".into(), "finished".into())), "{s:?}");
    assert!(s.contains(&("18202".into(), "failed".into())), "{s:?}");
    let conn = h.store().connect().expect("connect");
    let error: Option<String> = conn
        .query_row(
            "SELECT error FROM recordings WHERE broadcast_id = '18202'",
            [],
            |r| r.get(0),
        )
        .expect("row");
    let error = error.expect("a reason");
    assert!(
        error.contains("waiting for a recording slot") && error.contains("no longer has"),
        "{error}"
    );
}

const GUESTS: &str = r#"
seed = 7
[[accounts]]
pk = 8301
username = "the.host"
full_name = "The Host"
[[accounts]]
pk = 8302
username = "guest.a"
[[accounts]]
pk = 8303
username = "guest.b"

[[broadcasts]]
id = 18301
owner = 8301
cobroadcasters = [8302, 8303]
start = 1.0
duration = 10.0
segments = { duration_ms = 2000, jitter_ms = 0, base_segments = 4 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_found_through_two_watched_guests_is_one_recording_under_its_owner() {
    // Only the guests are watched; the host is not.
    let h = Harness::start(
        GUESTS,
        4.0,
        "[[accounts]]\nuser_id = \"8302\"\n[[accounts]]\nuser_id = \"8303\"\n",
    )
    .await;
    let base = h.listen();
    let daemon = h.run_daemon();
    wait_until("the recording finished", Duration::from_secs(90), || {
        h.state("18301").as_deref() == Some("finished")
    })
    .await;
    let api = get_json(&format!("{base}/api/v1/recordings/18301")).await;
    daemon.stop().await;
    assert_eq!(states(&h).len(), 1, "one recording: {:?}", states(&h));
    let both = |via: &Value| {
        let mut ids: Vec<String> = via
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v["user_id"].as_str().map(str::to_string))
            .collect();
        ids.sort();
        ids == ["8302", "8303"]
    };
    // list --json: under the owner, via both guests.
    let listed = iglive(
        ["list", "--json"]
            .into_iter()
            .map(String::from)
            .chain(config_arg(&h)),
        "",
    )
    .await;
    let rows: Value = serde_json::from_str(&listed.stdout).expect("list json");
    let row = &rows[0];
    assert_eq!(row["user_id"], "8301", "{row}");
    assert_eq!(row["username"], "the.host", "{row}");
    assert!(both(&row["via"]), "{row}");
    let folder = row["folder"].as_str().expect("folder");
    assert!(
        folder.contains("/the.host/"),
        "the owner's folder: {folder}"
    );
    // broadcast.json in the folder, and `show --json`.
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(std::path::Path::new(folder).join("broadcast.json"))
            .expect("broadcast.json"),
    )
    .expect("json");
    assert_eq!(doc["owner"]["pk"], "8301", "{doc}");
    assert!(both(&doc["via"]), "{doc}");
    let shown = iglive(
        ["show", "18301", "--json"]
            .into_iter()
            .map(String::from)
            .chain(config_arg(&h)),
        "",
    )
    .await;
    let shown: Value = serde_json::from_str(&shown.stdout).expect("show json");
    assert!(both(&shown["via"]), "{shown}");
    let text = iglive(
        ["show", "18301"]
            .into_iter()
            .map(String::from)
            .chain(config_arg(&h)),
        "",
    )
    .await;
    assert!(
        text.stdout.contains("guest.a") && text.stdout.contains("guest.b"),
        "{}",
        text.stdout
    );
    // The library's recording object.
    let api = api.expect("library answered");
    let rec = if api.get("data").is_some() {
        &api["data"]
    } else {
        &api
    };
    assert_eq!(rec["user_id"], "8301", "{api}");
    assert!(both(&rec["via"]), "{api}");
}

const ONE_LIVE: &str = r#"
seed = 8
[[accounts]]
pk = 8401
username = "port.taken"

[[broadcasts]]
id = 18401
owner = 8401
start = 1.0
duration = 8.0
segments = { duration_ms = 2000, jitter_ms = 0, base_segments = 4 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_status_port_never_stops_recording_and_comes_up_once_free() {
    let h = Harness::start(ONE_LIVE, 4.0, "[[accounts]]\nuser_id = \"8401\"\n").await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    h.edit_config(|t| {
        t.replace(
            "listen = \"off\"",
            &format!("listen = \"127.0.0.1:{port}\""),
        )
    });
    let daemon = h.run_daemon();
    wait_until(
        "recorded while the port is taken",
        Duration::from_secs(90),
        || h.state("18401").as_deref() == Some("finished"),
    )
    .await;
    // doctor names the taken port and the fix.
    let doctor = iglive(
        ["doctor"]
            .into_iter()
            .map(String::from)
            .chain(config_arg(&h)),
        "",
    )
    .await;
    assert_eq!(doctor.code, Some(1), "{}", doctor.all());
    assert!(
        doctor.stdout.contains("FAIL  status listener")
            && doctor.stdout.contains(&port.to_string())
            && doctor.stdout.contains("status.listen"),
        "{}",
        doctor.stdout
    );
    drop(taken);
    let health = format!("http://127.0.0.1:{port}/health");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let ok = match crate::support::sim::client().get(&health).send().await {
            Ok(r) => r.status().is_success(),
            Err(_) => false,
        };
        if ok {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the listener never came up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Now it listens, doctor sees the running iglive there.
    let doctor = iglive(
        ["doctor"]
            .into_iter()
            .map(String::from)
            .chain(config_arg(&h)),
        "",
    )
    .await;
    assert!(
        doctor.stdout.contains("ok    status listener"),
        "{}",
        doctor.stdout
    );
    daemon.stop().await;
}
