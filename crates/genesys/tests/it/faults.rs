//! Fault tests: each asserts the final state and that no create was duplicated.

use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use gcprov_genesys::models::*;
use gcprov_genesys::{GenesysClient, ListUsers};
use serde_json::json;

use super::common::*;

/// Creates `n` users (unique emails) from `tasks` concurrent tasks, then patches each once.
async fn create_and_patch(c: Arc<GenesysClient>, tag: &str, n: usize, tasks: usize) -> Vec<String> {
    let emails: Vec<String> = (0..n).map(|i| email(tag, i)).collect();
    let emails = Arc::new(emails);
    let mut handles = Vec::new();
    for t in 0..tasks {
        let c = c.clone();
        let emails = emails.clone();
        handles.push(tokio::spawn(async move {
            let mut i = t;
            while i < emails.len() {
                let u = c
                    .create_user(&CreateUser {
                        name: format!("Fault {i}"),
                        email: emails[i].clone(),
                        ..Default::default()
                    })
                    .await
                    .unwrap_or_else(|e| panic!("create {i}: {e}"));
                let id = u.id.unwrap();
                // Re-read before patching: the version is what the server has now.
                let cur = c.get_user(&id, &[]).await.unwrap();
                c.update_user(
                    &id,
                    &UpdateUser {
                        version: cur.version.unwrap(),
                        department: Some("Ops".into()),
                        ..Default::default()
                    },
                )
                .await
                .unwrap_or_else(|e| panic!("patch {i}: {e}"));
                i += tasks;
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    emails.to_vec()
}

/// Every email exists exactly once and was patched.
async fn assert_exactly_once(c: &GenesysClient, emails: &[String]) {
    let all: Vec<User> = c
        .list_users(ListUsers {
            page_size: Some(200),
            state: Some("any".into()),
            ..Default::default()
        })
        .try_collect()
        .await
        .unwrap();
    for e in emails {
        let matching: Vec<&User> = all
            .iter()
            .filter(|u| u.email.as_deref() == Some(e.as_str()))
            .collect();
        assert_eq!(matching.len(), 1, "{e} exists {} times", matching.len());
        assert_eq!(
            matching[0].department.as_deref(),
            Some("Ops"),
            "{e} not patched"
        );
    }
}

#[tokio::test]
async fn five_percent_503s() {
    let emu = emulator().await;
    let c = Arc::new(client(&emu));
    c.authenticate().await.unwrap();
    let before = emu.user_count();
    set_faults(&emu, json!({"seed": 7, "errorProbability": 0.05, "errorStatuses": [503], "routes": ["/api/v2/users"]})).await;
    let emails = create_and_patch(c.clone(), "f503", 60, 8).await;
    let s = stats(&emu).await;
    clear_faults(&emu).await;
    assert!(status_count(&s, 503) > 0, "no 503 was injected: {s}");
    assert_eq!(emu.user_count(), before + 60);
    assert_exactly_once(&c, &emails).await;
    emu.shutdown().await;
}

#[tokio::test]
async fn rate_limit_storm_pauses_every_task() {
    let emu = emulator().await;
    let c = Arc::new(client(&emu));
    c.authenticate().await.unwrap();
    reset_stats(&emu).await;
    set_faults(
        &emu,
        json!({"rateLimitStorm": {"requests": 20, "retryAfterSeconds": 1}}),
    )
    .await;
    let started = std::time::Instant::now();
    let emails = create_and_patch(c.clone(), "storm", 24, 8).await;
    // 429s are answered before processing; every task waited at least Retry-After.
    assert!(started.elapsed() >= Duration::from_secs(1));
    let s = stats(&emu).await;
    assert_eq!(status_count(&s, 429), 20, "{s}");
    assert!(c.stats().rate_limit_pauses >= 1);
    clear_faults(&emu).await;
    assert_exactly_once(&c, &emails).await;
    emu.shutdown().await;
}

#[tokio::test]
async fn two_second_latency_spikes_with_a_one_second_timeout() {
    let emu = emulator().await;
    let c = Arc::new(client_with(&emu, |cfg| {
        cfg.request_timeout = Duration::from_secs(1);
    }));
    c.authenticate().await.unwrap();
    let before = emu.user_count();
    set_faults(
        &emu,
        json!({"seed": 11, "latencyMs": 2000, "latencyProbability": 0.1, "maxFaults": 8, "routes": ["/api/v2/users"]}),
    )
    .await;
    let emails = create_and_patch(c.clone(), "slow", 20, 4).await;
    assert!(
        faults_injected(&emu).await > 0,
        "no latency spike was injected"
    );
    clear_faults(&emu).await;
    assert_eq!(
        emu.user_count(),
        before + 20,
        "a create was duplicated or lost"
    );
    assert_exactly_once(&c, &emails).await;
    // Groups too: a create that timed out is found by name, not created twice.
    set_faults(
        &emu,
        json!({"seed": 3, "latencyMs": 2000, "latencyProbability": 1.0, "maxFaults": 1, "routes": ["/api/v2/groups"]}),
    )
    .await;
    let g = c
        .create_group(&GroupCreate::official("Slow Team"))
        .await
        .unwrap();
    clear_faults(&emu).await;
    let groups: Vec<Group> = c.list_groups().try_collect().await.unwrap();
    assert_eq!(
        groups
            .iter()
            .filter(|x| x.name.as_deref() == Some("Slow Team"))
            .count(),
        1
    );
    assert_eq!(
        groups
            .iter()
            .find(|x| x.name.as_deref() == Some("Slow Team"))
            .unwrap()
            .id,
        g.id
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn dropped_connections() {
    let emu = emulator().await;
    let c = Arc::new(client(&emu));
    c.authenticate().await.unwrap();
    let before = emu.user_count();
    set_faults(
        &emu,
        json!({"seed": 5, "dropProbability": 0.1, "maxFaults": 15, "routes": ["/api/v2/users"]}),
    )
    .await;
    let emails = create_and_patch(c.clone(), "drop", 40, 8).await;
    assert!(faults_injected(&emu).await > 0, "no connection was dropped");
    clear_faults(&emu).await;
    assert_eq!(emu.user_count(), before + 40);
    assert_exactly_once(&c, &emails).await;
    emu.shutdown().await;
}

#[tokio::test]
async fn token_revoked_in_the_middle_of_a_run() {
    let emu = emulator().await;
    let c = Arc::new(client(&emu));
    c.authenticate().await.unwrap();
    let before = emu.user_count();
    let first = create_and_patch(c.clone(), "revoke-a", 10, 4).await;
    revoke_all(&emu).await;
    let second = create_and_patch(c.clone(), "revoke-b", 10, 4).await;
    // One re-login for all tasks, not one per task.
    assert_eq!(c.stats().logins, 2);
    assert_eq!(emu.user_count(), before + 20);
    assert_exactly_once(&c, &first).await;
    assert_exactly_once(&c, &second).await;
    let s = stats(&emu).await;
    assert!(status_count(&s, 401) >= 1, "{s}");
    emu.shutdown().await;
}

#[tokio::test]
async fn expired_token_is_replaced_transparently() {
    let emu = emulator().await;
    let c = client(&emu);
    c.get_home_division().await.unwrap();
    // The token the client holds is now past its 24 h lifetime on the emulator clock.
    emu.advance_clock(Duration::from_secs(86_401));
    c.get_home_division().await.unwrap();
    assert_eq!(c.stats().logins, 2);
    let s = stats(&emu).await;
    assert_eq!(status_count(&s, 401), 1, "{s}");
    emu.shutdown().await;
}

#[tokio::test]
async fn retries_are_bounded_and_creates_not_duplicated() {
    let emu = emulator().await;
    let c = client_with(&emu, |cfg| cfg.retry.max_attempts = 3);
    c.authenticate().await.unwrap();
    let u = c
        .create_user(&CreateUser {
            name: "Bounded".into(),
            email: email("bounded", 0),
            ..Default::default()
        })
        .await
        .unwrap();
    let id = u.id.unwrap();
    let before = emu.user_count();
    reset_stats(&emu).await;
    set_faults(
        &emu,
        json!({"errorProbability": 1.0, "errorStatuses": [503], "routes": ["/api/v2/users"]}),
    )
    .await;
    let err = c.get_user(&id, &[]).await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(err.api().unwrap().attempts, 3);
    // A create whose attempt fails ambiguously is only re-sent after a successful lookup.
    let err = c
        .create_user(&CreateUser {
            name: "Never".into(),
            email: email("never", 0),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503));
    let s = stats(&emu).await;
    clear_faults(&emu).await;
    assert_eq!(
        s["byRoute"]["GET /api/v2/users/{userId}"].as_u64(),
        Some(3),
        "{s}"
    );
    // The lookup itself failed (3 attempts), so the create was never re-sent blindly.
    assert_eq!(s["byRoute"]["POST /api/v2/users"].as_u64(), Some(1), "{s}");
    assert_eq!(
        s["byRoute"]["POST /api/v2/users/search"].as_u64(),
        Some(3),
        "{s}"
    );
    assert_eq!(emu.user_count(), before);
    emu.shutdown().await;
}
