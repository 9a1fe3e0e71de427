//! Validation errors: each names its field, and nothing is written to Genesys.

use gcprov_oauth_clients::{ClientSpec, Error, RoleSpec};

use super::common::*;

async fn invalid(env: &Env, spec: &ClientSpec) -> Vec<(String, String)> {
    let before = env.client_count().await;
    let err = env
        .governor()
        .create(spec, None, &env.vault_sink())
        .await
        .expect_err("must be refused");
    assert_eq!(env.client_count().await, before, "nothing was created");
    assert!(env.vault.writes().is_empty(), "nothing was delivered");
    let msg = err.to_string();
    match err {
        Error::Invalid(errs) => {
            assert!(msg.contains("nothing was created"), "{msg}");
            errs.into_iter().map(|e| (e.field, e.message)).collect()
        }
        other => panic!("expected a validation error, got {other}"),
    }
}

fn has(errs: &[(String, String)], field: &str, needle: &str) -> bool {
    errs.iter().any(|(f, m)| f == field && m.contains(needle))
}

#[tokio::test]
async fn each_validation_error_names_its_field() {
    let env = Env::new().await;

    let mut s = cc_spec("x", "Analytics Reader");
    s.grant_type = "CLIENT_CREDENTIALS".into();
    let e = invalid(&env, &s).await;
    assert!(
        has(&e, "grant_type", "did you mean CLIENT-CREDENTIALS"),
        "{e:?}"
    );

    let mut s = cc_spec("x", "Analytics Reader");
    s.grant_type = "IMPLICIT".into();
    assert!(has(
        &invalid(&env, &s).await,
        "grant_type",
        "CODE, TOKEN, SAML2-BEARER, PASSWORD, CLIENT-CREDENTIALS"
    ));

    let e = invalid(&env, &cc_spec("x", "No Such Role")).await;
    assert!(has(&e, "roles[0].role", "No Such Role"), "{e:?}");

    let mut s = cc_spec("x", "Analytics Reader");
    s.roles[0].division = Some("Atlantis".into());
    assert!(has(
        &invalid(&env, &s).await,
        "roles[0].division",
        "Atlantis"
    ));

    let mut s = cc_spec("x", "Analytics Reader");
    s.roles.clear();
    assert!(has(&invalid(&env, &s).await, "roles", "at least one role"));

    let mut s = cc_spec("x", "Analytics Reader");
    s.scopes = vec!["users".into()];
    assert!(has(
        &invalid(&env, &s).await,
        "scopes",
        "only apply to user-delegated"
    ));

    let mut s = cc_spec("x", "Analytics Reader");
    s.token_lifetime_seconds = Some(100);
    assert!(has(
        &invalid(&env, &s).await,
        "token_lifetime_seconds",
        "outside 300..=172800"
    ));

    let mut s = cc_spec("x", "Analytics Reader");
    s.token_lifetime_seconds = Some(1_000_000);
    assert!(has(
        &invalid(&env, &s).await,
        "token_lifetime_seconds",
        "only for SCIM clients"
    ));

    let mut s = cc_spec("x", "Analytics Reader");
    s.token_lifetime_seconds = Some(40_000_000);
    s.scim = true;
    assert!(has(
        &invalid(&env, &s).await,
        "token_lifetime_seconds",
        "outside 300..=38880000"
    ));

    let mut s = code_spec("x", &["users"]);
    s.scim = true;
    assert!(has(&invalid(&env, &s).await, "scim", "CLIENT-CREDENTIALS"));

    let e = invalid(&env, &code_spec("x", &["users:manage"])).await;
    assert!(
        has(&e, "scopes[0]", "not in the org's scope catalogue"),
        "{e:?}"
    );

    let e = invalid(&env, &code_spec("x", &["users", "users"])).await;
    assert!(has(&e, "scopes[1]", "listed twice"), "{e:?}");

    let e = invalid(
        &env,
        &code_spec("x", &["users", "groups", "routing", "analytics:readonly"]),
    )
    .await;
    assert!(has(&e, "scopes", "maximum of 3"), "{e:?}");

    let mut s = code_spec("x", &["users"]);
    s.redirect_uris.clear();
    assert!(has(
        &invalid(&env, &s).await,
        "redirect_uris",
        "at least one redirect URI"
    ));

    let mut s = code_spec("x", &["users"]);
    s.redirect_uris = vec!["not a uri".into()];
    assert!(has(
        &invalid(&env, &s).await,
        "redirect_uris[0]",
        "not an absolute URI"
    ));

    let mut s = code_spec("x", &["users"]);
    s.roles = vec![RoleSpec {
        role: "Analytics Reader".into(),
        division: None,
    }];
    assert!(has(
        &invalid(&env, &s).await,
        "roles",
        "only apply to CLIENT-CREDENTIALS"
    ));

    let mut s = cc_spec("x", "Analytics Reader");
    s.profile = None;
    assert!(has(&invalid(&env, &s).await, "profile", "is required"));
    s.profile = Some("admin".into());
    assert!(has(
        &invalid(&env, &s).await,
        "profile",
        "no baseline profile \"admin\""
    ));

    let mut s = cc_spec("  ", "Analytics Reader");
    s.name = " ".into();
    assert!(has(&invalid(&env, &s).await, "name", "required"));

    // Several problems are reported together.
    let mut s = cc_spec("", "Nope");
    s.token_lifetime_seconds = Some(1);
    let e = invalid(&env, &s).await;
    assert!(e.len() >= 3, "{e:?}");
}

