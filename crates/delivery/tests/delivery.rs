use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use gcprov_delivery::{
    Backoff, DeliveryConfig, FileSink, SecretString, Sink, SplunkHecSink, WebhookSink, Worker,
    WorkerOptions, sign,
};
use gcprov_store::{NewEntry, NewEvent, OutboxState, Outcome, Store};
use serde_json::json;

use crate::both_backends;
use crate::support::{Receiver, TestDb};

const KEY: &str = "webhook-signing-key-do-not-log";

fn webhook(r: &Receiver) -> Arc<dyn Sink> {
    Arc::new(
        WebhookSink::new(
            "hook",
            r.hook_url(),
            SecretString::from(KEY),
            Duration::from_secs(5),
        )
        .unwrap(),
    )
}

fn fast(worker: &str, max_attempts: u32) -> WorkerOptions {
    WorkerOptions {
        worker_id: worker.into(),
        batch_size: 16,
        lease: Duration::from_secs(60),
        max_attempts,
        backoff: Backoff {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(2),
            jitter: true,
        },
    }
}

async fn append_n(store: &Store, n: usize) -> Vec<uuid::Uuid> {
    let mut ids = Vec::new();
    for i in 0..n {
        let a = store
            .append(
                NewEntry::new("test", "user.create", Outcome::Success).target(format!("u{i}")),
                vec![NewEvent::new("user.created", json!({"i": i}))],
            )
            .await
            .unwrap();
        ids.extend(a.event_ids);
    }
    ids
}

