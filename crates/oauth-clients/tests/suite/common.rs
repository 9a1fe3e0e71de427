//! Shared fixtures: a seeded emulator, a governor with a SQLite store, a Vault KV v2 receiver.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use gcprov_emulator::{
    Emulator, EmulatorConfig, EmulatorHandle, Seed, SeedClient, SeedDivision, SeedRole,
};
use gcprov_genesys::{ClientConfig, GenesysClient, SecretString};
use gcprov_oauth_clients::{ClientSpec, GovernanceConfig, Governor, RoleSpec, VaultKvSink};
use gcprov_store::{Store, StoreOptions};
use parking_lot::Mutex;
use serde_json::{Value, json};

pub const CONFIG: &str = r#"
[limits]
max_scopes = 3

[audit]
default_profile = "reporting"

[profiles.reporting]
description = "Reads analytics, writes nothing"
scopes = ["analytics:readonly", "users"]
permissions = ["analytics:*:view"]

[profiles.directory]
scopes = ["users", "users:readonly"]
permissions = ["directory:user:*"]
"#;

pub const VAULT_TOKEN: &str = "hvs.test-token-0123";

pub fn seed() -> Seed {
    Seed {
        divisions: vec![
            SeedDivision {
                name: "Home".into(),
                home: true,
                ..Default::default()
            },
            SeedDivision {
                name: "Sales".into(),
                ..Default::default()
            },
        ],
        roles: vec![
            SeedRole {
                name: "Analytics Reader".into(),
                permissions: vec![
                    "analytics:conversationDetail:view".into(),
                    "analytics:conversationAggregate:view".into(),
                ],
                ..Default::default()
            },
            SeedRole {
                name: "Analytics Writer".into(),
                permissions: vec![
                    "analytics:conversationDetail:view".into(),
                    "analytics:reportingSettings:edit".into(),
                ],
                ..Default::default()
            },
            SeedRole {
                name: "User Admin".into(),
                permissions: vec!["directory:user:add".into(), "directory:user:edit".into()],
                ..Default::default()
            },
        ],
        oauth_clients: vec![SeedClient {
            name: "legacy-user-sync".into(),
            secret: "legacy-secret-not-under-test-000000000000".into(),
            roles: vec!["User Admin".into()],
            ..Default::default()
        }],
        ..Default::default()
    }
}

pub struct Env {
    pub emu: EmulatorHandle,
    pub gc: GenesysClient,
    pub store: Store,
    pub dir: tempfile::TempDir,
    pub vault: Vault,
}

impl Env {
    pub async fn new() -> Env {
        Self::with(|_| {}).await
    }

    pub async fn with(tune: impl FnOnce(&mut ClientConfig)) -> Env {
        let cfg = EmulatorConfig {
            rate_limit_per_minute: None,
            seed: Some(seed()),
            ..Default::default()
        };
        let emu = Emulator::start(cfg).await.expect("emulator starts");
        let base = url::Url::parse(&emu.base_url()).expect("url");
        let mut cc = ClientConfig::new(
            base.clone(),
            base,
            emu.admin_client_id(),
            SecretString::from(emu.admin_client_secret().to_string()),
        );
        cc.rate_limit_per_minute = None;
        cc.request_timeout = Duration::from_secs(10);
        tune(&mut cc);
        let gc = GenesysClient::new(cc).expect("client");
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(StoreOptions::sqlite_in_dir(dir.path()))
            .await
            .expect("store");
        let vault = Vault::start().await;
        Env {
            emu,
            gc,
            store,
            dir,
            vault,
        }
    }

    pub fn governor(&self) -> Governor {
        self.governor_with(CONFIG)
    }

    pub fn governor_with(&self, config: &str) -> Governor {
        let cfg = GovernanceConfig::parse(config, false).expect("config");
        Governor::new(self.gc.clone(), cfg)
            .with_store(self.store.clone())
            .actor("cli:test")
    }

    pub fn vault_sink(&self) -> VaultKvSink {
        VaultKvSink::new(
            &self.vault.addr,
            "secret",
            "genesys/oauth/{name}",
            SecretString::from(VAULT_TOKEN.to_string()),
        )
        .expect("sink")
    }

    pub async fn client_count(&self) -> usize {
        self.gc.list_oauth_clients().await.expect("list").len()
    }

    pub async fn audit(&self) -> Vec<gcprov_store::AuditEntry> {
        self.store
            .entries(&gcprov_store::AuditQuery::default())
            .await
            .expect("entries")
    }

