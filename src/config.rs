//! The configuration file: what to watch, how gently to poll, where recordings go.
//!
//! Key names are a public contract (users' files and systemd units depend on them), so the file is
//! parsed strictly: unknown keys are errors, and every error names the file, the line and the key,
//! e.g. `config/iglive.toml:12: recording.heartbeat_interval: expected a duration like "7s"`.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Where the config is looked for when `-c` and `$IGLIVE_CONFIG` are absent.
pub const DEFAULT_CONFIG_PATH: &str = "config/iglive.toml";

/// A config error that points at the offending place so the user can fix it in one go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line, when the error can be tied to one.
    pub line: Option<usize>,
    /// Dotted key path such as `recording.heartbeat_interval` or `accounts[1].user_id`.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": ")?;
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The validated configuration, with every path made absolute against the config file's folder.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was loaded from (for reloads on SIGHUP and for messages).
    pub path: PathBuf,
    pub instagram: InstagramConfig,
    pub watch: WatchConfig,
    pub recording: RecordingConfig,
    pub storage: StorageConfig,
    pub status: StatusConfig,
    pub accounts: Vec<AccountConfig>,
    /// `[[notify]]` hooks (docs/notifications.md); empty when none are configured.
    pub notify: Vec<NotifyConfig>,
}

#[derive(Debug, Clone)]
pub struct InstagramConfig {
    pub api_base_url: url::Url,
    pub session_file: PathBuf,
    pub request_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct WatchConfig {
    pub poll_interval: Duration,
    pub max_requests_per_minute: u32,
    /// Use one `feed/reels_tray/` call as a fast path for followed accounts.
    pub use_reels_tray: bool,
}

/// Which capture engine records the video (see issue 5: native is the default, ffmpeg the fallback).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Native,
    Ffmpeg,
}

#[derive(Debug, Clone)]
pub struct RecordingConfig {
    pub heartbeat_interval: Duration,
    pub comments_interval: Duration,
    pub likes_interval: Duration,
    pub interrupted_grace: Duration,
    pub rewind: bool,
    pub engine: Engine,
    pub max_height: Option<u32>,
    pub keep_segments: bool,
    pub max_concurrent: usize,
}

#[derive(Debug, Clone)]
pub struct StorageConfig {
    pub recordings_dir: PathBuf,
    pub database: PathBuf,
    pub min_free_space: u64,
}

#[derive(Debug, Clone, Default)]
pub struct StatusConfig {
    /// `None` when `listen = "off"`.
    pub listen: Option<SocketAddr>,
    /// A file holding the API token of the listener (required when it is not loopback).
    pub token_file: Option<PathBuf>,
    /// Origins allowed to call the API from a browser (CORS); none by default.
    pub cors_origins: Vec<String>,
}

/// One watched account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountConfig {
    /// Numeric Instagram user pk, kept as a string (pks exceed what some JSON tools keep exact).
    pub user_id: String,
    pub label: Option<String>,
}

impl AccountConfig {
    /// The name used in logs until the real username is known.
    pub fn display_name(&self) -> &str {
        self.label.as_deref().unwrap_or(&self.user_id)
    }
}

/// The events a `[[notify]]` hook can subscribe to (names are part of the payload contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyEvent {
    LiveDetected,
    RecordingStarted,
    RecordingFinished,
    RecordingFailed,
    SessionExpired,
}

impl NotifyEvent {
    pub const ALL: [NotifyEvent; 5] = [
        NotifyEvent::LiveDetected,
        NotifyEvent::RecordingStarted,
        NotifyEvent::RecordingFinished,
        NotifyEvent::RecordingFailed,
        NotifyEvent::SessionExpired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::LiveDetected => "live_detected",
            NotifyEvent::RecordingStarted => "recording_started",
            NotifyEvent::RecordingFinished => "recording_finished",
            NotifyEvent::RecordingFailed => "recording_failed",
            NotifyEvent::SessionExpired => "session_expired",
        }
    }
}

/// How a hook's command is started. Without a shell, the facts reach the program only through
/// its environment and stdin, so nothing from the network (a username, a comment) can become
/// part of a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookCommand {
    /// `command = ["/usr/local/bin/on-live", "--flag"]`: executed directly.
    Argv(Vec<String>),
    /// `shell = "…"`: run with `/bin/sh -c`, by explicit choice of the operator.
    Shell(String),
}

