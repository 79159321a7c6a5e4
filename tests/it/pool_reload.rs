//! SIGHUP reloads the pool (the real binary): a session added, one removed and one whose
//! challenged file was replaced by a fresh login come out right in `/sessions` and in
//! detection while a recording goes on untouched; a session file deleted mid-run is reported
//! with its path and the fix, and that session keeps its old credential (it stays in the pool
//! until its file is fixed or Instagram refuses it) while everything else carries on.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::Value;

use crate::support::daemon::{get_json, session_of, wait_until, Harness, Process};

const ID: &str = "17900000000000777";
const SPEED: f64 = 10.0;
const QUIET: u64 = 8;

fn scenario(duration: f64) -> String {
    let mut s = format!(
        r#"seed = 17
comment_page_cap = 50

[[accounts]]
pk = 7001
username = "reload.host"
followed = false

[[broadcasts]]
id = {ID}
owner = 7001
start = 1.0
duration = {duration}
end_status = "stopped"
segments = {{ duration_ms = 2000, jitter_ms = 100, base_segments = 6 }}

[[broadcasts.comment_streams]]
from = 2.0
to = {to}
per_second = 2.0
texts = ["hi", "again"]
"#,
        to = duration - 1.0
    );
    for i in 0..QUIET {
        s.push_str(&format!(
            "\n[[accounts]]\npk = {}\nusername = \"quiet.{i}\"\nfollowed = false\n",
            7100 + i
        ));
    }
    s
}

fn config() -> String {
    let mut s = String::from(
        "[recording]\nheartbeat_interval = \"500ms\"\ncomments_interval = \"300ms\"\n\
         likes_interval = \"500ms\"\ninterrupted_grace = \"5s\"\n\
         [[accounts]]\nuser_id = \"7001\"\n",
    );
    for i in 0..QUIET {
        s.push_str(&format!("[[accounts]]\nuser_id = \"{}\"\n", 7100 + i));
    }
    s
}

