//! Everything a scenario will ever publish, computed once at start from the seed.
//!
//! Handlers only filter this precomputed timeline by the simulated clock, so what a client sees
//! and what `/truth` reports can never disagree, and a run is reproducible.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::media::MediaSet;
use super::scenario::{Account, Broadcast, EndStatus, RepresentationIds, Scenario};

/// A published media segment of a broadcast.
#[derive(Debug, Clone)]
pub struct Segment {
    /// `$Time$`, ms; equals the video `tfdt`.
    pub t: u64,
    pub d: u64,
    /// Base segment this one replays.
    pub base: usize,
    /// `mfhd` sequence number (1-based, in broadcast order).
    pub sequence: u32,
    /// Simulated time at which it becomes fetchable (the end of its media time).
    pub published_at: f64,
}

/// A comment as the service stores it.
#[derive(Debug, Clone)]
pub struct Comment {
    pub pk: String,
    /// Simulated seconds.
    pub at: f64,
    /// Unix seconds (ms precision): the exact `created_at` served and accepted as a cursor.
    pub created_at: f64,
    pub text: String,
    pub user: Arc<Account>,
}

/// One broadcast's whole life.
#[derive(Debug)]
pub struct BroadcastWorld {
    pub spec: Broadcast,
    pub owner: Arc<Account>,
    pub cobroadcasters: Vec<Arc<Account>>,
    /// `loapStreamId`: the segment-name prefix (differs from the broadcast id, as on Instagram).
    pub stream_id: String,
    pub media: Arc<MediaSet>,
    pub segments: Vec<Segment>,
    /// Sorted by `created_at`.
    pub comments: Vec<Comment>,
    /// Status changes `(at, status)`, in time order, from the start on.
    pub statuses: Vec<(f64, &'static str)>,
    /// How its representations are named on the CDN.
    pub rep_ids: RepresentationIds,
}

/// Where a broadcast is in its life at some instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    NotStarted,
    /// Live (`active` or `interrupted`).
    Live,
    /// Ended but still answering (`stopped`, `hard_stop`, `post_live`).
    Ended,
    /// Too long ago: 404 everywhere.
    Gone,
}

impl BroadcastWorld {
    pub fn end(&self) -> f64 {
        self.spec.start + self.spec.duration
    }

    pub fn phase(&self, now: f64) -> Phase {
        if now < self.spec.start {
            Phase::NotStarted
        } else if now < self.end() {
            Phase::Live
        } else if now < self.end() + self.spec.gone_after {
            Phase::Ended
        } else {
            Phase::Gone
        }
    }

    /// `broadcast_status` at `now` (meaningless before the start).
    pub fn status(&self, now: f64) -> &'static str {
        self.statuses
            .iter()
            .take_while(|(at, _)| *at <= now)
            .last()
            .map_or("active", |(_, s)| *s)
    }

    /// Number of segments published by `now` (they are in publication order).
    pub fn published(&self, now: f64) -> usize {
        self.segments.partition_point(|s| s.published_at <= now)
    }

    /// Number of comments visible at `now`.
    pub fn visible_comments(&self, now: f64) -> usize {
        self.comments.partition_point(|c| c.at <= now)
    }

    pub fn likes(&self, now: f64) -> f64 {
        curve(&self.spec.likes, now.min(self.end()))
    }

    pub fn viewers(&self, now: f64) -> f64 {
        if self.phase(now) == Phase::Live {
            curve(&self.spec.viewers, now).round()
        } else {
            0.0
        }
    }
}

/// Piecewise-linear interpolation over `[time, value]` points; flat outside them.
pub fn curve(points: &[[f64; 2]], at: f64) -> f64 {
    let Some(first) = points.first() else {
        return 0.0;
    };
    if at <= first[0] {
        return first[1];
    }
    for w in points.windows(2) {
        let ([t0, v0], [t1, v1]) = (w[0], w[1]);
        if at < t1 {
            if t1 <= t0 {
                return v1;
            }
            return v0 + (v1 - v0) * (at - t0) / (t1 - t0);
        }
    }
    points.last().map_or(0.0, |p| p[1])
}

/// Per-broadcast random stream: independent of the other broadcasts' sizes.
pub fn rng_for(seed: u64, broadcast: u64, purpose: u64) -> StdRng {
    StdRng::seed_from_u64(
        seed ^ broadcast.rotate_left(17) ^ purpose.wrapping_mul(0x9e37_79b9_7f4a_7c15),
    )
}

/// The segment durations a broadcast asks the encoder for (docs/instagram.md §3: ~2 s, jitter,
/// occasional 1.2 s / 2.9 s outliers).
pub fn wanted_durations(seed: u64, b: &Broadcast) -> Vec<u64> {
    let s = &b.segments;
    let mut rng = rng_for(seed, b.id, 1);
    (0..s.base_segments)
        .map(|_| {
            let nominal = f64::from(s.duration_ms);
            if rng.gen::<f64>() < s.outlier_probability {
                let factor = if rng.gen::<bool>() { 0.6 } else { 1.45 };
                (nominal * factor).round() as u64
            } else {
                let j = i64::from(s.jitter_ms);
                (i64::from(s.duration_ms) + rng.gen_range(-j..=j)) as u64
            }
        })
        .collect()
}

