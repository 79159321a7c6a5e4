//! Where the daemon's session comes from, and where the cookies Instagram rotates are kept
//! between restarts.
//!
//! `instagram.session_file` names a path or a systemd credential (`credential:NAME`, read from
//! `$CREDENTIALS_DIRECTORY/NAME`; the unit fills it from a root-only file with
//! `LoadCredential=`). iglive never writes that file. What Instagram rotates in its answers
//! (docs/instagram.md §1 "Two ways to carry a session", §6) is saved, debounced, to
//! `<state dir>/sessions/<source>.json` (mode 0600, replaced atomically) with the SHA-256 of the
//! session file it derives from. At start the saved copy is used only while that fingerprint
//! still matches the session file: a newly installed session file always wins over an old
//! rotated copy, which is then deleted.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::client::Client;
use super::credentials::Snapshot;
use super::session::{self, Session, SessionError};
use crate::config::{Config, SessionConfig, SessionFile};

/// How long after a rotation the copy is written; rotations within that window share one write.
pub const SAVE_DEBOUNCE: Duration = Duration::from_secs(5);
/// `format` of a saved copy.
const FORMAT: &str = "iglive-rotated-session/1";
/// Largest saved copy read back (a session is a few KiB).
const MAX_SAVED_BYTES: u64 = 256 * 1024;

/// Why the session could not be read; each message names the file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    File(#[from] SessionError),
    #[error("instagram.session_file is \"credential:{name}\" but iglive got no systemd credentials ($CREDENTIALS_DIRECTORY is not set): run it from its unit, which passes the file with `LoadCredential={name}:/etc/iglive/session.json`, or set session_file to the file's path")]
    NoCredentials { name: String },
    #[error("{path}: systemd credential {name}: {reason}; fix the file the unit's `LoadCredential={name}:FILE` names (/etc/iglive/session.json in the packaged unit), then run `systemctl restart iglive`")]
    Credential {
        name: String,
        path: PathBuf,
        reason: String,
    },
}

/// Which credential the daemon starts with.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionOrigin {
    /// The session file as it is (nothing was saved yet).
    File,
    /// The session file's device identity with the cookies and token saved after its latest
    /// rotation, at `saved_at` (unix seconds).
    Rotated { saved_at: f64 },
    /// The session file: it changed since the saved copy was made, so that copy was deleted.
    FileNewerThanSaved,
    /// The session file; the saved copy could not be used, for this reason.
    SavedUnusable(String),
}

/// A session read at start.
#[derive(Debug)]
pub struct Loaded {
    pub session: Session,
    pub origin: SessionOrigin,
}

/// What a reload (SIGHUP) found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reloaded {
    /// The session file is the one already in use; the rotated credential in memory stays.
    Unchanged,
    /// A new session file: its credential replaces the one in memory.
    Replaced,
}

/// One session file and its saved rotated copy.
#[derive(Debug)]
pub struct SessionSource {
    file: SessionFile,
    credentials_dir: Option<PathBuf>,
    /// `None`: rotations are not saved.
    saved: Option<PathBuf>,
    tracked: Mutex<Tracked>,
}

#[derive(Debug, Default)]
struct Tracked {
    /// SHA-256 of the session file the credential in memory derives from.
    fingerprint: Option<String>,
    /// The credential generation last written to `saved`.
    saved_generation: u64,
}

/// The saved copy's document.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Saved {
    format: String,
    /// The session file it derives from, for people reading it.
    source: String,
    source_sha256: String,
    saved_at: f64,
    cookies: BTreeMap<String, String>,
    #[serde(default)]
    authorization: Option<String>,
}

/// iglive's state directory: systemd's `$STATE_DIRECTORY` (the first one when several are
/// listed), otherwise the database's folder.
pub fn state_dir(state_directory: Option<OsString>, database: &Path) -> Option<PathBuf> {
    let from_systemd = state_directory.and_then(|v| {
        v.to_str()
            .and_then(|s| s.split(':').find(|p| !p.is_empty()))
            .map(PathBuf::from)
    });
    from_systemd.or_else(|| database.parent().map(Path::to_path_buf))
}

