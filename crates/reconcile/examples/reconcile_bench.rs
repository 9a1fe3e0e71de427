//! Reconciler benchmark (see docs/benchmarks/reconcile.md).
//!
//! `cargo run --release -p gcprov-reconcile --example reconcile_bench -- apply [USERS] [RATE_PER_MIN] [PAGES_IN_FLIGHT] [own|shared]`
//!   An emulator org of USERS (default 10,000) generated users at a compressed rate limit
//!   (default 6,000 requests a minute); a desired state with 5% of them changed (4% new titles,
//!   0.5% missing → deactivated, 0.5% new users joining a new group). Reports API calls used /
//!   minimum (pages read + one write per change + membership batches) and wall time /
//!   (calls / rate limit). The emulator runs on its own 2-thread runtime (`own`, the default),
//!   as Genesys runs apart from gcprov; `shared` puts it on the client's runtime (the figures
//!   before 2026-11-23 afternoon), where its page rendering occupies the client's workers.
//!
//! `cargo run --release -p gcprov-reconcile --example reconcile_bench -- apply-roles [USERS] [RATE] [PAGES_IN_FLIGHT] [own|shared]`
//!   The same, plus a `division` and a `roles` column: 2.5% new titles, 1% of the users are
//!   granted the role Supervisor in the Sales division (the others' role cells are empty: not
//!   managed), 0.5% move to Sales, 0.5% deactivated, 0.5% created (5% in all). The minimum then also counts the Supervisor subjectgrants pages, one
//!   bulkadd per granted user and one move call per 50 moved users.
//!
//! `cargo run --release -p gcprov-reconcile --example reconcile_bench -- plan DESIRED ACTUAL`
//!   Plan time, CPU time and peak memory for DESIRED desired users (a CSV file streamed from
//!   disk) against an in-memory org of ACTUAL users (5% of the matches changed, the rest of the
//!   desired users new).

use std::io::Write;
use std::time::Instant;

use gcprov_emulator::{Emulator, EmulatorConfig, Seed, SeedDivision, SeedRole};
use gcprov_genesys::{ClientConfig, GenesysClient, SecretString};
use gcprov_reconcile::org::{ActualUser, Catalog, UserState};
use gcprov_reconcile::{
    ApplyOptions, DesiredReader, Format, Guard, NoProgress, Org, Planner, Settings,
};

type BoxError = Box<dyn std::error::Error>;

fn field(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Peak resident memory (VmHWM, KiB) and CPU seconds (user + system) of this process (Linux).
fn usage() -> (u64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = field(&status, "VmHWM:").unwrap_or(0);
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of /proc/pid/stat; here indexes 11 and 12.
    (hwm, (ticks(11) + ticks(12)) / 100.0)
}

/// CPU seconds (user + system) of this process's threads, split into the emulator's (threads
/// named `emulator`, its own runtime) and the rest (the client, the planner, the main thread).
fn thread_cpu() -> (f64, f64) {
    let (mut emu, mut rest) = (0.0, 0.0);
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return (0.0, 0.0);
    };
    for t in dir.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        let rest_of = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest_of.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
        let cpu = (ticks(11) + ticks(12)) / 100.0;
        if comm.trim() == "emulator" {
            emu += cpu;
        } else {
            rest += cpu;
        }
    }
    (emu, rest)
}

