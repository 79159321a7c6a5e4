//! Push-triggered detection: one FBNS connection per session with push on, each live push
//! about a watched account (host or guest) confirmed with `live/{id}/info/` before it becomes
//! a detection, once per broadcast like any other. Pushes are best-effort (docs/push.md), so
//! polling stays as the safety net; how much it slows while push is healthy follows how often
//! push was really first ([`PushRecord`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use crate::config::{Config, PushConfig};
use crate::fbns::{self, FbnsHealth, FbnsIdentity, FbnsOptions, FbnsTrust, Push};
use crate::pool::Member;
use crate::watch::{Accounts, DetectionSource, LiveEvent, SeenStore};

/// Lives remembered for the reliability estimate.
const RECORD_WINDOW: usize = 50;

/// Every session's push connection.
#[derive(Default)]
pub(super) struct PushLinks {
    links: BTreeMap<String, Link>,
}

struct Link {
    health: FbnsHealth,
    cancel: CancellationToken,
}

/// What a push forwarder needs.
pub(super) struct Forwarding {
    pub accounts: Accounts,
    pub seen: Arc<dyn SeenStore>,
    pub live_tx: mpsc::Sender<LiveEvent>,
}

impl PushLinks {
    /// Starts push for the sessions that want it and stops it for those that no longer do.
    pub(super) fn sync(
        &mut self,
        cfg: &Config,
        members: &[Member],
        forwarding: &Forwarding,
        tracker: &TaskTracker,
        root: &CancellationToken,
    ) {
        let wanted: Vec<&Member> = members
            .iter()
            .filter(|m| {
                cfg.instagram
                    .sessions
                    .iter()
                    .any(|s| s.name == m.name && s.push)
            })
            .collect();
        self.links.retain(|name, link| {
            let keep = wanted.iter().any(|m| &m.name == name);
            if !keep {
                link.cancel.cancel();
            }
            keep
        });
        for m in wanted {
            if self.links.contains_key(&m.name) {
                continue;
            }
            match start(&cfg.push, m, forwarding, tracker, root) {
                Ok(link) => {
                    tracing::info!(session = %m.name, "push connection started (best-effort; polling stays on)");
                    self.links.insert(m.name.clone(), link);
                }
                Err(e) => {
                    tracing::error!(session = %m.name, error = %e, "push not started; polling alone finds lives")
                }
            }
        }
    }

    /// Sessions whose push is connected now.
    pub(super) fn connected(&self) -> Vec<String> {
        self.links
            .iter()
            .filter(|(_, l)| l.health.is_connected())
            .map(|(n, _)| n.clone())
            .collect()
    }

    pub(super) fn health(&self) -> BTreeMap<String, FbnsHealth> {
        self.links
            .iter()
            .map(|(n, l)| (n.clone(), l.health.clone()))
            .collect()
    }
}

fn start(
    push: &PushConfig,
    member: &Member,
    forwarding: &Forwarding,
    tracker: &TaskTracker,
    root: &CancellationToken,
) -> Result<Link, String> {
    let trust = match &push.ca_file {
        Some(f) => FbnsTrust::Pem(read_pem(f)?),
        None => FbnsTrust::WebPkiRoots,
    };
    let mut options = FbnsOptions::new(
        push.state_dir.join(&member.name),
        FbnsIdentity::from_session(member.client.session()),
    );
    options.host = push.host.clone();
    options.port = push.port;
    options.trust = trust;
    options.keep_alive = push.keep_alive;
    options.ping_timeout = push.ping_timeout;
    options.connack_timeout = push.connack_timeout;
    options.backoff_max = push.backoff_max;
    let cancel = root.child_token();
    let (pushes, health) = fbns::spawn(options, member.client.clone(), tracker, cancel.clone())
        .map_err(|e| e.to_string())?;
    let span = tracing::info_span!("push", session = %member.name);
    let forwarder = forward(
        pushes,
        member.clone(),
        forwarding.accounts.clone(),
        forwarding.seen.clone(),
        forwarding.live_tx.clone(),
    );
    tracker.spawn(forwarder.instrument(span));
    Ok(Link { health, cancel })
}

fn read_pem(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| {
        format!(
            "push.ca_file {}: {e} (it must be a readable PEM certificate)",
            path.display()
        )
    })
}

/// Turns confirmed live pushes about watched accounts into detections.
async fn forward(
    mut pushes: mpsc::Receiver<Push>,
    member: Member,
    accounts: Accounts,
    seen: Arc<dyn SeenStore>,
    live_tx: mpsc::Sender<LiveEvent>,
) {
    while let Some(push) = pushes.recv().await {
        let Some(id) = push.broadcast_id.clone() else {
            continue;
        };
        let watched = accounts.snapshot();
        let named = [&push.owner_pk, &push.source_pk]
            .into_iter()
            .flatten()
            .any(|pk| watched.watched.contains_key(pk));
        if !named || seen.contains(&id) {
            continue;
        }
        // A push is a hint: the broadcast, its owner and guests come from the API.
        let broadcast = match member.client.broadcast_info(&id).await {
            Ok(b) if b.is_live() => b,
            Ok(_) => continue,
            Err(e) => {
                tracing::warn!(broadcast_id = %id, error = %e, "push not confirmed; polling will tell");
                continue;
            }
        };
        let state = accounts.snapshot();
        let Some(user_id) = broadcast
            .participant_pks()
            .into_iter()
            .find(|pk| state.watched.contains_key(pk))
        else {
            continue;
        };
        if !seen.insert_if_new(&broadcast.id) {
            continue;
        }
        tracing::info!(broadcast_id = %broadcast.id, user_id = %user_id, "live detected by push");
        let event = LiveEvent {
            username: state.watched.get(&user_id).and_then(|a| a.username.clone()),
            user_id,
            broadcast,
            source: DetectionSource::Push,
            detected_at: SystemTime::now(),
        };
        if live_tx.send(event).await.is_err() {
            return;
        }
    }
}

/// How reliable push has been: of the recent lives detected while push was connected, how
/// many push announced first. Polling slows by `1 / (1 − r)` (capped): with every push
/// arriving polls drop to the cap; with half of them lost they slow only by about two, so a
/// lost push costs at most what polling alone would have.
#[derive(Debug, Default)]
pub(super) struct PushRecord {
    recent: std::collections::VecDeque<bool>,
}

impl PushRecord {
    pub(super) fn note(&mut self, by_push: bool) {
        if self.recent.len() >= RECORD_WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(by_push);
    }

    /// The polling slowdown for a session whose push is connected.
    pub(super) fn factor(&self, cap: f64) -> f64 {
        let first = self.recent.iter().filter(|b| **b).count() as f64;
        // Laplace's estimate: no evidence yet means one chance in two.
        let r = (first + 1.0) / (self.recent.len() as f64 + 2.0);
        (1.0 / (1.0 - r)).clamp(1.0, cap.max(1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::PushRecord;

    #[test]
    fn polling_slows_as_push_proves_reliable_and_recovers_when_pushes_are_lost() {
        let mut r = PushRecord::default();
        assert_eq!(r.factor(10.0), 2.0);
        for _ in 0..20 {
            r.note(true);
        }
        assert_eq!(r.factor(10.0), 10.0);
        for i in 0..50 {
            r.note(i % 2 == 0);
        }
        let f = r.factor(10.0);
        assert!((1.5..=2.5).contains(&f), "half lost: {f}");
        for _ in 0..50 {
            r.note(false);
        }
        assert!(r.factor(10.0) < 1.1);
    }
}
