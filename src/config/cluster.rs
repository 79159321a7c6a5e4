//! `[cluster]`: the shared PostgreSQL catalog of several iglive nodes, and this node's name and
//! lease among them (`src/cluster/`).
//!
//! ```toml
//! [cluster]
//! postgres_url = "postgres://iglive:PASSWORD@db.internal:5432/iglive"
//! # or, keeping the password out of the config:
//! postgres_url_file = "/etc/iglive/postgres-url"   # or "credential:postgres-url"
//! node = "rec-a"        # this node's name among those sharing the catalog (default: host name)
//! lease_ttl = "30s"     # how long a silent node keeps its accounts and recordings
//! ```
//!
//! The URL file is read when the catalog opens, like the session files: a path (relative to
//! the config's folder) or `credential:NAME`, systemd's `$CREDENTIALS_DIRECTORY/NAME`.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::session_file::SessionFile;
use super::PostgresUrl;
use super::{ConfigError, Source};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawCluster {
    postgres_url: Option<String>,
    postgres_url_file: Option<String>,
    node: Option<String>,
    #[serde(deserialize_with = "super::raw::duration")]
    lease_ttl: Duration,
}

impl Default for RawCluster {
    fn default() -> Self {
        RawCluster {
            postgres_url: None,
            postgres_url_file: None,
            node: None,
            lease_ttl: DEFAULT_LEASE_TTL,
        }
    }
}

/// How long a node's heartbeat and leases stay valid without renewal: the failover time is
/// about this plus a third of it. Long enough to ride out a slow disk or a brief network
/// blip without handing recordings over; short against the minutes a CDN keeps segments.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(30);
const LEASE_TTL_RANGE: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(600));

/// Largest URL file read.
const MAX_URL_FILE: u64 = 16 * 1024;

/// Where the PostgreSQL URL comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum PostgresSource {
    /// `postgres_url`, checked at load.
    Inline(PostgresUrl),
    /// `postgres_url_file`, read when the catalog opens.
    File(SessionFile),
}

/// `[cluster]`; without it (or without a URL) the catalog is the SQLite file.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterConfig {
    pub postgres: Option<PostgresSource>,
    /// This node's name among the nodes sharing the catalog (`node`, else the host name).
    pub node: String,
    /// `lease_ttl`: how long a silent node keeps its accounts and recordings.
    pub lease_ttl: Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            postgres: None,
            node: host_name(),
            lease_ttl: DEFAULT_LEASE_TTL,
        }
    }
}

/// The machine's host name as a node name, or `node` when it has none usable.
fn host_name() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let name: String = raw
        .trim()
        .chars()
        .map(|c| if node_char(c) { c } else { '-' })
        .take(MAX_NODE_NAME)
        .collect();
    if name.is_empty() {
        "node".into()
    } else {
        name
    }
}

const MAX_NODE_NAME: usize = 64;

fn node_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')
}

fn check_node(name: &str) -> Result<String, String> {
    if name.is_empty() || name.chars().count() > MAX_NODE_NAME || !name.chars().all(node_char) {
        return Err(format!(
            "{name:?} is not a node name: use 1 to {MAX_NODE_NAME} letters, digits, '.', '-' or '_', different on each node"
        ));
    }
    Ok(name.to_string())
}

impl ClusterConfig {
    pub(super) fn from_raw(
        raw: RawCluster,
        base: &Path,
        src: &Source<'_>,
    ) -> Result<ClusterConfig, ConfigError> {
        let postgres = match (raw.postgres_url, raw.postgres_url_file) {
            (Some(_), Some(_)) => {
                return Err(src.error(
                    "cluster",
                    "postgres_url_file",
                    None,
                    "set postgres_url or postgres_url_file, not both",
                ))
            }
            (Some(u), None) => Some(PostgresSource::Inline(
                PostgresUrl::parse(&u)
                    .map_err(|e| src.error("cluster", "postgres_url", None, e.to_string()))?,
            )),
            (None, Some(f)) => Some(PostgresSource::File(
                SessionFile::parse(&f, base)
                    .map_err(|e| src.error("cluster", "postgres_url_file", None, e))?,
            )),
            (None, None) => None,
        };
        let node = match raw.node {
            Some(n) => check_node(&n).map_err(|e| src.error("cluster", "node", None, e))?,
            None => host_name(),
        };
        let (lo, hi) = LEASE_TTL_RANGE;
        if raw.lease_ttl < lo || raw.lease_ttl > hi {
            return Err(src.error(
                "cluster",
                "lease_ttl",
                None,
                format!(
                    "{:?} is out of range: use {:?} to {:?} (default {:?})",
                    raw.lease_ttl, lo, hi, DEFAULT_LEASE_TTL
                ),
            ));
        }
        Ok(ClusterConfig {
            postgres,
            node,
            lease_ttl: raw.lease_ttl,
        })
    }
}

