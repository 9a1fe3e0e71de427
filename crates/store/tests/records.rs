use gcprov_store::{EmailRecord, GroupRecord, IdempotencyRecord, UserLookup, UserRecord};
use serde_json::json;

use crate::both_backends;
use crate::support::{Raw, TestDb};

both_backends!(
    idempotency_identity_checkpoints,
    read_model_lookups,
    read_model_rewrites_only_what_changed,
    read_model_filters_use_indexes
);

async fn idempotency_identity_checkpoints(db: &TestDb) {
    let s = &db.store;
    let rec = IdempotencyRecord {
        key: "k1".into(),
        request_hash: "h1".into(),
        status: 201,
        response: "{\"id\":\"u1\"}".into(),
        created_us: 100,
        expires_us: 1_000,
    };
    assert_eq!(s.idempotency_put(&rec).await.unwrap(), rec);
    let other = IdempotencyRecord {
        request_hash: "h2".into(),
        status: 200,
        ..rec.clone()
    };
    assert_eq!(
        s.idempotency_put(&other).await.unwrap(),
        rec,
        "first writer wins"
    );
    assert_eq!(
        s.idempotency_get("k1", 500).await.unwrap(),
        Some(rec.clone())
    );
    assert_eq!(
        s.idempotency_get("k1", 1_000).await.unwrap(),
        None,
        "expired"
    );
    assert_eq!(s.idempotency_purge_expired(2_000).await.unwrap(), 1);

    s.link_identity("entra", "user", "oid-1", "g-1")
        .await
        .unwrap();
    s.link_identity("okta", "user", "00u1", "g-1")
        .await
        .unwrap();
    s.link_identity("entra", "user", "oid-1", "g-2")
        .await
        .unwrap();
    assert_eq!(
        s.identity_by_idp("entra", "user", "oid-1")
            .await
            .unwrap()
            .unwrap()
            .genesys_id,
        "g-2"
    );
    let linked = s.identities_by_genesys("user", "g-1").await.unwrap();
    assert_eq!(linked.len(), 1);
    assert_eq!(linked[0].idp, "okta");
    assert!(s.unlink_identity("okta", "user", "00u1").await.unwrap());
    assert!(
        s.identity_by_idp("okta", "user", "00u1")
            .await
            .unwrap()
            .is_none()
    );

    assert!(s.reconcile_checkpoint("run").await.unwrap().is_none());
    s.put_reconcile_checkpoint("run", &json!({"cursor": 3}))
        .await
        .unwrap();
    s.put_reconcile_checkpoint("run", &json!({"cursor": 4}))
        .await
        .unwrap();
    assert_eq!(
        s.reconcile_checkpoint("run").await.unwrap(),
        Some(json!({"cursor": 4}))
    );
    assert!(s.delete_reconcile_checkpoint("run").await.unwrap());
}

fn user(id: &str, name: &str, ext: &str, display: &str, emails: &[&str]) -> UserRecord {
    UserRecord {
        id: id.into(),
        user_name: name.into(),
        external_id: Some(ext.into()),
        display_name: Some(display.into()),
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
        resource: json!({"id": id}),
        updated_us: 1,
    }
}