/// Runs the worker until no event is pending (retries become due after a ms-scale backoff).
async fn drain(worker: &Worker, store: &Store) {
    for _ in 0..5000 {
        worker.run_until_idle().await.unwrap();
        if store.outbox_counts().await.unwrap().pending == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("events still pending");
}

both_backends!(
    webhook_signed_delivery,
    splunk_hec_format,
    file_sink_appends_lines,
    transient_failures_are_retried,
    retries_end_in_dead_letter_then_retry,
    permanent_failure_is_dead_at_once,
    delivered_sinks_not_resent,
    two_workers_do_not_double_send,
);

async fn webhook_signed_delivery(db: &TestDb) {
    let r = Receiver::start().await;
    let ids = append_n(&db.store, 3).await;
    let w = Worker::new(db.store.clone(), vec![webhook(&r)], fast("w", 3));
    let stats = w.run_until_idle().await.unwrap();
    assert_eq!((stats.claimed, stats.delivered), (3, 3));
    let mut reqs = r.requests();
    assert_eq!(reqs.len(), 3);
    // Events of a batch are sent concurrently: match requests to events by idempotency key.
    reqs.sort_by_key(|r| r.header("idempotency-key").to_string());
    let mut ids = ids;
    ids.sort_by_key(|u| u.to_string());
    for (req, id) in reqs.iter().zip(&ids) {
        let ts = req.header("x-gcprov-timestamp");
        assert!(ts.parse::<i64>().is_ok());
        assert_eq!(
            req.header("x-gcprov-signature"),
            sign(KEY.as_bytes(), ts, &req.body)
        );
        assert!(req.header("x-gcprov-signature").starts_with("sha256="));
        assert_eq!(req.header("idempotency-key"), id.to_string());
        assert_eq!(req.header("content-type"), "application/json");
        let body = req.json();
        assert_eq!(body["id"], id.to_string());
        assert_eq!(body["kind"], "user.created");
        assert!(body["audit_seq"].as_i64().unwrap() >= 1);
        assert!(body["payload"]["i"].is_number());
    }
    let c = db.store.outbox_counts().await.unwrap();
    assert_eq!((c.pending, c.delivered, c.dead), (0, 3, 0));
    assert_eq!(
        w.run_until_idle().await.unwrap().claimed,
        0,
        "nothing is sent twice"
    );
}

async fn splunk_hec_format(db: &TestDb) {
    let r = Receiver::start().await;
    let ids = append_n(&db.store, 1).await;
    let sink = SplunkHecSink::new(
        "splunk",
        format!("{}/services/collector/event", r.base),
        SecretString::from("hec-token-123"),
        "gcprov-test",
        "gcprov",
        "gcprov:event",
        Duration::from_secs(5),
    )
    .unwrap();
    assert!(!format!("{sink:?}").contains("hec-token-123"));
    let w = Worker::new(db.store.clone(), vec![Arc::new(sink)], fast("w", 3));
    assert_eq!(w.run_until_idle().await.unwrap().delivered, 1);
    let req = &r.requests()[0];
    assert_eq!(req.header("authorization"), "Splunk hec-token-123");
    let body = req.json();
    assert!(body["time"].as_f64().unwrap() > 1.0e9);
    assert_eq!(body["host"], "gcprov-test");
    assert_eq!(body["source"], "gcprov");
    assert_eq!(body["sourcetype"], "gcprov:event");
    assert_eq!(body["event"]["id"], ids[0].to_string());
    assert_eq!(body["event"]["payload"]["i"], 0);
}

async fn file_sink_appends_lines(db: &TestDb) {
    let path = db.dir.path().join("out/events.jsonl");
    let ids = append_n(&db.store, 4).await;
    let w = Worker::new(
        db.store.clone(),
        vec![Arc::new(FileSink::new("file", &path))],
        fast("w", 3),
    );
    assert_eq!(w.run_until_idle().await.unwrap().delivered, 4);
    let text = std::fs::read_to_string(&path).unwrap();
    let got: Vec<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let mut want: Vec<String> = ids.iter().map(|u| u.to_string()).collect();
    let mut got_sorted = got.clone();
    got_sorted.sort();
    want.sort();
    assert_eq!(got_sorted, want);
}

async fn transient_failures_are_retried(db: &TestDb) {
    let r = Receiver::start().await;
    r.state.fail_next.store(2, Ordering::SeqCst);
    append_n(&db.store, 1).await;
    let w = Worker::new(db.store.clone(), vec![webhook(&r)], fast("w", 5));
    drain(&w, &db.store).await;
    assert_eq!(r.requests().len(), 3, "two 503s, then success");
    let ev = &db.store.list_events(None, 0, 10).await.unwrap()[0];
    assert_eq!(ev.state, OutboxState::Delivered);
    assert_eq!(ev.attempts, 2);
}

async fn retries_end_in_dead_letter_then_retry(db: &TestDb) {
    let r = Receiver::start().await;
    r.state.always.store(503, Ordering::SeqCst);
    let ids = append_n(&db.store, 1).await;
    let w = Worker::new(db.store.clone(), vec![webhook(&r)], fast("w", 3));
    drain(&w, &db.store).await;
    assert_eq!(r.requests().len(), 3, "exactly max_attempts sends");
    let dead = db
        .store
        .list_events(Some(OutboxState::Dead), 0, 10)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 3);
    let err = dead[0].last_error.clone().unwrap();
    assert!(err.contains("503"), "{err}");
    assert!(!err.contains(KEY));
    // An operator requeues it once the receiver is healthy again.
    r.state.always.store(0, Ordering::SeqCst);
    assert!(db.store.retry_event(&ids[0].to_string()).await.unwrap());
    drain(&w, &db.store).await;
    assert_eq!(db.store.outbox_counts().await.unwrap().delivered, 1);
}

async fn permanent_failure_is_dead_at_once(db: &TestDb) {
    let r = Receiver::start().await;
    r.state.always.store(400, Ordering::SeqCst);
    append_n(&db.store, 1).await;
    let w = Worker::new(db.store.clone(), vec![webhook(&r)], fast("w", 8));
    let s = w.run_until_idle().await.unwrap();
    assert_eq!(s.dead, 1);
    assert_eq!(r.requests().len(), 1);
}

async fn delivered_sinks_not_resent(db: &TestDb) {
    let r = Receiver::start().await;
    r.state.fail_next.store(1, Ordering::SeqCst);
    let path = db.dir.path().join("events.jsonl");
    append_n(&db.store, 1).await;
    let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(FileSink::new("file", &path)), webhook(&r)];
    let w = Worker::new(db.store.clone(), sinks, fast("w", 5));
    drain(&w, &db.store).await;
    assert_eq!(r.requests().len(), 2);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap().lines().count(),
        1,
        "the file sink took it the first time"
    );
}

