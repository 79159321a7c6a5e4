//! Subcommands that drive the daemon and single recordings: `run`, `show`, `finalize`,
//! `status`, `sim`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::output::RecordingFacts;
use crate::store::Store;

use super::ConfigArg;

pub fn run_daemon(c: &ConfigArg) -> anyhow::Result<ExitCode> {
    let cfg = c.load()?;
    let rt = super::runtime()?;
    rt.block_on(crate::daemon::run(cfg, CancellationToken::new()))?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    pub broadcast_id: String,
    /// Print broadcast.json's document instead of a summary.
    #[arg(long)]
    pub json: bool,
}

pub fn show(a: ShowArgs) -> anyhow::Result<ExitCode> {
    let cfg = a.config.load()?;
    let store = Store::open(&cfg.storage.database)?;
    let conn = store.connect()?;
    let Some(f) = RecordingFacts::load(&conn, &a.broadcast_id)? else {
        anyhow::bail!(
            "no recording of broadcast {} in {} (see `iglive list`)",
            a.broadcast_id,
            cfg.storage.database.display()
        );
    };
    let doc = f.broadcast_json();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(ExitCode::SUCCESS);
    }
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    println!(
        "broadcast {} by {} ({})",
        f.broadcast_id,
        f.username.as_deref().unwrap_or("?"),
        f.user_id
    );
    println!(
        "  state        {}{}",
        f.state,
        f.error
            .as_deref()
            .map(|e| format!(": {e}"))
            .unwrap_or_default()
    );
    println!(
        "  started      {}",
        opt(f.published_time.map(crate::output::facts::rfc3339))
    );
    println!(
        "  ended        {} ({})",
        opt(f.ended_at.map(crate::output::facts::rfc3339)),
        opt(f.end_reason.clone())
    );
    println!(
        "  duration     {}",
        opt(f.duration_s.map(crate::output::format_clock))
    );
    println!("  folder       {}", opt(f.folder.clone()));
    println!(
        "  segments     {} captured, {} missing, {} expected{}",
        f.segments_captured,
        f.segments_missing,
        f.segments_expected,
        if f.rewind_used {
            " (rewound to the start)"
        } else {
            ""
        }
    );
    println!("  comments     {}", f.comments.len());
    println!(
        "  peak viewers {}",
        opt(f.peak_viewers().map(|v| format!("{v:.0}")))
    );
    println!(
        "  likes        {}",
        opt(f.total_likes().map(|v| v.to_string()))
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, clap::Args)]
pub struct FinalizeArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    pub broadcast_id: String,
}

pub fn finalize(a: FinalizeArgs) -> anyhow::Result<ExitCode> {
    let cfg = a.config.load()?;
    let store = Store::open(&cfg.storage.database)?;
    let conn = store.connect()?;
    let Some(facts) = RecordingFacts::load(&conn, &a.broadcast_id)? else {
        anyhow::bail!(
            "no recording of broadcast {} (see `iglive list`)",
            a.broadcast_id
        );
    };
    let Some(folder) = facts.folder.clone() else {
        anyhow::bail!(
            "broadcast {} was never recorded: nothing to finalize",
            a.broadcast_id
        );
    };
    let rt = super::runtime()?;
    let outcome = rt.block_on(async {
        let (writer, thread) = crate::store::Writer::spawn(&store)?;
        let http = crate::daemon::cdn_client()?;
        let progress = crate::recording::capture::CaptureProgress {
            first_t: facts.first_segment_t.map(|t| t.max(0) as u64),
            ..Default::default()
        };
        let r = crate::recording::finalize::finalize(
            &writer,
            &store,
            &http,
            &a.broadcast_id,
            &PathBuf::from(&folder),
            &progress,
            facts.published_time.unwrap_or(0.0),
            cfg.recording.keep_segments,
        )
        .await;
        drop(writer);
        thread.join();
        anyhow::Ok(r)
    })?;
    match outcome {
        Ok(m) => {
            println!("broadcast {}: {m}", a.broadcast_id);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("broadcast {}: {e}", a.broadcast_id);
            Ok(ExitCode::from(1))
        }
    }
}

pub fn status(c: &ConfigArg) -> anyhow::Result<ExitCode> {
    let cfg = c.load()?;
    let Some(addr) = cfg.status.listen else {
        anyhow::bail!(
            "status.listen is \"off\" in {}: the daemon serves no status",
            cfg.path.display()
        );
    };
    // With an API token (status.token_file) the status routes want it too.
    let token = match cfg.status.token_file.as_deref() {
        None => None,
        Some(f) => Some(
            std::fs::read_to_string(f)
                .with_context(|| format!("cannot read the API token {}", f.display()))?
                .trim()
                .to_string(),
        ),
    };
    let rt = super::runtime()?;
    rt.block_on(async move {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(t) = token {
            headers.insert(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {t}")
                    .parse()
                    .context("the API token is not a valid header value")?,
            );
        }
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .default_headers(headers)
            .build()?;
        let base = format!("http://{addr}");
        let ready: serde_json::Value = match http.get(format!("{base}/ready")).send().await {
            Ok(r) => r
                .json()
                .await
                .context("the status endpoint answered something unexpected")?,
            Err(e) => {
                println!("● iglive: not running (nothing answers on {base}: {e})");
                return Ok(ExitCode::from(3));
            }
        };
        let recs: serde_json::Value = http
            .get(format!("{base}/recordings"))
            .send()
            .await?
            .json()
            .await?;
        let ok = ready["ready"].as_bool().unwrap_or(false);
        println!(
            "● iglive: {}",
            if ok {
                "running, ready"
            } else {
                "running, NOT ready"
            }
        );
        for c in ready["checks"].as_array().into_iter().flatten() {
            println!(
                "  {:<15} {:<4} {}",
                c["name"].as_str().unwrap_or("?"),
                if c["ok"].as_bool().unwrap_or(false) {
                    "ok"
                } else {
                    "FAIL"
                },
                c["detail"].as_str().unwrap_or("")
            );
        }
        let recs = recs.as_array().cloned().unwrap_or_default();
        println!("  recordings in progress: {}", recs.len());
        for r in recs {
            println!(
                "    {} {} {} {} segments, {} missing, {:.0} s",
                r["username"]
                    .as_str()
                    .or(r["user_id"].as_str())
                    .unwrap_or("?"),
                r["broadcast_id"].as_str().unwrap_or("?"),
                r["state"].as_str().unwrap_or("?"),
                r["segments_captured"],
                r["segments_missing"],
                r["duration_s"].as_f64().unwrap_or(0.0)
            );
        }
        Ok(if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    })
}

#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// Scenario file (TOML or JSON; examples in tests/scenarios/).
    #[arg(long)]
    pub scenario: PathBuf,
    /// Address to listen on (loopback only).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Clock speed factor (10 = a 10-minute broadcast in one minute).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
}

pub fn sim(a: SimArgs) -> anyhow::Result<ExitCode> {
    let rt = super::runtime()?;
    rt.block_on(crate::sim::run_cli(&a.scenario, a.listen, a.speed))?;
    Ok(ExitCode::SUCCESS)
}
