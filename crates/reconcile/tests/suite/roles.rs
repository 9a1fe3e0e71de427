//! Role grants with divisions, division moves and parallel org reads against the emulator.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use gcprov_emulator::{Seed, SeedDivision, SeedRole, SeedUser};
use gcprov_genesys::GenesysClient;
use gcprov_genesys::models::{RoleDivisionPair, SubjectType, UpdateUser};
use gcprov_reconcile::plan::UserAction;
use gcprov_reconcile::{
    ApplyOptions, ItemOutcome, MissingAction, NoProgress, Org, Planner, Settings, apply,
};

use super::common::*;

fn opts() -> ApplyOptions {
    ApplyOptions {
        concurrency: 4,
        stop: Arc::new(AtomicBool::new(false)),
        ..Default::default()
    }
}

fn keep_missing() -> Settings {
    Settings {
        missing: MissingAction::Never,
        ..Default::default()
    }
}

fn role(name: &str) -> SeedRole {
    SeedRole {
        name: name.into(),
        permissions: vec!["routing:queue:view".into()],
        ..Default::default()
    }
}

fn division(name: &str) -> SeedDivision {
    SeedDivision {
        name: name.into(),
        ..Default::default()
    }
}

fn seeded(name: &str, email: &str, division: Option<&str>, roles: &[&str]) -> SeedUser {
    let mut u = user(name, email);
    u.division = division.map(str::to_string);
    u.roles = roles.iter().map(|r| r.to_string()).collect();
    u
}

/// Home (the emulator's home division), Sales and Support; three roles.
fn seed() -> Seed {
    Seed {
        divisions: vec![
            SeedDivision {
                home: true,
                ..division("Home")
            },
            division("Sales"),
            division("Support"),
        ],
        roles: vec![role("Agent Role"), role("Supervisor"), role("Admin Role")],
        users: vec![
            seeded("Alice Adams", "alice@example.com", None, &["Agent Role"]),
            seeded(
                "Bob Brown",
                "bob@example.com",
                None,
                &["Supervisor", "Admin Role"],
            ),
            seeded("Carol Cole", "carol@example.com", Some("Sales"), &[]),
            seeded("Dave Dunn", "dave@example.com", None, &["Admin Role"]),
        ],
        ..Default::default()
    }
}

/// alice: Agent Role moves from Home to Sales. bob: gains Agent Role, loses Supervisor (named
/// for carol), keeps Admin Role (named by nobody). carol: gains Supervisor in Support and moves
/// to Support. dave: no roles in the file (untouched), moves to Sales.
const DESIRED: &str = "\
userName,displayName,division,roles
alice@example.com,Alice Adams,,Agent Role@Sales
bob@example.com,Bob Brown,,Agent Role
carol@example.com,Carol Cole,Support,Supervisor@Support
dave@example.com,Dave Dunn,Sales,
";

async fn user_id(client: &GenesysClient, email: &str) -> String {
    client
        .find_user_by_email(email)
        .await
        .expect("search")
        .and_then(|u| u.id)
        .expect("user exists")
}

/// The user's grants as (role name, division name).
async fn grants(client: &GenesysClient, email: &str) -> BTreeSet<(String, String)> {
    let id = user_id(client, email).await;
    client
        .get_subject(&id)
        .await
        .expect("subject")
        .grants
        .unwrap_or_default()
        .into_iter()
        .map(|g| {
            (
                g.role.and_then(|r| r.name).unwrap_or_default(),
                g.division.and_then(|d| d.name).unwrap_or_default(),
            )
        })
        .collect()
}

fn set(pairs: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    pairs
        .iter()
        .map(|(r, d)| (r.to_string(), d.to_string()))
        .collect()
}

async fn division_of(client: &GenesysClient, email: &str) -> String {
    let id = user_id(client, email).await;
    let u = client.get_user(&id, &[]).await.expect("user");
    let div = u.division.and_then(|d| d.id).expect("division");
    client
        .get_division(&div)
        .await
        .expect("division")
        .name
        .expect("name")
}

