//! `gcprov`: the command-line front end. Each subcommand lives in its own module under `cmd/`;
//! this file only parses arguments, sets up logging and dispatches.

mod cmd;

use clap::{Parser, Subcommand};

/// Provision identities into Genesys Cloud: SCIM gateway, policy, reconciler, OAuth client
/// governance, audit, and a local Genesys Cloud emulator.
#[derive(Debug, Parser)]
#[command(name = "gcprov", version, about, long_about = None)]
struct Cli {
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `gcprov=debug`. Also `GCPROV_LOG`.
    #[arg(long, global = true, env = "GCPROV_LOG", default_value = "info")]
    log: String,
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the local Genesys Cloud emulator (login and API hosts on one port).
    Emulator(cmd::emulator::Args),
    /// Read, verify and export the tamper-evident audit log.
    #[command(subcommand)]
    Audit(cmd::audit::AuditCommand),
    /// Inspect and manage the delivery outbox.
    #[command(subcommand)]
    Outbox(cmd::outbox::OutboxCommand),
    /// Check records against the provisioning policy, offline or across the org.
    #[command(subcommand)]
    Policy(cmd::policy::PolicyCommand),
}

fn init_logging(filter: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(&cli.log, cli.log_json);
    match cli.command {
        Command::Emulator(args) => cmd::emulator::run(args).await,
        Command::Audit(c) => cmd::audit::run(c).await,
        Command::Outbox(c) => cmd::outbox::run(c).await,
        Command::Policy(c) => cmd::policy::run(c).await,
    }
}
