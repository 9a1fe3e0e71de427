//! Shared set-up: emulator (demo seed) + gateway + tokens.

use gcprov_emulator::{Emulator, EmulatorConfig, EmulatorHandle, Seed};
use gcprov_gateway::{
    Authenticator, Gateway, GatewayConfig, Mapping, Role, StartOptions, demo, hash_token,
};
use gcprov_genesys::{ClientConfig, GenesysClient, SecretString};
use gcprov_policy::Policy;
use gcprov_store::sqlx::{self, AssertSqlSafe};
use gcprov_store::{AuditEntry, Store, StoreOptions};
use serde_json::Value;

pub const READER: &str = "reader-token-0123456789";
pub const PROVISIONER: &str = "provisioner-token-0123456789";
pub const ADMIN: &str = "admin-token-0123456789";

pub struct Env {
    pub gw: Gateway,
    pub emu: EmulatorHandle,
    pub http: reqwest::Client,
    pub genesys: GenesysClient,
    pub store: Store,
    pub _dir: tempfile::TempDir,
}

pub struct Opts {
    pub cfg: Box<dyn FnOnce(&mut GatewayConfig)>,
    pub policy: Option<&'static str>,
    pub authenticator: Option<Authenticator>,
    /// Mapping file text (default: the demo mapping).
    pub mapping: Option<&'static str>,
}

impl Default for Opts {
    fn default() -> Self {
        Self {
            cfg: Box::new(|_| {}),
            policy: None,
            authenticator: None,
            mapping: None,
        }
    }
}

pub fn client_config(emu: &EmulatorHandle) -> ClientConfig {
    let url = url::Url::parse(&emu.base_url()).expect("emulator url");
    let mut c = ClientConfig::with_api_base(
        url,
        emu.admin_client_id().to_string(),
        SecretString::from(emu.admin_client_secret().to_string()),
    );
    c.rate_limit_per_minute = None;
    c
}

pub fn tokens() -> Authenticator {
    Authenticator::with_tokens(&[
        ("reader".into(), Role::Reader, hash_token(READER)),
        ("idp".into(), Role::Provisioner, hash_token(PROVISIONER)),
        ("ops".into(), Role::Admin, hash_token(ADMIN)),
    ])
}

/// The emulator with the demo org, rate limit off.
pub async fn demo_emulator() -> EmulatorHandle {
    let seed = Seed::from_json_str(demo::DEMO_SEED).expect("seed");
    Emulator::start(EmulatorConfig {
        seed: Some(seed),
        rate_limit_per_minute: None,
        ..Default::default()
    })
    .await
    .expect("emulator")
}

