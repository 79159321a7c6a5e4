//! Asking the running daemon to act: `POST /api/v1/reload` re-reads the config and the
//! session file (what SIGHUP does) and answers with the outcome, so `iglive accounts add` and
//! `iglive login` can say whether it took effect. What the daemon watches now is the library's
//! `GET /api/v1/accounts` (`crate::library`).
//!
//! Why the status listener and not a pid file + SIGHUP: the CLI already knows the listener's
//! address from the config, a signal cannot carry an answer back (a bad edit would go
//! unnoticed), and a pid file can be stale or unreadable across users. The reload is only
//! served to loopback peers, with a loopback `Host` (no DNS rebinding) and a custom header
//! (no cross-site form posts from a browser).

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::StatusState;

/// The header a reload request must carry (browsers cannot add it without a CORS preflight,
/// which is never answered).
pub const RELOAD_HEADER: &str = "x-iglive-reload";
/// How long the endpoint waits for the daemon's main loop.
const RELOAD_WAIT: Duration = Duration::from_secs(15);

/// What a reload did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReloadOutcome {
    /// Accounts watched after the reload.
    pub accounts: usize,
    /// Why the session file was not taken, if it was not.
    pub session_error: Option<String>,
}

/// A reload asked of the main loop; the reply is the outcome or why the config was refused.
pub struct ReloadRequest {
    pub reply: oneshot::Sender<Result<ReloadOutcome, String>>,
}

/// The main loop's side: requests arrive here.
pub type ReloadSender = mpsc::Sender<ReloadRequest>;

/// One watched account as the daemon reports it (from the library's `GET /api/v1/accounts`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WatchedAccountState {
    pub user_id: String,
    /// Not polled right now because it is being recorded.
    pub recording: bool,
}

fn loopback_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get("host").and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let name = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with(':') => h,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

pub async fn reload(
    State(state): State<StatusState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if !peer.ip().is_loopback() || !loopback_host(&headers) {
        return (
            StatusCode::FORBIDDEN,
            "reload is only served to this machine\n",
        )
            .into_response();
    }
    if !headers.contains_key(RELOAD_HEADER) {
        return (
            StatusCode::BAD_REQUEST,
            format!("send the {RELOAD_HEADER} header\n"),
        )
            .into_response();
    }
    let Some(tx) = state.reload.clone() else {
        return (StatusCode::NOT_IMPLEMENTED, "this daemon cannot reload\n").into_response();
    };
    let (reply, rx) = oneshot::channel();
    if tx.send(ReloadRequest { reply }).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "the daemon is stopping\n").into_response();
    }
    match tokio::time::timeout(RELOAD_WAIT, rx).await {
        Ok(Ok(Ok(outcome))) => Json(outcome).into_response(),
        Ok(Ok(Err(why))) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(serde_json::json!({"error": why})),
        )
            .into_response(),
        Ok(Err(_)) | Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the daemon did not answer the reload in time\n",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_hosts() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert("host", v.parse().expect("header"));
            loopback_host(&m)
        };
        assert!(h("127.0.0.1:9464") && h("localhost:9464") && h("[::1]:9464") && h("127.0.0.1"));
        assert!(!h("evil.example:9464") && !h("192.168.1.2:9464") && !h("localhost.evil.com"));
        assert!(!loopback_host(&HeaderMap::new()));
    }
}
