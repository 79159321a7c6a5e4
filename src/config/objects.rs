//! `storage.object_store` and the keys beside it: where finished folders and live segments go
//! in S3-compatible object storage, and how iglive authenticates there. The credentials
//! themselves are read when the daemon starts (`crate::objects`), not here, so a config check
//! never touches the secret.

use std::path::Path;

use super::raw::RawStorage;
use super::{ConfigError, SessionFile, Source};

/// The live-segment spool's default bound (`storage.spool_max_bytes`).
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 256 << 20;

/// S3-compatible object storage for the recordings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectStoreConfig {
    pub bucket: String,
    /// Key prefix without leading or trailing `/`; empty for the bucket's root.
    pub prefix: String,
    /// `http(s)://host:port` of a non-AWS server (MinIO, Ceph, moto); `None` for AWS itself.
    pub endpoint: Option<String>,
    pub region: String,
    /// Plain HTTP to `endpoint` (loopback tests); off by default.
    pub allow_http: bool,
    pub credentials: Credentials,
    /// Bytes of live segments waiting for upload at most; beyond it live segments are left to
    /// the finished folder's upload.
    pub spool_max_bytes: u64,
    /// Keep the local folder after a verified upload.
    pub keep_local: bool,
}

/// Where the access key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`) of the process.
    Environment,
    /// `storage.credentials_file`: a file (mode 0600) or `credential:NAME` under systemd.
    File(SessionFile),
}

impl ObjectStoreConfig {
    /// The object-store keys of `[storage]`; `None` when `object_store` is not set (then none
    /// of the others may be).
    pub(super) fn from_raw(
        raw: &RawStorage,
        base: &Path,
        src: &Source<'_>,
    ) -> Result<Option<ObjectStoreConfig>, ConfigError> {
        let err = |key: &str, m: String| src.error("storage", key, None, m);
        let Some(url) = raw.object_store.as_deref() else {
            let stray = [
                ("endpoint", raw.endpoint.is_some()),
                ("region", raw.region.is_some()),
                ("allow_http", raw.allow_http.is_some()),
                ("credentials_file", raw.credentials_file.is_some()),
                ("spool_max_bytes", raw.spool_max_bytes.is_some()),
                ("keep_local", raw.keep_local.is_some()),
            ];
            if let Some((key, _)) = stray.iter().find(|(_, set)| *set) {
                return Err(err(
                    key,
                    "only used with object storage: set storage.object_store = \"s3://BUCKET/PREFIX\" or remove this key".into(),
                ));
            }
            return Ok(None);
        };
        let (bucket, prefix) = parse_url(url).map_err(|m| err("object_store", m))?;
        let allow_http = raw.allow_http.unwrap_or(false);
        let endpoint = match raw.endpoint.as_deref() {
            None => None,
            Some(e) => Some(check_endpoint(e, allow_http).map_err(|m| err("endpoint", m))?),
        };
        let region = raw.region.clone().unwrap_or_else(|| "us-east-1".into());
        if region.is_empty()
            || !region
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(err(
                "region",
                format!("expected a region name like \"eu-west-1\", got {region:?}"),
            ));
        }
        let credentials = match raw.credentials_file.as_deref() {
            None => Credentials::Environment,
            Some(f) => Credentials::File(
                SessionFile::parse(f, base).map_err(|m| err("credentials_file", m))?,
            ),
        };
        let spool_max_bytes = raw.spool_max_bytes.unwrap_or(DEFAULT_SPOOL_MAX_BYTES);
        if spool_max_bytes == 0 {
            return Err(err(
                "spool_max_bytes",
                "must be more than 0 (it bounds the live segments waiting for upload)".into(),
            ));
        }
        Ok(Some(ObjectStoreConfig {
            bucket,
            prefix,
            endpoint,
            region,
            allow_http,
            credentials,
            spool_max_bytes,
            keep_local: raw.keep_local.unwrap_or(false),
        }))
    }
}

/// `s3://bucket/prefix` → (bucket, prefix); the bucket name follows S3's rules.
fn parse_url(url: &str) -> Result<(String, String), String> {
    let rest = url.strip_prefix("s3://").ok_or_else(|| {
        format!("expected \"s3://BUCKET\" or \"s3://BUCKET/PREFIX\", got {url:?}")
    })?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !bucket.starts_with(['-', '.'])
        && !bucket.ends_with(['-', '.']);
    if !ok {
        return Err(format!(
            "{bucket:?} is not a bucket name (3-63 of a-z, 0-9, '-' and '.')"
        ));
    }
    let prefix = prefix.trim_matches('/');
    if prefix
        .split('/')
        .any(|s| s == "." || s == ".." || (s.is_empty() && !prefix.is_empty()))
        || prefix.bytes().any(|b| b.is_ascii_control() || b == b'\\')
    {
        return Err(format!(
            "{prefix:?} is not a key prefix (plain names separated by '/')"
        ));
    }
    Ok((bucket.to_string(), prefix.to_string()))
}

fn check_endpoint(e: &str, allow_http: bool) -> Result<String, String> {
    let u = url::Url::parse(e)
        .map_err(|_| format!("expected a URL like \"https://s3.example.net\", got {e:?}"))?;
    match u.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => {
            return Err(format!(
                "{e} is plain HTTP: use https, or set storage.allow_http = true (for a server on loopback)"
            ))
        }
        _ => return Err(format!("expected an http(s) URL, got {e:?}")),
    }
    if u.host_str().is_none() || !u.username().is_empty() || u.password().is_some() {
        return Err(format!(
            "expected a URL with a host and no user or password (credentials go in storage.credentials_file), got {e:?}"
        ));
    }
    Ok(e.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_buckets_and_prefixes() {
        assert_eq!(parse_url("s3://rec"), Ok(("rec".into(), "".into())));
        assert_eq!(
            parse_url("s3://my.rec-1/a/b/"),
            Ok(("my.rec-1".into(), "a/b".into()))
        );
        for bad in [
            "rec",
            "http://rec/a",
            "s3://Rec",
            "s3://ab",
            "s3://r/a//b",
            "s3://rec/../x",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn endpoints_need_https_unless_allowed() {
        assert_eq!(
            check_endpoint("http://127.0.0.1:9000/", true),
            Ok("http://127.0.0.1:9000".into())
        );
        assert!(check_endpoint("http://127.0.0.1:9000", false)
            .unwrap_err()
            .contains("allow_http"));
        assert!(check_endpoint("https://k:s@s3.example.net", false).is_err());
        assert!(check_endpoint("ftp://x", true).is_err());
    }
}
