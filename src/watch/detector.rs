//! The detection loop: polls watched accounts on the `Scheduler`'s budget and reports each
//! new live broadcast once. The reels tray is an optional fast path: one request covers every
//! followed account, but lives have been seen missing from it (PyInstaLive#130, docs/instagram.md §5),
//! so accounts it covers are still polled one by one, only more slowly.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rand::Rng;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::instagram::governor::expired_error;
use crate::instagram::{ApiError, ApiErrorKind, Broadcast, Client, Endpoint};

use super::accounts::{Accounts, AccountsState};
use super::scheduler::{Scheduler, SchedulerConfig};
use super::seen::SeenStore;

/// Where a live was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectionSource {
    StoryFeed,
    ReelsTray,
    /// An FBNS push, confirmed with `live/{id}/info/`.
    Push,
}

/// A watched account went live: emitted once per broadcast id.
#[derive(Debug, Clone)]
pub struct LiveEvent {
    pub user_id: String,
    pub username: Option<String>,
    pub broadcast: Broadcast,
    pub source: DetectionSource,
    pub detected_at: SystemTime,
}

/// The reels-tray fast path.
#[derive(Debug, Clone)]
pub struct TrayOptions {
    /// How often the tray is fetched (it shares the request budget with per-account polls).
    pub interval: Duration,
    /// Per-account safety-net interval for accounts the tray covers; `None` trusts the tray
    /// alone for them.
    pub covered_poll_interval: Option<Duration>,
}

/// Detector tunables.
#[derive(Debug, Clone, Default)]
pub struct DetectorOptions {
    pub scheduler: SchedulerConfig,
    /// `None` disables the tray fast path: every account is polled on its own.
    pub tray: Option<TrayOptions>,
    /// Jitter seed; `None` picks a random one.
    pub seed: Option<u64>,
    /// The detection budget when it moves at run time (the session's plan shares it with
    /// recordings); `None` keeps `scheduler.max_requests_per_minute`.
    pub budget: Option<tokio::sync::watch::Receiver<u32>>,
}

/// What the scheduler polls.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum PollTarget {
    Tray,
    Account(String),
}

impl PollTarget {
    fn endpoint(&self) -> Endpoint {
        match self {
            PollTarget::Tray => Endpoint::ReelsTray,
            PollTarget::Account(_) => Endpoint::StoryFeed,
        }
    }

    /// What the poll's log lines carry: the account polled, or the tray.
    fn span(&self, state: &AccountsState) -> tracing::Span {
        match self {
            PollTarget::Tray => tracing::info_span!("tray"),
            PollTarget::Account(user_id) => account_span(user_id, state),
        }
    }
}

/// The span of one watched account: its pk and, once known, its username.
fn account_span(user_id: &str, state: &AccountsState) -> tracing::Span {
    let username = state
        .watched
        .get(user_id)
        .and_then(|a| a.username.as_deref());
    tracing::info_span!("account", user_id, username = username.unwrap_or("?"))
}

/// Finds lives of watched accounts. See `run`.
pub struct Detector {
    options: DetectorOptions,
    seen: Arc<dyn SeenStore>,
}

/// How many extra intervals an account waits after Instagram says it does not exist.
const DEFER_INTERVALS: f64 = 9.0;

/// What a failed poll means for the loop.
enum Stop {
    /// Cancelled, or nobody listens to events any more.
    Done,
    Expired(ApiError),
    /// The account looks wrong (404): poll it rarely, keep the others going.
    Defer,
}

impl Detector {
    pub fn new(options: DetectorOptions, seen: Arc<dyn SeenStore>) -> Self {
        Detector { options, seen }
    }

