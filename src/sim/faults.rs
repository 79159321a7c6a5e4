//! Fault windows: which request fails how (scenario `faults`, docs/instagram.md §2 "Errors").

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rand::Rng;
use serde_json::json;

use super::scenario::{Fault, FaultKind};
use super::state::SimState;

/// What the server does with a request hit by a fault.
pub enum Action {
    /// Drop the connection without a response.
    Reset,
    /// Wait, then serve normally.
    Delay(Duration),
    /// Answer this instead.
    Respond(Response),
}

/// Which part of the service a request path belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Api,
    Manifest,
    Segment,
    Other,
}

fn classify(path: &str) -> Class {
    if path.starts_with("/api/v1/") {
        Class::Api
    } else if path.starts_with("/live-dash/") && path.ends_with(".mpd") {
        Class::Manifest
    } else if path.starts_with("/live-dash/") {
        Class::Segment
    } else {
        Class::Other
    }
}

fn matches(f: &Fault, path: &str) -> bool {
    let class = classify(path);
    if class == Class::Other {
        return false; // /truth and unknown paths are never faulted
    }
    match f.path.as_deref() {
        Some("segments") => class == Class::Segment,
        Some("manifest") => class == Class::Manifest,
        Some("api") => class == Class::Api,
        Some(sub) => path.contains(sub),
        None => match f.kind {
            FaultKind::SegmentError => class == Class::Segment,
            FaultKind::ManifestOutage => class == Class::Manifest,
            FaultKind::ServerError | FaultKind::Delay | FaultKind::Reset => true,
            _ => class == Class::Api,
        },
    }
}

/// The first fault window that fires for `path` at `now`, as an action.
pub fn decide(state: &SimState, path: &str, now: f64) -> Option<Action> {
    for f in &state.scenario.faults {
        if now < f.from || now >= f.to || !matches(f, path) {
            continue;
        }
        let p = f.probability.unwrap_or(1.0);
        if p < 1.0 {
            let roll = state
                .fault_rng
                .lock()
                .map(|mut r| r.gen::<f64>())
                .unwrap_or(0.0);
            if roll >= p {
                continue;
            }
        }
        return Some(action(f));
    }
    None
}

fn status(f: &Fault, default: StatusCode) -> StatusCode {
    f.status
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(default)
}

fn action(f: &Fault) -> Action {
    let resp = match f.kind {
        FaultKind::Reset => return Action::Reset,
        FaultKind::Delay => return Action::Delay(Duration::from_millis(f.delay_ms.unwrap_or(2000))),
        FaultKind::Throttle => {
            let mut r = (
                StatusCode::TOO_MANY_REQUESTS,
                Json(json!({"message": "Please wait a few minutes before you try again.", "status": "fail"})),
            )
                .into_response();
            if let Some(secs) = f.retry_after {
                if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            r
        }
        FaultKind::ServerError => (
            status(f, StatusCode::INTERNAL_SERVER_ERROR),
            "Internal Server Error",
        )
            .into_response(),
        FaultKind::MalformedJson => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            r#"{"status": "ok", "comments": [{"pk": "1784"#,
        )
            .into_response(),
        FaultKind::SegmentError | FaultKind::ManifestOutage => {
            (status(f, StatusCode::SERVICE_UNAVAILABLE), "Service Unavailable").into_response()
        }
        FaultKind::LoginRequired => super::api::fail(StatusCode::FORBIDDEN, "login_required"),
        FaultKind::ChallengeRequired => {
            let url = f
                .challenge_url
                .clone()
                .unwrap_or_else(|| "https://i.instagram.com/challenge/1234567/AbCdEf/".into());
            (
                StatusCode::BAD_REQUEST,
                Json(json!({
                    "message": "challenge_required",
                    "challenge": {"url": url, "api_path": "/challenge/1234567/AbCdEf/",
                                  "hide_webview_header": true, "lock": true, "logout": false,
                                  "native_flow": true},
                    "status": "fail",
                    "error_type": "checkpoint_challenge_required",
                })),
            )
                .into_response()
        }
        FaultKind::FeedbackRequired => (
            StatusCode::BAD_REQUEST,
            Json(json!({
                "message": "feedback_required",
                "spam": true,
                "feedback_title": "Try Again Later",
                "feedback_message": "We limit how often you can do certain things on Instagram to protect our community. Tell us if you think we made a mistake.",
                "feedback_url": "repute/report_problem/scraping/",
                "status": "fail",
            })),
        )
            .into_response(),
    };
    Action::Respond(resp)
}
