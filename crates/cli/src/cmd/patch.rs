//! `gcprov patch --file ops.ndjson`: SCIM PatchOp documents for many users.

use std::path::PathBuf;

use anyhow::Context;

use super::apply::CliProgress;
use super::plan::GenesysArgs;
use super::store_config::StoreArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// NDJSON: one `{"id"|"userName"|"externalId": "...", "patch": {PatchOp}}` per line.
    #[arg(long, value_name = "FILE")]
    pub file: PathBuf,
    /// Validate every line and stop (nothing is sent).
    #[arg(long)]
    pub dry_run: bool,
    /// Users patched at once (the client's pacer sets the rate).
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Write the report as JSON.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub genesys: GenesysArgs,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let f = std::fs::File::open(&args.file)
        .with_context(|| format!("cannot open {}", args.file.display()))?;
    let ops = gcprov_reconcile::patch::read_ops(f, &args.file.display().to_string())?;
    println!(
        "{}: {} PatchOp documents are valid.",
        args.file.display(),
        ops.len()
    );
    if args.dry_run {
        return Ok(());
    }
    let client = args.genesys.client()?;
    let store = args.store.open().await?;
    let progress = CliProgress::for_terminal(ops.len() as u64);
    let report = gcprov_reconcile::patch::apply_ops(
        &client,
        Some(&store),
        &ops,
        args.concurrency,
        "cli:patch",
        &progress,
    )
    .await?;
    print!("{}", report.render());
    if let Some(path) = &args.report {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if report.failures() > 0 {
        anyhow::bail!(
            "{} users could not be patched (see the report)",
            report.failures()
        );
    }
    Ok(())
}