/// One `[[notify]]` entry: a webhook and/or a command, for some or all events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    /// A name for logs (default `notify[i]`).
    pub name: String,
    pub url: Option<url::Url>,
    pub command: Option<HookCommand>,
    /// The events delivered to this hook (default: all of them).
    pub events: Vec<NotifyEvent>,
    /// The limit of one attempt (one POST, or one run of the command).
    pub timeout: Duration,
    /// Webhook attempts after the first failed one, with doubling backoff from `retry_backoff`.
    pub retries: u32,
    pub retry_backoff: Duration,
}

impl NotifyConfig {
    pub fn wants(&self, event: NotifyEvent) -> bool {
        self.events.contains(&event)
    }
}

// ---- raw file shape -------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    instagram: RawInstagram,
    #[serde(default)]
    watch: RawWatch,
    #[serde(default)]
    recording: RawRecording,
    #[serde(default)]
    storage: RawStorage,
    #[serde(default)]
    status: RawStatus,
    #[serde(default)]
    accounts: Vec<RawAccount>,
    #[serde(default)]
    notify: Vec<RawNotify>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotify {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    command: Option<Vec<String>>,
    #[serde(default)]
    shell: Option<String>,
    #[serde(default)]
    events: Option<Vec<NotifyEvent>>,
    #[serde(default = "default_notify_timeout", deserialize_with = "duration")]
    timeout: Duration,
    #[serde(default = "default_notify_retries")]
    retries: u32,
    #[serde(default = "default_notify_backoff", deserialize_with = "duration")]
    retry_backoff: Duration,
}

