//! The config file's shape as serde reads it: every key with its default, and the parsers for
//! durations, sizes and user ids. Checks across values and ranges are in `sections`.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::locate::{key_path_at, line_of};
use super::{parse_byte_size, ConfigError, Engine, Footprint, NotifyEvent, Source};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) instagram: RawInstagram,
    #[serde(default)]
    pub(super) watch: RawWatch,
    #[serde(default)]
    pub(super) recording: RawRecording,
    #[serde(default)]
    pub(super) storage: RawStorage,
    #[serde(default)]
    pub(super) status: RawStatus,
    #[serde(default)]
    pub(super) accounts: Vec<RawAccount>,
    #[serde(default)]
    pub(super) notify: Vec<RawNotify>,
    #[serde(default)]
    pub(super) sessions: Vec<RawSession>,
    #[serde(default)]
    pub(super) push: RawPush,
    #[serde(default)]
    pub(super) cluster: super::cluster::RawCluster,
}

impl RawConfig {
    /// Parses the text strictly, pointing a syntax error, an unknown key or a bad value at its
    /// line and dotted key.
    pub(super) fn parse(src: &Source<'_>) -> Result<RawConfig, ConfigError> {
        toml::from_str(src.text).map_err(|e| {
            let line = e.span().map(|s| line_of(src.text, s.start));
            let key = line.and_then(|l| key_path_at(src.text, l));
            ConfigError {
                file: src.path.to_path_buf(),
                line,
                key,
                message: e.message().trim().to_string(),
            }
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) url: Option<String>,
    #[serde(default)]
    pub(super) command: Option<Vec<String>>,
    #[serde(default)]
    pub(super) shell: Option<String>,
    #[serde(default)]
    pub(super) events: Option<Vec<NotifyEvent>>,
    #[serde(default = "default_notify_timeout", deserialize_with = "duration")]
    pub(super) timeout: Duration,
    #[serde(default = "default_notify_retries")]
    pub(super) retries: u32,
    #[serde(default = "default_notify_backoff", deserialize_with = "duration")]
    pub(super) retry_backoff: Duration,
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
pub(super) struct RawInstagram {
    #[serde(default = "default_api_base_url")]
    pub(super) api_base_url: String,
    /// One session; `[[sessions]]` lists several instead.
    #[serde(default)]
    pub(super) session_file: Option<String>,
    /// Every session's budget unless it sets its own.
    #[serde(default)]
    pub(super) max_requests_per_minute: Option<u32>,
    #[serde(default = "default_request_timeout", deserialize_with = "duration")]
    pub(super) request_timeout: Duration,
    /// How often a refused (challenged, expired) session is tried once more.
    #[serde(default = "default_session_retry", deserialize_with = "duration")]
    pub(super) session_retry: Duration,
    /// How long a session pauses after a throttling answer (doubling while they repeat).
    #[serde(default = "default_throttle_pause", deserialize_with = "duration")]
    pub(super) throttle_pause: Duration,
    /// The budget's window (60 s; shortened only against a sped-up simulator).
    #[serde(default = "default_budget_window", deserialize_with = "duration")]
    pub(super) budget_window: Duration,
}

fn default_budget_window() -> Duration {
    Duration::from_secs(60)
}

fn default_throttle_pause() -> Duration {
    Duration::from_secs(60)
}

fn default_session_retry() -> Duration {
    Duration::from_secs(30 * 60)
}

/// One `[[sessions]]` entry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSession {
    #[serde(default)]
    pub(super) name: Option<String>,
    pub(super) session_file: String,
    #[serde(default)]
    pub(super) max_requests_per_minute: Option<u32>,
    #[serde(default)]
    pub(super) proxy: Option<String>,
    #[serde(default)]
    pub(super) proxy_cdn: bool,
    #[serde(default)]
    pub(super) push: Option<bool>,
}

/// `[push]`: FBNS push notifications (docs/push.md).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawPush {
    pub(super) enabled: bool,
    pub(super) state_dir: Option<PathBuf>,
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) ca_file: Option<PathBuf>,
    #[serde(deserialize_with = "duration")]
    pub(super) keep_alive: Duration,
    #[serde(deserialize_with = "duration")]
    pub(super) ping_timeout: Duration,
    #[serde(deserialize_with = "duration")]
    pub(super) connack_timeout: Duration,
    #[serde(deserialize_with = "duration")]
    pub(super) backoff_max: Duration,
}

