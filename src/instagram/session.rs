//! The logged-in identity iglive polls with: cookies or an IGT bearer token, plus the device
//! identity the Android app sends. Loaded from a session file in either iglive's own minimal
//! format or the JSON instagrapi's `dump_settings()` writes (docs/instagram.md §1 "instagrapi settings").

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::value::RawValue;

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
    #[error("{path}: cannot read the session file: {source}: iglive's user may not read it; under systemd pass it as a credential (`LoadCredential=session.json:{path}` in the unit and `session_file = \"credential:session.json\"`), otherwise make it owned by the user iglive runs as, mode 0600")]
    Unreadable {
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
        let text = read_private(path)?;
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
            // From the text, not from `value`: a `Value` would sort `authorization_data`'s keys.
            let s: InstagrapiSettings =
                serde_json::from_str(text).map_err(|e| format!("instagrapi settings: {e}"))?;
            s.into_session()?
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

/// The text of a session file that only its owner can read.
pub fn read_private(path: &Path) -> Result<String, SessionError> {
    check_private(path)?;
    std::fs::read_to_string(path).map_err(|source| read_error(path, source))
}

fn read_error(path: &Path, source: std::io::Error) -> SessionError {
    let path = path.to_path_buf();
    if source.kind() == std::io::ErrorKind::PermissionDenied {
        SessionError::Unreadable { path, source }
    } else {
        SessionError::Read { path, source }
    }
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), SessionError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|source| read_error(path, source))?;
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
    /// The decoded token, kept as the file's text: its key order and value types are what
    /// instagrapi re-encodes, so they must survive untouched.
    #[serde(default)]
    authorization_data: Option<Box<RawValue>>,
    /// iglive's addition: the `Authorization` value exactly as Instagram sent it.
    #[serde(default)]
    authorization: Option<String>,
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

/// JSON text without the whitespace outside strings: what Python's
/// `json.dumps(v, separators=(",", ":"))` writes for a value `json.load` read from this text
/// (keys in file order, escapes as written, since instagrapi's files are Python's own output).
fn compact_json(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in raw.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

/// The bearer instagrapi sends for its `authorization_data`: `Bearer IGT:2:` and the base64
/// of the compact JSON (instagrapi `mixins/auth.py`, `authorization`). Only when the data
/// holds a `sessionid`.
fn bearer_from_data(raw: &RawValue) -> Option<String> {
    use base64::Engine as _;
    let v: serde_json::Value = serde_json::from_str(raw.get()).ok()?;
    v.get("sessionid")
        .and_then(json_str)
        .filter(|s| !s.is_empty())?;
    Some(format!(
        "Bearer IGT:2:{}",
        base64::engine::general_purpose::STANDARD.encode(compact_json(raw.get()))
    ))
}

/// `ds_user_id` inside a bearer token's JSON.
fn token_user_id(token: &str) -> Option<String> {
    use base64::Engine as _;
    let b64 = token.strip_prefix("Bearer IGT:2:")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("ds_user_id").and_then(json_str)
}

impl InstagrapiSettings {
    fn into_session(self) -> Result<Session, String> {
        let mut cookies: BTreeMap<String, String> = self
            .cookies
            .iter()
            .filter_map(|(k, v)| json_str(v).map(|v| (k.clone(), v)))
            .collect();
        if let Some(mid) = self.mid {
            cookies.entry("mid".into()).or_insert(mid);
        }
        // The header as stored wins; otherwise rebuild it exactly as instagrapi would.
        let authorization = match self.authorization.filter(|a| !a.trim().is_empty()) {
            Some(a) if a.starts_with("Bearer IGT:") => Some(a),
            Some(_) => return Err("`authorization` must be a `Bearer IGT:…` value".into()),
            None => self
                .authorization_data
                .as_deref()
                .and_then(bearer_from_data),
        };
        let ds_user_id = authorization
            .as_deref()
            .and_then(token_user_id)
            .or_else(|| cookies.get("ds_user_id").cloned());
        Ok(Session {
            cookies,
            authorization,
            uuid: self.uuids.uuid,
            phone_id: self.uuids.phone_id,
            android_device_id: self.uuids.android_device_id,
            user_agent: self
                .user_agent
                .unwrap_or_else(|| DEFAULT_USER_AGENT.to_string()),
            ds_user_id,
        })
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

    /// instagrapi's own file (Python `json.dump(indent=4)`): the token is rebuilt with the
    /// boolean kept and the keys in file order, so it is the one instagrapi sends.
    #[test]
    fn instagrapi_token_is_rebuilt_byte_exact() {
        use base64::Engine as _;
        let text = r#"{
    "uuids": {"uuid": "u-3"},
    "authorization_data": {
        "sessionid": "9%3Aabc%3A1",
        "ds_user_id": "9",
        "should_use_header_over_cookies": true
    }
}"#;
        let s = Session::parse(text).expect("valid");
        let auth = s.authorization.expect("bearer");
        let json = base64::engine::general_purpose::STANDARD
            .decode(auth.strip_prefix("Bearer IGT:2:").expect("prefix"))
            .expect("base64");
        assert_eq!(
            String::from_utf8(json).expect("utf8"),
            r#"{"sessionid":"9%3Aabc%3A1","ds_user_id":"9","should_use_header_over_cookies":true}"#
        );
        assert_eq!(s.ds_user_id.as_deref(), Some("9"));
    }

    #[test]
    fn stored_header_is_used_verbatim() {
        let text = r#"{"uuids":{"uuid":"u-4"},"authorization_data":{"sessionid":"x"},
            "authorization":"Bearer IGT:2:eyJzZXNzaW9uaWQiOiJ5In0="}"#;
        let s = Session::parse(text).expect("valid");
        assert_eq!(
            s.authorization.as_deref(),
            Some("Bearer IGT:2:eyJzZXNzaW9uaWQiOiJ5In0=")
        );
        assert!(Session::parse(r#"{"uuids":{"uuid":"u"},"authorization":"Basic x"}"#).is_err());
        assert_eq!(
            compact_json(" { \"a b\" : [ 1 , \"x\\\" y\" ] } "),
            r#"{"a b":[1,"x\" y"]}"#
        );
    }

    #[test]
    fn unreadable_file_says_how_to_pass_it() {
        let e = read_error(
            Path::new("/etc/iglive/session.json"),
            std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        )
        .to_string();
        assert!(
            e.contains("LoadCredential=session.json:/etc/iglive/session.json"),
            "{e}"
        );
    }

    #[test]
    fn no_credential_is_refused() {
        let err = Session::parse(r#"{"cookies":{"csrftoken":"C"},"uuid":"u"}"#).unwrap_err();
        assert!(err.contains("sessionid"), "{err}");
    }
}
