//! `/readyz`: store and Genesys reachable; a recent Genesys success spares the live call; with
//! Genesys failing the answer is 503 naming it.

use gcprov_emulator::FaultConfig;
use serde_json::Value;

use super::support::*;

async fn readyz(env: &Env) -> (u16, Value) {
    let r = env
        .call(
            "GET",
            &format!("{}/readyz", env.gw.base_url()),
            None,
            None,
            &[],
        )
        .await;
    (r.status, r.body)
}

/// Requests the emulator served for `GET {path}`.
fn gets_of(env: &Env, path: &str) -> u64 {
    env.emu.stats()["byRoute"][format!("GET {path}")]
        .as_u64()
        .unwrap_or(0)
}

const HOME: &str = "/api/v2/authorization/divisions/home";

#[tokio::test]
async fn a_recent_genesys_success_answers_without_a_call() {
    // Default window (30 s): the start-up sync just succeeded.
    let env = start(Opts::default()).await;
    let before = env.emu.stats()["totalRequests"].as_u64();
    for _ in 0..5 {
        let (status, body) = readyz(&env).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["ready"], true);
        assert_eq!(body["genesysCheck"], "recent-call");
    }
    assert_eq!(
        env.emu.stats()["totalRequests"].as_u64(),
        before,
        "no Genesys call"
    );
    env.shutdown().await;
}

#[tokio::test]
async fn without_a_recent_success_one_live_call_is_made() {
    let env = start(Opts {
        cfg: Box::new(|c| {
            c.readiness.genesys_fresh_seconds = 0;
            c.readiness.failure_cache_seconds = 0;
        }),
        ..Default::default()
    })
    .await;
    let before = gets_of(&env, HOME);
    let (status, body) = readyz(&env).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["genesysCheck"], "live-call");
    assert_eq!(gets_of(&env, HOME), before + 1, "exactly one cheap call");
    env.shutdown().await;
}

#[tokio::test]
async fn genesys_failing_is_503_naming_genesys_and_recovers() {
    let env = start(Opts {
        cfg: Box::new(|c| {
            c.readiness.genesys_fresh_seconds = 0;
            c.readiness.failure_cache_seconds = 0;
        }),
        ..Default::default()
    })
    .await;
    env.emu
        .set_faults(FaultConfig {
            error_probability: 1.0,
            error_statuses: vec![500],
            ..Default::default()
        })
        .expect("faults");
    let (status, body) = readyz(&env).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["ready"], false);
    assert_eq!(body["genesys"], false);
    assert_eq!(body["store"], true);
    assert_eq!(body["failed"], serde_json::json!(["genesys"]));
    let detail = body["details"]["genesys"].as_str().unwrap_or_default();
    assert!(detail.contains("HTTP 500"), "{body}");
    env.emu
        .set_faults(FaultConfig::default())
        .expect("faults off");
    let (status, body) = readyz(&env).await;
    assert_eq!(status, 200, "{body}");
    env.shutdown().await;
}

#[tokio::test]
async fn a_failed_check_is_reused_within_the_failure_window() {
    let env = start(Opts {
        cfg: Box::new(|c| {
            c.readiness.genesys_fresh_seconds = 0;
            c.readiness.failure_cache_seconds = 3600;
        }),
        ..Default::default()
    })
    .await;
    env.emu
        .set_faults(FaultConfig {
            error_probability: 1.0,
            error_statuses: vec![500],
            routes: vec![HOME.into()],
            ..Default::default()
        })
        .expect("faults");
    let before = gets_of(&env, HOME);
    let (status, _) = readyz(&env).await;
    assert_eq!(status, 503);
    let after_first = gets_of(&env, HOME);
    assert!(after_first > before, "the first probe made the live call");
    for _ in 0..3 {
        let (status, body) = readyz(&env).await;
        assert_eq!(status, 503);
        assert_eq!(body["genesysCheck"], "cached-failure");
    }
    assert_eq!(gets_of(&env, HOME), after_first, "no call storm");
    env.shutdown().await;
}

#[tokio::test]
async fn genesys_unreachable_is_503() {
    let env = start(Opts {
        cfg: Box::new(|c| {
            c.readiness.genesys_fresh_seconds = 0;
            c.readiness.failure_cache_seconds = 0;
            c.readiness.probe_timeout_seconds = 1;
        }),
        ..Default::default()
    })
    .await;
    let Env {
        gw,
        emu,
        http,
        _dir,
        ..
    } = env;
    emu.shutdown().await;
    let r = http
        .get(format!("{}/readyz", gw.base_url()))
        .send()
        .await
        .expect("readyz");
    assert_eq!(r.status().as_u16(), 503);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["failed"], serde_json::json!(["genesys"]));
    gw.shutdown().await;
}

#[tokio::test]
async fn a_closed_store_is_503_naming_the_store() {
    let env = start(Opts::default()).await;
    env.store.close().await;
    let (status, body) = readyz(&env).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["failed"], serde_json::json!(["store"]));
    assert_eq!(body["genesys"], true);
    env.shutdown().await;
}
