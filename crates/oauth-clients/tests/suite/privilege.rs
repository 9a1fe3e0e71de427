//! Least-privilege findings: write scope where read-only is allowed, scope beyond the
//! baseline, redundant pairs, role permissions beyond the baseline; --allow-excess with a
//! reason, audited.

use gcprov_oauth_clients::{Error, Finding};
use serde_json::Value;

use super::common::*;

#[tokio::test]
async fn write_scope_where_baseline_is_read_only_blocks_creation() {
    let env = Env::new().await;
    let before = env.client_count().await;
    let err = env
        .governor()
        .create(&code_spec("dash", &["analytics"]), None, &env.vault_sink())
        .await
        .expect_err("blocked");
    let Error::ExcessPrivilege { findings, profile } = &err else {
        panic!("{err}");
    };
    assert_eq!(profile, "reporting");
    assert_eq!(
        findings,
        &vec![Finding::WriteScopeWhereReadOnly {
            scope: "analytics".into(),
            allowed: "analytics:readonly".into()
        }]
    );
    assert!(err.to_string().contains("--allow-excess"));
    assert_eq!(env.client_count().await, before);
    // The refusal is audited.
    let audit = env.audit().await;
    let e = audit
        .iter()
        .find(|e| e.action == "oauth_client.create")
        .expect("entry");
    assert_eq!(e.outcome, "denied");
    assert_eq!(
        e.detail["findings"][0]["kind"],
        "write_scope_where_read_only"
    );
}

#[tokio::test]
async fn scope_beyond_baseline_blocks_and_redundant_pair_only_warns() {
    let env = Env::new().await;
    let gov = env.governor();
    let err = gov
        .create(&code_spec("dash", &["routing"]), None, &env.vault_sink())
        .await
        .expect_err("blocked");
    assert!(
        matches!(&err, Error::ExcessPrivilege { findings, .. } if findings == &vec![Finding::ScopeBeyondBaseline { scope: "routing".into() }]),
        "{err}"
    );

    // `users` with `users:readonly`: flagged, not blocking (it grants nothing extra).
    let plan = gov
        .plan(&code_spec("dir", &["users", "users:readonly"]))
        .await
        .expect("plan");
    assert_eq!(
        plan.findings,
        vec![Finding::RedundantScopePair {
            scope: "users".into(),
            readonly: "users:readonly".into()
        }]
    );
    assert!(plan.violations().is_empty());
    let r = gov
        .create(
            &code_spec("dir", &["users", "users:readonly"]),
            None,
            &env.vault_sink(),
        )
        .await
        .expect("created");
    assert!(r.compliance.least_privilege_verified);
    assert_eq!(r.compliance.findings.len(), 1);
}

#[tokio::test]
async fn role_permissions_beyond_baseline_block_unless_allowed_with_reason() {
    let env = Env::new().await;
    let gov = env.governor();
    let spec = cc_spec("analytics-admin", "Analytics Writer");
    let err = gov
        .create(&spec, None, &env.vault_sink())
        .await
        .expect_err("blocked");
    let Error::ExcessPrivilege { findings, .. } = &err else {
        panic!("{err}");
    };
    // analytics:conversationDetail:view is covered by analytics:*:view; the edit is not.
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(
        matches!(&findings[0], Finding::PermissionBeyondBaseline { role, permission, .. }
        if role == "Analytics Writer" && permission == "analytics:reportingSettings:edit")
    );
    assert!(err.to_string().contains("analytics:reportingSettings:edit"));

    // --allow-excess without a reason is refused.
    let e = gov
        .create(&spec, Some("  "), &env.vault_sink())
        .await
        .expect_err("reason");
    assert!(matches!(e, Error::MissingReason));

    let r = gov
        .create(&spec, Some("CHG-4711 report migration"), &env.vault_sink())
        .await
        .expect("created with excess");
    assert!(r.compliance.excess_allowed);
    assert!(!r.compliance.least_privilege_verified);
    let audit = env.audit().await;
    let e = audit
        .iter()
        .rfind(|e| e.action == "oauth_client.create")
        .expect("entry");
    assert_eq!(e.outcome, "success");
    assert_eq!(e.detail["compliance"]["excess_allowed"], Value::Bool(true));
    assert_eq!(
        e.detail["compliance"]["excess_reason"],
        "CHG-4711 report migration"
    );
    assert_eq!(
        e.detail["compliance"]["findings"][0]["permission"],
        "analytics:reportingSettings:edit"
    );
}

#[tokio::test]
async fn a_role_within_another_profile_passes() {
    let env = Env::new().await;
    let mut spec = cc_spec("user-sync", "User Admin");
    spec.profile = Some("directory".into());
    let plan = env.governor().plan(&spec).await.expect("plan");
    assert!(plan.findings.is_empty(), "{:?}", plan.findings);
}
