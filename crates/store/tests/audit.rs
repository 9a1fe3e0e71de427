use gcprov_store::{
    AuditEntry, AuditQuery, FieldRedactor, NewEntry, NewEvent, Outcome, Store, StoreError,
    StoreOptions, TamperKind, canonical_entry_bytes, entry_hash,
};
use serde_json::json;
use std::sync::Arc;

use crate::both_backends;
use crate::support::TestDb;

fn entry(i: i64) -> NewEntry {
    NewEntry::new(
        format!("scim:idp{}", i % 3),
        "user.update",
        Outcome::Success,
    )
    .target(format!("user-{i}"))
    .request_id(format!("req-{i}"))
    .correlation_id(format!("corr-{i}"))
    .detail(json!({"diff": {"title": ["a", "b"]}, "i": i, "nested": {"z": 1, "a": [true, null]}}))
}

async fn fill(store: &Store, n: i64) -> Vec<gcprov_store::Appended> {
    let mut out = Vec::new();
    for i in 1..=n {
        out.push(
            store
                .append(
                    entry(i),
                    vec![NewEvent::new("audit.entry", json!({"i": i}))],
                )
                .await
                .unwrap(),
        );
    }
    out
}

both_backends!(
    append_and_verify,
    tamper_change_field,
    tamper_delete_row,
    tamper_delete_last_row,
    tamper_insert_row,
    tamper_swap_rows,
    checkpoints,
    concurrent_appends_keep_one_chain,
    outbox_in_same_transaction,
    secrets_refused_and_personal_data_redacted,
    schema_newer_than_binary_is_refused,
    query_filters_and_export,
);

async fn append_and_verify(db: &TestDb) {
    let s = &db.store;
    let empty = s.verify().await.unwrap();
    assert!(empty.is_ok());
    assert_eq!(empty.head_seq, 0);
    let appended = fill(s, 20).await;
    assert_eq!(
        appended.iter().map(|a| a.seq).collect::<Vec<_>>(),
        (1..=20).collect::<Vec<_>>()
    );
    let report = s.verify().await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.entries, 20);
    assert_eq!(report.head_seq, 20);
    assert_eq!(report.head_hash, appended[19].hash);

    let e7 = s.entry(7).await.unwrap().unwrap();
    assert_eq!(e7.actor, "scim:idp1");
    assert_eq!(e7.targets, vec!["user-7"]);
    assert_eq!(e7.request_id.as_deref(), Some("req-7"));
    assert_eq!(e7.correlation_ids, vec!["corr-7"]);
    assert_eq!(e7.outcome, "success");
    assert_eq!(e7.detail["i"], 7);
    assert_eq!(e7.prev_hash, appended[5].hash);
    let evs = s.events_for_entry(7).await.unwrap();
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].id, appended[6].event_ids[0]);
    assert_eq!(evs[0].payload, json!({"i": 7}));
    let tail = s.tail(3).await.unwrap();
    assert_eq!(
        tail.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![18, 19, 20]
    );
}

async fn expect_tamper(s: &Store, seq: i64, kind: TamperKind) {
    let report = s.verify().await.unwrap();
    let p = report.first_problem.expect("verify must detect the edit");
    assert_eq!((p.seq, p.kind), (seq, kind), "{p}");
}

async fn tamper_change_field(db: &TestDb) {
    fill(&db.store, 10).await;
    db.exec("UPDATE audit_log SET actor = 'mallory' WHERE seq = 5")
        .await;
    expect_tamper(&db.store, 5, TamperKind::Altered).await;
}

async fn tamper_delete_row(db: &TestDb) {
    fill(&db.store, 10).await;
    db.exec("DELETE FROM audit_log WHERE seq = 5").await;
    expect_tamper(&db.store, 5, TamperKind::Removed).await;
}

async fn tamper_delete_last_row(db: &TestDb) {
    fill(&db.store, 10).await;
    db.exec("DELETE FROM audit_log WHERE seq = 10").await;
    expect_tamper(&db.store, 10, TamperKind::Removed).await;
}

fn sql_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

