//! User lookups for `iglive accounts add`: `users/{username}/usernameinfo/` and
//! `users/{pk}/info/` (dilame `user.repository.ts`; docs/instagram.md §1), over the
//! scenario's accounts and the login account.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::api::fail;
use super::state::SimState;

fn user_json(pk: u64, username: &str, full_name: &str, verified: bool) -> Value {
    json!({
        "pk": pk,
        "pk_id": pk.to_string(),
        "username": username,
        "full_name": full_name,
        "is_private": false,
        "is_verified": verified,
        "profile_pic_url": format!("https://scontent.cdninstagram.com/v/{pk}.jpg"),
        "follower_count": 1000,
        "media_count": 10,
        "account_type": 3,
        "is_business": false,
    })
}

/// Every account the simulated Instagram knows: (pk, username, full name, verified).
fn known(state: &SimState) -> Vec<(u64, String, String, bool)> {
    let mut all: Vec<_> = state
        .scenario
        .accounts
        .iter()
        .map(|a| (a.pk, a.username.clone(), a.full_name.clone(), a.verified))
        .collect();
    if let Some(l) = &state.scenario.login {
        all.push((l.pk, l.username.clone(), String::new(), false));
    }
    all
}

fn user_not_found() -> Response {
    fail(StatusCode::NOT_FOUND, "User not found")
}

/// `GET users/{username}/usernameinfo/`: usernames match without regard to case.
pub async fn usernameinfo(State(state): State<Arc<SimState>>, Path(id): Path<String>) -> Response {
    match known(&state)
        .into_iter()
        .find(|(_, u, _, _)| u.eq_ignore_ascii_case(&id))
    {
        Some((pk, u, f, v)) => {
            Json(json!({"user": user_json(pk, &u, &f, v), "status": "ok"})).into_response()
        }
        None => user_not_found(),
    }
}

/// `GET users/{pk}/info/`.
pub async fn info(State(state): State<Arc<SimState>>, Path(id): Path<String>) -> Response {
    let pk: Option<u64> = id.parse().ok();
    match known(&state)
        .into_iter()
        .find(|(p, _, _, _)| Some(*p) == pk)
    {
        Some((pk, u, f, v)) => {
            Json(json!({"user": user_json(pk, &u, &f, v), "status": "ok"})).into_response()
        }
        None => user_not_found(),
    }
}
