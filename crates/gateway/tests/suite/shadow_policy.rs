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

#[tokio::test]
async fn policy_endpoint_decisions_are_audited_with_an_event() {
    let env = start(Opts {
        policy: Some(POLICY),
        ..Default::default()
    })
    .await;
    let base = env.gw.scim_url().trim_end_matches("/scim/v2").to_string();
    let url = format!("{base}/policy/v1/evaluate");
    let user = |email: &str| json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": email, "emails": [{"value": email, "type": "work", "primary": true}]});
    let r = env
        .call(
            "POST",
            &url,
            Some(PROVISIONER),
            Some(user("eve@evil.example")),
            &[],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["decision"], "REJECTED");
    let r = env
        .call(
            "POST",
            &url,
            Some(PROVISIONER),
            Some(user("ok@acme.example")),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Without a token the endpoint is closed and nothing is recorded for that call.
    let r = env
        .call("POST", &url, None, Some(user("anon@evil.example")), &[])
        .await;
    assert_eq!(r.status, 401);

    // The sink appends in the background: wait (bounded) for both entries.
    let mut entries = Vec::new();
    for _ in 0..500 {
        entries = env
            .audit()
            .await
            .into_iter()
            .filter(|e| e.action == "policy.evaluate")
            .collect();
        if entries.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let outcomes: Vec<&str> = entries.iter().map(|e| e.outcome.as_str()).collect();
    assert_eq!(outcomes, ["denied", "success"], "{entries:?}");
    assert_eq!(entries[0].detail["decision"], "REJECTED");
    for e in &entries {
        let events = env.store.events_for_entry(e.seq).await.expect("events");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, "policy.decision");
    }
    // Personal attribute values stay out of the record (policy crate invariant).
    assert!(!entries[0].detail.to_string().contains("eve@evil.example"));
    assert!(env.store.verify().await.expect("verify").is_ok());
    env.shutdown().await;
}
