//! Callers: static bearer tokens (stored only as SHA-256 hashes) and JWTs validated against a
//! JWKS, each with a role. Comparisons are constant-time; failures say nothing that helps
//! guessing; tokens are never logged.

use std::fmt;

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

struct JwtVerifier {
    keys: JwkSet,
    validation: Validation,
    role: Role,
    role_claim: Option<String>,
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
            Some(j) => Some(Self::jwt_verifier(j).await?),
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

    async fn jwt_verifier(j: &JwtConfig) -> Result<JwtVerifier, AuthConfigError> {
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
            let resp = reqwest::get(url).await.map_err(|e| err(e.to_string()))?;
            if !resp.status().is_success() {
                return Err(err(format!("HTTP {}", resp.status())));
            }
            resp.json().await.map_err(|e| err(e.to_string()))?
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
            keys,
            validation,
            role: j.role,
            role_claim: j.role_claim.clone(),
        })
    }

    /// Checks an `Authorization` header value.
    pub fn authenticate(&self, header: Option<&str>) -> Result<Caller, AuthFailure> {
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
            Some(v) if token.matches('.').count() == 2 => Self::verify_jwt(v, token),
            _ => Err(AuthFailure::Invalid),
        }
    }

    fn verify_jwt(v: &JwtVerifier, token: &str) -> Result<Caller, AuthFailure> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthFailure::Invalid)?;
        if !v.validation.algorithms.contains(&header.alg) {
            return Err(AuthFailure::Invalid);
        }
        let jwk = match &header.kid {
            Some(kid) => v.keys.find(kid),
            None if v.keys.keys.len() == 1 => v.keys.keys.first(),
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

    #[test]
    fn static_tokens_match_by_hash_only() {
        let t = generate_token();
        let a = Authenticator::with_tokens(&[("idp".into(), Role::Provisioner, hash_token(&t))]);
        let c = a.authenticate(Some(&format!("Bearer {t}")));
        assert_eq!(c.map(|c| c.role), Ok(Role::Provisioner));
        assert_eq!(
            a.authenticate(Some("Bearer nope")),
            Err(AuthFailure::Invalid)
        );
        assert_eq!(a.authenticate(None), Err(AuthFailure::Missing));
        assert_eq!(
            a.authenticate(Some(&format!("Basic {t}"))),
            Err(AuthFailure::Invalid)
        );
    }

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Reader < Role::Provisioner && Role::Provisioner < Role::Admin);
    }
}
