//! The `Idempotency-Key` request header (draft-ietf-httpapi-idempotency-key-header) on POST,
//! PUT, PATCH, DELETE and `/Bulk`.
//!
//! * The key is per caller: the store key is a hash of the caller's name and the key, so two
//!   callers never see each other's answers.
//! * First request: claims the key in the store's `idempotency_key` table (an in-flight record
//!   with a SHA-256 of the request: method, path and query, caller, body), atomically for every
//!   replica sharing the store, then runs normally; its answer (status, body, `Content-Type`,
//!   `ETag`, `Location`) replaces the claim for `idempotency.ttl_seconds`. Answers that tell the
//!   client to try again (5xx, 429, anything with `Retry-After`) are not stored and the claim
//!   is released: the retry then really runs, which is what the client needs. So is a claim
//!   whose request was cancelled (the client went away) or panicked.
//! * Same key, same request, after the first finished: the stored answer is replayed with
//!   `Idempotent-Replayed: true`, nothing is sent to Genesys, and an audit entry
//!   `scim.idempotency.replay` says so.
//! * Same key, different request: 422 (SCIM error, `scimType` `invalidValue`), audited
//!   `scim.idempotency.mismatch` (denied).
//! * Same key while the first request is still running, on this replica or another one: 409
//!   with `Retry-After`, audited `scim.idempotency.in_flight`. This process also holds its
//!   in-flight keys in memory, so a retry reaching it is told 409 before its body is read. A
//!   store claim has a lease (`idempotency.in_flight_lease_seconds`) that the running request
//!   renews every third of it: when a replica dies mid-request, its keys are free again once
//!   the lease runs out.
//! * Expired keys are deleted every `idempotency.purge_interval_seconds`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header, response::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gcprov_scim::ScimType;
use gcprov_store::{IdempotencyClaim, IdempotencyRecord, NewEntry, Outcome, Store, StoreError};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::auth::Caller;
use crate::config::IdempotencyConfig;
use crate::error::GwError;
use crate::http::{AppState, RequestId};

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// Set on a replayed answer.
pub const REPLAYED: &str = "idempotent-replayed";
/// Longest accepted key.
pub const MAX_KEY_LEN: usize = 255;

/// Idempotency state of one gateway.
pub struct Idempotency {
    cfg: IdempotencyConfig,
    store: Store,
    body_limit: usize,
    in_flight: Arc<Mutex<HashSet<String>>>,
}

impl std::fmt::Debug for Idempotency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idempotency")
            .field("cfg", &self.cfg)
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

/// Holds a key in flight; released on drop (also when the client goes away mid-request).
struct InFlight {
    set: Arc<Mutex<HashSet<String>>>,
    key: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut s = self.set.lock().unwrap_or_else(|p| p.into_inner());
        s.remove(&self.key);
    }
}

/// A key claimed in the store for the request running now. Dropped before it was completed or
/// released (the client went away, the handler panicked), it releases the claim in the
/// background; if that fails too, the claim's lease ends it.
struct StoreClaim {
    store: Store,
    key: String,
    claim: String,
    ended: bool,
}

impl StoreClaim {
    /// Stores the answer; false when the claim had lapsed and another request holds the key.
    async fn complete(mut self, rec: &IdempotencyRecord) -> Result<bool, StoreError> {
        let r = self.store.idempotency_complete(&self.claim, rec).await;
        self.ended = r.is_ok();
        r
    }

    async fn release(mut self) -> Result<bool, StoreError> {
        let r = self.store.idempotency_release(&self.key, &self.claim).await;
        self.ended = r.is_ok();
        r
    }
}

impl Drop for StoreClaim {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = self.store.clone();
        let key = std::mem::take(&mut self.key);
        let claim = std::mem::take(&mut self.claim);
        rt.spawn(async move {
            if let Err(e) = store.idempotency_release(&key, &claim).await {
                tracing::warn!(error = %e, "releasing an idempotency key failed; its lease will end it");
            }
        });
    }
}

