//! Audit entries list the Genesys HTTP calls a request made, with the emulator's
//! `ININ-Correlation-Id`s (in the entry's correlation ids and in its detail).

use gcprov_gateway::Mode;
use gcprov_store::AuditEntry;
use serde_json::{Value, json};

use super::support::*;

/// The one audit entry of `action` written for the request with id `rid`.
async fn entry(env: &Env, rid: &str, action: &str) -> AuditEntry {
    let all = env.audit().await;
    let mut found: Vec<AuditEntry> = all
        .into_iter()
        .filter(|e| e.request_id.as_deref() == Some(rid) && e.action == action)
        .collect();
    assert_eq!(found.len(), 1, "one {action} entry for request {rid}");
    found.remove(0)
}

/// `(method, path, status)` of the recorded calls, and checks every call's correlation id is
/// in the entry's correlation ids (and nothing else is).
fn calls(e: &AuditEntry) -> Vec<(String, String, u64)> {
    let http = e.detail["genesysHttp"]
        .as_array()
        .unwrap_or_else(|| panic!("genesysHttp in {}", e.detail));
    let mut from_detail: Vec<String> = http
        .iter()
        .map(|c| {
            c["correlationId"]
                .as_str()
                .unwrap_or_else(|| {
                    panic!("the emulator sends a correlation id on every answer: {c}")
                })
                .to_string()
        })
        .collect();
    from_detail.sort();
    from_detail.dedup();
    let mut column = e.correlation_ids.clone();
    column.sort();
    assert_eq!(
        column, from_detail,
        "correlation_ids column = the calls' ids"
    );
    http.iter()
        .map(|c| {
            (
                c["method"].as_str().unwrap_or_default().to_string(),
                c["path"].as_str().unwrap_or_default().to_string(),
                c["status"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

async fn send(env: &Env, method: &str, path: &str, rid: &str, body: Value) -> Resp {
    env.call(
        method,
        path,
        Some(PROVISIONER),
        Some(body),
        &[("x-request-id", rid)],
    )
    .await
}

#[tokio::test]
async fn create_patch_and_membership_audit_their_correlation_ids() {
    let env = start(Opts::default()).await;
    let r = send(
        &env,
        "POST",
        "/Users",
        "corr-create",
        json!({"userName": "corr.user@acme.example", "displayName": "Corr User", "active": true}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let uid = r.body["id"].as_str().expect("id").to_string();
    let e = entry(&env, "corr-create", "scim.user.create").await;
    let c = calls(&e);
    assert!(
        c.iter()
            .any(|(m, p, s)| m == "POST" && p == "/api/v2/scim/v2/users" && *s == 201),
        "the SCIM create is listed: {c:?}"
    );
    assert!(!e.correlation_ids.is_empty());

    let r = send(
        &env,
        "PATCH",
        &format!("/Users/{uid}"),
        "corr-patch",
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
               "Operations": [{"op": "replace", "path": "title", "value": "Lead"}]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let e = entry(&env, "corr-patch", "scim.user.patch").await;
    let c = calls(&e);
    let user_path = format!("/api/v2/scim/v2/users/{uid}");
    assert!(
        c.iter()
            .any(|(m, p, s)| (m == "PUT" || m == "PATCH") && *p == user_path && *s == 200),
        "the user write is listed: {c:?}"
    );
    // Calls of the create are not repeated in the patch's entry.
    assert!(!c.iter().any(|(m, _, _)| m == "POST"), "{c:?}");

    let r = send(&env, "POST", "/Groups", "corr-group",
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Corr Group", "members": []})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let gid = r.body["id"].as_str().expect("gid").to_string();
    let r = send(
        &env,
        "PATCH",
        &format!("/Groups/{gid}"),
        "corr-member",
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
               "Operations": [{"op": "add", "path": "members", "value": [{"value": uid}]}]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(env.group_members(&gid).await, vec![uid.clone()]);
    let e = entry(&env, "corr-member", "scim.group.patch").await;
    let c = calls(&e);
    let members = format!("/api/v2/groups/{gid}/members");
    assert!(
        c.iter()
            .any(|(m, p, s)| m == "POST" && *p == members && (200..300).contains(s)),
        "the membership call is listed: {c:?}"
    );
    env.shutdown().await;
}

#[tokio::test]
async fn bulk_operations_each_audit_their_own_calls() {
    let env = start(Opts::default()).await;
    let r = send(
        &env,
        "POST",
        "/Bulk",
        "corr-bulk",
        json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "a",
             "data": {"userName": "bulk.a@acme.example", "displayName": "Bulk A", "active": true}},
            {"method": "POST", "path": "/Users", "bulkId": "b",
             "data": {"userName": "bulk.b@acme.example", "displayName": "Bulk B", "active": true}}
        ]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let entries: Vec<AuditEntry> = env
        .audit()
        .await
        .into_iter()
        .filter(|e| e.request_id.as_deref() == Some("corr-bulk") && e.action == "scim.user.create")
        .collect();
    assert_eq!(entries.len(), 2);
    let creates = |e: &AuditEntry| {
        calls(e)
            .into_iter()
            .filter(|(m, p, _)| m == "POST" && p == "/api/v2/scim/v2/users")
            .count()
    };
    assert_eq!((creates(&entries[0]), creates(&entries[1])), (1, 1));
    assert!(
        entries[0]
            .correlation_ids
            .iter()
            .all(|id| !entries[1].correlation_ids.contains(id))
    );
    env.shutdown().await;
}

#[tokio::test]
async fn shadow_mode_records_would_be_calls_and_sends_no_write() {
    let env = start(Opts {
        cfg: Box::new(|c| c.mode = Mode::Shadow),
        ..Default::default()
    })
    .await;
    let r = send(
        &env,
        "POST",
        "/Users",
        "corr-shadow",
        json!({"userName": "shadow.corr@acme.example", "displayName": "Shadow", "active": true}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let e = entry(&env, "corr-shadow", "scim.user.create").await;
    let would: Vec<&Value> = e.detail["genesysCalls"]
        .as_array()
        .expect("calls")
        .iter()
        .collect();
    assert!(
        would.iter().any(|c| c["outcome"] == "shadow"),
        "{}",
        e.detail
    );
    assert!(
        calls(&e).iter().all(|(m, _, _)| m == "GET"),
        "no write reached Genesys: {}",
        e.detail
    );
    env.shutdown().await;
}
