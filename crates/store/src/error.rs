use std::sync::Arc;

/// Everything the store can fail with. Messages never contain secrets or row contents.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[source] Arc<dyn std::error::Error + Send + Sync + 'static>),
    #[error(
        "database schema version {found} is newer than this gcprov supports ({supported}); upgrade gcprov"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("migration {version} failed: {source}")]
    Migration {
        version: i64,
        #[source]
        source: Arc<sqlx::Error>,
    },
    #[error("unsupported database URL (expected sqlite:// or postgres://)")]
    UnsupportedUrl,
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    #[error("cannot create data directory {path}: {message}")]
    DataDir { path: String, message: String },
    #[error(
        "audit detail field `{path}` looks like a secret; secrets are never written to the audit log"
    )]
    SecretInDetail { path: String },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("invalid argument: {0}")]
    Invalid(String),
    #[error("the store's writer task has stopped")]
    WriterStopped,
    #[error("i/o error: {0}")]
    Io(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(Arc::new(e))
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(Arc::new(e))
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(format!("invalid JSON: {e}"))
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
