use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::envelope::Envelope;
use crate::sink::{BoxFuture, Sink, SinkError, classify_status, http_client, request_error};

/// Splunk HTTP Event Collector: `POST .../services/collector/event` with
/// `Authorization: Splunk <token>` and `{time, host, source, sourcetype, event}`.
pub struct SplunkHecSink {
    name: String,
    url: String,
    token: SecretString,
    host: String,
    source: String,
    sourcetype: String,
    client: reqwest::Client,
}

impl std::fmt::Debug for SplunkHecSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SplunkHecSink")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl SplunkHecSink {
    pub fn new(
        name: impl Into<String>,
        url: impl Into<String>,
        token: SecretString,
        host: impl Into<String>,
        source: impl Into<String>,
        sourcetype: impl Into<String>,
        timeout: Duration,
    ) -> Result<Self, SinkError> {
        let name = name.into();
        let client = http_client(&name, timeout)?;
        Ok(SplunkHecSink {
            name,
            url: url.into(),
            token,
            host: host.into(),
            source: source.into(),
            sourcetype: sourcetype.into(),
            client,
        })
    }

    /// The HEC body for one event.
    pub fn body(&self, ev: &Envelope) -> serde_json::Value {
        let time = ev.created_at.unix_timestamp_nanos() as f64 / 1e9;
        serde_json::json!({
            "time": time,
            "host": self.host,
            "source": self.source,
            "sourcetype": self.sourcetype,
            "event": ev.json(),
        })
    }
}

impl Sink for SplunkHecSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn send<'a>(&'a self, ev: &'a Envelope) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let body = serde_json::to_vec(&self.body(ev))
                .map_err(|e| SinkError::Permanent(format!("{}: {e}", self.name)))?;
            let resp = self
                .client
                .post(&self.url)
                .header(
                    "Authorization",
                    format!("Splunk {}", self.token.expose_secret()),
                )
                .header("Content-Type", "application/json")
                .header("X-Splunk-Request-Channel", ev.id.to_string())
                .body(body)
                .send()
                .await
                .map_err(|e| request_error(&self.name, e))?;
            classify_status(&self.name, resp.status())
        })
    }
}
