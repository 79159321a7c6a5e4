//! `iglive record TARGET` against the simulator: each kind of target (an MPD URL with no
//! config and no session file at all, a username, a profile URL, a broadcast id), a live
//! that is not there (exit 3), Ctrl-C mid-live (finalized, exit 130) and hostile targets
//! (exit 2 with a clear message, nothing recorded).

use std::path::Path;
use std::time::Duration;

use crate::support::cli::iglive;
use crate::support::daemon::{wait_until, Harness};

const SPEED: f64 = 2.0;
/// The harness wants an account in the config; no daemon runs here.
const CONFIG: &str = "[[accounts]]\nuser_id = \"6006\"\n";

/// Five accounts live over [1, 17) simulated seconds, one not live at all.
fn scenario() -> String {
    let mut s = String::from("seed = 5\n");
    for (pk, name) in [
        (6001, "mpd.host"),
        (6002, "name.host"),
        (6003, "url.host"),
        (6004, "id.host"),
        (6005, "ctrlc.host"),
        (6006, "quiet.host"),
    ] {
        s.push_str(&format!(
            "[[accounts]]\npk = {pk}\nusername = \"{name}\"\nfollowed = true\n"
        ));
    }
    for pk in 6001..=6005u64 {
        let duration = if pk == 6005 { 120.0 } else { 16.0 };
        s.push_str(&format!(
            r#"
[[broadcasts]]
id = {id}
owner = {pk}
start = 1.0
duration = {duration}
segments = {{ duration_ms = 2000, jitter_ms = 0, base_segments = 4 }}
[[broadcasts.comment_streams]]
from = 1.5
to = 15.0
per_second = 1.0
texts = ["hi"]
"#,
            id = broadcast_id(pk),
        ));
    }
    s
}

fn broadcast_id(pk: u64) -> String {
    format!("1790000000000{pk}")
}

/// The one recording folder under `root` (account folder, then date_id).
fn folder_under(root: &Path, id: &str) -> std::path::PathBuf {
    for account in std::fs::read_dir(root).expect("recordings").flatten() {
        if !account.path().is_dir() {
            continue;
        }
        for rec in std::fs::read_dir(account.path())
            .expect("account")
            .flatten()
        {
            if rec.file_name().to_string_lossy().ends_with(id) {
                return rec.path();
            }
        }
    }
    panic!("no folder for {id} under {}", root.display());
}

