//! Search across every recording's chat; each hit links into its recording at the comment's
//! moment (`/recording/{id}?t=OFFSET&c=PK`).

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::recordings::{settle, urlencode};
use crate::library::cursor;
use crate::library::envelope::{ApiError, ApiResult, Envelope, ErrorBody, Reply};
use crate::library::params::Params;
use crate::library::Library;
use crate::store::search::{self, QueryError};

/// A comment that matched.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchHit {
    pub broadcast_id: String,
    pub pk: String,
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub text: String,
    pub created_at: f64,
    /// Seconds into the video.
    pub offset_s: Option<f64>,
    /// The broadcaster.
    pub owner_user_id: Option<String>,
    pub owner_username: Option<String>,
    /// When the broadcast started (unix time).
    pub started_at: Option<f64>,
    /// The recording's page at this comment's moment.
    pub page_url: String,
}

/// Searches comment texts and usernames of every recording, most recently recorded first.
#[utoipa::path(
    get,
    path = "/api/v1/search",
    tag = "search",
    params(
        ("q" = String, Query, description = "Words to find, all of them (diacritics and case ignored; `word*` for a prefix). Chinese, Japanese and Korean text matches as substrings."),
        ("broadcast_id" = Option<String>, Query, description = "Only within this recording."),
        ("cursor" = Option<String>, Query, description = "meta.next_cursor of the previous page."),
        ("limit" = Option<usize>, Query, description = "Page size, 1 to 1000 (default 50)."),
    ),
    responses(
        (status = 200, description = "A page of hits.", body = Envelope<Vec<SearchHit>>),
        (status = 400, description = "`q` is missing or cannot be searched.", body = ErrorBody),
        (status = 401, description = "The API token is missing or wrong.", body = ErrorBody),
        (status = 503, description = "The database cannot answer.", body = ErrorBody),
    )
)]
pub async fn search(State(lib): State<Library>, p: Params) -> ApiResult<Vec<SearchHit>> {
    let q = p.required("q", "the words to search the chats for")?;
    let query =
        search::parse(q).map_err(|e: QueryError| ApiError::InvalidParameter(format!("q: {e}")))?;
    let limit = p.limit()?;
    let before: Option<i64> = p
        .get("cursor")
        .map(|c| cursor::decode("search", c))
        .transpose()?;
    let only = p.get("broadcast_id").map(str::to_string);
    let hits = lib.search(query, only, before, limit + 1).await?;
    let next = (hits.len() > limit)
        .then(|| {
            hits.get(limit - 1)
                .map(|h| cursor::encode("search", &h.rowid))
        })
        .flatten();
    let data = hits
        .into_iter()
        .take(limit)
        .map(|h| {
            let offset_s = settle(h.offset_s, h.created_at, h.started_at);
            SearchHit {
                page_url: format!(
                    "/recording/{}?t={}&c={}",
                    urlencode(&h.broadcast_id),
                    // Rounded up, so that the comment itself is on screen at that moment.
                    offset_s
                        .map(|o| format!("{}", (o * 1000.0).ceil() / 1000.0))
                        .unwrap_or_else(|| "0".into()),
                    urlencode(&h.pk)
                ),
                broadcast_id: h.broadcast_id,
                pk: h.pk,
                user_id: h.user_id,
                username: h.username,
                text: h.text,
                created_at: h.created_at,
                offset_s,
                owner_user_id: h.owner_user_id,
                owner_username: h.owner_username,
                started_at: h.started_at,
            }
        })
        .collect();
    Ok(Reply::page(data, next))
}
