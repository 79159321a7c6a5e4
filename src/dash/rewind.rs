//! The rewind walk: recording a broadcast from its first frame although the live MPD only
//! lists the last ~20 s (docs/instagram.md §4).
//!
//! Instagram keeps old segments fetchable by URL, but their `t` values are not listed
//! anywhere. They chain exactly: a fragment starting at `t` lasting `dur_ms` is followed
//! by the one at `t + dur_ms`. So the walk starts at `publishFrameTime`, reads each
//! fragment's duration from its `trun` boxes, and steps forward until it meets the live
//! window. It never guesses backwards (the approach that stalls evanc577/download-iglive#5)
//! and every probe is bounded, so a broken chain costs a handful of 404s, not thousands.
//!
//! HTTP is abstracted behind [`RewindSource`] so the logic is testable with fakes.

use std::future::Future;

use bytes::Bytes;

use super::mp4::{self, FragmentInfo, Mp4Error, TrexDefaults};

/// Where the walk gets fragments and where it hands them over.
///
/// After a daemon restart, `fetch` may serve segments already on disk instead of asking
/// the CDN: the walk only needs their bytes to learn the durations.
pub trait RewindSource: Send {
    type Error: std::error::Error + Send + Sync + 'static;

    /// Whether the live side already holds the segment at `t`; the walk stops there
    /// (besides stopping at [`RewindPlan::live_first_t`]).
    fn live_holds(&self, _t: u64) -> bool {
        false
    }

    /// Fetches the fragment of the timing track (video) starting at `t`:
    /// `Ok(None)` is a 404 (no segment starts there).
    fn fetch(&mut self, t: u64) -> impl Future<Output = Result<Option<Bytes>, Self::Error>> + Send;

    /// Receives each fragment found, in ascending `t`. The capture loop stores it and
    /// fetches the audio at the same `t` (audio and video share `t`, docs/instagram.md §3).
    fn accept(
        &mut self,
        t: u64,
        fragment: Bytes,
        info: FragmentInfo,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// Bounds of the walk.
#[derive(Debug, Clone, Copy)]
pub struct RewindConfig {
    /// After `t` and `t ± 1` miss, probe this many following segment slots…
    pub scan_segments: u32,
    /// …each at `t + k × last_duration ± jitter_ms`.
    pub jitter_ms: u64,
    /// Hard cap on fetch requests for the whole walk.
    pub max_requests: u64,
}

impl Default for RewindConfig {
    fn default() -> Self {
        RewindConfig {
            scan_segments: 3,
            jitter_ms: 2,
            // A 4 h broadcast of 2 s segments is 7200 fetches.
            max_requests: 20_000,
        }
    }
}

/// Everything the walk needs to know up front.
#[derive(Debug, Clone, Copy)]
pub struct RewindPlan {
    /// `MPD@publishFrameTime`, the first `t` of the broadcast.
    pub start_t: u64,
    /// The first `t` the live side holds (or will fetch): the walk stops there.
    pub live_first_t: u64,
    /// The video track's `mdhd` timescale and `trex` defaults, from its init segment.
    pub timescale: u32,
    pub trex: Option<TrexDefaults>,
    pub config: RewindConfig,
}

/// A stretch of the broadcast that could not be fetched, `[from, to)` in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    pub from: u64,
    pub to: u64,
}

/// How the walk ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewindEnd {
    /// Met the live window: the recording is continuous up to it (except `gaps`).
    ReachedLive,
    /// The chain broke and the bounded scan found nothing; the rest up to the live
    /// window is recorded as a gap.
    ChainBroken { at: u64 },
    /// `max_requests` was used up; the rest is recorded as a gap.
    RequestBudgetExhausted { at: u64 },
}

/// What the walk did, for the recording's log and metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewindReport {
    pub segments: u64,
    pub requests: u64,
    pub gaps: Vec<Gap>,
    /// Fragments whose `tfdt` (in ms) was not within 1 ms of the `t` they were fetched
    /// at: a hint that the `t`-is-PTS assumption broke.
    pub tfdt_mismatches: u64,
    pub end: RewindEnd,
}

/// Why the walk stopped early; `report` holds the progress so far.
#[derive(Debug, thiserror::Error)]
pub enum RewindError<E: std::error::Error + 'static> {
    #[error("fetching t={t} failed: {source}")]
    Fetch {
        t: u64,
        #[source]
        source: E,
        report: Box<RewindReport>,
    },
    #[error("fragment at t={t} is unusable: {source}")]
    BadFragment {
        t: u64,
        #[source]
        source: Mp4Error,
        report: Box<RewindReport>,
    },
}

