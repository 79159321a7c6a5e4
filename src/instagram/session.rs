//! The logged-in identity iglive polls with: cookies or an IGT bearer token, plus the device
//! identity the Android app sends. Loaded from a session file in either iglive's own minimal
//! format or the JSON instagrapi's `dump_settings()` writes (docs/instagram.md §1 "instagrapi settings").

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Default Android user agent (instagrapi 3.2.2's, docs/instagram.md §1) for sessions that carry none.
pub const DEFAULT_USER_AGENT: &str = "Instagram 449.0.0.52.84 Android (34/14; 480dpi; 1344x2992; Google/google; Pixel 8 Pro; husky; husky; en_US; 1079242191)";

/// Why a session file could not be used; each message says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("{path}: cannot read the session file: {source} (create it, see config/session.example.json)")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: the session file is readable by group or others (mode {mode:o}); it holds login cookies: run `chmod 600 {path}`")]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("{path}: not a valid session file: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// A session: what authenticates requests (`sessionid` cookie or `Authorization: Bearer IGT:2:…`)
/// and the device identity sent beside it. `Debug` never prints secret values.
#[derive(Clone, Default)]
pub struct Session {
    /// Cookie name → value (`sessionid`, `csrftoken`, `ds_user_id`, `mid`, …).
    pub cookies: BTreeMap<String, String>,
    /// Full `Authorization` header value (`Bearer IGT:2:…`) when the session carries one.
    pub authorization: Option<String>,
    /// Device uuid: posted as `_uuid` and sent as `X-IG-Device-ID`.
    pub uuid: String,
    pub phone_id: Option<String>,
    pub android_device_id: Option<String>,
    pub user_agent: String,
    /// The logged-in account's pk (`ds_user_id`), when known.
    pub ds_user_id: Option<String>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("cookies", &self.cookies.keys().collect::<Vec<_>>())
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .field("uuid", &self.uuid)
            .field("ds_user_id", &self.ds_user_id)
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

impl Session {
    /// `csrftoken` cookie, or a fixed placeholder: Instagram accepts any `_csrftoken` on the
    /// unsigned heartbeat (docs/instagram.md §1 "Where `_csrftoken` and `_uuid` come from").
    pub fn csrftoken(&self) -> String {
        self.cookies
            .get("csrftoken")
            .cloned()
            .unwrap_or_else(|| "missing".to_string())
    }

    /// Whether the session carries a credential at all (a `sessionid` cookie or a bearer token).
    pub fn has_credential(&self) -> bool {
        self.cookies.contains_key("sessionid") || self.authorization.is_some()
    }

    /// Loads and validates a session file, refusing one that group or others can read.
    pub fn load(path: &Path) -> Result<Session, SessionError> {
        check_private(path)?;
        let text = std::fs::read_to_string(path).map_err(|source| SessionError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Session::parse(&text).map_err(|reason| SessionError::Invalid {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Parses either format. The instagrapi format is recognised by its `uuids` object.
    pub fn parse(text: &str) -> Result<Session, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let session = if value.get("uuids").is_some() || value.get("authorization_data").is_some() {
            let s: InstagrapiSettings =
                serde_json::from_value(value).map_err(|e| format!("instagrapi settings: {e}"))?;
            s.into_session()
        } else {
            let s: MinimalSession =
                serde_json::from_value(value).map_err(|e| format!("iglive session: {e}"))?;
            s.into_session()
        };
        if !session.has_credential() {
            return Err("no credential: needs a `sessionid` cookie or an `authorization` (Bearer IGT:2:…) value; log in with the Instagram app or instagrapi and export the session".into());
        }
        if session.uuid.is_empty() {
            return Err("`uuid` (device id) is empty".into());
        }
        Ok(session)
    }
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), SessionError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|source| SessionError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SessionError::TooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), SessionError> {
    Ok(())
}

/// iglive's own format: `{"cookies": {...}, "uuid": "...", "user_agent": "...", "authorization": "..."}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MinimalSession {
    #[serde(default)]
    cookies: BTreeMap<String, String>,
    #[serde(default)]
    authorization: Option<String>,
    uuid: String,
    #[serde(default)]
    phone_id: Option<String>,
    #[serde(default)]
    android_device_id: Option<String>,
    #[serde(default)]
    user_agent: Option<String>,
}

impl MinimalSession {
    fn into_session(self) -> Session {
        let ds_user_id = self.cookies.get("ds_user_id").cloned();
        Session {
            cookies: self.cookies,
            authorization: self.authorization,
            uuid: self.uuid,
            phone_id: self.phone_id,
            android_device_id: self.android_device_id,
            user_agent: self
                .user_agent
                .unwrap_or_else(|| DEFAULT_USER_AGENT.to_string()),
            ds_user_id,
        }
    }
}

/// The subset of instagrapi's `dump_settings()` JSON iglive uses; other keys are ignored.
#[derive(Deserialize)]
struct InstagrapiSettings {
    #[serde(default)]
    uuids: InstagrapiUuids,
    #[serde(default)]
    cookies: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    authorization_data: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    mid: Option<String>,
    #[serde(default)]
    user_agent: Option<String>,
}

#[derive(Deserialize, Default)]
struct InstagrapiUuids {
    #[serde(default)]
    uuid: String,
    #[serde(default)]
    phone_id: Option<String>,
    #[serde(default)]
    android_device_id: Option<String>,
}

fn json_str(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl InstagrapiSettings {
    fn into_session(self) -> Session {
        use base64::Engine as _;
        let mut cookies: BTreeMap<String, String> = self
            .cookies
            .iter()
            .filter_map(|(k, v)| json_str(v).map(|v| (k.clone(), v)))
            .collect();
        if let Some(mid) = self.mid {
            cookies.entry("mid".into()).or_insert(mid);
        }
        let auth: BTreeMap<String, String> = self
            .authorization_data
            .iter()
            .filter_map(|(k, v)| json_str(v).map(|v| (k.clone(), v)))
            .collect();
        // instagrapi sends the decoded authorization_data back as `Bearer IGT:2:<base64 JSON>`.
        let authorization = auth.get("sessionid").map(|_| {
            let json = serde_json::to_string(&auth).unwrap_or_default();
            format!(
                "Bearer IGT:2:{}",
                base64::engine::general_purpose::STANDARD.encode(json)
            )
        });
        let ds_user_id = auth
            .get("ds_user_id")
            .cloned()
            .or_else(|| cookies.get("ds_user_id").cloned());
        Session {
            cookies,
            authorization,
            uuid: self.uuids.uuid,
            phone_id: self.uuids.phone_id,
            android_device_id: self.uuids.android_device_id,
            user_agent: self
                .user_agent
                .unwrap_or_else(|| DEFAULT_USER_AGENT.to_string()),
            ds_user_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_format() {
        let s = Session::parse(
            r#"{"cookies":{"sessionid":"S","csrftoken":"C","ds_user_id":"42"},"uuid":"u-1"}"#,
        )
        .expect("valid");
        assert_eq!(s.csrftoken(), "C");
        assert_eq!(s.ds_user_id.as_deref(), Some("42"));
        assert!(s.authorization.is_none());
        assert!(!format!("{s:?}").contains("\"S\""));
    }

    #[test]
    fn instagrapi_format() {
        let s = Session::parse(
            r#"{"uuids":{"phone_id":"p","uuid":"u-2","android_device_id":"android-0123456789abcdef"},
                "mid":"M","cookies":{},"authorization_data":{"ds_user_id":"7","sessionid":"7%3Aabc"},
                "device_settings":{"app_version":"449.0.0.52.84"},"user_agent":"Instagram X"}"#,
        )
        .expect("valid");
        assert_eq!(s.uuid, "u-2");
        assert_eq!(s.ds_user_id.as_deref(), Some("7"));
        assert_eq!(s.user_agent, "Instagram X");
        let auth = s.authorization.expect("bearer");
        assert!(auth.starts_with("Bearer IGT:2:"));
        assert_eq!(s.cookies.get("mid").map(String::as_str), Some("M"));
    }

    #[test]
    fn no_credential_is_refused() {
        let err = Session::parse(r#"{"cookies":{"csrftoken":"C"},"uuid":"u"}"#).unwrap_err();
        assert!(err.contains("sessionid"), "{err}");
    }
}
