//! The access key of the object store: from `storage.credentials_file` (a file, or a systemd
//! credential) or from the process's environment. The file holds `KEY=VALUE` lines
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, optionally `AWS_SESSION_TOKEN`; `#`
//! comments), so the same file also serves as a systemd `EnvironmentFile=`, and an AWS shared
//! credentials file with one profile (`aws_access_key_id = …`) reads too.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::error::ObjectsError;
use crate::config::{Credentials, SessionFile};

/// An access key; `Debug` shows the key id only.
pub(super) struct AccessKey {
    pub(super) id: String,
    pub(super) secret: Zeroizing<String>,
    pub(super) token: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .field("secret", &"…")
            .finish()
    }
}

/// Reads the access key from where the config says.
pub(super) fn load(c: &Credentials) -> Result<AccessKey, ObjectsError> {
    match c {
        Credentials::Environment => {
            let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
            match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
                (Some(id), Some(secret)) => Ok(AccessKey {
                    id,
                    secret: Zeroizing::new(secret),
                    token: var("AWS_SESSION_TOKEN").map(Zeroizing::new),
                }),
                _ => Err(ObjectsError::NoCredentials),
            }
        }
        Credentials::File(SessionFile::Path(path)) => {
            warn_if_open(path);
            read_file(path)
        }
        Credentials::File(SessionFile::Credential(name)) => {
            // No mode check: systemd makes the credential readable by this service only.
            let dir = std::env::var_os("CREDENTIALS_DIRECTORY")
                .ok_or_else(|| ObjectsError::NoCredentialsDirectory { name: name.clone() })?;
            read_file(&PathBuf::from(dir).join(name))
        }
    }
}

fn read_file(path: &Path) -> Result<AccessKey, ObjectsError> {
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
        ObjectsError::CredentialsRead {
            path: path.to_path_buf(),
            source,
        }
    })?);
    parse(&text).map_err(|reason| ObjectsError::CredentialsInvalid {
        path: path.to_path_buf(),
        reason,
    })
}

/// A group- or world-readable key file still works, with a warning naming the fix.
fn warn_if_open(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                file = %path.display(),
                mode = format!("{mode:o}"),
                "the object-store credentials file is readable by group or others: run `chmod 600 {}`",
                path.display()
            );
        }
    }
}

/// Parses `KEY=VALUE` lines; errors never quote a value.
fn parse(text: &str) -> Result<AccessKey, String> {
    let (mut id, mut secret, mut token) = (None, None, None);
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty()
            || line.starts_with('#')
            || line.starts_with(';')
            || line.starts_with('[')
        {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            return Err(format!("line {}: expected KEY=VALUE", n + 1));
        };
        let v = v.trim().trim_matches(|c| c == '"' || c == '\'').to_string();
        match k.trim().to_ascii_uppercase().as_str() {
            "AWS_ACCESS_KEY_ID" => id = Some(v),
            "AWS_SECRET_ACCESS_KEY" => secret = Some(Zeroizing::new(v)),
            "AWS_SESSION_TOKEN" => token = Some(Zeroizing::new(v)),
            other => {
                return Err(format!(
                    "line {}: unknown key {other:?} (expected AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or AWS_SESSION_TOKEN)",
                    n + 1
                ))
            }
        }
    }
    match (
        id.filter(|s| !s.is_empty()),
        secret.filter(|s| !s.is_empty()),
    ) {
        (Some(id), Some(secret)) => Ok(AccessKey { id, secret, token }),
        (None, _) => Err("AWS_ACCESS_KEY_ID is missing or empty".into()),
        (_, None) => Err("AWS_SECRET_ACCESS_KEY is missing or empty".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_style_and_aws_profile_files() {
        let k = parse("# key\nAWS_ACCESS_KEY_ID=AKID\nexport AWS_SECRET_ACCESS_KEY=\"s3cr3t\"\n")
            .expect("env style");
        assert_eq!((k.id.as_str(), k.secret.as_str()), ("AKID", "s3cr3t"));
        let k = parse(
            "[default]\naws_access_key_id = A\naws_secret_access_key = B\naws_session_token=T\n",
        )
        .expect("profile");
        assert_eq!(k.token.as_deref().map(String::as_str), Some("T"));
        assert!(!format!("{k:?}").contains('B'), "Debug hides the secret");
    }

    #[test]
    fn mistakes_are_named_without_the_secret() {
        let e = parse("AWS_ACCESS_KEY_ID=A\n").expect_err("no secret");
        assert!(e.contains("AWS_SECRET_ACCESS_KEY"), "{e}");
        let e = parse("AWS_ACCESS_KEY_ID=A\nPASSWORD=hunter2\n").expect_err("unknown");
        assert!(e.contains("line 2") && !e.contains("hunter2"), "{e}");
        let e = parse("just text\n").expect_err("no =");
        assert!(e.contains("KEY=VALUE"), "{e}");
    }
}
