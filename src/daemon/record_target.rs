//! What `iglive record TARGET` is asked to record: a username, a profile URL, a broadcast id or
//! a bare MPD URL. Parsing is pure and refuses hostile input with a message saying what was
//! expected.

/// The longest TARGET accepted (a real MPD URL with its signature is well under 2 KiB).
pub const MAX_TARGET_LEN: usize = 4096;

/// One live to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordTarget {
    /// An account's username (`@name` or `name`).
    Username(String),
    /// A broadcast id (digits).
    Broadcast(String),
    /// A live manifest's URL: recorded from the CDN alone, no session needed.
    Mpd(url::Url),
}

/// Why a TARGET was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("TARGET is empty: give a username, a profile URL (https://www.instagram.com/NAME/), a broadcast id or an MPD URL")]
    Empty,
    #[error("TARGET is {0} bytes long (at most {MAX_TARGET_LEN}): give a username, a profile URL, a broadcast id or an MPD URL")]
    TooLong(usize),
    #[error("TARGET {0:?} looks like a file path; iglive records lives, not files: give a username, a profile URL, a broadcast id or an http(s) MPD URL")]
    Path(String),
    #[error("TARGET {0:?}: only http and https URLs can be recorded")]
    Scheme(String),
    #[error(
        "TARGET {url:?}: a profile URL must be on instagram.com{also} (an MPD URL ends in .mpd)"
    )]
    OtherHost { url: String, also: String },
    #[error("TARGET {0:?}: not a valid URL")]
    BadUrl(String),
    #[error("TARGET {0:?}: a username has 1 to 30 letters, digits, `.` and `_`")]
    BadUsername(String),
}

/// Digits at least this long are a broadcast id (they have 17); shorter ones a username.
const MIN_BROADCAST_ID_DIGITS: usize = 15;

impl RecordTarget {
    /// Parses TARGET; `api_host` is the configured API's host, accepted for profile URLs beside
    /// instagram.com.
    pub fn parse(input: &str, api_host: Option<&str>) -> Result<RecordTarget, TargetError> {
        if input.len() > MAX_TARGET_LEN {
            return Err(TargetError::TooLong(input.len()));
        }
        let s = input.trim();
        if s.is_empty() {
            return Err(TargetError::Empty);
        }
        let shown: String = s.chars().take(120).collect();
        if let Some((scheme, _)) = s.split_once("://") {
            let scheme = scheme.to_ascii_lowercase();
            if scheme != "http" && scheme != "https" {
                return Err(TargetError::Scheme(shown));
            }
            let url = url::Url::parse(s).map_err(|_| TargetError::BadUrl(shown.clone()))?;
            return from_url(url, api_host, shown);
        }
        if s.starts_with('/') || s.starts_with('.') || s.starts_with('~') || s.contains('/') {
            return Err(TargetError::Path(shown));
        }
        if s.len() >= MIN_BROADCAST_ID_DIGITS && s.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(RecordTarget::Broadcast(s.to_string()));
        }
        username(s.strip_prefix('@').unwrap_or(s), &shown)
    }

    /// Whether recording it needs a session (everything but an MPD URL).
    pub fn needs_session(&self) -> bool {
        !matches!(self, RecordTarget::Mpd(_))
    }
}

fn username(s: &str, shown: &str) -> Result<RecordTarget, TargetError> {
    let valid = !s.is_empty()
        && s.len() <= 30
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_');
    if valid {
        Ok(RecordTarget::Username(s.to_ascii_lowercase()))
    } else {
        Err(TargetError::BadUsername(shown.to_string()))
    }
}

