//! What can go wrong with object storage, worded for the operator. No message ever carries a
//! secret: credentials are named by their file, never shown.

use std::path::PathBuf;

/// Why an object-store operation failed, and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ObjectsError {
    #[error("{path}: cannot read the object-store credentials file: {source} (create it with lines AWS_ACCESS_KEY_ID=… and AWS_SECRET_ACCESS_KEY=…, mode 0600, or remove storage.credentials_file to use the environment)")]
    CredentialsRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not an object-store credentials file: {reason} (expected lines AWS_ACCESS_KEY_ID=… and AWS_SECRET_ACCESS_KEY=…, optionally AWS_SESSION_TOKEN=…)")]
    CredentialsInvalid { path: PathBuf, reason: String },
    #[error("storage.credentials_file = \"credential:{name}\" but no systemd credentials were passed ($CREDENTIALS_DIRECTORY is not set): add `LoadCredential={name}:FILE` to the unit, or give a path")]
    NoCredentialsDirectory { name: String },
    #[error("no object-store credentials: set storage.credentials_file, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in iglive's environment")]
    NoCredentials,
    #[error("cannot set up the object store {url}: {message}")]
    Build { url: String, message: String },
    #[error("object {key}: {source}")]
    Store {
        key: String,
        #[source]
        source: object_store::Error,
    },
    #[error("{path}: {source}")]
    Local {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("object {key} does not match the local file after upload: {what}")]
    Mismatch { key: String, what: String },
    #[error("{0} is outside the recordings folder; it has no key in the bucket")]
    NoKey(PathBuf),
    #[error("cancelled by the shutdown")]
    Cancelled,
}

impl ObjectsError {
    /// The local file is gone (a live segment removed by the finalize): nothing to upload.
    pub fn is_local_missing(&self) -> bool {
        matches!(self, ObjectsError::Local { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}
