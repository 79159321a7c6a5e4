//! The session's credential as it evolves while the daemon runs. Instagram rotates some
//! cookies in its answers (`Set-Cookie: csrftoken=…`, `rur=…`, docs/instagram.md §1 "Two ways to carry
//! a session") and bearer sessions get a fresh token in `ig-set-authorization` (instagrapi reads
//! it after every call); the app sends the newest values from then on, so we do too. The session
//! file is the user's and stays untouched: every change bumps a generation that
//! `session_source` watches to save a copy in iglive's state directory.

use std::collections::BTreeMap;
use std::sync::Mutex;

use reqwest::header::{HeaderMap, HeaderValue};

use super::session::Session;

/// More cookies than the app ever holds; extra names from `Set-Cookie` are ignored.
const MAX_COOKIES: usize = 64;
/// Longest cookie or token value kept.
const MAX_VALUE: usize = 4096;

/// Cookies and bearer token of one session, shared by every clone of a `Client`.
#[derive(Debug)]
pub struct Credentials {
    state: Mutex<State>,
    /// The generation of the newest change, for whoever saves the credential.
    changes: tokio::sync::watch::Sender<u64>,
}

#[derive(Debug)]
struct State {
    cookies: BTreeMap<String, String>,
    authorization: Option<String>,
    /// Bumped by every change of a cookie or the token.
    generation: u64,
}

/// The credential at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub generation: u64,
    pub cookies: BTreeMap<String, String>,
    pub authorization: Option<String>,
}

/// A cookie name as RFC 6265 allows it (a token), so a hostile header can never inject
/// another cookie or header line.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 256
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A cookie value we can send back verbatim.
fn valid_value(value: &str) -> bool {
    value.len() <= MAX_VALUE
        && value
            .bytes()
            .all(|b| (0x21..0x7f).contains(&b) && b != b';' && b != b',' && b != b'"')
}

impl Credentials {
    pub fn new(session: &Session) -> Credentials {
        Credentials {
            state: Mutex::new(State {
                cookies: session.cookies.clone(),
                authorization: session.authorization.clone(),
                generation: 0,
            }),
            changes: tokio::sync::watch::Sender::new(0),
        }
    }

    /// Takes the credential of a newly loaded session file (the user logged in again).
    pub fn replace(&self, session: &Session) {
        let mut st = self.lock();
        st.cookies = session.cookies.clone();
        st.authorization = session.authorization.clone();
        self.changed(&mut st);
    }

    fn changed(&self, st: &mut State) {
        st.generation += 1;
        self.changes.send_replace(st.generation);
    }

    /// The current cookies and token.
    pub fn snapshot(&self) -> Snapshot {
        let st = self.lock();
        Snapshot {
            generation: st.generation,
            cookies: st.cookies.clone(),
            authorization: st.authorization.clone(),
        }
    }

    /// Wakes up on every change (the value is the newest generation).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The `Cookie` header for cookie sessions; `None` for bearer sessions (the app sends no
    /// cookies with `Authorization`) or when there are no cookies.
    pub fn cookie_header(&self) -> Option<HeaderValue> {
        let st = self.lock();
        if st.authorization.is_some() || st.cookies.is_empty() {
            return None;
        }
        let joined = st
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut v = HeaderValue::from_str(&joined).ok()?;
        v.set_sensitive(true);
        Some(v)
    }

    /// The `Authorization` header of bearer sessions.
    pub fn authorization_header(&self) -> Option<HeaderValue> {
        let st = self.lock();
        let mut v = HeaderValue::from_str(st.authorization.as_deref()?).ok()?;
        v.set_sensitive(true);
        Some(v)
    }

    /// The current `csrftoken` cookie ("missing" like instagrapi when there is none).
    pub fn csrftoken(&self) -> String {
        self.lock()
            .cookies
            .get("csrftoken")
            .cloned()
            .unwrap_or_else(|| "missing".into())
    }

