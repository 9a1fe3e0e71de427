//! Two gateway replicas on one emulator and one PostgreSQL store (schema): a group or
//! membership change made through one is visible through the other without a full sync, by
//! the store's change notifications. Needs PostgreSQL at `GCPROV_TEST_POSTGRES_URL` (default
//! postgres://postgres@127.0.0.1:5432/test); fails, never skips, without it.

use std::sync::Arc;

use gcprov_emulator::EmulatorHandle;
use gcprov_gateway::{Gateway, Service};
use serde_json::{Value, json};

use super::support::*;

/// One replica: a gateway with its own store handle (pool, writer, listener).
struct Replica {
    gw: Gateway,
    http: reqwest::Client,
}

impl Replica {
    async fn start(emu: &EmulatorHandle, schema: &str) -> Replica {
        let (gw, _store) = pg_replica(schema, client_config(emu), |cfg| {
            cfg.users.on_delete = gcprov_gateway::OnDelete::Delete;
            // No scheduled sync: only the notifications can carry the other replica's changes.
            cfg.sync.interval_seconds = 0;
        })
        .await;
        Replica {
            gw,
            http: reqwest::Client::new(),
        }
    }

    fn svc(&self) -> &Arc<Service> {
        self.gw.service()
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut r = self
            .http
            .request(m, format!("{}{}", self.gw.scim_url(), path))
            .bearer_auth(PROVISIONER);
        if let Some(b) = body {
            r = r
                .header("content-type", "application/scim+json")
                .body(b.to_string());
        }
        let resp = r.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// The ids in a user's `groups` attribute as this replica serves it.
    async fn user_groups(&self, uid: &str) -> Vec<(String, String)> {
        let (st, body) = self.call("GET", &format!("/Users/{uid}"), None).await;
        assert_eq!(st, 200, "{body}");
        body["groups"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|g| {
                        (
                            g["value"].as_str().unwrap_or_default().to_string(),
                            g["display"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until `cond` holds on this replica: checks, and otherwise waits for the replica to
    /// handle its next store notification, a bounded number of times. The timeout only turns a
    /// notification that never comes into a failure instead of a hang.
    async fn until<F, Fut>(&self, what: &str, mut cond: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let mut handled = self.svc().model_changes_handled();
        for _ in 0..200 {
            handled.borrow_and_update();
            if cond().await {
                return;
            }
            tokio::time::timeout(std::time::Duration::from_secs(30), handled.changed())
                .await
                .unwrap_or_else(|_| panic!("{what}: no store notification handled in 30 s"))
                .expect("the replica's service is alive");
        }
        panic!("{what}: not true after 200 notifications");
    }
}

async fn two_replicas() -> (EmulatorHandle, String, Replica, Replica) {
    let emu = demo_emulator().await;
    let schema = new_pg_schema().await;
    let a = Replica::start(&emu, &schema).await;
    let b = Replica::start(&emu, &schema).await;
    (emu, schema, a, b)
}

async fn stop(emu: EmulatorHandle, schema: String, a: Replica, b: Replica) {
    a.gw.shutdown().await;
    b.gw.shutdown().await;
    emu.shutdown().await;
    drop_pg_schema(&schema).await;
}

fn ids(body: &Value) -> Vec<String> {
    body["Resources"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn member_ids(group: &Value) -> Vec<String> {
    group["members"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["value"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_changes_through_one_replica_show_on_the_other() {
    let (emu, schema, a, b) = two_replicas().await;

    let (st, user) = a
        .call(
            "POST",
            "/Users",
            Some(json!({"userName": "replica.user@acme.example", "displayName": "Rep Lica", "active": true})),
        )
        .await;
    assert_eq!(st, 201, "{user}");
    let uid = user["id"].as_str().expect("user id").to_string();
    assert!(b.user_groups(&uid).await.is_empty());

    // Create a group with the user through A.
    let (st, g) = a
        .call(
            "POST",
            "/Groups",
            Some(json!({"displayName": "Replica Team", "members": [{"value": uid}]})),
        )
        .await;
    assert_eq!(st, 201, "{g}");
    let gid = g["id"].as_str().expect("group id").to_string();

    // B reads groups from the store: visible at once, by id, by indexed filter, by a scan.
    let (st, got) = b.call("GET", &format!("/Groups/{gid}"), None).await;
    assert_eq!(st, 200, "{got}");
    assert_eq!(member_ids(&got), vec![uid.clone()]);
    let f = enc("displayName eq \"replica team\"");
    let (st, list) = b.call("GET", &format!("/Groups?filter={f}"), None).await;
    assert_eq!((st, ids(&list)), (200, vec![gid.clone()]), "{list}");
    let f = enc("displayName co \"Replica\"");
    let (st, list) = b.call("GET", &format!("/Groups?filter={f}"), None).await;
    assert_eq!((st, ids(&list)), (200, vec![gid.clone()]), "{list}");

    // The user's `groups` attribute comes from B's memory: the notification updates it.
    b.until("B shows the new membership", || async {
        b.user_groups(&uid).await == vec![(gid.clone(), "Replica Team".to_string())]
    })
    .await;
    let f = enc(&format!("groups.value eq \"{gid}\""));
    let (st, list) = b.call("GET", &format!("/Users?filter={f}"), None).await;
    assert_eq!((st, ids(&list)), (200, vec![uid.clone()]), "{list}");

    // Rename and remove the member through A.
    let (st, body) = a
        .call(
            "PATCH",
            &format!("/Groups/{gid}"),
            Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{"op": "replace", "path": "displayName", "value": "Replica Crew"}]})),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    b.until("B shows the new group name", || async {
        b.user_groups(&uid).await == vec![(gid.clone(), "Replica Crew".to_string())]
    })
    .await;
    let (st, body) = a
        .call(
            "PATCH",
            &format!("/Groups/{gid}"),
            Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{"op": "remove", "path": format!("members[value eq \"{uid}\"]")}]})),
        )
        .await;
    assert!(st == 200 || st == 204, "{st} {body}");
    let (st, got) = b.call("GET", &format!("/Groups/{gid}"), None).await;
    assert_eq!(st, 200, "{got}");
    assert!(member_ids(&got).is_empty(), "{got}");
    b.until("B drops the removed membership", || async {
        b.user_groups(&uid).await.is_empty()
    })
    .await;

    // Add the member back, then delete the group through A.
    let (st, body) = a
        .call(
            "PATCH",
            &format!("/Groups/{gid}"),
            Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{"op": "add", "path": "members", "value": [{"value": uid}]}]})),
        )
        .await;
    assert!(st == 200 || st == 204, "{st} {body}");
    b.until("B shows the re-added membership", || async {
        b.user_groups(&uid).await.len() == 1
    })
    .await;
    let (st, body) = a.call("DELETE", &format!("/Groups/{gid}"), None).await;
    assert_eq!(st, 204, "{body}");
    let (st, _) = b.call("GET", &format!("/Groups/{gid}"), None).await;
    assert_eq!(st, 404);
    let f = enc("displayName co \"Replica\"");
    let (_, list) = b.call("GET", &format!("/Groups?filter={f}"), None).await;
    assert!(ids(&list).is_empty(), "{list}");
    b.until("B forgets the deleted group", || async {
        b.user_groups(&uid).await.is_empty()
    })
    .await;

