//! `gcprov emulator`: run the local Genesys Cloud emulator until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use gcprov_emulator::{Emulator, EmulatorConfig, FaultConfig, Seed};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on (login and API routes share it). Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Seed file (TOML or JSON, see docs/emulator-seed.md).
    #[arg(long)]
    seed: Option<PathBuf>,
    /// Requests per token per minute; 0 disables the rate limit.
    #[arg(long, default_value_t = 300)]
    rate_limit_per_minute: u32,
    /// Fault injection file (TOML or JSON, the `FaultConfig` of docs/architecture/emulator.md).
    #[arg(long)]
    faults: Option<PathBuf>,
    /// Client id of the OAuth client holding every permission (generated when absent).
    #[arg(
        long,
        env = "GCPROV_EMULATOR_CLIENT_ID",
        requires = "admin_client_secret"
    )]
    admin_client_id: Option<String>,
    /// Its secret.
    #[arg(
        long,
        env = "GCPROV_EMULATOR_CLIENT_SECRET",
        hide_env_values = true,
        requires = "admin_client_id"
    )]
    admin_client_secret: Option<String>,
    /// Generate this many extra users (deterministic; for benchmarks and large-org tests).
    #[arg(long, default_value_t = 0)]
    generate_users: usize,
    /// Seed of the deterministic generators (users, faults).
    #[arg(long, default_value_t = 42)]
    rng_seed: u64,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let mut config = EmulatorConfig {
        listen: args.listen,
        rate_limit_per_minute: (args.rate_limit_per_minute > 0)
            .then_some(args.rate_limit_per_minute),
        generate_users: args.generate_users,
        rng_seed: args.rng_seed,
        ..Default::default()
    };
    if let Some(path) = &args.seed {
        config.seed = Some(
            Seed::from_path(path)
                .with_context(|| format!("reading seed file {}", path.display()))?,
        );
    }
    if let Some(path) = &args.faults {
        config.faults = FaultConfig::from_path(path)
            .with_context(|| format!("reading fault file {}", path.display()))?;
    }
    let generated = args.admin_client_id.is_none();
    if let (Some(id), Some(secret)) = (args.admin_client_id, args.admin_client_secret) {
        config.admin_client_id = id;
        config.admin_client_secret = secret;
    }
    let emu = Emulator::start(config)
        .await
        .context("starting the emulator")?;
    println!("gcprov emulator listening on {}", emu.base_url());
    println!(
        "login base: {}  api base: {}",
        emu.base_url(),
        emu.base_url()
    );
    println!("admin client id: {}", emu.admin_client_id());
    if generated {
        // Deliberate, once: generated credentials are useless unless shown. Never logged.
        println!("admin client secret: {}", emu.admin_client_secret());
    }
    tracing::info!(base_url = %emu.base_url(), users = emu.user_count(), "emulator started");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    emu.shutdown().await;
    Ok(())
}
