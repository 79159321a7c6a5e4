//! Bounded HTTP GETs for the capture: every request has a deadline covering the whole
//! body, a size cap, and stays on the host it was sent to.
//!
//! The CDN is untrusted input like any other: a server that trickles a response forever,
//! answers with gigabytes, or redirects somewhere else must cost a bounded amount of time
//! and memory and end in a typed error the capture can count.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::HeaderMap;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::backoff::Backoff;

/// Longest pause between two attempts of one request.
pub const RETRY_CAP: Duration = Duration::from_secs(30);

/// Why a GET produced no usable body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// 404: nothing was ever published there (or not yet, at the live edge).
    #[error("404 Not Found")]
    NotFound,
    /// 410: it existed but the CDN no longer serves it (docs/instagram.md §8).
    #[error("410 Gone")]
    Gone,
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("no complete response within {0:?}")]
    Timeout(Duration),
    #[error("response larger than {0} bytes")]
    TooLarge(usize),
    #[error("redirected to another host ({0}), refused")]
    OffHostRedirect(String),
    #[error("network error: {0}")]
    Network(String),
    #[error("invalid content: {0}")]
    Invalid(String),
    #[error("cancelled")]
    Cancelled,
}

impl FetchError {
    /// 404 means "no segment starts there" (rewind) or "gone", 410 "gone for good"; retrying
    /// either only burns requests against the CDN (docs/instagram.md §4). Everything else may
    /// be transient.
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            FetchError::NotFound | FetchError::Gone | FetchError::Cancelled
        )
    }

    /// Nothing to fetch at that URL: 404 or 410.
    pub fn is_absent(&self) -> bool {
        matches!(self, FetchError::NotFound | FetchError::Gone)
    }
}

/// A complete response.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub body: Bytes,
    pub headers: HeaderMap,
    /// Where the body came from after (same-host) redirects.
    pub url: Url,
}

/// Limits of one kind of request.
#[derive(Debug, Clone, Copy)]
pub struct FetchLimits {
    /// Deadline for headers and the whole body.
    pub timeout: Duration,
    pub max_bytes: usize,
    /// Attempts for retryable errors (1 = no retry).
    pub attempts: u32,
    /// First backoff; doubles per attempt (jittered, capped at [`RETRY_CAP`]).
    pub backoff: Duration,
}

/// One GET with a deadline, a size cap and the same-host rule.
pub async fn get_once(
    http: &reqwest::Client,
    url: &Url,
    limits: &FetchLimits,
) -> Result<Fetched, FetchError> {
    get_resuming(http, url, limits, &mut BytesMut::new()).await
}

