//! The pool of sessions: `instagram.session_file` for one, `[[sessions]]` for several, each
//! with its own budget, proxy and push switch; and `[push]`, how push connections are made.

use std::path::Path;
use std::time::Duration;

use super::raw::{RawInstagram, RawPush, RawSession, RawWatch};
use super::{ConfigError, InstagramConfig, PushConfig, SessionConfig, SessionFile, Source};

/// A session's budget when the file sets none: one request a second on average. At the
/// default poll intervals one recording asks for about 40 a minute, so a couple of recordings
/// share it by stretching their intervals (the pool plans that).
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 60;
/// The largest budget accepted: far beyond anything Instagram tolerates from one account.
const MAX_REQUESTS_PER_MINUTE: u32 = 100_000;
/// The name of the one session `instagram.session_file` describes.
const DEFAULT_SESSION_NAME: &str = "default";

impl InstagramConfig {
    /// The `[instagram]` table and the sessions, in the order they are written.
    pub(super) fn from_raw(
        raw: RawInstagram,
        sessions: Vec<RawSession>,
        watch: &RawWatch,
        push: &RawPush,
        base: &Path,
        src: &Source<'_>,
        warnings: &mut Vec<ConfigError>,
    ) -> Result<InstagramConfig, ConfigError> {
        let api_base_url = api_base_url(&raw.api_base_url, src)?;
        let budget = default_budget(&raw, watch, src, warnings)?;
        let sessions = match (raw.session_file, sessions.is_empty()) {
            (Some(_), false) => {
                return Err(src.error(
                    "instagram",
                    "session_file",
                    None,
                    "use either instagram.session_file (one session) or [[sessions]] entries (a pool), not both",
                ))
            }
            (None, true) => {
                return Err(src.error(
                    "instagram",
                    "session_file",
                    None,
                    "missing: name the session file (e.g. session_file = \"session.json\"), or list [[sessions]] entries",
                ))
            }
            (Some(file), true) => vec![SessionConfig {
                name: DEFAULT_SESSION_NAME.into(),
                session_file: SessionFile::parse(file.trim(), base)
                    .map_err(|m| src.error("instagram", "session_file", None, m))?,
                max_requests_per_minute: budget,
                proxy: None,
                proxy_cdn: false,
                push: push.enabled,
            }],
            (None, false) => session_list(sessions, budget, push.enabled, base, src)?,
        };
        let window = raw.budget_window;
        if !(Duration::from_millis(100)..=Duration::from_secs(60)).contains(&window) {
            return Err(src.error(
                "instagram",
                "budget_window",
                None,
                "must be within 100ms..=60s (leave it out: 60s; shorter only for the simulator's fast clock)",
            ));
        }
        Ok(InstagramConfig {
            api_base_url,
            budget_window: window,
            request_timeout: raw.request_timeout,
            session_retry: raw.session_retry,
            throttle_pause: raw.throttle_pause,
            sessions,
        })
    }
}

fn api_base_url(raw: &str, src: &Source<'_>) -> Result<url::Url, ConfigError> {
    // Joining endpoint paths onto the base drops its last segment unless it ends in `/`.
    let mut api = raw.trim().to_string();
    if !api.ends_with('/') {
        api.push('/');
    }
    url::Url::parse(&api)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| {
            src.error(
                "instagram",
                "api_base_url",
                None,
                format!(
                    "expected an http(s) URL like \"https://i.instagram.com/api/v1/\", got {api:?}"
                ),
            )
        })
}

/// `instagram.max_requests_per_minute`, or the old `watch.max_requests_per_minute` (with a
/// warning: it covered detection only, the budget now covers every request of a session).
fn default_budget(
    raw: &RawInstagram,
    watch: &RawWatch,
    src: &Source<'_>,
    warnings: &mut Vec<ConfigError>,
) -> Result<u32, ConfigError> {
    if let Some(old) = watch.max_requests_per_minute {
        let mut w = src.error(
            "watch",
            "max_requests_per_minute",
            None,
            "renamed to instagram.max_requests_per_minute, and it now counts every API request of a session (detection, heartbeats, chat, likes), not only detection",
        );
        if raw.max_requests_per_minute.is_some() {
            w.message
                .push_str("; ignored, since instagram.max_requests_per_minute is set");
        } else {
            w.message.push_str(&format!(
                "; taken as instagram.max_requests_per_minute = {old} for now"
            ));
        }
        warnings.push(w);
    }
    let budget = raw
        .max_requests_per_minute
        .or(watch.max_requests_per_minute)
        .unwrap_or(DEFAULT_REQUESTS_PER_MINUTE);
    check_budget(
        budget,
        || {
            if raw.max_requests_per_minute.is_some() {
                ("instagram", None)
            } else {
                ("watch", None)
            }
        },
        src,
    )
}

