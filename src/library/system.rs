//! Routes around the API: `/openapi.json`, and under `iglive serve` (no daemon, so no status
//! endpoint) a `/health` and a `/ready` of its own, in the status endpoint's shape.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::Library;

/// `/openapi.json`: the document generated from the handlers.
pub fn router(doc: Arc<String>) -> Router<Library> {
    Router::new().route(
        "/openapi.json",
        get(move || {
            let doc = doc.clone();
            async move {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    doc.as_ref().clone(),
                )
            }
        }),
    )
}

async fn health() -> &'static str {
    "ok\n"
}

async fn ready(State(lib): State<Library>) -> Response {
    let r = super::api::deps_report(&lib).await;
    let (ok, checks) = (r.ok, serde_json::to_value(r.checks).unwrap_or_default());
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(serde_json::json!({"ready": ok, "checks": checks})),
    )
        .into_response()
}

/// `/health` and `/ready` for `iglive serve`.
pub fn archive_status_router(lib: Library) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .with_state(lib)
}
