//! When to poll which account. Detection polls are the bulk of a watcher's traffic, and
//! steady polling is what gets accounts challenged (docs/instagram.md §5, PyInstaLive#124,
//! instarec#9), so the scheduler enforces a hard budget: never more than
//! `max_requests_per_minute` polls in any 60 s window, whatever the number of accounts,
//! spread evenly (a minimum gap between polls) rather than in bursts. Batch requests such as
//! the reels tray are "reserved": their share of the budget is taken first, so adding
//! accounts slows the per-account polls but never the tray. Pure logic over injected
//! `Instant`s, so tests run simulated hours in milliseconds.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use crate::backoff::{scale, MAX_DELAY};

/// The budget window of the real service: the budget is "requests per minute".
pub const WINDOW: Duration = Duration::from_secs(60);

/// Share of the window kept in hand when spacing the `R + 1`-th request from the first: the
/// service counts requests when they arrive, and network latency varies from one request to
/// the next, so pacing to the exact edge would let an observer count `R + 1` in some window.
const WINDOW_MARGIN: f64 = 0.02;

/// When busy, polls are `window × (1 + PACE_MARGIN) / R` apart on average, jittered: a bit
/// more than the window guard needs, so random runs of short gaps rarely hit the guard (which
/// would make the spacing periodic again). The cost is a 4 % lower sustained rate.
const PACE_MARGIN: f64 = 0.04;

/// How much slower than their own share non-reserved keys go when reserved keys alone take
/// the whole budget (a misconfiguration): they are still polled, rarely.
const MAX_STARVED_FACTOR: f64 = 4.0;

/// Scheduler tunables (from the configuration; may change at run time).
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Wanted time between two polls of one account.
    pub poll_interval: Duration,
    /// Hard cap on polls in any 60 s window (clamped to at least 1).
    pub max_requests_per_minute: u32,
    /// Relative jitter on each account's interval (0.1 = ±10 %), so polls never fall into
    /// a recognisable fixed rhythm. Clamped to [0, 0.5].
    pub jitter: f64,
    /// The window `max_requests_per_minute` counts over: `WINDOW` (60 s) in production;
    /// benchmarks against the simulator's accelerated clock shrink it by the clock speed.
    pub window: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            poll_interval: Duration::from_secs(60),
            max_requests_per_minute: 20,
            jitter: 0.1,
            window: WINDOW,
        }
    }
}

#[derive(Debug, Clone)]
struct Slot {
    /// Own base interval (e.g. the reels tray's); `None` means `poll_interval`.
    interval: Option<Duration>,
    /// Served from the budget before the other slots (see the module doc).
    reserved: bool,
    next_due: Instant,
    paused: bool,
}

/// Decides the next poll: which key (an account, or a batch request such as the tray) and when.
#[derive(Debug)]
pub struct Scheduler<K: Ord + Clone> {
    config: SchedulerConfig,
    slots: BTreeMap<K, Slot>,
    /// Times of the last `max_requests_per_minute` polls, oldest first.
    recent: VecDeque<Instant>,
    slowdown: f64,
    rng: StdRng,
    /// Jitter factor of the gap before the next poll, drawn at each poll.
    gap_factor: f64,
    /// When the last poll was due by the pace (at most its real time, see `record`).
    last_slot: Option<Instant>,
}

impl<K: Ord + Clone> Scheduler<K> {
    /// `seed` makes the jitter reproducible in tests.
    pub fn new(config: SchedulerConfig, seed: u64) -> Self {
        Scheduler {
            config,
            slots: BTreeMap::new(),
            recent: VecDeque::new(),
            slowdown: 1.0,
            rng: StdRng::seed_from_u64(seed),
            gap_factor: 1.0,
            last_slot: None,
        }
    }

    fn budget(&self) -> usize {
        self.config.max_requests_per_minute.max(1) as usize
    }

