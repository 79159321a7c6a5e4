//! Adding and removing watched accounts in the config file, keeping its comments and layout
//! (toml_edit). The edited text is validated as a whole config before it replaces the file,
//! atomically (temporary file, same permissions, rename), so a failed edit never leaves a
//! broken or half-written config behind.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, Value};

use crate::config::{Config, ConfigError};

/// Longest label accepted.
const MAX_LABEL_CHARS: usize = 64;

/// Why the config was not changed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigEditError {
    #[error("{path}: cannot read the config file: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Parse(ConfigError),
    #[error("expected the numeric Instagram user pk like \"25025320\", got {0:?}")]
    InvalidUserId(String),
    #[error("a label is one line of at most {MAX_LABEL_CHARS} characters")]
    InvalidLabel,
    #[error("account {0} is already in the watch list")]
    AlreadyWatched(String),
    #[error("account {0} is not in the watch list")]
    NotWatched(String),
    #[error(
        "account {0} is the last one: the config needs at least one account (add another first)"
    )]
    LastAccount(String),
    #[error("{path}: `accounts` is not a list of [[accounts]] tables; edit the file by hand")]
    Unsupported { path: PathBuf },
    #[error("{path}: cannot write the config file: {source} (is the folder writable?)")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn valid_user_id(user_id: &str) -> bool {
    !user_id.is_empty() && user_id.len() <= 20 && user_id.bytes().all(|b| b.is_ascii_digit())
}

fn entry_user_id(t: &Table) -> Option<String> {
    match t.get("user_id")? {
        Item::Value(Value::String(s)) => Some(s.value().trim().to_string()),
        Item::Value(Value::Integer(i)) => Some(i.value().to_string()),
        _ => None,
    }
}

/// Reads the file, applies `edit` to its document, validates and writes the result.
fn edit_file(
    config_path: &Path,
    edit: impl FnOnce(&mut ArrayOfTables) -> Result<(), ConfigEditError>,
) -> Result<(), ConfigEditError> {
    // Follow a symlinked config (e.g. /etc/iglive/iglive.toml -> …) and replace its target.
    let path = std::fs::canonicalize(config_path).map_err(|source| ConfigEditError::Read {
        path: config_path.to_path_buf(),
        source,
    })?;
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigEditError::Read {
        path: path.clone(),
        source,
    })?;
    // The current file must be valid first: an edit never hides an existing mistake.
    Config::from_str_at(&text, config_path).map_err(ConfigEditError::Parse)?;
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|_| ConfigEditError::Unsupported { path: path.clone() })?;
    let accounts = doc
        .get_mut("accounts")
        .and_then(Item::as_array_of_tables_mut)
        .ok_or_else(|| ConfigEditError::Unsupported { path: path.clone() })?;
    edit(accounts)?;
    let new_text = doc.to_string();
    Config::from_str_at(&new_text, config_path).map_err(ConfigEditError::Parse)?;
    write_replacing(&path, new_text.as_bytes())
}

fn write_replacing(path: &Path, bytes: &[u8]) -> Result<(), ConfigEditError> {
    let werr = |source| ConfigEditError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions().mode())
        .map_err(werr)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "iglive.toml".into());
    let tmp = path.with_file_name(format!(".{name}.iglive-edit"));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(werr)
}

/// Adds `[[accounts]] user_id = "…"` (and `label`) after the last account.
pub fn add_account(
    config_path: &Path,
    user_id: &str,
    label: Option<&str>,
) -> Result<(), ConfigEditError> {
    let user_id = user_id.trim();
    if !valid_user_id(user_id) {
        return Err(ConfigEditError::InvalidUserId(user_id.to_string()));
    }
    let label = label.map(str::trim).filter(|l| !l.is_empty());
    if let Some(l) = label {
        if l.chars().count() > MAX_LABEL_CHARS || l.chars().any(char::is_control) {
            return Err(ConfigEditError::InvalidLabel);
        }
    }
    edit_file(config_path, |accounts| {
        if accounts
            .iter()
            .any(|t| entry_user_id(t).as_deref() == Some(user_id))
        {
            return Err(ConfigEditError::AlreadyWatched(user_id.to_string()));
        }
        let mut t = Table::new();
        t.insert("user_id", toml_edit::value(user_id));
        if let Some(l) = label {
            t.insert("label", toml_edit::value(l));
        }
        t.decor_mut().set_prefix("\n");
        accounts.push(t);
        Ok(())
    })
}

