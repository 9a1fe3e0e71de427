//! Faults on: the IdP gets success or a retryable error, and no user is lost or duplicated.

use futures::StreamExt;
use gcprov_emulator::FaultConfig;
use serde_json::json;

use super::support::*;

#[tokio::test]
async fn faults_never_lose_or_duplicate_users() {
    let env = start(Opts::default()).await;
    env.emu
        .set_faults(FaultConfig {
            seed: Some(7),
            error_probability: 0.3,
            drop_probability: 0.1,
            max_faults: Some(25),
            routes: vec!["/api/v2/scim".into()],
            ..Default::default()
        })
        .expect("faults");
    let n = 8;
    for i in 0..n {
        let body = json!({"userName": format!("fault.user{i}@acme.example"), "displayName": format!("Fault {i}"),
            "externalId": format!("fault-{i}"), "active": true});
        // An IdP retries retryable answers (bounded here).
        let mut done = false;
        for _ in 0..20 {
            let r = env.post("/Users", body.clone()).await;
            match r.status {
                201 => {
                    done = true;
                    break;
                }
                429 | 500 | 502 | 503 | 504 => continue,
                other => panic!("non-retryable answer {other}: {}", r.body),
            }
        }
        assert!(done, "user {i} never created");
    }
    env.emu
        .set_faults(FaultConfig::default())
        .expect("faults off");
    let mut names = Vec::new();
    let mut s = env.genesys.scim_list_users(None);
    while let Some(u) = s.next().await {
        if let Some(n) = u.expect("list").user_name {
            names.push(n);
        }
    }
    for i in 0..n {
        let name = format!("fault.user{i}@acme.example");
        assert_eq!(
            names.iter().filter(|x| **x == name).count(),
            1,
            "{name} exactly once"
        );
    }
    env.shutdown().await;
}
