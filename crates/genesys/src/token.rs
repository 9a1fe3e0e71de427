//! Client-credentials tokens: login, cache, single-flight refresh, invalidation on 401.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::RwLock;
use reqwest::header::{ACCEPT, HeaderMap};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::time::Instant;

use crate::config::ClientConfig;
use crate::error::{ApiError, Error, TransportKind};
use crate::models::OAuthErrorBody;
use crate::pacer::Pacer;
use crate::retry::{backoff_delay, parse_retry_after, transport_kind};

/// A cached access token. `Debug` never shows the token.
pub(crate) struct AccessToken {
    pub(crate) value: SecretString,
    pub(crate) generation: u64,
    pub(crate) refresh_at: Instant,
    pub(crate) pacer: Arc<Pacer>,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("value", &"[REDACTED]")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: SecretString,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// The last refused login, shared with the tasks that queued behind it.
#[derive(Clone)]
struct LoginRefusal {
    attempt: u64,
    status: u16,
    error: String,
    description: Option<String>,
}

pub(crate) struct TokenManager {
    current: RwLock<Option<Arc<AccessToken>>>,
    /// Held while logging in; protects the attempt counter and the last refusal.
    refresh: tokio::sync::Mutex<(u64, Option<LoginRefusal>)>,
    generation: AtomicU64,
    logins: AtomicU64,
}

impl TokenManager {
    pub(crate) fn new() -> Self {
        Self {
            current: RwLock::new(None),
            refresh: tokio::sync::Mutex::new((0, None)),
            generation: AtomicU64::new(0),
            logins: AtomicU64::new(0),
        }
    }

    pub(crate) fn logins(&self) -> u64 {
        self.logins.load(Ordering::Relaxed)
    }

    pub(crate) fn peek(&self) -> Option<Arc<AccessToken>> {
        self.current.read().clone()
    }

    fn valid(&self) -> Option<Arc<AccessToken>> {
        let now = Instant::now();
        self.current
            .read()
            .as_ref()
            .filter(|t| t.refresh_at > now)
            .cloned()
    }

    /// A valid token; logs in when there is none. However many tasks call this at once, at
    /// most one login is in flight: the others wait on the refresh lock and then find the
    /// fresh token in the cache.
    pub(crate) async fn get(
        &self,
        http: &reqwest::Client,
        cfg: &ClientConfig,
    ) -> Result<Arc<AccessToken>, Error> {
        if let Some(t) = self.valid() {
            return Ok(t);
        }
        // The attempt number seen before queueing: if a login was refused while we waited,
        // share that answer instead of hammering the login service with the same credentials.
        let seen = self.refresh.try_lock().map(|g| g.0).ok();
        let mut guard = self.refresh.lock().await;
        if let Some(t) = self.valid() {
            return Ok(t);
        }
        if let Some(r) = &guard.1
            && seen.is_none_or(|s| r.attempt > s)
        {
            return Err(Error::Login {
                status: r.status,
                error: r.error.clone(),
                description: r.description.clone(),
            });
        }
        guard.0 += 1;
        let attempt = guard.0;
        let (value, expires_in) = match login(http, cfg).await {
            Ok(v) => {
                guard.1 = None;
                v
            }
            Err(Error::Login {
                status,
                error,
                description,
            }) => {
                guard.1 = Some(LoginRefusal {
                    attempt,
                    status,
                    error: error.clone(),
                    description: description.clone(),
                });
                return Err(Error::Login {
                    status,
                    error,
                    description,
                });
            }
            Err(e) => return Err(e),
        };
        self.logins.fetch_add(1, Ordering::Relaxed);
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let lifetime = Duration::from_secs(expires_in.unwrap_or(86_400));
        // Never let the margin eat more than a fifth of a short lifetime.
        let margin = cfg.token_refresh_margin.min(lifetime / 5);
        let token = Arc::new(AccessToken {
            value,
            generation,
            refresh_at: Instant::now() + lifetime - margin,
            pacer: Arc::new(Pacer::new(
                cfg.rate_limit_per_minute,
                cfg.rate_window,
                cfg.rate_margin,
            )),
        });
        *self.current.write() = Some(token.clone());
        tracing::debug!(
            generation,
            expires_in = lifetime.as_secs(),
            "genesys login ok"
        );
        Ok(token)
    }

