//! Callers: static bearer tokens (stored only as SHA-256 hashes) and JWTs validated against a
//! JWKS, each with a role. Comparisons are constant-time; failures say nothing that helps
//! guessing; tokens are never logged.
//!
//! A JWKS URL is fetched at start, then refreshed on a schedule (`jwks_refresh_seconds`, or the
//! response's `Cache-Control: max-age` within [`MAX_AGE_BOUNDS`]) and when a token names a `kid`
//! the key set does not have (at most once per [`UNKNOWN_KID_MIN_INTERVAL`], one fetch at a
//! time, so a burst of bad tokens cannot make the gateway hammer the IdP). A failed refresh keeps
//! the last good key set.

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rand::Rng;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{CallersConfig, JwtConfig};

/// A caller's role. Reads need `reader`, writes `provisioner`, admin endpoints `admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Reader,
    Provisioner,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Provisioner => "provisioner",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s.trim().to_ascii_lowercase().as_str() {
            "reader" => Some(Role::Reader),
            "provisioner" => Some(Role::Provisioner),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// `token:<name>` or `jwt:<sub>`; used as the audit actor.
    pub name: String,
    pub role: Role,
}

/// Why a request was not authenticated (the HTTP answer is the same for all: 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    Invalid,
}

/// Problems loading the JWKS.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    #[error("JWKS file {file}: {message}")]
    JwksFile { file: String, message: String },
    #[error("JWKS URL {url}: {message}")]
    JwksUrl { url: String, message: String },
}

/// Hex SHA-256 of a token (what the config stores).
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random token: `gcp_` + 43 URL-safe characters (256 bits).
pub fn generate_token() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::rng().random();
    format!(
        "gcp_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The `[[callers.tokens]]` entry for a token.
pub fn config_line(name: &str, role: Role, token: &str) -> String {
    format!(
        "[[callers.tokens]]\nname = \"{}\"\nrole = \"{}\"\nsha256 = \"{}\"\n",
        name.replace(['"', '\\'], ""),
        role,
        hash_token(token)
    )
}

pub(crate) fn parse_alg(s: &str) -> Option<Algorithm> {
    use std::str::FromStr;
    Algorithm::from_str(s.trim()).ok()
}

struct StaticEntry {
    name: String,
    role: Role,
    hash: [u8; 32],
}

/// "Now" for the JWKS refresh limits (injectable so tests need no sleeps).
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// A token with an unknown `kid` triggers a JWKS fetch at most this often.
pub const UNKNOWN_KID_MIN_INTERVAL: Duration = Duration::from_secs(30);
/// `Cache-Control: max-age` is honoured within these bounds.
pub const MAX_AGE_BOUNDS: (Duration, Duration) =
    (Duration::from_secs(60), Duration::from_secs(24 * 3600));
/// After a failed scheduled refresh, the next attempt comes at most this much later.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);

/// Where a JWKS URL's key set comes from and when it was last fetched.
struct JwksSource {
    url: String,
    http: reqwest::Client,
    interval: Duration,
    clock: Clock,
    /// Held while a fetch runs (single flight); the time of the last unknown-kid fetch.
    flight: tokio::sync::Mutex<Option<Instant>>,
    /// Delay before the first scheduled refresh (from the fetch at start).
    first_delay: Duration,
}

struct JwtVerifier {
    keys: RwLock<Arc<JwkSet>>,
    source: Option<JwksSource>,
    validation: Validation,
    role: Role,
    role_claim: Option<String>,
}

/// `max-age` of a `Cache-Control` header value, if any.
fn max_age(cache_control: &str) -> Option<Duration> {
    cache_control.split(',').find_map(|d| {
        let (k, v) = d.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("max-age")
            .then(|| v.trim().trim_matches('"').parse::<u64>().ok())
            .flatten()
            .map(Duration::from_secs)
    })
}

impl JwksSource {
    /// Fetches the key set; the delay until the next scheduled refresh comes with it.
    async fn fetch(&self) -> Result<(JwkSet, Duration), String> {
        let resp = self
            .http
            .get(&self.url)
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status()));
        }
        let delay = resp
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age)
            .map(|d| d.clamp(MAX_AGE_BOUNDS.0, MAX_AGE_BOUNDS.1))
            .unwrap_or(self.interval);
        let set = resp
            .json::<JwkSet>()
            .await
            .map_err(|e| e.without_url().to_string())?;
        Ok((set, delay))
    }
}

