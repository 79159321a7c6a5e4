//! Editing the `[[accounts]]` of a config file in place, keeping every comment and the layout
//! of the rest (toml_edit), checking the result with the same loader the daemon uses, and
//! writing it atomically with the file's own permissions. `iglive accounts add/remove` call
//! this; so can a web UI.

use std::path::{Path, PathBuf};

use toml_edit::{value, ArrayOfTables, DocumentMut, Item, Table};

use super::{mode_of, write_atomic, AccountConfig, Config, ConfigError};

/// Why the config was not changed.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("{path}: cannot read the config file: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: `accounts` is not written as [[accounts]] tables; change it to that form to edit it with iglive")]
    NotTables { path: PathBuf },
    #[error("{path}: account {user_id} is already listed{}", .label.as_deref().map(|l| format!(" (label {l:?})")).unwrap_or_default())]
    Duplicate {
        path: PathBuf,
        user_id: String,
        label: Option<String>,
    },
    #[error("{path}: no [[accounts]] entry has user_id {user_id}")]
    NotFound { path: PathBuf, user_id: String },
    #[error(
        "{path}: {user_id} is the only account; the daemon needs at least one: add another first"
    )]
    LastAccount { path: PathBuf, user_id: String },
    #[error("the edited config would not load, nothing was written: {0}")]
    Invalid(ConfigError),
    #[error("{path}: cannot write the config file: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn read(path: &Path) -> Result<(String, DocumentMut), EditError> {
    let text = std::fs::read_to_string(path).map_err(|source| EditError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
            .unwrap_or(1);
        EditError::Parse {
            path: path.to_path_buf(),
            line,
            message: e.message().trim().to_string(),
        }
    })?;
    Ok((text, doc))
}

/// `user_id` of an `[[accounts]]` table, string or integer.
fn user_id_of(t: &Table) -> Option<String> {
    let v = t.get("user_id")?;
    v.as_str()
        .map(|s| s.trim().to_string())
        .or_else(|| v.as_integer().map(|n| n.to_string()))
}

fn tables<'a>(doc: &'a mut DocumentMut, path: &Path) -> Result<&'a mut ArrayOfTables, EditError> {
    let item = doc
        .as_table_mut()
        .entry("accounts")
        .or_insert(Item::ArrayOfTables(ArrayOfTables::new()));
    item.as_array_of_tables_mut()
        .ok_or_else(|| EditError::NotTables {
            path: path.to_path_buf(),
        })
}

