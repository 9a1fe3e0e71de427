//! The request sequence Okta sends (../shared/reference/idp-requests.md 2b): filter before
//! create, POST with password, duplicate 409, PUT full replace, path-less PATCH deactivate,
//! Group Push.

use serde_json::json;

use super::support::*;

#[tokio::test]
async fn okta_provisioning_cycle_reaches_genesys() {
    let env = start(Opts::default()).await;
    let r = env
        .get(&format!(
            "/Users?filter={}&startIndex=1&count=100",
            enc("userName eq \"test.user@acme.example\"")
        ))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["totalResults"], 0);
    let create = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "test.user@acme.example",
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": true, "value": "test.user@acme.example", "type": "work"}],
        "displayName": "Test User", "locale": "en-US", "externalId": "00ujl29u0le5T6Aj10h7", "groups": [],
        "password": "1mz050nq", "active": true});
    let r = env
        .call(
            "POST",
            "/Users",
            Some(PROVISIONER),
            Some(create.clone()),
            &[("content-type", "application/json")],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().expect("id").to_string();
    assert!(r.body.get("password").is_none(), "password never returned");
    // Duplicate create -> 409 uniqueness.
    let r = env.post("/Users", create).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.body["scimType"], "uniqueness");
    assert_eq!(r.body["status"], "409");
    // Case-insensitive userName filter.
    let r = env
        .get(&format!(
            "/Users?filter={}",
            enc("userName eq \"TEST.USER@ACME.EXAMPLE\"")
        ))
        .await;
    assert_eq!(r.body["totalResults"], 1);

    // Profile update: GET then PUT the full object (with id, meta and read-only groups).
    let mut full = env.get(&format!("/Users/{id}")).await.body;
    full["displayName"] = json!("Another User");
    full["title"] = json!("Team Lead");
    full["groups"] = json!([]);
    let r = env.put(&format!("/Users/{id}"), full).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let g = env.genesys_user(&id).await.expect("user");
    assert_eq!(g.display_name.as_deref(), Some("Another User"));
    assert_eq!(g.title.as_deref(), Some("Team Lead"));

    // Deactivate: path-less PATCH.
    let r = env
        .patch(&format!("/Users/{id}"), json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "value": {"active": false}}]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        env.genesys_user(&id).await.and_then(|u| u.active),
        Some(false)
    );
    // Reactivate.
    let r = env
        .patch(
            &format!("/Users/{id}"),
            json!({"Operations": [{"op": "replace", "value": {"active": true}}]}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        env.genesys_user(&id).await.and_then(|u| u.active),
        Some(true)
    );

    // Group Push: create (created in Genesys because groups.create_missing), rename+membership.
    let r = env.post("/Groups", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Test SCIMv2", "members": []})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let gid = r.body["id"].as_str().expect("gid").to_string();
    let native = env.genesys.get_group(&gid).await.expect("group in Genesys");
    assert_eq!(native.name.as_deref(), Some("Test SCIMv2"));
    let r = env
        .patch(&format!("/Groups/{gid}"), json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
            {"op": "replace", "value": {"id": gid, "displayName": "Test SCIMv2"}},
            {"op": "add", "path": "members", "value": [{"value": id, "display": "test.user@acme.example"}]}]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(env.group_members(&gid).await, vec![id.clone()]);
    let r = env
        .patch(&format!("/Groups/{gid}"), json!({"Operations": [{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(env.group_members(&gid).await.is_empty());
    // AIW apps rename through PUT.
    let r = env.put(&format!("/Groups/{gid}"), json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Renamed SCIMv2", "members": [{"value": id}]})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        env.genesys
            .get_group(&gid)
            .await
            .ok()
            .and_then(|g| g.name)
            .as_deref(),
        Some("Renamed SCIMv2")
    );
    assert_eq!(env.group_members(&gid).await, vec![id.clone()]);
    let r = env.delete(&format!("/Groups/{gid}")).await;
    assert_eq!(r.status, 204);
    assert_eq!(env.get(&format!("/Groups/{gid}")).await.status, 404);
    env.shutdown().await;
}