async fn tamper_insert_row(db: &TestDb) {
    fill(&db.store, 10).await;
    let e4 = db.store.entry(4).await.unwrap().unwrap();
    // A careful forger: shift later entries up and insert a self-consistent entry at 5.
    db.exec("UPDATE audit_log SET seq = -seq - 1 WHERE seq >= 5")
        .await;
    db.exec("UPDATE audit_log SET seq = -seq WHERE seq < 0")
        .await;
    let mut forged = AuditEntry {
        seq: 5,
        ts_us: e4.ts_us,
        actor: "mallory".into(),
        action: "user.delete".into(),
        targets: vec![],
        request_id: None,
        correlation_ids: vec![],
        outcome: "success".into(),
        detail: json!({}),
        prev_hash: e4.hash.clone(),
        hash: String::new(),
    };
    forged.hash = entry_hash(&forged.prev_hash, &canonical_entry_bytes(&forged)).unwrap();
    db.exec(&format!(
        "INSERT INTO audit_log (seq, ts_us, actor, action, targets, request_id, correlation_ids, outcome, detail, prev_hash, hash) \
         VALUES (5, {}, 'mallory', 'user.delete', '[]', NULL, '[]', 'success', '{{}}', {}, {})",
        forged.ts_us,
        sql_str(&forged.prev_hash),
        sql_str(&forged.hash)
    ))
    .await;
    db.exec("UPDATE audit_head SET seq = 11").await;
    expect_tamper(&db.store, 5, TamperKind::Inserted).await;
}

async fn tamper_swap_rows(db: &TestDb) {
    fill(&db.store, 10).await;
    db.exec("UPDATE audit_log SET seq = -1 WHERE seq = 5").await;
    db.exec("UPDATE audit_log SET seq = 5 WHERE seq = 6").await;
    db.exec("UPDATE audit_log SET seq = 6 WHERE seq = -1").await;
    expect_tamper(&db.store, 5, TamperKind::Reordered).await;
}

async fn checkpoints(db: &TestDb) {
    let s = &db.store;
    fill(s, 10).await;
    let key = b"auditor-key-0123456789";
    let cp = s.checkpoint(key).await.unwrap();
    assert_eq!(cp.seq, 10);
    let exported = serde_json::to_string(&cp).unwrap();
    let cp: gcprov_store::Checkpoint = serde_json::from_str(&exported).unwrap();
    fill(s, 5).await;
    assert!(s.verify_checkpoint(&cp, key).await.unwrap().is_ok());

    let bad = s.verify_checkpoint(&cp, b"another key").await.unwrap();
    assert_eq!(
        bad.first_problem.unwrap().kind,
        TamperKind::BadCheckpointSignature
    );
    let mut edited = cp.clone();
    edited.seq = 9;
    let bad = s.verify_checkpoint(&edited, key).await.unwrap();
    assert_eq!(
        bad.first_problem.unwrap().kind,
        TamperKind::BadCheckpointSignature
    );

    // Rewrite history consistently: alter entry 3 and recompute every later hash and the head.
    let mut entries = s.entries(&AuditQuery::default()).await.unwrap();
    entries[2].action = "user.nothing-to-see".into();
    let mut prev = entries[1].hash.clone();
    for e in entries.iter_mut().skip(2) {
        e.prev_hash = prev.clone();
        e.hash = entry_hash(&e.prev_hash, &canonical_entry_bytes(e)).unwrap();
        db.exec(&format!(
            "UPDATE audit_log SET action = {}, prev_hash = {}, hash = {} WHERE seq = {}",
            sql_str(&e.action),
            sql_str(&e.prev_hash),
            sql_str(&e.hash),
            e.seq
        ))
        .await;
        prev = e.hash.clone();
    }
    db.exec(&format!("UPDATE audit_head SET hash = {}", sql_str(&prev)))
        .await;
    assert!(
        s.verify().await.unwrap().is_ok(),
        "a full rewrite passes the bare chain check"
    );
    let report = s.verify_checkpoint(&cp, key).await.unwrap();
    let p = report.first_problem.unwrap();
    assert_eq!((p.seq, p.kind), (10, TamperKind::CheckpointMismatch));
}

async fn concurrent_appends_keep_one_chain(db: &TestDb) {
    // Three stores = three pools and writers, like three replicas; 8 tasks over them.
    let stores = [db.store.clone(), db.another().await, db.another().await];
    let mut tasks = Vec::new();
    for t in 0..8i64 {
        let s = stores[(t % 3) as usize].clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..25 {
                let a = s
                    .append(
                        entry(t * 100 + i),
                        vec![NewEvent::new("audit.entry", json!({"t": t, "i": i}))],
                    )
                    .await
                    .unwrap();
                seqs.push(a.seq);
            }
            seqs
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    assert_eq!(
        all,
        (1..=200).collect::<Vec<_>>(),
        "every append got its own seq"
    );
    let report = db.store.verify().await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.entries, 200);
    assert_eq!(db.count("SELECT COUNT(*) FROM outbox").await, 200);
    for s in &stores[1..] {
        s.close().await;
    }
}

