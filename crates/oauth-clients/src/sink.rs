//! Where a new secret goes: HashiCorp Vault KV v2, a signed webhook, a 0600 file, or the
//! terminal (only with `--reveal` on a TTY; the CLI checks that).
//!
//! These sinks are deliberately separate from `gcprov_delivery::Sink`: that trait delivers
//! outbox events, which are stored and retried from the database. A secret must never be
//! stored, so its delivery is one synchronous attempt; a retry is a new secret
//! (`rotate-secret`).

use std::io::Write;
use std::path::PathBuf;

use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::config::SinkConfig;
use crate::error::Error;
use crate::secret::IssuedSecret;

pub use gcprov_delivery::BoxFuture;

/// Why a secret was issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    Created,
    Rotated,
}

/// One delivery: the secret and what identifies it.
pub struct Delivery<'a> {
    pub secret: &'a IssuedSecret,
    pub client_name: &'a str,
    pub reason: Reason,
}

/// Where the secret went (safe to store and audit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Receipt {
    pub location: String,
    pub version: Option<u64>,
}

/// Why a delivery failed. Messages never contain the secret or credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SinkError(pub String);

/// A destination for secrets.
pub trait SecretSink: Send + Sync {
    /// Kind and destination, safe to print (`vault secret/genesys/{name}`).
    fn describe(&self) -> String;
    fn deliver<'a>(&'a self, d: &'a Delivery<'a>) -> BoxFuture<'a, Result<Receipt, SinkError>>;
}

/// Builds the configured sink. Credentials are read from the environment variables the
/// configuration names.
pub fn from_config(
    cfg: &SinkConfig,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Box<dyn SecretSink>, Error> {
    let err = |m: String| Error::Config {
        path: "[sink]".into(),
        message: m,
    };
    Ok(match cfg {
        SinkConfig::Vault {
            addr,
            mount,
            path,
            token_env,
            namespace,
            cas_on_create,
        } => {
            let token = env(token_env)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| err(format!("the Vault token variable {token_env} is not set")))?;
            Box::new(
                VaultKvSink::new(addr, mount, path, SecretString::from(token))
                    .map_err(|e| err(e.0))?
                    .namespace(namespace.clone())
                    .cas_on_create(*cas_on_create),
            )
        }
        SinkConfig::Webhook { url, key_env } => {
            let key = env(key_env)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| err(format!("the webhook key variable {key_env} is not set")))?;
            Box::new(WebhookSink::new(url, SecretString::from(key)).map_err(|e| err(e.0))?)
        }
        SinkConfig::File { dir, file_name } => Box::new(FileSink::new(dir.clone(), file_name)),
    })
}

/// Replaces characters that do not belong in a path segment by `-`.
fn path_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn fill(template: &str, d: &Delivery<'_>) -> String {
    template
        .replace("{name}", &path_safe(d.client_name))
        .replace("{client_id}", &path_safe(d.secret.client_id()))
}

fn http_client() -> Result<reqwest::Client, SinkError> {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| SinkError(format!("cannot build HTTP client: {}", e.without_url())))
}

fn base_url(s: &str) -> Result<url::Url, SinkError> {
    let u = url::Url::parse(s.trim_end_matches('/'))
        .map_err(|e| SinkError(format!("invalid URL: {e}")))?;
    if !matches!(u.scheme(), "http" | "https") || !u.username().is_empty() || u.password().is_some()
    {
        return Err(SinkError(
            "URL must be http(s) without credentials".to_string(),
        ));
    }
    // Secrets travel in the body: plain HTTP only to this machine.
    let loopback = match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if u.scheme() == "http" && !loopback {
        return Err(SinkError(format!(
            "{}: plain http is only allowed to a loopback address; use https",
            u.host_str().unwrap_or("")
        )));
    }
    Ok(u)
}

