//! `iglive session import`: a session made elsewhere becomes iglive's session file. Two
//! inputs: a browser's `cookies.txt` (the Netscape format cookie-export extensions and curl
//! write) and instagrapi's settings JSON (or iglive's own format), which is checked and copied
//! unchanged, so its token stays byte-exact.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::device::Device;
use super::settings::{settings_json, Credential};
use crate::instagram::Session;

/// Largest file accepted: a browser's whole cookie jar is well below this.
pub const MAX_IMPORT_BYTES: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: larger than {MAX_IMPORT_BYTES} bytes: not a cookies.txt or a settings file")]
    TooLarge { path: PathBuf },
    #[error("{path}:{line}: {message}")]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Unusable { path: PathBuf, message: String },
}

/// What the file held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportedFrom {
    CookiesTxt,
    SettingsJson,
}

/// The session file text to write, and what it was made from.
pub struct Imported {
    pub text: String,
    pub from: ImportedFrom,
    pub session: Session,
}

/// A cookie name as RFC 6265 allows (a token).
fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 256
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A cookie value that can be sent back verbatim.
fn valid_value(v: &str) -> bool {
    v.len() <= 4096
        && v.bytes()
            .all(|b| (0x21..0x7f).contains(&b) && !matches!(b, b';' | b',' | b'"' | b'\\'))
}

fn is_instagram(domain: &str) -> bool {
    let d = domain.trim_start_matches('.').to_ascii_lowercase();
    d == "instagram.com" || d.ends_with(".instagram.com")
}

/// Parses a Netscape cookies.txt and keeps the instagram.com cookies.
pub fn parse_cookies_txt(
    text: &str,
    path: &Path,
    now_unix: u64,
) -> Result<BTreeMap<String, String>, ImportError> {
    let err = |line: usize, message: String| ImportError::Line {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut cookies = BTreeMap::new();
    let mut expired = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let n = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let line = match line.strip_prefix("#HttpOnly_") {
            Some(rest) => rest,
            None if line.starts_with('#') || line.trim().is_empty() => continue,
            None => line,
        };
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() != 7 {
            return Err(err(
                n,
                format!(
                    "expected 7 tab-separated fields (domain, include-subdomains, path, secure, expiry, name, value), found {}{}",
                    fields.len(),
                    if fields.len() == 1 && line.contains(' ') {
                        " (spaces instead of tabs? export the file again rather than copying it by hand)"
                    } else {
                        ""
                    }
                ),
            ));
        }
        let (domain, expiry, name, value) = (fields[0], fields[4], fields[5], fields[6].trim());
        if !is_instagram(domain) {
            continue;
        }
        let expiry: u64 = expiry.trim().parse().map_err(|_| {
            err(
                n,
                format!("the expiry field {expiry:?} is not a unix time in seconds"),
            )
        })?;
        if !valid_name(name) {
            return Err(err(n, format!("{name:?} is not a valid cookie name")));
        }
        if !valid_value(value) {
            return Err(err(
                n,
                format!("the value of cookie {name} has characters a cookie cannot carry"),
            ));
        }
        if expiry != 0 && expiry < now_unix {
            expired.push(name.to_string());
            continue;
        }
        if cookies.len() >= 64 && !cookies.contains_key(name) {
            continue;
        }
        cookies.insert(name.to_string(), value.to_string());
    }
    let missing: Vec<&str> = ["sessionid", "ds_user_id"]
        .into_iter()
        .filter(|k| !cookies.contains_key(*k))
        .collect();
    if !missing.is_empty() {
        let why = if missing.iter().any(|m| expired.iter().any(|e| e == m)) {
            "has expired"
        } else {
            "is missing"
        };
        return Err(ImportError::Unusable {
            path: path.to_path_buf(),
            message: format!(
                "the instagram.com cookie {} {why}: log in to instagram.com in the browser, then export its cookies again",
                missing.join(" and ")
            ),
        });
    }
    let pk = &cookies["ds_user_id"];
    if pk.is_empty() || pk.len() > 20 || !pk.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ImportError::Unusable {
            path: path.to_path_buf(),
            message: "the ds_user_id cookie is not a numeric account id".into(),
        });
    }
    Ok(cookies)
}

