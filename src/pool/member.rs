//! One session of the pool: its client (own budget, device identity, governor, proxy), its CDN
//! client, and its health as the pool reports it.

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::instagram::{ApiErrorKind, Client};

/// What a session can do now, with the last evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SessionState {
    Ok,
    /// Instagram asked it to slow down; requests wait until then.
    Throttled {
        for_s: f64,
        evidence: String,
    },
    /// `challenge_required`: a person must open the challenge (or replace the session).
    Challenged {
        evidence: String,
        challenge_url: Option<String>,
    },
    /// `login_required`: the login is gone; replace the session file.
    Expired {
        evidence: String,
    },
}

impl SessionState {
    /// Whether it may take work (a throttled session still does, more slowly).
    pub fn is_usable(&self) -> bool {
        matches!(self, SessionState::Ok | SessionState::Throttled { .. })
    }

    pub fn name(&self) -> &'static str {
        match self {
            SessionState::Ok => "ok",
            SessionState::Throttled { .. } => "throttled",
            SessionState::Challenged { .. } => "challenged",
            SessionState::Expired { .. } => "expired",
        }
    }
}

/// One session: a name, its private-API client and its CDN client.
#[derive(Debug, Clone)]
pub struct Member {
    pub name: String,
    pub client: Client,
    /// The session's proxy for CDN traffic too, when configured; else the shared one.
    pub cdn: reqwest::Client,
    /// Requests per minute this session may send (its client enforces it).
    pub budget: u32,
}

impl Member {
    pub fn state(&self) -> SessionState {
        let h = self.client.health();
        match h.expired {
            Some(e) if e.kind == ApiErrorKind::Challenge => SessionState::Challenged {
                evidence: e.reason,
                challenge_url: e.challenge_url,
            },
            Some(e) => SessionState::Expired { evidence: e.reason },
            None => match h.throttled_for {
                Some(d) if d > Duration::ZERO => SessionState::Throttled {
                    for_s: d.as_secs_f64(),
                    evidence: h.last_throttle.unwrap_or_default(),
                },
                _ => SessionState::Ok,
            },
        }
    }

    /// How long until it may send again (zero when it may now).
    pub fn throttled_for(&self) -> Duration {
        self.client
            .governor()
            .ready_at(Instant::now())
            .ok()
            .flatten()
            .map(|t| t.saturating_duration_since(Instant::now()))
            .unwrap_or_default()
    }
}
