//! File (0600, never overwritten), webhook (HMAC-signed) and Vault error handling.

use std::sync::Arc;

use axum::http::HeaderMap;
use axum::routing::post;
use gcprov_genesys::SecretString;
use gcprov_oauth_clients::sink::from_config;
use gcprov_oauth_clients::{
    Delivery, FileSink, IssuedSecret, Reason, SecretSink, SinkConfig, VaultKvSink, WebhookSink,
};
use parking_lot::Mutex;

use super::common::*;

const SECRET: &str = "s3cr3t-value-for-sink-tests-0123456789";

fn issued() -> IssuedSecret {
    IssuedSecret::new("client-1", SecretString::from(SECRET.to_string()))
}

#[tokio::test]
async fn file_sink_creates_0600_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().expect("dir");
    let sink = FileSink::new(dir.path().to_path_buf(), "{name}-{client_id}.json");
    let s = issued();
    let d = Delivery {
        secret: &s,
        client_name: "my app/../x",
        reason: Reason::Created,
    };
    let receipt = sink.deliver(&d).await.expect("written");
    let path = dir.path().join("my-app-..-x-client-1.json");
    assert_eq!(receipt.location, path.display().to_string());
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.contains(SECRET));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let e = sink.deliver(&d).await.expect_err("exists");
    assert!(e.0.contains("refusing to overwrite"), "{e}");
    assert!(!e.0.contains(SECRET));
    assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
}

