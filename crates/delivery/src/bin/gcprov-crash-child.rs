//! Test helper for the crash test (crates/delivery/tests): appends audit entries with one event
//! each from two tasks while a delivery worker sends events to a webhook, forever, printing
//! `committed <seq> <event-id>` after each acknowledged append. The test SIGKILLs it.
//!
//! Usage: gcprov-crash-child <database-url> <webhook-url> [<postgres-schema>]

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use gcprov_delivery::{Backoff, SecretString, Sink, WebhookSink, Worker, WorkerOptions};
use gcprov_store::{NewEntry, NewEvent, Outcome, Store, StoreOptions};

/// The webhook key the crash test verifies signatures with.
const KEY: &str = "crash-test-webhook-key";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or("missing database URL")?;
    let hook = args.next().ok_or("missing webhook URL")?;
    let mut opts = StoreOptions::new(url);
    if let Some(schema) = args.next() {
        opts = opts.pg_schema(schema);
    }
    let store = Store::open(opts).await?;
    let sink: Arc<dyn Sink> = Arc::new(WebhookSink::new(
        "hook",
        hook,
        SecretString::from(KEY.to_string()),
        Duration::from_secs(5),
    )?);
    let worker = Worker::new(
        store.clone(),
        vec![sink],
        WorkerOptions {
            worker_id: format!("crash-child-{}", std::process::id()),
            batch_size: 8,
            lease: Duration::from_millis(300),
            max_attempts: 1000,
            backoff: Backoff {
                initial: Duration::from_millis(1),
                max: Duration::from_millis(5),
                jitter: true,
            },
        },
    );
    tokio::spawn(async move {
        loop {
            if let Err(e) = worker.run_until_idle().await {
                eprintln!("crash-child: delivery: {e}");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let mut tasks = Vec::new();
    for t in 0..2u32 {
        let store = store.clone();
        let out = out.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0u64.. {
                let detail = serde_json::json!({"task": t, "i": i});
                let a = store
                    .append(
                        NewEntry::new("crash-child", "test.append", Outcome::Success)
                            .detail(detail.clone()),
                        vec![NewEvent::new("test.event", detail)],
                    )
                    .await;
                match a {
                    Ok(a) => {
                        let ids: Vec<String> = a.event_ids.iter().map(|u| u.to_string()).collect();
                        let Ok(mut o) = out.lock() else {
                            std::process::exit(3)
                        };
                        if writeln!(o, "committed {} {}", a.seq, ids.join(",")).is_err()
                            || o.flush().is_err()
                        {
                            std::process::exit(0);
                        }
                    }
                    Err(e) => {
                        eprintln!("crash-child: append: {e}");
                        std::process::exit(2);
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    Ok(())
}
