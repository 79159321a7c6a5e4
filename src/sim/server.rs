//! The HTTP front: one hyper connection per client around the axum router, so that every
//! request is recorded, authenticated and exposed to fault windows before routing, and a
//! `reset` fault can drop the connection without answering.

use std::future::Future;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use super::faults::{self, Action};
use super::state::{RecordedRequest, SimState};
use super::{api, login, origin, users};

/// Request bodies above this are cut off (the API's forms are tiny).
const MAX_BODY: usize = 1 << 20;

pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/truth", get(truth))
        .route("/api/v1/feed/user/{pk}/story/", get(api::story))
        .route("/api/v1/feed/reels_tray/", get(api::reels_tray))
        .route("/api/v1/live/{id}/info/", get(api::info))
        .route("/api/v1/live/web_info/", get(api::web_info))
        .route(
            "/api/v1/live/{id}/heartbeat_and_get_viewer_count/",
            post(api::heartbeat),
        )
        .route("/api/v1/live/{id}/get_comment/", get(api::get_comment))
        .route(
            "/api/v1/live/{id}/get_like_count/",
            get(api::get_like_count),
        )
        .route(
            "/api/v1/live/{id}/get_post_live_comments/",
            get(api::get_post_live_comments),
        )
        .route(
            "/api/v1/live/{id}/get_post_live_likes/",
            get(api::get_post_live_likes),
        )
        .route("/api/v1/users/{id}/usernameinfo/", get(users::usernameinfo))
        .route("/api/v1/users/{id}/info/", get(users::info))
        .route("/api/v1/launcher/sync/", post(login::prelogin))
        .route("/api/v1/launcher/mobileconfig/", post(login::prelogin))
        .route(
            "/api/v1/qe/sync/",
            get(login::prelogin).post(login::prelogin),
        )
        .route("/api/v1/accounts/login/", post(login::login))
        .route(
            "/api/v1/accounts/two_factor_login/",
            post(login::two_factor_login),
        )
        .route(
            "/api/v1/accounts/send_two_factor_login_sms/",
            post(login::send_two_factor_sms),
        )
        .route(
            "/api/v1/challenge/{pk}/{nonce}/",
            get(login::challenge_state).post(login::challenge_answer),
        )
        .route("/api/v1/push/register/", post(api::push_register))
        .route("/live-dash/{rep}/{file}", get(origin::live_dash))
        .route("/cover/{file}", get(cover))
        .fallback(|| async { api::fail(StatusCode::NOT_FOUND, "Page not found") })
        .with_state(state)
}

async fn truth(
    axum::extract::State(state): axum::extract::State<Arc<SimState>>,
) -> axum::Json<super::Truth> {
    axum::Json(super::truth_of(&state))
}

/// The broadcast's `cover_frame_url` (the CDN's JPEG of an early frame): one tiny image for
/// every broadcast, enough for the recording folder's `cover.jpg`.
async fn cover() -> Response<Body> {
    const JPEG: &[u8] = include_bytes!("cover.jpg");
    let mut resp = Response::new(Body::from(JPEG));
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("image/jpeg"),
    );
    resp
}

