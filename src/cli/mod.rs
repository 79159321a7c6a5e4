//! Subcommands of the `iglive` binary. Output formats and exit codes here are a contract for
//! scripts: 0 success, 1 a check failed (`check-config`, `doctor`), 2 an error.

mod doctor;
mod export;
mod list;

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
                    println!(
                        "{}: ok ({} account{}, recordings in {})",
                        path.display(),
                        cfg.accounts.len(),
                        if cfg.accounts.len() == 1 { "" } else { "s" },
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
    }
}

/// Plain lines on stderr; no colours and no timestamps of our own when stderr is the journal
/// (systemd sets `JOURNAL_STREAM`), since journald stamps every line itself.
pub fn init_logging(verbose: u8) {
    use std::io::IsTerminal;
    let default = match verbose {
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
