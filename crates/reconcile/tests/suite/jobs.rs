//! `patch` and `groups create` against the emulator, and the SCIM-server source.

use std::io::Cursor;

use gcprov_reconcile::groups::{GroupSpec, create, validate};
use gcprov_reconcile::patch::{apply_ops, read_ops};
use gcprov_reconcile::{NoProgress, Org, Planner, Settings, pull_scim};

use super::common::*;

#[tokio::test]
async fn patch_validates_everything_first_then_applies_with_etags() {
    let emu = emulator(demo_seed()).await;
    let client = client(&emu);
    let bad = "{\"userName\":\"alice@example.com\",\"patch\":{\"Operations\":[{\"op\":\"replace\",\"path\":\"title\",\"value\":\"X\"}]}}\n\
               {\"userName\":\"bob@example.com\",\"patch\":{\"Operations\":[{\"op\":\"jump\"}]}}\n\
               {\"patch\":{}}\n";
    let e = read_ops(Cursor::new(bad), "ops.ndjson")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("ops.ndjson:2:") && e.contains("ops.ndjson:3:"),
        "{e}"
    );
    assert!(!e.contains("ops.ndjson:1:"), "{e}");
    assert_eq!(writes(&emu), 0, "nothing sent when any line is invalid");

    let good = "{\"userName\":\"alice@example.com\",\"patch\":{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"Replace\",\"path\":\"title\",\"value\":\"Lead\"}]}}\n\
                {\"userName\":\"nobody@example.com\",\"Operations\":[{\"op\":\"replace\",\"path\":\"title\",\"value\":\"Y\"}]}\n";
    let ops = read_ops(Cursor::new(good), "ops.ndjson").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let rep = apply_ops(&client, Some(&store), &ops, 4, "test", &NoProgress)
        .await
        .unwrap();
    assert_eq!(rep.counts["patch"]["applied"], 1, "{}", rep.render());
    assert_eq!(rep.errors.len(), 1);
    assert!(rep.errors[0].message.contains("nobody@example.com"));
    let org = Org::read(&client).await.unwrap();
    let alice = org
        .users
        .iter()
        .find(|u| u.email == "alice@example.com")
        .unwrap();
    assert_eq!(alice.title.as_deref(), Some("Lead"));
}

#[tokio::test]
async fn groups_create_adopts_existing_and_batches_members() {
    let mut seed = demo_seed();
    for i in 0..60 {
        seed.users.push(user(
            &format!("Extra {i}"),
            &format!("extra{i}@example.com"),
        ));
    }
    let emu = emulator(seed).await;
    let client = client(&emu);
    assert!(
        validate(&GroupSpec {
            name: "  ".into(),
            ..Default::default()
        })
        .is_err()
    );
    assert!(
        validate(&GroupSpec {
            name: "a\u{7}b".into(),
            ..Default::default()
        })
        .is_err()
    );
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let members: Vec<String> = (0..60).map(|i| format!("extra{i}@example.com")).collect();
    emu.reset_stats();
    let r = create(
        &client,
        Some(&store),
        &GroupSpec {
            name: "Night Shift".into(),
            external_id: None,
            members: members.clone(),
        },
        "test",
    )
    .await
    .unwrap();
    assert!(!r.adopted);
    assert_eq!(r.members_added, 60);
    assert_eq!(writes(&emu), 3, "one create and two member batches");
    let tail = store.tail(10).await.unwrap();
    assert!(tail.iter().any(|e| e.action == "group.created"));

    // Again: the 409 adopts the group and adds only the missing member.
    let mut more = members;
    more.push("dave@example.com".into());
    let r2 = create(
        &client,
        Some(&store),
        &GroupSpec {
            name: "Night Shift".into(),
            external_id: None,
            members: more,
        },
        "test",
    )
    .await
    .unwrap();
    assert!(r2.adopted);
    assert_eq!(r2.id, r.id);
    assert_eq!(r2.members_added, 1);
    // An unknown member stops the command before any write.
    emu.reset_stats();
    let e = create(
        &client,
        None,
        &GroupSpec {
            name: "Other".into(),
            external_id: None,
            members: vec!["ghost@example.com".into()],
        },
        "test",
    )
    .await;
    assert!(e.is_err());
    assert_eq!(writes(&emu), 0);

    // With an external id: set on the Genesys group through SCIM, and visible there.
    let r3 = create(
        &client,
        Some(&store),
        &GroupSpec {
            name: "Weekend Shift".into(),
            external_id: Some("hr-weekend".into()),
            members: Vec::new(),
        },
        "test",
    )
    .await
    .unwrap();
    assert_eq!(
        r3.report.counts["group.externalId"].get("applied"),
        Some(&1),
        "{:?}",
        r3.report.counts
    );
    let g = match client.scim_get_group(&r3.id, None).await.unwrap() {
        gcprov_genesys::Conditional::Modified(v) => v.resource,
        gcprov_genesys::Conditional::NotModified => panic!("no ETag was sent"),
    };
    assert_eq!(g.external_id.as_deref(), Some("hr-weekend"));
}

#[tokio::test]
async fn desired_state_can_be_pulled_from_another_scim_server() {
    // The emulator's own SCIM endpoint stands in for the source server.
    let emu = emulator(demo_seed()).await;
    let client = client(&emu);
    let tok: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/oauth/token", emu.base_url()))
        .basic_auth(emu.admin_client_id(), Some(emu.admin_client_secret()))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = tok["access_token"].as_str().unwrap();
    let org = Org::read(&client).await.unwrap();
    let settings = Settings::default();
    let mut planner = Planner::new(&org, &settings, None, "scim");
    let n = pull_scim(
        &format!("{}/api/v2/scim/v2", emu.base_url()),
        token,
        2,
        |d| {
            planner.push(d);
            Ok(())
        },
    )
    .await
    .unwrap();
    assert!(n >= 4, "{n}");
    let plan = planner.finish();
    assert_eq!(plan.stats.desired, n);
    assert!(plan.conflicts.is_empty(), "{}", plan.render(true, false));
    let bad = pull_scim(
        &format!("{}/api/v2/scim/v2", emu.base_url()),
        "wrong",
        2,
        |_| Ok(()),
    )
    .await;
    let e = bad.unwrap_err().to_string();
    assert!(e.contains("HTTP 401") && !e.contains("wrong"), "{e}");
}
