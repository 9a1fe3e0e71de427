//! `POST /policy/v1/evaluate` through `tower::ServiceExt::oneshot` (no network).

use super::demo;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use gcprov_policy::DecisionRecord;
use gcprov_policy::http::{DecisionSink, HmacSecret, PolicyHttpState, router, sign};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

const ENT: &str = super::ENT;

fn good_user() -> Value {
    json!({
        "id": "u-1", "userName": "ada.lovelace@acme.example", "externalId": "ext-1",
        "emails": [{"value": "ada.lovelace@acme.example", "primary": true}],
        ENT: {"department": "Support", "costCenter": "CC-2000"}
    })
}

fn state() -> PolicyHttpState {
    PolicyHttpState::new(Arc::new(demo()))
}

async fn call(
    st: PolicyHttpState,
    body: Vec<u8>,
    signature: Option<String>,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method("POST")
        .uri("/policy/v1/evaluate")
        .header("content-type", "application/json");
    if let Some(s) = signature {
        req = req.header("X-Gcprov-Signature", s);
    }
    let req = match req.body(Body::from(body)) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    let resp = match router(st).oneshot(req).await {
        Ok(r) => r,
        Err(e) => match e {},
    };
    let status = resp.status();
    let bytes = match axum::body::to_bytes(resp.into_body(), 1 << 20).await {
        Ok(b) => b,
        Err(e) => panic!("{e}"),
    };
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| json!({"raw": String::from_utf8_lossy(&bytes)}));
    (status, v)
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

#[tokio::test]
async fn accepts_a_good_user() {
    let (status, v) = call(state(), bytes(&good_user()), None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["decision"], "ACCEPTED");
    assert_eq!(v["violations"], json!([]));
    assert_eq!(v["subject"]["userName"], "ada.lovelace@acme.example");
    assert_eq!(v["subject"]["externalId"], "ext-1");
    assert_eq!(v["policy"]["id"], "acme-contact-centre");
    assert!(
        v["evaluatedAt"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{v}"
    );
}

#[tokio::test]
async fn rejects_an_event_envelope_with_violations_and_identifiers() {
    let mut user = good_user();
    user[ENT]["department"] = json!("Marketing");
    let envelope = json!({"eventType": "user.created", "eventTimestamp": "2026-11-23T12:00:00Z", "id": "evt-9", "data": user});
    let (status, v) = call(state(), bytes(&envelope), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["decision"], "REJECTED");
    assert_eq!(v["violations"][0]["code"], "POLICY_DEPARTMENT_DENIED");
    assert_eq!(v["violations"][0]["rule"], "approved-departments");
    assert_eq!(v["violations"][0]["mode"], "enforce");
    assert_eq!(v["event"]["eventType"], "user.created");
    assert_eq!(v["event"]["eventTimestamp"], "2026-11-23T12:00:00Z");
    assert_eq!(v["event"]["id"], "evt-9");
    assert_eq!(v["subject"]["id"], "u-1");
}

#[tokio::test]
async fn warnings_are_accepted_with_200() {
    let mut user = good_user();
    user["title"] = json!("Temp");
    let (status, v) = call(state(), bytes(&user), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["decision"], "ACCEPTED_WITH_WARNINGS");
    assert_eq!(v["warnings"][0]["mode"], "warn");
}

#[tokio::test]
async fn malformed_json_is_a_clear_400() {
    let (status, v) = call(state(), b"{\"userName\": ".to_vec(), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("malformed JSON")),
        "{v}"
    );
    let (status, v) = call(state(), b"[1,2]".to_vec(), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("JSON object")),
        "{v}"
    );
    let (status, _) = call(
        state(),
        bytes(&json!({"eventType": "x", "data": "nope"})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn oversized_body_is_413() {
    let mut st = state();
    st.max_body_bytes = 1024;
    let mut user = good_user();
    user["title"] = json!("x".repeat(4096));
    let (status, v) = call(st, bytes(&user), None).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("1024")),
        "{v}"
    );
}

#[tokio::test]
async fn signatures_are_checked_when_a_secret_is_configured() {
    let secret = HmacSecret::new(b"s3cret-key".to_vec());
    let mut st = state();
    st.hmac_secret = Some(secret.clone());
    let body = bytes(&good_user());
    // Missing.
    let (status, v) = call(st.clone(), body.clone(), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
    // Wrong key.
    let wrong = sign(&HmacSecret::new(b"other".to_vec()), &body);
    let (status, _) = call(st.clone(), body.clone(), Some(wrong)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Right key, tampered body.
    let sig = sign(&secret, &body);
    let mut tampered = body.clone();
    tampered.push(b' ');
    let (status, _) = call(st.clone(), tampered, Some(sig.clone())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Garbage header.
    let (status, _) = call(st.clone(), body.clone(), Some("sha256=zz".into())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Good.
    let (status, v) = call(st, body, Some(sig)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // The secret never shows in Debug.
    assert!(!format!("{:?}", secret).contains("s3cret"));
}

#[derive(Default)]
struct Sink(Mutex<Vec<DecisionRecord>>);
impl DecisionSink for Sink {
    fn record(&self, record: DecisionRecord) {
        if let Ok(mut v) = self.0.lock() {
            v.push(record);
        }
    }
}

#[tokio::test]
async fn every_decision_reaches_the_sink() {
    let sink = Arc::new(Sink::default());
    let mut st = state();
    st.sink = Some(sink.clone());
    let mut user = good_user();
    user["password"] = json!("Sup3rSecret!");
    let envelope = json!({"eventType": "v2.audits.entitytype.User", "data": user});
    let (status, _) = call(st, bytes(&envelope), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let recs = sink.0.lock().map(|v| v.clone()).unwrap_or_default();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].channel, "http");
    assert_eq!(
        recs[0].actor.as_deref(),
        Some("http:v2.audits.entitytype.User")
    );
    assert!(
        !serde_json::to_string(&recs[0])
            .unwrap_or_default()
            .contains("Sup3rSecret")
    );
}
