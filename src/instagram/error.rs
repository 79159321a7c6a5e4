//! Typed private-API failures, classified the way instagrapi (`mixins/private.py`) and ping
//! (`client.py`) read Instagram's answers (docs/instagram.md §2 "Errors"). Every message names the
//! endpoint and the account or broadcast concerned, and never contains cookies or tokens.

use std::borrow::Cow;
use std::time::Duration;

use serde_json::Value;

use super::endpoint::Endpoint;

/// The coarse class of an `ApiError`, for callers that only need to pick a reaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ApiErrorKind {
    LoginRequired,
    Challenge,
    Throttled,
    NotFound,
    Transient,
    Http,
    Other,
}

impl ApiErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiErrorKind::LoginRequired => "login_required",
            ApiErrorKind::Challenge => "challenge",
            ApiErrorKind::Throttled => "throttled",
            ApiErrorKind::NotFound => "not_found",
            ApiErrorKind::Transient => "transient",
            ApiErrorKind::Http => "http",
            ApiErrorKind::Other => "other",
        }
    }

    /// Whether this failure means the session can no longer be used until a human acts.
    pub fn expires_session(self) -> bool {
        matches!(self, ApiErrorKind::LoginRequired | ApiErrorKind::Challenge)
    }
}

/// A failed private-API call. `target` is what the call was about (`user 123`,
/// `broadcast 456`, `session`).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("{endpoint} for {target}: session expired or invalid ({message}); log in again and replace the session file")]
    LoginRequired {
        endpoint: Endpoint,
        target: String,
        message: String,
    },
    #[error("{endpoint} for {target}: Instagram requires a {} ({}); resolve it in the Instagram app, then replace the session file",
        if *.suspended { "review of a suspended account" } else { "challenge" },
        .url.as_deref().unwrap_or("no challenge URL given"))]
    Challenge {
        endpoint: Endpoint,
        target: String,
        url: Option<String>,
        suspended: bool,
    },
    #[error("{endpoint} for {target}: throttled by Instagram ({message}){}",
        .retry_after.map(|d| format!(", retry after {} s", d.as_secs())).unwrap_or_default())]
    Throttled {
        endpoint: Endpoint,
        target: String,
        retry_after: Option<Duration>,
        message: String,
    },
    #[error("{endpoint} for {target}: not found ({message})")]
    NotFound {
        endpoint: Endpoint,
        target: String,
        message: String,
    },
    #[error("{endpoint} for {target}: temporary failure after {attempts} attempt(s): {detail}")]
    Transient {
        endpoint: Endpoint,
        target: String,
        detail: String,
        attempts: u32,
    },
    #[error("{endpoint} for {target}: HTTP {status}: {message}")]
    Http {
        endpoint: Endpoint,
        target: String,
        status: u16,
        message: String,
    },
    /// The client could not be built (bad base URL, session values unusable as headers).
    #[error("Instagram client setup: {message}")]
    Setup { message: String },
    #[error("{endpoint} for {target}: {message}")]
    Other {
        endpoint: Endpoint,
        target: String,
        message: String,
    },
}

impl ApiError {
    pub fn kind(&self) -> ApiErrorKind {
        match self {
            ApiError::LoginRequired { .. } => ApiErrorKind::LoginRequired,
            ApiError::Challenge { .. } => ApiErrorKind::Challenge,
            ApiError::Throttled { .. } => ApiErrorKind::Throttled,
            ApiError::NotFound { .. } => ApiErrorKind::NotFound,
            ApiError::Transient { .. } => ApiErrorKind::Transient,
            ApiError::Http { .. } => ApiErrorKind::Http,
            ApiError::Other { .. } | ApiError::Setup { .. } => ApiErrorKind::Other,
        }
    }

    /// The endpoint concerned (`None` for setup errors).
    pub fn endpoint(&self) -> Option<Endpoint> {
        match self {
            ApiError::LoginRequired { endpoint, .. }
            | ApiError::Challenge { endpoint, .. }
            | ApiError::Throttled { endpoint, .. }
            | ApiError::NotFound { endpoint, .. }
            | ApiError::Transient { endpoint, .. }
            | ApiError::Http { endpoint, .. }
            | ApiError::Other { endpoint, .. } => Some(*endpoint),
            ApiError::Setup { .. } => None,
        }
    }

