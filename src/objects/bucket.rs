//! The bucket of `storage.object_store`: one `object_store` S3 client, the key prefix, and how
//! a local path under the recordings folder maps to its key (`PREFIX/<path relative to the
//! recordings folder>`, i.e. `PREFIX/<account>/<folder>/<file>`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as Key;
use object_store::{ClientOptions, ObjectMeta, ObjectStore, ObjectStoreExt as _, RetryConfig};
use tokio::io::AsyncWriteExt as _;

use super::credentials;
use super::error::ObjectsError;
use crate::config::ObjectStoreConfig;

/// One request's bound; the uploader's own backoff retries whole files.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Most objects listed under one folder (a recording has a few dozen files, plus live
/// segments: about 1,800 an hour per track).
const MAX_LISTED: usize = 100_000;

/// The recordings' bucket; cheap to clone.
#[derive(Clone)]
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    root: PathBuf,
    url: String,
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

impl std::fmt::Display for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

impl Bucket {
    /// The client for `cfg`, reading its credentials now (no request is sent).
    pub fn connect(cfg: &ObjectStoreConfig, recordings_dir: &Path) -> Result<Bucket, ObjectsError> {
        let key = credentials::load(&cfg.credentials)?;
        let url = if cfg.prefix.is_empty() {
            format!("s3://{}", cfg.bucket)
        } else {
            format!("s3://{}/{}", cfg.bucket, cfg.prefix)
        };
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(&cfg.bucket)
            .with_region(&cfg.region)
            .with_access_key_id(&key.id)
            .with_secret_access_key(key.secret.as_str())
            .with_allow_http(cfg.allow_http)
            .with_retry(RetryConfig {
                max_retries: 2,
                retry_timeout: Duration::from_secs(20),
                ..RetryConfig::default()
            })
            .with_client_options(
                ClientOptions::new()
                    .with_allow_http(cfg.allow_http)
                    .with_timeout(REQUEST_TIMEOUT)
                    .with_connect_timeout(CONNECT_TIMEOUT),
            );
        if let Some(t) = &key.token {
            b = b.with_token(t.as_str());
        }
        if let Some(e) = &cfg.endpoint {
            // Path-style requests (`endpoint/bucket/key`): what self-hosted servers expect.
            b = b.with_endpoint(e).with_virtual_hosted_style_request(false);
        }
        let store = b.build().map_err(|e| ObjectsError::Build {
            url: url.clone(),
            message: e.to_string(),
        })?;
        let root = std::path::absolute(recordings_dir).unwrap_or_else(|_| recordings_dir.into());
        Ok(Bucket {
            store: Arc::new(store),
            prefix: cfg.prefix.clone(),
            root,
            url,
        })
    }

    pub(super) fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The key of a local file or folder under the recordings folder.
    pub fn key_of(&self, local: &Path) -> Result<Key, ObjectsError> {
        let abs = std::path::absolute(local).unwrap_or_else(|_| local.into());
        let rel = abs
            .strip_prefix(&self.root)
            .map_err(|_| ObjectsError::NoKey(local.to_path_buf()))?;
        if rel.as_os_str().is_empty() {
            return Err(ObjectsError::NoKey(local.to_path_buf()));
        }
        let mut parts: Vec<String> = Vec::new();
        if !self.prefix.is_empty() {
            parts.extend(self.prefix.split('/').map(str::to_string));
        }
        for c in rel.components() {
            match c {
                std::path::Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
                _ => return Err(ObjectsError::NoKey(local.to_path_buf())),
            }
        }
        Ok(Key::from_iter(parts))
    }

