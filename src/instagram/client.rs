//! The private-API client: one HTTP connection pool per session, sending the headers the
//! Android app sends (docs/instagram.md §1 "Headers and identity"), pacing every request through the
//! session's `SessionGovernor` and retrying only transient failures.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::time::Instant;
use url::Url;

use super::budget::RequestBudget;
use super::credentials::Credentials;
use super::endpoint::Endpoint;
use super::error::{classify, classify_redirect, ApiError};
use super::governor::{GovernorOptions, SessionGovernor, SessionHealth};
use super::session::Session;
use super::stats::{Outcome, RequestStats};
use super::types::{
    Broadcast, CommentsPage, Heartbeat, LikeCount, PostLiveComments, PostLiveLikes, ReelsTray,
    StoryFeed, User, UserInfo,
};
use crate::backoff::{Backoff, MAX_DELAY};

/// The Android app's id (docs/instagram.md §1); the web id `936619743392459` belongs to another API.
pub const ANDROID_APP_ID: &str = "567067343352427";
/// instagrapi's capabilities value.
pub const CAPABILITIES: &str = "3brTv10=";
/// Hard ceiling on `ClientOptions::max_retries`: retries must stay bounded whatever the setting.
const MAX_RETRIES: u32 = 10;
/// `encoding_tag` of replay endpoints.
const REPLAY_ENCODING_TAG: &str = "instagram_dash_remuxed";

/// Query of the replay endpoints: where to start, and the replay encoding the app asks for.
fn replay_query(starting_offset: i64) -> Vec<(&'static str, String)> {
    vec![
        ("starting_offset", starting_offset.max(0).to_string()),
        ("encoding_tag", REPLAY_ENCODING_TAG.into()),
    ]
}

/// Tunables of a `Client`.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Whole-request timeout (connect + response + body).
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Retries of a transient failure (5xx, timeout, reset, malformed JSON) before giving up.
    pub max_retries: u32,
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// Largest response body accepted; a replay's comments are the biggest known (< 1 MiB).
    pub max_body_bytes: usize,
    pub accept_language: String,
    pub governor: GovernorOptions,
    /// The session's budget: API requests in any window of `budget_window` (60 s; tests
    /// against the simulator's fast clock shrink it).
    pub max_requests_per_minute: u32,
    pub budget_window: Duration,
    /// The session's proxy (http, https, socks5, socks5h) for every API request.
    pub proxy: Option<Url>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(10),
            max_retries: 3,
            retry_base: Duration::from_millis(500),
            retry_max: Duration::from_secs(8),
            max_body_bytes: 8 * 1024 * 1024,
            accept_language: "en-US".into(),
            governor: GovernorOptions::default(),
            max_requests_per_minute: crate::config::DEFAULT_REQUESTS_PER_MINUTE,
            budget_window: Duration::from_secs(60),
            proxy: None,
        }
    }
}

/// Everything clones of a `Client` share.
struct Inner {
    http: reqwest::Client,
    base: Url,
    session: Session,
    options: ClientOptions,
    governor: SessionGovernor,
    budget: RequestBudget,
    stats: RequestStats,
    /// Cookies/token as rotated by Instagram's answers.
    credentials: Credentials,
}

/// A logged-in private-API client. Cheap to clone; clones share the session's governor and
/// counters, which is the point: throttling seen by one poller slows all of them.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.inner.base.as_str())
            .field("session", &self.inner.session)
            .finish()
    }
}

fn header(
    name: &'static str,
    value: &str,
    sensitive: bool,
) -> Result<(HeaderName, HeaderValue), ApiError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        // The value is never echoed: it may be a cookie.
        ApiError::setup(format!(
            "the session's value for header {name} contains characters HTTP does not allow"
        ))
    })?;
    v.set_sensitive(sensitive);
    Ok((HeaderName::from_static(name), v))
}