async fn outbox_in_same_transaction(db: &TestDb) {
    let s = &db.store;
    fill(s, 3).await;
    let head = s.head().await.unwrap();
    // Make the outbox insert fail: the audit entry must not be written either.
    db.exec("ALTER TABLE outbox RENAME TO outbox_hidden").await;
    let err = s
        .append(entry(4), vec![NewEvent::new("audit.entry", json!({}))])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Database(_)), "{err}");
    db.exec("ALTER TABLE outbox_hidden RENAME TO outbox").await;
    assert_eq!(s.head().await.unwrap(), head);
    assert_eq!(db.count("SELECT COUNT(*) FROM audit_log").await, 3);
    assert_eq!(db.count("SELECT COUNT(*) FROM outbox").await, 3);
    // And the chain continues cleanly.
    let a = s
        .append(entry(4), vec![NewEvent::new("audit.entry", json!({}))])
        .await
        .unwrap();
    assert_eq!(a.seq, 4);
    assert!(s.verify().await.unwrap().is_ok());
    assert_eq!(s.events_for_entry(4).await.unwrap().len(), 1);
    // Every entry has its event and every event its entry.
    assert_eq!(
        db.count("SELECT COUNT(*) FROM audit_log WHERE seq NOT IN (SELECT audit_seq FROM outbox)")
            .await,
        0
    );
}

async fn secrets_refused_and_personal_data_redacted(db: &TestDb) {
    let s = &db.store;
    for detail in [
        json!({"client_secret": "s3cr3t"}),
        json!({"request": {"headers": {"Authorization": "Bearer abc"}}}),
        json!({"users": [{"password": "hunter2"}]}),
        json!({"accessToken": "x"}),
    ] {
        let err = s
            .append(
                NewEntry::new("a", "b", Outcome::Failure).detail(detail.clone()),
                vec![],
            )
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, StoreError::SecretInDetail { .. }), "{msg}");
        assert!(
            !msg.contains("s3cr3t") && !msg.contains("hunter2") && !msg.contains("Bearer"),
            "{msg}"
        );
    }
    let err = s
        .append(
            NewEntry::new("a", "b", Outcome::Success),
            vec![NewEvent::new("x", json!({"token": "t"}))],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::SecretInDetail { .. }));
    assert_eq!(s.head().await.unwrap().0, 0, "nothing was written");

    let detail = json!({"userName": "alice@example.com", "emails": ["alice@example.com"], "diff": {"department": "sales"}});
    let a = s
        .append(
            NewEntry::new("a", "user.create", Outcome::Success).detail(detail.clone()),
            vec![],
        )
        .await
        .unwrap();
    let e = s.entry(a.seq).await.unwrap().unwrap();
    assert_eq!(e.detail["userName"], "[redacted]");
    assert_eq!(e.detail["emails"], "[redacted]");
    assert_eq!(e.detail["diff"]["department"], "sales");

    // A deployment that chose to keep userName.
    let keeping = db
        .opts
        .clone()
        .redactor(Arc::new(FieldRedactor::keeping(["userName"])));
    let s2 = Store::open(keeping).await.unwrap();
    let a = s2
        .append(
            NewEntry::new("a", "user.create", Outcome::Success).detail(detail),
            vec![],
        )
        .await
        .unwrap();
    let e = s2.entry(a.seq).await.unwrap().unwrap();
    assert_eq!(e.detail["userName"], "alice@example.com");
    assert_eq!(e.detail["emails"], "[redacted]");
    s2.close().await;
    assert!(s.verify().await.unwrap().is_ok());
}

async fn schema_newer_than_binary_is_refused(db: &TestDb) {
    assert_eq!(
        db.store.schema_version().await.unwrap(),
        gcprov_store::SCHEMA_VERSION
    );
    // Reopening an up-to-date database is fine and idempotent.
    db.another().await.close().await;
    db.exec("INSERT INTO gcprov_schema (version, applied_us) VALUES (99, 0)")
        .await;
    let err = Store::open(db.opts.clone()).await.unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 99, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("newer"), "{err}");
}

