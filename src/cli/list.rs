//! `iglive list`: the recordings the database knows, as a table or JSON.

use std::path::Path;
use std::process::ExitCode;

use crate::store::query::{self, ListFilter};
use crate::store::Catalog;

use super::ConfigArg;

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Only this account (user id, username or label).
    #[arg(long)]
    pub account: Option<String>,
    /// Only recordings started on or after this date (YYYY-MM-DD, UTC).
    #[arg(long)]
    pub since: Option<String>,
}

pub fn parse_date(s: &str) -> anyhow::Result<f64> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(s.trim(), &fmt)
        .map_err(|_| anyhow::anyhow!("--since: expected a date like 2026-11-25, got {s:?}"))?;
    Ok(d.midnight().assume_utc().unix_timestamp() as f64)
}

pub fn run(args: ListArgs) -> anyhow::Result<ExitCode> {
    let cfg = args.config.load()?;
    let filter = ListFilter {
        account: args.account.clone(),
        since: args.since.as_deref().map(parse_date).transpose()?,
    };
    let (rows, catalog) = super::runtime()?.block_on(async {
        let catalog = Catalog::open(&cfg).await?;
        let rows = catalog.list_recordings(&filter).await?;
        anyhow::Ok((rows, catalog.describe()))
    })?;
    if args.json {
        let rows: Vec<Listed> = rows
            .into_iter()
            .map(|r| Listed {
                size_bytes: r
                    .folder
                    .as_deref()
                    .map(|f| crate::output::folder_size(Path::new(f))),
                recording: r,
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!("no recordings yet in {catalog}");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<20} {:<20} {:<17} {:>9} {:<11} {:>8} {:>8} {:>10}  VIA",
        "ACCOUNT", "BROADCAST", "START (UTC)", "DURATION", "STATUS", "COMMENTS", "PEAK", "SIZE"
    );
    for r in rows {
        let size = r
            .folder
            .as_deref()
            .map(|f| crate::output::human_size(crate::output::folder_size(Path::new(f))))
            .unwrap_or_else(|| "-".into());
        // Only the watched accounts other than the owner (guests): the owner is ACCOUNT.
        let guests: Vec<_> = r
            .via
            .iter()
            .filter(|v| v.user_id != r.user_id)
            .cloned()
            .collect();
        let via = if guests.is_empty() {
            "-".to_string()
        } else {
            crate::store::via_names(&guests)
        };
        println!(
            "{:<20} {:<20} {:<17} {:>9} {:<11} {:>8} {:>8} {:>10}  {via}",
            r.username.as_deref().unwrap_or(&r.user_id),
            r.broadcast_id,
            r.started_at.map(format_time).unwrap_or_else(|| "-".into()),
            r.duration_s
                .map(crate::output::format_clock)
                .unwrap_or_else(|| "-".into()),
            r.status,
            r.comments,
            r.peak_viewers
                .map(|v| format!("{v:.0}"))
                .unwrap_or_else(|| "-".into()),
            size,
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A row of `list --json`: the database's summary plus the folder's size on disk.
#[derive(serde::Serialize)]
struct Listed {
    #[serde(flatten)]
    recording: query::RecordingSummary,
    size_bytes: Option<u64>,
}

pub fn format_time(unix: f64) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    time::OffsetDateTime::from_unix_timestamp(unix as i64)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_else(|| "-".into())
}
