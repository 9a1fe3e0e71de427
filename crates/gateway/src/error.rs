//! The gateway's errors: a SCIM error plus, for retryable answers, a `Retry-After`.

use gcprov_scim::{ScimError, ScimType};

/// An error answered to the caller as a SCIM `Error` body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{scim}")]
pub struct GwError {
    pub scim: ScimError,
    /// Seconds, for 429 and 503 answers.
    pub retry_after: Option<u64>,
}

impl From<ScimError> for GwError {
    fn from(scim: ScimError) -> Self {
        Self {
            scim,
            retry_after: None,
        }
    }
}

impl GwError {
    pub fn new(status: u16, scim_type: Option<ScimType>, detail: impl Into<String>) -> Self {
        ScimError::new(status, scim_type, detail).into()
    }
    pub fn bad(scim_type: ScimType, detail: impl Into<String>) -> Self {
        ScimError::bad_request(scim_type, detail).into()
    }
    pub fn not_found(what: &str, id: &str) -> Self {
        let id: String = id.chars().take(64).collect();
        ScimError::not_found(format!("{what} {id} not found")).into()
    }
    pub fn retryable(status: u16, detail: impl Into<String>, after: u64) -> Self {
        Self {
            scim: ScimError::new(status, None, detail),
            retry_after: Some(after.max(1)),
        }
    }
    pub fn internal(detail: impl Into<String>) -> Self {
        ScimError::new(500, None, detail).into()
    }
    pub fn status(&self) -> u16 {
        self.scim.status
    }
}

/// Maps a Genesys client error to what the IdP sees. 429 and transport/5xx problems are
/// retryable (the change was not applied, or was applied idempotently); 4xx are not.
pub fn from_genesys(e: &gcprov_genesys::Error, default_retry: u64) -> GwError {
    let msg = e
        .api()
        .and_then(|a| a.message().map(str::to_string))
        .unwrap_or_else(|| "request failed".into());
    match e.status() {
        Some(429) => {
            let after = e
                .api()
                .and_then(|a| a.retry_after)
                .map(|d| d.as_secs().max(1))
                .unwrap_or(default_retry);
            GwError::retryable(429, "Genesys Cloud rate limit reached; retry later", after)
        }
        Some(404) => GwError::new(404, None, "resource not found in Genesys Cloud"),
        Some(409) if e.is_version_conflict() => GwError::new(
            412,
            None,
            "the resource changed in Genesys Cloud; read it again and retry",
        ),
        Some(409) => GwError::new(
            409,
            Some(ScimType::Uniqueness),
            format!("Genesys Cloud reports a conflict: {msg}"),
        ),
        Some(s @ 400..=499) if s != 401 && s != 403 => GwError::new(
            400,
            Some(ScimType::InvalidValue),
            format!("Genesys Cloud rejected the change: {msg}"),
        ),
        Some(401 | 403) => GwError::retryable(
            503,
            "gcprov cannot authorise against Genesys Cloud; check its OAuth client",
            default_retry,
        ),
        _ => GwError::retryable(
            503,
            "Genesys Cloud is unavailable; the change was not applied, retry later",
            default_retry,
        ),
    }
}