impl JwtVerifier {
    fn current(&self) -> Arc<JwkSet> {
        match self.keys.read() {
            Ok(k) => k.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn replace(&self, set: JwkSet) {
        let set = Arc::new(set);
        match self.keys.write() {
            Ok(mut k) => *k = set,
            Err(p) => *p.into_inner() = set,
        }
    }

    fn log_failure(url: &str, e: &str, why: &str) {
        metrics::counter!("gcprov_gateway_jwks_refresh_failures_total").increment(1);
        tracing::warn!(jwks_url = %url, error = %e, why, "JWKS refresh failed; keeping the last good key set");
    }

    /// A refresh because a token named `kid`, which the key set lacks. Returns whether the key
    /// set has it afterwards.
    async fn refresh_for_kid(&self, kid: &str) -> bool {
        let Some(src) = &self.source else {
            return false;
        };
        let mut last = src.flight.lock().await;
        // Another request may have fetched it while this one waited.
        if self.current().find(kid).is_some() {
            return true;
        }
        let now = (src.clock)();
        if last.is_some_and(|t| now.saturating_duration_since(t) < UNKNOWN_KID_MIN_INTERVAL) {
            return false;
        }
        *last = Some(now);
        match src.fetch().await {
            Ok((set, _)) => {
                let found = set.find(kid).is_some();
                self.replace(set);
                tracing::info!(jwks_url = %src.url, "JWKS refreshed for an unknown key id");
                found
            }
            Err(e) => {
                Self::log_failure(&src.url, &e, "unknown key id");
                false
            }
        }
    }

    /// A scheduled refresh; returns the delay until the next one.
    async fn refresh_scheduled(&self) -> Option<Duration> {
        let src = self.source.as_ref()?;
        let _flight = src.flight.lock().await;
        Some(match src.fetch().await {
            Ok((set, delay)) => {
                self.replace(set);
                delay
            }
            Err(e) => {
                Self::log_failure(&src.url, &e, "scheduled");
                src.interval.min(RETRY_AFTER_FAILURE)
            }
        })
    }
}

/// Verifies bearer tokens.
pub struct Authenticator {
    tokens: Vec<StaticEntry>,
    jwt: Option<JwtVerifier>,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("tokens", &self.tokens.len())
            .field("jwt", &self.jwt.is_some())
            .finish()
    }
}

impl Authenticator {
    /// Builds the verifier; fetches the JWKS when a URL is configured.
    pub async fn new(cfg: &CallersConfig) -> Result<Self, AuthConfigError> {
        Self::new_with_clock(cfg, Arc::new(Instant::now)).await
    }

    /// [`Self::new`] with the clock the JWKS refresh limits use (tests).
    pub async fn new_with_clock(
        cfg: &CallersConfig,
        clock: Clock,
    ) -> Result<Self, AuthConfigError> {
        let mut tokens = Vec::new();
        for t in &cfg.tokens {
            let mut hash = [0u8; 32];
            if hex::decode_to_slice(t.sha256.trim(), &mut hash).is_ok() {
                tokens.push(StaticEntry {
                    name: t.name.clone(),
                    role: t.role,
                    hash,
                });
            }
        }
        let jwt = match &cfg.jwt {
            Some(j) => Some(Self::jwt_verifier(j, clock).await?),
            None => None,
        };
        Ok(Self { tokens, jwt })
    }

    /// Static tokens only (tests, demo).
    pub fn with_tokens(tokens: &[(String, Role, String)]) -> Self {
        let tokens = tokens
            .iter()
            .filter_map(|(name, role, sha)| {
                let mut hash = [0u8; 32];
                hex::decode_to_slice(sha, &mut hash).ok()?;
                Some(StaticEntry {
                    name: name.clone(),
                    role: *role,
                    hash,
                })
            })
            .collect();
        Self { tokens, jwt: None }
    }

    async fn jwt_verifier(j: &JwtConfig, clock: Clock) -> Result<JwtVerifier, AuthConfigError> {
        let mut source = None;
        let keys: JwkSet = if let Some(file) = &j.jwks_file {
            let f = file.display().to_string();
            let text = std::fs::read_to_string(file).map_err(|e| AuthConfigError::JwksFile {
                file: f.clone(),
                message: e.to_string(),
            })?;
            serde_json::from_str(&text).map_err(|e| AuthConfigError::JwksFile {
                file: f,
                message: format!("line {}: {e}", e.line()),
            })?
        } else if let Some(url) = &j.jwks_url {
            let err = |m: String| AuthConfigError::JwksUrl {
                url: url.clone(),
                message: m,
            };
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| err(e.to_string()))?;
            let mut src = JwksSource {
                url: url.clone(),
                http,
                interval: Duration::from_secs(j.jwks_refresh_seconds),
                clock,
                flight: tokio::sync::Mutex::new(None),
                first_delay: Duration::ZERO,
            };
            let (set, delay) = src.fetch().await.map_err(err)?;
            src.first_delay = delay;
            source = Some(src);
            set
        } else {
            JwkSet { keys: Vec::new() }
        };
        let algs: Vec<Algorithm> = j.algorithms.iter().filter_map(|a| parse_alg(a)).collect();
        let mut validation = Validation::new(algs.first().copied().unwrap_or(Algorithm::RS256));
        validation.algorithms = algs;
        validation.set_issuer(&[&j.issuer]);
        validation.set_audience(&[&j.audience]);
        validation.leeway = j.leeway_seconds;
        validation.validate_exp = true;
        validation.required_spec_claims = ["exp", "iss", "aud"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        Ok(JwtVerifier {
            keys: RwLock::new(Arc::new(keys)),
            source,
            validation,
            role: j.role,
            role_claim: j.role_claim.clone(),
        })
    }

