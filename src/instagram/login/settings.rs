//! Writing a session file in the shape of instagrapi's `dump_settings()` (docs/instagram.md
//! §6 "Session files"), so `Session::load` and instagrapi both read it. Two iglive touches:
//! `authorization_data` is the token's JSON exactly as Instagram encoded it (key order and
//! types kept, so instagrapi rebuilds the same token), and `authorization` holds the header
//! value itself, which iglive sends byte for byte. The file is written 0600, atomically.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::answer::token_json;
use super::device::Device;
use super::error::LoginError;
use crate::config::write_atomic;

/// What a successful login (or an import) leaves behind.
#[derive(Clone, Default)]
pub struct Credential {
    /// The `ig-set-authorization` value as received, if Instagram sent one.
    pub authorization: Option<String>,
    /// Cookies as Instagram set them (`csrftoken`, `mid`, and `sessionid`/`ds_user_id` for
    /// cookie sessions).
    pub cookies: BTreeMap<String, String>,
    pub mid: Option<String>,
    pub ig_u_rur: Option<String>,
    pub ig_www_claim: Option<String>,
    /// The account's pk and username.
    pub user_pk: String,
    pub username: Option<String>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .field("cookies", &self.cookies.keys().collect::<Vec<_>>())
            .field("user_pk", &self.user_pk)
            .field("username", &self.username)
            .finish()
    }
}

/// instagrapi's key order (`get_settings()`), with iglive's `authorization` last.
#[derive(Serialize)]
struct Settings<'a> {
    uuids: Value,
    mid: Option<&'a str>,
    ig_u_rur: Option<&'a str>,
    ig_www_claim: Option<&'a str>,
    authorization_data: Box<RawValue>,
    cookies: &'a BTreeMap<String, String>,
    last_login: f64,
    device_settings: &'a Value,
    user_agent: &'a str,
    country: &'static str,
    country_code: u32,
    locale: &'static str,
    timezone_offset: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    authorization: Option<&'a str>,
}

/// The settings document for `device` and `credential`.
pub fn settings_json(
    device: &Device,
    credential: &Credential,
    last_login: f64,
) -> Result<String, LoginError> {
    let raw = credential
        .authorization
        .as_deref()
        .and_then(token_json)
        .unwrap_or_else(|| "{}".to_string());
    let auth_data = RawValue::from_string(raw).map_err(|e| LoginError::Unexpected {
        step: "session file",
        status: 200,
        detail: format!("the token's JSON: {e}"),
    })?;
    let settings = Settings {
        uuids: device.uuids_json(),
        mid: credential.mid.as_deref(),
        ig_u_rur: credential.ig_u_rur.as_deref(),
        ig_www_claim: credential.ig_www_claim.as_deref(),
        authorization_data: auth_data,
        cookies: &credential.cookies,
        last_login,
        device_settings: &device.device_settings,
        user_agent: &device.user_agent,
        country: "US",
        country_code: 1,
        locale: "en_US",
        timezone_offset: 0,
        authorization: credential.authorization.as_deref(),
    };
    let text = serde_json::to_string_pretty(&settings).map_err(|e| LoginError::Unexpected {
        step: "session file",
        status: 200,
        detail: e.to_string(),
    })?;
    Ok(text + "\n")
}

/// Writes the session file: mode 0600, temp file + fsync + rename.
pub fn write_session(path: &Path, text: &str) -> Result<(), LoginError> {
    write_atomic(path, text.as_bytes(), 0o600).map_err(|source| LoginError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instagram::Session;
    use base64::Engine as _;

    #[test]
    fn written_settings_load_with_the_token_byte_exact() {
        let json = r#"{"ds_user_id":"5001","sessionid":"5001%3Aabc%3A1","should_use_header_over_cookies":true}"#;
        let token = format!(
            "Bearer IGT:2:{}",
            base64::engine::general_purpose::STANDARD.encode(json)
        );
        let cred = Credential {
            authorization: Some(token.clone()),
            user_pk: "5001".into(),
            mid: Some("M".into()),
            ..Default::default()
        };
        let d = Device::generate();
        let text = settings_json(&d, &cred, 1.7e9).expect("settings");
        assert!(text.contains(json), "{text}");
        let s = Session::parse(&text).expect("loads");
        assert_eq!(s.authorization.as_deref(), Some(token.as_str()));
        assert_eq!(s.uuid, d.uuid);
        assert_eq!(s.ds_user_id.as_deref(), Some("5001"));
        assert!(!format!("{cred:?}").contains("IGT"));
    }
}
