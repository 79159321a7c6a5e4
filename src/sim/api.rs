//! The private API under `/api/v1/`, with Instagram's key names and types (docs/instagram.md §1–§2):
//! floats where Instagram sends floats, `"True"`/`"False"` strings, digit-string comment pks.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::scenario::{Account, ReplayEndpoints};
use super::state::SimState;
use super::world::{BroadcastWorld, Comment, Phase};

/// Instagram's generic failure body.
pub fn fail(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"message": message, "status": "fail"}))).into_response()
}

fn broadcast_not_found() -> Response {
    fail(StatusCode::NOT_FOUND, "Broadcast not found")
}

fn user_json(a: &Account) -> Value {
    json!({
        "pk": a.pk,
        "pk_id": a.pk.to_string(),
        "username": a.username,
        "full_name": a.full_name,
        "is_private": false,
        "is_verified": a.verified,
        "profile_pic_url": format!("https://scontent.cdninstagram.com/v/{}.jpg", a.pk),
        "profile_pic_id": format!("{}_{}", a.pk + 1_000_000_000_000_000, a.pk),
    })
}

fn owner_json(a: &Account) -> Value {
    let mut v = user_json(a);
    v["friendship_status"] = json!({
        "following": a.followed, "followed_by": false, "blocking": false, "muting": false,
        "is_private": false, "incoming_request": false, "outgoing_request": false,
        "is_bestie": false, "is_restricted": false,
    });
    v
}

/// The broadcast object (docs/instagram.md §2 "Broadcast object").
fn broadcast_json(state: &SimState, b: &BroadcastWorld, now: f64) -> Value {
    let mpd = state
        .base_url
        .join(super::origin::manifest_path(b).trim_start_matches('/'))
        .map(|u| u.to_string())
        .unwrap_or_default();
    json!({
        "id": b.spec.id.to_string(),
        "broadcast_status": b.status(now),
        "published_time": state.clock.unix(b.spec.start).floor() as i64,
        "viewer_count": b.viewers(now),
        "media_id": format!("{}_{}", b.spec.id, b.owner.pk),
        "broadcast_message": "",
        "cover_frame_url": format!("{}cover/{}.jpg", state.base_url, b.spec.id),
        "organic_tracking_token": "eyJ2ZXJzaW9uIjo1fQ==",
        "dash_playback_url": mpd,
        "dash_abr_playback_url": mpd,
        "dash_live_predictive_playback_url": mpd,
        "rtmp_playback_url": null,
        "broadcast_owner": owner_json(&b.owner),
        "cobroadcasters": b.cobroadcasters.iter().map(|a| user_json(a)).collect::<Vec<_>>(),
        "internal_only": false,
        "is_gaming_content": false,
        "is_player_live_trace_enabled": 0,
        "hide_from_feed_unit": false,
    })
}

fn post_live_item(state: &SimState, b: &BroadcastWorld, now: f64) -> Value {
    let mut bj = broadcast_json(state, b, now);
    bj["encoding_tag"] = json!("instagram_dash_remuxed");
    bj["number_of_qualities"] = json!(b.media.video.len());
    bj["expire_at"] = json!((state.clock.unix(b.end()) + 86_400.0).floor() as i64);
    json!({
        "pk": format!("post_live_{}", b.owner.pk),
        "user": user_json(&b.owner),
        "broadcasts": [bj],
        "peak_viewer_count": b.spec.viewers.iter().map(|p| p[1]).fold(0.0, f64::max).round() as i64,
        "last_seen_broadcast_ts": 0,
        "can_reply": false,
        "ranked_position": 1,
        "seen_ranked_position": 0,
        "muted": false,
        "can_reshare": true,
    })
}

/// The broadcast of `owner` that is live now, if any.
fn live_of(state: &SimState, owner: u64, now: f64) -> Option<&BroadcastWorld> {
    state
        .broadcasts
        .iter()
        .find(|b| b.owner.pk == owner && b.phase(now) == Phase::Live)
}

