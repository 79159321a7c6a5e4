//! Notifications and hooks (docs/notifications.md): each `[[notify]]` entry gets the events it
//! subscribed to as a webhook POST and/or a command run. Delivery happens in tasks of its own,
//! bounded in number and in time, so a failing or hanging hook is logged and never blocks or
//! breaks a recording.

pub(crate) mod command;
pub(crate) mod payload;
pub(crate) mod webhook;

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

use crate::config::{NotifyConfig, NotifyEvent};
use crate::output::RecordingFacts;
use crate::pool::SessionState;
use crate::recording::RecorderEvent;
use crate::store::Catalog;
use crate::watch::LiveEvent;

pub use payload::Notification;

/// At most this many events are being delivered at once; beyond it new events are dropped
/// (with a log line) rather than queued without bound behind a dead receiver.
const MAX_IN_FLIGHT: usize = 64;
/// Every recording and the watcher notice an expired session at about the same time; one
/// `session_expired` per this long is enough to wake someone up.
const SESSION_EXPIRED_QUIET: Duration = Duration::from_secs(15 * 60);

/// The daemon's handle on the hooks. Cheap to clone; `notify` never waits.
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

struct Inner {
    hooks: RwLock<Arc<Vec<NotifyConfig>>>,
    http: reqwest::Client,
    store: Option<Catalog>,
    tracker: TaskTracker,
    slots: Arc<Semaphore>,
    last_session_expired: Mutex<Option<Instant>>,
}

impl Notifier {
    /// `store` lets finished/failed events carry the recording's `broadcast.json` document.
    pub fn new(hooks: Vec<NotifyConfig>, store: Option<Catalog>) -> reqwest::Result<Notifier> {
        Ok(Notifier {
            inner: Arc::new(Inner {
                hooks: RwLock::new(Arc::new(hooks)),
                http: webhook::client()?,
                store,
                tracker: TaskTracker::new(),
                slots: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
                last_session_expired: Mutex::new(None),
            }),
        })
    }

    /// New hooks after a configuration reload; deliveries under way finish with the old ones.
    pub fn replace(&self, hooks: Vec<NotifyConfig>) {
        if let Ok(mut h) = self.inner.hooks.write() {
            *h = Arc::new(hooks);
        }
    }

    fn hooks_for(&self, event: NotifyEvent) -> Vec<NotifyConfig> {
        self.inner
            .hooks
            .read()
            .map(|h| h.iter().filter(|c| c.wants(event)).cloned().collect())
            .unwrap_or_default()
    }

    /// Delivers `n` to every hook that wants it, in the background.
    pub fn notify(&self, n: Notification) {
        let hooks = self.hooks_for(n.event);
        if hooks.is_empty() || self.repeated_session_expiry(&n) {
            return;
        }
        let Ok(permit) = self.inner.slots.clone().try_acquire_owned() else {
            tracing::warn!(
                "notification {} dropped: {MAX_IN_FLIGHT} deliveries are still under way",
                n.event.as_str()
            );
            return;
        };
        let inner = self.inner.clone();
        self.inner.tracker.spawn(async move {
            let _permit = permit;
            let n = with_facts(inner.store.as_ref(), n).await;
            let body = serde_json::to_vec(&n.to_json()).unwrap_or_default();
            let env = n.env();
            let deliveries = hooks
                .iter()
                .map(|hook| deliver(&inner.http, hook, &n, &body, &env));
            futures::future::join_all(deliveries).await;
        });
    }

