//! The mapping file over a user's lifetime: grants owed by several groups, memberships that
//! existed before gcprov ran (applied at full sync), deactivation and deletion (queues left),
//! and the two group DELETE policies.

use std::collections::BTreeMap;

use futures::StreamExt;
use gcprov_gateway::config::GroupOnDelete;
use gcprov_gateway::{Mode, OnDelete};
use serde_json::{Value, json};

use super::support::*;

/// Two rules sharing the Sales skill (at different levels), the Agent role in Sales and the
/// Sales queue.
const SHARED: &str = r#"
[[group]]
idp_group = "Sales Agents"
roles = [{ role = "Agent", division = "Sales" }]
skills = [{ name = "Sales", proficiency = 4.0 }]
languages = [{ name = "English", proficiency = 5.0 }]
queues = ["Sales"]

[[group]]
idp_group = "Support Agents"
roles = [{ role = "Agent", division = "Sales" }]
skills = [{ name = "Sales", proficiency = 2.0 }, { name = "Technical", proficiency = 3.0 }]
queues = ["Sales", "Support"]
"#;

async fn skills(env: &Env, uid: &str) -> BTreeMap<String, f64> {
    let mut s = env.genesys.list_user_skills(uid);
    let mut out = BTreeMap::new();
    while let Some(k) = s.next().await {
        let k = k.expect("skill");
        out.insert(k.name.unwrap_or_default(), k.proficiency.unwrap_or(-1.0));
    }
    out
}

async fn languages(env: &Env, uid: &str) -> BTreeMap<String, f64> {
    let mut s = env.genesys.list_user_languages(uid);
    let mut out = BTreeMap::new();
    while let Some(k) = s.next().await {
        let k = k.expect("language");
        out.insert(k.name.unwrap_or_default(), k.proficiency.unwrap_or(-1.0));
    }
    out
}

/// `role@division` names of the user's grants.
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

async fn in_queue(env: &Env, queue: &str, uid: &str) -> bool {
    let mut qs = env.genesys.list_queues(Some(queue));
    let mut qid = None;
    while let Some(q) = qs.next().await {
        let q = q.expect("queue");
        if q.name.as_deref() == Some(queue) {
            qid = q.id;
        }
    }
    let qid = qid.expect("queue id");
    let mut ms = env.genesys.list_queue_members(&qid);
    while let Some(m) = ms.next().await {
        let m = m.expect("member");
        if m.id.as_deref() == Some(uid) {
            return true;
        }
    }
    false
}

