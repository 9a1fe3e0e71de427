//! Client CPU overhead per request against the emulator with the rate limit disabled.
//!
//! ```text
//! cargo run --release -p gcprov-genesys --example overhead -- --requests 20000 --concurrency 8
//! ```
//!
//! The emulator runs on its own runtime in a separate OS thread pool; the client runs on a
//! current-thread runtime on the main thread, so the main thread's CPU time
//! (`/proc/thread-self/schedstat`, nanoseconds) is the client's cost: gcprov-genesys plus
//! reqwest/hyper. The same loop with bare reqwest (bearer token, no pacing, retries or
//! decoding) is measured as a baseline.

use std::time::Instant;

use futures::StreamExt;
use gcprov_emulator::{Emulator, EmulatorConfig};
use gcprov_genesys::{ClientConfig, GenesysClient, SecretString};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU time of the calling thread in nanoseconds (Linux).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let requests = arg("--requests", 20_000) as usize;
    let concurrency = arg("--concurrency", 8) as usize;

    // Emulator in its own runtime and threads.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("emulator runtime");
        rt.block_on(async move {
            let emu = Emulator::start(EmulatorConfig {
                rate_limit_per_minute: None,
                ..Default::default()
            })
            .await
            .expect("emulator");
            tx.send((
                emu.base_url(),
                emu.admin_client_id().to_string(),
                emu.admin_client_secret().to_string(),
            ))
            .expect("send");
            std::future::pending::<()>().await;
        });
    });
    let (base, id, secret) = rx.recv()?;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let url = url::Url::parse(&base)?;
        let mut cfg = ClientConfig::new(url.clone(), url, id.clone(), SecretString::from(secret.clone()));
        cfg.rate_limit_per_minute = None;
        let client = GenesysClient::new(cfg)?;
        client.authenticate().await?;
        // Warm up connections.
        for _ in 0..100 {
            client.get_home_division().await?;
        }

        let wall = Instant::now();
        let cpu0 = thread_cpu_ns();
        let results: Vec<_> = futures::stream::iter(0..requests)
            .map(|_| client.get_home_division())
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let cpu = thread_cpu_ns() - cpu0;
        let secs = wall.elapsed().as_secs_f64();
        let failures = results.iter().filter(|r| r.is_err()).count();
        println!(
            "gcprov-genesys: requests={requests} concurrency={concurrency} wall={secs:.2}s rate={:.0}/s client_cpu={:.1}us/request failures={failures}",
            requests as f64 / secs,
            cpu as f64 / requests as f64 / 1000.0
        );

        // Baseline: bare reqwest with a token.
        let http = reqwest::Client::new();
        let tok: serde_json::Value = http
            .post(format!("{base}/oauth/token"))
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await?
            .json()
            .await?;
        let token = tok["access_token"].as_str().unwrap_or_default().to_string();
        let target = format!("{base}/api/v2/authorization/divisions/home");
        let wall = Instant::now();
        let cpu0 = thread_cpu_ns();
        let results: Vec<_> = futures::stream::iter(0..requests)
            .map(|_| {
                let req = http.get(&target).bearer_auth(&token).send();
                async move {
                    match req.await {
                        Ok(r) => r.bytes().await.map(|b| b.len()),
                        Err(e) => Err(e),
                    }
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let cpu = thread_cpu_ns() - cpu0;
        let secs = wall.elapsed().as_secs_f64();
        let failures = results.iter().filter(|r| r.is_err()).count();
        println!(
            "bare reqwest:   requests={requests} concurrency={concurrency} wall={secs:.2}s rate={:.0}/s client_cpu={:.1}us/request failures={failures}",
            requests as f64 / secs,
            cpu as f64 / requests as f64 / 1000.0
        );
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    Ok(())
}
