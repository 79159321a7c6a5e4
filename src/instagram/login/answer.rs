//! Reading Instagram's answers to the login requests (docs/instagram.md §6 "`POST
//! accounts/login/`", "Two-factor", "Challenges"): pure functions from status, headers and
//! body to the next step or a typed refusal, tolerant of unknown fields, never panicking on
//! HTML or junk.

use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;

use super::error::LoginError;

/// Longest server text quoted in a message.
const MAX_QUOTE: usize = 160;
/// Longest bearer token accepted (the real ones are about 200 characters).
const MAX_TOKEN: usize = 4096;

fn clip(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(MAX_QUOTE) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A boolean as Instagram writes them: `true`, `1`, `"1"`, `"true"`, `"True"`.
fn flag(v: &Value, key: &str) -> bool {
    match v.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64().is_some_and(|n| n != 0),
        Some(Value::String(s)) => matches!(s.as_str(), "1" | "true" | "True"),
        _ => false,
    }
}

/// A pk as a digit string, whether sent as a number or a string.
fn pk_of(v: Option<&Value>) -> Option<String> {
    let s = match v? {
        Value::Number(n) => n.as_u64()?.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => return None,
    };
    (!s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit())).then_some(s)
}

/// What `two_factor_info` says about the second factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwoFactorInfo {
    pub identifier: String,
    pub username: String,
    /// The last digits of the phone, as Instagram shows them.
    pub obfuscated_phone: Option<String>,
    pub sms: bool,
    pub totp: bool,
    pub whatsapp: bool,
}

/// A `challenge_required` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `challenge/<user_id>/<nonce>/`, relative to the API root (no leading `/`, no `api/v1`).
    pub api_path: String,
    pub native_flow: bool,
    /// The server's `challenge_context`, passed back on the state request.
    pub context: Option<String>,
}

impl Challenge {
    /// Why a terminal cannot answer this challenge, if it cannot (docs/instagram.md §6
    /// "Challenges", step 2).
    pub fn manual_reason(&self) -> Option<String> {
        if self.api_path.starts_with("auth_platform/") {
            return Some("an auth_platform challenge".into());
        }
        let parts: Vec<&str> = self
            .api_path
            .trim_end_matches('/')
            .split('/')
            .skip(1)
            .collect();
        let legacy = parts.len() == 2 && parts[0].bytes().all(|b| b.is_ascii_digit());
        if !legacy {
            return Some(if self.native_flow {
                "a native-flow challenge".into()
            } else {
                "a challenge at an unknown address".into()
            });
        }
        None
    }

    /// `user_id` and `nonce_code` of a legacy path.
    pub fn ids(&self) -> Option<(String, String)> {
        let mut it = self.api_path.trim_end_matches('/').split('/').skip(1);
        Some((it.next()?.to_string(), it.next()?.to_string()))
    }
}

/// One state of a legacy challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChallengeStep {
    /// Choose where the code goes: `choice` "1" email, "0" SMS.
    SelectMethod {
        email: Option<String>,
        phone: Option<String>,
    },
    /// Enter the code sent to `sent_to`.
    EnterCode { sent_to: Option<String> },
    /// "Was this you?": answered with choice 0 ("it was me").
    ItWasMe { step: String },
    /// Finished (`action: close`).
    Done,
    /// A step a terminal cannot do.
    Manual { step: String },
}

impl ChallengeStep {
    pub fn parse(v: &Value) -> ChallengeStep {
        if text(v, "action") == "close" {
            return ChallengeStep::Done;
        }
        let step = text(v, "step_name").to_string();
        let data = v.get("step_data").cloned().unwrap_or(Value::Null);
        let opt = |k: &str| Some(text(&data, k).to_string()).filter(|s| !s.is_empty());
        let bloks_redirect = text(v, "bloks_action") == "com.bloks.www.ig.challenge.redirect.async";
        match step.as_str() {
            _ if bloks_redirect => ChallengeStep::Manual { step },
            "select_verify_method" | "select_contact_point_recovery" => {
                ChallengeStep::SelectMethod {
                    email: opt("email"),
                    phone: opt("phone_number"),
                }
            }
            s if s.starts_with("verify_") => ChallengeStep::EnterCode {
                sent_to: opt("contact_point")
                    .or_else(|| opt("email"))
                    .or_else(|| opt("phone_number")),
            },
            "delta_login_review" | "delta_acknowledge_approved" | "scraping_warning" => {
                ChallengeStep::ItWasMe { step }
            }
            "" => ChallengeStep::Manual {
                step: "a challenge without a step".into(),
            },
            _ => ChallengeStep::Manual { step },
        }
    }
}

