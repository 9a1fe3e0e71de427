//! The reconciler's error type. No variant ever holds a secret or a bearer token.

/// Everything that can stop a plan or an apply.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad desired-state input: names the file (or source) and the 1-based line.
    #[error("{file}:{line}: {message}")]
    Input {
        file: String,
        line: u64,
        message: String,
    },
    /// The input could not be read.
    #[error("{file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// A bad configuration (column mapping, match order).
    #[error("{file}: {message}")]
    Config { file: String, message: String },
    /// A call to Genesys Cloud failed.
    #[error(transparent)]
    Genesys(#[from] gcprov_genesys::Error),
    /// The store failed (checkpoints, audit).
    #[error("store: {0}")]
    Store(#[from] gcprov_store::StoreError),
    /// A safety rail refused the plan before any write.
    #[error("safety rail: {0}")]
    Guard(String),
    /// A saved plan could not be used.
    #[error("plan: {0}")]
    Plan(String),
    /// Pulling desired users from another SCIM server failed.
    #[error("SCIM source {url}: {message}")]
    Source { url: String, message: String },
    /// Nothing to resume, or a resume that does not fit.
    #[error("resume: {0}")]
    Resume(String),
    /// A caller argument the reconciler cannot accept.
    #[error("invalid argument: {0}")]
    Invalid(String),
}

impl Error {
    pub(crate) fn input(file: &str, line: u64, message: impl Into<String>) -> Self {
        Error::Input {
            file: file.to_string(),
            line,
            message: message.into(),
        }
    }
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
