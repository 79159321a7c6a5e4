//! `iglive demo`: the whole pipeline in about a minute without an Instagram account. The
//! simulator runs in-process with a built-in scenario (a ~60 s broadcast with chat, likes and
//! viewers), the daemon records it with a temporary config, progress is shown on the terminal,
//! and the end says where the finished recording is and what it holds. It opens nothing.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::daemon::Exit;
use crate::sim::{Scenario, SimHandle, SimOptions};
use crate::store::Store;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where the demo's config, database and recordings go (default: recordings/demo/<time>).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Simulator clock speed (2 = the 60 s broadcast in 30 s).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
}

fn now_label() -> String {
    let fmt = time::macros::format_description!("[year][month][day]-[hour][minute][second]");
    time::OffsetDateTime::now_utc()
        .format(&fmt)
        .unwrap_or_else(|_| "now".into())
}

pub fn run(a: DemoArgs) -> anyhow::Result<ExitCode> {
    if !(a.speed.is_finite() && a.speed > 0.0 && a.speed <= 100.0) {
        anyhow::bail!(
            "--speed: expected a number between 0 and 100, got {}",
            a.speed
        );
    }
    let dir = a
        .dir
        .unwrap_or_else(|| PathBuf::from("recordings/demo").join(now_label()));
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the demo folder {}", dir.display()))?;
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    super::runtime()?.block_on(demo(dir, a.speed))
}

async fn demo(dir: PathBuf, speed: f64) -> anyhow::Result<ExitCode> {
    println!(
        "iglive demo: starting the Instagram simulator (the first run encodes its media once)…"
    );
    let sim = crate::sim::start(
        Scenario::demo(),
        SimOptions {
            speed,
            ..Default::default()
        },
    )
    .await?;
    let config_path = write_demo_files(&dir, &sim)?;
    let cfg = Config::load(&config_path)?;
    let db = cfg.storage.database.clone();
    println!("simulator: {}", sim.base_url());
    println!("config:    {}", config_path.display());
    println!("watching account 1000001 (demo.host); it goes live in a moment…");
    let stop = CancellationToken::new();
    let daemon = tokio::spawn(crate::daemon::run(cfg, stop.clone()));
    let outcome = follow_progress(&sim, &daemon, &db, speed).await;
    stop.cancel();
    match daemon.await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(e.context("the daemon stopped with an error")),
        Err(e) => anyhow::bail!("the daemon crashed: {e}"),
    }
    sim.shutdown().await;
    print_summary(outcome, &config_path)
}

/// Writes the simulator's session and a config pointing the daemon at it into `dir`, and
/// returns the config's path.
fn write_demo_files(dir: &Path, sim: &SimHandle) -> anyhow::Result<PathBuf> {
    let session = dir.join("session.json");
    std::fs::write(&session, crate::sim::session_json())?;
    std::fs::set_permissions(&session, std::fs::Permissions::from_mode(0o600))?;
    let config_path = dir.join("iglive.toml");
    std::fs::write(
        &config_path,
        format!(
            r#"# Written by `iglive demo`: the daemon pointed at the in-process simulator.
[instagram]
api_base_url = "{api}"
session_file = "session.json"
[watch]
poll_interval = "2s"
max_requests_per_minute = 60
[recording]
heartbeat_interval = "3s"
comments_interval = "2s"
likes_interval = "3s"
[storage]
recordings_dir = "recordings"
min_free_space = "50MB"
[status]
listen = "off"
[[accounts]]
user_id = "1000001"
label = "demo"
"#,
            api = sim.api_base_url()
        ),
    )?;
    Ok(config_path)
}

/// Prints a line whenever the recording's progress changes, until it ends, the daemon stops
/// or the time runs out; returns the last progress read.
async fn follow_progress(
    sim: &SimHandle,
    daemon: &JoinHandle<anyhow::Result<Exit>>,
    db: &Path,
    speed: f64,
) -> Option<Progress> {
    // Well past the broadcast's end, so a demo that gets stuck still ends.
    let deadline =
        tokio::time::Instant::now() + Duration::from_secs_f64(300.0 / speed.clamp(0.2, 1.0));
    let mut last = String::new();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if daemon.is_finished() {
            break None;
        }
        let db2 = db.to_path_buf();
        let row = tokio::task::spawn_blocking(move || progress(&db2))
            .await
            .ok()
            .flatten();
        if let Some(p) = &row {
            let line = progress_line(sim.now(), p);
            if line != last {
                println!("{line}");
                last = line;
            }
            if p.state == "finished" || p.state == "failed" {
                break row;
            }
        }
        if tokio::time::Instant::now() > deadline {
            println!("the demo did not finish in time");
            break row;
        }
    }
}