/// Removes the `[[accounts]]` entry of `user_id`; the comment lines above the first entry
/// (usually about the whole list) move to the next entry instead of disappearing.
pub fn remove_account(config_path: &Path, user_id: &str) -> Result<(), ConfigEditError> {
    let user_id = user_id.trim();
    if !valid_user_id(user_id) {
        return Err(ConfigEditError::InvalidUserId(user_id.to_string()));
    }
    edit_file(config_path, |accounts| {
        let Some(i) = accounts
            .iter()
            .position(|t| entry_user_id(t).as_deref() == Some(user_id))
        else {
            return Err(ConfigEditError::NotWatched(user_id.to_string()));
        };
        if accounts.len() == 1 {
            return Err(ConfigEditError::LastAccount(user_id.to_string()));
        }
        let removed = accounts.remove(i);
        if i == 0 {
            let prefix = removed
                .decor()
                .prefix()
                .and_then(|p| p.as_str())
                .map(str::to_string);
            if let (Some(prefix), Some(next)) = (prefix, accounts.get_mut(0)) {
                let own = next
                    .decor()
                    .prefix()
                    .and_then(|p| p.as_str())
                    .unwrap_or("")
                    .to_string();
                next.decor_mut().set_prefix(format!("{prefix}{own}"));
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# iglive config
[instagram]
session_file = "session.json"  # cookies

# Accounts to watch.
[[accounts]]
user_id = "111"
label = "first"

# the second one
[[accounts]]
user_id = 222

[[notify]]
url = "http://127.0.0.1:9/hook"
"#;

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("iglive.toml");
        std::fs::write(&p, text).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        (dir, p)
    }

    #[test]
    fn add_keeps_comments_and_lands_after_the_last_account() {
        let (_d, p) = file(TEXT);
        add_account(&p, "333", Some("third \"one\"")).expect("added");
        let t = std::fs::read_to_string(&p).expect("read");
        assert!(
            t.contains("# iglive config")
                && t.contains("# cookies")
                && t.contains("# the second one")
        );
        let third = t.find("user_id = \"333\"").expect("added entry");
        assert!(
            third > t.find("user_id = 222").expect("second")
                && third < t.find("[[notify]]").expect("notify"),
            "{t}"
        );
        let cfg = Config::load(&p).expect("still valid");
        assert_eq!(cfg.accounts.len(), 3);
        assert_eq!(cfg.accounts[2].label.as_deref(), Some("third \"one\""));
        assert_eq!(
            std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777,
            0o640
        );
        assert!(matches!(
            add_account(&p, "222", None),
            Err(ConfigEditError::AlreadyWatched(_))
        ));
        assert!(matches!(
            add_account(&p, "12a", None),
            Err(ConfigEditError::InvalidUserId(_))
        ));
        assert!(matches!(
            add_account(&p, "5", Some("a\nb")),
            Err(ConfigEditError::InvalidLabel)
        ));
    }

    #[test]
    fn remove_keeps_the_list_comment_and_refuses_the_last_account() {
        let (_d, p) = file(TEXT);
        remove_account(&p, "111").expect("removed");
        let t = std::fs::read_to_string(&p).expect("read");
        assert!(
            !t.contains("111") && t.contains("# Accounts to watch.\n\n# the second one"),
            "{t}"
        );
        assert!(matches!(
            remove_account(&p, "999"),
            Err(ConfigEditError::NotWatched(_))
        ));
        assert!(matches!(
            remove_account(&p, "222"),
            Err(ConfigEditError::LastAccount(_))
        ));
        assert_eq!(Config::load(&p).expect("valid").accounts.len(), 1);
    }

    #[test]
    fn a_broken_config_is_left_alone() {
        let (_d, p) = file(
            "[instagram]\nsession_file = \"s.json\"\nbogus = 1\n[[accounts]]\nuser_id = \"1\"\n",
        );
        let before = std::fs::read_to_string(&p).expect("read");
        let e = add_account(&p, "2", None).unwrap_err();
        assert!(e.to_string().contains("bogus"), "{e}");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), before);
    }
}
