use std::time::Duration;

use gcprov_store::{NewEntry, NewEvent, OutboxState, Outcome};
use serde_json::json;

use crate::both_backends;
use crate::support::TestDb;

both_backends!(claim_lease_fail_dead_retry_purge);

async fn claim_lease_fail_dead_retry_purge(db: &TestDb) {
    let s = &db.store;
    for i in 0..5 {
        s.append(
            NewEntry::new("t", "x", Outcome::Success),
            vec![
                NewEvent::new("a", json!({"i": i})),
                NewEvent::new("b", json!({"i": i})),
            ],
        )
        .await
        .unwrap();
    }
    let lease = Duration::from_secs(600);
    let first = s.claim_events("w1", 4, lease).await.unwrap();
    assert_eq!(first.len(), 4);
    assert!(first.windows(2).all(|w| w[0].pos < w[1].pos));
    let second = s.claim_events("w2", 100, lease).await.unwrap();
    assert_eq!(
        second.len(),
        6,
        "claimed events are invisible to other workers"
    );
    assert!(s.claim_events("w3", 100, lease).await.unwrap().is_empty());

    // Only the lease holder may settle an event.
    assert!(!s.mark_delivered(first[0].id, "w2").await.unwrap());
    assert!(s.mark_delivered(first[0].id, "w1").await.unwrap());
    assert!(
        !s.mark_delivered(first[0].id, "w1").await.unwrap(),
        "already delivered"
    );

    // A failed attempt due now is claimable again with the sinks that already took it.
    let now = gcprov_store::to_us(time::OffsetDateTime::now_utc());
    assert!(
        s.mark_failed(
            first[1].id,
            "w1",
            "siem: HTTP 503",
            &["file".into()],
            Some(now)
        )
        .await
        .unwrap()
    );
    let again = s.claim_events("w3", 100, lease).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, first[1].id);
    assert_eq!(again[0].attempts, 1);
    assert_eq!(again[0].delivered_sinks, vec!["file".to_string()]);
    assert_eq!(again[0].last_error.as_deref(), Some("siem: HTTP 503"));

    // A failed attempt scheduled later is not claimable yet.
    assert!(
        s.mark_failed(first[2].id, "w1", "e", &[], Some(now + 3_600_000_000))
            .await
            .unwrap()
    );
    assert!(s.claim_events("w4", 100, lease).await.unwrap().is_empty());

    // Dead letters.
    assert!(
        s.mark_failed(first[3].id, "w1", "siem: HTTP 400", &[], None)
            .await
            .unwrap()
    );
    assert!(
        s.mark_failed(again[0].id, "w3", "siem: HTTP 400", &[], None)
            .await
            .unwrap()
    );
    let dead = s
        .list_events(Some(OutboxState::Dead), 0, 100)
        .await
        .unwrap();
    assert_eq!(dead.len(), 2);
    let c = s.outbox_counts().await.unwrap();
    assert_eq!((c.pending, c.delivered, c.dead), (7, 1, 2));

    assert!(s.retry_event(&dead[0].id.to_string()).await.unwrap());
    let ev = s.event(&dead[0].id.to_string()).await.unwrap().unwrap();
    assert_eq!((ev.state, ev.attempts), (OutboxState::Pending, 0));
    assert!(s.retry_event("not-a-uuid").await.is_err());
    assert!(
        !s.retry_event(&uuid::Uuid::new_v4().to_string())
            .await
            .unwrap()
    );
    assert_eq!(s.retry_all_dead().await.unwrap(), 1);
    assert_eq!(s.outbox_counts().await.unwrap().dead, 0);

    let claimed = s.claim_events("w5", 100, lease).await.unwrap();
    assert_eq!(claimed.len(), 2, "the two requeued dead letters");
    assert!(
        s.mark_failed(claimed[0].id, "w5", "x", &[], None)
            .await
            .unwrap()
    );
    assert_eq!(s.purge_dead().await.unwrap(), 1);
    assert_eq!(s.purge_delivered_before(0).await.unwrap(), 0);
    assert_eq!(s.purge_delivered_before(i64::MAX).await.unwrap(), 1);
    let all = s.list_events(None, 0, 100).await.unwrap();
    assert_eq!(all.len(), 8);
    assert_eq!(s.list_events(None, all[3].pos, 100).await.unwrap().len(), 4);
}
