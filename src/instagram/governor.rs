//! Session-wide pacing. Instagram blocks and challenges accounts that keep polling after a
//! warning (docs/instagram.md §5: PyInstaLive#124, #160, instarec#9), so one throttling answer slows
//! the whole session, watcher and recording pollers alike, and a lost session stops every
//! request instead of letting each poller hammer a dead login.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::backoff::{scale, MAX_DELAY};

use super::endpoint::Endpoint;
use super::error::{ApiError, ApiErrorKind};

/// Tunables of the `SessionGovernor`.
#[derive(Debug, Clone)]
pub struct GovernorOptions {
    /// Pause after a throttling answer without `Retry-After`, multiplied by the slowdown.
    pub throttle_pause: Duration,
    /// Longest pause honoured, whatever `Retry-After` says.
    pub max_pause: Duration,
    /// Highest slowdown multiplier.
    pub max_slowdown: f64,
    /// Throttle-free time after which the slowdown halves (towards 1).
    pub quiet_period: Duration,
}

impl Default for GovernorOptions {
    fn default() -> Self {
        GovernorOptions {
            throttle_pause: Duration::from_secs(60),
            max_pause: Duration::from_secs(30 * 60),
            max_slowdown: 32.0,
            quiet_period: Duration::from_secs(10 * 60),
        }
    }
}

impl GovernorOptions {
    /// Brings every value into a range the arithmetic can take.
    fn sanitized(mut self) -> Self {
        self.max_slowdown = if self.max_slowdown.is_finite() {
            self.max_slowdown.clamp(1.0, 1024.0)
        } else {
            32.0
        };
        self.max_pause = self.max_pause.min(MAX_DELAY);
        self.throttle_pause = self.throttle_pause.min(self.max_pause);
        self.quiet_period = self.quiet_period.clamp(Duration::from_millis(1), MAX_DELAY);
        self
    }
}

/// Why the session can no longer be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionExpiry {
    pub kind: ApiErrorKind,
    /// Human-readable reason, free of secrets.
    pub reason: String,
    /// The challenge URL to open, when Instagram gave one.
    pub challenge_url: Option<String>,
    pub suspended: bool,
}

/// What the status endpoint and the callers need to know about the session.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionHealth {
    /// Every interval is multiplied by this (1 when all is well).
    pub slowdown: f64,
    /// Time left before requests may be sent again after a throttling answer.
    pub throttled_for: Option<Duration>,
    /// Throttling answers received since start.
    pub throttle_events: u64,
    /// Set once Instagram refused the session; requests are no longer sent.
    pub expired: Option<SessionExpiry>,
    /// The last throttling answer, for whoever asks why the session is slow.
    pub last_throttle: Option<String>,
}

impl SessionHealth {
    pub fn is_expired(&self) -> bool {
        self.expired.is_some()
    }
}

#[derive(Debug)]
struct State {
    throttled_until: Option<Instant>,
    slowdown: f64,
    /// Last throttle or last halving: the start of the current quiet period.
    quiet_since: Instant,
    throttle_events: u64,
    expired: Option<SessionExpiry>,
    last_throttle: Option<String>,
}

/// Shared pacing state of one session: every request waits on it before being sent.
#[derive(Debug)]
pub struct SessionGovernor {
    options: GovernorOptions,
    state: Mutex<State>,
}

