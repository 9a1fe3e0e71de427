use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::envelope::Envelope;
use crate::sink::{BoxFuture, Sink, SinkError, classify_status, http_client, request_error};

pub const SIGNATURE_HEADER: &str = "X-Gcprov-Signature";
pub const TIMESTAMP_HEADER: &str = "X-Gcprov-Timestamp";

/// `sha256=` + hex HMAC-SHA256(key, timestamp + "." + body): the `X-Gcprov-Signature` value.
pub fn sign(key: &[u8], timestamp: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// POSTs the envelope as JSON, signed, with the event id as `Idempotency-Key`.
pub struct WebhookSink {
    name: String,
    url: String,
    secret: SecretString,
    client: reqwest::Client,
}

impl std::fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSink")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl WebhookSink {
    pub fn new(
        name: impl Into<String>,
        url: impl Into<String>,
        secret: SecretString,
        timeout: Duration,
    ) -> Result<Self, SinkError> {
        let name = name.into();
        let client = http_client(&name, timeout)?;
        Ok(WebhookSink {
            name,
            url: url.into(),
            secret,
            client,
        })
    }
}

impl Sink for WebhookSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn send<'a>(&'a self, ev: &'a Envelope) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let ts = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
            let sig = sign(self.secret.expose_secret().as_bytes(), &ts, &ev.body);
            let resp = self
                .client
                .post(&self.url)
                .header("Content-Type", "application/json")
                .header(TIMESTAMP_HEADER, &ts)
                .header(SIGNATURE_HEADER, sig)
                .header("Idempotency-Key", ev.id.to_string())
                .body(ev.body.clone())
                .send()
                .await
                .map_err(|e| request_error(&self.name, e))?;
            classify_status(&self.name, resp.status())
        })
    }
}
