#[derive(Debug, clap::Subcommand)]
pub enum GroupsCommand {
    /// Create a Genesys group (adopting an existing one of that name).
    Create,
}

pub async fn run(_c: GroupsCommand) -> anyhow::Result<()> {
    anyhow::bail!("`groups` is not built yet")
}
