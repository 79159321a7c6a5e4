//! `iglive login` and `iglive session import`: making the session file without Python.
//!
//! `iglive login` asks on the terminal (the password without echo). When stdin is not a
//! terminal it reads the answers from stdin, one per line, in the order asked: the username
//! (unless `--username`), the password, then any code or choice Instagram asks for. Questions
//! go to stderr, the result to stdout. Exit codes: 0 logged in, 1 Instagram refused or wants a
//! step in its app, 2 an error (network, unexpected answer, file, input).

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::config::{Config, DEFAULT_CONFIG_PATH};
use crate::instagram::login::{
    self, Device, ImportedFrom, LoginClient, LoginError, Password, Prompter,
};
use crate::instagram::Session;

use super::ConfigArg;

/// Longest answer line read from stdin.
const MAX_LINE: u64 = 4096;
/// Instagram's production API, when no config says otherwise.
const DEFAULT_API: &str = "https://i.instagram.com/api/v1/";

#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Where to write the session (default: the config's instagram.session_file, else
    /// ./session.json).
    #[arg(short = 'o', long = "output", value_name = "SESSION_FILE")]
    pub output: Option<PathBuf>,
    /// The Instagram username (or the email or phone number it logs in with).
    #[arg(long)]
    pub username: Option<String>,
    /// The private API's base URL (default: the config's instagram.api_base_url).
    #[arg(long, value_name = "URL")]
    pub api_base_url: Option<url::Url>,
}

#[derive(Debug, clap::Subcommand)]
pub enum SessionCommand {
    /// Turn a browser's cookies.txt or an instagrapi settings file into the session file.
    Import(ImportArgs),
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// A Netscape cookies.txt (exported from a browser logged in to instagram.com) or the JSON
    /// instagrapi's dump_settings() writes.
    pub file: PathBuf,
    /// Where to write the session (default: the config's instagram.session_file, else
    /// ./session.json).
    #[arg(short = 'o', long = "output", value_name = "SESSION_FILE")]
    pub output: Option<PathBuf>,
}

/// The config when one is named (`-c`, `$IGLIVE_CONFIG`) or the default one exists; a file
/// without accounts is fine here.
pub(super) fn onboarding_config(c: &ConfigArg) -> anyhow::Result<Option<Config>> {
    let named = c.config.is_some() || std::env::var_os("IGLIVE_CONFIG").is_some();
    let path = Config::resolve_path(c.config.as_deref());
    if !named && !path.exists() {
        return Ok(None);
    }
    Ok(Some(Config::load_for_onboarding(&path)?))
}

fn output_path(output: Option<PathBuf>, cfg: Option<&Config>) -> PathBuf {
    output
        .or_else(|| {
            cfg.map(|c| {
                c.instagram
                    .primary_session()
                    .session_file
                    .path_outside_unit(&c.path)
            })
        })
        .unwrap_or_else(|| PathBuf::from("session.json"))
}

/// Answers from the terminal, or line by line from stdin.
struct StdioPrompter {
    terminal: bool,
}

impl StdioPrompter {
    fn read_line(&mut self, what: &str) -> Result<Zeroizing<String>, LoginError> {
        let mut buf = Zeroizing::new(Vec::new());
        let n = std::io::stdin()
            .lock()
            .take(MAX_LINE + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|e| LoginError::Input(format!("cannot read {what} from stdin: {e}")))?;
        if n == 0 {
            return Err(LoginError::Input(format!(
                "stdin ended before {what} was given (without a terminal, give one answer per line)"
            )));
        }
        if buf.len() as u64 > MAX_LINE {
            return Err(LoginError::Input(format!(
                "{what}: line longer than {MAX_LINE} bytes"
            )));
        }
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        let text = String::from_utf8(buf.to_vec())
            .map_err(|_| LoginError::Input(format!("{what} is not UTF-8 text")))?;
        Ok(Zeroizing::new(text))
    }
}

impl Prompter for StdioPrompter {
    fn ask(&mut self, question: &str) -> Result<String, LoginError> {
        eprint!("{question}");
        let _ = std::io::stderr().flush();
        let line = self.read_line("an answer")?;
        if !self.terminal {
            eprintln!();
        }
        Ok(line.trim().to_string())
    }

