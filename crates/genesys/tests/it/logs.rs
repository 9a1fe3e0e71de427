//! Tracing: every request is logged with method, path, status, latency and correlation id;
//! with body logging on, secrets, passwords and tokens are still never written.

use std::io::Write;
use std::sync::{Arc, Mutex};

use futures::TryStreamExt;
use gcprov_genesys::models::*;
use secrecy::ExposeSecret;

use super::common::*;

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_have_correlation_ids_and_no_secrets() {
    let emu = emulator().await;
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let c = client_with(&emu, |cfg| cfg.log_bodies = true);
    let password = "Pa55word-never-logged-42";
    c.create_user(&CreateUser {
        name: "Logged".into(),
        email: email("log", 0),
        password: Some(password.into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let home = c.get_home_division().await.unwrap().id.unwrap();
    let roles: Vec<OrganizationRole> = c.list_roles(None).try_collect().await.unwrap();
    let created = c
        .create_oauth_client(&OAuthClientRequest::client_credentials(
            "logged-client",
            vec![RoleDivision {
                role_id: roles[0].id.clone().unwrap(),
                division_id: home,
            }],
        ))
        .await
        .unwrap();
    let client_secret = created.secret.unwrap().expose_secret().to_string();
    let _ = c.get_user("nope", &[]).await.unwrap_err();

    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("genesys response"), "{logs}");
    assert!(logs.contains("status=404"), "{logs}");
    assert!(logs.contains("correlation_id="), "{logs}");
    assert!(logs.contains("latency_ms="), "{logs}");
    assert!(logs.contains("request body"), "body logging was asked for");
    for secret in [password, client_secret.as_str(), emu.admin_client_secret()] {
        assert!(!logs.contains(secret), "secret in logs");
    }
    assert!(
        !logs.to_ascii_lowercase().contains("bearer "),
        "token in logs"
    );
    emu.shutdown().await;
}