async fn create_user(env: &Env, name: &str) -> String {
    let r = env
        .post(
            "/Users",
            json!({"userName": format!("{name}@acme.example"), "displayName": name, "active": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().expect("id").to_string()
}

async fn members_op(env: &Env, gid: &str, op: &str, uid: &str) {
    let r = env
        .patch(
            &format!("/Groups/{gid}"),
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                   "Operations": [{"op": op, "path": "members", "value": [{"value": uid}]}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

async fn set_active(env: &Env, uid: &str, active: bool) {
    let r = env
        .patch(
            &format!("/Users/{uid}"),
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                   "Operations": [{"op": "replace", "path": "active", "value": active}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

fn ops(entry: &gcprov_store::AuditEntry) -> Vec<String> {
    entry.detail["genesysCalls"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    format!(
                        "{} {}",
                        c["op"].as_str().unwrap_or(""),
                        c["outcome"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn grants_owed_by_another_group_survive_leaving_one() {
    let env = start(Opts {
        mapping: Some(SHARED),
        ..Default::default()
    })
    .await;
    let uid = create_user(&env, "multi").await;
    let sales = env.group_id("Sales Agents").await;
    let support = env.group_id("Support Agents").await;
    members_op(&env, &sales, "add", &uid).await;
    members_op(&env, &support, "add", &uid).await;
    let both: BTreeMap<String, f64> = [("Sales".into(), 4.0), ("Technical".into(), 3.0)].into();
    assert_eq!(skills(&env, &uid).await, both, "the higher level wins");
    assert_eq!(grants(&env, &uid).await, vec!["Agent@Sales".to_string()]);
    assert!(in_queue(&env, "Sales", &uid).await && in_queue(&env, "Support", &uid).await);

    // Leaving Sales Agents: only what Support Agents does not owe goes; the shared skill
    // drops to the level Support Agents owes.
    members_op(&env, &sales, "remove", &uid).await;
    let rest: BTreeMap<String, f64> = [("Sales".into(), 2.0), ("Technical".into(), 3.0)].into();
    assert_eq!(skills(&env, &uid).await, rest);
    assert!(
        languages(&env, &uid).await.is_empty(),
        "English was owed by Sales Agents only"
    );
    assert_eq!(grants(&env, &uid).await, vec!["Agent@Sales".to_string()]);
    assert!(
        in_queue(&env, "Sales", &uid).await,
        "Support Agents owes the Sales queue too"
    );

    // Leaving both: everything goes.
    members_op(&env, &support, "remove", &uid).await;
    assert!(skills(&env, &uid).await.is_empty());
    assert!(grants(&env, &uid).await.is_empty());
    assert!(!in_queue(&env, "Sales", &uid).await && !in_queue(&env, "Support", &uid).await);
    env.shutdown().await;
}

/// Ada (seeded with Supervisor, Sales 5, English 5) put in Sales Agents in the Genesys admin
/// UI, and a deactivated user put there too.
async fn members_added_outside(env: &Env) -> (String, String, String) {
    let ada = env
        .get(&format!(
            "/Users?filter={}",
            enc("userName eq \"ada@acme.example\"")
        ))
        .await;
    let ada = ada.body["Resources"][0]["id"]
        .as_str()
        .expect("ada")
        .to_string();
    let idle = create_user(env, "idle").await;
    set_active(env, &idle, false).await;
    let sales = env.group_id("Sales Agents").await;
    env.genesys
        .add_group_members(&sales, &[ada.as_str(), idle.as_str()])
        .await
        .expect("add outside gcprov");
    (ada, idle, sales)
}

#[tokio::test]
async fn full_sync_grants_what_existing_members_are_owed_once() {
    let env = start(Opts::default()).await;
    let (ada, idle, _) = members_added_outside(&env).await;
    assert!(!in_queue(&env, "Sales", &ada).await);
    env.gw.service().full_sync().await.expect("sync");

    assert_eq!(
        skills(&env, &ada).await.get("Sales"),
        Some(&4.0),
        "mapping level"
    );
    assert!(
        grants(&env, &ada)
            .await
            .contains(&"Agent@Sales".to_string())
    );
    assert!(in_queue(&env, "Sales", &ada).await);
    assert!(
        !in_queue(&env, "Sales", &idle).await,
        "deactivated: no queue"
    );
    assert!(skills(&env, &idle).await.is_empty(), "deactivated: nothing");
    let audit = env.audit().await;
    let sync: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "mapping.sync")
        .collect();
    assert_eq!(sync.len(), 1, "{sync:?}");
    assert_eq!(sync[0].targets, vec![ada.clone()]);
    assert_eq!(sync[0].actor, "gcprov:sync");
    assert_eq!(
        ops(sync[0]),
        vec![
            "mapping.grant ok".to_string(),
            "scim.users.get ok".to_string()
        ],
        "the grant, then the model's refresh"
    );
    assert_eq!(
        sync[0].detail["result"]["granted"]["queues"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // A second sync finds everyone in line: no write to Genesys, no new entry.
    env.emu.reset_stats();
    env.gw.service().full_sync().await.expect("sync");
    let stats = env.emu.stats();
    let writes: Vec<&String> = stats["byRoute"]
        .as_object()
        .expect("routes")
        .keys()
        .filter(|r| !r.starts_with("GET ") && !r.contains("oauth/token"))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    // No per-user call at all: the mapping step costs the rule resolution and one member
    // listing per mapped queue (Sales, Support), whatever the number of members.
    let routes = stats["byRoute"].as_object().expect("routes");
    assert!(!routes.keys().any(|r| r.contains("{userId}")), "{routes:?}");
    assert_eq!(routes["GET /api/v2/routing/queues/{queueId}/members"], 2);
    let audit = env.audit().await;
    assert_eq!(
        audit.iter().filter(|e| e.action == "mapping.sync").count(),
        1
    );
    env.shutdown().await;
}

#[tokio::test]
async fn full_sync_mapping_in_shadow_mode_records_and_can_be_switched_off() {
    let env = start(Opts {
        cfg: Box::new(|c| c.mode = Mode::Shadow),
        ..Default::default()
    })
    .await;
    let ada = env
        .get(&format!(
            "/Users?filter={}",
            enc("userName eq \"ada@acme.example\"")
        ))
        .await;
    let ada = ada.body["Resources"][0]["id"]
        .as_str()
        .expect("ada")
        .to_string();
    let sales = env.group_id("Sales Agents").await;
    env.genesys
        .add_group_members(&sales, &[ada.as_str()])
        .await
        .expect("add outside gcprov");
    env.gw.service().full_sync().await.expect("sync");
    let audit = env.audit().await;
    let sync: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "mapping.sync")
        .collect();
    assert_eq!(sync.len(), 1);
    assert_eq!(ops(sync[0]), vec!["mapping.grant shadow".to_string()]);
    assert_eq!(
        skills(&env, &ada).await.get("Sales"),
        Some(&5.0),
        "nothing sent"
    );
    assert!(!in_queue(&env, "Sales", &ada).await);
    env.shutdown().await;

    let env = start(Opts {
        cfg: Box::new(|c| c.mapping.apply_on_sync = false),
        ..Default::default()
    })
    .await;
    let (ada, _, _) = members_added_outside(&env).await;
    env.gw.service().full_sync().await.expect("sync");
    assert!(
        !in_queue(&env, "Sales", &ada).await,
        "apply_on_sync = false"
    );
    assert!(env.audit().await.iter().all(|e| e.action != "mapping.sync"));
    env.shutdown().await;
}

#[tokio::test]
async fn deactivated_and_deleted_users_leave_mapped_queues() {
    let env = start(Opts::default()).await;
    let uid = create_user(&env, "leaver").await;
    let sales = env.group_id("Sales Agents").await;
    members_op(&env, &sales, "add", &uid).await;
    assert!(in_queue(&env, "Sales", &uid).await);

    // The model shows the mapped skill (a later PUT carries it instead of clearing it).
    let r = env.get(&format!("/Users/{uid}")).await;
    let ext = &r.body["urn:ietf:params:scim:schemas:extension:genesys:purecloud:2.0:User"];
    assert_eq!(ext["routingSkills"][0]["name"], "Sales", "{}", r.body);
    // active:false (users.on_disable = deactivate): out of the queue, skills kept.
    set_active(&env, &uid, false).await;
    assert!(!in_queue(&env, "Sales", &uid).await);
    assert_eq!(skills(&env, &uid).await.get("Sales"), Some(&4.0));
    let audit = env.audit().await;
    let patch = audit
        .iter()
        .rfind(|e| e.action == "scim.user.patch")
        .expect("patch");
    assert!(
        ops(patch).contains(&"mapping.queues.leave ok".to_string()),
        "{:?}",
        ops(patch)
    );
    // Still a member of the group (Genesys keeps an inactive user's memberships).
    let g = env.get(&format!("/Groups/{sales}")).await;
    assert!(
        g.body["members"]
            .as_array()
            .is_some_and(|m| m.iter().any(|x| x["value"] == uid.as_str()))
    );
    // A full sync does not put a deactivated user back.
    env.gw.service().full_sync().await.expect("sync");
    assert!(!in_queue(&env, "Sales", &uid).await);

    // Reactivated: back in the queue.
    set_active(&env, &uid, true).await;
    assert!(in_queue(&env, "Sales", &uid).await);

    // DELETE (users.on_delete = delete in the test set-up): out of the queue, out of the
    // read model's group.
    assert_eq!(env.delete(&format!("/Users/{uid}")).await.status, 204);
    assert!(!in_queue(&env, "Sales", &uid).await);
    let g = env.get(&format!("/Groups/{sales}")).await;
    let members: &[Value] = g.body["members"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    assert!(
        members.iter().all(|x| x["value"] != uid.as_str()),
        "{}",
        g.body
    );
    let r = env
        .get(&format!(
            "/Groups?filter={}",
            enc(&format!("members.value eq \"{uid}\""))
        ))
        .await;
    assert_eq!(r.body["totalResults"], 0, "{}", r.body);
    let del = env.audit().await;
    let del = del
        .iter()
        .rfind(|e| e.action == "scim.user.delete")
        .expect("delete");
    assert!(
        ops(del).contains(&"mapping.queues.leave ok".to_string()),
        "{:?}",
        ops(del)
    );
    env.shutdown().await;

    // users.on_delete = deactivate: DELETE deactivates, which leaves the queue too.
    let env = start(Opts {
        cfg: Box::new(|c| c.users.on_delete = OnDelete::Deactivate),
        ..Default::default()
    })
    .await;
    let uid = create_user(&env, "soft").await;
    let sales = env.group_id("Sales Agents").await;
    members_op(&env, &sales, "add", &uid).await;
    assert_eq!(env.delete(&format!("/Users/{uid}")).await.status, 204);
    assert!(!in_queue(&env, "Sales", &uid).await);
    assert_eq!(
        env.genesys_user(&uid).await.and_then(|u| u.active),
        Some(false)
    );
    env.shutdown().await;
}

#[tokio::test]
async fn group_delete_removes_the_genesys_group_by_default() {
    let env = start(Opts::default()).await;
    let uid = create_user(&env, "member").await;
    let sales = env.group_id("Sales Agents").await;
    members_op(&env, &sales, "add", &uid).await;
    assert_eq!(env.delete(&format!("/Groups/{sales}")).await.status, 204);
    assert!(
        env.genesys.get_group(&sales).await.is_err(),
        "deleted in Genesys"
    );
    assert!(skills(&env, &uid).await.is_empty(), "mapped grants revoked");
    assert!(!in_queue(&env, "Sales", &uid).await);
    let audit = env.audit().await;
    let e = audit
        .iter()
        .rfind(|e| e.action == "scim.group.delete")
        .expect("entry");
    assert_eq!(e.detail["result"]["onDelete"], "delete");
    env.shutdown().await;
}

#[tokio::test]
async fn group_delete_unlink_keeps_the_genesys_group_and_members() {
    let env = start(Opts {
        cfg: Box::new(|c| c.groups.on_delete = GroupOnDelete::Unlink),
        ..Default::default()
    })
    .await;
    let uid = create_user(&env, "member").await;
    let sales = env.group_id("Sales Agents").await;
    let r = env
        .put(
            &format!("/Groups/{sales}"),
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Sales Agents",
                   "externalId": "entra-sales", "members": [{"value": uid}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(in_queue(&env, "Sales", &uid).await);

    assert_eq!(env.delete(&format!("/Groups/{sales}")).await.status, 204);
    // Genesys keeps the group and its member; the mapped grants are revoked.
    assert!(env.genesys.get_group(&sales).await.is_ok());
    assert_eq!(env.group_members(&sales).await, vec![uid.clone()]);
    assert!(skills(&env, &uid).await.is_empty());
    assert!(!in_queue(&env, "Sales", &uid).await);
    // The IdP's link is gone, and stays gone after a sync.
    assert_eq!(env.get(&format!("/Groups/{sales}")).await.status, 404);
    let link = env
        .store
        .identity_by_idp("scim", "group", "entra-sales")
        .await
        .expect("store");
    assert!(link.is_none());
    env.gw.service().full_sync().await.expect("sync");
    assert_eq!(env.get(&format!("/Groups/{sales}")).await.status, 404);
    assert!(
        !in_queue(&env, "Sales", &uid).await,
        "a hidden group is not re-applied"
    );
    let audit = env.audit().await;
    let e = audit
        .iter()
        .rfind(|e| e.action == "scim.group.delete")
        .expect("entry");
    assert_eq!(e.detail["result"]["onDelete"], "unlink");
    assert!(
        !ops(e).iter().any(|o| o.starts_with("groups.delete")),
        "{:?}",
        ops(e)
    );

    // The IdP creating the group again adopts the same Genesys group.
    let r = env
        .post(
            "/Groups",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Sales Agents",
                   "externalId": "entra-sales-2", "members": [{"value": uid}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["id"], sales.as_str());
    assert!(in_queue(&env, "Sales", &uid).await);
    env.gw.service().full_sync().await.expect("sync");
    assert_eq!(env.get(&format!("/Groups/{sales}")).await.status, 200);
    env.shutdown().await;
}
