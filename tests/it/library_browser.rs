//! The library's web app in a real browser: a daemon records two simulated broadcasts (one
//! finishes, one stays live, both with hostile texts), then Playwright drives Debian's Chromium
//! through `tests/browser/library_test.py`: the list and its filters, playing a recording,
//! jumping from a search hit to its moment, the live page updating in place, adding and removing
//! an account, a phone-sized screen. Screenshots go to `target/test-artifacts/library-*.png`.
//!
//! Ignored by a plain `cargo test` because it needs Playwright; `scripts/test-browser` (run by
//! `.ci/run`) installs it and runs this test, which fails, saying why, when it cannot run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::daemon::{wait_until, Harness, FAST_ENGAGEMENT};
use crate::support::hostile::{HOSTILE_TEXTS, HOSTILE_USER};

const FINISHED: &str = "17900000000005001";
const LIVE: &str = "17900000000005002";
const QUERY: &str = "bonjour";

fn hostile_comments(from: f64) -> String {
    HOSTILE_TEXTS
        .iter()
        .enumerate()
        .map(|(i, t)| {
            format!(
                "\n[[broadcasts.comments]]\nat = {}\ntext = {}\n",
                from + i as f64,
                serde_json::to_string(t).expect("json")
            )
        })
        .collect()
}

fn scenario() -> String {
    format!(
        r#"
seed = 21
comment_page_cap = 50

[[accounts]]
pk = 5001
username = "demo.host"
full_name = "Demo Host"
followed = true

[[accounts]]
pk = 5002
username = {hostile}
followed = true

[[broadcasts]]
id = {FINISHED}
owner = 5001
start = 0.5
duration = 36.0
end_status = "stopped"
post_live_after = 1.0
segments = {{ duration_ms = 2000, jitter_ms = 100, base_segments = 4 }}
likes = [[0.0, 0.0], [36.0, 900.0]]
viewers = [[0.0, 10.0], [18.0, 240.0], [36.0, 120.0]]

[[broadcasts.comment_streams]]
from = 1.0
to = 35.0
per_second = 2.0
texts = ["nice", "❤️", "مرحبا", "日本語のコメント"]

[[broadcasts.comments]]
at = 14.0
text = "{QUERY} tout le monde, ça va ?"
{finished_hostile}
[[broadcasts]]
id = {LIVE}
owner = 5002
start = 30.0
duration = 1800.0
end_status = "stopped"
segments = {{ duration_ms = 2000, jitter_ms = 100, base_segments = 4 }}
viewers = [[0.0, 3.0], [1800.0, 300.0]]

[[broadcasts.comment_streams]]
from = 30.0
to = 1800.0
per_second = 1.0
texts = ["still live", "🔥"]
{live_hostile}"#,
        hostile = serde_json::to_string(HOSTILE_USER).expect("json"),
        finished_hostile = hostile_comments(4.0),
        live_hostile = hostile_comments(31.0),
    )
}

const ACCOUNTS: &str = r#"
[[accounts]]
user_id = "5001"
label = "demo"

[[accounts]]
user_id = "5002"
"#;

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("IGLIVE_PLAYWRIGHT_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = std::env::var_os("IGLIVE_PLAYWRIGHT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/playwright/venv"));
    let p = venv.join("bin/python");
    assert!(
        p.is_file(),
        "Playwright is not installed ({} is missing): run scripts/ensure-playwright, or scripts/test-browser which runs this test",
        p.display()
    );
    p
}

fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("IGLIVE_CHROMIUM") {
        return PathBuf::from(p);
    }
    [
        "/usr/lib/chromium/chromium",
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
    .unwrap_or_else(|| {
        panic!("no Chromium installed: run scripts/ensure-chromium (or set IGLIVE_CHROMIUM)")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Playwright and Chromium: run scripts/test-browser"]
async fn the_library_works_in_chromium() {
    let (python, chromium) = (python(), chromium());
    let h = Harness::start(&scenario(), 3.0, &format!("{FAST_ENGAGEMENT}{ACCOUNTS}")).await;
    let base = h.listen();
    drop(h.store());
    let d = h.run_daemon();
    wait_until(
        "the first broadcast is recorded and finalized",
        Duration::from_secs(120),
        || h.state(FINISHED).as_deref() == Some("finished"),
    )
    .await;
    wait_until(
        "the second broadcast is being recorded",
        Duration::from_secs(60),
        || {
            h.state(LIVE).as_deref() == Some("recording")
                && h.count(
                    "SELECT count(*) FROM comments WHERE broadcast_id = ?1",
                    LIVE,
                ) > 3
        },
    )
    .await;

    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    let spec = serde_json::json!({
        "base": base.clone(),
        "chromium": chromium,
        "artifacts": artifacts,
        "config": h.config_path,
        "finished": FINISHED,
        "live": LIVE,
        "account": "5001",
        "account_name": "demo.host",
        "query": QUERY,
        "hostile_users": [HOSTILE_USER.split('\0').next().unwrap_or_default()],
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/library_test.py");
    let log = h.dir().join("playwright.log");
    let out = std::fs::File::create(&log).expect("log");
    let mut child = Command::new(&python)
        .arg(&script)
        .arg(spec.to_string())
        .stdout(out.try_clone().expect("log"))
        .stderr(out)
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
    let deadline = Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the browser test did not finish within 300 s:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    println!("{text}");
    assert!(status.success(), "the browser test failed:\n{text}");
    for name in [
        "library-recordings",
        "library-recording",
        "library-search",
        "library-live",
        "library-accounts",
        "library-phone",
    ] {
        let png = std::fs::read(artifacts.join(format!("{name}.png"))).expect("screenshot");
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 10_000,
            "{name}.png is a real screenshot"
        );
    }
    d.stop().await;
}