async fn two_workers_do_not_double_send(db: &TestDb) {
    let r = Receiver::start().await;
    let ids = append_n(&db.store, 120).await;
    let other = db.another().await;
    let mk = |s: Store, name: &str| {
        let mut o = fast(name, 3);
        o.batch_size = 7;
        Worker::new(s, vec![webhook(&r)], o)
    };
    let (a, b) = (mk(db.store.clone(), "a"), mk(other.clone(), "b"));
    let (ra, rb) = tokio::join!(
        tokio::spawn(async move { a.run_until_idle().await.unwrap() }),
        tokio::spawn(async move { b.run_until_idle().await.unwrap() }),
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.delivered + rb.delivered, 120);
    let counts = r.counts_by_key();
    assert_eq!(counts.len(), 120);
    assert!(counts.values().all(|&n| n == 1), "an event was sent twice");
    for id in ids {
        assert_eq!(counts.get(&id.to_string()), Some(&1));
    }
    other.close().await;
}

#[test]
fn config_parses_builds_and_never_shows_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("hec");
    std::fs::write(&token_file, "hec-from-file\n").unwrap();
    let text = format!(
        r#"
[delivery]
max_attempts = 4
backoff_initial_ms = 10

[[sink]]
type = "webhook"
name = "siem"
url = "http://127.0.0.1:9/hook"
secret = "inline-webhook-secret"

[[sink]]
type = "splunk_hec"
name = "splunk"
url = "http://127.0.0.1:9/services/collector/event"
token_file = "{}"

[[sink]]
type = "file"
name = "archive"
path = "{}"
"#,
        token_file.display(),
        dir.path().join("x.jsonl").display()
    );
    let cfg = DeliveryConfig::parse(&text, "delivery.toml").unwrap();
    assert!(!format!("{cfg:?}").contains("inline-webhook-secret"));
    let sinks = cfg.build_sinks("delivery.toml").unwrap();
    assert_eq!(
        sinks.iter().map(|s| s.name()).collect::<Vec<_>>(),
        vec!["siem", "splunk", "archive"]
    );
    let o = cfg.worker_options("w");
    assert_eq!(o.max_attempts, 4);
    assert_eq!(o.backoff.initial, Duration::from_millis(10));

    // Errors name the file and line, never the secret.
    let bad = "[[sink]]\ntype = \"webhook\"\nname = \"x\"\nurl = \"u\"\nsecret = \"leaky-secret\"\nbogus = 1\n";
    let err = DeliveryConfig::parse(bad, "d.toml")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("d.toml:"), "{err}");
    assert!(!err.contains("leaky-secret"), "{err}");
    let missing = "[[sink]]\ntype = \"webhook\"\nname = \"x\"\nurl = \"u\"\n";
    let err = DeliveryConfig::parse(missing, "d.toml")
        .unwrap()
        .build_sinks("d.toml")
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("secret"), "{err}");
    let dup = "[[sink]]\ntype = \"file\"\nname = \"x\"\npath = \"a\"\n[[sink]]\ntype = \"file\"\nname = \"x\"\npath = \"b\"\n";
    assert!(
        DeliveryConfig::parse(dup, "d.toml")
            .unwrap_err()
            .to_string()
            .contains("twice")
    );
}

#[test]
fn backoff_grows_exponentially_with_jitter_and_cap() {
    let b = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(2),
        jitter: true,
    };
    for attempt in 1..=10u32 {
        let base = Duration::from_millis(100 * (1u64 << (attempt - 1))).min(Duration::from_secs(2));
        for _ in 0..50 {
            let d = b.delay(attempt);
            assert!(
                d >= base / 2 && d <= base,
                "attempt {attempt}: {d:?} vs {base:?}"
            );
        }
    }
    let nj = Backoff { jitter: false, ..b };
    assert_eq!(nj.delay(1), Duration::from_millis(100));
    assert_eq!(nj.delay(3), Duration::from_millis(400));
    assert_eq!(nj.delay(40), Duration::from_secs(2));
}
