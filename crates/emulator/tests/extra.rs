//! Further behaviours: ANY-permission 403s, latency faults, SCIM extension by name, PATCH
//! details, group search replay, malformed input.

use crate::common::*;
use gcprov_emulator::{Emulator, EmulatorConfig, Seed};
use reqwest::Method;
use serde_json::json;

const EXT: &str = "urn:ietf:params:scim:schemas:extension:genesys:purecloud:2.0:User";

#[tokio::test]
async fn any_permission_lists_give_missing_any_permissions() {
    let seed = Seed::from_json_str(
        r#"{"roles": [{"name": "none", "permissions": []}],
        "oauthClients": [{"id": "weak", "name": "weak", "secret": "s", "roles": ["none"]}]}"#,
    )
    .unwrap();
    let emu = Emulator::start(EmulatorConfig {
        seed: Some(seed),
        rate_limit_per_minute: None,
        ..Default::default()
    })
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let t = token(&http, &emu.base_url(), "weak", "s").await;
    let r = http
        .delete(format!(
            "{}/api/v2/users/{}",
            emu.base_url(),
            uuid::Uuid::new_v4()
        ))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let v = json(r).await;
    assert_eq!(v["code"], "missing.any.permissions");
    let m = v["message"].as_str().unwrap();
    assert!(
        m.contains("directory:user:delete") && m.contains("admin"),
        "{m}"
    );
    // permission-free operations still work
    let r = http
        .get(format!("{}/api/v2/users", emu.base_url()))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // and the client cannot grant itself more than it holds
    let roles: serde_json::Value = json(
        http.get(format!("{}/api/v2/authorization/roles", emu.base_url()))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(roles["code"], "missing.permissions");
}