/// A KV v2 write: `POST {addr}/v1/{mount}/data/{path}` with `X-Vault-Token` and, when set,
/// `X-Vault-Namespace`.
fn vault_write(
    http: &reqwest::Client,
    addr: &url::Url,
    mount: &str,
    path: &str,
    token: &SecretString,
    namespace: Option<&str>,
) -> reqwest::RequestBuilder {
    let mut url = addr.clone();
    let full = format!(
        "{}/v1/{}/data/{}",
        url.path().trim_end_matches('/'),
        mount,
        path
    );
    url.set_path(&full);
    let req = http
        .post(url)
        .header("X-Vault-Token", token.expose_secret());
    match namespace {
        Some(ns) => req.header("X-Vault-Namespace", ns),
        None => req,
    }
}

/// The error of an HTTP sink, with at most 200 characters of the response's `errors`.
async fn http_failure(what: &str, resp: reqwest::Response) -> SinkError {
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    let detail = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("errors").cloned())
        .map(|e| {
            let s = e.to_string();
            s.chars().take(200).collect::<String>()
        });
    match detail {
        Some(d) => SinkError(format!("{what} returned HTTP {status}: {d}")),
        None => SinkError(format!("{what} returned HTTP {status}")),
    }
}

// ------------------------------------------------------------------ Vault KV v2

/// HashiCorp Vault KV version 2: `POST {addr}/v1/{mount}/data/{path}` with `X-Vault-Token` and
/// body `{"data": {"client_id", "client_secret", "client_name"}, "options": {"cas": 0}}`.
pub struct VaultKvSink {
    addr: url::Url,
    mount: String,
    path: String,
    token: SecretString,
    namespace: Option<String>,
    cas_on_create: bool,
    http: reqwest::Client,
}

impl VaultKvSink {
    pub fn new(
        addr: &str,
        mount: &str,
        path_template: &str,
        token: SecretString,
    ) -> Result<Self, SinkError> {
        Ok(Self {
            addr: base_url(addr)?,
            mount: mount.trim_matches('/').to_string(),
            path: path_template.trim_matches('/').to_string(),
            token,
            namespace: None,
            cas_on_create: true,
            http: http_client()?,
        })
    }

    pub fn namespace(mut self, ns: Option<String>) -> Self {
        self.namespace = ns;
        self
    }

    pub fn cas_on_create(mut self, on: bool) -> Self {
        self.cas_on_create = on;
        self
    }

    fn location(&self, d: &Delivery<'_>) -> String {
        format!("{}/{}", self.mount, fill(&self.path, d))
    }
}

#[derive(Serialize)]
struct VaultBody<'a> {
    data: SecretData<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    options: Option<VaultOptions>,
}

#[derive(Serialize)]
struct VaultOptions {
    cas: u64,
}

#[derive(Serialize)]
struct SecretData<'a> {
    client_id: &'a str,
    client_secret: &'a str,
    client_name: &'a str,
}

impl<'a> SecretData<'a> {
    fn of(d: &'a Delivery<'a>) -> Self {
        SecretData {
            client_id: d.secret.client_id(),
            client_secret: d.secret.expose(),
            client_name: d.client_name,
        }
    }
}

/// Serialises a body holding the secret into a buffer that is zeroed on drop.
fn zeroizing_json<T: Serialize>(v: &T) -> Result<Zeroizing<Vec<u8>>, SinkError> {
    let mut buf = Zeroizing::new(Vec::with_capacity(256));
    serde_json::to_writer(&mut *buf, v)
        .map_err(|e| SinkError(format!("cannot encode the body: {e}")))?;
    Ok(buf)
}

impl SecretSink for VaultKvSink {
    fn describe(&self) -> String {
        format!("vault {}/{}", self.mount, self.path)
    }

    fn deliver<'a>(&'a self, d: &'a Delivery<'a>) -> BoxFuture<'a, Result<Receipt, SinkError>> {
        Box::pin(async move {
            let location = self.location(d);
            let body = VaultBody {
                data: SecretData::of(d),
                options: (self.cas_on_create && d.reason == Reason::Created)
                    .then_some(VaultOptions { cas: 0 }),
            };
            let bytes = zeroizing_json(&body)?;
            let req = vault_write(
                &self.http,
                &self.addr,
                &self.mount,
                &fill(&self.path, d),
                &self.token,
                self.namespace.as_deref(),
            )
            .header("Content-Type", "application/json")
            .body(bytes.to_vec());
            let resp = req
                .send()
                .await
                .map_err(|e| SinkError(format!("vault {location}: {}", e.without_url())))?;
            if !resp.status().is_success() {
                return Err(http_failure(&format!("vault {location}"), resp).await);
            }
            let version = resp
                .json::<serde_json::Value>()
                .await
                .ok()
                .and_then(|v| v.pointer("/data/version").and_then(|x| x.as_u64()));
            Ok(Receipt { location, version })
        })
    }
}

