//! `gcprov audit ...` and `gcprov outbox ...` against SQLite files and the real PostgreSQL.

use std::path::Path;
use std::process::{Command, Output};

use gcprov_store::sqlx::{self, AssertSqlSafe};
use gcprov_store::{NewEntry, NewEvent, Outcome, Store, StoreOptions};
use serde_json::json;

fn gcprov(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gcprov"))
        .args(args)
        .env_remove("GCPROV_DATABASE_URL")
        .env_remove("GCPROV_DATA_DIR")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = gcprov(args);
    assert!(
        out.status.success(),
        "gcprov {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails(args: &[&str]) -> String {
    let out = gcprov(args);
    assert!(!out.status.success(), "gcprov {args:?} should fail");
    String::from_utf8(out.stderr).unwrap()
}

fn db_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("gcprov.db").display())
}

async fn seed(store: &Store, n: usize) {
    for i in 0..n {
        let actor = if i % 2 == 0 {
            "scim:entra"
        } else {
            "reconciler"
        };
        store
            .append(
                NewEntry::new(actor, "user.update", Outcome::Success)
                    .target(format!("user-{i}"))
                    .detail(json!({"i": i})),
                vec![NewEvent::new("user.updated", json!({"i": i}))],
            )
            .await
            .unwrap();
    }
}

async fn sqlite_exec(url: &str, sql: &str) {
    let pool = sqlx::SqlitePool::connect(url).await.unwrap();
    sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

#[tokio::test]
async fn verify_passes_then_names_the_first_bad_entry() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let store = Store::open(StoreOptions::sqlite_in_dir(dir.path()))
        .await
        .unwrap();
    seed(&store, 5).await;
    store.close().await;
    let out = ok(&["audit", "verify", "--data-dir", data]);
    assert!(out.contains("audit log OK: 5 entries"), "{out}");

    sqlite_exec(
        &db_url(dir.path()),
        "UPDATE audit_log SET detail = '{\"i\":99}' WHERE seq = 3",
    )
    .await;
    let err = fails(&["audit", "verify", "--data-dir", data]);
    assert!(err.contains("audit entry 3 altered"), "{err}");
}

#[tokio::test]
async fn checkpoint_export_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let url = db_url(dir.path());
    let store = Store::open(StoreOptions::new(url.clone())).await.unwrap();
    seed(&store, 4).await;
    let key = dir.path().join("key");
    std::fs::write(&key, "0123456789abcdef0123456789abcdef\n").unwrap();
    let cp = dir.path().join("cp.json");
    ok(&[
        "audit",
        "checkpoint",
        "--database",
        &url,
        "--key-file",
        key.to_str().unwrap(),
        "--out",
        cp.to_str().unwrap(),
    ]);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cp).unwrap()).unwrap();
    assert_eq!(json["seq"], 4);
    assert!(
        !std::fs::read_to_string(&cp)
            .unwrap()
            .contains("0123456789abcdef0123"),
        "the key is not exported"
    );
    seed(&store, 2).await;
    store.close().await;
    let args = [
        "audit",
        "verify",
        "--database",
        &url,
        "--checkpoint",
        cp.to_str().unwrap(),
        "--key-file",
        key.to_str().unwrap(),
    ];
    let out = ok(&args);
    assert!(out.contains("matches checkpoint"), "{out}");

    let other = dir.path().join("other-key");
    std::fs::write(&other, "another-key-another-key").unwrap();
    let err = fails(&[
        "audit",
        "verify",
        "--database",
        &url,
        "--checkpoint",
        cp.to_str().unwrap(),
        "--key-file",
        other.to_str().unwrap(),
    ]);
    assert!(err.contains("checkpoint signature invalid"), "{err}");

    sqlite_exec(&url, "DELETE FROM audit_log WHERE seq = 2").await;
    let err = fails(&args);
    assert!(err.contains("audit entry 2 removed"), "{err}");

    std::fs::write(&other, "short").unwrap();
    let err = fails(&[
        "audit",
        "checkpoint",
        "--database",
        &url,
        "--key-file",
        other.to_str().unwrap(),
    ]);
    assert!(err.contains("fewer than 16 bytes"), "{err}");
}

