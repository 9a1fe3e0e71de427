//! `gcprov serve`: the SCIM gateway (`--config FILE`) or the self-contained demo (`--demo`).

use std::path::PathBuf;

use anyhow::Context;
use gcprov_gateway::{Gateway, GatewayConfig, StartOptions, demo};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Gateway configuration file (TOML; `gcprov init` writes a commented one).
    #[arg(
        long,
        short = 'c',
        required_unless_present = "demo",
        conflicts_with = "demo"
    )]
    config: Option<PathBuf>,
    /// Run on an in-process emulator with a seeded demo org, a local SQLite store and the demo
    /// policy and mapping; prints the SCIM base URL and a bearer token.
    #[arg(long)]
    demo: bool,
    /// Listen address (overrides the config file; demo default 127.0.0.1:8080).
    #[arg(long)]
    listen: Option<String>,
    /// Data directory of the demo store.
    #[arg(long, default_value = "data-demo")]
    data_dir: PathBuf,
}

async fn until_ctrl_c() {
    if let Err(e) = tokio::signal::ctrl_c().await {
        tracing::warn!(error = %e, "cannot listen for Ctrl-C");
        std::future::pending::<()>().await;
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    if args.demo {
        let token = std::env::var("GCPROV_DEMO_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty());
        let opts = demo::DemoOptions {
            data_dir: args.data_dir.clone(),
            listen: args
                .listen
                .clone()
                .unwrap_or_else(|| "127.0.0.1:8080".into()),
            token,
            rate_limit_per_minute: None,
        };
        let d = demo::start(opts).await.context("starting the demo")?;
        println!("gcprov demo is running.");
        println!("  SCIM base URL:  {}", d.gateway.scim_url());
        println!("  Bearer token:   {}", d.token);
        println!("  Emulator:       {}", d.emulator.base_url());
        println!("  Data directory: {}", args.data_dir.display());
        println!(
            "Try: curl -H \"Authorization: Bearer $TOKEN\" {}/Users",
            d.gateway.scim_url()
        );
        until_ctrl_c().await;
        d.shutdown().await;
        return Ok(());
    }
    let path = args
        .config
        .context("--config FILE is required (or use --demo)")?;
    let mut cfg = GatewayConfig::load(&path)?;
    if let Some(l) = args.listen {
        cfg.listen = l;
    }
    let gw = Gateway::start(cfg, StartOptions::default())
        .await
        .with_context(|| format!("starting the gateway from {}", path.display()))?;
    println!("gcprov gateway listening; SCIM base URL: {}", gw.scim_url());
    until_ctrl_c().await;
    gw.shutdown().await;
    Ok(())
}