/// Accepts connections until `stop` fires, then drops every open connection.
pub async fn serve(listener: TcpListener, state: Arc<SimState>, stop: CancellationToken) {
    let router = router(state.clone());
    serve_each(listener, stop, move |stream| {
        let (state, router) = (state.clone(), router.clone());
        async move {
            let svc =
                hyper::service::service_fn(move |req| handle(state.clone(), router.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        }
    })
    .await;
}

/// Runs `connection` on every accepted stream, each in a task of its own, until `stop` fires;
/// then drops the open ones and waits for them. Accept errors (e.g. EMFILE) pause the loop
/// briefly instead of ending the server. The HTTP front and the FBNS broker share it.
pub async fn serve_each<F, Fut>(listener: TcpListener, stop: CancellationToken, mut connection: F)
where
    F: FnMut(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let tracker = TaskTracker::new();
    loop {
        let stream = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!("sim: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let (work, stop) = (connection(stream), stop.clone());
        tracker.spawn(async move {
            tokio::select! {
                _ = work => {}
                _ = stop.cancelled() => {}
            }
        });
    }
    tracker.close();
    tracker.wait().await;
}

/// Requests a logged-out client makes: the pre-login key fetch, the login itself, two-factor
/// and challenges.
fn is_login_path(path: &str) -> bool {
    const PATHS: [&str; 6] = [
        "/api/v1/launcher/sync/",
        "/api/v1/launcher/mobileconfig/",
        "/api/v1/qe/sync/",
        "/api/v1/accounts/login/",
        "/api/v1/accounts/two_factor_login/",
        "/api/v1/accounts/send_two_factor_login_sms/",
    ];
    PATHS.contains(&path) || path.starts_with("/api/v1/challenge/")
}

/// The `sessionid` inside `Bearer IGT:2:<base64 JSON>`, decoded as instagrapi's token is
/// validated (by content, not by bytes).
fn bearer_sessionid(v: &str) -> Option<String> {
    use base64::Engine as _;
    let b64 = v.strip_prefix("Bearer IGT:2:")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    json.get("sessionid")?.as_str().map(str::to_string)
}

/// The session a request belongs to: its `sessionid` (cookie or bearer), for the throttle.
fn session_key(req: &Request<Body>) -> Option<String> {
    let h = req.headers();
    let bearer = h
        .get_all("authorization")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(bearer_sessionid);
    bearer.or_else(|| request_cookie(req, "sessionid"))
}

/// Whether the request carries a credential like the app's: a `sessionid` cookie or an
/// `Authorization: Bearer IGT:2:…` header (docs/instagram.md §1 "Two ways to carry a session").
/// With a `[login]` scenario only sessions the simulator issued count; otherwise any
/// non-empty one does.
fn authenticated(state: &SimState, req: &Request<Body>) -> bool {
    let h = req.headers();
    let accepts = |sessionid: &str| match &state.login {
        Some(l) => l.accepts(sessionid),
        None => !sessionid.is_empty(),
    };
    let bearer = h
        .get_all("authorization")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| match (&state.login, bearer_sessionid(v)) {
            (Some(_), Some(sid)) => accepts(&sid),
            (Some(_), None) => false,
            (None, _) => v.starts_with("Bearer IGT:2:") && v.len() > "Bearer IGT:2:".len(),
        });
    let cookie = h
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .any(|(k, v)| k == "sessionid" && accepts(v));
    bearer || cookie
}

/// The `rur` cookie value of simulated second `at`. Instagram rotates cookies in its answers
/// `Set-Cookie` (docs/instagram.md §6); the simulator's `rur` changes every simulated minute.
fn current_rur(at: f64) -> String {
    format!("SIM\\054{}:01f7", (at.max(0.0) / 60.0).floor() as u64)
}

/// A request's cookie value, if it sent that cookie.
fn request_cookie(req: &Request<Body>, name: &str) -> Option<String> {
    req.headers()
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"').to_string())
}

async fn handle(
    state: Arc<SimState>,
    router: Router,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Body>, std::io::Error> {
    let at = state.clock.now();
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(Body::new(body), MAX_BODY)
        .await
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    let is_form = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let mut record = RecordedRequest {
        method: parts.method.to_string(),
        path: path.clone(),
        query: parts.uri.query().map(str::to_string),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        form: if is_form {
            url::form_urlencoded::parse(&body).into_owned().collect()
        } else {
            Vec::new()
        },
        status: 0,
        at,
    };
    let req = Request::from_parts(parts, Body::from(body));

    match faults::decide(&state, &path, at) {
        Some(Action::Reset) => {
            state.record(record);
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "simulated connection reset",
            ));
        }
        Some(Action::Delay(d)) => tokio::time::sleep(d).await,
        Some(Action::Respond(resp)) => {
            record.status = resp.status().as_u16();
            state.record(record);
            return Ok(resp);
        }
        None => {}
    }

    let expired = state.scenario.session_expires_at.is_some_and(|t| at >= t);
    let needs_session = path.starts_with("/api/v1/") && !is_login_path(&path);
    let throttled = match (&state.scenario.throttle, session_key(&req)) {
        (Some(spec), Some(session)) if needs_session => state.throttle.check(spec, &session, at),
        _ => None,
    };
    let rur = current_rur(at);
    let rotate = needs_session && request_cookie(&req, "rur").as_deref() != Some(rur.as_str());
    let mut resp = if needs_session && (expired || !authenticated(&state, &req)) {
        api::fail(StatusCode::FORBIDDEN, "login_required")
    } else if let Some(degraded) = throttled {
        degraded
    } else {
        match router.oneshot(req).await {
            Ok(resp) => resp,
            Err(never) => match never {},
        }
    };
    if rotate && resp.status().is_success() {
        let cookie =
            format!("rur=\"{rur}\"; Domain=.instagram.com; HttpOnly; Path=/; SameSite=Lax; Secure");
        if let Ok(v) = axum::http::HeaderValue::from_str(&cookie) {
            resp.headers_mut().append(axum::http::header::SET_COOKIE, v);
        }
    }
    record.status = resp.status().as_u16();
    state.record(record);
    Ok(resp)
}
