use crate::common::*;
use serde_json::json;

fn group_body(name: &str) -> serde_json::Value {
    json!({"name": name, "type": "official", "rulesVisible": true, "visibility": "public"})
}

#[tokio::test]
async fn crud_with_versions_and_members() {
    let ctx = start().await;
    let r = ctx.post("/api/v2/groups", group_body("Agents")).await;
    assert_eq!(r.status(), 200);
    let g = json(r).await;
    assert_eq!(g["version"], 1);
    assert_eq!(g["memberCount"], 0);
    let gid = g["id"].as_str().unwrap();
    assert_eq!(
        ctx.post("/api/v2/groups", group_body("agents"))
            .await
            .status(),
        409
    );
    let r = ctx.post("/api/v2/groups", json!({"name": "x"})).await;
    assert_eq!(r.status(), 400);

    let a = ctx.user("A", "a@example.com").await;
    let b = ctx.user("B", "b@example.com").await;
    let ids = json!([a["id"], b["id"]]);
    let r = ctx
        .post(
            &format!("/api/v2/groups/{gid}/members"),
            json!({"memberIds": ids, "version": 5}),
        )
        .await;
    assert_eq!(r.status(), 409);
    let r = ctx
        .post(
            &format!("/api/v2/groups/{gid}/members"),
            json!({"memberIds": ids}),
        )
        .await;
    assert_eq!(r.status(), 400, "version is required");
    let r = ctx
        .post(
            &format!("/api/v2/groups/{gid}/members"),
            json!({"memberIds": ids, "version": 1}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let g = json(ctx.get(&format!("/api/v2/groups/{gid}")).await).await;
    assert_eq!(g["memberCount"], 2);
    assert_eq!(g["version"], 2);
    let m = json(ctx.get(&format!("/api/v2/groups/{gid}/members")).await).await;
    assert_eq!(m["total"], 2);
    let too_many: Vec<String> = (0..51).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let r = ctx
        .post(
            &format!("/api/v2/groups/{gid}/members"),
            json!({"memberIds": too_many, "version": 2}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let r = ctx
        .delete(&format!(
            "/api/v2/groups/{gid}/members?ids={}",
            a["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(r.status(), 202);
    let g = json(ctx.get(&format!("/api/v2/groups/{gid}")).await).await;
    assert_eq!(g["memberCount"], 1);
    assert_eq!(g["version"], 3);
    // user expand=groups shows membership
    let u = json(
        ctx.get(&format!(
            "/api/v2/users/{}?expand=groups",
            b["id"].as_str().unwrap()
        ))
        .await,
    )
    .await;
    assert_eq!(u["groups"][0]["id"], gid);

    let r = ctx
        .put(
            &format!("/api/v2/groups/{gid}"),
            json!({"version": 1, "name": "New"}),
        )
        .await;
    assert_eq!(r.status(), 409);
    let r = ctx
        .put(
            &format!("/api/v2/groups/{gid}"),
            json!({"version": 3, "name": "New", "description": "d"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let g = json(r).await;
    assert_eq!(g["name"], "New");
    assert_eq!(g["version"], 4);

    let v = json(
        ctx.post(
            "/api/v2/groups/search",
            json!({"query": [{"type": "EXACT", "fields": ["name"], "value": "new"}]}),
        )
        .await,
    )
    .await;
    assert_eq!(v["total"], 1);
    assert_eq!(v["types"], json!(["groups"]));
    let r = ctx.delete(&format!("/api/v2/groups/{gid}")).await;
    assert!(r.status().is_success());
    assert_eq!(
        ctx.get(&format!("/api/v2/groups/{gid}")).await.status(),
        404
    );
}
