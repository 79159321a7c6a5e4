//! `iglive doctor`: everything the daemon needs from the machine, checked one by one, each
//! failure with what to do about it.

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use crate::config::Config;
use crate::instagram::SessionSource;
use crate::media::tools;
use crate::store::Store;

pub fn run(cfg: &Config) -> anyhow::Result<ExitCode> {
    let mut failed = 0;
    let mut report = |name: &str, r: Result<String, String>| match r {
        Ok(s) => println!("ok    {name}: {s}"),
        Err(e) => {
            failed += 1;
            println!("FAIL  {name}: {e}");
        }
    };
    report("config", Ok(cfg.path.display().to_string()));
    let version = |tool: &std::path::Path| tools::version(tool).map_err(|e| e.to_string());
    report("ffmpeg", version(&tools::ffmpeg_path()));
    report("ffprobe", version(&tools::ffprobe_path()));

    let dir = &cfg.storage.recordings_dir;
    report(
        "recordings folder",
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("{}: cannot create: {e}", dir.display()))
            .and_then(|_| {
                let probe = dir.join(".iglive-doctor-probe");
                std::fs::write(&probe, b"probe")
                    .and_then(|_| std::fs::remove_file(&probe))
                    .map_err(|e| format!("{}: not writable: {e}", dir.display()))
            })
            .and_then(|_| crate::disk::free_space(dir).map_err(|e| e.to_string()))
            .and_then(|free| {
                let msg = format!(
                    "{} writable, {} free (minimum {})",
                    dir.display(),
                    crate::output::human_size(free),
                    crate::output::human_size(cfg.storage.min_free_space)
                );
                if free < cfg.storage.min_free_space {
                    Err(format!(
                        "{msg}: free some space or lower storage.min_free_space"
                    ))
                } else {
                    Ok(msg)
                }
            }),
    );
    let database = match &cfg.cluster.postgres {
        Some(_) => super::runtime().map_err(|e| e.to_string()).and_then(|rt| {
            rt.block_on(async {
                let c = crate::store::Catalog::open(cfg).await?;
                c.ping().await?;
                Ok::<_, crate::store::StoreError>(format!(
                    "PostgreSQL catalog {} reachable (schema version {})",
                    c.describe(),
                    crate::store::PG_SCHEMA_VERSION
                ))
            })
            .map_err(|e| e.to_string())
        }),
        None => sqlite_check(cfg),
    };
    report("database", database);
    if let Some(addr) = cfg.status.listen {
        report("status listener", listener_check(addr));
    }
    for session in &cfg.instagram.sessions {
        let source = SessionSource::for_commands(cfg, session);
        let name = if cfg.instagram.sessions.len() == 1 {
            "session file".to_string()
        } else {
            format!("session {}", session.name)
        };
        report(&name, session_check(&source, session));
    }
    report(
        "accounts",
        Ok(format!(
            "{} watched ({})",
            cfg.accounts.len(),
            cfg.accounts
                .iter()
                .map(|a| a.display_name().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    );
    if failed > 0 {
        println!("{failed} check(s) failed");
        Ok(ExitCode::from(1))
    } else {
        println!("all checks passed");
        Ok(ExitCode::SUCCESS)
    }
}

/// The SQLite catalog can take a write.
fn sqlite_check(cfg: &Config) -> Result<String, String> {
    Store::open(&cfg.storage.database)
        .map_err(|e| e.to_string())
        .and_then(|s| {
            let conn = s.connect().map_err(|e| e.to_string())?;
            conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;")
                .map_err(|e| format!("{}: not writable: {e}", s.path().display()))?;
            Ok(format!(
                "{} writable (schema version {})",
                s.path().display(),
                crate::store::schema::SCHEMA_VERSION
            ))
        })
}

/// A session file: readable, private, with a credential; and what the proxy is.
fn session_check(
    source: &SessionSource,
    session: &crate::config::SessionConfig,
) -> Result<String, String> {
    let s = source.read_session().map_err(|e| e.to_string())?;
    let proxy = session
        .proxy
        .as_ref()
        .map(|p| {
            format!(
                ", through proxy {}://{}",
                p.scheme(),
                p.host_str().unwrap_or("?")
            )
        })
        .unwrap_or_default();
    Ok(format!(
        "{source} private, {} credential{}, {} requests/min{proxy}",
        if s.authorization.is_some() {
            "bearer"
        } else {
            "cookie"
        },
        s.ds_user_id
            .as_deref()
            .map(|u| format!(" for user {u}"))
            .unwrap_or_default(),
        session.max_requests_per_minute
    ))
}

/// How long the look at a taken status address may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// `status.listen`: free to bind, or held by an iglive that answers `/health` there; anything
/// else holding it keeps the daemon's listener from coming up.
fn listener_check(addr: SocketAddr) -> Result<String, String> {
    let taken = match std::net::TcpListener::bind(addr) {
        Ok(_) => return Ok(format!("{addr} is free")),
        Err(e) => e,
    };
    if answers_health(addr) {
        return Ok(format!("{addr} is served by a running iglive"));
    }
    Err(format!(
        "cannot listen on {addr}: {taken}; another program holds it (see `ss -ltnp`): set status.listen to another port, or \"off\" (iglive records without it and keeps retrying)"
    ))
}

/// Whether `GET /health` at `addr` answers iglive's `ok`.
fn answers_health(addr: SocketAddr) -> bool {
    let Ok(mut conn) = std::net::TcpStream::connect_timeout(&addr, PROBE_TIMEOUT) else {
        return false;
    };
    let _ = conn.set_read_timeout(Some(PROBE_TIMEOUT));
    let _ = conn.set_write_timeout(Some(PROBE_TIMEOUT));
    let request = format!("GET /health HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    if conn.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let _ = (&mut conn).take(4096).read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    answer.starts_with("HTTP/1.") && answer.contains(" 200 ") && answer.ends_with("\r\n\r\nok\n")
}
