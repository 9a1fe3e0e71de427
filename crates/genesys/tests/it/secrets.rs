//! Login errors and secret hygiene: secrets and tokens never appear in Debug, Display or
//! errors.

use std::sync::Arc;

use gcprov_genesys::{ClientConfig, Error, GenesysClient, SecretString};

use super::common::*;

#[tokio::test]
async fn invalid_client_is_a_typed_error_without_the_secret() {
    let emu = emulator().await;
    let wrong = "WRONG-SECRET-9f8e7d6c5b4a";
    let mut cfg = config(&emu);
    cfg.client_secret = SecretString::from(wrong.to_string());
    let c = GenesysClient::new(cfg).unwrap();
    let err = c.authenticate().await.unwrap_err();
    match &err {
        Error::Login { status, error, .. } => {
            assert!(*status == 400 || *status == 401, "{status}");
            assert_eq!(error, "invalid_client");
        }
        other => panic!("expected a login error, got {other:?}"),
    }
    for text in [format!("{err}"), format!("{err:?}"), format!("{c:?}")] {
        assert!(!text.contains(wrong), "{text}");
    }
    // An API call surfaces the same login error.
    let err = c.get_home_division().await.unwrap_err();
    assert!(matches!(err, Error::Login { .. }));
    emu.shutdown().await;
}

#[tokio::test]
async fn debug_of_config_client_and_errors_has_no_secret_or_token() {
    let emu = emulator().await;
    let secret = emu.admin_client_secret().to_string();
    let c = client(&emu);
    c.authenticate().await.unwrap();
    let err = c
        .get_user("00000000-0000-0000-0000-000000000000", &[])
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    let cfg: &ClientConfig = c.config();
    // The token the emulator issued: take it from a fresh login to compare.
    let token: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/oauth/token", emu.base_url()))
        .basic_auth(emu.admin_client_id(), Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let fresh_token = token["access_token"].as_str().unwrap().to_string();
    for text in [
        format!("{cfg:?}"),
        format!("{c:?}"),
        format!("{err}"),
        format!("{err:?}"),
    ] {
        assert!(!text.contains(&secret), "{text}");
        assert!(!text.contains(&fresh_token[..16]), "{text}");
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn one_login_for_many_concurrent_tasks() {
    let emu = emulator().await;
    let c = Arc::new(client(&emu));
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move { c.get_home_division().await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(c.stats().logins, 1);
    let s = stats(&emu).await;
    assert_eq!(s["byRoute"]["POST /oauth/token"].as_u64(), Some(1), "{s}");
    emu.shutdown().await;
}

#[tokio::test]
async fn a_refused_login_is_shared_by_the_tasks_waiting_for_it() {
    let emu = emulator().await;
    let mut cfg = config(&emu);
    cfg.client_secret = SecretString::from("not-the-secret".to_string());
    let c = Arc::new(GenesysClient::new(cfg).unwrap());
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move { c.get_home_division().await }));
    }
    for t in tasks {
        assert!(matches!(t.await.unwrap(), Err(Error::Login { .. })));
    }
    let s = stats(&emu).await;
    assert_eq!(s["byRoute"]["POST /oauth/token"].as_u64(), Some(1), "{s}");
    emu.shutdown().await;
}