#[tokio::test]
async fn webhook_sink_signs_the_body() {
    type Seen = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;
    let seen: Seen = Arc::default();
    let s2 = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |h: HeaderMap, b: axum::body::Bytes| {
            let s2 = s2.clone();
            async move {
                s2.lock().push((h, b.to_vec()));
                "ok"
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    let key = "hook-key";
    let sink = WebhookSink::new(
        &format!("http://{addr}/hook"),
        SecretString::from(key.to_string()),
    )
    .expect("sink");
    let s = issued();
    sink.deliver(&Delivery {
        secret: &s,
        client_name: "app",
        reason: Reason::Rotated,
    })
    .await
    .expect("delivered");
    let got = seen.lock().clone();
    assert_eq!(got.len(), 1);
    let (h, body) = &got[0];
    let ts = h
        .get(gcprov_delivery::TIMESTAMP_HEADER)
        .and_then(|v| v.to_str().ok())
        .expect("ts");
    let sig = h
        .get(gcprov_delivery::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .expect("sig");
    assert_eq!(sig, gcprov_delivery::sign(key.as_bytes(), ts, body));
    let v: serde_json::Value = serde_json::from_slice(body).expect("json");
    assert_eq!(v["event"], "rotated");
    assert_eq!(v["client_secret"], SECRET);
}

#[tokio::test]
async fn vault_rejects_a_wrong_token_and_cas_protects_existing_entries() {
    let vault = Vault::start().await;
    let wrong = VaultKvSink::new(
        &vault.addr,
        "secret",
        "apps/{name}",
        SecretString::from("wrong".to_string()),
    )
    .expect("sink");
    let s = issued();
    let d = Delivery {
        secret: &s,
        client_name: "app",
        reason: Reason::Created,
    };
    let e = wrong.deliver(&d).await.expect_err("403");
    assert!(
        e.0.contains("403") && e.0.contains("permission denied"),
        "{e}"
    );
    assert!(!e.0.contains("wrong"));

    let good = VaultKvSink::new(
        &format!("{}/", vault.addr),
        "/secret/",
        "/apps/{name}/",
        SecretString::from(VAULT_TOKEN.to_string()),
    )
    .expect("sink");
    let r = good.deliver(&d).await.expect("ok");
    assert_eq!(r.location, "secret/apps/app");
    assert_eq!(r.version, Some(1));
    // A second create at the same path hits cas = 0 and is refused: nothing is overwritten.
    let e = good.deliver(&d).await.expect_err("cas");
    assert!(e.0.contains("check-and-set"), "{e}");
    // A rotation writes a new version.
    let r = good
        .deliver(&Delivery {
            reason: Reason::Rotated,
            ..d
        })
        .await
        .expect("ok");
    assert_eq!(r.version, Some(2));
}

#[tokio::test]
async fn sink_from_config_needs_its_credentials() {
    let cfg = SinkConfig::Vault {
        addr: "http://127.0.0.1:1".into(),
        mount: "secret".into(),
        path: "x/{name}".into(),
        token_env: "MY_VAULT_TOKEN".into(),
        namespace: None,
        cas_on_create: true,
    };
    let e = from_config(&cfg, |_| None).err().expect("missing token");
    assert!(e.to_string().contains("MY_VAULT_TOKEN"));
    let ok = from_config(&cfg, |k| (k == "MY_VAULT_TOKEN").then(|| "t".to_string())).expect("sink");
    assert_eq!(ok.describe(), "vault secret/x/{name}");
    let bad = SinkConfig::Vault {
        addr: "ftp://user:pw@host".into(),
        mount: "secret".into(),
        path: "x".into(),
        token_env: "T".into(),
        namespace: None,
        cas_on_create: true,
    };
    let e = from_config(&bad, |_| Some("t".into()))
        .err()
        .expect("bad url");
    assert!(!e.to_string().contains("pw"));
    let plain = SinkConfig::Webhook {
        url: "http://secrets.example.com/hook".into(),
        key_env: "K".into(),
    };
    let e = from_config(&plain, |_| Some("k".into()))
        .err()
        .expect("plain http");
    assert!(e.to_string().contains("use https"), "{e}");
    let tls = SinkConfig::Webhook {
        url: "https://secrets.example.com/hook".into(),
        key_env: "K".into(),
    };
    assert!(from_config(&tls, |_| Some("k".into())).is_ok());
}

#[tokio::test]
async fn outbox_events_can_be_delivered_to_vault_through_the_delivery_trait() {
    use gcprov_delivery::Sink;
    let env = Env::new().await;
    let r = env
        .governor()
        .create(
            &cc_spec("evented", "Analytics Reader"),
            None,
            &env.vault_sink(),
        )
        .await
        .expect("created");
    let sink = gcprov_oauth_clients::VaultEventSink::new(
        "vault-events",
        &env.vault.addr,
        "secret",
        "gcprov/events/{kind}/{client_id}/{id}",
        SecretString::from(VAULT_TOKEN.to_string()),
    )
    .expect("sink");
    let events = env.outbox().await;
    let ev = events
        .iter()
        .find(|e| e.kind == "oauth_client.created")
        .expect("event");
    let envelope = gcprov_delivery::Envelope::from_event(ev).expect("envelope");
    sink.send(&envelope).await.expect("delivered");
    let writes = env.vault.accepted();
    let w = writes.last().expect("write");
    assert_eq!(
        w.path,
        format!(
            "secret/data/gcprov/events/oauth_client.created/{}/{}",
            r.client_id, ev.id
        )
    );
    assert_eq!(
        w.body
            .pointer("/data/payload/fingerprint/sha256")
            .and_then(|v| v.as_str()),
        r.fingerprint.as_ref().map(|f| f.sha256.as_str())
    );
    // The event carries no secret.
    let secret = secret_of(&writes[0]);
    assert!(!w.body.to_string().contains(&secret));
}

#[tokio::test]
async fn vault_event_sink_retries_what_every_http_sink_retries() {
    use gcprov_delivery::{Sink, SinkError};
    // A Vault that answers every write with the status in the path's last segment.
    let app = axum::Router::new().route(
        "/v1/secret/data/ev/{code}",
        axum::routing::post(
            |axum::extract::Path(code): axum::extract::Path<u16>| async move {
                axum::http::StatusCode::from_u16(code)
                    .unwrap_or(axum::http::StatusCode::IM_A_TEAPOT)
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let env = Env::new().await;
    env.governor()
        .create(
            &cc_spec("classified", "Analytics Reader"),
            None,
            &env.vault_sink(),
        )
        .await
        .expect("created");
    let events = env.outbox().await;
    let envelope = gcprov_delivery::Envelope::from_event(&events[0]).expect("envelope");
    for (code, transient) in [
        (408u16, true),
        (429, true),
        (503, true),
        (400, false),
        (403, false),
    ] {
        let sink = gcprov_oauth_clients::VaultEventSink::new(
            "vault-events",
            &addr,
            "secret",
            &format!("ev/{code}"),
            SecretString::from(VAULT_TOKEN.to_string()),
        )
        .expect("sink");
        match sink.send(&envelope).await {
            Err(SinkError::Transient(_)) => assert!(transient, "{code} must be permanent"),
            Err(SinkError::Permanent(_)) => assert!(!transient, "{code} must be retried"),
            other => panic!("{code}: unexpected {other:?}"),
        }
    }
}
