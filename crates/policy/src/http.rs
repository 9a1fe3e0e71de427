//! `POST /policy/v1/evaluate`: the policy over HTTP, as an axum `Router` the SCIM gateway mounts.
//!
//! The body is a SCIM resource, or an event envelope `{eventType, eventTimestamp, data}` as
//! automation tools send it (`data` is the resource). Answers 200 with `ACCEPTED` /
//! `ACCEPTED_WITH_WARNINGS` or 400 with `REJECTED` and the violations, plus the event's
//! identifiers and a timestamp. Malformed JSON is a 400 with an `error`; a body above the limit
//! is a 413; with a shared secret configured, a missing or wrong `X-Gcprov-Signature:
//! sha256=<hex HMAC-SHA256 of the raw body>` is a 401. See docs/policy-http.md.

use crate::decision::{DecisionRecord, Subject, rfc3339};
use crate::oracle::UniquenessOracle;
use crate::path::get_ci;
use crate::{EvalContext, Policy};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The route this module serves.
pub const EVALUATE_PATH: &str = "/policy/v1/evaluate";
/// The signature header: `sha256=<lower-case hex>`.
pub const SIGNATURE_HEADER: &str = "x-gcprov-signature";
/// Default body limit: 256 KiB (a SCIM user is a few KiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;

/// A shared HMAC secret. Its `Debug` never shows the bytes.
#[derive(Clone)]
pub struct HmacSecret(Vec<u8>);

impl HmacSecret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        HmacSecret(bytes.into())
    }
}

impl std::fmt::Debug for HmacSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacSecret(<redacted>)")
    }
}

/// Receives every decision taken over HTTP, so the gateway can write the audit entry and the
/// outbox event (this crate does not depend on the store).
pub trait DecisionSink: Send + Sync {
    fn record(&self, record: DecisionRecord);
}

/// Shared state of the router.
#[derive(Clone)]
pub struct PolicyHttpState {
    pub policy: Arc<Policy>,
    /// Answers `unique` rules; without one they are skipped.
    pub oracle: Option<Arc<dyn UniquenessOracle + Send + Sync>>,
    /// Body limit in bytes; larger bodies get 413.
    pub max_body_bytes: usize,
    /// When set, every call must carry a valid `X-Gcprov-Signature`.
    pub hmac_secret: Option<HmacSecret>,
    pub sink: Option<Arc<dyn DecisionSink>>,
}

impl PolicyHttpState {
    /// Defaults: 256 KiB limit, no signature check, no oracle, no sink.
    pub fn new(policy: Arc<Policy>) -> Self {
        PolicyHttpState {
            policy,
            oracle: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            hmac_secret: None,
            sink: None,
        }
    }
}

impl std::fmt::Debug for PolicyHttpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyHttpState")
            .field("policy", &self.policy.reference())
            .field("max_body_bytes", &self.max_body_bytes)
            .field("hmac_secret", &self.hmac_secret)
            .finish_non_exhaustive()
    }
}

/// The router: `POST /policy/v1/evaluate`.
pub fn router(state: PolicyHttpState) -> Router {
    let limit = state.max_body_bytes;
    Router::new()
        .route(EVALUATE_PATH, post(evaluate))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(json!({ "error": message.into(), "status": status.as_u16() })),
    )
        .into_response()
}

/// Constant-time check of `sha256=<hex>` against the HMAC of `body`.
pub fn verify_signature(
    secret: &HmacSecret,
    header: Option<&str>,
    body: &[u8],
) -> Result<(), &'static str> {
    let header = header.ok_or("missing X-Gcprov-Signature header")?;
    let hex_sig = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or("X-Gcprov-Signature must be 'sha256=<hex>'")?;
    let given = hex::decode(hex_sig).map_err(|_| "X-Gcprov-Signature is not valid hex")?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(&secret.0).map_err(|_| "signature check misconfigured")?;
    mac.update(body);
    let expected = mac.finalize().into_bytes();
    if bool::from(expected.as_slice().ct_eq(given.as_slice())) {
        Ok(())
    } else {
        Err("signature does not match the body")
    }
}

/// `sha256=<hex>` for `body`: what a caller puts in `X-Gcprov-Signature`.
pub fn sign(secret: &HmacSecret, body: &[u8]) -> String {
    match Hmac::<Sha256>::new_from_slice(&secret.0) {
        Ok(mut mac) => {
            mac.update(body);
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        }
        Err(_) => String::new(),
    }
}

async fn evaluate(
    State(st): State<PolicyHttpState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(rej) => {
            let status = rej.status();
            let msg = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!("request body larger than {} bytes", st.max_body_bytes)
            } else {
                rej.body_text()
            };
            return error(status, msg);
        }
    };
    if let Some(secret) = &st.hmac_secret {
        let header = headers.get(SIGNATURE_HEADER).and_then(|h| h.to_str().ok());
        if let Err(why) = verify_signature(secret, header, &body) {
            return error(StatusCode::UNAUTHORIZED, why);
        }
    }
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("malformed JSON: {e}")),
    };
    if !v.is_object() {
        return error(
            StatusCode::BAD_REQUEST,
            "expected a JSON object: a SCIM user or {eventType, eventTimestamp, data}",
        );
    }
    let envelope = get_ci(&v, "eventType").is_some();
    if envelope && get_ci(&v, "data").is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            "an event envelope needs 'data' (the SCIM resource to evaluate)",
        );
    }
    let resource = if envelope {
        get_ci(&v, "data").unwrap_or(&Value::Null)
    } else {
        &v
    };
    if !resource.is_object() {
        return error(
            StatusCode::BAD_REQUEST,
            "'data' must be a JSON object (the SCIM resource)",
        );
    }
    let ctx = EvalContext {
        kind: None,
        oracle: st.oracle.as_deref().map(|o| o as &dyn UniquenessOracle),
    };
    let decision = st.policy.evaluate_with(resource, &ctx);
    let now = time::OffsetDateTime::now_utc();
    let subject = Subject::from_resource(resource);
    let mut event = serde_json::Map::new();
    if envelope {
        for k in [
            "eventType",
            "eventTimestamp",
            "id",
            "eventId",
            "correlationId",
        ] {
            if let Some(x) = get_ci(&v, k).filter(|x| x.is_string() || x.is_number()) {
                event.insert(k.to_string(), x.clone());
            }
        }
    }
    let status = if decision.is_rejected() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let out = json!({
        "decision": decision.outcome,
        "violations": decision.violations,
        "warnings": decision.warnings,
        "event": event,
        "subject": subject,
        "policy": st.policy.reference(),
        "evaluatedAt": rfc3339(now),
    });
    if let Some(sink) = &st.sink {
        let actor = event
            .get("eventType")
            .and_then(Value::as_str)
            .map(|t| format!("http:{t}"));
        sink.record(DecisionRecord::new(
            st.policy.reference(),
            &decision,
            resource,
            "http",
            actor,
            now,
        ));
    }
    (status, axum::Json(out)).into_response()
}
