//! A recording's pollers run as tasks that are restarted with backoff when they panic; a
//! normal return ends them. Each carries the recording's span.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use crate::backoff::Backoff;

/// Spawns `make()` on `tasks`, restarting it after a panic until `cancel` fires.
pub(super) fn spawn_restarting<F, Fut>(
    tasks: &TaskTracker,
    name: &'static str,
    cancel: CancellationToken,
    make: F,
) where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tasks.spawn(
        async move {
            let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
            loop {
                match tokio::spawn(make().in_current_span()).await {
                    Ok(()) => return,
                    Err(e) => {
                        let delay = backoff.next_delay();
                        tracing::error!(task = name, error = %e, ?delay, "task crashed; restarting");
                        tokio::select! {
                            _ = cancel.cancelled() => return,
                            _ = tokio::time::sleep(delay) => {}
                        }
                    }
                }
            }
        }
        .in_current_span(),
    );
}
