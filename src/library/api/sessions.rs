//! The Instagram sessions and their health. Today the daemon has one session (the config's
//! `instagram.session_file`); the list shape leaves room for a pool.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::library::envelope::{ApiResult, Envelope, ErrorBody, Reply};
use crate::library::Library;

/// How a session is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// Requests go through.
    Ok,
    /// Instagram asked to slow down; requests wait.
    Throttled,
    /// Instagram refused the session; replace the session file and reload.
    Expired,
}

/// One session.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionView {
    pub id: String,
    /// The logged-in account's pk, when the session file names it.
    pub user_id: Option<String>,
    pub state: SessionState,
    /// Factor stretching every polling interval after throttling (1 when all is well).
    pub slowdown: f64,
    /// Seconds before requests may be sent again after a throttling answer.
    pub throttled_for_s: Option<f64>,
    pub throttle_events: u64,
    /// Why Instagram refused it.
    pub expired_reason: Option<String>,
    /// The challenge to open in the app or a browser, when Instagram gave one (shown as text).
    pub challenge_url: Option<String>,
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
    let h = d.client.health();
    let state = if h.expired.is_some() {
        SessionState::Expired
    } else if h.throttled_for.is_some() || h.slowdown > 1.0 {
        SessionState::Throttled
    } else {
        SessionState::Ok
    };
    Ok(Reply::one(vec![SessionView {
        id: "default".into(),
        user_id: d.client.session().ds_user_id.clone(),
        state,
        slowdown: h.slowdown,
        throttled_for_s: h.throttled_for.map(|d| d.as_secs_f64()),
        throttle_events: h.throttle_events,
        expired_reason: h.expired.as_ref().map(|e| e.reason.clone()),
        challenge_url: h.expired.and_then(|e| e.challenge_url),
    }]))
}
