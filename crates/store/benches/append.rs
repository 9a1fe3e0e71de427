//! Durable appends per second (each append = one audit entry + one outbox event, committed and
//! fsynced before it is acknowledged), on SQLite and PostgreSQL, with 1 and 8 concurrent writers.
//!
//! Run: `cargo bench -p gcprov-store --bench append`
//! PostgreSQL: `GCPROV_TEST_POSTGRES_URL` (default postgres://postgres@127.0.0.1:5432/test); a
//! throw-away schema is created and dropped. Under `cargo test` (no `--bench` flag) it runs a
//! tiny smoke pass only.

use std::time::Instant;

use gcprov_store::{NewEntry, NewEvent, Outcome, SqliteDurability, Store, StoreOptions};
use serde_json::json;
use sqlx::AssertSqlSafe;

struct Scenario {
    backend: &'static str,
    /// SQLite only: fsync per commit (`Full`) or WAL-only (`Normal`).
    durability: SqliteDurability,
    writers: usize,
    stores: usize,
    per_writer: usize,
}

async fn open(s: &Scenario, dir: &std::path::Path, schema: &str) -> Store {
    match s.backend {
        "sqlite" => Store::open(StoreOptions::sqlite_in_dir(dir).sqlite_durability(s.durability))
            .await
            .expect("open sqlite"),
        _ => Store::open(StoreOptions::new(pg_url()).pg_schema(schema))
            .await
            .expect("open postgres"),
    }
}

fn pg_url() -> String {
    std::env::var("GCPROV_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

async fn run(s: &Scenario) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
    if s.backend == "postgres" {
        let admin = sqlx::PgPool::connect(&pg_url())
            .await
            .expect("PostgreSQL reachable");
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&admin)
            .await
            .expect("schema");
        admin.close().await;
    }
    let mut stores = Vec::new();
    for _ in 0..s.stores {
        stores.push(open(s, dir.path(), &schema).await);
    }
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..s.writers {
        let store = stores[w % stores.len()].clone();
        let n = s.per_writer;
        tasks.push(tokio::spawn(async move {
            for i in 0..n {
                let detail =
                    json!({"writer": w, "i": i, "diff": {"title": ["Agent", "Senior agent"]}});
                store
                    .append(
                        NewEntry::new("bench", "user.update", Outcome::Success)
                            .target(format!("user-{w}-{i}"))
                            .request_id(format!("req-{w}-{i}"))
                            .detail(detail.clone()),
                        vec![NewEvent::new("user.updated", detail)],
                    )
                    .await
                    .expect("append");
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer task");
    }
    let secs = start.elapsed().as_secs_f64();
    let total = (s.writers * s.per_writer) as f64;
    let report = stores[0].verify().await.expect("verify");
    assert!(
        report.is_ok() && report.head_seq as f64 == total,
        "chain intact"
    );
    for st in &stores {
        st.close().await;
    }
    if s.backend == "postgres" {
        let admin = sqlx::PgPool::connect(&pg_url())
            .await
            .expect("PostgreSQL reachable");
        sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(&admin)
            .await
            .expect("drop");
        admin.close().await;
    }
    total / secs
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let scale = if bench { 1 } else { 0 };
    let n = |full: usize| if scale == 1 { full } else { 5 };
    use SqliteDurability::{Full, Normal};
    let sc = |backend, durability, writers, stores, per_writer| Scenario {
        backend,
        durability,
        writers,
        stores,
        per_writer: n(per_writer),
    };
    let scenarios = [
        sc("sqlite", Full, 1, 1, 1000),
        sc("sqlite", Full, 8, 1, 500),
        sc("sqlite", Full, 8, 8, 250),
        sc("sqlite", Full, 64, 1, 200),
        sc("sqlite", Normal, 1, 1, 5000),
        sc("sqlite", Normal, 8, 1, 2000),
        sc("postgres", Full, 1, 1, 1000),
        sc("postgres", Full, 8, 1, 500),
        sc("postgres", Full, 8, 8, 250),
        sc("postgres", Full, 64, 1, 200),
    ];
    println!("| backend | sync | writers | stores (pools) | appends | appends/s |");
    println!("|---|---|---|---|---|---|");
    for s in &scenarios {
        let rate = run(s).await;
        println!(
            "| {} | {} | {} | {} | {} | {:.0} |",
            s.backend,
            match (s.backend, s.durability) {
                ("postgres", _) => "commit",
                (_, Full) => "FULL",
                (_, Normal) => "NORMAL",
            },
            s.writers,
            s.stores,
            s.writers * s.per_writer,
            rate
        );
    }
}
