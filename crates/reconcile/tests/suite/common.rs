//! Emulator, client, store and helpers shared by the reconcile tests.

use std::io::Cursor;
use std::time::Duration;

use gcprov_emulator::{
    Emulator, EmulatorConfig, EmulatorHandle, Seed, SeedGroup, SeedNamed, SeedProficiency,
    SeedRole, SeedUser,
};
use gcprov_genesys::{ClientConfig, GenesysClient, SecretString};
use gcprov_reconcile::{DesiredReader, Format, Org, Plan, Planner, Settings};
use gcprov_store::{Store, StoreOptions};

pub async fn emulator(seed: Seed) -> EmulatorHandle {
    let cfg = EmulatorConfig {
        seed: Some(seed),
        rate_limit_per_minute: None,
        ..Default::default()
    };
    Emulator::start(cfg).await.expect("emulator starts")
}

pub fn client(emu: &EmulatorHandle) -> GenesysClient {
    let base = gcprov_genesys::config::parse_base("test", &emu.base_url()).expect("url");
    let mut cfg = ClientConfig::new(
        base.clone(),
        base,
        emu.admin_client_id(),
        SecretString::from(emu.admin_client_secret().to_string()),
    );
    cfg.rate_limit_per_minute = None;
    cfg.request_timeout = Duration::from_secs(10);
    cfg.retry.base_delay = Duration::from_millis(10);
    cfg.retry.max_delay = Duration::from_millis(100);
    GenesysClient::new(cfg).expect("client")
}

pub async fn store(dir: &tempfile::TempDir) -> Store {
    Store::open(StoreOptions::sqlite_in_dir(dir.path()))
        .await
        .expect("store")
}

pub fn user(name: &str, email: &str) -> SeedUser {
    SeedUser {
        name: name.into(),
        email: email.into(),
        ..Default::default()
    }
}

pub fn prof(name: &str, p: f64) -> SeedProficiency {
    SeedProficiency {
        name: name.into(),
        proficiency: p,
    }
}

pub fn named(n: &str) -> SeedNamed {
    SeedNamed {
        id: None,
        name: n.into(),
    }
}

pub fn group(name: &str, members: &[&str]) -> SeedGroup {
    SeedGroup {
        name: name.into(),
        members: members.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

/// A small org exercising every action.
pub fn demo_seed() -> Seed {
    let mut alice = user("Alice Adams", "alice@example.com");
    alice.title = Some("Agent".into());
    alice.employee_id = Some("E1".into());
    alice.skills = vec![prof("Sales", 2.0)];
    let bob = user("Bob Brown", "bob@example.com");
    let mut carol = user("Carol Cole", "carol@example.com");
    carol.state = "deleted".into();
    let dave = user("Dave Dunn", "dave@example.com");
    let erin = user("Erin Ernst", "erin@example.com");
    Seed {
        skills: vec![named("Sales"), named("Billing")],
        roles: vec![SeedRole {
            name: "Agent Role".into(),
            permissions: vec!["routing:queue:view".into()],
            ..Default::default()
        }],
        languages: vec![named("English"), named("French")],
        groups: vec![group("Agents", &["dave@example.com", "erin@example.com"])],
        users: vec![alice, bob, carol, dave, erin],
        ..Default::default()
    }
}

/// Desired state for [`demo_seed`]: alice updated (title, skills), bob missing (deactivate),
/// carol restored, dave unchanged, erin moved from Agents to a new group Support, frank created.
pub const DEMO_CSV: &str = "\
externalId,userName,displayName,title,active,groups,skills,languages,roles
E1,alice@example.com,Alice Adams,Senior Agent,true,,Billing:4,English:3,Agent Role
E3,carol@example.com,Carol Cole,,true,,,,
,dave@example.com,Dave Dunn,,true,Agents,,,
,erin@example.com,Erin Ernst,,true,Support,,,
E6,frank@example.com,Frank Fox,Agent,true,Agents;Support,Billing:1,,Agent Role
";

pub fn reader(csv: &str) -> DesiredReader {
    DesiredReader::from_reader(
        Box::new(Cursor::new(csv.as_bytes().to_vec())),
        "desired.csv",
        Format::Csv,
        &Default::default(),
    )
    .expect("reader")
}

/// Reads the org, streams `csv` into a plan and reads what the plan needs beyond the org (the
/// grants of the roles the desired state names), as `gcprov plan` does.
pub async fn plan(client: &GenesysClient, csv: &str, settings: &Settings) -> Plan {
    let org = Org::read(client).await.expect("org read");
    let mut planner = Planner::new(&org, settings, None, "desired.csv");
    for d in reader(csv) {
        planner.push(d.expect("desired record"));
    }
    planner.finish_with_reads(client).await.expect("plan")
}

/// Requests counted by the emulator whose route starts with `method` and contains `part`.
#[allow(dead_code)]
pub fn route_calls(emu: &EmulatorHandle, method: &str, part: &str) -> u64 {
    let s = emu.stats();
    let mut n = 0;
    if let Some(m) = s["byRoute"].as_object() {
        for (route, c) in m {
            if route.starts_with(&format!("{method} ")) && route.contains(part) {
                n += c.as_u64().unwrap_or(0);
            }
        }
    }
    n
}

/// Writes (non-GET API requests, login excluded) counted by the emulator.
pub fn writes(emu: &EmulatorHandle) -> u64 {
    let s = emu.stats();
    let mut n = 0;
    if let Some(m) = s["byRoute"].as_object() {
        for (route, c) in m {
            if !route.starts_with("GET ")
                && !route.contains("/oauth/token")
                && !route.contains("/search")
            {
                n += c.as_u64().unwrap_or(0);
            }
        }
    }
    n
}

/// API requests (login excluded) counted by the emulator.
#[allow(dead_code)]
pub fn api_calls(emu: &EmulatorHandle) -> u64 {
    let s = emu.stats();
    let mut n = 0;
    if let Some(m) = s["byRoute"].as_object() {
        for (route, c) in m {
            if route.contains("/api/v2/") {
                n += c.as_u64().unwrap_or(0);
            }
        }
    }
    n
}