impl PostgresSource {
    /// The URL, reading the file now; the error names the file and the fix.
    pub fn read(&self) -> Result<PostgresUrl, String> {
        let path: PathBuf = match self {
            PostgresSource::Inline(u) => return Ok(u.clone()),
            PostgresSource::File(SessionFile::Path(p)) => p.clone(),
            PostgresSource::File(SessionFile::Credential(name)) => {
                match std::env::var_os("CREDENTIALS_DIRECTORY") {
                    Some(d) => PathBuf::from(d).join(name),
                    None => return Err(format!(
                        "cluster.postgres_url_file is \"credential:{name}\" but iglive got no systemd credentials ($CREDENTIALS_DIRECTORY is not set): run it from its unit with `LoadCredential={name}:/etc/iglive/{name}`, or set postgres_url_file to the file's path"
                    )),
                }
            }
        };
        read_url_file(&path)
    }
}

fn read_url_file(path: &Path) -> Result<PostgresUrl, String> {
    let fail = |why: String| {
        format!(
            "{}: cluster.postgres_url_file: {why}; write the URL (postgres://USER:PASSWORD@HOST:PORT/DATABASE) on one line in that file, readable by iglive only (chmod 600)",
            path.display()
        )
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
    if meta.len() > MAX_URL_FILE {
        return Err(fail(format!("it is {} bytes, not a URL", meta.len())));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(
            "{}: cluster.postgres_url_file is readable by other users (mode {:o}) and holds the database password: run chmod 600 {}",
            path.display(),
            meta.permissions().mode() & 0o777,
            path.display()
        );
    }
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or_else(|| fail("it is empty".into()))?;
    PostgresUrl::parse(line).map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const BASE: &str =
        "[instagram]\nsession_file = \"session.json\"\n[[accounts]]\nuser_id = \"1\"\n";

    fn load(cluster: &str) -> Result<Config, String> {
        Config::from_str_at(
            &format!("{BASE}{cluster}"),
            Path::new("/etc/iglive/iglive.toml"),
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn cluster_keys_parse_and_errors_hide_the_password() {
        assert_eq!(
            load("").expect("no cluster").cluster,
            ClusterConfig::default()
        );
        let c = load("[cluster]\npostgres_url = \"postgres://u:hunter2@db:5432/iglive\"\n")
            .expect("inline");
        match c.cluster.postgres {
            Some(PostgresSource::Inline(u)) => {
                assert_eq!(u.redacted(), "postgres://u:***@db:5432/iglive")
            }
            other => panic!("{other:?}"),
        }
        let c = load("[cluster]\npostgres_url_file = \"credential:pg\"\n").expect("file");
        assert_eq!(
            c.cluster.postgres,
            Some(PostgresSource::File(SessionFile::Credential("pg".into())))
        );
        let c = load("[cluster]\npostgres_url_file = \"pg-url\"\n").expect("file");
        assert_eq!(
            c.cluster.postgres,
            Some(PostgresSource::File(SessionFile::Path(
                "/etc/iglive/pg-url".into()
            )))
        );
        let e = load("[cluster]\npostgres_url = \"mysql://u:hunter2@db/x\"\n").expect_err("scheme");
        assert!(
            e.contains(":6: cluster.postgres_url:") && !e.contains("hunter2"),
            "{e}"
        );
        let e = load("[cluster]\npostgres_url = \"postgres://a@b/c\"\npostgres_url_file = \"f\"\n")
            .expect_err("both");
        assert!(e.contains("not both"), "{e}");
        let e = load("[cluster]\npostgres = \"x\"\n").expect_err("unknown key");
        assert!(e.contains("unknown field"), "{e}");
        let c = load("[cluster]\npostgres_url = \"postgres://a@b/c\"\nnode = \"rec-2\"\nlease_ttl = \"5s\"\n")
            .expect("node and ttl");
        assert_eq!(
            (c.cluster.node.as_str(), c.cluster.lease_ttl),
            ("rec-2", Duration::from_secs(5))
        );
        for bad in [
            "node = \"\"",
            "node = \"a b\"",
            "node = \"../x\"",
            "lease_ttl = \"100ms\"",
            "lease_ttl = \"1h\"",
        ] {
            let e = load(&format!("[cluster]\n{bad}\n")).expect_err(bad);
            assert!(e.contains(":6: cluster."), "{bad}: {e}");
        }
        assert!(check_node(&host_name()).is_ok());
    }

    #[test]
    fn a_url_file_is_read_and_its_errors_name_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("pg-url");
        std::fs::write(&f, "# the catalog\npostgres://u:hunter2@127.0.0.1:5/db\n").expect("write");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let src = PostgresSource::File(SessionFile::Path(f.clone()));
        assert_eq!(
            src.read().expect("url").redacted(),
            "postgres://u:***@127.0.0.1:5/db"
        );
        std::fs::write(&f, "postgres://u:hunter2@h:port/db\n").expect("write");
        let e = src.read().expect_err("bad url");
        assert!(
            e.contains(&f.display().to_string()) && !e.contains("hunter2"),
            "{e}"
        );
        let missing = PostgresSource::File(SessionFile::Path(dir.path().join("none")));
        let e = missing.read().expect_err("missing");
        assert!(
            e.contains("none: cluster.postgres_url_file: cannot read it"),
            "{e}"
        );
    }
}
