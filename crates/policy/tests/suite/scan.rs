//! `policy scan` against the Genesys Cloud emulator (ephemeral loopback port) with users
//! created directly through the API, as an admin in the UI would, bypassing the IdP.

use super::policy;
use gcprov_emulator::{Emulator, EmulatorConfig};
use gcprov_genesys::models::{CreateUser, EntityState};
use gcprov_genesys::{ClientConfig, GenesysClient, SecretString};
use gcprov_policy::EvalContext;
use gcprov_policy::scan::{concat, scan};

const POLICY: &str = r#"
[[rule]]
name = "approved-domains"
kind = "email_domain"
allow = ["acme.example"]

[[rule]]
name = "approved-departments"
kind = "allowed_values"
path = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"
values = ["Sales", "Support"]
"#;

#[tokio::test]
async fn scan_reports_users_created_outside_the_idp() {
    let cfg = EmulatorConfig {
        rate_limit_per_minute: None,
        ..EmulatorConfig::default()
    };
    let emu = match Emulator::start(cfg).await {
        Ok(e) => e,
        Err(e) => panic!("emulator: {e}"),
    };
    let base = match url::Url::parse(&emu.base_url()) {
        Ok(u) => u,
        Err(e) => panic!("{e}"),
    };
    let mut cc = ClientConfig::new(
        base.clone(),
        base,
        emu.admin_client_id(),
        SecretString::from(emu.admin_client_secret().to_string()),
    );
    cc.rate_limit_per_minute = None;
    let client = match GenesysClient::new(cc) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let users = [
        ("Ada Good", "ada@acme.example", "Sales"),
        ("Bob Handmade", "bob@evil.example", "Sales"),
        ("Cy Wrongdept", "cy@acme.example", "Marketing"),
    ];
    for (i, (name, email, dept)) in users.into_iter().enumerate() {
        // Active and inactive users alike: a hand-made inactive user is still a finding.
        let state = if i == 2 {
            EntityState::Inactive
        } else {
            EntityState::Active
        };
        let body = CreateUser {
            name: name.into(),
            email: email.into(),
            department: Some(dept.into()),
            state: Some(state),
            ..CreateUser::default()
        };
        if let Err(e) = client.create_user(&body).await {
            panic!("create {email}: {e}");
        }
    }
    let p = policy(POLICY);
    let sources = concat(vec![
        client.scim_list_users(None),
        client.scim_list_users(Some("active eq false")),
    ]);
    let result = match scan(
        &p,
        sources,
        "genesys",
        &EvalContext::default(),
        Some("test".into()),
    )
    .await
    {
        Ok(r) => r,
        Err(e) => panic!("scan: {e}"),
    };
    let report = &result.report;
    let rejected: Vec<(&str, Vec<&str>)> = report
        .records
        .iter()
        .filter(|r| r.decision.is_rejected())
        .map(|r| {
            (
                r.user_name.as_deref().unwrap_or(""),
                r.decision
                    .violations
                    .iter()
                    .map(|v| v.code.as_str())
                    .collect(),
            )
        })
        .collect();
    assert!(
        rejected.contains(&("bob@evil.example", vec!["SCIM_INVALID_EMAIL_DOMAIN"])),
        "{}",
        report.render_text()
    );
    assert!(
        rejected.contains(&("cy@acme.example", vec!["POLICY_DEPARTMENT_DENIED"])),
        "{}",
        report.render_text()
    );
    assert!(
        !rejected.iter().any(|(u, _)| *u == "ada@acme.example"),
        "{}",
        report.render_text()
    );
    assert!(
        report
            .records
            .iter()
            .all(|r| r.location.starts_with("genesys:users/"))
    );
    assert!(report.records.len() >= 3, "{}", report.render_text());
    assert_eq!(result.records.len(), report.records.len());
    assert!(result.records.iter().all(|r| r.channel == "scan"));
    emu.shutdown().await;
}