#[tokio::test]
async fn tail_and_export_with_filters() {
    let dir = tempfile::tempdir().unwrap();
    let url = db_url(dir.path());
    let store = Store::open(StoreOptions::new(url.clone())).await.unwrap();
    seed(&store, 6).await;
    store.close().await;

    let out = ok(&["audit", "tail", "--database", &url, "-n", "2", "--json"]);
    let seqs: Vec<i64> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, vec![5, 6]);
    let out = ok(&["audit", "tail", "--database", &url, "-n", "1"]);
    assert!(
        out.contains("reconciler user.update success targets=[user-5]"),
        "{out}"
    );

    let out = ok(&[
        "audit",
        "export",
        "--database",
        &url,
        "--format",
        "csv",
        "--actor",
        "reconciler",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[0].starts_with("seq,time,actor"));
    assert!(lines[1..].iter().all(|l| l.contains(",reconciler,")));

    let out = ok(&["audit", "export", "--database", &url, "--target", "user-2"]);
    assert_eq!(out.lines().count(), 1);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(out.lines().next().unwrap()).unwrap()["seq"],
        3
    );

    let out = ok(&[
        "audit",
        "export",
        "--database",
        &url,
        "--since",
        "2999-01-01",
    ]);
    assert!(out.is_empty());
    let out = ok(&[
        "audit",
        "export",
        "--database",
        &url,
        "--until",
        "2000-01-01T00:00:00Z",
    ]);
    assert!(out.is_empty());
    let out = ok(&[
        "audit",
        "export",
        "--database",
        &url,
        "--since",
        "1d",
        "--action",
        "user.update",
    ]);
    assert_eq!(out.lines().count(), 6);

    let err = fails(&[
        "audit",
        "export",
        "--database",
        &url,
        "--since",
        "yesterday",
    ]);
    assert!(err.contains("is not a time"), "{err}");
    let err = fails(&["audit", "export", "--database", &url, "--format", "xml"]);
    assert!(err.contains("unknown format"), "{err}");
}

#[tokio::test]
async fn outbox_deliver_list_retry_purge() {
    let dir = tempfile::tempdir().unwrap();
    let url = db_url(dir.path());
    let store = Store::open(StoreOptions::new(url.clone())).await.unwrap();
    seed(&store, 3).await;
    let events = dir.path().join("events.jsonl");
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        format!(
            "[[sink]]\ntype = \"file\"\nname = \"archive\"\npath = \"{}\"\n",
            events.display()
        ),
    )
    .unwrap();
    let out = ok(&[
        "outbox",
        "deliver",
        "--database",
        &url,
        "--config",
        good.to_str().unwrap(),
    ]);
    assert!(out.contains("delivered 3"), "{out}");
    assert_eq!(std::fs::read_to_string(&events).unwrap().lines().count(), 3);
    let out = ok(&["outbox", "list", "--database", &url, "--state", "delivered"]);
    assert_eq!(out.lines().count(), 3);

    // A receiver that refuses connections and one attempt allowed: events go dead.
    seed(&store, 2).await;
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[delivery]\nmax_attempts = 1\n[[sink]]\ntype = \"webhook\"\nname = \"down\"\nurl = \"http://127.0.0.1:1/hook\"\nsecret = \"very-secret-hmac-key\"\ntimeout_ms = 2000\n",
    )
    .unwrap();
    let out = ok(&[
        "outbox",
        "deliver",
        "--database",
        &url,
        "--config",
        bad.to_str().unwrap(),
    ]);
    assert!(out.contains("dead 2"), "{out}");
    let out = ok(&[
        "outbox",
        "list",
        "--database",
        &url,
        "--state",
        "dead",
        "--json",
    ]);
    assert_eq!(out.lines().count(), 2);
    assert!(!out.contains("very-secret-hmac-key"));
    let first_dead = serde_json::from_str::<serde_json::Value>(out.lines().next().unwrap())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    let out = ok(&["outbox", "retry", "--database", &url, &first_dead]);
    assert!(out.contains("requeued"), "{out}");
    let out = ok(&["outbox", "retry", "--database", &url, "--all-dead"]);
    assert!(out.contains("requeued 1 dead events"), "{out}");
    let out = ok(&[
        "outbox",
        "deliver",
        "--database",
        &url,
        "--config",
        good.to_str().unwrap(),
    ]);
    assert!(out.contains("delivered 2"), "{out}");
    let err = fails(&[
        "outbox",
        "retry",
        "--database",
        &url,
        "00000000-0000-0000-0000-000000000000",
    ]);
    assert!(err.contains("no dead or pending outbox event"), "{err}");

    let out = ok(&[
        "outbox",
        "purge",
        "--database",
        &url,
        "--delivered-before",
        "2000-01-01",
    ]);
    assert!(out.contains("purged 0 delivered"), "{out}");
    let out = ok(&[
        "outbox",
        "purge",
        "--database",
        &url,
        "--delivered-before",
        "0s",
        "--dead",
    ]);
    assert!(
        out.contains("purged 5 delivered") && out.contains("purged 0 dead"),
        "{out}"
    );
    let out = ok(&["outbox", "list", "--database", &url]);
    assert!(out.is_empty(), "{out}");
    // Purging the outbox never touches the audit log.
    store.close().await;
    assert!(ok(&["audit", "verify", "--database", &url]).contains("5 entries"));

    let missing = fails(&[
        "outbox",
        "deliver",
        "--database",
        &url,
        "--config",
        "/nonexistent/d.toml",
    ]);
    assert!(missing.contains("/nonexistent/d.toml"), "{missing}");
    let err = fails(&["outbox", "list", "--database", &url, "--state", "lost"]);
    assert!(err.contains("unknown outbox state"), "{err}");
}