    /// Polls per window the pacing sustains.
    fn sustained(&self) -> f64 {
        self.budget() as f64 / (1.0 + PACE_MARGIN)
    }

    fn jitter(&self) -> f64 {
        if self.config.jitter.is_finite() {
            self.config.jitter.clamp(0.0, 0.5)
        } else {
            0.0
        }
    }

    /// Changes the budget (the session's share for detection moves as recordings come and
    /// go); the poll history is kept, so the window guard holds across the change.
    pub fn set_budget(&mut self, max_requests_per_minute: u32) {
        self.config.max_requests_per_minute = max_requests_per_minute.max(1);
        let budget = self.budget();
        while self.recent.len() > budget {
            self.recent.pop_front();
        }
    }

    /// Multiplies every interval and gap (the session governor's slowdown; at least 1).
    pub fn set_slowdown(&mut self, slowdown: f64) {
        self.slowdown = if slowdown.is_finite() {
            slowdown.clamp(1.0, 1024.0)
        } else {
            1.0
        };
    }

    /// Adds a key polled every `poll_interval`. An existing key keeps its schedule.
    #[cfg(test)]
    pub fn insert(&mut self, key: K, now: Instant) {
        self.insert_with_interval(key, None, now);
    }

    /// Adds a key with its own base interval, or updates the interval of an existing key.
    /// A new key's first poll goes in the middle of the widest gap between the polls already
    /// planned over the next interval, so accounts added together (at start-up, on reload)
    /// are spread over the interval instead of all polled in the same few seconds.
    pub fn insert_with_interval(&mut self, key: K, interval: Option<Duration>, now: Instant) {
        self.insert_slot(key, interval, false, now);
    }

    /// Adds (or updates) a reserved key polled every `interval`: its share of the budget is
    /// set aside before the other keys are stretched to fit the rest.
    pub fn insert_reserved(&mut self, key: K, interval: Duration, now: Instant) {
        self.insert_slot(key, Some(interval), true, now);
    }

    fn insert_slot(&mut self, key: K, interval: Option<Duration>, reserved: bool, now: Instant) {
        if let Some(slot) = self.slots.get_mut(&key) {
            slot.interval = interval;
            slot.reserved = reserved;
            return;
        }
        let mut slot = Slot {
            interval,
            reserved,
            next_due: now,
            paused: false,
        };
        slot.next_due = self.widest_gap_midpoint(self.stretched(&slot), now);
        self.slots.insert(key, slot);
    }

    /// The middle of the widest gap between planned polls in `[now, now + span)`, taken
    /// circularly (the gap from the last planned poll wraps to the first one, one span later).
    fn widest_gap_midpoint(&self, span: Duration, now: Instant) -> Instant {
        let mut offsets: Vec<Duration> = self
            .slots
            .values()
            .filter(|s| !s.paused)
            .map(|s| s.next_due.saturating_duration_since(now))
            .filter(|d| *d < span)
            .collect();
        if offsets.is_empty() {
            return now;
        }
        offsets.sort();
        let mut best_start = offsets[offsets.len() - 1];
        let mut best_len = span - best_start + offsets[0];
        for w in offsets.windows(2) {
            if w[1] - w[0] > best_len {
                best_start = w[0];
                best_len = w[1] - w[0];
            }
        }
        let mid = best_start + best_len / 2;
        now + if mid >= span { mid - span } else { mid }
    }

    pub fn remove(&mut self, key: &K) {
        self.slots.remove(key);
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.slots.keys()
    }

    /// Stops polling a key (its account is being recorded) without forgetting it.
    pub fn pause(&mut self, key: &K) {
        if let Some(s) = self.slots.get_mut(key) {
            s.paused = true;
        }
    }

    /// Polls a paused key again, soon: a host who just ended may start again.
    pub fn resume(&mut self, key: &K, now: Instant) {
        if let Some(s) = self.slots.get_mut(key) {
            if s.paused {
                s.paused = false;
                s.next_due = now;
            }
        }
    }

