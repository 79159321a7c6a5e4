//! How the simulated Instagram treats a session that asks too much: the symptoms users report
//! before a block (docs/instagram.md §8 "Blocks"), in the order they escalate. Beyond a rate
//! (requests in any 60 s) or an hourly quota, a session first gets `429 Please wait a few
//! minutes`, then HTML or empty bodies where JSON is expected, then `challenge_required` —
//! each stage after `escalate_after` answers of the previous one. A session that stays within
//! its limits for `recover_after` steps back one stage; a challenge clears only after
//! `challenge_clears_after` (or never). Sessions are told apart by their `sessionid`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use axum::body::Body;
use axum::http::{Response, StatusCode};
use serde::{Deserialize, Serialize};

/// The scenario's `[throttle]` table. Times are simulated seconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleSpec {
    /// Requests one session may send in any 60 s.
    #[serde(default)]
    pub rate_per_minute: Option<u32>,
    /// Requests one session may send in any hour.
    #[serde(default)]
    pub hourly_quota: Option<u32>,
    /// Degraded answers at one stage before the next.
    #[serde(default = "default_escalate_after")]
    pub escalate_after: u32,
    /// Time within the limits after which a session steps back one stage.
    #[serde(default = "default_recover_after")]
    pub recover_after: f64,
    /// When a challenge lifts by itself (the owner passed it in the app); never when unset.
    #[serde(default)]
    pub challenge_clears_after: Option<f64>,
    /// Only these sessions are limited (`sessionid` values); all when empty.
    #[serde(default)]
    pub sessions: Vec<String>,
}

fn default_escalate_after() -> u32 {
    3
}
fn default_recover_after() -> f64 {
    600.0
}

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Fine,
    /// `429` with "Please wait a few minutes".
    Throttled,
    /// HTML (or empty) bodies with status 200.
    Html,
    Challenged,
}

impl Stage {
    fn next(self) -> Stage {
        match self {
            Stage::Fine => Stage::Throttled,
            Stage::Throttled => Stage::Html,
            Stage::Html | Stage::Challenged => Stage::Challenged,
        }
    }

    fn back(self) -> Stage {
        match self {
            Stage::Html => Stage::Throttled,
            Stage::Throttled | Stage::Fine => Stage::Fine,
            Stage::Challenged => Stage::Challenged,
        }
    }
}

#[derive(Debug)]
struct SessionLoad {
    /// Request times of the last hour, oldest first.
    sent: VecDeque<f64>,
    stage: Stage,
    /// Degraded answers given at the current stage.
    strikes: u32,
    last_violation: f64,
    challenged_at: Option<f64>,
}

/// One session's figures, in `/truth`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SessionTruth {
    pub stage: Stage,
    pub requests_last_minute: usize,
    pub requests_last_hour: usize,
    pub degraded_answers: u64,
}

/// Every session's load.
#[derive(Debug, Default)]
pub struct Throttle {
    sessions: Mutex<BTreeMap<String, SessionLoad>>,
    degraded: Mutex<BTreeMap<String, u64>>,
}

impl Throttle {
    /// Counts a request of `session` at `now`; the degraded answer to give instead of the
    /// real one, if any.
    pub fn check(&self, spec: &ThrottleSpec, session: &str, now: f64) -> Option<Response<Body>> {
        if !spec.sessions.is_empty() && !spec.sessions.iter().any(|s| s == session) {
            return None;
        }
        let mut all = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let load = all.entry(session.to_string()).or_insert(SessionLoad {
            sent: VecDeque::new(),
            stage: Stage::Fine,
            strikes: 0,
            last_violation: f64::NEG_INFINITY,
            challenged_at: None,
        });
        while load.sent.front().is_some_and(|&t| now - t >= 3600.0) {
            load.sent.pop_front();
        }
        load.sent.push_back(now);
        let answer = decide(spec, load, now);
        drop(all);
        if answer.is_some() {
            *self
                .degraded
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(session.to_string())
                .or_default() += 1;
        }
        answer.map(degraded_answer)
    }

    pub fn truth(&self, now: f64) -> BTreeMap<String, SessionTruth> {
        let all = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let degraded = self.degraded.lock().unwrap_or_else(|p| p.into_inner());
        all.iter()
            .map(|(s, l)| {
                let last_minute = l.sent.iter().filter(|&&t| now - t < 60.0).count();
                let truth = SessionTruth {
                    stage: l.stage,
                    requests_last_minute: last_minute,
                    requests_last_hour: l.sent.len(),
                    degraded_answers: degraded.get(s).copied().unwrap_or(0),
                };
                (s.clone(), truth)
            })
            .collect()
    }
}

