//! Gateway benchmark over loopback (bounded request counts; stops by itself).
//!
//! `cargo run --release -p gcprov-gateway --example gateway_bench [-- REQUESTS [RATE [full|normal [apart|shared]]]]`
//!
//! 1. Latency added by the gateway at a fixed 500 requests/s (open loop): a user PATCH through
//!    the gateway (normalise, policy, read model, audit, Genesys write) against the same SCIM
//!    PATCH sent to the emulator directly; and a GET by id from the read model against a GET
//!    from the emulator.
//! 2. Filtered `userName eq` reads per second (32 concurrent clients).
//!
//! The direct and the gateway PATCH runs work on two disjoint halves of the sampled users: a
//! direct PATCH bumps the user's Genesys version behind the gateway's back, so reusing those
//! users would make every gateway PATCH's first attempt per user a version conflict (re-read
//! and re-apply: three Genesys calls instead of one), which is not the steady state measured.
//! It also prints the load average and the disk's `fdatasync` latency in the store's directory,
//! back to back and at one sync per 1/RATE (the floor of a durable commit at that rate), since
//! both vary from machine to machine and minute to minute.
//!
//! Each path is first warmed up with `REQUESTS / 4` requests of the same kind at the same rate
//! (on the same users): connection pools, prepared statements and page caches fill during the
//! first few hundred requests of a fresh process, and the target is about the steady state. For
//! the PATCH runs it also prints the process's CPU time and bytes written per request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gcprov_emulator::{Emulator, EmulatorConfig, Seed};
use gcprov_gateway::{Authenticator, Gateway, GatewayConfig, Role, StartOptions, demo, hash_token};
use gcprov_genesys::{ClientConfig, SecretString};
use gcprov_store::{SqliteDurability, Store, StoreOptions};
use serde_json::{Value, json};

const TOKEN: &str = "bench-token-0123456789";

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    if v.is_empty() {
        return 0.0;
    }
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

/// Sends `n` requests at `rate`/s (open loop) and returns latencies in ms and the error count.
async fn paced<F, Fut>(n: usize, rate: u64, f: F) -> (Vec<f64>, usize)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        tick.tick().await;
        let fut = f(i);
        handles.push(tokio::spawn(async move {
            let t = Instant::now();
            let ok = fut.await;
            (t.elapsed().as_secs_f64() * 1000.0, ok)
        }));
    }
    let mut lat = Vec::with_capacity(n);
    let mut errors = 0;
    for h in handles {
        if let Ok((ms, ok)) = h.await {
            lat.push(ms);
            if !ok {
                errors += 1;
            }
        }
    }
    (lat, errors)
}

#[derive(Clone, Copy)]
enum Req {
    /// A SCIM PATCH replacing the user's title.
    Patch,
    /// A GET of the user by id.
    Get,
}

/// One side of the comparison: the emulator's SCIM users endpoint, or the gateway's.
struct Target {
    http: reqwest::Client,
    users_url: String,
    token: String,
}

impl Target {
    /// `n` requests at `rate`/s over `users` (round robin): latencies in ms and errors.
    async fn run(
        &self,
        req: Req,
        users: &Arc<Vec<(String, String)>>,
        n: usize,
        rate: u64,
    ) -> (Vec<f64>, usize) {
        paced(n, rate, |i| {
            let (id, _) = &users[i % users.len()];
            let url = format!("{}/{id}", self.users_url);
            let rb = match req {
                Req::Patch => self.http.patch(url).json(&json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "title", "value": format!("title {i}")}]
                })),
                Req::Get => self.http.get(url),
            };
            let rb = rb.bearer_auth(&self.token);
            async move { rb.send().await.is_ok_and(|r| r.status().is_success()) }
        })
        .await
    }

    /// [`Self::run`], also telling the process's CPU time and bytes written per request.
    async fn measured(
        &self,
        req: Req,
        users: &Arc<Vec<(String, String)>>,
        n: usize,
        rate: u64,
    ) -> (Vec<f64>, usize, String) {
        let (c0, w0) = (cpu_ms(), written_kib());
        let (lat, errors) = self.run(req, users, n, rate).await;
        let per = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => format!("{:.3}", (b - a) / n as f64),
            _ => "?".to_string(),
        };
        let cost = format!(
            "per request: CPU {} ms (whole process), written {} KiB",
            per(c0, cpu_ms()),
            per(w0, written_kib())
        );
        (lat, errors, cost)
    }
}

/// CPU time (user + system) of this process so far, in ms (Linux `/proc/self/stat`).
fn cpu_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces): utime and stime are the 12th
    // and 13th, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks * 10.0)
}

/// Bytes this process has written to files and sockets so far, in KiB (`/proc/self/io`).
fn written_kib() -> Option<f64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    let v = io.lines().find_map(|l| l.strip_prefix("wchar: "))?;
    Some(v.trim().parse::<f64>().ok()? / 1024.0)
}

