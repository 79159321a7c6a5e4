//! The Instagram sessions of the pool (`[[sessions]]`, or the one `instagram.session_file`)
//! and their health, for the Sessions page; `/sessions` on the status endpoint has the full
//! figures (budgets, requests, push).

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::library::envelope::{ApiResult, Envelope, ErrorBody, Reply};
use crate::library::Library;

/// One session.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionView {
    pub id: String,
    /// The logged-in account's pk, when the session file names it.
    pub user_id: Option<String>,
    /// ok, throttled (requests wait), challenged (a person must open the challenge) or
    /// expired (replace the session file and reload).
    pub state: String,
    /// Factor stretching every polling interval after throttling (1 when all is well).
    pub slowdown: f64,
    /// Seconds before requests may be sent again after a throttling answer.
    pub throttled_for_s: Option<f64>,
    pub throttle_events: u64,
    /// Requests per minute this session may send.
    pub budget_per_minute: u32,
    /// What Instagram last said (throttling, challenge or expiry).
    pub evidence: Option<String>,
    /// The challenge to open in the app or a browser, when Instagram gave one (shown as text).
    pub challenge_url: Option<String>,
    /// Recordings whose pollers this session serves now.
    pub recordings: Vec<String>,
}

/// The sessions of the running daemon (none under `iglive serve`, which records nothing).
#[utoipa::path(
    get,
    path = "/api/v1/sessions",
    tag = "system",
    responses(
        (status = 200, description = "The sessions.", body = Envelope<Vec<SessionView>>),
        (status = 401, description = "The API token is missing or wrong.", body = ErrorBody),
    )
)]
pub async fn sessions(State(lib): State<Library>) -> ApiResult<Vec<SessionView>> {
    let Some(d) = lib.daemon_parts() else {
        return Ok(Reply::one(Vec::new()));
    };
    let assignments = d.pool.assignments();
    let views = d
        .pool
        .members()
        .into_iter()
        .map(|m| {
            let state = m.state();
            let h = m.client.health();
            let (evidence, challenge_url) = match &state {
                crate::pool::SessionState::Ok => (None, None),
                crate::pool::SessionState::Throttled { evidence, .. }
                | crate::pool::SessionState::Expired { evidence }
                | crate::pool::SessionState::Unreachable { evidence } => {
                    (Some(evidence.clone()), None)
                }
                crate::pool::SessionState::Challenged {
                    evidence,
                    challenge_url,
                } => (Some(evidence.clone()), challenge_url.clone()),
            };
            SessionView {
                user_id: m.client.session().ds_user_id.clone(),
                state: state.name().to_string(),
                slowdown: h.slowdown,
                throttled_for_s: h.throttled_for.map(|d| d.as_secs_f64()),
                throttle_events: h.throttle_events,
                budget_per_minute: m.budget,
                evidence,
                challenge_url,
                recordings: assignments
                    .iter()
                    .filter(|(_, s)| **s == m.name)
                    .map(|(b, _)| b.clone())
                    .collect(),
                id: m.name,
            }
        })
        .collect();
    Ok(Reply::one(views))
}
