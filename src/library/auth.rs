//! Who may use the listener. Loopback and token-free by default; with `status.token_file`
//! every route that returns data wants the token (`Authorization: Bearer …` or
//! `x-api-key: …`, compared in constant time), and the pages, assets, `/health`, `/build`,
//! `/docs` and `/openapi.json` stay open (they hold no data). A `<video>` or download link
//! cannot send a header, so media URLs carry an expiring HMAC signature instead (`exp`,
//! `sig`), minted by the API for an authorized caller.
//!
//! Without a token the listener only answers requests addressed to a loopback name
//! (`Host: 127.0.0.1:…`, `localhost`, `[::1]`), which defeats DNS rebinding; no cookies are
//! used (so there is nothing to forge cross-site), writes need a JSON body (a cross-site form
//! cannot send one without a CORS preflight, which is refused unless `status.cors_origins`
//! allows that origin) and a cross-origin `Origin` on a write is refused.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::{digest, hmac};
use subtle::ConstantTimeEq;

use super::envelope::ApiError;
use super::params::Params;
use super::Library;

/// How long a signed media link stays valid.
pub const LINK_LIFETIME_S: u64 = 12 * 3600;
/// Shortest token accepted.
const MIN_TOKEN_BYTES: usize = 16;

/// Why the token file cannot be used; the listener does not start.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{path}: cannot read the API token (status.token_file): {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: the API token is readable by other users: run chmod 600 {path}")]
    Insecure { path: PathBuf },
    #[error("{path}: the API token is shorter than {MIN_TOKEN_BYTES} characters: write a longer one, e.g. `head -c 32 /dev/urandom | base64 > {path}`")]
    TooShort { path: PathBuf },
}

/// The API token, kept as its digest and as an HMAC key for media links.
pub struct Token {
    digest: [u8; 32],
    key: hmac::Key,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(…)")
    }
}

fn sha256(b: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, b);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

impl Token {
    /// Reads the token file: one line, at least 16 characters, mode 0600 (or stricter).
    pub fn load(path: &Path) -> Result<Token, TokenError> {
        let meta = std::fs::metadata(path).map_err(|source| TokenError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(TokenError::Insecure {
                path: path.to_path_buf(),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|source| TokenError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Token::from_secret(text.trim()).ok_or_else(|| TokenError::TooShort {
            path: path.to_path_buf(),
        })
    }

    /// A token from its text; `None` when it is too short.
    pub fn from_secret(secret: &str) -> Option<Token> {
        (secret.len() >= MIN_TOKEN_BYTES).then(|| Token {
            digest: sha256(secret.as_bytes()),
            key: hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()),
        })
    }

    /// Constant time: both sides are hashed to 32 bytes first, so neither the content nor the
    /// length of the token leaks through timing.
    pub fn matches(&self, presented: &str) -> bool {
        bool::from(sha256(presented.as_bytes()).ct_eq(&self.digest))
    }

    fn message(path: &str, exp: u64) -> String {
        format!("iglive-link\n{path}\n{exp}")
    }

    /// `exp=…&sig=…` for a link to `path`, valid until `exp` (unix seconds).
    pub fn sign(&self, path: &str, exp: u64) -> String {
        let tag = hmac::sign(&self.key, Token::message(path, exp).as_bytes());
        format!("exp={exp}&sig={}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// Whether `sig` signs `path` until `exp`, and `exp` is not past (HMAC check in constant time).
    pub fn verify_link(&self, path: &str, exp: u64, sig: &str, now: u64) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(sig.as_bytes()) else {
            return false;
        };
        exp >= now && hmac::verify(&self.key, Token::message(path, exp).as_bytes(), &tag).is_ok()
    }
}

/// The token a request presents, from `Authorization: Bearer …` or `x-api-key`.
fn presented(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        if v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer ") {
            return Some(v[7..].trim());
        }
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// Routes that hold no data: open even when a token is configured.
fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/" | "/health"
            | "/build"
            | "/docs"
            | "/openapi.json"
            | "/live"
            | "/search"
            | "/accounts"
            | "/pool"
            | "/system"
            | "/favicon.ico"
    ) || path.starts_with("/assets/")
        || path.starts_with("/recording/")
}

/// Media routes a signed link may open (GET only).
fn is_linkable(path: &str) -> bool {
    path.starts_with("/api/v1/recordings/")
        && ["/video", "/cover", "/chat"]
            .iter()
            .any(|tail| path.ends_with(tail))
}

/// A loopback host name, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Whether the request may go on, or the error to answer.
fn check(token: Option<&Token>, cors: &[String], req: &Request) -> Result<(), ApiError> {
    let path = req.uri().path();
    let headers = req.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let write = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if write {
        if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
            let same = origin
                .split_once("://")
                .map(|(_, rest)| rest == host)
                .unwrap_or(false);
            if !same && !cors.iter().any(|o| o == origin) {
                return Err(ApiError::InvalidToken(format!(
                    "a write from another origin ({origin}) is refused; list it in status.cors_origins to allow it"
                )));
            }
        }
    }
    let Some(token) = token else {
        if !host.is_empty() && !is_loopback_host(host) {
            return Err(ApiError::InvalidToken(format!(
                "this listener has no API token, so it only answers requests addressed to localhost or 127.0.0.1 (this one was for {host:?}); set status.token_file to serve other names"
            )));
        }
        return Ok(());
    };
    if is_public(path) {
        return Ok(());
    }
    match presented(headers) {
        Some(t) if token.matches(t) => return Ok(()),
        Some(_) => {
            return Err(ApiError::InvalidToken(
                "the API token is wrong (send the one in status.token_file)".into(),
            ))
        }
        None => {}
    }
    if matches!(*req.method(), Method::GET | Method::HEAD) && is_linkable(path) {
        let p = Params::parse(req.uri().query().unwrap_or(""));
        if let (Some(exp), Some(sig)) = (p.get("exp").and_then(|e| e.parse().ok()), p.get("sig")) {
            if token.verify_link(path, exp, sig, now_s()) {
                return Ok(());
            }
            return Err(ApiError::InvalidToken(
                "this link has expired or was altered: ask the API for a fresh one".into(),
            ));
        }
    }
    Err(ApiError::InvalidToken(
        "this listener needs the API token: send `Authorization: Bearer TOKEN` or `x-api-key: TOKEN`".into(),
    ))
}