fn assert_finalized(folder: &Path) -> serde_json::Value {
    assert!(
        folder.join("video.mp4").is_file(),
        "video in {}",
        folder.display()
    );
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(folder.join("broadcast.json")).expect("broadcast.json"),
    )
    .expect("json");
    assert_eq!(doc["recording"]["state"], "finished");
    doc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_target_is_recorded_from_its_first_segment() {
    let h = Harness::start(&scenario(), SPEED, CONFIG).await;
    let cfg = h.config_path.display().to_string();
    wait_until("the lives start", Duration::from_secs(30), || {
        h.sim.now() > 4.0
    })
    .await;
    let bare = tempfile::tempdir().expect("tempdir");
    let mpd = h
        .sim
        .base_url()
        .join(&format!("live-dash/dash-abr/{}.mpd", broadcast_id(6001)))
        .expect("mpd url")
        .to_string();
    let profile = h
        .sim
        .base_url()
        .join("url.host/")
        .expect("profile url")
        .to_string();
    let bare_dir = bare.path().display().to_string();
    let id = broadcast_id(6004);
    let (by_mpd, by_name, by_url, by_id, not_live) = tokio::join!(
        iglive(["record", mpd.as_str(), "--dir", bare_dir.as_str()], ""),
        iglive(["record", "@name.host", "-c", cfg.as_str()], ""),
        iglive(["record", profile.as_str(), "-c", cfg.as_str()], ""),
        iglive(["record", id.as_str(), "-c", cfg.as_str()], ""),
        iglive(["record", "quiet.host", "-c", cfg.as_str()], ""),
    );
    for (what, run) in [
        ("mpd", &by_mpd),
        ("username", &by_name),
        ("profile URL", &by_url),
        ("broadcast id", &by_id),
    ] {
        assert_eq!(run.code, Some(0), "{what}: {}", run.all());
        assert!(
            run.stdout.contains("recording 0:00:0"),
            "{what}: a progress line: {}",
            run.stdout
        );
        assert!(
            run.stdout.contains("finished broadcast"),
            "{what}: {}",
            run.stdout
        );
    }
    assert_eq!(not_live.code, Some(3), "{}", not_live.all());
    assert!(
        not_live.stderr.contains("@quiet.host is not live"),
        "{}",
        not_live.stderr
    );

    // The MPD needed no session: not a single API request carried one from it, and the
    // folder and its database sit in --dir.
    assert!(!bare.path().join("session.json").exists());
    assert!(bare.path().join("iglive.sqlite3").is_file());
    let doc = assert_finalized(&folder_under(bare.path(), &broadcast_id(6001)));
    assert_eq!(
        doc["capture"]["first_segment_t"], 1,
        "from the first segment (rewind)"
    );

    let recordings = h.dir().join("recordings");
    for pk in [6002, 6003, 6004] {
        let doc = assert_finalized(&folder_under(&recordings, &broadcast_id(pk)));
        assert_eq!(doc["capture"]["first_segment_t"], 1, "rewound to the start");
        assert_eq!(doc["capture"]["segments_missing"], 0);
    }
    // The same database as the daemon's.
    assert_eq!(h.state(&broadcast_id(6002)).as_deref(), Some("finished"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_mid_live_finalizes_what_was_captured() {
    let h = Harness::start(&scenario(), SPEED, CONFIG).await;
    wait_until("the live starts", Duration::from_secs(30), || {
        h.sim.now() > 2.0
    })
    .await;
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_iglive"))
        .args(["record", "ctrlc.host", "-c"])
        .arg(&h.config_path)
        .env_remove("IGLIVE_CONFIG")
        .env("IGLIVE_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start iglive");
    let id = broadcast_id(6005);
    wait_until("segments captured", Duration::from_secs(30), || {
        h.store()
            .connect()
            .ok()
            .and_then(|c| {
                c.query_row(
                    "SELECT segments_captured FROM recordings WHERE broadcast_id = ?1",
                    [&id],
                    |r| r.get::<_, i64>(0),
                )
                .ok()
            })
            .is_some_and(|n| n >= 3)
    })
    .await;
    let pid = nix::unistd::Pid::from_raw(child.id().expect("pid") as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT");
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("exits after Ctrl-C")
        .expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(130),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("interrupted; finalized"), "{stdout}");
    assert!(h.sim.now() < 100.0, "well before the live's end");
    let doc = assert_finalized(&folder_under(&h.dir().join("recordings"), &id));
    assert_eq!(doc["recording"]["cut_by_shutdown"], true);
}

#[tokio::test]
async fn hostile_targets_get_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    let huge = "a".repeat(100_000);
    for (target, says) in [
        ("/etc/passwd", "looks like a file path"),
        ("../../x.mpd", "looks like a file path"),
        ("file:///etc/x.mpd", "only http and https"),
        ("ftp://cdn.example/x.mpd", "only http and https"),
        ("https://evil.example/some.one/", "must be on instagram.com"),
        (huge.as_str(), "bytes long"),
        ("bad name!", "a username has 1 to 30"),
        ("some.one", "through a session: pass -c CONFIG"),
    ] {
        let run = iglive(["record", target, "--dir", d.as_str()], "").await;
        assert_eq!(run.code, Some(2), "{target:.40}: {}", run.all());
        assert!(run.stderr.contains(says), "{target:.40}: {}", run.stderr);
        assert!(
            run.stderr.len() < 2_000,
            "the error does not echo a huge input"
        );
    }
    assert!(
        std::fs::read_dir(dir.path()).expect("dir").next().is_none(),
        "nothing was written"
    );
}