    /// Pushes a key's next poll back by `factor` intervals (an account that keeps failing,
    /// e.g. a wrong id answering 404, should not eat the budget of the others).
    pub fn defer(&mut self, key: &K, factor: f64) {
        let Some(slot) = self.slots.get(key) else {
            return;
        };
        let extra = scale(self.stretched(slot), factor, MAX_DELAY);
        if let Some(slot) = self.slots.get_mut(key) {
            slot.next_due += extra;
        }
    }

    fn base(&self, slot: &Slot) -> Duration {
        slot.interval
            .unwrap_or(self.config.poll_interval)
            .clamp(Duration::from_millis(1), MAX_DELAY)
    }

    /// Wanted polls per window of the active keys: (reserved, others).
    fn wanted(&self) -> (f64, f64) {
        let window = self.window().as_secs_f64();
        let mut reserved = 0.0;
        let mut others = 0.0;
        for s in self.slots.values().filter(|s| !s.paused) {
            let w = window / self.base(s).as_secs_f64();
            if s.reserved {
                reserved += w;
            } else {
                others += w;
            }
        }
        (reserved, others)
    }

    fn window(&self) -> Duration {
        self.config
            .window
            .clamp(Duration::from_millis(1), MAX_DELAY)
    }

    /// Wanted polls per window of all active keys over the budget: above 1, intervals are
    /// stretched so the total fits.
    #[cfg(test)]
    pub fn load(&self) -> f64 {
        let (reserved, others) = self.wanted();
        (reserved + others) / self.sustained()
    }

    /// Interval multipliers (reserved keys, other keys), before the session's slowdown.
    /// Reserved keys are stretched only if they alone exceed the budget; the others share
    /// what the reserved keys leave.
    fn stretch_factors(&self) -> (f64, f64) {
        let budget = self.sustained();
        let (reserved, others) = self.wanted();
        if reserved >= budget {
            let total = (reserved + others) / budget;
            return (reserved / budget, total.max(1.0) * MAX_STARVED_FACTOR);
        }
        (1.0, (others / (budget - reserved)).max(1.0))
    }

    /// The interval a key is polled at now (before jitter).
    #[cfg(test)]
    pub fn interval_of(&self, key: &K) -> Option<Duration> {
        let slot = self.slots.get(key)?;
        Some(self.stretched(slot))
    }

    fn stretched(&self, slot: &Slot) -> Duration {
        let (reserved, others) = self.stretch_factors();
        let factor = if slot.reserved { reserved } else { others };
        scale(self.base(slot), factor * self.slowdown, MAX_DELAY)
    }

    /// Mean gap between two polls when busy and no key is reserved: the budget spread evenly
    /// over the window (plus `PACE_MARGIN`), times the slowdown. Each actual gap is jittered
    /// around it.
    #[cfg(test)]
    pub fn pace(&self) -> Duration {
        let per = self.window().as_secs_f64() * (1.0 + PACE_MARGIN) / self.budget() as f64;
        scale(Duration::from_secs_f64(per), self.slowdown, MAX_DELAY)
    }