async fn read_model_lookups(db: &TestDb) {
    let s = &db.store;
    s.upsert_user(&user(
        "u1",
        "Alice@Example.com",
        "ext-A",
        "Alice Smith",
        &["Alice@Example.com", "a.smith@example.com"],
    ))
    .await
    .unwrap();
    s.upsert_user(&user(
        "u2",
        "bob@example.com",
        "ext-b",
        "Bob",
        &["bob@example.com"],
    ))
    .await
    .unwrap();
    let ids = |v: Vec<UserRecord>| v.into_iter().map(|u| u.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s
            .find_users(&UserLookup::UserName("alice@example.COM".into()))
            .await
            .unwrap()),
        vec!["u1"]
    );
    assert_eq!(
        ids(s
            .find_users(&UserLookup::ExternalId("ext-A".into()))
            .await
            .unwrap()),
        vec!["u1"]
    );
    assert!(
        s.find_users(&UserLookup::ExternalId("EXT-A".into()))
            .await
            .unwrap()
            .is_empty(),
        "externalId is caseExact"
    );
    assert_eq!(
        ids(s
            .find_users(&UserLookup::Email("A.SMITH@example.com".into()))
            .await
            .unwrap()),
        vec!["u1"]
    );
    assert_eq!(
        ids(s
            .find_users(&UserLookup::DisplayName("bob".into()))
            .await
            .unwrap()),
        vec!["u2"]
    );
    let u1 = s.get_user("u1").await.unwrap().unwrap();
    assert_eq!(u1.emails.len(), 2);
    assert!(u1.emails[0].primary);
    // Replacing a user replaces its emails.
    let mut changed = u1.clone();
    changed.emails = vec![EmailRecord {
        value: "new@example.com".into(),
        kind: None,
        primary: true,
    }];
    changed.version = 2;
    s.upsert_user(&changed).await.unwrap();
    assert!(
        s.find_users(&UserLookup::Email("a.smith@example.com".into()))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.get_user("u1").await.unwrap().unwrap(), changed);
    assert_eq!(ids(s.list_users("", 10).await.unwrap()), vec!["u1", "u2"]);
    assert_eq!(ids(s.list_users("u1", 10).await.unwrap()), vec!["u2"]);

    let g = GroupRecord {
        id: "g1".into(),
        display_name: "Sales Agents".into(),
        external_id: Some("grp-1".into()),
        version: 3,
        members: vec!["u2".into(), "u1".into()],
        resource: json!({"id": "g1"}),
        updated_us: 5,
    };
    s.upsert_group(&g).await.unwrap();
    let got = s.find_groups_by_display_name("sales agents").await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].members, vec!["u1", "u2"]);
    assert_eq!(
        s.find_groups_by_external_id("grp-1").await.unwrap().len(),
        1
    );
    assert_eq!(s.groups_of_member("u1").await.unwrap(), vec!["g1"]);
    assert!(s.delete_user("u1").await.unwrap());
    assert!(s.get_user("u1").await.unwrap().is_none());
    assert_eq!(
        s.get_group("g1").await.unwrap().unwrap().members,
        vec!["u2"]
    );
    assert!(s.delete_group("g1").await.unwrap());
    assert!(s.get_group("g1").await.unwrap().is_none());
}