/// A file name for the saved copy of `file`: only `A-Z a-z 0-9 . _ -`.
fn saved_name(file: &SessionFile) -> String {
    let (kind, name) = match file {
        SessionFile::Credential(n) => ("credential", n.clone()),
        SessionFile::Path(p) => ("file", p.to_string_lossy().into_owned()),
    };
    let clean: String = name
        .trim_start_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(160)
        .collect();
    format!("{kind}-{clean}.json")
}

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Writes `bytes` to `path` so that a reader sees the old or the new content, never a part:
/// a 0600 temporary file in the same folder, synced, then renamed over it.
fn write_private_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

impl SessionSource {
    /// `credentials_dir` is `$CREDENTIALS_DIRECTORY`; `state_dir` is where rotations are saved.
    pub fn new(
        file: SessionFile,
        credentials_dir: Option<PathBuf>,
        state_dir: Option<PathBuf>,
    ) -> SessionSource {
        let saved = state_dir.map(|d| d.join("sessions").join(saved_name(&file)));
        SessionSource {
            file,
            credentials_dir,
            saved,
            tracked: Mutex::new(Tracked::default()),
        }
    }

    /// One session of the config's pool, with systemd's `$CREDENTIALS_DIRECTORY` and
    /// `$STATE_DIRECTORY`.
    pub fn from_config(cfg: &Config, session: &SessionConfig) -> SessionSource {
        let credentials_dir = std::env::var_os("CREDENTIALS_DIRECTORY")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        SessionSource::new(
            session.session_file.clone(),
            credentials_dir,
            state_dir(std::env::var_os("STATE_DIRECTORY"), &cfg.storage.database),
        )
    }

    /// For commands run by hand (`doctor`, `accounts add`): without systemd's credentials a
    /// credential is read from the file the packaged unit loads it from
    /// ([`SessionFile::path_outside_unit`]).
    pub fn for_commands(cfg: &Config, session: &SessionConfig) -> SessionSource {
        let mut source = SessionSource::from_config(cfg, session);
        if source.credentials_dir.is_none() {
            source.credentials_dir = session
                .session_file
                .path_outside_unit(&cfg.path)
                .parent()
                .map(Path::to_path_buf);
        }
        source
    }

    pub fn file(&self) -> &SessionFile {
        &self.file
    }

    /// Where the rotated copy is saved, if anywhere.
    pub fn saved_path(&self) -> Option<&Path> {
        self.saved.as_deref()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tracked> {
        self.tracked.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads and validates the session file itself, with its fingerprint.
    fn read(&self) -> Result<(Session, String), SourceError> {
        match &self.file {
            SessionFile::Path(path) => {
                let text = session::read_private(path)?;
                let s = Session::parse(&text).map_err(|reason| SessionError::Invalid {
                    path: path.clone(),
                    reason,
                })?;
                Ok((s, sha256_hex(text.as_bytes())))
            }
            SessionFile::Credential(name) => {
                let dir = self
                    .credentials_dir
                    .as_ref()
                    .ok_or_else(|| SourceError::NoCredentials { name: name.clone() })?;
                let path = dir.join(name);
                let bad = |reason: String| SourceError::Credential {
                    name: name.clone(),
                    path: path.clone(),
                    reason,
                };
                // No mode check: systemd makes the credential readable by this service only.
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    bad(if e.kind() == std::io::ErrorKind::NotFound {
                        format!("not passed to the service ({e}): the unit needs `LoadCredential={name}:FILE`")
                    } else {
                        format!("cannot read it: {e}")
                    })
                })?;
                let s = Session::parse(&text).map_err(bad)?;
                Ok((s, sha256_hex(text.as_bytes())))
            }
        }
    }

    /// The session file alone (what `iglive doctor` checks).
    pub fn read_session(&self) -> Result<Session, SourceError> {
        self.read().map(|(s, _)| s)
    }

