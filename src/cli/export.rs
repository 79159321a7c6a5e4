//! `iglive export`: one recording's comments, likes or viewer counts for scripts.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::store::{query, Store};

use super::{ConfigArg, What};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Jsonl,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    pub broadcast_id: String,
    #[arg(long, value_enum)]
    pub what: What,
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: Format,
    /// Write to this file instead of stdout.
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
}

pub fn run(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let cfg = args.config.load()?;
    let store = Store::open(&cfg.storage.database)?;
    let conn = store.connect()?;
    if !query::broadcast_known(&conn, &args.broadcast_id)? {
        anyhow::bail!(
            "no broadcast {} in {} (see `iglive list`)",
            args.broadcast_id,
            cfg.storage.database.display()
        );
    }
    let lines: Vec<String> = match args.what {
        What::Comments => to_lines(query::comments(&conn, &args.broadcast_id)?)?,
        What::Likes => to_lines(query::likes(&conn, &args.broadcast_id)?)?,
        What::Viewers => to_lines(query::viewers(&conn, &args.broadcast_id)?)?,
    };
    let mut out: Box<dyn std::io::Write> = match &args.output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p)
                .map_err(|e| anyhow::anyhow!("{}: cannot create: {e}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    for l in lines {
        writeln!(out, "{l}")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn to_lines<T: serde::Serialize>(rows: Vec<T>) -> anyhow::Result<Vec<String>> {
    rows.iter()
        .map(|r| serde_json::to_string(r).map_err(Into::into))
        .collect()
}
