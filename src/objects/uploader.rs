//! The uploads of a process: one background worker under the daemon's shutdown token, fed
//! with finished folders (after the finalize, and again when the engagement merge rewrites
//! the chat files) and with live segment files as the capture stores them (through the
//! byte-bounded [`Spool`]). Finished folders go first. Every retry waits on the one
//! [`Backoff`]; a folder whose retries run out is marked `failed` and tried again at the next
//! start, as is one a stop interrupted (`pending`).
//!
//! A folder counts as uploaded when every file in it is in the bucket with the local size
//! and ETag; objects under its key that are no longer local files (live segments of a capture
//! the finalize removed) are deleted, so the bucket mirrors the folder. Only then, and only
//! with `storage.keep_local = false` and no engagement merge left to rewrite it, is the local
//! folder removed.

use std::collections::{BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::bucket::Bucket;
use super::error::ObjectsError;
use super::spool::{Offer, Spool, Spooled};
use super::transfer;
use crate::backoff::Backoff;
use crate::config::ObjectStoreConfig;
use crate::states::{RecordingState, UploadState};
use crate::store::{Catalog, Write, Writer};

/// A folder's upload is given up (marked `failed`) after this many failed attempts in a row;
/// with the backoff below that is about 20 minutes of outage.
const FOLDER_ATTEMPTS: u32 = 40;
const RETRY_BASE: Duration = Duration::from_millis(500);
const RETRY_CAP: Duration = Duration::from_secs(30);
/// Most files walked in one folder.
const MAX_FILES: usize = 50_000;

/// Upload figures, for status and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct UploadStats {
    pub folders_waiting: usize,
    pub segments_spooled: usize,
    pub spool_bytes: u64,
    /// Live segments not offered because the spool was full (left to the folder's upload).
    pub segments_refused: u64,
    pub segments_uploaded: u64,
    pub files_uploaded: u64,
    pub bytes_uploaded: u64,
    pub failed_attempts: u64,
}

#[derive(Debug, Clone)]
struct FolderJob {
    broadcast_id: String,
    folder: PathBuf,
    /// The folder is final: no engagement merge will rewrite it, so with `keep_local = false`
    /// it is removed once uploaded.
    last: bool,
}

struct Inner {
    bucket: Bucket,
    spool: Spool,
    folders: Mutex<VecDeque<FolderJob>>,
    wake: Notify,
    writer: Writer,
    store: Catalog,
    keep_local: bool,
    cancel: CancellationToken,
    tracker: TaskTracker,
    segments_uploaded: AtomicU64,
    files_uploaded: AtomicU64,
    bytes_uploaded: AtomicU64,
    failed_attempts: AtomicU64,
}

/// The process's uploads; disabled (every call a no-op) without `storage.object_store`.
#[derive(Clone, Default)]
pub struct Uploads {
    inner: Option<Arc<Inner>>,
}

impl Uploads {
    /// No object store: nothing is uploaded.
    pub fn disabled() -> Uploads {
        Uploads::default()
    }

    /// Starts the worker; it stops when `cancel` fires.
    pub fn start(
        bucket: Bucket,
        cfg: &ObjectStoreConfig,
        writer: Writer,
        store: Catalog,
        cancel: CancellationToken,
    ) -> Uploads {
        let inner = Arc::new(Inner {
            bucket,
            spool: Spool::new(cfg.spool_max_bytes),
            folders: Mutex::new(VecDeque::new()),
            wake: Notify::new(),
            writer,
            store,
            keep_local: cfg.keep_local,
            cancel,
            tracker: TaskTracker::new(),
            segments_uploaded: AtomicU64::new(0),
            files_uploaded: AtomicU64::new(0),
            bytes_uploaded: AtomicU64::new(0),
            failed_attempts: AtomicU64::new(0),
        });
        let worker = inner.clone();
        inner.tracker.spawn(async move { worker.work().await });
        Uploads { inner: Some(inner) }
    }

    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// The bucket, for readers of folders that live there only.
    pub fn bucket(&self) -> Option<&Bucket> {
        self.inner.as_ref().map(|i| &i.bucket)
    }

    /// A finished folder to upload (again): marked `pending`, then queued. `last`: nothing
    /// will rewrite the folder afterwards (no engagement merge is pending; the merge itself
    /// calls this again when it lands), so the local copy may be removed after the upload.
    pub async fn finished(&self, broadcast_id: &str, folder: &Path, last: bool) {
        let Some(inner) = &self.inner else { return };
        if !inner.is_finished(broadcast_id).await {
            // A failed recording keeps its raw capture for `iglive finalize`; not uploaded.
            return;
        }
        let w = Write::Upload {
            broadcast_id: broadcast_id.to_string(),
            state: UploadState::Pending,
        };
        if let Err(e) = inner.writer.send(w).await {
            tracing::warn!(error = %e, "cannot mark the upload pending");
        }
        inner.queue(FolderJob {
            broadcast_id: broadcast_id.to_string(),
            folder: folder.to_path_buf(),
            last,
        });
    }

