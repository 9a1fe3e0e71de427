//! `gcprov token create`: a caller bearer token, printed once; only its hash goes in the config.

use anyhow::Context;
use gcprov_gateway::{Role, config_line, generate_token};

#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Create a caller bearer token (printed once; only its hash is stored).
    Create {
        /// reader, provisioner or admin.
        #[arg(long, default_value = "provisioner")]
        role: String,
        /// A name for the caller (appears as the audit actor `token:NAME`).
        #[arg(long, default_value = "idp")]
        name: String,
    },
}

pub async fn run(c: TokenCommand) -> anyhow::Result<()> {
    match c {
        TokenCommand::Create { role, name } => {
            let role = Role::parse(&role).with_context(|| {
                format!("unknown role '{role}': use reader, provisioner or admin")
            })?;
            let token = generate_token();
            println!("Bearer token (shown once; give it to the identity provider):");
            println!("  {token}");
            println!();
            println!("Add this to the gateway config (it holds only the SHA-256 of the token):");
            println!();
            print!("{}", config_line(&name, role, &token));
            Ok(())
        }
    }
}
