#[derive(Debug, clap::Subcommand)]
pub enum OutboxCommand {
    /// List outbox events.
    List,
}

pub async fn run(_c: OutboxCommand) -> anyhow::Result<()> {
    anyhow::bail!("the outbox is not built yet")
}
