//! One file to its object: a single PUT up to [`PART_SIZE`], a multipart upload above (parts
//! read one at a time, so memory stays at one part), then a HEAD that must report the local
//! size and, for MD5-style ETags, the local ETag. A failed multipart upload is aborted; a
//! half-written object is never trusted, because only a matching HEAD counts as uploaded.

use std::path::Path;

use bytes::Bytes;
use object_store::path::Path as Key;
use object_store::{ObjectStoreExt as _, PutPayload};
use tokio::io::AsyncReadExt as _;

use super::bucket::{store_err, Bucket};
use super::error::ObjectsError;
use super::etag::{check, EtagBuilder, EtagCheck, PART_SIZE};

/// A verified object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Uploaded {
    pub(super) key: Key,
    pub(super) size: u64,
}

fn local_err(path: &Path) -> impl FnOnce(std::io::Error) -> ObjectsError + '_ {
    move |source| ObjectsError::Local {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads up to one part; an empty result is the end of the file.
async fn read_part(f: &mut tokio::fs::File, path: &Path) -> Result<Bytes, ObjectsError> {
    let mut buf = Vec::with_capacity(PART_SIZE);
    (&mut *f)
        .take(PART_SIZE as u64)
        .read_to_end(&mut buf)
        .await
        .map_err(local_err(path))?;
    Ok(Bytes::from(buf))
}

/// The local file's size and ETag, as [`upload`] would produce them.
async fn local_etag(path: &Path) -> Result<(u64, String), ObjectsError> {
    let mut f = tokio::fs::File::open(path).await.map_err(local_err(path))?;
    let mut etag = EtagBuilder::default();
    let mut size = 0u64;
    loop {
        let part = read_part(&mut f, path).await?;
        if part.is_empty() && size > 0 {
            break;
        }
        size += part.len() as u64;
        etag.part(&part);
        if part.len() < PART_SIZE {
            break;
        }
    }
    Ok((size, etag.finish()))
}

/// Uploads `path` to its key, overwriting whatever is there, and verifies it.
pub(super) async fn upload(bucket: &Bucket, path: &Path) -> Result<Uploaded, ObjectsError> {
    let key = bucket.key_of(path)?;
    let store = bucket.store();
    let mut f = tokio::fs::File::open(path).await.map_err(local_err(path))?;
    let len = f.metadata().await.map_err(local_err(path))?.len();
    let first = read_part(&mut f, path).await?;
    let mut etag = EtagBuilder::default();
    etag.part(&first);
    let mut size = first.len() as u64;
    if len <= PART_SIZE as u64 {
        store
            .put(&key, PutPayload::from(first))
            .await
            .map_err(|e| store_err(&key, e))?;
    } else {
        let mut up = store
            .put_multipart(&key)
            .await
            .map_err(|e| store_err(&key, e))?;
        let parts = async {
            up.put_part(PutPayload::from(first))
                .await
                .map_err(|e| store_err(&key, e))?;
            loop {
                let part = read_part(&mut f, path).await?;
                if part.is_empty() {
                    break;
                }
                size += part.len() as u64;
                etag.part(&part);
                up.put_part(PutPayload::from(part))
                    .await
                    .map_err(|e| store_err(&key, e))?;
            }
            up.complete().await.map_err(|e| store_err(&key, e))
        }
        .await;
        if let Err(e) = parts {
            if let Err(abort) = up.abort().await {
                tracing::debug!(key = %key, error = %abort, "aborting the multipart upload failed");
            }
            return Err(e);
        }
    }
    verify(bucket, &key, size, &etag.finish()).await?;
    Ok(Uploaded { key, size })
}

/// Whether the bucket already holds exactly the local file (size and ETag); an opaque ETag
/// counts as "no", so the file is uploaded again rather than trusted.
pub(super) async fn is_current(bucket: &Bucket, path: &Path) -> Result<bool, ObjectsError> {
    let key = bucket.key_of(path)?;
    let Some(meta) = bucket.head(&key).await? else {
        return Ok(false);
    };
    let (size, etag) = local_etag(path).await?;
    Ok(meta.size == size && check(&etag, meta.e_tag.as_deref()) == EtagCheck::Same)
}

async fn verify(bucket: &Bucket, key: &Key, size: u64, etag: &str) -> Result<(), ObjectsError> {
    let meta = bucket
        .head(key)
        .await?
        .ok_or_else(|| ObjectsError::Mismatch {
            key: key.to_string(),
            what: "the object is missing right after its upload".into(),
        })?;
    if meta.size != size {
        return Err(ObjectsError::Mismatch {
            key: key.to_string(),
            what: format!("{} bytes in the bucket, {size} locally", meta.size),
        });
    }
    match check(etag, meta.e_tag.as_deref()) {
        EtagCheck::Same | EtagCheck::Opaque => Ok(()),
        EtagCheck::Different => Err(ObjectsError::Mismatch {
            key: key.to_string(),
            what: format!(
                "ETag {} in the bucket, {etag} locally",
                meta.e_tag.as_deref().unwrap_or("-")
            ),
        }),
    }
}
