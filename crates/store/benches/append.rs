//! Durable appends per second (each append = one audit entry + one outbox event, committed and
//! fsynced before it is acknowledged), on SQLite and PostgreSQL, with 1 and 8 concurrent writers.
//!
//! Run: `cargo bench -p gcprov-store --bench append`
//! PostgreSQL: `GCPROV_TEST_POSTGRES_URL` (default postgres://postgres@127.0.0.1:5432/test); a
//! throw-away schema is created and dropped. Under `cargo test` (no `--bench` flag) it runs a
//! tiny smoke pass only.

use std::time::Instant;

use gcprov_store::{NewEntry, NewEvent, Outcome, Store, StoreOptions};
use serde_json::json;
use sqlx::AssertSqlSafe;

struct Scenario {
    backend: &'static str,
    writers: usize,
    stores: usize,
    per_writer: usize,
}

async fn open(backend: &str, dir: &std::path::Path, schema: &str) -> Store {
    match backend {
        "sqlite" => Store::open(StoreOptions::sqlite_in_dir(dir))
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
        stores.push(open(s.backend, dir.path(), &schema).await);
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
    let scenarios = [
        Scenario {
            backend: "sqlite",
            writers: 1,
            stores: 1,
            per_writer: n(2000),
        },
        Scenario {
            backend: "sqlite",
            writers: 8,
            stores: 1,
            per_writer: n(1000),
        },
        Scenario {
            backend: "sqlite",
            writers: 8,
            stores: 8,
            per_writer: n(250),
        },
        Scenario {
            backend: "postgres",
            writers: 1,
            stores: 1,
            per_writer: n(2000),
        },
        Scenario {
            backend: "postgres",
            writers: 8,
            stores: 1,
            per_writer: n(1000),
        },
        Scenario {
            backend: "postgres",
            writers: 8,
            stores: 8,
            per_writer: n(500),
        },
    ];
    println!("| backend | writers | stores (pools) | appends | appends/s |");
    println!("|---|---|---|---|---|");
    for s in &scenarios {
        let rate = run(s).await;
        println!(
            "| {} | {} | {} | {} | {:.0} |",
            s.backend,
            s.writers,
            s.stores,
            s.writers * s.per_writer,
            rate
        );
    }
}