    pub(crate) fn other(endpoint: Endpoint, target: &str, message: impl Into<String>) -> Self {
        ApiError::Other {
            endpoint,
            target: target.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn setup(message: impl Into<String>) -> Self {
        ApiError::Setup {
            message: message.into(),
        }
    }

    pub(crate) fn transient(endpoint: Endpoint, target: &str, detail: impl Into<String>) -> Self {
        ApiError::Transient {
            endpoint,
            target: target.to_string(),
            detail: detail.into(),
            attempts: 1,
        }
    }
}

/// Longest server message quoted in an error, so a huge HTML page never floods the log.
const MAX_MESSAGE: usize = 200;

fn clip(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(MAX_MESSAGE) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Parses a body as JSON, tolerating what strict parsing refuses but a person would still
/// read: invalid UTF-8 bytes and lone UTF-16 surrogate escapes (`"\udc80"`) in strings become
/// U+FFFD, so one odd comment cannot make a whole page of comments unreadable.
pub fn lenient_json(body: &[u8]) -> Option<Value> {
    if let Ok(v) = serde_json::from_slice(body) {
        return Some(v);
    }
    let text = String::from_utf8_lossy(body);
    let fixed = replace_lone_surrogates(&text);
    serde_json::from_str(&fixed).ok()
}

fn replace_lone_surrogates(s: &str) -> String {
    let b = s.as_bytes();
    let hex_at = |i: usize| -> Option<u16> {
        let h = s.get(i..i + 4)?;
        u16::from_str_radix(h, 16).ok()
    };
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut last = 0;
    while i + 1 < b.len() {
        if b[i] == b'\\' {
            if b[i + 1] == b'u' {
                if let Some(u) = hex_at(i + 2) {
                    let high = (0xD800..0xDC00).contains(&u);
                    let low = (0xDC00..0xE000).contains(&u);
                    let paired = high
                        && b.get(i + 6) == Some(&b'\\')
                        && b.get(i + 7) == Some(&b'u')
                        && hex_at(i + 8).is_some_and(|l| (0xDC00..0xE000).contains(&l));
                    if (high || low) && !paired {
                        out.push_str(&s[last..i]);
                        out.push_str("\\ufffd");
                        i += 6;
                        last = i;
                        continue;
                    }
                    i += if paired { 12 } else { 6 };
                    continue;
                }
            }
            i += 2;
            continue;
        }
        i += 1;
    }
    out.push_str(&s[last..]);
    out
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Turns one HTTP answer into the JSON body or a typed error. `retry_after` is the parsed
/// `Retry-After` header. Pure, so every branch is unit-tested without a server.
pub fn classify(
    endpoint: Endpoint,
    target: &str,
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> Result<Value, ApiError> {
    let answer = Answer::read(body);
    // A body's own signal is more specific than its status (a 400 may be a challenge or
    // throttling, a 200 may say `login_required`), so it is read first.
    if let Some(e) = signalled_error(endpoint, target, status, retry_after, &answer) {
        return Err(e);
    }
    if let Some(e) = status_error(endpoint, target, status, &answer) {
        return Err(e);
    }
    successful_body(endpoint, target, answer)
}

/// The parts of a body the classification reads (empty strings when absent or not JSON).
struct Answer<'a> {
    json: Option<Value>,
    text: Cow<'a, str>,
    message: String,
    error_type: String,
    feedback: String,
}

impl<'a> Answer<'a> {
    fn read(body: &'a [u8]) -> Self {
        let json = lenient_json(body);
        let field = |key: &str| {
            json.as_ref()
                .and_then(|v| str_field(v, key))
                .unwrap_or("")
                .to_string()
        };
        let (message, error_type, feedback) = (
            field("message"),
            field("error_type"),
            field("feedback_message"),
        );
        Answer {
            json,
            text: String::from_utf8_lossy(body),
            message,
            error_type,
            feedback,
        }
    }

    fn is_challenge(&self) -> bool {
        self.message == "challenge_required"
            || self.message == "checkpoint_required"
            || self.error_type == "checkpoint_challenge_required"
            || self.error_type == "challenge_required"
    }

    fn is_throttled(&self, status: u16) -> bool {
        status == 429
            || self.message == "feedback_required"
            || self.message.contains("Please wait a few minutes")
            || self.feedback.contains("Please wait a few minutes")
            || self.error_type == "rate_limit_error"
            || self.error_type == "sentry_block"
    }

    /// The first thing the body says, clipped, or else the status.
    fn throttle_reason(&self, status: u16) -> String {
        [
            self.message.as_str(),
            self.error_type.as_str(),
            self.feedback.as_str(),
        ]
        .into_iter()
        .find(|s| !s.is_empty())
        .map(clip)
        .unwrap_or_else(|| format!("HTTP {status}"))
    }

    /// The server's message for an error, or `fallback` when it gave none.
    fn message_or(&self, fallback: impl FnOnce() -> String) -> String {
        if self.message.is_empty() {
            fallback()
        } else {
            clip(&self.message)
        }
    }
}

/// The errors the body names itself with `message` or `error_type` (and 429, which always
/// means throttling), whatever the status.
fn signalled_error(
    endpoint: Endpoint,
    target: &str,
    status: u16,
    retry_after: Option<Duration>,
    answer: &Answer<'_>,
) -> Option<ApiError> {
    // ping raises LoginRequired on this message even inside a 200.
    if answer.message == "login_required" || answer.error_type == "login_required" {
        return Some(ApiError::LoginRequired {
            endpoint,
            target: target.to_string(),
            message: "login_required".into(),
        });
    }
    if answer.is_challenge() {
        return Some(challenge(endpoint, target, answer.json.as_ref()));
    }
    if answer.is_throttled(status) {
        return Some(ApiError::Throttled {
            endpoint,
            target: target.to_string(),
            retry_after,
            message: answer.throttle_reason(status),
        });
    }
    None
}

/// A challenge, with where to resolve it when the body says (a `/suspended/` URL means the
/// account itself is under review).
fn challenge(endpoint: Endpoint, target: &str, json: Option<&Value>) -> ApiError {
    let url = json.and_then(|v| {
        v.get("challenge")
            .and_then(|c| str_field(c, "url").or_else(|| str_field(c, "api_path")))
            .or_else(|| str_field(v, "checkpoint_url"))
            .map(str::to_string)
    });
    let suspended = url.as_deref().is_some_and(|u| u.contains("/suspended/"));
    ApiError::Challenge {
        endpoint,
        target: target.to_string(),
        url,
        suspended,
    }
}

/// The error a status means when the body named none; `None` for 2xx.
fn status_error(
    endpoint: Endpoint,
    target: &str,
    status: u16,
    answer: &Answer<'_>,
) -> Option<ApiError> {
    match status {
        200..=299 => None,
        // instarec: bad web cookies answer 401/403; the app's API answers 403.
        401 | 403 => Some(ApiError::LoginRequired {
            endpoint,
            target: target.to_string(),
            message: format!("HTTP {status}"),
        }),
        404 => Some(not_found(endpoint, target, answer)),
        408 | 500..=599 => Some(ApiError::transient(
            endpoint,
            target,
            format!("HTTP {status}"),
        )),
        _ => Some(ApiError::Http {
            endpoint,
            target: target.to_string(),
            status,
            message: answer.message_or(|| clip(&answer.text)),
        }),
    }
}

/// A 404: gone on a `live/{id}/…` endpoint, while elsewhere a bare `Not Found` page is a
/// hidden challenge (instagrapi; docs/instagram.md §2 "Errors").
fn not_found(endpoint: Endpoint, target: &str, answer: &Answer<'_>) -> ApiError {
    if !endpoint.is_live() && answer.json.is_none() && answer.text.trim() == "Not Found" {
        return ApiError::Challenge {
            endpoint,
            target: target.to_string(),
            url: None,
            suspended: false,
        };
    }
    ApiError::NotFound {
        endpoint,
        target: target.to_string(),
        message: answer.message_or(|| "HTTP 404".into()),
    }
}

/// A 2xx answer's body, provided it is a JSON object that does not report a failure.
fn successful_body(
    endpoint: Endpoint,
    target: &str,
    mut answer: Answer<'_>,
) -> Result<Value, ApiError> {
    let Some(json) = answer.json.take() else {
        return Err(ApiError::transient(
            endpoint,
            target,
            "malformed JSON in a 200 response",
        ));
    };
    if !json.is_object() {
        return Err(ApiError::transient(
            endpoint,
            target,
            "JSON response is not an object",
        ));
    }
    // A heartbeat answering `status: "fail"` with no error signal means "the host lost
    // connection" (PyInstaLive, docs/instagram.md §2 "Heartbeat"): data for the poller, not an error.
    if str_field(&json, "status") == Some("fail") && endpoint != Endpoint::Heartbeat {
        return Err(ApiError::other(
            endpoint,
            target,
            format!(
                "Instagram answered status=fail: {}",
                answer.message_or(|| "no message".into())
            ),
        ));
    }
    Ok(json)
}

/// The client follows no redirects: the private API never redirects a valid call, while a
/// dead or flagged session gets sent to the login page or a challenge (instarec reads an HTML
/// login page as "cookies bad"). Following them would turn that into a confusing 200.
pub fn classify_redirect(
    endpoint: Endpoint,
    target: &str,
    status: u16,
    location: Option<&str>,
) -> ApiError {
    let loc = location.unwrap_or("");
    if loc.contains("/challenge") || loc.contains("/suspended/") || loc.contains("checkpoint") {
        ApiError::Challenge {
            endpoint,
            target: target.to_string(),
            url: Some(clip(loc)),
            suspended: loc.contains("/suspended/"),
        }
    } else if loc.contains("login") {
        ApiError::LoginRequired {
            endpoint,
            target: target.to_string(),
            message: format!("HTTP {status} redirect to the login page"),
        }
    } else {
        ApiError::Http {
            endpoint,
            target: target.to_string(),
            status,
            message: format!("unexpected redirect to {}", clip(loc)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_json_survives_lone_surrogates_and_bad_utf8() {
        let v =
            lenient_json(br#"{"a":"x\udc80y","b":"\ud83d\ude00","c":"\\udc80"}"#).expect("parses");
        assert_eq!(v["a"], "x\u{fffd}y");
        assert_eq!(v["b"], "\u{1f600}");
        assert_eq!(v["c"], "\\udc80");
        let v = lenient_json(b"{\"a\":\"\xff\xfe ok\"}").expect("parses");
        assert_eq!(v["a"], "\u{fffd}\u{fffd} ok");
        assert!(lenient_json(b"{not json").is_none());
    }

    fn kind(endpoint: Endpoint, status: u16, body: &str) -> ApiErrorKind {
        classify(endpoint, "user 1", status, None, body.as_bytes())
            .expect_err("should be an error")
            .kind()
    }

    #[test]
    fn classification_table() {
        use ApiErrorKind::*;
        let feed = Endpoint::StoryFeed;
        let live = Endpoint::BroadcastInfo;
        assert_eq!(
            kind(feed, 403, r#"{"message":"login_required","status":"fail"}"#),
            LoginRequired
        );
        assert_eq!(
            kind(feed, 200, r#"{"message":"login_required","status":"fail"}"#),
            LoginRequired
        );
        assert_eq!(kind(feed, 403, "Forbidden"), LoginRequired);
        assert_eq!(
            kind(
                feed,
                400,
                r#"{"message":"challenge_required","challenge":{"url":"https://i.instagram.com/challenge/1/"}}"#
            ),
            Challenge
        );
        assert_eq!(
            kind(feed, 400, r#"{"message":"checkpoint_required"}"#),
            Challenge
        );
        assert_eq!(kind(feed, 429, ""), Throttled);
        assert_eq!(
            kind(
                feed,
                400,
                r#"{"message":"feedback_required","feedback_message":"x"}"#
            ),
            Throttled
        );
        assert_eq!(
            kind(
                feed,
                400,
                r#"{"message":"Please wait a few minutes before you try again."}"#
            ),
            Throttled
        );
        assert_eq!(
            kind(
                feed,
                400,
                r#"{"message":"x","error_type":"rate_limit_error"}"#
            ),
            Throttled
        );
        assert_eq!(
            kind(feed, 400, r#"{"message":"x","error_type":"sentry_block"}"#),
            Throttled
        );
        assert_eq!(kind(live, 404, "Not Found"), NotFound);
        assert_eq!(kind(feed, 404, "Not Found"), Challenge);
        assert_eq!(
            kind(feed, 404, r#"{"message":"User not found","status":"fail"}"#),
            NotFound
        );
        assert_eq!(kind(feed, 500, "oops"), Transient);
        assert_eq!(kind(feed, 502, ""), Transient);
        assert_eq!(kind(feed, 200, "{not json"), Transient);
        assert_eq!(kind(feed, 200, "<html>login</html>"), Transient);
        assert_eq!(kind(feed, 418, "teapot"), Http);
        assert_eq!(
            kind(
                feed,
                200,
                r#"{"message":"User is not live","status":"fail"}"#
            ),
            Other
        );
    }

    #[test]
    fn challenge_url_and_suspension() {
        let e = classify(
            Endpoint::ReelsTray,
            "session",
            400,
            None,
            br#"{"message":"challenge_required","challenge":{"url":"https://www.instagram.com/accounts/suspended/?x=1"}}"#,
        )
        .expect_err("challenge");
        match &e {
            ApiError::Challenge { url, suspended, .. } => {
                assert!(url.as_deref().is_some_and(|u| u.contains("/suspended/")));
                assert!(*suspended);
            }
            other => panic!("unexpected {other:?}"),
        }
        let msg = e.to_string();
        assert!(
            msg.contains("reels_tray") && msg.contains("session"),
            "{msg}"
        );
    }

    #[test]
    fn throttled_keeps_retry_after_and_names_target() {
        let e = classify(
            Endpoint::Comments,
            "broadcast 9",
            429,
            Some(Duration::from_secs(30)),
            b"",
        )
        .expect_err("throttled");
        assert!(
            matches!(e, ApiError::Throttled { retry_after: Some(d), .. } if d == Duration::from_secs(30))
        );
        let msg = e.to_string();
        assert!(
            msg.contains("comments") && msg.contains("broadcast 9") && msg.contains("30 s"),
            "{msg}"
        );
    }

    #[test]
    fn redirects() {
        let e =
            |loc: Option<&str>| classify_redirect(Endpoint::StoryFeed, "user 1", 302, loc).kind();
        assert_eq!(
            e(Some("https://www.instagram.com/accounts/login/?next=x")),
            ApiErrorKind::LoginRequired
        );
        assert_eq!(
            e(Some("https://www.instagram.com/challenge/?next=x")),
            ApiErrorKind::Challenge
        );
        assert_eq!(
            e(Some("https://www.instagram.com/accounts/suspended/")),
            ApiErrorKind::Challenge
        );
        assert_eq!(e(Some("https://example.com/")), ApiErrorKind::Http);
        assert_eq!(e(None), ApiErrorKind::Http);
    }

    #[test]
    fn failed_heartbeat_is_data() {
        let v = classify(
            Endpoint::Heartbeat,
            "broadcast 1",
            200,
            None,
            br#"{"status":"fail"}"#,
        )
        .expect("the poller reads it");
        assert_eq!(v["status"], "fail");
        assert_eq!(
            kind(
                Endpoint::Heartbeat,
                200,
                r#"{"message":"login_required","status":"fail"}"#
            ),
            ApiErrorKind::LoginRequired
        );
    }

    #[test]
    fn ok_body_is_returned() {
        let v = classify(
            Endpoint::StoryFeed,
            "user 1",
            200,
            None,
            br#"{"broadcast":null,"status":"ok"}"#,
        )
        .expect("ok");
        assert!(v.get("broadcast").is_some());
    }

    #[test]
    fn huge_messages_are_clipped() {
        let body = format!(r#"{{"message":"{}"}}"#, "a".repeat(10_000));
        let e =
            classify(Endpoint::StoryFeed, "user 1", 400, None, body.as_bytes()).expect_err("err");
        assert!(e.to_string().len() < 400);
    }
}