// ------------------------------------------------------------------ webhook

/// POSTs `{"event","client_id","client_name","client_secret","issued_at"}` signed like the
/// outbox webhook: `X-Gcprov-Timestamp` and `X-Gcprov-Signature: sha256=HMAC(key, ts "." body)`.
pub struct WebhookSink {
    url: url::Url,
    key: SecretString,
    http: reqwest::Client,
}

impl WebhookSink {
    pub fn new(url: &str, key: SecretString) -> Result<Self, SinkError> {
        Ok(Self {
            url: base_url(url)?,
            key,
            http: http_client()?,
        })
    }
}

#[derive(Serialize)]
struct WebhookBody<'a> {
    event: Reason,
    #[serde(flatten)]
    data: SecretData<'a>,
    issued_at: String,
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl SecretSink for WebhookSink {
    fn describe(&self) -> String {
        format!(
            "webhook {}://{}{}",
            self.url.scheme(),
            self.url.host_str().unwrap_or(""),
            self.url.path()
        )
    }

    fn deliver<'a>(&'a self, d: &'a Delivery<'a>) -> BoxFuture<'a, Result<Receipt, SinkError>> {
        Box::pin(async move {
            let body = WebhookBody {
                event: d.reason,
                data: SecretData::of(d),
                issued_at: now_rfc3339(),
            };
            let bytes = zeroizing_json(&body)?;
            let ts = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
            let sig = gcprov_delivery::sign(self.key.expose_secret().as_bytes(), &ts, &bytes);
            let resp = self
                .http
                .post(self.url.clone())
                .header("Content-Type", "application/json")
                .header(gcprov_delivery::TIMESTAMP_HEADER, &ts)
                .header(gcprov_delivery::SIGNATURE_HEADER, sig)
                .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
                .body(bytes.to_vec())
                .send()
                .await
                .map_err(|e| SinkError(format!("{}: {}", self.describe(), e.without_url())))?;
            if !resp.status().is_success() {
                return Err(http_failure(&self.describe(), resp).await);
            }
            Ok(Receipt {
                location: self.describe(),
                version: None,
            })
        })
    }
}

// ------------------------------------------------------------------ file

/// Writes `{"client_id","client_secret","client_name"}` to a new file created with mode 0600
/// (`O_CREAT|O_EXCL`): an existing file is never overwritten.
pub struct FileSink {
    dir: PathBuf,
    file_name: String,
}

impl FileSink {
    pub fn new(dir: PathBuf, file_name: &str) -> Self {
        Self {
            dir,
            file_name: file_name.to_string(),
        }
    }
}

impl SecretSink for FileSink {
    fn describe(&self) -> String {
        format!("file {}", self.dir.join(&self.file_name).display())
    }

    fn deliver<'a>(&'a self, d: &'a Delivery<'a>) -> BoxFuture<'a, Result<Receipt, SinkError>> {
        Box::pin(async move {
            // Nanoseconds, so a rotation right after a create gets its own file.
            let ts = time::OffsetDateTime::now_utc()
                .unix_timestamp_nanos()
                .to_string();
            let name = fill(&self.file_name, d).replace("{ts}", &ts);
            if name.contains('/') || name.contains('\\') || name.starts_with('.') {
                return Err(SinkError(format!(
                    "file name {name:?} is not a plain file name"
                )));
            }
            let path = self.dir.join(&name);
            let bytes = zeroizing_json(&SecretData::of(d))?;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let shown = path.display().to_string();
            let mut f = opts.open(&path).map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    SinkError(format!("{shown} already exists; refusing to overwrite"))
                } else {
                    SinkError(format!("cannot create {shown}: {e}"))
                }
            })?;
            let written = f.write_all(&bytes).and_then(|_| f.sync_all());
            if let Err(e) = written {
                // Do not leave a partial secret behind.
                drop(f);
                let _ = std::fs::remove_file(&path);
                return Err(SinkError(format!("cannot write {shown}: {e}")));
            }
            Ok(Receipt {
                location: shown,
                version: None,
            })
        })
    }
}

