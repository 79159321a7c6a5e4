//! `/build` (what this binary is) and `/deps` (what it relies on: ffmpeg and ffprobe, the
//! database, the disk under the recordings folder).

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::library::envelope::{ApiResult, Envelope, ErrorBody, Reply};
use crate::library::Library;
use crate::store::schema::SCHEMA_VERSION;

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
    /// The database schema version it writes.
    pub schema_version: u32,
}

pub fn build_info() -> BuildInfo {
    let epoch: f64 = env!("IGLIVE_BUILD_EPOCH").parse().unwrap_or(0.0);
    BuildInfo {
        name: env!("CARGO_PKG_NAME").into(),
        version: env!("CARGO_PKG_VERSION").into(),
        commit: env!("IGLIVE_BUILD_COMMIT").into(),
        build_date: crate::output::facts::rfc3339(epoch),
        target: env!("IGLIVE_BUILD_TARGET").into(),
        profile: env!("IGLIVE_BUILD_PROFILE").into(),
        schema_version: SCHEMA_VERSION,
    }
}

/// What this binary is.
#[utoipa::path(
    get,
    path = "/build",
    tag = "system",
    responses((status = 200, description = "The build.", body = Envelope<BuildInfo>))
)]
pub async fn build() -> ApiResult<BuildInfo> {
    Ok(Reply::one(build_info()))
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

/// Checks ffmpeg, ffprobe, the database and the disk (blocking: runs the tools).
pub fn deps_report(lib: &Library) -> DepsReport {
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
    let db = lib.store().and_then(|s| s.connect()).and_then(|c| {
        let n: i64 = c.query_row("SELECT count(*) FROM recordings", [], |r| r.get(0))?;
        let v: u32 = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        Ok((n, v))
    });
    checks.push(DepCheck {
        name: "database".into(),
        ok: db.is_ok(),
        detail: match db {
            Ok((n, v)) => format!(
                "{} (schema {v}, {n} recordings)",
                lib.store()
                    .map(|s| s.path().display().to_string())
                    .unwrap_or_default()
            ),
            Err(e) => e.to_string(),
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
    DepsReport {
        ok: checks.iter().all(|c| c.ok),
        checks,
        disk_free_bytes: disk.ok().map(|d| d.0),
        disk_total_bytes: disk.ok().map(|d| d.1),
    }
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
    let l = lib.clone();
    let report = tokio::task::spawn_blocking(move || deps_report(&l))
        .await
        .map_err(|e| crate::library::ApiError::Unavailable(format!("the checks failed: {e}")))?;
    Ok(Reply::one(report))
}
