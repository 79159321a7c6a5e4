//! `iglive accounts add | list | remove`: the watched accounts, edited in the config file
//! (comments kept) and handed to a running daemon through its status listener's
//! `POST /api/v1/reload`. Exit codes: 0 done, 1 refused (no such account, ambiguous, already
//! listed, the last one), 2 an error.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;

use crate::config::{add_account, remove_account, AccountConfig, Config, EditError};
use crate::instagram::user_ref::{resolve, ResolveError, UserRef};
use crate::instagram::{Client, ClientOptions, SessionSource};
use crate::status::{ReloadOutcome, WatchedAccountState, RELOAD_HEADER};
use crate::store::query::AccountActivity;
use crate::store::Catalog;

use super::ConfigArg;

#[derive(Debug, clap::Subcommand)]
pub enum AccountsCommand {
    /// Watch an account: USERNAME, @USERNAME, https://www.instagram.com/NAME/ or its pk.
    Add(AddArgs),
    /// The watched accounts, their last live and what the daemon is doing with them.
    List(ListArgs),
    /// Stop watching an account (by pk, label or username).
    Remove(RemoveArgs),
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    pub account: String,
    /// Read ACCOUNT as a numeric pk even if an account is also named so.
    #[arg(long)]
    pub pk: bool,
    /// The label in logs and folder names (default: the username).
    #[arg(long)]
    pub label: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// One JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    pub account: String,
}

pub fn run(cmd: AccountsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AccountsCommand::Add(a) => add(a),
        AccountsCommand::List(a) => list(a),
        AccountsCommand::Remove(a) => remove(a),
    }
}

fn load(c: &ConfigArg) -> anyhow::Result<Config> {
    Ok(Config::load_for_onboarding(&Config::resolve_path(
        c.config.as_deref(),
    ))?)
}

fn edit_refused(e: &EditError) -> bool {
    matches!(
        e,
        EditError::Duplicate { .. } | EditError::NotFound { .. } | EditError::LastAccount { .. }
    )
}

fn add(a: AddArgs) -> anyhow::Result<ExitCode> {
    let cfg = load(&a.config)?;
    let r = match UserRef::parse(&a.account, a.pk) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("iglive accounts add: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let label = a
        .label
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| l.chars().take(100).collect::<String>());
    if label
        .as_deref()
        .is_some_and(|l| l.chars().any(char::is_control))
    {
        eprintln!("iglive accounts add: the label has control characters");
        return Ok(ExitCode::from(2));
    }
    let session =
        SessionSource::for_commands(&cfg, cfg.instagram.primary_session()).read_session()?;
    let client = Client::new(
        cfg.instagram.api_base_url.clone(),
        session,
        ClientOptions {
            timeout: cfg.instagram.request_timeout,
            max_retries: 1,
            ..Default::default()
        },
    )?;
    let rt = super::runtime()?;
    let user = match rt.block_on(resolve(&client, &r)) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("iglive accounts add: {e}");
            let refused = !matches!(e, ResolveError::Api(_));
            return Ok(ExitCode::from(if refused { 1 } else { 2 }));
        }
    };
    let account = AccountConfig {
        user_id: user.pk.clone(),
        label: label.or_else(|| user.username.clone()),
        engagement: None,
    };
    if let Err(e) = add_account(&cfg.path, &account) {
        eprintln!("iglive accounts add: {e}");
        return Ok(ExitCode::from(if edit_refused(&e) { 1 } else { 2 }));
    }
    println!(
        "added {} (pk {}) to {}",
        user.username
            .as_deref()
            .map(|u| format!("@{u}"))
            .unwrap_or_else(|| "the account".into()),
        user.pk,
        cfg.path.display()
    );
    println!("{}", rt.block_on(ask_reload(&cfg)));
    Ok(ExitCode::SUCCESS)
}