/// The most recent replay-able broadcast of `owner`, if any.
fn post_live_of(state: &SimState, owner: u64, now: f64) -> Option<&BroadcastWorld> {
    state
        .broadcasts
        .iter()
        .filter(|b| {
            b.owner.pk == owner && b.phase(now) == Phase::Ended && b.status(now) == "post_live"
        })
        .max_by(|x, y| x.spec.start.total_cmp(&y.spec.start))
}

/// The live broadcast `pk` is a guest of, if any.
fn guest_of(state: &SimState, pk: u64, now: f64) -> Option<&BroadcastWorld> {
    state
        .broadcasts
        .iter()
        .find(|b| b.phase(now) == Phase::Live && b.cobroadcasters.iter().any(|a| a.pk == pk))
}

/// `GET feed/user/{pk}/story/`: a guest's feed shows the host's broadcast (docs/instagram.md §8
/// "Co-broadcast").
pub async fn story(State(state): State<Arc<SimState>>, Path(pk): Path<String>) -> Response {
    let now = state.clock.now();
    let pk: u64 = pk.parse().unwrap_or(0);
    let broadcast = live_of(&state, pk, now)
        .or_else(|| guest_of(&state, pk, now))
        .map(|b| broadcast_json(&state, b, now));
    let post_live = post_live_of(&state, pk, now).map(|b| post_live_item(&state, b, now));
    Json(json!({
        "broadcast": broadcast,
        "reel": null,
        "post_live_item": post_live,
        "status": "ok",
    }))
    .into_response()
}

/// `GET feed/reels_tray/`: live broadcasts and replays of followed accounts.
pub async fn reels_tray(State(state): State<Arc<SimState>>) -> Response {
    let now = state.clock.now();
    let followed: Vec<&Account> = state
        .scenario
        .accounts
        .iter()
        .filter(|a| a.followed)
        .collect();
    let mut broadcasts = Vec::new();
    let mut post_live = Vec::new();
    for (rank, a) in followed.iter().enumerate() {
        if let Some(b) = live_of(&state, a.pk, now) {
            let mut bj = broadcast_json(&state, b, now);
            bj["broadcast_owner"]["live_subscription_status"] = json!("default");
            bj["muted"] = json!(false);
            bj["ranked_position"] = json!(rank + 1);
            bj["seen_ranked_position"] = json!(0);
            broadcasts.push(bj);
        }
        if let Some(b) = post_live_of(&state, a.pk, now) {
            post_live.push(post_live_item(&state, b, now));
        }
    }
    Json(json!({
        "tray": [],
        "broadcasts": broadcasts,
        "post_live": {"post_live_items": post_live},
        "story_ranking_token": "sim-ranking-token",
        "has_new_nux_story": false,
        "status": "ok",
    }))
    .into_response()
}

/// `GET live/web_info/?target_user_id=`: the web variant (docs/instagram.md §1); 404 when the user is
/// not live, which is how instarec reads it.
pub async fn web_info(
    State(state): State<Arc<SimState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let now = state.clock.now();
    let pk = q
        .get("target_user_id")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let Some(b) = live_of(&state, pk, now) else {
        return fail(StatusCode::NOT_FOUND, "User is not live");
    };
    let mut v = broadcast_json(&state, b, now);
    v["status"] = json!("ok");
    Json(v).into_response()
}

/// The broadcast `id` if it exists and is not gone.
fn answering<'a>(state: &'a SimState, id: &str, now: f64) -> Option<&'a BroadcastWorld> {
    state
        .broadcast(id)
        .filter(|b| matches!(b.phase(now), Phase::Live | Phase::Ended))
}

/// `GET live/{id}/info/`.
pub async fn info(State(state): State<Arc<SimState>>, Path(id): Path<String>) -> Response {
    let now = state.clock.now();
    let Some(b) = answering(&state, &id, now) else {
        return broadcast_not_found();
    };
    let mut v = broadcast_json(&state, b, now);
    v["status"] = json!("ok");
    Json(v).into_response()
}