#[tokio::test]
async fn latency_fault_delays_but_serves() {
    let ctx = start().await;
    let r = ctx
        .http
        .put(ctx.url("/emulator/faults"))
        .json(&json!({"latencyMs": 20, "maxFaults": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(ctx.get("/api/v2/users").await.status(), 200);
    let f = json(
        ctx.http
            .get(ctx.url("/emulator/faults"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(f["injected"], 1);
    let r = ctx
        .http
        .put(ctx.url("/emulator/faults"))
        .json(&json!({"errorProbability": 2.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = ctx
        .http
        .put(ctx.url("/emulator/faults"))
        .json(&json!({"bogus": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn scim_extension_applies_skills_languages_roles_by_name() {
    let ctx = start().await;
    ctx.post("/api/v2/routing/skills", json!({"name": "Sales"}))
        .await;
    let mk = |body: serde_json::Value| {
        ctx.http
            .request(Method::POST, ctx.url("/api/v2/scim/v2/users"))
            .bearer_auth(&ctx.token)
            .json(&body)
            .send()
    };
    let r = mk(json!({"userName": "x@example.com", "displayName": "X", EXT: {"routingSkills": [{"name": "sales", "proficiency": 1}]}})).await.unwrap();
    assert_eq!(r.status(), 400, "skill names are case-sensitive");
    assert_eq!(json(r).await["scimType"], "invalidValue");
    let r =
        mk(json!({"userName": "x@example.com", "displayName": "X", "roles": [{"value": "nope"}]}))
            .await
            .unwrap();
    assert_eq!(r.status(), 400);
    let r = mk(json!({"userName": "x@example.com", "displayName": "X", "roles": [{"value": "Emulator Admin"}],
        EXT: {"routingSkills": [{"name": "Sales", "proficiency": 2}], "externalIds": [{"authority": "hr", "value": "9"}]}})).await.unwrap();
    assert_eq!(r.status(), 201);
    let u = json(r).await;
    let id = u["id"].as_str().unwrap();
    assert_eq!(u["roles"][0]["value"], "Emulator Admin");
    let native = json(
        ctx.get(&format!("/api/v2/users/{id}?expand=skills,authorization"))
            .await,
    )
    .await;
    assert_eq!(native["skills"][0]["name"], "Sales");
    assert_eq!(
        native["authorization"]["roles"][0]["name"],
        "Emulator Admin"
    );
    assert_eq!(
        json(ctx.get("/api/v2/users/externalid/hr/9").await).await["id"],
        id
    );
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "remove", "path": format!("{EXT}:routingSkills[name eq \"Sales\"]")},
        {"op": "add", "path": "name.givenName", "value": "X"}]});
    let r = ctx
        .http
        .patch(ctx.url(&format!("/api/v2/scim/v2/users/{id}")))
        .bearer_auth(&ctx.token)
        .json(&patch)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(json(r).await["scimType"], "invalidPath");
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "remove", "path": format!("{EXT}:routingSkills[name eq \"Sales\"]")}]});
    let r = ctx
        .http
        .patch(ctx.url(&format!("/api/v2/scim/v2/users/{id}")))
        .bearer_auth(&ctx.token)
        .json(&patch)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await[EXT]["routingSkills"], json!([]));
    let r = ctx
        .http
        .patch(ctx.url(&format!("/api/v2/scim/v2/users/{id}")))
        .bearer_auth(&ctx.token)
        .json(&json!({"Operations": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(json(r).await["scimType"], "invalidSyntax");
}

#[tokio::test]
async fn patch_user_fields_and_validation() {
    let ctx = start().await;
    let boss = ctx.user("Boss", "boss@example.com").await;
    let u = ctx.user("Worker", "worker@example.com").await;
    let id = u["id"].as_str().unwrap();
    let r = ctx.patch(&format!("/api/v2/users/{id}"), json!({"version": 1, "manager": boss["id"], "addresses": [{"address": "+15550001", "mediaType": "PHONE", "type": "WORK"}], "employerInfo": {"employeeId": "E9"}})).await;
    assert_eq!(r.status(), 200);
    let v = json(r).await;
    assert_eq!(v["manager"]["id"], boss["id"]);
    assert_eq!(v["addresses"][0]["address"], "+15550001");
    assert_eq!(v["employerInfo"]["employeeId"], "E9");
    let r = ctx
        .patch(
            &format!("/api/v2/users/{id}"),
            json!({"title": "no version"}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let r = ctx
        .patch(
            &format!("/api/v2/users/{id}"),
            json!({"version": 2, "email": "other@example.com"}),
        )
        .await;
    assert_eq!(r.status(), 400, "PRIMARY email cannot change");
    let r = ctx.req(Method::POST, "/api/v2/users", None).await;
    assert_eq!(r.status(), 400);
    let r = ctx
        .http
        .post(ctx.url("/api/v2/users"))
        .bearer_auth(&ctx.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(json(r).await["code"], "bad.request");
    let r = ctx.post("/api/v2/users", json!({"name": "No Mail"})).await;
    assert_eq!(r.status(), 400);
    let r = ctx
        .post(
            "/api/v2/users",
            json!({"name": "Default", "email": "default@example.com"}),
        )
        .await;
    assert_eq!(
        json(r).await["state"],
        "inactive",
        "no invite is sent, so the default state is inactive"
    );
    let r = ctx.get("/api/v2/users?pageSize=501").await;
    assert_eq!(r.status(), 400);
    let r = ctx.get("/api/v2/users?state=bogus").await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn group_search_replays_q64_and_search_finds_deleted_by_state() {
    let ctx = start().await;
    for i in 0..3 {
        ctx.post("/api/v2/groups", json!({"name": format!("Team {i}"), "type": "official", "rulesVisible": true, "visibility": "public"})).await;
    }
    let v = json(ctx.post("/api/v2/groups/search", json!({"pageSize": 1, "query": [{"type": "STARTS_WITH", "fields": ["name"], "value": "team"}]})).await).await;
    assert_eq!(v["total"], 3);
    let next = v["nextPage"].as_str().unwrap();
    let v2 = json(ctx.get(next).await).await;
    assert_eq!(v2["pageNumber"], 2);
    assert_eq!(v2["results"][0]["name"], "Team 1");
    let u = ctx.user("Gone", "gone@example.com").await;
    let id = u["id"].as_str().unwrap();
    ctx.delete(&format!("/api/v2/users/{id}")).await;
    let q = json!({"query": [{"type": "EXACT", "fields": ["email"], "value": "gone@example.com"}]});
    assert_eq!(
        json(ctx.post("/api/v2/users/search", q).await).await["total"],
        0
    );
    let q = json!({"query": [{"type": "EXACT", "fields": ["email"], "value": "gone@example.com"}, {"type": "EXACT", "fields": ["state"], "values": ["deleted"]}]});
    assert_eq!(
        json(ctx.post("/api/v2/users/search", q).await).await["total"],
        1
    );
    let r = ctx.get("/api/v2/users/search?q64=notbase64!!").await;
    assert_eq!(r.status(), 400);
    // Without q64 both replays name the missing parameter.
    for path in ["/api/v2/users/search", "/api/v2/groups/search"] {
        let r = ctx.get(path).await;
        assert_eq!(r.status(), 400, "{path}");
        let v = json(r).await;
        assert_eq!(v["code"], "invalid.value", "{path}");
        assert!(
            v["message"].as_str().is_some_and(|m| m.contains("q64")),
            "{v}"
        );
    }
}

#[tokio::test]
async fn user_state_endpoint_is_version_checked() {
    let ctx = start().await;
    let u = ctx.user("S", "s@example.com").await;
    let id = u["id"].as_str().unwrap();
    let v = json(ctx.get(&format!("/api/v2/users/{id}/state")).await).await;
    assert_eq!(v["state"], "active");
    assert_eq!(v["version"], 1);
    let r = ctx
        .put(
            &format!("/api/v2/users/{id}/state"),
            json!({"state": "inactive", "version": 7}),
        )
        .await;
    assert_eq!(r.status(), 409);
    let r = ctx
        .put(
            &format!("/api/v2/users/{id}/state"),
            json!({"state": "inactive", "version": 1}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["version"], 2);
    assert_eq!(
        json(ctx.get(&format!("/api/v2/users/{id}")).await).await["state"],
        "inactive"
    );
}

#[test]
fn debug_output_never_shows_secrets() {
    let cfg = EmulatorConfig {
        admin_client_secret: "top-secret-value".into(),
        ..Default::default()
    };
    assert!(!format!("{cfg:?}").contains("top-secret-value"));
    let seed =
        Seed::from_json_str(r#"{"oauthClients": [{"name": "c", "secret": "seed-secret-value"}]}"#)
            .unwrap();
    assert!(!format!("{seed:?}").contains("seed-secret-value"));
}

#[tokio::test]
async fn scim_paging_projection_and_list_order() {
    let ctx = start().await;
    for i in 0..30 {
        let body = json!({"userName": format!("p{i:02}@example.com"), "displayName": format!("Person {i:02}")});
        let r = ctx
            .http
            .post(ctx.url("/api/v2/scim/v2/Users"))
            .bearer_auth(&ctx.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let v = json(ctx.get("/api/v2/scim/v2/Users").await).await;
    assert_eq!(v["totalResults"], 30);
    assert_eq!(v["itemsPerPage"], 25);
    assert_eq!(v["startIndex"], 1);
    let v = json(
        ctx.get("/api/v2/scim/v2/Users?startIndex=26&count=10")
            .await,
    )
    .await;
    assert_eq!(v["itemsPerPage"], 5);
    let v = json(ctx.get("/api/v2/scim/v2/Users?count=0").await).await;
    assert_eq!(v["itemsPerPage"], 0);
    assert_eq!(v["totalResults"], 30);
    let v = json(
        ctx.get(
            "/api/v2/scim/v2/Users?filter=userName%20eq%20p01@example.com&attributes=displayName",
        )
        .await,
    )
    .await;
    let r = &v["Resources"][0];
    assert_eq!(r["displayName"], "Person 01");
    assert!(r.get("emails").is_none() && r.get("id").is_some() && r.get("meta").is_some());
    // native listing is ordered by name, both ways
    let asc = json(ctx.get("/api/v2/users?pageSize=3").await).await;
    assert_eq!(asc["entities"][0]["name"], "Person 00");
    assert_eq!(asc["entities"][2]["name"], "Person 02");
    let desc = json(
        ctx.get("/api/v2/users?pageSize=3&sortOrder=descending")
            .await,
    )
    .await;
    assert_eq!(desc["entities"][0]["name"], "Person 29");
}

#[tokio::test]
async fn disabled_clients_lose_their_tokens_and_roles_cannot_escalate() {
    let seed = Seed::from_json_str(r#"{"roles": [{"name": "clients", "permissions": ["oauth:client:*"]}, {"name": "users", "permissions": ["directory:user:add"]}],
        "oauthClients": [{"id": "mgr", "name": "mgr", "secret": "s", "roles": ["clients"]}]}"#).unwrap();
    let ctx = start_with(EmulatorConfig {
        seed: Some(seed),
        rate_limit_per_minute: None,
        ..Default::default()
    })
    .await;
    let roles = json(ctx.get("/api/v2/authorization/roles").await).await;
    let users_role = roles["entities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "users")
        .unwrap()["id"]
        .clone();
    let did = json(ctx.get("/api/v2/authorization/divisions/home").await).await["id"].clone();
    let mgr = token(&ctx.http, &ctx.emu.base_url(), "mgr", "s").await;
    let body = json!({"name": "x", "authorizedGrantType": "CLIENT-CREDENTIALS", "roleDivisions": [{"roleId": users_role, "divisionId": did}]});
    let r = ctx
        .http
        .post(ctx.url("/api/v2/oauth/clients"))
        .bearer_auth(&mgr)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        403,
        "a client cannot grant permissions it does not hold"
    );
    assert!(
        json(r).await["message"]
            .as_str()
            .unwrap()
            .contains("directory:user:add")
    );
    // the admin can; then disabling the new client kills its live token
    let c = json(ctx.post("/api/v2/oauth/clients", body.clone()).await).await;
    let cid = c["id"].as_str().unwrap();
    let t = token(
        &ctx.http,
        &ctx.emu.base_url(),
        cid,
        c["secret"].as_str().unwrap(),
    )
    .await;
    assert_eq!(
        ctx.http
            .get(ctx.url("/api/v2/tokens/me"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let mut upd = body;
    upd["state"] = json!("disabled");
    assert_eq!(
        ctx.put(&format!("/api/v2/oauth/clients/{cid}"), upd)
            .await
            .status(),
        200
    );
    let r = ctx
        .http
        .get(ctx.url("/api/v2/tokens/me"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(json(r).await["code"], "bad.credentials");
}

#[tokio::test]
async fn restore_is_refused_while_another_active_user_holds_the_email() {
    let ctx = start().await;
    let u = ctx.user("Old", "reused@example.com").await;
    let id = u["id"].as_str().unwrap();
    assert_eq!(
        ctx.delete(&format!("/api/v2/users/{id}")).await.status(),
        200
    );
    // SCIM only requires uniqueness among non-deleted users, so the email can be taken again.
    let r = ctx
        .post(
            "/api/v2/scim/v2/Users",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                   "userName": "reused@example.com", "displayName": "New"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let deleted_path = format!("/api/v2/users/{id}?state=deleted");
    let version = json(ctx.get(&deleted_path).await).await["version"]
        .as_i64()
        .unwrap();
    // Both ways of restoring share one transition, and both refuse it.
    let r = ctx
        .patch(
            &format!("/api/v2/users/{id}"),
            json!({"state": "active", "version": version}),
        )
        .await;
    assert_eq!(r.status(), 409);
    assert!(
        json(r).await["message"]
            .as_str()
            .is_some_and(|m| m.contains("email address is in use")),
        "the email rule refused it, not the version check"
    );
    let r = ctx
        .put(
            &format!("/api/v2/users/{id}/state"),
            json!({"state": "active", "version": version}),
        )
        .await;
    assert_eq!(r.status(), 409);
    assert!(
        json(r).await["message"]
            .as_str()
            .is_some_and(|m| m.contains("email address is in use")),
        "the email rule refused it, not the version check"
    );
    // An unknown state is a clear 400 on both.
    let r = ctx
        .put(
            &format!("/api/v2/users/{id}/state"),
            json!({"state": "retired", "version": version}),
        )
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(json(r).await["code"], "invalid.value");
    let r = ctx
        .patch(
            &format!("/api/v2/users/{id}"),
            json!({"state": "retired", "version": version}),
        )
        .await;
    assert_eq!(r.status(), 400);
    // Nothing changed: still deleted, same version.
    let d = json(ctx.get(&deleted_path).await).await;
    assert_eq!(d["state"], "deleted");
    assert_eq!(d["version"].as_i64(), Some(version));
}
