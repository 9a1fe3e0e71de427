//! `gcprov apply`: apply a desired state or a saved plan; resumable after an interruption.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use anyhow::Context;
use gcprov_reconcile::{ApplyOptions, Plan, Progress};

use super::plan::{DesiredArgs, GenesysArgs, RailArgs, build_plan, use_color};
use super::store_config::StoreArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A saved plan from `gcprov plan --out` (instead of --desired).
    #[arg(value_name = "PLAN", conflicts_with_all = ["desired", "desired_scim"])]
    pub plan_file: Option<PathBuf>,
    #[command(flatten)]
    pub input: DesiredArgs,
    #[command(flatten)]
    pub rails: RailArgs,
    /// Continue the interrupted run recorded in the store.
    #[arg(long, conflicts_with_all = ["plan_file", "desired", "desired_scim", "abandon"])]
    pub resume: bool,
    /// Forget an interrupted run (its completed writes stay).
    #[arg(long)]
    pub abandon: bool,
    /// Re-diff and apply changes whose target moved on since a saved plan (default: refuse them).
    #[arg(long)]
    pub replan_stale: bool,
    /// Items in flight at once (the client's pacer sets the rate).
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Write the report as JSON.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Show every user's changes in the plan.
    #[arg(long, short)]
    pub verbose: bool,
    #[arg(long)]
    pub no_color: bool,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub genesys: GenesysArgs,
}

/// A bar on a terminal, a line every 5% otherwise.
pub struct CliProgress {
    bar: Option<indicatif::ProgressBar>,
    total: AtomicU64,
    done: AtomicU64,
    errors: AtomicU64,
    step: AtomicU64,
}

impl CliProgress {
    pub fn new() -> Self {
        CliProgress {
            bar: None,
            total: AtomicU64::new(0),
            done: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            step: AtomicU64::new(1),
        }
    }

    pub fn for_terminal(total_hint: u64) -> Self {
        let mut p = CliProgress::new();
        if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(total_hint);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} items {per_sec} ETA {eta} {msg}",
            ) {
                bar.set_style(style);
            }
            p.bar = Some(bar);
        }
        p
    }
}

impl Progress for CliProgress {
    fn begin(&self, _phase: &str, total: u64) {
        self.total.store(total, Ordering::SeqCst);
        self.step.store((total / 20).max(1), Ordering::SeqCst);
        if let Some(b) = &self.bar {
            b.set_length(total);
        } else {
            eprintln!("applying {total} items");
        }
    }

    fn advance(&self, ok: bool) {
        let done = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        let errors = if ok {
            self.errors.load(Ordering::SeqCst)
        } else {
            self.errors.fetch_add(1, Ordering::SeqCst) + 1
        };
        match &self.bar {
            Some(b) => {
                b.inc(1);
                if errors > 0 {
                    b.set_message(format!("{errors} errors"));
                }
            }
            None => {
                let total = self.total.load(Ordering::SeqCst);
                if done.is_multiple_of(self.step.load(Ordering::SeqCst)) || done == total {
                    eprintln!("progress: {done}/{total} items, {errors} errors");
                }
            }
        }
    }

    fn end(&self) {
        if let Some(b) = &self.bar {
            b.finish();
        }
    }
}

/// Ctrl-C stops starting new items; in-flight ones finish and are checkpointed.
pub fn stop_on_ctrl_c() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!(
                "interrupted: finishing the items in flight (resume with `gcprov apply --resume`)"
            );
            flag.store(true, Ordering::SeqCst);
        }
    });
    stop
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let store = args.store.open().await?;
    if args.abandon {
        let dropped = gcprov_reconcile::abandon(&store).await?;
        println!(
            "{}",
            if dropped {
                "Dropped the interrupted run."
            } else {
                "No interrupted run."
            }
        );
        return Ok(());
    }
    let client = args.genesys.client()?;
    let mut opts = ApplyOptions {
        concurrency: args.concurrency.max(1),
        replan_stale: args.replan_stale,
        stop: stop_on_ctrl_c(),
        ..Default::default()
    };
    let report = if args.resume {
        let progress = CliProgress::for_terminal(0);
        gcprov_reconcile::resume(&client, &store, &opts, &progress).await?
    } else {
        let plan: Plan = match &args.plan_file {
            Some(path) => {
                let text = std::fs::read(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                opts.saved_plan = true;
                serde_json::from_slice(&text)
                    .with_context(|| format!("{} is not a gcprov plan", path.display()))?
            }
            None => {
                let p = build_plan(&client, &args.input).await?;
                opts.replan_stale = true;
                opts.read_calls = p.stats.read_calls;
                p
            }
        };
        print!("{}", plan.render(args.verbose, use_color(args.no_color)));
        plan.check_guard(&args.rails.guard())?;
        if plan.is_empty() {
            return Ok(());
        }
        let progress = CliProgress::for_terminal(0);
        gcprov_reconcile::apply(&client, Some(&store), &plan, &opts, &progress).await?
    };
    print!("{}", report.render());
    if let Some(path) = &args.report {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if report.interrupted {
        anyhow::bail!("interrupted; continue with `gcprov apply --resume`");
    }
    if report.failures() > 0 {
        anyhow::bail!(
            "{} items failed or were refused (see the report)",
            report.failures()
        );
    }
    Ok(())
}
