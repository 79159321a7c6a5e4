//! The configuration file: what to watch, how gently to poll, where recordings go.
//!
//! Key names are a public contract (users' files and systemd units depend on them), so the file is
//! parsed strictly: unknown keys are errors, and every error names the file, the line and the key,
//! e.g. `config/iglive.toml:12: recording.heartbeat_interval: expected a duration like "7s"`.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod atomic;
mod cluster;
mod edit;
mod footprint;
mod locate;
mod objects;
mod postgres_url;
mod raw;
mod sections;
mod session_file;
mod sessions;

pub use atomic::{mode_of, write_atomic};
pub use edit::{add_account, remove_account, EditError};
pub use footprint::Footprint;
pub use objects::{Credentials, ObjectStoreConfig};
pub use sessions::DEFAULT_REQUESTS_PER_MINUTE;

pub use cluster::ClusterConfig;
pub use postgres_url::PostgresUrl;
use raw::RawConfig;
pub use session_file::SessionFile;

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
    /// `[push]`: how FBNS connections are made, for sessions with push on.
    pub push: PushConfig,
    /// `[cluster]`: the shared PostgreSQL catalog, when set.
    pub cluster: ClusterConfig,
    /// What is accepted but should change (renamed keys), worded like errors.
    pub warnings: Vec<ConfigError>,
}

#[derive(Debug, Clone)]
pub struct InstagramConfig {
    pub api_base_url: url::Url,
    pub request_timeout: Duration,
    /// How often a refused (challenged, expired) session is tried once more.
    pub session_retry: Duration,
    /// How long a session pauses after a throttling answer without `Retry-After` (doubling
    /// while they repeat, recovering slowly).
    pub throttle_pause: Duration,
    /// The window every session's budget counts over: 60 s. Only benchmarks running the
    /// simulator on a faster clock shorten it (a budget of B per window is then B per
    /// simulated minute).
    pub budget_window: Duration,
    /// The pool of sessions, in file order: `[[sessions]]`, or one named `default` from
    /// `instagram.session_file`. Never empty.
    pub sessions: Vec<SessionConfig>,
}

impl InstagramConfig {
    /// The first session: what commands that need one session use (`login`, `accounts add`).
    pub fn primary_session(&self) -> &SessionConfig {
        &self.sessions[0]
    }
}

/// One logged-in session of the pool.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionConfig {
    /// A name for logs, status and metrics (unique).
    pub name: String,
    pub session_file: SessionFile,
    /// Every API request of this session counts: never more in any 60 s window.
    pub max_requests_per_minute: u32,
    /// An http(s) or socks5 proxy for this session's API traffic.
    pub proxy: Option<url::Url>,
    /// Also fetch the recordings' manifests and segments through the proxy.
    pub proxy_cdn: bool,
    /// Hold an FBNS push connection for this session.
    pub push: bool,
}

#[derive(Debug, Clone)]
pub struct WatchConfig {
    pub poll_interval: Duration,
    /// Use one `feed/reels_tray/` call as a fast path for followed accounts.
    pub use_reels_tray: bool,
    /// How much slower detection polls while push is healthy and reliable.
    pub push_poll_factor: f64,
}

/// `[push]` (docs/push.md).
#[derive(Debug, Clone, PartialEq)]
pub struct PushConfig {
    /// Where device auth files go: one subdirectory per session.
    pub state_dir: PathBuf,
    pub host: String,
    pub port: u16,
    /// A PEM to trust instead of the bundled roots (the simulator's broker).
    pub ca_file: Option<PathBuf>,
    pub keep_alive: Duration,
    pub ping_timeout: Duration,
    pub connack_timeout: Duration,
    pub backoff_max: Duration,
}

/// Which capture engine records the video: native is the default, ffmpeg the fallback.
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
    /// How long the engagement merge after the end may keep asking the API before it gives up.
    pub merge_timeout: Duration,
    pub rewind: bool,
    pub engine: Engine,
    pub max_height: Option<u32>,
    pub keep_segments: bool,
    pub max_concurrent: usize,
    /// What is asked of the API while recording, unless an account says otherwise.
    pub engagement: Footprint,
}

#[derive(Debug, Clone)]
pub struct StorageConfig {
    pub recordings_dir: PathBuf,
    pub database: PathBuf,
    pub min_free_space: u64,
    /// `storage.object_store` and its keys; `None`: recordings stay on local disk only.
    pub object_store: Option<ObjectStoreConfig>,
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
    /// This account's engagement footprint (`recording.engagement` when unset).
    pub engagement: Option<Footprint>,
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
    SessionChallenged,
}