/// Successive upserts of one user, each changing a different part (SQLite's writer keeps the
/// unchanged rows and index entries as they are): every lookup answers for the latest version.
async fn read_model_rewrites_only_what_changed(db: &TestDb) {
    let s = &db.store;
    let ids = |v: Vec<UserRecord>| v.into_iter().map(|u| u.id).collect::<Vec<_>>();
    let by = |l: UserLookup| async move { ids(s.find_users(&l).await.unwrap()) };
    let mut u = user(
        "u1",
        "Ann@Example.com",
        "ext-1",
        "Ann",
        &["ann@example.com"],
    );
    s.upsert_user(&u).await.unwrap();

    // Only the resource and version change.
    u.version = 2;
    u.resource = json!({"id": "u1", "title": "Agent"});
    s.upsert_user(&u).await.unwrap();
    assert_eq!(s.get_user("u1").await.unwrap().unwrap(), u);
    assert_eq!(
        by(UserLookup::UserName("ann@example.com".into())).await,
        vec!["u1"]
    );

    // The same emails, one flag changed: the change is kept.
    u.version = 3;
    u.emails[0].primary = false;
    u.emails[0].kind = None;
    s.upsert_user(&u).await.unwrap();
    assert_eq!(s.get_user("u1").await.unwrap().unwrap(), u);

    // userName, externalId and displayName change: the old values no longer find the user.
    u.version = 4;
    u.user_name = "ann.lee@example.com".into();
    u.external_id = None;
    u.display_name = Some("Ann Lee".into());
    s.upsert_user(&u).await.unwrap();
    assert_eq!(s.get_user("u1").await.unwrap().unwrap(), u);
    assert!(
        by(UserLookup::UserName("ann@example.com".into()))
            .await
            .is_empty()
    );
    assert!(by(UserLookup::ExternalId("ext-1".into())).await.is_empty());
    assert!(by(UserLookup::DisplayName("ann".into())).await.is_empty());
    assert_eq!(
        by(UserLookup::UserName("ANN.LEE@example.com".into())).await,
        vec!["u1"]
    );
    assert_eq!(
        by(UserLookup::DisplayName("ann lee".into())).await,
        vec!["u1"]
    );

    // Emails that differ only in case are one email (the first is kept); a changed list
    // replaces the old one.
    u.version = 5;
    u.emails = vec![
        EmailRecord {
            value: "Ann.Lee@example.com".into(),
            kind: Some("work".into()),
            primary: true,
        },
        EmailRecord {
            value: "ann.lee@EXAMPLE.com".into(),
            kind: None,
            primary: false,
        },
    ];
    s.upsert_user(&u).await.unwrap();
    let got = s.get_user("u1").await.unwrap().unwrap();
    assert_eq!(got.emails, u.emails[..1].to_vec());
    assert!(
        by(UserLookup::Email("ann@example.com".into()))
            .await
            .is_empty()
    );
    assert_eq!(
        by(UserLookup::Email("ann.lee@example.com".into())).await,
        vec!["u1"]
    );
    // Upserting that same user again changes nothing.
    s.upsert_user(&u).await.unwrap();
    assert_eq!(
        s.get_user("u1").await.unwrap().unwrap().emails,
        u.emails[..1].to_vec()
    );
}

/// The SCIM filter attributes are index lookups on both backends (checked with the planner),
/// also in the joined form the store sends (user rows with their emails).
async fn read_model_filters_use_indexes(db: &TestDb) {
    use sqlx::Row;
    let queries = [
        (
            "SELECT u.id, e.value FROM rm_user u LEFT JOIN rm_user_email e ON e.user_id = u.id WHERE u.user_name_lc = 'x' ORDER BY u.id",
            "rm_user_user_name_lc",
        ),
        (
            "SELECT u.id, e.value FROM rm_user u LEFT JOIN rm_user_email e ON e.user_id = u.id WHERE u.external_id = 'x' ORDER BY u.id",
            "rm_user_external_id",
        ),
        (
            "SELECT u.id, e.value FROM rm_user u LEFT JOIN rm_user_email e ON e.user_id = u.id WHERE u.display_name_lc = 'x' ORDER BY u.id",
            "rm_user_display_name_lc",
        ),
        (
            "SELECT * FROM rm_user_email WHERE value_lc = 'x'",
            "rm_user_email_value_lc",
        ),
        (
            "SELECT * FROM rm_group WHERE display_name_lc = 'x'",
            "rm_group_display_name_lc",
        ),
    ];
    for (sql, index) in queries {
        let plan: String = match &db.raw {
            Raw::Sqlite(p) => {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                    .fetch_all(p)
                    .await
                    .unwrap();
                rows.iter()
                    .map(|r| r.get::<String, _>("detail"))
                    .collect::<Vec<_>>()
                    .join("\n")
            }
            Raw::Postgres(p) => {
                let mut c = p.acquire().await.unwrap();
                // Tiny test tables make a sequential scan cheapest; ask whether an index *can* serve it.
                sqlx::query("SET enable_seqscan = off")
                    .execute(&mut *c)
                    .await
                    .unwrap();
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}")))
                    .fetch_all(&mut *c)
                    .await
                    .unwrap();
                sqlx::query("RESET enable_seqscan")
                    .execute(&mut *c)
                    .await
                    .unwrap();
                rows.iter()
                    .map(|r| r.get::<String, _>(0))
                    .collect::<Vec<_>>()
                    .join("\n")
            }
        };
        assert!(plan.contains(index), "{sql} does not use {index}:\n{plan}");
    }
}
