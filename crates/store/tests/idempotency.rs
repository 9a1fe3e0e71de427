//! Idempotency-key claims shared by replicas: one winner per key, complete, release, and the
//! in-flight lease of a claim whose process died (times are injected, nothing sleeps).

use gcprov_store::{IdempotencyClaim, IdempotencyRecord, Store};

use crate::both_backends;
use crate::support::TestDb;

both_backends!(
    concurrent_claims_across_replicas_have_one_winner,
    a_completed_claim_is_the_answer_for_every_replica,
    a_released_claim_frees_the_key,
    a_lapsed_lease_lets_a_retry_run_and_fences_the_old_claim,
    an_expired_answer_is_claimed_again,
    a_renewed_lease_keeps_a_long_request_in_flight,
    a_version_1_database_keeps_its_answers_after_migration_2,
);

const LEASE: i64 = 60_000_000;

fn answer(key: &str, hash: &str, now: i64) -> IdempotencyRecord {
    IdempotencyRecord {
        key: key.into(),
        request_hash: hash.into(),
        status: 201,
        response: format!("{{\"answer\":\"{hash}\"}}"),
        created_us: now,
        expires_us: now + 86_400_000_000,
    }
}

fn claim_of(c: &IdempotencyClaim) -> &str {
    match c {
        IdempotencyClaim::Won { claim, .. } => claim,
        other => panic!("expected a won claim, got {other:?}"),
    }
}

async fn concurrent_claims_across_replicas_have_one_winner(db: &TestDb) {
    let a = db.store.clone();
    let b = db.another().await;
    let now = 1_000_000;
    for i in 0..20 {
        let key = format!("race-{i}");
        // Four claimers at once: two on each replica (store), so both the in-process batching
        // and the cross-connection race are exercised.
        let claim = |s: &Store, hash: &'static str| {
            let s = s.clone();
            let key = key.clone();
            tokio::spawn(async move { s.idempotency_claim(&key, hash, now, LEASE).await })
        };
        let tasks = [
            claim(&a, "h-a1"),
            claim(&b, "h-b1"),
            claim(&a, "h-a2"),
            claim(&b, "h-b2"),
        ];
        let mut won = Vec::new();
        let mut in_flight = Vec::new();
        for t in tasks {
            match t.await.unwrap().unwrap() {
                IdempotencyClaim::Won { expires_us, .. } => won.push(expires_us),
                IdempotencyClaim::InFlight {
                    request_hash,
                    expires_us,
                } => in_flight.push((request_hash, expires_us)),
                IdempotencyClaim::Completed(r) => panic!("nothing was answered: {r:?}"),
            }
        }
        assert_eq!(won, vec![now + LEASE], "exactly one winner for {key}");
        assert_eq!(in_flight.len(), 3);
        // The losers all see the same in-flight record: the winner's.
        assert!(
            in_flight
                .iter()
                .all(|(h, e)| *h == in_flight[0].0 && *e == now + LEASE),
            "{in_flight:?}"
        );
        // Nothing is replayable while the request runs.
        assert_eq!(a.idempotency_get(&key, now).await.unwrap(), None);
    }
}

async fn a_completed_claim_is_the_answer_for_every_replica(db: &TestDb) {
    let a = &db.store;
    let b = db.another().await;
    let now = 5_000_000;
    let won = a.idempotency_claim("k", "h1", now, LEASE).await.unwrap();
    let claim = claim_of(&won).to_string();
    let rec = answer("k", "h1", now + 10);
    assert!(a.idempotency_complete(&claim, &rec).await.unwrap());
    // Another replica's retry (same or different request) finds the answer.
    assert_eq!(
        b.idempotency_claim("k", "h1", now + 20, LEASE)
            .await
            .unwrap(),
        IdempotencyClaim::Completed(rec.clone())
    );
    assert_eq!(
        b.idempotency_claim("k", "other", now + 20, LEASE)
            .await
            .unwrap(),
        IdempotencyClaim::Completed(rec.clone())
    );
    assert_eq!(
        b.idempotency_get("k", now + 20).await.unwrap(),
        Some(rec.clone())
    );
    // The claim ended: completing or releasing it again changes nothing.
    let mut changed = rec.clone();
    changed.status = 500;
    assert!(!a.idempotency_complete(&claim, &changed).await.unwrap());
    assert!(!a.idempotency_release("k", &claim).await.unwrap());
    assert_eq!(b.idempotency_get("k", now + 30).await.unwrap(), Some(rec));
}

