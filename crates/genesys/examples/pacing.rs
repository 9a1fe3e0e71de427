//! Pacing benchmark: a long mixed run against the emulator at its rate limit.
//!
//! ```text
//! cargo run --release -p gcprov-genesys --example pacing -- --requests 2000 --tasks 32 --limit 600
//! ```
//!
//! Prints the achieved request rate as a fraction of the limit and the number of 429s the
//! emulator answered (from `GET /emulator/stats`). Exits non-zero if any 429 was seen.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gcprov_emulator::{Emulator, EmulatorConfig};
use gcprov_genesys::models::{CreateUser, SearchCriteria, SearchRequest, UpdateUser};
use gcprov_genesys::{ClientConfig, GenesysClient, SecretString};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let requests = arg("--requests", 2000);
    let tasks = arg("--tasks", 32);
    let limit = arg("--limit", 600) as u32;

    let emu = Emulator::start(EmulatorConfig {
        rate_limit_per_minute: Some(limit),
        ..Default::default()
    })
    .await?;
    let base = url::Url::parse(&emu.base_url())?;
    let mut cfg = ClientConfig::new(
        base.clone(),
        base,
        emu.admin_client_id(),
        SecretString::from(emu.admin_client_secret().to_string()),
    );
    cfg.rate_limit_per_minute = Some(limit);
    let client = Arc::new(GenesysClient::new(cfg)?);
    client.authenticate().await?;

    let budget = Arc::new(AtomicU64::new(0));
    let conflicts = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let client = client.clone();
        let budget = budget.clone();
        let conflicts = conflicts.clone();
        handles.push(tokio::spawn(async move {
            // (id, version, email) of users this task created.
            let mut mine: Vec<(String, i64, String)> = Vec::new();
            loop {
                let i = budget.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    break;
                }
                let op = if mine.is_empty() { 0 } else { i % 10 };
                let pick = (i as usize) % mine.len().max(1);
                match op {
                    0 => {
                        let email = format!("bench.{t}.{i}@example.test");
                        let u = client
                            .create_user(&CreateUser {
                                name: format!("Bench {t} {i}"),
                                email: email.clone(),
                                ..Default::default()
                            })
                            .await?;
                        mine.push((u.id.unwrap_or_default(), u.version.unwrap_or(1), email));
                    }
                    1 | 2 => {
                        let (id, version, _) = mine[pick].clone();
                        match client
                            .update_user(
                                &id,
                                &UpdateUser {
                                    version,
                                    department: Some(format!("D{i}")),
                                    ..Default::default()
                                },
                            )
                            .await
                        {
                            Ok(u) => mine[pick].1 = u.version.unwrap_or(version + 1),
                            Err(e) if e.is_version_conflict() => {
                                conflicts.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    3..=5 => {
                        client.get_user(&mine[pick].0, &[]).await?;
                    }
                    6 | 7 => {
                        client
                            .search_users(&SearchRequest::new(vec![SearchCriteria::exact(
                                "email",
                                &mine[pick].2,
                            )]))
                            .await?;
                    }
                    _ => {
                        client.get_home_division().await?;
                    }
                }
            }
            Ok::<_, gcprov_genesys::Error>(())
        }));
    }
    for h in handles {
        h.await??;
    }
    let elapsed = started.elapsed();
    let sent = client.stats().paced_requests;
    let stats: serde_json::Value = reqwest::get(format!("{}/emulator/stats", emu.base_url()))
        .await?
        .json()
        .await?;
    let too_many = stats["byStatus"]["429"].as_u64().unwrap_or(0);
    let per_minute = sent as f64 / elapsed.as_secs_f64() * 60.0;
    println!(
        "requests={sent} tasks={tasks} limit={limit}/min elapsed={:.1}s achieved={per_minute:.1}/min fraction={:.3} 429s={too_many} version_conflicts={}",
        elapsed.as_secs_f64(),
        per_minute / f64::from(limit),
        conflicts.load(Ordering::Relaxed)
    );
    emu.shutdown().await;
    if too_many > 0 {
        std::process::exit(1);
    }
    let _ = Duration::ZERO;
    Ok(())
}
