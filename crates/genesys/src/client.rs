//! The client and its request lifecycle: token → pacer → send → classify → retry.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use tracing::Instrument;

use crate::config::{ClientConfig, join};
use crate::error::{ApiError, ConfigError, Error, Result, TransportKind};
use crate::models::{EntityListing, ErrorBody, ScimErrorBody};
use crate::recorder::{self, Activity, RecordedCall};
use crate::retry::{backoff_delay, error_chain, parse_retry_after, transport_kind};
use crate::token::TokenManager;

const JSON: &str = "application/json";
const SCIM_JSON: &str = "application/scim+json";
const SCIM_ACCEPT: &str = "application/scim+json, application/json";

/// How a request may be retried after an outcome that leaves it unknown whether the server
/// processed it (timeout, reset, 502/503/504).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// GET, PUT, DELETE, searches, replace-style bulk operations: re-sending is harmless.
    Safe,
    /// A write guarded by a version: a re-send after success fails with a version conflict
    /// instead of applying twice, so it is retried.
    VersionGuarded,
    /// A create: only retried when the request certainly was not processed (429, connect
    /// failure, 401); an ambiguous failure is returned to `create_with_lookup`.
    Unsafe,
}

/// One API request, cheap to clone for re-sending.
#[derive(Debug, Clone)]
pub(crate) struct Req {
    pub(crate) method: Method,
    /// Path under `/api/v2`, already percent-encoded.
    pub(crate) path: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) body: Option<Bytes>,
    pub(crate) content_type: &'static str,
    pub(crate) accept: &'static str,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) retry: Retry,
    pub(crate) scim: bool,
}

impl Req {
    pub(crate) fn new(method: Method, path: impl Into<String>) -> Self {
        let retry = if method == Method::POST || method == Method::PATCH {
            Retry::Unsafe
        } else {
            Retry::Safe
        };
        Self {
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
            content_type: JSON,
            accept: JSON,
            headers: Vec::new(),
            retry,
            scim: false,
        }
    }

    pub(crate) fn get(path: impl Into<String>) -> Self {
        Self::new(Method::GET, path)
    }

    /// `/api/v2/...` without the query string (for errors and logs).
    pub(crate) fn display_path(&self) -> String {
        format!("/api/v2/{}", self.path)
    }

    pub(crate) fn query(mut self, k: &str, v: impl ToString) -> Self {
        self.query.push((k.to_string(), v.to_string()));
        self
    }

    pub(crate) fn query_opt(self, k: &str, v: Option<impl ToString>) -> Self {
        match v {
            Some(v) => self.query(k, v),
            None => self,
        }
    }

    /// Repeated keys (`id=a&id=b`), the API's "multi" collection format.
    pub(crate) fn query_multi<S: AsRef<str>>(mut self, k: &str, vs: &[S]) -> Self {
        for v in vs {
            self.query.push((k.to_string(), v.as_ref().to_string()));
        }
        self
    }

    pub(crate) fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Result<Self> {
        let b = serde_json::to_vec(body)
            .map_err(|e| Error::InvalidArgument(format!("cannot serialize body: {e}")))?;
        self.body = Some(Bytes::from(b));
        Ok(self)
    }

    pub(crate) fn retry(mut self, r: Retry) -> Self {
        self.retry = r;
        self
    }

    pub(crate) fn scim(mut self) -> Self {
        self.scim = true;
        self.content_type = SCIM_JSON;
        self.accept = SCIM_ACCEPT;
        self
    }

    pub(crate) fn header(mut self, name: &'static str, value: &str) -> Result<Self> {
        let v = HeaderValue::from_str(value)
            .map_err(|_| Error::InvalidArgument(format!("invalid {name} header value")))?;
        self.headers.push((HeaderName::from_static(name), v));
        Ok(self)
    }
}

/// A response with a 2xx or 304 status.
#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) correlation_id: Option<String>,
}

/// An error plus whether the request may have been processed.
pub(crate) struct Failure {
    pub(crate) error: Error,
    pub(crate) ambiguous: bool,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure {
            error,
            ambiguous: false,
        }
    }
}

struct Inner {
    http: reqwest::Client,
    cfg: ClientConfig,
    api_root: url::Url,
    tokens: TokenManager,
    activity: Activity,
}

