//! Which Instagram account a person means: `alice`, `@alice`, a profile URL
//! (`https://www.instagram.com/alice/`) or a numeric pk, parsed strictly (only instagram.com
//! hosts, Instagram's username alphabet, bounded lengths), then resolved to one account
//! through the API, refusing names that do not exist or could mean two accounts.

use super::client::Client;
use super::error::{ApiError, ApiErrorKind};
use super::types::User;

/// Longest input considered (a profile URL with tracking parameters fits easily).
const MAX_INPUT: usize = 2048;
/// Instagram usernames are at most 30 characters.
const MAX_USERNAME: usize = 30;
/// First path segments of instagram.com URLs that are not profiles.
const NOT_PROFILES: [&str; 16] = [
    "p",
    "reel",
    "reels",
    "tv",
    "stories",
    "explore",
    "accounts",
    "direct",
    "about",
    "legal",
    "developer",
    "web",
    "api",
    "challenge",
    "privacy",
    "session",
];

/// An account as the user wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRef {
    /// A numeric pk (`--pk`).
    Pk(String),
    /// A username, lowercased (`alice`, `@alice`, a profile URL).
    Username(String),
    /// Digits alone: a pk, unless an account is also named so.
    PkOrUsername(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserRefError {
    #[error("{0}")]
    Invalid(String),
}

fn invalid(m: impl Into<String>) -> UserRefError {
    UserRefError::Invalid(m.into())
}

/// A username in Instagram's alphabet: letters, digits, `.` and `_`, 1 to 30 characters.
pub fn valid_username(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_USERNAME
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_')
}

fn username(s: &str) -> Result<String, UserRefError> {
    if valid_username(s) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(invalid(format!(
            "{:?} is not an Instagram username (letters, digits, `.` and `_`, at most {MAX_USERNAME})",
            s.chars().take(40).collect::<String>()
        )))
    }
}

