//! One validating constructor per section of the file: each turns its raw table into the
//! public type, or names the first value it cannot accept (`file:line: key: message`).

use std::net::SocketAddr;
use std::path::Path;

use super::locate::locate;
use super::raw::{RawAccount, RawNotify, RawRecording, RawStatus, RawStorage, RawWatch};
use super::{
    AccountConfig, ConfigError, HookCommand, NotifyConfig, NotifyEvent, RecordingConfig, Source,
    StatusConfig, StorageConfig, WatchConfig,
};

impl Source<'_> {
    /// An error about `section.key` (or `section[index].key` in an array of tables), at the
    /// line that sets it.
    pub(super) fn error(
        &self,
        section: &str,
        key: &str,
        index: Option<usize>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            file: self.path.to_path_buf(),
            line: locate(self.text, section, key, index),
            key: Some(match index {
                Some(i) => format!("{section}[{i}].{key}"),
                None if section.is_empty() => key.to_string(),
                None => format!("{section}.{key}"),
            }),
            message: message.into(),
        }
    }
}

impl WatchConfig {
    pub(super) fn from_raw(raw: RawWatch, src: &Source<'_>) -> Result<WatchConfig, ConfigError> {
        if !(raw.push_poll_factor.is_finite() && (1.0..=100.0).contains(&raw.push_poll_factor)) {
            return Err(src.error(
                "watch",
                "push_poll_factor",
                None,
                "must be a number from 1 (no slowdown) to 100",
            ));
        }
        Ok(WatchConfig {
            poll_interval: raw.poll_interval,
            use_reels_tray: raw.use_reels_tray,
            push_poll_factor: raw.push_poll_factor,
        })
    }
}

impl RecordingConfig {
    pub(super) fn from_raw(
        raw: RawRecording,
        src: &Source<'_>,
    ) -> Result<RecordingConfig, ConfigError> {
        if raw.max_concurrent == 0 {
            return Err(src.error("recording", "max_concurrent", None, "must be at least 1"));
        }
        Ok(RecordingConfig {
            heartbeat_interval: raw.heartbeat_interval,
            comments_interval: raw.comments_interval,
            likes_interval: raw.likes_interval,
            interrupted_grace: raw.interrupted_grace,
            merge_timeout: raw.merge_timeout,
            rewind: raw.rewind,
            engine: raw.engine,
            max_height: raw.max_height,
            keep_segments: raw.keep_segments,
            max_concurrent: raw.max_concurrent,
            engagement: raw.engagement,
        })
    }
}

impl StorageConfig {
    /// The database defaults to a file inside the recordings folder.
    pub(super) fn from_raw(
        raw: RawStorage,
        base: &Path,
        src: &Source<'_>,
    ) -> Result<StorageConfig, ConfigError> {
        let recordings_dir = base.join(&raw.recordings_dir);
        let database = raw
            .database
            .clone()
            .map(|d| base.join(d))
            .unwrap_or_else(|| recordings_dir.join("iglive.sqlite3"));
        Ok(StorageConfig {
            object_store: super::objects::ObjectStoreConfig::from_raw(&raw, base, src)?,
            recordings_dir,
            database,
            min_free_space: raw.min_free_space,
        })
    }
}

impl StatusConfig {
    /// Beyond loopback the listener needs an API token (the library's access rule).
    pub(super) fn from_raw(
        raw: RawStatus,
        base: &Path,
        src: &Source<'_>,
    ) -> Result<StatusConfig, ConfigError> {
        let listen = match raw.listen.trim() {
            "off" | "" => None,
            s => Some(s.parse::<SocketAddr>().map_err(|_| {
                src.error(
                    "status",
                    "listen",
                    None,
                    format!("expected an address like \"127.0.0.1:9464\" or \"off\", got {s:?}"),
                )
            })?),
        };
        if let Some(addr) = listen.filter(|a| !a.ip().is_loopback()) {
            if raw.token_file.is_none() {
                return Err(src.error(
                    "status",
                    "listen",
                    None,
                    format!("{addr} is reachable from other machines, so the listener needs an API token: set status.token_file to a file holding one (e.g. `head -c 32 /dev/urandom | base64 > token; chmod 600 token`), or listen on 127.0.0.1"),
                ));
            }
        }
        for (i, o) in raw.cors_origins.iter().enumerate() {
            let origin = url::Url::parse(o)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.path() == "/");
            if origin.is_none() || o.ends_with('/') {
                return Err(src.error(
                    "status",
                    "cors_origins",
                    None,
                    format!("entry {i}: expected an origin like \"https://example.org\" (scheme and host, no path), got {o:?}"),
                ));
            }
        }
        Ok(StatusConfig {
            listen,
            token_file: raw.token_file.map(|f| base.join(f)),
            cors_origins: raw.cors_origins,
        })
    }
}

