//! Emulator configuration: listen address, seed data, rate limit, admin credentials, faults.

use std::net::SocketAddr;
use std::path::Path;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::EmulatorError;

/// Everything needed to start an emulator. `Default` listens on an ephemeral loopback port with
/// the real default rate limit (300 requests a minute per token) and random admin credentials.
/// `Debug` redacts the admin secret.
#[derive(Clone)]
pub struct EmulatorConfig {
    /// Address to bind; `127.0.0.1:0` picks a free port.
    pub listen: SocketAddr,
    /// Initial org content; `None` gives an org with a home division, an admin role and two queues.
    pub seed: Option<Seed>,
    /// Requests per token per minute (a one-minute window per token opening at its first request,
    /// on the emulator clock); `None` = off.
    pub rate_limit_per_minute: Option<u32>,
    /// OAuth client (client credentials) holding every permission.
    pub admin_client_id: String,
    pub admin_client_secret: String,
    /// Fault injection, changeable at run time with `PUT /emulator/faults`.
    pub faults: FaultConfig,
    /// Extra generated users (for benchmarks and large-org tests).
    pub generate_users: usize,
    /// Seed of every random choice that must be reproducible (generated users, faults).
    pub rng_seed: u64,
    /// Maximum request body (`request.bytes.max`).
    pub max_request_bytes: usize,
}

impl std::fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorConfig")
            .field("listen", &self.listen)
            .field("seed", &self.seed)
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .field("admin_client_id", &self.admin_client_id)
            .field("admin_client_secret", &"[redacted]")
            .field("faults", &self.faults)
            .field("generate_users", &self.generate_users)
            .field("rng_seed", &self.rng_seed)
            .field("max_request_bytes", &self.max_request_bytes)
            .finish()
    }
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: None,
            rate_limit_per_minute: Some(300),
            admin_client_id: uuid::Uuid::new_v4().to_string(),
            admin_client_secret: random_secret(),
            faults: FaultConfig::default(),
            generate_users: 0,
            rng_seed: 42,
            max_request_bytes: 512_000,
        }
    }
}

/// A random 43-character URL-safe secret, like the ones Genesys generates.
pub fn random_secret() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Fault injection. Every fault is bounded by `maxFaults` (total injected faults; `None` =
/// unbounded) and decided by a generator seeded with `seed`, so a run is reproducible.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct FaultConfig {
    /// Seed of the fault generator (default: the emulator's `rng_seed`).
    pub seed: Option<u64>,
    /// Probability (0..=1) that a request gets a 5xx `ErrorBody` instead of being served.
    pub error_probability: f64,
    /// Statuses to choose from for injected errors (default 500, 502, 503, 504).
    pub error_statuses: Vec<u16>,
    /// Latency added to a request, in milliseconds.
    pub latency_ms: u64,
    /// Probability (0..=1) that the latency is added (default 1 when `latencyMs` > 0).
    pub latency_probability: Option<f64>,
    /// Probability (0..=1) that the connection is closed without a response.
    pub drop_probability: f64,
    /// The next `requests` API requests get a 429 with `Retry-After: retryAfterSeconds`.
    pub rate_limit_storm: Option<RateLimitStorm>,
    /// Token revocation: after this many further login/API requests every issued token is
    /// revoked (once), so the request that reaches the count and later ones get 401 until the
    /// client logs in again.
    pub revoke_tokens_after_requests: Option<u64>,
    /// Upper bound on the number of injected faults (errors, drops, storm 429s, latencies).
    pub max_faults: Option<u64>,
    /// Only requests whose route template starts with one of these (e.g. `/api/v2/users`)
    /// are affected; empty = every login and API route.
    pub routes: Vec<String>,
}

/// A burst of 429s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimitStorm {
    pub requests: u64,
    #[serde(default = "one")]
    pub retry_after_seconds: u64,
}

fn one() -> u64 {
    1
}

impl FaultConfig {
    /// Parse a fault file: TOML when the name ends in `.toml`, JSON otherwise.
    pub fn from_path(path: &Path) -> Result<Self, EmulatorError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| EmulatorError::Io(format!("{}: {e}", path.display())))?;
        let parsed = if path.extension().is_some_and(|e| e == "toml") {
            toml::from_str(&text)
                .map_err(|e| EmulatorError::Config(format!("{}: {e}", path.display())))
        } else {
            serde_json::from_str(&text).map_err(|e| {
                EmulatorError::Config(format!("{}: line {}: {e}", path.display(), e.line()))
            })
        }?;
        Self::validate(&parsed)?;
        Ok(parsed)
    }

    /// Check probabilities and statuses.
    pub fn validate(&self) -> Result<(), EmulatorError> {
        for (name, p) in [
            ("errorProbability", self.error_probability),
            ("dropProbability", self.drop_probability),
            (
                "latencyProbability",
                self.latency_probability.unwrap_or(0.0),
            ),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(EmulatorError::Config(format!(
                    "{name} must be between 0 and 1"
                )));
            }
        }
        if let Some(s) = self
            .error_statuses
            .iter()
            .find(|s| !(500..=599).contains(*s))
        {
            return Err(EmulatorError::Config(format!(
                "errorStatuses: {s} is not a 5xx status"
            )));
        }
        if self.latency_ms > 60_000 {
            return Err(EmulatorError::Config(
                "latencyMs must be at most 60000".into(),
            ));
        }
        Ok(())
    }
}

