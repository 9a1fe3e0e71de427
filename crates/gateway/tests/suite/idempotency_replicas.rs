//! `Idempotency-Key` across replicas: two gateways on one PostgreSQL schema (like two replicas
//! behind a load balancer). A request held in flight on A makes its retry on B a 409; once A
//! answered, the retry on B replays A's answer without calling Genesys.
//!
//! A's Genesys calls go through a loopback gate that holds its SCIM user create until the test
//! opens it (a barrier: nothing here depends on timing).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use gcprov_emulator::EmulatorHandle;
use gcprov_genesys::{ClientConfig, GenesysClient, SecretString};
use gcprov_store::sqlx;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};

use super::support::*;

/// Forwards every request to the emulator; a SCIM user create first reports its arrival and
/// waits for a permit.
#[derive(Clone)]
struct Gate {
    upstream: String,
    http: reqwest::Client,
    permits: Arc<Semaphore>,
    arrived: mpsc::UnboundedSender<()>,
}

async fn forward(State(g): State<Gate>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 16 << 20).await else {
        return (axum::http::StatusCode::BAD_REQUEST, "body").into_response();
    };
    if parts.method == axum::http::Method::POST && parts.uri.path().ends_with("/scim/v2/users") {
        let _ = g.arrived.send(());
        if let Ok(p) = g.permits.acquire().await {
            p.forget();
        }
    }
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes()).expect("method");
    let mut r = g
        .http
        .request(method, format!("{}{target}", g.upstream))
        .body(bytes);
    for (k, v) in parts.headers.iter() {
        if k != axum::http::header::HOST && k != axum::http::header::CONTENT_LENGTH {
            r = r.header(k.as_str(), v.as_bytes());
        }
    }
    let Ok(up) = r.send().await else {
        return (axum::http::StatusCode::BAD_GATEWAY, "upstream").into_response();
    };
    let mut out = Response::builder().status(up.status().as_u16());
    for (k, v) in up.headers().iter() {
        let k = k.as_str();
        if k != "content-length" && k != "transfer-encoding" && k != "connection" {
            out = out.header(k, v.as_bytes());
        }
    }
    let body = up.bytes().await.unwrap_or_default();
    out.body(axum::body::Body::from(body))
        .unwrap_or_else(|_| axum::http::StatusCode::BAD_GATEWAY.into_response())
}

/// Starts the gate in front of the emulator; returns the client config that goes through it.
async fn gate(
    emu: &EmulatorHandle,
) -> (
    ClientConfig,
    Arc<Semaphore>,
    mpsc::UnboundedReceiver<()>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let permits = Arc::new(Semaphore::new(0));
    let g = Gate {
        upstream: emu.base_url(),
        http: reqwest::Client::new(),
        permits: permits.clone(),
        arrived: tx,
    };
    let app = axum::Router::new().fallback(forward).with_state(g);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let mut cfg = ClientConfig::with_api_base(
        url::Url::parse(&format!("http://{addr}")).expect("gate url"),
        emu.admin_client_id().to_string(),
        SecretString::from(emu.admin_client_secret().to_string()),
    );
    cfg.rate_limit_per_minute = None;
    (cfg, permits, rx, task)
}

fn user(name: &str) -> Value {
    json!({"userName": format!("{name}@acme.example"), "displayName": name, "active": true})
}

