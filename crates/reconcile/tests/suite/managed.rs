//! Which attributes a desired state manages: a column absent from the CSV (or a key absent from
//! a SCIM record), or an empty cell, never changes the attribute of a matched user.

use std::io::Cursor;

use gcprov_emulator::{Seed, SeedDivision, SeedRole};
use gcprov_genesys::GenesysClient;
use gcprov_reconcile::desired::Field;
use gcprov_reconcile::plan::UserAction;
use gcprov_reconcile::{
    DesiredReader, Format, MissingAction, NoProgress, Org, Plan, Planner, Settings, apply,
};

use super::common::*;

fn keep_missing() -> Settings {
    Settings {
        missing: MissingAction::Never,
        ..Default::default()
    }
}

/// Alice has every attribute the desired state knows; Ivan is inactive; Carl is deleted.
fn seed() -> Seed {
    let mut alice = user("Alice Adams", "alice@example.com");
    alice.title = Some("Agent".into());
    alice.department = Some("Support".into());
    alice.division = Some("Sales".into());
    alice.roles = vec!["Agent Role".into()];
    alice.skills = vec![prof("Sales", 3.0)];
    alice.languages = vec![prof("English", 2.0)];
    alice.employee_id = Some("E1".into());
    let mut ivan = user("Ivan Ivy", "ivan@example.com");
    ivan.state = "inactive".into();
    let mut carl = user("Carl Cope", "carl@example.com");
    carl.state = "deleted".into();
    Seed {
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
            name: "Agent Role".into(),
            permissions: vec!["routing:queue:view".into()],
            ..Default::default()
        }],
        skills: vec![named("Sales")],
        languages: vec![named("English")],
        groups: vec![group("Agents", &["alice@example.com"])],
        users: vec![alice, ivan, carl],
        ..Default::default()
    }
}

async fn plan_as(client: &GenesysClient, text: &str, format: Format) -> Plan {
    plan_with(client, text, format, &keep_missing()).await
}

async fn plan_with(
    client: &GenesysClient,
    text: &str,
    format: Format,
    settings: &Settings,
) -> Plan {
    let org = Org::read(client).await.expect("org read");
    let mut planner = Planner::new(&org, settings, None, "desired");
    let reader = DesiredReader::from_reader(
        Box::new(Cursor::new(text.as_bytes().to_vec())),
        "desired",
        format,
        &settings.mapping,
    )
    .expect("reader");
    for d in reader {
        planner.push(d.expect("desired record"));
    }
    planner.finish_with_reads(client).await.expect("plan")
}

/// The changed fields of the plan's item for `key`.
fn fields(p: &Plan, key: &str) -> Vec<String> {
    p.users
        .iter()
        .filter(|u| u.key == key)
        .flat_map(|u| u.changes.iter().map(|c| c.field.clone()))
        .collect()
}

#[tokio::test]
async fn absent_columns_and_empty_cells_change_nothing() {
    let emu = emulator(seed()).await;
    let client = client(&emu);

    // Only the key column: before the fix every user was renamed to its userName and Ivan was
    // activated.
    let p = plan_as(
        &client,
        "userName\nalice@example.com\nivan@example.com\n",
        Format::Csv,
    )
    .await;
    assert!(p.is_empty(), "{}", p.render(true, false));

    // Each known column on its own, with empty cells.
    for f in Field::ALL {
        if f == Field::UserName {
            continue;
        }
        let h = f.header();
        let csv = format!("userName,{h}\nalice@example.com,\nivan@example.com,\n");
        let p = plan_as(&client, &csv, Format::Csv).await;
        assert!(
            p.is_empty(),
            "an empty `{h}` column changed something:\n{}",
            p.render(true, false)
        );
    }

    // Every column present, every cell but the key empty.
    let headers: Vec<&str> = Field::ALL.iter().map(|f| f.header()).collect();
    let row = |user: &str| {
        Field::ALL
            .iter()
            .map(|f| if *f == Field::UserName { user } else { "" })
            .collect::<Vec<_>>()
            .join(",")
    };
    let csv = format!(
        "{}\n{}\n{}\n",
        headers.join(","),
        row("alice@example.com"),
        row("ivan@example.com")
    );
    let p = plan_as(&client, &csv, Format::Csv).await;
    assert!(p.is_empty(), "{}", p.render(true, false));

    // SCIM records without the keys (JSON and NDJSON).
    let ndjson = "{\"userName\":\"alice@example.com\"}\n{\"userName\":\"ivan@example.com\"}\n";
    let p = plan_as(&client, ndjson, Format::Ndjson).await;
    assert!(p.is_empty(), "{}", p.render(true, false));
    let json = "[{\"userName\":\"alice@example.com\",\"active\":null},{\"userName\":\"ivan@example.com\",\"name\":{}}]";
    let p = plan_as(&client, json, Format::Json).await;
    assert!(p.is_empty(), "{}", p.render(true, false));
}