/// Middleware guarding the whole listener (status routes included).
pub async fn guard(State(lib): State<Library>, req: Request, next: Next) -> Response {
    match check(lib.token(), lib.cors_origins(), &req) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// A path with its signature when a token is configured (for `<video src>` and downloads).
pub fn link(token: Option<&Token>, path: String) -> String {
    match token {
        None => path,
        Some(t) => {
            let exp = now_s() + LINK_LIFETIME_S;
            let sep = if path.contains('?') { '&' } else { '?' };
            let (base, _) = path.split_once('?').unwrap_or((&path, ""));
            let signed = t.sign(base, exp);
            format!("{path}{sep}{signed}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> Token {
        Token::from_secret("0123456789abcdef-secret").expect("long enough")
    }

    #[test]
    fn tokens_match_exactly() {
        let t = token();
        assert!(t.matches("0123456789abcdef-secret"));
        assert!(!t.matches("0123456789abcdef-secreT"));
        assert!(!t.matches(""));
        assert!(Token::from_secret("short").is_none());
    }

    #[test]
    fn links_are_bound_to_path_and_time() {
        let t = token();
        let q = t.sign("/api/v1/recordings/1/video", 2000);
        let p = Params::parse(&q);
        let sig = p.get("sig").expect("sig");
        assert!(t.verify_link("/api/v1/recordings/1/video", 2000, sig, 1999));
        assert!(
            !t.verify_link("/api/v1/recordings/1/video", 2000, sig, 2001),
            "expired"
        );
        assert!(
            !t.verify_link("/api/v1/recordings/2/video", 2000, sig, 1999),
            "other path"
        );
        assert!(
            !t.verify_link("/api/v1/recordings/1/video", 3000, sig, 1999),
            "other expiry"
        );
        let other = Token::from_secret("another-secret-0123456").expect("token");
        assert!(!other.verify_link("/api/v1/recordings/1/video", 2000, sig, 1999));
        let l = link(Some(&t), "/api/v1/recordings/1/chat?format=vtt".into());
        assert!(
            l.starts_with("/api/v1/recordings/1/chat?format=vtt&exp="),
            "{l}"
        );
    }

    #[test]
    fn loopback_hosts() {
        for h in [
            "127.0.0.1:9464",
            "localhost",
            "LOCALHOST:80",
            "[::1]:9464",
            "127.1.2.3",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "evil.example:9464",
            "10.0.0.1",
            "localhost.evil.example",
            "[2001:db8::1]:1",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn bearer_and_api_key_headers() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().expect("value"));
        assert_eq!(presented(&h), Some("abc"));
        let mut h = HeaderMap::new();
        h.insert("x-api-key", " abc ".parse().expect("value"));
        assert_eq!(presented(&h), Some("abc"));
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "Basic abc".parse().expect("value"));
        assert_eq!(presented(&h), None);
    }
}