fn api_calls(stats: &serde_json::Value) -> u64 {
    stats["byRoute"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(r, _)| r.contains("/api/v2/"))
                .map(|(_, c)| c.as_u64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

async fn bench_apply(
    users: usize,
    rate: u32,
    roles: bool,
    page_concurrency: usize,
    emulator_rt: Option<tokio::runtime::Handle>,
) -> Result<(), BoxError> {
    let seed = roles.then(|| Seed {
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
            permissions: vec!["routing:queue:view".into()],
            ..Default::default()
        }],
        ..Default::default()
    });
    let emu_cfg = EmulatorConfig {
        rate_limit_per_minute: Some(rate),
        generate_users: users,
        seed,
        ..Default::default()
    };
    // Started on the emulator's runtime, its listener and connections are served there.
    let emu = match &emulator_rt {
        Some(rt) => rt.spawn(Emulator::start(emu_cfg)).await??,
        None => Emulator::start(emu_cfg).await?,
    };
    let base = gcprov_genesys::config::parse_base("bench", &emu.base_url())?;
    let mut cfg = ClientConfig::new(
        base.clone(),
        base,
        emu.admin_client_id(),
        SecretString::from(emu.admin_client_secret().to_string()),
    );
    cfg.rate_limit_per_minute = Some(rate);
    let client = GenesysClient::new(cfg)?;
    // The desired state, derived from the org before the run.
    let before = Org::read(&client).await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("desired.csv");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
    writeln!(
        f,
        "userName,displayName,title,department,groups,division,roles"
    )?;
    let mut changed = 0;
    for (i, u) in before.users.iter().enumerate() {
        if i % 200 == 1 {
            changed += 1; // missing → deactivated
            continue;
        }
        // With roles and moves in the mix, fewer title changes keep the total at 5%.
        let title_every = if roles { 40 } else { 25 };
        let title = if i % title_every == 0 {
            changed += 1;
            "Senior Agent"
        } else {
            u.title.as_deref().unwrap_or("")
        };
        let division = if roles && i % 200 == 3 {
            changed += 1;
            "Sales"
        } else {
            ""
        };
        let role = if roles && i % 100 == 7 {
            changed += 1;
            "Supervisor@Sales"
        } else {
            ""
        };
        writeln!(
            f,
            "{},{},{},{},,{division},{role}",
            u.email,
            u.name,
            title,
            u.department.as_deref().unwrap_or("")
        )?;
    }
    let new = users / 200;
    for i in 0..new {
        changed += 1;
        writeln!(f, "new{i}@gen.example.com,New User {i},Agent,Sales,Bench,,")?;
    }
    f.flush()?;
    drop(f);
    let settings = Settings::default();
    emu.reset_stats();
    let cpu0 = thread_cpu();
    let t0 = Instant::now();
    let org = Org::read_with(&client, page_concurrency).await?;
    let source = path.display().to_string();
    let mut planner = Planner::new(&org, &settings, None, &source);
    for d in DesiredReader::open(&path, Some(Format::Csv), &settings.mapping)? {
        planner.push(d?);
    }
    let plan = planner.finish_with_reads(&client).await?;
    let plan_time = t0.elapsed();
    let cpu1 = thread_cpu();
    plan.check_guard(&Guard {
        max_deletes: None,
        max_delete_percent: Some(10.0),
    })?;
    let opts = ApplyOptions {
        concurrency: 16,
        read_calls: plan.stats.read_calls,
        ..Default::default()
    };
    let report = gcprov_reconcile::apply(&client, None, &plan, &opts, &NoProgress).await?;
    let wall = t0.elapsed().as_secs_f64();
    let used = api_calls(&emu.stats());
    let minimum = plan.stats.read_calls + plan.stats.min_writes;
    let ideal = used as f64 / (f64::from(rate) / 60.0);
    println!("org users            {users}");
    println!(
        "changed users        {changed} ({:.1}%)",
        changed as f64 * 100.0 / users as f64
    );
    println!("rate limit           {rate}/min");
    println!("user pages in flight {page_concurrency}");
    println!(
        "emulator runtime     {}",
        if emulator_rt.is_some() {
            "own (2 threads)"
        } else {
            "shared with the client"
        }
    );
    println!("plan: reads          {}", plan.stats.read_calls);
    println!(
        "  of which grants    {}",
        emu.stats()["byRoute"]
            .as_object()
            .map(|m| m
                .iter()
                .filter(|(r, _)| r.contains("/subjectgrants"))
                .map(|(_, c)| c.as_u64().unwrap_or(0))
                .sum::<u64>())
            .unwrap_or(0)
    );
    println!(
        "plan: moves          {} users in {} calls",
        plan.moves.iter().map(|m| m.users.len()).sum::<usize>(),
        plan.moves.iter().map(|m| m.writes()).sum::<u64>()
    );
    println!("plan: writes         {}", plan.stats.min_writes);
    println!("plan time            {:.2} s", plan_time.as_secs_f64());
    if emulator_rt.is_some() {
        // Only the emulator's own runtime has threads named `emulator` (thread CPU is counted
        // when threads are alive; both runtimes' workers live through the whole run).
        println!(
            "read + plan CPU      {:.2} s gcprov, {:.2} s emulator",
            cpu1.1 - cpu0.1,
            cpu1.0 - cpu0.0
        );
    }
    println!("errors               {}", report.errors.len());
    println!("API calls (emulator) {used}");
    println!("minimum              {minimum}");
    println!("calls / minimum      {:.3}", used as f64 / minimum as f64);
    println!("wall time            {wall:.2} s");
    println!("calls / rate         {ideal:.2} s");
    println!("wall / (calls/rate)  {:.3}", wall / ideal);
    println!(
        "429s                 {}",
        emu.stats()["byStatus"]["429"].as_u64().unwrap_or(0)
    );
    match &emulator_rt {
        Some(rt) => rt.spawn(emu.shutdown()).await?,
        None => emu.shutdown().await,
    }
    Ok(())
}