    fn read_saved(&self) -> Result<Option<Saved>, String> {
        let Some(path) = &self.saved else {
            return Ok(None);
        };
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read it: {e}")),
        };
        if meta.len() > MAX_SAVED_BYTES {
            return Err(format!("larger than {MAX_SAVED_BYTES} bytes"));
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read it: {e}"))?;
        let saved: Saved =
            serde_json::from_str(&text).map_err(|e| format!("not a saved session: {e}"))?;
        if saved.format != FORMAT {
            return Err(format!("format {:?}, expected {FORMAT:?}", saved.format));
        }
        Ok(Some(saved))
    }

    /// Reads the session at start: the session file, with the cookies and token of its saved
    /// rotated copy when that copy derives from this very file.
    pub fn load(&self) -> Result<Loaded, SourceError> {
        let (mut session, fingerprint) = self.read()?;
        let origin = match self.read_saved() {
            Ok(None) => SessionOrigin::File,
            Ok(Some(saved)) if saved.source_sha256 == fingerprint => {
                let mut rotated = session.clone();
                rotated.cookies = saved.cookies;
                if saved.authorization.is_some() {
                    rotated.authorization = saved.authorization;
                }
                if rotated.has_credential() {
                    session = rotated;
                    SessionOrigin::Rotated {
                        saved_at: saved.saved_at,
                    }
                } else {
                    SessionOrigin::SavedUnusable(
                        "it holds no credential any more (Instagram ended that login)".into(),
                    )
                }
            }
            Ok(Some(_)) => {
                if let Some(p) = &self.saved {
                    let _ = std::fs::remove_file(p);
                }
                SessionOrigin::FileNewerThanSaved
            }
            Err(reason) => SessionOrigin::SavedUnusable(reason),
        };
        *self.lock() = Tracked {
            fingerprint: Some(fingerprint),
            saved_generation: 0,
        };
        Ok(Loaded { session, origin })
    }

    /// SIGHUP: saves what memory holds, then reads the session file again; a different file
    /// replaces the client's credential. Under systemd a credential keeps the content it had
    /// when the service started, so a new file there needs a restart.
    pub fn reload(&self, client: &Client) -> Result<Reloaded, SourceError> {
        let mut t = self.lock();
        if let Err(e) = self.save_locked(&mut t, &client.credentials().snapshot()) {
            tracing::warn!("{e}");
        }
        let (session, fingerprint) = self.read()?;
        if t.fingerprint.as_deref() == Some(fingerprint.as_str()) {
            client.retry_expired_session();
            return Ok(Reloaded::Unchanged);
        }
        client.reload_session(&session);
        t.fingerprint = Some(fingerprint);
        if let Err(e) = self.save_locked(&mut t, &client.credentials().snapshot()) {
            tracing::warn!("{e}");
        }
        Ok(Reloaded::Replaced)
    }

    /// Writes the client's credential when it changed since the last write. `Ok(true)` when
    /// something was written.
    pub fn save(&self, client: &Client) -> Result<bool, String> {
        let mut t = self.lock();
        self.save_locked(&mut t, &client.credentials().snapshot())
    }

    fn save_locked(&self, t: &mut Tracked, snap: &Snapshot) -> Result<bool, String> {
        let (Some(path), Some(fingerprint)) = (&self.saved, &t.fingerprint) else {
            return Ok(false);
        };
        if snap.generation == t.saved_generation {
            return Ok(false);
        }
        let doc = Saved {
            format: FORMAT.into(),
            source: self.file.to_string(),
            source_sha256: fingerprint.clone(),
            saved_at: now_unix(),
            cookies: snap.cookies.clone(),
            authorization: snap.authorization.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&doc).map_err(|e| e.to_string())?;
        write_private_atomic(path, &bytes).map_err(|e| {
            format!(
                "cannot save the rotated session to {}: {e}; the next start uses the session file as it is",
                path.display()
            )
        })?;
        t.saved_generation = snap.generation;
        Ok(true)
    }

