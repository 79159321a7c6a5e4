//! Recordings in progress, as one answer (`/api/v1/live`) and as server-sent events
//! (`/api/v1/events`): `live` carries the whole list whenever it changes, `recording` one
//! recording's change of state. Streams end when the listener shuts down.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, Stream};
use tokio::sync::broadcast::error::RecvError;

use crate::library::envelope::{ApiResult, Envelope, ErrorBody, Reply};
use crate::library::live::{self, FeedEvent, LiveItem, RecordingChange};
use crate::library::Library;

/// The recordings in progress now, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/live",
    tag = "live",
    responses(
        (status = 200, description = "Recordings in progress.", body = Envelope<Vec<LiveItem>>),
        (status = 401, description = "The API token is missing or wrong.", body = ErrorBody),
        (status = 503, description = "The database cannot answer.", body = ErrorBody),
    )
)]
pub async fn live(State(lib): State<Library>) -> ApiResult<Vec<LiveItem>> {
    Ok(Reply::one(live::current(&lib).await?))
}

fn event(e: &FeedEvent) -> Option<Event> {
    match e {
        FeedEvent::Live(items) => Event::default()
            .event("live")
            .json_data(items.as_ref())
            .ok(),
        FeedEvent::Recording(c) => Event::default().event("recording").json_data(c).ok(),
    }
}

/// Server-sent events: `live` (data: the list of recordings in progress, as `/api/v1/live`),
/// sent at once and whenever it changes, and `recording` (data: a `RecordingChange`).
#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "live",
    responses(
        (status = 200, description = "An event stream (text/event-stream); `live` events carry a list of LiveItem, `recording` events a RecordingChange.", content_type = "text/event-stream", body = RecordingChange),
        (status = 401, description = "The API token is missing or wrong.", body = ErrorBody),
    )
)]
pub async fn events(State(lib): State<Library>) -> Response {
    let rx = lib.0.live.subscribe(&lib);
    let first = live::current(&lib).await.ok();
    let stop = lib.0.stop.clone();
    let initial = first.map(|items| FeedEvent::Live(std::sync::Arc::new(items)));
    let s = stream::unfold(
        (rx, initial, stop),
        |(mut rx, mut initial, stop)| async move {
            if let Some(e) = initial.take() {
                return Some((event(&e), (rx, None, stop)));
            }
            loop {
                let next = tokio::select! {
                    _ = stop.cancelled() => return None,
                    r = rx.recv() => r,
                };
                match next {
                    Ok(e) => return Some((event(&e), (rx, None, stop))),
                    // A slow reader skips ahead; the next `live` event is complete anyway.
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return None,
                }
            }
        },
    );
    let s = stream_of(s);
    Sse::new(s)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

fn stream_of(
    s: impl Stream<Item = Option<Event>> + Send + 'static,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
    use futures::StreamExt as _;
    s.filter_map(|e| async move { e.map(Ok) })
}