fn bench_plan(desired: usize, actual: usize) -> Result<(), BoxError> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("desired.csv");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
        writeln!(
            f,
            "externalId,userName,displayName,title,department,active,groups"
        )?;
        for i in 0..desired {
            let title = if i < actual && i % 20 == 0 {
                "Senior Agent"
            } else {
                "Agent"
            };
            let group = ["Sales", "Support", "Billing"][i % 3];
            writeln!(
                f,
                "E{i},user{i}@gen.example.com,User {i},{title},Dept {},true,{group}",
                i % 7
            )?;
        }
        f.flush()?;
    }
    let (hwm0, cpu0) = usage();
    let t0 = Instant::now();
    let org = Org {
        users: (0..actual)
            .map(|i| ActualUser {
                id: format!("00000000-0000-4000-8000-{i:012}"),
                name: format!("User {i}"),
                email: format!("user{i}@gen.example.com"),
                state: UserState::Active,
                version: 1,
                title: Some("Agent".into()),
                department: Some(format!("Dept {}", i % 7)),
                division_id: None,
                employee_id: Some(format!("E{i}")),
                groups: Some(vec![format!("g{}", i % 3)]),
                skills: Some(Vec::new()),
                languages: Some(Vec::new()),
                grants: None,
            })
            .collect(),
        groups: ["Sales", "Support", "Billing"]
            .iter()
            .enumerate()
            .map(|(i, n)| gcprov_reconcile::org::ActualGroup {
                id: format!("g{i}"),
                name: n.to_string(),
                version: 1,
            })
            .collect(),
        catalog: Catalog::default(),
        read_calls: 0,
    };
    let settings = Settings::default();
    let source = path.display().to_string();
    let mut planner = Planner::new(&org, &settings, None, &source);
    for d in DesiredReader::open(&path, Some(Format::Csv), &settings.mapping)? {
        planner.push(d?);
    }
    let plan = planner.finish();
    let wall = t0.elapsed().as_secs_f64();
    let (hwm, cpu) = usage();
    let counts = plan.counts();
    println!("desired users        {desired}");
    println!("actual users         {actual}");
    println!("plan items           {} ({counts:?})", plan.users.len());
    println!(
        "membership batches   {}",
        plan.memberships.iter().map(|m| m.writes()).sum::<u64>()
    );
    println!("plan wall time       {wall:.2} s");
    println!("plan CPU time        {:.2} s", cpu - cpu0);
    println!(
        "peak RSS             {:.0} MiB (before planning: {:.0} MiB)",
        hwm as f64 / 1024.0,
        hwm0 as f64 / 1024.0
    );
    Ok(())
}

/// The client's runtime (2 workers, like the VM's 2 cores) and, unless `shared`, a separate
/// 2-worker runtime for the emulator.
fn run_apply(args: &[String], roles: bool) -> Result<(), BoxError> {
    let num = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let shared = match args.get(4).map(String::as_str) {
        None | Some("own") => false,
        Some("shared") => true,
        Some(other) => return Err(format!("emulator runtime `{other}`: own or shared").into()),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let emu_rt = if shared {
        None
    } else {
        Some(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("emulator")
                .enable_all()
                .build()?,
        )
    };
    rt.block_on(bench_apply(
        num(1, 10_000),
        num(2, 6_000) as u32,
        roles,
        num(3, gcprov_reconcile::org::READ_CONCURRENCY),
        emu_rt.as_ref().map(|r| r.handle().clone()),
    ))
}

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    match args.first().map(String::as_str) {
        Some("apply") => run_apply(&args, false),
        Some("apply-roles") => run_apply(&args, true),
        Some("plan") => bench_plan(num(1, 100_000), num(2, 10_000)),
        _ => Err(
            "usage: bench apply [USERS] [RATE] [PAGES_IN_FLIGHT] [own|shared] | bench apply-roles [USERS] [RATE] [PAGES_IN_FLIGHT] [own|shared] | bench plan DESIRED ACTUAL"
                .into(),
        ),
    }
}