async fn a_released_claim_frees_the_key(db: &TestDb) {
    let a = &db.store;
    let b = db.another().await;
    let now = 7_000_000;
    let first = a.idempotency_claim("r", "h1", now, LEASE).await.unwrap();
    let claim = claim_of(&first).to_string();
    assert!(matches!(
        b.idempotency_claim("r", "h1", now + 1, LEASE)
            .await
            .unwrap(),
        IdempotencyClaim::InFlight { .. }
    ));
    // Another claim token cannot release it.
    assert!(!b.idempotency_release("r", "not-the-claim").await.unwrap());
    assert!(a.idempotency_release("r", &claim).await.unwrap());
    assert!(!a.idempotency_release("r", &claim).await.unwrap(), "once");
    // The retry on the other replica now runs.
    let retry = b
        .idempotency_claim("r", "h1", now + 2, LEASE)
        .await
        .unwrap();
    let retry_claim = claim_of(&retry).to_string();
    assert_ne!(retry_claim, claim);
    // The released claim cannot store an answer over the retry's claim.
    assert!(
        !a.idempotency_complete(&claim, &answer("r", "h1", now + 3))
            .await
            .unwrap()
    );
    assert_eq!(a.idempotency_get("r", now + 3).await.unwrap(), None);
}

async fn a_lapsed_lease_lets_a_retry_run_and_fences_the_old_claim(db: &TestDb) {
    let crashed = &db.store;
    let b = db.another().await;
    let now = 9_000_000;
    let old = crashed
        .idempotency_claim("l", "h1", now, LEASE)
        .await
        .unwrap();
    let old_claim = claim_of(&old).to_string();
    // Until the lease ends the key stays in flight (the first replica may still be running).
    assert_eq!(
        b.idempotency_claim("l", "h1", now + LEASE - 1, LEASE)
            .await
            .unwrap(),
        IdempotencyClaim::InFlight {
            request_hash: "h1".into(),
            expires_us: now + LEASE
        }
    );
    // At the end of the lease a retry takes the key over.
    let later = now + LEASE;
    let new = b.idempotency_claim("l", "h1", later, LEASE).await.unwrap();
    assert_eq!(
        new,
        IdempotencyClaim::Won {
            claim: claim_of(&new).to_string(),
            expires_us: later + LEASE
        }
    );
    let new_claim = claim_of(&new).to_string();
    // The old claim is fenced: it can neither answer nor free the key.
    assert!(
        !crashed
            .idempotency_complete(&old_claim, &answer("l", "stale", later))
            .await
            .unwrap()
    );
    assert!(!crashed.idempotency_release("l", &old_claim).await.unwrap());
    let rec = answer("l", "h1", later + 5);
    assert!(b.idempotency_complete(&new_claim, &rec).await.unwrap());
    assert_eq!(
        crashed.idempotency_get("l", later + 6).await.unwrap(),
        Some(rec)
    );

    // A lapsed claim nobody retried is removed by the purge.
    let gone = crashed
        .idempotency_claim("dead", "h", now, LEASE)
        .await
        .unwrap();
    claim_of(&gone);
    assert_eq!(
        crashed
            .idempotency_purge_expired(now + LEASE)
            .await
            .unwrap(),
        1,
        "only the lapsed claim (the answer of `l` is fresh)"
    );
    assert!(matches!(
        b.idempotency_claim("dead", "h", now + LEASE, LEASE)
            .await
            .unwrap(),
        IdempotencyClaim::Won { .. }
    ));
}

