//! The gateway configuration file (TOML), loaded by `gcprov serve --config FILE`.
//!
//! Every table is optional except `[store]`; unknown keys are rejected so a typo never silently
//! disables a setting. Errors name the file and the line.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::auth::Role;

/// A configuration error naming the file and (when known) the line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}: {message}")]
    Parse {
        file: String,
        line: usize,
        message: String,
    },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
}

/// `mode`: whether accepted changes are sent to Genesys Cloud or only recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Live,
    /// Everything runs except the Genesys writes, which are audited instead of sent.
    Shadow,
}

/// `users.on_conflict`: a create for a userName that already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnConflict {
    /// 409 `uniqueness` (RFC 7644 3.3).
    #[default]
    Reject,
    /// Link the existing user and apply the request to it.
    Adopt,
}

/// `users.on_delete` / `users.on_disable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnDelete {
    /// Set the Genesys user inactive (keeps history, licences freed by Genesys later).
    #[default]
    Deactivate,
    /// Delete the Genesys user (a soft delete in Genesys Cloud; restorable).
    Delete,
}

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Address to listen on, e.g. `127.0.0.1:8080`.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Public base URL used in `meta.location` (default: `http://{listen}`).
    #[serde(default)]
    pub public_url: Option<String>,
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    #[serde(default)]
    pub genesys: GenesysConfig,
    pub store: StoreConfig,
    /// Policy file (see docs/policy.md); none = accept everything.
    #[serde(default)]
    pub policy: Option<PathBuf>,
    /// Group mapping: `mapping = "mapping.toml"` or a `[mapping]` table (see
    /// [`MappingConfig`] and examples/gateway/demo-mapping.toml).
    #[serde(default, deserialize_with = "mapping_setting")]
    pub mapping: MappingConfig,
    #[serde(default)]
    pub callers: CallersConfig,
    #[serde(default)]
    pub users: UsersConfig,
    #[serde(default)]
    pub groups: GroupsConfig,
    #[serde(default)]
    pub normalize: NormalizeConfig,
    #[serde(default)]
    pub queue: QueueConfig,
    #[serde(default)]
    pub sync: SyncConfig,
    #[serde(default)]
    pub bulk: BulkConfig,
    #[serde(default)]
    pub paging: PagingConfig,
    #[serde(default)]
    pub idempotency: IdempotencyConfig,
    #[serde(default)]
    pub readiness: ReadinessConfig,
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}

/// `[mapping]`: the group mapping file and when it is applied.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingConfig {
    /// The mapping file (IdP group -> roles, skills, languages, queues); none = no mapping.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// At every full sync (start and schedule), grant what the mapping owes the active
    /// members of mapped groups and they do not hold (memberships made before gcprov ran or
    /// changed in the Genesys admin UI). Audited as `mapping.sync`.
    #[serde(default = "yes")]
    pub apply_on_sync: bool,
}

impl Default for MappingConfig {
    fn default() -> Self {
        Self {
            file: None,
            apply_on_sync: true,
        }
    }
}

/// `mapping = "file.toml"` (the short form) or a `[mapping]` table.
fn mapping_setting<'de, D: serde::Deserializer<'de>>(d: D) -> Result<MappingConfig, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Setting {
        File(PathBuf),
        Table(MappingConfig),
    }
    Ok(match Setting::deserialize(d)? {
        Setting::File(f) => MappingConfig {
            file: Some(f),
            ..Default::default()
        },
        Setting::Table(t) => t,
    })
}