    /// Polls until `cancel` fires or the events receiver is dropped (`Ok`), or until Instagram
    /// refuses the session (`Err` with the `LoginRequired`/`Challenge` error; `client.health()`
    /// also reports it). Throttling does not stop the loop: the session governor pauses and
    /// slows every request, and the scheduler stretches its intervals by the same factor.
    pub async fn run(
        &self,
        client: Client,
        accounts: Accounts,
        events: mpsc::Sender<LiveEvent>,
        cancel: CancellationToken,
    ) -> Result<(), ApiError> {
        let seed = self
            .options
            .seed
            .unwrap_or_else(|| rand::thread_rng().gen());
        let mut sched: Scheduler<PollTarget> = Scheduler::new(self.options.scheduler.clone(), seed);
        let mut rx = accounts.subscribe();
        let mut state = rx.borrow_and_update().clone();
        self.sync(&mut sched, &state, Instant::now());
        let mut rx_alive = true;
        let mut budget = self.options.budget.clone();
        if let Some(b) = budget.as_mut() {
            sched.set_budget(*b.borrow_and_update());
        }
        loop {
            if cancel.is_cancelled() {
                return Ok(());
            }
            if let Some(b) = budget.as_mut().filter(|b| b.has_changed().unwrap_or(false)) {
                sched.set_budget(*b.borrow_and_update());
            }
            let now = Instant::now();
            sched.set_slowdown(client.governor().slowdown(now));
            // While the session is paused for throttling, wait it out here so the scheduler
            // records polls at the time they are really sent.
            let throttled_until = match client.governor().ready_at(now) {
                Ok(t) => t,
                // Refused while another poller of the session was using it.
                Err(expiry) => return Err(expired_error(Endpoint::StoryFeed, "session", &expiry)),
            };
            let next = sched.next();
            let wake_at = match (&next, throttled_until) {
                (_, Some(t)) => Some(t),
                (Some((_, at)), None) if *at > now => Some(*at),
                (Some(_), None) => None,
                (None, None) => Some(now + Duration::from_secs(3600)),
            };
            if let Some(wake_at) = wake_at {
                tokio::select! {
                    _ = cancel.cancelled() => return Ok(()),
                    _ = tokio::time::sleep_until(wake_at) => {}
                    changed = rx.changed(), if rx_alive => {
                        match changed {
                            Ok(()) => {
                                state = rx.borrow_and_update().clone();
                                self.sync(&mut sched, &state, Instant::now());
                            }
                            Err(_) => rx_alive = false,
                        }
                    }
                }
                continue;
            }
            let Some((target, _)) = next else { continue };
            sched.record(&target, now);
            let endpoint = target.endpoint();
            let sent_before = client.requests_sent(endpoint);
            let span = target.span(&state);
            let poll = self.poll(&client, &target, &state, &events);
            let step = tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                step = poll.instrument(span) => step,
            };
            // Retries of a transient failure are requests too: they count against the budget
            // (as sent now, which only errs on the side of fewer requests).
            let retries = client
                .requests_sent(endpoint)
                .saturating_sub(sent_before)
                .saturating_sub(1);
            sched.record_extra(retries, Instant::now());
            match step {
                Ok(()) => {}
                Err(Stop::Done) => return Ok(()),
                Err(Stop::Expired(e)) => return Err(e),
                Err(Stop::Defer) => sched.defer(&target, DEFER_INTERVALS),
            }
        }
    }

    /// Mirrors the watched set into the scheduler.
    fn sync(&self, sched: &mut Scheduler<PollTarget>, state: &AccountsState, now: Instant) {
        let tray = self.options.tray.as_ref();
        let stale: Vec<PollTarget> = sched
            .keys()
            .filter(|k| match k {
                PollTarget::Tray => false,
                PollTarget::Account(id) => !state.watched.contains_key(id),
            })
            .cloned()
            .collect();
        for k in stale {
            sched.remove(&k);
        }
        let mut tray_needed = false;
        for (id, acc) in &state.watched {
            let key = PollTarget::Account(id.clone());
            let paused = state.paused.contains(id);
            let covered = tray.is_some() && acc.in_tray;
            if covered && !paused {
                tray_needed = true;
            }
            match (covered, tray.and_then(|t| t.covered_poll_interval)) {
                (true, None) => {
                    sched.remove(&key);
                    continue;
                }
                (true, Some(safety_net)) => {
                    sched.insert_with_interval(key.clone(), Some(safety_net), now)
                }
                (false, _) => sched.insert_with_interval(key.clone(), None, now),
            }
            if paused {
                sched.pause(&key);
            } else {
                sched.resume(&key, now);
            }
        }
        match tray {
            // Reserved: one tray request covers every followed account, so it keeps its pace
            // however many accounts share the rest of the budget.
            Some(t) if tray_needed => sched.insert_reserved(PollTarget::Tray, t.interval, now),
            _ => sched.remove(&PollTarget::Tray),
        }
    }

    async fn poll(
        &self,
        client: &Client,
        target: &PollTarget,
        state: &AccountsState,
        events: &mpsc::Sender<LiveEvent>,
    ) -> Result<(), Stop> {
        match target {
            PollTarget::Account(user_id) => match client.user_story_feed(user_id).await {
                Ok(feed) => {
                    if let Some(b) = feed.broadcast.filter(Broadcast::is_live) {
                        self.emit(user_id, state, b, DetectionSource::StoryFeed, events)
                            .await?;
                    }
                    Ok(())
                }
                Err(e) => handle_error(e),
            },
            PollTarget::Tray => match client.reels_tray().await {
                Ok(tray) => {
                    for b in tray.broadcasts {
                        if !b.is_live() {
                            continue;
                        }
                        // A watched account may be the host or a guest of someone else's live.
                        let watched = b.participant_pks().into_iter().find(|pk| {
                            state.watched.contains_key(pk) && !state.paused.contains(pk)
                        });
                        if let Some(user_id) = watched {
                            let span = account_span(&user_id, state);
                            self.emit(&user_id, state, b, DetectionSource::ReelsTray, events)
                                .instrument(span)
                                .await?;
                        }
                    }
                    Ok(())
                }
                Err(e) => handle_error(e),
            },
        }
    }

    async fn emit(
        &self,
        user_id: &str,
        state: &AccountsState,
        broadcast: Broadcast,
        source: DetectionSource,
        events: &mpsc::Sender<LiveEvent>,
    ) -> Result<(), Stop> {
        if !self.seen.insert_if_new(&broadcast.id) {
            return Ok(());
        }
        let username = state
            .watched
            .get(user_id)
            .and_then(|a| a.username.clone())
            .or_else(|| {
                broadcast
                    .broadcast_owner
                    .as_ref()
                    .and_then(|o| o.username.clone())
            });
        tracing::info!(broadcast_id = %broadcast.id, ?source, "live detected");
        let event = LiveEvent {
            user_id: user_id.to_string(),
            username,
            broadcast,
            source,
            detected_at: SystemTime::now(),
        };
        // The broadcast is marked seen now, so the event must not be lost if this poll is
        // cancelled: it is queued without waiting, or (queue full) handed to a task of its own.
        match events.try_send(event) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Stop::Done),
            Err(mpsc::error::TrySendError::Full(event)) => {
                let events = events.clone();
                tokio::spawn(async move { events.send(event).await });
                Ok(())
            }
        }
    }
}

fn handle_error(e: ApiError) -> Result<(), Stop> {
    match e.kind() {
        ApiErrorKind::LoginRequired | ApiErrorKind::Challenge => {
            tracing::error!(error = %e, "detection stopped");
            Err(Stop::Expired(e))
        }
        ApiErrorKind::Throttled => {
            tracing::warn!(error = %e, "throttled; slowing every poll of this session");
            Ok(())
        }
        ApiErrorKind::NotFound => {
            tracing::warn!(error = %e, "not found: is the user id right? polling it less often");
            Err(Stop::Defer)
        }
        _ => {
            tracing::warn!(error = %e, "detection poll failed");
            Ok(())
        }
    }
}
