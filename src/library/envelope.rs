//! The API's one response shape. Success: `{"data": …, "meta": {"request_id", "next_cursor",
//! "ms"}}`; error: `{"error": {"code", "message"}, "meta": {"request_id"}}`. Every request gets
//! an id (the client's `x-request-id` when it sends a sane one), echoed in the `x-request-id`
//! header and in the log line of a failure.

use std::time::Instant;

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::StoreError;

/// The request being answered: its id and when it arrived.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    pub id: String,
    pub started: Instant,
}

tokio::task_local! {
    static REQUEST: RequestInfo;
}

fn sane_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    (!s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)))
    .then(|| s.to_string())
}

fn new_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Middleware: gives the request an id for its response envelope and header.
pub async fn request_scope(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(sane_id)
        .unwrap_or_else(new_id);
    let info = RequestInfo {
        id: id.clone(),
        started: Instant::now(),
    };
    let mut resp = REQUEST.scope(info, next.run(req)).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

fn current() -> RequestInfo {
    REQUEST
        .try_with(Clone::clone)
        .unwrap_or_else(|_| RequestInfo {
            id: new_id(),
            started: Instant::now(),
        })
}

/// The `meta` of a successful answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Meta {
    /// This request's id (also in the `x-request-id` header).
    pub request_id: String,
    /// Pass as `cursor` to get the next page; `null` on the last page and for single objects.
    pub next_cursor: Option<String>,
    /// Time spent answering, in milliseconds.
    pub ms: f64,
}

/// A successful answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Envelope<T> {
    pub data: T,
    pub meta: Meta,
}

/// The `meta` of an error.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorMeta {
    pub request_id: String,
}

/// What went wrong: a stable `code` for programs and a `message` saying what to do.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// `missing_parameter`, `invalid_parameter`, `invalid_token`, `not_found`, `conflict` or
    /// `unavailable`.
    pub code: String,
    pub message: String,
}

/// An error answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
    pub meta: ErrorMeta,
}

/// Data for a 200 (or 201) answer, with the cursor of the next page when there is one.
pub struct Reply<T> {
    data: T,
    next_cursor: Option<String>,
    status: StatusCode,
}

impl<T> Reply<T> {
    pub fn one(data: T) -> Reply<T> {
        Reply {
            data,
            next_cursor: None,
            status: StatusCode::OK,
        }
    }

    pub fn page(data: T, next_cursor: Option<String>) -> Reply<T> {
        Reply {
            data,
            next_cursor,
            status: StatusCode::OK,
        }
    }

    pub fn created(data: T) -> Reply<T> {
        Reply {
            data,
            next_cursor: None,
            status: StatusCode::CREATED,
        }
    }
}

impl<T: Serialize> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        let info = current();
        let ms = (info.started.elapsed().as_secs_f64() * 1e5).round() / 100.0;
        let body = Envelope {
            data: self.data,
            meta: Meta {
                request_id: info.id,
                next_cursor: self.next_cursor,
                ms,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

/// Every way an API call fails, each with its HTTP status and code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    MissingParameter(String),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    InvalidToken(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unavailable(String),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MissingParameter(_) => "missing_parameter",
            ApiError::InvalidParameter(_) => "invalid_parameter",
            ApiError::InvalidToken(_) => "invalid_token",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::Unavailable(_) => "unavailable",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MissingParameter(_) | ApiError::InvalidParameter(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn no_recording(id: &str) -> ApiError {
        ApiError::NotFound(format!(
            "no recording of broadcast {id} (list them with GET /api/v1/recordings)"
        ))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError::Unavailable(format!(
            "the database cannot answer: {e} (GET /deps shows what is wrong)"
        ))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let info = current();
        if matches!(self, ApiError::Unavailable(_)) {
            tracing::warn!(request_id = %info.id, "library request failed: {self}");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().into(),
                message: self.to_string(),
            },
            meta: ErrorMeta {
                request_id: info.id,
            },
        };
        let mut resp = (self.status(), Json(body)).into_response();
        if matches!(self, ApiError::InvalidToken(_)) {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"iglive\""),
            );
        }
        resp
    }
}

/// What a handler returns.
pub type ApiResult<T> = Result<Reply<T>, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_from_clients_are_kept_only_when_sane() {
        assert_eq!(
            sane_id(&HeaderValue::from_static("abc-123")),
            Some("abc-123".into())
        );
        assert_eq!(sane_id(&HeaderValue::from_static("a b")), None);
        assert_eq!(
            sane_id(&HeaderValue::from_str(&"x".repeat(65)).expect("header")),
            None
        );
    }

    #[test]
    fn every_error_has_its_status() {
        for (e, code, status) in [
            (
                ApiError::MissingParameter("m".into()),
                "missing_parameter",
                400,
            ),
            (
                ApiError::InvalidParameter("m".into()),
                "invalid_parameter",
                400,
            ),
            (ApiError::InvalidToken("m".into()), "invalid_token", 401),
            (ApiError::NotFound("m".into()), "not_found", 404),
            (ApiError::Conflict("m".into()), "conflict", 409),
            (ApiError::Unavailable("m".into()), "unavailable", 503),
        ] {
            assert_eq!(e.code(), code);
            assert_eq!(e.status().as_u16(), status);
        }
    }
}
