use std::future::Future;
use std::pin::Pin;

use crate::envelope::Envelope;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a sink did not accept an event. Messages never contain secrets, URLs' query strings or
/// request headers.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SinkError {
    /// Worth retrying (timeouts, connection errors, 408, 429, 5xx).
    #[error("{0}")]
    Transient(String),
    /// Retrying will not help (other 4xx, bad configuration): dead-letter now.
    #[error("{0}")]
    Permanent(String),
}

/// A destination for outbox events. Implementations must be idempotent-friendly: the same
/// event (same [`Envelope::id`]) may be sent more than once.
pub trait Sink: Send + Sync {
    /// Unique name from the configuration; recorded per event once the sink accepted it.
    fn name(&self) -> &str;
    fn send<'a>(&'a self, event: &'a Envelope) -> BoxFuture<'a, Result<(), SinkError>>;
}

/// Maps an HTTP status to a sink result: 2xx delivered; 408, 429 and 5xx worth retrying;
/// anything else permanent. Every HTTP sink uses it, so they agree on what is retried.
pub fn classify_status(sink: &str, status: reqwest::StatusCode) -> Result<(), SinkError> {
    if status.is_success() {
        Ok(())
    } else if status.as_u16() == 408 || status.as_u16() == 429 || status.is_server_error() {
        Err(SinkError::Transient(format!("{sink}: HTTP {status}")))
    } else {
        Err(SinkError::Permanent(format!("{sink}: HTTP {status}")))
    }
}

/// A reqwest error without its URL (which may hold credentials in the query string).
/// The HTTP client of one sink: `timeout` bounds both the connect and the whole request.
pub(crate) fn http_client(
    sink: &str,
    timeout: std::time::Duration,
) -> Result<reqwest::Client, SinkError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        .map_err(|e| {
            SinkError::Permanent(format!(
                "{sink}: cannot build HTTP client: {}",
                e.without_url()
            ))
        })
}

pub(crate) fn request_error(sink: &str, e: reqwest::Error) -> SinkError {
    let timeout = e.is_timeout();
    let e = e.without_url();
    if timeout {
        SinkError::Transient(format!("{sink}: timed out"))
    } else {
        SinkError::Transient(format!("{sink}: {e}"))
    }
}
