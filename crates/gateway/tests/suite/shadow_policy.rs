//! Policy rejection (400 invalidValue listing the violations, audited as denied) and shadow
//! mode (Genesys calls recorded, not sent).

use serde_json::json;

use super::support::*;

const POLICY: &str = r#"
[policy]
name = "test"
version = 1

[[rule]]
name = "acme-only"
kind = "email_domain"
allow = ["acme.example"]
"#;

#[tokio::test]
async fn policy_rejects_with_violations() {
    let env = start(Opts {
        policy: Some(POLICY),
        ..Default::default()
    })
    .await;
    let r = env.post("/Users", json!({"userName": "mallory@evil.example", "emails": [{"value": "mallory@evil.example", "type": "work", "primary": true}]})).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["scimType"], "invalidValue");
    assert!(
        r.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("rejected by policy")),
        "{}",
        r.body
    );
    assert!(
        env.genesys
            .scim_find_user("mallory@evil.example")
            .await
            .expect("find")
            .is_none()
    );
    let audit = env.audit().await;
    let e = audit
        .iter()
        .find(|e| e.action == "scim.user.create")
        .expect("audited");
    assert_eq!(e.outcome, "denied");
    assert!(e.detail["policy"].is_object());
    // An accepted user passes.
    let r = env.post("/Users", json!({"userName": "ok@acme.example", "emails": [{"value": "ok@acme.example", "type": "work", "primary": true}]})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    env.shutdown().await;
}

#[tokio::test]
async fn shadow_mode_records_instead_of_sending() {
    let env = start(Opts {
        cfg: Box::new(|c| c.mode = gcprov_gateway::Mode::Shadow),
        ..Default::default()
    })
    .await;
    let r = env
        .post(
            "/Users",
            json!({"userName": "shadow@acme.example", "displayName": "Shadow"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().expect("id").to_string();
    assert!(
        env.genesys
            .scim_find_user("shadow@acme.example")
            .await
            .expect("find")
            .is_none(),
        "nothing sent to Genesys"
    );
    assert_eq!(env.get(&format!("/Users/{id}")).await.status, 200);
    let audit = env.audit().await;
    let e = audit
        .iter()
        .find(|e| e.action == "scim.user.create")
        .expect("audited");
    assert_eq!(e.detail["mode"], "shadow");
    assert_eq!(e.detail["genesysCalls"][0]["outcome"], "shadow");
    env.shutdown().await;
}
