//! Subcommands that drive the daemon and single recordings: `run`, `show`, `finalize`,
//! `status`, `sim`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::output::RecordingFacts;
use crate::store::{Catalog, MergeState};

use super::ConfigArg;

/// sysexits' EX_CONFIG: the config or the session cannot be used. The unit's
/// `RestartPreventExitStatus=78` keeps systemd from restarting a daemon that would fail the
/// same way again: one clear journal line, then the unit stays failed until it is fixed.
pub const EX_CONFIG: u8 = 78;

pub fn run_daemon(c: &ConfigArg) -> anyhow::Result<ExitCode> {
    match run_until_stopped(c) {
        Err(e)
            if e.chain().any(|c| {
                c.is::<crate::config::ConfigError>()
                    || c.is::<crate::instagram::SourceError>()
                    || c.is::<crate::objects::ObjectsError>()
            }) =>
        {
            eprintln!("iglive: {e:#}");
            Ok(ExitCode::from(EX_CONFIG))
        }
        other => other,
    }
}

fn run_until_stopped(c: &ConfigArg) -> anyhow::Result<ExitCode> {
    let cfg = c.load()?;
    let rt = super::runtime()?;
    let exit = rt.block_on(crate::daemon::run(cfg, CancellationToken::new()))?;
    if exit == crate::daemon::Exit::Aborted {
        // Whatever still runs (a mux) is abandoned; recovery picks it up at the next start.
        rt.shutdown_background();
    }
    Ok(ExitCode::from(exit.code()))
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
    let rt = super::runtime()?;
    let catalog = rt.block_on(Catalog::open(&cfg))?;
    let Some(f) = rt.block_on(RecordingFacts::load_from(&catalog, &a.broadcast_id))? else {
        anyhow::bail!(
            "no recording of broadcast {} in {} (see `iglive list`)",
            a.broadcast_id,
            catalog.describe()
        );
    };
    // The upload state is the database's alone (the folder's broadcast.json is itself
    // uploaded): `show --json` adds it to the document only with object storage.
    let upload = rt
        .block_on(catalog.recording(&a.broadcast_id))?
        .and_then(|s| s.upload);
    let mut doc = f.broadcast_json();
    if let Some(rec) = doc.get_mut("recording").and_then(|r| r.as_object_mut()) {
        if let Some(u) = upload {
            rec.insert("upload".into(), serde_json::json!(u));
        }
    }
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
    if !f.via.is_empty() {
        println!("  found via    {}", crate::store::via_names(&f.via));
    }
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
    if let Some(u) = upload {
        println!("  upload       {u}");
    }
    if let Some(m) = f.chat_merge {
        println!("  chat merge   {m} ({})", merge_note(m));
    }
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

/// What a chat merge state means, for people.
fn merge_note(m: MergeState) -> &'static str {
    match m {
        MergeState::Pending => {
            "the post-live comments and likes are still to be merged; the folder is re-rendered when they are"
        }
        MergeState::Done => "the post-live comments and likes are merged",
        MergeState::GaveUp => {
            "the API did not answer within recording.merge_timeout; the chat holds what the live polls read"
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct FinalizeArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    pub broadcast_id: String,
}

pub fn finalize(a: FinalizeArgs) -> anyhow::Result<ExitCode> {
    let cfg = a.config.load()?;
    let rt = super::runtime()?;
    let store = rt.block_on(Catalog::open(&cfg))?;
    let Some(facts) = rt.block_on(RecordingFacts::load_from(&store, &a.broadcast_id))? else {
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
    let outcome = rt.block_on(async {
        let (writer, thread) = store.spawn_writer()?;
        let http = crate::dash::cdn_client()?;
        let folder = PathBuf::from(&folder);
        // What the CDN still holds is fetched first, through the recording's engine.
        let dash_url = facts
            .dash_url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok());
        let caught = match dash_url {
            Some(mpd) => {
                let never = tokio_util::sync::CancellationToken::new();
                crate::recording::catch_up(
                    &cfg.recording,
                    &http,
                    &a.broadcast_id,
                    mpd,
                    &folder,
                    &never,
                )
                .await
            }
            None => None,
        };
        let job = crate::recording::FinalizeJob {
            broadcast_id: a.broadcast_id.clone(),
            folder,
            progress: caught.unwrap_or_else(|| crate::capture::CaptureProgress {
                first_t: facts.first_segment_t.map(|t| t.max(0) as u64),
                ..Default::default()
            }),
            published_time: facts.published_time.unwrap_or(0.0),
        };
        let finalizer = crate::recording::Finalizer {
            writer: writer.clone(),
            store: store.clone(),
            http,
            keep_segments: cfg.recording.keep_segments,
        };
        let r = job.run(&finalizer).await;
        drop(finalizer);
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
    let headers = super::status_headers(&cfg)?;
    let rt = super::runtime()?;
    rt.block_on(async move {
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
        let sessions = match http.get(format!("{base}/sessions")).send().await {
            Ok(r) => r.json::<serde_json::Value>().await.unwrap_or_default(),
            Err(_) => serde_json::Value::Null,
        };
        print_sessions(&sessions);
        Ok(if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    })
}

/// One line per session: state, budget used, polled accounts, served recordings, push.
fn print_sessions(sessions: &serde_json::Value) {
    let list = sessions.as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        return;
    }
    println!("  sessions: {}", list.len());
    for s in list {
        let state = &s["state"];
        let evidence = state["evidence"]
            .as_str()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        let push = s["push"]["state"]
            .as_str()
            .map(|p| format!(", push {p}"))
            .unwrap_or_default();
        println!(
            "    {:<12} {:<10} {}/{} requests last minute, {} account(s), {} recording(s){push}{evidence}",
            s["name"].as_str().unwrap_or("?"),
            state["state"].as_str().unwrap_or("?"),
            s["budget"]["last_minute"],
            s["budget"]["per_minute"],
            s["accounts"],
            s["recordings"].as_array().map_or(0, Vec::len),
        );
    }
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