/// Genesys Cloud API client. Cheap to clone; clones share the token, the pacer and the
/// connection pool. `Debug` shows no secret and no token.
#[derive(Clone)]
pub struct GenesysClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for GenesysClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenesysClient")
            .field("config", &self.inner.cfg)
            .field("token", &self.inner.tokens.peek().map(|_| "[REDACTED]"))
            .finish()
    }
}

/// Counters of one client, for tests and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientStats {
    /// Successful logins.
    pub logins: u64,
    /// Pacer slots granted for the current token.
    pub paced_requests: u64,
    /// 429 pauses applied to the current token.
    pub rate_limit_pauses: u64,
}

impl GenesysClient {
    /// Builds the client (no network I/O until the first request).
    pub fn new(cfg: ClientConfig) -> Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .user_agent(cfg.user_agent.clone())
            .pool_idle_timeout(Duration::from_secs(50))
            .build()
            .map_err(|e| ConfigError::Http(error_chain(&e)))?;
        let api_root = join(&cfg.api_base, "api/v2/")?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                cfg,
                api_root,
                tokens: TokenManager::new(),
                activity: Activity::default(),
            }),
        })
    }

    /// From the `GENESYS_*` environment variables.
    pub fn from_env() -> Result<Self> {
        Self::new(ClientConfig::from_env()?)
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.cfg
    }

    /// Logs in now (otherwise the first request does); useful to fail fast on bad credentials.
    pub async fn authenticate(&self) -> Result<()> {
        self.inner
            .tokens
            .get(&self.inner.http, &self.inner.cfg)
            .await
            .map(|_| ())
    }

    pub fn stats(&self) -> ClientStats {
        let tok = self.inner.tokens.peek();
        ClientStats {
            logins: self.inner.tokens.logins(),
            paced_requests: tok.as_ref().map(|t| t.pacer.granted()).unwrap_or(0),
            rate_limit_pauses: tok.as_ref().map(|t| t.pacer.pauses()).unwrap_or(0),
        }
    }

    /// Time since any call of this client last got a 2xx/304 answer; `None` before the first.
    pub fn since_last_success(&self) -> Option<Duration> {
        self.inner.activity.since_last_success()
    }

    // ------------------------------------------------------------ lifecycle

    /// Sends a request with pacing, re-authentication and retries.
    pub(crate) async fn execute(&self, req: &Req) -> std::result::Result<Resp, Failure> {
        let span = tracing::debug_span!("genesys_request", method = %req.method, path = %req.display_path());
        self.execute_inner(req).instrument(span).await
    }

    async fn execute_inner(&self, req: &Req) -> std::result::Result<Resp, Failure> {
        let cfg = &self.inner.cfg;
        let policy = &cfg.retry;
        let started = Instant::now();
        let mut attempt = 0u32;
        let mut rate_limited = 0u32;
        let mut reauthenticated = false;
        // Set once a request was re-sent after an outcome that may have been processed.
        let mut resent_after_ambiguous = false;
        // Every send, re-sends after 401/429 included (for the call recorder).
        let mut sends = 0u32;
        let url = join(&self.inner.api_root, &req.path).map_err(Error::from)?;
        if cfg.log_bodies
            && let Some(b) = &req.body
        {
            tracing::debug!(target: "gcprov_genesys::body", method = %req.method, path = %req.path, body = %redact(b), "request body");
        }
        loop {
            attempt += 1;
            sends += 1;
            let token = self.inner.tokens.get(&self.inner.http, cfg).await?;
            token.pacer.acquire().await;

            let mut rb = self
                .inner
                .http
                .request(req.method.clone(), url.clone())
                .bearer_auth(token.value.expose_secret())
                .header(ACCEPT, req.accept)
                .timeout(cfg.request_timeout);
            if !req.query.is_empty() {
                rb = rb.query(&req.query);
            }
            for (k, v) in &req.headers {
                rb = rb.header(k, v.clone());
            }
            if let Some(b) = &req.body {
                rb = rb.header(CONTENT_TYPE, req.content_type).body(b.clone());
            }
            let t0 = Instant::now();
            let sent = match rb.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let headers = resp.headers().clone();
                    resp.bytes().await.map(|b| (status, headers, b))
                }
                Err(e) => Err(e),
            };
            let latency_ms = t0.elapsed().as_secs_f64() * 1000.0;

            let (status, headers, body) = match sent {
                Ok(x) => x,
                Err(e) => {
                    let kind = transport_kind(&e);
                    record(
                        &self.inner.activity,
                        req,
                        sends,
                        None,
                        Some(kind),
                        None,
                        latency_ms,
                    );
                    tracing::debug!(method = %req.method, path = %req.path, error_kind = %kind, latency_ms, attempt, "genesys transport error");
                    let err = Error::Transport {
                        method: req.method.to_string(),
                        path: req.display_path(),
                        kind,
                        message: if kind == TransportKind::Timeout {
                            format!("no response within {:?}", cfg.request_timeout)
                        } else {
                            error_chain(&e)
                        },
                        attempts: attempt,
                    };
                    // A connect failure means the request never left: always safe to retry.
                    let ambiguous = kind != TransportKind::Connect;
                    if kind == TransportKind::Request {
                        return Err(err.into());
                    }
                    if ambiguous && req.retry == Retry::Unsafe {
                        return Err(Failure {
                            error: err,
                            ambiguous: true,
                        });
                    }
                    let wait = backoff_delay(policy, attempt);
                    if attempt >= policy.max_attempts
                        || started.elapsed() + wait > policy.max_elapsed
                    {
                        return Err(Failure {
                            error: err,
                            ambiguous,
                        });
                    }
                    tracing::warn!(method = %req.method, path = %req.path, attempt, wait_ms = wait.as_millis() as u64, error = %err, "genesys retry");
                    resent_after_ambiguous |= ambiguous;
                    tokio::time::sleep(wait).await;
                    continue;
                }
            };
            let correlation_id = headers
                .get("inin-correlation-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            tracing::debug!(
                method = %req.method,
                path = %req.path,
                status,
                latency_ms,
                correlation_id = correlation_id.as_deref().unwrap_or(""),
                attempt,
                "genesys response"
            );
            let cid = correlation_id.clone();
            record(
                &self.inner.activity,
                req,
                sends,
                Some(status),
                None,
                cid,
                latency_ms,
            );
            if cfg.log_bodies && !body.is_empty() {
                tracing::debug!(target: "gcprov_genesys::body", status, correlation_id = correlation_id.as_deref().unwrap_or(""), body = %redact(&body), "response body");
            }

            if (200..300).contains(&status) || status == 304 {
                return Ok(Resp {
                    status,
                    headers,
                    body,
                    correlation_id,
                });
            }

            let retry_after = if status == 429 {
                Some(parse_retry_after(&headers).unwrap_or(policy.default_retry_after))
            } else {
                None
            };
            let api = self.api_error(req, status, &body, correlation_id, retry_after, attempt);

            match status {
                401 if !reauthenticated => {
                    // Expired or revoked token: log in again once and retry once. The request
                    // was rejected before processing, so this is safe for every method.
                    reauthenticated = true;
                    self.inner.tokens.invalidate(token.generation);
                    tracing::info!(method = %req.method, path = %req.path, "genesys 401: re-authenticating");
                    attempt -= 1;
                    continue;
                }
                429 => {
                    // Rejected before processing: safe to retry for every method. Every task
                    // sharing this token waits until Retry-After has passed.
                    let wait = retry_after.unwrap_or(policy.default_retry_after);
                    token.pacer.pause(wait);
                    rate_limited += 1;
                    attempt -= 1;
                    if rate_limited > policy.max_attempts.saturating_mul(4)
                        || started.elapsed() + wait > policy.max_elapsed
                    {
                        return Err(Error::Api(Box::new(api)).into());
                    }
                    tracing::warn!(method = %req.method, path = %req.path, retry_after_ms = wait.as_millis() as u64, "genesys 429: pausing token");
                    continue;
                }
                408 | 502..=504 => {
                    let err = Error::Api(Box::new(api));
                    if req.retry == Retry::Unsafe {
                        return Err(Failure {
                            error: err,
                            ambiguous: true,
                        });
                    }
                    // A 503 may say when to come back; never sooner than the backoff.
                    let wait = backoff_delay(policy, attempt)
                        .max(parse_retry_after(&headers).unwrap_or(Duration::ZERO));
                    if attempt >= policy.max_attempts
                        || started.elapsed() + wait > policy.max_elapsed
                    {
                        return Err(Failure {
                            error: err,
                            ambiguous: true,
                        });
                    }
                    tracing::warn!(method = %req.method, path = %req.path, status, attempt, wait_ms = wait.as_millis() as u64, "genesys retry");
                    resent_after_ambiguous = true;
                    tokio::time::sleep(wait).await;
                    continue;
                }
                404 if req.method == Method::DELETE && resent_after_ambiguous => {
                    // DELETE is idempotent: a 404 on a re-send means the earlier attempt,
                    // whose answer was lost, deleted the object.
                    tracing::info!(method = %req.method, path = %req.path, "genesys DELETE re-send found nothing: earlier attempt succeeded");
                    return Ok(Resp {
                        status: 204,
                        headers,
                        body: Bytes::new(),
                        correlation_id: api.correlation_id,
                    });
                }
                _ => {
                    let version_conflict = api.mentions_version_mismatch()
                        || (status == 409 && req.retry == Retry::VersionGuarded);
                    let err = if version_conflict {
                        Error::VersionConflict(Box::new(api))
                    } else {
                        Error::Api(Box::new(api))
                    };
                    return Err(err.into());
                }
            }
        }
    }

    fn api_error(
        &self,
        req: &Req,
        status: u16,
        body: &[u8],
        correlation_id: Option<String>,
        retry_after: Option<Duration>,
        attempts: u32,
    ) -> ApiError {
        let mut parsed: Option<ErrorBody> = None;
        let mut scim: Option<ScimErrorBody> = None;
        if !body.is_empty()
            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(body)
        {
            let is_scim = v
                .get("schemas")
                .and_then(|s| s.as_array())
                .is_some_and(|a| {
                    a.iter()
                        .any(|s| s.as_str() == Some(crate::models::SCIM_ERROR))
                })
                || (req.scim && v.get("code").is_none());
            if is_scim {
                scim = serde_json::from_value(v).ok();
            } else {
                parsed = serde_json::from_value(v).ok();
            }
        }
        let correlation_id =
            correlation_id.or_else(|| parsed.as_ref().and_then(|b| b.context_id.clone()));
        ApiError {
            method: req.method.to_string(),
            path: req.display_path(),
            status,
            body: parsed,
            scim,
            correlation_id,
            retry_after,
            attempts,
        }
    }

    // ------------------------------------------------------------ typed helpers

    pub(crate) async fn call<T: DeserializeOwned>(&self, req: Req) -> Result<T> {
        let resp = self.execute(&req).await.map_err(|f| f.error)?;
        decode(&req, &resp)
    }

    pub(crate) async fn call_empty(&self, req: Req) -> Result<()> {
        self.execute(&req).await.map_err(|f| f.error)?;
        Ok(())
    }

    pub(crate) async fn call_resp(&self, req: Req) -> Result<Resp> {
        self.execute(&req).await.map_err(|f| f.error)
    }

    /// A create (POST) that is retried after an ambiguous failure only when `lookup` shows the
    /// first attempt did not already create the object; a conflict after an ambiguous attempt
    /// is resolved by the same lookup (the earlier attempt landed late).
    pub(crate) async fn create_with_lookup<T, L, F>(&self, req: Req, lookup: L) -> Result<T>
    where
        T: DeserializeOwned,
        L: Fn() -> F,
        F: Future<Output = Result<Option<T>>>,
    {
        let policy = &self.inner.cfg.retry;
        let started = Instant::now();
        let req = req.retry(Retry::Unsafe);
        let mut attempt = 0u32;
        let mut ambiguous_before = false;
        loop {
            attempt += 1;
            match self.execute(&req).await {
                Ok(resp) => return decode(&req, &resp),
                Err(f) if f.ambiguous => {
                    // After a timeout the server may still be working on the first attempt:
                    // give it two more timeouts to finish before looking for its result.
                    let mut wait = backoff_delay(policy, attempt);
                    if matches!(
                        f.error,
                        Error::Transport {
                            kind: TransportKind::Timeout,
                            ..
                        }
                    ) {
                        wait += self.inner.cfg.request_timeout * 2;
                    }
                    if attempt >= policy.max_attempts
                        || started.elapsed() + wait > policy.max_elapsed
                    {
                        return Err(f.error);
                    }
                    tracing::warn!(method = %req.method, path = %req.path, attempt, error = %f.error, "genesys create outcome unknown: checking before retry");
                    tokio::time::sleep(wait).await;
                    if let Some(found) = lookup().await? {
                        tracing::info!(path = %req.path, "genesys create had succeeded: using existing object");
                        return Ok(found);
                    }
                    ambiguous_before = true;
                }
                Err(f) if ambiguous_before && f.error.status() == Some(409) => {
                    if let Some(found) = lookup().await? {
                        return Ok(found);
                    }
                    return Err(f.error);
                }
                Err(f) => return Err(f.error),
            }
        }
    }

    /// Pages of a `pageSize`/`pageNumber` listing as a stream of items.
    pub(crate) fn paged<T>(&self, base: Req, page_size: u32) -> BoxStream<'static, Result<T>>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let client = self.clone();
        let page_size = page_size.max(1);
        stream::try_unfold(Some(1u32), move |page| {
            let client = client.clone();
            let base = base.clone();
            async move {
                let Some(page) = page else {
                    return Ok::<_, Error>(None);
                };
                let req = base.query("pageSize", page_size).query("pageNumber", page);
                let listing: EntityListing<T> = client.call(req).await?;
                let n = listing.entities.len();
                let more = match listing.page_count {
                    Some(pc) => i64::from(page) < pc && n > 0,
                    None => listing.next_uri.is_some() || n >= page_size as usize,
                } && n > 0;
                Ok(Some((listing.entities, more.then_some(page + 1))))
            }
        })
        .map_ok(|items| stream::iter(items.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
    }
}