/// Field `name` from an urlencoded body, or from the JSON after the first `.` of
/// `signed_body` (docs/instagram.md §1 "Signing": both forms are accepted).
fn form_field(body: &[u8], name: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    if let Some((_, v)) = pairs.iter().find(|(k, _)| k == name) {
        return Some(v.clone());
    }
    let signed = pairs.iter().find(|(k, _)| k == "signed_body")?;
    let (_, json_part) = signed.1.split_once('.')?;
    let v: Value = serde_json::from_str(json_part).ok()?;
    match v.get(name)? {
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// `POST push/register/` (docs/instagram.md §9): binds an FBNS token to the account in
/// `users`; answers `{"status":"ok"}` with or without a broker, as Instagram would.
pub async fn push_register(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    let token = form_field(&body, "device_token").unwrap_or_default();
    let users = form_field(&body, "users").unwrap_or_default();
    let device_type = form_field(&body, "device_type").unwrap_or_default();
    if token.is_empty() || users.is_empty() || !device_type.starts_with("android_") {
        return fail(
            StatusCode::BAD_REQUEST,
            "Invalid request: device_token, users and device_type are required",
        );
    }
    if let Some(broker) = &state.fbns {
        broker.register_http(&token, &users, state.clock.now());
    }
    Json(json!({"status": "ok"})).into_response()
}

/// `POST live/{id}/heartbeat_and_get_viewer_count/`.
pub async fn heartbeat(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let now = state.clock.now();
    if form_field(&body, "_csrftoken").is_none() || form_field(&body, "_uuid").is_none() {
        return fail(
            StatusCode::BAD_REQUEST,
            "Invalid request: missing _csrftoken or _uuid",
        );
    }
    let Some(b) = answering(&state, &id, now) else {
        return broadcast_not_found();
    };
    let peak = b
        .spec
        .viewers
        .iter()
        .filter(|p| p[0] <= now)
        .map(|p| p[1])
        .fold(b.viewers(now), f64::max);
    Json(json!({
        "viewer_count": b.viewers(now),
        "broadcast_status": b.status(now),
        "cobroadcaster_ids": b.cobroadcasters.iter().map(|a| a.pk.to_string()).collect::<Vec<_>>(),
        "offset_to_video_start": 0,
        "total_unique_viewer_count": (peak * 1.3).round() as i64,
        "is_top_live_eligible": 0,
        "is_policy_violation": false,
        "policy_violation_reason": null,
        "status": "ok",
    }))
    .into_response()
}

fn comment_json(c: &Comment) -> Value {
    let mut user = user_json(&c.user);
    user["live_with_eligibility"] = json!("1");
    json!({
        "pk": c.pk,
        "user_id": c.user.pk,
        "text": c.text,
        "type": 0,
        "created_at": c.created_at,
        // Reference §2: 8 h ahead of created_at in the samples; clients must not use it.
        "created_at_utc": c.created_at + 28_800.0,
        "content_type": "comment",
        "status": "Active",
        "bit_flags": 0,
        "did_report_as_spam": false,
        "share_enabled": false,
        "user": user,
    })
}

fn num_param(q: &HashMap<String, String>, name: &str) -> f64 {
    q.get(name)
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| v.is_finite())
        .unwrap_or(0.0)
}

/// `GET live/{id}/get_comment/?last_comment_ts=`.
///
/// Comments with `created_at >= last_comment_ts`, at most `comment_page_cap` of them: the
/// OLDEST ones at or after the cursor, returned newest first. A client that advances its
/// cursor to the newest `created_at` it got and de-duplicates by `pk` therefore reads a burst
/// completely, one page per call; one that does not stays stuck on the same page.
pub async fn get_comment(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let now = state.clock.now();
    let Some(b) = answering(&state, &id, now) else {
        return broadcast_not_found();
    };
    let cursor = num_param(&q, "last_comment_ts");
    let visible = &b.comments[..b.visible_comments(now)];
    let from = visible.partition_point(|c| c.created_at < cursor);
    let cap = state.scenario.comment_page_cap;
    let page = &visible[from..(from + cap).min(visible.len())];
    let comments: Vec<Value> = page.iter().rev().map(comment_json).collect();
    Json(json!({
        "comment_likes_enabled": false,
        "comments": comments,
        "comment_count": visible.len(),
        "caption": null,
        "caption_is_edited": false,
        "has_more_comments": visible.len() - from > cap,
        "has_more_headload_comments": false,
        "media_header_display": "none",
        "can_view_more_preview_comments": false,
        "live_seconds_per_comment": 2,
        "is_first_fetch": if cursor == 0.0 { "True" } else { "False" },
        "system_comments": null,
        "comment_muted": 0,
        "status": "ok",
    }))
    .into_response()
}

/// `GET live/{id}/get_like_count/?like_ts=`.
pub async fn get_like_count(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
) -> Response {
    let now = state.clock.now();
    let Some(b) = answering(&state, &id, now) else {
        return broadcast_not_found();
    };
    let likes = b.likes(now).floor() as i64;
    Json(json!({
        "likes": likes,
        "burst_likes": likes / 10,
        "like_ts": state.clock.unix(now).floor() as i64,
        "likers": [],
        "status": "ok",
    }))
    .into_response()
}

/// Whether the replay endpoints answer for `b` now: only after the end, and only when the
/// scenario has not withdrawn them (docs/instagram.md §8: replays are legacy).
fn replay_answers(b: &BroadcastWorld, now: f64) -> bool {
    b.phase(now) == Phase::Ended && b.spec.replay_endpoints == ReplayEndpoints::Serve
}

/// `GET live/{id}/get_post_live_comments/?starting_offset=&encoding_tag=`.
///
/// Offsets are seconds since the broadcast start. A page holds about `comment_page_cap`
/// comments from `starting_offset` on, never splitting a second (a burst sharing one second
/// comes in one page); `next_fetch_offset`/`ending_offset` point at the first comment not
/// returned (`null` next offset: nothing left).
pub async fn get_post_live_comments(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let now = state.clock.now();
    let Some(b) = answering(&state, &id, now).filter(|b| replay_answers(b, now)) else {
        return broadcast_not_found();
    };
    let start = num_param(&q, "starting_offset");
    let offset = |c: &Comment| ((c.at - b.spec.start) * 1000.0).round() / 1000.0;
    let from = b.comments.partition_point(|c| offset(c) < start);
    let cap = state.scenario.comment_page_cap;
    let mut to = (from + cap).min(b.comments.len());
    // Pages cover whole seconds: offsets are sent back as whole seconds (clients keep them as
    // integers), so a page that split a second could never be continued without a gap.
    if to > from {
        let last_second = offset(&b.comments[to - 1]).floor();
        while b
            .comments
            .get(to)
            .is_some_and(|c| offset(c).floor() <= last_second)
        {
            to += 1;
        }
    }
    let page: Vec<Value> = b.comments[from..to]
        .iter()
        .map(|c| json!({"comment": comment_json(c), "offset": offset(c), "event": false}))
        .collect();
    let next = b.comments.get(to).map(offset);
    Json(json!({
        "starting_offset": start,
        "ending_offset": next.unwrap_or(b.spec.duration),
        "next_fetch_offset": next,
        "comments": page,
        "pinned_comments": [],
        "status": "ok",
    }))
    .into_response()
}

/// `GET live/{id}/get_post_live_likes/?starting_offset=`: `[offset, cumulative likes]` per
/// second, one minute per page.
pub async fn get_post_live_likes(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let now = state.clock.now();
    let Some(b) = answering(&state, &id, now).filter(|b| replay_answers(b, now)) else {
        return broadcast_not_found();
    };
    let start = num_param(&q, "starting_offset").max(0.0).floor();
    let end = (start + 60.0).min(b.spec.duration.ceil());
    let mut series = Vec::new();
    let mut at = start;
    while at < end {
        series.push(json!([at, b.likes(b.spec.start + at).floor() as i64]));
        at += 1.0;
    }
    let more = end < b.spec.duration;
    Json(json!({
        "starting_offset": start,
        "ending_offset": end,
        "next_fetch_offset": if more { json!(end) } else { Value::Null },
        "time_series": series,
        "status": "ok",
    }))
    .into_response()
}