async fn query_filters_and_export(db: &TestDb) {
    let s = &db.store;
    for i in 1..=9i64 {
        let e = NewEntry::new(
            if i % 2 == 0 {
                "reconciler"
            } else {
                "scim:entra"
            },
            if i % 3 == 0 {
                "group.patch"
            } else {
                "user.update"
            },
            Outcome::Success,
        )
        .target(format!("u{}", i % 4))
        .target("shared");
        s.append(e, vec![]).await.unwrap();
    }
    let q = |f: fn(&mut AuditQuery)| {
        let mut q = AuditQuery::default();
        f(&mut q);
        q
    };
    let seqs = |v: Vec<AuditEntry>| v.into_iter().map(|e| e.seq).collect::<Vec<_>>();
    assert_eq!(
        seqs(
            s.entries(&q(|q| q.actor = Some("reconciler".into())))
                .await
                .unwrap()
        ),
        vec![2, 4, 6, 8]
    );
    assert_eq!(
        seqs(
            s.entries(&q(|q| q.action = Some("group.patch".into())))
                .await
                .unwrap()
        ),
        vec![3, 6, 9]
    );
    assert_eq!(
        seqs(
            s.entries(&q(|q| q.target = Some("u1".into())))
                .await
                .unwrap()
        ),
        vec![1, 5, 9]
    );
    assert_eq!(
        s.entries(&q(|q| q.target = Some("shared".into())))
            .await
            .unwrap()
            .len(),
        9
    );
    assert_eq!(
        seqs(
            s.entries(&q(|q| {
                q.actor = Some("scim:entra".into());
                q.action = Some("group.patch".into())
            }))
            .await
            .unwrap()
        ),
        vec![3, 9]
    );
    assert_eq!(
        seqs(
            s.entries(&q(|q| {
                q.after_seq = 5;
                q.limit = 2
            }))
            .await
            .unwrap()
        ),
        vec![6, 7]
    );
    let all = s.entries(&AuditQuery::default()).await.unwrap();
    let t5 = all[4].ts_us;
    assert!(
        s.entries(&q(|q| q.since_us = Some(i64::MAX - 1)))
            .await
            .unwrap()
            .is_empty()
    );
    let mut upto = AuditQuery {
        until_us: Some(t5 + 1),
        ..AuditQuery::default()
    };
    assert!(
        s.entries(&upto)
            .await
            .unwrap()
            .iter()
            .all(|e| e.ts_us <= t5)
    );
    upto.until_us = Some(i64::MIN + 1);
    assert!(s.entries(&upto).await.unwrap().is_empty());

    use gcprov_store::export::{Exporter, Format};
    let mut buf = Vec::new();
    let mut ex = Exporter::new(Format::Csv, &mut buf).unwrap();
    for e in &all {
        ex.write(e).unwrap();
    }
    ex.finish().unwrap();
    let text = String::from_utf8(buf).unwrap();
    assert_eq!(text.lines().count(), 10);
    assert!(text.starts_with("seq,time,actor,action,targets"));
    let mut buf = Vec::new();
    let mut ex = Exporter::new(Format::Jsonl, &mut buf).unwrap();
    for e in &all {
        ex.write(e).unwrap();
    }
    ex.finish().unwrap();
    let text = String::from_utf8(buf).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["seq"], 1);
    assert!(first["time"].as_str().unwrap().contains('T'));
    let _ = StoreOptions::new("sqlite::memory:");
}

#[test]
fn canonical_encoding_is_sorted_compact_and_stable() {
    let v = json!({"b": 1, "a": {"z": [3, {"y": null, "x": "é\"\n"}], "c": 1.5}, "A": true});
    assert_eq!(
        gcprov_store::canonical_json(&v),
        r#"{"A":true,"a":{"c":1.5,"z":[3,{"x":"é\"\n","y":null}]},"b":1}"#
    );
    let e = AuditEntry {
        seq: 1,
        ts_us: 2,
        actor: "a".into(),
        action: "b".into(),
        targets: vec!["t".into()],
        request_id: None,
        correlation_ids: vec![],
        outcome: "success".into(),
        detail: json!({"k": "v"}),
        prev_hash: gcprov_store::GENESIS_HASH.into(),
        hash: String::new(),
    };
    assert_eq!(
        String::from_utf8(canonical_entry_bytes(&e)).unwrap(),
        r#"{"action":"b","actor":"a","correlation_ids":[],"detail":{"k":"v"},"outcome":"success","request_id":null,"seq":1,"targets":["t"],"ts_us":2}"#
    );
    let h = entry_hash(gcprov_store::GENESIS_HASH, &canonical_entry_bytes(&e)).unwrap();
    assert_eq!(h.len(), 64);
    assert!(entry_hash("not-hex", b"x").is_err());
}

#[tokio::test]
async fn sqlite_data_dir_with_url_special_characters() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("odd %20 dir?x#y");
    let store = Store::open(StoreOptions::sqlite_in_dir(&dir))
        .await
        .unwrap();
    store.append(entry(1), vec![]).await.unwrap();
    store.close().await;
    assert!(
        dir.join("gcprov.db").exists(),
        "the database is where the user asked"
    );
}

#[tokio::test]
async fn in_memory_sqlite_is_refused_with_a_clear_error() {
    for url in ["sqlite::memory:", "sqlite://gcprov.db?mode=memory"] {
        let err = Store::open_url(url).await.expect_err(url);
        assert!(matches!(err, StoreError::InvalidUrl(_)), "{url}: {err}");
        assert!(err.to_string().contains("use a file"), "{url}: {err}");
    }
}
