use crate::common::*;
use serde_json::json;

#[tokio::test]
async fn create_get_patch_delete_restore() {
    let ctx = start().await;
    let u = ctx.user("Ada Lovelace", "ada@example.com").await;
    assert_eq!(u["version"], 1);
    assert_eq!(u["state"], "active");
    assert_eq!(u["username"], "ada@example.com");
    let id = u["id"].as_str().unwrap();
    let r = ctx
        .patch(
            &format!("/api/v2/users/{id}"),
            json!({"version": 1, "title": "Countess"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v = json(r).await;
    assert_eq!(v["version"], 2);
    assert_eq!(v["title"], "Countess");
    let r = ctx
        .patch(
            &format!("/api/v2/users/{id}"),
            json!({"version": 1, "title": "x"}),
        )
        .await;
    assert_eq!(r.status(), 409);
    assert_eq!(
        json(r).await["message"],
        "Resource conflict - Unexpected version was provided"
    );
    let r = ctx.delete(&format!("/api/v2/users/{id}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await, json!({}));
    assert_eq!(ctx.get(&format!("/api/v2/users/{id}")).await.status(), 404);
    let v = json(ctx.get(&format!("/api/v2/users/{id}?state=deleted")).await).await;
    assert_eq!(v["state"], "deleted");
    let list = json(ctx.get("/api/v2/users").await).await;
    assert_eq!(list["total"], 0);
    let list = json(ctx.get("/api/v2/users?state=any").await).await;
    assert_eq!(list["total"], 1);
    // email stays reserved
    let r = ctx
        .post(
            "/api/v2/users",
            json!({"name": "Other", "email": "ADA@example.com"}),
        )
        .await;
    assert_eq!(r.status(), 409);
    assert_eq!(json(r).await["code"], "general.conflict");
    // restore: state is the only field changed
    let r = ctx
        .patch(
            &format!("/api/v2/users/{id}"),
            json!({"version": 3, "state": "active", "title": "ignored"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v = json(r).await;
    assert_eq!(v["state"], "active");
    assert_eq!(v["title"], "Countess");
    assert_eq!(v["version"], 4);
}

#[tokio::test]
async fn listing_envelope_and_paging() {
    let ctx = start().await;
    for i in 0..30 {
        ctx.user(&format!("User {i:02}"), &format!("u{i}@example.com"))
            .await;
    }
    let v = json(ctx.get("/api/v2/users").await).await;
    assert_eq!(v["pageSize"], 25);
    assert_eq!(v["pageNumber"], 1);
    assert_eq!(v["total"], 30);
    assert_eq!(v["pageCount"], 2);
    assert_eq!(v["entities"].as_array().unwrap().len(), 25);
    assert_eq!(v["nextUri"], "/api/v2/users?pageSize=25&pageNumber=2");
    assert_eq!(v["firstUri"], "/api/v2/users?pageSize=25&pageNumber=1");
    assert!(v.get("previousUri").is_none());
    let v = json(ctx.get("/api/v2/users?pageSize=25&pageNumber=2").await).await;
    assert_eq!(v["entities"].as_array().unwrap().len(), 5);
    assert_eq!(v["previousUri"], "/api/v2/users?pageSize=25&pageNumber=1");
    let ids: String = (0..101)
        .map(|_| format!("id={}&", uuid::Uuid::new_v4()))
        .collect();
    let r = ctx.get(&format!("/api/v2/users?{ids}")).await;
    assert_eq!(r.status(), 400);
    assert_eq!(json(r).await["code"], "max.user.ids");
}

#[tokio::test]
async fn search_with_q64_paging() {
    let ctx = start().await;
    for i in 0..5 {
        ctx.user(&format!("Smith {i}"), &format!("smith{i}@example.com"))
            .await;
    }
    ctx.user("Jones", "jones@example.com").await;
    let r = ctx.post("/api/v2/users/search", json!({"pageSize": 2, "query": [{"type": "CONTAINS", "fields": ["name"], "value": "smith"}]})).await;
    assert_eq!(r.status(), 200);
    let v = json(r).await;
    assert_eq!(v["total"], 5);
    assert_eq!(v["pageCount"], 3);
    assert_eq!(v["types"], json!(["users"]));
    assert_eq!(v["results"].as_array().unwrap().len(), 2);
    let next = v["nextPage"].as_str().unwrap();
    assert!(next.starts_with("/api/v2/users/search?q64="));
    let v2 = json(ctx.get(next).await).await;
    assert_eq!(v2["pageNumber"], 2);
    assert_ne!(v2["results"][0]["id"], v["results"][0]["id"]);
    let v = json(ctx.post("/api/v2/users/search", json!({"query": [{"type": "EXACT", "fields": ["email"], "value": "jones@example.com"}]})).await).await;
    assert_eq!(v["total"], 1);
    let v = json(
        ctx.post(
            "/api/v2/users/search",
            json!({"query": [
        {"type": "STARTS_WITH", "fields": ["name"], "value": "smith"},
        {"type": "EXACT", "fields": ["email"], "value": "smith1@example.com", "operator": "NOT"}]}),
        )
        .await,
    )
    .await;
    assert_eq!(v["total"], 4);
    let r = ctx
        .post(
            "/api/v2/users/search",
            json!({"query": [{"type": "FUZZY", "fields": ["name"], "value": "x"}]}),
        )
        .await;
    assert_eq!(r.status(), 400);
}