impl Default for RawPush {
    fn default() -> Self {
        RawPush {
            enabled: false,
            state_dir: None,
            host: "mqtt-mini.facebook.com".into(),
            port: 443,
            ca_file: None,
            keep_alive: Duration::from_secs(60),
            ping_timeout: Duration::from_secs(30),
            connack_timeout: Duration::from_secs(15),
            backoff_max: Duration::from_secs(600),
        }
    }
}

fn default_api_base_url() -> String {
    "https://i.instagram.com/api/v1/".to_string()
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(20)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawWatch {
    #[serde(deserialize_with = "duration")]
    pub(super) poll_interval: Duration,
    /// Deprecated: the budget now covers every request of a session and lives at
    /// `instagram.max_requests_per_minute` (or per `[[sessions]]` entry).
    pub(super) max_requests_per_minute: Option<u32>,
    pub(super) use_reels_tray: bool,
    /// How much slower detection polls while push is healthy.
    pub(super) push_poll_factor: f64,
}

impl Default for RawWatch {
    fn default() -> Self {
        RawWatch {
            poll_interval: Duration::from_secs(30),
            max_requests_per_minute: None,
            use_reels_tray: true,
            push_poll_factor: 10.0,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawRecording {
    #[serde(deserialize_with = "duration")]
    pub(super) heartbeat_interval: Duration,
    #[serde(deserialize_with = "duration")]
    pub(super) comments_interval: Duration,
    #[serde(deserialize_with = "duration")]
    pub(super) likes_interval: Duration,
    #[serde(deserialize_with = "duration")]
    pub(super) interrupted_grace: Duration,
    #[serde(deserialize_with = "duration")]
    pub(super) merge_timeout: Duration,
    pub(super) rewind: bool,
    pub(super) engine: Engine,
    pub(super) max_height: Option<u32>,
    pub(super) keep_segments: bool,
    pub(super) max_concurrent: usize,
    pub(super) engagement: Footprint,
}

impl Default for RawRecording {
    fn default() -> Self {
        RawRecording {
            heartbeat_interval: Duration::from_secs(7),
            comments_interval: Duration::from_secs(3),
            likes_interval: Duration::from_secs(5),
            interrupted_grace: Duration::from_secs(120),
            merge_timeout: Duration::from_secs(6 * 3600),
            rewind: true,
            engine: Engine::Native,
            max_height: None,
            keep_segments: false,
            max_concurrent: 8,
            engagement: Footprint::Full,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawStorage {
    pub(super) recordings_dir: PathBuf,
    pub(super) database: Option<PathBuf>,
    #[serde(deserialize_with = "byte_size")]
    pub(super) min_free_space: u64,
    /// `s3://bucket/prefix`: finished folders (and live segments) go to object storage.
    pub(super) object_store: Option<String>,
    pub(super) endpoint: Option<String>,
    pub(super) region: Option<String>,
    pub(super) allow_http: Option<bool>,
    pub(super) credentials_file: Option<String>,
    #[serde(deserialize_with = "opt_byte_size")]
    pub(super) spool_max_bytes: Option<u64>,
    pub(super) keep_local: Option<bool>,
}

impl Default for RawStorage {
    fn default() -> Self {
        RawStorage {
            recordings_dir: PathBuf::from("recordings"),
            database: None,
            min_free_space: 1 << 30,
            object_store: None,
            endpoint: None,
            region: None,
            allow_http: None,
            credentials_file: None,
            spool_max_bytes: None,
            keep_local: None,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawStatus {
    pub(super) listen: String,
    pub(super) token_file: Option<PathBuf>,
    pub(super) cors_origins: Vec<String>,
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
pub(super) struct RawAccount {
    #[serde(deserialize_with = "string_or_number")]
    pub(super) user_id: String,
    #[serde(default)]
    pub(super) label: Option<String>,
    #[serde(default)]
    pub(super) engagement: Option<Footprint>,
}

pub(super) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
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

fn opt_byte_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    byte_size(d).map(Some)
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