#[tokio::test]
async fn scim_client_may_have_a_long_lifetime_in_validation() {
    let env = Env::new().await;
    let mut s = cc_spec("scim-provisioner", "Analytics Reader");
    s.scim = true;
    s.token_lifetime_seconds = Some(1_000_000);
    let plan = env.governor().plan(&s).await.expect("valid");
    assert_eq!(plan.request.access_token_validity_seconds, Some(1_000_000));
    assert!(plan.scim);
    assert!(
        plan.request
            .description
            .as_deref()
            .is_some_and(|d| d.ends_with("[gcprov profile=reporting scim]"))
    );
}

#[tokio::test]
async fn an_existing_name_is_reported_not_duplicated() {
    let env = Env::new().await;
    let before = env.client_count().await;
    let err = env
        .governor()
        .create(
            &cc_spec("legacy-user-sync", "Analytics Reader"),
            None,
            &env.vault_sink(),
        )
        .await
        .expect_err("duplicate");
    assert!(matches!(err, Error::NameExists { .. }), "{err}");
    assert!(err.to_string().contains("already exists"));
    assert_eq!(env.client_count().await, before);
}

#[tokio::test]
async fn spec_and_config_files_name_file_and_line() {
    let dir = tempfile::tempdir().expect("dir");
    let p = dir.path().join("client.toml");
    std::fs::write(&p, "name = \"a\"\ngrant_type = \"CODE\"\nscopes = 5\n").expect("write");
    let e = ClientSpec::from_path(&p).expect_err("bad").to_string();
    assert!(e.contains("client.toml") && e.contains("line 3"), "{e}");

    let p = dir.path().join("client.json");
    std::fs::write(&p, "{\n \"name\": \"a\",\n \"bogus\": 1\n}").expect("write");
    let e = ClientSpec::from_path(&p).expect_err("bad").to_string();
    assert!(e.contains("client.json") && e.contains("line 3"), "{e}");

    let p = dir.path().join("ok.toml");
    std::fs::write(
        &p,
        "name = \"a\"\ngrant_type = \"CLIENT-CREDENTIALS\"\nprofile = \"reporting\"\nroles = [{ role = \"Analytics Reader\", division = \"Home\" }]\n",
    )
    .expect("write");
    let s = ClientSpec::from_path(&p).expect("ok");
    assert_eq!(s.roles.len(), 1);

    let e = gcprov_oauth_clients::GovernanceConfig::parse(
        "[limits]\nmax_token_lifetime_seconds = 999999999\n",
        false,
    )
    .expect_err("bad");
    assert!(e.contains("max_token_lifetime_seconds"), "{e}");
    let e = gcprov_oauth_clients::GovernanceConfig::parse("[profiles.x]\nscopes = 1\n", false)
        .expect_err("bad");
    assert!(e.contains("line 2"), "{e}");
}

#[test]
fn the_examples_parse() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/oauth-clients");
    let cfg = gcprov_oauth_clients::GovernanceConfig::from_path(&dir.join("governance.toml"))
        .expect("governance.toml");
    assert!(cfg.profile("reporting").is_some());
    assert!(matches!(
        cfg.sink,
        Some(gcprov_oauth_clients::SinkConfig::Vault { .. })
    ));
    for f in [
        "reporting-export.toml",
        "agent-dashboard.json",
        "scim-entra.toml",
    ] {
        let spec = ClientSpec::from_path(&dir.join(f)).expect(f);
        let profile = spec.profile.clone().unwrap_or_default();
        assert!(cfg.profile(&profile).is_some(), "{f}: profile {profile}");
    }
}

fn route_count(stats: &serde_json::Value, needle: &str) -> u64 {
    stats["byRoute"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| k.contains(needle))
                .map(|(_, v)| v.as_u64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn catalogues_are_fetched_once_per_run() {
    let env = Env::new().await;
    let gov = env.governor();
    env.emu.reset_stats();
    for _ in 0..3 {
        gov.plan(&code_spec("a", &["users"])).await.expect("plan");
        gov.plan(&cc_spec("b", "Analytics Reader"))
            .await
            .expect("plan");
    }
    let stats = env.emu.stats();
    assert_eq!(route_count(&stats, "oauth/scopes"), 1, "{stats}");
    assert_eq!(route_count(&stats, "authorization/roles"), 1, "{stats}");
    assert_eq!(route_count(&stats, "authorization/divisions"), 1, "{stats}");
}
