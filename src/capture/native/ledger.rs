//! The capture's books: every segment the timeline says exists, and what became of it.
//!
//! Live-edge fetches, rewind walks and gap fills all report here; [`Ledger::progress`]
//! turns the books into the figures the supervisor shows and stores. Holes in the known
//! timeline (a rewind chain that broke, an outage no walk could bridge) count as missing,
//! so "complete" is a claim the numbers can back.

use std::collections::BTreeMap;

use crate::capture::contract::CaptureProgress;

/// Typical Instagram segment length, for estimating how many segments a hole hides
/// (docs/instagram.md §3 "SegmentTimeline").
const TYPICAL_MS: u64 = 2000;

/// What became of one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegState {
    /// Listed or found, not fetched yet.
    Pending,
    /// Both tracks are on disk.
    Captured,
    /// Given up on after retries.
    Missing,
    /// The CDN answered 410 for a track: it existed and expired (docs/instagram.md §8), so no
    /// later round asks again. Counts as missing.
    Gone,
}

/// The books of one capture.
#[derive(Debug, Default)]
pub struct Ledger {
    /// `t → (d, state)`, in manifest milliseconds.
    segments: BTreeMap<u64, (u64, SegState)>,
    /// Where the recording should start: `publishFrameTime` when rewinding, else the first
    /// live `t`. A hole before the first held segment counts as missing only once known.
    pub start_t: Option<u64>,
    /// Whether holes before the first segment and between segments may still be filled
    /// (a walk is running): they are not reported missing until it ends.
    pub walks_running: usize,
    pub bytes: u64,
    pub publish_frame_time: Option<u64>,
    pub rewind_used: bool,
    pub quality: Option<String>,
    pub stream_ended: bool,
}

impl Ledger {
    /// Records a listed or found segment; an existing entry keeps its state, a listed `d`
    /// replaces an estimate.
    pub fn note(&mut self, t: u64, d: u64) {
        self.segments
            .entry(t)
            .and_modify(|e| e.0 = d)
            .or_insert((d, SegState::Pending));
    }

    /// Records a segment held from an earlier run, with an estimated `d` if none is known.
    pub fn note_held(&mut self, t: u64, d: u64) {
        let e = self.segments.entry(t).or_insert((d, SegState::Captured));
        e.1 = SegState::Captured;
    }

    pub fn set(&mut self, t: u64, d: u64, state: SegState) {
        self.segments.insert(t, (d, state));
    }

    pub fn state(&self, t: u64) -> Option<SegState> {
        self.segments.get(&t).map(|e| e.1)
    }

    /// The last known `t`.
    pub fn last_t(&self) -> Option<u64> {
        self.segments.keys().next_back().copied()
    }

    /// `(t, d)` of the segments given up on, for another round later.
    pub fn missing(&self) -> Vec<(u64, u64)> {
        self.segments
            .iter()
            .filter(|(_, e)| e.1 == SegState::Missing)
            .map(|(&t, &(d, _))| (t, d))
            .collect()
    }

    pub fn first_t(&self) -> Option<u64> {
        self.segments.keys().next().copied()
    }

    /// The figures: holes count as missing once no walk can fill them any more.
    pub fn progress(&self) -> CaptureProgress {
        let mut p = CaptureProgress {
            bytes: self.bytes,
            publish_frame_time: self.publish_frame_time,
            rewind_used: self.rewind_used,
            quality: self.quality.clone(),
            stream_ended: self.stream_ended,
            ..Default::default()
        };
        let mut ranges: Vec<(u64, u64)> = Vec::new();
        let push = |ranges: &mut Vec<(u64, u64)>, from: u64, to: u64| {
            if to <= from {
                return;
            }
            match ranges.last_mut() {
                Some(last) if last.1 >= from => last.1 = last.1.max(to),
                _ => ranges.push((from, to)),
            }
        };
        let mut hole_segments = 0u64;
        let settled = self.walks_running == 0;
        let mut prev_end = self.start_t;
        let mut duration_ms = 0u64;
        for (&t, &(d, state)) in &self.segments {
            // More than 1 ms (rounding, docs/instagram.md §3) between segments is a hole.
            if let Some(end) = prev_end {
                if settled && t > end.saturating_add(1) {
                    push(&mut ranges, end, t);
                    hole_segments += (t - end).div_ceil(TYPICAL_MS);
                }
            }
            match state {
                SegState::Captured => {
                    p.segments_captured += 1;
                    duration_ms = duration_ms.saturating_add(d);
                    p.first_t = Some(p.first_t.map_or(t, |f: u64| f.min(t)));
                    p.last_t = Some(t);
                }
                SegState::Missing | SegState::Gone => {
                    p.segments_missing += 1;
                    push(&mut ranges, t, t.saturating_add(d));
                }
                SegState::Pending => {}
            }
            let end = t.saturating_add(d);
            prev_end = Some(prev_end.map_or(end, |p| p.max(end)));
        }
        p.segments_missing += hole_segments;
        p.segments_expected = self.segments.len() as u64 + hole_segments;
        p.missing_ranges = ranges;
        p.duration_s = duration_ms as f64 / 1000.0;
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holes_count_as_missing_once_settled() {
        let mut l = Ledger {
            start_t: Some(1),
            ..Default::default()
        };
        l.set(1, 2000, SegState::Captured);
        l.set(2001, 2000, SegState::Missing);
        l.set(10001, 2000, SegState::Captured);
        l.walks_running = 1;
        let p = l.progress();
        assert_eq!(p.segments_missing, 1);
        assert_eq!(p.missing_ranges, vec![(2001, 4001)]);
        l.walks_running = 0;
        let p = l.progress();
        // 4001..10001 is a 6 s hole: 3 typical segments.
        assert_eq!(p.segments_missing, 4);
        assert_eq!(p.segments_expected, 6);
        assert_eq!(p.missing_ranges, vec![(2001, 10001)]);
        assert_eq!(p.segments_captured, 2);
        assert!((p.duration_s - 4.0).abs() < 1e-9);
        assert_eq!((p.first_t, p.last_t), (Some(1), Some(10001)));
    }

    #[test]
    fn rounding_overlap_is_not_a_hole() {
        let mut l = Ledger::default();
        l.set(1000, 2002, SegState::Captured);
        l.set(3003, 2001, SegState::Captured);
        let p = l.progress();
        assert_eq!(p.segments_missing, 0);
        assert!(p.missing_ranges.is_empty());
    }
}
