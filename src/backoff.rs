//! The one retry pacing of iglive: jittered exponential backoff with a cap and a reset.
//!
//! Every retry loop uses it — segment and manifest fetches, API retries, the capture and
//! poller restarts, database batch retries, webhooks — so they all behave alike: the n-th
//! delay is `base · 2ⁿ` capped at `cap`, drawn uniformly from its upper half so that many
//! tasks failing at once (every poller of a throttled session, every segment of an outage) do
//! not retry in step, and a success resets it.

use std::time::Duration;

use rand::Rng;
use tokio_util::sync::CancellationToken;

/// Longest delay any pacing computes, whatever the configuration says: keeps `Instant`
/// arithmetic far from overflow.
pub const MAX_DELAY: Duration = Duration::from_secs(7 * 24 * 3600);

/// Jittered exponential backoff. Cheap to copy; each retry loop owns one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    /// Starts at `base` and never waits longer than `cap`.
    pub fn new(base: Duration, cap: Duration) -> Backoff {
        let cap = cap.min(MAX_DELAY);
        Backoff {
            base: base.min(cap),
            cap,
            attempt: 0,
        }
    }

    /// The delay before retry number `attempt` (0-based), without changing the state.
    pub fn delay_for(&self, attempt: u32) -> Duration {
        let full = self
            .base
            .saturating_mul(1u32 << attempt.min(20))
            .min(self.cap);
        full.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
    }

    /// The next delay; each call doubles the one after (up to the cap).
    pub fn next_delay(&mut self) -> Duration {
        let d = self.delay_for(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        d
    }

    /// Back to `base` after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Retries taken since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Sleeps the next delay; `false` when `cancel` fired first.
    pub async fn wait(&mut self, cancel: &CancellationToken) -> bool {
        let d = self.next_delay();
        tokio::select! {
            _ = cancel.cancelled() => false,
            _ = tokio::time::sleep(d) => true,
        }
    }
}

/// `d × factor`, capped at `cap` (and [`MAX_DELAY`]); a non-finite or negative factor counts
/// as 1. For pacing that stretches an interval (a throttled session's slowdown).
pub fn scale(d: Duration, factor: f64, cap: Duration) -> Duration {
    let factor = if factor.is_finite() && factor >= 0.0 {
        factor
    } else {
        1.0
    };
    let cap = cap.min(MAX_DELAY);
    let secs = d.min(cap).as_secs_f64() * factor;
    if secs >= cap.as_secs_f64() {
        cap
    } else {
        Duration::from_secs_f64(secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_within_the_upper_half_and_stop_at_the_cap() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(1);
        let b = Backoff::new(base, cap);
        for attempt in 0..40 {
            let d = b.delay_for(attempt);
            let full = base.saturating_mul(1u32 << attempt.min(16)).min(cap);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
    }

    #[test]
    fn each_delay_doubles_until_the_cap_and_reset_starts_over() {
        let mut b = Backoff::new(Duration::from_millis(10), Duration::from_millis(50));
        for full in [10, 20, 40, 50, 50] {
            let d = b.next_delay().as_secs_f64() * 1000.0;
            assert!(d >= full as f64 / 2.0 && d <= full as f64, "{d} vs {full}");
        }
        assert_eq!(b.attempts(), 5);
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(10));
    }

    #[test]
    fn a_huge_base_or_cap_stays_bounded() {
        let mut b = Backoff::new(Duration::MAX, Duration::MAX);
        assert!(b.next_delay() <= MAX_DELAY);
        assert_eq!(
            scale(Duration::MAX, f64::INFINITY, Duration::MAX),
            MAX_DELAY
        );
        assert_eq!(
            scale(Duration::from_secs(2), f64::NAN, Duration::from_secs(9)),
            Duration::from_secs(2)
        );
    }

    #[tokio::test]
    async fn wait_returns_false_when_cancelled() {
        let cancel = CancellationToken::new();
        cancel.cancel();
        let mut b = Backoff::new(Duration::from_secs(60), Duration::from_secs(60));
        assert!(!b.wait(&cancel).await);
    }
}