/// Headers sent on every request (docs/instagram.md §1): the app's fixed ones and the device ids.
/// The credential itself (instagrapi's bearer or ping's cookies) is added per request from
/// `Credentials`, since Instagram rotates it.
fn default_headers(session: &Session, options: &ClientOptions) -> Result<HeaderMap, ApiError> {
    let mut pairs = vec![
        header("user-agent", &session.user_agent, false)?,
        header("x-ig-app-id", ANDROID_APP_ID, false)?,
        header("x-ig-capabilities", CAPABILITIES, false)?,
        header("x-ig-connection-type", "WIFI", false)?,
        header("x-ig-device-id", &session.uuid, false)?,
        header("accept-language", &options.accept_language, false)?,
    ];
    if let Some(android_id) = &session.android_device_id {
        pairs.push(header("x-ig-android-id", android_id, false)?);
    }
    if let Some(phone_id) = &session.phone_id {
        pairs.push(header("x-ig-family-device-id", phone_id, false)?);
    }
    if let Some(auth) = &session.authorization {
        // Checked here so an unusable token is a setup error, not a silently missing header.
        header("authorization", auth, true)?;
        if let Some(pk) = &session.ds_user_id {
            pairs.push(header("ig-u-ds-user-id", pk, false)?);
        }
        if let Some(mid) = session.cookies.get("mid") {
            pairs.push(header("x-mid", mid, true)?);
        }
    } else if !session.cookies.is_empty() {
        let cookie = session
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        header("cookie", &cookie, true)?;
    }
    Ok(pairs.into_iter().collect())
}

/// A proxy URL for messages: its credentials are secrets.
pub fn redacted(url: &Url) -> String {
    let mut u = url.clone();
    if !u.username().is_empty() || u.password().is_some() {
        let _ = u.set_username("…");
        let _ = u.set_password(None);
    }
    u.to_string()
}

/// Ids go into URL paths: only digits, letters, `_` and `-` are accepted, so a bad id in the
/// configuration can never reach another endpoint.
fn check_id(endpoint: Endpoint, target: &str, id: &str) -> Result<(), ApiError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::other(
            endpoint,
            target,
            "invalid id (expected digits)",
        ))
    }
}

/// `Retry-After` as delay-seconds or an HTTP-date (RFC 9110 §10.2.3; IMF-fixdate, the only
/// form senders may generate). A date in the past means "now".
pub fn parse_retry_after(headers: &HeaderMap, now: std::time::SystemTime) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(MAX_DELAY));
    }
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let at = time::PrimitiveDateTime::parse(value, &format)
        .ok()?
        .assume_utc();
    let now = time::OffsetDateTime::from(now);
    let secs = (at - now).whole_seconds().max(0);
    Some(Duration::from_secs(secs.unsigned_abs()).min(MAX_DELAY))
}

