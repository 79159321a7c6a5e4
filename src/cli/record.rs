//! `iglive record TARGET`: one live now, in the foreground, with a progress line. Exit codes
//! (a contract for scripts): 0 finished, 1 error (the recording failed or could not start),
//! 2 usage (a TARGET or option refused), 3 not live or not found, 4 a second Ctrl-C stopped it
//! without finalizing (the raw capture stays for `iglive run`'s recovery), 130 interrupted by
//! Ctrl-C and finalized with what was captured.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::daemon::{RecordOutcome, RecordTarget};
use crate::recording::LiveRecording;

pub const EXIT_USAGE: u8 = 2;
pub const EXIT_NOT_LIVE: u8 = 3;
pub const EXIT_ABORTED: u8 = 4;
pub const EXIT_INTERRUPTED: u8 = 130;

/// How often the progress is printed when stdout is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, clap::Args)]
#[command(
    after_help = "TARGET is a username (@name), a profile URL (https://www.instagram.com/NAME/), a broadcast id, or the live's MPD URL (no session needed).

Without -c (and without $IGLIVE_CONFIG) no session is used, so only an MPD URL can be recorded: the folder goes under --dir (default: the current folder) with its database iglive.sqlite3 beside it. With a config, the recording goes where the daemon's would, into the same database, through the config's sessions.

Ctrl-C finalizes what was captured; a second Ctrl-C exits at once.

Exit codes: 0 finished, 1 error, 2 usage, 3 not live or not found, 4 stopped by a second Ctrl-C without finalizing, 130 interrupted and finalized."
)]
pub struct RecordArgs {
    /// What to record (see below).
    pub target: String,
    /// The config file (its sessions, recordings folder and database).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Without a config: where the recording and its database go.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

pub fn run(a: RecordArgs) -> anyhow::Result<ExitCode> {
    let explicit = a
        .config
        .clone()
        .or_else(|| std::env::var_os("IGLIVE_CONFIG").map(PathBuf::from));
    let (cfg, with_sessions) = match &explicit {
        Some(path) => {
            if a.dir.is_some() {
                eprintln!("iglive record: --dir is for recording without a config; the config says where recordings go");
                return Ok(ExitCode::from(EXIT_USAGE));
            }
            (Config::load_for_onboarding(path)?, true)
        }
        None => (
            no_config(a.dir.as_deref().unwrap_or(Path::new(".")))?,
            false,
        ),
    };
    let api_host = cfg.instagram.api_base_url.host_str().map(str::to_string);
    let target = match RecordTarget::parse(&a.target, api_host.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("iglive record: {e}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    if target.needs_session() && !with_sessions {
        eprintln!("iglive record: a username, profile URL or broadcast id is looked up through a session: pass -c CONFIG (see `iglive login`), or record the live's MPD URL, which needs none");
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    super::runtime()?.block_on(record(cfg, with_sessions, target))
}

/// The settings of a recording without a config: everything default, the folder and database
/// under `dir`, no session (the session file named here is never read).
fn no_config(dir: &Path) -> anyhow::Result<Config> {
    std::fs::create_dir_all(dir)?;
    let dir = std::path::absolute(dir)?;
    let text = r#"
[instagram]
session_file = "no-session.json"
[status]
listen = "off"
"#;
    let mut cfg = Config::from_str_for_onboarding(text, &dir.join("iglive.toml"))?;
    cfg.storage.database = dir.join("iglive.sqlite3");
    cfg.storage.recordings_dir = dir;
    Ok(cfg)
}

async fn record(
    cfg: Config,
    with_sessions: bool,
    target: RecordTarget,
) -> anyhow::Result<ExitCode> {
    let stop = CancellationToken::new();
    let abort = CancellationToken::new();
    let signals = tokio::spawn(watch_signals(stop.clone(), abort.clone()));
    let (tx, rx) = mpsc::channel::<LiveRecording>(4);
    let printer = tokio::spawn(print_progress(rx));
    let run = crate::daemon::record(&cfg, with_sessions, target, stop.clone(), abort.clone(), tx);
    let outcome = tokio::select! {
        r = run => r,
        _ = abort.cancelled() => {
            eprintln!("\niglive record: stopped at once; the raw capture stays in the folder (`iglive run` with this config recovers it)");
            return Ok(ExitCode::from(EXIT_ABORTED));
        }
    };
    signals.abort();
    let _ = printer.await;
    match outcome? {
        RecordOutcome::Finished {
            folder,
            broadcast_id,
            interrupted,
            merge_pending,
        } => {
            println!(
                "{} broadcast {broadcast_id}: {}",
                if interrupted {
                    "interrupted; finalized"
                } else {
                    "finished"
                },
                folder.display()
            );
            if merge_pending {
                println!("  the post-live chat merge is pending: `iglive run` with this config completes it");
            }
            Ok(ExitCode::from(if interrupted {
                EXIT_INTERRUPTED
            } else {
                0
            }))
        }
        RecordOutcome::Failed { reason } => {
            eprintln!("iglive record: {reason}");
            Ok(ExitCode::from(1))
        }
        RecordOutcome::NotLive(why) => {
            eprintln!("iglive record: {why}");
            Ok(ExitCode::from(EXIT_NOT_LIVE))
        }
    }
}

/// The first Ctrl-C (or SIGTERM) stops and finalizes; the second aborts.
async fn watch_signals(stop: CancellationToken, abort: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::warn!("cannot listen for Ctrl-C; stop with SIGKILL");
        return;
    };
    for token in [stop, abort] {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        if !token.is_cancelled() {
            eprintln!("\niglive record: stopping; finalizing what was captured (Ctrl-C again to exit at once)");
        }
        token.cancel();
    }
}

/// A live line on a terminal; a plain line every `PLAIN_EVERY` otherwise.
async fn print_progress(mut rx: mpsc::Receiver<LiveRecording>) {
    let tty = std::io::stdout().is_terminal();
    let started = Instant::now();
    let mut last_plain: Option<Instant> = None;
    let mut shown = false;
    while let Some(r) = rx.recv().await {
        let line = format!(
            "recording {}  {} segments  {}  video {:.0} s",
            crate::output::format_clock(started.elapsed().as_secs_f64()),
            r.segments_captured,
            crate::output::human_size(r.bytes),
            r.duration_s,
        );
        let mut out = std::io::stdout().lock();
        if tty {
            let _ = write!(out, "\r\x1b[2K{line}");
            shown = true;
        } else if last_plain.is_none_or(|t| t.elapsed() >= PLAIN_EVERY) {
            let _ = writeln!(out, "{line}");
            last_plain = Some(Instant::now());
        }
        let _ = out.flush();
    }
    if shown {
        println!();
    }
}
