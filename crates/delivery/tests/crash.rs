//! Crash test: a child process appending and delivering is SIGKILLed at random points, many
//! times. Afterwards the chain verifies, every acknowledged append is present with its event,
//! and every event reaches the receiver at least once.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use gcprov_delivery::{Backoff, SecretString, Sink, WebhookSink, Worker, WorkerOptions, sign};
use rand::{Rng, SeedableRng};

use crate::support::{Receiver, TestDb};

const CHILD_KEY: &str = "crash-test-webhook-key";
const ITERATIONS: usize = 20;

/// Runs the child once, kills it with SIGKILL after `kill_after` acknowledged appends, and
/// returns every `seq -> event id` the child acknowledged (including lines still in the pipe).
fn run_child(url: &str, hook: &str, schema: Option<&str>, kill_after: usize) -> Vec<(i64, String)> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gcprov-crash-child"));
    cmd.arg(url).arg(hook);
    if let Some(s) = schema {
        cmd.arg(s);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut committed = Vec::new();
    let parse = |line: String| -> (i64, String) {
        let mut parts = line.split_whitespace();
        assert_eq!(
            parts.next(),
            Some("committed"),
            "unexpected child output: {line}"
        );
        let seq = parts.next().unwrap().parse().unwrap();
        (seq, parts.next().unwrap().to_string())
    };
    for line in lines.by_ref() {
        committed.push(parse(line.unwrap()));
        if committed.len() >= kill_after {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    // Acknowledged before the kill but not yet read.
    for line in lines {
        match line {
            Ok(l) if l.starts_with("committed ") && l.split_whitespace().count() == 3 => {
                committed.push(parse(l))
            }
            _ => break, // a line torn by the kill was never acknowledged
        }
    }
    committed
}

async fn crash_test(db: TestDb, seed: u64) {
    let r = Receiver::start().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut acked: BTreeMap<i64, String> = BTreeMap::new();
    for _ in 0..ITERATIONS {
        let kill_after = rng.random_range(1..=60);
        let (url, hook, schema) = (db.url.clone(), r.hook_url(), db.schema.clone());
        let got = tokio::task::spawn_blocking(move || {
            run_child(&url, &hook, schema.as_deref(), kill_after)
        })
        .await
        .unwrap();
        for (seq, id) in got {
            assert!(
                acked.insert(seq, id).is_none(),
                "seq {seq} acknowledged twice"
            );
        }
    }
    assert!(acked.len() >= ITERATIONS);

    let store = db.another().await;
    let report = store.verify().await.unwrap();
    assert!(report.is_ok(), "chain broken after crashes: {report:?}");
    for (seq, id) in &acked {
        let e = store
            .entry(*seq)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("acknowledged entry {seq} lost"));
        assert_eq!(e.actor, "crash-child");
        let evs = store.events_for_entry(*seq).await.unwrap();
        assert_eq!(
            evs.iter().map(|e| e.id.to_string()).collect::<Vec<_>>(),
            vec![id.clone()]
        );
    }
    // Every entry in the log (acknowledged or not) has exactly its one event.
    let all_events = store.list_events(None, 0, 1_000_000).await.unwrap();
    assert_eq!(all_events.len() as i64, report.head_seq);

    // Finish delivery (the killed children's leases run out after 300 ms).
    let sink: Arc<dyn Sink> = Arc::new(
        WebhookSink::new(
            "hook",
            r.hook_url(),
            SecretString::from(CHILD_KEY),
            Duration::from_secs(5),
        )
        .unwrap(),
    );
    let w = Worker::new(
        store.clone(),
        vec![sink],
        WorkerOptions {
            worker_id: "final".into(),
            batch_size: 64,
            lease: Duration::from_secs(60),
            max_attempts: 1000,
            backoff: Backoff {
                initial: Duration::from_millis(1),
                max: Duration::from_millis(5),
                jitter: true,
            },
        },
    );
    let mut done = false;
    for _ in 0..3000 {
        w.run_until_idle().await.unwrap();
        if store.outbox_counts().await.unwrap().pending == 0 {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(done, "events still pending after the final delivery run");
    let c = store.outbox_counts().await.unwrap();
    assert_eq!(c.dead, 0);

    let received: HashSet<String> = r.counts_by_key().into_keys().collect();
    for ev in &all_events {
        assert!(
            received.contains(&ev.id.to_string()),
            "event {} (entry {}) never delivered",
            ev.id,
            ev.audit_seq
        );
    }
    for req in r.requests() {
        let ts = req.header("x-gcprov-timestamp");
        assert_eq!(
            req.header("x-gcprov-signature"),
            sign(CHILD_KEY.as_bytes(), ts, &req.body)
        );
    }
    store.close().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_crashes_lose_nothing_sqlite() {
    crash_test(TestDb::sqlite().await, 0x5eed_0001).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_crashes_lose_nothing_postgres() {
    crash_test(TestDb::postgres().await, 0x5eed_0002).await;
}

/// Three child processes append at the same time (each with its own pool and writer), then are
/// killed: the log is still one linear chain holding every acknowledged append exactly once.
async fn concurrent_processes(db: TestDb) {
    let r = Receiver::start().await;
    let mut handles = Vec::new();
    for k in [25usize, 40, 55] {
        let (url, hook, schema) = (db.url.clone(), r.hook_url(), db.schema.clone());
        handles.push(tokio::task::spawn_blocking(move || {
            run_child(&url, &hook, schema.as_deref(), k)
        }));
    }
    let mut acked: BTreeMap<i64, String> = BTreeMap::new();
    for h in handles {
        for (seq, id) in h.await.unwrap() {
            assert!(
                acked.insert(seq, id).is_none(),
                "seq {seq} given to two appends"
            );
        }
    }
    let store = db.another().await;
    let report = store.verify().await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    for (seq, id) in &acked {
        let evs = store.events_for_entry(*seq).await.unwrap();
        assert_eq!(
            evs.iter().map(|e| e.id.to_string()).collect::<Vec<_>>(),
            vec![id.clone()]
        );
    }
    store.close().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_processes_keep_one_chain_sqlite() {
    concurrent_processes(TestDb::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_processes_keep_one_chain_postgres() {
    concurrent_processes(TestDb::postgres().await).await;
}