fn default_notify_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_notify_retries() -> u32 {
    3
}
fn default_notify_backoff() -> Duration {
    Duration::from_secs(2)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstagram {
    #[serde(default = "default_api_base_url")]
    api_base_url: String,
    session_file: PathBuf,
    #[serde(default = "default_request_timeout", deserialize_with = "duration")]
    request_timeout: Duration,
}

fn default_api_base_url() -> String {
    "https://i.instagram.com/api/v1/".to_string()
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(20)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawWatch {
    #[serde(deserialize_with = "duration")]
    poll_interval: Duration,
    max_requests_per_minute: u32,
    use_reels_tray: bool,
}

impl Default for RawWatch {
    fn default() -> Self {
        RawWatch {
            poll_interval: Duration::from_secs(30),
            max_requests_per_minute: 20,
            use_reels_tray: true,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRecording {
    #[serde(deserialize_with = "duration")]
    heartbeat_interval: Duration,
    #[serde(deserialize_with = "duration")]
    comments_interval: Duration,
    #[serde(deserialize_with = "duration")]
    likes_interval: Duration,
    #[serde(deserialize_with = "duration")]
    interrupted_grace: Duration,
    rewind: bool,
    engine: Engine,
    max_height: Option<u32>,
    keep_segments: bool,
    max_concurrent: usize,
}

impl Default for RawRecording {
    fn default() -> Self {
        RawRecording {
            heartbeat_interval: Duration::from_secs(7),
            comments_interval: Duration::from_secs(3),
            likes_interval: Duration::from_secs(5),
            interrupted_grace: Duration::from_secs(120),
            rewind: true,
            engine: Engine::Native,
            max_height: None,
            keep_segments: false,
            max_concurrent: 8,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawStorage {
    recordings_dir: PathBuf,
    database: Option<PathBuf>,
    #[serde(deserialize_with = "byte_size")]
    min_free_space: u64,
}

impl Default for RawStorage {
    fn default() -> Self {
        RawStorage {
            recordings_dir: PathBuf::from("recordings"),
            database: None,
            min_free_space: 1 << 30,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawStatus {
    listen: String,
    token_file: Option<PathBuf>,
    cors_origins: Vec<String>,
}

impl Default for RawStatus {
    fn default() -> Self {
        RawStatus {
            listen: "127.0.0.1:9464".to_string(),
            token_file: None,
            cors_origins: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    #[serde(deserialize_with = "string_or_number")]
    user_id: String,
    #[serde(default)]
    label: Option<String>,
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    let parsed = humantime::parse_duration(s.trim()).map_err(|_| {
        serde::de::Error::custom(format!("expected a duration like \"7s\", got {s:?}"))
    })?;
    if parsed.is_zero() {
        return Err(serde::de::Error::custom(
            "a duration must be greater than zero",
        ));
    }
    Ok(parsed)
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        S(String),
        N(u64),
    }
    Ok(match Either::deserialize(d)? {
        Either::S(s) => s,
        Either::N(n) => n.to_string(),
    })
}

/// Parses sizes like `"2GiB"`, `"500MB"`, `"1048576"` (bytes).
pub fn parse_byte_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let num: f64 = num.parse().ok()?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" => 1e12,
        "tib" => 1024f64.powi(4),
        _ => return None,
    };
    let v = num * mult;
    (v.is_finite() && v >= 0.0).then_some(v as u64)
}

fn byte_size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        S(String),
        N(u64),
    }
    match Either::deserialize(d)? {
        Either::N(n) => Ok(n),
        Either::S(s) => parse_byte_size(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "expected a size like \"2GiB\" or \"500MB\", got {s:?}"
            ))
        }),
    }
}

// ---- loading and validation ------------------------------------------------------------------

impl Config {
    /// Reads, parses and validates the config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            line: None,
            key: None,
            message: format!(
                "cannot read the config file: {e} (pass -c FILE or set IGLIVE_CONFIG; an annotated example is config/iglive.toml)"
            ),
        })?;
        Config::from_str_at(&text, path)
    }

    /// Parses config text as if it were the file at `path` (relative paths resolve against its folder).
    pub fn from_str_at(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            let key = line.and_then(|l| key_path_at(text, l));
            ConfigError {
                file: path.to_path_buf(),
                line,
                key,
                message: e.message().trim().to_string(),
            }
        })?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        let base = std::path::absolute(&base).unwrap_or(base);
        let err = |section: &str, key: &str, index: Option<usize>, message: String| ConfigError {
            file: path.to_path_buf(),
            line: locate(text, section, key, index),
            key: Some(match index {
                Some(i) => format!("{section}[{i}].{key}"),
                None if section.is_empty() => key.to_string(),
                None => format!("{section}.{key}"),
            }),
            message,
        };

        let mut api = raw.instagram.api_base_url.trim().to_string();
        if !api.ends_with('/') {
            api.push('/');
        }
        let api_base_url = url::Url::parse(&api)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                err(
                    "instagram",
                    "api_base_url",
                    None,
                    format!("expected an http(s) URL like \"https://i.instagram.com/api/v1/\", got {api:?}"),
                )
            })?;

        if raw.watch.max_requests_per_minute == 0 {
            return Err(err(
                "watch",
                "max_requests_per_minute",
                None,
                "must be at least 1".into(),
            ));
        }
        if raw.recording.max_concurrent == 0 {
            return Err(err(
                "recording",
                "max_concurrent",
                None,
                "must be at least 1".into(),
            ));
        }

        let listen = match raw.status.listen.trim() {
            "off" | "" => None,
            s => Some(s.parse::<SocketAddr>().map_err(|_| {
                err(
                    "status",
                    "listen",
                    None,
                    format!("expected an address like \"127.0.0.1:9464\" or \"off\", got {s:?}"),
                )
            })?),
        };

        if let Some(addr) = listen.filter(|a| !a.ip().is_loopback()) {
            if raw.status.token_file.is_none() {
                return Err(err(
                    "status",
                    "listen",
                    None,
                    format!("{addr} is reachable from other machines, so the listener needs an API token: set status.token_file to a file holding one (e.g. `head -c 32 /dev/urandom | base64 > token; chmod 600 token`), or listen on 127.0.0.1"),
                ));
            }
        }
        for (i, o) in raw.status.cors_origins.iter().enumerate() {
            let ok = url::Url::parse(o)
                .ok()
                .filter(|u| {
                    matches!(u.scheme(), "http" | "https") && u.path() == "/" && !o.ends_with('/')
                })
                .is_some();
            if !ok {
                return Err(err(
                    "status",
                    "cors_origins",
                    None,
                    format!("entry {i}: expected an origin like \"https://example.org\" (scheme and host, no path), got {o:?}"),
                ));
            }
        }

        if raw.accounts.is_empty() {
            return Err(ConfigError {
                file: path.to_path_buf(),
                line: None,
                key: Some("accounts".into()),
                message: "no [[accounts]] entries: add one `[[accounts]]` table with `user_id = \"…\"` per account to watch".into(),
            });
        }
        let mut accounts: Vec<AccountConfig> = Vec::with_capacity(raw.accounts.len());
        for (i, a) in raw.accounts.into_iter().enumerate() {
            let user_id = a.user_id.trim().to_string();
            if user_id.is_empty()
                || !user_id.bytes().all(|b| b.is_ascii_digit())
                || user_id.len() > 20
            {
                return Err(err(
                    "accounts",
                    "user_id",
                    Some(i),
                    format!("expected the numeric Instagram user pk as a string like \"25025320\", got {:?}", a.user_id),
                ));
            }
            if accounts.iter().any(|x| x.user_id == user_id) {
                return Err(err(
                    "accounts",
                    "user_id",
                    Some(i),
                    format!("account {user_id} is listed twice"),
                ));
            }
            accounts.push(AccountConfig {
                user_id,
                label: a.label.filter(|l| !l.trim().is_empty()),
            });
        }

        let mut notify = Vec::with_capacity(raw.notify.len());
        for (i, n) in raw.notify.into_iter().enumerate() {
            let url = match n.url.as_deref().map(str::trim) {
                None => None,
                Some(u) => Some(
                    url::Url::parse(u)
                        .ok()
                        .filter(|u| matches!(u.scheme(), "http" | "https"))
                        .ok_or_else(|| {
                            err(
                                "notify",
                                "url",
                                Some(i),
                                format!("expected an http(s) URL, got {u:?}"),
                            )
                        })?,
                ),
            };
            let command = match (n.command, n.shell) {
                (Some(_), Some(_)) => {
                    return Err(err(
                        "notify",
                        "shell",
                        Some(i),
                        "set either `command` (run directly) or `shell` (run with /bin/sh -c), not both".into(),
                    ))
                }
                (Some(argv), None) => {
                    if argv.first().is_none_or(|p| p.trim().is_empty()) {
                        return Err(err(
                            "notify",
                            "command",
                            Some(i),
                            "expected the program and its arguments, like [\"/usr/local/bin/on-live\"]".into(),
                        ));
                    }
                    Some(HookCommand::Argv(argv))
                }
                (None, Some(sh)) if sh.trim().is_empty() => {
                    return Err(err("notify", "shell", Some(i), "is empty".into()))
                }
                (None, Some(sh)) => Some(HookCommand::Shell(sh)),
                (None, None) => None,
            };
            if url.is_none() && command.is_none() {
                return Err(ConfigError {
                    file: path.to_path_buf(),
                    line: locate(text, "notify", "", Some(i)),
                    key: Some(format!("notify[{i}]")),
                    message: "a [[notify]] entry needs `url`, `command` or `shell`".into(),
                });
            }
            let events = n.events.unwrap_or_else(|| NotifyEvent::ALL.to_vec());
            if events.is_empty() {
                return Err(err(
                    "notify",
                    "events",
                    Some(i),
                    "is empty: leave it out to get every event".into(),
                ));
            }
            notify.push(NotifyConfig {
                name: n
                    .name
                    .filter(|s| !s.trim().is_empty())
                    .unwrap_or_else(|| format!("notify[{i}]")),
                url,
                command,
                events,
                timeout: n.timeout,
                retries: n.retries.min(20),
                retry_backoff: n.retry_backoff,
            });
        }

        let recordings_dir = base.join(&raw.storage.recordings_dir);
        let database = raw
            .storage
            .database
            .map(|d| base.join(d))
            .unwrap_or_else(|| recordings_dir.join("iglive.sqlite3"));

        Ok(Config {
            path: path.to_path_buf(),
            instagram: InstagramConfig {
                api_base_url,
                session_file: base.join(raw.instagram.session_file),
                request_timeout: raw.instagram.request_timeout,
            },
            watch: WatchConfig {
                poll_interval: raw.watch.poll_interval,
                max_requests_per_minute: raw.watch.max_requests_per_minute,
                use_reels_tray: raw.watch.use_reels_tray,
            },
            recording: RecordingConfig {
                heartbeat_interval: raw.recording.heartbeat_interval,
                comments_interval: raw.recording.comments_interval,
                likes_interval: raw.recording.likes_interval,
                interrupted_grace: raw.recording.interrupted_grace,
                rewind: raw.recording.rewind,
                engine: raw.recording.engine,
                max_height: raw.recording.max_height,
                keep_segments: raw.recording.keep_segments,
                max_concurrent: raw.recording.max_concurrent,
            },
            storage: StorageConfig {
                recordings_dir,
                database,
                min_free_space: raw.storage.min_free_space,
            },
            status: StatusConfig {
                listen,
                token_file: raw.status.token_file.map(|f| base.join(f)),
                cors_origins: raw.status.cors_origins,
            },
            accounts,
            notify,
        })
    }

    /// Resolves the config path: `-c`, then `$IGLIVE_CONFIG`, then `config/iglive.toml`.
    pub fn resolve_path(cli: Option<&Path>) -> PathBuf {
        cli.map(Path::to_path_buf)
            .or_else(|| std::env::var_os("IGLIVE_CONFIG").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH))
    }
}

