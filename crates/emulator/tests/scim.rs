use crate::common::*;
use reqwest::Method;
use serde_json::json;

const EXT: &str = "urn:ietf:params:scim:schemas:extension:genesys:purecloud:2.0:User";
const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

async fn scim(
    ctx: &Ctx,
    m: Method,
    path: &str,
    body: Option<serde_json::Value>,
    hdr: Option<(&str, &str)>,
) -> reqwest::Response {
    let mut r = ctx.http.request(m, ctx.url(path)).bearer_auth(&ctx.token);
    if let Some(b) = body {
        r = r
            .header("content-type", "application/scim+json")
            .body(b.to_string());
    }
    if let Some((k, v)) = hdr {
        r = r.header(k, v);
    }
    r.send().await.unwrap()
}

#[tokio::test]
async fn user_lifecycle_etags_and_shared_view() {
    let ctx = start().await;
    ctx.post("/api/v2/routing/skills", json!({"name": "Billing"}))
        .await;
    ctx.post("/api/v2/routing/languages", json!({"name": "French"}))
        .await;
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT, EXT],
        "userName": "scim@example.com", "displayName": "Scim User", "active": true, "externalId": "ext-1",
        "title": "Agent", "phoneNumbers": [{"value": "+15551234", "type": "work"}],
        ENT: {"department": "Sales", "employeeNumber": "77"},
        EXT: {"routingSkills": [{"name": "Billing", "proficiency": 3}], "routingLanguages": [{"name": "French", "proficiency": 5}]},
        "roles": [{"value": "Emulator Admin"}]
    });
    let r = scim(
        &ctx,
        Method::POST,
        "/api/v2/scim/v2/Users",
        Some(body.clone()),
        None,
    )
    .await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["content-type"], "application/scim+json");
    assert_eq!(r.headers()["etag"], "\"1\"");
    let u = json(r).await;
    assert_eq!(u["meta"]["version"], "\"1\"");
    assert_eq!(u[EXT]["routingSkills"][0]["name"], "Billing");
    assert_eq!(u["externalId"], "ext-1");
    let id = u["id"].as_str().unwrap().to_owned();
    // same data through the native API
    let n = json(ctx.get(&format!("/api/v2/users/{id}?expand=skills")).await).await;
    assert_eq!(n["email"], "scim@example.com");
    assert_eq!(n["department"], "Sales");
    assert_eq!(n["skills"][0]["proficiency"], 3.0);
    // duplicate userName
    let r = scim(
        &ctx,
        Method::POST,
        "/api/v2/scim/v2/users",
        Some(body),
        None,
    )
    .await;
    assert_eq!(r.status(), 409);
    let e = json(r).await;
    assert_eq!(e["scimType"], "uniqueness");
    assert_eq!(e["status"], "409");
    // If-None-Match
    let r = scim(
        &ctx,
        Method::GET,
        &format!("/api/v2/scim/users/{id}"),
        None,
        Some(("If-None-Match", "\"1\"")),
    )
    .await;
    assert_eq!(r.status(), 304);
    // Entra-style PATCH
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "Replace", "path": "title", "value": "Lead"},
        {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "work@example.com"},
        {"op": "Replace", "path": format!("{ENT}:department"), "value": "Support"}]});
    let r = scim(
        &ctx,
        Method::PATCH,
        &format!("/api/v2/scim/v2/Users/{id}"),
        Some(patch.clone()),
        Some(("If-Match", "\"1\"")),
    )
    .await;
    assert_eq!(r.status(), 200);
    let u = json(r).await;
    assert_eq!(u["active"], false);
    assert_eq!(u["title"], "Lead");
    assert_eq!(u[ENT]["department"], "Support");
    assert_eq!(u["meta"]["version"], "\"2\"");
    let r = scim(
        &ctx,
        Method::PATCH,
        &format!("/api/v2/scim/v2/Users/{id}"),
        Some(patch),
        Some(("If-Match", "\"1\"")),
    )
    .await;
    assert_eq!(r.status(), 409);
    assert_eq!(json(r).await["scimType"], "invalidVers");
    // filters
    let l = json(
        scim(
            &ctx,
            Method::GET,
            "/api/v2/scim/v2/Users?filter=userName%20eq%20scim@example.com",
            None,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(l["totalResults"], 1);
    assert_eq!(
        l["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    );
    let l = json(
        scim(
            &ctx,
            Method::GET,
            "/api/v2/scim/v2/users?filter=externalId%20eq%20%22ext-1%22",
            None,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(l["totalResults"], 1);
    let l = json(scim(&ctx, Method::GET, "/api/v2/scim/v2/users", None, None).await).await;
    assert_eq!(
        l["totalResults"], 0,
        "inactive users are hidden without a filter"
    );
    let l = json(
        scim(
            &ctx,
            Method::GET,
            "/api/v2/scim/v2/users?filter=active%20eq%20false",
            None,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(l["totalResults"], 1);
    let f = urlencode(&format!(
        "{EXT}:externalIds[authority eq \"x-pc:scimv2:v1\" and value eq \"ext-1\"]"
    ));
    let l = json(
        scim(
            &ctx,
            Method::GET,
            &format!("/api/v2/scim/v2/users?filter={f}"),
            None,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(l["totalResults"], 1);
    let r = scim(
        &ctx,
        Method::GET,
        "/api/v2/scim/v2/users?filter=userName%20co%20%22scim%22",
        None,
        None,
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(json(r).await["scimType"], "invalidFilter");
    let r = scim(
        &ctx,
        Method::GET,
        "/api/v2/scim/v2/users?filter=title%20eq%20Lead",
        None,
        None,
    )
    .await;
    assert_eq!(r.status(), 400);
    // PUT and DELETE
    let put = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "scim@example.com", "displayName": "Renamed", "active": true});
    let r = scim(
        &ctx,
        Method::PUT,
        &format!("/api/v2/scim/v2/users/{id}"),
        Some(put),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["displayName"], "Renamed");
    assert_eq!(
        scim(
            &ctx,
            Method::DELETE,
            &format!("/api/v2/scim/v2/users/{id}"),
            None,
            None
        )
        .await
        .status(),
        204
    );
    assert_eq!(
        scim(
            &ctx,
            Method::GET,
            &format!("/api/v2/scim/v2/users/{id}"),
            None,
            None
        )
        .await
        .status(),
        404
    );
    let n = json(ctx.get(&format!("/api/v2/users/{id}?state=deleted")).await).await;
    assert_eq!(n["state"], "deleted");
    // SCIM may re-use the userName of a deleted user
    let again = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "scim@example.com", "displayName": "New"});
    assert_eq!(
        scim(
            &ctx,
            Method::POST,
            "/api/v2/scim/v2/users",
            Some(again),
            None
        )
        .await
        .status(),
        201
    );
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn groups_get_put_patch_only() {
    let ctx = start().await;
    let g = json(ctx.post("/api/v2/groups", json!({"name": "Sales", "type": "official", "rulesVisible": true, "visibility": "public"})).await).await;
    let gid = g["id"].as_str().unwrap();
    let u = ctx.user("M", "m@example.com").await;
    let uid = u["id"].as_str().unwrap();
    let l = json(
        scim(
            &ctx,
            Method::GET,
            "/api/v2/scim/v2/groups?filter=displayName%20eq%20Sales",
            None,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(l["totalResults"], 1);
    assert_eq!(
        scim(&ctx, Method::GET, "/api/v2/scim/v2/groups", None, None)
            .await
            .status(),
        400,
        "filter required in /v2/"
    );
    assert_eq!(
        json(scim(&ctx, Method::GET, "/api/v2/scim/groups", None, None).await).await["totalResults"],
        1
    );
    let r = scim(
        &ctx,
        Method::POST,
        "/api/v2/scim/v2/Groups",
        Some(json!({"displayName": "x"})),
        None,
    )
    .await;
    assert_eq!(r.status(), 405, "no SCIM group creation");
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "Add", "path": "members", "value": [{"value": uid}]}]});
    let r = scim(
        &ctx,
        Method::PATCH,
        &format!("/api/v2/scim/v2/Groups/{gid}"),
        Some(patch),
        Some(("If-Match", "\"1\"")),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v = json(r).await;
    assert_eq!(v["members"][0]["value"], uid);
    assert_eq!(v["meta"]["version"], "\"2\"");
    let native = json(ctx.get(&format!("/api/v2/groups/{gid}")).await).await;
    assert_eq!(native["memberCount"], 1);
    let rm = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "remove", "path": format!("members[value eq \"{uid}\"]")}]});
    let v = json(
        scim(
            &ctx,
            Method::PATCH,
            &format!("/api/v2/scim/v2/groups/{gid}"),
            Some(rm),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(v["members"], json!([]));
    let put = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Sales 2", "members": [{"value": uid}]});
    let r = scim(
        &ctx,
        Method::PUT,
        &format!("/api/v2/scim/v2/groups/{gid}"),
        Some(put),
        Some(("If-Match", "\"1\"")),
    )
    .await;
    assert_eq!(r.status(), 409);
    let r = scim(
        &ctx,
        Method::GET,
        &format!("/api/v2/scim/v2/groups/{gid}"),
        None,
        Some(("If-None-Match", "\"3\"")),
    )
    .await;
    assert_eq!(r.status(), 304);
    for p in [
        "/api/v2/scim/v2/serviceproviderconfig",
        "/api/v2/scim/v2/ServiceProviderConfig",
        "/api/v2/scim/v2/resourcetypes",
        "/api/v2/scim/schemas",
        "/api/v2/scim/v2/schemas/urn:ietf:params:scim:schemas:core:2.0:User",
        "/api/v2/scim/v2/ResourceTypes/User",
    ] {
        assert_eq!(
            scim(&ctx, Method::GET, p, None, None).await.status(),
            200,
            "{p}"
        );
    }
}

#[tokio::test]
async fn scim_group_external_id_is_kept_by_patch_and_replaced_by_put() {
    let ctx = start().await;
    let g = json(ctx.post("/api/v2/groups", json!({"name": "Billing", "type": "official", "rulesVisible": true, "visibility": "public"})).await).await;
    let path = format!("/api/v2/scim/v2/groups/{}", g["id"].as_str().unwrap());
    let patch = |ops: serde_json::Value| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
    // With a path, capitalised op as Entra sends it.
    let r = scim(
        &ctx,
        Method::PATCH,
        &path,
        Some(patch(
            json!([{"op": "Replace", "path": "externalId", "value": "hr-billing"}]),
        )),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["externalId"], "hr-billing");
    assert_eq!(
        json(scim(&ctx, Method::GET, &path, None, None).await).await["externalId"],
        "hr-billing"
    );
    // Without a path (Okta), next to displayName.
    let r = scim(
        &ctx,
        Method::PATCH,
        &path,
        Some(patch(
            json!([{"op": "replace", "value": {"displayName": "Billing", "externalId": "hr-2"}}]),
        )),
        None,
    )
    .await;
    assert_eq!(json(r).await["externalId"], "hr-2");
    // Remove.
    let r = scim(
        &ctx,
        Method::PATCH,
        &path,
        Some(patch(json!([{"op": "remove", "path": "externalId"}]))),
        None,
    )
    .await;
    assert!(json(r).await.get("externalId").is_none());
    // PUT sets it, and a PUT without it clears it (full replace).
    let r = scim(
        &ctx,
        Method::PUT,
        &path,
        Some(json!({"displayName": "Billing", "externalId": "hr-3", "members": []})),
        None,
    )
    .await;
    assert_eq!(json(r).await["externalId"], "hr-3");
    let r = scim(
        &ctx,
        Method::PUT,
        &path,
        Some(json!({"displayName": "Billing", "members": []})),
        None,
    )
    .await;
    assert!(json(r).await.get("externalId").is_none());
    // A non-string value is refused and changes nothing.
    let r = scim(
        &ctx,
        Method::PATCH,
        &path,
        Some(patch(
            json!([{"op": "add", "path": "externalId", "value": {"x": 1}}]),
        )),
        None,
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(
        json(scim(&ctx, Method::GET, &path, None, None).await)
            .await
            .get("externalId")
            .is_none()
    );
}