    /// The next key to poll and the earliest time it may be polled, or `None` when nothing
    /// is active. Never earlier than the budget allows: after the last `R` polls, the next
    /// one waits until the oldest of them is a window (plus `WINDOW_MARGIN`) old.
    ///
    /// Over budget (accounts stretched), the earliest-due account is polled as soon as the
    /// pace allows even if not yet due: round robin at the full budget. Waiting for due times
    /// would lose every moment nobody happens to be due, and with jittered intervals that adds
    /// up to a quarter of the budget. A reserved key that is due by then goes first, so a
    /// backlog of accounts never delays the tray; it does not wait for the pace either.
    pub fn next(&self) -> Option<(K, Instant)> {
        let active = || self.slots.iter().filter(|(_, s)| !s.paused);
        let (key, slot) = active().min_by_key(|(_, s)| s.next_due)?;
        let mut guard: Option<Instant> = None;
        if self.recent.len() >= self.budget() {
            if let Some(oldest) = self.recent.front() {
                guard = Some(*oldest + scale(self.window(), 1.0 + WINDOW_MARGIN, MAX_DELAY));
            }
        }
        let gate = match (self.last_slot.map(|l| l + self.gap()), guard) {
            (Some(p), Some(g)) => Some(p.max(g)),
            (p, g) => p.or(g),
        };
        let work_conserving = !slot.reserved && self.stretch_factors().1 > 1.0;
        let at = match gate {
            Some(g) if work_conserving => g,
            Some(g) => g.max(slot.next_due),
            None => slot.next_due,
        };
        // Reserved keys skip the pace (only the window guard holds them back), so the tray
        // goes when due even while accounts use the rest of the budget.
        if let Some((reserved, r)) = active()
            .filter(|(_, s)| s.reserved)
            .min_by_key(|(_, s)| s.next_due)
        {
            let r_at = guard.map_or(r.next_due, |g| g.max(r.next_due));
            if r_at <= at {
                return Some((reserved.clone(), r_at));
            }
        }
        Some((key.clone(), at))
    }

    /// Counts `count` requests sent at `at` that were not polls of their own (retries of a
    /// failed poll), so the budget holds for everything sent.
    pub fn record_extra(&mut self, count: u64, at: Instant) {
        let budget = self.budget();
        for _ in 0..count.min(budget as u64) {
            self.recent.push_back(at);
        }
        while self.recent.len() > budget {
            self.recent.pop_front();
        }
        if count > 0 {
            // No credit for these: the next poll waits a full gap after them.
            self.last_slot = Some(at);
        }
    }

    /// The jittered gap after the last poll.
    fn gap(&self) -> Duration {
        scale(self.account_pace(), self.gap_factor, MAX_DELAY)
    }

    /// Mean gap between polls of non-reserved keys when busy: the window over their share of
    /// the sustained budget (what reserved keys leave). Reserved polls stay outside this pace,
    /// so together they still fit the budget and rarely meet the window guard.
    fn account_pace(&self) -> Duration {
        let sustained = self.sustained();
        let (reserved, _) = self.wanted();
        let share = (sustained - reserved).max(sustained / MAX_STARVED_FACTOR);
        let per = self.window().as_secs_f64() / share;
        scale(Duration::from_secs_f64(per), self.slowdown, MAX_DELAY)
    }

    /// Advances the pace: a poll sent at `at` took the slot it was due in, unless it comes
    /// more than half a gap late (after an idle spell), when it starts afresh. A timer that
    /// fires a little late (a loaded machine, an accelerated clock) thus does not slow the
    /// sustained rate; the window guard still counts real send times.
    fn advance_pace(&mut self, at: Instant) {
        let tolerance = self.account_pace() / 2;
        let slot = match self.last_slot {
            Some(last) => (last + self.gap()).max(at.checked_sub(tolerance).unwrap_or(at)),
            None => at,
        };
        self.last_slot = Some(slot.min(at));
    }

