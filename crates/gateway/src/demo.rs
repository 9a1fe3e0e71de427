//! `gcprov serve --demo`: the gateway on an in-process emulator with a small seeded org, a
//! SQLite store in a local data directory, and the demo policy and mapping from
//! `examples/gateway/`.

use std::path::PathBuf;

use gcprov_emulator::{Emulator, EmulatorConfig, EmulatorHandle, Seed};
use gcprov_genesys::{ClientConfig, SecretString};
use gcprov_policy::Policy;
use gcprov_store::{Store, StoreOptions};

use crate::auth::{Authenticator, Role, hash_token};
use crate::config::GatewayConfig;
use crate::mapping::Mapping;
use crate::{Gateway, GatewayError, StartOptions};

/// The demo org (emulator seed format, docs/emulator-seed.md).
pub const DEMO_SEED: &str = include_str!("../../../examples/gateway/demo-seed.json");
/// The demo policy.
pub const DEMO_POLICY: &str = include_str!("../../../examples/gateway/demo-policy.toml");
/// The demo group mapping.
pub const DEMO_MAPPING: &str = include_str!("../../../examples/gateway/demo-mapping.toml");

/// Options of the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub data_dir: PathBuf,
    pub listen: String,
    /// The bearer token (role admin); random when `None`.
    pub token: Option<String>,
    /// Emulator rate limit per minute (`None` = off, so compliance runs finish quickly).
    pub rate_limit_per_minute: Option<u32>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data-demo"),
            listen: "127.0.0.1:8080".into(),
            token: None,
            rate_limit_per_minute: None,
        }
    }
}

/// A running demo: the emulator and the gateway in front of it.
pub struct Demo {
    pub gateway: Gateway,
    pub emulator: EmulatorHandle,
    /// The bearer token to give the IdP (printed once by the CLI).
    pub token: String,
}

impl std::fmt::Debug for Demo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Demo")
            .field("gateway", &self.gateway)
            .finish_non_exhaustive()
    }
}

/// Starts the demo. The data directory is created when missing; its store is reused.
pub async fn start(opts: DemoOptions) -> Result<Demo, GatewayError> {
    let seed = Seed::from_json_str(DEMO_SEED)
        .map_err(|e| GatewayError::Demo(format!("demo seed: {e}")))?;
    let emulator = Emulator::start(EmulatorConfig {
        seed: Some(seed),
        rate_limit_per_minute: opts.rate_limit_per_minute,
        ..Default::default()
    })
    .await
    .map_err(|e| GatewayError::Demo(format!("emulator: {e}")))?;
    std::fs::create_dir_all(&opts.data_dir)
        .map_err(|e| GatewayError::Demo(format!("{}: {e}", opts.data_dir.display())))?;
    let store_opts = StoreOptions::sqlite_in_dir(&opts.data_dir);
    let url = store_opts.url.clone();
    let store = Store::open(store_opts)
        .await
        .map_err(|source| GatewayError::Store { url, source })?;
    let token = opts
        .token
        .clone()
        .unwrap_or_else(crate::auth::generate_token);
    let auth = Authenticator::with_tokens(&[("demo".into(), Role::Admin, hash_token(&token))]);
    let api = url::Url::parse(&emulator.base_url())
        .map_err(|e| GatewayError::Demo(format!("emulator URL: {e}")))?;
    let mut gcfg = ClientConfig::with_api_base(
        api,
        emulator.admin_client_id().to_string(),
        SecretString::from(emulator.admin_client_secret().to_string()),
    );
    gcfg.rate_limit_per_minute = opts.rate_limit_per_minute;
    let mut cfg = GatewayConfig::minimal("sqlite://demo");
    cfg.listen = opts.listen.clone();
    cfg.users.on_delete = crate::config::OnDelete::Delete;
    cfg.groups.create_missing = true;
    // Compliance checkers send random non-email userNames.
    cfg.users.user_name_domain = Some("users.demo.example".into());
    // Roles, divisions and routing come from the demo mapping; their names must exist in the
    // org, which a generic compliance checker cannot know.
    cfg.users.advertise_org_references = false;
    let policy = Policy::from_toml(DEMO_POLICY, "examples/gateway/demo-policy.toml")?;
    let mapping = Mapping::from_toml(DEMO_MAPPING, "examples/gateway/demo-mapping.toml")?;
    let gateway = Gateway::start(
        cfg,
        StartOptions {
            genesys: Some(gcfg),
            authenticator: Some(auth),
            policy: Some(policy),
            mapping: Some(mapping),
            store: Some(store),
        },
    )
    .await?;
    Ok(Demo {
        gateway,
        emulator,
        token,
    })
}

impl Demo {
    pub async fn shutdown(self) {
        self.gateway.shutdown().await;
        self.emulator.shutdown().await;
    }
}
