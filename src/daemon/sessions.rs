//! The daemon's side of the pool: every configured session loaded from its file (or systemd
//! credential, with its rotated copy), turned into a client with its own budget and proxy,
//! its rotations saved as they happen, and the set kept in step with the config on reload.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::config::{Config, SessionConfig};
use crate::instagram::{Client, ClientOptions, GovernorOptions, Reloaded, Saver, SessionSource};
use crate::pool::Member;

/// One running session.
struct Running {
    spec: SessionConfig,
    source: Arc<SessionSource>,
    saver: Saver,
    member: Member,
}

/// Every running session, by name.
pub(super) struct Sessions {
    running: BTreeMap<String, Running>,
    /// The shared CDN client, for sessions without a CDN proxy.
    cdn: reqwest::Client,
}

impl Sessions {
    /// Loads every session of the config. A session that cannot be loaded is reported and
    /// left out; when none can be, the first error is the daemon's (it cannot watch anything).
    pub(super) fn open(cfg: &Config, cdn: reqwest::Client) -> anyhow::Result<Sessions> {
        let mut sessions = Sessions {
            running: BTreeMap::new(),
            cdn,
        };
        let mut first_error = None;
        for spec in &cfg.instagram.sessions {
            match sessions.start(cfg, spec) {
                Ok(()) => {}
                Err(e) if cfg.instagram.sessions.len() == 1 => return Err(e),
                Err(e) => {
                    tracing::error!(session = %spec.name, error = %format!("{e:#}"), "session left out of the pool");
                    first_error.get_or_insert(e);
                }
            }
        }
        match (sessions.running.is_empty(), first_error) {
            (true, Some(e)) => Err(e.context("no session of the pool could be loaded")),
            _ => Ok(sessions),
        }
    }

    fn start(&mut self, cfg: &Config, spec: &SessionConfig) -> anyhow::Result<()> {
        let source = Arc::new(SessionSource::from_config(cfg, spec));
        let loaded = source.load()?;
        tracing::info!(session = %spec.name, "{}", loaded.describe(&source));
        let client = Client::new(
            cfg.instagram.api_base_url.clone(),
            loaded.session,
            ClientOptions {
                timeout: cfg.instagram.request_timeout,
                max_requests_per_minute: spec.max_requests_per_minute,
                budget_window: cfg.instagram.budget_window,
                proxy: spec.proxy.clone(),
                governor: GovernorOptions {
                    throttle_pause: cfg.instagram.throttle_pause,
                    ..Default::default()
                },
                ..Default::default()
            },
        )?;
        let cdn = match spec.proxy.as_ref().filter(|_| spec.proxy_cdn) {
            Some(proxy) => crate::dash::cdn_client_via(proxy)
                .with_context(|| format!("session {}: the CDN client with its proxy", spec.name))?,
            None => self.cdn.clone(),
        };
        // Rotated cookies are saved as they change, so a restart uses the freshest.
        let saver = source.spawn_saver(client.clone());
        let member = Member {
            name: spec.name.clone(),
            client,
            cdn,
            budget: per_minute(spec.max_requests_per_minute, cfg.instagram.budget_window),
        };
        self.running.insert(
            spec.name.clone(),
            Running {
                spec: spec.clone(),
                source,
                saver,
                member,
            },
        );
        Ok(())
    }

    pub(super) fn members(&self) -> Vec<Member> {
        self.running.values().map(|r| r.member.clone()).collect()
    }

    /// The config's sessions take effect: new ones start, removed ones stop, changed files are
    /// read again (a systemd credential only changes at a restart), new budgets apply. Returns
    /// what could not be done, worded for the reload's answer.
    pub(super) async fn reload(&mut self, cfg: &Config) -> Vec<String> {
        let mut problems = Vec::new();
        let wanted: Vec<&SessionConfig> = cfg.instagram.sessions.iter().collect();
        let gone: Vec<String> = self
            .running
            .keys()
            .filter(|n| !wanted.iter().any(|w| &w.name == *n))
            .cloned()
            .collect();
        for name in gone {
            if let Some(mut r) = self.running.remove(&name) {
                tracing::info!(session = %name, "session removed from the pool");
                r.saver.finish().await;
            }
        }
        for spec in wanted {
            let result = match self.running.get_mut(&spec.name) {
                Some(r)
                    if r.spec.session_file == spec.session_file
                        && r.spec.proxy == spec.proxy
                        && r.spec.proxy_cdn == spec.proxy_cdn =>
                {
                    refresh(r, spec, cfg.instagram.budget_window)
                }
                Some(_) => self.restart(cfg, spec).await,
                None => self.start(cfg, spec).map_err(|e| format!("{e:#}")),
            };
            if let Err(e) = result {
                tracing::error!(session = %spec.name, error = %e, "session not reloaded");
                problems.push(format!("session {}: {e}", spec.name));
            }
        }
        problems
    }

    /// A session whose file or proxy changed: a new client (the old one's work moves).
    async fn restart(&mut self, cfg: &Config, spec: &SessionConfig) -> Result<(), String> {
        if let Some(mut old) = self.running.remove(&spec.name) {
            old.saver.finish().await;
        }
        self.start(cfg, spec).map_err(|e| format!("{e:#}"))
    }

    /// Saves every session's rotations now (before an abrupt exit).
    pub(super) fn save_all(&self) {
        for r in self.running.values() {
            if let Err(e) = r.source.save(&r.member.client) {
                tracing::warn!(session = %r.spec.name, "{e}");
            }
        }
    }

    /// Stops the savers, writing what is pending.
    pub(super) async fn finish(&mut self) {
        for r in self.running.values_mut() {
            r.saver.finish().await;
        }
    }
}

/// The same file and proxy: the session file is read again, the budget may have changed.
fn refresh(r: &mut Running, spec: &SessionConfig, window: Duration) -> Result<(), String> {
    if r.spec.max_requests_per_minute != spec.max_requests_per_minute {
        r.member
            .client
            .budget()
            .set_limit(spec.max_requests_per_minute);
        r.member.budget = per_minute(spec.max_requests_per_minute, window);
        tracing::info!(session = %spec.name, budget = spec.max_requests_per_minute, "new request budget");
    }
    r.spec = spec.clone();
    match r.source.reload(&r.member.client) {
        Ok(Reloaded::Replaced) => {
            tracing::info!(session = %spec.name, "session reloaded from {}", r.source);
            Ok(())
        }
        Ok(Reloaded::Unchanged) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

/// A budget of `limit` per `window` in requests per minute, the unit the pool's plan shares
/// (the intervals it stretches are real ones): `limit` itself with the normal 60 s window.
fn per_minute(limit: u32, window: Duration) -> u32 {
    let scale = 60.0 / window.as_secs_f64().max(0.1);
    (f64::from(limit) * scale).round().min(f64::from(u32::MAX)) as u32
}

#[cfg(test)]
mod tests {
    use super::per_minute;
    use std::time::Duration;

    #[test]
    fn a_budget_per_shortened_window_is_planned_per_real_minute() {
        assert_eq!(per_minute(60, Duration::from_secs(60)), 60);
        assert_eq!(per_minute(120, Duration::from_secs(3)), 2400);
        assert_eq!(per_minute(u32::MAX, Duration::from_millis(100)), u32::MAX);
    }
}