    /// Saves every rotation of the client's credential, `SAVE_DEBOUNCE` after it happens,
    /// until `stop`; then saves a last time. The writes (with their fsync) run on the blocking
    /// pool.
    async fn keep_saved(self: Arc<Self>, client: Client, stop: CancellationToken) {
        let mut changes = client.credentials().subscribe();
        let mut last_error: Option<String> = None;
        let mut announced = false;
        loop {
            let stopping = tokio::select! {
                r = changes.changed() => r.is_err(),
                _ = stop.cancelled() => true,
            };
            if !stopping {
                tokio::select! {
                    _ = tokio::time::sleep(SAVE_DEBOUNCE) => {}
                    _ = stop.cancelled() => {}
                }
            }
            let (source, c) = (self.clone(), client.clone());
            let saved = tokio::task::spawn_blocking(move || source.save(&c))
                .await
                .unwrap_or_else(|e| Err(format!("the session saver crashed: {e}")));
            match saved {
                Ok(true) => {
                    last_error = None;
                    if let Some(p) = self.saved.as_deref().filter(|_| !announced) {
                        announced = true;
                        tracing::info!(
                            "saved the session as Instagram rotated it to {} (the next start uses it)",
                            p.display()
                        );
                    }
                }
                Ok(false) => {}
                Err(e) => {
                    // Once per distinct failure, not once per rotation.
                    if last_error.as_deref() != Some(e.as_str()) {
                        tracing::warn!("{e}");
                    }
                    last_error = Some(e);
                }
            }
            if stopping || stop.is_cancelled() {
                return;
            }
        }
    }
}

/// The task that saves a running daemon's rotations ([`SessionSource::spawn_saver`]).
#[derive(Debug)]
pub struct Saver {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl SessionSource {
    /// Saves the client's rotations in the background until [`Saver::finish`].
    pub fn spawn_saver(self: &Arc<Self>, client: Client) -> Saver {
        let stop = CancellationToken::new();
        let task = tokio::spawn(self.clone().keep_saved(client, stop.clone()));
        Saver { stop, task }
    }
}

impl Saver {
    /// Saves a last time and waits for the task to end.
    pub async fn finish(&mut self) {
        self.stop.cancel();
        if let Err(e) = (&mut self.task).await {
            tracing::warn!(error = %e, "the session saver crashed");
        }
    }
}

impl fmt::Display for SessionSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            SessionFile::Path(p) => write!(f, "{}", p.display()),
            SessionFile::Credential(name) => write!(f, "systemd credential {name}"),
        }
    }
}

impl Loaded {
    /// The journal line that says which credential the daemon uses.
    pub fn describe(&self, source: &SessionSource) -> String {
        let saved = source
            .saved_path()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        match &self.origin {
            SessionOrigin::File => format!("session from {source}"),
            SessionOrigin::Rotated { saved_at } => format!(
                "session from {source}, with the cookies Instagram rotated since, saved in {saved} {:.0} s ago",
                (now_unix() - saved_at).max(0.0)
            ),
            SessionOrigin::FileNewerThanSaved => format!(
                "session from {source}: it changed since {saved} was saved, so that rotated copy was discarded"
            ),
            SessionOrigin::SavedUnusable(why) => {
                format!("session from {source}; the rotated copy {saved} was not used: {why}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_dir_prefers_systemd() {
        let db = Path::new("/srv/rec/iglive.sqlite3");
        assert_eq!(
            state_dir(Some("/var/lib/iglive:/var/lib/other".into()), db),
            Some(PathBuf::from("/var/lib/iglive"))
        );
        assert_eq!(state_dir(None, db), Some(PathBuf::from("/srv/rec")));
        assert_eq!(
            state_dir(Some("".into()), db),
            Some(PathBuf::from("/srv/rec"))
        );
    }

    #[test]
    fn saved_names_are_plain_and_distinct() {
        assert_eq!(
            saved_name(&SessionFile::Credential("session.json".into())),
            "credential-session.json.json"
        );
        assert_eq!(
            saved_name(&SessionFile::Path("/etc/iglive/a b.json".into())),
            "file-etc_iglive_a_b.json.json"
        );
    }

    #[test]
    fn fingerprint_is_sha256() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