/// `fdatasync` latency (p50, p99 in ms) in `dir` after writing 64 KiB (about what one gateway
/// write adds to the WAL) over a region written before: what a durable commit costs at least on
/// this disk right now. With `gap`, the probe waits that long between syncs, as commits arrive
/// at a fixed rate; on the virtual disks measured, a sync that follows a pause was several
/// times slower than one issued back to back (see docs/benchmarks/gateway.md), so the
/// back-to-back figure alone understates the floor.
fn fsync_probe(dir: &std::path::Path, gap: Option<Duration>) -> std::io::Result<(f64, f64)> {
    use std::io::{Seek, SeekFrom, Write};
    const CHUNK: usize = 64 * 1024;
    const SLOTS: u64 = 16;
    let path = dir.join("fsync-probe");
    let mut f = std::fs::File::create(&path)?;
    let chunk = vec![7u8; CHUNK];
    for _ in 0..SLOTS {
        f.write_all(&chunk)?;
    }
    f.sync_all()?;
    let samples = if gap.is_some() { 500 } else { 200 };
    let mut lat = Vec::with_capacity(samples);
    for i in 0..samples as u64 {
        f.seek(SeekFrom::Start((i % SLOTS) * CHUNK as u64))?;
        f.write_all(&chunk)?;
        let t = Instant::now();
        f.sync_data()?;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        if let Some(g) = gap {
            std::thread::sleep(g);
        }
    }
    std::fs::remove_file(&path)?;
    Ok((pct(&mut lat, 0.50), pct(&mut lat, 0.99)))
}

fn report(name: &str, lat: &mut [f64], errors: usize) -> (f64, f64) {
    let p50 = pct(lat, 0.50);
    let p99 = pct(lat, 0.99);
    println!(
        "{name:<44} n={:<6} p50={p50:>7.3} ms  p99={p99:>7.3} ms  errors={errors}",
        lat.len()
    );
    (p50, p99)
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Fourth argument: where the emulator and the gateway run. `apart` (the default): each on a
/// 2-worker runtime of its own, the bench client on a third, as Genesys Cloud, gcprov and the
/// IdP are separate programs (they still share the machine's cores). `shared`: all three on one
/// runtime, where every request's client, gateway and emulator tasks queue behind each other
/// (the topology of the runs recorded before 5 December 2026).
fn main() -> Result<(), BoxError> {
    let shared = match std::env::args().nth(4).as_deref() {
        None | Some("apart") => false,
        Some("shared") => true,
        Some(other) => return Err(format!("topology must be apart or shared, not {other}").into()),
    };
    let runtime = |name: &str| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(name)
            .enable_all()
            .build()
    };
    let client = runtime("client")?;
    let (emu_rt, gw_rt) = if shared {
        (None, None)
    } else {
        (Some(runtime("emulator")?), Some(runtime("gateway")?))
    };
    let on = |rt: &Option<tokio::runtime::Runtime>| {
        rt.as_ref()
            .map_or_else(|| client.handle().clone(), |r| r.handle().clone())
    };
    let (emu_h, gw_h) = (on(&emu_rt), on(&gw_rt));
    println!(
        "topology: {}",
        if shared {
            "client, gateway and emulator on one runtime"
        } else {
            "client, gateway and emulator on runtimes of their own"
        }
    );
    client.block_on(bench(emu_h, gw_h))
}

