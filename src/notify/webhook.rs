//! Webhook delivery: one JSON POST per event, retried with jittered backoff when the receiver
//! is down or overloaded. Every attempt is bounded by the hook's timeout, so a receiver that
//! hangs costs at most `(retries + 1) × timeout` plus the backoff, in a task of its own.

use std::time::Duration;

use reqwest::StatusCode;

use crate::backoff::Backoff;

/// The longest pause between two attempts, whatever the configured backoff.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Why a delivery was given up.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("HTTP {status} (not retried)")]
    Rejected { status: u16 },
    #[error("gave up after {attempts} attempt(s); last: {last}")]
    Exhausted { attempts: u32, last: String },
}

/// Whether a failed attempt is worth repeating: network errors, timeouts, 5xx, 408 and 429.
fn retryable(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
}

/// POSTs `body` to `url`; `Ok` on any 2xx.
pub async fn deliver(
    http: &reqwest::Client,
    url: &url::Url,
    event: &str,
    body: &[u8],
    timeout: Duration,
    retries: u32,
    backoff: Duration,
) -> Result<u32, WebhookError> {
    let mut pause = Backoff::new(backoff, MAX_BACKOFF);
    let mut last = String::new();
    for attempt in 0..=retries {
        if attempt > 0 {
            tokio::time::sleep(pause.next_delay()).await;
        }
        let sent = http
            .post(url.clone())
            .timeout(timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Iglive-Event", event)
            .body(body.to_vec())
            .send()
            .await;
        match sent {
            Ok(resp) if resp.status().is_success() => return Ok(attempt + 1),
            Ok(resp) if !retryable(resp.status()) => {
                return Err(WebhookError::Rejected {
                    status: resp.status().as_u16(),
                })
            }
            Ok(resp) => last = format!("HTTP {}", resp.status().as_u16()),
            Err(e) if e.is_timeout() => last = format!("no answer within {timeout:?}"),
            Err(e) => last = e.to_string(),
        }
    }
    Err(WebhookError::Exhausted {
        attempts: retries + 1,
        last,
    })
}

/// The client for webhooks: no redirects (a receiver's URL is configured exactly), no cookies.
pub fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("iglive/", env!("CARGO_PKG_VERSION")))
        .use_rustls_tls()
        .build()
}
