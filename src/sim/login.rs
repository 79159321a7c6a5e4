//! The legacy login as the simulated Instagram answers it (docs/instagram.md §6, and the
//! login simulator checklist of the accounts reference): an RSA key pair of its own published
//! in the pre-login headers, `enc_password` really decrypted and checked, two-factor (TOTP or
//! SMS), a legacy challenge, every refusal a scenario asks for, and bearer tokens the rest of
//! the simulated API then accepts.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, Response, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use base64::Engine as _;
use rand::Rng as _;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::{json, Value};

use super::scenario::{Login, LoginRefusal};
use super::state::SimState;

/// The session `session_json()` hands out; always accepted.
pub const STATIC_SESSIONID: &str = "1000001%3Asimsession%3A1";

/// What the login endpoints remember between requests.
pub struct LoginState {
    pub script: Login,
    private: rsa::PrivateKey,
    public_b64: String,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// `sessionid`s of issued tokens.
    issued: HashSet<String>,
    /// two_factor_identifier → SMS codes sent so far.
    two_factor: HashMap<String, u32>,
    /// Challenge nonces issued, with the contact point chosen.
    challenges: HashMap<String, Option<&'static str>>,
    /// A challenge was passed: the repeated login succeeds.
    challenge_passed: bool,
    /// Tokens issued so far (keeps every `sessionid` unique).
    counter: u64,
}

