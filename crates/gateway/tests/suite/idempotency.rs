//! `Idempotency-Key`: replay without calling Genesys, 422 for another request under the same
//! key, 409 while the first is in flight, per-caller keys, retryable answers not stored,
//! expired keys reusable.

use std::time::Duration;

use gcprov_emulator::FaultConfig;
use gcprov_gateway::idempotency::store_key;
use gcprov_store::IdempotencyRecord;
use serde_json::{Value, json};

use super::support::*;

fn user(name: &str) -> Value {
    json!({"userName": format!("{name}@acme.example"), "displayName": name, "active": true})
}

fn total_genesys_requests(env: &Env) -> u64 {
    env.emu.stats()["totalRequests"].as_u64().unwrap_or(0)
}

async fn with_key(
    env: &Env,
    token: &str,
    method: &str,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> Resp {
    env.call(method, path, Some(token), body, &[("idempotency-key", key)])
        .await
}

fn header<'a>(r: &'a Resp, name: &str) -> Option<&'a str> {
    r.headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn a_retry_is_replayed_without_calling_genesys_and_audited() {
    let env = start(Opts::default()).await;
    let key = "\"8e03978e-40d5-43e8-bc93-6894a57f9324\"";
    let first = with_key(
        &env,
        PROVISIONER,
        "POST",
        "/Users",
        key,
        Some(user("idem.one")),
    )
    .await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert!(header(&first, "idempotent-replayed").is_none());
    let users = env.emu.user_count();
    let calls = total_genesys_requests(&env);

    let again = with_key(
        &env,
        PROVISIONER,
        "POST",
        "/Users",
        key,
        Some(user("idem.one")),
    )
    .await;
    assert_eq!(again.status, 201);
    assert_eq!(again.body, first.body);
    for h in ["etag", "location", "content-type"] {
        assert!(header(&first, h).is_some(), "{h} on the first answer");
        assert_eq!(header(&again, h), header(&first, h), "{h} replayed");
    }
    assert_eq!(header(&again, "idempotent-replayed"), Some("true"));
    assert_eq!(env.emu.user_count(), users, "no second user");
    assert_eq!(
        total_genesys_requests(&env),
        calls,
        "the replay made no Genesys call"
    );

    let audit = env.audit().await;
    let replay: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "scim.idempotency.replay")
        .collect();
    assert_eq!(replay.len(), 1);
    assert_eq!(replay[0].actor, "token:idp");
    assert_eq!(
        replay[0].detail["idempotencyKey"],
        "8e03978e-40d5-43e8-bc93-6894a57f9324"
    );
    assert_eq!(replay[0].detail["status"], 201);
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.action == "scim.user.create")
            .count(),
        1,
        "the create ran once"
    );
    env.shutdown().await;
}

#[tokio::test]
async fn bulk_and_patch_are_replayed() {
    let env = start(Opts::default()).await;
    let bulk = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [{"method": "POST", "path": "/Users", "bulkId": "a", "data": user("idem.bulk")}]});
    let first = with_key(
        &env,
        PROVISIONER,
        "POST",
        "/Bulk",
        "bulk-1",
        Some(bulk.clone()),
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["Operations"][0]["status"], "201");
    let uid = first.body["Operations"][0]["location"]
        .as_str()
        .and_then(|l| l.rsplit('/').next())
        .expect("location")
        .to_string();
    let again = with_key(&env, PROVISIONER, "POST", "/Bulk", "bulk-1", Some(bulk)).await;
    assert_eq!(
        again.body, first.body,
        "the same BulkResponse, not a 409 uniqueness"
    );
    assert_eq!(header(&again, "idempotent-replayed"), Some("true"));

    // A replayed PATCH answers the stored resource and sends nothing to Genesys.
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "title", "value": "Agent"}]});
    let path = format!("/Users/{uid}");
    let p1 = with_key(
        &env,
        PROVISIONER,
        "PATCH",
        &path,
        "patch-1",
        Some(patch.clone()),
    )
    .await;
    assert_eq!(p1.status, 200, "{}", p1.body);
    let calls = total_genesys_requests(&env);
    let p2 = with_key(&env, PROVISIONER, "PATCH", &path, "patch-1", Some(patch)).await;
    assert_eq!((p2.status, &p2.body), (200, &p1.body));
    assert_eq!(total_genesys_requests(&env), calls);
    env.shutdown().await;
}