impl NotifyEvent {
    pub const ALL: [NotifyEvent; 6] = [
        NotifyEvent::LiveDetected,
        NotifyEvent::RecordingStarted,
        NotifyEvent::RecordingFinished,
        NotifyEvent::RecordingFailed,
        NotifyEvent::SessionExpired,
        NotifyEvent::SessionChallenged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::LiveDetected => "live_detected",
            NotifyEvent::RecordingStarted => "recording_started",
            NotifyEvent::RecordingFinished => "recording_finished",
            NotifyEvent::RecordingFailed => "recording_failed",
            NotifyEvent::SessionExpired => "session_expired",
            NotifyEvent::SessionChallenged => "session_challenged",
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

// ---- loading and validation ------------------------------------------------------------------

/// The text being loaded and the file it came from: what every error needs to point at a line.
struct Source<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Config {
    /// Reads, parses and validates the config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            line: None,
            key: None,
            message: read_failure(&e, path),
        })?;
        Config::from_str_at(&text, path)
    }

    /// Like `load`, but a file without `[[accounts]]` is accepted: onboarding (`iglive login`,
    /// `iglive accounts add`) runs before any account is listed.
    pub fn load_for_onboarding(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            line: None,
            key: None,
            message: format!("cannot read the config file: {e}"),
        })?;
        Config::parse_at(&text, path, false)
    }

    /// Parses config text as if it were the file at `path` (relative paths resolve against its folder).
    pub fn from_str_at(text: &str, path: &Path) -> Result<Config, ConfigError> {
        Config::parse_at(text, path, true)
    }

    /// Like `from_str_at`, without requiring `[[accounts]]` (`iglive record` without a config).
    pub fn from_str_for_onboarding(text: &str, path: &Path) -> Result<Config, ConfigError> {
        Config::parse_at(text, path, false)
    }

    fn parse_at(text: &str, path: &Path, require_accounts: bool) -> Result<Config, ConfigError> {
        let src = Source { text, path };
        let raw = RawConfig::parse(&src)?;
        let base = config_folder(path);
        // The fields are validated in the order written, so with several mistakes the one
        // reported first stays the same.
        let mut warnings = Vec::new();
        let instagram = InstagramConfig::from_raw(
            raw.instagram,
            raw.sessions,
            &raw.watch,
            &raw.push,
            &base,
            &src,
            &mut warnings,
        )?;
        let watch = WatchConfig::from_raw(raw.watch, &src)?;
        let recording = RecordingConfig::from_raw(raw.recording, &src)?;
        let storage = StorageConfig::from_raw(raw.storage, &base, &src)?;
        let push = PushConfig::from_raw(raw.push, &base, &storage.database, &src)?;
        Ok(Config {
            path: path.to_path_buf(),
            instagram,
            watch,
            recording,
            storage,
            status: StatusConfig::from_raw(raw.status, &base, &src)?,
            accounts: AccountConfig::list_from_raw(raw.accounts, require_accounts, &src)?,
            notify: NotifyConfig::list_from_raw(raw.notify, &src)?,
            push,
            cluster: ClusterConfig::from_raw(raw.cluster, &base, &src)?,
            warnings,
        })
    }

    /// The engagement footprint of recordings found through `user_id`.
    pub fn footprint_of(&self, user_id: &str) -> Footprint {
        self.accounts
            .iter()
            .find(|a| a.user_id == user_id)
            .and_then(|a| a.engagement)
            .unwrap_or(self.recording.engagement)
    }

    /// Resolves the config path: `-c`, then `$IGLIVE_CONFIG`, then `config/iglive.toml`.
    pub fn resolve_path(cli: Option<&Path>) -> PathBuf {
        cli.map(Path::to_path_buf)
            .or_else(|| std::env::var_os("IGLIVE_CONFIG").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH))
    }
}

/// Why the config file could not be read, and what to do about it.
fn read_failure(e: &std::io::Error, path: &Path) -> String {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        // The service runs as its own (dynamic) user: root-only config files are unreadable.
        format!(
            "cannot read the config file: {e}: iglive's user must be able to read it; it holds no secrets, so run `chmod 644 {p}` (and `chmod 755` on its folder); the session file is passed to the service as a systemd credential instead",
            p = path.display()
        )
    } else {
        format!("cannot read the config file: {e} (pass -c FILE or set IGLIVE_CONFIG; an annotated example is config/iglive.toml)")
    }
}

/// The absolute folder relative paths in the file resolve against.
fn config_folder(path: &Path) -> PathBuf {
    let base = path
        .parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    std::path::absolute(&base).unwrap_or(base)
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
            c.instagram.primary_session().session_file,
            SessionFile::Path("/etc/iglive/session.json".into())
        );
        assert_eq!(c.instagram.sessions.len(), 1);
        assert_eq!(c.instagram.sessions[0].name, "default");
        assert_eq!(
            c.instagram.sessions[0].max_requests_per_minute,
            DEFAULT_REQUESTS_PER_MINUTE
        );
        assert!(c.warnings.is_empty());
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
    fn session_file_may_name_a_systemd_credential() {
        let t = GOOD.replace("\"session.json\"", "\"credential:session.json\"");
        assert_eq!(
            parse(&t)
                .expect("valid")
                .instagram
                .primary_session()
                .session_file,
            SessionFile::Credential("session.json".into())
        );
        let t = GOOD.replace("\"session.json\"", "\"credential:../x\"");
        let e = parse(&t).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("instagram.session_file"));
        assert_eq!(e.line, Some(3));
    }

    #[test]
    fn unreadable_config_names_the_fix() {
        let path = Path::new("/etc/iglive/iglive.toml");
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let m = read_failure(&denied, path);
        assert!(m.contains("chmod 644 /etc/iglive/iglive.toml"), "{m}");
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert!(read_failure(&missing, path).contains("pass -c FILE"));
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