/// One progress line, at simulated second `now`.
fn progress_line(now: f64, p: &Progress) -> String {
    format!(
        "  [{:>5.0} s] {:<11} video {:>5.1} s ({} segments, {} missing)  comments {:>4}  viewers {:>5}  likes {:>5}",
        now,
        p.state,
        p.duration_s,
        p.segments,
        p.missing,
        p.comments,
        p.viewers.map(|v| format!("{v:.0}")).unwrap_or_else(|| "-".into()),
        p.likes.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
    )
}

/// Says how the demo ended: where the recording is, what each file holds and how to inspect
/// it. Exit code 1 when nothing was recorded or the recording failed.
fn print_summary(outcome: Option<Progress>, config_path: &Path) -> anyhow::Result<ExitCode> {
    let Some(p) = outcome else {
        println!("no recording was made; see the messages above");
        return Ok(ExitCode::from(1));
    };
    println!();
    if p.state != "finished" {
        println!("the recording failed: {}", p.error.unwrap_or_default());
        return Ok(ExitCode::from(1));
    }
    let folder = PathBuf::from(p.folder.unwrap_or_default());
    println!("recording finished: {}", folder.display());
    print_files(&folder)?;
    println!(
        "{:.0} s of video, {} comments, peak {} viewers. Inspect it with:\n  iglive list -c {}\n  iglive show -c {} {}",
        p.duration_s,
        p.comments,
        p.peak.map(|v| format!("{v:.0}")).unwrap_or_else(|| "-".into()),
        config_path.display(),
        config_path.display(),
        p.broadcast_id
    );
    Ok(ExitCode::SUCCESS)
}

/// The recording folder's files (hidden ones left out) by name, with size and purpose.
fn print_files(folder: &Path) -> anyhow::Result<()> {
    let mut files: Vec<_> = std::fs::read_dir(folder)?
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| {
            let len = e.metadata().map(|m| m.len()).unwrap_or(0);
            (e.file_name().to_string_lossy().to_string(), len)
        })
        .collect();
    files.sort();
    for (name, len) in files {
        println!(
            "  {name:<15} {:>10}  {}",
            crate::output::human_size(len),
            what_file_holds(&name)
        );
    }
    Ok(())
}

/// The purpose of a file of a recording folder, for the listing.
fn what_file_holds(name: &str) -> &'static str {
    match name {
        "video.mp4" => "the broadcast, muxed and verified",
        "broadcast.json" => "every fact about the broadcast (for jq and scripts)",
        "comments.jsonl" => "the chat, one comment per line with its offset",
        "chat.vtt" => "the chat as subtitles for any player",
        "viewers.svg" => "viewer count and likes per minute",
        "index.html" => "replay page: video with the chat in sync (open it in a browser)",
        "cover.jpg" => "the broadcast's cover frame",
        _ => "",
    }
}

struct Progress {
    broadcast_id: String,
    state: String,
    duration_s: f64,
    segments: i64,
    missing: i64,
    comments: i64,
    viewers: Option<f64>,
    likes: Option<i64>,
    peak: Option<f64>,
    folder: Option<String>,
    error: Option<String>,
}

fn progress(db: &Path) -> Option<Progress> {
    if !db.exists() {
        return None;
    }
    let conn = Store::open(db).ok()?.connect().ok()?;
    conn.query_row(
        "SELECT r.broadcast_id, r.state, coalesce(r.duration_s, 0), r.segments_captured,
                r.segments_missing,
                (SELECT count(*) FROM comments c WHERE c.broadcast_id = r.broadcast_id),
                (SELECT viewer_count FROM viewer_samples v WHERE v.broadcast_id = r.broadcast_id ORDER BY ts DESC LIMIT 1),
                (SELECT max(likes) FROM like_samples l WHERE l.broadcast_id = r.broadcast_id),
                r.folder, r.error,
                (SELECT max(viewer_count) FROM viewer_samples v WHERE v.broadcast_id = r.broadcast_id)
         FROM recordings r ORDER BY r.updated_at DESC LIMIT 1",
        [],
        |r| {
            Ok(Progress {
                broadcast_id: r.get(0)?,
                state: r.get(1)?,
                duration_s: r.get(2)?,
                segments: r.get(3)?,
                missing: r.get(4)?,
                comments: r.get(5)?,
                viewers: r.get(6)?,
                likes: r.get(7)?,
                folder: r.get(8)?,
                error: r.get(9)?,
                peak: r.get(10)?,
            })
        },
    )
    .ok()
}
