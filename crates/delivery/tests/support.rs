use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU16, Ordering};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use gcprov_store::{Store, StoreOptions};
use sqlx::AssertSqlSafe;

#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
pub struct RecvState {
    pub requests: std::sync::Mutex<Vec<Received>>,
    /// The next this-many requests get 503.
    pub fail_next: AtomicI64,
    /// When non-zero every request gets this status.
    pub always: AtomicU16,
}

/// A local HTTP receiver on an ephemeral loopback port that records what it gets and fails
/// on command.
pub struct Receiver {
    pub base: String,
    pub state: Arc<RecvState>,
}

async fn handle(State(st): State<Arc<RecvState>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    st.requests.lock().unwrap().push(Received { headers, body });
    let always = st.always.load(Ordering::SeqCst);
    if always != 0 {
        return StatusCode::from_u16(always).unwrap();
    }
    if st.fail_next.fetch_sub(1, Ordering::SeqCst) > 0 {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    StatusCode::OK
}

impl Receiver {
    pub async fn start() -> Receiver {
        let state = Arc::new(RecvState::default());
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(handle))
            .route("/services/collector/event", axum::routing::post(handle))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver {
            base: format!("http://{addr}"),
            state,
        }
    }

    pub fn hook_url(&self) -> String {
        format!("{}/hook", self.base)
    }

    pub fn requests(&self) -> Vec<Received> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Requests per `Idempotency-Key`.
    pub fn counts_by_key(&self) -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for r in self.requests() {
            *m.entry(r.header("idempotency-key").to_string())
                .or_insert(0) += 1;
        }
        m
    }
}

pub fn pg_url() -> String {
    std::env::var("GCPROV_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// An isolated database: a temp SQLite file or a fresh PostgreSQL schema (dropped by `cleanup`).
pub struct TestDb {
    pub store: Store,
    pub opts: StoreOptions,
    pub url: String,
    pub schema: Option<String>,
    pub dir: tempfile::TempDir,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let opts = StoreOptions::sqlite_in_dir(dir.path());
        let store = Store::open(opts.clone()).await.unwrap();
        TestDb {
            store,
            url: opts.url.clone(),
            opts,
            schema: None,
            dir,
        }
    }

    /// Fails (never skips) when PostgreSQL is unreachable.
    pub async fn postgres() -> TestDb {
        let url = pg_url();
        let admin = sqlx::PgPool::connect(&url).await.unwrap_or_else(|e| {
            panic!("PostgreSQL tests need a server at GCPROV_TEST_POSTGRES_URL (default 127.0.0.1:5432/test): {e}")
        });
        let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let opts = StoreOptions::new(url.clone()).pg_schema(schema.clone());
        let store = Store::open(opts.clone()).await.unwrap();
        TestDb {
            store,
            opts,
            url,
            schema: Some(schema),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub async fn another(&self) -> Store {
        Store::open(self.opts.clone()).await.unwrap()
    }

    pub async fn cleanup(self) {
        self.store.close().await;
        if let Some(schema) = &self.schema {
            let admin = sqlx::PgPool::connect(&pg_url()).await.unwrap();
            sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&admin)
                .await
                .unwrap();
            admin.close().await;
        }
    }
}

#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let db = $crate::support::TestDb::sqlite().await;
                    super::$name(&db).await;
                    db.cleanup().await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let db = $crate::support::TestDb::postgres().await;
                    super::$name(&db).await;
                    db.cleanup().await;
                }
            }
        )*
    };
}
