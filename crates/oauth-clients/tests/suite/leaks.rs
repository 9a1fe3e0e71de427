//! The secret appears nowhere but in the sink: not in debug logs (with Genesys body logging
//! on), audit rows, outbox rows, the SQLite files, reports or error output.

use std::io::Write;
use std::sync::{Arc, Mutex};

use gcprov_store::AuditQuery;

use super::common::*;

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(b);
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn secrets_are_only_in_the_vault() {
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let env = Env::with(|c| c.log_bodies = true).await;
    let gov = env.governor();
    let sink = env.vault_sink();
    let mut output = String::new();

    // create, delivered
    let r1 = gov
        .create(&cc_spec("leak-check", "Analytics Reader"), None, &sink)
        .await
        .expect("create");
    output.push_str(&format!(
        "{r1:?}\n{}\n",
        serde_json::to_string(&r1).unwrap_or_default()
    ));
    // rotate with the vault failing: the error output is searched too
    env.vault.fail(true);
    let r2 = gov.rotate("leak-check", &sink).await.expect("rotate");
    output.push_str(&format!(
        "{r2:?}\n{}\n",
        serde_json::to_string(&r2).unwrap_or_default()
    ));
    if let gcprov_oauth_clients::DeliveryOutcome::Failed { error, .. } = &r2.delivery {
        output.push_str(error);
    } else {
        panic!("expected a failed delivery");
    }
    // rotate again, delivered
    env.vault.fail(false);
    let r3 = gov.rotate(&r1.client_id, &sink).await.expect("rotate");
    output.push_str(&format!("{r3:?}\n"));
    // an error path: duplicate name
    let e = gov
        .create(&cc_spec("leak-check", "Analytics Reader"), None, &sink)
        .await
        .expect_err("dup");
    output.push_str(&format!("{e}\n{e:?}\n"));
    let listed = gov.list().await.expect("list");
    output.push_str(&serde_json::to_string(&listed).unwrap_or_default());
    let audited = gov.audit(Some(30)).await.expect("audit");
    output.push_str(&serde_json::to_string(&audited).unwrap_or_default());

    let secrets: Vec<String> = env.vault.writes().iter().map(secret_of).collect();
    assert_eq!(secrets.len(), 3, "create, failed rotation, rotation");
    assert!(secrets.iter().all(|s| s.len() >= 16));

    let logs =
        String::from_utf8_lossy(&buf.0.lock().map(|v| v.clone()).unwrap_or_default()).to_string();
    assert!(logs.contains("oauth/clients"), "debug logging was on");
    let audit = serde_json::to_string(
        &env.store
            .entries(&AuditQuery::default())
            .await
            .expect("entries"),
    )
    .unwrap_or_default();
    assert!(audit.contains("oauth_client.rotate_secret"));
    let outbox = serde_json::to_string(&env.outbox().await).unwrap_or_default();
    assert!(outbox.contains("oauth_client.secret_rotated"));
    env.store.close().await;
    let mut db_bytes = Vec::new();
    for entry in std::fs::read_dir(env.dir.path()).expect("dir").flatten() {
        db_bytes.extend(std::fs::read(entry.path()).unwrap_or_default());
    }
    let db = String::from_utf8_lossy(&db_bytes).to_string();
    let receiver = format!("{:?}", env.vault.writes());

    for s in &secrets {
        // The search works: the Vault receiver has it.
        assert!(receiver.contains(s.as_str()));
        assert!(!logs.contains(s.as_str()), "secret in logs");
        assert!(!audit.contains(s.as_str()), "secret in audit rows");
        assert!(!outbox.contains(s.as_str()), "secret in outbox rows");
        assert!(!db.contains(s.as_str()), "secret in the database files");
        assert!(!output.contains(s.as_str()), "secret in reports or errors");
        // Nor a long fragment of it.
        let mid = &s[4..s.len() - 4];
        assert!(!logs.contains(mid) && !audit.contains(mid) && !output.contains(mid));
    }
    // The admin client's own secret never shows either.
    assert!(!logs.contains(env.emu.admin_client_secret()));
}
