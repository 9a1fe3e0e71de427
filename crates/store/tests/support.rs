use gcprov_store::{Store, StoreOptions};
use sqlx::AssertSqlSafe;

pub enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// One isolated database per test: a temp SQLite file, or a fresh PostgreSQL schema.
pub struct TestDb {
    pub store: Store,
    pub opts: StoreOptions,
    pub raw: Raw,
    pub schema: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

pub fn pg_url() -> String {
    std::env::var("GCPROV_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let opts = StoreOptions::sqlite_in_dir(dir.path());
        let store = Store::open(opts.clone()).await.unwrap();
        let raw = sqlx::SqlitePool::connect(&opts.url).await.unwrap();
        TestDb {
            store,
            opts,
            raw: Raw::Sqlite(raw),
            schema: None,
            _dir: Some(dir),
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
        let co: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
        let raw = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect_with(co.options([("search_path", schema.as_str())]))
            .await
            .unwrap();
        TestDb {
            store,
            opts,
            raw: Raw::Postgres(raw),
            schema: Some(schema),
            _dir: None,
        }
    }

    /// Another store (its own pool and writer) on the same database, like another replica.
    pub async fn another(&self) -> Store {
        Store::open(self.opts.clone()).await.unwrap()
    }

    /// Runs raw SQL behind the store's back (tampering, fault injection).
    pub async fn exec(&self, sql: &str) {
        match &self.raw {
            Raw::Sqlite(p) => {
                sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
                    .execute(p)
                    .await
                    .unwrap();
            }
            Raw::Postgres(p) => {
                sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
                    .execute(p)
                    .await
                    .unwrap();
            }
        }
    }

    pub async fn count(&self, sql: &'static str) -> i64 {
        use sqlx::Row;
        match &self.raw {
            Raw::Sqlite(p) => sqlx::query(sql)
                .fetch_one(p)
                .await
                .unwrap()
                .get::<i64, _>(0),
            Raw::Postgres(p) => sqlx::query(sql)
                .fetch_one(p)
                .await
                .unwrap()
                .get::<i64, _>(0),
        }
    }

    pub async fn cleanup(self) {
        self.store.close().await;
        match self.raw {
            Raw::Sqlite(p) => p.close().await,
            Raw::Postgres(p) => {
                p.close().await;
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
    }
}

/// Defines `sqlite` and `postgres` tests running `$f(&TestDb)`.
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