/// What is stored in the record's `response` column besides the status.
#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    headers: Vec<(String, String)>,
    body: String,
}

impl Idempotency {
    pub fn new(cfg: IdempotencyConfig, store: Store, body_limit: usize) -> Self {
        Self {
            cfg,
            store,
            body_limit,
            in_flight: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    /// Requests with a key that are running now.
    pub fn in_flight(&self) -> usize {
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    fn begin(&self, store_key: &str) -> Option<InFlight> {
        let mut s = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if !s.insert(store_key.to_string()) {
            return None;
        }
        Some(InFlight {
            set: self.in_flight.clone(),
            key: store_key.to_string(),
        })
    }

    fn lease_us(&self) -> i64 {
        seconds_us(self.cfg.in_flight_lease_seconds)
    }

    /// Deletes expired keys; returns how many.
    pub async fn purge_expired(&self) -> Result<u64, gcprov_store::StoreError> {
        self.store.idempotency_purge_expired(now_us()).await
    }
}

fn seconds_us(s: u64) -> i64 {
    i64::try_from(s)
        .unwrap_or(i64::MAX / 1_000_000)
        .saturating_mul(1_000_000)
}

fn now_us() -> i64 {
    gcprov_store::to_us(time::OffsetDateTime::now_utc())
}

fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    hex::encode(h.finalize())
}

/// Where a caller's key is stored: `scim:` + SHA-256 of the caller's name and the key (so
/// callers never share keys, and the table holds no caller-chosen text).
pub fn store_key(caller: &str, key: &str) -> String {
    format!("scim:{}", sha256_hex(&[caller.as_bytes(), key.as_bytes()]))
}

/// The key from the header: an RFC 8941 string (`"…"`, as the draft writes it) or a bare
/// token (what most clients send); 1 to 255 visible ASCII characters.
pub fn parse_key(v: &HeaderValue) -> Result<String, GwError> {
    let bad = || {
        GwError::bad(
            ScimType::InvalidValue,
            format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
        )
    };
    let s = v.to_str().map_err(|_| bad())?.trim();
    let s = match s.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"').ok_or_else(bad)?,
        None => s,
    };
    if s.is_empty()
        || s.len() > MAX_KEY_LEN
        || !s
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
    {
        return Err(bad());
    }
    Ok(s.to_string())
}

fn applies(m: &Method) -> bool {
    matches!(
        *m,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// Answers that ask the client to try again are not stored (the retry must run).
fn storable(p: &Parts) -> bool {
    let s = p.status.as_u16();
    s < 500 && s != 429 && !p.headers.contains_key(header::RETRY_AFTER)
}

const KEPT_HEADERS: [header::HeaderName; 3] =
    [header::CONTENT_TYPE, header::ETAG, header::LOCATION];

fn kept_headers(h: &HeaderMap) -> Vec<(String, String)> {
    KEPT_HEADERS
        .iter()
        .filter_map(|n| {
            h.get(n)
                .and_then(|v| v.to_str().ok())
                .map(|v| (n.as_str().to_string(), v.to_string()))
        })
        .collect()
}

fn replay(rec: &IdempotencyRecord) -> Result<Response, GwError> {
    let stored: Stored = serde_json::from_str(&rec.response)
        .map_err(|_| GwError::internal("a stored idempotent answer cannot be read"))?;
    let status = u16::try_from(rec.status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| GwError::internal("a stored idempotent answer cannot be read"))?;
    let mut r = (status, stored.body).into_response();
    for (k, v) in stored.headers {
        if let (Ok(k), Ok(v)) = (
            header::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            r.headers_mut().insert(k, v);
        }
    }
    r.headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    Ok(r)
}

struct Audit<'a> {
    store: &'a Store,
    caller: &'a Caller,
    request_id: &'a str,
    key: &'a str,
    method: &'a str,
    path: &'a str,
}

impl Audit<'_> {
    async fn write(&self, action: &'static str, outcome: Outcome, extra: Value) {
        metrics::counter!("gcprov_gateway_idempotency_total", "action" => action).increment(1);
        let mut detail = json!({
            "idempotencyKey": self.key,
            "method": self.method,
            "path": self.path,
            "genesysCalls": [],
        });
        if let (Value::Object(d), Value::Object(e)) = (&mut detail, extra) {
            d.extend(e);
        }
        let entry = NewEntry::new(self.caller.name.clone(), action, outcome)
            .request_id(self.request_id.to_string())
            .detail(detail);
        if let Err(e) = self.store.append(entry, Vec::new()).await {
            metrics::counter!("gcprov_gateway_audit_failures_total").increment(1);
            tracing::error!(error = %e, request_id = %self.request_id, "audit append failed");
        }
    }
}

/// The middleware (inside authentication: the caller is known).
pub(crate) async fn layer(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let idem = &st.idempotency;
    if !idem.cfg.enabled || !applies(req.method()) {
        return next.run(req).await;
    }
    let Some(raw) = req.headers().get(HEADER) else {
        return next.run(req).await;
    };
    let key = match parse_key(raw) {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    let Some(caller) = req.extensions().get::<Caller>().cloned() else {
        // Authentication runs first and always sets the caller.
        return GwError::new(401, None, "Authentication required").into_response();
    };
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| path.clone());
    let audit = Audit {
        store: &idem.store,
        caller: &caller,
        request_id: &request_id,
        key: &key,
        method: &method,
        path: &path,
    };
    let store_key = store_key(&caller.name, &key);

    // Registered before anything else, so a concurrent retry is told 409 even while this
    // request's body is still arriving; released when this request ends.
    let Some(guard) = idem.begin(&store_key) else {
        return in_flight(&audit, idem.cfg.in_flight_retry_after_seconds).await;
    };

    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, idem.body_limit).await {
        Ok(b) => b,
        Err(_) => {
            return GwError::new(413, None, "the request body is too large").into_response();
        }
    };
    let hash = sha256_hex(&[
        method.as_bytes(),
        target.as_bytes(),
        caller.name.as_bytes(),
        &bytes,
    ]);
    let claim = match idem
        .store
        .idempotency_claim(&store_key, &hash, now_us(), idem.lease_us())
        .await
    {
        Ok(IdempotencyClaim::Won { claim, .. }) => StoreClaim {
            store: idem.store.clone(),
            key: store_key.clone(),
            claim,
            ended: false,
        },
        Ok(IdempotencyClaim::Completed(rec)) if rec.request_hash == hash => {
            drop(guard);
            audit
                .write(
                    "scim.idempotency.replay",
                    Outcome::Success,
                    json!({"status": rec.status, "firstAnsweredUs": rec.created_us}),
                )
                .await;
            return match replay(&rec) {
                Ok(r) => r,
                Err(e) => e.into_response(),
            };
        }
        Ok(IdempotencyClaim::Completed(_)) => {
            drop(guard);
            audit
                .write(
                    "scim.idempotency.mismatch",
                    Outcome::Denied,
                    json!({"status": 422}),
                )
                .await;
            return GwError::new(
                422,
                Some(ScimType::InvalidValue),
                "this Idempotency-Key was already used for a different request",
            )
            .into_response();
        }
        Ok(IdempotencyClaim::InFlight { .. }) => {
            // Running on another replica (or one that died, until its lease ends).
            drop(guard);
            return in_flight(&audit, idem.cfg.in_flight_retry_after_seconds).await;
        }
        Err(e) => {
            // Without the store the gateway cannot promise the request runs once.
            tracing::error!(error = %e, request_id = %request_id, "idempotency claim failed");
            return GwError::retryable(503, "the gateway's store is unavailable; retry later", 5)
                .into_response();
        }
    };

