#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Check SCIM JSON, NDJSON or CSV records against a policy file.
    Check,
}

pub async fn run(_c: PolicyCommand) -> anyhow::Result<()> {
    anyhow::bail!("the policy engine is not built yet")
}