    stop(emu, schema, a, b).await;
}

/// B's listener connection is cut: B is told to reload everything once it listens again, so a
/// change A commits around the outage still reaches B's memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_reloads_after_its_listener_reconnects() {
    let (emu, schema, a, b) = two_replicas().await;
    let (st, user) = a
        .call(
            "POST",
            "/Users",
            Some(json!({"userName": "relisten@acme.example", "displayName": "Re Listen", "active": true})),
        )
        .await;
    assert_eq!(st, 201, "{user}");
    let uid = user["id"].as_str().expect("user id").to_string();

    // Cut both replicas' listeners (same application name), then change through A.
    pg_admin(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = 'gcprov-watch:{schema}'"
    ))
    .await;
    let (st, g) = a
        .call(
            "POST",
            "/Groups",
            Some(json!({"displayName": "Outage Team", "members": [{"value": uid}]})),
        )
        .await;
    assert_eq!(st, 201, "{g}");
    let gid = g["id"].as_str().expect("group id").to_string();
    b.until("B shows the membership made around the outage", || async {
        b.user_groups(&uid).await == vec![(gid.clone(), "Outage Team".to_string())]
    })
    .await;
    // And B follows changes again afterwards.
    let (st, _) = a.call("DELETE", &format!("/Groups/{gid}"), None).await;
    assert_eq!(st, 204);
    b.until("B forgets the group deleted after the outage", || async {
        b.user_groups(&uid).await.is_empty()
    })
    .await;
    stop(emu, schema, a, b).await;
}

/// A group deleted in Genesys behind gcprov's back leaves the read model at the next full sync
/// of either replica (the sync lists the store's groups, not its own memory), and the other
/// replica's memory follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_on_one_replica_removes_a_vanished_group_everywhere() {
    let (emu, schema, a, b) = two_replicas().await;
    let (st, user) = a
        .call(
            "POST",
            "/Users",
            Some(json!({"userName": "vanish@acme.example", "displayName": "Van Ish", "active": true})),
        )
        .await;
    assert_eq!(st, 201, "{user}");
    let uid = user["id"].as_str().expect("user id").to_string();
    // Created through B, so only B wrote it; A's sync must still remove it.
    let (st, g) = b
        .call(
            "POST",
            "/Groups",
            Some(json!({"displayName": "Vanishing Team", "members": [{"value": uid}]})),
        )
        .await;
    assert_eq!(st, 201, "{g}");
    let gid = g["id"].as_str().expect("group id").to_string();
    let genesys = gcprov_genesys::GenesysClient::new(client_config(&emu)).expect("client");
    genesys.delete_group(&gid).await.expect("delete in Genesys");
    a.svc().full_sync().await.expect("sync");
    let (st, _) = b.call("GET", &format!("/Groups/{gid}"), None).await;
    assert_eq!(st, 404);
    b.until("B forgets the vanished group", || async {
        b.user_groups(&uid).await.is_empty()
    })
    .await;
    stop(emu, schema, a, b).await;
}
