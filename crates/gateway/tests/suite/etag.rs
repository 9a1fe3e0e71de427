//! ETags: 412 on a stale If-Match, 304 on a current If-None-Match, and a change made in
//! Genesys behind the gateway's back is not lost (conflict -> re-read -> re-apply).

use serde_json::json;

use super::support::*;

#[tokio::test]
async fn etags_and_conflicts() {
    let env = start(Opts::default()).await;
    let r = env
        .post(
            "/Users",
            json!({"userName": "etag.user@acme.example", "displayName": "E Tag", "active": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().expect("id").to_string();
    let etag = r.headers["etag"].to_str().expect("etag").to_string();
    assert!(etag.starts_with("W/\""));
    // If-None-Match current -> 304.
    let r = env
        .call(
            "GET",
            &format!("/Users/{id}"),
            Some(PROVISIONER),
            None,
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(r.status, 304);
    // Matching If-Match -> applied; the old tag is then stale -> 412.
    let r = env
        .call(
            "PATCH",
            &format!("/Users/{id}"),
            Some(PROVISIONER),
            Some(json!({"Operations": [{"op": "replace", "path": "title", "value": "One"}]})),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = env
        .call(
            "PATCH",
            &format!("/Users/{id}"),
            Some(PROVISIONER),
            Some(json!({"Operations": [{"op": "replace", "path": "title", "value": "Two"}]})),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(r.status, 412);
    assert_eq!(
        env.genesys_user(&id).await.and_then(|u| u.title).as_deref(),
        Some("One")
    );

    // Someone edits the user in Genesys directly (the model is now stale).
    let patch = gcprov_genesys::models::ScimPatchRequest::new(vec![
        gcprov_genesys::models::ScimPatchOperation {
            op: gcprov_genesys::models::ScimPatchOpKind::Replace,
            path: Some("displayName".into()),
            value: Some(json!("Changed In Admin UI")),
        },
    ]);
    env.genesys
        .scim_patch_user(&id, &patch, None)
        .await
        .expect("direct edit");
    // The IdP's change carries the stale version: Genesys answers a conflict, the gateway
    // re-reads and re-applies; neither change is lost.
    let r = env
        .patch(
            &format!("/Users/{id}"),
            json!({"Operations": [{"op": "replace", "path": "title", "value": "Three"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let g = env.genesys_user(&id).await.expect("user");
    assert_eq!(g.title.as_deref(), Some("Three"));
    assert_eq!(g.display_name.as_deref(), Some("Changed In Admin UI"));
    env.shutdown().await;
}
