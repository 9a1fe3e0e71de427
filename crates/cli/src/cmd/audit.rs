//! `gcprov audit`: verify, checkpoint, tail and export the tamper-evident audit log.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use gcprov_store::export::{Exporter, Format};
use gcprov_store::{AuditEntry, AuditQuery, Checkpoint, to_us};

use super::store_config::{StoreArgs, parse_time};

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain and report the first altered, removed, inserted or reordered entry
    /// (exit status 1 when one is found).
    Verify(VerifyArgs),
    /// Export a signed checkpoint (HMAC-SHA256 of the head's seq and hash) as JSON.
    Checkpoint(CheckpointArgs),
    /// Print the last entries, optionally following new ones.
    Tail(TailArgs),
    /// Export entries as JSON lines or CSV.
    Export(ExportArgs),
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Also prove the chain still matches this signed checkpoint (needs --key-file).
    #[arg(long, requires = "key_file")]
    checkpoint: Option<PathBuf>,
    /// File holding the checkpoint HMAC key (at least 16 bytes; surrounding whitespace ignored).
    #[arg(long)]
    key_file: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct CheckpointArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// File holding the checkpoint HMAC key.
    #[arg(long)]
    key_file: PathBuf,
    /// Write the checkpoint here instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct TailArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// How many entries.
    #[arg(short = 'n', long = "lines", default_value_t = 20)]
    n: i64,
    /// Keep printing new entries until interrupted.
    #[arg(short, long)]
    follow: bool,
    /// Print JSON lines instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Entries at or after this time (RFC 3339, a date, or an age such as 7d).
    #[arg(long)]
    since: Option<String>,
    /// Entries before this time.
    #[arg(long)]
    until: Option<String>,
    /// jsonl or csv.
    #[arg(long, default_value = "jsonl")]
    format: String,
    #[arg(long)]
    actor: Option<String>,
    #[arg(long)]
    action: Option<String>,
    /// A Genesys id among the entry's targets.
    #[arg(long)]
    target: Option<String>,
    /// Write here instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub async fn run(c: AuditCommand) -> anyhow::Result<()> {
    match c {
        AuditCommand::Verify(a) => verify(a).await,
        AuditCommand::Checkpoint(a) => checkpoint(a).await,
        AuditCommand::Tail(a) => tail(a).await,
        AuditCommand::Export(a) => export(a).await,
    }
}

fn read_key(path: &Path) -> anyhow::Result<Vec<u8>> {
    let raw =
        std::fs::read(path).with_context(|| format!("cannot read key file {}", path.display()))?;
    let key = raw.trim_ascii().to_vec();
    if key.len() < 16 {
        bail!(
            "key file {} holds fewer than 16 bytes; use a longer random key",
            path.display()
        );
    }
    Ok(key)
}

async fn verify(a: VerifyArgs) -> anyhow::Result<()> {
    let store = a.store.open().await?;
    let report = match (&a.checkpoint, &a.key_file) {
        (Some(cp_path), Some(key_path)) => {
            let key = read_key(key_path)?;
            let text = std::fs::read_to_string(cp_path)
                .with_context(|| format!("cannot read checkpoint {}", cp_path.display()))?;
            let cp: Checkpoint = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a gcprov checkpoint", cp_path.display()))?;
            store.verify_checkpoint(&cp, &key).await?
        }
        _ => store.verify().await?,
    };
    store.close().await;
    match &report.first_problem {
        None => {
            println!(
                "audit log OK: {} entries, head seq {} hash {}",
                report.entries, report.head_seq, report.head_hash
            );
            if let Some(p) = &a.checkpoint {
                println!("matches checkpoint {}", p.display());
            }
            Ok(())
        }
        Some(t) => bail!("audit log verification FAILED: {t}"),
    }
}

async fn checkpoint(a: CheckpointArgs) -> anyhow::Result<()> {
    let key = read_key(&a.key_file)?;
    let store = a.store.open().await?;
    let cp = store.checkpoint(&key).await?;
    store.close().await;
    let json = serde_json::to_string_pretty(&cp)?;
    match &a.out {
        Some(path) => {
            std::fs::write(path, format!("{json}\n"))
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("checkpoint at seq {} written to {}", cp.seq, path.display());
        }
        None => println!("{json}"),
    }
    Ok(())
}

fn print_entry(out: &mut impl Write, e: &AuditEntry, json: bool) -> anyhow::Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string(e)?)?;
    } else {
        writeln!(
            out,
            "{:>6} {} {} {} {} targets=[{}] request={} detail={}",
            e.seq,
            e.time_rfc3339(),
            e.actor,
            e.action,
            e.outcome,
            e.targets.join(","),
            e.request_id.as_deref().unwrap_or("-"),
            gcprov_store::canonical_json(&e.detail)
        )?;
    }
    Ok(())
}

async fn tail(a: TailArgs) -> anyhow::Result<()> {
    let store = a.store.open().await?;
    let mut stdout = std::io::stdout().lock();
    let mut last = 0;
    for e in store.tail(a.n).await? {
        print_entry(&mut stdout, &e, a.json)?;
        last = e.seq;
    }
    stdout.flush()?;
    drop(stdout);
    if !a.follow {
        return Ok(());
    }
    if last == 0 {
        last = store.head().await?.0;
    }
    loop {
        let q = AuditQuery {
            after_seq: last,
            ..AuditQuery::default()
        };
        let new = store.entries(&q).await?;
        let mut stdout = std::io::stdout().lock();
        for e in &new {
            print_entry(&mut stdout, e, a.json)?;
            last = e.seq;
        }
        stdout.flush()?;
        drop(stdout);
        if new.is_empty() {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return Ok(()),
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    }
}

async fn export(a: ExportArgs) -> anyhow::Result<()> {
    let format: Format = a.format.parse()?;
    let since = a.since.as_deref().map(parse_time).transpose()?.map(to_us);
    let until = a.until.as_deref().map(parse_time).transpose()?.map(to_us);
    let store = a.store.open().await?;
    let out: Box<dyn Write> = match &a.out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut ex = Exporter::new(format, out)?;
    let mut q = AuditQuery {
        after_seq: 0,
        since_us: since,
        until_us: until,
        actor: a.actor.clone(),
        action: a.action.clone(),
        target: a.target.clone(),
        limit: 1000,
    };
    let mut n = 0u64;
    loop {
        let page = store.entries(&q).await?;
        let Some(last) = page.last() else { break };
        q.after_seq = last.seq;
        for e in &page {
            ex.write(e)?;
            n += 1;
        }
    }
    ex.finish()?;
    store.close().await;
    if a.out.is_some() {
        eprintln!("exported {n} entries");
    }
    Ok(())
}