/// `groups.on_delete`: what an IdP DELETE of a group does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupOnDelete {
    /// Delete the Genesys group (and revoke its members' mapped grants).
    #[default]
    Delete,
    /// Leave the Genesys group and its members in place; forget the IdP's link to it (identity
    /// map, read model) and revoke its members' mapped grants. For groups also used by hand.
    Unlink,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Genesys connection; absent values come from `GENESYS_*` environment variables.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesysConfig {
    pub api_url: Option<String>,
    pub client_id: Option<String>,
    /// Name of the environment variable holding the client secret (never the secret itself).
    pub client_secret_env: Option<String>,
    pub rate_limit_per_minute: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://path/to/gcprov.db` or `postgres://...`.
    pub url: String,
    /// SQLite only: `"full"` (default) fsyncs every commit before the IdP gets its answer, so an
    /// acknowledged change survives power loss; `"normal"` relies on the WAL: an acknowledged
    /// change survives a gcprov crash (SIGKILL) but the last commits may be lost if the machine
    /// itself crashes. The audit chain stays intact either way.
    #[serde(default)]
    pub sqlite_synchronous: SqliteSynchronous,
}

/// `store.sqlite_synchronous`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    #[default]
    Full,
    Normal,
}

impl SqliteSynchronous {
    pub fn durability(self) -> gcprov_store::SqliteDurability {
        match self {
            SqliteSynchronous::Full => gcprov_store::SqliteDurability::Full,
            SqliteSynchronous::Normal => gcprov_store::SqliteDurability::Normal,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallersConfig {
    #[serde(default)]
    pub tokens: Vec<StaticToken>,
    #[serde(default)]
    pub jwt: Option<JwtConfig>,
}

/// A static bearer token, stored as the hex SHA-256 of the token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticToken {
    pub name: String,
    pub role: Role,
    pub sha256: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    pub issuer: String,
    pub audience: String,
    /// Accepted algorithms, e.g. `["RS256"]`.
    #[serde(default = "default_algs")]
    pub algorithms: Vec<String>,
    pub jwks_file: Option<PathBuf>,
    pub jwks_url: Option<String>,
    /// Role of JWT callers when the token carries no `role_claim`.
    #[serde(default = "default_jwt_role")]
    pub role: Role,
    /// Claim holding `reader`/`provisioner`/`admin` (a string or an array of strings).
    pub role_claim: Option<String>,
    /// Allowed clock skew in seconds.
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    /// Seconds between scheduled refreshes of `jwks_url` (a `Cache-Control: max-age` in the
    /// response takes precedence within 60 s..24 h). At least 30.
    #[serde(default = "default_jwks_refresh")]
    pub jwks_refresh_seconds: u64,
}

fn default_jwks_refresh() -> u64 {
    600
}

fn default_algs() -> Vec<String> {
    vec!["RS256".into()]
}
fn default_jwt_role() -> Role {
    Role::Provisioner
}
fn default_leeway() -> u64 {
    60
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersConfig {
    #[serde(default)]
    pub on_conflict: OnConflict,
    #[serde(default)]
    pub on_delete: OnDelete,
    /// What `active: false` does (default: deactivate, which IdPs expect).
    #[serde(default)]
    pub on_disable: OnDelete,
    /// Restore a soft-deleted Genesys user with the same userName instead of creating one.
    #[serde(default = "yes")]
    pub restore_deleted: bool,
    /// Genesys userNames are email addresses. With a domain here, an IdP userName without
    /// `@` (e.g. `jdoe`) is `jdoe@DOMAIN` in Genesys and `jdoe` again towards the IdP.
    #[serde(default)]
    pub user_name_domain: Option<String>,
    /// Advertise `roles`, enterprise `division` and the Genesys extension's
    /// `routingSkills`/`routingLanguages` in /Schemas (their values must name things that
    /// exist in the org; set false when they come from the mapping file only).
    #[serde(default = "yes")]
    pub advertise_org_references: bool,
}

impl Default for UsersConfig {
    fn default() -> Self {
        Self {
            on_conflict: OnConflict::Reject,
            on_delete: OnDelete::Deactivate,
            on_disable: OnDelete::Deactivate,
            restore_deleted: true,
            user_name_domain: None,
            advertise_org_references: true,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupsConfig {
    /// Create a Genesys group for an IdP group that has none.
    #[serde(default)]
    pub create_missing: bool,
    /// What an IdP DELETE of a group does: `delete` (default) or `unlink`.
    #[serde(default)]
    pub on_delete: GroupOnDelete,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NormalizeConfig {
    #[serde(default = "yes")]
    pub trim: bool,
    #[serde(default = "yes")]
    pub lowercase_user_name: bool,
    #[serde(default = "yes")]
    pub lowercase_emails: bool,
    #[serde(default = "yes")]
    pub unicode_nfc: bool,
    /// Coerce `"True"`/`"False"` and numeric strings to the schema type.
    #[serde(default = "yes")]
    pub coerce_types: bool,
}

impl Default for NormalizeConfig {
    fn default() -> Self {
        Self {
            trim: true,
            lowercase_user_name: true,
            lowercase_emails: true,
            unicode_nfc: true,
            coerce_types: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Writes that may wait for the Genesys rate budget; beyond this: 429 with Retry-After.
    #[serde(default = "default_queue")]
    pub max_pending: usize,
    /// Writes sent to Genesys at the same time.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Retry-After (seconds) given with a 429.
    #[serde(default = "default_retry_after")]
    pub retry_after_seconds: u64,
}

fn default_queue() -> usize {
    256
}
fn default_concurrency() -> usize {
    4
}
fn default_retry_after() -> u64 {
    5
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            max_pending: default_queue(),
            concurrency: default_concurrency(),
            retry_after_seconds: default_retry_after(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    /// Seconds between full syncs of the read model (0 = only at start).
    #[serde(default = "default_sync")]
    pub interval_seconds: u64,
}

fn default_sync() -> u64 {
    900
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            interval_seconds: default_sync(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkConfig {
    #[serde(default = "default_bulk_ops")]
    pub max_operations: u32,
    #[serde(default = "default_bulk_bytes")]
    pub max_payload_bytes: u64,
}

fn default_bulk_ops() -> u32 {
    100
}
fn default_bulk_bytes() -> u64 {
    1_048_576
}

impl Default for BulkConfig {
    fn default() -> Self {
        Self {
            max_operations: default_bulk_ops(),
            max_payload_bytes: default_bulk_bytes(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagingConfig {
    #[serde(default = "default_count")]
    pub default_count: usize,
    #[serde(default = "max_count")]
    pub max_count: usize,
}

fn default_count() -> usize {
    100
}
fn max_count() -> usize {
    1000
}

impl Default for PagingConfig {
    fn default() -> Self {
        Self {
            default_count: default_count(),
            max_count: max_count(),
        }
    }
}

/// `[idempotency]`: the `Idempotency-Key` request header (draft-ietf-httpapi-idempotency-key-header).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdempotencyConfig {
    /// Honour `Idempotency-Key` on POST, PUT, PATCH, DELETE and `/Bulk`.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// How long a stored response is replayed for its key (default 24 h).
    #[serde(default = "default_idem_ttl")]
    pub ttl_seconds: u64,
    /// How often expired keys are deleted from the store (0 = never).
    #[serde(default = "default_idem_purge")]
    pub purge_interval_seconds: u64,
    /// `Retry-After` of the 409 answered while the first request with a key is in flight.
    #[serde(default = "default_idem_retry")]
    pub in_flight_retry_after_seconds: u64,
    /// Lease of a key's in-flight claim in the store (default 60 s): a running request renews
    /// it every third of the lease; when a replica dies mid-request, its keys are free again
    /// (a retry runs) at most this long after its last renewal.
    #[serde(default = "default_idem_lease")]
    pub in_flight_lease_seconds: u64,
}

fn default_idem_ttl() -> u64 {
    86_400
}
fn default_idem_purge() -> u64 {
    3_600
}
fn default_idem_retry() -> u64 {
    1
}
fn default_idem_lease() -> u64 {
    60
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            ttl_seconds: default_idem_ttl(),
            purge_interval_seconds: default_idem_purge(),
            in_flight_retry_after_seconds: default_idem_retry(),
            in_flight_lease_seconds: default_idem_lease(),
        }
    }
}

/// `[readiness]`: how `/readyz` decides that Genesys Cloud is reachable.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadinessConfig {
    /// Genesys counts as reachable when any call succeeded within this many seconds; otherwise
    /// `/readyz` makes one live call (`GET /api/v2/authorization/divisions/home`).
    #[serde(default = "default_fresh")]
    pub genesys_fresh_seconds: u64,
    /// A failed live check is answered again for this many seconds without a new call
    /// (0 = every probe after a failure checks again).
    #[serde(default = "default_failure_cache")]
    pub failure_cache_seconds: u64,
    /// Time limit of the live check (its retries included).
    #[serde(default = "default_probe_timeout")]
    pub probe_timeout_seconds: u64,
}

fn default_fresh() -> u64 {
    30
}
fn default_failure_cache() -> u64 {
    5
}
fn default_probe_timeout() -> u64 {
    5
}

impl Default for ReadinessConfig {
    fn default() -> Self {
        Self {
            genesys_fresh_seconds: default_fresh(),
            failure_cache_seconds: default_failure_cache(),
            probe_timeout_seconds: default_probe_timeout(),
        }
    }
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len()))
        .map(|s| s.bytes().filter(|b| *b == b'\n').count() + 1)
        .unwrap_or(1)
}

impl GatewayConfig {
    /// Reads and validates a config file. Relative paths inside it are resolved against the
    /// file's directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            file: file.clone(),
            source,
        })?;
        let mut cfg = Self::from_toml(&text, &file)?;
        if let Some(dir) = path.parent() {
            cfg.resolve_paths(dir);
        }
        Ok(cfg)
    }

    /// Parses TOML text; `file` names the source in errors.
    pub fn from_toml(text: &str, file: &str) -> Result<Self, ConfigError> {
        let cfg: GatewayConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            file: file.to_string(),
            line: e.span().map(|s| line_of(text, s.start)).unwrap_or(1),
            message: e.message().to_string(),
        })?;
        cfg.validate(text, file)?;
        Ok(cfg)
    }

    fn validate(&self, text: &str, file: &str) -> Result<(), ConfigError> {
        let at =
            |needle: &str| -> usize { text.find(needle).map(|o| line_of(text, o)).unwrap_or(1) };
        for t in &self.callers.tokens {
            let ok = t.sha256.len() == 64 && t.sha256.bytes().all(|b| b.is_ascii_hexdigit());
            if !ok {
                return Err(ConfigError::Parse {
                    file: file.into(),
                    line: at(&t.sha256),
                    message: format!(
                        "callers.tokens '{}': sha256 must be 64 hex digits (use `gcprov token create`)",
                        t.name
                    ),
                });
            }
        }
        if let Some(j) = &self.callers.jwt {
            if j.jwks_file.is_none() && j.jwks_url.is_none() {
                return Err(ConfigError::Parse {
                    file: file.into(),
                    line: at("[callers.jwt]"),
                    message: "callers.jwt needs jwks_file or jwks_url".into(),
                });
            }
            if j.jwks_refresh_seconds < 30 {
                return Err(ConfigError::Parse {
                    file: file.into(),
                    line: at("jwks_refresh_seconds"),
                    message: "callers.jwt.jwks_refresh_seconds must be at least 30".into(),
                });
            }
            for a in &j.algorithms {
                if crate::auth::parse_alg(a).is_none() {
                    return Err(ConfigError::Parse {
                        file: file.into(),
                        line: at(a),
                        message: format!("callers.jwt: unknown or unsafe algorithm '{a}'"),
                    });
                }
            }
        }
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError::Parse {
                file: file.into(),
                line: at("listen"),
                message: format!(
                    "listen: '{}' is not an address like 127.0.0.1:8080",
                    self.listen
                ),
            });
        }
        if self.idempotency.ttl_seconds == 0 {
            return Err(ConfigError::Parse {
                file: file.into(),
                line: at("ttl_seconds"),
                message: "idempotency.ttl_seconds must be at least 1".into(),
            });
        }
        if self.idempotency.in_flight_lease_seconds == 0 {
            return Err(ConfigError::Parse {
                file: file.into(),
                line: at("in_flight_lease_seconds"),
                message: "idempotency.in_flight_lease_seconds must be at least 1".into(),
            });
        }
        if self.readiness.probe_timeout_seconds == 0 {
            return Err(ConfigError::Parse {
                file: file.into(),
                line: at("probe_timeout_seconds"),
                message: "readiness.probe_timeout_seconds must be at least 1".into(),
            });
        }
        if self.queue.concurrency == 0 {
            return Err(ConfigError::Invalid {
                file: file.into(),
                message: "queue.concurrency must be at least 1".into(),
            });
        }
        Ok(())
    }

    fn resolve_paths(&mut self, dir: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        };
        if let Some(p) = self.policy.as_mut() {
            fix(p);
        }
        if let Some(p) = self.mapping.file.as_mut() {
            fix(p);
        }
        if let Some(t) = self.tls.as_mut() {
            fix(&mut t.cert);
            fix(&mut t.key);
        }
        if let Some(j) = self.callers.jwt.as_mut()
            && let Some(p) = j.jwks_file.as_mut()
        {
            fix(p);
        }
    }

    /// A minimal config for an in-process gateway (tests, demo).
    pub fn minimal(store_url: &str) -> Self {
        Self {
            listen: "127.0.0.1:0".into(),
            public_url: None,
            mode: Mode::Live,
            tls: None,
            genesys: GenesysConfig::default(),
            store: StoreConfig {
                url: store_url.into(),
                sqlite_synchronous: SqliteSynchronous::Full,
            },
            policy: None,
            mapping: MappingConfig::default(),
            callers: CallersConfig::default(),
            users: UsersConfig::default(),
            groups: GroupsConfig::default(),
            normalize: NormalizeConfig::default(),
            queue: QueueConfig::default(),
            sync: SyncConfig::default(),
            bulk: BulkConfig::default(),
            paging: PagingConfig::default(),
            idempotency: IdempotencyConfig::default(),
            readiness: ReadinessConfig::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_file_and_line() {
        let text = "listen = \"127.0.0.1:1\"\n[store]\nurl = \"sqlite::memory:\"\n[users]\non_conflict = \"merge\"\n";
        let e = GatewayConfig::from_toml(text, "gw.toml")
            .err()
            .map(|e| e.to_string());
        let e = e.unwrap_or_default();
        assert!(e.starts_with("gw.toml:5:"), "{e}");
    }

    #[test]
    fn init_template_parses_with_its_documented_values() {
        let text = include_str!("../../../examples/gateway/gcprov.toml");
        let cfg = GatewayConfig::from_toml(text, "gcprov.toml");
        let cfg = match cfg {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        assert!(cfg.idempotency.enabled);
        assert_eq!(cfg.idempotency.ttl_seconds, 86_400);
        assert_eq!(cfg.idempotency.in_flight_lease_seconds, 60);
        assert_eq!(cfg.readiness.genesys_fresh_seconds, 30);
    }

    #[test]
    fn zero_idempotency_ttl_is_refused_with_its_line() {
        let text = "[store]\nurl = \"sqlite::memory:\"\n[idempotency]\nttl_seconds = 0\n";
        let e = GatewayConfig::from_toml(text, "gw.toml")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.starts_with("gw.toml:4:"), "{e}");
    }

    #[test]
    fn sqlite_synchronous_defaults_to_full_and_rejects_unknown_values() {
        let parse = |extra: &str| {
            GatewayConfig::from_toml(
                &format!("[store]\nurl = \"sqlite::memory:\"\n{extra}"),
                "gw.toml",
            )
        };
        let full = parse("").map(|c| c.store.sqlite_synchronous.durability());
        assert!(matches!(full, Ok(gcprov_store::SqliteDurability::Full)));
        let normal = parse("sqlite_synchronous = \"normal\"\n")
            .map(|c| c.store.sqlite_synchronous.durability());
        assert!(matches!(normal, Ok(gcprov_store::SqliteDurability::Normal)));
        let bad = parse("sqlite_synchronous = \"off\"\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(bad.contains("gw.toml:3"), "{bad}");
    }

    #[test]
    fn zero_idempotency_lease_is_refused_with_its_line() {
        let text =
            "[store]\nurl = \"sqlite::memory:\"\n[idempotency]\nin_flight_lease_seconds = 0\n";
        let e = GatewayConfig::from_toml(text, "gw.toml")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.starts_with("gw.toml:4:"), "{e}");
        assert!(e.contains("in_flight_lease_seconds"), "{e}");
    }

    #[test]
    fn minimal_file_parses() {
        let cfg = GatewayConfig::from_toml("[store]\nurl = \"sqlite::memory:\"\n", "x.toml");
        assert!(cfg.is_ok());
    }

    #[test]
    fn mapping_short_and_table_forms() {
        let short = GatewayConfig::from_toml(
            "mapping = \"m.toml\"\n[store]\nurl = \"sqlite::memory:\"\n",
            "x.toml",
        )
        .map(|c| c.mapping);
        assert!(
            matches!(&short, Ok(m) if m.file.as_deref() == Some(Path::new("m.toml")) && m.apply_on_sync),
            "{short:?}"
        );
        let table = GatewayConfig::from_toml(
            "[store]\nurl = \"sqlite::memory:\"\n[mapping]\nfile = \"m.toml\"\napply_on_sync = false\n",
            "x.toml",
        )
        .map(|c| c.mapping);
        assert!(
            matches!(&table, Ok(m) if m.file.is_some() && !m.apply_on_sync),
            "{table:?}"
        );
        let groups = GatewayConfig::from_toml(
            "[store]\nurl = \"sqlite::memory:\"\n[groups]\non_delete = \"unlink\"\n",
            "x.toml",
        )
        .map(|c| c.groups.on_delete);
        assert!(matches!(groups, Ok(GroupOnDelete::Unlink)));
        let jwt = |secs: u64| {
            GatewayConfig::from_toml(
                &format!(
                    "[store]\nurl = \"sqlite::memory:\"\n[callers.jwt]\nissuer = \"i\"\naudience = \"a\"\n\
                     jwks_url = \"http://127.0.0.1:9/keys\"\njwks_refresh_seconds = {secs}\n"
                ),
                "x.toml",
            )
        };
        assert!(jwt(29).is_err_and(|e| e.to_string().contains("jwks_refresh_seconds")));
        assert!(jwt(30).is_ok_and(|c| c.callers.jwt.is_some_and(|j| j.jwks_refresh_seconds == 30)));
        let bad = GatewayConfig::from_toml(
            "[store]\nurl = \"sqlite::memory:\"\n[groups]\non_delete = \"purge\"\n",
            "x.toml",
        );
        assert!(bad.is_err());
    }

    #[test]
    fn the_init_config_parses() {
        let text = include_str!("../../../examples/gateway/gcprov.toml");
        let cfg = GatewayConfig::from_toml(text, "gcprov.toml").map(|c| c.mapping);
        assert!(
            matches!(&cfg, Ok(m) if m.file.as_deref() == Some(Path::new("mapping.toml")) && m.apply_on_sync),
            "{cfg:?}"
        );
    }
}