/// The stage this request is answered at, moving the session between stages.
fn decide(spec: &ThrottleSpec, load: &mut SessionLoad, now: f64) -> Option<Stage> {
    if let Some(at) = load.challenged_at {
        match spec.challenge_clears_after {
            Some(after) if now - at >= after => {
                load.challenged_at = None;
                load.stage = Stage::Fine;
                load.strikes = 0;
            }
            _ => return Some(Stage::Challenged),
        }
    }
    let last_minute = load.sent.iter().filter(|&&t| now - t < 60.0).count();
    let over = spec
        .rate_per_minute
        .is_some_and(|r| last_minute > r as usize)
        || spec
            .hourly_quota
            .is_some_and(|q| load.sent.len() > q as usize);
    if !over {
        if load.stage != Stage::Fine && now - load.last_violation >= spec.recover_after {
            load.stage = load.stage.back();
            load.strikes = 0;
            load.last_violation = now;
        }
        return None;
    }
    load.last_violation = now;
    if load.stage == Stage::Fine {
        load.stage = Stage::Throttled;
    } else if load.strikes >= spec.escalate_after.max(1) {
        load.stage = load.stage.next();
        load.strikes = 0;
    }
    load.strikes += 1;
    if load.stage == Stage::Challenged {
        load.challenged_at = Some(now);
    }
    Some(load.stage)
}

fn degraded_answer(stage: Stage) -> Response<Body> {
    let (status, content_type, body) = match stage {
        Stage::Fine | Stage::Throttled => (
            StatusCode::TOO_MANY_REQUESTS,
            "application/json",
            r#"{"message":"Please wait a few minutes before you try again.","require_login":true,"status":"fail"}"#,
        ),
        Stage::Html => (
            StatusCode::OK,
            "text/html; charset=utf-8",
            "<!DOCTYPE html><html><head><title>Instagram</title></head><body>Error</body></html>",
        ),
        Stage::Challenged => (
            StatusCode::BAD_REQUEST,
            "application/json",
            r#"{"message":"challenge_required","challenge":{"url":"https://i.instagram.com/challenge/","api_path":"/challenge/","hide_webview_header":true,"lock":true,"logout":false,"native_flow":true},"status":"fail","error_type":"checkpoint_challenge_required"}"#,
        ),
    };
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    if let Ok(v) = axum::http::HeaderValue::from_str(content_type) {
        resp.headers_mut()
            .insert(axum::http::header::CONTENT_TYPE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ThrottleSpec {
        ThrottleSpec {
            rate_per_minute: Some(10),
            hourly_quota: None,
            escalate_after: 2,
            recover_after: 120.0,
            challenge_clears_after: Some(1000.0),
            sessions: vec![],
        }
    }

    fn stage_of(resp: &Option<Response<Body>>) -> Option<u16> {
        resp.as_ref().map(|r| r.status().as_u16())
    }

    #[test]
    fn overuse_escalates_429_then_html_then_challenge_and_only_that_clears_late() {
        let t = Throttle::default();
        let s = spec();
        let mut statuses = Vec::new();
        for i in 0..20 {
            statuses.push(stage_of(&t.check(&s, "a", f64::from(i))));
        }
        assert!(statuses[..10].iter().all(Option::is_none), "{statuses:?}");
        assert_eq!(&statuses[10..12], &[Some(429), Some(429)]);
        assert_eq!(&statuses[12..14], &[Some(200), Some(200)]);
        assert!(
            statuses[14..].iter().all(|s| *s == Some(400)),
            "{statuses:?}"
        );
        // Other sessions are not affected.
        assert!(t.check(&s, "b", 20.0).is_none());
        // A challenge does not lift with rest, only after its time.
        assert!(t.check(&s, "a", 500.0).is_some());
        assert!(t.check(&s, "a", 1100.0).is_none());
        assert_eq!(t.truth(1100.0)["a"].stage, Stage::Fine);
    }

    #[test]
    fn a_throttled_session_within_its_limits_recovers() {
        let t = Throttle::default();
        let s = spec();
        for i in 0..11 {
            t.check(&s, "a", f64::from(i) * 0.1);
        }
        assert_eq!(t.truth(2.0)["a"].stage, Stage::Throttled);
        assert!(t.check(&s, "a", 200.0).is_none());
        assert_eq!(t.truth(200.0)["a"].stage, Stage::Fine);
    }
}
