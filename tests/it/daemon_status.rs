//! The status endpoint (Prometheus text that parses, `/ready` turning unready when the
//! session expires), the free-space floor, and a disk that fills mid-recording.

use std::time::Duration;

use crate::support::daemon::{free_port, wait_until, Harness};
use nix::sys::signal::Signal;

fn scenario(id: &str, duration: f64, extra_top: &str) -> String {
    format!(
        r#"
seed = 3
{extra_top}

[[accounts]]
pk = 7001
username = "status.host"
followed = true

[[broadcasts]]
id = {id}
owner = 7001
start = 0.5
duration = {duration}
end_status = "stopped"
segments = {{ duration_ms = 2000, jitter_ms = 100, base_segments = 6 }}
"#
    )
}

/// Checks the Prometheus text exposition format line by line; returns the sample names.
fn parse_prometheus(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let kind = parts.next().expect("comment kind");
            assert!(kind == "HELP" || kind == "TYPE", "bad comment: {line}");
            if kind == "TYPE" {
                let t = rest.rsplit(' ').next().expect("type");
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&t),
                    "{line}"
                );
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample has a value");
        value
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
        let name = series.split('{').next().expect("name");
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                && !name.starts_with(|c: char| c.is_ascii_digit()),
            "bad metric name in {line}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            if !labels.is_empty() {
                assert!(
                    labels.starts_with('{') && labels.ends_with('}'),
                    "bad labels: {line}"
                );
            }
        }
        names.push(name.to_string());
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_ready_turns_unready_when_the_session_expires() {
    let port = free_port();
    let id = "17900000000003001";
    let h = Harness::start(
        &scenario(id, 600.0, "session_expires_at = 60.0"),
        10.0,
        "[[accounts]]\nuser_id = \"7001\"\n",
    )
    .await;
    h.edit_config(|text| {
        text.replace(
            "listen = \"off\"",
            &format!("listen = \"127.0.0.1:{port}\""),
        )
    });
    let d = h.run_daemon();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut ready_before = None;
    for _ in 0..200 {
        if let Ok(r) = http.get(format!("{base}/ready")).send().await {
            ready_before = Some(r.status().as_u16());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ready_before, Some(200), "ready while the session is valid");
    assert_eq!(
        http.get(format!("{base}/health"))
            .send()
            .await
            .expect("health")
            .status(),
        200
    );
    wait_until(
        "a recording is in progress",
        Duration::from_secs(30),
        || h.state(id).as_deref() == Some("recording"),
    )
    .await;
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    let names = parse_prometheus(&text);
    for needed in [
        "iglive_accounts_watched",
        "iglive_recordings",
        "iglive_api_requests_total",
        "iglive_segments_captured_total",
        "iglive_throttle_events_total",
    ] {
        assert!(
            names.iter().any(|n| n == needed),
            "{needed} missing from:\n{text}"
        );
    }
    let recs: serde_json::Value = http
        .get(format!("{base}/recordings"))
        .send()
        .await
        .expect("recordings")
        .json()
        .await
        .expect("json");
    assert_eq!(recs[0]["broadcast_id"], id);

    // The scenario expires the session at simulated second 60 (six real seconds).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let body = loop {
        let r = http
            .get(format!("{base}/ready"))
            .send()
            .await
            .expect("ready");
        if r.status() == 503 {
            break r.json::<serde_json::Value>().await.expect("json");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never turned unready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let session = body["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "session")
        .expect("session check");
    assert_eq!(session["ok"], false);
    assert!(
        session["detail"]
            .as_str()
            .unwrap_or("")
            .contains("login_required"),
        "{body}"
    );
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    assert!(text.contains("iglive_session_expired 1"), "{text}");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_new_recording_below_min_free_space() {
    let id = "17900000000003002";
    let h = Harness::start(
        &scenario(id, 60.0, ""),
        10.0,
        "[[accounts]]\nuser_id = \"7001\"\n",
    )
    .await;
    // Ask for more free space than any disk has.
    h.edit_config(|text| {
        text.replace(
            "min_free_space = \"10MB\"",
            "min_free_space = \"1000000TB\"",
        )
    });
    let mut p = h.spawn_binary(0);
    wait_until("the live is detected", Duration::from_secs(30), || {
        h.state(id).is_some()
    })
    .await;
    wait_until("the refusal is logged", Duration::from_secs(10), || {
        p.log_text().contains("not recording until space is freed")
    })
    .await;
    // Not dropped: it waits, visibly, for space to be freed.
    wait_until("the live waits", Duration::from_secs(10), || {
        h.state(id).as_deref() == Some("waiting")
    })
    .await;
    p.signal(Signal::SIGTERM);
    let st = p.wait(Duration::from_secs(30)).await.expect("exits");
    assert!(st.success(), "{}", p.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_that_fills_mid_recording_fails_cleanly() {
    let id = "17900000000003003";
    let h = Harness::start(
        &scenario(id, 120.0, ""),
        10.0,
        "[[accounts]]\nuser_id = \"7001\"\n",
    )
    .await;
    // Recordings on a 1.5 MB tmpfs, the database on the normal disk.
    let small = h.dir().join("small");
    std::fs::create_dir_all(&small).expect("mkdir");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1536k", "tmpfs"])
        .arg(&small)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !mounted {
        eprintln!("SKIPPED a_disk_that_fills_mid_recording_fails_cleanly: cannot mount a tmpfs here (needs root)");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }
    let _guard = Unmount(small.clone());
    h.edit_config(|text| {
        text.replace(
            "recordings_dir = \"recordings\"\nmin_free_space = \"10MB\"",
            &format!(
                "recordings_dir = \"{}\"\ndatabase = \"{}\"\nmin_free_space = \"100k\"",
                small.display(),
                h.dir().join("db.sqlite3").display()
            ),
        )
    });
    let mut p = h.spawn_binary(0);
    wait_until("the recording ends", Duration::from_secs(90), || {
        matches!(h.state(id).as_deref(), Some("finished") | Some("failed"))
    })
    .await;
    let conn = h.store().connect().expect("connect");
    let (state, error): (String, Option<String>) = conn
        .query_row(
            "SELECT state, error FROM recordings WHERE broadcast_id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("row");
    assert_eq!(state, "failed", "{}", p.log_text());
    let error = error.unwrap_or_default();
    assert!(
        error.to_lowercase().contains("space") || error.contains("os error 28"),
        "the reason names the full disk: {error}"
    );
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity");
    assert_eq!(integrity, "ok");
    p.signal(Signal::SIGTERM);
    let st = p.wait(Duration::from_secs(30)).await.expect("exits");
    assert!(st.success(), "{}", p.log_text());
}
