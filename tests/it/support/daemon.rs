//! A daemon wired to an in-process simulator: temp folder, session file, config, and helpers
//! to wait on conditions with deadlines.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use iglive::sim::SimHandle;
use iglive::Config;
use iglive::Store;
use tokio_util::sync::CancellationToken;

pub struct Harness {
    pub sim: SimHandle,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
}

/// A daemon on its own runtime and thread, so that a crash can take every task of it down at
/// once (dropping the runtime), as `kill -9` would.
pub struct Running {
    pub stop: CancellationToken,
    crash: CancellationToken,
    thread: std::thread::JoinHandle<anyhow::Result<()>>,
}

impl Harness {
    pub async fn start(scenario: &str, speed: f64, extra_config: &str) -> Harness {
        // Daemon logs go to the test's captured output (shown when a test fails).
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_env("IGLIVE_LOG")
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
            )
            .with_test_writer()
            .try_init();
        let sim = super::sim::start(scenario, speed).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let session = dir.path().join("session.json");
        std::fs::write(&session, iglive::sim::session_json()).expect("session");
        std::fs::set_permissions(&session, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let config_path = dir.path().join("iglive.toml");
        Harness {
            sim,
            dir,
            config_path,
        }
        .with_config(extra_config)
    }

    fn with_config(self, extra: &str) -> Harness {
        let text = format!(
            r#"[instagram]
api_base_url = "{api}"
session_file = "session.json"
request_timeout = "5s"
max_requests_per_minute = 600
[watch]
poll_interval = "300ms"
[storage]
recordings_dir = "recordings"
min_free_space = "10MB"
[status]
listen = "off"
{extra}
"#,
            api = self.sim.api_base_url()
        );
        std::fs::write(&self.config_path, text).expect("config");
        self
    }

    /// Rewrites the config file with `edit` (e.g. to replace one default line).
    pub fn edit_config(&self, edit: impl FnOnce(String) -> String) {
        let text = std::fs::read_to_string(&self.config_path).expect("config");
        std::fs::write(&self.config_path, edit(text)).expect("config");
    }

    /// Turns the status listener (and the library) on at a free loopback port; returns its
    /// base URL.
    pub fn listen(&self) -> String {
        let port = free_port();
        self.edit_config(|t| {
            t.replace(
                "listen = \"off\"",
                &format!("listen = \"127.0.0.1:{port}\""),
            )
        });
        format!("http://127.0.0.1:{port}")
    }

    pub fn config(&self) -> Config {
        Config::load(&self.config_path).expect("config loads")
    }

    pub fn store(&self) -> Store {
        Store::open(&self.config().storage.database).expect("store")
    }

