//! Expansion of a `SegmentTimeline` into explicit `(t, d)` pairs.
//!
//! Instagram writes `t` and `d` on every `S` (docs/instagram.md §3 "SegmentTimeline"), but a
//! general parser must handle `S@r` repeats and implicit `t` chaining. Hostile timelines
//! (`r` in the millions, `t + d` overflowing, zero durations) become errors, never large
//! allocations or wrapped arithmetic.

use dash_mpd_core::S;

use super::manifest_error::ManifestError;

/// A segment whose duration exceeds this many milliseconds is not a live segment
/// (Instagram's are ~2 s; generic live streams use up to ~10 s).
pub const MAX_SEGMENT_MS: u64 = 10 * 60 * 1000;

/// Expands `segments` (timescale `timescale`) into at most `max_entries` `(t, d)` pairs.
///
/// A negative `r` repeats until the next `S@t`; on the last `S` (where the end would come
/// from the wall clock) it counts as a single segment.
pub fn expand(
    segments: &[S],
    timescale: u64,
    max_entries: usize,
) -> Result<Vec<(u64, u64)>, ManifestError> {
    if timescale == 0 {
        return Err(ManifestError::Timeline("zero timescale".into()));
    }
    let mut out: Vec<(u64, u64)> = Vec::new();
    let mut next_t: u64 = 0;
    for (i, s) in segments.iter().enumerate() {
        let d = s.d;
        if d == 0 {
            return Err(ManifestError::Timeline(format!("S[{i}] has zero duration")));
        }
        let d_ms = u128::from(d) * 1000 / u128::from(timescale);
        if d_ms > u128::from(MAX_SEGMENT_MS) {
            return Err(ManifestError::Timeline(format!(
                "S[{i}] duration {d} at timescale {timescale} is absurd"
            )));
        }
        let mut t = match s.t {
            // An explicit `t` may overlap the previous segment's end by rounding (both
            // are rounded milliseconds on Instagram); only going backwards is refused.
            Some(t) => match out.last() {
                Some(&(prev, _)) if t <= prev => {
                    return Err(ManifestError::Timeline(format!(
                        "S[{i}] t={t} does not come after the previous t={prev}"
                    )));
                }
                _ => t,
            },
            None => next_t,
        };
        let repeats: u64 = match s.r {
            None => 0,
            Some(r) if r >= 0 => r as u64,
            Some(_) => match segments.get(i + 1).and_then(|n| n.t) {
                // Repeat while the segment fits before the next explicit start.
                Some(until) if until > t => ((until - t) / d).saturating_sub(1),
                _ => 0,
            },
        };
        // Checked before the loop so a huge `r` fails fast instead of after the cap fills.
        let total = (out.len() as u64).saturating_add(repeats).saturating_add(1);
        if total > max_entries as u64 {
            return Err(ManifestError::TooLarge("timeline has too many entries"));
        }
        for _ in 0..=repeats {
            let end = t
                .checked_add(d)
                .ok_or_else(|| ManifestError::Timeline("t + d overflows".into()))?;
            out.push((t, d));
            t = end;
        }
        next_t = t;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: Option<u64>, d: u64, r: Option<i64>) -> S {
        S {
            t,
            d,
            r,
            ..Default::default()
        }
    }

    #[test]
    fn expands_repeats_and_implicit_t() {
        let tl = expand(
            &[
                s(Some(10), 5, Some(2)),
                s(None, 7, None),
                s(Some(40), 1, None),
            ],
            1000,
            100,
        )
        .expect("valid");
        assert_eq!(tl, vec![(10, 5), (15, 5), (20, 5), (25, 7), (40, 1)]);
    }

    #[test]
    fn rounding_overlap_is_tolerated() {
        let tl = expand(
            &[s(Some(1000), 2002, None), s(Some(3001), 2001, None)],
            1000,
            10,
        )
        .expect("1 ms overlap is rounding, not an error");
        assert_eq!(tl, vec![(1000, 2002), (3001, 2001)]);
    }

    #[test]
    fn negative_r_fills_until_next_t() {
        let tl = expand(
            &[s(Some(0), 2, Some(-1)), s(Some(8), 3, Some(-1))],
            1000,
            100,
        )
        .expect("valid");
        assert_eq!(tl, vec![(0, 2), (2, 2), (4, 2), (6, 2), (8, 3)]);
    }

    #[test]
    fn hostile_timelines_are_errors() {
        assert!(matches!(
            expand(&[s(Some(0), 2000, Some(50_000_000))], 1000, 100_000),
            Err(ManifestError::TooLarge(_))
        ));
        assert!(expand(&[s(Some(u64::MAX - 1), 2000, None)], 1000, 10).is_err());
        assert!(expand(&[s(Some(0), 0, None)], 1000, 10).is_err());
        assert!(expand(&[s(Some(0), u64::MAX, None)], 1000, 10).is_err());
        assert!(expand(&[s(Some(100), 10, None), s(Some(50), 10, None)], 1000, 10).is_err());
        assert!(expand(&[s(Some(0), 10, None)], 0, 10).is_err());
    }
}