fn check_budget(
    budget: u32,
    at: impl Fn() -> (&'static str, Option<usize>),
    src: &Source<'_>,
) -> Result<u32, ConfigError> {
    if (1..=MAX_REQUESTS_PER_MINUTE).contains(&budget) {
        Ok(budget)
    } else {
        let (section, index) = at();
        Err(src.error(
            section,
            "max_requests_per_minute",
            index,
            format!("must be from 1 to {MAX_REQUESTS_PER_MINUTE}"),
        ))
    }
}

/// The `[[sessions]]` entries: named (default: the file's stem), unique, each with a budget.
fn session_list(
    raw: Vec<RawSession>,
    default_budget: u32,
    push_default: bool,
    base: &Path,
    src: &Source<'_>,
) -> Result<Vec<SessionConfig>, ConfigError> {
    let mut out: Vec<SessionConfig> = Vec::with_capacity(raw.len());
    for (i, s) in raw.into_iter().enumerate() {
        let at = |key: &str, m: String| src.error("sessions", key, Some(i), m);
        let session_file =
            SessionFile::parse(s.session_file.trim(), base).map_err(|m| at("session_file", m))?;
        let name = match s.name {
            Some(n) => n.trim().to_string(),
            None => default_name(&session_file),
        };
        if !valid_name(&name) {
            return Err(at(
                "name",
                format!("expected letters, digits, '.', '_' or '-' (at most 64), got {name:?}"),
            ));
        }
        if out.iter().any(|o| o.name == name) {
            return Err(at("name", format!("session {name:?} is listed twice")));
        }
        let budget = s.max_requests_per_minute.unwrap_or(default_budget);
        let budget = check_budget(budget, || ("sessions", Some(i)), src)?;
        let proxy = match s.proxy.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            Some(p) => Some(parse_proxy(p).map_err(|m| at("proxy", m))?),
            None => None,
        };
        if s.proxy_cdn && proxy.is_none() {
            return Err(at(
                "proxy_cdn",
                "needs a proxy to send the CDN traffic through".into(),
            ));
        }
        out.push(SessionConfig {
            name,
            session_file,
            max_requests_per_minute: budget,
            proxy,
            proxy_cdn: s.proxy_cdn,
            push: s.push.unwrap_or(push_default),
        });
    }
    Ok(out)
}

fn default_name(file: &SessionFile) -> String {
    let stem = match file {
        SessionFile::Path(p) => p.file_stem().map(|s| s.to_string_lossy().into_owned()),
        SessionFile::Credential(name) => Path::new(name)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned()),
    };
    stem.unwrap_or_else(|| DEFAULT_SESSION_NAME.into())
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// A proxy URL reqwest can use: `http://`, `https://`, `socks5://` or `socks5h://`.
fn parse_proxy(value: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(value)
        .map_err(|e| format!("expected a URL like \"socks5://127.0.0.1:1080\": {e}"))?;
    if !matches!(url.scheme(), "http" | "https" | "socks5" | "socks5h") {
        return Err(format!(
            "the proxy's scheme must be http, https, socks5 or socks5h, got {:?}",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the proxy URL has no host".into());
    }
    Ok(url)
}

impl PushConfig {
    /// `[push]`; the state folder defaults to `push` beside the database.
    pub(super) fn from_raw(
        raw: RawPush,
        base: &Path,
        database: &Path,
        src: &Source<'_>,
    ) -> Result<PushConfig, ConfigError> {
        if raw.host.trim().is_empty() {
            return Err(src.error("push", "host", None, "must not be empty"));
        }
        let state_dir = match raw.state_dir {
            Some(d) => base.join(d),
            None => database
                .parent()
                .map_or_else(|| base.join("push"), |p| p.join("push")),
        };
        Ok(PushConfig {
            state_dir,
            host: raw.host.trim().to_string(),
            port: raw.port,
            ca_file: raw.ca_file.map(|f| base.join(f)),
            keep_alive: raw.keep_alive,
            ping_timeout: raw.ping_timeout,
            connack_timeout: raw.connack_timeout,
            backoff_max: raw.backoff_max,
        })
    }
}