    fn ask_secret(&mut self, question: &str) -> Result<Password, LoginError> {
        if self.terminal {
            let p = rpassword::prompt_password(question)
                .map_err(|e| LoginError::Input(format!("cannot read the password: {e}")))?;
            return Ok(Password::new(p));
        }
        eprint!("{question}");
        let line = self.read_line("the password")?;
        eprintln!();
        Ok(Password::new(line.to_string()))
    }

    fn say(&mut self, line: &str) {
        eprintln!("{line}");
    }
}

fn check_login_name(name: &str) -> Result<String, LoginError> {
    let name = name.trim().trim_start_matches('@');
    let ok = !name.is_empty()
        && name.len() <= 254
        && name.chars().all(|c| !c.is_control() && !c.is_whitespace());
    if ok {
        Ok(name.to_string())
    } else {
        Err(LoginError::Input(
            "the username is empty or has spaces or control characters".into(),
        ))
    }
}

async fn run_login(a: &LoginArgs, cfg: Option<&Config>, out: &Path) -> Result<String, LoginError> {
    let api = match (&a.api_base_url, cfg) {
        (Some(u), _) => u.clone(),
        (None, Some(c)) => c.instagram.api_base_url.clone(),
        (None, None) => {
            url::Url::parse(DEFAULT_API).map_err(|e| LoginError::Input(e.to_string()))?
        }
    };
    let timeout = cfg.map_or(Duration::from_secs(20), |c| c.instagram.request_timeout);
    let existing = std::fs::read_to_string(out).ok();
    let device = existing
        .as_deref()
        .and_then(Device::reuse)
        .unwrap_or_else(Device::generate);
    let mut prompter = StdioPrompter {
        terminal: std::io::stdin().is_terminal(),
    };
    let username = match &a.username {
        Some(u) => check_login_name(u)?,
        None => check_login_name(&prompter.ask("Instagram username: ")?)?,
    };
    let mut client = LoginClient::new(api, device, timeout)?;
    let credential = login::login(&mut client, &mut prompter, &username).await?;
    let last_login = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let text = login::settings_json(client.device(), &credential, last_login)?;
    login::write_session(out, &text)?;
    Session::load(out).map_err(|e| LoginError::Write {
        path: out.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(format!(
        "logged in as {} (pk {}); session written to {} (mode 0600)",
        credential
            .username
            .as_deref()
            .map(|u| format!("@{u}"))
            .unwrap_or_else(|| username.clone()),
        credential.user_pk,
        out.display()
    ))
}

pub fn login(a: LoginArgs) -> anyhow::Result<ExitCode> {
    let cfg = onboarding_config(&a.config)?;
    let out = output_path(a.output.clone(), cfg.as_ref());
    let rt = super::runtime()?;
    match rt.block_on(run_login(&a, cfg.as_ref(), &out)) {
        Ok(done) => {
            println!("{done}");
            if let Some(cfg) = &cfg {
                println!("{}", rt.block_on(super::accounts::ask_reload(cfg)));
            } else {
                println!(
                    "next: point instagram.session_file in {DEFAULT_CONFIG_PATH} at it, then `iglive accounts add NAME`"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("iglive login: {e}");
            Ok(ExitCode::from(if e.refused() { 1 } else { 2 }))
        }
    }
}

pub fn session(cmd: SessionCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SessionCommand::Import(a) => import(a),
    }
}

fn import(a: ImportArgs) -> anyhow::Result<ExitCode> {
    let cfg = onboarding_config(&a.config)?;
    let out = output_path(a.output.clone(), cfg.as_ref());
    let existing = std::fs::read_to_string(&out).ok();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let imported = match login::import(&a.file, existing.as_deref(), now) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("iglive session import: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    if let Err(e) = login::write_session(&out, &imported.text) {
        eprintln!("iglive session import: {e}");
        return Ok(ExitCode::from(2));
    }
    let what = match imported.from {
        ImportedFrom::CookiesTxt => "a browser's cookies.txt",
        ImportedFrom::SettingsJson => "a settings file",
    };
    println!(
        "imported {what}: account {}, {} session; written to {} (mode 0600)",
        imported.session.ds_user_id.as_deref().unwrap_or("?"),
        if imported.session.authorization.is_some() {
            "bearer-token"
        } else {
            "cookie"
        },
        out.display()
    );
    if let Some(cfg) = &cfg {
        let rt = super::runtime()?;
        println!("{}", rt.block_on(super::accounts::ask_reload(cfg)));
    }
    Ok(ExitCode::SUCCESS)
}