    /// Refreshes a JWKS URL's key set now (what the schedule does). Returns the delay until
    /// the next scheduled refresh, or `None` without a JWKS URL.
    pub async fn refresh_jwks(&self) -> Option<Duration> {
        self.jwt.as_ref()?.refresh_scheduled().await
    }

    /// Starts the scheduled JWKS refresh (a JWKS URL only); abort the handle to stop it.
    pub fn spawn_jwks_refresh(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        let first = self.jwt.as_ref()?.source.as_ref()?.first_delay;
        let me = Arc::clone(self);
        Some(tokio::spawn(async move {
            let mut delay = first;
            loop {
                tokio::time::sleep(delay).await;
                match me.refresh_jwks().await {
                    Some(d) => delay = d,
                    None => return,
                }
            }
        }))
    }

    /// Checks an `Authorization` header value.
    pub async fn authenticate(&self, header: Option<&str>) -> Result<Caller, AuthFailure> {
        let header = header.ok_or(AuthFailure::Missing)?;
        let (scheme, token) = header.trim().split_once(' ').ok_or(AuthFailure::Invalid)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthFailure::Invalid);
        }
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthFailure::Invalid);
        }
        let digest = Sha256::digest(token.as_bytes());
        // Compare against every entry so the time taken does not tell which one matched.
        let mut found: Option<&StaticEntry> = None;
        for e in &self.tokens {
            if bool::from(e.hash.ct_eq(digest.as_slice())) {
                found = Some(e);
            }
        }
        if let Some(e) = found {
            return Ok(Caller {
                name: format!("token:{}", e.name),
                role: e.role,
            });
        }
        match &self.jwt {
            Some(v) if token.matches('.').count() == 2 => Self::verify_jwt(v, token).await,
            _ => Err(AuthFailure::Invalid),
        }
    }

    async fn verify_jwt(v: &JwtVerifier, token: &str) -> Result<Caller, AuthFailure> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthFailure::Invalid)?;
        if !v.validation.algorithms.contains(&header.alg) {
            return Err(AuthFailure::Invalid);
        }
        let mut keys = v.current();
        if let Some(kid) = &header.kid
            && keys.find(kid).is_none()
        {
            if !v.refresh_for_kid(kid).await {
                return Err(AuthFailure::Invalid);
            }
            keys = v.current();
        }
        let jwk = match &header.kid {
            Some(kid) => keys.find(kid),
            None if keys.keys.len() == 1 => keys.keys.first(),
            None => None,
        }
        .ok_or(AuthFailure::Invalid)?;
        let key = DecodingKey::from_jwk(jwk).map_err(|_| AuthFailure::Invalid)?;
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &key, &v.validation)
            .map_err(|_| AuthFailure::Invalid)?;
        let claims = data.claims;
        let sub = claims
            .get("sub")
            .and_then(|s| s.as_str())
            .unwrap_or("unknown")
            .chars()
            .take(128)
            .collect::<String>();
        let role = match &v.role_claim {
            Some(c) => match claims.get(c) {
                Some(serde_json::Value::String(s)) => Role::parse(s),
                Some(serde_json::Value::Array(a)) => a
                    .iter()
                    .filter_map(|x| x.as_str())
                    .filter_map(Role::parse)
                    .max(),
                _ => None,
            }
            .ok_or(AuthFailure::Invalid)?,
            None => v.role,
        };
        Ok(Caller {
            name: format!("jwt:{sub}"),
            role,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn static_tokens_match_by_hash_only() {
        let t = generate_token();
        let a = Authenticator::with_tokens(&[("idp".into(), Role::Provisioner, hash_token(&t))]);
        let c = a.authenticate(Some(&format!("Bearer {t}"))).await;
        assert_eq!(c.map(|c| c.role), Ok(Role::Provisioner));
        assert_eq!(
            a.authenticate(Some("Bearer nope")).await,
            Err(AuthFailure::Invalid)
        );
        assert_eq!(a.authenticate(None).await, Err(AuthFailure::Missing));
        assert_eq!(
            a.authenticate(Some(&format!("Basic {t}"))).await,
            Err(AuthFailure::Invalid)
        );
    }

    #[test]
    fn cache_control_max_age() {
        assert_eq!(
            max_age("public, max-age=3600"),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(max_age("Max-Age = 120"), Some(Duration::from_secs(120)));
        assert_eq!(max_age("no-cache"), None);
        assert_eq!(max_age("max-age=soon"), None);
    }

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Reader < Role::Provisioner && Role::Provisioner < Role::Admin);
    }
}
