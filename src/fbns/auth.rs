//! The FBNS device auth (`fbns_auth`): the JSON a CONNACK carries on a fresh connect
//! (`ck`, `cs`, `di`, `ds`, `sr`, `rc`; docs/instagram.md §9 "CONNACK and device auth"), parsed
//! leniently, kept in the caller's state directory as a mode-0600 file written atomically, and
//! sent back in every later CONNECT. A broker answering return code 4 has forgotten it: the
//! caller drops the file and connects afresh.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// File name of the device auth inside the state directory.
pub const AUTH_FILE: &str = "fbns_auth.json";

/// Why the device auth could not be parsed, read or written.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("CONNACK device auth is unusable: {0}")]
    Invalid(String),
    #[error("{path}: cannot read the FBNS device auth: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a valid FBNS device auth ({reason}); delete the file and iglive registers afresh")]
    Corrupt { path: PathBuf, reason: String },
    #[error("{path}: cannot write the FBNS device auth: {source}; make the push state directory writable by iglive")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The credentials FBNS hands a device on its first connection. `Debug` hides the secrets.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceAuth {
    /// Connection key: ClientInfo.userId of later CONNECTs (not the Instagram pk).
    pub ck: i64,
    /// Connection secret: Connect.password.
    pub cs: String,
    /// FBNS device id (a uuid): ClientInfo.deviceId; its first 20 characters are the client id.
    pub di: String,
    /// Device secret: ClientInfo.deviceSecret.
    pub ds: String,
    /// Meaning unknown (30 in both published logs); stored only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sr: Option<Value>,
    /// Meaning unknown; stored only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rc: Option<Value>,
}

impl fmt::Debug for DeviceAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceAuth")
            .field("ck", &self.ck)
            .field("di", &self.di)
            .field("cs", &"<redacted>")
            .field("ds", &"<redacted>")
            .finish()
    }
}

/// A string field that may arrive as a JSON string or number.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl DeviceAuth {
    /// Parses a CONNACK's JSON: `ck` as a number or a digit string, the secrets as strings
    /// (numbers are taken as their digits), unknown keys ignored.
    pub fn parse(json: &[u8]) -> Result<DeviceAuth, AuthError> {
        let v: Value = serde_json::from_slice(json)
            .map_err(|e| AuthError::Invalid(format!("not JSON: {e}")))?;
        let field = |k: &str| -> Result<String, AuthError> {
            v.get(k)
                .and_then(text)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| AuthError::Invalid(format!("no `{k}`")))
        };
        let ck = field("ck")?
            .parse::<i64>()
            .map_err(|_| AuthError::Invalid("`ck` is not an integer".into()))?;
        Ok(DeviceAuth {
            ck,
            cs: field("cs")?,
            di: field("di")?,
            ds: field("ds")?,
            sr: v.get("sr").cloned(),
            rc: v.get("rc").cloned(),
        })
    }

    /// The MQTT client identifier of connections with this auth: the first 20 characters of
    /// `di` (docs/instagram.md §9, Connect field 1).
    pub fn client_identifier(&self) -> String {
        self.di.chars().take(20).collect()
    }
}

/// Where one session's device auth lives.
#[derive(Debug, Clone)]
pub struct DeviceAuthStore {
    path: PathBuf,
}

impl DeviceAuthStore {
    /// The store in `state_dir` (created, mode 0700, on the first save).
    pub fn new(state_dir: &Path) -> DeviceAuthStore {
        DeviceAuthStore {
            path: state_dir.join(AUTH_FILE),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored auth; `None` when there is none yet.
    pub fn load(&self) -> Result<Option<DeviceAuth>, AuthError> {
        let text = match std::fs::read(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(AuthError::Read {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        DeviceAuth::parse(&text)
            .map(Some)
            .map_err(|e| AuthError::Corrupt {
                path: self.path.clone(),
                reason: e.to_string(),
            })
    }

    /// Writes `auth` atomically: a mode-0600 temporary file, fsync, rename, fsync of the
    /// directory. A crash leaves either the old file or the new one.
    pub fn save(&self, auth: &DeviceAuth) -> Result<(), AuthError> {
        let write_err = |source| AuthError::Write {
            path: self.path.clone(),
            source,
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(write_err)?;
        let json =
            serde_json::to_vec_pretty(auth).map_err(|e| write_err(std::io::Error::other(e)))?;
        let tmp = dir.join(format!(".{AUTH_FILE}.{}.tmp", std::process::id()));
        let result = (|| {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&tmp)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            }
            file.write_all(&json)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            std::fs::File::open(dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(write_err)
    }

    /// Forgets the stored auth (after a CONNACK with return code 4).
    pub fn clear(&self) -> Result<(), AuthError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(AuthError::Write {
                path: self.path.clone(),
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_published_shapes_leniently() {
        // Nerixyz/instagram_mqtt#100 shape (secrets invented): ck a number, sr present.
        let a = DeviceAuth::parse(
            br#"{"ck":123456789012345,"cs":"c2VjcmV0","sr":30,"di":"3f6c2a6e-1d1b-4a6c-9a0e-0123456789ab","ds":"ZGV2aWNl","x":1}"#,
        )
        .expect("parses");
        assert_eq!(a.ck, 123_456_789_012_345);
        assert_eq!(a.sr, Some(Value::from(30)));
        assert_eq!(a.client_identifier(), "3f6c2a6e-1d1b-4a6c-9");
        assert!(!format!("{a:?}").contains("c2VjcmV0"));
        // ck as a string, secrets as numbers.
        let b = DeviceAuth::parse(br#"{"ck":"42","cs":7,"di":"d","ds":"s"}"#).expect("parses");
        assert_eq!((b.ck, b.cs.as_str()), (42, "7"));
        for bad in [
            &br#"{"cs":"c","di":"d","ds":"s"}"#[..],
            br#"{"ck":"x","cs":"c","di":"d","ds":"s"}"#,
            br#"{"ck":1,"cs":"","di":"d","ds":"s"}"#,
            b"[]",
            b"\xff",
        ] {
            assert!(DeviceAuth::parse(bad).is_err());
        }
    }

    #[cfg(unix)]
    #[test]
    fn saved_private_atomically_and_loaded_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = DeviceAuthStore::new(&dir.path().join("state/fbns"));
        assert_eq!(store.load().expect("empty"), None);
        let auth =
            DeviceAuth::parse(br#"{"ck":1,"cs":"c","di":"d","ds":"s","sr":30}"#).expect("parses");
        store.save(&auth).expect("saves");
        store.save(&auth).expect("saves over");
        let mode = std::fs::metadata(store.path())
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let parent = store.path().parent().expect("dir");
        assert_eq!(
            std::fs::metadata(parent)
                .expect("meta")
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
        assert_eq!(
            std::fs::read_dir(parent).expect("ls").count(),
            1,
            "no temp file left"
        );
        assert_eq!(store.load().expect("loads"), Some(auth));
        std::fs::write(store.path(), "{").expect("corrupt");
        assert!(matches!(store.load(), Err(AuthError::Corrupt { .. })));
        store.clear().expect("clears");
        store.clear().expect("clearing twice is fine");
        assert_eq!(store.load().expect("gone"), None);
    }
}