    /// Drops the cached token if it is still the one that got a 401 (a newer one is kept).
    pub(crate) fn invalidate(&self, generation: u64) {
        let mut cur = self.current.write();
        if cur.as_ref().is_some_and(|t| t.generation == generation) {
            *cur = None;
        }
    }
}

/// `POST {login_base}/oauth/token` with Basic auth and `grant_type=client_credentials`.
/// Retries 429 (after `Retry-After`), 5xx and transport failures within the retry policy.
async fn login(
    http: &reqwest::Client,
    cfg: &ClientConfig,
) -> Result<(SecretString, Option<u64>), Error> {
    let url = cfg.token_url()?;
    let started = Instant::now();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let t0 = Instant::now();
        let res = http
            .post(url.clone())
            .basic_auth(&cfg.client_id, Some(cfg.client_secret.expose_secret()))
            .header(ACCEPT, "application/json")
            .form(&[("grant_type", "client_credentials")])
            .timeout(cfg.request_timeout)
            .send()
            .await;
        let (wait, err) = match res {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                let body = match resp.bytes().await {
                    Ok(b) => b,
                    Err(e) => {
                        let err = transport_error("/oauth/token", &e, attempt);
                        let d = backoff_delay(&cfg.retry, attempt);
                        if should_give_up(cfg, attempt, started, d) {
                            return Err(err);
                        }
                        tokio::time::sleep(d).await;
                        continue;
                    }
                };
                tracing::debug!(
                    method = "POST",
                    path = "/oauth/token",
                    status,
                    latency_ms = t0.elapsed().as_secs_f64() * 1000.0,
                    attempt,
                    "genesys login response"
                );
                if (200..300).contains(&status) {
                    let tr: TokenResponse =
                        serde_json::from_slice(&body).map_err(|e| Error::Decode {
                            method: "POST".into(),
                            path: "/oauth/token".into(),
                            message: e.to_string(),
                            correlation_id: correlation(&headers),
                        })?;
                    return Ok((tr.access_token, tr.expires_in));
                }
                if status == 429 || status >= 500 {
                    let wait = if status == 429 {
                        parse_retry_after(&headers).unwrap_or(cfg.retry.default_retry_after)
                    } else {
                        backoff_delay(&cfg.retry, attempt)
                    };
                    let err = Error::Api(Box::new(ApiError {
                        method: "POST".into(),
                        path: "/oauth/token".into(),
                        status,
                        body: serde_json::from_slice(&body).ok(),
                        scim: None,
                        correlation_id: correlation(&headers),
                        retry_after: (status == 429).then_some(wait),
                        attempts: attempt,
                    }));
                    (wait, err)
                } else {
                    let oauth: Option<OAuthErrorBody> = serde_json::from_slice(&body).ok();
                    let oauth = oauth.unwrap_or_default();
                    return Err(Error::Login {
                        status,
                        error: oauth.error.unwrap_or_else(|| format!("http_{status}")),
                        description: oauth.error_description.or(oauth.description),
                    });
                }
            }
            Err(e) => {
                let err = transport_error("/oauth/token", &e, attempt);
                (backoff_delay(&cfg.retry, attempt), err)
            }
        };
        if should_give_up(cfg, attempt, started, wait) {
            return Err(err);
        }
        tracing::warn!(attempt, wait_ms = wait.as_millis() as u64, error = %err, "genesys login retry");
        tokio::time::sleep(wait).await;
    }
}

fn should_give_up(cfg: &ClientConfig, attempt: u32, started: Instant, wait: Duration) -> bool {
    attempt >= cfg.retry.max_attempts || started.elapsed() + wait > cfg.retry.max_elapsed
}

fn transport_error(path: &str, e: &reqwest::Error, attempts: u32) -> Error {
    let kind = transport_kind(e);
    Error::Transport {
        method: "POST".into(),
        path: path.into(),
        kind,
        message: if kind == TransportKind::Timeout {
            "timed out".into()
        } else {
            crate::retry::error_chain(e)
        },
        attempts,
    }
}

fn correlation(h: &HeaderMap) -> Option<String> {
    h.get("inin-correlation-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}
