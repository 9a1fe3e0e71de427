//! Errors: the library error, the Platform API `ErrorBody`, SCIM errors and OAuth login errors.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Errors of the emulator library (start-up and configuration).
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("i/o error: {0}")]
    Io(String),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("invalid seed: {0}")]
    Seed(String),
}

tokio::task_local! {
    /// The correlation id of the request being served (set by the middleware).
    pub(crate) static CORRELATION_ID: String;
}

pub(crate) fn correlation_id() -> String {
    CORRELATION_ID.try_with(|c| c.clone()).unwrap_or_default()
}

/// A Platform API error, rendered as the real `ErrorBody`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<u64>,
    pub details: Vec<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            details: Vec::new(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad.request", message)
    }
    pub fn invalid_value(field: &str, message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::BAD_REQUEST, "invalid.value", message);
        e.details
            .push(json!({"errorCode": "invalid.value", "fieldName": field}));
        e
    }
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not.found",
            "The requested resource was not found.",
        )
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "general.conflict", message)
    }
    /// The version-mismatch 409 of PATCH user / PUT group / POST group members.
    pub fn version_conflict() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "general.conflict",
            "Resource conflict - Unexpected version was provided",
        )
    }
    pub fn auth_required() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "authentication.required",
            "No authentication bearer token specified in authorization header.",
        )
    }
    pub fn bad_credentials() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "bad.credentials",
            "Invalid login credentials.",
        )
    }
    pub fn too_many_requests(retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too.many.requests.retry.after",
            format!(
                "Rate limit exceeded the maximum. Retry the request in [{retry_after}] seconds"
            ),
        );
        e.retry_after = Some(retry_after);
        e
    }
    pub fn server_error(status: u16) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (code, message) = match status.as_u16() {
            502 => ("bad.gateway", "Bad Gateway"),
            503 => (
                "service.unavailable",
                "Service Unavailable - The server is currently unavailable (because it is overloaded or down for maintenance).",
            ),
            504 => ("request.timeout", "The request timed out."),
            _ => (
                "internal.server.error",
                "The server encountered an unexpected condition which prevented it from fulfilling the request.",
            ),
        };
        Self::new(status, code, message)
    }

    pub fn body(&self, context_id: &str) -> Value {
        json!({
            "message": self.message,
            "code": self.code,
            "status": self.status.as_u16(),
            "contextId": context_id,
            "details": self.details,
            "errors": [],
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body(&correlation_id());
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// A SCIM protocol error (`ScimError` body, `application/scim+json`).
#[derive(Debug, Clone)]
pub struct ScimErr(pub gcprov_scim::ScimError);

impl ScimErr {
    pub fn new(
        status: u16,
        scim_type: Option<gcprov_scim::ScimType>,
        detail: impl Into<String>,
    ) -> Self {
        Self(gcprov_scim::ScimError::new(status, scim_type, detail))
    }
}

impl IntoResponse for ScimErr {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::BAD_REQUEST);
        crate::util::scim_json(status, &self.0.to_body())
    }
}

/// Errors of SCIM handlers: most are `ScimError`s, auth-like ones stay `ErrorBody`.
#[derive(Debug)]
pub enum ScimOrApi {
    Scim(ScimErr),
    Api(ApiError),
}

impl From<ScimErr> for ScimOrApi {
    fn from(e: ScimErr) -> Self {
        Self::Scim(e)
    }
}
impl From<ApiError> for ScimOrApi {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}
impl IntoResponse for ScimOrApi {
    fn into_response(self) -> Response {
        match self {
            Self::Scim(e) => e.into_response(),
            Self::Api(e) => e.into_response(),
        }
    }
}

/// OAuth-style error of the login host.
pub fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(
            json!({"error": error, "description": description, "error_description": description}),
        ),
    )
        .into_response()
}
