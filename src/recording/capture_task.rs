//! The recording's capture task: runs the capture engine through [`crate::capture::run`]
//! until the stream ends or the supervisor drains or aborts it, and restarts it when it fails
//! while the broadcast goes on. How soon depends on why it failed: an outage or a crash is
//! retried on a short backoff, a storage failure (a full disk) waits for free space on a long
//! one, and nothing is retried forever once the session is gone and nothing more arrives.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::backoff::Backoff;
use crate::capture::{
    self, CaptureControl, CaptureError, CaptureExit, CaptureProgress, CaptureRequest,
};

use super::context::Signal;
use super::deps::Deps;

/// Fruitless runs in a row, with an expired session, after which the capture gives up.
const FRUITLESS_RUNS: u32 = 3;

/// Runs the capture with restarts; returns when it is over for good.
pub(super) async fn run(
    deps: Deps,
    req: CaptureRequest,
    control: CaptureControl,
    progress: Arc<watch::Sender<CaptureProgress>>,
    signals: mpsc::Sender<Signal>,
) {
    let mut outage = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
    let mut storage = Backoff::new(Duration::from_secs(30), Duration::from_secs(300));
    let mut fruitless = 0u32;
    loop {
        let captured_before = progress.borrow().segments_captured;
        let exit = run_once(&deps, &req, &control, &progress).await;
        let error = match exit {
            CaptureExit::StreamEnded => {
                if signals
                    .send(Signal::StreamEnded("manifest end signal".into()))
                    .await
                    .is_err()
                {
                    tracing::debug!("the stream ended after the supervisor finished");
                }
                return;
            }
            CaptureExit::Stopped => return,
            CaptureExit::Failed(e) => e,
        };
        if control.drain.is_cancelled() || control.abort.is_cancelled() {
            return;
        }
        if progress.borrow().segments_captured == captured_before {
            fruitless += 1;
        } else {
            fruitless = 0;
            outage.reset();
            storage.reset();
        }
        // Nothing captured over several runs and no session left to ask whether the
        // broadcast goes on: stop rather than retry forever.
        if fruitless >= FRUITLESS_RUNS && deps.pool.usable().is_empty() {
            tracing::error!(error = %error, "capture failed repeatedly and no session is usable to ask whether the broadcast goes on; giving up");
            return;
        }
        let delay = if error.is_storage() {
            storage_pause(&deps, &error, &mut storage)
        } else {
            let delay = outage.next_delay();
            tracing::warn!(error = %error, ?delay, "capture failed; restarting");
            delay
        };
        tokio::select! {
            _ = control.drain.cancelled() => return,
            _ = control.abort.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// One engine run, its figures forwarded into the recording's progress.
async fn run_once(
    deps: &Deps,
    req: &CaptureRequest,
    control: &CaptureControl,
    progress: &Arc<watch::Sender<CaptureProgress>>,
) -> CaptureExit {
    let (tx, mut rx) = watch::channel(progress.borrow().clone());
    let forward = {
        let progress = progress.clone();
        tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let p = rx.borrow_and_update().clone();
                progress.send_replace(p);
            }
        })
    };
    let exit = capture::run(
        deps.recording.engine,
        req.clone(),
        deps.http.clone(),
        control.clone(),
        tx,
    )
    .await;
    if let Err(e) = forward.await {
        tracing::warn!(error = %e, "capture progress forwarding stopped");
    }
    exit
}

/// A write failure says loudly what to do, and waits long: the disk will not free itself
/// in a second, and what the CDN holds stays there for a while (docs/instagram.md §3).
fn storage_pause(deps: &Deps, error: &CaptureError, backoff: &mut Backoff) -> Duration {
    let delay = backoff.next_delay();
    let free = crate::disk::free_space(&deps.recordings_dir);
    match free {
        Ok(free) if free < deps.min_free_space => tracing::error!(
            error = %error,
            free = %crate::output::human_size(free),
            floor = %crate::output::human_size(deps.min_free_space),
            ?delay,
            "cannot write the capture: the disk is nearly full; free space in {} and it resumes",
            deps.recordings_dir.display()
        ),
        _ => tracing::error!(
            error = %error,
            ?delay,
            "cannot write the capture; check the folder's permissions and free space ({})",
            deps.recordings_dir.display()
        ),
    }
    delay
}