    // Run the request, renewing the claim's lease while it runs (a long `/Bulk` outlives one
    // lease; the key must stay in flight for the other replicas until it ends).
    let lease_us = idem.lease_us();
    let every = std::time::Duration::from_micros(u64::try_from(lease_us / 3).unwrap_or(1).max(1));
    let run = next.run(Request::from_parts(parts, Body::from(bytes)));
    tokio::pin!(run);
    let mut renewing = true;
    let resp = loop {
        tokio::select! {
            r = &mut run => break r,
            () = tokio::time::sleep(every), if renewing => {
                match idem
                    .store
                    .idempotency_renew(&store_key, &claim.claim, now_us().saturating_add(lease_us))
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => {
                        // The lease ran out before a renewal (a stalled process or store) and
                        // another request may hold the key now: this answer will not be stored.
                        tracing::warn!(request_id = %request_id, "an idempotency claim lapsed while its request ran");
                        renewing = false;
                    }
                    Err(e) => tracing::warn!(error = %e, request_id = %request_id, "renewing an idempotency claim failed"),
                }
            }
        }
    };
    let (rparts, rbody) = resp.into_parts();
    let rbytes: Bytes = match axum::body::to_bytes(rbody, usize::MAX).await {
        Ok(b) => b,
        Err(_) => return GwError::internal("the answer could not be read").into_response(),
    };
    let mut stored_rec = None;
    if storable(&rparts)
        && let Ok(text) = std::str::from_utf8(&rbytes)
    {
        let now = now_us();
        let stored = Stored {
            headers: kept_headers(&rparts.headers),
            body: text.to_string(),
        };
        match serde_json::to_string(&stored) {
            Ok(response) => {
                stored_rec = Some(IdempotencyRecord {
                    key: store_key.clone(),
                    request_hash: hash,
                    status: i64::from(rparts.status.as_u16()),
                    response,
                    created_us: now,
                    expires_us: now.saturating_add(seconds_us(idem.cfg.ttl_seconds)),
                });
            }
            Err(e) => tracing::warn!(error = %e, "encoding the idempotent answer failed"),
        }
    }
    match stored_rec {
        Some(rec) => match claim.complete(&rec).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(request_id = %request_id, "an idempotency claim lapsed before its answer was stored; the answer is not replayed");
            }
            Err(e) => {
                tracing::warn!(error = %e, request_id = %request_id, "storing the idempotent answer failed");
            }
        },
        // Nothing to replay: the next request with this key runs.
        None => {
            if let Err(e) = claim.release().await {
                tracing::warn!(error = %e, request_id = %request_id, "releasing an idempotency key failed");
            }
        }
    }
    drop(guard);
    Response::from_parts(rparts, Body::from(rbytes))
}

