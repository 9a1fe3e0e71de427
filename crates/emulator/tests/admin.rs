use crate::common::*;
use serde_json::json;

async fn put_faults(ctx: &Ctx, f: serde_json::Value) {
    let r = ctx
        .http
        .put(ctx.url("/emulator/faults"))
        .json(&f)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn error_faults_are_bounded_and_deterministic() {
    let ctx = start().await;
    put_faults(
        &ctx,
        json!({"seed": 1, "errorProbability": 1.0, "errorStatuses": [503], "maxFaults": 2}),
    )
    .await;
    let r = ctx.get("/api/v2/users").await;
    assert_eq!(r.status(), 503);
    let c = corr(&r);
    let v = json(r).await;
    assert_eq!(v["code"], "service.unavailable");
    assert_eq!(v["contextId"], c.as_str());
    assert_eq!(ctx.get("/api/v2/users").await.status(), 503);
    assert_eq!(
        ctx.get("/api/v2/users").await.status(),
        200,
        "bounded by maxFaults"
    );
    let f = json(
        ctx.http
            .get(ctx.url("/emulator/faults"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(f["injected"], 2);
    // same seed, same sequence
    let mut seqs = Vec::new();
    for _ in 0..2 {
        put_faults(&ctx, json!({"seed": 9, "errorProbability": 0.5})).await;
        let mut s = Vec::new();
        for _ in 0..10 {
            s.push(ctx.get("/api/v2/users").await.status().as_u16());
        }
        seqs.push(s);
    }
    assert_eq!(seqs[0], seqs[1]);
    assert!(seqs[0].contains(&200) && seqs[0].iter().any(|s| *s >= 500));
    assert_eq!(
        ctx.http
            .delete(ctx.url("/emulator/faults"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(ctx.get("/api/v2/users").await.status(), 200);
}

#[tokio::test]
async fn storm_drop_and_revocation() {
    let ctx = start().await;
    put_faults(
        &ctx,
        json!({"rateLimitStorm": {"requests": 2, "retryAfterSeconds": 3}}),
    )
    .await;
    for _ in 0..2 {
        let r = ctx.get("/api/v2/users").await;
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["Retry-After"], "3");
        assert_eq!(json(r).await["code"], "too.many.requests.retry.after");
    }
    assert_eq!(ctx.get("/api/v2/users").await.status(), 200);
    put_faults(&ctx, json!({"dropProbability": 1.0, "maxFaults": 1})).await;
    assert!(
        ctx.http
            .get(ctx.url("/api/v2/users"))
            .bearer_auth(&ctx.token)
            .send()
            .await
            .is_err(),
        "connection closed without a response"
    );
    assert_eq!(ctx.get("/api/v2/users").await.status(), 200);
    let v = json(
        ctx.http
            .post(ctx.url("/emulator/tokens/revoke-all"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(v["revoked"].as_u64().unwrap() >= 1);
    let r = ctx.get("/api/v2/users").await;
    assert_eq!(r.status(), 401);
    let stats = json(
        ctx.http
            .get(ctx.url("/emulator/stats"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(stats["byStatus"]["0"], 1);
    assert_eq!(stats["byStatus"]["401"], 1);
    assert_eq!(
        ctx.http
            .post(ctx.url("/emulator/stats/reset"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let stats = json(
        ctx.http
            .get(ctx.url("/emulator/stats"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(stats["totalRequests"], 0);
}

#[tokio::test]
async fn seed_file_and_generated_users() {
    let seed = gcprov_emulator::Seed::from_toml_str(
        r#"
orgName = "Acme"
[[divisions]]
name = "Home"
home = true
[[divisions]]
name = "EMEA"
[[roles]]
name = "agent"
permissions = ["directory:user:view"]
[[skills]]
name = "Billing"
[[languages]]
name = "German"
[[users]]
name = "Ada"
email = "ada@acme.test"
division = "EMEA"
roles = ["agent"]
skills = [{ name = "Billing", proficiency = 4.0 }]
[[users]]
name = "Ben"
email = "ben@acme.test"
manager = "ada@acme.test"
[[groups]]
name = "Support"
members = ["ada@acme.test", "ben@acme.test"]
[[queues]]
name = "Q1"
members = ["ben@acme.test"]
[[oauthClients]]
id = "sync"
name = "sync"
secret = "s"
roles = ["agent"]
"#,
    )
    .unwrap();
    let ctx = start_with(gcprov_emulator::EmulatorConfig {
        seed: Some(seed),
        generate_users: 1000,
        rate_limit_per_minute: None,
        ..Default::default()
    })
    .await;
    assert_eq!(ctx.emu.user_count(), 1002);
    let v = json(ctx.post("/api/v2/users/search", json!({"query": [{"type": "EXACT", "fields": ["email"], "value": "ada@acme.test"}], "expand": ["skills"]})).await).await;
    assert_eq!(v["results"][0]["division"]["name"], "EMEA");
    assert_eq!(v["results"][0]["skills"][0]["name"], "Billing");
    let gs = json(ctx.get("/api/v2/groups").await).await;
    assert_eq!(gs["entities"][0]["memberCount"], 2);
    let t = token(&ctx.http, &ctx.emu.base_url(), "sync", "s").await;
    let r = ctx
        .http
        .post(ctx.url("/api/v2/groups"))
        .bearer_auth(&t)
        .json(
            &json!({"name": "x", "type": "official", "rulesVisible": true, "visibility": "public"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(gcprov_emulator::Seed::from_json_str("{\"users\": [{\"nme\": 1}]}").is_err());
}

#[tokio::test]
async fn token_revocation_fault_after_n_requests() {
    let ctx = start().await;
    put_faults(&ctx, json!({"revokeTokensAfterRequests": 3})).await;
    assert_eq!(ctx.get("/api/v2/users").await.status(), 200);
    assert_eq!(ctx.get("/api/v2/users").await.status(), 200);
    let r = ctx.get("/api/v2/users").await;
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
        .get(ctx.url("/api/v2/users"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "revoked once; a new token works");
}

#[tokio::test]
async fn absurd_clock_advance_does_not_break_the_server() {
    let ctx = start().await;
    let r = ctx
        .http
        .post(ctx.url("/emulator/clock/advance"))
        .json(&json!({"seconds": i64::MAX}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = ctx.get("/api/v2/users").await;
    assert_eq!(r.status(), 401, "every token has expired");
    let t = token(
        &ctx.http,
        &ctx.emu.base_url(),
        ctx.emu.admin_client_id(),
        ctx.emu.admin_client_secret(),
    )
    .await;
    let r = ctx
        .http
        .get(ctx.url("/api/v2/users"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert!(r.status() == 200 || r.status() == 401, "{}", r.status());
}
