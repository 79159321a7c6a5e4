//! `GET /sessions`: every session of the pool — its state with the last evidence, its budget
//! (limit, used in the last minute, requests waiting per class), requests by endpoint and
//! outcome, how many accounts its detection polls, which recordings its pollers serve, and
//! its push connection.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::StatusState;
use crate::fbns::{FbnsHealth, FbnsState};
use crate::instagram::Priority;
use crate::pool::Member;

/// What the daemon knows about each session beyond the pool: the accounts its detection
/// polls and its push connection. Written by the daemon, read by the endpoint.
#[derive(Debug, Clone, Default)]
pub struct SessionBoard {
    inner: Arc<RwLock<BTreeMap<String, BoardEntry>>>,
}

/// One session's line on the board.
#[derive(Debug, Clone, Default)]
pub struct BoardEntry {
    /// Watched accounts this session's detection polls.
    pub accounts: usize,
    pub push: Option<FbnsHealth>,
}

impl SessionBoard {
    pub fn set(&self, entries: BTreeMap<String, BoardEntry>) {
        if let Ok(mut b) = self.inner.write() {
            *b = entries;
        }
    }

    fn get(&self, session: &str) -> BoardEntry {
        self.inner
            .read()
            .ok()
            .and_then(|b| b.get(session).cloned())
            .unwrap_or_default()
    }
}

pub(super) async fn sessions(State(state): State<StatusState>) -> Response {
    Json(describe_all(&state)).into_response()
}

/// The document `/sessions` serves (also used by `iglive status`).
pub fn describe_all(state: &StatusState) -> Value {
    let assignments = state.pool.assignments();
    let sessions: Vec<Value> = state
        .pool
        .members()
        .iter()
        .map(|m| {
            let recordings: Vec<&String> = assignments
                .iter()
                .filter(|(_, s)| **s == m.name)
                .map(|(b, _)| b)
                .collect();
            describe(m, &state.sessions.get(&m.name), &recordings)
        })
        .collect();
    Value::Array(sessions)
}

fn describe(m: &Member, board: &BoardEntry, recordings: &[&String]) -> Value {
    let f = m.client.budget().figures();
    let by_class = |v: &dyn Fn(Priority) -> u64| -> Value {
        Priority::ALL
            .iter()
            .map(|p| (p.as_str().to_string(), json!(v(*p))))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    let mut requests: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for ((endpoint, outcome), n) in m.client.stats() {
        requests
            .entry(endpoint.as_str().to_string())
            .or_default()
            .insert(outcome.to_string(), n);
    }
    let plan = m.client.health();
    json!({
        "name": m.name,
        "state": m.state(),
        "slowdown": plan.slowdown,
        "budget": {
            "per_minute": f.limit,
            "last_minute": f.used,
            "waiting": by_class(&|p| u64::from(f.waiting[p as usize])),
            "granted": by_class(&|p| f.granted[p as usize]),
        },
        "requests": requests,
        "accounts": board.accounts,
        "recordings": recordings,
        "push": board.push.as_ref().map(push_json),
    })
}

fn push_json(h: &FbnsHealth) -> Value {
    let s = h.status();
    let state = match s.state {
        FbnsState::Connecting { .. } => "connecting",
        FbnsState::Connected {
            registered: true, ..
        } => "connected",
        FbnsState::Connected {
            registered: false, ..
        } => "connected, not registered",
        FbnsState::Down { .. } => "down",
        FbnsState::Stopped => "stopped",
    };
    json!({
        "state": state,
        "last_error": s.last_error,
        "delivered": s.counters.delivered,
        "duplicates": s.counters.duplicates,
        "failures": s.counters.failures,
    })
}
