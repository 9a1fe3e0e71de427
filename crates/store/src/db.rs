//! Connecting, migrating and the backend dispatch shared by every table module.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tokio::sync::mpsc;

use crate::error::{Result, StoreError};
use crate::redact::{FieldRedactor, Redact};
use crate::sqlite_read::PointReads;
use crate::write::{Writer, pg_writer_loop};

/// The newest schema version this binary knows. A database at a newer version is refused.
pub const SCHEMA_VERSION: i64 = 2;

const SQLITE_MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_init.sql")),
    (
        2,
        include_str!("../migrations/sqlite/0002_idempotency_claim.sql"),
    ),
];
const POSTGRES_MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/postgres/0001_init.sql")),
    (
        2,
        include_str!("../migrations/postgres/0002_idempotency_claim.sql"),
    ),
];

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same block against whichever pool the store has. The block is compiled once per
/// backend, so shared SQL (`$1` placeholders, `RETURNING`) is written once.
macro_rules! dispatch {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            $crate::db::Pool::Sqlite($p) => $body,
            $crate::db::Pool::Postgres($p) => $body,
        }
    };
}
pub(crate) use dispatch;

/// How SQLite makes commits durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SqliteDurability {
    /// `synchronous=FULL`: every acknowledged commit is fsynced (survives power loss). Default.
    #[default]
    Full,
    /// `synchronous=NORMAL` (WAL): acknowledged commits survive a process crash (SIGKILL) but the
    /// last ones may be lost if the OS crashes or power fails. The chain stays intact either way.
    Normal,
}

/// How to open a store.
#[derive(Clone)]
pub struct StoreOptions {
    /// `sqlite:///path/to/file.db`, `sqlite:relative.db` or `postgres://user@host/db`.
    pub url: String,
    /// PostgreSQL only: the schema to use (`search_path`); tests use one schema each.
    pub pg_schema: Option<String>,
    /// Pool size (default 8 on PostgreSQL, 4 on SQLite).
    pub max_connections: Option<u32>,
    /// How long SQLite waits for another writer (default 30 s).
    pub busy_timeout: Duration,
    /// Applied to every audit detail before it is hashed and stored.
    pub redactor: Arc<dyn Redact>,
    /// Largest number of concurrent appends committed in one transaction (group commit).
    pub max_batch: usize,
    /// SQLite only: fsync every commit (default) or rely on the WAL for process-crash safety.
    pub sqlite_durability: SqliteDurability,
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: never print it.
        f.debug_struct("StoreOptions")
            .field("url", &"[redacted]")
            .field("pg_schema", &self.pg_schema)
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}

impl StoreOptions {
    pub fn new(url: impl Into<String>) -> Self {
        StoreOptions {
            url: url.into(),
            pg_schema: None,
            max_connections: None,
            busy_timeout: Duration::from_secs(30),
            redactor: Arc::new(FieldRedactor::default()),
            max_batch: 256,
            sqlite_durability: SqliteDurability::Full,
        }
    }

    /// A SQLite file `gcprov.db` under `dir` (created if missing).
    pub fn sqlite_in_dir(dir: &Path) -> Self {
        // sqlx percent-decodes the URL path and cuts it at `?`/`#`: escape those three.
        let path = dir.join("gcprov.db").display().to_string();
        let escaped = path
            .replace('%', "%25")
            .replace('?', "%3F")
            .replace('#', "%23");
        Self::new(format!("sqlite://{escaped}"))
    }

    pub fn pg_schema(mut self, schema: impl Into<String>) -> Self {
        self.pg_schema = Some(schema.into());
        self
    }

    pub fn redactor(mut self, r: Arc<dyn Redact>) -> Self {
        self.redactor = r;
        self
    }

    pub fn sqlite_durability(mut self, d: SqliteDurability) -> Self {
        self.sqlite_durability = d;
        self
    }

    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = Some(n);
        self
    }
}