/// The config's account meant by `input`: its pk, its label, or its username as the
/// database knows it (`@name` and profile URLs too).
fn find_account(cfg: &Config, input: &str) -> Result<AccountConfig, String> {
    let s = input.trim();
    if let Some(a) = cfg.accounts.iter().find(|a| a.user_id == s) {
        return Ok(a.clone());
    }
    let name = match UserRef::parse(s, false) {
        Ok(UserRef::Username(n)) | Ok(UserRef::PkOrUsername(n)) | Ok(UserRef::Pk(n)) => n,
        Err(e) => return Err(e.to_string()),
    };
    let usernames = db_activity(cfg);
    let matches: Vec<&AccountConfig> = cfg
        .accounts
        .iter()
        .filter(|a| {
            a.label
                .as_deref()
                .is_some_and(|l| l.eq_ignore_ascii_case(&name))
                || usernames.iter().any(|u| {
                    u.user_id == a.user_id
                        && u.username
                            .as_deref()
                            .is_some_and(|n| n.eq_ignore_ascii_case(&name))
                })
        })
        .collect();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(format!(
            "no configured account has the pk, label or username {s:?} (see `iglive accounts list`)"
        )),
        several => Err(format!(
            "{s:?} matches {} accounts ({}); remove by pk",
            several.len(),
            several
                .iter()
                .map(|a| a.user_id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

fn remove(a: RemoveArgs) -> anyhow::Result<ExitCode> {
    let cfg = load(&a.config)?;
    let account = match find_account(&cfg, &a.account) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("iglive accounts remove: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    if let Err(e) = remove_account(&cfg.path, &account.user_id) {
        eprintln!("iglive accounts remove: {e}");
        return Ok(ExitCode::from(if edit_refused(&e) { 1 } else { 2 }));
    }
    println!(
        "removed {} (pk {}) from {}",
        account.label.as_deref().unwrap_or("the account"),
        account.user_id,
        cfg.path.display()
    );
    let rt = super::runtime()?;
    println!("{}", rt.block_on(ask_reload(&cfg)));
    Ok(ExitCode::SUCCESS)
}

/// Database facts for every configured account (none when there is no database yet).
fn db_activity(cfg: &Config) -> Vec<AccountActivity> {
    if cfg.cluster.postgres.is_none() && !cfg.storage.database.exists() {
        return Vec::new();
    }
    let Ok(rt) = super::runtime() else {
        return Vec::new();
    };
    rt.block_on(async {
        let Ok(catalog) = Catalog::open(cfg).await else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for a in &cfg.accounts {
            if let Ok(activity) = catalog.account_activity(&a.user_id).await {
                out.push(activity);
            }
        }
        out
    })
}

/// The loopback address to reach a listener bound to `addr` (a wildcard bind answers there).
fn local(addr: std::net::SocketAddr) -> std::net::SocketAddr {
    let mut a = addr;
    if a.ip().is_unspecified() {
        a.set_ip(if a.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    a
}

fn http(cfg: &Config) -> Option<reqwest::Client> {
    reqwest::Client::builder()
        .default_headers(super::status_headers(cfg).ok()?)
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .connect_timeout(Duration::from_secs(3))
        .build()
        .ok()
}

/// Asks a running daemon to reload; says what happened in one line.
pub(super) async fn ask_reload(cfg: &Config) -> String {
    let Some(addr) = cfg.status.listen.map(local) else {
        return "status.listen is \"off\": the change takes effect when the daemon next starts (or on SIGHUP / `systemctl reload iglive`)".into();
    };
    let Some(http) = http(cfg) else {
        return "cannot build an HTTP client to reach the daemon; the change takes effect at its next start".into();
    };
    let resp = http
        .post(format!("http://{addr}/api/v1/reload"))
        .header(RELOAD_HEADER, "1")
        .send()
        .await;
    let resp = match resp {
        Ok(r) => r,
        Err(e) if e.is_connect() => {
            return format!(
                "no daemon answers on {addr}: the change takes effect when it next starts"
            )
        }
        Err(e) => {
            return format!(
            "the daemon on {addr} did not answer the reload ({e}); run `systemctl reload iglive`"
        )
        }
    };
    let status = resp.status().as_u16();
    match status {
        200 => match resp.json::<ReloadOutcome>().await {
            Ok(o) => format!(
                "the running daemon reloaded: watching {} account(s){}",
                o.accounts,
                o.session_error
                    .map(|e| format!("; but its session was not reloaded: {e}"))
                    .unwrap_or_default()
            ),
            Err(_) => "the daemon reloaded but its answer was unreadable".into(),
        },
        422 => {
            let why = resp
                .json::<serde_json::Value>()
                .await
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or_default();
            format!("the running daemon refused the new config and keeps the old one: {why}")
        }
        s => format!("the daemon answered HTTP {s} to the reload; run `systemctl reload iglive`"),
    }
}

/// What the running daemon reports, if one answers.
async fn daemon_view(cfg: &Config) -> Option<(Vec<WatchedAccountState>, Vec<serde_json::Value>)> {
    let addr = local(cfg.status.listen?);
    let http = http(cfg)?;
    let get = |p: &str| {
        http.get(format!("http://{addr}{p}"))
            .timeout(Duration::from_secs(3))
            .send()
    };
    // The library's envelope: `data` lists every account with its `watched` and `state`.
    let doc: serde_json::Value = get("/api/v1/accounts").await.ok()?.json().await.ok()?;
    let watched = doc["data"]
        .as_array()?
        .iter()
        .filter(|a| a["watched"].as_bool() == Some(true))
        .filter_map(|a| {
            Some(WatchedAccountState {
                user_id: a["user_id"].as_str()?.to_string(),
                recording: a["state"].as_str() == Some("recording"),
            })
        })
        .collect();
    let recordings = get("/recordings").await.ok()?.json().await.ok()?;
    Some((watched, recordings))
}

#[derive(Debug, Serialize)]
struct Row {
    user_id: String,
    label: Option<String>,
    username: Option<String>,
    last_live: Option<f64>,
    last_broadcast_id: Option<String>,
    /// watching, recording, not loaded (reload pending), daemon not running.
    state: String,
    recording_broadcast_id: Option<String>,
}

fn list(a: ListArgs) -> anyhow::Result<ExitCode> {
    let cfg = load(&a.config)?;
    let activity = db_activity(&cfg);
    let rt = super::runtime()?;
    let daemon = rt.block_on(daemon_view(&cfg));
    let mut rows: Vec<Row> = cfg
        .accounts
        .iter()
        .map(|acc| {
            let act = activity.iter().find(|x| x.user_id == acc.user_id);
            let recording = daemon.as_ref().and_then(|(_, recs)| {
                recs.iter()
                    .find(|r| r["user_id"].as_str() == Some(acc.user_id.as_str()))
                    .and_then(|r| r["broadcast_id"].as_str().map(str::to_string))
            });
            let state = match &daemon {
                None => "daemon not running",
                Some(_) if recording.is_some() => "recording",
                Some((w, _)) if w.iter().any(|x| x.user_id == acc.user_id) => "watching",
                Some(_) => "not loaded (reload pending)",
            };
            Row {
                user_id: acc.user_id.clone(),
                label: acc.label.clone(),
                username: act.and_then(|x| x.username.clone()),
                last_live: act.and_then(|x| x.last_live),
                last_broadcast_id: act.and_then(|x| x.last_broadcast_id.clone()),
                state: state.into(),
                recording_broadcast_id: recording,
            }
        })
        .collect();
    if let Some((watched, _)) = &daemon {
        for w in watched {
            if !cfg.accounts.iter().any(|a| a.user_id == w.user_id) {
                rows.push(Row {
                    user_id: w.user_id.clone(),
                    label: None,
                    username: None,
                    last_live: None,
                    last_broadcast_id: None,
                    state: "removed (reload pending)".into(),
                    recording_broadcast_id: None,
                });
            }
        }
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    print_table(&rows, &cfg.path);
    Ok(ExitCode::SUCCESS)
}

fn print_table(rows: &[Row], path: &Path) {
    if rows.is_empty() {
        println!(
            "no accounts in {}: add one with `iglive accounts add NAME`",
            path.display()
        );
        return;
    }
    println!("{:<24} {:<20} {:<20} STATE", "ACCOUNT", "PK", "LAST LIVE");
    for r in rows {
        let name = match (&r.label, &r.username) {
            (Some(l), Some(u)) if !l.eq_ignore_ascii_case(u) => format!("{l} (@{u})"),
            (_, Some(u)) => format!("@{u}"),
            (Some(l), None) => l.clone(),
            (None, None) => "-".into(),
        };
        let last = r
            .last_live
            .map(crate::output::facts::rfc3339)
            .unwrap_or_else(|| "never seen".into());
        let state = match &r.recording_broadcast_id {
            Some(b) => format!("{} {b}", r.state),
            None => r.state.clone(),
        };
        println!("{name:<24} {:<20} {last:<20} {state}", r.user_id);
    }
}