/// Feeds the call recorder (see `recorder`).
fn record(
    activity: &Activity,
    req: &Req,
    attempt: u32,
    status: Option<u16>,
    transport: Option<TransportKind>,
    correlation_id: Option<String>,
    latency_ms: f64,
) {
    recorder::observe(
        activity,
        RecordedCall {
            method: req.method.to_string(),
            path: req.display_path(),
            status,
            transport_error: transport.map(|k| k.to_string()),
            correlation_id,
            attempt,
            latency_ms: latency_ms as u64,
        },
    );
}

pub(crate) fn decode<T: DeserializeOwned>(req: &Req, resp: &Resp) -> Result<T> {
    let body: &[u8] = if resp.body.iter().all(u8::is_ascii_whitespace) {
        b"null"
    } else {
        &resp.body
    };
    serde_json::from_slice(body).map_err(|e| Error::Decode {
        method: req.method.to_string(),
        path: req.display_path(),
        message: e.to_string(),
        correlation_id: resp.correlation_id.clone(),
    })
}

/// Percent-encodes one path segment (ids, authority names, external keys).
pub(crate) fn seg(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

/// Body for debug logs with secrets blanked (`password`, `secret`, tokens).
fn redact(body: &[u8]) -> String {
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, val) in m.iter_mut() {
                    let kl = k.to_ascii_lowercase();
                    if kl.contains("password")
                        || kl.contains("secret")
                        || kl.contains("token")
                        || kl == "authorization"
                    {
                        *val = serde_json::Value::String("[REDACTED]".into());
                    } else {
                        walk(val);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(mut v) => {
            walk(&mut v);
            v.to_string()
        }
        Err(_) => format!("<{} bytes, not JSON>", body.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_blanks_secrets() {
        let s = redact(br#"{"name":"a","password":"p1","nested":{"secret":"s","access_token":"t"},"list":[{"clientSecret":"x"}]}"#);
        assert!(
            !s.contains("p1")
                && !s.contains("\"s\"")
                && !s.contains("\"t\"")
                && !s.contains("\"x\"")
        );
        assert!(s.contains("\"a\""));
    }

    #[test]
    fn seg_encodes() {
        assert_eq!(seg("a b/c"), "a%20b%2Fc");
        assert_eq!(seg("x-pc:scimv2:v1"), "x-pc%3Ascimv2%3Av1");
    }
}
