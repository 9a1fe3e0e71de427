//! Emulator benchmark: memory per user and requests/second for `GET /api/v2/users/{userId}` and
//! SCIM `GET /api/v2/scim/v2/Users?filter=userName eq …`, over loopback, rate limit off.
//!
//! `cargo run --release -p gcprov-emulator --example emulator_bench -- [USERS] [REQUESTS] [CONNECTIONS]`
//! (defaults 100000 200000 64). The load generator is a minimal keep-alive HTTP/1.1 client in
//! the same process, so it shares the machine's cores with the server; the numbers are a lower
//! bound. Bounded: it stops after REQUESTS requests per endpoint. With `--serve` it only loads
//! the users, prints the base URL, a token, a user id and email, and serves (for `wrk`).

use std::time::Instant;

use gcprov_emulator::{Emulator, EmulatorConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Send `n` GETs of `path` on one keep-alive connection; returns how many answered 200.
async fn worker(addr: std::net::SocketAddr, path: String, token: String, n: usize) -> usize {
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return 0;
    };
    let _ = s.set_nodelay(true);
    let req =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n");
    let mut buf = vec![0u8; 64 * 1024];
    let mut ok = 0;
    for _ in 0..n {
        if s.write_all(req.as_bytes()).await.is_err() {
            break;
        }
        // Read one response: headers, then content-length bytes.
        let mut have = 0;
        let (head_end, len, status) = loop {
            match s.read(&mut buf[have..]).await {
                Ok(0) | Err(_) => return ok,
                Ok(k) => have += k,
            }
            if let Some(i) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                let status = head.get(9..12).unwrap_or("").to_owned();
                break (i + 4, len, status);
            }
            if have == buf.len() {
                return ok;
            }
        };
        while have < head_end + len {
            if buf.len() < head_end + len {
                buf.resize(head_end + len, 0);
            }
            match s.read(&mut buf[have..]).await {
                Ok(0) | Err(_) => return ok,
                Ok(k) => have += k,
            }
        }
        if status == "200" {
            ok += 1;
        }
    }
    ok
}

async fn run(
    addr: std::net::SocketAddr,
    path: &str,
    token: &str,
    total: usize,
    conns: usize,
) -> (f64, usize) {
    let per = total / conns;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        tasks.push(tokio::spawn(worker(
            addr,
            path.to_owned(),
            token.to_owned(),
            per,
        )));
    }
    let mut ok = 0;
    for t in tasks {
        ok += t.await.unwrap_or(0);
    }
    let secs = start.elapsed().as_secs_f64();
    ((per * conns) as f64 / secs, ok)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let users = args.first().copied().unwrap_or(100_000);
    let requests = args.get(1).copied().unwrap_or(200_000);
    let conns = args.get(2).copied().unwrap_or(64).max(1);

    // Baseline: an emulator with no generated users, so runtime and router allocations are
    // already in the RSS before the measured one starts.
    let base = Emulator::start(EmulatorConfig {
        rate_limit_per_minute: None,
        ..Default::default()
    })
    .await?;
    base.shutdown().await;
    let before = rss_bytes();
    let emu = Emulator::start(EmulatorConfig {
        rate_limit_per_minute: None,
        generate_users: users,
        ..Default::default()
    })
    .await?;
    let after = rss_bytes();
    let delta = after.saturating_sub(before);
    println!("users loaded: {}", emu.user_count());
    println!(
        "RSS delta for {users} users: {:.1} MiB = {:.0} bytes/user",
        delta as f64 / 1048576.0,
        delta as f64 / users.max(1) as f64
    );

    let http = reqwest::Client::new();
    let tok: serde_json::Value = http
        .post(format!("{}/oauth/token", emu.base_url()))
        .basic_auth(emu.admin_client_id(), Some(emu.admin_client_secret()))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await?
        .json()
        .await?;
    let token = tok["access_token"].as_str().unwrap_or_default().to_owned();
    let found: serde_json::Value = http
        .post(format!("{}/api/v2/users/search", emu.base_url()))
        .bearer_auth(&token)
        .json(&serde_json::json!({"query": [{"type": "EXACT", "fields": ["email"], "value": format!("user{}@gen.example.com", users / 2)}]}))
        .send()
        .await?
        .json()
        .await?;
    let id = found["results"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let email = found["results"][0]["email"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let addr = emu.local_addr();
    if std::env::args().any(|a| a == "--serve") {
        // For an external load generator (wrk): print what it needs, then serve for at most
        // ten minutes.
        println!(
            "base {}\ntoken {token}\nuser {id}\nemail {email}",
            emu.base_url()
        );
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = tokio::time::sleep(std::time::Duration::from_secs(600)) => {}
        }
        emu.shutdown().await;
        return Ok(());
    }

    // warm-up
    run(
        addr,
        &format!("/api/v2/users/{id}"),
        &token,
        10_000.min(requests),
        conns,
    )
    .await;
    emu.reset_stats();
    let (rps, ok) = run(
        addr,
        &format!("/api/v2/users/{id}"),
        &token,
        requests,
        conns,
    )
    .await;
    println!("GET /api/v2/users/{{userId}}: {rps:.0} req/s ({ok} x 200, {conns} connections)");
    let path = format!("/api/v2/scim/v2/Users?filter=userName%20eq%20%22{email}%22");
    let (rps, ok) = run(addr, &path, &token, requests, conns).await;
    println!(
        "GET /api/v2/scim/v2/Users?filter=userName eq: {rps:.0} req/s ({ok} x 200, {conns} connections)"
    );
    let stats = emu.stats();
    println!("stats total requests: {}", stats["totalRequests"]);
    emu.shutdown().await;
    Ok(())
}
