//! Callers: 401 without or with a wrong token, 403 for a too-small role, JWTs checked for
//! signature, issuer, audience and expiry.

use base64::Engine;
use gcprov_gateway::Authenticator;
use gcprov_gateway::config::{CallersConfig, JwtConfig};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

use super::support::*;

#[tokio::test]
async fn tokens_and_roles() {
    let env = start(Opts::default()).await;
    let r = env.call("GET", "/Users", None, None, &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["status"], "401");
    assert_eq!(
        r.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    assert!(r.headers.contains_key("www-authenticate"));
    let r = env
        .call("GET", "/Users", Some("not-a-token"), None, &[])
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.body["detail"], "Authentication required",
        "no detail that helps guessing"
    );
    let r = env
        .call(
            "GET",
            "/Users",
            None,
            None,
            &[("authorization", "non-token")],
        )
        .await;
    assert_eq!(r.status, 401);

    // reader reads, cannot write.
    assert_eq!(
        env.call("GET", "/Users", Some(READER), None, &[])
            .await
            .status,
        200
    );
    let r = env
        .call(
            "POST",
            "/Users",
            Some(READER),
            Some(json!({"userName": "x@acme.example"})),
            &[],
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body["status"], "403");
    // metrics need admin.
    let m = format!("{}/metrics", env.gw.base_url());
    assert_eq!(
        env.call("GET", &m, Some(PROVISIONER), None, &[])
            .await
            .status,
        403
    );
    let resp = env
        .http
        .get(&m)
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("metrics");
    assert_eq!(resp.status().as_u16(), 200);
    let text = resp.text().await.unwrap_or_default();
    assert!(text.contains("gcprov_gateway_requests_total"), "{text}");
    // health and discovery need no token.
    assert_eq!(
        env.call(
            "GET",
            &format!("{}/healthz", env.gw.base_url()),
            None,
            None,
            &[]
        )
        .await
        .status,
        200
    );
    assert_eq!(
        env.call(
            "GET",
            &format!("{}/readyz", env.gw.base_url()),
            None,
            None,
            &[]
        )
        .await
        .status,
        200
    );
    assert_eq!(
        env.call("GET", "/ServiceProviderConfig", None, None, &[])
            .await
            .status,
        200
    );
    env.shutdown().await;
}

fn jwt(secret: &[u8], claims: serde_json::Value) -> String {
    let mut h = Header::new(jsonwebtoken::Algorithm::HS256);
    h.kid = Some("k1".into());
    jsonwebtoken::encode(&h, &claims, &EncodingKey::from_secret(secret)).expect("jwt")
}

#[tokio::test]
async fn jwt_callers() {
    let secret = b"0123456789abcdef0123456789abcdef-test-secret";
    let dir = tempfile::tempdir().expect("dir");
    let jwks = dir.path().join("jwks.json");
    let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    std::fs::write(
        &jwks,
        json!({"keys": [{"kty": "oct", "kid": "k1", "alg": "HS256", "k": k}]}).to_string(),
    )
    .expect("write");
    let callers = CallersConfig {
        tokens: Vec::new(),
        jwt: Some(JwtConfig {
            issuer: "https://issuer.example/".into(),
            audience: "gcprov".into(),
            algorithms: vec!["HS256".into()],
            jwks_file: Some(jwks),
            jwks_url: None,
            role: gcprov_gateway::Role::Reader,
            role_claim: Some("gcprov_role".into()),
            leeway_seconds: 0,
            jwks_refresh_seconds: 600,
        }),
    };
    let auth = Authenticator::new(&callers).await.expect("authenticator");
    let env = start(Opts {
        authenticator: Some(auth),
        ..Default::default()
    })
    .await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let good = jwt(
        secret,
        json!({"iss": "https://issuer.example/", "aud": "gcprov", "sub": "entra", "exp": now + 600, "gcprov_role": "reader"}),
    );
    assert_eq!(
        env.call("GET", "/Users", Some(&good), None, &[])
            .await
            .status,
        200
    );
    // reader role from the claim: no writes.
    assert_eq!(
        env.call(
            "POST",
            "/Users",
            Some(&good),
            Some(json!({"userName": "j@acme.example"})),
            &[]
        )
        .await
        .status,
        403
    );
    let wrong_aud = jwt(
        secret,
        json!({"iss": "https://issuer.example/", "aud": "other", "sub": "x", "exp": now + 600, "gcprov_role": "admin"}),
    );
    assert_eq!(
        env.call("GET", "/Users", Some(&wrong_aud), None, &[])
            .await
            .status,
        401
    );
    let wrong_iss = jwt(
        secret,
        json!({"iss": "https://evil.example/", "aud": "gcprov", "sub": "x", "exp": now + 600, "gcprov_role": "admin"}),
    );
    assert_eq!(
        env.call("GET", "/Users", Some(&wrong_iss), None, &[])
            .await
            .status,
        401
    );
    let expired = jwt(
        secret,
        json!({"iss": "https://issuer.example/", "aud": "gcprov", "sub": "x", "exp": now - 600, "gcprov_role": "admin"}),
    );
    assert_eq!(
        env.call("GET", "/Users", Some(&expired), None, &[])
            .await
            .status,
        401
    );
    let bad_sig = jwt(
        b"another-secret-another-secret-another",
        json!({"iss": "https://issuer.example/", "aud": "gcprov", "sub": "x", "exp": now + 600, "gcprov_role": "admin"}),
    );
    assert_eq!(
        env.call("GET", "/Users", Some(&bad_sig), None, &[])
            .await
            .status,
        401
    );
    env.shutdown().await;
}