async fn grant(client: &GenesysClient, email: &str, role: &str, division: &str) {
    let org = Org::read(client).await.expect("org");
    let id = user_id(client, email).await;
    let pair = RoleDivisionPair {
        role_id: org.catalog.roles[role].clone(),
        division_id: org.catalog.divisions[&division.to_lowercase()].clone(),
    };
    client
        .add_grants(&id, SubjectType::User, &[pair])
        .await
        .expect("grant");
}

#[tokio::test]
async fn role_grants_with_divisions_are_added_and_removed_and_unnamed_roles_are_untouched() {
    let emu = emulator(seed()).await;
    let client = client(&emu);
    let before = route_calls(&emu, "GET", "/subjectgrants");
    let p = plan(&client, DESIRED, &keep_missing()).await;
    // One listing per named role (two roles, one page each), nothing for Admin Role.
    assert_eq!(route_calls(&emu, "GET", "/subjectgrants") - before, 2);
    let managed: Vec<&str> = p.managed_roles.values().map(String::as_str).collect();
    assert_eq!(managed, vec!["Agent Role", "Supervisor"]);
    let by_key = |k: &str| p.users.iter().find(|u| u.key == k).expect(k);
    let alice = by_key("alice@example.com");
    assert_eq!(alice.steps.grants_add.len(), 1);
    assert_eq!(alice.steps.grants_remove.len(), 1);
    let bob = by_key("bob@example.com");
    assert_eq!(bob.steps.grants_remove.len(), 1);
    assert_eq!(bob.steps.grants_remove[0].role, "Supervisor");
    let dave = by_key("dave@example.com");
    assert!(dave.steps.grants_add.is_empty() && dave.steps.grants_remove.is_empty());
    assert_eq!(dave.action, UserAction::Membership);
    // 5 grant calls (alice add+remove, bob add+remove, carol add) and 2 move batches.
    assert_eq!(p.stats.min_writes, 7);

    let w0 = writes(&emu);
    let rep = apply(&client, None, &p, &opts(), &NoProgress)
        .await
        .unwrap();
    assert!(rep.errors.is_empty(), "{}", rep.render());
    assert_eq!(writes(&emu) - w0, 7);
    assert_eq!(
        grants(&client, "alice@example.com").await,
        set(&[("Agent Role", "Sales")])
    );
    assert_eq!(
        grants(&client, "bob@example.com").await,
        set(&[("Agent Role", "Home"), ("Admin Role", "Home")])
    );
    assert_eq!(
        grants(&client, "carol@example.com").await,
        set(&[("Supervisor", "Support")])
    );
    assert_eq!(
        grants(&client, "dave@example.com").await,
        set(&[("Admin Role", "Home")])
    );
    assert_eq!(division_of(&client, "carol@example.com").await, "Support");
    assert_eq!(division_of(&client, "dave@example.com").await, "Sales");

    // Idempotence: the second plan is empty and its apply writes nothing.
    let p2 = plan(&client, DESIRED, &keep_missing()).await;
    assert!(p2.is_empty(), "{}", p2.render(true, false));
    let w1 = writes(&emu);
    apply(&client, None, &p2, &opts(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(writes(&emu), w1);
}

#[tokio::test]
async fn a_file_without_roles_reads_no_grants_and_touches_none() {
    let emu = emulator(seed()).await;
    let client = client(&emu);
    let before = route_calls(&emu, "GET", "/subjectgrants");
    let p = plan(
        &client,
        "userName,displayName,title\nbob@example.com,Bob Brown,Lead\n",
        &keep_missing(),
    )
    .await;
    assert_eq!(route_calls(&emu, "GET", "/subjectgrants"), before);
    assert!(p.managed_roles.is_empty());
    apply(&client, None, &p, &opts(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(
        grants(&client, "bob@example.com").await,
        set(&[("Supervisor", "Home"), ("Admin Role", "Home")])
    );
}

#[tokio::test]
async fn a_grant_with_an_unknown_division_leaves_that_users_roles_alone() {
    let emu = emulator(seed()).await;
    let client = client(&emu);
    // "Atlantis" does not exist: alice's Agent Role in Home must not be removed for it.
    let p = plan(
        &client,
        "userName,displayName,roles\nalice@example.com,Alice Adams,Agent Role@Atlantis\n",
        &keep_missing(),
    )
    .await;
    assert!(p.users.is_empty(), "{}", p.render(true, false));
    assert!(p.warnings.iter().any(|w| w.contains("Atlantis")));
}

#[tokio::test]
async fn scim_json_roles_manage_grants_too() {
    let emu = emulator(seed()).await;
    let client = client(&emu);
    let org = Org::read(&client).await.unwrap();
    let json = r#"[{"userName":"bob@example.com","roles":[{"value":"Supervisor@Sales"}]}]"#;
    let reader = gcprov_reconcile::DesiredReader::from_reader(
        Box::new(std::io::Cursor::new(json.as_bytes().to_vec())),
        "desired.json",
        gcprov_reconcile::Format::Json,
        &Default::default(),
    )
    .unwrap();
    let settings = keep_missing();
    let mut planner = Planner::new(&org, &settings, None, "desired.json");
    for d in reader {
        planner.push(d.unwrap());
    }
    let p = planner.finish_with_reads(&client).await.unwrap();
    let rep = apply(&client, None, &p, &opts(), &NoProgress)
        .await
        .unwrap();
    assert!(rep.errors.is_empty(), "{}", rep.render());
    assert_eq!(
        grants(&client, "bob@example.com").await,
        set(&[("Supervisor", "Sales"), ("Admin Role", "Home")])
    );
}

#[tokio::test]
async fn grant_changes_between_plan_and_apply_are_not_overwritten() {
    let emu = emulator(seed()).await;
    let client = client(&emu);
    let csv =
        "userName,displayName,title,roles\nalice@example.com,Alice Adams,Lead,Agent Role@Sales\n";
    let p = plan(&client, csv, &keep_missing()).await;
    assert_eq!(p.users.len(), 1);

    // After the plan: someone makes the planned grant, grants a managed role the plan does
    // not know about, and edits the title (so the title PATCH meets a 409).
    grant(&client, "alice@example.com", "Agent Role", "Sales").await;
    grant(&client, "alice@example.com", "Supervisor", "Support").await;
    let id = user_id(&client, "alice@example.com").await;
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

    // A saved plan refuses the moved-on user: nothing of it is written.
    let saved = ApplyOptions {
        replan_stale: false,
        saved_plan: true,
        ..opts()
    };
    let rep = apply(&client, None, &p, &saved, &NoProgress).await.unwrap();
    assert_eq!(rep.errors.len(), 1, "{}", rep.render());
    assert_eq!(rep.errors[0].outcome, ItemOutcome::Stale);
    assert_eq!(
        grants(&client, "alice@example.com").await,
        set(&[
            ("Agent Role", "Home"),
            ("Agent Role", "Sales"),
            ("Supervisor", "Support")
        ])
    );

    // Re-planning that user re-reads its grants too: the re-diff removes Agent Role in Home,
    // and Supervisor (named by nobody now) stays.
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
        grants(&client, "alice@example.com").await,
        set(&[("Agent Role", "Sales"), ("Supervisor", "Support")])
    );
    let u = client.get_user(&id, &[]).await.unwrap();
    assert_eq!(u.title.as_deref(), Some("Lead"));
    let p2 = plan(&client, csv, &keep_missing()).await;
    assert!(p2.is_empty(), "{}", p2.render(true, false));
}

#[tokio::test]
async fn division_moves_are_batched_and_a_concurrent_move_is_refused_or_rediffed() {
    let mut s = seed();
    for i in 0..60 {
        s.users
            .push(user(&format!("Mover {i}"), &format!("m{i}@example.com")));
    }
    let emu = emulator(s).await;
    let client = client(&emu);
    let mut csv = String::from("userName,displayName,division\n");
    for i in 0..60 {
        csv.push_str(&format!("m{i}@example.com,Mover {i},Sales\n"));
    }
    let p = plan(&client, &csv, &keep_missing()).await;
    assert_eq!(p.moves.len(), 1);
    assert_eq!(p.moves[0].users.len(), 60);
    assert_eq!(p.stats.min_writes, 2);
    let v0 = client
        .get_user(&user_id(&client, "m0@example.com").await, &[])
        .await
        .unwrap()
        .version
        .unwrap();

    // Someone moves m7 to Support after the plan.
    let support = Org::read(&client).await.unwrap().catalog.divisions["support"].clone();
    let m7 = user_id(&client, "m7@example.com").await;
    client
        .move_to_division(&support, "USER", &[m7.as_str()])
        .await
        .unwrap();

    // A saved plan checks each batch first (one listing per batch), moves the others, and
    // refuses m7.
    let saved = ApplyOptions {
        replan_stale: false,
        saved_plan: true,
        ..opts()
    };
    let moves0 = route_calls(&emu, "POST", "/objects/");
    let rep = apply(&client, None, &p, &saved, &NoProgress).await.unwrap();
    assert_eq!(route_calls(&emu, "POST", "/objects/") - moves0, 2);
    assert_eq!(rep.errors.len(), 1, "{}", rep.render());
    assert_eq!(rep.errors[0].outcome, ItemOutcome::Stale);
    assert!(rep.errors[0].message.contains("m7@example.com"));
    assert_eq!(division_of(&client, "m7@example.com").await, "Support");
    for i in [0, 49, 50, 59] {
        assert_eq!(
            division_of(&client, &format!("m{i}@example.com")).await,
            "Sales"
        );
    }
    // The move changed the user's version (the emulator's conservative assumption).
    let v1 = client
        .get_user(&user_id(&client, "m0@example.com").await, &[])
        .await
        .unwrap()
        .version
        .unwrap();
    assert!(v1 > v0);

    // apply --desired: the desired division wins, and a second run writes nothing.
    let p2 = plan(&client, &csv, &keep_missing()).await;
    assert_eq!(p2.moves.len(), 1);
    assert_eq!(p2.moves[0].users.len(), 1);
    let rep = apply(&client, None, &p2, &opts(), &NoProgress)
        .await
        .unwrap();
    assert!(rep.errors.is_empty(), "{}", rep.render());
    assert_eq!(division_of(&client, "m7@example.com").await, "Sales");
    let p3 = plan(&client, &csv, &keep_missing()).await;
    assert!(p3.is_empty(), "{}", p3.render(true, false));
    let w = writes(&emu);
    apply(&client, None, &p3, &opts(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(writes(&emu), w);
}

#[tokio::test]
async fn parallel_page_reads_give_the_same_org_and_plan_as_sequential_ones() {
    let mut s = seed();
    for i in 0..1203 {
        let mut u = user(&format!("User {i:04}"), &format!("u{i:04}@example.com"));
        u.title = Some(format!("T{}", i % 7));
        s.users.push(u);
    }
    let emu = emulator(s).await;
    let client = client(&emu);
    let pages0 = route_calls(&emu, "GET", "/api/v2/users");
    let seq = Org::read_with(&client, 1).await.unwrap();
    let pages1 = route_calls(&emu, "GET", "/api/v2/users");
    let par = Org::read_with(&client, 4).await.unwrap();
    let pages2 = route_calls(&emu, "GET", "/api/v2/users");
    // 1,207 users at 500 a page: 3 pages either way.
    assert_eq!(pages1 - pages0, 3);
    assert_eq!(pages2 - pages1, 3);
    assert_eq!(seq.users.len(), 1207);
    assert_eq!(seq.users, par.users);

    let mut csv = String::from("userName,displayName,title\n");
    for i in (0..1203).step_by(3) {
        csv.push_str(&format!("u{i:04}@example.com,User {i:04},New {i}\n"));
    }
    let settings = Settings::default();
    let plan_of = |org: &Org| {
        let mut planner = Planner::new(org, &settings, None, "desired.csv");
        for d in reader(&csv) {
            planner.push(d.unwrap());
        }
        let mut p = planner.finish();
        p.created_at.clear();
        p
    };
    let (a, b) = (plan_of(&seq), plan_of(&par));
    assert_eq!(a.users.len(), 1207); // 401 updates, 806 deactivations
    // Compared as values (the catalogue maps serialize in hash order).
    assert!(a == b, "plans differ");
}

#[tokio::test]
async fn grants_of_a_role_with_many_holders_are_read_on_every_page() {
    let mut s = seed();
    for i in 0..230 {
        s.users.push(seeded(
            &format!("Holder {i:03}"),
            &format!("h{i:03}@example.com"),
            None,
            &["Agent Role"],
        ));
    }
    let emu = emulator(s).await;
    let client = client(&emu);
    // 231 holders of Agent Role (alice too) at 100 a page: 3 pages. Holder 229 sorts last.
    let csv = "userName,displayName,roles\nh229@example.com,Holder 229,Agent Role@Sales\n";
    let before = route_calls(&emu, "GET", "/subjectgrants");
    let p = plan(&client, csv, &keep_missing()).await;
    assert_eq!(route_calls(&emu, "GET", "/subjectgrants") - before, 3);
    assert_eq!(p.users.len(), 1, "{}", p.render(true, false));
    assert_eq!(p.users[0].steps.grants_add.len(), 1);
    assert_eq!(p.users[0].steps.grants_remove.len(), 1);
    apply(&client, None, &p, &opts(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(
        grants(&client, "h229@example.com").await,
        set(&[("Agent Role", "Sales")])
    );
    // Holders whose rows carry no roles keep theirs.
    assert_eq!(
        grants(&client, "h000@example.com").await,
        set(&[("Agent Role", "Home")])
    );
}

#[tokio::test]
async fn resume_after_a_crash_at_every_grant_or_move_write_converges() {
    let total = {
        let emu = emulator(seed()).await;
        let client = client(&emu);
        plan(&client, DESIRED, &keep_missing())
            .await
            .stats
            .min_writes
    };
    assert_eq!(total, 7);
    for crash_at in 1..=total {
        let emu = emulator(seed()).await;
        let client = client(&emu);
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let p = plan(&client, DESIRED, &keep_missing()).await;
        let crash = ApplyOptions {
            crash_after_writes: Some(crash_at),
            ..opts()
        };
        let rep = apply(&client, Some(&store), &p, &crash, &NoProgress)
            .await
            .unwrap();
        assert!(rep.interrupted, "crash at {crash_at}");
        let rep = gcprov_reconcile::resume(&client, &store, &opts(), &NoProgress)
            .await
            .unwrap();
        assert!(
            rep.errors.is_empty(),
            "crash at {crash_at}: {}",
            rep.render()
        );
        let again = plan(&client, DESIRED, &keep_missing()).await;
        assert!(
            again.is_empty(),
            "crash at {crash_at}: {}",
            again.render(true, false)
        );
        assert_eq!(
            grants(&client, "bob@example.com").await,
            set(&[("Agent Role", "Home"), ("Admin Role", "Home")]),
            "crash at {crash_at}"
        );
        assert_eq!(division_of(&client, "dave@example.com").await, "Sales");
    }
}