/// The handle every other crate uses. Cheap to clone; all clones share one pool and one writer.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) pool: Pool,
    /// PostgreSQL: the writer task's own connection, also used by the few writes outside its
    /// batches (outbox claims and marks). SQLite: `None`; those run on the writer's connection.
    pub(crate) pg_writer: Option<PgPool>,
    pub(crate) writer: Writer,
    /// SQLite: the inline point readers (see `sqlite_read`).
    pub(crate) point_reads: Option<PointReads>,
    pub(crate) redactor: Arc<dyn Redact>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .finish()
    }
}

impl Store {
    /// Opens (creating a SQLite file if needed), runs embedded migrations and starts the writer.
    /// Must be called inside a Tokio runtime; the store's writer task lives on that runtime, so
    /// use the store from the runtime that opened it.
    pub async fn open(opts: StoreOptions) -> Result<Store> {
        let url = opts.url.trim();
        // Reads use `pool`; every write of this process goes through the writer, which owns a
        // connection of its own (so readers never delay a commit, and nothing in the process
        // contends for SQLite's write lock).
        let max_batch = opts.max_batch.max(1);
        let (pool, pg_writer, writer, point_reads) = if url.starts_with("sqlite:") {
            let (reads, file) = open_sqlite(url, &opts, opts.max_connections.unwrap_or(4)).await?;
            migrate(&Pool::Sqlite(reads.clone())).await?;
            let open =
                || crate::sqlite_writer::open(&file, opts.sqlite_durability, opts.busy_timeout);
            // WAL checkpoints run beside the writer, not inside its commits.
            let checkpoints = crate::sqlite_writer::spawn_checkpointer(open()?)?;
            let writer = crate::sqlite_writer::SqliteWriter::new(open()?, max_batch, checkpoints);
            let point_reads = PointReads::new(&file, opts.busy_timeout)?;
            (
                Pool::Sqlite(reads),
                None,
                Writer::Sqlite(Box::new(writer)),
                Some(point_reads),
            )
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let reads = open_postgres(url, &opts, opts.max_connections.unwrap_or(8)).await?;
            migrate(&Pool::Postgres(reads.clone())).await?;
            let writes = open_postgres(url, &opts, 1).await?;
            let (tx, rx) = mpsc::channel(max_batch * 4);
            tokio::spawn(pg_writer_loop(writes.clone(), rx, max_batch));
            (
                Pool::Postgres(reads),
                Some(writes),
                Writer::Postgres(tx),
                None,
            )
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        Ok(Store {
            inner: Arc::new(Inner {
                pool,
                pg_writer,
                writer,
                point_reads,
                redactor: opts.redactor,
            }),
        })
    }

    /// Shorthand for [`Store::open`] with default options.
    pub async fn open_url(url: &str) -> Result<Store> {
        Self::open(StoreOptions::new(url)).await
    }

    pub fn backend(&self) -> Backend {
        match self.inner.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    /// SQLite's inline point readers; `None` on PostgreSQL.
    pub(crate) fn point_reads(&self) -> Option<&PointReads> {
        self.inner.point_reads.as_ref()
    }

    /// The schema version recorded in the database.
    pub async fn schema_version(&self) -> Result<i64> {
        dispatch!(self.pool(), p => {
            let row = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM gcprov_schema")
                .fetch_one(p)
                .await?;
            Ok(row.try_get::<i64, _>("v")?)
        })
    }

    /// Closes the pools; pending appends already acknowledged are durable. (SQLite's writer
    /// connection closes once the last handle of the store is dropped.)
    pub async fn close(&self) {
        dispatch!(self.pool(), p => p.close().await);
        if let Some(p) = &self.inner.pg_writer {
            p.close().await;
        }
    }
}

/// The read pool, and the database file's path for the writer's connection.
async fn open_sqlite(url: &str, opts: &StoreOptions, max: u32) -> Result<(SqlitePool, PathBuf)> {
    let co =
        SqliteConnectOptions::from_str(url).map_err(|e| StoreError::InvalidUrl(e.to_string()))?;
    let file = co.get_filename().to_path_buf();
    // The readers and the writer are separate connections: they must share a file.
    if url.contains(":memory:") || url.contains("mode=memory") {
        return Err(StoreError::InvalidUrl(
            "an in-memory SQLite database cannot be shared by the store's connections; use a file"
                .into(),
        ));
    }
    if let Some(parent) = file.parent()
        && !parent.as_os_str().is_empty()
        && !parent.exists()
    {
        // The store holds audit data: keep the directory private to its owner.
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(parent).map_err(|e| StoreError::DataDir {
            path: parent.display().to_string(),
            message: e.to_string(),
        })?;
    }
    let co = co
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: every acknowledged commit is on disk (also across power loss).
        .synchronous(match opts.sqlite_durability {
            SqliteDurability::Full => SqliteSynchronous::Full,
            SqliteDurability::Normal => SqliteSynchronous::Normal,
        })
        .busy_timeout(opts.busy_timeout)
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(max)
        // A pooled SQLite connection is a local file handle, not a socket that can go stale:
        // pinging it before every use would cost a round trip to its worker thread per query.
        .test_before_acquire(false)
        .connect_with(co)
        .await?;
    Ok((pool, file))
}

async fn open_postgres(url: &str, opts: &StoreOptions, max: u32) -> Result<PgPool> {
    let mut co =
        PgConnectOptions::from_str(url).map_err(|e| StoreError::InvalidUrl(redact_url_err(&e)))?;
    co = co.application_name("gcprov");
    if let Some(schema) = &opts.pg_schema {
        if !schema
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(StoreError::Invalid(
                "schema name must be [A-Za-z0-9_]".into(),
            ));
        }
        co = co.options([("search_path", schema.as_str())]);
    }
    let pool = PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(co)
        .await?;
    Ok(pool)
}

fn redact_url_err(e: &sqlx::Error) -> String {
    // sqlx's URL errors describe the problem, not the URL; keep only the kind to be safe.
    match e {
        sqlx::Error::Configuration(_) => "malformed PostgreSQL URL".to_string(),
        _ => "malformed URL".to_string(),
    }
}

async fn migrate(pool: &Pool) -> Result<()> {
    match pool {
        Pool::Sqlite(p) => {
            let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
            sqlx::query(
                "CREATE TABLE IF NOT EXISTS gcprov_schema (version INTEGER PRIMARY KEY, applied_us INTEGER NOT NULL)",
            )
            .execute(&mut *tx)
            .await?;
            let row = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM gcprov_schema")
                .fetch_one(&mut *tx)
                .await?;
            let current: i64 = row.try_get("v")?;
            check_version(current)?;
            for (version, sql) in SQLITE_MIGRATIONS.iter().filter(|(v, _)| *v > current) {
                sqlx::raw_sql(*sql)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| StoreError::Migration {
                        version: *version,
                        source: Arc::new(e),
                    })?;
                sqlx::query("INSERT INTO gcprov_schema (version, applied_us) VALUES ($1, $2)")
                    .bind(*version)
                    .bind(crate::now_us())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
        Pool::Postgres(p) => {
            let mut tx = p.begin().await?;
            // Several replicas may start at once: serialise migrations per schema.
            sqlx::query(
                "SELECT pg_advisory_xact_lock(hashtext('gcprov-migrate:' || current_schema()))",
            )
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "CREATE TABLE IF NOT EXISTS gcprov_schema (version BIGINT PRIMARY KEY, applied_us BIGINT NOT NULL)",
            )
            .execute(&mut *tx)
            .await?;
            let row =
                sqlx::query("SELECT COALESCE(MAX(version), 0)::BIGINT AS v FROM gcprov_schema")
                    .fetch_one(&mut *tx)
                    .await?;
            let current: i64 = row.try_get("v")?;
            check_version(current)?;
            for (version, sql) in POSTGRES_MIGRATIONS.iter().filter(|(v, _)| *v > current) {
                sqlx::raw_sql(*sql)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| StoreError::Migration {
                        version: *version,
                        source: Arc::new(e),
                    })?;
                sqlx::query("INSERT INTO gcprov_schema (version, applied_us) VALUES ($1, $2)")
                    .bind(*version)
                    .bind(crate::now_us())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
    }
    Ok(())
}

fn check_version(found: i64) -> Result<()> {
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}
