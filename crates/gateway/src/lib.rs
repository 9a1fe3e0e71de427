//! gcprov-gateway: the SCIM 2.0 service provider identity providers point at (`gcprov serve`).
//!
//! Reads are served from a read model in the store (filled by a paged full sync at start and on
//! a schedule, updated write-through); writes run the pipeline normalise -> policy -> map ->
//! uniqueness/lifecycle -> Genesys (bounded queue) -> audit + outbox. See
//! `docs/architecture/gateway.md`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), gcprov_gateway::GatewayError> {
//! let cfg = gcprov_gateway::GatewayConfig::load(std::path::Path::new("gcprov.toml"))?;
//! let gw = gcprov_gateway::Gateway::start(cfg, Default::default()).await?;
//! println!("SCIM base URL: {}", gw.scim_url());
//! gw.wait().await;
//! # Ok(()) }
//! ```

pub mod auth;
pub mod config;
pub mod demo;
pub mod error;
mod http;
pub mod idempotency;
pub mod mapping;
pub mod normalize;
pub mod policy_audit;
pub mod readiness;
pub mod schema;
pub mod service;
pub mod tls;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use gcprov_genesys::{ClientConfig, GenesysClient, SecretString};
use gcprov_policy::Policy;
use gcprov_store::{Store, StoreOptions};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::task::JoinHandle;

pub use auth::{Authenticator, Caller, Role, config_line, generate_token, hash_token};
pub use config::{GatewayConfig, Mode, OnConflict, OnDelete};
pub use error::GwError;
pub use mapping::Mapping;
pub use service::{Ctx, Kind, ListParams, Reply, Service};