fn header<'a>(r: &'a Resp, name: &str) -> Option<&'a str> {
    r.headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_on_another_replica_is_409_while_in_flight_then_replayed() {
    let schema = new_pg_schema().await;
    let emu = demo_emulator().await;
    let (through_gate, permits, mut arrived, gate_task) = gate(&emu).await;
    let (a, _a_store) = pg_replica(&schema, through_gate, |_| {}).await;
    let (b, b_store) = pg_replica(&schema, client_config(&emu), |_| {}).await;
    let genesys = GenesysClient::new(client_config(&emu)).expect("client");
    let env_b = Env {
        gw: b,
        emu,
        http: reqwest::Client::new(),
        genesys,
        store: b_store,
        _dir: tempfile::tempdir().expect("tempdir"),
    };
    let on_a = format!("{}/Users", a.scim_url());
    let key = [("idempotency-key", "replicas-1")];

    // The first request, on A, is held at Genesys (after its key was claimed in the store).
    let first = {
        let http = env_b.http.clone();
        let url = on_a.clone();
        tokio::spawn(async move {
            http.post(url)
                .bearer_auth(PROVISIONER)
                .header("content-type", "application/scim+json")
                .header("idempotency-key", "replicas-1")
                .body(user("replica.one").to_string())
                .send()
                .await
        })
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), arrived.recv())
        .await
        .expect("A's create never reached Genesys")
        .expect("gate open");
    let users = env_b.emu.user_count();
    let calls = env_b.emu.stats()["totalRequests"].as_u64().unwrap_or(0);

    // Its retry on B: B holds nothing in memory, the store says in flight.
    assert_eq!(b_in_flight(&env_b), 0);
    let retry = env_b
        .call(
            "POST",
            "/Users",
            Some(PROVISIONER),
            Some(user("replica.one")),
            &key,
        )
        .await;
    assert_eq!(retry.status, 409, "{}", retry.body);
    assert_eq!(header(&retry, "retry-after"), Some("1"));
    assert!(header(&retry, "idempotent-replayed").is_none());
    assert!(!first.is_finished(), "A is still held at the gate");
    assert_eq!(env_b.emu.user_count(), users, "the 409 created nothing");
    assert_eq!(
        env_b.emu.stats()["totalRequests"].as_u64().unwrap_or(0),
        calls,
        "B sent nothing to Genesys"
    );

    // A finishes; the retry on B gets A's answer, replayed.
    permits.add_permits(1);
    let first = first.await.expect("task").expect("A's answer");
    assert_eq!(first.status().as_u16(), 201);
    let location = first
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let first_body: Value = first.json().await.expect("json");
    let calls = env_b.emu.stats()["totalRequests"].as_u64().unwrap_or(0);
    let replayed = env_b
        .call(
            "POST",
            "/Users",
            Some(PROVISIONER),
            Some(user("replica.one")),
            &key,
        )
        .await;
    assert_eq!(replayed.status, 201, "{}", replayed.body);
    assert_eq!(replayed.body, first_body);
    assert_eq!(header(&replayed, "idempotent-replayed"), Some("true"));
    assert_eq!(header(&replayed, "location"), location.as_deref());
    assert_eq!(
        env_b.emu.stats()["totalRequests"].as_u64().unwrap_or(0),
        calls,
        "the replay on B made no Genesys call"
    );
    // The same key with another body, on B: 422, as on one replica.
    let other = env_b
        .call(
            "POST",
            "/Users",
            Some(PROVISIONER),
            Some(user("replica.two")),
            &key,
        )
        .await;
    assert_eq!(other.status, 422, "{}", other.body);

    // One audit chain: one create (on A), the 409 and the replay (on B).
    let audit = env_b.audit().await;
    let count = |action: &str| audit.iter().filter(|e| e.action == action).count();
    assert_eq!(count("scim.user.create"), 1, "the create ran once");
    assert_eq!(count("scim.idempotency.in_flight"), 1);
    assert_eq!(count("scim.idempotency.replay"), 1);

    a.shutdown().await;
    env_b.shutdown().await;
    gate_task.abort();
    drop_pg_schema(&schema).await;
}

fn b_in_flight(env: &Env) -> usize {
    env.gw.idempotency().in_flight()
}

