//! `/build` (what this binary is) and `/deps` (what it relies on: ffmpeg and ffprobe, the
//! database, the disk under the recordings folder).

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::library::envelope::{ApiResult, Envelope, ErrorBody, Reply};
use crate::library::Library;
use crate::store::schema::SCHEMA_VERSION;
use crate::store::{Catalog, PG_SCHEMA_VERSION};

/// The build, captured at compile time (build.rs).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BuildInfo {
    pub name: String,
    pub version: String,
    /// The git commit it was built from ("unknown" outside a checkout).
    pub commit: String,
    /// When it was built (RFC 3339, UTC; `SOURCE_DATE_EPOCH` when set).
    pub build_date: String,
    pub target: String,
    pub profile: String,
    /// The catalog this process reads and writes: `sqlite` or `postgresql`.
    pub catalog: String,
    /// The schema version it writes in that catalog (each backend numbers its own
    /// migrations).
    pub schema_version: u32,
}

pub fn build_info(catalog: &Catalog) -> BuildInfo {
    let epoch: f64 = env!("IGLIVE_BUILD_EPOCH").parse().unwrap_or(0.0);
    BuildInfo {
        name: env!("CARGO_PKG_NAME").into(),
        version: env!("CARGO_PKG_VERSION").into(),
        commit: env!("IGLIVE_BUILD_COMMIT").into(),
        build_date: crate::output::facts::rfc3339(epoch),
        target: env!("IGLIVE_BUILD_TARGET").into(),
        profile: env!("IGLIVE_BUILD_PROFILE").into(),
        catalog: backend(catalog).into(),
        schema_version: match catalog {
            Catalog::Sqlite(_) => SCHEMA_VERSION,
            Catalog::Postgres(_) => PG_SCHEMA_VERSION,
        },
    }
}

fn backend(catalog: &Catalog) -> &'static str {
    match catalog {
        Catalog::Sqlite(_) => "sqlite",
        Catalog::Postgres(_) => "postgresql",
    }
}

/// What this binary is.
#[utoipa::path(
    get,
    path = "/build",
    tag = "system",
    responses((status = 200, description = "The build.", body = Envelope<BuildInfo>))
)]
pub async fn build(State(lib): State<Library>) -> ApiResult<BuildInfo> {
    Ok(Reply::one(build_info(lib.catalog())))
}

/// One dependency's check.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DepCheck {
    pub name: String,
    pub ok: bool,
    /// The version, the path or what is wrong.
    pub detail: String,
}

/// Every dependency.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DepsReport {
    pub ok: bool,
    pub checks: Vec<DepCheck>,
    /// Bytes free and in total on the filesystem of the recordings folder.
    pub disk_free_bytes: Option<u64>,
    pub disk_total_bytes: Option<u64>,
}

/// Checks ffmpeg, ffprobe, the database and the disk.
pub async fn deps_report(lib: &Library) -> DepsReport {
    let l = lib.clone();
    let blocking = tokio::task::spawn_blocking(move || blocking_checks(&l)).await;
    let (mut checks, disk) = match blocking {
        Ok(c) => c,
        Err(e) => {
            let failed = |name: &str| DepCheck {
                name: name.into(),
                ok: false,
                detail: format!("the check stopped: {e}"),
            };
            (
                vec![
                    failed("ffmpeg"),
                    failed("ffprobe"),
                    failed("database"),
                    failed("disk"),
                ],
                None,
            )
        }
    };
    if let Catalog::Postgres(pg) = lib.catalog() {
        let db = pg.library_status().await;
        let check = DepCheck {
            name: "database".into(),
            ok: db.is_ok(),
            detail: match db {
                Ok((n, v)) => format!(
                    "PostgreSQL {} (schema {v}, {n} recordings)",
                    pg.url().redacted()
                ),
                Err(e) => e.to_string(),
            },
        };
        if let Some(c) = checks.iter_mut().find(|c| c.name == "database") {
            *c = check;
        }
    }
    DepsReport {
        ok: checks.iter().all(|c| c.ok),
        checks,
        disk_free_bytes: disk.map(|d| d.0),
        disk_total_bytes: disk.map(|d| d.1),
    }
}

/// The checks that block (running the tools, SQLite, statvfs), in the report's order; the
/// database's is a placeholder on PostgreSQL, which `deps_report` replaces.
fn blocking_checks(lib: &Library) -> (Vec<DepCheck>, Option<(u64, u64)>) {
    let mut checks = Vec::new();
    for (name, path) in [
        ("ffmpeg", crate::media::tools::ffmpeg_path()),
        ("ffprobe", crate::media::tools::ffprobe_path()),
    ] {
        let v = crate::media::tools::version(&path);
        checks.push(DepCheck {
            name: name.into(),
            ok: v.is_ok(),
            detail: v.unwrap_or_else(|e| format!("{e} (install ffmpeg: apt-get install ffmpeg)")),
        });
    }
    checks.push(match lib.catalog() {
        Catalog::Sqlite(store) => {
            let db = store.connect().and_then(|c| {
                let n: i64 = c.query_row("SELECT count(*) FROM recordings", [], |r| r.get(0))?;
                let v: u32 = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
                Ok((n, v))
            });
            DepCheck {
                name: "database".into(),
                ok: db.is_ok(),
                detail: match db {
                    Ok((n, v)) => {
                        format!("{} (schema {v}, {n} recordings)", store.path().display())
                    }
                    Err(e) => e.to_string(),
                },
            }
        }
        Catalog::Postgres(_) => DepCheck {
            name: "database".into(),
            ok: false,
            detail: "not checked".into(),
        },
    });
    let dir = lib.recordings_dir();
    let disk = nix::sys::statvfs::statvfs(dir).map(|st| {
        let frag = st.fragment_size();
        (
            st.blocks_available().saturating_mul(frag),
            st.blocks().saturating_mul(frag),
        )
    });
    checks.push(DepCheck {
        name: "disk".into(),
        ok: disk.is_ok(),
        detail: match disk {
            Ok((free, total)) => format!(
                "{}: {} free of {}",
                dir.display(),
                crate::output::human_size(free),
                crate::output::human_size(total)
            ),
            Err(e) => format!("{}: {e}", dir.display()),
        },
    });
    (checks, disk.ok())
}

/// What iglive relies on, checked now.
#[utoipa::path(
    get,
    path = "/deps",
    tag = "system",
    responses(
        (status = 200, description = "The checks (`ok` is false when one fails).", body = Envelope<DepsReport>),
        (status = 401, description = "The API token is missing or wrong.", body = ErrorBody),
    )
)]
pub async fn deps(State(lib): State<Library>) -> ApiResult<DepsReport> {
    Ok(Reply::one(deps_report(&lib).await))
}