fn line_of(text: &str, byte: usize) -> usize {
    text.get(..byte.min(text.len()))
        .map(|s| s.matches('\n').count() + 1)
        .unwrap_or(1)
}

/// A `[table]` or `[[array]]` header line, as (name, is_array).
fn header(line: &str) -> Option<(&str, bool)> {
    let l = line.trim();
    if let Some(rest) = l.strip_prefix("[[") {
        return rest.split("]]").next().map(|n| (n.trim(), true));
    }
    if let Some(rest) = l.strip_prefix('[') {
        return rest.split(']').next().map(|n| (n.trim(), false));
    }
    None
}

fn key_of(line: &str) -> Option<&str> {
    let l = line.trim();
    if l.starts_with('#') || l.starts_with('[') {
        return None;
    }
    let k = l.split('=').next()?.trim().trim_matches('"');
    (!k.is_empty() && l.contains('=')).then_some(k)
}

/// The dotted key path for a 1-based line, from the headers above it.
fn key_path_at(text: &str, line: usize) -> Option<String> {
    let mut section: Option<(String, Option<usize>)> = None;
    let mut counts: std::collections::HashMap<String, usize> = Default::default();
    let lines: Vec<&str> = text.lines().collect();
    for l in lines.iter().take(line.saturating_sub(1)) {
        if let Some((name, is_array)) = header(l) {
            let idx = if is_array {
                let c = counts.entry(name.to_string()).or_insert(0);
                *c += 1;
                Some(*c - 1)
            } else {
                None
            };
            section = Some((name.to_string(), idx));
        }
    }
    let this = lines.get(line.checked_sub(1)?)?;
    if let Some((name, _)) = header(this) {
        return Some(name.to_string());
    }
    let key = key_of(this);
    match (section, key) {
        (Some((s, Some(i))), Some(k)) => Some(format!("{s}[{i}].{k}")),
        (Some((s, None)), Some(k)) => Some(format!("{s}.{k}")),
        (None, Some(k)) => Some(k.to_string()),
        (Some((s, Some(i))), None) => Some(format!("{s}[{i}]")),
        (Some((s, None)), None) => Some(s),
        (None, None) => None,
    }
}

