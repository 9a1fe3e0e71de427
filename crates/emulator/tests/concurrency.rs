use crate::common::*;
use serde_json::json;
use std::collections::{HashMap, HashSet};

/// 200 concurrent clients doing mixed writes: versions strictly increase per user, no update is
/// lost, no email is duplicated.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mixed_writes_stay_consistent() {
    let ctx = std::sync::Arc::new(start().await);
    let mut tasks = Vec::new();
    for i in 0..200 {
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move {
            // every client tries to create a user with one of 20 shared emails
            let email = format!("shared{}@example.com", i % 20);
            let r = ctx
                .post(
                    "/api/v2/users",
                    json!({"name": format!("C{i}"), "email": email, "state": "active"}),
                )
                .await;
            let created = r.status() == 200;
            assert!(created || r.status() == 409, "{}", r.status());
            // then applies successful, version-checked title updates to one of the 20 users
            let v = json(
                ctx.post(
                    "/api/v2/users/search",
                    json!({"query": [{"type": "EXACT", "fields": ["email"], "value": email}]}),
                )
                .await,
            )
            .await;
            let Some(id) = v["results"][0]["id"].as_str().map(String::from) else {
                return (created, None, Vec::new());
            };
            let mut versions = Vec::new();
            let mut applied = 0;
            while applied < 3 {
                let u = json(ctx.get(&format!("/api/v2/users/{id}")).await).await;
                let ver = u["version"].as_i64().unwrap();
                let r = ctx
                    .patch(
                        &format!("/api/v2/users/{id}"),
                        json!({"version": ver, "title": format!("t{i}-{applied}")}),
                    )
                    .await;
                match r.status().as_u16() {
                    200 => {
                        let nv = json(r).await["version"].as_i64().unwrap();
                        assert_eq!(nv, ver + 1);
                        versions.push(nv);
                        applied += 1;
                    }
                    409 => {}
                    s => panic!("unexpected {s}"),
                }
            }
            (created, Some(id), versions)
        }));
    }
    let mut created = 0;
    let mut per_user: HashMap<String, Vec<i64>> = HashMap::new();
    for t in tasks {
        let (c, id, versions) = t.await.unwrap();
        created += c as usize;
        if let Some(id) = id {
            per_user.entry(id).or_default().extend(versions);
        }
    }
    assert_eq!(created, 20, "exactly one create per email");
    let all = json(ctx.get("/api/v2/users?state=any&pageSize=500").await).await;
    let emails: Vec<&str> = all["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails.len(), 20);
    assert_eq!(
        emails.iter().collect::<HashSet<_>>().len(),
        20,
        "no duplicate email"
    );
    for u in all["entities"].as_array().unwrap() {
        let id = u["id"].as_str().unwrap();
        let mut vs = per_user.remove(id).unwrap_or_default();
        let n = vs.len();
        vs.sort();
        vs.dedup();
        assert_eq!(vs.len(), n, "no two updates got the same version");
        // 10 clients x 3 updates each, none lost: the final version counts every one.
        assert_eq!(u["version"].as_i64().unwrap(), 1 + n as i64);
        assert_eq!(n, 30);
    }
}
