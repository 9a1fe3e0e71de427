//! The request sequence Microsoft Entra ID sends (../shared/reference/idp-requests.md 2a),
//! including the non-compliant default shapes ("Replace", "False", remove with a value array).

use serde_json::json;

use super::support::*;

#[tokio::test]
async fn entra_provisioning_cycle_reaches_genesys_and_is_audited() {
    let env = start(Opts::default()).await;

    // Test connection: a random GUID as matching property -> 200 with an empty ListResponse.
    let r = env
        .get(&format!(
            "/Users?filter={}",
            enc("userName eq \"5171a35d-82074e06-8ce2\"")
        ))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["totalResults"], 0);
    assert_eq!(r.headers["content-type"], "application/scim+json");

    // Create (Entra sends meta, name, roles: [] and an enterprise schema).
    let r = env
        .call(
            "POST",
            "/Users",
            Some(PROVISIONER),
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
                "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
                "userName": "Test_User_00aa00aa@Acme.Example",
                "active": true,
                "emails": [{"primary": true, "type": "work", "value": "Test_User_00aa00aa@acme.example"}],
                "meta": {"resourceType": "User"},
                "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
                "displayName": "Test User",
                "roles": []
            })),
            &[("client-request-id", "entra-req-1")],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().expect("id").to_string();
    assert_eq!(
        r.body["userName"], "test_user_00aa00aa@acme.example",
        "normalised userName"
    );
    let g = env.genesys_user(&id).await.expect("user exists in Genesys");
    assert_eq!(
        g.user_name.as_deref(),
        Some("test_user_00aa00aa@acme.example")
    );
    assert_eq!(
        g.external_id.as_deref(),
        Some("0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef")
    );

    // Matching reads come from the read model.
    let r = env
        .get(&format!(
            "/Users?filter={}",
            enc("externalId eq \"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef\"")
        ))
        .await;
    assert_eq!(r.body["totalResults"], 1);
    assert_eq!(r.body["Resources"][0]["id"], id.as_str());

    // Update with Entra's capitalised ops and a filtered email path.
    let r = env
        .patch(
            &format!("/Users/{id}"),
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
                {"op": "Replace", "path": "displayName", "value": "Updated Name"},
                {"op": "Replace", "path": "title", "value": "Agent"},
                {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Support"}
            ]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["displayName"], "Updated Name");
    let g = env.genesys_user(&id).await.expect("user");
    assert_eq!(g.display_name.as_deref(), Some("Updated Name"));
    assert_eq!(g.title.as_deref(), Some("Agent"));
    assert_eq!(
        g.enterprise.as_ref().and_then(|e| e.department.as_deref()),
        Some("Support")
    );

    // Disable with the string "False".
    let r = env
        .patch(
            &format!("/Users/{id}"),
            json!({"Operations": [{"op": "Replace", "path": "active", "value": "False"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["active"], false);
    assert_eq!(
        env.genesys_user(&id).await.and_then(|u| u.active),
        Some(false)
    );
    // Inactive users are still returned by GET and filters.
    assert_eq!(env.get(&format!("/Users/{id}")).await.status, 200);

    // Group membership: Entra finds the group by displayName (excluding members), then adds
    // and removes the member ("$ref": null; remove with a value array).
    let r = env
        .get(&format!(
            "/Groups?excludedAttributes=members&filter={}",
            enc("displayName eq \"Sales Agents\"")
        ))
        .await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.body);
    assert!(r.body["Resources"][0].get("members").is_none());
    let gid = r.body["Resources"][0]["id"]
        .as_str()
        .expect("gid")
        .to_string();
    let r = env
        .patch(&format!("/Groups/{gid}"), json!({"Operations": [{"op": "Add", "path": "members", "value": [{"$ref": null, "value": id}]}]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(env.group_members(&gid).await.contains(&id));
    // The mapping file turned the membership into a routing skill.
    let skills: Vec<String> = {
        use futures::StreamExt;
        let mut s = env.genesys.list_user_skills(&id);
        let mut v = Vec::new();
        while let Some(k) = s.next().await {
            v.push(k.expect("skill").name.unwrap_or_default());
        }
        v
    };
    assert!(skills.iter().any(|s| s == "Sales"), "{skills:?}");
    // The user's read-only groups attribute reflects it.
    let r = env.get(&format!("/Users/{id}")).await;
    assert_eq!(r.body["groups"][0]["value"], gid.as_str());

    let r = env
        .patch(&format!("/Groups/{gid}"), json!({"Operations": [{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": id}]}]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!env.group_members(&gid).await.contains(&id));

    // Delete (configured on_delete = delete).
    let r = env.delete(&format!("/Users/{id}")).await;
    assert_eq!(r.status, 204);
    assert_eq!(env.get(&format!("/Users/{id}")).await.status, 404);
    assert!(env.genesys_user(&id).await.is_none(), "deleted in Genesys");

    // Audit: every change, with the IdP's request id, the caller and the Genesys calls.
    let audit = env.audit().await;
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    for a in [
        "scim.user.create",
        "scim.user.patch",
        "scim.group.patch",
        "scim.user.delete",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    let create = audit
        .iter()
        .find(|e| e.action == "scim.user.create")
        .expect("create entry");
    assert_eq!(create.request_id.as_deref(), Some("entra-req-1"));
    assert_eq!(create.actor, "token:idp");
    assert_eq!(create.outcome, "success");
    assert_eq!(
        create.detail["genesysCalls"]
            .as_array()
            .map(|a| a.is_empty()),
        Some(false)
    );
    assert!(
        !serde_json::to_string(&audit.iter().map(|e| &e.detail).collect::<Vec<_>>())
            .unwrap_or_default()
            .contains(PROVISIONER)
    );
    env.shutdown().await;
}
