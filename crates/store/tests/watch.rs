//! Read-model change notifications (`Store::watch_model`) and the group listings subscribers
//! reload from.

use gcprov_store::{Change, Commit, GroupRecord, ModelChange, ModelWatch, NewEntry, Outcome};
use serde_json::json;
use sqlx::{AssertSqlSafe, Row};

use crate::both_backends;
use crate::support::{Raw, TestDb};

both_backends!(group_listings_hold_members);

fn group(id: &str, members: &[&str]) -> GroupRecord {
    GroupRecord {
        id: id.into(),
        display_name: format!("Group {id}"),
        external_id: None,
        version: 1,
        members: members.iter().map(|m| m.to_string()).collect(),
        resource: json!({"id": id}),
        updated_us: 1,
    }
}

async fn group_listings_hold_members(db: &TestDb) {
    let s = &db.store;
    for (id, m) in [
        ("g1", &["u2", "u1"][..]),
        ("g2", &[][..]),
        ("g3", &["u1"][..]),
    ] {
        s.upsert_group(&group(id, m)).await.unwrap();
    }
    let idx = s.group_index().await.unwrap();
    let got: Vec<(&str, &str, Vec<&str>)> = idx
        .iter()
        .map(|g| {
            (
                g.id.as_str(),
                g.display_name.as_str(),
                g.members.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("g1", "Group g1", vec!["u1", "u2"]),
            ("g2", "Group g2", vec![]),
            ("g3", "Group g3", vec!["u1"]),
        ]
    );
    // Pages in id order, each group with its own members only.
    let p1 = s.list_groups("", 2).await.unwrap();
    assert_eq!(
        p1.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(),
        ["g1", "g2"]
    );
    assert_eq!(p1[0].members, ["u1", "u2"]);
    assert!(p1[1].members.is_empty());
    let p2 = s.list_groups("g2", 2).await.unwrap();
    assert_eq!(p2.len(), 1);
    assert_eq!(p2[0].id, "g3");
    assert_eq!(p2[0].members, ["u1"]);
    assert!(s.list_groups("g3", 2).await.unwrap().is_empty());
    // A deleted user leaves every group.
    s.delete_user("u1").await.unwrap();
    let idx = s.group_index().await.unwrap();
    assert_eq!(idx[0].members, ["u2"]);
    assert!(idx[2].members.is_empty());
}

#[tokio::test]
async fn sqlite_has_no_cross_process_watch() {
    let db = TestDb::sqlite().await;
    assert!(db.store.watch_model().await.unwrap().is_none());
    db.cleanup().await;
}

async fn watch(db: &TestDb) -> ModelWatch {
    db.store
        .watch_model()
        .await
        .unwrap()
        .expect("PostgreSQL store has a watch")
}

/// The next change. The timeout only turns a missing notification into a failure instead of a
/// hang; it is never what a test asserts on.
async fn next(w: &mut ModelWatch) -> Option<ModelChange> {
    tokio::time::timeout(std::time::Duration::from_secs(30), w.next())
        .await
        .expect("no notification within 30 s")
}

fn pg(db: &TestDb) -> &sqlx::PgPool {
    match &db.raw {
        Raw::Postgres(p) => p,
        Raw::Sqlite(_) => panic!("PostgreSQL test"),
    }
}

/// Sends a notification as another process would (used as a marker: PostgreSQL delivers
/// notifications in commit order).
async fn marker(db: &TestDb, id: &str) {
    let schema = db.schema.as_deref().unwrap();
    sqlx::query("SELECT pg_notify('gcprov_rm', $1)")
        .bind(format!("{schema} g {id}"))
        .execute(pg(db))
        .await
        .unwrap();
}

/// Each kind of change that touches groups or memberships notifies; user upserts and other
/// records do not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_changes_notify_their_kind_and_id() {
    let db = TestDb::postgres().await;
    let mut w = watch(&db).await;
    let s = &db.store;
    s.upsert_group(&group("g1", &["u1"])).await.unwrap();
    assert_eq!(next(&mut w).await, Some(ModelChange::Group("g1".into())));
    s.put_reconcile_checkpoint("run", &json!({"a": 1}))
        .await
        .unwrap();
    s.delete_user("u1").await.unwrap();
    assert_eq!(
        next(&mut w).await,
        Some(ModelChange::UserDeleted("u1".into()))
    );
    s.delete_group("g1").await.unwrap();
    assert_eq!(next(&mut w).await, Some(ModelChange::Group("g1".into())));
    // Several changes in one commit: one notification each.
    s.commit(
        Commit::new()
            .change(Change::UpsertGroup(group("g2", &[])))
            .change(Change::UpsertGroup(group("g3", &[]))),
    )
    .await
    .unwrap();
    assert_eq!(next(&mut w).await, Some(ModelChange::Group("g2".into())));
    assert_eq!(next(&mut w).await, Some(ModelChange::Group("g3".into())));
    // An id too long for a notification payload still commits, and asks for a full reload.
    let long = "x".repeat(9000);
    s.upsert_group(&group(&long, &[])).await.unwrap();
    assert_eq!(next(&mut w).await, Some(ModelChange::Resync));
    assert!(s.get_group(&long).await.unwrap().is_some());
    drop(w);
    db.cleanup().await;
}