    pub async fn outbox(&self) -> Vec<gcprov_store::OutboxEvent> {
        self.store
            .list_events(None, 0, 10_000)
            .await
            .expect("events")
    }
}

pub fn cc_spec(name: &str, role: &str) -> ClientSpec {
    ClientSpec {
        name: name.into(),
        description: Some("test client".into()),
        grant_type: "CLIENT-CREDENTIALS".into(),
        profile: Some("reporting".into()),
        roles: vec![RoleSpec {
            role: role.into(),
            division: Some("Home".into()),
        }],
        token_lifetime_seconds: Some(3600),
        ..Default::default()
    }
}

pub fn code_spec(name: &str, scopes: &[&str]) -> ClientSpec {
    ClientSpec {
        name: name.into(),
        grant_type: "CODE".into(),
        profile: Some("reporting".into()),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        redirect_uris: vec!["https://app.example.com/callback".into()],
        ..Default::default()
    }
}

// ------------------------------------------------------------------ Vault KV v2 receiver

/// One accepted (or refused) write.
#[derive(Debug, Clone)]
pub struct VaultWrite {
    pub path: String,
    pub body: Value,
    pub accepted: bool,
}

#[derive(Default)]
pub struct VaultState {
    pub writes: Mutex<Vec<VaultWrite>>,
    pub versions: Mutex<HashMap<String, u64>>,
    pub fail: AtomicBool,
}

/// A local HTTP server speaking the part of the Vault KV v2 API gcprov uses:
/// `POST /v1/{mount}/data/{path}` with `X-Vault-Token`, body `{"data": {...}, "options": {"cas": n}}`.
pub struct Vault {
    pub addr: String,
    pub state: Arc<VaultState>,
}

impl Vault {
    pub async fn start() -> Vault {
        let state = Arc::new(VaultState::default());
        let app = axum::Router::new()
            .route("/v1/{*path}", post(vault_write).put(vault_write))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Vault { addr, state }
    }

    pub fn fail(&self, on: bool) {
        self.state.fail.store(on, Ordering::SeqCst);
    }

    pub fn writes(&self) -> Vec<VaultWrite> {
        self.state.writes.lock().clone()
    }

    pub fn accepted(&self) -> Vec<VaultWrite> {
        self.writes().into_iter().filter(|w| w.accepted).collect()
    }
}

fn err(status: StatusCode, msg: &str) -> axum::response::Response {
    (status, axum::Json(json!({ "errors": [msg] }))).into_response()
}

async fn vault_write(
    State(st): State<Arc<VaultState>>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    if headers.get("x-vault-token").and_then(|v| v.to_str().ok()) != Some(VAULT_TOKEN) {
        return err(StatusCode::FORBIDDEN, "permission denied");
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return err(StatusCode::BAD_REQUEST, "failed to parse JSON input");
    };
    // Only KV v2 data paths: {mount}/data/{path}.
    let Some((_mount, rest)) = path.split_once("/data/") else {
        return err(StatusCode::NOT_FOUND, "no handler for route");
    };
    let fail = st.fail.load(Ordering::SeqCst);
    let mut write = VaultWrite {
        path: path.clone(),
        body: body.clone(),
        accepted: false,
    };
    if fail {
        st.writes.lock().push(write);
        return err(StatusCode::SERVICE_UNAVAILABLE, "Vault is sealed");
    }
    if !body.get("data").is_some_and(Value::is_object) {
        st.writes.lock().push(write);
        return err(StatusCode::BAD_REQUEST, "no data provided");
    }
    let mut versions = st.versions.lock();
    let current = versions.get(rest).copied().unwrap_or(0);
    if let Some(cas) = body.pointer("/options/cas").and_then(Value::as_u64)
        && cas != current
    {
        drop(versions);
        st.writes.lock().push(write);
        return err(
            StatusCode::BAD_REQUEST,
            "check-and-set parameter did not match the current version",
        );
    }
    let version = current + 1;
    versions.insert(rest.to_string(), version);
    drop(versions);
    write.accepted = true;
    st.writes.lock().push(write);
    (
        StatusCode::OK,
        axum::Json(json!({"data": {"created_time": "2026-11-23T00:00:00Z", "deletion_time": "", "destroyed": false, "version": version}})),
    )
        .into_response()
}

/// The secret a Vault write carried.
pub fn secret_of(w: &VaultWrite) -> String {
    w.body
        .pointer("/data/client_secret")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}