/// A GET that continues `partial` (the bytes an earlier attempt received before it broke)
/// with `Range` when the server honours it, and starts over when it does not. On error,
/// `partial` keeps what arrived, for the next attempt.
async fn get_resuming(
    http: &reqwest::Client,
    url: &Url,
    limits: &FetchLimits,
    partial: &mut BytesMut,
) -> Result<Fetched, FetchError> {
    let work = async {
        let mut request = http.get(url.clone());
        if !partial.is_empty() {
            request = request.header(reqwest::header::RANGE, format!("bytes={}-", partial.len()));
        }
        let mut resp = request
            .send()
            .await
            .map_err(|e| FetchError::Network(error_chain(&e)))?;
        // The shared client follows redirects; refuse any that left the host before the
        // body is read (a CDN never bounces a segment to a different origin).
        let final_url = resp.url().clone();
        if final_url.host_str() != url.host_str()
            || final_url.port_or_known_default() != url.port_or_known_default()
        {
            return Err(FetchError::OffHostRedirect(
                final_url
                    .host_str()
                    .unwrap_or("?")
                    .chars()
                    .take(100)
                    .collect(),
            ));
        }
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(FetchError::NotFound);
        }
        if status == reqwest::StatusCode::GONE {
            return Err(FetchError::Gone);
        }
        if status == reqwest::StatusCode::PARTIAL_CONTENT {
            // Only a continuation of exactly what is held is acceptable.
            let expected = format!("bytes {}-", partial.len());
            let continues = !partial.is_empty()
                && resp
                    .headers()
                    .get(reqwest::header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with(&expected));
            if !continues {
                partial.clear();
                return Err(FetchError::Invalid("unexpected partial response".into()));
            }
        } else if status.is_success() {
            partial.clear();
        } else {
            return Err(FetchError::Status(status.as_u16()));
        }
        if resp
            .content_length()
            .is_some_and(|l| l.saturating_add(partial.len() as u64) > limits.max_bytes as u64)
        {
            partial.clear();
            return Err(FetchError::TooLarge(limits.max_bytes));
        }
        let headers = resp.headers().clone();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| FetchError::Network(error_chain(&e)))?
        {
            if partial.len() + chunk.len() > limits.max_bytes {
                partial.clear();
                return Err(FetchError::TooLarge(limits.max_bytes));
            }
            partial.extend_from_slice(&chunk);
        }
        Ok((headers, final_url))
    };
    let (headers, final_url) = match tokio::time::timeout(limits.timeout, work).await {
        Ok(r) => r?,
        Err(_) => return Err(FetchError::Timeout(limits.timeout)),
    };
    Ok(Fetched {
        body: partial.split().freeze(),
        headers,
        url: final_url,
    })
}

/// [`get_once`] with retries and jittered exponential backoff; `check` validates the body
/// (a truncated or non-MP4 segment is retried like a network error). A body cut off
/// mid-way is resumed with `Range` where the server allows it. Stops early on `cancel`.
pub async fn get_retrying<E: std::fmt::Display>(
    http: &reqwest::Client,
    url: &Url,
    limits: &FetchLimits,
    cancel: &CancellationToken,
    check: impl Fn(&Bytes) -> Result<(), E>,
) -> Result<Fetched, FetchError> {
    let mut last = FetchError::Cancelled;
    let mut partial = BytesMut::new();
    let mut backoff = Backoff::new(limits.backoff, RETRY_CAP);
    for attempt in 0..limits.attempts.max(1) {
        if attempt > 0 && !backoff.wait(cancel).await {
            return Err(FetchError::Cancelled);
        }
        let result = tokio::select! {
            _ = cancel.cancelled() => return Err(FetchError::Cancelled),
            r = get_resuming(http, url, limits, &mut partial) => r,
        };
        match result.and_then(|f| match check(&f.body) {
            Ok(()) => Ok(f),
            Err(e) => Err(FetchError::Invalid(e.to_string())),
        }) {
            Ok(f) => return Ok(f),
            Err(e) if !e.is_retryable() => return Err(e),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// reqwest's top-level message is vague ("error sending request"); the cause says why.
fn error_chain(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s.chars().take(300).collect()
}

/// The HTTP client for the CDN (manifests, segments, covers): no Instagram cookies, bounded
/// timeouts, and redirects only within the same host.
pub fn cdn_client() -> reqwest::Result<reqwest::Client> {
    cdn_builder().build()
}

/// [`cdn_client`] through a session's proxy.
pub fn cdn_client_via(proxy: &url::Url) -> reqwest::Result<reqwest::Client> {
    cdn_builder()
        .proxy(reqwest::Proxy::all(proxy.as_str())?)
        .build()
}

fn cdn_builder() -> reqwest::ClientBuilder {
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        let same_host = attempt
            .previous()
            .first()
            .map(|first| first.host_str() == attempt.url().host_str())
            .unwrap_or(false);
        if attempt.previous().len() > 5 {
            attempt.error("too many redirects")
        } else if same_host {
            attempt.follow()
        } else {
            attempt.error("redirect to another host refused")
        }
    });
    reqwest::Client::builder()
        .redirect(policy)
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .pool_idle_timeout(Duration::from_secs(30))
        .use_rustls_tls()
}
