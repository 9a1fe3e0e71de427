//! `gcprov init`: writes a commented gateway config, policy and mapping file to start from.

use std::path::PathBuf;

use anyhow::Context;

const CONFIG: &str = include_str!("../../../../examples/gateway/gcprov.toml");
const POLICY: &str = include_str!("../../../../examples/gateway/demo-policy.toml");
const MAPPING: &str = include_str!("../../../../examples/gateway/demo-mapping.toml");

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to write gcprov.toml, policy.toml and mapping.toml into.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let files = [
        ("gcprov.toml", CONFIG),
        ("policy.toml", POLICY),
        ("mapping.toml", MAPPING),
    ];
    for (name, _) in &files {
        let p = args.dir.join(name);
        if p.exists() {
            anyhow::bail!("{} already exists; not overwriting anything", p.display());
        }
    }
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    for (name, text) in &files {
        let p = args.dir.join(name);
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
        println!("wrote {}", p.display());
    }
    println!(
        "Next: `gcprov token create --role provisioner --name entra`, paste the block into gcprov.toml,"
    );
    println!(
        "then `gcprov serve --config {}`.",
        args.dir.join("gcprov.toml").display()
    );
    Ok(())
}