/// 409 with `Retry-After` for a key whose first request is still running.
async fn in_flight(audit: &Audit<'_>, after: u64) -> Response {
    audit
        .write(
            "scim.idempotency.in_flight",
            Outcome::Failure,
            json!({"status": 409}),
        )
        .await;
    GwError::retryable(
        409,
        "a request with this Idempotency-Key is still being processed; retry later",
        after,
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hv(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).expect("header")
    }

    #[test]
    fn keys_quoted_or_bare() {
        assert_eq!(
            parse_key(&hv("\"8e03978e-40d5\"")).ok(),
            Some("8e03978e-40d5".into())
        );
        assert_eq!(parse_key(&hv("abc-123")).ok(), Some("abc-123".into()));
        for bad in ["", "\"\"", "\"abc", "a b", "a\\b"] {
            assert!(parse_key(&hv(bad)).is_err(), "{bad:?}");
        }
        assert!(parse_key(&hv(&"k".repeat(MAX_KEY_LEN + 1))).is_err());
        assert!(parse_key(&hv(&"k".repeat(MAX_KEY_LEN))).is_ok());
    }

    #[test]
    fn request_hash_separates_fields() {
        assert_ne!(sha256_hex(&[b"ab", b"c"]), sha256_hex(&[b"a", b"bc"]));
    }
}
