//! The session's request budget: never more than `max_requests_per_minute` API requests in any
//! 60 s window, whatever sends them — detection, the pollers of every recording, `info`, the
//! post-live merge, retries. Accounts are lost to API traffic (docs/instagram.md §8 "Blocks"),
//! so this is a hard limit enforced where every request leaves, in the client.
//!
//! When requests compete for the last slots of a window, the more important class goes first:
//! what ends a broadcast and keeps its chat complete ([`Priority::Critical`]), then detection,
//! then viewer counts and likes ([`Priority::Low`]). The pool plans intervals so that this
//! arbitration is the exception; the limit itself never bends.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Request classes, most important first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// The end-of-broadcast status (heartbeat, `info`) and the live chat's cursor.
    Critical = 0,
    /// Finding lives: story feeds, the tray, `web_info`.
    Detection = 1,
    /// Like counts and the post-live merge.
    Low = 2,
}

impl Priority {
    pub const ALL: [Priority; 3] = [Priority::Critical, Priority::Detection, Priority::Low];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Critical => "critical",
            Priority::Detection => "detection",
            Priority::Low => "low",
        }
    }
}

/// The sliding window itself: pure logic over injected instants.
#[derive(Debug, Clone)]
pub struct Window {
    limit: usize,
    span: Duration,
    /// Send times within the last `span`, oldest first.
    sent: VecDeque<Instant>,
}

impl Window {
    pub fn new(per_span: u32, span: Duration) -> Window {
        Window {
            limit: per_span.max(1) as usize,
            span: span.max(Duration::from_millis(1)),
            sent: VecDeque::new(),
        }
    }

    fn prune(&mut self, now: Instant) {
        while self
            .sent
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= self.span)
        {
            self.sent.pop_front();
        }
    }

    /// `None` when a request may go now, else when the next slot frees.
    pub fn free_at(&mut self, now: Instant) -> Option<Instant> {
        self.prune(now);
        if self.sent.len() < self.limit {
            None
        } else {
            self.sent.front().map(|&t| t + self.span)
        }
    }

    pub fn record(&mut self, at: Instant) {
        self.sent.push_back(at);
    }

    /// Requests sent within the last span.
    pub fn used(&mut self, now: Instant) -> usize {
        self.prune(now);
        self.sent.len()
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// A new limit (a reload); the history is kept, so the guarantee holds across it.
    pub fn set_limit(&mut self, per_span: u32) {
        self.limit = per_span.max(1) as usize;
    }
}

#[derive(Debug)]
struct State {
    window: Window,
    /// Requests waiting for a slot, per class.
    waiting: [u32; 3],
    /// Requests let through, per class, since start.
    granted: [u64; 3],
}

/// One session's budget, shared by every clone of its client.
#[derive(Debug)]
pub struct RequestBudget {
    state: Mutex<State>,
    freed: Notify,
}

/// Figures for status and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetFigures {
    pub limit: usize,
    /// Requests in the last window.
    pub used: usize,
    pub waiting: [u32; 3],
    pub granted: [u64; 3],
}

impl RequestBudget {
    pub fn new(per_minute: u32, window: Duration) -> RequestBudget {
        RequestBudget {
            state: Mutex::new(State {
                window: Window::new(per_minute, window),
                waiting: [0; 3],
                granted: [0; 3],
            }),
            freed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a slot in the window and takes it. Cancel-safe: a dropped wait gives up
    /// its place.
    pub async fn acquire(&self, class: Priority) {
        let _place = Waiting::new(self, class);
        loop {
            let wake_at = {
                let mut st = self.lock();
                let now = Instant::now();
                let outranked = st.waiting[..class as usize].iter().any(|&n| n > 0);
                match st.window.free_at(now) {
                    None if !outranked => {
                        st.window.record(now);
                        st.granted[class as usize] += 1;
                        return;
                    }
                    // A slot is free but a more important request is about to take it.
                    None => now + Duration::from_millis(5),
                    Some(at) => at,
                }
            };
            tokio::select! {
                _ = tokio::time::sleep_until(wake_at) => {}
                _ = self.freed.notified() => {}
            }
        }
    }

    pub fn figures(&self) -> BudgetFigures {
        let mut st = self.lock();
        let used = st.window.used(Instant::now());
        BudgetFigures {
            limit: st.window.limit(),
            used,
            waiting: st.waiting,
            granted: st.granted,
        }
    }

    pub fn set_limit(&self, per_minute: u32) {
        self.lock().window.set_limit(per_minute);
        self.freed.notify_waiters();
    }
}

/// A waiting request's place in its class's queue, released however the wait ends.
struct Waiting<'a> {
    budget: &'a RequestBudget,
    class: Priority,
}

impl<'a> Waiting<'a> {
    fn new(budget: &'a RequestBudget, class: Priority) -> Waiting<'a> {
        budget.lock().waiting[class as usize] += 1;
        Waiting { budget, class }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut st = self.budget.lock();
        let n = &mut st.waiting[self.class as usize];
        *n = n.saturating_sub(1);
        drop(st);
        // Whoever this one outranked may go now.
        self.budget.freed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_never_holds_more_than_its_limit() {
        let t0 = Instant::now();
        let mut w = Window::new(3, Duration::from_secs(60));
        for i in 0..3 {
            assert_eq!(w.free_at(t0 + Duration::from_secs(i)), None);
            w.record(t0 + Duration::from_secs(i));
        }
        let next = w.free_at(t0 + Duration::from_secs(10));
        assert_eq!(next, Some(t0 + Duration::from_secs(60)));
        assert_eq!(w.free_at(t0 + Duration::from_secs(60)), None);
        assert_eq!(w.used(t0 + Duration::from_secs(61)), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn the_limit_holds_in_every_window_and_critical_goes_first() {
        let budget = std::sync::Arc::new(RequestBudget::new(10, Duration::from_secs(60)));
        let sends = std::sync::Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..40u32 {
            let class = Priority::ALL[(i % 3) as usize];
            let (b, s) = (budget.clone(), sends.clone());
            tasks.push(tokio::spawn(async move {
                b.acquire(class).await;
                s.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((Instant::now(), class));
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        let sends = sends.lock().unwrap_or_else(|p| p.into_inner()).clone();
        assert_eq!(sends.len(), 40);
        for (i, (at, _)) in sends.iter().enumerate() {
            let in_window = sends[i..]
                .iter()
                .filter(|(t, _)| t.duration_since(*at) < Duration::from_secs(60))
                .count();
            assert!(in_window <= 10, "{in_window} requests in one window");
        }
        // After the first window, waiting critical requests are served before the others.
        let later: Vec<Priority> = sends[10..].iter().map(|(_, c)| *c).collect();
        let first_low = later.iter().position(|c| *c == Priority::Low);
        let last_critical = later.iter().rposition(|c| *c == Priority::Critical);
        assert!(first_low > last_critical, "{later:?}");
    }
}