/// A replica that died mid-request left its claim in the store: its retry here is 409 until the
/// claim's lease ends, then runs. (The claims are written as the dead replica would have; the
/// lease's end is placed in the past instead of waiting for it.)
#[tokio::test]
async fn a_dead_replicas_claim_blocks_its_key_until_the_lease_ends() {
    let env = start(Opts::default()).await;
    let now = gcprov_store::to_us(time::OffsetDateTime::now_utc());
    let lease = 60_000_000;
    let live = gcprov_gateway::idempotency::store_key("token:idp", "dead-1");
    let claimed = env
        .store
        .idempotency_claim(&live, "the dead replica's request", now, lease)
        .await
        .expect("claim");
    assert!(matches!(
        claimed,
        gcprov_store::IdempotencyClaim::Won { .. }
    ));
    let r = env
        .call(
            "POST",
            "/Users",
            Some(PROVISIONER),
            Some(user("dead.one")),
            &[("idempotency-key", "dead-1")],
        )
        .await;
    assert_eq!(r.status, 409, "within the lease: {}", r.body);
    assert_eq!(header(&r, "retry-after"), Some("1"));

    // A claim whose lease ended a second ago (made 61 s ago with a 60 s lease).
    let lapsed = gcprov_gateway::idempotency::store_key("token:idp", "dead-2");
    env.store
        .idempotency_claim(
            &lapsed,
            "the dead replica's request",
            now - lease - 1_000_000,
            lease,
        )
        .await
        .expect("claim");
    let users = env.emu.user_count();
    let r = env
        .call(
            "POST",
            "/Users",
            Some(PROVISIONER),
            Some(user("dead.two")),
            &[("idempotency-key", "dead-2")],
        )
        .await;
    assert_eq!(r.status, 201, "the lease ended, the retry runs: {}", r.body);
    assert_eq!(env.emu.user_count(), users + 1);
    let again = env
        .call(
            "POST",
            "/Users",
            Some(PROVISIONER),
            Some(user("dead.two")),
            &[("idempotency-key", "dead-2")],
        )
        .await;
    assert_eq!(header(&again, "idempotent-replayed"), Some("true"));
    assert_eq!(again.body, r.body);
    env.shutdown().await;
}

/// Rows of `idempotency_key` for a store key (claims included), read behind the store's back.
async fn rows_for(schema: &str, key: &str) -> i64 {
    use gcprov_store::sqlx::Row;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(
            pg_url()
                .parse::<sqlx::postgres::PgConnectOptions>()
                .expect("url")
                .options([("search_path", schema)]),
        )
        .await
        .expect("pg");
    let n = sqlx::query("SELECT COUNT(*) AS n FROM idempotency_key WHERE key = $1")
        .bind(key)
        .fetch_one(&pool)
        .await
        .expect("count")
        .get::<i64, _>("n");
    pool.close().await;
    n
}

/// A client that gives up while its request is in flight on A cancels that request; its claim
/// is released, so the retry on B runs instead of waiting for the lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_request_releases_its_key_for_the_other_replicas() {
    let schema = new_pg_schema().await;
    let emu = demo_emulator().await;
    let (through_gate, _permits, mut arrived, gate_task) = gate(&emu).await;
    let (a, _a_store) = pg_replica(&schema, through_gate, |_| {}).await;
    let (b, b_store) = pg_replica(&schema, client_config(&emu), |_| {}).await;
    let genesys = GenesysClient::new(client_config(&emu)).expect("client");
    let env_b = Env {
        gw: b,
        emu,
        http: reqwest::Client::new(),
        genesys,
        store: b_store,
        _dir: tempfile::tempdir().expect("tempdir"),
    };
    let key = [("idempotency-key", "cancel-1")];
    let store_key = gcprov_gateway::idempotency::store_key("token:idp", "cancel-1");
    let first = {
        let http = reqwest::Client::new();
        let url = format!("{}/Users", a.scim_url());
        tokio::spawn(async move {
            http.post(url)
                .bearer_auth(PROVISIONER)
                .header("content-type", "application/scim+json")
                .header("idempotency-key", "cancel-1")
                .body(user("cancel.one").to_string())
                .send()
                .await
        })
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), arrived.recv())
        .await
        .expect("A's create never reached Genesys")
        .expect("gate open");
    assert_eq!(rows_for(&schema, &store_key).await, 1, "claimed");
    // The client goes away (its connection closes); A drops the request.
    first.abort();
    let _ = first.await;
    let mut waited = 0;
    while a.idempotency().in_flight() > 0 || rows_for(&schema, &store_key).await > 0 {
        assert!(
            waited < 1000,
            "the cancelled request's claim was never released"
        );
        waited += 1;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let retry = env_b
        .call(
            "POST",
            "/Users",
            Some(PROVISIONER),
            Some(user("cancel.one")),
            &key,
        )
        .await;
    assert_eq!(retry.status, 201, "the retry ran: {}", retry.body);
    assert!(header(&retry, "idempotent-replayed").is_none());

    a.shutdown().await;
    env_b.shutdown().await;
    gate_task.abort();
    drop_pg_schema(&schema).await;
}
