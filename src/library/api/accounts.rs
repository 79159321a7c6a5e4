//! The watch list: each account's state and last live; adding and removing accounts writes
//! the config file (comments kept) and, in the daemon, takes effect at once.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::recordings::urlencode;
use crate::config::Config;
use crate::config::{AccountConfig, EditError};
use crate::library::envelope::{ApiError, ApiResult, Envelope, ErrorBody, Reply};
use crate::library::params::Params;
use crate::library::Library;
use crate::store::browse::AccountSummary;
use crate::watch::WatchedAccount;

/// Where an account stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountState {
    /// In the watch list; the daemon polls it.
    Watching,
    /// Being recorded now (detection polls pause meanwhile).
    Recording,
    /// In the config, but no daemon runs here (`iglive serve`).
    Configured,
    /// Not in the config any more; its recordings remain.
    NotWatched,
}

/// An account of the watch list or of the archive.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Account {
    pub user_id: String,
    pub username: Option<String>,
    pub full_name: Option<String>,
    pub is_verified: Option<bool>,
    /// The label in the config.
    pub label: Option<String>,
    /// Whether the config lists it.
    pub watched: bool,
    pub state: AccountState,
    pub recordings: i64,
    /// When its last recorded broadcast started (unix time).
    pub last_live_at: Option<f64>,
    pub last_broadcast_id: Option<String>,
    /// The page of its last recording.
    pub last_live_url: Option<String>,
}

/// An account to add.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewAccount {
    /// The numeric Instagram user pk, as a string (a number is accepted too).
    #[schema(value_type = String, example = "25025320")]
    pub user_id: serde_json::Value,
    /// A name for logs until the username is known.
    pub label: Option<String>,
}

/// The answer to a removal.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Removed {
    pub user_id: String,
    pub removed: bool,
}

fn edit_error(e: EditError) -> ApiError {
    match e {
        EditError::Duplicate { .. } | EditError::LastAccount { .. } => {
            ApiError::Conflict(e.to_string())
        }
        EditError::NotFound { .. } => ApiError::NotFound(e.to_string()),
        e => ApiError::Unavailable(e.to_string()),
    }
}

/// Longest label accepted.
const MAX_LABEL_CHARS: usize = 64;

fn checked_user_id(user_id: &str) -> Result<String, ApiError> {
    let id = user_id.trim();
    if id.is_empty() || id.len() > 20 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::InvalidParameter(format!(
            "user_id: expected the numeric Instagram user pk like \"25025320\", got {user_id:?}"
        )));
    }
    Ok(id.to_string())
}

fn checked_label(label: Option<&str>) -> Result<Option<String>, ApiError> {
    let label = label.map(str::trim).filter(|l| !l.is_empty());
    if let Some(l) = label {
        if l.chars().count() > MAX_LABEL_CHARS || l.chars().any(char::is_control) {
            return Err(ApiError::InvalidParameter(format!(
                "label: one line of at most {MAX_LABEL_CHARS} characters"
            )));
        }
    }
    Ok(label.map(str::to_string))
}

fn load_config(lib: &Library) -> Result<Config, ApiError> {
    Config::load(&lib.0.config_path)
        .map_err(|e| ApiError::Unavailable(format!("the config cannot be read: {e}")))
}

async fn all_accounts(lib: &Library) -> Result<Vec<Account>, ApiError> {
    let cfg = load_config(lib)?;
    let known: Vec<AccountSummary> = lib.known_accounts().await?;
    let running = lib.daemon_parts().map(|d| {
        (
            d.accounts.snapshot(),
            d.registry
                .snapshot()
                .into_iter()
                .map(|r| r.user_id)
                .collect::<Vec<_>>(),
        )
    });
    let state_of = |user_id: &str, watched: bool| match (&running, watched) {
        (_, false) => AccountState::NotWatched,
        (None, true) => AccountState::Configured,
        (Some((s, recording)), true) => {
            if s.paused.contains(user_id) || recording.iter().any(|u| u == user_id) {
                AccountState::Recording
            } else {
                AccountState::Watching
            }
        }
    };
    let make =
        |user_id: &str, label: Option<String>, watched: bool, k: Option<&AccountSummary>| Account {
            user_id: user_id.to_string(),
            username: k.and_then(|k| k.username.clone()),
            full_name: k.and_then(|k| k.full_name.clone()),
            is_verified: k.and_then(|k| k.is_verified),
            label: label.or_else(|| k.and_then(|k| k.label.clone())),
            watched,
            state: state_of(user_id, watched),
            recordings: k.map(|k| k.recordings).unwrap_or(0),
            last_live_at: k.and_then(|k| k.last_live_at),
            last_broadcast_id: k.and_then(|k| k.last_broadcast_id.clone()),
            last_live_url: k
                .and_then(|k| k.last_broadcast_id.as_deref())
                .map(|b| format!("/recording/{}", urlencode(b))),
        };
    let mut out: Vec<Account> = cfg
        .accounts
        .iter()
        .map(|a| {
            let k = known.iter().find(|k| k.user_id == a.user_id);
            make(&a.user_id, a.label.clone(), true, k)
        })
        .collect();
    for k in &known {
        if !cfg.accounts.iter().any(|a| a.user_id == k.user_id) && k.recordings > 0 {
            out.push(make(&k.user_id, None, false, Some(k)));
        }
    }
    Ok(out)
}

