//! The call recorder: every HTTP attempt inside a scope, nothing outside, scopes kept apart.

use futures::TryStreamExt;
use gcprov_genesys::CallRecorder;
use serde_json::json;

use super::common::*;

#[tokio::test]
async fn each_attempt_is_recorded_with_its_correlation_id() {
    let emu = emulator().await;
    let c = client(&emu);
    c.authenticate().await.expect("login");
    assert!(
        c.since_last_success().is_none(),
        "a login is not an API call"
    );
    // The next two API requests to the divisions routes fail with 503; the client retries.
    set_faults(
        &emu,
        json!({"errorProbability": 1.0, "errorStatuses": [503], "maxFaults": 2,
               "routes": ["/api/v2/authorization/divisions"]}),
    )
    .await;
    let rec = CallRecorder::new();
    let home = rec
        .scope(c.get_home_division())
        .await
        .expect("home division after retries");
    assert!(home.id.is_some());
    let calls = rec.calls();
    let statuses: Vec<Option<u16>> = calls.iter().map(|c| c.status).collect();
    assert_eq!(statuses, vec![Some(503), Some(503), Some(200)]);
    let attempts: Vec<u32> = calls.iter().map(|c| c.attempt).collect();
    assert_eq!(attempts, vec![1, 2, 3]);
    assert!(
        calls
            .iter()
            .all(|c| c.method == "GET" && c.path == "/api/v2/authorization/divisions/home")
    );
    let mut ids: Vec<&str> = calls
        .iter()
        .map(|c| {
            c.correlation_id
                .as_deref()
                .expect("correlation id on every response")
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "one correlation id per attempt");
    assert!(c.since_last_success().is_some());
    emu.shutdown().await;
}

#[tokio::test]
async fn nothing_is_recorded_outside_a_scope() {
    let emu = emulator().await;
    let c = client(&emu);
    let rec = CallRecorder::new();
    rec.scope(c.get_home_division()).await.expect("in scope");
    assert!(CallRecorder::current().is_none());
    c.get_home_division().await.expect("outside");
    let again = rec.scope(async { CallRecorder::current().is_some() }).await;
    assert!(again);
    assert_eq!(
        rec.calls().len(),
        1,
        "the call outside the scope was not recorded"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn concurrent_scopes_do_not_mix() {
    let emu = emulator().await;
    let c = client(&emu);
    let home = c.get_home_division().await.expect("home");
    let home_id = home.id.expect("home id");
    let (a, b) = (CallRecorder::new(), CallRecorder::new());
    // Interleaved on one task (join!) and on another task (spawn): each scope sees its own.
    let ca = c.clone();
    let fa = a.scope(async move {
        for _ in 0..5 {
            ca.get_home_division().await.expect("a");
            tokio::task::yield_now().await;
        }
    });
    let cb = c.clone();
    let id = home_id.clone();
    let fb = b.scope(async move {
        for _ in 0..5 {
            cb.get_division(&id).await.expect("b");
            tokio::task::yield_now().await;
        }
    });
    let s = CallRecorder::new();
    let cs = c.clone();
    let spawned = tokio::spawn({
        let s = s.clone();
        async move {
            s.scope(async move {
                for _ in 0..5 {
                    let all: Vec<_> = cs.list_divisions().try_collect().await.expect("s");
                    assert!(!all.is_empty());
                }
            })
            .await
        }
    });
    tokio::join!(fa, fb);
    spawned.await.expect("spawned task");
    let (ca, cb, cs) = (a.calls(), b.calls(), s.calls());
    assert_eq!((ca.len(), cb.len(), cs.len()), (5, 5, 5));
    assert!(
        ca.iter()
            .all(|x| x.path == "/api/v2/authorization/divisions/home")
    );
    let b_path = format!("/api/v2/authorization/divisions/{home_id}");
    assert!(cb.iter().all(|x| x.path == b_path));
    assert!(
        cs.iter()
            .all(|x| x.path == "/api/v2/authorization/divisions")
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn a_resend_after_re_login_is_one_more_attempt() {
    let emu = emulator().await;
    let c = client(&emu);
    c.get_home_division().await.expect("first call");
    revoke_all(&emu).await;
    let rec = CallRecorder::new();
    rec.scope(c.get_home_division())
        .await
        .expect("after re-login");
    let seen: Vec<(Option<u16>, u32)> = rec.calls().iter().map(|c| (c.status, c.attempt)).collect();
    assert_eq!(seen, vec![(Some(401), 1), (Some(200), 2)]);
    emu.shutdown().await;
}
