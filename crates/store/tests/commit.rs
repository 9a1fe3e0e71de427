//! `Store::commit` / `commit_all`: read-model changes and the audit entry describing them in one
//! transaction, through the single writer; and the joined user reads.

use gcprov_store::{
    Change, Commit, EmailRecord, IdempotencyRecord, NewEntry, NewEvent, Outcome, StoreError,
    UserLookup, UserRecord,
};
use serde_json::json;

use crate::both_backends;
use crate::support::{Raw, TestDb};

both_backends!(
    commit_stores_changes_and_entry_together,
    commit_refused_entry_stores_nothing,
    commit_audit_failure_stores_no_change,
    commit_change_failure_stores_no_entry,
    commit_all_failing_unit_does_not_take_others_down,
    concurrent_commits_share_one_chain,
    joined_reads_fold_emails,
    values_round_trip_exactly,
);

fn user(id: &str, emails: &[&str]) -> UserRecord {
    UserRecord {
        id: id.into(),
        user_name: format!("{id}@example.com"),
        external_id: Some(format!("ext-{id}")),
        display_name: Some(format!("User {id}")),
        active: true,
        version: 1,
        emails: emails
            .iter()
            .enumerate()
            .map(|(i, e)| EmailRecord {
                value: e.to_string(),
                kind: Some("work".into()),
                primary: i == 0,
            })
            .collect(),
        resource: json!({"id": id, "userName": format!("{id}@example.com")}),
        updated_us: 1,
    }
}

fn entry(id: &str) -> NewEntry {
    NewEntry::new("scim:test", "scim.user.patch", Outcome::Success)
        .target(id)
        .request_id(format!("req-{id}"))
}

fn unit(id: &str) -> Commit {
    Commit::new()
        .change(Change::UpsertUser(user(id, &[])))
        .audit(
            entry(id),
            vec![NewEvent::new("scim.user.updated", json!({"id": id}))],
        )
}

async fn audit_count(db: &TestDb) -> i64 {
    db.count("SELECT COUNT(*) FROM audit_log").await
}

/// Makes any insert or upsert of the read-model user `bad` fail inside the database.
async fn refuse_user_bad(db: &TestDb) {
    match &db.raw {
        Raw::Sqlite(_) => {
            db.exec(
                "CREATE TRIGGER refuse_bad BEFORE INSERT ON rm_user WHEN NEW.id = 'bad' \
                 BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END;",
            )
            .await
        }
        Raw::Postgres(_) => {
            db.exec(
                "CREATE FUNCTION refuse_bad() RETURNS trigger AS $$ BEGIN \
                   IF NEW.id = 'bad' THEN RAISE EXCEPTION 'refused by test trigger'; END IF; \
                   RETURN NEW; END $$ LANGUAGE plpgsql; \
                 CREATE TRIGGER refuse_bad BEFORE INSERT ON rm_user FOR EACH ROW EXECUTE FUNCTION refuse_bad();",
            )
            .await
        }
    }
}

async fn commit_stores_changes_and_entry_together(db: &TestDb) {
    let s = &db.store;
    let done = s
        .commit(
            Commit::new()
                .change(Change::UpsertUser(user("u1", &["u1@example.com"])))
                .change(Change::UpsertUser(user("u2", &[])))
                .change(Change::DeleteUser("u2".into()))
                .change(Change::DeleteUser("nobody".into()))
                .change(Change::LinkIdentity {
                    idp: "entra".into(),
                    kind: "user".into(),
                    idp_id: "oid-1".into(),
                    genesys_id: "u1".into(),
                })
                .change(Change::PutIdempotency(IdempotencyRecord {
                    key: "k1".into(),
                    request_hash: "h".into(),
                    status: 200,
                    response: "{}".into(),
                    created_us: 1,
                    expires_us: i64::MAX,
                }))
                .audit(
                    entry("u1"),
                    vec![NewEvent::new("scim.user.updated", json!({"id": "u1"}))],
                ),
        )
        .await
        .unwrap();
    // Changes apply in order: u2 was inserted, then deleted; deleting nobody affects nothing.
    assert_eq!(done.affected, vec![1, 1, 1, 0, 1, 1]);
    let appended = done.appended.expect("an audit entry was appended");
    assert_eq!(appended.seq, 1);
    assert_eq!(appended.event_ids.len(), 1);
    let u1 = s.get_user("u1").await.unwrap().unwrap();
    assert_eq!(u1.emails.len(), 1);
    assert!(s.get_user("u2").await.unwrap().is_none());
    assert_eq!(
        s.identity_by_idp("entra", "user", "oid-1")
            .await
            .unwrap()
            .unwrap()
            .genesys_id,
        "u1"
    );
    assert!(s.idempotency_get("k1", 0).await.unwrap().is_some());
    let e = s.entry(1).await.unwrap().unwrap();
    assert_eq!(e.targets, vec!["u1"]);
    assert_eq!(s.events_for_entry(1).await.unwrap().len(), 1);
    // A commit without an entry appends nothing; an entry without changes is a plain append.
    let only_change = s
        .commit(Commit::new().change(Change::DeleteUser("u1".into())))
        .await
        .unwrap();
    assert_eq!(only_change.appended, None);
    assert_eq!(only_change.affected, vec![1]);
    let only_entry = s
        .commit(Commit::new().audit(entry("u1"), Vec::new()))
        .await
        .unwrap();
    assert_eq!(only_entry.appended.map(|a| a.seq), Some(2));
    assert!(s.verify().await.unwrap().is_ok());
}