/// The watch list (config order), then accounts that are no longer watched but have recordings.
#[utoipa::path(
    get,
    path = "/api/v1/accounts",
    tag = "accounts",
    responses(
        (status = 200, description = "Every account.", body = Envelope<Vec<Account>>),
        (status = 401, description = "The API token is missing or wrong.", body = ErrorBody),
        (status = 503, description = "The config or the database cannot be read.", body = ErrorBody),
    )
)]
pub async fn list(State(lib): State<Library>) -> ApiResult<Vec<Account>> {
    Ok(Reply::one(all_accounts(&lib).await?))
}

/// Adds an account to the watch list (the config file keeps its comments).
#[utoipa::path(
    post,
    path = "/api/v1/accounts",
    tag = "accounts",
    request_body(content = NewAccount, content_type = "application/json"),
    responses(
        (status = 201, description = "Added; the daemon watches it at once.", body = Envelope<Account>),
        (status = 400, description = "The body or the user id is invalid.", body = ErrorBody),
        (status = 401, description = "The API token is missing or wrong.", body = ErrorBody),
        (status = 409, description = "It is already watched.", body = ErrorBody),
        (status = 503, description = "The config cannot be read or written.", body = ErrorBody),
    )
)]
pub async fn add(
    State(lib): State<Library>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Account> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/json")
        })
        .unwrap_or(false);
    if !json {
        return Err(ApiError::InvalidParameter(
            "send the account as JSON with Content-Type: application/json, like {\"user_id\": \"25025320\", \"label\": \"name\"}".into(),
        ));
    }
    let input: NewAccount = serde_json::from_slice(&body).map_err(|e| {
        if e.to_string().contains("missing field") {
            ApiError::MissingParameter("user_id is required: the numeric Instagram user pk".into())
        } else {
            ApiError::InvalidParameter(format!("the body is not an account: {e}"))
        }
    })?;
    let user_id = checked_user_id(&match &input.user_id {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => {
            return Err(ApiError::InvalidParameter(
                "user_id: expected the numeric user pk as a string".into(),
            ))
        }
    })?;
    let account = AccountConfig {
        user_id: user_id.clone(),
        label: checked_label(input.label.as_deref())?,
        engagement: None,
    };
    {
        let _edit = lib.0.config_lock.lock().await;
        let path = lib.0.config_path.clone();
        tokio::task::spawn_blocking(move || crate::config::add_account(&path, &account))
            .await
            .map_err(|e| ApiError::Unavailable(format!("the config edit failed: {e}")))?
            .map_err(edit_error)?;
    }
    if let Some(d) = lib.daemon_parts() {
        d.accounts.add(WatchedAccount {
            user_id: user_id.clone(),
            username: None,
            in_tray: lib.0.use_reels_tray,
        });
        tracing::info!(user_id = %user_id, "account added to the watch list from the library");
    }
    let account = all_accounts(&lib)
        .await?
        .into_iter()
        .find(|a| a.user_id == user_id)
        .ok_or_else(|| {
            ApiError::Unavailable("the account was written but cannot be read back".into())
        })?;
    Ok(Reply::created(account))
}

async fn remove_account(lib: &Library, user_id: String) -> ApiResult<Removed> {
    let user_id = checked_user_id(&user_id)?;
    {
        let _edit = lib.0.config_lock.lock().await;
        let (path, uid) = (lib.0.config_path.clone(), user_id.clone());
        tokio::task::spawn_blocking(move || crate::config::remove_account(&path, &uid))
            .await
            .map_err(|e| ApiError::Unavailable(format!("the config edit failed: {e}")))?
            .map_err(edit_error)?;
    }
    if let Some(d) = lib.daemon_parts() {
        d.accounts.remove(&user_id);
        tracing::info!(user_id = %user_id, "account removed from the watch list from the library");
    }
    Ok(Reply::one(Removed {
        user_id,
        removed: true,
    }))
}

/// Removes an account from the watch list (its recordings stay).
#[utoipa::path(
    delete,
    path = "/api/v1/accounts/{user_id}",
    tag = "accounts",
    params(("user_id" = String, Path, description = "The account's user pk.")),
    responses(
        (status = 200, description = "Removed.", body = Envelope<Removed>),
        (status = 400, description = "The user id is invalid.", body = ErrorBody),
        (status = 401, description = "The API token is missing or wrong.", body = ErrorBody),
        (status = 404, description = "It is not in the watch list.", body = ErrorBody),
        (status = 409, description = "It is the last account.", body = ErrorBody),
        (status = 503, description = "The config cannot be read or written.", body = ErrorBody),
    )
)]
pub async fn remove(
    State(lib): State<Library>,
    axum::extract::Path(user_id): axum::extract::Path<String>,
) -> ApiResult<Removed> {
    remove_account(&lib, user_id).await
}

/// Removes an account from the watch list: `DELETE /api/v1/accounts?user_id=…`.
#[utoipa::path(
    delete,
    path = "/api/v1/accounts",
    tag = "accounts",
    params(("user_id" = String, Query, description = "The account's user pk.")),
    responses(
        (status = 200, description = "Removed.", body = Envelope<Removed>),
        (status = 400, description = "user_id is missing or invalid.", body = ErrorBody),
        (status = 401, description = "The API token is missing or wrong.", body = ErrorBody),
        (status = 404, description = "It is not in the watch list.", body = ErrorBody),
        (status = 409, description = "It is the last account.", body = ErrorBody),
        (status = 503, description = "The config cannot be read or written.", body = ErrorBody),
    )
)]
pub async fn remove_by_query(State(lib): State<Library>, p: Params) -> ApiResult<Removed> {
    let user_id = p.required("user_id", "the account's user pk")?.to_string();
    remove_account(&lib, user_id).await
}
