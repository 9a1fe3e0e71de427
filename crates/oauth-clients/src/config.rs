//! The governance configuration: limits, baseline profiles and the secret sink.
//!
//! ```toml
//! [limits]
//! max_scopes = 20
//! max_token_lifetime_seconds = 172800        # 300..=172800 in Genesys
//! max_scim_token_lifetime_seconds = 38880000 # SCIM clients only
//!
//! [audit]
//! default_profile = "reporting"               # for clients without a gcprov profile marker
//!
//! [profiles.reporting]
//! description = "Reads analytics, writes nothing"
//! scopes = ["analytics:readonly"]
//! permissions = ["analytics:*:view"]
//!
//! [sink]
//! kind = "vault"
//! addr = "http://127.0.0.1:8200"
//! mount = "secret"
//! path = "genesys/oauth/{name}"
//! token_env = "VAULT_TOKEN"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::Error;

/// Genesys' bounds of `accessTokenValiditySeconds` (reference section 7.2).
pub const MIN_TOKEN_LIFETIME: i64 = 300;
pub const MAX_TOKEN_LIFETIME: i64 = 172_800;
pub const MAX_SCIM_TOKEN_LIFETIME: i64 = 38_880_000;
/// Genesys' default when the request leaves the lifetime out.
pub const DEFAULT_TOKEN_LIFETIME: i64 = 86_400;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GovernanceConfig {
    pub limits: Limits,
    pub audit: AuditSettings,
    pub profiles: BTreeMap<String, Profile>,
    pub sink: Option<SinkConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub max_scopes: usize,
    pub max_token_lifetime_seconds: i64,
    pub max_scim_token_lifetime_seconds: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_scopes: 20,
            max_token_lifetime_seconds: MAX_TOKEN_LIFETIME,
            max_scim_token_lifetime_seconds: MAX_SCIM_TOKEN_LIFETIME,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// Baseline for clients that carry no `[gcprov profile=...]` marker.
    pub default_profile: Option<String>,
}

/// A baseline: the most a client of this kind may hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Profile {
    pub description: Option<String>,
    /// Scope ids allowed for user-delegated grants. `x:readonly` allows only reading; `x` allows
    /// reading and writing.
    pub scopes: Vec<String>,
    /// Permission patterns allowed for client-credentials clients, `domain:entity:action` with
    /// `*` for any segment (`analytics:*:view`) or, last, for any rest (`analytics:*`).
    pub permissions: Vec<String>,
}

/// Where new secrets go.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum SinkConfig {
    /// HashiCorp Vault KV version 2.
    Vault {
        /// e.g. `https://vault.example.com:8200`
        addr: String,
        /// KV v2 mount (default `secret`).
        #[serde(default = "default_mount")]
        mount: String,
        /// Path under the mount, with `{name}` and `{client_id}`.
        path: String,
        /// Environment variable holding the Vault token (default `VAULT_TOKEN`).
        #[serde(default = "default_token_env")]
        token_env: String,
        /// Enterprise namespace (`X-Vault-Namespace`).
        #[serde(default)]
        namespace: Option<String>,
        /// On create, write with `cas = 0` so an existing Vault entry is never overwritten
        /// (default true). Rotations always write a new version.
        #[serde(default = "yes")]
        cas_on_create: bool,
    },
    /// HTTPS POST of a JSON body signed with HMAC-SHA256 (`X-Gcprov-Signature`).
    Webhook {
        url: String,
        /// Environment variable holding the HMAC key.
        key_env: String,
    },
    /// A new file with mode 0600 per secret; existing files are never overwritten.
    File {
        dir: PathBuf,
        /// File name with `{name}`, `{client_id}` and `{ts}` (Unix time in nanoseconds).
        #[serde(default = "default_file_name")]
        file_name: String,
    },
}

fn default_mount() -> String {
    "secret".into()
}
fn default_token_env() -> String {
    "VAULT_TOKEN".into()
}
fn default_file_name() -> String {
    "{name}-{client_id}-{ts}.json".into()
}
fn yes() -> bool {
    true
}

impl GovernanceConfig {
    /// Reads a TOML file (or JSON when the name ends in `.json`). Errors name the file and line.
    pub fn from_path(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let cfg = Self::parse(&text, path.extension().is_some_and(|e| e == "json")).map_err(
            |message| Error::Config {
                path: path.display().to_string(),
                message,
            },
        )?;
        Ok(cfg)
    }

    /// Parses and checks a configuration text.
    pub fn parse(text: &str, json: bool) -> Result<Self, String> {
        let cfg: Self = if json {
            serde_json::from_str(text).map_err(|e| format!("line {}: {e}", e.line()))?
        } else {
            toml::from_str(text).map_err(|e| toml_message(text, &e))?
        };
        cfg.check()?;
        Ok(cfg)
    }

    fn check(&self) -> Result<(), String> {
        let l = &self.limits;
        if !(MIN_TOKEN_LIFETIME..=MAX_TOKEN_LIFETIME).contains(&l.max_token_lifetime_seconds) {
            return Err(format!(
                "limits.max_token_lifetime_seconds must be between {MIN_TOKEN_LIFETIME} and {MAX_TOKEN_LIFETIME}"
            ));
        }
        if !(MIN_TOKEN_LIFETIME..=MAX_SCIM_TOKEN_LIFETIME)
            .contains(&l.max_scim_token_lifetime_seconds)
        {
            return Err(format!(
                "limits.max_scim_token_lifetime_seconds must be between {MIN_TOKEN_LIFETIME} and {MAX_SCIM_TOKEN_LIFETIME}"
            ));
        }
        if let Some(p) = &self.audit.default_profile
            && !self.profiles.contains_key(p)
        {
            return Err(format!("audit.default_profile: no profile named {p:?}"));
        }
        for (name, p) in &self.profiles {
            for perm in &p.permissions {
                if perm.trim().is_empty() || perm.split(':').any(|s| s.is_empty()) {
                    return Err(format!(
                        "profiles.{name}.permissions: {perm:?} is not a `domain:entity:action` pattern"
                    ));
                }
            }
        }
        if let Some(SinkConfig::Vault { path, .. }) = &self.sink
            && path.trim_matches('/').is_empty()
        {
            return Err("sink.path must not be empty".into());
        }
        Ok(())
    }

    pub fn profile(&self, name: &str) -> Option<&Profile> {
        self.profiles.get(name)
    }
}

/// A TOML error as "line N: message".
pub(crate) fn toml_message(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {}", e.message())
        }
        None => e.message().to_string(),
    }
}
