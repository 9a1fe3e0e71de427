//! Mapped role grants with divisions at full sync (`mapping.apply_on_sync`): the (role,
//! division) pairs members hold come from one paged subject-grants listing per mapped role,
//! so a member holding the role in another division gets the owed division, and members in
//! line cost no write and no per-user call.

use std::collections::BTreeSet;

use futures::StreamExt;
use serde_json::{Value, json};

use super::support::*;

/// Two mapped roles (Agent in two divisions, Supervisor in one) over two groups.
const TWO_ROLES: &str = r#"
[[group]]
idp_group = "Sales Agents"
roles = [{ role = "Agent", division = "Sales" }]
queues = ["Sales"]

[[group]]
idp_group = "Support Agents"
roles = [{ role = "Agent", division = "Support" }, { role = "Supervisor", division = "Support" }]
"#;

const SUBJECT_GRANTS: &str = "GET /api/v2/authorization/roles/{roleId}/subjectgrants";

/// `role@division` names of the user's grants, sorted.
async fn grants(env: &Env, uid: &str) -> Vec<String> {
    let s = env.genesys.get_subject(uid).await.expect("subject");
    let mut out: Vec<String> = s
        .grants
        .unwrap_or_default()
        .into_iter()
        .map(|g| {
            format!(
                "{}@{}",
                g.role.and_then(|r| r.name).unwrap_or_default(),
                g.division.and_then(|d| d.name).unwrap_or_default()
            )
        })
        .collect();
    out.sort();
    out
}

