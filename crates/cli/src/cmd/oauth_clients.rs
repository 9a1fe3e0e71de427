#[derive(Debug, clap::Subcommand)]
pub enum OauthClientsCommand {
    /// List OAuth clients.
    List,
}

pub async fn run(_c: OauthClientsCommand) -> anyhow::Result<()> {
    anyhow::bail!("`oauth_clients` is not built yet")
}