async fn commit_refused_entry_stores_nothing(db: &TestDb) {
    let s = &db.store;
    let err = s
        .commit(
            Commit::new()
                .change(Change::UpsertUser(user("u1", &[])))
                .audit(
                    entry("u1").detail(json!({"password": "hunter2"})),
                    Vec::new(),
                ),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::SecretInDetail { .. }), "{err}");
    assert!(!err.to_string().contains("hunter2"));
    assert!(s.get_user("u1").await.unwrap().is_none());
    assert_eq!(audit_count(db).await, 0);
}

async fn commit_audit_failure_stores_no_change(db: &TestDb) {
    let s = &db.store;
    s.commit(unit("u0")).await.unwrap();
    // Make the outbox insert fail: neither the entry nor the user change may be stored.
    db.exec("ALTER TABLE outbox RENAME TO outbox_hidden").await;
    let err = s.commit(unit("u1")).await.unwrap_err();
    assert!(matches!(err, StoreError::Database(_)), "{err}");
    db.exec("ALTER TABLE outbox_hidden RENAME TO outbox").await;
    assert!(s.get_user("u1").await.unwrap().is_none());
    assert_eq!(audit_count(db).await, 1);
    assert_eq!(s.head().await.unwrap().0, 1);
    // The same unit commits once the fault is gone, and the chain continues.
    let done = s.commit(unit("u1")).await.unwrap();
    assert_eq!(done.appended.map(|a| a.seq), Some(2));
    assert!(s.get_user("u1").await.unwrap().is_some());
    assert!(s.verify().await.unwrap().is_ok());
}

async fn commit_change_failure_stores_no_entry(db: &TestDb) {
    let s = &db.store;
    refuse_user_bad(db).await;
    let err = s.commit(unit("bad")).await.unwrap_err();
    assert!(matches!(err, StoreError::Database(_)), "{err}");
    assert_eq!(audit_count(db).await, 0);
    assert_eq!(db.count("SELECT COUNT(*) FROM outbox").await, 0);
    assert_eq!(s.head().await.unwrap().0, 0);
    // The other changes of the failed unit were rolled back too.
    let err = s
        .commit(
            Commit::new()
                .change(Change::UpsertUser(user("fine", &[])))
                .change(Change::UpsertUser(user("bad", &[]))),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Database(_)), "{err}");
    assert!(s.get_user("fine").await.unwrap().is_none());
}

async fn commit_all_failing_unit_does_not_take_others_down(db: &TestDb) {
    let s = &db.store;
    refuse_user_bad(db).await;
    // One message to the writer, so the three units share one batch: the batch transaction
    // fails, the writer retries each unit alone, and only the failing one reports the error.
    let results = s
        .commit_all(vec![
            unit("good1"),
            unit("bad"),
            Commit::new().audit(entry("x").detail(json!({"token": "t"})), Vec::new()),
            unit("good2"),
        ])
        .await;
    assert_eq!(results.len(), 4);
    assert_eq!(
        results[0]
            .as_ref()
            .unwrap()
            .appended
            .as_ref()
            .map(|a| a.seq),
        Some(1)
    );
    assert!(matches!(results[1], Err(StoreError::Database(_))));
    assert!(matches!(results[2], Err(StoreError::SecretInDetail { .. })));
    assert_eq!(
        results[3]
            .as_ref()
            .unwrap()
            .appended
            .as_ref()
            .map(|a| a.seq),
        Some(2)
    );
    assert!(s.get_user("good1").await.unwrap().is_some());
    assert!(s.get_user("good2").await.unwrap().is_some());
    assert!(s.get_user("bad").await.unwrap().is_none());
    assert_eq!(audit_count(db).await, 2);
    assert!(s.verify().await.unwrap().is_ok());
    // Without a failing unit the batch commits as one transaction, in order.
    let results = s
        .commit_all((0..50).map(|i| unit(&format!("b{i}"))).collect())
        .await;
    let seqs: Vec<i64> = results
        .into_iter()
        .map(|r| r.unwrap().appended.unwrap().seq)
        .collect();
    assert_eq!(seqs, (3..53).collect::<Vec<i64>>());
    assert_eq!(s.list_users("", 1000).await.unwrap().len(), 52);
}

