//! The native engine's knobs: [`CaptureOptions::default`] suits Instagram, tests shrink them.

use std::time::Duration;

use crate::dash::fetch::FetchLimits;
use crate::dash::rewind::RewindConfig;

/// Knobs of the engine.
#[derive(Debug, Clone)]
pub struct CaptureOptions {
    pub manifest: FetchLimits,
    pub segment: FetchLimits,
    pub init: FetchLimits,
    /// Segment `t` values fetched at once (each fetches video and audio).
    pub concurrency: usize,
    /// Shortest pause between manifest polls (`minimumUpdatePeriod` is honoured above it).
    pub poll_floor: Duration,
    /// Longest pause between polls, whatever the manifest says.
    pub poll_ceiling: Duration,
    /// How long the manifest may fail in a row before the run gives up.
    pub failure_budget: Duration,
    /// How long walks may go on after the live side finished, on drain / on stream end.
    pub drain_walk_bound: Duration,
    pub end_walk_bound: Duration,
    /// A segment given up on is tried again after this long (old segments stay
    /// fetchable, docs/instagram.md §3), up to [`super::MISSING_ROUNDS`] times, and once more at the end.
    pub missing_retry_after: Duration,
    pub rewind: RewindConfig,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions {
            manifest: FetchLimits {
                timeout: Duration::from_secs(10),
                max_bytes: crate::dash::Limits::default().max_bytes,
                attempts: 1,
                backoff: Duration::from_secs(1),
            },
            segment: FetchLimits {
                timeout: Duration::from_secs(20),
                max_bytes: 32 * 1024 * 1024,
                attempts: 4,
                backoff: Duration::from_millis(500),
            },
            init: FetchLimits {
                timeout: Duration::from_secs(10),
                max_bytes: 1024 * 1024,
                attempts: 4,
                backoff: Duration::from_millis(500),
            },
            concurrency: 4,
            poll_floor: Duration::from_secs(1),
            poll_ceiling: Duration::from_secs(5),
            // A 20 s outage must lose nothing; ten minutes means the broadcast is gone.
            failure_budget: Duration::from_secs(600),
            // The supervisor aborts a drain after 120 s.
            drain_walk_bound: Duration::from_secs(90),
            end_walk_bound: Duration::from_secs(600),
            missing_retry_after: Duration::from_secs(10),
            rewind: RewindConfig::default(),
        }
    }
}
