//! Where a recording's folder goes. The username comes from the network: it must never escape
//! `recordings_dir` (`../`, `/`, NUL) nor land in another account's folder (usernames are
//! recycled after renames), so the folder is tied to the account's pk by a marker file.

use std::path::{Path, PathBuf};

/// Marker file in an account folder holding the owner's pk.
const OWNER_MARKER: &str = ".iglive-account";

/// A path component from untrusted text: only `[A-Za-z0-9._-]`, no leading dot, at most 64
/// bytes; `None` when nothing usable is left.
pub fn sanitize_component(raw: &str) -> Option<String> {
    let mut s: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    while s.starts_with('.') {
        s.remove(0);
    }
    s.truncate(64);
    let meaningful = s.chars().any(|c| c.is_ascii_alphanumeric());
    meaningful.then_some(s)
}

/// The account folder for `user_id` under `recordings_dir`, created with its owner marker.
/// A username altered by sanitizing, or one whose folder belongs to another pk, gets `_<pk>`.
pub fn account_folder(
    recordings_dir: &Path,
    user_id: &str,
    username: Option<&str>,
) -> std::io::Result<PathBuf> {
    let pk = sanitize_component(user_id).unwrap_or_else(|| "unknown".into());
    let name = match username.and_then(|u| sanitize_component(u).map(|s| (s, u))) {
        Some((s, raw)) if s == raw => s,
        Some((s, _)) => format!("{s}_{pk}"),
        None => format!("user_{pk}"),
    };
    for candidate in [name.clone(), format!("{name}_{pk}")] {
        let dir = recordings_dir.join(&candidate);
        let marker = dir.join(OWNER_MARKER);
        match std::fs::read_to_string(&marker) {
            Ok(owner) if owner.trim() == user_id => return Ok(dir),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if dir.exists() && std::fs::read_dir(&dir)?.next().is_some() {
                    // A folder someone else made; leave it alone.
                    continue;
                }
                std::fs::create_dir_all(&dir)?;
                std::fs::write(&marker, user_id)?;
                return Ok(dir);
            }
            Err(e) => return Err(e),
        }
    }
    let dir = recordings_dir.join(format!("user_{pk}"));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(OWNER_MARKER), user_id)?;
    Ok(dir)
}

/// `<account folder>/<YYYY-MM-DD_HHMMSS>_<broadcast_id>` (UTC time of `published_time`).
pub fn recording_folder(account_dir: &Path, published_time: f64, broadcast_id: &str) -> PathBuf {
    let fmt = time::macros::format_description!("[year]-[month]-[day]_[hour][minute][second]");
    let when = time::OffsetDateTime::from_unix_timestamp(published_time as i64)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_else(|| "unknown-time".into());
    let id = sanitize_component(broadcast_id).unwrap_or_else(|| "unknown".into());
    account_dir.join(format!("{when}_{id}"))
}

/// Bytes under a recording folder (video, artifacts and any kept segments), two levels deep;
/// symlinks are not followed, so a link cannot make `list` walk the whole disk.
pub fn folder_size(dir: &Path) -> u64 {
    fn walk(dir: &Path, depth: u8) -> u64 {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return 0;
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|e| Some((e.path(), e.file_type().ok()?)))
            .map(|(p, t)| {
                if t.is_file() {
                    std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0)
                } else if t.is_dir() && depth > 0 {
                    walk(&p, depth - 1)
                } else {
                    0
                }
            })
            .sum()
    }
    walk(dir, 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_stay_inside() {
        for raw in [
            "../../etc",
            "/",
            "a/b",
            "..",
            "bad\0name",
            "<script>",
            ".hidden",
            "",
        ] {
            if let Some(s) = sanitize_component(raw) {
                assert!(
                    !s.contains('/') && !s.contains('\0') && !s.starts_with('.'),
                    "{raw:?} → {s:?}"
                );
            }
        }
        assert_eq!(sanitize_component("nat.geo_2"), Some("nat.geo_2".into()));
        assert_eq!(sanitize_component("../../etc"), Some("_.._etc".into()));
        assert_eq!(sanitize_component("/"), None);
    }

    #[test]
    fn account_folders_do_not_collide() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = account_folder(dir.path(), "1", Some("alice")).expect("a");
        assert_eq!(a, dir.path().join("alice"));
        // Another account later takes the name "alice" (after a rename).
        let b = account_folder(dir.path(), "2", Some("alice")).expect("b");
        assert_eq!(b, dir.path().join("alice_2"));
        assert_eq!(
            account_folder(dir.path(), "1", Some("alice")).expect("a again"),
            a
        );
        let evil = account_folder(dir.path(), "3", Some("../alice")).expect("evil");
        assert!(evil.starts_with(dir.path()));
        assert_eq!(evil, dir.path().join("_alice_3"));
        let none = account_folder(dir.path(), "4", Some("/")).expect("none");
        assert_eq!(none, dir.path().join("user_4"));
    }

    #[test]
    fn recording_folder_name() {
        let p = recording_folder(Path::new("/r/alice"), 1_700_000_000.0, "1789");
        assert_eq!(p, Path::new("/r/alice/2023-11-14_221320_1789"));
    }
}
