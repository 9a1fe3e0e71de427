//! TLS: with `[tls]` configured the gateway serves HTTPS (rustls, aws-lc-rs).

use super::support::*;

#[tokio::test]
async fn serves_https_when_configured() {
    let dir = tempfile::tempdir().expect("dir");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    // The certificate comes from the openssl CLI; without it there is nothing to test with.
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .is_ok_and(|o| o.status.success());
    if !made {
        eprintln!("openssl not available; TLS test skipped");
        return;
    }
    let (c, k) = (cert.clone(), key.clone());
    let env = start(Opts {
        cfg: Box::new(move |cfg| {
            cfg.tls = Some(gcprov_gateway::config::TlsConfig { cert: c, key: k })
        }),
        ..Default::default()
    })
    .await;
    assert!(env.gw.scim_url().starts_with("https://"));
    let client = reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(true)
        .build()
        .expect("client");
    let r = client
        .get(format!("{}/Users", env.gw.scim_url()))
        .bearer_auth(PROVISIONER)
        .send()
        .await
        .expect("https request");
    assert_eq!(r.status().as_u16(), 200);
    // Plain HTTP on the TLS port does not get a SCIM answer.
    let plain = env.gw.scim_url().replacen("https://", "http://", 1);
    let r = reqwest::Client::new()
        .get(format!("{plain}/Users"))
        .bearer_auth(PROVISIONER)
        .send()
        .await;
    assert!(r.map(|r| r.status().as_u16() != 200).unwrap_or(true));
    env.shutdown().await;
}
