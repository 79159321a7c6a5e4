//! The REST API under `/api/v1` (plus `/build` and `/deps`), each handler documented with
//! `#[utoipa::path]` so that `/openapi.json` is generated from the code.

mod accounts;
mod live;
mod recordings;
mod search;
mod sessions;
mod system;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::envelope::ApiError;
use super::Library;

pub use recordings::{urlencode, Comment, STATES};
pub use system::deps_report;

/// A broadcast id from the path; only ever looked up, never used as a path.
pub struct Id(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Id, ApiError> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::InvalidParameter(format!("broadcast_id: {e}")))?;
        if id.is_empty() || id.len() > 64 || id.chars().any(char::is_control) {
            return Err(ApiError::InvalidParameter(
                "broadcast_id: expected a broadcast id like 17900000000000001".into(),
            ));
        }
        Ok(Id(id))
    }
}

/// Every documented route.
pub fn router() -> OpenApiRouter<Library> {
    OpenApiRouter::new()
        .routes(routes!(recordings::list))
        .routes(routes!(recordings::detail))
        .routes(routes!(recordings::comments))
        .routes(routes!(recordings::likes))
        .routes(routes!(recordings::viewers))
        .routes(routes!(recordings::video))
        .routes(routes!(recordings::cover))
        .routes(routes!(recordings::chat))
        .routes(routes!(search::search))
        .routes(routes!(
            accounts::list,
            accounts::add,
            accounts::remove_by_query
        ))
        .routes(routes!(accounts::remove))
        .routes(routes!(live::live))
        .routes(routes!(live::events))
        .routes(routes!(sessions::sessions))
        .routes(routes!(system::build))
        .routes(routes!(system::deps))
}
