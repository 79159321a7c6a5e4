//! Subcommands of the `iglive` binary. Output formats and exit codes here are a contract for
//! scripts: 0 success, 1 a check failed (`check-config`, `doctor`), 2 an error, 78 (EX_CONFIG)
//! `run` could not use its config or session file.

mod accounts;
mod demo;
mod doctor;
mod export;
mod list;
mod login;
mod manage;
mod migrate;
mod record;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::Config;

/// Records Instagram Live broadcasts of the accounts in the config file.
#[derive(Debug, Parser)]
#[command(name = "iglive", version, about, long_about = None)]
pub struct Cli {
    /// More log output (repeat for more).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// The config file: `-c`, else `$IGLIVE_CONFIG`, else `config/iglive.toml`.
#[derive(Debug, clap::Args)]
pub struct ConfigArg {
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl ConfigArg {
    pub fn load(&self) -> anyhow::Result<Config> {
        let path = Config::resolve_path(self.config.as_deref());
        Ok(Config::load(&path)?)
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the config file: exit 0 when valid, 1 with the error otherwise.
    CheckConfig(ConfigArg),
    /// Check the machine: ffmpeg/ffprobe, database, recordings folder and free space, session file.
    Doctor(ConfigArg),
    /// List recordings.
    List(list::ListArgs),
    /// Export one recording's comments, likes or viewer counts.
    Export(export::ExportArgs),
    /// Record one live now, in the foreground: a username, profile URL, broadcast id or MPD URL.
    /// Exit 0 finished, 1 error, 2 usage, 3 not live or not found, 4 stopped by a second
    /// Ctrl-C without finalizing, 130 interrupted and finalized.
    Record(record::RecordArgs),
    /// Run the daemon in the foreground (systemd runs exactly this).
    Run(ConfigArg),
    /// Show one recording in full (what broadcast.json holds).
    Show(manage::ShowArgs),
    /// Finalize a recording again by hand (after a failure): mux, verify, rewrite its folder.
    Finalize(manage::FinalizeArgs),
    /// Ask the running daemon what it is doing (like `systemctl status`).
    Status(ConfigArg),
    /// Copy a SQLite catalog into an empty PostgreSQL catalog ([cluster] postgres_url), then
    /// compare every table's count. Exit 0 copied and verified, 2 error.
    Migrate(migrate::MigrateArgs),
    /// Serve the library (web app and REST API) over the recordings, recording nothing.
    Serve(serve::ServeArgs),
    /// Serve the Instagram simulator (for tests and experiments).
    Sim(manage::SimArgs),
    /// See the whole pipeline work in about a minute, against the built-in simulator.
    Demo(demo::DemoArgs),
    /// Log in to Instagram (username, password, two-factor) and write the session file.
    /// Without a terminal, answers are read from stdin one per line. Exit 0 logged in,
    /// 1 refused or needs the Instagram app, 2 error.
    Login(login::LoginArgs),
    /// Session files made elsewhere.
    #[command(subcommand)]
    Session(login::SessionCommand),
    /// Add, list or remove watched accounts (edits the config, asks the daemon to reload).
    #[command(subcommand)]
    Accounts(accounts::AccountsCommand),
}

impl Command {
    /// Commands that show their own progress and want only warnings in the log.
    pub fn is_interactive(&self) -> bool {
        matches!(
            self,
            Command::Demo(_)
                | Command::Login(_)
                | Command::Session(_)
                | Command::Accounts(_)
                | Command::Record(_)
        )
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum What {
    Comments,
    Likes,
    Viewers,
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::CheckConfig(c) => {
            let path = Config::resolve_path(c.config.as_deref());
            match Config::load(&path) {
                Ok(cfg) => {
                    for w in &cfg.warnings {
                        eprintln!("warning: {w}");
                    }
                    let sessions = cfg.instagram.sessions.len();
                    println!(
                        "{}: ok ({} account{}, {sessions} session{}, recordings in {})",
                        path.display(),
                        cfg.accounts.len(),
                        if cfg.accounts.len() == 1 { "" } else { "s" },
                        if sessions == 1 { "" } else { "s" },
                        cfg.storage.recordings_dir.display()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("{e}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        Command::Doctor(c) => doctor::run(&c.load()?),
        Command::List(a) => list::run(a),
        Command::Export(a) => export::run(a),
        Command::Record(a) => record::run(a),
        Command::Run(c) => manage::run_daemon(&c),
        Command::Show(a) => manage::show(a),
        Command::Finalize(a) => manage::finalize(a),
        Command::Status(c) => manage::status(&c),
        Command::Serve(a) => serve::run(a),
        Command::Migrate(a) => migrate::run(a),
        Command::Sim(a) => manage::sim(a),
        Command::Demo(a) => demo::run(a),
        Command::Login(a) => login::login(a),
        Command::Session(c) => login::session(c),
        Command::Accounts(c) => accounts::run(c),
    }
}

/// Plain lines on stderr; no colours and no timestamps of our own when stderr is the journal
/// (systemd sets `JOURNAL_STREAM`), since journald stamps every line itself.
/// A multi-threaded tokio runtime for the async subcommands.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("iglive")
        .build()?)
}

pub fn init_logging(verbose: u8, quiet: bool) {
    use std::io::IsTerminal;
    let default = match verbose {
        0 if quiet => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("IGLIVE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let journal = std::env::var_os("JOURNAL_STREAM").is_some();
    let ansi = std::io::stderr().is_terminal() && !journal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false);
    let _ = if journal {
        builder.without_time().try_init()
    } else {
        builder.try_init()
    };
}

/// Headers for calling the daemon's status listener: its API token when `status.token_file`
/// names one (every route with data wants it then).
pub(crate) fn status_headers(cfg: &Config) -> anyhow::Result<reqwest::header::HeaderMap> {
    use anyhow::Context as _;
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(f) = cfg.status.token_file.as_deref() {
        let token = std::fs::read_to_string(f).with_context(|| {
            format!(
                "cannot read the API token {} (status.token_file)",
                f.display()
            )
        })?;
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {}", token.trim())
                .parse()
                .context("the API token is not a valid header value")?,
        );
    }
    Ok(headers)
}