/// What a login request led to, when it was not a refusal.
#[derive(Debug, Clone)]
pub enum Reply {
    /// `status: ok`; the JSON body.
    Ok(Value),
    TwoFactor(TwoFactorInfo),
    Challenge(Challenge),
    /// A two-factor or challenge code was refused; the message.
    WrongCode(String),
}

/// Normalises a challenge path: `/api/v1/challenge/…`, `/challenge/…` or a full URL become
/// `challenge/…`.
fn normalise_path(p: &str) -> String {
    let p = p.trim();
    let p = match url::Url::parse(p) {
        Ok(u) => u.path().to_string(),
        Err(_) => p.to_string(),
    };
    let p = p.trim_start_matches('/');
    let p = p.strip_prefix("api/v1/").unwrap_or(p);
    p.to_string()
}

/// Classifies one answer. `step` names the request for messages.
pub fn classify(
    step: &'static str,
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> Result<Reply, LoginError> {
    let json: Option<Value> = serde_json::from_slice(body).ok().filter(Value::is_object);
    let Some(v) = json else {
        return Err(not_json(step, status, retry_after, body));
    };
    if let Some(e) = rate_limited(&v, status, retry_after) {
        return Err(e);
    }
    if let Some(info) = v.get("two_factor_info").filter(|i| i.is_object()) {
        return two_factor(step, status, info);
    }
    let message = text(&v, "message");
    let error_type = text(&v, "error_type");
    if message == "challenge_required"
        || message == "checkpoint_required"
        || error_type == "checkpoint_challenge_required"
        || error_type == "challenge_required"
    {
        return challenge(&v);
    }
    if let Some(e) = refusal(&v) {
        return Err(e);
    }
    let wrong_code =
        error_type == "sms_code_validation_code_invalid" || error_type == "invalid_nonce" || {
            let m = message.to_ascii_lowercase();
            m.contains("check") && m.contains("code")
        };
    if wrong_code && text(&v, "status") == "fail" {
        return Ok(Reply::WrongCode(clip(message)));
    }
    if !(200..300).contains(&status) || text(&v, "status") == "fail" {
        return Err(unexpected_failure(step, status, error_type, message));
    }
    Ok(Reply::Ok(v))
}

/// A body that is not a JSON object: a 429, an HTML page, nothing at all.
fn not_json(
    step: &'static str,
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> LoginError {
    if status == 429 {
        return LoginError::RateLimited {
            message: "HTTP 429".into(),
            retry_after,
        };
    }
    let head = String::from_utf8_lossy(&body[..body.len().min(512)]).to_ascii_lowercase();
    let what = if head.contains("<html") || head.contains("<!doctype") {
        "an HTML page instead of JSON".to_string()
    } else if body.is_empty() {
        "an empty body".to_string()
    } else {
        "not a JSON object".to_string()
    };
    LoginError::Unexpected {
        step,
        status,
        detail: what,
    }
}

/// "Please wait a few minutes", a 429 or a rate-limit error type.
fn rate_limited(v: &Value, status: u16, retry_after: Option<Duration>) -> Option<LoginError> {
    let message = text(v, "message");
    let throttled = status == 429
        || message.contains("Please wait a few minutes")
        || text(v, "feedback_message").contains("Please wait a few minutes")
        || text(v, "error_type") == "rate_limit_error";
    throttled.then(|| LoginError::RateLimited {
        message: clip(if message.is_empty() {
            "HTTP 429"
        } else {
            message
        }),
        retry_after,
    })
}

/// `two_factor_info`: which second factors the account has, and the identifier to send back.
fn two_factor(step: &'static str, status: u16, info: &Value) -> Result<Reply, LoginError> {
    let identifier = text(info, "two_factor_identifier").to_string();
    if identifier.is_empty() {
        return Err(LoginError::Unexpected {
            step,
            status,
            detail: "two_factor_info without a two_factor_identifier".into(),
        });
    }
    let phone = match info.get("obfuscated_phone_number") {
        Some(Value::String(s)) if !s.is_empty() => Some(clip(s)),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    Ok(Reply::TwoFactor(TwoFactorInfo {
        identifier,
        username: text(info, "username").to_string(),
        obfuscated_phone: phone,
        sms: flag(info, "sms_two_factor_on"),
        totp: flag(info, "totp_two_factor_on"),
        whatsapp: flag(info, "whatsapp_two_factor_on"),
    }))
}

/// `challenge_required`: where the challenge lives, unless it is a suspension.
fn challenge(v: &Value) -> Result<Reply, LoginError> {
    let ch = v.get("challenge").cloned().unwrap_or(Value::Null);
    let path = [
        text(&ch, "api_path"),
        text(&ch, "url"),
        text(v, "checkpoint_url"),
    ]
    .into_iter()
    .find(|s| !s.is_empty())
    .unwrap_or("");
    if path.contains("/suspended/") {
        return Err(LoginError::Suspended {
            detail: "Instagram sent a suspension review".into(),
        });
    }
    let context = match ch.get("challenge_context") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(o @ Value::Object(_)) => Some(o.to_string()),
        _ => None,
    };
    Ok(Reply::Challenge(Challenge {
        api_path: normalise_path(path),
        native_flow: flag(&ch, "native_flow"),
        context,
    }))
}

/// The refusals Instagram names: a wrong password, an unknown user, an old app, blocks.
fn refusal(v: &Value) -> Option<LoginError> {
    let message = text(v, "message");
    let error_type = text(v, "error_type");
    let feedback = text(v, "feedback_message");
    let or = |s: &str, fallback: &str| clip(if s.is_empty() { fallback } else { s });
    let blocked = |kind: &str, message: &str| LoginError::Blocked {
        kind: kind.to_string(),
        message: clip(message),
    };
    match error_type {
        "bad_password" => {
            return Some(LoginError::BadPassword {
                message: or(message, "bad_password"),
            })
        }
        "invalid_user" => {
            return Some(LoginError::InvalidUser {
                username: String::new(),
            })
        }
        "needs_upgrade" => return Some(LoginError::NeedsUpgrade),
        "inactive user" => {
            return Some(LoginError::Suspended {
                detail: "inactive user".into(),
            })
        }
        "sentry_block" | "ip_block" => return Some(blocked(error_type, message)),
        _ => {}
    }
    if text(v, "exception_name") == "RleLoginBlocked" {
        return Some(blocked("RleLoginBlocked", message));
    }
    if message == "feedback_required" || flag(v, "spam") {
        return Some(blocked("feedback_required", &or(feedback, message)));
    }
    (message == "Invalid Parameters").then(|| LoginError::NeedsApp {
        what: "two-factor authentication in the app's newer (Bloks) form".into(),
    })
}

/// A failure no rule above recognised, with whatever it said.
fn unexpected_failure(
    step: &'static str,
    status: u16,
    error_type: &str,
    message: &str,
) -> LoginError {
    let what = [error_type, message]
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(clip)
        .collect::<Vec<_>>()
        .join(": ");
    LoginError::Unexpected {
        step,
        status,
        detail: if what.is_empty() {
            "a failure without error_type or message".into()
        } else {
            what
        },
    }
}

/// A bearer token as `ig-set-authorization` carries it, if it is a usable one: `Bearer IGT:`,
/// not the empty `Bearer IGT:2:` of logged-out answers, printable ASCII, bounded.
pub fn usable_token(header: &str) -> Option<&str> {
    let t = header.trim();
    let ok = t.starts_with("Bearer IGT:")
        && !t.ends_with(':')
        && t.len() <= MAX_TOKEN
        && t.bytes().all(|b| (0x20..0x7f).contains(&b));
    ok.then_some(t)
}

/// The JSON inside `Bearer IGT:2:<base64>`, exactly as Instagram encoded it.
pub fn token_json(token: &str) -> Option<String> {
    let b64 = token.strip_prefix("Bearer IGT:2:")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    serde_json::from_str::<Value>(&text)
        .ok()
        .filter(Value::is_object)
        .map(|_| text)
}

/// The logged-in account of a successful answer: `logged_in_user.pk`, else the token's
/// `ds_user_id`; refuses the disabled-account placeholder name.
pub fn logged_in_user(
    v: &Value,
    token: Option<&str>,
) -> Result<(String, Option<String>), LoginError> {
    let user = v.get("logged_in_user").cloned().unwrap_or(Value::Null);
    let username = Some(text(&user, "username").to_string()).filter(|s| !s.is_empty());
    if username.as_deref() == Some("Instagram User") {
        return Err(LoginError::Suspended {
            detail:
                "Instagram names the account \"Instagram User\", its sign for a disabled account"
                    .into(),
        });
    }
    let from_token = token
        .and_then(token_json)
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|t| pk_of(t.get("ds_user_id")));
    let pk = pk_of(user.get("pk"))
        .or_else(|| pk_of(user.get("pk_id")))
        .or(from_token)
        .ok_or(LoginError::Unexpected {
            step: "login",
            status: 200,
            detail: "a success without the account's pk".into(),
        })?;
    Ok((pk, username))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(status: u16, body: &str) -> Result<Reply, LoginError> {
        classify("login", status, None, body.as_bytes())
    }

    #[test]
    fn bad_password_and_friends() {
        let e = c(400, r#"{"message":"The password you entered is incorrect. Please try again.","status":"fail","error_type":"bad_password","exception_name":"UserInvalidCredentials","invalid_credentials":true}"#).unwrap_err();
        assert!(matches!(e, LoginError::BadPassword { .. }), "{e}");
        assert!(e.to_string().contains("approve the login"), "{e}");
        assert!(matches!(
            c(400, r#"{"status":"fail","error_type":"needs_upgrade"}"#).unwrap_err(),
            LoginError::NeedsUpgrade
        ));
        assert!(matches!(
            c(400, r#"{"status":"fail","error_type":"invalid_user"}"#).unwrap_err(),
            LoginError::InvalidUser { .. }
        ));
        assert!(matches!(
            c(
                400,
                r#"{"message":"Please wait a few minutes before you try again.","status":"fail"}"#
            )
            .unwrap_err(),
            LoginError::RateLimited { .. }
        ));
        assert!(matches!(
            c(429, "Too Many Requests").unwrap_err(),
            LoginError::RateLimited { .. }
        ));
        assert!(matches!(
            c(400, r#"{"message":"Invalid Parameters","status":"fail"}"#).unwrap_err(),
            LoginError::NeedsApp { .. }
        ));
        assert!(matches!(
            c(400, r#"{"message":"feedback_required","spam":true,"feedback_message":"Try later","status":"fail"}"#).unwrap_err(),
            LoginError::Blocked { .. }
        ));
    }

    #[test]
    fn html_junk_and_unknown_failures_are_clear_errors() {
        let e = c(
            200,
            "<!DOCTYPE html><html><body>Login • Instagram</body></html>",
        )
        .unwrap_err();
        assert!(e.to_string().contains("HTML page"), "{e}");
        assert!(!e.refused());
        let e = c(200, "").unwrap_err();
        assert!(e.to_string().contains("empty body"), "{e}");
        let e = c(200, "[1,2]").unwrap_err();
        assert!(e.to_string().contains("not a JSON object"), "{e}");
        let e = c(400, r#"{"status":"fail","error_type":"brand_new_thing","message":"nope","extra":{"x":[1]}}"#).unwrap_err();
        assert!(e.to_string().contains("brand_new_thing: nope"), "{e}");
        let huge = format!(r#"{{"status":"fail","message":"{}"}}"#, "x".repeat(100_000));
        assert!(c(400, &huge).unwrap_err().to_string().len() < 1000);
    }

    #[test]
    fn two_factor_and_challenge() {
        let r = c(400, r#"{"message":"","two_factor_required":true,"two_factor_info":{"username":"a","two_factor_identifier":"TFI","obfuscated_phone_number":1234,"sms_two_factor_on":true,"totp_two_factor_on":"0"},"status":"fail","error_type":"two_factor_required"}"#).expect("reply");
        let Reply::TwoFactor(tf) = r else {
            panic!("two-factor")
        };
        assert_eq!(tf.identifier, "TFI");
        assert_eq!(tf.obfuscated_phone.as_deref(), Some("1234"));
        assert!(tf.sms && !tf.totp);

        let r = c(400, r#"{"message":"challenge_required","challenge":{"url":"https://i.instagram.com/challenge/123/AbC/","api_path":"/challenge/123/AbC/","native_flow":false},"status":"fail","error_type":"checkpoint_challenge_required"}"#).expect("reply");
        let Reply::Challenge(ch) = r else {
            panic!("challenge")
        };
        assert_eq!(ch.api_path, "challenge/123/AbC/");
        assert_eq!(ch.manual_reason(), None);
        assert_eq!(ch.ids(), Some(("123".into(), "AbC".into())));

        let r = c(400, r#"{"message":"challenge_required","challenge":{"api_path":"/challenge/AXG7pQ/Zq9x1_y/","native_flow":true},"status":"fail"}"#).expect("reply");
        let Reply::Challenge(ch) = r else {
            panic!("challenge")
        };
        assert!(ch
            .manual_reason()
            .is_some_and(|r| r.contains("native-flow")));
        assert!(matches!(
            c(400, r#"{"message":"challenge_required","challenge":{"url":"https://i.instagram.com/accounts/suspended/?next=x"},"status":"fail"}"#).unwrap_err(),
            LoginError::Suspended { .. }
        ));
    }

    #[test]
    fn wrong_codes() {
        assert!(matches!(
            c(
                400,
                r#"{"message":"Please check the security code and try again.","status":"fail","error_type":"sms_code_validation_code_invalid"}"#
            ),
            Ok(Reply::WrongCode(_))
        ));
    }

    #[test]
    fn challenge_steps() {
        let v: Value = serde_json::from_str(r#"{"step_name":"select_verify_method","step_data":{"choice":"0","phone_number":"+1 ***-***-12","email":"a****e@e*****.com"},"status":"ok"}"#).expect("json");
        assert_eq!(
            ChallengeStep::parse(&v),
            ChallengeStep::SelectMethod {
                email: Some("a****e@e*****.com".into()),
                phone: Some("+1 ***-***-12".into())
            }
        );
        let v: Value = serde_json::from_str(r#"{"action":"close","status":"ok"}"#).expect("json");
        assert_eq!(ChallengeStep::parse(&v), ChallengeStep::Done);
        let v: Value = serde_json::from_str(r#"{"step_name":"selfie_captcha"}"#).expect("json");
        assert!(matches!(
            ChallengeStep::parse(&v),
            ChallengeStep::Manual { .. }
        ));
    }

    #[test]
    fn tokens() {
        assert_eq!(usable_token("Bearer IGT:2:"), None);
        assert_eq!(usable_token("Bearer IGT:2:abc\u{7f}"), None);
        let json =
            r#"{"ds_user_id":"7","sessionid":"7%3Aabc","should_use_header_over_cookies":true}"#;
        let t = format!(
            "Bearer IGT:2:{}",
            base64::engine::general_purpose::STANDARD.encode(json)
        );
        assert_eq!(token_json(&t).as_deref(), Some(json));
        let v: Value = serde_json::from_str(r#"{"logged_in_user":{"username":"x"},"status":"ok"}"#)
            .expect("json");
        assert_eq!(logged_in_user(&v, Some(&t)).expect("pk").0, "7");
        let v: Value =
            serde_json::from_str(r#"{"logged_in_user":{"pk":8,"username":"Instagram User"}}"#)
                .expect("json");
        assert!(logged_in_user(&v, None).is_err());
    }
}