    /// A cookie's current value.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.lock().cookies.get(name).cloned()
    }

    /// Applies `Set-Cookie` and `ig-set-authorization` headers of a response. A cookie set
    /// to an empty value, `deleted`, or with `Max-Age=0` is removed; anything malformed is
    /// ignored.
    pub fn update_from(&self, headers: &HeaderMap) {
        let mut st = self.lock();
        let mut changed = false;
        for raw in headers.get_all(reqwest::header::SET_COOKIE) {
            let Ok(raw) = raw.to_str() else { continue };
            let mut parts = raw.split(';');
            let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim().trim_matches('"'));
            if !valid_name(name) || !valid_value(value) {
                continue;
            }
            let expired = parts.any(|attr| {
                let attr = attr.trim().to_ascii_lowercase();
                attr.strip_prefix("max-age=")
                    .is_some_and(|n| n.trim().parse::<i64>().is_ok_and(|n| n <= 0))
            });
            if expired || value.is_empty() || value == "deleted" {
                changed |= st.cookies.remove(name).is_some();
            } else if st.cookies.contains_key(name) || st.cookies.len() < MAX_COOKIES {
                let old = st.cookies.insert(name.to_string(), value.to_string());
                changed |= old.as_deref() != Some(value);
            }
        }
        if st.authorization.is_some() {
            let token = headers
                .get("ig-set-authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::trim);
            // instagrapi ignores the empty `Bearer IGT:2:` Instagram sends on logged-out calls.
            if let Some(t) = token.filter(|t| {
                t.starts_with("Bearer IGT:") && !t.ends_with(':') && t.len() <= MAX_VALUE
            }) {
                if HeaderValue::from_str(t).is_ok() && st.authorization.as_deref() != Some(t) {
                    st.authorization = Some(t.to_string());
                    changed = true;
                }
            }
        }
        if changed {
            self.changed(&mut st);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        let mut s = Session::default();
        s.cookies.insert("sessionid".into(), "1%3Aabc".into());
        s.cookies.insert("csrftoken".into(), "old".into());
        s
    }

    fn headers(set_cookies: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for c in set_cookies {
            h.append(
                reqwest::header::SET_COOKIE,
                HeaderValue::from_str(c).expect("valid"),
            );
        }
        h
    }

    #[test]
    fn rotation_updates_adds_and_removes() {
        let c = Credentials::new(&session());
        c.update_from(&headers(&[
            "csrftoken=new; Domain=.instagram.com; expires=Thu, 01 Jan 2099 00:00:00 GMT; Max-Age=31449600; Path=/; Secure",
            "rur=\"CLN\\0541\\0541234:01f7\"; Domain=.instagram.com; HttpOnly; Path=/; SameSite=Lax; Secure",
            "sessionid=\"\"; Max-Age=0",
            "bad name=x",
            "evil=a,b",
        ]));
        assert_eq!(c.csrftoken(), "new");
        assert_eq!(c.cookie("rur").as_deref(), Some("CLN\\0541\\0541234:01f7"));
        assert_eq!(c.cookie("sessionid"), None);
        assert_eq!(c.cookie("evil"), None);
        let header = c.cookie_header().expect("cookie header");
        assert_eq!(
            header.to_str().expect("ascii"),
            "csrftoken=new; rur=CLN\\0541\\0541234:01f7"
        );
    }

    #[test]
    fn only_real_changes_bump_the_generation() {
        let c = Credentials::new(&session());
        let rx = c.subscribe();
        c.update_from(&headers(&["csrftoken=old; Path=/"]));
        assert_eq!(c.snapshot().generation, 0, "same value: no change");
        c.update_from(&headers(&["rur=CLN; Path=/"]));
        let snap = c.snapshot();
        assert_eq!(snap.generation, 1);
        assert_eq!(snap.cookies.get("rur").map(String::as_str), Some("CLN"));
        assert_eq!(*rx.borrow(), 1);
        c.replace(&session());
        assert_eq!(c.snapshot().generation, 2);
        assert_eq!(c.cookie("rur"), None);
    }

    #[test]
    fn cookie_jar_is_bounded() {
        let c = Credentials::new(&session());
        let many: Vec<String> = (0..200).map(|i| format!("c{i}=v")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        c.update_from(&headers(&refs));
        assert_eq!(c.lock().cookies.len(), MAX_COOKIES);
        assert_eq!(c.csrftoken(), "old", "existing cookies are kept");
    }

    #[test]
    fn bearer_token_rotation() {
        let c = Credentials::new(&Session {
            authorization: Some("Bearer IGT:2:old".into()),
            ..Session::default()
        });
        assert!(c.cookie_header().is_none());
        let mut h = HeaderMap::new();
        h.insert(
            "ig-set-authorization",
            HeaderValue::from_static("Bearer IGT:2:"),
        );
        c.update_from(&h);
        assert_eq!(
            c.authorization_header().expect("token").to_str().ok(),
            Some("Bearer IGT:2:old")
        );
        h.insert(
            "ig-set-authorization",
            HeaderValue::from_static("Bearer IGT:2:new"),
        );
        c.update_from(&h);
        assert_eq!(
            c.authorization_header().expect("token").to_str().ok(),
            Some("Bearer IGT:2:new")
        );
    }
}
