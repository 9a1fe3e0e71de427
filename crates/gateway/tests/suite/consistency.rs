//! A write's read-model change and its audit entry are committed together: after every answered
//! write the read model, the audit log (with its outbox event) and Genesys agree; when the store
//! cannot commit, the IdP gets a retryable 503 and neither the change nor an entry describing it
//! is stored, and the retry converges.

use gcprov_store::sqlx;
use serde_json::json;

use super::support::*;

/// The version number inside an ETag (`W/"3"` and `"3"` are both 3).
fn tag(v: &str) -> String {
    v.trim_start_matches("W/").trim_matches('"').to_string()
}

async fn last_entry(env: &Env) -> gcprov_store::AuditEntry {
    env.audit().await.pop().expect("an audit entry")
}

#[tokio::test]
async fn write_leaves_read_model_and_audit_consistent() {
    let env = start(Opts::default()).await;
    let r = env
        .post(
            "/Users",
            json!({"userName": "consistent@acme.example", "displayName": "Con Sistent", "active": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().expect("id").to_string();
    let e = last_entry(&env).await;
    assert_eq!(
        (e.action.as_str(), e.outcome.as_str()),
        ("scim.user.create", "success")
    );
    assert_eq!(e.targets, vec![id.clone()]);
    assert_eq!(
        env.store
            .events_for_entry(e.seq)
            .await
            .expect("events")
            .len(),
        1
    );
    let rec = env
        .store
        .get_user(&id)
        .await
        .expect("store")
        .expect("in the read model");
    assert_eq!(rec.user_name, "consistent@acme.example");

    let patch =
        |title: &str| json!({"Operations": [{"op": "replace", "path": "title", "value": title}]});
    let r = env.patch(&format!("/Users/{id}"), patch("First")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let e = last_entry(&env).await;
    assert_eq!(
        (e.action.as_str(), e.targets.clone()),
        ("scim.user.patch", vec![id.clone()])
    );
    let rec = env.store.get_user(&id).await.expect("store").expect("user");
    assert_eq!(rec.resource["title"], "First");
    let g = env.genesys_user(&id).await.expect("in Genesys");
    assert_eq!(g.title.as_deref(), Some("First"));
    let genesys_version = g
        .meta
        .as_ref()
        .and_then(|m| m.version.clone())
        .expect("version");
    assert_eq!(rec.version.to_string(), tag(&genesys_version));

    // Make every store commit fail (the outbox table disappears) and PATCH again.
    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        env._dir.path().join("gcprov.db").display()
    ))
    .await
    .expect("raw connection");
    let seq_before = env.store.head().await.expect("head").0;
    sqlx::raw_sql("ALTER TABLE outbox RENAME TO outbox_hidden")
        .execute(&db)
        .await
        .expect("hide outbox");
    let r = env.patch(&format!("/Users/{id}"), patch("Second")).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.headers.contains_key("retry-after"));
    // Genesys took the change, but no entry describes a read-model change that was not stored.
    assert_eq!(
        env.genesys_user(&id).await.expect("user").title.as_deref(),
        Some("Second")
    );
    assert_eq!(env.store.head().await.expect("head").0, seq_before);
    let rec = env.store.get_user(&id).await.expect("store").expect("user");
    assert_eq!(
        rec.resource["title"], "First",
        "the model change was not stored either"
    );

    // The IdP retries once the store is back: the stale version conflicts, the gateway re-reads
    // the user from Genesys, re-applies, and model, audit and Genesys agree again.
    sqlx::raw_sql("ALTER TABLE outbox_hidden RENAME TO outbox")
        .execute(&db)
        .await
        .expect("restore outbox");
    db.close().await;
    let r = env.patch(&format!("/Users/{id}"), patch("Second")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let e = last_entry(&env).await;
    assert_eq!(
        (e.action.as_str(), e.outcome.as_str()),
        ("scim.user.patch", "success")
    );
    assert_eq!(e.seq, seq_before + 1);
    let rec = env.store.get_user(&id).await.expect("store").expect("user");
    let g = env.genesys_user(&id).await.expect("user");
    assert_eq!(rec.resource["title"], "Second");
    let genesys_version = g
        .meta
        .as_ref()
        .and_then(|m| m.version.clone())
        .expect("version");
    assert_eq!(rec.version.to_string(), tag(&genesys_version));

    // A delete removes the user from the model in the same transaction as its entry.
    let r = env.delete(&format!("/Users/{id}")).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let e = last_entry(&env).await;
    assert_eq!(
        (e.action.as_str(), e.targets.clone()),
        ("scim.user.delete", vec![id.clone()])
    );
    assert!(env.store.get_user(&id).await.expect("store").is_none());
    assert!(env.store.verify().await.expect("verify").is_ok());
    env.shutdown().await;
}

/// A full sync removes read-model users Genesys no longer has, but keeps a user written after
/// the sync started: its pages may have been listed before the write (a create through this or
/// another replica during a long sync must not vanish from the IdP's view until the next sync).
#[tokio::test]
async fn full_sync_drops_vanished_users_but_keeps_users_written_during_it() {
    let env = start(Opts::default()).await;
    let ghost = |id: &str, user_name: &str, updated_us: i64| gcprov_store::UserRecord {
        id: id.into(),
        user_name: user_name.into(),
        external_id: None,
        display_name: None,
        active: true,
        version: 1,
        emails: Vec::new(),
        resource: json!({"id": id, "userName": user_name}),
        updated_us,
    };
    let now = gcprov_store::to_us(time::OffsetDateTime::now_utc());
    // Neither is in Genesys. One was written long ago, the other "during" the coming sync
    // (its write time lies after the sync's start).
    let stale = ghost(
        "00000000-0000-4000-8000-00000000aaaa",
        "stale@acme.example",
        now - 3_600_000_000,
    );
    let fresh = ghost(
        "00000000-0000-4000-8000-00000000bbbb",
        "fresh@acme.example",
        now + 3_600_000_000,
    );
    env.store.upsert_user(&stale).await.expect("upsert");
    env.store.upsert_user(&fresh).await.expect("upsert");
    env.gw.service().full_sync().await.expect("sync");
    assert!(
        env.store
            .get_user(&stale.id)
            .await
            .expect("store")
            .is_none(),
        "a user Genesys no longer has leaves the read model"
    );
    assert!(
        env.store
            .get_user(&fresh.id)
            .await
            .expect("store")
            .is_some(),
        "a user written since the sync started stays until the next sync"
    );
    env.shutdown().await;
}
