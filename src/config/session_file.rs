//! `instagram.session_file`: a path, or a systemd credential (`credential:NAME`). Each session
//! file of a pool is named the same way.

use std::fmt;
use std::path::{Path, PathBuf};

/// The prefix that makes `session_file` name a systemd credential.
const CREDENTIAL_PREFIX: &str = "credential:";

/// Where a session file is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionFile {
    /// A path; a relative one resolves against the config file's folder.
    Path(PathBuf),
    /// `credential:NAME`: the systemd credential NAME, i.e. `$CREDENTIALS_DIRECTORY/NAME`, which
    /// the unit fills from a root-only file (`LoadCredential=NAME:/etc/iglive/session.json`).
    Credential(String),
}

impl fmt::Display for SessionFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionFile::Path(p) => write!(f, "{}", p.display()),
            SessionFile::Credential(name) => write!(f, "{CREDENTIAL_PREFIX}{name}"),
        }
    }
}

impl SessionFile {
    /// The file itself, for commands run by hand outside the unit (`iglive login` writes it,
    /// `doctor` and `accounts add` read it). A credential NAME is the file the packaged unit
    /// loads it from: `NAME` in the config's folder (`/etc/iglive/session.json`).
    pub fn path_outside_unit(&self, config_path: &Path) -> PathBuf {
        match self {
            SessionFile::Path(p) => p.clone(),
            SessionFile::Credential(name) => super::config_folder(config_path).join(name),
        }
    }

    /// Parses a `session_file` value; `base` is the config file's folder.
    pub(super) fn parse(value: &str, base: &Path) -> Result<SessionFile, String> {
        let Some(name) = value.strip_prefix(CREDENTIAL_PREFIX) else {
            return Ok(SessionFile::Path(base.join(value)));
        };
        // systemd's rule for credential names: a plain file name.
        let ok = !name.is_empty()
            && name.len() <= 255
            && name != "."
            && name != ".."
            && !name.contains('/')
            && !name.bytes().any(|b| b.is_ascii_control());
        if ok {
            Ok(SessionFile::Credential(name.to_string()))
        } else {
            Err(format!(
                "expected \"credential:NAME\" with NAME a file name like \"session.json\" (the name in the unit's LoadCredential=NAME:FILE), got {value:?}"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_credentials() {
        let base = Path::new("/etc/iglive");
        assert_eq!(
            SessionFile::parse("session.json", base),
            Ok(SessionFile::Path("/etc/iglive/session.json".into()))
        );
        let c = SessionFile::parse("credential:session.json", base).expect("credential");
        assert_eq!(c, SessionFile::Credential("session.json".into()));
        assert_eq!(c.to_string(), "credential:session.json");
        assert_eq!(
            c.path_outside_unit(Path::new("/etc/iglive/iglive.toml")),
            Path::new("/etc/iglive/session.json")
        );
        for bad in ["credential:", "credential:..", "credential:a/b"] {
            assert!(SessionFile::parse(bad, base).is_err(), "{bad}");
        }
    }
}