/// Reads `path` (cookies.txt or a settings JSON) into the text of a session file. `existing`
/// is the current session file's text, whose device identity a cookies.txt import reuses.
pub fn import(path: &Path, existing: Option<&str>, now_unix: u64) -> Result<Imported, ImportError> {
    let read_err = |source| ImportError::Read {
        path: path.to_path_buf(),
        source,
    };
    // Read through a limit: a device file or FIFO reports no size but may never end.
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| {
            use std::io::Read as _;
            f.take(MAX_IMPORT_BYTES + 1).read_to_end(&mut bytes)
        })
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_IMPORT_BYTES {
        return Err(ImportError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    let text = String::from_utf8(bytes).map_err(|_| ImportError::Unusable {
        path: path.to_path_buf(),
        message: "not a text file (cookies.txt and settings files are UTF-8)".into(),
    })?;
    let unusable = |message: String| ImportError::Unusable {
        path: path.to_path_buf(),
        message,
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text).to_string();
    if text.trim_start().starts_with('{') {
        let session = Session::parse(&text).map_err(unusable)?;
        return Ok(Imported {
            text,
            from: ImportedFrom::SettingsJson,
            session,
        });
    }
    let cookies = parse_cookies_txt(&text, path, now_unix)?;
    let device = existing
        .and_then(Device::reuse)
        .unwrap_or_else(Device::generate);
    let credential = Credential {
        user_pk: cookies["ds_user_id"].clone(),
        mid: cookies.get("mid").cloned(),
        cookies,
        ..Default::default()
    };
    let out = settings_json(&device, &credential, now_unix as f64)
        .map_err(|e| unusable(e.to_string()))?;
    let session = Session::parse(&out).map_err(unusable)?;
    Ok(Imported {
        text: out,
        from: ImportedFrom::CookiesTxt,
        session,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn parse(t: &str) -> Result<BTreeMap<String, String>, ImportError> {
        parse_cookies_txt(t, Path::new("cookies.txt"), NOW)
    }

    #[test]
    fn netscape_format_with_httponly_comments_and_crlf() {
        let t = "# Netscape HTTP Cookie File\r\n# https://curl.se/docs/http-cookies.html\r\n\r\n\
.instagram.com\tTRUE\t/\tTRUE\t1900000000\tcsrftoken\tabc\r\n\
#HttpOnly_.instagram.com\tTRUE\t/\tTRUE\t1900000000\tsessionid\t5001%3Axyz%3A1\r\n\
.instagram.com\tTRUE\t/\tTRUE\t0\tds_user_id\t5001\r\n\
.example.com\tTRUE\t/\tFALSE\t1900000000\tsessionid\tother\r\n";
        let c = parse(t).expect("valid");
        assert_eq!(c["sessionid"], "5001%3Axyz%3A1");
        assert_eq!(c["ds_user_id"], "5001");
        assert_eq!(c.len(), 3, "{c:?}");
    }

    #[test]
    fn missing_fields_name_the_line() {
        let t = "# c\n.instagram.com\tTRUE\t/\tTRUE\t1900000000\tsessionid\n";
        let e = parse(t).unwrap_err().to_string();
        assert!(
            e.starts_with("cookies.txt:2: expected 7 tab-separated fields"),
            "{e}"
        );
        let spaces = ".instagram.com TRUE / TRUE 1900000000 sessionid x\n";
        assert!(parse(spaces)
            .unwrap_err()
            .to_string()
            .contains("spaces instead of tabs"));
        let bad_expiry = ".instagram.com\tTRUE\t/\tTRUE\tsoon\tsessionid\tx\n";
        assert!(parse(bad_expiry)
            .unwrap_err()
            .to_string()
            .starts_with("cookies.txt:1: the expiry"));
    }

    #[test]
    fn needs_sessionid_and_ds_user_id() {
        let t = ".instagram.com\tTRUE\t/\tTRUE\t0\tcsrftoken\tabc\n";
        let e = parse(t).unwrap_err().to_string();
        assert!(e.contains("sessionid and ds_user_id is missing"), "{e}");
        let expired = ".instagram.com\tTRUE\t/\tTRUE\t1000\tsessionid\ta\n.instagram.com\tTRUE\t/\tTRUE\t0\tds_user_id\t1\n";
        assert!(parse(expired)
            .unwrap_err()
            .to_string()
            .contains("has expired"));
        let other_host = "evil-instagram.com\tTRUE\t/\tTRUE\t0\tsessionid\ta\nevil-instagram.com\tTRUE\t/\tTRUE\t0\tds_user_id\t1\n";
        assert!(
            parse(other_host).is_err(),
            "only instagram.com and its subdomains count"
        );
        let injected = ".instagram.com\tTRUE\t/\tTRUE\t0\tsessionid\ta;b=c\n";
        assert!(parse(injected)
            .unwrap_err()
            .to_string()
            .contains("cannot carry"));
    }
}