/// Builds a broadcast's timeline given its encoded media.
pub fn build(
    scenario: &Scenario,
    b: &Broadcast,
    media: Arc<MediaSet>,
    epoch_unix: f64,
    pk_counter: &mut u64,
) -> BroadcastWorld {
    let account = |pk: u64| {
        scenario
            .accounts
            .iter()
            .find(|a| a.pk == pk)
            .cloned()
            .map(Arc::new)
    };
    let owner = account(b.owner).unwrap_or_else(|| Arc::new(viewer(b.owner)));
    let cobroadcasters = b
        .cobroadcasters
        .iter()
        .filter_map(|pk| account(*pk))
        .collect();
    let end = b.start + b.duration;
    let first_t = b.segments.first_t;

    let mut segments = Vec::new();
    let mut t = first_t;
    let mut k = 0usize;
    let n = media.durations_ms.len();
    while let Some(&d) = media.durations_ms.get(k % n.max(1)) {
        let ends_at = b.start + (t - first_t + d) as f64 / 1000.0;
        if ends_at > end {
            break;
        }
        // The host's connection is down: nothing is produced; media time jumps over the gap.
        if let Some(w) = b
            .interruptions
            .iter()
            .find(|w| ends_at > w.from && ends_at <= w.to)
        {
            // ends_at <= w.to, so the resumed t is larger: the loop always advances.
            t = first_t + ((w.to - b.start) * 1000.0).ceil().max(0.0) as u64;
            continue;
        }
        segments.push(Segment {
            t,
            d,
            base: k % n,
            sequence: (k + 1) as u32,
            published_at: ends_at,
        });
        t += d;
        k += 1;
    }

    let mut statuses = vec![(b.start, "active")];
    let mut windows = b.interruptions.clone();
    windows.sort_by(|x, y| x.from.total_cmp(&y.from));
    for w in windows {
        let (from, to) = (w.from.max(b.start), w.to.min(end));
        if from < to {
            statuses.push((from, "interrupted"));
            statuses.push((to, "active"));
        }
    }
    statuses.push((
        end,
        match b.end_status {
            EndStatus::Stopped => "stopped",
            EndStatus::HardStop => "hard_stop",
        },
    ));
    // Overlapping interruption windows must still read in time order (stable: at equal
    // times the later entry wins, so the end status beats a window reaching past the end).
    statuses.sort_by(|x, y| x.0.total_cmp(&y.0));
    if let Some(after) = b.post_live_after {
        statuses.push((end + after.max(0.0), "post_live"));
    }

    let comments = build_comments(scenario, b, epoch_unix, pk_counter);
    BroadcastWorld {
        spec: b.clone(),
        owner,
        cobroadcasters,
        stream_id: (b.id % 1_000_000_000_000_000 + 18_000_000_000_000_000).to_string(),
        media,
        segments,
        comments,
        statuses,
        rep_ids: scenario.representation_ids,
    }
}

/// A generated viewer account for comments without a scripted author.
fn viewer(pk: u64) -> Account {
    Account {
        pk,
        username: format!("viewer_{}", pk % 1_000_000),
        full_name: format!("Viewer {}", pk % 1_000_000),
        verified: false,
        followed: false,
    }
}

fn build_comments(
    scenario: &Scenario,
    b: &Broadcast,
    epoch_unix: f64,
    pk_counter: &mut u64,
) -> Vec<Comment> {
    let mut rng = rng_for(scenario.seed, b.id, 2);
    let viewers: Vec<Arc<Account>> = (0..40)
        .map(|i| Arc::new(viewer(5_000_000_000 + i)))
        .collect();
    let end = b.start + b.duration;
    let mut raw: Vec<(f64, String, Arc<Account>)> = Vec::new();
    for script in &b.comments {
        let author = script.user.and_then(|pk| {
            scenario
                .accounts
                .iter()
                .find(|a| a.pk == pk)
                .cloned()
                .map(Arc::new)
        });
        for i in 0..script.count {
            let at = script.at + script.spread.max(0.0) * i as f64 / script.count as f64;
            let text = script
                .text
                .replace("{n}", &i.to_string())
                .repeat(script.repeat);
            let user = author
                .clone()
                .unwrap_or_else(|| viewers[rng.gen_range(0..viewers.len())].clone());
            raw.push((at, text, user));
        }
    }
    for stream in &b.comment_streams {
        let count = ((stream.to - stream.from).max(0.0) * stream.per_second).round() as usize;
        for _ in 0..count {
            let at = stream.from + rng.gen::<f64>() * (stream.to - stream.from);
            let text = stream.texts[rng.gen_range(0..stream.texts.len())].clone();
            let user = viewers[rng.gen_range(0..viewers.len())].clone();
            raw.push((at, text, user));
        }
    }
    raw.retain(|(at, _, _)| *at >= b.start && *at < end);
    // Millisecond precision keeps the served float exact; order and pk follow it.
    for r in raw.iter_mut() {
        r.0 = (r.0 * 1000.0).round() / 1000.0;
    }
    raw.sort_by(|x, y| x.0.total_cmp(&y.0));
    raw.into_iter()
        .map(|(at, text, user)| {
            *pk_counter += rng.gen_range(1..=97);
            Comment {
                pk: pk_counter.to_string(),
                at,
                created_at: ((epoch_unix + at) * 1000.0).round() / 1000.0,
                text,
                user,
            }
        })
        .collect()
}
