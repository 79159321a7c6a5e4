//! The pool of sessions: several logged-in sessions, each with its own budget, device identity,
//! proxy and health, sharing the work. Detection spreads the watched accounts over the usable
//! sessions; each recording's pollers hold a [`Lease`] on the least-loaded usable session and
//! move when it is challenged or expired (their cursors live in the pollers, so nothing is
//! lost or read twice); when every session is out, recordings go on from the CDN and the
//! pollers wait for a session to come back.
//!
//! Health is read from each session's own governor; a monitor turns changes into
//! [`PoolEvent`]s (each reported once) and wakes whoever waits for a usable session.

mod assign;
mod member;
mod plan;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::instagram::Client;

pub use assign::{assign_accounts, owner_of};
pub use member::{Member, SessionState};
pub use plan::{plan, recording_demand, Demand, Plan, PlanOptions};

/// How often the monitor looks at every session's health.
const MONITOR_EVERY: Duration = Duration::from_secs(2);
/// How often a poller with no usable session looks again (besides being woken).
const WAIT_RECHECK: Duration = Duration::from_secs(5);

/// A recording poller's class in the session's plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollerClass {
    /// The heartbeat (status) and the chat.
    Critical,
    /// Like counts.
    Low,
}

/// A change of one session's health, for notifications and logs.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolEvent {
    pub session: String,
    pub from: &'static str,
    pub to: SessionState,
}

/// The shared pool; cheap to clone.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    members: RwLock<Vec<Member>>,
    book: Mutex<Book>,
    options: PlanOptions,
    /// Bumped whenever a session's state, the membership or the assignments change.
    changed: watch::Sender<u64>,
}

#[derive(Default)]
struct Book {
    /// Broadcast id → (session, what its pollers ask for).
    recordings: BTreeMap<String, (String, Demand)>,
    /// Session → what its detection asks for (requests per minute).
    detection: BTreeMap<String, f64>,
    /// Session → detection budget watchers (the detectors pace to it).
    budgets: BTreeMap<String, watch::Sender<u32>>,
    /// Session → the state name last reported.
    reported: BTreeMap<String, &'static str>,
    /// Whether "no usable session" was said since the last time one was usable.
    said_none: bool,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("sessions", &self.names())
            .finish()
    }
}

impl Pool {
    pub fn new(members: Vec<Member>, options: PlanOptions) -> Pool {
        let pool = Pool {
            inner: Arc::new(Inner {
                members: RwLock::new(Vec::new()),
                book: Mutex::new(Book::default()),
                options,
                changed: watch::channel(0).0,
            }),
        };
        pool.replace(members);
        pool
    }

