//! `gcprov outbox`: list, retry, purge and deliver outbox events.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use gcprov_delivery::{DeliveryConfig, Worker};
use gcprov_store::{OutboxState, from_us, to_us};

use super::store_config::{StoreArgs, parse_time};

#[derive(Debug, clap::Subcommand)]
pub enum OutboxCommand {
    /// List outbox events.
    List(ListArgs),
    /// Requeue a dead (or pending) event, or every dead event.
    Retry(RetryArgs),
    /// Delete delivered events older than a time, or every dead event.
    Purge(PurgeArgs),
    /// Deliver due events to the sinks of a delivery config file until none is due
    /// (or keep running with --watch).
    Deliver(DeliverArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// pending, delivered or dead.
    #[arg(long)]
    state: Option<String>,
    #[arg(long, default_value_t = 100)]
    limit: i64,
    /// Print JSON lines.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["id", "all_dead"])))]
pub struct RetryArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Event id.
    id: Option<String>,
    /// Requeue every dead event.
    #[arg(long)]
    all_dead: bool,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).multiple(true).args(["delivered_before", "dead"])))]
pub struct PurgeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Delete events delivered before this time (RFC 3339, a date, or an age such as 30d).
    #[arg(long)]
    delivered_before: Option<String>,
    /// Delete every dead event.
    #[arg(long)]
    dead: bool,
}

#[derive(Debug, clap::Args)]
pub struct DeliverArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Delivery config (TOML): `[delivery]` settings and `[[sink]]` tables.
    #[arg(long)]
    config: PathBuf,
    /// Keep running, polling for new events, until interrupted.
    #[arg(long)]
    watch: bool,
    /// Worker id used for leases [default: host-pid].
    #[arg(long)]
    worker_id: Option<String>,
}

pub async fn run(c: OutboxCommand) -> anyhow::Result<()> {
    match c {
        OutboxCommand::List(a) => list(a).await,
        OutboxCommand::Retry(a) => retry(a).await,
        OutboxCommand::Purge(a) => purge(a).await,
        OutboxCommand::Deliver(a) => deliver(a).await,
    }
}

fn rfc3339(us: i64) -> String {
    from_us(us)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| us.to_string())
}

async fn list(a: ListArgs) -> anyhow::Result<()> {
    let state: Option<OutboxState> = a.state.as_deref().map(str::parse).transpose()?;
    let store = a.store.open().await?;
    let events = store.list_events(state, 0, a.limit).await?;
    for e in &events {
        if a.json {
            println!("{}", serde_json::to_string(e)?);
        } else {
            println!(
                "{} {:<9} entry={} kind={} attempts={} created={} {}",
                e.id,
                e.state.as_str(),
                e.audit_seq,
                e.kind,
                e.attempts,
                rfc3339(e.created_us),
                e.last_error
                    .as_deref()
                    .map(|m| format!("last_error={m}"))
                    .unwrap_or_default()
            );
        }
    }
    if !a.json {
        let c = store.outbox_counts().await?;
        eprintln!(
            "pending {} · delivered {} · dead {}",
            c.pending, c.delivered, c.dead
        );
    }
    store.close().await;
    Ok(())
}

async fn retry(a: RetryArgs) -> anyhow::Result<()> {
    let store = a.store.open().await?;
    if a.all_dead {
        let n = store.retry_all_dead().await?;
        println!("requeued {n} dead events");
    } else if let Some(id) = &a.id {
        if !store.retry_event(id).await? {
            bail!("no dead or pending outbox event with id {id}");
        }
        println!("requeued {id}");
    }
    store.close().await;
    Ok(())
}

async fn purge(a: PurgeArgs) -> anyhow::Result<()> {
    let before = a.delivered_before.as_deref().map(parse_time).transpose()?;
    let store = a.store.open().await?;
    if let Some(t) = before {
        let n = store.purge_delivered_before(to_us(t)).await?;
        println!("purged {n} delivered events");
    }
    if a.dead {
        let n = store.purge_dead().await?;
        println!("purged {n} dead events");
    }
    store.close().await;
    Ok(())
}

async fn deliver(a: DeliverArgs) -> anyhow::Result<()> {
    let cfg = DeliveryConfig::from_file(&a.config)?;
    let file = a.config.display().to_string();
    let sinks = cfg.build_sinks(&file)?;
    if sinks.is_empty() {
        bail!("{file}: no [[sink]] configured");
    }
    let id = a.worker_id.clone().unwrap_or_else(|| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "gcprov".into());
        format!("{host}-{}", std::process::id())
    });
    let store = a.store.open().await?;
    let worker = Worker::new(store.clone(), sinks, cfg.worker_options(id));
    if a.watch {
        worker
            .run(Duration::from_millis(500), async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("delivery failed")?;
    } else {
        let s = worker.run_until_idle().await.context("delivery failed")?;
        println!(
            "claimed {} · delivered {} · retrying {} · dead {}",
            s.claimed, s.delivered, s.retried, s.dead
        );
    }
    store.close().await;
    Ok(())
}
