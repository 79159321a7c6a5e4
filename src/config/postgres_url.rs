//! The PostgreSQL connection URL, a secret: it carries the password. It is only ever shown
//! redacted (`postgres://iglive:***@db:5432/iglive`), and every message that might quote it
//! (a driver error, a parse error) goes through [`PostgresUrl::redact`] first.

use std::fmt;

/// What replaces the password wherever the URL or an error could show it.
const MASK: &str = "***";

/// A `postgres://` (or `postgresql://`) URL; `Debug` and `Display` never show the password.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl {
    url: String,
}

/// Why a URL cannot be used, already redacted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UrlError(String);

impl PostgresUrl {
    /// Checks the form (`postgres://USER:PASSWORD@HOST:PORT/DATABASE`); the driver parses it.
    pub fn parse(text: &str) -> Result<PostgresUrl, UrlError> {
        let text = text.trim();
        let url = PostgresUrl { url: text.into() };
        let parsed = url::Url::parse(text).map_err(|e| {
            UrlError(format!(
                "{} is not a URL ({e}): write postgres://USER:PASSWORD@HOST:PORT/DATABASE",
                url.redacted()
            ))
        })?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            return Err(UrlError(format!(
                "{} is not a postgres:// URL: write postgres://USER:PASSWORD@HOST:PORT/DATABASE",
                url.redacted()
            )));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(UrlError(format!(
                "{} names no host: write postgres://USER:PASSWORD@HOST:PORT/DATABASE",
                url.redacted()
            )));
        }
        if let Err(e) = url.url.parse::<tokio_postgres::Config>() {
            return Err(UrlError(url.redact(&format!(
                "{}: {e}: write postgres://USER:PASSWORD@HOST:PORT/DATABASE",
                url.redacted()
            ))));
        }
        Ok(url)
    }

    /// The URL with its password, for the driver only.
    pub(crate) fn expose(&self) -> &str {
        &self.url
    }

    /// The URL with the password masked.
    pub fn redacted(&self) -> String {
        match url::Url::parse(&self.url) {
            Ok(mut u) if u.password().is_some() => {
                let _ = u.set_password(Some(MASK));
                u.to_string()
            }
            Ok(u) => u.to_string(),
            // Not a URL at all: show nothing of it but its scheme-like start.
            Err(_) => format!("{MASK} (an unparsable URL)"),
        }
    }

    /// `text` with the password (as written and percent-decoded) masked.
    pub fn redact(&self, text: &str) -> String {
        let Some(password) = self.password() else {
            return text.to_string();
        };
        let mut out = text.replace(&self.url, &self.redacted());
        for p in password {
            if !p.is_empty() {
                out = out.replace(&p, MASK);
            }
        }
        out
    }

    /// The password as written and decoded (both may appear in messages).
    fn password(&self) -> Option<Vec<String>> {
        let u = url::Url::parse(&self.url).ok()?;
        let raw = u.password()?.to_string();
        let decoded = url::form_urlencoded::parse(format!("p={raw}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        Some(vec![raw, decoded])
    }
}

impl fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostgresUrl({})", self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_shows() {
        let u =
            PostgresUrl::parse("postgres://iglive:s3cr%40t@127.0.0.1:5432/iglive").expect("url");
        assert_eq!(u.redacted(), "postgres://iglive:***@127.0.0.1:5432/iglive");
        assert_eq!(format!("{u}"), u.redacted());
        assert!(!format!("{u:?}").contains("s3cr"));
        assert_eq!(
            u.redact("auth failed for s3cr@t and s3cr%40t"),
            "auth failed for *** and ***"
        );
        let bad = PostgresUrl::parse("mysql://u:hunter2@h/db").expect_err("scheme");
        assert!(!bad.to_string().contains("hunter2"), "{bad}");
        assert!(bad.to_string().contains("postgres://USER"), "{bad}");
        let bad = PostgresUrl::parse("postgres://u:hunter2@h:notaport/db").expect_err("port");
        assert!(!bad.to_string().contains("hunter2"), "{bad}");
    }
}