#[tokio::test]
async fn bad_database_and_newer_schema_are_clear_errors() {
    let err = fails(&["audit", "verify", "--database", "mysql://localhost/x"]);
    assert!(err.contains("unsupported database URL"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let url = db_url(dir.path());
    Store::open(StoreOptions::new(url.clone()))
        .await
        .unwrap()
        .close()
        .await;
    sqlite_exec(
        &url,
        "INSERT INTO gcprov_schema (version, applied_us) VALUES (42, 0)",
    )
    .await;
    let err = fails(&["audit", "verify", "--database", &url]);
    assert!(err.contains("schema version 42 is newer"), "{err}");
}

#[tokio::test]
async fn verify_on_postgres() {
    let base = std::env::var("GCPROV_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let admin = sqlx::PgPool::connect(&base).await.unwrap_or_else(|e| {
        panic!("PostgreSQL tests need GCPROV_TEST_POSTGRES_URL reachable: {e}")
    });
    let schema = format!("cli_{}", uuid_like());
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .unwrap();
    let store = Store::open(StoreOptions::new(base.clone()).pg_schema(schema.clone()))
        .await
        .unwrap();
    seed(&store, 3).await;
    store.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    let out = ok(&["audit", "verify", "--database", &url]);
    assert!(out.contains("audit log OK: 3 entries"), "{out}");
    sqlx::raw_sql(AssertSqlSafe(format!(
        "UPDATE {schema}.audit_log SET outcome = 'denied' WHERE seq = 2"
    )))
    .execute(&admin)
    .await
    .unwrap();
    let err = fails(&["audit", "verify", "--database", &url]);
    assert!(err.contains("audit entry 2 altered"), "{err}");
    sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&admin)
        .await
        .unwrap();
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{:x}{:x}", nanos, std::process::id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_follow_prints_new_entries() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let url = db_url(dir.path());
    let store = Store::open(StoreOptions::new(url.clone())).await.unwrap();
    seed(&store, 2).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_gcprov"))
        .args([
            "audit",
            "tail",
            "--database",
            &url,
            "-n",
            "1",
            "--follow",
            "--json",
        ])
        .env_remove("GCPROV_DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            if tx.send(v["seq"].as_i64().unwrap()).is_err() {
                break;
            }
        }
    });
    // A generous bound only so a broken build fails instead of hanging; no timing is asserted.
    let wait = std::time::Duration::from_secs(120);
    let first = rx.recv_timeout(wait).unwrap();
    assert_eq!(first, 2, "the last existing entry first");
    seed(&store, 3).await;
    let mut got = Vec::new();
    while got.len() < 3 {
        got.push(rx.recv_timeout(wait).unwrap());
    }
    assert_eq!(got, vec![3, 4, 5]);
    child.kill().unwrap();
    child.wait().unwrap();
    store.close().await;
}