/// Seed data: the org the emulator starts with. See docs/emulator-seed.md.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Seed {
    pub org_name: Option<String>,
    pub divisions: Vec<SeedDivision>,
    pub roles: Vec<SeedRole>,
    pub skills: Vec<SeedNamed>,
    pub languages: Vec<SeedNamed>,
    pub queues: Vec<SeedQueue>,
    pub groups: Vec<SeedGroup>,
    pub users: Vec<SeedUser>,
    pub oauth_clients: Vec<SeedClient>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct SeedDivision {
    pub id: Option<uuid::Uuid>,
    pub name: String,
    pub description: Option<String>,
    pub home: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct SeedRole {
    pub id: Option<uuid::Uuid>,
    pub name: String,
    pub description: Option<String>,
    pub permissions: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct SeedNamed {
    pub id: Option<uuid::Uuid>,
    pub name: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct SeedQueue {
    pub id: Option<uuid::Uuid>,
    pub name: String,
    pub division: Option<String>,
    /// Member emails.
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct SeedGroup {
    pub id: Option<uuid::Uuid>,
    pub name: String,
    pub description: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub visibility: String,
    pub roles_enabled: bool,
    /// Member emails.
    pub members: Vec<String>,
}

impl Default for SeedGroup {
    fn default() -> Self {
        Self {
            id: None,
            name: String::new(),
            description: None,
            kind: "official".into(),
            visibility: "public".into(),
            roles_enabled: true,
            members: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct SeedUser {
    pub id: Option<uuid::Uuid>,
    pub name: String,
    pub email: String,
    pub department: Option<String>,
    pub title: Option<String>,
    /// `active` (default), `inactive` or `deleted`.
    pub state: String,
    /// Division name (default: the home division).
    pub division: Option<String>,
    /// Role names, granted in the home division.
    pub roles: Vec<String>,
    pub skills: Vec<SeedProficiency>,
    pub languages: Vec<SeedProficiency>,
    pub external_ids: Vec<SeedExternalId>,
    /// Manager's email.
    pub manager: Option<String>,
    pub employee_id: Option<String>,
}

impl Default for SeedUser {
    fn default() -> Self {
        Self {
            id: None,
            name: String::new(),
            email: String::new(),
            department: None,
            title: None,
            state: "active".into(),
            division: None,
            roles: Vec::new(),
            skills: Vec::new(),
            languages: Vec::new(),
            external_ids: Vec::new(),
            manager: None,
            employee_id: None,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct SeedProficiency {
    pub name: String,
    pub proficiency: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct SeedExternalId {
    pub authority: String,
    pub key: String,
}

/// An OAuth client of the seed. `Debug` redacts the secret.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct SeedClient {
    pub id: Option<String>,
    pub name: String,
    pub secret: String,
    pub description: Option<String>,
    pub authorized_grant_type: String,
    /// Role names, granted in the home division.
    pub roles: Vec<String>,
    pub access_token_validity_seconds: Option<u32>,
    pub state: String,
}

impl std::fmt::Debug for SeedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeedClient")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("secret", &"[redacted]")
            .field("authorized_grant_type", &self.authorized_grant_type)
            .field("roles", &self.roles)
            .field(
                "access_token_validity_seconds",
                &self.access_token_validity_seconds,
            )
            .field("state", &self.state)
            .finish()
    }
}

impl Default for SeedClient {
    fn default() -> Self {
        Self {
            id: None,
            name: String::new(),
            secret: String::new(),
            description: None,
            authorized_grant_type: "CLIENT-CREDENTIALS".into(),
            roles: Vec::new(),
            access_token_validity_seconds: None,
            state: "active".into(),
        }
    }
}

impl Seed {
    /// Parse a seed file: TOML when the name ends in `.toml`, JSON otherwise. Errors name the file
    /// and, for JSON, the line.
    pub fn from_path(path: &Path) -> Result<Self, EmulatorError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| EmulatorError::Io(format!("{}: {e}", path.display())))?;
        if path.extension().is_some_and(|e| e == "toml") {
            Self::from_toml_str(&text).map_err(|e| prefix(path, e))
        } else {
            Self::from_json_str(&text).map_err(|e| prefix(path, e))
        }
    }

    pub fn from_json_str(text: &str) -> Result<Self, EmulatorError> {
        serde_json::from_str(text)
            .map_err(|e| EmulatorError::Config(format!("line {}: {e}", e.line())))
    }

    pub fn from_toml_str(text: &str) -> Result<Self, EmulatorError> {
        toml::from_str(text).map_err(|e| EmulatorError::Config(e.to_string()))
    }
}

fn prefix(path: &Path, e: EmulatorError) -> EmulatorError {
    match e {
        EmulatorError::Config(m) => EmulatorError::Config(format!("{}: {m}", path.display())),
        other => other,
    }
}