impl LoginState {
    /// Generates the key pair (RSA-2048, like the key mgp25 ships).
    pub fn new(script: Login) -> Result<LoginState, String> {
        let private = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048)
            .map_err(|e| format!("RSA key generation failed: {e}"))?;
        let pem = private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| format!("PEM encoding failed: {e}"))?;
        Ok(LoginState {
            script,
            private,
            public_b64: base64::engine::general_purpose::STANDARD.encode(pem),
            inner: Mutex::new(Inner::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a `sessionid` was issued here (or is the static one).
    pub fn accepts(&self, sessionid: &str) -> bool {
        sessionid == STATIC_SESSIONID || self.lock().issued.contains(sessionid)
    }

    /// Decodes `#PWD_INSTAGRAM:4:<time>:<base64>` back to the password.
    pub fn decrypt(&self, enc: &str) -> Result<String, String> {
        let parts: Vec<&str> = enc.splitn(4, ':').collect();
        let [tag, version, time, b64] = parts[..] else {
            return Err("not four `:`-separated parts".into());
        };
        if tag != "#PWD_INSTAGRAM" || version != "4" {
            return Err(format!("prefix {tag}:{version}, expected #PWD_INSTAGRAM:4"));
        }
        if time.is_empty() || !time.bytes().all(|b| b.is_ascii_digit()) {
            return Err("the timestamp is not decimal".into());
        }
        let b = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| format!("base64: {e}"))?;
        if b.len() < 16 || b[0] != 1 {
            return Err("the blob does not start with version byte 1".into());
        }
        if b[1] != self.script.key_id {
            return Err(format!(
                "key id {} in the blob, {} published",
                b[1], self.script.key_id
            ));
        }
        let n = usize::from(u16::from_le_bytes([b[14], b[15]]));
        if b.len() < 32 + n {
            return Err("the blob is shorter than its RSA length says".into());
        }
        let key = self
            .private
            .pkcs1v15_decrypt(&b[16..16 + n])
            .map_err(|e| format!("RSA: {e}"))?;
        let key: [u8; 32] = key
            .as_slice()
            .try_into()
            .map_err(|_| format!("the AES key is {} bytes, not 32", key.len()))?;
        let iv: [u8; 12] = b[2..14].try_into().map_err(|_| "iv".to_string())?;
        let tag: [u8; 16] = b[16 + n..32 + n]
            .try_into()
            .map_err(|_| "tag".to_string())?;
        let mut ct = b[32 + n..].to_vec();
        Aes256Gcm::new(&key.into())
            .decrypt_inout_detached(
                &Nonce::from(iv),
                time.as_bytes(),
                ct.as_mut_slice().into(),
                &Tag::from(tag),
            )
            .map_err(|_| "AES-GCM authentication failed (wrong AAD, key or layout)".to_string())?;
        String::from_utf8(ct).map_err(|_| "the password is not UTF-8".into())
    }

    /// A new bearer token and its `sessionid`.
    fn issue(&self) -> String {
        let pk = self.script.pk;
        let mut inner = self.lock();
        inner.counter += 1;
        let sessionid = format!(
            "{pk}%3A{}%3A{}",
            rand::thread_rng().gen::<u64>(),
            inner.counter
        );
        inner.issued.insert(sessionid.clone());
        // Instagram's key order and the boolean as a boolean (docs/instagram.md §6).
        let json = format!(
            r#"{{"ds_user_id":"{pk}","sessionid":"{sessionid}","should_use_header_over_cookies":true}}"#
        );
        format!(
            "Bearer IGT:2:{}",
            base64::engine::general_purpose::STANDARD.encode(json)
        )
    }
}

fn with_headers(mut resp: Response<Body>, headers: &[(&'static str, String)]) -> Response<Body> {
    for (k, v) in headers {
        if let Ok(v) = HeaderValue::from_str(v) {
            resp.headers_mut().append(*k, v);
        }
    }
    resp
}

fn json_resp(status: StatusCode, v: Value) -> Response<Body> {
    (status, Json(v)).into_response()
}

fn fail(status: StatusCode, v: Value) -> Response<Body> {
    json_resp(status, v)
}

/// The JSON inside `signed_body=SIGNATURE.<json>` (the signature is ignored).
fn signed(body: &[u8]) -> Option<Value> {
    let signed = url::form_urlencoded::parse(body)
        .into_owned()
        .find(|(k, _)| k == "signed_body")?
        .1;
    let (_, json) = signed.split_once('.')?;
    serde_json::from_str(json).ok()
}

fn field(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn login_state(state: &SimState) -> Option<&LoginState> {
    state.login.as_deref()
}

/// `launcher/sync/`, `qe/sync/`, `launcher/mobileconfig/`: `{"status":"ok"}` with the key.
pub async fn prelogin(State(state): State<Arc<SimState>>) -> Response<Body> {
    let resp = json_resp(StatusCode::OK, json!({"status": "ok"}));
    match login_state(&state) {
        Some(l) => with_headers(
            resp,
            &[
                (
                    "ig-set-password-encryption-key-id",
                    l.script.key_id.to_string(),
                ),
                ("ig-set-password-encryption-pub-key", l.public_b64.clone()),
                ("ig-set-x-mid", "sim-mid-prelogin".into()),
            ],
        ),
        None => resp,
    }
}

fn bad_password() -> Response<Body> {
    fail(
        StatusCode::BAD_REQUEST,
        json!({
            "message": "The password you entered is incorrect. Please try again.",
            "invalid_credentials": true,
            "error_title": "Incorrect Password",
            "buttons": [{"title": "Try Again", "action": "dismiss"}],
            "status": "fail",
            "error_type": "bad_password",
            "exception_name": "UserInvalidCredentials",
        }),
    )
}

fn logged_in(l: &LoginState) -> Response<Body> {
    let s = &l.script;
    let token = l.issue();
    let resp = json_resp(
        StatusCode::OK,
        json!({
            "logged_in_user": {
                "pk": s.pk,
                "pk_id": s.pk.to_string(),
                "username": s.username,
                "full_name": "",
                "is_private": false,
                "profile_pic_url": format!("https://scontent.cdninstagram.com/v/{}.jpg", s.pk),
                "is_verified": false,
                "has_anonymous_profile_picture": true,
                "is_business": false,
                "account_type": 1,
                "interop_messaging_user_fbid": 17_841_400_000_000_000u64,
                "nametag": {"mode": 0, "gradient": "2", "emoji": "😀", "selfie_sticker": "0"},
            },
            "session_flush_nonce": null,
            "sim_unknown_block": {"fields": ["clients", "must", "ignore"], "n": 1.5},
            "status": "ok",
        }),
    );
    with_headers(
        resp,
        &[
            ("ig-set-authorization", token),
            ("ig-set-x-mid", format!("sim-mid-{}", s.pk)),
            (
                "ig-set-ig-u-rur",
                format!("CLN,{},1900000000:01f7sim", s.pk),
            ),
            ("x-ig-set-www-claim", "hmac.AR2simclaim".into()),
            (
                "set-cookie",
                "csrftoken=simcsrf; Max-Age=31449600; Path=/".into(),
            ),
        ],
    )
}

fn two_factor_required(l: &LoginState) -> Response<Body> {
    let s = &l.script;
    let tf = s.two_factor.clone();
    let sms = tf.as_ref().is_some_and(|t| t.sms_code.is_some());
    let totp = tf.as_ref().is_some_and(|t| t.totp_secret.is_some())
        || s.refuse == Some(LoginRefusal::BloksTwoFactor);
    let identifier = format!("sim-2fa-{}", rand::thread_rng().gen::<u64>());
    // Instagram sends the SMS by itself when SMS is the only factor.
    let sent = u32::from(sms && !totp);
    l.lock().two_factor.insert(identifier.clone(), sent);
    fail(
        StatusCode::BAD_REQUEST,
        json!({
            "message": "",
            "two_factor_required": true,
            "two_factor_info": {
                "username": s.username,
                "two_factor_identifier": identifier,
                "obfuscated_phone_number": "12",
                "sms_two_factor_on": sms,
                "totp_two_factor_on": totp,
                "whatsapp_two_factor_on": false,
                "show_trusted_device_option": true,
                "phone_verification_settings": {"max_sms_count": 2, "resend_sms_delay_sec": 60},
            },
            "phone_verification_settings": {"max_sms_count": 2},
            "status": "fail",
            "error_type": "two_factor_required",
        }),
    )
}

fn challenge_required(l: &LoginState) -> Response<Body> {
    let nonce = format!("sim{}", rand::thread_rng().gen::<u32>());
    l.lock().challenges.insert(nonce.clone(), None);
    let path = format!("/challenge/{}/{nonce}/", l.script.pk);
    fail(
        StatusCode::BAD_REQUEST,
        json!({
            "message": "challenge_required",
            "challenge": {
                "url": format!("https://i.instagram.com{path}"),
                "api_path": path,
                "hide_webview_header": true,
                "lock": true,
                "logout": false,
                "native_flow": false,
            },
            "status": "fail",
            "error_type": "checkpoint_challenge_required",
        }),
    )
}

/// After the password (or the second factor): a challenge, or the session.
fn after_password(l: &LoginState, two_factor_done: bool) -> Response<Body> {
    if !two_factor_done && (l.script.two_factor.is_some()) {
        return two_factor_required(l);
    }
    if l.script.challenge.is_some() && !l.lock().challenge_passed {
        return challenge_required(l);
    }
    logged_in(l)
}

/// `POST accounts/login/`.
pub async fn login(State(state): State<Arc<SimState>>, body: Bytes) -> Response<Body> {
    let Some(l) = login_state(&state) else {
        return invalid_user();
    };
    let Some(v) = signed(&body) else {
        return fail(
            StatusCode::BAD_REQUEST,
            json!({"message": "Invalid request: no signed_body", "status": "fail"}),
        );
    };
    let username = field(&v, "username");
    if !username.trim().eq_ignore_ascii_case(&l.script.username) {
        return invalid_user();
    }
    for required in ["phone_id", "guid", "device_id", "jazoest"] {
        if field(&v, required).is_empty() {
            return fail(
                StatusCode::BAD_REQUEST,
                json!({"message": format!("Invalid request: missing {required}"), "status": "fail"}),
            );
        }
    }
    let password = match l.decrypt(&field(&v, "enc_password")) {
        Ok(p) => p,
        Err(why) => {
            return fail(
                StatusCode::BAD_REQUEST,
                json!({"message": format!("sim: enc_password not decryptable: {why}"), "status": "fail", "error_type": "sim_enc_password_invalid"}),
            )
        }
    };
    if password != l.script.password {
        return bad_password();
    }
    match l.script.refuse {
        Some(LoginRefusal::BadPassword) => return bad_password(),
        Some(LoginRefusal::NeedsUpgrade) => {
            return fail(
                StatusCode::BAD_REQUEST,
                json!({"message": "Please update Instagram to the latest version.", "status": "fail", "error_type": "needs_upgrade"}),
            )
        }
        Some(LoginRefusal::NativeChallenge) => {
            return fail(
                StatusCode::BAD_REQUEST,
                json!({
                    "message": "challenge_required",
                    "challenge": {
                        "url": "https://i.instagram.com/challenge/AXG7pQsimOpaque/Zq9x1_ysim/",
                        "api_path": "/challenge/AXG7pQsimOpaque/Zq9x1_ysim/",
                        "hide_webview_header": true, "lock": true, "logout": false,
                        "native_flow": true, "flow_render_type": 3,
                    },
                    "status": "fail",
                    "error_type": "checkpoint_challenge_required",
                }),
            )
        }
        Some(LoginRefusal::RateLimited) => {
            return fail(
                StatusCode::BAD_REQUEST,
                json!({"message": "Please wait a few minutes before you try again.", "status": "fail"}),
            )
        }
        Some(LoginRefusal::Html) => {
            let mut resp = Response::new(Body::from(
                "<!DOCTYPE html><html lang=\"en\"><head><title>Login • Instagram</title></head><body><p>Sorry, something went wrong.</p></body></html>",
            ));
            resp.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            return resp;
        }
        Some(LoginRefusal::UnknownError) => {
            return fail(
                StatusCode::BAD_REQUEST,
                json!({"message": "We restrict certain activity", "status": "fail", "error_type": "sim_never_documented", "new_block": {"layout": [1, 2, 3]}}),
            )
        }
        Some(LoginRefusal::BloksTwoFactor) => return two_factor_required(l),
        None => {}
    }
    after_password(l, false)
}

fn invalid_user() -> Response<Body> {
    fail(
        StatusCode::BAD_REQUEST,
        json!({
            "message": "The username you entered doesn't appear to belong to an account. Please check your username and try again.",
            "invalid_credentials": true,
            "status": "fail",
            "error_type": "invalid_user",
        }),
    )
}

fn wrong_two_factor_code() -> Response<Body> {
    fail(
        StatusCode::BAD_REQUEST,
        json!({"message": "Please check the security code sent you and try again.", "status": "fail", "error_type": "sms_code_validation_code_invalid"}),
    )
}

fn totp_ok(secret: &str, code: &str) -> bool {
    let Ok(secret) = totp_rs::Secret::try_from_base32(secret) else {
        return false;
    };
    let Ok(totp) = totp_rs::Builder::new().with_secret(secret).build() else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    totp.check(code, now).is_some()
}

/// The TOTP code for `secret` at `unix` seconds (tests type it like an authenticator app).
pub fn totp_code(secret: &str, unix: u64) -> Option<String> {
    let secret = totp_rs::Secret::try_from_base32(secret).ok()?;
    let totp = totp_rs::Builder::new().with_secret(secret).build().ok()?;
    Some(totp.generate(unix).to_string())
}

/// `POST accounts/two_factor_login/`.
pub async fn two_factor_login(State(state): State<Arc<SimState>>, body: Bytes) -> Response<Body> {
    let Some(l) = login_state(&state) else {
        return invalid_user();
    };
    let Some(v) = signed(&body) else {
        return wrong_two_factor_code();
    };
    let identifier = field(&v, "two_factor_identifier");
    let Some(sms_sent) = l.lock().two_factor.get(&identifier).copied() else {
        return fail(
            StatusCode::BAD_REQUEST,
            json!({"message": "Invalid two_factor_identifier", "status": "fail"}),
        );
    };
    if l.script.refuse == Some(LoginRefusal::BloksTwoFactor) {
        return fail(
            StatusCode::BAD_REQUEST,
            json!({"message": "Invalid Parameters", "status": "fail"}),
        );
    }
    let code = field(&v, "verification_code");
    let tf = l.script.two_factor.as_ref();
    let ok = match field(&v, "verification_method").as_str() {
        "3" => tf
            .and_then(|t| t.totp_secret.as_deref())
            .is_some_and(|s| totp_ok(s, &code)),
        "1" => sms_sent > 0 && tf.and_then(|t| t.sms_code.as_deref()) == Some(code.as_str()),
        _ => false,
    };
    if !ok {
        return wrong_two_factor_code();
    }
    l.lock().two_factor.remove(&identifier);
    after_password(l, true)
}

/// `POST accounts/send_two_factor_login_sms/`.
pub async fn send_two_factor_sms(
    State(state): State<Arc<SimState>>,
    body: Bytes,
) -> Response<Body> {
    let Some(l) = login_state(&state) else {
        return invalid_user();
    };
    let identifier = signed(&body)
        .map(|v| field(&v, "two_factor_identifier"))
        .unwrap_or_default();
    let has_sms = l
        .script
        .two_factor
        .as_ref()
        .is_some_and(|t| t.sms_code.is_some());
    let mut inner = l.lock();
    match inner.two_factor.get_mut(&identifier) {
        Some(sent) if has_sms => {
            *sent += 1;
            json_resp(
                StatusCode::OK,
                json!({"two_factor_info": {"two_factor_identifier": identifier, "obfuscated_phone_number": "12"}, "status": "ok"}),
            )
        }
        _ => fail(
            StatusCode::BAD_REQUEST,
            json!({"message": "Invalid Parameters", "status": "fail"}),
        ),
    }
}

fn challenge_gone() -> Response<Body> {
    fail(
        StatusCode::BAD_REQUEST,
        json!({"message": "This challenge is no longer valid.", "status": "fail"}),
    )
}

/// `GET challenge/{pk}/{nonce}/`: the state; the first step chooses the contact point.
pub async fn challenge_state(
    State(state): State<Arc<SimState>>,
    Path((pk, nonce)): Path<(String, String)>,
) -> Response<Body> {
    let Some(l) = login_state(&state) else {
        return challenge_gone();
    };
    let Some(ch) = l.script.challenge.clone() else {
        return challenge_gone();
    };
    if pk != l.script.pk.to_string() || !l.lock().challenges.contains_key(&nonce) {
        return challenge_gone();
    }
    json_resp(
        StatusCode::OK,
        json!({
            "step_name": "select_verify_method",
            "step_data": {
                "choice": "1",
                "fb_access_token": "None",
                "big_blue_token": "None",
                "google_oauth_token": "true",
                "vetted_device": "None",
                "phone_number": ch.phone,
                "email": ch.email,
            },
            "nonce_code": nonce,
            "user_id": l.script.pk,
            "flow_render_type": 3,
            "status": "ok",
        }),
    )
}

/// `POST challenge/{pk}/{nonce}/`: `choice` → the code step; `security_code` → close.
pub async fn challenge_answer(
    State(state): State<Arc<SimState>>,
    Path((pk, nonce)): Path<(String, String)>,
    body: Bytes,
) -> Response<Body> {
    let Some(l) = login_state(&state) else {
        return challenge_gone();
    };
    let Some(ch) = l.script.challenge.clone() else {
        return challenge_gone();
    };
    let Some(v) = signed(&body) else {
        return challenge_gone();
    };
    let chosen = {
        let inner = l.lock();
        match inner.challenges.get(&nonce) {
            Some(c) if pk == l.script.pk.to_string() => *c,
            _ => return challenge_gone(),
        }
    };
    let choice = field(&v, "choice");
    if !choice.is_empty() {
        let (method, to) = match choice.as_str() {
            "1" if ch.email.is_some() => ("verify_email", ch.email.clone()),
            "0" if ch.phone.is_some() => ("verify_phone", ch.phone.clone()),
            _ => {
                return fail(
                    StatusCode::BAD_REQUEST,
                    json!({"message": "Select a valid choice", "status": "fail"}),
                )
            }
        };
        l.lock().challenges.insert(nonce.clone(), Some(method));
        return json_resp(
            StatusCode::OK,
            json!({
                "step_name": method,
                "step_data": {"security_code": "None", "resend_delay": 60, "contact_point": to, "form_type": method.trim_start_matches("verify_")},
                "nonce_code": nonce,
                "user_id": l.script.pk,
                "status": "ok",
            }),
        );
    }
    let code = field(&v, "security_code");
    if chosen.is_none() || code.is_empty() {
        return challenge_gone();
    }
    if code != ch.code {
        return fail(
            StatusCode::BAD_REQUEST,
            json!({"message": "Please check the code we sent you and try again.", "status": "fail"}),
        );
    }
    {
        let mut inner = l.lock();
        inner.challenges.remove(&nonce);
        inner.challenge_passed = true;
    }
    let token = l.issue();
    with_headers(
        json_resp(StatusCode::OK, json!({"action": "close", "status": "ok"})),
        &[
            ("ig-set-authorization", token),
            ("ig-set-x-mid", format!("sim-mid-{}", l.script.pk)),
        ],
    )
}
