use crate::common::*;
use gcprov_emulator::{EmulatorConfig, Seed, SeedDivision, SeedRole};
use serde_json::json;

#[tokio::test]
async fn skills_languages_and_user_assignments() {
    let ctx = start().await;
    let r = ctx
        .post("/api/v2/routing/skills", json!({"name": "Billing"}))
        .await;
    assert_eq!(r.status(), 200);
    let skill = json(r).await;
    assert_eq!(skill["state"], "active");
    let sid = skill["id"].as_str().unwrap();
    let r = ctx
        .post("/api/v2/routing/skills", json!({"name": "billing"}))
        .await;
    assert_eq!(r.status(), 409);
    assert_eq!(json(r).await["code"], "general.conflict");
    let lang = json(
        ctx.post("/api/v2/routing/languages", json!({"name": "French"}))
            .await,
    )
    .await;
    let lid = lang["id"].as_str().unwrap();
    let list = json(ctx.get("/api/v2/routing/skills?name=Bil").await).await;
    assert_eq!(list["total"], 1);

    let u = ctx.user("Agent", "agent@example.com").await;
    let uid = u["id"].as_str().unwrap();
    let r = ctx
        .post(
            &format!("/api/v2/users/{uid}/routingskills"),
            json!({"id": sid, "proficiency": 3.5}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["proficiency"], 3.5);
    let r = ctx
        .post(
            &format!("/api/v2/users/{uid}/routingskills"),
            json!({"id": sid, "proficiency": 7}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let r = ctx
        .put(
            &format!("/api/v2/users/{uid}/routingskills/{sid}"),
            json!({"proficiency": 4}),
        )
        .await;
    assert_eq!(json(r).await["proficiency"], 4.0);
    let l = json(ctx.get(&format!("/api/v2/users/{uid}/routingskills")).await).await;
    assert_eq!(l["total"], 1);
    let bulk: Vec<_> = (0..51)
        .map(|_| json!({"id": sid, "proficiency": 1}))
        .collect();
    assert_eq!(
        ctx.patch(
            &format!("/api/v2/users/{uid}/routingskills/bulk"),
            json!(bulk)
        )
        .await
        .status(),
        400
    );
    let r = ctx
        .put(
            &format!("/api/v2/users/{uid}/routingskills/bulk"),
            json!([]),
        )
        .await;
    assert_eq!(json(r).await["total"], 0);
    let r = ctx
        .patch(
            &format!("/api/v2/users/{uid}/routingskills/bulk"),
            json!([{"id": sid, "proficiency": 2}]),
        )
        .await;
    assert_eq!(json(r).await["total"], 1);
    assert_eq!(
        ctx.delete(&format!("/api/v2/users/{uid}/routingskills/{sid}"))
            .await
            .status(),
        200
    );

    let r = ctx
        .post(
            &format!("/api/v2/users/{uid}/routinglanguages"),
            json!({"id": lid, "proficiency": 5}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let e = json(
        ctx.get(&format!("/api/v2/users/{uid}?expand=languages,skills"))
            .await,
    )
    .await;
    assert_eq!(e["languages"][0]["name"], "French");
    assert_eq!(e["skills"], json!([]));
    assert_eq!(
        ctx.delete(&format!("/api/v2/users/{uid}/routinglanguages/{lid}"))
            .await
            .status(),
        204
    );
    assert_eq!(
        ctx.delete(&format!("/api/v2/routing/skills/{sid}"))
            .await
            .status(),
        200
    );
    assert_eq!(
        ctx.get(&format!("/api/v2/routing/skills/{sid}"))
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn queues_and_membership() {
    let ctx = start().await;
    let qs = json(ctx.get("/api/v2/routing/queues").await).await;
    assert_eq!(qs["total"], 2);
    let qid = qs["entities"][0]["id"].as_str().unwrap().to_owned();
    let u = ctx.user("Q", "q@example.com").await;
    let uid = u["id"].as_str().unwrap();
    let r = ctx
        .post(
            &format!("/api/v2/routing/queues/{qid}/members"),
            json!([{"id": uid}]),
        )
        .await;
    assert!(r.status().is_success());
    let m = json(
        ctx.get(&format!("/api/v2/routing/queues/{qid}/members"))
            .await,
    )
    .await;
    assert_eq!(m["total"], 1);
    assert_eq!(m["entities"][0]["joined"], true);
    let r = ctx
        .patch(
            &format!("/api/v2/users/{uid}/queues"),
            json!([{"id": qid, "joined": false}]),
        )
        .await;
    assert_eq!(r.status(), 200);
    let uq = json(ctx.get(&format!("/api/v2/users/{uid}/queues")).await).await;
    assert_eq!(uq["total"], 0, "joined=true is the default filter");
    assert_eq!(
        ctx.get(&format!("/api/v2/routing/queues/{qid}/members/nope"))
            .await
            .status(),
        405
    );
    assert_eq!(
        ctx.delete(&format!("/api/v2/routing/queues/{qid}/members/{uid}"))
            .await
            .status(),
        204
    );
}

#[tokio::test]
async fn roles_grants_and_divisions() {
    let ctx = start().await;
    let roles = json(ctx.get("/api/v2/authorization/roles").await).await;
    let admin = roles["entities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "Emulator Admin")
        .unwrap()
        .clone();
    let rid = admin["id"].as_str().unwrap();
    let role = json(ctx.get(&format!("/api/v2/authorization/roles/{rid}")).await).await;
    assert_eq!(role["permissions"], json!(["*"]));
    let home = json(ctx.get("/api/v2/authorization/divisions/home").await).await;
    assert_eq!(home["homeDivision"], true);
    let did = home["id"].as_str().unwrap();
    assert_eq!(
        json(ctx.get("/api/v2/authorization/divisions").await).await["total"],
        1
    );
    let u = ctx.user("R", "r@example.com").await;
    let uid = u["id"].as_str().unwrap();
    let r = ctx
        .put(&format!("/api/v2/users/{uid}/roles"), json!([rid]))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["roles"][0]["id"], rid);
    let g = json!({"grants": [{"roleId": rid, "divisionId": did}]});
    assert_eq!(
        ctx.post(
            &format!("/api/v2/authorization/subjects/{uid}/bulkremove"),
            g.clone()
        )
        .await
        .status(),
        204
    );
    let s = json(
        ctx.get(&format!("/api/v2/authorization/subjects/{uid}"))
            .await,
    )
    .await;
    assert_eq!(s["grants"], json!([]));
    assert_eq!(
        ctx.post(
            &format!("/api/v2/authorization/subjects/{uid}/bulkadd"),
            g.clone()
        )
        .await
        .status(),
        204
    );
    assert_eq!(
        ctx.post(
            &format!("/api/v2/authorization/subjects/{uid}/bulkreplace"),
            g
        )
        .await
        .status(),
        204
    );
    let s = json(
        ctx.get(&format!("/api/v2/authorization/subjects/{uid}"))
            .await,
    )
    .await;
    assert_eq!(s["grants"][0]["role"]["id"], rid);
    let a = json(
        ctx.get(&format!("/api/v2/users/{uid}?expand=authorization"))
            .await,
    )
    .await;
    assert_eq!(a["authorization"]["permissions"], json!(["*"]));
}

#[tokio::test]
async fn external_ids() {
    let ctx = start().await;
    let u = ctx.user("E", "e@example.com").await;
    let uid = u["id"].as_str().unwrap();
    let r = ctx
        .post(
            &format!("/api/v2/users/{uid}/externalid"),
            json!({"authorityName": "hr", "externalKey": "42"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await[0]["externalKey"], "42");
    let v = json(ctx.get("/api/v2/users/externalid/hr/42").await).await;
    assert_eq!(v["id"], uid);
    assert_eq!(
        ctx.get("/api/v2/users/externalid/HR/42").await.status(),
        404,
        "case-sensitive"
    );
    let other = ctx.user("F", "f@example.com").await;
    let r = ctx
        .post(
            &format!("/api/v2/users/{}/externalid", other["id"].as_str().unwrap()),
            json!({"authorityName": "hr", "externalKey": "42"}),
        )
        .await;
    assert_eq!(r.status(), 409);
    assert_eq!(
        ctx.delete(&format!("/api/v2/users/{uid}/externalid/hr/42"))
            .await
            .status(),
        204
    );
    assert_eq!(
        ctx.get("/api/v2/users/externalid/hr/42").await.status(),
        404
    );
}

#[tokio::test]
async fn single_grants_and_role_users() {
    let ctx = start().await;
    let roles = json(ctx.get("/api/v2/authorization/roles").await).await;
    let rid = roles["entities"][0]["id"].as_str().unwrap().to_owned();
    let did = json(ctx.get("/api/v2/authorization/divisions/home").await).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let u = ctx.user("G", "g@example.com").await;
    let uid = u["id"].as_str().unwrap();
    let path = format!("/api/v2/authorization/subjects/{uid}/divisions/{did}/roles/{rid}");
    assert_eq!(
        ctx.req(reqwest::Method::POST, &path, None).await.status(),
        204
    );
    let users = json(
        ctx.get(&format!("/api/v2/authorization/roles/{rid}/users"))
            .await,
    )
    .await;
    assert_eq!(users["total"], 1);
    assert_eq!(ctx.delete(&path).await.status(), 204);
    assert_eq!(
        json(
            ctx.get(&format!("/api/v2/authorization/roles/{rid}/users"))
                .await
        )
        .await["total"],
        0
    );
    let r = ctx
        .put(
            &format!("/api/v2/authorization/roles/{rid}/users/add"),
            json!([uid]),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        json(ctx.get(&format!("/api/v2/users/{uid}/roles")).await).await["roles"][0]["id"],
        rid.as_str()
    );
    assert_eq!(
        ctx.put(
            &format!("/api/v2/authorization/roles/{rid}/users/remove"),
            json!([uid])
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        json(ctx.get(&format!("/api/v2/users/{uid}/roles")).await).await["roles"],
        json!([])
    );
}

#[tokio::test]
async fn role_subject_grants_list_holders_with_their_divisions() {
    let ctx = start_with(EmulatorConfig {
        rate_limit_per_minute: None,
        seed: Some(Seed {
            divisions: vec![
                SeedDivision {
                    name: "Home".into(),
                    home: true,
                    ..Default::default()
                },
                SeedDivision {
                    name: "Sales".into(),
                    ..Default::default()
                },
            ],
            roles: vec![SeedRole {
                name: "Supervisor".into(),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    })
    .await;
    let roles = json(ctx.get("/api/v2/authorization/roles?name=Supervisor").await).await;
    let rid = roles["entities"][0]["id"].as_str().unwrap().to_string();
    let divs = json(ctx.get("/api/v2/authorization/divisions").await).await;
    let div = |n: &str| {
        divs["entities"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == n)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (home, sales) = (div("Home"), div("Sales"));
    let u = ctx.user("Zed", "zed@example.com").await;
    let uid = u["id"].as_str().unwrap();
    let g = json!({"grants": [{"roleId": rid, "divisionId": home}, {"roleId": rid, "divisionId": sales}]});
    let r = ctx
        .post(&format!("/api/v2/authorization/subjects/{uid}/bulkadd"), g)
        .await;
    assert_eq!(r.status(), 204);
    let l = json(
        ctx.get(&format!(
            "/api/v2/authorization/roles/{rid}/subjectgrants?pageSize=10"
        ))
        .await,
    )
    .await;
    assert_eq!(l["total"], 1);
    assert_eq!(l["pageCount"], 1);
    let e = &l["entities"][0];
    assert_eq!(e["id"], uid);
    assert_eq!(e["type"], "PC_USER");
    let mut got: Vec<&str> = e["divisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    got.sort();
    assert_eq!(got, vec!["Home", "Sales"]);
    assert_eq!(
        ctx.get("/api/v2/authorization/roles/00000000-0000-4000-8000-000000000000/subjectgrants")
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn division_object_moves_change_the_division_and_version() {
    let ctx = start_with(EmulatorConfig {
        rate_limit_per_minute: None,
        seed: Some(Seed {
            divisions: vec![
                SeedDivision {
                    name: "Home".into(),
                    home: true,
                    ..Default::default()
                },
                SeedDivision {
                    name: "Sales".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }),
        ..Default::default()
    })
    .await;
    let divs = json(ctx.get("/api/v2/authorization/divisions?name=Sales").await).await;
    let sales = divs["entities"][0]["id"].as_str().unwrap().to_string();
    let u = ctx.user("Mo", "mo@example.com").await;
    let uid = u["id"].as_str().unwrap();
    let v0 = u["version"].as_i64().unwrap();
    let path = format!("/api/v2/authorization/divisions/{sales}/objects/USER");
    assert_eq!(ctx.post(&path, json!([uid])).await.status(), 204);
    let after = json(ctx.get(&format!("/api/v2/users/{uid}")).await).await;
    assert_eq!(after["division"]["id"], sales.as_str());
    assert_eq!(after["version"].as_i64().unwrap(), v0 + 1);
    // Moving into the same division again changes nothing.
    assert_eq!(ctx.post(&path, json!([uid])).await.status(), 204);
    let again = json(ctx.get(&format!("/api/v2/users/{uid}")).await).await;
    assert_eq!(again["version"].as_i64().unwrap(), v0 + 1);
    // An unknown user moves nobody; other object types and unknown divisions are refused.
    let r = ctx
        .post(&path, json!([uid, "00000000-0000-4000-8000-000000000000"]))
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        ctx.post(
            &format!("/api/v2/authorization/divisions/{sales}/objects/QUEUE"),
            json!([uid])
        )
        .await
        .status(),
        400
    );
    assert_eq!(
        ctx.post(
            "/api/v2/authorization/divisions/00000000-0000-4000-8000-000000000000/objects/USER",
            json!([uid])
        )
        .await
        .status(),
        404
    );
}
