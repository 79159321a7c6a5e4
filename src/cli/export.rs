//! `iglive export`: one recording's comments, likes or viewer counts for scripts. JSONL field
//! names are a contract (comments: pk, user_id, username, text, created_at, offset_s; likes:
//! ts, likes, burst_likes; viewers: ts, viewer_count); CSV has the same columns in that order;
//! WebVTT and SRT exist for comments only (subtitles at each comment's offset into the video).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::output::chat;
use crate::output::RecordingFacts;
use crate::store::Catalog;

use super::{ConfigArg, What};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Jsonl,
    Csv,
    Vtt,
    Srt,
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
    if matches!(args.format, Format::Vtt | Format::Srt) && !matches!(args.what, What::Comments) {
        anyhow::bail!("--format vtt and srt are subtitles: they exist only for --what comments");
    }
    let cfg = args.config.load()?;
    let rt = super::runtime()?;
    let catalog = rt.block_on(Catalog::open(&cfg))?;
    let id = &args.broadcast_id;
    if !rt.block_on(catalog.broadcast_known(id))? {
        anyhow::bail!(
            "no broadcast {} in {} (see `iglive list`)",
            args.broadcast_id,
            catalog.describe()
        );
    }
    let text = match (args.what, args.format) {
        (What::Comments, Format::Jsonl) => jsonl(&rt.block_on(catalog.comments(id))?)?,
        (What::Comments, f) => {
            // Subtitles and CSV need every comment's offset, which the facts settle (comments
            // polled before the video's start was known carry only their time).
            let comments = match rt.block_on(RecordingFacts::load_from(&catalog, id))? {
                Some(facts) => facts.comments,
                None => rt.block_on(catalog.comments(id))?,
            };
            match f {
                Format::Vtt => chat::webvtt(&comments),
                Format::Srt => chat::srt(&comments),
                _ => csv(
                    &[
                        "pk",
                        "user_id",
                        "username",
                        "text",
                        "created_at",
                        "offset_s",
                    ],
                    comments.iter().map(|c| {
                        vec![
                            c.pk.clone(),
                            c.user_id.clone().unwrap_or_default(),
                            c.username.clone().unwrap_or_default(),
                            c.text.clone(),
                            c.created_at.to_string(),
                            opt(c.offset_s),
                        ]
                    }),
                ),
            }
        }
        (What::Likes, Format::Jsonl) => jsonl(&rt.block_on(catalog.likes(id))?)?,
        (What::Likes, _) => csv(
            &["ts", "likes", "burst_likes"],
            rt.block_on(catalog.likes(id))?.iter().map(|l| {
                vec![
                    l.ts.to_string(),
                    opt(l.likes.map(|v| v as f64)),
                    opt(l.burst_likes.map(|v| v as f64)),
                ]
            }),
        ),
        (What::Viewers, Format::Jsonl) => jsonl(&rt.block_on(catalog.viewers(id))?)?,
        (What::Viewers, _) => csv(
            &["ts", "viewer_count"],
            rt.block_on(catalog.viewers(id))?
                .iter()
                .map(|v| vec![v.ts.to_string(), opt(v.viewer_count)]),
        ),
    };
    let mut out: Box<dyn std::io::Write> = match &args.output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p)
                .map_err(|e| anyhow::anyhow!("{}: cannot create: {e}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn opt(v: Option<f64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn jsonl<T: serde::Serialize>(rows: &[T]) -> anyhow::Result<String> {
    let mut out = String::new();
    for r in rows {
        out.push_str(&serde_json::to_string(r)?);
        out.push('\n');
    }
    Ok(out)
}

/// RFC 4180 CSV with a header line.
fn csv(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let mut out = header.join(",");
    out.push_str("\r\n");
    for row in rows {
        let fields: Vec<String> = row.iter().map(|f| chat::csv_field(f)).collect();
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}
