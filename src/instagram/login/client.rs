//! The HTTP side of the legacy login (docs/instagram.md §6 "Requests used by the login"):
//! the key fetch, `accounts/login/`, two-factor and challenge requests, signed the way
//! instagrapi signs them, with the app's headers and the device identity. Every answer's
//! `ig-set-*` headers and cookies are kept; the last usable `ig-set-authorization` is the
//! session's bearer, byte for byte.

use std::sync::Arc;
use std::time::Duration;

use reqwest::cookie::{CookieStore as _, Jar};
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};
use url::Url;

use super::answer::{classify, usable_token, Challenge, ChallengeStep, Reply, TwoFactorInfo};
use super::device::Device;
use super::error::LoginError;
use super::password::{jazoest, Password, PasswordKey};
use super::settings::Credential;
use crate::instagram::client::{parse_retry_after, ANDROID_APP_ID, CAPABILITIES};

/// Largest answer read; login answers are a few KiB.
const MAX_BODY: usize = 1 << 20;

/// How the second factor is proved (mgp25's numbering, docs/instagram.md §6 "Two-factor").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwoFactorMethod {
    Sms,
    BackupCode,
    Totp,
}

impl TwoFactorMethod {
    fn code(self) -> &'static str {
        match self {
            TwoFactorMethod::Sms => "1",
            TwoFactorMethod::BackupCode => "2",
            TwoFactorMethod::Totp => "3",
        }
    }
}

/// One login conversation with Instagram.
pub struct LoginClient {
    http: reqwest::Client,
    jar: Arc<Jar>,
    base: Url,
    device: Device,
    key: Option<PasswordKey>,
    token: Option<String>,
    mid: Option<String>,
    rur: Option<String>,
    www_claim: Option<String>,
}

