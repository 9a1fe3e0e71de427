//! JWKS URL refresh: a local JWKS server on an ephemeral loopback port serves a key set the
//! test rotates. Refreshes are driven through the unknown-`kid` path (with an injected clock
//! for the 30 s limit) and `Authenticator::refresh_jwks` (what the schedule runs): no sleeps.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use gcprov_gateway::auth::{AuthFailure, Clock};
use gcprov_gateway::config::{CallersConfig, JwtConfig};
use gcprov_gateway::{Authenticator, Role};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};

use super::support::*;

const ISS: &str = "https://idp.example/";
const AUD: &str = "gcprov";

/// What the JWKS server answers, and how often it was asked.
#[derive(Default)]
struct Served {
    kids: Vec<&'static str>,
    fail: bool,
    cache_control: Option<&'static str>,
}

struct JwksServer {
    url: String,
    served: Arc<Mutex<Served>>,
    hits: Arc<AtomicUsize>,
    _task: tokio::task::JoinHandle<()>,
}

fn secret(kid: &str) -> Vec<u8> {
    format!("{kid}-0123456789abcdef0123456789abcdef").into_bytes()
}

fn jwk_set(kids: &[&str]) -> Value {
    let keys: Vec<Value> = kids
        .iter()
        .map(|k| {
            json!({"kty": "oct", "kid": k, "alg": "HS256",
                   "k": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret(k))})
        })
        .collect();
    json!({ "keys": keys })
}

impl JwksServer {
    async fn start(kids: &[&'static str]) -> Self {
        let served = Arc::new(Mutex::new(Served {
            kids: kids.to_vec(),
            ..Default::default()
        }));
        let hits = Arc::new(AtomicUsize::new(0));
        let (s, h) = (served.clone(), hits.clone());
        let app = axum::Router::new().route(
            "/keys",
            axum::routing::get(move || {
                let (s, h) = (s.clone(), h.clone());
                async move {
                    h.fetch_add(1, Ordering::SeqCst);
                    let s = s.lock().expect("served");
                    if s.fail {
                        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                    }
                    let mut r: Response = axum::Json(jwk_set(&s.kids)).into_response();
                    if let Some(cc) = s.cache_control {
                        r.headers_mut()
                            .insert(header::CACHE_CONTROL, HeaderValue::from_static(cc));
                    }
                    r
                }
            }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/keys", l.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(l, app).await;
        });
        Self {
            url,
            served,
            hits,
            _task: task,
        }
    }
    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
    fn serve(&self, f: impl FnOnce(&mut Served)) {
        f(&mut self.served.lock().expect("served"));
    }
}

/// A clock the test moves forward by hand.
fn manual_clock() -> (Clock, Arc<AtomicU64>) {
    let start = Instant::now();
    let offset = Arc::new(AtomicU64::new(0));
    let o = offset.clone();
    (
        Arc::new(move || start + Duration::from_secs(o.load(Ordering::SeqCst))),
        offset,
    )
}

async fn authenticator(url: &str, clock: Clock) -> Authenticator {
    let callers = CallersConfig {
        tokens: Vec::new(),
        jwt: Some(JwtConfig {
            issuer: ISS.into(),
            audience: AUD.into(),
            algorithms: vec!["HS256".into()],
            jwks_file: None,
            jwks_url: Some(url.into()),
            role: Role::Provisioner,
            role_claim: None,
            leeway_seconds: 0,
            jwks_refresh_seconds: 600,
        }),
    };
    Authenticator::new_with_clock(&callers, clock)
        .await
        .expect("authenticator")
}

fn token(kid: &str) -> String {
    let mut h = Header::new(jsonwebtoken::Algorithm::HS256);
    h.kid = Some(kid.into());
    let exp = time::OffsetDateTime::now_utc().unix_timestamp() + 600;
    let claims = json!({"iss": ISS, "aud": AUD, "sub": format!("idp-{kid}"), "exp": exp});
    jsonwebtoken::encode(&h, &claims, &EncodingKey::from_secret(&secret(kid))).expect("jwt")
}

fn bearer(kid: &str) -> String {
    format!("Bearer {}", token(kid))
}

#[tokio::test]
async fn rotated_keys_are_fetched_on_an_unknown_kid_at_most_every_30_s() {
    let jwks = JwksServer::start(&["k1"]).await;
    let (clock, secs) = manual_clock();
    let auth = authenticator(&jwks.url, clock).await;
    assert_eq!(jwks.hits(), 1, "fetched at start");
    let env = start(Opts {
        authenticator: Some(auth),
        ..Default::default()
    })
    .await;
    let get = |kid: &'static str| {
        let env = &env;
        async move {
            env.call("GET", "/Users", Some(&token(kid)), None, &[])
                .await
                .status
        }
    };
    assert_eq!(get("k1").await, 200);
    assert_eq!(jwks.hits(), 1, "a known kid needs no fetch");

