//! The one error type of the client. No variant ever holds a secret or a bearer token.

use std::fmt;
use std::time::Duration;

use crate::models::{ErrorBody, ScimErrorBody};

/// Bad configuration (missing variable, unknown region, malformed URL).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("missing configuration value {0}")]
    Missing(&'static str),
    #[error(
        "unknown Genesys Cloud region {0:?} (use an SDK id like us_east_1, an AWS id like us-east-1 or a domain like mypurecloud.ie)"
    )]
    UnknownRegion(String),
    #[error("invalid URL in {name}: {reason}")]
    InvalidUrl { name: &'static str, reason: String },
    #[error("cannot build HTTP client: {0}")]
    Http(String),
}

/// A non-success HTTP response from the Platform API (or SCIM).
#[derive(Clone)]
pub struct ApiError {
    pub method: String,
    /// Request path without the query string (queries may hold personal data).
    pub path: String,
    pub status: u16,
    /// Parsed Platform API error body, when there was one.
    pub body: Option<ErrorBody>,
    /// Parsed SCIM error body (SCIM routes), when there was one.
    pub scim: Option<ScimErrorBody>,
    /// `ININ-Correlation-Id` response header (or `contextId` of the body).
    pub correlation_id: Option<String>,
    /// `Retry-After` of a 429.
    pub retry_after: Option<Duration>,
    /// Attempts made before giving up.
    pub attempts: u32,
}

impl ApiError {
    /// `code` of the error body (`not.found`, `general.conflict`, ...).
    pub fn code(&self) -> Option<&str> {
        self.body.as_ref().and_then(|b| b.code.as_deref())
    }

    /// Human message from the error body or SCIM `detail`.
    pub fn message(&self) -> Option<&str> {
        self.body
            .as_ref()
            .and_then(|b| b.message.as_deref())
            .or_else(|| self.scim.as_ref().and_then(|s| s.detail.as_deref()))
    }

    /// `scimType` of a SCIM error.
    pub fn scim_type(&self) -> Option<&str> {
        self.scim.as_ref().and_then(|s| s.scim_type.as_deref())
    }

    /// Whether the body says the supplied version was stale (409 on most routes, 400 with
    /// "does not match the current version" on some directory routes, `invalidVers` in SCIM).
    pub fn mentions_version_mismatch(&self) -> bool {
        if self.scim_type() == Some("invalidVers") {
            return true;
        }
        let msg = self.message().unwrap_or("").to_ascii_lowercase();
        (self.status == 409 || self.status == 400)
            && (msg.contains("unexpected version") || msg.contains("does not match"))
            && msg.contains("version")
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiError")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("status", &self.status)
            .field("code", &self.code())
            .field("message", &self.message())
            .field("scim_type", &self.scim_type())
            .field("correlation_id", &self.correlation_id)
            .field("retry_after", &self.retry_after)
            .field("attempts", &self.attempts)
            .finish()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} returned {}", self.method, self.path, self.status)?;
        if let Some(code) = self.code() {
            write!(f, " {code}")?;
        }
        if let Some(t) = self.scim_type() {
            write!(f, " scimType={t}")?;
        }
        if let Some(m) = self.message() {
            write!(f, ": {m}")?;
        }
        if let Some(c) = &self.correlation_id {
            write!(f, " (correlation id {c})")?;
        }
        if self.attempts > 1 {
            write!(f, " after {} attempts", self.attempts)?;
        }
        Ok(())
    }
}

/// Why a request never produced an HTTP response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// The connection could not be opened: the request was certainly not processed.
    Connect,
    /// No complete response within the per-attempt timeout.
    Timeout,
    /// Connection reset or closed mid-exchange; the server may have processed the request.
    Io,
    /// The request could not be built.
    Request,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::Connect => "connect",
            TransportKind::Timeout => "timeout",
            TransportKind::Io => "connection",
            TransportKind::Request => "request",
        })
    }
}

/// The client's error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// The login service refused the client credentials (`invalid_client`, ...). Never holds
    /// the secret.
    #[error("Genesys Cloud login failed with HTTP {status}: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Login {
        status: u16,
        error: String,
        description: Option<String>,
    },

    /// The API answered with a non-success status.
    #[error("{0}")]
    Api(Box<ApiError>),

    /// A versioned write used a stale version (409, or 400 "does not match the current version",
    /// or SCIM `invalidVers`). Re-read, re-diff and try again; never re-sent blindly.
    #[error("version conflict: {0}")]
    VersionConflict(Box<ApiError>),

    /// No HTTP response (connect failure, timeout, reset) after the allowed attempts.
    #[error("{method} {path}: {kind} error after {attempts} attempt(s): {message}")]
    Transport {
        method: String,
        path: String,
        kind: TransportKind,
        message: String,
        attempts: u32,
    },

    /// A success response whose body did not match the expected model.
    #[error("{method} {path}: cannot decode response: {message}{}", correlation_id.as_deref().map(|c| format!(" (correlation id {c})")).unwrap_or_default())]
    Decode {
        method: String,
        path: String,
        message: String,
        correlation_id: Option<String>,
    },

    /// The caller passed something the API cannot accept.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl Error {
    /// HTTP status, when the API answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api(e) | Error::VersionConflict(e) => Some(e.status),
            Error::Login { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The API error, when the API answered with an error status.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) | Error::VersionConflict(e) => Some(e),
            _ => None,
        }
    }

    /// `ININ-Correlation-Id` of the failing response.
    pub fn correlation_id(&self) -> Option<&str> {
        match self {
            Error::Api(e) | Error::VersionConflict(e) => e.correlation_id.as_deref(),
            Error::Decode { correlation_id, .. } => correlation_id.as_deref(),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    pub fn is_version_conflict(&self) -> bool {
        matches!(self, Error::VersionConflict(_))
    }

    /// 409 that is not a version conflict (e.g. `general.conflict` for a duplicate email).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Api(e) if e.status == 409)
    }

    pub fn is_rate_limited(&self) -> bool {
        self.status() == Some(429)
    }
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
