//! `gcprov groups create`: create a Genesys group (adopting an existing one of that name).

use anyhow::Context;
use gcprov_reconcile::groups::{GroupSpec, create, validate};

use super::plan::GenesysArgs;
use super::store_config::StoreArgs;

#[derive(Debug, clap::Subcommand)]
pub enum GroupsCommand {
    /// Create a Genesys group (adopting an existing one of that name) and add members in
    /// batches of 50; audited, with a `group.created` event for HR systems.
    Create(CreateArgs),
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Group name.
    pub name: String,
    /// External id (set through SCIM).
    #[arg(long)]
    pub external_id: Option<String>,
    /// A member: user id or email (repeatable).
    #[arg(long = "member", value_name = "USER")]
    pub members: Vec<String>,
    /// Write the report as JSON.
    #[arg(long, value_name = "FILE")]
    pub report: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub genesys: GenesysArgs,
}

pub async fn run(c: GroupsCommand) -> anyhow::Result<()> {
    match c {
        GroupsCommand::Create(a) => {
            let spec = GroupSpec {
                name: a.name.clone(),
                external_id: a.external_id.clone(),
                members: a.members.clone(),
            };
            validate(&spec)?;
            let client = a.genesys.client()?;
            let store = a.store.open().await?;
            let r = create(&client, Some(&store), &spec, "cli:groups")
                .await
                .with_context(|| format!("cannot create group {:?}", spec.name))?;
            println!(
                "{} group {:?} ({}); {} members added.",
                if r.adopted {
                    "Adopted existing"
                } else {
                    "Created"
                },
                spec.name.trim(),
                r.id,
                r.members_added
            );
            print!("{}", r.report.render());
            if let Some(path) = &a.report {
                std::fs::write(path, serde_json::to_vec_pretty(&r.report)?)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            if r.report.failures() > 0 {
                anyhow::bail!("{} steps failed (see the report)", r.report.failures());
            }
            Ok(())
        }
    }
}
