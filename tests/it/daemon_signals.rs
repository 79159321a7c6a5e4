//! systemd notification and SIGHUP reload through the real binary.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use crate::support::capture::held;
use crate::support::daemon::{wait_until, Harness};
use nix::sys::signal::Signal;

fn scenario() -> String {
    r#"
seed = 5
[[accounts]]
pk = 8001
username = "first.one"
followed = true
[[accounts]]
pk = 8002
username = "second.one"
followed = true

[[broadcasts]]
id = 17900000000008002
owner = 8002
start = 0.5
duration = 600.0
end_status = "stopped"
segments = { duration_ms = 2000, jitter_ms = 100, base_segments = 6 }
"#
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifies_systemd_and_reloads_accounts_on_sighup() {
    let h = Harness::start(&scenario(), 10.0, "[[accounts]]\nuser_id = \"8001\"\n").await;
    let sock_path = h.dir().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).expect("notify socket");
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let log = h.dir().join("daemon-0.log");
    let out = std::fs::File::create(&log).expect("log");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_iglive"))
        .args(["run", "-c"])
        .arg(&h.config_path)
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "1000000")
        .stdout(out.try_clone().expect("log"))
        .stderr(out)
        .spawn()
        .expect("start iglive");
    let mut got = String::new();
    let mut buf = [0u8; 4096];
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !(got.contains("READY=1") && got.contains("WATCHDOG=1")) {
        assert!(
            std::time::Instant::now() < deadline,
            "notifications so far: {got:?}"
        );
        if let Ok(n) = sock.recv(&mut buf) {
            got.push_str(&String::from_utf8_lossy(&buf[..n]));
            got.push('\n');
        }
    }
    assert!(got.contains("STATUS=watching 1 account(s)"), "{got}");

    // Only 8001 is watched: 8002's live is not recorded until the config lists it.
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    h.edit_config(|text| format!("{text}\n[[accounts]]\nuser_id = \"8002\"\n"));
    nix::sys::signal::kill(pid, Signal::SIGHUP).expect("SIGHUP");
    wait_until(
        "the added account is recorded",
        Duration::from_secs(30),
        || h.state("17900000000008002").as_deref() == Some("recording"),
    )
    .await;
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(text.contains("configuration reloaded"), "{text}");
    assert!(
        !text.contains("\u{1b}["),
        "no ANSI colours when not on a terminal"
    );

    nix::sys::signal::kill(pid, Signal::SIGTERM).expect("SIGTERM");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break st;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no exit after SIGTERM"
        );
        if let Ok(n) = sock.recv(&mut buf) {
            got.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    };
    assert!(status.success());
    while let Ok(n) = sock.recv(&mut buf) {
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(got.contains("STOPPING=1"), "{got}");
}

fn folder_of(h: &Harness, id: &str) -> Option<std::path::PathBuf> {
    let conn = h.store().connect().ok()?;
    conn.query_row(
        "SELECT folder FROM recordings WHERE broadcast_id = ?1",
        [id],
        |r| r.get::<_, Option<String>>(0),
    )
    .ok()
    .flatten()
    .map(Into::into)
}

/// A restart's recovery asks the API whether each unfinished recording goes on; here the
/// simulator holds that answer back for seconds (a slow or throttled API).
fn slow_recovery_scenario() -> String {
    r#"
seed = 6
[[accounts]]
pk = 8101
username = "slow.start"
followed = true

[[broadcasts]]
id = 17900000000008101
owner = 8101
start = 0.5
duration = 600.0
end_status = "stopped"
segments = { duration_ms = 2000, jitter_ms = 100, base_segments = 6 }

[[faults]]
kind = "delay"
path = "/17900000000008101/info/"
from = 0.0
to = 1000000.0
delay_ms = 4000
"#
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_signal_during_a_slow_recovery_is_handled_once_it_is_done() {
    const ID: &str = "17900000000008101";
    let h = Harness::start(
        &slow_recovery_scenario(),
        10.0,
        "[[accounts]]\nuser_id = \"8101\"\n",
    )
    .await;
    let first = h.spawn_binary(0);
    // Killed once segments are on disk: the restart finalizes what was captured.
    wait_until("segments on disk", Duration::from_secs(30), || {
        folder_of(&h, ID).is_some_and(|f| held(&f.join(".segments"), "video").0.len() >= 2)
    })
    .await;
    first.kill9();

    let mut second = h.spawn_binary(1);
    wait_until(
        "the restart's recovery asks about the recording",
        Duration::from_secs(30),
        || {
            second
                .log_text()
                .contains("recovery: 1 unfinished recording(s)")
        },
    )
    .await;
    // Before the signal handlers of a slow start were installed first, this killed the
    // process: no orderly stop, rows unwritten.
    second.signal(Signal::SIGTERM);
    let status = second.wait(Duration::from_secs(60)).await.expect("exits");
    let log = second.log_text();
    assert!(status.success(), "{status:?}\n{log}");
    assert!(log.contains("stopping: finalizing"), "{log}");
    assert_eq!(h.state(ID).as_deref(), Some("finished"), "{log}");
}
