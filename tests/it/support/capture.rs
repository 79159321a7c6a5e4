//! Helpers for the capture tests: the simulator at high speed, fast engine options, and a
//! capture run bounded in real time.

use std::path::Path;
use std::time::{Duration, Instant};

use iglive::sim::{BroadcastTruth, SimHandle};
use iglive::FetchLimits;
use iglive::{run_native_capture, CaptureOptions};
use iglive::{CaptureControl, CaptureExit, CaptureProgress, CaptureRequest};
use tokio::sync::watch;

pub fn broadcast(h: &SimHandle) -> BroadcastTruth {
    h.truth()
        .broadcasts
        .into_iter()
        .next()
        .expect("one broadcast")
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("reqwest client")
}

/// Engine options scaled for a simulator running 10x: polls of 100 ms, short timeouts.
pub fn fast_options() -> CaptureOptions {
    CaptureOptions {
        manifest: FetchLimits {
            timeout: Duration::from_secs(2),
            max_bytes: 2 * 1024 * 1024,
            attempts: 1,
            backoff: Duration::from_millis(100),
        },
        segment: FetchLimits {
            timeout: Duration::from_secs(2),
            max_bytes: 8 * 1024 * 1024,
            attempts: 4,
            backoff: Duration::from_millis(50),
        },
        init: FetchLimits {
            timeout: Duration::from_secs(2),
            max_bytes: 1024 * 1024,
            attempts: 4,
            backoff: Duration::from_millis(50),
        },
        concurrency: 4,
        poll_floor: Duration::from_millis(100),
        poll_ceiling: Duration::from_millis(300),
        failure_budget: Duration::from_secs(20),
        drain_walk_bound: Duration::from_secs(20),
        end_walk_bound: Duration::from_secs(30),
        missing_retry_after: Duration::from_millis(500),
        rewind: Default::default(),
    }
}

pub fn request(mpd_url: url::Url, dir: &Path, rewind: bool) -> CaptureRequest {
    CaptureRequest {
        broadcast_id: "test".into(),
        mpd_url,
        segments_dir: dir.to_path_buf(),
        rewind,
        max_height: None,
        on_segment: None,
    }
}

pub fn mpd_url(h: &SimHandle) -> url::Url {
    h.base_url()
        .join(broadcast(h).manifest_path.trim_start_matches('/'))
        .expect("manifest url")
}

/// A capture running in the background.
pub struct Running {
    pub control: CaptureControl,
    pub progress: watch::Receiver<CaptureProgress>,
    pub task: tokio::task::JoinHandle<CaptureExit>,
}

pub fn spawn_capture(req: CaptureRequest, opts: CaptureOptions) -> Running {
    let control = CaptureControl::default();
    let (tx, rx) = watch::channel(CaptureProgress::default());
    let task = tokio::spawn(run_native_capture(req, http(), control.clone(), tx, opts));
    Running {
        control,
        progress: rx,
        task,
    }
}

impl Running {
    /// Waits for the run to return, failing the test after `limit`.
    pub async fn join(self, limit: Duration) -> (CaptureExit, CaptureProgress) {
        let exit = tokio::time::timeout(limit, self.task)
            .await
            .expect("the capture returns in time")
            .expect("the capture task does not panic");
        let p = self.progress.borrow().clone();
        (exit, p)
    }

    /// Waits until `cond` holds on the progress, failing after `limit`.
    pub async fn wait_for(&mut self, limit: Duration, cond: impl Fn(&CaptureProgress) -> bool) {
        let deadline = Instant::now() + limit;
        loop {
            if cond(&self.progress.borrow_and_update()) {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "progress condition not met in {limit:?}: {:?}",
                *self.progress.borrow()
            );
            let _ = tokio::time::timeout(left, self.progress.changed()).await;
        }
    }
}

/// Distinct `t` values on disk for a track, and the number of segment files (duplicates
/// would show as more files than values).
pub fn held(dir: &Path, track: &str) -> (Vec<u64>, usize) {
    let mut ts = Vec::new();
    let mut files = 0;
    let Ok(parts) = std::fs::read_dir(dir.join(track)) else {
        return (ts, 0);
    };
    for part in parts.flatten() {
        for f in std::fs::read_dir(part.path()).expect("part dir").flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if let Some(t) = name
                .strip_suffix(".m4s")
                .and_then(|s| s.parse::<u64>().ok())
            {
                ts.push(t);
                files += 1;
            }
        }
    }
    ts.sort_unstable();
    ts.dedup();
    (ts, files)
}