async fn an_expired_answer_is_claimed_again(db: &TestDb) {
    let s = &db.store;
    let now = 11_000_000;
    let won = s.idempotency_claim("e", "h1", now, LEASE).await.unwrap();
    let mut rec = answer("e", "h1", now);
    rec.expires_us = now + 1_000;
    assert!(s.idempotency_complete(claim_of(&won), &rec).await.unwrap());
    assert_eq!(
        s.idempotency_claim("e", "h2", now + 999, LEASE)
            .await
            .unwrap(),
        IdempotencyClaim::Completed(rec)
    );
    // Past its TTL (not purged yet) the key is free: the claim replaces the old answer.
    let again = s
        .idempotency_claim("e", "h2", now + 1_000, LEASE)
        .await
        .unwrap();
    claim_of(&again);
    assert_eq!(s.idempotency_get("e", now + 1_000).await.unwrap(), None);
    // A record stored with the old put API is an answer to claims too.
    let put = answer("p", "hp", now);
    assert_eq!(s.idempotency_put(&put).await.unwrap(), put);
    assert_eq!(
        s.idempotency_claim("p", "hp", now + 1, LEASE)
            .await
            .unwrap(),
        IdempotencyClaim::Completed(put)
    );
}

async fn a_renewed_lease_keeps_a_long_request_in_flight(db: &TestDb) {
    let a = &db.store;
    let b = db.another().await;
    let now = 13_000_000;
    let won = a.idempotency_claim("n", "h1", now, LEASE).await.unwrap();
    let claim = claim_of(&won).to_string();
    // The request is still running two thirds into its lease: it renews.
    let renewed_to = now + 2 * LEASE / 3 + LEASE;
    assert!(a.idempotency_renew("n", &claim, renewed_to).await.unwrap());
    // Past the first lease the key is still in flight for a retry on another replica.
    assert_eq!(
        b.idempotency_claim("n", "h1", now + LEASE, LEASE)
            .await
            .unwrap(),
        IdempotencyClaim::InFlight {
            request_hash: "h1".into(),
            expires_us: renewed_to
        }
    );
    // Another claim token renews nothing.
    assert!(
        !b.idempotency_renew("n", "not-the-claim", i64::MAX)
            .await
            .unwrap()
    );
    // Once the renewed lease ends too, the key is taken over and the old claim renews nothing.
    let new = b
        .idempotency_claim("n", "h1", renewed_to, LEASE)
        .await
        .unwrap();
    claim_of(&new);
    assert!(!a.idempotency_renew("n", &claim, i64::MAX).await.unwrap());
}

async fn a_version_1_database_keeps_its_answers_after_migration_2(db: &TestDb) {
    // Put the database back to schema 1 (no `claim` column) with one stored answer, as a
    // gateway of the previous release left it.
    db.store.close().await;
    db.exec("ALTER TABLE idempotency_key DROP COLUMN claim")
        .await;
    db.exec("DELETE FROM gcprov_schema WHERE version = 2").await;
    db.exec(
        "INSERT INTO idempotency_key (key, request_hash, status, response, created_us, expires_us) \
         VALUES ('old', 'h-old', 201, '{}', 100, 9000000000000000)",
    )
    .await;
    let s = db.another().await;
    assert_eq!(s.schema_version().await.unwrap(), 2);
    assert_eq!(
        s.idempotency_claim("old", "h-old", 1_000, LEASE)
            .await
            .unwrap(),
        IdempotencyClaim::Completed(IdempotencyRecord {
            key: "old".into(),
            request_hash: "h-old".into(),
            status: 201,
            response: "{}".into(),
            created_us: 100,
            expires_us: 9_000_000_000_000_000,
        })
    );
    let won = s.idempotency_claim("new", "h", 1_000, LEASE).await.unwrap();
    claim_of(&won);
    s.close().await;
}