    /// The object's size and ETag; `None` when it does not exist.
    pub async fn head(&self, key: &Key) -> Result<Option<ObjectMeta>, ObjectsError> {
        match self.store.head(key).await {
            Ok(m) => Ok(Some(m)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(store_err(key, source)),
        }
    }

    /// Every object under `folder` (a key prefix), up to a bound.
    pub async fn list(&self, folder: &Key) -> Result<Vec<ObjectMeta>, ObjectsError> {
        let mut out = Vec::new();
        let mut s = self.store.list(Some(folder));
        while let Some(m) = s.next().await {
            out.push(m.map_err(|e| store_err(folder, e))?);
            if out.len() >= MAX_LISTED {
                break;
            }
        }
        Ok(out)
    }

    pub async fn delete(&self, key: &Key) -> Result<(), ObjectsError> {
        match self.store.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(store_err(key, source)),
        }
    }

    /// Downloads the object of `local` (a file under the recordings folder whose local copy
    /// was removed) into `dest`, atomically (a temp file renamed into place); returns its size.
    pub async fn download(&self, local: &Path, dest: &Path) -> Result<u64, ObjectsError> {
        let key = self.key_of(local)?;
        let got = self.store.get(&key).await.map_err(|e| store_err(&key, e))?;
        let expected = got.meta.size;
        let dir = dest.parent().unwrap_or(Path::new("."));
        let local_err = |source| ObjectsError::Local {
            path: dest.to_path_buf(),
            source,
        };
        tokio::fs::create_dir_all(dir).await.map_err(local_err)?;
        let tmp = dir.join(format!(
            ".{}.part-{}",
            dest.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            uuid::Uuid::new_v4().simple()
        ));
        let result = async {
            let mut f = tokio::fs::File::create(&tmp).await.map_err(local_err)?;
            let mut stream = got.into_stream();
            let mut n = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| store_err(&key, e))?;
                n += chunk.len() as u64;
                f.write_all(&chunk).await.map_err(local_err)?;
            }
            f.sync_all().await.map_err(local_err)?;
            if n != expected {
                return Err(ObjectsError::Mismatch {
                    key: key.to_string(),
                    what: format!("{n} bytes read, {expected} announced"),
                });
            }
            tokio::fs::rename(&tmp, dest).await.map_err(local_err)?;
            Ok(n)
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result
    }
}

pub(super) fn store_err(key: &Key, source: object_store::Error) -> ObjectsError {
    ObjectsError::Store {
        key: key.to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Credentials;

    fn bucket(prefix: &str) -> Bucket {
        let cfg = ObjectStoreConfig {
            bucket: "rec".into(),
            prefix: prefix.into(),
            endpoint: Some("http://127.0.0.1:1".into()),
            region: "us-east-1".into(),
            allow_http: true,
            credentials: Credentials::File(crate::config::SessionFile::Path("/nonexistent".into())),
            spool_max_bytes: 1,
            keep_local: false,
        };
        let d = tempfile::tempdir().expect("tempdir");
        let keys = d.path().join("keys");
        std::fs::write(&keys, "AWS_ACCESS_KEY_ID=a\nAWS_SECRET_ACCESS_KEY=b\n").expect("keys");
        Bucket::connect(
            &ObjectStoreConfig {
                credentials: Credentials::File(crate::config::SessionFile::Path(keys)),
                ..cfg
            },
            Path::new("/srv/rec"),
        )
        .expect("bucket")
    }

    #[test]
    fn keys_follow_the_recordings_folder() {
        let b = bucket("iglive/node1");
        assert_eq!(
            b.key_of(Path::new("/srv/rec/alice/2026-12-01_1/video.mp4"))
                .expect("key")
                .as_ref(),
            "iglive/node1/alice/2026-12-01_1/video.mp4"
        );
        assert_eq!(
            bucket("")
                .key_of(Path::new("/srv/rec/a/b"))
                .expect("key")
                .as_ref(),
            "a/b"
        );
        assert!(b.key_of(Path::new("/etc/passwd")).is_err());
        assert!(b.key_of(Path::new("/srv/rec")).is_err());
        assert!(b.key_of(Path::new("/srv/rec/a/../../etc")).is_err());
    }
}