async fn bench(
    emu_rt: tokio::runtime::Handle,
    gw_rt: tokio::runtime::Handle,
) -> Result<(), BoxError> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    // Started on its runtime, a server's listener and connections are served there.
    let emu = emu_rt
        .spawn(Emulator::start(EmulatorConfig {
            seed: Some(Seed::from_json_str(demo::DEMO_SEED)?),
            rate_limit_per_minute: None,
            generate_users: 1000,
            ..Default::default()
        }))
        .await??;
    let dir = tempfile::tempdir()?;
    // Third argument: the SQLite durability, `full` (default, fsync per commit) or `normal`
    // (WAL; survives a process crash, not a machine crash): `store.sqlite_synchronous`.
    let durability = match std::env::args().nth(3).as_deref() {
        None | Some("full") => SqliteDurability::Full,
        Some("normal") => SqliteDurability::Normal,
        Some(other) => return Err(format!("durability must be full or normal, not {other}").into()),
    };
    println!("store: SQLite, synchronous={durability:?}");
    let mut gcfg = ClientConfig::with_api_base(
        url::Url::parse(&emu.base_url())?,
        emu.admin_client_id().to_string(),
        SecretString::from(emu.admin_client_secret().to_string()),
    );
    gcfg.rate_limit_per_minute = None;
    let mut cfg = GatewayConfig::minimal("sqlite://bench");
    cfg.queue.concurrency = 64;
    cfg.queue.max_pending = 10_000;
    cfg.sync.interval_seconds = 0;
    let store_dir = dir.path().to_path_buf();
    let gw = gw_rt
        .spawn(async move {
            let store =
                Store::open(StoreOptions::sqlite_in_dir(&store_dir).sqlite_durability(durability))
                    .await?;
            let gw = Gateway::start(
                cfg,
                StartOptions {
                    genesys: Some(gcfg),
                    authenticator: Some(Authenticator::with_tokens(&[(
                        "bench".into(),
                        Role::Admin,
                        hash_token(TOKEN),
                    )])),
                    store: Some(store),
                    ..Default::default()
                },
            )
            .await?;
            Ok::<_, BoxError>(gw)
        })
        .await??;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let gw_base = gw.scim_url();
    let emu_base = emu.base_url();

    // A Genesys token for the direct calls.
    let tok: Value = http
        .post(format!("{emu_base}/oauth/token"))
        .basic_auth(emu.admin_client_id(), Some(emu.admin_client_secret()))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await?
        .json()
        .await?;
    let emu_token = tok["access_token"].as_str().unwrap_or_default().to_string();

    // Users to work on.
    let list: Value = http
        .get(format!("{gw_base}/Users?count=200"))
        .bearer_auth(TOKEN)
        .send()
        .await?
        .json()
        .await?;
    let users: Vec<(String, String)> = list["Resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| {
            Some((
                u["id"].as_str()?.to_string(),
                u["userName"].as_str()?.to_string(),
            ))
        })
        .collect();
    let users = Arc::new(users);
    println!(
        "gateway {gw_base}; emulator {emu_base}; {} users in the org sample; {n} requests per run",
        users.len()
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let rate: u64 = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(500);
    // The pacing interval is 1/rate in whole microseconds: it must not be zero.
    if !(1..=1_000_000).contains(&rate) {
        return Err(format!("RATE must be 1 to 1000000 requests a second, not {rate}").into());
    }
    let (b50, b99) = fsync_probe(dir.path(), None)?;
    let (f50, f99) = fsync_probe(dir.path(), Some(Duration::from_micros(1_000_000 / rate)))?;
    println!(
        "load average {}; fdatasync of 64 KiB in the store's directory: back to back p50 {b50:.3} ms, p99 {b99:.3} ms; one per 1/rate p50 {f50:.3} ms, p99 {f99:.3} ms",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    // Disjoint halves for the direct and the gateway PATCH runs (see the module comment).
    if users.len() < 2 {
        return Err("the org sample needs at least two users".into());
    }
    let (first, second) = users.split_at(users.len() / 2);
    let direct_users = Arc::new(first.to_vec());
    let gateway_users = Arc::new(second.to_vec());

    let direct = Target {
        http: http.clone(),
        users_url: format!("{emu_base}/api/v2/scim/v2/users"),
        token: emu_token.clone(),
    };
    let via = Target {
        http: http.clone(),
        users_url: format!("{gw_base}/Users"),
        token: TOKEN.to_string(),
    };
    let warm = (n / 4).max(1);

    direct.run(Req::Patch, &direct_users, warm, rate).await;
    let (mut d, e1, d_cost) = direct.measured(Req::Patch, &direct_users, n, rate).await;
    via.run(Req::Patch, &gateway_users, warm, rate).await;
    let (mut g, e2, g_cost) = via.measured(Req::Patch, &gateway_users, n, rate).await;
    let (d50, d99) = report("PATCH user, emulator directly @rate", &mut d, e1);
    println!("  {d_cost}");
    let (g50, g99) = report("PATCH user, through gateway @rate", &mut g, e2);
    println!("  {g_cost}");
    println!(
        "  added by the gateway: p50 {:+.3} ms, p99 {:+.3} ms",
        g50 - d50,
        g99 - d99
    );

    direct.run(Req::Get, &users, warm, rate).await;
    let (mut d, e1) = direct.run(Req::Get, &users, n, rate).await;
    via.run(Req::Get, &users, warm, rate).await;
    let (mut g, e2) = via.run(Req::Get, &users, n, rate).await;
    let (d50, d99) = report("GET user by id, emulator directly @rate", &mut d, e1);
    let (g50, g99) = report("GET user by id, gateway read model @rate", &mut g, e2);
    println!(
        "  added by the gateway: p50 {:+.3} ms, p99 {:+.3} ms",
        g50 - d50,
        g99 - d99
    );

    // Filtered reads per second.
    let total = n * 5;
    let conc = 32;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..conc {
        let (http, users, base) = (http.clone(), users.clone(), gw_base.clone());
        tasks.push(tokio::spawn(async move {
            let mut ok = 0usize;
            let mut i = c;
            while i < total {
                let (_, name) = &users[i % users.len()];
                let filter = format!("userName eq \"{name}\"");
                let r = http
                    .get(format!("{base}/Users"))
                    .query(&[("filter", filter.as_str())])
                    .bearer_auth(TOKEN)
                    .send()
                    .await;
                if let Ok(r) = r
                    && r.status().is_success()
                    && r.bytes().await.is_ok()
                {
                    ok += 1;
                }
                i += conc;
            }
            ok
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += t.await.unwrap_or(0);
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "filtered reads (userName eq, {conc} clients): {ok}/{total} ok in {secs:.2} s = {:.0} reads/s",
        ok as f64 / secs
    );

    gw_rt.spawn(async move { gw.shutdown().await }).await?;
    emu_rt.spawn(async move { emu.shutdown().await }).await?;
    Ok(())
}