async fn concurrent_commits_share_one_chain(db: &TestDb) {
    let s = &db.store;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.commit(unit(&format!("c{i}"))).await.map(|c| c.appended)
        }));
    }
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap().unwrap().unwrap().seq);
    }
    seqs.sort();
    assert_eq!(seqs, (1..=40).collect::<Vec<i64>>());
    assert_eq!(s.list_users("", 1000).await.unwrap().len(), 40);
    // Every entry describes a stored user and every user has its entry.
    for e in s
        .entries(&gcprov_store::AuditQuery::default())
        .await
        .unwrap()
    {
        assert!(s.get_user(&e.targets[0]).await.unwrap().is_some());
    }
    assert!(s.verify().await.unwrap().is_ok());
}

async fn joined_reads_fold_emails(db: &TestDb) {
    let s = &db.store;
    s.commit_all(vec![
        Commit::new().change(Change::UpsertUser(user("a", &["a1@x.com", "a2@x.com"]))),
        Commit::new().change(Change::UpsertUser(user("b", &[]))),
        Commit::new().change(Change::UpsertUser(user(
            "c",
            &["c1@x.com", "c2@x.com", "C3@x.com"],
        ))),
    ])
    .await
    .into_iter()
    .for_each(|r| {
        r.unwrap();
    });
    let page = s.list_users("", 2).await.unwrap();
    let shape: Vec<(String, usize)> = page
        .iter()
        .map(|u| (u.id.clone(), u.emails.len()))
        .collect();
    assert_eq!(shape, vec![("a".to_string(), 2), ("b".to_string(), 0)]);
    let rest = s.list_users("b", 2).await.unwrap();
    assert_eq!(rest.len(), 1);
    let c = &rest[0];
    assert_eq!(c.emails.len(), 3);
    assert!(c.emails[0].primary, "the primary email comes first");
    assert_eq!(c, &s.get_user("c").await.unwrap().unwrap());
    assert_eq!(
        c.emails,
        user("c", &["c1@x.com", "c2@x.com", "C3@x.com"]).emails
    );
    let by_email = s
        .find_users(&UserLookup::Email("c3@X.com".into()))
        .await
        .unwrap();
    assert_eq!(by_email.len(), 1);
    assert_eq!(
        by_email[0].emails.len(),
        3,
        "all emails, not just the matching one"
    );
    let b = s
        .find_users(&UserLookup::UserName("B@example.com".into()))
        .await
        .unwrap();
    assert_eq!(b.len(), 1);
    assert!(b[0].emails.is_empty());
}

/// Values that would break SQL built from text (quotes, comment markers, NUL, non-ASCII,
/// integer extremes) are stored and read back exactly, through both backends' write paths.
async fn values_round_trip_exactly(db: &TestDb) {
    let s = &db.store;
    // PostgreSQL text cannot hold NUL at all (a limit of the server, not of the store).
    let nasty = match db.raw {
        Raw::Sqlite(_) => "o'brien\"; DROP TABLE rm_user; -- \u{0} ünïcødé 🙂",
        Raw::Postgres(_) => "o'brien\"; DROP TABLE rm_user; -- ünïcødé 🙂",
    };
    let mut u = user("o'brien", &[nasty, "x'y@example.com"]);
    u.user_name = nasty.to_string();
    u.display_name = Some(format!("{nasty} display"));
    u.external_id = None;
    u.version = i64::MAX;
    u.updated_us = i64::MIN;
    u.resource = json!({"id": "o'brien", "title": nasty});
    let rec = IdempotencyRecord {
        key: nasty.into(),
        request_hash: "h'".into(),
        status: -1,
        response: nasty.into(),
        created_us: i64::MIN,
        expires_us: i64::MAX,
    };
    let done = s
        .commit(
            Commit::new()
                .change(Change::UpsertUser(u.clone()))
                .change(Change::PutIdempotency(rec.clone()))
                .change(Change::PutCheckpoint {
                    name: nasty.into(),
                    state: json!({"cursor": nasty}),
                })
                .audit(
                    NewEntry::new(nasty, "scim.user.patch", Outcome::Success)
                        .target(nasty)
                        .detail(json!({"note": nasty})),
                    vec![NewEvent::new(nasty, json!({"id": nasty}))],
                ),
        )
        .await
        .unwrap();
    assert_eq!(done.affected, vec![1, 1, 1]);
    assert_eq!(s.get_user("o'brien").await.unwrap().unwrap(), u);
    assert_eq!(
        s.find_users(&UserLookup::UserName(nasty.to_uppercase()))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(s.idempotency_get(nasty, 0).await.unwrap(), Some(rec));
    assert_eq!(
        s.reconcile_checkpoint(nasty).await.unwrap(),
        Some(json!({"cursor": nasty}))
    );
    let e = s.entry(1).await.unwrap().unwrap();
    assert_eq!(
        (e.actor.as_str(), e.targets.clone()),
        (nasty, vec![nasty.to_string()])
    );
    assert_eq!(e.detail, json!({"note": nasty}));
    let ev = s.events_for_entry(1).await.unwrap();
    assert_eq!(
        (ev[0].kind.as_str(), ev[0].payload.clone()),
        (nasty, json!({"id": nasty}))
    );
    assert!(s.verify().await.unwrap().is_ok());
    assert_eq!(db.count("SELECT COUNT(*) FROM rm_user").await, 1);
}