    /// Records that `key` was polled at `at` (the time the request was sent) and schedules its
    /// next poll one jittered interval later.
    pub fn record(&mut self, key: &K, at: Instant) {
        if !self.slots.get(key).is_some_and(|s| s.reserved) {
            self.advance_pace(at);
        }
        self.recent.push_back(at);
        let budget = self.budget();
        while self.recent.len() > budget {
            self.recent.pop_front();
        }
        let jitter = self.jitter();
        let (factor, gap_factor) = if jitter > 0.0 {
            (
                1.0 + self.rng.gen_range(-jitter..=jitter),
                1.0 + self.rng.gen_range(-jitter..=jitter),
            )
        } else {
            (1.0, 1.0)
        };
        self.gap_factor = gap_factor;
        let Some(slot) = self.slots.get(key) else {
            return;
        };
        let interval = scale(self.stretched(slot), factor, MAX_DELAY);
        if let Some(slot) = self.slots.get_mut(key) {
            slot.next_due = at + interval;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(poll_s: u64, rpm: u32) -> SchedulerConfig {
        SchedulerConfig {
            poll_interval: Duration::from_secs(poll_s),
            max_requests_per_minute: rpm,
            jitter: 0.1,
            window: WINDOW,
        }
    }

    /// Runs the scheduler as the detector would, for `minutes` of simulated time.
    fn simulate(s: &mut Scheduler<u32>, t0: Instant, minutes: u64) -> Vec<(u32, Instant)> {
        let end = t0 + Duration::from_secs(60 * minutes);
        let mut fires = Vec::new();
        let mut now = t0;
        for _ in 0..1_000_000 {
            let Some((k, at)) = s.next() else { break };
            now = now.max(at);
            if now >= end {
                break;
            }
            s.record(&k, now);
            fires.push((k, now));
        }
        fires
    }

    fn assert_budget(fires: &[(u32, Instant)], rpm: usize) {
        for w in fires.windows(rpm + 1) {
            let span = w[rpm].1 - w[0].1;
            assert!(span >= WINDOW, "{} polls within {span:?}", rpm + 1);
        }
    }

    #[test]
    fn under_budget_each_account_every_poll_interval() {
        let t0 = Instant::now();
        let mut s = Scheduler::new(cfg(60, 30), 1);
        for k in 0..20 {
            s.insert(k, t0);
        }
        assert!(s.load() <= 1.0);
        let fires = simulate(&mut s, t0, 60);
        let mut last: HashMap<u32, Instant> = HashMap::new();
        let mut gaps = Vec::new();
        for (k, at) in &fires {
            if let Some(prev) = last.insert(*k, *at) {
                gaps.push((*at - prev).as_secs_f64());
            }
        }
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        assert!((mean - 60.0).abs() < 2.0, "mean interval {mean}");
        let max = gaps.iter().cloned().fold(0.0, f64::max);
        let min = gaps.iter().cloned().fold(f64::MAX, f64::min);
        // +10 %, plus a few 2 s gaps when several accounts fall due together.
        assert!(max <= 66.0 + 5.0 * 2.0, "max interval {max}");
        assert!(min >= 54.0 - 0.001, "min interval {min}");
        // 20 accounts for 60 min: about 1200 polls.
        assert!(fires.len() >= 1150, "{} polls", fires.len());
        assert_budget(&fires, 30);
    }

    #[test]
    fn over_budget_polls_are_stretched_and_spread() {
        let t0 = Instant::now();
        let mut s = Scheduler::new(cfg(10, 12), 2);
        for k in 0..100 {
            s.insert(k, t0);
        }
        let fires = simulate(&mut s, t0, 30);
        assert_budget(&fires, 12);
        // The budget is used: about 12 per minute (less the pacing margin).
        let sustained = (12.0 * 30.0 / (1.0 + PACE_MARGIN)) as usize;
        assert!(fires.len() >= sustained - 6, "{} polls", fires.len());
        // Evenly spread: never two polls closer than the pace less its jitter.
        for w in fires.windows(2) {
            assert!(w[1].1 - w[0].1 >= Duration::from_secs_f64(5.0 * 1.04 * 0.9));
        }
        // Everyone is polled (no starvation): 100 accounts at 12/min need ~8.3 min per round.
        let polled: std::collections::HashSet<u32> = fires.iter().map(|f| f.0).collect();
        assert_eq!(polled.len(), 100);
    }

    #[test]
    fn never_above_budget_in_any_window_random() {
        let mut rng = StdRng::seed_from_u64(42);
        for round in 0..40 {
            let n: u32 = rng.gen_range(1..400);
            let rpm: u32 = rng.gen_range(1..120);
            let poll: u64 = rng.gen_range(1..300);
            let t0 = Instant::now();
            let mut s = Scheduler::new(cfg(poll, rpm), round);
            for k in 0..n {
                s.insert(k, t0);
            }
            let mut now = t0;
            let end = t0 + Duration::from_secs(60 * 30);
            let mut fires: Vec<(u32, Instant)> = Vec::new();
            for _ in 0..200_000 {
                // Run-time changes: accounts come and go, recordings pause them, throttling slows.
                match rng.gen_range(0..100) {
                    0 => s.insert(rng.gen_range(0..n + 50), now),
                    1 => s.remove(&rng.gen_range(0..n + 50)),
                    2 => s.pause(&rng.gen_range(0..n)),
                    3 => s.resume(&rng.gen_range(0..n), now),
                    4 => s.set_slowdown(rng.gen_range(1.0..4.0)),
                    5 => s.set_slowdown(1.0),
                    _ => {}
                }
                let Some((k, at)) = s.next() else {
                    now += Duration::from_secs(1);
                    if now >= end {
                        break;
                    }
                    continue;
                };
                now = now.max(at);
                if now >= end {
                    break;
                }
                s.record(&k, now);
                fires.push((k, now));
            }
            assert_budget(&fires, rpm as usize);
        }
    }

    #[test]
    fn paused_accounts_are_skipped_and_resume_soon() {
        let t0 = Instant::now();
        let mut s = Scheduler::new(cfg(60, 60), 3);
        s.insert(1, t0);
        s.insert(2, t0);
        s.pause(&1);
        let fires = simulate(&mut s, t0, 5);
        assert!(fires.iter().all(|f| f.0 == 2));
        let now = t0 + Duration::from_secs(300);
        s.resume(&1, now);
        let (k, at) = s.next().expect("active keys");
        assert_eq!(k, 1);
        assert!(at <= now + s.pace().mul_f64(1.1));
        s.remove(&1);
        s.remove(&2);
        assert!(s.next().is_none());
    }

    #[test]
    fn slowdown_multiplies_intervals() {
        let t0 = Instant::now();
        let mut s = Scheduler::new(cfg(60, 60), 4);
        s.insert(7, t0);
        assert_eq!(s.interval_of(&7), Some(Duration::from_secs(60)));
        s.set_slowdown(4.0);
        assert_eq!(s.interval_of(&7), Some(Duration::from_secs(240)));
        assert!((s.pace().as_secs_f64() - 4.0 * 1.04).abs() < 1e-6);
        s.set_slowdown(f64::NAN);
        assert_eq!(s.interval_of(&7), Some(Duration::from_secs(60)));
    }

    #[test]
    fn absurd_configuration_does_not_panic() {
        let t0 = Instant::now();
        let mut s = Scheduler::new(
            SchedulerConfig {
                poll_interval: Duration::MAX,
                max_requests_per_minute: 0,
                jitter: f64::NAN,
                window: WINDOW,
            },
            6,
        );
        s.insert(1, t0);
        s.insert_with_interval(2, Some(Duration::ZERO), t0);
        s.set_slowdown(f64::INFINITY);
        let fires = simulate(&mut s, t0, 10);
        assert!(!fires.is_empty());
        assert_budget(&fires, 1);
        s.defer(&1, f64::MAX);
        let i = s.interval_of(&1);
        assert!(i.is_some_and(|d| d <= MAX_DELAY), "{i:?}");
        let mut s = Scheduler::new(
            SchedulerConfig {
                window: Duration::ZERO,
                ..cfg(0, 0)
            },
            7,
        );
        s.insert(1, t0);
        assert!(s.pace() > Duration::ZERO);
        assert!(!simulate(&mut s, t0, 1).is_empty());
    }

    #[test]
    fn deferred_keys_wait_longer() {
        let t0 = Instant::now();
        let mut s = Scheduler::new(cfg(60, 60), 8);
        s.insert(1, t0);
        s.insert(2, t0);
        s.defer(&1, 3.0);
        let (k, _) = s.next().expect("active");
        assert_eq!(k, 2);
        s.record(&2, t0);
        let (k, at) = s.next().expect("active");
        assert_eq!(k, 2, "1 is deferred by three intervals");
        assert!(at >= t0 + Duration::from_secs(54));
    }

    #[test]
    fn keys_added_together_are_spread_over_the_interval() {
        let t0 = Instant::now();
        let mut s = Scheduler::new(cfg(60, 60), 9);
        for k in 0..8 {
            s.insert(k, t0);
        }
        let mut firsts: Vec<Instant> = Vec::new();
        let fires = simulate(&mut s, t0, 1);
        for (k, at) in &fires {
            if !firsts.is_empty() && *k == fires[0].0 {
                break;
            }
            firsts.push(*at);
        }
        assert_eq!(firsts.len(), 8, "each key once in the first minute");
        assert!(firsts.iter().all(|t| *t < t0 + Duration::from_secs(60)));
        for w in firsts.windows(2) {
            assert!(
                w[1] - w[0] >= Duration::from_millis(7400),
                "{:?}",
                w[1] - w[0]
            );
        }
    }

    #[test]
    fn own_interval_keys_share_the_budget() {
        let t0 = Instant::now();
        let mut s = Scheduler::new(cfg(60, 10), 5);
        s.insert_with_interval(0, Some(Duration::from_secs(10)), t0); // 6/min
        for k in 1..9 {
            s.insert(k, t0); // 8/min
        }
        // 14 wanted per minute over a budget of 10: everything stretched by 1.4.
        let load = 1.4 * (1.0 + PACE_MARGIN);
        assert!((s.load() - load).abs() < 1e-9);
        let interval = s.interval_of(&0).expect("key").as_secs_f64();
        assert!((interval - 10.0 * load).abs() < 1e-6, "{interval}");
        let fires = simulate(&mut s, t0, 20);
        assert_budget(&fires, 10);
    }

    #[test]
    fn reserved_keys_keep_their_rate_whatever_the_number_of_others() {
        let t0 = Instant::now();
        for n in [10u32, 100, 1000] {
            let mut s = Scheduler::new(cfg(60, 20), 10);
            s.insert_reserved(u32::MAX, Duration::from_secs(15), t0);
            for k in 0..n {
                s.insert(k, t0);
            }
            assert_eq!(s.interval_of(&u32::MAX), Some(Duration::from_secs(15)));
            // 4 of the ~19.2 sustained per minute go to the tray; the accounts share the rest.
            let expected = 60.0 * (n as f64 / (20.0 / (1.0 + PACE_MARGIN) - 4.0)).max(1.0);
            let got = s.interval_of(&0).expect("key").as_secs_f64();
            assert!((got - expected).abs() < 1e-6, "n={n}: {got} vs {expected}");
            let fires = simulate(&mut s, t0, 30);
            assert_budget(&fires, 20);
            let tray: Vec<Instant> = fires
                .iter()
                .filter(|f| f.0 == u32::MAX)
                .map(|f| f.1)
                .collect();
            let gaps: Vec<f64> = tray
                .windows(2)
                .map(|w| (w[1] - w[0]).as_secs_f64())
                .collect();
            let worst = gaps.iter().cloned().fold(0.0, f64::max);
            // ±10 % jitter, plus at most one pace when the window guard holds it back.
            assert!(worst <= 15.0 * 1.1 + 3.2, "n={n}: tray gap {worst}");
            let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
            assert!((mean - 15.0).abs() < 0.5, "n={n}: mean tray gap {mean}");
            assert!(
                tray.len() >= 100,
                "n={n}: {} tray polls in 30 min",
                tray.len()
            );
        }
    }

    #[test]
    fn reserved_keys_alone_over_budget_still_leave_room_for_others() {
        let t0 = Instant::now();
        let mut s = Scheduler::new(cfg(60, 2), 11);
        s.insert_reserved(u32::MAX, Duration::from_secs(10), t0);
        s.insert(1, t0);
        let fires = simulate(&mut s, t0, 120);
        assert_budget(&fires, 2);
        assert!(
            fires.iter().any(|f| f.0 == 1),
            "the account is still polled"
        );
    }

    #[test]
    fn window_is_configurable() {
        let t0 = Instant::now();
        let mut s = Scheduler::new(
            SchedulerConfig {
                window: Duration::from_millis(600),
                poll_interval: Duration::from_millis(100),
                ..cfg(0, 10)
            },
            12,
        );
        for k in 0..50 {
            s.insert(k, t0);
        }
        assert!((s.pace().as_secs_f64() - 0.06 * 1.04).abs() < 1e-9);
        let interval = s.interval_of(&0).expect("key").as_secs_f64();
        assert!((interval - 3.0 * 1.04).abs() < 1e-6, "{interval}");
    }

    #[test]
    fn retries_count_against_the_budget() {
        let t0 = Instant::now();
        let mut s = Scheduler::new(cfg(1, 4), 13);
        s.insert(1, t0);
        s.record(&1, t0);
        // The poll failed and was retried twice.
        s.record_extra(2, t0 + Duration::from_secs(1));
        s.record(&1, t0 + Duration::from_secs(15));
        // Four requests in the window: the next one waits until the first is a window old.
        let (_, at) = s.next().expect("active");
        assert!(at >= t0 + WINDOW, "{:?}", at - t0);
        s.record_extra(u64::MAX, t0);
        assert!(s.next().is_some(), "absurd counts are bounded");
    }

    #[test]
    fn over_budget_round_robin_is_near_optimal() {
        // 1000 accounts, 20 requests per minute: a round takes 50 min, so a live starting at
        // a random time waits 25 min on average for its account's next poll.
        let t0 = Instant::now();
        let mut s = Scheduler::new(cfg(60, 20), 14);
        for k in 0..1000 {
            s.insert(k, t0);
        }
        let fires = simulate(&mut s, t0, 200);
        assert_budget(&fires, 20);
        let mut polls: HashMap<u32, Vec<Instant>> = HashMap::new();
        for (k, at) in &fires {
            polls.entry(*k).or_default().push(*at);
        }
        let mut rng = StdRng::seed_from_u64(15);
        let mut total = 0.0;
        for k in 0..1000u32 {
            let start = t0 + Duration::from_secs_f64(rng.gen_range(60.0..140.0) * 60.0);
            let next = polls[&k]
                .iter()
                .find(|t| **t >= start)
                .expect("polled later");
            total += (*next - start).as_secs_f64();
        }
        let mean_min = total / 1000.0 / 60.0;
        assert!(
            (mean_min / 25.0 - 1.0).abs() < 0.1,
            "mean detection delay {mean_min:.1} min"
        );
    }

    #[test]
    fn late_timers_do_not_lower_the_rate() {
        let t0 = Instant::now();
        let mut s = Scheduler::new(cfg(60, 20), 16);
        for k in 0..100 {
            s.insert(k, t0);
        }
        let end = t0 + Duration::from_secs(30 * 60);
        let mut fires = Vec::new();
        let mut now = t0;
        for _ in 0..10_000 {
            let Some((k, at)) = s.next() else { break };
            // Every wake-up comes 1 s (a third of the pace) late.
            now = now.max(at) + Duration::from_secs(1);
            if now >= end {
                break;
            }
            s.record(&k, now);
            fires.push((k, now));
        }
        assert_budget(&fires, 20);
        let sustained = 20.0 * 30.0 / (1.0 + PACE_MARGIN);
        assert!(
            fires.len() as f64 >= 0.97 * sustained,
            "{} polls in 30 min",
            fires.len()
        );
    }
}
