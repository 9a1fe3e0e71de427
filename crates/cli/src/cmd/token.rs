#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Create a caller bearer token (printed once; only its hash is stored).
    Create,
}

pub async fn run(_c: TokenCommand) -> anyhow::Result<()> {
    anyhow::bail!("`token` is not built yet")
}
