//! Plan and apply against the emulator: every action, idempotence, conflicts, rails, resume.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use futures::TryStreamExt;
use gcprov_genesys::ListUsers;
use gcprov_genesys::models::UpdateUser;
use gcprov_reconcile::plan::UserAction;
use gcprov_reconcile::{
    ApplyOptions, Guard, ItemOutcome, MissingAction, NoProgress, Org, Settings, apply, resume,
};

use super::common::*;

fn opts() -> ApplyOptions {
    ApplyOptions {
        concurrency: 4,
        stop: Arc::new(AtomicBool::new(false)),
        ..Default::default()
    }
}

#[tokio::test]
async fn every_action_then_second_apply_writes_nothing() {
    let emu = emulator(demo_seed()).await;
    let client = client(&emu);
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;

    let p = plan(&client, DEMO_CSV, &Settings::default()).await;
    let counts = p.counts();
    assert_eq!(
        counts.get(&UserAction::Create),
        Some(&1),
        "{}",
        p.render(true, false)
    );
    assert_eq!(counts.get(&UserAction::Update), Some(&1));
    assert_eq!(counts.get(&UserAction::Restore), Some(&1));
    assert_eq!(counts.get(&UserAction::Deactivate), Some(&1));
    assert_eq!(
        counts.get(&UserAction::Membership),
        Some(&1),
        "erin only changes groups"
    );
    assert_eq!(p.groups_to_create.len(), 1);
    assert_eq!(p.groups_to_create[0].name, "Support");
    assert!(p.render(true, false).contains("frank@example.com"));

    emu.reset_stats();
    let rep = apply(&client, Some(&store), &p, &opts(), &NoProgress)
        .await
        .unwrap();
    assert!(rep.errors.is_empty(), "{}", rep.render());
    assert_eq!(
        writes(&emu),
        p.stats.min_writes,
        "one write per planned change"
    );

    // The org now matches: a new plan is empty and a second apply writes nothing.
    let p2 = plan(&client, DEMO_CSV, &Settings::default()).await;
    assert!(p2.is_empty(), "{}", p2.render(true, false));
    emu.reset_stats();
    let rep2 = apply(&client, Some(&store), &p2, &opts(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(rep2.applied(), 0);
    assert_eq!(writes(&emu), 0);

    // State checks.
    let users: Vec<_> = client
        .list_users(ListUsers {
            page_size: Some(500),
            state: Some("any".into()),
            expand: vec!["groups".into(), "skills".into(), "languages".into()],
            ids: vec![],
        })
        .try_collect()
        .await
        .unwrap();
    let by = |e: &str| {
        users
            .iter()
            .find(|u| u.email.as_deref() == Some(e))
            .unwrap()
    };
    assert_eq!(
        by("alice@example.com").title.as_deref(),
        Some("Senior Agent")
    );
    let skills = by("alice@example.com").skills.clone().unwrap();
    assert_eq!(skills.len(), 1);
    assert_eq!(skills[0].name.as_deref(), Some("Billing"));
    assert_eq!(
        by("bob@example.com").state.as_ref().map(|s| s.as_str()),
        Some("inactive")
    );
    assert_eq!(
        by("carol@example.com").state.as_ref().map(|s| s.as_str()),
        Some("active")
    );
    let frank = by("frank@example.com");
    assert_eq!(
        frank
            .employer_info
            .as_ref()
            .and_then(|e| e.employee_id.as_deref()),
        Some("E6")
    );
    let roles = client
        .get_user_roles(frank.id.as_deref().unwrap())
        .await
        .unwrap();
    let names: Vec<_> = roles
        .roles
        .unwrap_or_default()
        .into_iter()
        .filter_map(|r| r.name)
        .collect();
    assert_eq!(names, vec!["Agent Role".to_string()]);
    let fg: Vec<_> = frank
        .groups
        .clone()
        .unwrap()
        .into_iter()
        .filter_map(|g| g.name)
        .collect();
    assert!(
        fg.contains(&"Agents".to_string()) && fg.contains(&"Support".to_string()),
        "{fg:?}"
    );
    let eg: Vec<_> = by("erin@example.com")
        .groups
        .clone()
        .unwrap()
        .into_iter()
        .filter_map(|g| g.name)
        .collect();
    assert_eq!(eg, vec!["Support".to_string()]);

    // Audit entries with outbox events were written.
    let tail = store.tail(50).await.unwrap();
    let actions: Vec<&str> = tail.iter().map(|e| e.action.as_str()).collect();
    for a in [
        "user.created",
        "user.updated",
        "user.restored",
        "user.deactivated",
        "group.created",
        "group.members_added",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    let counts = store.outbox_counts().await.unwrap();
    assert!(format!("{counts:?}").len() > 2);
}

#[tokio::test]
async fn missing_users_can_be_deleted_or_kept() {
    let emu = emulator(demo_seed()).await;
    let client = client(&emu);
    let settings = Settings {
        missing: MissingAction::Delete,
        ..Default::default()
    };
    let p = plan(&client, DEMO_CSV, &settings).await;
    assert_eq!(p.counts().get(&UserAction::Delete), Some(&1));
    let rep = apply(&client, None, &p, &opts(), &NoProgress)
        .await
        .unwrap();
    assert!(rep.errors.is_empty(), "{}", rep.render());
    let deleted: Vec<_> = client
        .list_users(ListUsers {
            state: Some("deleted".into()),
            ..Default::default()
        })
        .try_collect()
        .await
        .unwrap();
    assert!(
        deleted
            .iter()
            .any(|u| u.email.as_deref() == Some("bob@example.com"))
    );

    let never = Settings {
        missing: MissingAction::Never,
        ..Default::default()
    };
    let p = plan(&client, "userName\ncarol@example.com\n", &never).await;
    assert_eq!(p.stats.removals, 0);
}

#[tokio::test]
async fn safety_rails_abort_before_any_write() {
    let emu = emulator(demo_seed()).await;
    let client = client(&emu);
    // The classic accident: an HR export with only its header.
    let p = plan(&client, "userName,email\n", &Settings::default()).await;
    assert_eq!(p.stats.removals, 4, "{}", p.render(true, false));
    let pct = Guard {
        max_deletes: None,
        max_delete_percent: Some(10.0),
    };
    let err = p.check_guard(&pct).unwrap_err().to_string();
    assert!(err.contains("--max-delete-percent"), "{err}");
    let n = Guard {
        max_deletes: Some(3),
        max_delete_percent: None,
    };
    assert!(
        p.check_guard(&n)
            .unwrap_err()
            .to_string()
            .contains("--max-deletes 3")
    );
    assert!(
        p.check_guard(&Guard {
            max_deletes: Some(4),
            max_delete_percent: Some(100.0)
        })
        .is_ok()
    );
    assert_eq!(writes(&emu), 0);
}

#[tokio::test]
async fn a_user_changed_between_plan_and_apply_is_refused_or_rediffed() {
    let emu = emulator(demo_seed()).await;
    let client = client(&emu);
    let csv = "userName,title\nalice@example.com,Lead\n";
    let settings = Settings {
        missing: MissingAction::Never,
        ..Default::default()
    };
    let p = plan(&client, csv, &settings).await;
    assert_eq!(p.users.len(), 1);
    let id = p.users[0].target.clone().unwrap().id;

    // Someone edits alice after the plan.
    let u = client.get_user(&id, &[]).await.unwrap();
    client
        .update_user(
            &id,
            &UpdateUser {
                version: u.version.unwrap(),
                title: Some("Hand edit".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    // A saved plan refuses the moved-on target and leaves the edit alone.
    let saved = ApplyOptions {
        replan_stale: false,
        saved_plan: true,
        ..opts()
    };
    let rep = apply(&client, None, &p, &saved, &NoProgress).await.unwrap();
    assert_eq!(rep.errors.len(), 1, "{}", rep.render());
    assert_eq!(rep.errors[0].outcome, ItemOutcome::Stale);
    assert_eq!(
        client.get_user(&id, &[]).await.unwrap().title.as_deref(),
        Some("Hand edit")
    );

    // With --replan-stale, the 409 re-reads that user and re-diffs it against the desired state.
    let replan = ApplyOptions {
        replan_stale: true,
        saved_plan: true,
        ..opts()
    };
    let rep = apply(&client, None, &p, &replan, &NoProgress)
        .await
        .unwrap();
    assert!(rep.errors.is_empty(), "{}", rep.render());
    assert_eq!(
        client.get_user(&id, &[]).await.unwrap().title.as_deref(),
        Some("Lead")
    );

    // A plan whose change someone else already made finishes as already-done, no write.
    let p = plan(
        &client,
        "userName,title\nalice@example.com,Final\n",
        &settings,
    )
    .await;
    let u = client.get_user(&id, &[]).await.unwrap();
    client
        .update_user(
            &id,
            &UpdateUser {
                version: u.version.unwrap(),
                title: Some("Final".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let rep = apply(&client, None, &p, &saved, &NoProgress).await.unwrap();
    assert_eq!(
        rep.counts["update"].get("already-done"),
        Some(&1),
        "{}",
        rep.render()
    );
}

#[tokio::test]
async fn resume_after_a_crash_at_every_write_converges_without_duplicates() {
    // Count the writes of an uninterrupted run first.
    let total = {
        let emu = emulator(demo_seed()).await;
        let client = client(&emu);
        let p = plan(&client, DEMO_CSV, &Settings::default()).await;
        p.stats.min_writes
    };
    assert!(total >= 8, "{total}");
    for crash_at in 1..=total {
        let emu = emulator(demo_seed()).await;
        let client = client(&emu);
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let p = plan(&client, DEMO_CSV, &Settings::default()).await;
        let crash = ApplyOptions {
            crash_after_writes: Some(crash_at),
            ..opts()
        };
        let rep = apply(&client, Some(&store), &p, &crash, &NoProgress)
            .await
            .unwrap();
        assert!(rep.interrupted, "crash at {crash_at}");
        // A fresh apply is refused while the run is unfinished.
        assert!(
            apply(&client, Some(&store), &p, &opts(), &NoProgress)
                .await
                .is_err()
        );
        let rep = resume(&client, &store, &opts(), &NoProgress).await.unwrap();
        assert!(!rep.interrupted);
        assert!(
            rep.errors.is_empty(),
            "crash at {crash_at}: {}",
            rep.render()
        );
        // Final state equals desired; nobody was created twice.
        let again = plan(&client, DEMO_CSV, &Settings::default()).await;
        assert!(
            again.is_empty(),
            "crash at {crash_at}: {}",
            again.render(true, false)
        );
        let org = Org::read(&client).await.unwrap();
        let franks = org
            .users
            .iter()
            .filter(|u| u.email == "frank@example.com")
            .count();
        assert_eq!(franks, 1, "crash at {crash_at}");
        let supports = org.groups.iter().filter(|g| g.name == "Support").count();
        assert_eq!(supports, 1, "crash at {crash_at}");
        // Nothing left to resume.
        assert!(resume(&client, &store, &opts(), &NoProgress).await.is_err());
    }
}

#[tokio::test]
async fn ambiguous_and_duplicate_matches_are_reported_not_guessed() {
    let mut seed = demo_seed();
    // Two users share employee id X9.
    seed.users[3].employee_id = Some("X9".into());
    seed.users[4].employee_id = Some("X9".into());
    let emu = emulator(seed).await;
    let client = client(&emu);
    let csv = "externalId,userName,title\n\
               X9,someone@example.com,T\n\
               ,alice@example.com,A\n\
               ,ALICE@example.com,B\n\
               E1,carol@example.com,C\n";
    let p = plan(
        &client,
        csv,
        &Settings {
            missing: MissingAction::Deactivate,
            ..Default::default()
        },
    )
    .await;
    let kinds: Vec<(u64, &str)> = p
        .conflicts
        .iter()
        .map(|c| (c.line, c.kind.as_str()))
        .collect();
    assert!(kinds.contains(&(2, "ambiguous")), "{kinds:?}");
    assert!(kinds.contains(&(4, "duplicate")), "{kinds:?}");
    assert!(
        kinds.contains(&(5, "ambiguous")),
        "externalId E1 is alice, userName is carol: {kinds:?}"
    );
    // Nothing planned for the conflicting records, and the users they could mean are not removed.
    assert!(
        p.users.iter().all(|u| u.action == UserAction::Deactivate),
        "{}",
        p.render(true, false)
    );
    let removed: Vec<&str> = p.users.iter().map(|u| u.key.as_str()).collect();
    assert_eq!(
        removed,
        vec!["bob@example.com"],
        "{}",
        p.render(true, false)
    );
}

#[tokio::test]
async fn policy_rejections_are_reported_and_left_out() {
    let emu = emulator(demo_seed()).await;
    let client = client(&emu);
    let policy = gcprov_policy::Policy::from_toml(
        r#"
[[rule]]
name = "corporate-domain"
kind = "email_domain"
path = "userName"
allow = ["example.com"]
"#,
        "policy.toml",
    )
    .expect("policy");
    let org = Org::read(&client).await.unwrap();
    let csv = "userName\nalice@example.com\nmallory@evil.test\n";
    let settings = Settings {
        missing: MissingAction::Never,
        ..Default::default()
    };
    let p = gcprov_reconcile::plan_from_iter(&org, &settings, Some(&policy), "d.csv", reader(csv))
        .unwrap();
    assert_eq!(p.rejected.len(), 1, "{}", p.render(true, false));
    assert_eq!(p.rejected[0].line, 3);
    assert!(p.users.iter().all(|u| u.key != "mallory@evil.test"));
}

#[tokio::test]
async fn saved_plan_round_trips_through_json() {
    let emu = emulator(demo_seed()).await;
    let client = client(&emu);
    let p = plan(&client, DEMO_CSV, &Settings::default()).await;
    let text = serde_json::to_string_pretty(&p).unwrap();
    assert!(text.contains("\"version\""), "targets carry their version");
    let back: gcprov_reconcile::Plan = serde_json::from_str(&text).unwrap();
    assert_eq!(back, p);
    let saved = ApplyOptions {
        replan_stale: false,
        saved_plan: true,
        ..opts()
    };
    let rep = apply(&client, None, &back, &saved, &NoProgress)
        .await
        .unwrap();
    assert!(rep.errors.is_empty(), "{}", rep.render());
    assert!(
        plan(&client, DEMO_CSV, &Settings::default())
            .await
            .is_empty()
    );
}

/// Stops the run (like Ctrl-C) once `after` items have finished.
struct StopAfter {
    after: usize,
    seen: std::sync::atomic::AtomicUsize,
    stop: Arc<AtomicBool>,
}

impl gcprov_reconcile::Progress for StopAfter {
    fn advance(&self, _ok: bool) {
        let n = self.seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        if n >= self.after {
            self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

#[tokio::test]
async fn an_interrupted_run_resumes_without_repeating_completed_writes() {
    let emu = emulator(demo_seed()).await;
    let client = client(&emu);
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let p = plan(&client, DEMO_CSV, &Settings::default()).await;
    emu.reset_stats();
    let o = ApplyOptions {
        concurrency: 1,
        ..opts()
    };
    let progress = StopAfter {
        after: 3,
        seen: Default::default(),
        stop: o.stop.clone(),
    };
    let rep = apply(&client, Some(&store), &p, &o, &progress)
        .await
        .unwrap();
    assert!(rep.interrupted, "{}", rep.render());
    let first = writes(&emu);
    assert!(first > 0 && first < p.stats.min_writes, "{first}");
    let rep = resume(&client, &store, &opts(), &NoProgress).await.unwrap();
    assert!(
        !rep.interrupted && rep.errors.is_empty(),
        "{}",
        rep.render()
    );
    assert_eq!(
        writes(&emu),
        p.stats.min_writes,
        "every planned write exactly once over both runs"
    );
    assert!(
        rep.counts.values().any(|m| m.contains_key("done-earlier")),
        "{}",
        rep.render()
    );
    assert!(
        plan(&client, DEMO_CSV, &Settings::default())
            .await
            .is_empty()
    );
}