#[tokio::test]
async fn a_present_value_changes_exactly_its_attribute() {
    let emu = emulator(seed()).await;
    let client = client(&emu);
    let a = "alice@example.com";
    let cases: [(&str, &str, &str); 10] = [
        ("displayName", "Alice A. Adams", "name"),
        ("givenName", "Alicia", "name"),
        ("familyName", "Smith", "name"),
        ("title", "Lead", "title"),
        ("department", "Sales", "department"),
        ("externalId", "E9", "externalId"),
        ("division", "Home", "division"),
        ("active", "false", "state"),
        ("skills", "Sales:5", "skill"),
        ("roles", "Agent Role@Sales", "role"),
    ];
    for (col, value, field) in cases {
        let p = plan_as(
            &client,
            &format!("userName,{col}\n{a},{value}\n"),
            Format::Csv,
        )
        .await;
        let got = fields(&p, a);
        assert!(
            !got.is_empty() && got.iter().all(|g| g == field),
            "`{col}` = {value:?} should change only {field}, got {got:?}:\n{}",
            p.render(true, false)
        );
    }
    // Lists: a non-empty cell is authoritative (Alice leaves Agents for Other).
    let p = plan_as(
        &client,
        &format!("userName,groups\n{a},Other\n"),
        Format::Csv,
    )
    .await;
    assert_eq!(p.users.len(), 1, "{}", p.render(true, false));
    assert_eq!(p.users[0].groups_add, ["Other"]);
    assert_eq!(p.users[0].groups_remove.len(), 1);
    assert!(p.users[0].changes.is_empty());
    let p = plan_as(
        &client,
        &format!("userName,languages\n{a},\"\"\n"),
        Format::Csv,
    )
    .await;
    assert!(p.is_empty(), "an empty quoted cell is empty");
    // The inactive user is activated only when the record says so.
    let p = plan_as(
        &client,
        "userName,active\nivan@example.com,true\n",
        Format::Csv,
    )
    .await;
    assert_eq!(p.counts().get(&UserAction::Activate), Some(&1));
    assert_eq!(fields(&p, "ivan@example.com"), vec!["state".to_string()]);
}

#[tokio::test]
async fn creates_and_restores_without_name_or_active_columns() {
    let emu = emulator(seed()).await;
    let client = client(&emu);
    let csv = "userName,title\nnew@example.com,Agent\ncarl@example.com,\n";
    let p = plan_as(&client, csv, Format::Csv).await;
    assert_eq!(p.counts().get(&UserAction::Create), Some(&1));
    assert_eq!(
        p.counts().get(&UserAction::Restore),
        Some(&1),
        "a deleted user named by the desired state is restored"
    );
    let rep = apply(&client, None, &p, &Default::default(), &NoProgress)
        .await
        .expect("apply");
    assert!(rep.errors.is_empty(), "{}", rep.render());

    let org = Org::read(&client).await.expect("org read");
    let by = |e: &str| {
        org.users
            .iter()
            .find(|u| u.email == e)
            .unwrap_or_else(|| panic!("{e} missing"))
    };
    let new = by("new@example.com");
    assert_eq!(new.name, "new@example.com", "a create without a name");
    assert_eq!(new.state.as_str(), "active");
    let carl = by("carl@example.com");
    assert_eq!(carl.state.as_str(), "active");
    assert_eq!(carl.name, "Carl Cope", "a restore keeps the name");

    // The created user is not renamed later, and nothing else changes.
    let p = plan_as(&client, csv, Format::Csv).await;
    assert!(p.is_empty(), "{}", p.render(true, false));
}

/// With `missing = deactivate` (the default) the desired state is the roster: a listed user is
/// active even without an `active` column, so a user deactivated for being missing comes back
/// when the file lists them again. With `missing = never` (above) the state is left alone.
#[tokio::test]
async fn a_roster_reactivates_listed_users_without_an_active_column() {
    let emu = emulator(seed()).await;
    let client = client(&emu);
    let settings = Settings::default();
    assert_eq!(settings.missing, MissingAction::Deactivate);
    let text = "userName\nalice@example.com\nivan@example.com\n";
    let p = plan_with(&client, text, Format::Csv, &settings).await;
    assert_eq!(
        p.counts().get(&UserAction::Activate),
        Some(&1),
        "{}",
        p.render(true, false)
    );
    assert_eq!(fields(&p, "ivan@example.com"), vec!["state".to_string()]);
    assert_eq!(fields(&p, "alice@example.com"), Vec::<String>::new());
}