// ------------------------------------------------------------------ terminal

/// Prints the secret to a writer. The CLI uses it only for `--reveal` when stdout is a TTY.
pub struct RevealSink<W: Write + Send> {
    out: std::sync::Mutex<W>,
}

impl<W: Write + Send> RevealSink<W> {
    pub fn new(out: W) -> Self {
        Self {
            out: std::sync::Mutex::new(out),
        }
    }
}

impl<W: Write + Send> SecretSink for RevealSink<W> {
    fn describe(&self) -> String {
        "terminal (--reveal)".into()
    }

    fn deliver<'a>(&'a self, d: &'a Delivery<'a>) -> BoxFuture<'a, Result<Receipt, SinkError>> {
        Box::pin(async move {
            let mut out = self
                .out
                .lock()
                .map_err(|_| SinkError("terminal writer poisoned".into()))?;
            writeln!(
                out,
                "client_id:     {}\nclient_secret: {}\n(shown once; store it now)",
                d.secret.client_id(),
                d.secret.expose()
            )
            .and_then(|_| out.flush())
            .map_err(|e| SinkError(format!("cannot write to the terminal: {e}")))?;
            Ok(Receipt {
                location: "terminal".into(),
                version: None,
            })
        })
    }
}

// ------------------------------------------------------------------ outbox events to Vault

/// A `gcprov_delivery::Sink` that writes outbox events (e.g. `oauth_client.created` with the
/// client id, secret fingerprint and compliance flags, never the secret) to Vault KV v2 at
/// `{mount}/data/{path}`, the path template taking `{kind}`, `{id}` (event id) and
/// `{client_id}` (first target of the event). Useful to keep the governance record next to
/// the secrets in Vault. Each event id gets its own path, so redelivery is idempotent.
///
/// Secrets do not go through this trait: outbox events are stored and retried from the
/// database, which a secret must never be (see [`SecretSink`]).
pub struct VaultEventSink {
    name: String,
    addr: url::Url,
    mount: String,
    path: String,
    token: SecretString,
    namespace: Option<String>,
    http: reqwest::Client,
}

impl VaultEventSink {
    pub fn new(
        name: impl Into<String>,
        addr: &str,
        mount: &str,
        path_template: &str,
        token: SecretString,
    ) -> Result<Self, SinkError> {
        Ok(Self {
            name: name.into(),
            addr: base_url(addr)?,
            mount: mount.trim_matches('/').to_string(),
            path: path_template.trim_matches('/').to_string(),
            token,
            namespace: None,
            http: http_client()?,
        })
    }

    pub fn namespace(mut self, ns: Option<String>) -> Self {
        self.namespace = ns;
        self
    }
}

impl gcprov_delivery::Sink for VaultEventSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn send<'a>(
        &'a self,
        ev: &'a gcprov_delivery::Envelope,
    ) -> BoxFuture<'a, Result<(), gcprov_delivery::SinkError>> {
        use gcprov_delivery::SinkError as E;
        Box::pin(async move {
            let client_id = ev
                .payload
                .pointer("/targets/0")
                .and_then(|v| v.as_str())
                .unwrap_or("none");
            let path = self
                .path
                .replace("{kind}", &path_safe(&ev.kind))
                .replace("{id}", &ev.id.to_string())
                .replace("{client_id}", &path_safe(client_id));
            let body = serde_json::json!({ "data": ev.json() });
            let req = vault_write(
                &self.http,
                &self.addr,
                &self.mount,
                &path,
                &self.token,
                self.namespace.as_deref(),
            )
            .json(&body);
            let resp = req
                .send()
                .await
                .map_err(|e| E::Transient(format!("{}: {}", self.name, e.without_url())))?;
            gcprov_delivery::classify_status(&self.name, resp.status())
        })
    }
}