fn is_pk(s: &str) -> bool {
    !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Parses a profile URL: https or http, host instagram.com, www. or m., no credentials or
/// port, one path segment that is not a post, reel or other page.
fn from_url(input: &str) -> Result<String, UserRefError> {
    let with_scheme = if input.contains("://") {
        input.to_string()
    } else {
        format!("https://{input}")
    };
    let url = url::Url::parse(&with_scheme).map_err(|e| invalid(format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(invalid(
            "only http(s) instagram.com profile URLs are accepted",
        ));
    }
    let host = url.host_str().unwrap_or("").to_ascii_lowercase();
    if !matches!(
        host.as_str(),
        "instagram.com" | "www.instagram.com" | "m.instagram.com"
    ) {
        return Err(invalid(format!(
            "{host:?} is not instagram.com: give an https://www.instagram.com/NAME/ profile URL"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() || url.port().is_some() {
        return Err(invalid(
            "a profile URL has no user name, password or port in it",
        ));
    }
    let segments: Vec<&str> = url
        .path_segments()
        .map(|s| s.filter(|p| !p.is_empty()).collect())
        .unwrap_or_default();
    match segments.as_slice() {
        [name] if !NOT_PROFILES.contains(&name.to_ascii_lowercase().as_str()) => username(name),
        [] => Err(invalid("the URL names no profile")),
        _ => Err(invalid(
            "not a profile URL (a post, reel or other page): use https://www.instagram.com/NAME/",
        )),
    }
}

impl UserRef {
    /// Parses what the user typed; `force_pk` (`--pk`) reads it as a pk.
    pub fn parse(input: &str, force_pk: bool) -> Result<UserRef, UserRefError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(invalid("empty account"));
        }
        if s.len() > MAX_INPUT {
            return Err(invalid(format!("longer than {MAX_INPUT} characters")));
        }
        if force_pk {
            return if is_pk(s) {
                Ok(UserRef::Pk(s.to_string()))
            } else {
                Err(invalid(format!("{s:?} is not a numeric pk")))
            };
        }
        let lower = s.to_ascii_lowercase();
        if s.contains("://")
            || s.contains('/')
            || lower.starts_with("instagram.com")
            || lower.starts_with("www.instagram.com")
        {
            return from_url(s).map(UserRef::Username);
        }
        if let Some(name) = s.strip_prefix('@') {
            return username(name).map(UserRef::Username);
        }
        if is_pk(s) {
            return Ok(UserRef::PkOrUsername(s.to_string()));
        }
        username(s).map(UserRef::Username)
    }
}

/// Why an account could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(
        "Instagram has no account {0}: check the spelling (the username, not the display name)"
    )]
    NotFound(String),
    #[error("{input} is ambiguous: it is the pk of @{by_pk} and the username of another account (pk {by_name_pk}); say which with `--pk {input}` or `@{input}`")]
    Ambiguous {
        input: String,
        by_pk: String,
        by_name_pk: String,
    },
    #[error("Instagram answered the lookup of {asked} with a different account (@{got}); refusing to guess: give the account's pk with --pk")]
    Mismatch { asked: String, got: String },
    #[error("Instagram answered the lookup of {0} without the account's pk")]
    NoPk(String),
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// A resolved account: pk and username.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub pk: String,
    pub username: Option<String>,
    pub full_name: Option<String>,
}

fn resolved(u: User, asked: &str) -> Result<ResolvedUser, ResolveError> {
    let pk =
        u.pk.filter(|p| is_pk(p))
            .ok_or_else(|| ResolveError::NoPk(asked.to_string()))?;
    Ok(ResolvedUser {
        pk,
        username: u.username.filter(|n| valid_username(n)),
        full_name: u.full_name,
    })
}

fn found(r: Result<User, ApiError>) -> Result<Option<User>, ResolveError> {
    match r {
        Ok(u) => Ok(Some(u)),
        Err(e) if e.kind() == ApiErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn by_name(client: &Client, name: &str) -> Result<Option<ResolvedUser>, ResolveError> {
    let Some(u) = found(client.user_by_username(name).await)? else {
        return Ok(None);
    };
    let r = resolved(u, &format!("@{name}"))?;
    match &r.username {
        Some(got) if !got.eq_ignore_ascii_case(name) => Err(ResolveError::Mismatch {
            asked: format!("@{name}"),
            got: got.clone(),
        }),
        _ => Ok(Some(r)),
    }
}

/// Looks the account up: `users/{pk}/info/` for a pk, `users/{name}/usernameinfo/` for a
/// username, both for bare digits.
pub async fn resolve(client: &Client, r: &UserRef) -> Result<ResolvedUser, ResolveError> {
    match r {
        UserRef::Pk(pk) => match found(client.user_info(pk).await)? {
            Some(u) => resolved(u, &format!("pk {pk}")),
            None => Err(ResolveError::NotFound(format!("with pk {pk}"))),
        },
        UserRef::Username(name) => by_name(client, name)
            .await?
            .ok_or_else(|| ResolveError::NotFound(format!("named @{name}"))),
        UserRef::PkOrUsername(d) => {
            let as_pk = match found(client.user_info(d).await)? {
                Some(u) => Some(resolved(u, &format!("pk {d}"))?),
                None => None,
            };
            let as_name = by_name(client, d).await?;
            match (as_pk, as_name) {
                (Some(a), Some(b)) if a.pk != b.pk => Err(ResolveError::Ambiguous {
                    input: d.clone(),
                    by_pk: a.username.unwrap_or_else(|| "?".into()),
                    by_name_pk: b.pk,
                }),
                (Some(a), _) => Ok(a),
                (None, Some(b)) => Ok(b),
                (None, None) => Err(ResolveError::NotFound(format!("with pk or username {d}"))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<UserRef, UserRefError> {
        UserRef::parse(s, false)
    }

    #[test]
    fn forms_people_type() {
        let alice = Ok(UserRef::Username("alice.b_1".into()));
        assert_eq!(p("alice.b_1"), alice);
        assert_eq!(p("@Alice.B_1"), alice);
        assert_eq!(p("https://www.instagram.com/alice.b_1/"), alice);
        assert_eq!(
            p("https://instagram.com/alice.b_1?igsh=abc&utm_source=qr"),
            alice
        );
        assert_eq!(p("http://m.instagram.com/alice.b_1/#x"), alice);
        assert_eq!(p("www.instagram.com/alice.b_1"), alice);
        assert_eq!(p("25025320"), Ok(UserRef::PkOrUsername("25025320".into())));
        assert_eq!(
            UserRef::parse("25025320", true),
            Ok(UserRef::Pk("25025320".into()))
        );
    }

    #[test]
    fn hostile_inputs_are_refused() {
        for bad in [
            "https://evil.com/alice/",
            "https://instagram.com.evil.com/alice/",
            "https://evilinstagram.com/alice",
            "https://user:pw@www.instagram.com/alice/",
            "https://www.instagram.com:8443/alice/",
            "ftp://www.instagram.com/alice/",
            "https://www.instagram.com/p/Cxyz123/",
            "https://www.instagram.com/alice/reels/",
            "https://www.instagram.com/",
            "../../etc/passwd",
            "alice;rm -rf /",
            "al ice",
            "ålice",
            "a%2Fb",
            "",
            "@",
            "javascript:alert(1)",
        ] {
            assert!(p(bad).is_err(), "{bad:?} accepted: {:?}", p(bad));
        }
        assert!(p(&"a".repeat(31)).is_err());
        assert!(p(&format!("https://www.instagram.com/{}", "a".repeat(5000))).is_err());
        assert!(UserRef::parse("12ab", true).is_err());
        assert!(UserRef::parse(&"1".repeat(21), true).is_err());
    }
}