    // The IdP rotates to k2: the first k2 token triggers one fetch and is accepted.
    jwks.serve(|s| s.kids = vec!["k2"]);
    assert_eq!(get("k2").await, 200);
    assert_eq!(jwks.hits(), 2);
    assert_eq!(get("k1").await, 401, "the retired key is gone");
    assert_eq!(
        jwks.hits(),
        2,
        "the last fetch was less than 30 s ago: no fetch"
    );

    // An unknown kid within 30 s of the last fetch: refused without a fetch.
    jwks.serve(|s| s.kids = vec!["k2", "k3"]);
    assert_eq!(get("k3").await, 401);
    assert_eq!(jwks.hits(), 2);
    // 31 s later the same token triggers a fetch and passes.
    secs.fetch_add(31, Ordering::SeqCst);
    assert_eq!(get("k3").await, 200);
    assert_eq!(jwks.hits(), 3);

    // The IdP fails: the refresh fails, the last good key set keeps serving.
    jwks.serve(|s| s.fail = true);
    secs.fetch_add(31, Ordering::SeqCst);
    assert_eq!(get("k9").await, 401);
    assert_eq!(jwks.hits(), 4);
    assert_eq!(get("k2").await, 200);
    assert_eq!(get("k3").await, 200);
    env.shutdown().await;
}

#[tokio::test]
async fn a_burst_of_unknown_kids_makes_one_fetch() {
    let jwks = JwksServer::start(&["k1"]).await;
    let (clock, _) = manual_clock();
    let auth = Arc::new(authenticator(&jwks.url, clock).await);
    let header = bearer("nope");
    let burst = (0..25).map(|_| {
        let (a, h) = (auth.clone(), header.clone());
        tokio::spawn(async move { a.authenticate(Some(&h)).await })
    });
    for r in futures::future::join_all(burst).await {
        assert_eq!(r.expect("task"), Err(AuthFailure::Invalid));
    }
    assert_eq!(
        jwks.hits(),
        2,
        "one fetch at start, one for the whole burst"
    );
    // Good tokens are still served meanwhile.
    assert!(auth.authenticate(Some(&bearer("k1"))).await.is_ok());
}

#[tokio::test]
async fn scheduled_refresh_honours_max_age_within_bounds_and_keeps_keys_on_failure() {
    let jwks = JwksServer::start(&["k1"]).await;
    let (clock, _) = manual_clock();
    let auth = authenticator(&jwks.url, clock).await;
    // No Cache-Control: the configured interval.
    assert_eq!(auth.refresh_jwks().await, Some(Duration::from_secs(600)));
    jwks.serve(|s| {
        s.kids = vec!["k2"];
        s.cache_control = Some("public, max-age=120");
    });
    assert_eq!(auth.refresh_jwks().await, Some(Duration::from_secs(120)));
    assert!(
        auth.authenticate(Some(&bearer("k2"))).await.is_ok(),
        "rotated in"
    );
    jwks.serve(|s| s.cache_control = Some("max-age=5"));
    assert_eq!(
        auth.refresh_jwks().await,
        Some(Duration::from_secs(60)),
        "below the 60 s floor"
    );
    jwks.serve(|s| s.cache_control = Some("max-age=999999"));
    assert_eq!(
        auth.refresh_jwks().await,
        Some(Duration::from_secs(24 * 3600)),
        "above the 24 h ceiling"
    );
    // A failed refresh keeps the last good set and retries within a minute.
    jwks.serve(|s| s.fail = true);
    let hits = jwks.hits();
    assert_eq!(auth.refresh_jwks().await, Some(Duration::from_secs(60)));
    assert_eq!(jwks.hits(), hits + 1);
    assert!(auth.authenticate(Some(&bearer("k2"))).await.is_ok());
    // A file-based (or token-only) authenticator has nothing to refresh.
    assert_eq!(tokens().refresh_jwks().await, None);
}
