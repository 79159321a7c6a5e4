//! Serving a recording's files. Only a broadcast id comes from the request; the path comes
//! from the database, is canonicalized (symlinks and `..` resolved) and must still lie inside
//! the canonical recordings folder, and must be a regular file. The bytes are served by
//! tower-http's `ServeFile` (Range → 206, a bad range → 416, `Accept-Ranges`, the content
//! type from the extension).

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use tower::ServiceExt as _;
use tower_http::services::ServeFile;

use super::envelope::ApiError;
use crate::objects::{Bucket, ObjectsError};

/// Why a file is not served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    #[error("{0} does not exist (yet)")]
    Missing(String),
    #[error("{0} is outside the recordings folder; it is not served")]
    Outside(String),
    #[error("{0} is not a regular file")]
    NotAFile(String),
    #[error("the recordings folder {0} cannot be opened")]
    NoRoot(String),
}

impl From<MediaError> for ApiError {
    fn from(e: MediaError) -> ApiError {
        match e {
            MediaError::NoRoot(_) => ApiError::Unavailable(e.to_string()),
            e => ApiError::NotFound(e.to_string()),
        }
    }
}

/// `candidate` made canonical, if it is a regular file inside `root`.
pub fn resolve(root: &Path, candidate: &Path) -> Result<PathBuf, MediaError> {
    let shown = candidate.display().to_string();
    let root =
        std::fs::canonicalize(root).map_err(|_| MediaError::NoRoot(root.display().to_string()))?;
    let real = std::fs::canonicalize(candidate).map_err(|_| MediaError::Missing(shown.clone()))?;
    if !real.starts_with(&root) {
        return Err(MediaError::Outside(shown));
    }
    let meta = std::fs::metadata(&real).map_err(|_| MediaError::Missing(shown.clone()))?;
    if !meta.is_file() {
        return Err(MediaError::NotAFile(shown));
    }
    Ok(real)
}

/// The local copy of `file` (a path under the recordings folder whose folder was removed
/// after its upload) in `cache`, downloaded whole from the bucket on first use.
pub async fn from_bucket(bucket: &Bucket, cache: &Path, file: &Path) -> Result<PathBuf, ApiError> {
    let shown = file.display().to_string();
    let key = bucket
        .key_of(file)
        .map_err(|_| MediaError::Outside(shown.clone()))?;
    let cached = cache.join(key.as_ref());
    if tokio::fs::metadata(&cached)
        .await
        .is_ok_and(|m| m.is_file())
    {
        return Ok(cached);
    }
    match bucket.download(file, &cached).await {
        Ok(_) => Ok(cached),
        Err(e)
            if matches!(
                &e,
                ObjectsError::Store {
                    source: object_store::Error::NotFound { .. },
                    ..
                }
            ) =>
        {
            Err(MediaError::Missing(shown).into())
        }
        Err(e) => Err(ApiError::Unavailable(format!(
            "{shown} is in object storage only, and reading it failed: {e}"
        ))),
    }
}

/// A file name for `Content-Disposition`: only `[A-Za-z0-9._-]`.
pub fn download_name(parts: &[&str], ext: &str) -> String {
    let stem: String = parts
        .iter()
        .filter(|p| !p.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join("_")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let stem = stem.trim_start_matches('.');
    format!("{}.{ext}", if stem.is_empty() { "recording" } else { stem })
}

/// Serves `path` (already resolved) for `req`, as an attachment named `download` when given.
pub async fn serve(path: PathBuf, req: Request, download: Option<String>) -> Response {
    let mut resp = match ServeFile::new(&path).oneshot(req).await {
        Ok(r) => r.map(Body::new),
        Err(e) => match e {},
    };
    if let Some(name) =
        download.and_then(|n| HeaderValue::from_str(&format!("attachment; filename=\"{n}\"")).ok())
    {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, name);
    }
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_inside_the_root() {
        let d = tempfile::tempdir().expect("tempdir");
        let root = d.path().join("recordings");
        std::fs::create_dir_all(root.join("a/b")).expect("dirs");
        std::fs::write(root.join("a/b/video.mp4"), b"x").expect("video");
        std::fs::write(d.path().join("secret"), b"s").expect("secret");
        std::os::unix::fs::symlink(d.path().join("secret"), root.join("a/b/link.mp4"))
            .expect("link");
        assert!(resolve(&root, &root.join("a/b/video.mp4")).is_ok());
        assert_eq!(
            resolve(&root, &root.join("a/b/../../../secret")),
            Err(MediaError::Outside(
                root.join("a/b/../../../secret").display().to_string()
            ))
        );
        assert!(matches!(
            resolve(&root, &root.join("a/b/link.mp4")),
            Err(MediaError::Outside(_))
        ));
        assert!(matches!(
            resolve(&root, &root.join("a/b")),
            Err(MediaError::NotAFile(_))
        ));
        assert!(matches!(
            resolve(&root, &root.join("nope.mp4")),
            Err(MediaError::Missing(_))
        ));
        assert!(matches!(
            resolve(&d.path().join("gone"), &root.join("a/b/video.mp4")),
            Err(MediaError::NoRoot(_))
        ));
    }

    #[test]
    fn download_names_are_plain() {
        assert_eq!(
            download_name(&["../x y", "2026-11-25", "179"], "mp4"),
            "_x_y_2026-11-25_179.mp4"
        );
        assert_eq!(download_name(&["", ""], "vtt"), "recording.vtt");
    }
}