/// The 1-based line where `key` is set inside `section` (the `index`-th one for array tables),
/// falling back to the section's header line.
fn locate(text: &str, section: &str, key: &str, index: Option<usize>) -> Option<usize> {
    let mut in_section = section.is_empty();
    let mut header_line = None;
    let mut seen = 0usize;
    for (n, l) in text.lines().enumerate() {
        if let Some((name, is_array)) = header(l) {
            in_section = false;
            if name == section {
                if is_array {
                    seen += 1;
                    in_section = Some(seen - 1) == index;
                } else {
                    in_section = true;
                }
                if in_section {
                    header_line = Some(n + 1);
                }
            }
            continue;
        }
        if in_section && key_of(l) == Some(key) {
            return Some(n + 1);
        }
    }
    header_line
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[instagram]
session_file = "session.json"

[watch]
poll_interval = "20s"

[[accounts]]
user_id = "25025320"
label = "instagram"

[[accounts]]
user_id = 123
"#;

    fn parse(t: &str) -> Result<Config, ConfigError> {
        Config::from_str_at(t, Path::new("/etc/iglive/iglive.toml"))
    }

    #[test]
    fn good_config_resolves_paths_and_defaults() {
        let c = parse(GOOD).expect("valid");
        assert_eq!(
            c.instagram.session_file,
            Path::new("/etc/iglive/session.json")
        );
        assert_eq!(
            c.storage.recordings_dir,
            Path::new("/etc/iglive/recordings")
        );
        assert_eq!(
            c.storage.database,
            Path::new("/etc/iglive/recordings/iglive.sqlite3")
        );
        assert_eq!(c.watch.poll_interval, Duration::from_secs(20));
        assert_eq!(c.recording.heartbeat_interval, Duration::from_secs(7));
        assert_eq!(c.accounts[1].user_id, "123");
        assert_eq!(
            c.status.listen,
            Some("127.0.0.1:9464".parse().expect("addr"))
        );
    }

    #[test]
    fn bad_duration_names_file_line_and_key() {
        let t = GOOD.replace("poll_interval = \"20s\"", "poll_interval = \"20 parsecs\"");
        let e = parse(&t).unwrap_err();
        assert_eq!(e.line, Some(6));
        assert_eq!(e.key.as_deref(), Some("watch.poll_interval"));
        let s = e.to_string();
        assert!(
            s.starts_with(
                "/etc/iglive/iglive.toml:6: watch.poll_interval: expected a duration like \"7s\""
            ),
            "{s}"
        );
    }

    #[test]
    fn unknown_key_is_an_error() {
        let t = GOOD.replace("label = \"instagram\"", "lable = \"instagram\"");
        let e = parse(&t).unwrap_err();
        assert_eq!(e.line, Some(10));
        assert_eq!(e.key.as_deref(), Some("accounts[0].lable"));
        assert!(e.message.contains("unknown field"), "{e}");
    }

    #[test]
    fn missing_accounts_is_an_error() {
        let t = "[instagram]\nsession_file = \"s.json\"\n";
        let e = parse(t).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("accounts"));
        assert!(e.message.contains("[[accounts]]"));
    }

    #[test]
    fn bad_user_id_points_at_its_entry() {
        let t = GOOD.replace("user_id = 123", "user_id = \"@someone\"");
        let e = parse(&t).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("accounts[1].user_id"));
        assert_eq!(e.line, Some(13));
    }

    #[test]
    fn notify_entries() {
        let t = format!(
            "{GOOD}\n[[notify]]\nurl = \"http://127.0.0.1:9/hook\"\nevents = [\"recording_finished\"]\n\n[[notify]]\ncommand = [\"/bin/true\"]\ntimeout = \"3s\"\n"
        );
        let c = parse(&t).expect("valid");
        assert_eq!(c.notify.len(), 2);
        assert_eq!(c.notify[0].events, vec![NotifyEvent::RecordingFinished]);
        assert!(c.notify[1].wants(NotifyEvent::SessionExpired));
        assert_eq!(
            c.notify[1].command,
            Some(HookCommand::Argv(vec!["/bin/true".into()]))
        );
        assert_eq!(c.notify[1].timeout, Duration::from_secs(3));

        let both = format!("{GOOD}\n[[notify]]\ncommand = [\"a\"]\nshell = \"b\"\n");
        let e = parse(&both).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("notify[0].shell"));
        let none = format!("{GOOD}\n[[notify]]\nname = \"x\"\n");
        assert_eq!(parse(&none).unwrap_err().key.as_deref(), Some("notify[0]"));
        let bad_event =
            format!("{GOOD}\n[[notify]]\nurl = \"http://x/\"\nevents = [\"exploded\"]\n");
        assert!(parse(&bad_event)
            .unwrap_err()
            .message
            .contains("unknown variant"));
        let bad_url = format!("{GOOD}\n[[notify]]\nurl = \"ftp://x/\"\n");
        assert_eq!(
            parse(&bad_url).unwrap_err().key.as_deref(),
            Some("notify[0].url")
        );
    }

    #[test]
    fn a_listener_beyond_loopback_needs_a_token() {
        let open = format!("{GOOD}\n[status]\nlisten = \"0.0.0.0:9464\"\n");
        let e = parse(&open).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("status.listen"));
        assert!(e.message.contains("status.token_file"), "{e}");
        let with_token =
            format!("{open}token_file = \"api.token\"\ncors_origins = [\"https://example.org\"]\n");
        let c = parse(&with_token).expect("valid");
        assert_eq!(
            c.status.token_file.as_deref(),
            Some(Path::new("/etc/iglive/api.token"))
        );
        assert_eq!(
            c.status.cors_origins,
            vec!["https://example.org".to_string()]
        );
        let bad = with_token.replace("https://example.org", "https://example.org/path");
        assert_eq!(
            parse(&bad).unwrap_err().key.as_deref(),
            Some("status.cors_origins")
        );
    }

    #[test]
    fn status_off_and_sizes() {
        let t =
            format!("{GOOD}\n[status]\nlisten = \"off\"\n[storage]\nmin_free_space = \"2GiB\"\n");
        let c = parse(&t).expect("valid");
        assert_eq!(c.status.listen, None);
        assert_eq!(c.storage.min_free_space, 2 << 30);
        assert_eq!(parse_byte_size("500MB"), Some(500_000_000));
        assert_eq!(parse_byte_size("lots"), None);
    }
}