impl SessionGovernor {
    pub fn new(options: GovernorOptions) -> SessionGovernor {
        SessionGovernor {
            options: options.sanitized(),
            state: Mutex::new(State {
                throttled_until: None,
                slowdown: 1.0,
                quiet_since: Instant::now(),
                throttle_events: 0,
                expired: None,
                last_throttle: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere mid-update; the numbers stay usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Halves the slowdown once per full quiet period elapsed since the last change.
    fn recover(&self, st: &mut State, now: Instant) {
        let quiet = self.options.quiet_period;
        while st.slowdown > 1.0 && now.saturating_duration_since(st.quiet_since) >= quiet {
            st.slowdown = (st.slowdown / 2.0).max(1.0);
            st.quiet_since += quiet;
        }
    }

    /// Records a throttling answer: doubles the slowdown and pauses every request until
    /// `Retry-After` (or `throttle_pause × slowdown`) has passed.
    pub fn on_throttled(&self, now: Instant, retry_after: Option<Duration>) {
        let mut st = self.lock();
        self.recover(&mut st, now);
        st.slowdown = (st.slowdown * 2.0).min(self.options.max_slowdown);
        st.quiet_since = now;
        st.throttle_events += 1;
        let pause = retry_after
            .unwrap_or_else(|| {
                scale(
                    self.options.throttle_pause,
                    st.slowdown,
                    self.options.max_pause,
                )
            })
            .min(self.options.max_pause);
        let until = now + pause;
        st.throttled_until = Some(st.throttled_until.map_or(until, |u| u.max(until)));
    }

    /// Marks the session unusable; later requests fail at once without reaching Instagram.
    pub fn on_expired(&self, expiry: SessionExpiry) {
        let mut st = self.lock();
        if st.expired.is_none() {
            st.expired = Some(expiry);
        }
    }

    /// Lets requests through again after an expiry: a new session file was loaded, or it is
    /// time for a rare retry of the old one. Returns the expiry that was cleared.
    pub fn clear_expiry(&self) -> Option<SessionExpiry> {
        self.lock().expired.take()
    }

    /// Feeds an error into the governor (throttling or expiry); others are ignored.
    pub fn observe(&self, now: Instant, err: &ApiError) {
        match err {
            ApiError::Throttled { retry_after, .. } => {
                self.on_throttled(now, *retry_after);
                self.lock().last_throttle = Some(err.to_string());
            }
            ApiError::LoginRequired { .. } => self.on_expired(SessionExpiry {
                kind: ApiErrorKind::LoginRequired,
                reason: err.to_string(),
                challenge_url: None,
                suspended: false,
            }),
            ApiError::Challenge { url, suspended, .. } => self.on_expired(SessionExpiry {
                kind: ApiErrorKind::Challenge,
                reason: err.to_string(),
                challenge_url: url.clone(),
                suspended: *suspended,
            }),
            _ => {}
        }
    }

    /// The current multiplier for every polling interval.
    pub fn slowdown(&self, now: Instant) -> f64 {
        let mut st = self.lock();
        self.recover(&mut st, now);
        st.slowdown
    }

    pub fn health(&self, now: Instant) -> SessionHealth {
        let mut st = self.lock();
        self.recover(&mut st, now);
        SessionHealth {
            slowdown: st.slowdown,
            throttled_for: st
                .throttled_until
                .filter(|u| *u > now)
                .map(|u| u.saturating_duration_since(now)),
            throttle_events: st.throttle_events,
            expired: st.expired.clone(),
            last_throttle: st.last_throttle.clone(),
        }
    }

    /// When a request may be sent: `Ok(None)` now, `Ok(Some(t))` at `t`, `Err` never (expired).
    pub fn ready_at(&self, now: Instant) -> Result<Option<Instant>, SessionExpiry> {
        let st = self.lock();
        if let Some(e) = &st.expired {
            return Err(e.clone());
        }
        Ok(st.throttled_until.filter(|u| *u > now))
    }

    /// Waits until a request may be sent. Fails with the session's expiry error, re-labelled
    /// with this request's endpoint and target, once the session is gone.
    pub async fn wait_ready(&self, endpoint: Endpoint, target: &str) -> Result<(), ApiError> {
        loop {
            match self.ready_at(Instant::now()) {
                Ok(None) => return Ok(()),
                Ok(Some(at)) => tokio::time::sleep_until(at).await,
                Err(expiry) => return Err(expired_error(endpoint, target, &expiry)),
            }
        }
    }
}

/// The error a request gets once the session has expired, labelled with its endpoint/target.
pub fn expired_error(endpoint: Endpoint, target: &str, expiry: &SessionExpiry) -> ApiError {
    match expiry.kind {
        ApiErrorKind::Challenge => ApiError::Challenge {
            endpoint,
            target: target.to_string(),
            url: expiry.challenge_url.clone(),
            suspended: expiry.suspended,
        },
        _ => ApiError::LoginRequired {
            endpoint,
            target: target.to_string(),
            message: "not sent: the session was refused earlier".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gov() -> SessionGovernor {
        SessionGovernor::new(GovernorOptions {
            throttle_pause: Duration::from_secs(10),
            max_pause: Duration::from_secs(100),
            max_slowdown: 8.0,
            quiet_period: Duration::from_secs(60),
        })
    }

    #[test]
    fn throttling_doubles_then_recovers_gradually() {
        let g = gov();
        let t0 = Instant::now();
        g.on_throttled(t0, Some(Duration::from_secs(5)));
        let h = g.health(t0);
        assert_eq!(h.slowdown, 2.0);
        assert_eq!(h.throttled_for, Some(Duration::from_secs(5)));
        g.on_throttled(t0, None);
        assert_eq!(g.slowdown(t0), 4.0);
        // Without Retry-After: throttle_pause × slowdown.
        assert_eq!(g.health(t0).throttled_for, Some(Duration::from_secs(40)));
        for _ in 0..5 {
            g.on_throttled(t0, None);
        }
        assert_eq!(g.slowdown(t0), 8.0, "capped");
        assert_eq!(g.health(t0).throttled_for, Some(Duration::from_secs(80)));
        g.on_throttled(t0, Some(Duration::from_secs(100_000)));
        assert_eq!(
            g.health(t0).throttled_for,
            Some(Duration::from_secs(100)),
            "max_pause"
        );
        assert_eq!(g.slowdown(t0 + Duration::from_secs(59)), 8.0);
        assert_eq!(g.slowdown(t0 + Duration::from_secs(60)), 4.0);
        assert_eq!(g.slowdown(t0 + Duration::from_secs(125)), 2.0);
        assert_eq!(g.slowdown(t0 + Duration::from_secs(1000)), 1.0);
        assert_eq!(g.health(t0 + Duration::from_secs(1000)).throttle_events, 8);
    }

    #[test]
    fn expiry_is_sticky_and_blocks() {
        let g = gov();
        let t0 = Instant::now();
        assert_eq!(g.ready_at(t0), Ok(None));
        g.observe(
            t0,
            &ApiError::Challenge {
                endpoint: Endpoint::StoryFeed,
                target: "user 1".into(),
                url: Some("https://x/challenge/".into()),
                suspended: false,
            },
        );
        g.observe(
            t0,
            &ApiError::LoginRequired {
                endpoint: Endpoint::StoryFeed,
                target: "user 1".into(),
                message: "x".into(),
            },
        );
        let e = g.ready_at(t0).expect_err("expired");
        assert_eq!(e.kind, ApiErrorKind::Challenge, "first reason kept");
        assert_eq!(e.challenge_url.as_deref(), Some("https://x/challenge/"));
        assert!(g.health(t0).is_expired());
    }

    #[test]
    fn absurd_options_do_not_panic() {
        let g = SessionGovernor::new(GovernorOptions {
            throttle_pause: Duration::MAX,
            max_pause: Duration::MAX,
            max_slowdown: f64::INFINITY,
            quiet_period: Duration::ZERO,
        });
        let t0 = Instant::now();
        for _ in 0..100 {
            g.on_throttled(t0, None);
            g.on_throttled(t0, Some(Duration::MAX));
        }
        assert!(g.health(t0).throttled_for.is_some_and(|d| d <= MAX_DELAY));
        assert_eq!(
            scale(Duration::from_secs(2), f64::NAN, Duration::MAX),
            Duration::from_secs(2)
        );
    }
}
