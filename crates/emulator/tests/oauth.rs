use crate::common::*;
use serde_json::json;

#[tokio::test]
async fn client_lifecycle_and_login_with_role_permissions() {
    let ctx = start().await;
    let base = ctx.emu.base_url();
    let roles = json(ctx.get("/api/v2/authorization/roles").await).await;
    let rid = roles["entities"][0]["id"].as_str().unwrap().to_owned();
    let did = json(ctx.get("/api/v2/authorization/divisions/home").await).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = ctx
        .post(
            "/api/v2/oauth/clients",
            json!({"name": "sync", "authorizedGrantType": "CLIENT-CREDENTIALS"}),
        )
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(json(r).await["code"], "missing.client.roles");
    let r = ctx.post("/api/v2/oauth/clients", json!({"name": "sync", "authorizedGrantType": "CLIENT_CREDENTIALS", "roleDivisions": [{"roleId": rid, "divisionId": did}]})).await;
    assert_eq!(json(r).await["code"], "bad.grant.type");
    let r = ctx.post("/api/v2/oauth/clients", json!({"name": "sync", "authorizedGrantType": "CLIENT-CREDENTIALS", "accessTokenValiditySeconds": 60, "roleDivisions": [{"roleId": rid, "divisionId": did}]})).await;
    assert_eq!(r.status(), 400);
    let r = ctx.post("/api/v2/oauth/clients", json!({"name": "sync", "authorizedGrantType": "CLIENT-CREDENTIALS", "accessTokenValiditySeconds": 600, "roleDivisions": [{"roleId": rid, "divisionId": did}]})).await;
    assert_eq!(r.status(), 200);
    let c = json(r).await;
    let (cid, secret) = (
        c["id"].as_str().unwrap().to_owned(),
        c["secret"].as_str().unwrap().to_owned(),
    );
    assert_eq!(c["state"], "active");
    let got = json(ctx.get(&format!("/api/v2/oauth/clients/{cid}")).await).await;
    assert!(got.get("secret").is_none(), "secret only on create");
    let r = login(&ctx.http, &base, &cid, &secret).await;
    let v = json(r).await;
    assert_eq!(v["expires_in"], 600);
    let t = v["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        ctx.http
            .get(format!("{base}/api/v2/users"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // rotate
    let r = ctx
        .post(&format!("/api/v2/oauth/clients/{cid}/secret"), json!({}))
        .await;
    let new_secret = json(r).await["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    assert_eq!(login(&ctx.http, &base, &cid, &secret).await.status(), 400);
    assert_eq!(
        login(&ctx.http, &base, &cid, &new_secret).await.status(),
        200
    );
    // delete needs inactive
    assert_eq!(
        ctx.delete(&format!("/api/v2/oauth/clients/{cid}"))
            .await
            .status(),
        400
    );
    let mut body = got.clone();
    body["state"] = json!("inactive");
    let r = ctx.put(&format!("/api/v2/oauth/clients/{cid}"), body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        login(&ctx.http, &base, &cid, &new_secret).await.status(),
        400,
        "inactive: no new tokens"
    );
    assert!(
        ctx.delete(&format!("/api/v2/oauth/clients/{cid}"))
            .await
            .status()
            .is_success()
    );
    assert_eq!(
        ctx.get(&format!("/api/v2/oauth/clients/{cid}"))
            .await
            .status(),
        404
    );
    let scopes = json(ctx.get("/api/v2/oauth/scopes").await).await;
    assert!(
        scopes["entities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == "users:readonly")
    );
}

#[tokio::test]
async fn audits_record_changes() {
    let ctx = start().await;
    let u = ctx.user("Audited", "audited@example.com").await;
    let uid = u["id"].as_str().unwrap();
    ctx.patch(
        &format!("/api/v2/users/{uid}"),
        json!({"version": 1, "title": "T"}),
    )
    .await;
    let r = ctx.post("/api/v2/audits/query/realtime", json!({"interval": "2000-01-01T00:00:00Z/2100-01-01T00:00:00Z", "serviceName": "Directory", "filters": [{"property": "EntityId", "value": uid}]})).await;
    assert_eq!(r.status(), 200);
    let v = json(r).await;
    assert_eq!(v["total"], 2);
    let e = &v["entities"][1];
    assert_eq!(e["action"], "Update");
    assert_eq!(e["entityType"], "User");
    assert_eq!(e["entity"]["id"], uid);
    assert_eq!(e["client"]["id"], ctx.emu.admin_client_id());
    assert_eq!(e["propertyChanges"][0]["property"], "title");
    assert_eq!(e["propertyChanges"][0]["newValues"], json!(["T"]));
    let r = ctx
        .post(
            "/api/v2/audits/query/realtime",
            json!({"interval": "yesterday"}),
        )
        .await;
    assert_eq!(json(r).await["code"], "invalid.date");
}

#[tokio::test]
async fn async_audit_query_with_cursor_paging() {
    let ctx = start().await;
    for i in 0..3 {
        ctx.user(&format!("Au {i}"), &format!("au{i}@example.com"))
            .await;
    }
    let r = ctx.post("/api/v2/audits/query", json!({"interval": "2000-01-01T00:00:00Z/2100-01-01T00:00:00Z", "serviceName": "Directory", "filters": [{"property": "Action", "value": "Create"}]})).await;
    assert_eq!(r.status(), 202);
    let q = json(r).await;
    assert_eq!(q["state"], "Queued");
    let id = q["id"].as_str().unwrap();
    let s = json(ctx.get(&format!("/api/v2/audits/query/{id}")).await).await;
    assert_eq!(s["state"], "Succeeded");
    let p1 = json(
        ctx.get(&format!("/api/v2/audits/query/{id}/results?pageSize=2"))
            .await,
    )
    .await;
    assert_eq!(p1["entities"].as_array().unwrap().len(), 2);
    let cursor = p1["cursor"].as_str().unwrap();
    let p2 = json(
        ctx.get(&format!(
            "/api/v2/audits/query/{id}/results?pageSize=2&cursor={cursor}"
        ))
        .await,
    )
    .await;
    assert_eq!(p2["entities"].as_array().unwrap().len(), 1);
    assert!(p2.get("cursor").is_none());
    assert_eq!(p2["entities"][0]["action"], "Create");
    assert_eq!(
        ctx.get(&format!("/api/v2/audits/query/{}", uuid::Uuid::new_v4()))
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn client_listing_has_no_paging_and_returns_every_client() {
    let ctx = start().await;
    let roles = json(ctx.get("/api/v2/authorization/roles").await).await;
    let rid = roles["entities"][0]["id"].as_str().unwrap().to_owned();
    let did = json(ctx.get("/api/v2/authorization/divisions/home").await).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = json(ctx.get("/api/v2/oauth/clients").await).await["total"]
        .as_u64()
        .unwrap();
    for i in 0..30 {
        let r = ctx
            .post(
                "/api/v2/oauth/clients",
                json!({"name": format!("client-{i:02}"), "authorizedGrantType": "CLIENT-CREDENTIALS",
                       "roleDivisions": [{"roleId": rid, "divisionId": did}]}),
            )
            .await;
        assert_eq!(r.status(), 200);
    }
    // A pageSize the real endpoint does not take changes nothing.
    let v = json(ctx.get("/api/v2/oauth/clients?pageSize=5").await).await;
    let total = before + 30;
    assert_eq!(v["total"].as_u64(), Some(total));
    assert_eq!(
        v["entities"].as_array().map(|a| a.len() as u64),
        Some(total)
    );
    assert_eq!(v["pageCount"], 1);
    assert!(v.get("nextUri").is_none());
    assert!(
        v["entities"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c.get("secret").is_none())
    );
}
