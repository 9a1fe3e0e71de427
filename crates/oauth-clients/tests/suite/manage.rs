//! list, show, audit, disable, delete.

use gcprov_oauth_clients::Finding;

use super::common::*;

#[tokio::test]
async fn list_and_show() {
    let env = Env::new().await;
    let gov = env.governor();
    let r = gov
        .create(
            &cc_spec("reporting-export", "Analytics Reader"),
            None,
            &env.vault_sink(),
        )
        .await
        .expect("created");
    let all = gov.list().await.expect("list");
    assert!(all.iter().any(|c| c.name == "legacy-user-sync"));
    let mine = all.iter().find(|c| c.id == r.client_id).expect("listed");
    assert_eq!(mine.profile.as_deref(), Some("reporting"));
    assert_eq!(mine.grant_type, "CLIENT-CREDENTIALS");
    assert_eq!(mine.state, "active");

    let by_name = gov.show("reporting-export").await.expect("show");
    assert_eq!(by_name.id, r.client_id);
    assert_eq!(by_name.roles[0].role.as_deref(), Some("Analytics Reader"));
    assert_eq!(by_name.roles[0].division.as_deref(), Some("Home"));
    let by_id = gov.show(&r.client_id).await.expect("show");
    assert_eq!(by_id.name, "reporting-export");
    let missing = gov.show("nope").await.expect_err("missing");
    assert!(missing.to_string().contains("no OAuth client \"nope\""));
    // JSON output holds no secret field at all.
    let json = serde_json::to_string(&by_id).expect("json");
    assert!(!json.contains("secret"));
}

#[tokio::test]
async fn audit_checks_every_client_and_is_honest_about_usage() {
    let env = Env::new().await;
    let gov = env.governor();
    gov.create(
        &cc_spec("reporting-export", "Analytics Reader"),
        None,
        &env.vault_sink(),
    )
    .await
    .expect("created");
    let report = gov.audit(Some(90)).await.expect("audit");
    // The seeded legacy client has no marker: checked against the default profile.
    let legacy = report
        .clients
        .iter()
        .find(|c| c.client.name == "legacy-user-sync")
        .expect("legacy");
    assert_eq!(legacy.baseline.as_deref(), Some("reporting"));
    assert!(legacy.findings.iter().any(|f| matches!(f, Finding::PermissionBeyondBaseline { permission, .. } if permission == "directory:user:add")));
    let mine = report
        .clients
        .iter()
        .find(|c| c.client.name == "reporting-export")
        .expect("mine");
    assert!(mine.findings.is_empty(), "{:?}", mine.findings);
    assert!(report.with_findings >= 1);
    assert!(report.clients.iter().all(|c| c.usage == "unknown"));
    assert!(
        report
            .usage_note
            .as_deref()
            .is_some_and(|n| n.contains("usage unknown") && n.contains("90 days"))
    );
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(
        json["clients"].as_array().map(Vec::len),
        Some(report.clients.len())
    );

    // Without a default profile, unmarked clients are "not verified", not silently passed.
    let cfg = CONFIG.replace("default_profile = \"reporting\"", "");
    let report = env.governor_with(&cfg).audit(None).await.expect("audit");
    let legacy = report
        .clients
        .iter()
        .find(|c| c.client.name == "legacy-user-sync")
        .expect("legacy");
    assert_eq!(legacy.findings, vec![Finding::NoBaseline]);
    assert!(report.usage_note.is_none());
}

#[tokio::test]
async fn disable_then_delete_sets_inactive_first() {
    let env = Env::new().await;
    let gov = env.governor();
    let r = gov
        .create(
            &cc_spec("short-lived", "Analytics Reader"),
            None,
            &env.vault_sink(),
        )
        .await
        .expect("created");
    let d = gov.disable("short-lived").await.expect("disable");
    assert_eq!(d.state, "disabled");
    let c = env.gc.get_oauth_client(&r.client_id).await.expect("get");
    assert_eq!(
        c.state.map(|s| s.as_str().to_string()).as_deref(),
        Some("disabled")
    );

    // The emulator, like Genesys, refuses to delete a client that is not inactive.
    assert!(env.gc.delete_oauth_client(&r.client_id).await.is_err());
    let id = gov.delete(&r.client_id).await.expect("delete");
    assert_eq!(id, r.client_id);
    assert!(
        env.gc
            .get_oauth_client(&r.client_id)
            .await
            .expect_err("gone")
            .is_not_found()
    );
    let audit = env.audit().await;
    let del = audit
        .iter()
        .find(|e| e.action == "oauth_client.delete")
        .expect("entry");
    assert_eq!(del.detail["set_inactive_first"], true);
    assert_eq!(del.detail["confirmed_gone"], true);
    assert!(audit.iter().any(|e| e.action == "oauth_client.disable"));
    let kinds: Vec<String> = env.outbox().await.into_iter().map(|e| e.kind).collect();
    assert!(kinds.contains(&"oauth_client.disabled".to_string()));
    assert!(kinds.contains(&"oauth_client.deleted".to_string()));
}