fn from_url(
    url: url::Url,
    api_host: Option<&str>,
    shown: String,
) -> Result<RecordTarget, TargetError> {
    if url.path().to_ascii_lowercase().ends_with(".mpd") {
        return Ok(RecordTarget::Mpd(url));
    }
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let instagram = host == "instagram.com" || host == "www.instagram.com";
    if !(instagram || api_host.is_some_and(|h| h.eq_ignore_ascii_case(&host))) {
        return Err(TargetError::OtherHost {
            url: shown,
            also: api_host.map(|h| format!(" or {h}")).unwrap_or_default(),
        });
    }
    let mut segments = url
        .path_segments()
        .into_iter()
        .flatten()
        .filter(|p| !p.is_empty());
    let Some(name) = segments.next() else {
        return Err(TargetError::BadUsername(shown));
    };
    // https://www.instagram.com/NAME/live/ is the live's own page: the same account.
    match segments.next() {
        None | Some("live") => username(name, &shown),
        Some(_) => Err(TargetError::BadUsername(shown)),
    }
}

/// The broadcast id an MPD URL names (its file name's leading digits, as Instagram's CDN
/// writes them), else a name made of the file name's safe characters.
pub fn mpd_broadcast_id(url: &url::Url) -> String {
    let file = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .unwrap_or_default();
    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
    let digits: String = stem.chars().take_while(|c| c.is_ascii_digit()).collect();
    if !digits.is_empty() {
        return digits;
    }
    let safe: String = stem
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(40)
        .collect();
    if safe.is_empty() {
        "mpd".into()
    } else {
        safe
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<RecordTarget, TargetError> {
        RecordTarget::parse(s, Some("127.0.0.1"))
    }

    #[test]
    fn every_kind_of_target() {
        assert_eq!(
            parse("@Some.One_"),
            Ok(RecordTarget::Username("some.one_".into()))
        );
        assert_eq!(parse("12345"), Ok(RecordTarget::Username("12345".into())));
        assert_eq!(
            parse("17900000000000001"),
            Ok(RecordTarget::Broadcast("17900000000000001".into()))
        );
        assert_eq!(
            parse("https://www.instagram.com/some.one/"),
            Ok(RecordTarget::Username("some.one".into()))
        );
        assert_eq!(
            parse("https://instagram.com/some.one/live/?igsh=x"),
            Ok(RecordTarget::Username("some.one".into()))
        );
        assert_eq!(
            parse("http://127.0.0.1/demo.host"),
            Ok(RecordTarget::Username("demo.host".into()))
        );
        let mpd = parse("https://cdn.example/live-dash/dash-abr/179_0.mpd?oh=1").expect("mpd");
        let RecordTarget::Mpd(url) = mpd else {
            panic!("an MPD")
        };
        assert_eq!(mpd_broadcast_id(&url), "179");
    }

    #[test]
    fn hostile_targets_are_refused_with_what_was_expected() {
        assert!(matches!(parse(""), Err(TargetError::Empty)));
        assert!(matches!(
            parse(&"a".repeat(5000)),
            Err(TargetError::TooLong(5000))
        ));
        assert!(matches!(parse("/etc/passwd"), Err(TargetError::Path(_))));
        assert!(matches!(parse("../x.mpd"), Err(TargetError::Path(_))));
        assert!(matches!(
            parse("file:///tmp/x.mpd"),
            Err(TargetError::Scheme(_))
        ));
        assert!(matches!(
            parse("ftp://h/x.mpd"),
            Err(TargetError::Scheme(_))
        ));
        assert!(matches!(
            parse("https://evil.example/some.one/"),
            Err(TargetError::OtherHost { .. })
        ));
        assert!(matches!(
            parse("bad name!"),
            Err(TargetError::BadUsername(_))
        ));
        assert!(matches!(parse("ünïcode"), Err(TargetError::BadUsername(_))));
        assert!(matches!(
            parse(&"a".repeat(31)),
            Err(TargetError::BadUsername(_))
        ));
        assert!(matches!(
            parse("https://www.instagram.com/"),
            Err(TargetError::BadUsername(_))
        ));
        assert!(matches!(
            parse("https://www.instagram.com/p/abc/"),
            Err(TargetError::BadUsername(_))
        ));
        let e = parse("https://evil.example/x/")
            .expect_err("refused")
            .to_string();
        assert!(e.contains("instagram.com or 127.0.0.1"), "{e}");
    }
}
