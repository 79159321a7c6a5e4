//! Why a login did not produce a session. Every message says what to do next, and none
//! contains the password, a code or a token. `refused()` separates "Instagram said no or wants
//! a step only the app can do" (exit 1) from "iglive could not finish" (exit 2).

use std::path::PathBuf;
use std::time::Duration;

/// What the user can do when the legacy login is refused.
const IMPORT_HINT: &str = "or log in elsewhere and import that session: `iglive session import FILE` takes a browser's cookies.txt or an instagrapi settings file";

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("Instagram refused the password ({message}). If you are sure it is right, Instagram is refusing this login from a new device or network: open the Instagram app, approve the login attempt (\"This was me\"), then run `iglive login` again; {IMPORT_HINT}")]
    BadPassword { message: String },
    #[error("Instagram knows no account named {username:?}: check the spelling (the username, not the display name)")]
    InvalidUser { username: String },
    #[error(
        "Instagram no longer accepts this client's legacy login (needs_upgrade); {IMPORT_HINT}"
    )]
    NeedsUpgrade,
    #[error("Instagram asks for a check that only its app can show ({what}); a terminal cannot do it. Open the Instagram app, complete the check, then run `iglive login` again; {IMPORT_HINT}")]
    NeedsApp { what: String },
    #[error(
        "the account is suspended or disabled ({detail}): resolve it in the Instagram app first"
    )]
    Suspended { detail: String },
    #[error("Instagram limits login attempts right now ({message}){}: wait before trying again; repeated attempts extend the block",
        .retry_after.map(|d| format!(", retry after {} s", d.as_secs())).unwrap_or_default())]
    RateLimited {
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("Instagram blocked this login ({kind}: {message}); try again later from the network you usually use, {IMPORT_HINT}")]
    Blocked { kind: String, message: String },
    #[error(
        "the {what} was refused {attempts} time(s); run `iglive login` again to get a new one"
    )]
    WrongCode { what: &'static str, attempts: u32 },
    #[error("Instagram sent no password-encryption key (ig-set-password-encryption-key-id / -pub-key headers) in answer to launcher/sync/ or qe/sync/; check instagram.api_base_url")]
    NoEncryptionKey,
    #[error("Instagram's password-encryption key is unusable: {0}")]
    BadEncryptionKey(String),
    #[error("{step}: Instagram's answer was not understood (HTTP {status}: {detail}); nothing was written. Retry later; if it persists, {IMPORT_HINT}")]
    Unexpected {
        step: &'static str,
        status: u16,
        detail: String,
    },
    #[error("{step}: {detail}; check the network and instagram.api_base_url")]
    Network { step: &'static str, detail: String },
    #[error("{0}")]
    Input(String),
    #[error("{path}: cannot write the session file: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl LoginError {
    /// Instagram refused, or wants a step elsewhere (exit code 1); otherwise an error (2).
    pub fn refused(&self) -> bool {
        matches!(
            self,
            LoginError::BadPassword { .. }
                | LoginError::InvalidUser { .. }
                | LoginError::NeedsUpgrade
                | LoginError::NeedsApp { .. }
                | LoginError::Suspended { .. }
                | LoginError::RateLimited { .. }
                | LoginError::Blocked { .. }
                | LoginError::WrongCode { .. }
        )
    }
}