async fn user_id(env: &Env, user_name: &str) -> String {
    let r = env
        .get(&format!(
            "/Users?filter={}",
            enc(&format!("userName eq \"{user_name}\""))
        ))
        .await;
    r.body["Resources"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{user_name}: {}", r.body))
        .to_string()
}

async fn division_id(env: &Env, name: &str) -> String {
    let mut s = env.genesys.list_divisions();
    while let Some(d) = s.next().await {
        let d = d.expect("division");
        if d.name.as_deref() == Some(name) {
            return d.id.expect("division id");
        }
    }
    panic!("no division {name}")
}

fn route_count(stats: &Value, route: &str) -> u64 {
    stats["byRoute"][route].as_u64().unwrap_or(0)
}

fn writes(stats: &Value) -> Vec<String> {
    stats["byRoute"]
        .as_object()
        .expect("routes")
        .keys()
        .filter(|r| !r.starts_with("GET ") && !r.contains("oauth/token"))
        .cloned()
        .collect()
}

#[tokio::test]
async fn full_sync_grants_the_owed_division_of_a_role_held_elsewhere() {
    let env = start(Opts {
        mapping: Some(TWO_ROLES),
        ..Default::default()
    })
    .await;
    let grace = user_id(&env, "grace@acme.example").await;
    let ada = user_id(&env, "ada@acme.example").await;
    // The premise: both hold their seeded role in the home division only.
    assert_eq!(grants(&env, &grace).await, vec!["Agent@Home".to_string()]);
    assert_eq!(
        grants(&env, &ada).await,
        vec!["Supervisor@Home".to_string()]
    );

    // A member added through the gateway is in line before the sync.
    let r = env
        .post(
            "/Users",
            json!({"userName": "inline@acme.example", "displayName": "inline", "active": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let inline = r.body["id"].as_str().expect("id").to_string();
    let sales = env.group_id("Sales Agents").await;
    let support = env.group_id("Support Agents").await;
    let r = env
        .patch(
            &format!("/Groups/{sales}"),
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                   "Operations": [{"op": "add", "path": "members", "value": [{"value": inline}]}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(grants(&env, &inline).await, vec!["Agent@Sales".to_string()]);

    // Grace (Agent in Home) and Ada (Supervisor in Home) put in mapped groups outside gcprov:
    // they hold the mapped roles' names, but not in the rules' divisions.
    env.genesys
        .add_group_members(&sales, &[grace.as_str()])
        .await
        .expect("add outside gcprov");
    env.genesys
        .add_group_members(&support, &[ada.as_str()])
        .await
        .expect("add outside gcprov");

    env.emu.reset_stats();
    env.gw.service().full_sync().await.expect("sync");
    let stats = env.emu.stats();

    // The owed divisions are granted; the other division's grant stays (sync never revokes).
    assert_eq!(
        grants(&env, &grace).await,
        vec!["Agent@Home".to_string(), "Agent@Sales".to_string()]
    );
    assert_eq!(
        grants(&env, &ada).await,
        vec![
            "Agent@Support".to_string(),
            "Supervisor@Home".to_string(),
            "Supervisor@Support".to_string()
        ]
    );
    assert_eq!(grants(&env, &inline).await, vec!["Agent@Sales".to_string()]);

    // One subject-grants listing per mapped role (Agent, Supervisor: one page each), no read
    // per user to judge (the only per-user GETs are the model refreshes of the two users
    // granted), one grant per user out of line and none for the member in line.
    assert_eq!(route_count(&stats, SUBJECT_GRANTS), 2, "{stats}");
    let routes = stats["byRoute"].as_object().expect("routes");
    let per_user: Vec<(&String, &Value)> = routes
        .iter()
        .filter(|(r, _)| r.starts_with("GET ") && r.contains("{userId}"))
        .collect();
    assert_eq!(
        per_user,
        vec![(&"GET /api/v2/scim/v2/users/{userId}".to_string(), &json!(2))],
        "{routes:?}"
    );
    let bulkadds: u64 = routes
        .iter()
        .filter(|(r, _)| r.contains("/bulkadd"))
        .map(|(_, n)| n.as_u64().unwrap_or(0))
        .sum();
    assert_eq!(bulkadds, 2, "{routes:?}");

    let audit = env.audit().await;
    let sync: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "mapping.sync")
        .collect();
    let targets: BTreeSet<String> = sync.iter().flat_map(|e| e.targets.clone()).collect();
    assert_eq!(targets, [grace.clone(), ada.clone()].into(), "{sync:?}");
    let sales_division = division_id(&env, "Sales").await;
    let graces = sync
        .iter()
        .find(|e| e.targets == vec![grace.clone()])
        .expect("grace's entry");
    assert_eq!(
        graces.detail["result"]["granted"]["roles"],
        json!([format!("Agent@{sales_division}")]),
        "the owed pair only"
    );

    // A second sync finds everyone in line: only GETs, the same two listings, no new entry.
    env.emu.reset_stats();
    env.gw.service().full_sync().await.expect("sync");
    let stats = env.emu.stats();
    assert!(writes(&stats).is_empty(), "{:?}", writes(&stats));
    assert_eq!(route_count(&stats, SUBJECT_GRANTS), 2, "{stats}");
    let routes = stats["byRoute"].as_object().expect("routes");
    assert!(!routes.keys().any(|r| r.contains("{userId}")), "{routes:?}");
    assert_eq!(
        env.audit()
            .await
            .iter()
            .filter(|e| e.action == "mapping.sync")
            .count(),
        2
    );
    env.shutdown().await;
}

/// The Agent role alone, in the Sales division.
const AGENT_IN_SALES: &str = r#"
[[group]]
idp_group = "Sales Agents"
roles = [{ role = "Agent", division = "Sales" }]
"#;

#[tokio::test]
async fn role_holders_over_several_pages_cost_one_read_per_page() {
    let env = start(Opts {
        mapping: Some(AGENT_IN_SALES),
        ..Default::default()
    })
    .await;
    let sales_division = division_id(&env, "Sales").await;
    let agent = {
        let mut s = env.genesys.list_roles(Some("Agent"));
        let mut id = None;
        while let Some(r) = s.next().await {
            let r = r.expect("role");
            if r.name.as_deref() == Some("Agent") {
                id = r.id;
            }
        }
        id.expect("Agent")
    };
    // 110 members already holding Agent in Sales, named so they sort before Grace: Grace
    // (Agent in Home) is on the listing's second page.
    let mut bulk = Vec::new();
    for i in 0..110 {
        let u = env
            .genesys
            .create_user(&gcprov_genesys::models::CreateUser {
                name: format!("bulk-{i:03}"),
                email: format!("bulk-{i:03}@acme.example"),
                ..Default::default()
            })
            .await
            .expect("create");
        let uid = u.id.expect("id");
        env.genesys
            .add_grants(
                &uid,
                gcprov_genesys::models::SubjectType::User,
                &[gcprov_genesys::models::RoleDivisionPair {
                    role_id: agent.clone(),
                    division_id: sales_division.clone(),
                }],
            )
            .await
            .expect("grant");
        bulk.push(uid);
    }
    let grace = user_id(&env, "grace@acme.example").await;
    let sales = env.group_id("Sales Agents").await;
    let mut members: Vec<&str> = bulk.iter().map(String::as_str).collect();
    members.push(&grace);
    env.genesys
        .add_group_members(&sales, &members)
        .await
        .expect("add outside gcprov");
    let holders = env
        .genesys
        .list_role_subject_grants(&agent)
        .collect::<Vec<_>>()
        .await
        .len();
    assert!(holders > 100 && holders % 100 != 0, "{holders}");

    env.emu.reset_stats();
    env.gw.service().full_sync().await.expect("sync");
    let stats = env.emu.stats();
    assert_eq!(
        route_count(&stats, SUBJECT_GRANTS),
        holders.div_ceil(100) as u64,
        "one read per page of the one mapped role"
    );
    assert_eq!(
        grants(&env, &grace).await,
        vec!["Agent@Home".to_string(), "Agent@Sales".to_string()]
    );
    // Only Grace was out of line: one grant, one audit entry.
    assert_eq!(
        route_count(
            &stats,
            "POST /api/v2/authorization/subjects/{subjectId}/bulkadd"
        ),
        1,
        "{stats}"
    );
    let audit = env.audit().await;
    let sync: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "mapping.sync")
        .collect();
    assert_eq!(sync.len(), 1, "{sync:?}");
    assert_eq!(sync[0].targets, vec![grace.clone()]);
    env.shutdown().await;
}