/// Runs the walk from `plan.start_t` up to `plan.live_first_t`.
pub async fn run<S: RewindSource>(
    plan: &RewindPlan,
    source: &mut S,
) -> Result<RewindReport, RewindError<S::Error>> {
    let mut w = Walk {
        plan,
        report: RewindReport {
            segments: 0,
            requests: 0,
            gaps: Vec::new(),
            tfdt_mismatches: 0,
            end: RewindEnd::ReachedLive,
        },
    };
    let mut t = plan.start_t;
    // Typical Instagram duration, used for the scan before any fragment was measured.
    let mut last_dur_ms: u64 = 2000;
    loop {
        // Within 1 ms of the live window counts as met (ms rounding of `dur_ms`).
        if t.saturating_add(1) >= plan.live_first_t || source.live_holds(t) {
            w.report.end = RewindEnd::ReachedLive;
            return Ok(w.report);
        }
        let found = match w.probe_exact(source, t).await? {
            Some(hit) => Some(hit),
            None => w.scan(source, t, last_dur_ms).await?,
        };
        let Some((at, bytes)) = found else {
            let end = if w.exhausted() {
                RewindEnd::RequestBudgetExhausted { at: t }
            } else {
                RewindEnd::ChainBroken { at: t }
            };
            w.gap(t, plan.live_first_t);
            w.report.end = end;
            return Ok(w.report);
        };
        if at >= plan.live_first_t {
            // The scan jumped into the live window.
            w.gap(t, plan.live_first_t);
            w.report.end = RewindEnd::ReachedLive;
            return Ok(w.report);
        }
        if at > t.saturating_add(1) {
            w.gap(t, at);
        }
        let info = match mp4::parse_fragment(&bytes, plan.trex.as_ref()) {
            Ok(i) => i,
            Err(e) => return Err(w.bad(at, e)),
        };
        let dur_ms = match info.duration_ms(plan.timescale) {
            Ok(0) => return Err(w.bad(at, Mp4Error::Invalid("zero-length fragment"))),
            Ok(d) => d,
            Err(e) => return Err(w.bad(at, e)),
        };
        match info.start_ms(plan.timescale) {
            Ok(s) if s.abs_diff(at) <= 1 => {}
            _ => w.report.tfdt_mismatches += 1,
        }
        if let Err(e) = source.accept(at, bytes, info).await {
            return Err(RewindError::Fetch {
                t: at,
                source: e,
                report: Box::new(w.report),
            });
        }
        w.report.segments += 1;
        last_dur_ms = dur_ms;
        t = at.saturating_add(dur_ms);
    }
}

/// The walk's mutable state and its probing helpers.
struct Walk<'p> {
    plan: &'p RewindPlan,
    report: RewindReport,
}

impl Walk<'_> {
    fn exhausted(&self) -> bool {
        self.report.requests >= self.plan.config.max_requests
    }

    fn gap(&mut self, from: u64, to: u64) {
        if to > from {
            self.report.gaps.push(Gap { from, to });
        }
    }

    fn bad<E: std::error::Error>(&mut self, t: u64, source: Mp4Error) -> RewindError<E> {
        RewindError::BadFragment {
            t,
            source,
            report: Box::new(self.report.clone()),
        }
    }

    async fn fetch<S: RewindSource>(
        &mut self,
        source: &mut S,
        t: u64,
    ) -> Result<Option<Bytes>, RewindError<S::Error>> {
        if self.exhausted() {
            return Ok(None);
        }
        self.report.requests += 1;
        source.fetch(t).await.map_err(|e| RewindError::Fetch {
            t,
            source: e,
            report: Box::new(self.report.clone()),
        })
    }

    /// `t`, then `t - 1` and `t + 1` (download-iglive accepts ±1 of rounding).
    async fn probe_exact<S: RewindSource>(
        &mut self,
        source: &mut S,
        t: u64,
    ) -> Result<Option<(u64, Bytes)>, RewindError<S::Error>> {
        for cand in [Some(t), t.checked_sub(1), t.checked_add(1)]
            .into_iter()
            .flatten()
        {
            if let Some(b) = self.fetch(source, cand).await? {
                return Ok(Some((cand, b)));
            }
        }
        Ok(None)
    }

    /// A missing segment: try where the next few would start if they had the last
    /// measured duration, with a little jitter. Bounded: `scan_segments × (2·jitter+1)`.
    async fn scan<S: RewindSource>(
        &mut self,
        source: &mut S,
        t: u64,
        last_dur_ms: u64,
    ) -> Result<Option<(u64, Bytes)>, RewindError<S::Error>> {
        let jitter = self.plan.config.jitter_ms;
        for k in 1..=u64::from(self.plan.config.scan_segments) {
            let Some(center) = last_dur_ms.checked_mul(k).and_then(|d| t.checked_add(d)) else {
                break;
            };
            // Past the live window there is nothing left to find by scanning.
            if center > self.plan.live_first_t.saturating_add(jitter) {
                break;
            }
            for off in 0..=jitter {
                let cands = if off == 0 {
                    [Some(center), None]
                } else {
                    [center.checked_sub(off), center.checked_add(off)]
                };
                for cand in cands.into_iter().flatten() {
                    if let Some(b) = self.fetch(source, cand).await? {
                        return Ok(Some((cand, b)));
                    }
                }
            }
        }
        Ok(None)
    }
}