    /// A pool of one session whose CDN client is plain and whose plan follows its client's
    /// budget (tools and tests that have one client).
    pub fn single(name: &str, client: Client) -> Pool {
        let budget = client.budget().figures().limit as u32;
        let member = Member {
            name: name.to_string(),
            client,
            cdn: reqwest::Client::new(),
            budget,
        };
        Pool::new(vec![member], PlanOptions::default())
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.inner.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn members(&self) -> Vec<Member> {
        self.inner
            .members
            .read()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    pub fn names(&self) -> Vec<String> {
        self.members().into_iter().map(|m| m.name).collect()
    }

    pub fn member(&self, name: &str) -> Option<Member> {
        self.members().into_iter().find(|m| m.name == name)
    }

    /// The usable sessions, healthiest first. When none is, the unreachable ones: a network
    /// failure may have passed, and trying costs no account anything.
    pub fn usable(&self) -> Vec<Member> {
        let mut usable = Vec::new();
        let mut unreachable = Vec::new();
        for m in self.members() {
            match m.state() {
                s if s.is_usable() => usable.push(m),
                SessionState::Unreachable { .. } => unreachable.push(m),
                _ => {}
            }
        }
        if usable.is_empty() {
            usable = unreachable;
        }
        usable.sort_by_key(|m| m.throttled_for());
        usable
    }

    /// Any usable session's client (for one-off calls such as `info` at recovery).
    pub fn any_client(&self) -> Option<Client> {
        self.usable().into_iter().next().map(|m| m.client)
    }

    /// Replaces the membership (start, reload). Recordings on a session that left are
    /// reassigned on their next request.
    pub fn replace(&self, members: Vec<Member>) {
        if let Ok(mut m) = self.inner.members.write() {
            *m = members;
        }
        let names = self.names();
        {
            let mut book = self.book();
            book.detection.retain(|s, _| names.contains(s));
            book.budgets.retain(|s, _| names.contains(s));
            for n in &names {
                book.budgets
                    .entry(n.clone())
                    .or_insert_with(|| watch::channel(1).0);
            }
        }
        self.replan();
    }

    /// Something that waits for a change of states, membership or assignments.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.changed.subscribe()
    }

    fn bump(&self) {
        self.inner.changed.send_modify(|g| *g = g.wrapping_add(1));
    }

    /// The plan of one session from what is assigned to it now.
    pub fn plan_of(&self, session: &str) -> Plan {
        let budget = self.member(session).map_or(1, |m| m.budget);
        let book = self.book();
        plan(budget, demand_of(&book, session), self.inner.options)
    }

    /// Recomputes every plan and hands detection its new budgets.
    fn replan(&self) {
        let members = self.members();
        let book = self.book();
        for m in &members {
            let p = plan(m.budget, demand_of(&book, &m.name), self.inner.options);
            if let Some(tx) = book.budgets.get(&m.name) {
                tx.send_if_modified(|b| {
                    let changed = *b != p.detection_per_minute;
                    *b = p.detection_per_minute;
                    changed
                });
            }
        }
        drop(book);
        self.bump();
    }

    /// Detection of `session` asks for `per_minute`; its detector paces to the receiver.
    pub fn set_detection_demand(&self, session: &str, per_minute: f64) -> watch::Receiver<u32> {
        let rx = {
            let mut book = self.book();
            book.detection.insert(session.to_string(), per_minute);
            book.budgets
                .entry(session.to_string())
                .or_insert_with(|| watch::channel(1).0)
                .subscribe()
        };
        self.replan();
        rx
    }

    /// Takes work for one recording; its pollers ask the lease for a client.
    pub fn lease(&self, broadcast_id: &str, demand: Demand) -> Lease {
        let lease = Lease {
            pool: self.clone(),
            broadcast_id: broadcast_id.to_string(),
            demand,
        };
        lease.assign();
        lease
    }

    /// The least-loaded usable session for `demand`, by planned critical load per budget.
    fn least_loaded(&self) -> Option<Member> {
        let book = self.book();
        self.usable()
            .into_iter()
            .map(|m| {
                let load = demand_of(&book, &m.name).critical / f64::from(m.budget.max(1));
                let throttled = m.throttled_for() > Duration::ZERO;
                (throttled, load, m)
            })
            .min_by(|a, b| {
                (a.0, a.1)
                    .partial_cmp(&(b.0, b.1))
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .map(|(_, _, m)| m)
    }

    /// Which session each recording's pollers use now.
    pub fn assignments(&self) -> BTreeMap<String, String> {
        self.book()
            .recordings
            .iter()
            .map(|(b, (s, _))| (b.clone(), s.clone()))
            .collect()
    }

    /// Looks at every session's health until `cancel`; each change is reported once on
    /// `events` and wakes whoever waits for a session.
    pub async fn monitor(&self, events: mpsc::Sender<PoolEvent>, cancel: CancellationToken) {
        let mut tick = tokio::time::interval(MONITOR_EVERY);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            for ev in self.state_changes() {
                if events.send(ev).await.is_err() {
                    return;
                }
            }
        }
    }

    /// The changes since the last look, recorded as reported.
    fn state_changes(&self) -> Vec<PoolEvent> {
        let states: Vec<(String, SessionState)> = self
            .members()
            .into_iter()
            .map(|m| (m.name.clone(), m.state()))
            .collect();
        let mut out = Vec::new();
        {
            let mut book = self.book();
            for (name, state) in &states {
                let from = book
                    .reported
                    .insert(name.clone(), state.name())
                    .unwrap_or("ok");
                if from != state.name() {
                    out.push(PoolEvent {
                        session: name.clone(),
                        from,
                        to: state.clone(),
                    });
                }
            }
            if states.iter().any(|(_, s)| s.is_usable()) {
                book.said_none = false;
            }
        }
        if !out.is_empty() {
            self.bump();
        }
        out
    }
}

/// What is assigned to `session` now.
fn demand_of(book: &Book, session: &str) -> Demand {
    let mut d = Demand {
        detection: book.detection.get(session).copied().unwrap_or(0.0),
        ..Demand::default()
    };
    for (s, r) in book.recordings.values() {
        if s == session {
            d.critical += r.critical;
            d.low += r.low;
        }
    }
    d
}

/// One recording's hold on the pool: the session its pollers use, reassigned when that
/// session is challenged or expired. Released when dropped.
pub struct Lease {
    pool: Pool,
    broadcast_id: String,
    demand: Demand,
}

impl Lease {
    /// Assigns the least-loaded usable session; `None` when none is usable.
    fn assign(&self) -> Option<Member> {
        let m = self.pool.least_loaded();
        {
            let mut book = self.pool.book();
            match &m {
                Some(m) => {
                    let before = book
                        .recordings
                        .insert(self.broadcast_id.clone(), (m.name.clone(), self.demand));
                    if let Some((old, _)) = before.filter(|(old, _)| *old != m.name) {
                        tracing::warn!(from = %old, to = %m.name, "the recording's pollers move to another session");
                    }
                }
                None => {
                    book.recordings.remove(&self.broadcast_id);
                }
            }
        }
        self.pool.replan();
        m
    }

    /// A session of the pool by name.
    pub fn member(&self, name: &str) -> Option<Member> {
        self.pool.member(name)
    }

    /// The CDN client of the session assigned now (its proxy, when it routes CDN traffic).
    pub fn cdn(&self) -> Option<reqwest::Client> {
        self.session()
            .and_then(|s| self.pool.member(&s))
            .map(|m| m.cdn)
    }

    /// The session this recording's pollers use now, if any.
    pub fn session(&self) -> Option<String> {
        self.pool
            .book()
            .recordings
            .get(&self.broadcast_id)
            .map(|(s, _)| s.clone())
    }

    /// The client to send the next request with: the assigned session while it is usable,
    /// else another one. Waits (saying so once) while no session is usable; `None` when
    /// `cancel` fires first.
    pub async fn client(&self, cancel: &CancellationToken) -> Option<Client> {
        let mut changes = self.pool.subscribe();
        loop {
            let current = self.session().and_then(|s| self.pool.member(&s));
            if let Some(m) = current.filter(|m| m.state().is_usable()) {
                return Some(m.client);
            }
            if let Some(m) = self.assign() {
                return Some(m.client);
            }
            self.say_none_usable();
            tokio::select! {
                _ = cancel.cancelled() => return None,
                _ = changes.changed() => {}
                _ = tokio::time::sleep(WAIT_RECHECK) => {}
            }
        }
    }

    fn say_none_usable(&self) {
        let mut book = self.pool.book();
        if !book.said_none {
            book.said_none = true;
            tracing::error!(
                "no session of the pool is usable (all challenged or expired): recordings go on from the CDN without chat or viewer counts; replace a session file and reload (SIGHUP) to resume"
            );
        }
    }

    /// How much slower than configured a poller of `class` runs now (at least 1).
    pub fn stretch(&self, class: PollerClass) -> f64 {
        let Some(session) = self.session() else {
            return 1.0;
        };
        let p = self.pool.plan_of(&session);
        match class {
            PollerClass::Critical => p.critical_stretch,
            PollerClass::Low => p.low_stretch,
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.pool.book().recordings.remove(&self.broadcast_id);
        self.pool.replan();
    }
}
