use crate::common::*;
use gcprov_emulator::{Emulator, EmulatorConfig};
use serde_json::json;

#[tokio::test]
async fn login_returns_bearer_token_and_validity() {
    let ctx = start().await;
    let r = login(
        &ctx.http,
        &ctx.emu.base_url(),
        ctx.emu.admin_client_id(),
        ctx.emu.admin_client_secret(),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("ININ-Correlation-Id"));
    let v = json(r).await;
    assert_eq!(v["token_type"], "bearer");
    assert_eq!(v["expires_in"], 86400);
    assert!(v["access_token"].as_str().unwrap().len() > 20);
}

#[tokio::test]
async fn login_errors_are_oauth_style() {
    let ctx = start().await;
    let base = ctx.emu.base_url();
    let r = login(&ctx.http, &base, ctx.emu.admin_client_id(), "wrong").await;
    assert_eq!(r.status(), 400);
    let v = json(r).await;
    assert_eq!(
        v,
        json!({"error": "invalid_client", "description": "authentication failed", "error_description": "authentication failed"})
    );
    let r = login(&ctx.http, &base, "nobody", "x").await;
    assert_eq!(json(r).await["description"], "client not found");
    let r = ctx
        .http
        .post(format!("{base}/oauth/token"))
        .basic_auth(
            ctx.emu.admin_client_id(),
            Some(ctx.emu.admin_client_secret()),
        )
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(json(r).await["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn missing_and_bad_tokens_get_401_error_bodies() {
    let ctx = start().await;
    let r = ctx.http.get(ctx.url("/api/v2/users")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let c = corr(&r);
    let v = json(r).await;
    assert_eq!(v["code"], "authentication.required");
    assert_eq!(v["status"], 401);
    assert_eq!(v["contextId"], c.as_str());
    assert!(v["details"].is_array() && v["errors"].is_array());
    let r = ctx
        .http
        .get(ctx.url("/api/v2/users"))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(json(r).await["code"], "bad.credentials");
}

#[tokio::test]
async fn tokens_expire_on_the_emulator_clock_and_can_be_revoked() {
    let ctx = start().await;
    assert_eq!(ctx.get("/api/v2/tokens/me").await.status(), 200);
    ctx.emu
        .advance_clock(std::time::Duration::from_secs(86_401));
    let r = ctx.get("/api/v2/tokens/me").await;
    assert_eq!(r.status(), 401);
    assert_eq!(json(r).await["code"], "bad.credentials");
    let t = token(
        &ctx.http,
        &ctx.emu.base_url(),
        ctx.emu.admin_client_id(),
        ctx.emu.admin_client_secret(),
    )
    .await;
    let r = ctx
        .http
        .delete(ctx.url("/api/v2/tokens/me"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = ctx
        .http
        .head(ctx.url("/api/v2/tokens/me"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn rate_limit_answers_normalised_429_and_stats_count_it() {
    let ctx = start_with(EmulatorConfig {
        rate_limit_per_minute: Some(3),
        ..Default::default()
    })
    .await;
    for _ in 0..3 {
        assert_eq!(ctx.get("/api/v2/users").await.status(), 200);
    }
    let r = ctx.get("/api/v2/users").await;
    assert_eq!(r.status(), 429);
    let ra: u64 = r.headers()["Retry-After"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((50..=60).contains(&ra), "{ra}");
    let c = corr(&r);
    let v = json(r).await;
    assert_eq!(v["code"], "too.many.requests.retry.after");
    assert_eq!(
        v["message"],
        format!("Rate limit exceeded the maximum. Retry the request in [{ra}] seconds")
    );
    assert_eq!(v["contextId"], c.as_str());
    let stats = json(
        ctx.http
            .get(ctx.url("/emulator/stats"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(stats["byRoute"]["GET /api/v2/users"], 4);
    assert_eq!(stats["byStatus"]["429"], 1);
    // the window is anchored at the token's first request: 59 s later still limited, 60 s later open
    ctx.emu.advance_clock(std::time::Duration::from_secs(30));
    let r = ctx.get("/api/v2/users").await;
    assert_eq!(r.status(), 429);
    let ra2: u64 = r.headers()["Retry-After"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(ra2 <= 30, "{ra2}");
    ctx.emu.advance_clock(std::time::Duration::from_secs(30));
    assert_eq!(ctx.get("/api/v2/users").await.status(), 200);
}

#[tokio::test]
async fn missing_permission_gives_403_naming_it() {
    let ctx = start().await;
    // A role with only user view, and a client holding it.
    let seed = gcprov_emulator::Seed::from_json_str(r#"{
        "roles": [{"name": "viewer", "permissions": ["directory:user:view"]}],
        "oauthClients": [{"id": "viewer-client", "name": "viewer", "secret": "s3cret", "roles": ["viewer"]}]
    }"#).unwrap();
    let emu = Emulator::start(EmulatorConfig {
        seed: Some(seed),
        rate_limit_per_minute: None,
        ..Default::default()
    })
    .await
    .unwrap();
    let t = token(&ctx.http, &emu.base_url(), "viewer-client", "s3cret").await;
    let r = ctx
        .http
        .post(format!("{}/api/v2/users", emu.base_url()))
        .bearer_auth(&t)
        .json(&json!({"name": "x", "email": "x@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let v = json(r).await;
    assert_eq!(v["code"], "missing.permissions");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("directory:user:add"),
        "{v}"
    );
    let r = ctx
        .http
        .post(format!("{}/api/v2/users/search", emu.base_url()))
        .bearer_auth(&t)
        .json(&json!({"query": [{"type": "MATCH_ALL"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn size_and_content_type_limits() {
    let ctx = start().await;
    let big = "x".repeat(600_000);
    let r = ctx
        .post("/api/v2/users", json!({"name": big, "email": "a@b.com"}))
        .await;
    assert_eq!(r.status(), 413);
    assert!(
        json(r).await["message"]
            .as_str()
            .unwrap()
            .contains("512000")
    );
    let r = ctx
        .http
        .post(ctx.url("/api/v2/users"))
        .bearer_auth(&ctx.token)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(json(r).await["code"], "unsupported.media.type");
    let r = ctx.get("/api/v2/nothing/here").await;
    assert_eq!(r.status(), 404);
    assert_eq!(json(r).await["code"], "not.found");
}