/// PostgreSQL for the multi-replica tests: `GCPROV_TEST_POSTGRES_URL`, default
/// postgres://postgres@127.0.0.1:5432/test. Those tests fail, never skip, without it.
pub fn pg_url() -> String {
    std::env::var("GCPROV_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// Runs one statement as the PostgreSQL admin.
pub async fn pg_admin(sql: String) {
    let admin = sqlx::PgPool::connect(&pg_url()).await.unwrap_or_else(|e| {
        panic!("this test needs PostgreSQL at GCPROV_TEST_POSTGRES_URL (default 127.0.0.1:5432/test): {e}")
    });
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(&admin)
        .await
        .expect("admin SQL");
    admin.close().await;
}

/// A fresh PostgreSQL schema for one test's shared store.
pub async fn new_pg_schema() -> String {
    let schema = format!("gw_{}", uuid::Uuid::new_v4().simple());
    pg_admin(format!("CREATE SCHEMA {schema}")).await;
    schema
}

pub async fn drop_pg_schema(schema: &str) {
    pg_admin(format!("DROP SCHEMA {schema} CASCADE")).await;
}

/// One gateway replica on a shared PostgreSQL schema: its own store handle (pool, writer,
/// listener), the demo mapping, `groups.create_missing`; `tune` adjusts the rest.
pub async fn pg_replica(
    schema: &str,
    genesys: ClientConfig,
    tune: impl FnOnce(&mut GatewayConfig),
) -> (Gateway, Store) {
    let store = Store::open(StoreOptions::new(pg_url()).pg_schema(schema))
        .await
        .expect("store");
    let mut cfg = GatewayConfig::minimal("postgres://replica");
    cfg.groups.create_missing = true;
    tune(&mut cfg);
    let mapping = Mapping::from_toml(demo::DEMO_MAPPING, "mapping.toml").expect("mapping");
    let gw = Gateway::start(
        cfg,
        StartOptions {
            genesys: Some(genesys),
            authenticator: Some(tokens()),
            mapping: Some(mapping),
            store: Some(store.clone()),
            ..Default::default()
        },
    )
    .await
    .expect("gateway");
    (gw, store)
}

pub async fn start(opts: Opts) -> Env {
    let emu = demo_emulator().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(StoreOptions::sqlite_in_dir(dir.path()))
        .await
        .expect("store");
    let mut cfg = GatewayConfig::minimal("sqlite://test");
    cfg.groups.create_missing = true;
    cfg.users.on_delete = gcprov_gateway::OnDelete::Delete;
    (opts.cfg)(&mut cfg);
    let policy = opts
        .policy
        .map(|p| Policy::from_toml(p, "test-policy.toml").expect("policy"));
    let mapping = Mapping::from_toml(opts.mapping.unwrap_or(demo::DEMO_MAPPING), "mapping.toml")
        .expect("mapping");
    let gw = Gateway::start(
        cfg,
        StartOptions {
            genesys: Some(client_config(&emu)),
            authenticator: Some(opts.authenticator.unwrap_or_else(tokens)),
            policy,
            mapping: Some(mapping),
            store: Some(store.clone()),
        },
    )
    .await
    .expect("gateway");
    let genesys = GenesysClient::new(client_config(&emu)).expect("client");
    Env {
        gw,
        emu,
        http: reqwest::Client::new(),
        genesys,
        store,
        _dir: dir,
    }
}

pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Env {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.gw.scim_url(), path)
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            self.url(path)
        };
        let mut r = self.http.request(m, url);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        if let Some(b) = body {
            r = r
                .header("content-type", "application/scim+json")
                .body(b.to_string());
        }
        let resp = r.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            body,
            headers,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call("GET", path, Some(PROVISIONER), None, &[]).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.call("POST", path, Some(PROVISIONER), Some(body), &[])
            .await
    }
    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.call("PUT", path, Some(PROVISIONER), Some(body), &[])
            .await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.call("PATCH", path, Some(PROVISIONER), Some(body), &[])
            .await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.call("DELETE", path, Some(PROVISIONER), None, &[])
            .await
    }

    /// Audit entries, oldest first.
    pub async fn audit(&self) -> Vec<AuditEntry> {
        let mut v = self.store.tail(1000).await.expect("audit");
        v.sort_by_key(|e| e.seq);
        v
    }

    /// The Genesys SCIM user as the emulator holds it.
    pub async fn genesys_user(&self, id: &str) -> Option<gcprov_genesys::models::ScimV2User> {
        match self.genesys.scim_get_user(id, None).await {
            Ok(gcprov_genesys::Conditional::Modified(v)) => Some(v.resource),
            _ => None,
        }
    }

    /// Ids of a Genesys group's members.
    pub async fn group_members(&self, id: &str) -> Vec<String> {
        use futures::StreamExt;
        let mut s = self.genesys.list_group_members(id);
        let mut out = Vec::new();
        while let Some(u) = s.next().await {
            if let Some(id) = u.expect("members").id {
                out.push(id);
            }
        }
        out.sort();
        out
    }

    pub async fn group_id(&self, name: &str) -> String {
        let r = self
            .get(&format!(
                "/Groups?filter={}",
                enc(&format!("displayName eq \"{name}\""))
            ))
            .await;
        r.body["Resources"][0]["id"]
            .as_str()
            .expect("group id")
            .to_string()
    }

    pub async fn shutdown(self) {
        self.gw.shutdown().await;
        self.emu.shutdown().await;
    }
}

/// Percent-encodes a query value.
pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
