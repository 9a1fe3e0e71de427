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
    /// Run the SCIM 2.0 gateway that identity providers point at.
    Serve(cmd::serve::Args),
    /// Manage caller bearer tokens for the gateway.
    #[command(subcommand)]
    Token(cmd::token::TokenCommand),
    /// Write a commented config, policy and mapping file to start from.
    Init(cmd::init::Args),
    /// Show the changes that would make Genesys Cloud match a desired state.
    Plan(cmd::plan::Args),
    /// Apply a desired state or a saved plan to Genesys Cloud.
    Apply(cmd::apply::Args),
    /// Apply SCIM PatchOp documents to many users from an NDJSON file.
    Patch(cmd::patch::Args),
    /// Create and manage Genesys groups directly.
    #[command(subcommand)]
    Groups(cmd::groups::GroupsCommand),
    /// Create, audit and rotate Genesys OAuth clients with least privilege.
    #[command(subcommand, name = "oauth-clients")]
    OauthClients(cmd::oauth_clients::OauthClientsCommand),
}

fn init_logging(filter: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
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
        Command::Serve(a) => cmd::serve::run(a).await,
        Command::Token(c) => cmd::token::run(c).await,
        Command::Init(a) => cmd::init::run(a).await,
        Command::Plan(a) => cmd::plan::run(a).await,
        Command::Apply(a) => cmd::apply::run(a).await,
        Command::Patch(a) => cmd::patch::run(a).await,
        Command::Groups(c) => cmd::groups::run(c).await,
        Command::OauthClients(c) => cmd::oauth_clients::run(c).await,
    }
}