/// Checks the edited text with the daemon's loader, then replaces the file.
fn commit(path: &Path, text: &str) -> Result<(), EditError> {
    Config::from_str_at(text, path).map_err(EditError::Invalid)?;
    write_atomic(path, text.as_bytes(), mode_of(path).unwrap_or(0o644)).map_err(|source| {
        EditError::Write {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// Appends `[[accounts]]` with `user_id` (and `label`) after the last one.
pub fn add_account(path: &Path, account: &AccountConfig) -> Result<(), EditError> {
    let (_, mut doc) = read(path)?;
    let list = tables(&mut doc, path)?;
    if let Some(t) = list
        .iter()
        .find(|t| user_id_of(t).as_deref() == Some(account.user_id.as_str()))
    {
        return Err(EditError::Duplicate {
            path: path.to_path_buf(),
            user_id: account.user_id.clone(),
            label: t.get("label").and_then(|l| l.as_str()).map(str::to_string),
        });
    }
    let mut t = Table::new();
    t.insert("user_id", value(account.user_id.as_str()));
    if let Some(label) = &account.label {
        t.insert("label", value(label.as_str()));
    }
    t.decor_mut().set_prefix("\n");
    list.push(t);
    commit(path, &doc.to_string())
}

/// Removes the `[[accounts]]` entry of `user_id`; returns it.
pub fn remove_account(path: &Path, user_id: &str) -> Result<AccountConfig, EditError> {
    let (_, mut doc) = read(path)?;
    let list = tables(&mut doc, path)?;
    let Some(index) = list
        .iter()
        .position(|t| user_id_of(t).as_deref() == Some(user_id))
    else {
        return Err(EditError::NotFound {
            path: path.to_path_buf(),
            user_id: user_id.to_string(),
        });
    };
    if list.len() == 1 {
        return Err(EditError::LastAccount {
            path: path.to_path_buf(),
            user_id: user_id.to_string(),
        });
    }
    let removed = AccountConfig {
        user_id: user_id.to_string(),
        label: list
            .get(index)
            .and_then(|t| t.get("label"))
            .and_then(|l| l.as_str())
            .map(str::to_string),
        engagement: None,
    };
    list.remove(index);
    commit(path, &doc.to_string())?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# top comment
[instagram]
session_file = "session.json"   # the session

[[accounts]]
user_id = "111"      # first
label = "one"

# a comment about the second account
[[accounts]]
user_id = 222
label = "two"        # second

# trailing notes
# [[notify]]
"#;

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("iglive.toml");
        std::fs::write(&p, text).expect("write");
        (dir, p)
    }

    #[test]
    fn add_keeps_comments_and_layout() {
        let (_d, p) = file(TEXT);
        add_account(
            &p,
            &AccountConfig {
                user_id: "333".into(),
                label: Some("three".into()),
                engagement: None,
            },
        )
        .expect("added");
        let out = std::fs::read_to_string(&p).expect("read");
        assert!(
            out.starts_with(TEXT.split("# trailing").next().expect("head")),
            "{out}"
        );
        for kept in [
            "# top comment",
            "# the session",
            "# first",
            "# second",
            "# a comment about",
            "# trailing notes",
        ] {
            assert!(out.contains(kept), "{kept} lost:\n{out}");
        }
        assert!(
            out.contains("\n[[accounts]]\nuser_id = \"333\"\nlabel = \"three\"\n"),
            "{out}"
        );
        let c = Config::from_str_at(&out, &p).expect("loads");
        assert_eq!(c.accounts.len(), 3);
        let dup = add_account(
            &p,
            &AccountConfig {
                user_id: "222".into(),
                label: None,
                engagement: None,
            },
        );
        assert!(matches!(dup, Err(EditError::Duplicate { .. })), "{dup:?}");
    }

    #[test]
    fn remove_keeps_the_rest() {
        let (_d, p) = file(TEXT);
        let r = remove_account(&p, "111").expect("removed");
        assert_eq!(r.label.as_deref(), Some("one"));
        let out = std::fs::read_to_string(&p).expect("read");
        assert!(!out.contains("111") && !out.contains("# first"), "{out}");
        for kept in [
            "# top comment",
            "# the session",
            "# second",
            "# a comment about",
            "# trailing notes",
        ] {
            assert!(out.contains(kept), "{kept} lost:\n{out}");
        }
        assert!(matches!(
            remove_account(&p, "222"),
            Err(EditError::LastAccount { .. })
        ));
        assert!(matches!(
            remove_account(&p, "999"),
            Err(EditError::NotFound { .. })
        ));
    }

    #[test]
    fn a_config_without_accounts_gets_its_first() {
        let (_d, p) = file("[instagram]\nsession_file = \"s.json\"\n");
        add_account(
            &p,
            &AccountConfig {
                user_id: "5".into(),
                label: None,
                engagement: None,
            },
        )
        .expect("added");
        assert_eq!(Config::load(&p).expect("loads").accounts[0].user_id, "5");
    }

    #[test]
    fn broken_files_are_not_touched() {
        let (_d, p) = file("[instagram\nsession_file = 1\n");
        let e = add_account(
            &p,
            &AccountConfig {
                user_id: "5".into(),
                label: None,
                engagement: None,
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("iglive.toml:1:"), "{e}");
        let (_d2, p2) =
            file("[instagram]\nsession_file = \"s\"\n[watch]\npoll_interval = \"soon\"\n");
        let e = add_account(
            &p2,
            &AccountConfig {
                user_id: "5".into(),
                label: None,
                engagement: None,
            },
        )
        .unwrap_err();
        assert!(matches!(e, EditError::Invalid(_)), "{e}");
        assert!(e.to_string().contains(":4: watch.poll_interval"), "{e}");
        assert!(std::fs::read_to_string(&p2).expect("read").contains("soon"));
    }
}