/// A request description, kept so retries resend the same thing.
struct Call<'a> {
    endpoint: Endpoint,
    target: String,
    method: Method,
    path: String,
    query: Vec<(&'a str, String)>,
    form: Option<Vec<(&'a str, String)>>,
}

impl Client {
    /// Builds a client for `api_base_url` (e.g. `https://i.instagram.com/api/v1/`; a missing
    /// trailing `/` is added). Fails on a base URL that cannot be joined or session values
    /// that cannot be sent as headers.
    pub fn new(
        api_base_url: Url,
        session: Session,
        options: ClientOptions,
    ) -> Result<Client, ApiError> {
        let mut base = api_base_url;
        if base.cannot_be_a_base() || !matches!(base.scheme(), "http" | "https") {
            return Err(ApiError::setup(format!(
                "API base URL {base} must be an http(s) URL"
            )));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let headers = default_headers(&session, &options)?;
        let mut builder = reqwest::Client::builder();
        if let Some(p) = &options.proxy {
            let proxy = reqwest::Proxy::all(p.as_str())
                .map_err(|e| ApiError::setup(format!("the proxy {}: {e}", redacted(p))))?;
            builder = builder.proxy(proxy);
        }
        let http = builder
            .default_headers(headers)
            .gzip(true)
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .use_rustls_tls()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ApiError::setup(format!("cannot build the HTTP client: {e}")))?;
        let governor = SessionGovernor::new(options.governor.clone());
        let budget = RequestBudget::new(options.max_requests_per_minute, options.budget_window);
        let credentials = Credentials::new(&session);
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                session,
                options,
                governor,
                budget,
                stats: RequestStats::default(),
                credentials,
            }),
        })
    }

    /// Throttling, slowdown and expiry of this session.
    /// Uses a newly loaded session's credential from now on and lets requests through again.
    /// The device identity (user agent, device ids) stays the one the client was built with.
    pub fn reload_session(&self, session: &Session) {
        self.inner.credentials.replace(session);
        self.inner.governor.clear_expiry();
    }

    /// Clears an expiry so the next request tries the session again (a rare retry).
    pub fn retry_expired_session(&self) -> bool {
        self.inner.governor.clear_expiry().is_some()
    }

    pub fn health(&self) -> SessionHealth {
        self.inner.governor.health(Instant::now())
    }

    /// The governor shared by every clone (schedulers read its slowdown).
    pub fn governor(&self) -> &SessionGovernor {
        &self.inner.governor
    }

    /// The session's request budget, shared by every clone.
    pub fn budget(&self) -> &RequestBudget {
        &self.inner.budget
    }

    /// Requests sent so far by endpoint and outcome (`"ok"` or an error kind).
    pub fn stats(&self) -> std::collections::BTreeMap<(Endpoint, Outcome), u64> {
        self.inner.stats.snapshot()
    }

    /// Requests sent to `endpoint` so far, retries included, whatever their outcome.
    pub fn requests_sent(&self, endpoint: Endpoint) -> u64 {
        self.inner.stats.total(endpoint)
    }

    /// The session as loaded (cookies as in the file; see `cookie` for rotated values).
    pub fn session(&self) -> &Session {
        &self.inner.session
    }

    /// The cookies and token as Instagram rotated them (shared by every clone).
    pub fn credentials(&self) -> &Credentials {
        &self.inner.credentials
    }

    /// A cookie's current value, after any rotation by Instagram's `Set-Cookie`.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.inner.credentials.cookie(name)
    }

    /// `feed/user/{pk}/story/`: the user's `broadcast` is set while they are live.
    pub async fn user_story_feed(&self, user_id: &str) -> Result<StoryFeed, ApiError> {
        let target = format!("user {user_id}");
        check_id(Endpoint::StoryFeed, &target, user_id)?;
        self.call(Call {
            endpoint: Endpoint::StoryFeed,
            path: format!("feed/user/{user_id}/story/"),
            target,
            method: Method::GET,
            query: vec![],
            form: None,
        })
        .await
    }

    /// The user's live broadcast, if any (`None` also for a broadcast that has ended).
    pub async fn user_broadcast(&self, user_id: &str) -> Result<Option<Broadcast>, ApiError> {
        let feed = self.user_story_feed(user_id).await?;
        Ok(feed.broadcast.filter(Broadcast::is_live))
    }

    /// `live/{id}/info/`.
    pub async fn broadcast_info(&self, broadcast_id: &str) -> Result<Broadcast, ApiError> {
        self.live_call(
            Endpoint::BroadcastInfo,
            broadcast_id,
            "info/",
            Method::GET,
            vec![],
            None,
        )
        .await
    }

    /// `live/{id}/heartbeat_and_get_viewer_count/`: an unsigned urlencoded POST (docs/instagram.md §1).
    pub async fn heartbeat_and_viewer_count(
        &self,
        broadcast_id: &str,
    ) -> Result<Heartbeat, ApiError> {
        let form = vec![
            ("_csrftoken", self.inner.credentials.csrftoken()),
            ("_uuid", self.inner.session.uuid.clone()),
            ("offset_to_video_start", "0".to_string()),
        ];
        self.live_call(
            Endpoint::Heartbeat,
            broadcast_id,
            "heartbeat_and_get_viewer_count/",
            Method::POST,
            vec![],
            Some(form),
        )
        .await
    }

    /// `live/{id}/get_comment/`; pass 0 first, then `CommentsPage::newest_created_at`.
    pub async fn comments(
        &self,
        broadcast_id: &str,
        last_comment_ts: f64,
    ) -> Result<CommentsPage, ApiError> {
        let ts = if last_comment_ts.is_finite() && last_comment_ts > 0.0 {
            last_comment_ts
        } else {
            0.0
        };
        let ts = if ts.fract() == 0.0 {
            format!("{}", ts as i64)
        } else {
            format!("{ts}")
        };
        self.live_call(
            Endpoint::Comments,
            broadcast_id,
            "get_comment/",
            Method::GET,
            vec![
                ("last_comment_ts", ts),
                ("num_comments_requested", "4".into()),
            ],
            None,
        )
        .await
    }

    /// `live/{id}/get_like_count/`; pass 0 first, then the returned `like_ts`.
    pub async fn like_count(
        &self,
        broadcast_id: &str,
        like_ts: i64,
    ) -> Result<LikeCount, ApiError> {
        self.live_call(
            Endpoint::LikeCount,
            broadcast_id,
            "get_like_count/",
            Method::GET,
            vec![("like_ts", like_ts.max(0).to_string())],
            None,
        )
        .await
    }

    /// `live/{id}/get_post_live_comments/`; page forward from `ending_offset`.
    pub async fn post_live_comments(
        &self,
        broadcast_id: &str,
        starting_offset: i64,
    ) -> Result<PostLiveComments, ApiError> {
        self.live_call(
            Endpoint::PostLiveComments,
            broadcast_id,
            "get_post_live_comments/",
            Method::GET,
            replay_query(starting_offset),
            None,
        )
        .await
    }

    /// `live/{id}/get_post_live_likes/`.
    pub async fn post_live_likes(
        &self,
        broadcast_id: &str,
        starting_offset: i64,
    ) -> Result<PostLiveLikes, ApiError> {
        self.live_call(
            Endpoint::PostLiveLikes,
            broadcast_id,
            "get_post_live_likes/",
            Method::GET,
            replay_query(starting_offset),
            None,
        )
        .await
    }

    /// `users/{pk}/info/`: the account with this pk.
    pub async fn user_info(&self, user_id: &str) -> Result<User, ApiError> {
        let target = format!("user {user_id}");
        check_id(Endpoint::UserInfo, &target, user_id)?;
        let info: UserInfo = self
            .call(Call {
                endpoint: Endpoint::UserInfo,
                path: format!("users/{user_id}/info/"),
                target,
                method: Method::GET,
                query: vec![],
                form: None,
            })
            .await?;
        Ok(info.user)
    }

    /// `users/{username}/usernameinfo/`: the account with this username (dilame's
    /// `user.usernameinfo`, docs/instagram.md §1).
    pub async fn user_by_username(&self, username: &str) -> Result<User, ApiError> {
        let target = format!("@{username}");
        let valid = !username.is_empty()
            && username.len() <= 30
            && username
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_');
        if !valid {
            return Err(ApiError::other(
                Endpoint::UsernameInfo,
                &target,
                "invalid username (letters, digits, `.` and `_`, at most 30)",
            ));
        }
        let info: UserInfo = self
            .call(Call {
                endpoint: Endpoint::UsernameInfo,
                path: format!("users/{username}/usernameinfo/"),
                target,
                method: Method::GET,
                query: vec![],
                form: None,
            })
            .await?;
        Ok(info.user)
    }

    /// `feed/reels_tray/`: live broadcasts of every followed account in one request.
    pub async fn reels_tray(&self) -> Result<ReelsTray, ApiError> {
        self.call(Call {
            endpoint: Endpoint::ReelsTray,
            target: "session".into(),
            method: Method::GET,
            path: "feed/reels_tray/".into(),
            query: vec![],
            form: None,
        })
        .await
    }

    /// `push/register/`: tells Instagram to deliver this session's notifications to an FBNS
    /// token, as an unsigned form (docs/instagram.md §9 "Registration: `push/register`",
    /// instagrapi's and instagram_mqtt's fields). `family_device_id` is the session's
    /// `phone_id` (mgp25) rather than a fresh uuid per call, so repeated registrations look
    /// like one device.
    pub async fn push_register(&self, device_token: &str) -> Result<(), ApiError> {
        let session = &self.inner.session;
        let Some(pk) = session.ds_user_id.clone() else {
            return Err(ApiError::setup(
                "the session has no ds_user_id, which push registration needs; export the session again with its cookies",
            ));
        };
        let form = vec![
            ("device_type", "android_mqtt".to_string()),
            ("is_main_push_channel", "true".to_string()),
            ("device_sub_type", "2".to_string()),
            ("device_token", device_token.to_string()),
            ("_csrftoken", self.inner.credentials.csrftoken()),
            ("guid", session.uuid.clone()),
            ("uuid", session.uuid.clone()),
            ("users", pk),
            (
                "family_device_id",
                session
                    .phone_id
                    .clone()
                    .unwrap_or_else(|| session.uuid.clone()),
            ),
        ];
        let _: Value = self
            .call(Call {
                endpoint: Endpoint::PushRegister,
                target: "session".into(),
                method: Method::POST,
                path: "push/register/".into(),
                query: vec![],
                form: Some(form),
            })
            .await?;
        Ok(())
    }

    async fn live_call<T: DeserializeOwned>(
        &self,
        endpoint: Endpoint,
        broadcast_id: &str,
        suffix: &str,
        method: Method,
        query: Vec<(&str, String)>,
        form: Option<Vec<(&str, String)>>,
    ) -> Result<T, ApiError> {
        let target = format!("broadcast {broadcast_id}");
        check_id(endpoint, &target, broadcast_id)?;
        self.call(Call {
            endpoint,
            target,
            method,
            path: format!("live/{broadcast_id}/{suffix}"),
            query,
            form,
        })
        .await
    }

    /// Sends a call through the governor, retrying transient failures, and decodes the body.
    async fn call<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T, ApiError> {
        let value = self.call_value(&call).await?;
        serde_json::from_value(value).map_err(|e| {
            ApiError::other(
                call.endpoint,
                &call.target,
                format!("unexpected response shape: {e}"),
            )
        })
    }

    async fn call_value(&self, call: &Call<'_>) -> Result<Value, ApiError> {
        let inner = &self.inner;
        let mut attempt: u32 = 0;
        loop {
            inner
                .governor
                .wait_ready(call.endpoint, &call.target)
                .await?;
            // Every attempt, retries included, is a request the budget counts.
            inner.budget.acquire(call.endpoint.priority()).await;
            let sending = inner.stats.sending(call.endpoint);
            let result = self.send_once(call).await;
            sending.answered(match &result {
                Ok(_) => "ok",
                Err(e) => e.kind().as_str(),
            });
            match result {
                Ok(v) => {
                    inner.governor.on_answer();
                    return Ok(v);
                }
                Err(mut e) => {
                    inner.governor.observe(Instant::now(), &e);
                    if !matches!(e, ApiError::Transient { .. }) {
                        // An answer, even a refusal: the session is reachable.
                        inner.governor.on_answer();
                    }
                    if let ApiError::Transient { attempts, .. } = &mut e {
                        *attempts = attempt + 1;
                        if attempt < inner.options.max_retries.min(MAX_RETRIES) {
                            let delay =
                                Backoff::new(inner.options.retry_base, inner.options.retry_max)
                                    .delay_for(attempt);
                            tracing::debug!(endpoint = %call.endpoint, target = %call.target, attempt, ?delay, "retrying: {e}");
                            tokio::time::sleep(delay).await;
                            attempt += 1;
                            continue;
                        }
                    }
                    if matches!(e, ApiError::Transient { .. }) {
                        inner
                            .governor
                            .on_failed_call(Instant::now(), &e.to_string());
                    }
                    tracing::debug!(endpoint = %call.endpoint, target = %call.target, "request failed: {e}");
                    return Err(e);
                }
            }
        }
    }

    async fn send_once(&self, call: &Call<'_>) -> Result<Value, ApiError> {
        let inner = &self.inner;
        let url = inner
            .base
            .join(&call.path)
            .map_err(|e| ApiError::other(call.endpoint, &call.target, format!("bad URL: {e}")))?;
        let mut req = inner.http.request(call.method.clone(), url);
        if let Some(auth) = inner.credentials.authorization_header() {
            req = req.header(reqwest::header::AUTHORIZATION, auth);
        } else if let Some(cookie) = inner.credentials.cookie_header() {
            req = req.header(reqwest::header::COOKIE, cookie);
        }
        if !call.query.is_empty() {
            req = req.query(&call.query);
        }
        if let Some(form) = &call.form {
            req = req.form(form);
        }
        let net = |e: reqwest::Error| {
            let what = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "connection failed"
            } else {
                "network error"
            };
            // `without_url` keeps ids and query strings out of the message.
            ApiError::transient(
                call.endpoint,
                &call.target,
                format!("{what}: {}", e.without_url()),
            )
        };
        let mut resp = req.send().await.map_err(net)?;
        let status = resp.status().as_u16();
        let retry_after = parse_retry_after(resp.headers(), std::time::SystemTime::now());
        inner.credentials.update_from(resp.headers());
        if resp.status().is_redirection() {
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok());
            return Err(classify_redirect(
                call.endpoint,
                &call.target,
                status,
                location,
            ));
        }
        let mut body: Vec<u8> = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(net)? {
            if body.len() + chunk.len() > inner.options.max_body_bytes {
                return Err(ApiError::transient(
                    call.endpoint,
                    &call.target,
                    format!(
                        "response larger than {} bytes",
                        inner.options.max_body_bytes
                    ),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        classify(call.endpoint, &call.target, status, retry_after, &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{SystemTime, UNIX_EPOCH};

    fn retry_after(v: &str, now: SystemTime) -> Option<Duration> {
        let mut h = HeaderMap::new();
        h.insert(
            reqwest::header::RETRY_AFTER,
            HeaderValue::from_str(v).expect("valid"),
        );
        parse_retry_after(&h, now)
    }

    #[test]
    fn retry_after_seconds_and_http_dates() {
        // Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example).
        let date = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(retry_after("120", date), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:51:37 GMT", date),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            retry_after(
                "Sun, 06 Nov 1994 08:49:37 GMT",
                date + Duration::from_secs(5)
            ),
            Some(Duration::ZERO),
            "a past date means now"
        );
        assert_eq!(retry_after("soon", date), None);
        assert_eq!(retry_after("-5", date), None);
        assert_eq!(
            retry_after("99999999999999", date),
            Some(MAX_DELAY),
            "capped"
        );
    }
}