fn signed(v: &Value) -> Vec<(&'static str, String)> {
    vec![("signed_body", format!("SIGNATURE.{v}"))]
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl LoginClient {
    /// A client for `api_base_url` (`https://i.instagram.com/api/v1/`).
    pub fn new(
        api_base_url: Url,
        device: Device,
        timeout: Duration,
    ) -> Result<LoginClient, LoginError> {
        let mut base = api_base_url;
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        let jar = Arc::new(Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .gzip(true)
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .use_rustls_tls()
            .build()
            .map_err(|e| LoginError::Network {
                step: "setup",
                detail: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(LoginClient {
            http,
            jar,
            base,
            device,
            key: None,
            token: None,
            mid: None,
            rur: None,
            www_claim: None,
        })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    fn keep_headers(&mut self, h: &HeaderMap) {
        let get = |name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty() && v.len() <= 4096)
                .map(str::to_string)
        };
        if let Some(t) =
            get("ig-set-authorization").and_then(|t| usable_token(&t).map(str::to_string))
        {
            self.token = Some(t);
        }
        if let Some(m) = get("ig-set-x-mid") {
            self.mid = Some(m);
        }
        if let Some(r) = get("ig-set-ig-u-rur") {
            self.rur = Some(r);
        }
        if let Some(c) = get("x-ig-set-www-claim") {
            self.www_claim = Some(c);
        }
        if self.key.is_none() {
            if let (Some(id), Some(key)) = (
                get("ig-set-password-encryption-key-id"),
                get("ig-set-password-encryption-pub-key"),
            ) {
                match PasswordKey::from_headers(&id, &key) {
                    Ok(k) => self.key = Some(k),
                    Err(e) => tracing::warn!("ignoring a password key: {e}"),
                }
            }
        }
    }

    /// Sends one request with the app's headers; returns status, `Retry-After` and body.
    async fn send(
        &mut self,
        step: &'static str,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        form: Option<Vec<(&'static str, String)>>,
    ) -> Result<(u16, Option<Duration>, Vec<u8>), LoginError> {
        let url = self.base.join(path).map_err(|e| LoginError::Unexpected {
            step,
            status: 0,
            detail: format!("bad path: {e}"),
        })?;
        let d = &self.device;
        let mut req = self
            .http
            .request(method, url)
            .header("user-agent", &d.user_agent)
            .header("x-ig-app-id", ANDROID_APP_ID)
            .header("x-ig-capabilities", CAPABILITIES)
            .header("x-ig-connection-type", "WIFI")
            .header("x-ig-device-id", &d.uuid)
            .header("x-ig-family-device-id", &d.phone_id)
            .header("x-ig-android-id", &d.android_device_id)
            .header("x-ig-www-claim", self.www_claim.as_deref().unwrap_or("0"))
            .header("x-mid", self.mid.as_deref().unwrap_or(""))
            .header("ig-intended-user-id", "0")
            .header("accept-language", "en-US");
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(form) = form {
            req = req.form(&form);
        }
        let net = |e: reqwest::Error| LoginError::Network {
            step,
            detail: if e.is_timeout() {
                "timed out".to_string()
            } else {
                e.without_url().to_string()
            },
        };
        let mut resp = req.send().await.map_err(net)?;
        let status = resp.status().as_u16();
        let retry_after = parse_retry_after(resp.headers(), std::time::SystemTime::now());
        self.keep_headers(resp.headers());
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(net)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(LoginError::Unexpected {
                    step,
                    status,
                    detail: format!("an answer larger than {MAX_BODY} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        tracing::debug!(step, status, bytes = body.len(), "answer");
        Ok((status, retry_after, body))
    }

    /// Fetches the password-encryption key the way instagrapi does: `launcher/sync/` (a 429
    /// there is ignored, as the app does), then `qe/sync/` if the key did not come yet.
    pub async fn fetch_key(&mut self) -> Result<(), LoginError> {
        let body = json!({"id": self.device.uuid, "server_config_retrieval": "1"});
        self.send(
            "launcher/sync",
            Method::POST,
            "launcher/sync/",
            &[],
            Some(signed(&body)),
        )
        .await?;
        if self.key.is_none() {
            self.send("qe/sync", Method::GET, "qe/sync/", &[], None)
                .await?;
        }
        if self.key.is_none() {
            return Err(LoginError::NoEncryptionKey);
        }
        Ok(())
    }

    /// `POST accounts/login/` (docs/instagram.md §6 for the fields).
    pub async fn login(
        &mut self,
        username: &str,
        password: &Password,
    ) -> Result<Reply, LoginError> {
        let key = self.key.clone().ok_or(LoginError::NoEncryptionKey)?;
        let enc = key.encrypt(password, now_unix())?;
        let d = &self.device;
        let body = json!({
            "jazoest": jazoest(&d.phone_id),
            "country_codes": "[{\"country_code\":\"1\",\"source\":[\"default\"]}]",
            "phone_id": d.phone_id,
            "enc_password": enc,
            "username": username.trim(),
            "adid": d.advertising_id,
            "guid": d.uuid,
            "device_id": d.android_device_id,
            "google_tokens": "[]",
            "login_attempt_count": "0",
        });
        let (status, retry, body) = self
            .send(
                "accounts/login",
                Method::POST,
                "accounts/login/",
                &[],
                Some(signed(&body)),
            )
            .await?;
        let reply = classify("accounts/login", status, retry, &body);
        match reply {
            Err(LoginError::InvalidUser { .. }) => Err(LoginError::InvalidUser {
                username: username.trim().to_string(),
            }),
            other => other,
        }
    }

    /// `POST accounts/two_factor_login/`.
    pub async fn two_factor_login(
        &mut self,
        tf: &TwoFactorInfo,
        username: &str,
        code: &str,
        method: TwoFactorMethod,
    ) -> Result<Reply, LoginError> {
        let d = &self.device;
        let csrf = self.cookie("csrftoken").unwrap_or_else(|| "missing".into());
        let body = json!({
            "verification_code": code,
            "two_factor_identifier": tf.identifier,
            "username": if tf.username.is_empty() { username } else { &tf.username },
            "phone_id": d.phone_id,
            "guid": d.uuid,
            "device_id": d.android_device_id,
            "_csrftoken": csrf,
            "trust_this_device": "0",
            "waterfall_id": uuid::Uuid::new_v4().to_string(),
            "verification_method": method.code(),
        });
        let (status, retry, body) = self
            .send(
                "accounts/two_factor_login",
                Method::POST,
                "accounts/two_factor_login/",
                &[],
                Some(signed(&body)),
            )
            .await?;
        classify("accounts/two_factor_login", status, retry, &body)
    }

    /// `POST accounts/send_two_factor_login_sms/`: (re)sends the SMS code.
    pub async fn send_two_factor_sms(
        &mut self,
        tf: &TwoFactorInfo,
        username: &str,
    ) -> Result<(), LoginError> {
        let d = &self.device;
        let body = json!({
            "two_factor_identifier": tf.identifier,
            "username": if tf.username.is_empty() { username } else { &tf.username },
            "device_id": d.android_device_id,
            "guid": d.uuid,
        });
        let (status, retry, body) = self
            .send(
                "accounts/send_two_factor_login_sms",
                Method::POST,
                "accounts/send_two_factor_login_sms/",
                &[],
                Some(signed(&body)),
            )
            .await?;
        match classify("accounts/send_two_factor_login_sms", status, retry, &body)? {
            Reply::Ok(_) | Reply::TwoFactor(_) => Ok(()),
            Reply::WrongCode(m) => Err(LoginError::Unexpected {
                step: "accounts/send_two_factor_login_sms",
                status,
                detail: m,
            }),
            Reply::Challenge(_) => Err(LoginError::NeedsApp {
                what: "a challenge while sending the SMS code".into(),
            }),
        }
    }

    /// `GET challenge/<user_id>/<nonce>/`: the challenge's current step.
    pub async fn challenge_state(&mut self, ch: &Challenge) -> Result<ChallengeStep, LoginError> {
        let (user_id, nonce) = ch.ids().ok_or(LoginError::NeedsApp {
            what: "a challenge at an unknown address".into(),
        })?;
        let context = ch.context.clone().unwrap_or_else(|| {
            json!({"step_name": "", "nonce_code": nonce, "user_id": user_id.parse::<u64>().unwrap_or(0), "is_stateless": false}).to_string()
        });
        let query = [
            ("guid", self.device.uuid.clone()),
            ("device_id", self.device.android_device_id.clone()),
            ("challenge_context", context),
        ];
        let path = ch.api_path.clone();
        let (status, retry, body) = self
            .send("challenge", Method::GET, &path, &query, None)
            .await?;
        match classify("challenge", status, retry, &body)? {
            Reply::Ok(v) => Ok(ChallengeStep::parse(&v)),
            // The state request itself challenged: only the web form flow is left.
            Reply::Challenge(_) => Err(LoginError::NeedsApp {
                what: "a challenge in the web form flow".into(),
            }),
            Reply::TwoFactor(_) | Reply::WrongCode(_) => Err(LoginError::Unexpected {
                step: "challenge",
                status,
                detail: "a two-factor answer to the challenge state".into(),
            }),
        }
    }

    /// `POST challenge/<user_id>/<nonce>/` with one field (`choice` or `security_code`).
    pub async fn challenge_answer(
        &mut self,
        ch: &Challenge,
        field: &str,
        value: &str,
    ) -> Result<Reply, LoginError> {
        let csrf = self.cookie("csrftoken").unwrap_or_else(|| "missing".into());
        let body = json!({
            field: value,
            "guid": self.device.uuid,
            "device_id": self.device.android_device_id,
            "_csrftoken": csrf,
        });
        let path = ch.api_path.clone();
        let (status, retry, body) = self
            .send("challenge", Method::POST, &path, &[], Some(signed(&body)))
            .await?;
        classify("challenge", status, retry, &body)
    }

    /// Whether a bearer token has arrived.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    fn cookies(&self) -> std::collections::BTreeMap<String, String> {
        let Some(header) = self.jar.cookies(&self.base) else {
            return Default::default();
        };
        header
            .to_str()
            .unwrap_or("")
            .split(';')
            .filter_map(|kv| kv.trim().split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn cookie(&self, name: &str) -> Option<String> {
        self.cookies().remove(name)
    }

    /// The session a successful answer `v` produced: the bearer (or cookies), the pk and
    /// the `ig-set-*` values.
    pub fn credential(&self, v: &Value) -> Result<Credential, LoginError> {
        let cookies = self.cookies();
        let (pk, username) =
            super::answer::logged_in_user(v, self.token.as_deref()).or_else(|e| {
                match cookies.get("ds_user_id") {
                    Some(pk) if self.token.is_none() => Ok((pk.clone(), None)),
                    _ => Err(e),
                }
            })?;
        if self.token.is_none() && !cookies.contains_key("sessionid") {
            return Err(LoginError::Unexpected {
                step: "login",
                status: 200,
                detail: "a success without a session: no ig-set-authorization header and no sessionid cookie".into(),
            });
        }
        Ok(Credential {
            authorization: self.token.clone(),
            mid: self.mid.clone().or_else(|| cookies.get("mid").cloned()),
            cookies,
            ig_u_rur: self.rur.clone(),
            ig_www_claim: self.www_claim.clone(),
            user_pk: pk,
            username,
        })
    }
}
