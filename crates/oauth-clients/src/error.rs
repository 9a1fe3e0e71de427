//! The crate's error type. No variant ever holds a client secret.

use crate::privilege::Finding;

/// A problem with one field of a client specification.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn lines<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| format!("\n  - {i}"))
        .collect::<String>()
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Genesys Cloud: {0}")]
    Genesys(#[from] gcprov_genesys::Error),

    #[error("store: {0}")]
    Store(#[from] gcprov_store::StoreError),

    #[error("configuration {path}: {message}")]
    Config { path: String, message: String },

    #[error("client specification {path}: {message}")]
    Spec { path: String, message: String },

    #[error("invalid client specification (nothing was created):{}", lines(.0))]
    Invalid(Vec<FieldError>),

    #[error("an OAuth client named {name:?} already exists (id {id}); not creating a duplicate")]
    NameExists { name: String, id: String },

    #[error(
        "least privilege: the client exceeds baseline profile {profile:?} (nothing was created; use --allow-excess --reason \"...\" to override):{}",
        lines(.findings)
    )]
    ExcessPrivilege {
        profile: String,
        findings: Vec<Finding>,
    },

    #[error("--allow-excess needs a non-empty --reason")]
    MissingReason,

    #[error("no secret sink: configure [sink] or pass --reveal on a terminal")]
    NoSink,

    #[error("no OAuth client {0:?} (give its id or exact name)")]
    NotFound(String),

    #[error("{query:?} matches {count} OAuth clients by name; give the id")]
    Ambiguous { query: String, count: usize },

    #[error("secret sink: {0}")]
    Sink(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