/// The writer's session, found by what it is blocked on.
async fn writer_blocked(db: &TestDb) -> bool {
    let n: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
         AND query LIKE 'INSERT INTO audit_log%' AND datname = current_database()",
    )
    .fetch_one(pg(db))
    .await
    .unwrap()
    .get("n");
    n > 0
}

fn audited(g: GroupRecord) -> Commit {
    Commit::new().change(Change::UpsertGroup(g)).audit(
        NewEntry::new("test", "group.upsert", Outcome::Success),
        vec![],
    )
}

/// A notification is delivered when its transaction commits (not when the change is made),
/// and never for a transaction that rolls back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_notifies_only_on_commit() {
    let db = TestDb::postgres().await;
    let mut w = watch(&db).await;
    let raw = pg(&db);

    // 1. Hold the store's transaction open after its group change: another session holds an
    //    uncommitted audit row with the sequence number the store's append will use.
    let mut blocker = raw.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO audit_log (seq, ts_us, actor, action, targets, request_id, correlation_ids, outcome, detail, prev_hash, hash) \
         VALUES (1, 0, 'x', 'x', '[]', NULL, '[]', 'success', '{}', 'x', 'x')",
    )
    .execute(&mut *blocker)
    .await
    .unwrap();
    let store = db.store.clone();
    let pending = tokio::spawn(async move { store.commit(audited(group("g1", &["u1"]))).await });
    let mut blocked = false;
    for _ in 0..5000 {
        if writer_blocked(&db).await {
            blocked = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(blocked, "the store's append never waited on the held row");
    // The group change is made but not committed: a marker committed now arrives first.
    marker(&db, "m1").await;
    assert_eq!(next(&mut w).await, Some(ModelChange::Group("m1".into())));
    blocker.rollback().await.unwrap();
    pending.await.unwrap().unwrap();
    assert_eq!(next(&mut w).await, Some(ModelChange::Group("g1".into())));

    // 2. A rolled-back change: the same held row, committed this time, makes the store's
    //    append fail (duplicate key), so its transaction (group change included) rolls back.
    db.exec(
        "INSERT INTO audit_log (seq, ts_us, actor, action, targets, request_id, correlation_ids, outcome, detail, prev_hash, hash) \
         VALUES (2, 0, 'x', 'x', '[]', NULL, '[]', 'success', '{}', 'x', 'x')",
    )
    .await;
    assert!(db.store.commit(audited(group("g2", &[]))).await.is_err());
    assert!(db.store.get_group("g2").await.unwrap().is_none());
    db.exec("DELETE FROM audit_log WHERE seq = 2").await;
    db.store.upsert_group(&group("g3", &[])).await.unwrap();
    // The next notification is g3's: none was sent for g2.
    assert_eq!(next(&mut w).await, Some(ModelChange::Group("g3".into())));
    drop(w);
    db.cleanup().await;
}

/// Two stores in two schemas of one database: each hears only its own schema's changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_schemas_do_not_hear_each_other() {
    let a = TestDb::postgres().await;
    let b = TestDb::postgres().await;
    let mut wa = watch(&a).await;
    let mut wb = watch(&b).await;
    b.store.upsert_group(&group("in-b", &[])).await.unwrap();
    a.store.upsert_group(&group("in-a", &[])).await.unwrap();
    b.store.upsert_group(&group("in-b-2", &[])).await.unwrap();
    // `in-b` was committed first; a's first notification is still its own.
    assert_eq!(next(&mut wa).await, Some(ModelChange::Group("in-a".into())));
    assert_eq!(next(&mut wb).await, Some(ModelChange::Group("in-b".into())));
    assert_eq!(
        next(&mut wb).await,
        Some(ModelChange::Group("in-b-2".into()))
    );
    // And a's next one is a marker sent after b's second change: nothing of b's in between.
    marker(&a, "m").await;
    assert_eq!(next(&mut wa).await, Some(ModelChange::Group("m".into())));
    drop((wa, wb));
    a.cleanup().await;
    b.cleanup().await;
}

/// The listener's connection is killed: the subscriber is told to reload everything, and
/// changes committed afterwards are reported again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_lost_listener_connection_asks_for_resync() {
    let db = TestDb::postgres().await;
    let mut w = watch(&db).await;
    let schema = db.schema.clone().unwrap();
    let killed: i64 = sqlx::query(AssertSqlSafe(format!(
        "SELECT COUNT(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
         WHERE application_name = 'gcprov-watch:{schema}'"
    )))
    .fetch_one(pg(&db))
    .await
    .unwrap()
    .get("n");
    assert_eq!(killed, 1, "the listener's session");
    assert_eq!(next(&mut w).await, Some(ModelChange::Resync));
    db.store.upsert_group(&group("after", &[])).await.unwrap();
    assert_eq!(next(&mut w).await, Some(ModelChange::Group("after".into())));
    drop(w);
    db.cleanup().await;
}
