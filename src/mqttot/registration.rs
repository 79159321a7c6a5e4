//! Registration: the token request on `/fbns_reg_req` and its answer on `/fbns_reg_resp`
//! (docs/instagram.md §9 "Registration: `push/register`"). The client then gives the token to
//! Instagram with `push/register/`.

use serde_json::Value;

/// The package FBNS delivers for.
pub const PACKAGE: &str = "com.instagram.android";
/// The `appid` of the request: the string fbns-react, mgp25 and instagram_mqtt send (a real
/// log shows it); instagrapi's number `567310203415052` is the other candidate.
pub const APP_ID: &str = "567067343352427";

/// Why no token came out of a `/fbns_reg_resp`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    #[error("registration response is not a JSON object")]
    NotJson,
    #[error("FBNS refused the registration: {0}")]
    Refused(String),
    #[error("registration response is for package {0:?}, not {PACKAGE}")]
    WrongPackage(String),
    #[error("registration response carries no token")]
    NoToken,
}

/// The JSON of the `/fbns_reg_req` PUBLISH (compressed by the caller).
pub fn request_json() -> Vec<u8> {
    format!(r#"{{"pkg_name":"{PACKAGE}","appid":"{APP_ID}"}}"#).into_bytes()
}

/// The token of a `/fbns_reg_resp` (inflated JSON). Success is an empty or absent `error`
/// and a non-empty `token`; a `pkg_name`, when present, must be Instagram's.
pub fn parse_response(json: &[u8]) -> Result<String, RegisterError> {
    let Ok(Value::Object(v)) = serde_json::from_slice::<Value>(json) else {
        return Err(RegisterError::NotJson);
    };
    let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let error = text("error");
    if !error.is_empty() {
        return Err(RegisterError::Refused(error.chars().take(200).collect()));
    }
    let package = text("pkg_name");
    if !package.is_empty() && package != PACKAGE {
        return Err(RegisterError::WrongPackage(
            package.chars().take(100).collect(),
        ));
    }
    let token = text("token");
    if token.is_empty() {
        return Err(RegisterError::NoToken);
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_is_the_documented_json() {
        // docs/instagram.md §9 test vector: 62 bytes with the appid as a string.
        let json = request_json();
        assert_eq!(
            String::from_utf8(json.clone()).expect("utf8"),
            r#"{"pkg_name":"com.instagram.android","appid":"567067343352427"}"#
        );
        assert_eq!(json.len(), 62);
    }

    #[test]
    fn responses() {
        assert_eq!(
            parse_response(
                br#"{"pkg_name":"com.instagram.android","token":"fbns-token-1","error":""}"#
            ),
            Ok("fbns-token-1".into())
        );
        assert_eq!(parse_response(br#"{"token":"t"}"#), Ok("t".into()));
        assert_eq!(
            parse_response(br#"{"pkg_name":"com.instagram.android","error":"invalid"}"#),
            Err(RegisterError::Refused("invalid".into()))
        );
        assert_eq!(
            parse_response(br#"{"pkg_name":"com.facebook.katana","token":"t"}"#),
            Err(RegisterError::WrongPackage("com.facebook.katana".into()))
        );
        assert_eq!(
            parse_response(br#"{"pkg_name":"com.instagram.android"}"#),
            Err(RegisterError::NoToken)
        );
        assert_eq!(parse_response(b"\x78\x9c"), Err(RegisterError::NotJson));
    }
}