/// The pool as `/sessions` shows it: name → state.
async fn states(base: &str) -> Vec<(String, String)> {
    let doc = get_json(&format!("{base}/sessions")).await;
    doc.as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap_or_default().to_string(),
                s["state"]["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

async fn wait_states(base: &str, what: &str, want: &[(&str, &str)]) {
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let now = states(base).await;
        if now == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: /sessions says {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sessions that polled a story feed after `from` (simulated seconds).
fn detecting_sessions(h: &Harness, from: f64) -> BTreeSet<String> {
    h.sim
        .requests()
        .iter()
        .filter(|r| r.at > from && r.path.contains("/story/"))
        .filter_map(session_of)
        .collect()
}

fn stored_comments(h: &Harness) -> Vec<String> {
    let conn = h.store().connect().expect("connect");
    let mut stmt = conn
        .prepare("SELECT pk FROM comments WHERE broadcast_id = ?1 AND kind = 'comment'")
        .expect("prepare");
    stmt.query_map([ID], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

/// The recording finished with every segment and every comment exactly once.
async fn assert_recorded_whole(h: &Harness, daemon: &Process) {
    wait_until("the recording finishes", Duration::from_secs(90), || {
        matches!(h.state(ID).as_deref(), Some("finished" | "failed"))
    })
    .await;
    assert_eq!(
        h.state(ID).as_deref(),
        Some("finished"),
        "{}",
        daemon.log_text()
    );
    let missing = h.count(
        "SELECT segments_missing FROM recordings WHERE broadcast_id = ?1",
        ID,
    );
    assert_eq!(missing, 0, "the video went on through the reload");
    let stored = stored_comments(h);
    let unique: BTreeSet<String> = stored.iter().cloned().collect();
    assert_eq!(stored.len(), unique.len(), "a comment was stored twice");
    let truth = h.sim.truth();
    let published: BTreeSet<String> = truth
        .broadcasts
        .iter()
        .find(|b| b.id == ID)
        .expect("truth")
        .comments
        .iter()
        .map(|c| c.pk.clone())
        .collect();
    assert_eq!(unique, published, "every published comment, once");
}

async fn stop(mut daemon: Process) {
    daemon.signal(Signal::SIGTERM);
    let status = daemon.wait(Duration::from_secs(90)).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "clean exit: {}",
        daemon.log_text()
    );
}

/// A fresh login for session `name`: its file now holds `sessionid = sid-<sid>`.
fn write_session(h: &Harness, name: &str, sid: &str) {
    let file = h.dir().join(format!("session-{name}.json"));
    let mut json: Value = serde_json::from_str(&iglive::sim::session_json()).expect("session json");
    json["cookies"]["sessionid"] = format!("sid-{sid}").into();
    std::fs::write(&file, json.to_string()).expect("session file");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_adds_removes_and_revives_sessions_without_interrupting_a_recording() {
    let h = Harness::start(&scenario(150.0), SPEED, &config()).await;
    let base = h.listen();
    h.with_sessions(&["a", "b", "c"], "");
    // c's login is challenged from the start.
    h.force_session("c", "challenged").await;
    let daemon = h.spawn_binary(0);
    wait_until("the recording starts", Duration::from_secs(30), || {
        h.state(ID).as_deref() == Some("recording")
    })
    .await;
    wait_states(
        &base,
        "c challenged",
        &[("a", "ok"), ("b", "ok"), ("c", "challenged")],
    )
    .await;

    // b leaves, d joins, c's file is replaced by a fresh login (sid-c2, not challenged).
    write_session(&h, "d", "d");
    write_session(&h, "c", "c2");
    h.edit_config(|t| {
        t.replace(
            "[[sessions]]\nname = \"b\"\nsession_file = \"session-b.json\"\n",
            "",
        ) + "\n[[sessions]]\nname = \"d\"\nsession_file = \"session-d.json\"\n"
    });
    daemon.signal(Signal::SIGHUP);
    wait_states(
        &base,
        "the reloaded pool",
        &[("a", "ok"), ("c", "ok"), ("d", "ok")],
    )
    .await;
    // Requests sent before the reload may still be answered; give them a simulated second.
    let reloaded = h.sim.now() + 1.0;
    wait_until(
        "detection runs on a, c (its new login) and d",
        Duration::from_secs(30),
        || {
            let s = detecting_sessions(&h, reloaded);
            ["a", "c2", "d"].iter().all(|n| s.contains(*n))
        },
    )
    .await;
    assert_recorded_whole(&h, &daemon).await;
    let after = detecting_sessions(&h, reloaded);
    assert!(
        !after.contains("b"),
        "the removed session polled: {after:?}"
    );
    assert!(
        !after.contains("c"),
        "the challenged login polled: {after:?}"
    );
    stop(daemon).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_file_deleted_mid_run_is_reported_and_its_old_credential_kept() {
    let h = Harness::start(&scenario(100.0), SPEED, &config()).await;
    let base = h.listen();
    h.with_sessions(&["a", "b"], "");
    let daemon = h.spawn_binary(0);
    wait_until("the recording starts", Duration::from_secs(30), || {
        h.state(ID).as_deref() == Some("recording")
    })
    .await;
    let file = h.dir().join("session-b.json");
    std::fs::remove_file(&file).expect("delete b's file");
    daemon.signal(Signal::SIGHUP);
    let path = file.display().to_string();
    wait_until("the reload is reported", Duration::from_secs(30), || {
        daemon.log_text().contains("configuration reloaded")
    })
    .await;
    let log = daemon.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("session not reloaded"))
        .unwrap_or_else(|| panic!("no error about b's file: {log}"));
    assert!(line.contains(&path), "names the file: {line}");
    assert!(line.contains("cannot read the session file"), "{line}");
    assert!(line.contains("create it"), "says what to do: {line}");
    // The old credential stays: b is still in the pool and still polls.
    wait_states(&base, "b kept", &[("a", "ok"), ("b", "ok")]).await;
    let reloaded = h.sim.now() + 1.0;
    wait_until("b still detects", Duration::from_secs(30), || {
        detecting_sessions(&h, reloaded).contains("b")
    })
    .await;
    assert_recorded_whole(&h, &daemon).await;
    stop(daemon).await;
}