/// Starting the gateway failed.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Auth(#[from] auth::AuthConfigError),
    #[error(transparent)]
    Mapping(#[from] mapping::MappingError),
    #[error("policy: {0}")]
    Policy(#[from] gcprov_policy::PolicyError),
    #[error("store {url}: {source}")]
    Store {
        url: String,
        #[source]
        source: gcprov_store::StoreError,
    },
    #[error("Genesys Cloud connection: {0}")]
    Genesys(#[from] gcprov_genesys::Error),
    #[error("initial sync of the read model failed: {0}")]
    Sync(String),
    #[error("listen on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("{0}")]
    Demo(String),
}

/// What may be passed instead of being read from the config (tests, demo).
#[derive(Default)]
pub struct StartOptions {
    pub genesys: Option<ClientConfig>,
    pub authenticator: Option<Authenticator>,
    pub policy: Option<Policy>,
    pub mapping: Option<Mapping>,
    pub store: Option<Store>,
}

/// A running gateway.
pub struct Gateway {
    addr: SocketAddr,
    base: String,
    svc: Arc<Service>,
    server: JoinHandle<()>,
    jwks: Option<JoinHandle<()>>,
    sync: Option<JoinHandle<()>>,
    watch: Option<JoinHandle<()>>,
    purge: Option<JoinHandle<()>>,
    idempotency: Arc<idempotency::Idempotency>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// The process-wide Prometheus handle (the recorder is global).
pub fn metrics_handle() -> PrometheusHandle {
    static H: OnceLock<PrometheusHandle> = OnceLock::new();
    H.get_or_init(|| {
        PrometheusBuilder::new()
            .install_recorder()
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder().handle())
    })
    .clone()
}

fn genesys_config(cfg: &GatewayConfig) -> Result<ClientConfig, GatewayError> {
    let g = &cfg.genesys;
    let mut c = match (&g.api_url, &g.client_id) {
        (Some(api), Some(id)) => {
            let url = gcprov_genesys::config::parse_base("genesys.api_url", api)
                .map_err(gcprov_genesys::Error::from)?;
            let var = g
                .client_secret_env
                .clone()
                .unwrap_or_else(|| "GENESYS_CLIENT_SECRET".into());
            let secret = std::env::var(&var).map_err(|_| {
                GatewayError::Demo(format!(
                    "environment variable {var} (the Genesys client secret) is not set"
                ))
            })?;
            ClientConfig::with_api_base(url, id.clone(), SecretString::from(secret))
        }
        _ => ClientConfig::from_env().map_err(gcprov_genesys::Error::from)?,
    };
    if let Some(r) = g.rate_limit_per_minute {
        c.rate_limit_per_minute = Some(r);
    }
    Ok(c)
}

impl Gateway {
    /// Opens the store, connects to Genesys, runs the initial sync and starts serving.
    pub async fn start(cfg: GatewayConfig, opts: StartOptions) -> Result<Gateway, GatewayError> {
        let acceptor = match &cfg.tls {
            Some(t) => Some(tls::acceptor(&t.cert, &t.key)?),
            None => None,
        };
        let metrics = metrics_handle();
        let store = match opts.store {
            Some(s) => s,
            None => Store::open(
                StoreOptions::new(cfg.store.url.clone())
                    .sqlite_durability(cfg.store.sqlite_synchronous.durability()),
            )
            .await
            .map_err(|source| GatewayError::Store {
                url: redact_url(&cfg.store.url),
                source,
            })?,
        };
        let gcfg = match opts.genesys {
            Some(c) => c,
            None => genesys_config(&cfg)?,
        };
        let genesys = GenesysClient::new(gcfg)?;
        let policy = match (opts.policy, &cfg.policy) {
            (Some(p), _) => Some(Arc::new(p)),
            (None, Some(path)) => Some(Arc::new(Policy::load(path)?)),
            (None, None) => None,
        };
        let mapping = match (opts.mapping, &cfg.mapping.file) {
            (Some(m), _) => m,
            (None, Some(path)) => Mapping::load(path)?,
            (None, None) => Mapping::default(),
        };
        let auth = match opts.authenticator {
            Some(a) => a,
            None => Authenticator::new(&cfg.callers).await?,
        };
        let listener = tokio::net::TcpListener::bind(&cfg.listen)
            .await
            .map_err(|source| GatewayError::Listen {
                addr: cfg.listen.clone(),
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| GatewayError::Listen {
                addr: cfg.listen.clone(),
                source,
            })?;
        let base = cfg
            .public_url
            .clone()
            .map(|u| u.trim_end_matches('/').to_string())
            .unwrap_or_else(|| {
                let scheme = if acceptor.is_some() { "https" } else { "http" };
                format!("{scheme}://{addr}")
            });
        let scim_base = format!("{base}/scim/v2");
        let interval = cfg.sync.interval_seconds;
        let audit_store = store.clone();
        let svc = Arc::new(Service::new(
            cfg,
            scim_base,
            store,
            genesys,
            policy.clone(),
            mapping,
        ));
        // Subscribe before the initial sync: every change another replica commits after the
        // sync has read the store is then reported (PostgreSQL; `None` on SQLite).
        let watch = svc
            .store
            .watch_model()
            .await
            .map_err(|source| GatewayError::Store {
                url: redact_url(&svc.cfg.store.url),
                source,
            })?;
        let (users, groups) = svc
            .full_sync()
            .await
            .map_err(|e| GatewayError::Sync(e.scim.detail))?;
        tracing::info!(users, groups, "read model synced");
        let auth = Arc::new(auth);
        let jwks = auth.spawn_jwks_refresh();
        let policy_router = policy.map(|p| {
            let mut st = gcprov_policy::http::PolicyHttpState::new(p);
            st.sink = Some(Arc::new(policy_audit::StoreDecisionSink::new(
                audit_store.clone(),
            )));
            gcprov_policy::http::router(st)
        });
        let idem = Arc::new(idempotency::Idempotency::new(
            svc.cfg.idempotency.clone(),
            svc.store.clone(),
            http::body_limit(&svc.cfg),
        ));
        let st = http::AppState {
            svc: svc.clone(),
            auth,
            metrics,
            idempotency: idem.clone(),
            readiness: Arc::new(readiness::Readiness::new(svc.cfg.readiness.clone())),
        };
        let app = http::router(st, policy_router);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let stop = async move {
            let _ = rx.await;
        };
        let server = match acceptor {
            Some(a) => {
                let l =
                    tls::TlsListener::new(listener, a).map_err(|source| GatewayError::Listen {
                        addr: addr.to_string(),
                        source,
                    })?;
                tokio::spawn(async move {
                    let r = axum::serve(l, app).with_graceful_shutdown(stop).await;
                    if let Err(e) = r {
                        tracing::error!(error = %e, "gateway server stopped");
                    }
                })
            }
            None => tokio::spawn(async move {
                let r = axum::serve(listener, app)
                    .with_graceful_shutdown(stop)
                    .await;
                if let Err(e) = r {
                    tracing::error!(error = %e, "gateway server stopped");
                }
            }),
        };
        let sync = (interval > 0).then(|| {
            let svc = svc.clone();
            tokio::spawn(async move {
                let mut t = tokio::time::interval(Duration::from_secs(interval));
                t.tick().await;
                loop {
                    t.tick().await;
                    match svc.full_sync().await {
                        Ok((u, g)) => tracing::info!(users = u, groups = g, "read model synced"),
                        Err(e) => tracing::warn!(error = %e, "scheduled sync failed"),
                    }
                }
            })
        });
        let watch = watch.map(|w| tokio::spawn(follow_model(svc.clone(), w)));
        let purge_every = svc.cfg.idempotency.purge_interval_seconds;
        let purge = (svc.cfg.idempotency.enabled && purge_every > 0).then(|| {
            let idem = idem.clone();
            tokio::spawn(async move {
                // The first purge runs one period after start, not at once: a start-up purge
                // would race with whatever the first requests store (and tests that seed keys).
                let period = Duration::from_secs(purge_every);
                let mut t = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
                loop {
                    t.tick().await;
                    match idem.purge_expired().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(purged = n, "expired idempotency keys deleted"),
                        Err(e) => tracing::warn!(error = %e, "purging idempotency keys failed"),
                    }
                }
            })
        });
        Ok(Gateway {
            addr,
            base,
            svc,
            server,
            jwks,
            sync,
            watch,
            purge,
            idempotency: idem,
            shutdown: Some(tx),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://host:port`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `http://host:port/scim/v2`.
    pub fn scim_url(&self) -> String {
        format!("{}/scim/v2", self.base)
    }

    pub fn service(&self) -> &Arc<Service> {
        &self.svc
    }

    /// The `Idempotency-Key` state (keys in flight, purge).
    pub fn idempotency(&self) -> &Arc<idempotency::Idempotency> {
        &self.idempotency
    }

    /// Runs until the server stops.
    pub async fn wait(mut self) {
        let server = std::mem::replace(&mut self.server, tokio::spawn(async {}));
        let _ = server.await;
    }

    /// Stops serving (in-flight requests finish) and the sync task.
    pub async fn shutdown(mut self) {
        if let Some(j) = self.jwks.take() {
            j.abort();
        }
        if let Some(s) = self.sync.take() {
            s.abort();
        }
        if let Some(p) = self.purge.take() {
            p.abort();
        }
        if let Some(w) = self.watch.take() {
            w.abort();
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let server = std::mem::replace(&mut self.server, tokio::spawn(async {}));
        let _ = server.await;
    }
}

/// Keeps the in-memory group maps in step with the store: applies every change the store
/// reports (any replica's commit). When applying one fails (store unavailable), the next
/// change triggers a full reload instead, so a lost update cannot linger.
async fn follow_model(svc: Arc<Service>, mut w: gcprov_store::ModelWatch) {
    let mut dirty = false;
    while let Some(c) = w.next().await {
        let c = if dirty {
            gcprov_store::ModelChange::Resync
        } else {
            c
        };
        match svc.apply_model_change(c).await {
            Ok(()) => dirty = false,
            Err(e) => {
                tracing::warn!(error = %e, "applying a read-model change failed; will reload all");
                dirty = true;
            }
        }
    }
}

/// A database URL without its password.
fn redact_url(u: &str) -> String {
    match url::Url::parse(u) {
        Ok(mut p) if p.password().is_some() => {
            let _ = p.set_password(Some("***"));
            p.to_string()
        }
        _ => u.to_string(),
    }
}