impl AccountConfig {
    /// The `[[accounts]]` entries: each a numeric pk, none twice, and at least one unless
    /// `required` is off (onboarding).
    pub(super) fn list_from_raw(
        raw: Vec<RawAccount>,
        required: bool,
        src: &Source<'_>,
    ) -> Result<Vec<AccountConfig>, ConfigError> {
        if required && raw.is_empty() {
            return Err(ConfigError {
                file: src.path.to_path_buf(),
                line: None,
                key: Some("accounts".into()),
                message: "no [[accounts]] entries: add one `[[accounts]]` table with `user_id = \"…\"` per account to watch".into(),
            });
        }
        let mut accounts: Vec<AccountConfig> = Vec::with_capacity(raw.len());
        for (i, a) in raw.into_iter().enumerate() {
            let user_id = a.user_id.trim().to_string();
            if user_id.is_empty()
                || !user_id.bytes().all(|b| b.is_ascii_digit())
                || user_id.len() > 20
            {
                return Err(src.error(
                    "accounts",
                    "user_id",
                    Some(i),
                    format!("expected the numeric Instagram user pk as a string like \"25025320\", got {:?}", a.user_id),
                ));
            }
            if accounts.iter().any(|x| x.user_id == user_id) {
                return Err(src.error(
                    "accounts",
                    "user_id",
                    Some(i),
                    format!("account {user_id} is listed twice"),
                ));
            }
            accounts.push(AccountConfig {
                user_id,
                label: a.label.filter(|l| !l.trim().is_empty()),
                engagement: a.engagement,
            });
        }
        Ok(accounts)
    }
}

impl NotifyConfig {
    /// The `[[notify]]` entries, none required.
    pub(super) fn list_from_raw(
        raw: Vec<RawNotify>,
        src: &Source<'_>,
    ) -> Result<Vec<NotifyConfig>, ConfigError> {
        raw.into_iter()
            .enumerate()
            .map(|(i, n)| NotifyConfig::from_raw(i, n, src))
            .collect()
    }

    /// The `i`-th hook: something to deliver to, and at least one event to deliver.
    fn from_raw(i: usize, n: RawNotify, src: &Source<'_>) -> Result<NotifyConfig, ConfigError> {
        let url = hook_url(i, n.url.as_deref(), src)?;
        let command = HookCommand::from_raw(i, n.command, n.shell, src)?;
        if url.is_none() && command.is_none() {
            return Err(ConfigError {
                file: src.path.to_path_buf(),
                line: locate(src.text, "notify", "", Some(i)),
                key: Some(format!("notify[{i}]")),
                message: "a [[notify]] entry needs `url`, `command` or `shell`".into(),
            });
        }
        let events = n.events.unwrap_or_else(|| NotifyEvent::ALL.to_vec());
        if events.is_empty() {
            return Err(src.error(
                "notify",
                "events",
                Some(i),
                "is empty: leave it out to get every event",
            ));
        }
        Ok(NotifyConfig {
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
        })
    }
}

/// The `i`-th hook's webhook address, when it has one.
fn hook_url(
    i: usize,
    url: Option<&str>,
    src: &Source<'_>,
) -> Result<Option<url::Url>, ConfigError> {
    let Some(u) = url.map(str::trim) else {
        return Ok(None);
    };
    url::Url::parse(u)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .map(Some)
        .ok_or_else(|| {
            src.error(
                "notify",
                "url",
                Some(i),
                format!("expected an http(s) URL, got {u:?}"),
            )
        })
}

impl HookCommand {
    /// The `i`-th hook's program: `command` or `shell`, at most one of them.
    fn from_raw(
        i: usize,
        command: Option<Vec<String>>,
        shell: Option<String>,
        src: &Source<'_>,
    ) -> Result<Option<HookCommand>, ConfigError> {
        match (command, shell) {
            (Some(_), Some(_)) => Err(src.error(
                "notify",
                "shell",
                Some(i),
                "set either `command` (run directly) or `shell` (run with /bin/sh -c), not both",
            )),
            (Some(argv), None) => {
                if argv.first().is_none_or(|p| p.trim().is_empty()) {
                    return Err(src.error(
                        "notify",
                        "command",
                        Some(i),
                        "expected the program and its arguments, like [\"/usr/local/bin/on-live\"]",
                    ));
                }
                Ok(Some(HookCommand::Argv(argv)))
            }
            (None, Some(sh)) if sh.trim().is_empty() => {
                Err(src.error("notify", "shell", Some(i), "is empty"))
            }
            (None, Some(sh)) => Ok(Some(HookCommand::Shell(sh))),
            (None, None) => Ok(None),
        }
    }
}