    /// A segment file the capture just stored (never blocks).
    pub fn segment(&self, path: &Path, bytes: u64) {
        let Some(inner) = &self.inner else { return };
        let offer = inner.spool.offer(Spooled {
            path: path.to_path_buf(),
            bytes,
        });
        match offer {
            Offer::Queued => inner.wake.notify_one(),
            Offer::BecameFull => tracing::warn!(
                spool_bytes = inner.spool.figures().1,
                "the live-segment spool is full (storage.spool_max_bytes): new segments are left to the finished folder's upload until it drains"
            ),
            Offer::Refused => {}
        }
    }

    /// Queues every finished recording whose upload a stop, a crash or an outage left
    /// `pending` or `failed`.
    pub async fn resume(&self) {
        let Some(inner) = &self.inner else { return };
        match inner.store.pending_uploads().await {
            Ok(list) => {
                if !list.is_empty() {
                    tracing::info!(count = list.len(), "resuming unfinished uploads");
                }
                for u in list {
                    inner.queue(FolderJob {
                        broadcast_id: u.broadcast_id,
                        folder: PathBuf::from(u.folder),
                        // A pending merge resumes too, and queues the folder again when it lands.
                        last: !u.merge_pending,
                    });
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read the unfinished uploads"),
        }
    }

    /// Cancels the worker (an interrupted folder stays `pending`) and waits at most `grace`.
    pub async fn stop(&self, grace: Duration) {
        let Some(inner) = &self.inner else { return };
        inner.cancel.cancel();
        inner.tracker.close();
        if tokio::time::timeout(grace, inner.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(?grace, "the upload worker did not stop in time");
        }
    }

    pub fn stats(&self) -> UploadStats {
        let Some(i) = &self.inner else {
            return UploadStats::default();
        };
        let (segments_spooled, spool_bytes, segments_refused) = i.spool.figures();
        UploadStats {
            folders_waiting: i.folders.lock().unwrap_or_else(|p| p.into_inner()).len(),
            segments_spooled,
            spool_bytes,
            segments_refused,
            segments_uploaded: i.segments_uploaded.load(Ordering::Relaxed),
            files_uploaded: i.files_uploaded.load(Ordering::Relaxed),
            bytes_uploaded: i.bytes_uploaded.load(Ordering::Relaxed),
            failed_attempts: i.failed_attempts.load(Ordering::Relaxed),
        }
    }
}

impl Inner {
    /// Queues a folder; the same folder twice is harmless (files already in the bucket are
    /// not sent again), and needed when the merge lands while its first upload runs.
    fn queue(&self, job: FolderJob) {
        self.folders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(job);
        self.wake.notify_one();
    }

    fn next_folder(&self) -> Option<FolderJob> {
        self.folders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .front()
            .cloned()
    }

    fn pop_folder(&self) {
        self.folders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front();
    }

    async fn set_state(&self, broadcast_id: &str, state: UploadState) {
        let w = Write::Upload {
            broadcast_id: broadcast_id.to_string(),
            state,
        };
        if let Err(e) = self.writer.send(w).await {
            tracing::warn!(broadcast_id, error = %e, "cannot record the upload state");
        }
    }

    /// Folders first, then live segments, each retried with the backoff until it lands, its
    /// local file is gone, or (a folder) its attempts run out.
    async fn work(self: Arc<Self>) {
        let mut backoff = Backoff::new(RETRY_BASE, RETRY_CAP);
        while !self.cancel.is_cancelled() {
            let failed = if let Some(job) = self.next_folder() {
                let span = tracing::info_span!("upload", broadcast_id = %job.broadcast_id);
                let r = tracing::Instrument::instrument(self.upload_folder(&job), span).await;
                match r {
                    Ok(()) => {
                        self.pop_folder();
                        None
                    }
                    Err(ObjectsError::Cancelled) => return,
                    Err(e) if backoff.attempts() + 1 >= FOLDER_ATTEMPTS => {
                        tracing::error!(broadcast_id = %job.broadcast_id, error = %e, "upload failed; the folder is kept and tried again at the next start");
                        self.set_state(&job.broadcast_id, UploadState::Failed).await;
                        self.pop_folder();
                        None
                    }
                    Err(e) => Some(e),
                }
            } else if let Some(seg) = self.spool.front() {
                let r = tokio::select! {
                    _ = self.cancel.cancelled() => return,
                    r = transfer::upload(&self.bucket, &seg.path) => r,
                };
                match r {
                    Ok(_) => {
                        self.segments_uploaded.fetch_add(1, Ordering::Relaxed);
                        self.bytes_uploaded.fetch_add(seg.bytes, Ordering::Relaxed);
                        self.spool.done();
                        None
                    }
                    // Finalized and removed meanwhile (the folder's upload has the video), or
                    // not under the recordings folder.
                    Err(e) if e.is_local_missing() || matches!(e, ObjectsError::NoKey(_)) => {
                        self.spool.done();
                        None
                    }
                    Err(e) => Some(e),
                }
            } else {
                tokio::select! {
                    _ = self.cancel.cancelled() => return,
                    _ = self.wake.notified() => {}
                }
                continue;
            };
            match failed {
                None => backoff.reset(),
                Some(e) => {
                    self.failed_attempts.fetch_add(1, Ordering::Relaxed);
                    if backoff.attempts() == 0 {
                        tracing::warn!(error = %e, bucket = %self.bucket, "upload failed; retrying");
                    } else {
                        tracing::debug!(error = %e, attempt = backoff.attempts(), "upload failed again");
                    }
                    if !backoff.wait(&self.cancel).await {
                        return;
                    }
                }
            }
        }
    }

    /// Uploads what is not in the bucket yet, deletes what is no longer local, then removes
    /// the local folder when it may.
    async fn upload_folder(&self, job: &FolderJob) -> Result<(), ObjectsError> {
        let folder_key = self.bucket.key_of(&job.folder)?;
        let dir = job.folder.clone();
        let files = tokio::task::spawn_blocking(move || walk(&dir))
            .await
            .map_err(|e| ObjectsError::Local {
                path: job.folder.clone(),
                source: std::io::Error::other(e.to_string()),
            })?;
        let files = match files {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return self.folder_gone(job, &folder_key).await;
            }
            Err(source) => {
                return Err(ObjectsError::Local {
                    path: job.folder.clone(),
                    source,
                })
            }
        };
        let mut keys = BTreeSet::new();
        let (mut sent, mut bytes) = (0u64, 0u64);
        for f in &files {
            let cancelled = || ObjectsError::Cancelled;
            keys.insert(self.bucket.key_of(f)?.to_string());
            let current = tokio::select! {
                _ = self.cancel.cancelled() => return Err(cancelled()),
                r = transfer::is_current(&self.bucket, f) => r?,
            };
            if current {
                continue;
            }
            let up = tokio::select! {
                _ = self.cancel.cancelled() => return Err(cancelled()),
                r = transfer::upload(&self.bucket, f) => r?,
            };
            tracing::debug!(key = %up.key, bytes = up.size, "uploaded");
            sent += 1;
            bytes += up.size;
            self.files_uploaded.fetch_add(1, Ordering::Relaxed);
            self.bytes_uploaded.fetch_add(up.size, Ordering::Relaxed);
        }
        let mut stale = 0;
        for obj in self.bucket.list(&folder_key).await? {
            if !keys.contains(obj.location.as_ref()) {
                self.bucket.delete(&obj.location).await?;
                stale += 1;
            }
        }
        let remove = !self.keep_local && job.last;
        tracing::info!(
            files = files.len(),
            uploaded = sent,
            bytes,
            stale_deleted = stale,
            key = %folder_key,
            local_removed = remove,
            "folder uploaded and verified"
        );
        if remove {
            let dir = job.folder.clone();
            let r = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
            if let Ok(Err(e)) | Err(e) = r.map_err(std::io::Error::other) {
                tracing::warn!(folder = %job.folder.display(), error = %e, "uploaded, but the local folder could not be removed");
            }
        }
        self.set_state(&job.broadcast_id, UploadState::Done).await;
        Ok(())
    }

    /// A queued folder that is not on disk: done when the bucket has it (removed after an
    /// upload whose `done` was not recorded), else failed for good.
    async fn folder_gone(
        &self,
        job: &FolderJob,
        folder_key: &object_store::path::Path,
    ) -> Result<(), ObjectsError> {
        if self.bucket.list(folder_key).await?.is_empty() {
            tracing::error!(folder = %job.folder.display(), "the folder is neither on disk nor in the bucket; nothing to upload");
            self.set_state(&job.broadcast_id, UploadState::Failed).await;
        } else {
            self.set_state(&job.broadcast_id, UploadState::Done).await;
        }
        Ok(())
    }

    async fn is_finished(&self, broadcast_id: &str) -> bool {
        let row = self.store.recording(broadcast_id).await;
        matches!(row, Ok(Some(r)) if r.status == RecordingState::Finished.as_str())
    }
}

/// Every regular file under `dir` (no symlinks, no temp files of an atomic write), sorted.
fn walk(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let ty = entry.file_type()?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if ty.is_dir() {
                todo.push(entry.path());
            } else if ty.is_file()
                && !name.ends_with(".tmp")
                && !name.starts_with(".tmp")
                && !name.contains(".part-")
            {
                out.push(entry.path());
                if out.len() >= MAX_FILES {
                    return Err(std::io::Error::other(format!(
                        "more than {MAX_FILES} files in {}",
                        dir.display()
                    )));
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_lists_regular_files_only() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(d.path().join(".segments/video/part-0")).expect("dirs");
        std::fs::write(d.path().join("video.mp4"), b"v").expect("video");
        std::fs::write(d.path().join(".segments/video/part-0/1.m4s"), b"s").expect("seg");
        std::fs::write(d.path().join("chat.jsonl.tmp"), b"t").expect("tmp");
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("link")).expect("link");
        let files = walk(d.path()).expect("walk");
        assert_eq!(
            files,
            vec![
                d.path().join(".segments/video/part-0/1.m4s"),
                d.path().join("video.mp4")
            ]
        );
        assert_eq!(
            walk(&d.path().join("gone")).map_err(|e| e.kind()),
            Err(std::io::ErrorKind::NotFound)
        );
    }
}
