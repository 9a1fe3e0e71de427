//! The delivery configuration file (TOML).
//!
//! ```toml
//! [delivery]
//! max_attempts = 8
//! backoff_initial_ms = 1000
//! backoff_max_ms = 600000
//! lease_ms = 60000
//! batch_size = 32
//!
//! [[sink]]
//! type = "webhook"
//! name = "siem"
//! url = "https://siem.example/hooks/gcprov"
//! secret_env = "GCPROV_WEBHOOK_SECRET"   # or secret_file = "...", or secret = "..."
//! timeout_ms = 10000
//!
//! [[sink]]
//! type = "splunk_hec"
//! name = "splunk"
//! url = "https://splunk.example:8088/services/collector/event"
//! token_file = "/run/secrets/hec"
//!
//! [[sink]]
//! type = "file"
//! name = "archive"
//! path = "/var/lib/gcprov/events.jsonl"
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use crate::file::FileSink;
use crate::sink::Sink;
use crate::splunk::SplunkHecSink;
use crate::webhook::WebhookSink;
use crate::worker::{Backoff, WorkerOptions};

/// A configuration problem. Never contains secret values.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {message}", .line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ConfigError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySettings {
    #[serde(default = "d_attempts")]
    pub max_attempts: u32,
    #[serde(default = "d_initial")]
    pub backoff_initial_ms: u64,
    #[serde(default = "d_max")]
    pub backoff_max_ms: u64,
    #[serde(default = "d_lease")]
    pub lease_ms: u64,
    #[serde(default = "d_batch")]
    pub batch_size: i64,
}

fn d_attempts() -> u32 {
    8
}
fn d_initial() -> u64 {
    1000
}
fn d_max() -> u64 {
    600_000
}
fn d_lease() -> u64 {
    60_000
}
fn d_batch() -> i64 {
    32
}
fn d_timeout() -> u64 {
    10_000
}
fn d_source() -> String {
    "gcprov".into()
}
fn d_sourcetype() -> String {
    "gcprov:event".into()
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            max_attempts: d_attempts(),
            backoff_initial_ms: d_initial(),
            backoff_max_ms: d_max(),
            lease_ms: d_lease(),
            batch_size: d_batch(),
        }
    }
}

/// One `[[sink]]` table.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SinkConfig {
    Webhook {
        name: String,
        url: String,
        secret: Option<SecretString>,
        secret_env: Option<String>,
        secret_file: Option<PathBuf>,
        #[serde(default = "d_timeout")]
        timeout_ms: u64,
    },
    SplunkHec {
        name: String,
        url: String,
        token: Option<SecretString>,
        token_env: Option<String>,
        token_file: Option<PathBuf>,
        host: Option<String>,
        #[serde(default = "d_source")]
        source: String,
        #[serde(default = "d_sourcetype")]
        sourcetype: String,
        #[serde(default = "d_timeout")]
        timeout_ms: u64,
    },
    File {
        name: String,
        path: PathBuf,
    },
}

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    #[serde(default)]
    pub delivery: DeliverySettings,
    #[serde(default, rename = "sink")]
    pub sinks: Vec<SinkConfig>,
}

impl DeliveryConfig {
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            line: None,
            message: format!("cannot read: {e}"),
        })?;
        Self::parse(&text, &file)
    }

    /// Parses TOML text; `file` names it in errors (which show a line, never the line's text).
    pub fn parse(text: &str, file: &str) -> Result<Self, ConfigError> {
        let cfg: DeliveryConfig = toml::from_str(text).map_err(|e| ConfigError {
            file: file.to_string(),
            line: e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1),
            message: e.message().to_string(),
        })?;
        let mut names = std::collections::BTreeSet::new();
        for s in &cfg.sinks {
            let n = match s {
                SinkConfig::Webhook { name, .. }
                | SinkConfig::SplunkHec { name, .. }
                | SinkConfig::File { name, .. } => name,
            };
            if !names.insert(n.clone()) {
                return Err(ConfigError {
                    file: file.to_string(),
                    line: None,
                    message: format!("sink name `{n}` is used twice"),
                });
            }
        }
        if cfg.delivery.max_attempts == 0 {
            return Err(ConfigError {
                file: file.to_string(),
                line: None,
                message: "delivery.max_attempts must be at least 1".into(),
            });
        }
        Ok(cfg)
    }

    pub fn worker_options(&self, worker_id: impl Into<String>) -> WorkerOptions {
        let d = &self.delivery;
        WorkerOptions {
            worker_id: worker_id.into(),
            batch_size: d.batch_size.max(1),
            lease: Duration::from_millis(d.lease_ms.max(1)),
            max_attempts: d.max_attempts.max(1),
            backoff: Backoff {
                initial: Duration::from_millis(d.backoff_initial_ms),
                max: Duration::from_millis(d.backoff_max_ms.max(d.backoff_initial_ms)),
                jitter: true,
            },
        }
    }

    /// Builds the sinks, resolving secrets from env vars or files. `file` names the config in errors.
    pub fn build_sinks(&self, file: &str) -> Result<Vec<Arc<dyn Sink>>, ConfigError> {
        let err = |message: String| ConfigError {
            file: file.to_string(),
            line: None,
            message,
        };
        let mut out: Vec<Arc<dyn Sink>> = Vec::new();
        for s in &self.sinks {
            match s {
                SinkConfig::Webhook {
                    name,
                    url,
                    secret,
                    secret_env,
                    secret_file,
                    timeout_ms,
                } => {
                    let secret =
                        resolve(name, "secret", secret, secret_env, secret_file).map_err(err)?;
                    let sink =
                        WebhookSink::new(name, url, secret, Duration::from_millis(*timeout_ms))
                            .map_err(|e| err(e.to_string()))?;
                    out.push(Arc::new(sink));
                }
                SinkConfig::SplunkHec {
                    name,
                    url,
                    token,
                    token_env,
                    token_file,
                    host,
                    source,
                    sourcetype,
                    timeout_ms,
                } => {
                    let token =
                        resolve(name, "token", token, token_env, token_file).map_err(err)?;
                    let host = host.clone().unwrap_or_else(|| "gcprov".to_string());
                    let sink = SplunkHecSink::new(
                        name,
                        url,
                        token,
                        host,
                        source,
                        sourcetype,
                        Duration::from_millis(*timeout_ms),
                    )
                    .map_err(|e| err(e.to_string()))?;
                    out.push(Arc::new(sink));
                }
                SinkConfig::File { name, path } => out.push(Arc::new(FileSink::new(name, path))),
            }
        }
        Ok(out)
    }
}

fn resolve(
    sink: &str,
    what: &str,
    inline: &Option<SecretString>,
    env: &Option<String>,
    file: &Option<PathBuf>,
) -> Result<SecretString, String> {
    match (inline, env, file) {
        (Some(s), None, None) => Ok(s.clone()),
        (None, Some(var), None) => std::env::var(var)
            .map(|v| SecretString::from(v.trim().to_string()))
            .map_err(|_| {
                format!("sink `{sink}`: environment variable {var} for its {what} is not set")
            }),
        (None, None, Some(path)) => std::fs::read_to_string(path)
            .map(|v| SecretString::from(v.trim().to_string()))
            .map_err(|e| {
                format!(
                    "sink `{sink}`: cannot read {what} file {}: {e}",
                    path.display()
                )
            }),
        (None, None, None) => Err(format!(
            "sink `{sink}`: {what}, {what}_env or {what}_file is required"
        )),
        _ => Err(format!(
            "sink `{sink}`: give only one of {what}, {what}_env, {what}_file"
        )),
    }
}
