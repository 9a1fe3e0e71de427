#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain and report the first altered entry.
    Verify,
}

pub async fn run(_c: AuditCommand) -> anyhow::Result<()> {
    anyhow::bail!("the audit log is not built yet")
}
