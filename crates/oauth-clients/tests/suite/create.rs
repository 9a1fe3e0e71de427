//! create: a client-credentials client whose secret goes to Vault and works for a login;
//! scope-based clients; a failed delivery followed by a successful rotation.

use gcprov_genesys::{ClientConfig, GenesysClient, SecretString};
use gcprov_oauth_clients::{DeliveryOutcome, fingerprint};
use serde_json::Value;

use super::common::*;

#[tokio::test]
async fn create_client_credentials_delivers_to_vault_and_audits() {
    let env = Env::new().await;
    let gov = env.governor();
    let sink = env.vault_sink();
    let report = gov
        .create(
            &cc_spec("reporting-export", "Analytics Reader"),
            None,
            &sink,
        )
        .await
        .expect("created");

    // Vault got the secret at the templated path, with the token header (checked by the
    // receiver) and cas = 0 on create.
    let writes = env.vault.accepted();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].path, "secret/data/genesys/oauth/reporting-export");
    assert_eq!(
        writes[0].body.pointer("/options/cas"),
        Some(&Value::from(0))
    );
    assert_eq!(
        writes[0]
            .body
            .pointer("/data/client_id")
            .and_then(Value::as_str),
        Some(report.client_id.as_str())
    );
    let secret = secret_of(&writes[0]);
    assert!(secret.len() >= 16);

    // The report holds the fingerprint, never the secret.
    let fp = report.fingerprint.clone().expect("fingerprint");
    assert_eq!(fp, fingerprint(&secret));
    assert!(matches!(report.delivery, DeliveryOutcome::Delivered { .. }));
    assert!(report.compliance.least_privilege_verified);
    assert!(report.compliance.delivered);
    assert!(!report.compliance.excess_allowed);
    for step in ["validate", "genesys_create", "deliver"] {
        assert!(report.latencies_ms.contains_key(step), "{step}");
    }

    // The delivered secret really logs in.
    let base = url::Url::parse(&env.emu.base_url()).expect("url");
    let mut cfg = ClientConfig::new(
        base.clone(),
        base,
        report.client_id.clone(),
        SecretString::from(secret.clone()),
    );
    cfg.rate_limit_per_minute = None;
    GenesysClient::new(cfg)
        .expect("client")
        .authenticate()
        .await
        .expect("the delivered secret works");

    // Genesys holds the model we asked for, with the gcprov marker.
    let c = env
        .gc
        .get_oauth_client(&report.client_id)
        .await
        .expect("get");
    assert_eq!(c.access_token_validity_seconds, Some(3600));
    assert_eq!(c.role_divisions.as_ref().map(Vec::len), Some(1));
    assert!(
        c.description
            .as_deref()
            .is_some_and(|d| d.contains("[gcprov profile=reporting]")),
        "{:?}",
        c.description
    );

    // Audit entry + outbox event: id, hash and masked form, compliance flags.
    let audit = env.audit().await;
    let e = audit
        .iter()
        .find(|e| e.action == "oauth_client.create")
        .expect("audit entry");
    assert_eq!(e.outcome, "success");
    assert_eq!(e.targets, vec![report.client_id.clone()]);
    assert_eq!(
        e.detail
            .pointer("/fingerprint/sha256")
            .and_then(Value::as_str),
        Some(fp.sha256.as_str())
    );
    assert_eq!(
        e.detail
            .pointer("/fingerprint/masked")
            .and_then(Value::as_str),
        Some(fp.masked.as_str())
    );
    assert_eq!(
        e.detail.pointer("/compliance/delivered"),
        Some(&Value::Bool(true))
    );
    assert_eq!(
        e.detail.pointer("/compliance/least_privilege_verified"),
        Some(&Value::Bool(true))
    );
    let events = env.outbox().await;
    assert!(
        events
            .iter()
            .any(|ev| ev.kind == "oauth_client.created" && ev.audit_seq == e.seq)
    );
}

#[tokio::test]
async fn create_scope_client_within_baseline() {
    let env = Env::new().await;
    let report = env
        .governor()
        .create(
            &code_spec("web-dashboard", &["analytics:readonly", "users"]),
            None,
            &env.vault_sink(),
        )
        .await
        .expect("created");
    let c = env
        .gc
        .get_oauth_client(&report.client_id)
        .await
        .expect("get");
    assert_eq!(
        c.scope.unwrap_or_default(),
        vec!["analytics:readonly".to_string(), "users".to_string()]
    );
    assert_eq!(
        c.registered_redirect_uri.unwrap_or_default(),
        vec!["https://app.example.com/callback".to_string()]
    );
}

#[tokio::test]
async fn failed_delivery_then_rotation_delivers_a_new_secret() {
    let env = Env::new().await;
    let gov = env.governor();
    let sink = env.vault_sink();
    env.vault.fail(true);
    let report = gov
        .create(&cc_spec("flaky-vault", "Analytics Reader"), None, &sink)
        .await
        .expect("the client is created even though delivery failed");
    let DeliveryOutcome::Failed { error, .. } = &report.delivery else {
        panic!("expected a failed delivery: {:?}", report.delivery);
    };
    assert!(error.contains("503"), "{error}");
    assert!(!report.compliance.delivered);
    // The client exists; its secret is lost.
    assert!(env.gc.get_oauth_client(&report.client_id).await.is_ok());
    let lost = secret_of(&env.vault.writes()[0]);
    assert!(!lost.is_empty());

    let audit = env.audit().await;
    let e = audit
        .iter()
        .find(|e| e.action == "oauth_client.create")
        .expect("entry");
    assert_eq!(e.outcome, "failure");
    assert!(
        e.detail["note"]
            .as_str()
            .is_some_and(|n| n.contains("rotate-secret")),
        "{}",
        e.detail
    );

    // Retry = rotation: a new secret, delivered; the audit says it replaces an undelivered one.
    env.vault.fail(false);
    let rotated = gov.rotate("flaky-vault", &sink).await.expect("rotated");
    assert!(rotated.delivery.delivered(), "{:?}", rotated.delivery);
    assert!(rotated.replaces_undelivered);
    let accepted = env.vault.accepted();
    assert_eq!(accepted.len(), 1);
    let fresh = secret_of(&accepted[0]);
    assert_ne!(fresh, lost);
    assert_eq!(
        rotated.fingerprint.as_ref().map(|f| f.sha256.clone()),
        Some(fingerprint(&fresh).sha256)
    );
    let audit = env.audit().await;
    let r = audit
        .iter()
        .find(|e| e.action == "oauth_client.rotate_secret")
        .expect("rotation entry");
    assert_eq!(r.outcome, "success");
    assert_eq!(r.detail["replaces_undelivered"], Value::Bool(true));

    // A second, normal rotation no longer says so, and writes a new Vault version (no cas).
    let again = gov.rotate(&report.client_id, &sink).await.expect("rotated");
    assert!(!again.replaces_undelivered);
    let accepted = env.vault.accepted();
    assert_eq!(accepted.len(), 2);
    assert!(accepted[1].body.pointer("/options/cas").is_none());
}