#[tokio::test]
async fn the_same_key_for_another_request_is_422() {
    let env = start(Opts::default()).await;
    let r = with_key(
        &env,
        PROVISIONER,
        "POST",
        "/Users",
        "k-422",
        Some(user("idem.a")),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let users = env.emu.user_count();
    let r = with_key(
        &env,
        PROVISIONER,
        "POST",
        "/Users",
        "k-422",
        Some(user("idem.b")),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.body["scimType"], "invalidValue");
    assert_eq!(r.body["status"], "422");
    // Another path with the same key and body is another request too.
    let r = with_key(
        &env,
        PROVISIONER,
        "POST",
        "/Groups",
        "k-422",
        Some(user("idem.a")),
    )
    .await;
    assert_eq!(r.status, 422);
    assert_eq!(env.emu.user_count(), users, "nothing created");
    assert!(
        env.audit()
            .await
            .iter()
            .any(|e| e.action == "scim.idempotency.mismatch" && e.outcome == "denied")
    );
    // Bad keys are refused before anything runs.
    let r = with_key(
        &env,
        PROVISIONER,
        "POST",
        "/Users",
        "two words",
        Some(user("idem.c")),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    env.shutdown().await;
}

#[tokio::test]
async fn keys_are_per_caller() {
    let env = start(Opts::default()).await;
    let r = with_key(
        &env,
        PROVISIONER,
        "POST",
        "/Users",
        "shared",
        Some(user("idem.caller")),
    )
    .await;
    assert_eq!(r.status, 201);
    // Another caller with the same key and body is not given the first caller's answer: its
    // request runs (and meets the existing user).
    let r = with_key(
        &env,
        ADMIN,
        "POST",
        "/Users",
        "shared",
        Some(user("idem.caller")),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.body["scimType"], "uniqueness");
    assert!(header(&r, "idempotent-replayed").is_none());
    env.shutdown().await;
}

#[tokio::test]
async fn a_retry_while_the_first_is_in_flight_is_409_with_retry_after() {
    let env = start(Opts::default()).await;
    // The first request's body arrives in two parts; between them it is in flight.
    let body = user("idem.flight").to_string();
    let (head, tail) = body.split_at(10);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(2);
    tx.send(Ok(head.as_bytes().to_vec()))
        .await
        .expect("first part");
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let first = env
        .http
        .post(env.url("/Users"))
        .bearer_auth(PROVISIONER)
        .header("content-type", "application/scim+json")
        .header("idempotency-key", "flight-1")
        .body(reqwest::Body::wrap_stream(stream))
        .send();
    let first = tokio::spawn(first);
    // Wait (bounded) until the gateway holds the key.
    let mut waited = 0;
    while env.gw.idempotency().in_flight() == 0 {
        assert!(waited < 1000, "the first request never reached the gateway");
        waited += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let users = env.emu.user_count();
    let second = with_key(
        &env,
        PROVISIONER,
        "POST",
        "/Users",
        "flight-1",
        Some(user("idem.flight")),
    )
    .await;
    assert_eq!(second.status, 409, "{}", second.body);
    assert_eq!(header(&second, "retry-after"), Some("1"));
    assert_eq!(env.emu.user_count(), users, "the 409 created nothing");
    tx.send(Ok(tail.as_bytes().to_vec()))
        .await
        .expect("second part");
    drop(tx);
    let first = first.await.expect("task").expect("first answer");
    assert_eq!(first.status().as_u16(), 201);
    let first_body: Value = first.json().await.expect("json");
    assert_eq!(env.gw.idempotency().in_flight(), 0, "released");
    let third = with_key(
        &env,
        PROVISIONER,
        "POST",
        "/Users",
        "flight-1",
        Some(user("idem.flight")),
    )
    .await;
    assert_eq!(third.status, 201);
    assert_eq!(third.body, first_body);
    assert_eq!(header(&third, "idempotent-replayed"), Some("true"));
    assert!(
        env.audit()
            .await
            .iter()
            .any(|e| e.action == "scim.idempotency.in_flight")
    );
    env.shutdown().await;
}

#[tokio::test]
async fn retryable_answers_are_not_stored() {
    let env = start(Opts::default()).await;
    env.emu
        .set_faults(FaultConfig {
            error_probability: 1.0,
            error_statuses: vec![500],
            max_faults: Some(1),
            routes: vec!["/api/v2/scim".into()],
            ..Default::default()
        })
        .expect("faults");
    let r = with_key(
        &env,
        PROVISIONER,
        "POST",
        "/Users",
        "retry-me",
        Some(user("idem.retry")),
    )
    .await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(header(&r, "retry-after").is_some());
    let r = with_key(
        &env,
        PROVISIONER,
        "POST",
        "/Users",
        "retry-me",
        Some(user("idem.retry")),
    )
    .await;
    assert_eq!(r.status, 201, "the retry ran: {}", r.body);
    assert!(header(&r, "idempotent-replayed").is_none());
    env.shutdown().await;
}

#[tokio::test]
async fn an_expired_key_runs_again_and_is_purged() {
    let env = start(Opts::default()).await;
    let now = gcprov_store::to_us(time::OffsetDateTime::now_utc());
    // A record of this key that expired a second ago (and was not purged yet).
    let old = IdempotencyRecord {
        key: store_key("token:idp", "old-key"),
        request_hash: "another request".into(),
        status: 201,
        response: "{}".into(),
        created_us: now - 86_400_000_000,
        expires_us: now - 1_000_000,
    };
    env.store.idempotency_put(&old).await.expect("put");
    let r = with_key(
        &env,
        PROVISIONER,
        "POST",
        "/Users",
        "old-key",
        Some(user("idem.old")),
    )
    .await;
    assert_eq!(r.status, 201, "an expired key is free: {}", r.body);
    let again = with_key(
        &env,
        PROVISIONER,
        "POST",
        "/Users",
        "old-key",
        Some(user("idem.old")),
    )
    .await;
    assert_eq!(again.body, r.body);
    assert_eq!(
        header(&again, "idempotent-replayed"),
        Some("true"),
        "the new answer was stored"
    );
    // The scheduled purge deletes expired keys (here: none left but the fresh one stays).
    env.store
        .idempotency_put(&IdempotencyRecord {
            key: store_key("token:idp", "older"),
            ..old
        })
        .await
        .expect("put");
    assert_eq!(
        env.gw.idempotency().purge_expired().await.expect("purge"),
        1
    );
    let fresh = env
        .store
        .idempotency_get(&store_key("token:idp", "old-key"), now)
        .await
        .expect("get");
    assert!(fresh.is_some());
    env.shutdown().await;
}