    /// A burst of refusals without a named session (each poller reporting the same one) is
    /// one event per quiet period; the pool's per-session changes are already reported once.
    fn repeated_session_expiry(&self, n: &Notification) -> bool {
        if n.event != NotifyEvent::SessionExpired || n.session.is_some() {
            return false;
        }
        let Ok(mut last) = self.inner.last_session_expired.lock() else {
            return false;
        };
        let now = Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < SESSION_EXPIRED_QUIET) {
            return true;
        }
        *last = Some(now);
        false
    }

    /// `live_detected` for a broadcast the watcher found.
    pub fn live_detected(&self, ev: &LiveEvent) {
        let mut n = Notification::new(NotifyEvent::LiveDetected);
        n.broadcast_id = Some(ev.broadcast.id.clone());
        n.user_id = Some(ev.user_id.clone());
        n.username = ev.username.clone();
        self.notify(n);
    }

    /// `session_expired` / `session_challenged` when a session of the pool is taken out (each
    /// change is reported once by the pool's monitor).
    pub fn session_state(&self, session: &str, state: &SessionState) {
        let (event, evidence) = match state {
            SessionState::Expired { evidence } => (NotifyEvent::SessionExpired, evidence),
            SessionState::Challenged { evidence, .. } => (NotifyEvent::SessionChallenged, evidence),
            SessionState::Ok
            | SessionState::Throttled { .. }
            | SessionState::Unreachable { .. } => return,
        };
        let n = Notification {
            session: Some(session.to_string()),
            message: Some(evidence.clone()),
            ..Notification::new(event)
        };
        self.notify(n);
    }

    /// The notification matching a recorder event.
    pub fn recorder_event(&self, ev: &RecorderEvent) {
        if let Some(n) = from_recorder_event(ev) {
            self.notify(n);
        }
    }

    /// Waits up to `within` for deliveries under way (at shutdown), then gives up on them.
    pub async fn drain(&self, within: Duration) {
        self.inner.tracker.close();
        if tokio::time::timeout(within, self.inner.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "{} notification(s) still undelivered at exit",
                self.inner.tracker.len()
            );
        }
    }
}

/// The notification for a recorder event (before the facts are loaded); none for a
/// recording handed over to another node (that node tells how it ends).
pub fn from_recorder_event(ev: &RecorderEvent) -> Option<Notification> {
    Some(match ev {
        RecorderEvent::Started {
            broadcast_id,
            user_id,
            username,
            folder,
        } => Notification {
            broadcast_id: Some(broadcast_id.clone()),
            user_id: Some(user_id.clone()),
            username: username.clone(),
            folder: Some(folder.clone()),
            ..Notification::new(NotifyEvent::RecordingStarted)
        },
        RecorderEvent::Finished {
            broadcast_id,
            user_id,
            username,
            folder,
            ok,
            reason,
        } => Notification {
            broadcast_id: Some(broadcast_id.clone()),
            user_id: Some(user_id.clone()),
            username: username.clone(),
            folder: Some(folder.clone()),
            message: Some(reason.clone()),
            ..Notification::new(if *ok {
                NotifyEvent::RecordingFinished
            } else {
                NotifyEvent::RecordingFailed
            })
        },
        RecorderEvent::SessionExpired(m) => Notification {
            message: Some(m.clone()),
            ..Notification::new(NotifyEvent::SessionExpired)
        },
        RecorderEvent::HandedOver { .. } => return None,
    })
}

/// Adds the recording's `broadcast.json` document when the database knows the broadcast.
async fn with_facts(store: Option<&Catalog>, mut n: Notification) -> Notification {
    let (Some(store), Some(id)) = (store, n.broadcast_id.clone()) else {
        return n;
    };
    if n.event == NotifyEvent::LiveDetected {
        return n;
    }
    let facts = RecordingFacts::load_from(store, &id).await.ok().flatten();
    if let Some(f) = facts {
        if n.username.is_none() {
            n.username = f.username.clone();
        }
        n.recording = Some(f.broadcast_json());
    }
    n
}

async fn deliver(
    http: &reqwest::Client,
    hook: &NotifyConfig,
    n: &Notification,
    body: &[u8],
    env: &[(&'static str, String)],
) {
    let event = n.event.as_str();
    let what = n.broadcast_id.as_deref().unwrap_or("-");
    let web = async {
        if let Some(url) = &hook.url {
            match webhook::deliver(
                http,
                url,
                event,
                body,
                hook.timeout,
                hook.retries,
                hook.retry_backoff,
            )
            .await
            {
                Ok(attempts) => tracing::debug!(
                    "hook {}: {event} ({what}) delivered in {attempts} attempt(s)",
                    hook.name
                ),
                Err(e) => tracing::warn!(
                    "hook {}: {event} ({what}) not delivered to {}: {e}",
                    hook.name,
                    redact(url)
                ),
            }
        }
    };
    let cmd = async {
        if let Some(c) = &hook.command {
            if let Err(e) = command::run(c, env, body, hook.timeout).await {
                tracing::warn!("hook {}: command for {event} ({what}): {e}", hook.name);
            }
        }
    };
    tokio::join!(web, cmd);
}

/// A webhook URL for logs: tokens often live in the query or userinfo, so only scheme, host
/// and path are shown.
fn redact(url: &url::Url) -> String {
    format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.path()
    )
}