    pub fn run_daemon(&self) -> Running {
        let stop = CancellationToken::new();
        let crash = CancellationToken::new();
        let cfg = self.config();
        let (s, c) = (stop.clone(), crash.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            let r = rt.block_on(async move {
                tokio::select! {
                    r = iglive::run_daemon(cfg, s) => r.map(|_exit| ()),
                    _ = c.cancelled() => Ok(()),
                }
            });
            rt.shutdown_background();
            r
        });
        Running {
            stop,
            crash,
            thread,
        }
    }

    /// A recording's state in the database.
    pub fn state(&self, broadcast_id: &str) -> Option<String> {
        let conn = self.store().connect().ok()?;
        conn.query_row(
            "SELECT state FROM recordings WHERE broadcast_id = ?1",
            [broadcast_id],
            |r| r.get(0),
        )
        .ok()
    }

    pub fn count(&self, sql: &str, broadcast_id: &str) -> i64 {
        let conn = self.store().connect().expect("connect");
        conn.query_row(sql, [broadcast_id], |r| r.get(0))
            .expect("count")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Comment pks stored for a broadcast, as many times as they are stored.
    pub fn stored_comment_pks(&self, broadcast_id: &str) -> Vec<String> {
        let conn = self.store().connect().expect("connect");
        let mut stmt = conn
            .prepare("SELECT pk FROM comments WHERE broadcast_id = ?1")
            .expect("prepare");
        stmt.query_map([broadcast_id], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    /// Comment pks the simulator has published for a broadcast so far.
    pub fn truth_comment_pks(&self, broadcast_id: &str) -> std::collections::BTreeSet<String> {
        self.truth_of(broadcast_id, |b| {
            b.comments.iter().map(|c| c.pk.clone()).collect()
        })
    }

    /// The timestamps of the segments the simulator has published for a broadcast so far.
    pub fn truth_segment_ts(&self, broadcast_id: &str) -> Vec<u64> {
        self.truth_of(broadcast_id, |b| b.segments.iter().map(|s| s.t).collect())
    }

    fn truth_of<T>(
        &self,
        broadcast_id: &str,
        f: impl FnOnce(&iglive::sim::BroadcastTruth) -> T,
    ) -> T {
        let t = self.sim.truth();
        let b = t
            .broadcasts
            .iter()
            .find(|b| b.id == broadcast_id)
            .expect("broadcast in truth");
        f(b)
    }
}

impl Running {
    pub async fn stop(self) {
        self.stop.cancel();
        let thread = self.thread;
        let r = tokio::time::timeout(
            Duration::from_secs(120),
            tokio::task::spawn_blocking(move || thread.join()),
        )
        .await
        .expect("daemon stops within 120 s")
        .expect("join")
        .expect("daemon thread");
        r.expect("daemon exits cleanly");
    }

    /// Like `kill -9` for the in-process daemon: every task is dropped mid-flight.
    pub async fn crash(self) {
        self.crash.cancel();
        let thread = self.thread;
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
}

/// Engagement polled every few hundred milliseconds, for tests that watch a recording.
pub const FAST_ENGAGEMENT: &str = r#"
[recording]
heartbeat_interval = "300ms"
comments_interval = "300ms"
likes_interval = "400ms"
interrupted_grace = "30s"
"#;

/// A loopback port nothing listens on right now (for `status.listen`).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Polls `cond` every 50 ms until it holds or `timeout` passes.
pub async fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if cond() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The real `iglive` binary running `run -c <config>`, its output in `<dir>/daemon-N.log`.
pub struct Process {
    pub child: std::process::Child,
    pub log: PathBuf,
}

impl Harness {
    pub fn spawn_binary(&self, n: usize) -> Process {
        self.spawn_binary_with(&self.config_path, &format!("daemon-{n}"))
    }

    /// `iglive run -c CONFIG` as a process of its own, logging to `<name>.log` (appended, so
    /// a restarted node keeps its earlier lines).
    pub fn spawn_binary_with(&self, config: &Path, name: &str) -> Process {
        let log = self.dir().join(format!("{name}.log"));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let err = out.try_clone().expect("log file");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_iglive"))
            .arg("run")
            .arg("-c")
            .arg(config)
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start iglive");
        Process { child, log }
    }
}

impl Process {
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, sig);
    }

    /// Waits for the process to exit, polling with a deadline; `None` on timeout.
    pub async fn wait(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Harness {
    /// A session file `session-<name>.json` (mode 0600) whose `sessionid` is `sid-<name>`,
    /// so the simulator tells its requests apart; returns its file name.
    pub fn session_file(&self, name: &str) -> String {
        let file = format!("session-{name}.json");
        let path = self.dir().join(&file);
        let mut json: serde_json::Value =
            serde_json::from_str(&iglive::sim::session_json()).expect("session json");
        json["cookies"]["sessionid"] = format!("sid-{name}").into();
        std::fs::write(&path, json.to_string()).expect("session file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        file
    }

    /// Replaces the one session with a pool: `session-<name>.json` files (mode 0600) whose
    /// `sessionid` is `sid-<name>`, so the simulator tells their requests apart, each listed
    /// as a `[[sessions]]` entry with `extra` lines appended to it.
    pub fn with_sessions(&self, names: &[&str], extra: &str) {
        let mut tables = String::new();
        for name in names {
            self.session_file(name);
            tables.push_str(&format!(
                "\n[[sessions]]\nname = \"{name}\"\nsession_file = \"session-{name}.json\"\n{extra}\n"
            ));
        }
        self.edit_config(|t| t.replace("session_file = \"session.json\"\n", "") + &tables);
    }
}

/// The session (`sid-<name>`'s name) a simulator request was sent with.
pub fn session_of(r: &iglive::sim::RecordedRequest) -> Option<String> {
    r.headers
        .iter()
        .filter(|(k, _)| k == "cookie")
        .flat_map(|(_, v)| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == "sessionid")
        .and_then(|(_, v)| v.strip_prefix("sid-").map(str::to_string))
}

impl Harness {
    /// Puts the simulated session `sid-<name>` at `stage` (`challenged`, `expired`,
    /// `throttled`, `fine`) through the simulator's control endpoint.
    pub async fn force_session(&self, name: &str, stage: &str) {
        let url = self
            .sim
            .base_url()
            .join(&format!("control/sessions/sid-{name}/{stage}"))
            .expect("url");
        let status = reqwest::Client::new()
            .post(url)
            .send()
            .await
            .expect("control")
            .status();
        assert!(status.is_success(), "control answered {status}");
    }

    /// The `[push]` table that points the daemon at the simulator's FBNS broker, trusting
    /// its certificate (written to `fbns.pem` in the test folder).
    pub fn push_config(&self) -> String {
        let addr = self.sim.fbns_addr().expect("the scenario has [fbns]");
        let pem = self.dir().join("fbns.pem");
        std::fs::write(&pem, self.sim.fbns_cert_pem().expect("certificate")).expect("pem");
        format!(
            "[push]\nenabled = true\nhost = \"127.0.0.1\"\nport = {}\nca_file = \"fbns.pem\"\nconnack_timeout = \"2s\"\nbackoff_max = \"1s\"\n",
            addr.port()
        )
    }
}

/// GET `url` and parse the answer as JSON (the status endpoint's `/sessions`).
pub async fn get_json(url: &str) -> serde_json::Value {
    reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON")
}

/// GET `url` as text (the status endpoint's `/metrics`).
pub async fn get_text(url: &str) -> String {
    reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("body")
}
