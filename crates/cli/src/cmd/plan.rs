//! `gcprov plan`: show the changes that would make Genesys Cloud match a desired state.
//! Also holds the argument groups and helpers `apply` shares.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use gcprov_genesys::{ClientConfig, GenesysClient};
use gcprov_reconcile::{
    DesiredReader, Format, Guard, MatchKey, MissingAction, Org, Plan, Planner, Settings,
};

/// Where the desired state comes from and how to read and match it.
#[derive(Debug, Clone, clap::Args)]
pub struct DesiredArgs {
    /// Desired state: a CSV (default headers or a column mapping), SCIM JSON or NDJSON file.
    #[arg(long, value_name = "FILE")]
    pub desired: Option<PathBuf>,
    /// Pull the desired state from another SCIM server instead (its base URL, e.g.
    /// `https://idp.example.com/scim/v2`).
    #[arg(long, value_name = "URL", conflicts_with = "desired")]
    pub desired_scim: Option<String>,
    /// Bearer token for `--desired-scim` (prefer the environment variable).
    #[arg(long, env = "GCPROV_SOURCE_SCIM_TOKEN", hide_env_values = true)]
    pub desired_scim_token: Option<String>,
    /// Input format when the extension does not tell: csv, json or ndjson.
    #[arg(long, value_parser = ["csv", "json", "ndjson"])]
    pub format: Option<String>,
    /// TOML file with a `[reconcile]` table: `columns`, `separator`, `match_order`, `missing`.
    #[arg(long, value_name = "FILE", env = "GCPROV_RECONCILE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Policy file: desired records it rejects are reported and left out.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// What happens to Genesys users missing from the desired state: never, deactivate, delete.
    #[arg(long, value_parser = ["never", "deactivate", "delete"])]
    pub missing: Option<String>,
    /// Match order, e.g. `externalId,userName,email` (externalId = employerInfo.employeeId).
    #[arg(long, value_delimiter = ',')]
    pub match_order: Vec<String>,
}

/// Safety rails, checked before any write.
#[derive(Debug, Clone, clap::Args)]
pub struct RailArgs {
    /// Abort when the plan would deactivate or delete more than N users.
    #[arg(long, value_name = "N")]
    pub max_deletes: Option<u64>,
    /// Abort when the plan would deactivate or delete more than this percentage of the org's
    /// users (100 turns the check off).
    #[arg(long, value_name = "PCT", default_value_t = 10.0)]
    pub max_delete_percent: f64,
}

impl RailArgs {
    pub fn guard(&self) -> Guard {
        Guard {
            max_deletes: self.max_deletes,
            max_delete_percent: (self.max_delete_percent < 100.0)
                .then_some(self.max_delete_percent),
        }
    }
}

/// Genesys client tuning (credentials come from the `GENESYS_*` variables).
#[derive(Debug, Clone, clap::Args)]
pub struct GenesysArgs {
    /// Requests per minute allowed for the token [default: 300, the Genesys Cloud limit].
    #[arg(long, env = "GCPROV_RATE_LIMIT", value_name = "N")]
    pub rate_limit: Option<u32>,
}

impl GenesysArgs {
    pub fn client(&self) -> anyhow::Result<GenesysClient> {
        let mut cfg = ClientConfig::from_env().context(
            "Genesys Cloud credentials: set GENESYS_CLIENT_ID, GENESYS_CLIENT_SECRET and GENESYS_REGION (or GENESYS_API_URL)",
        )?;
        if let Some(r) = self.rate_limit {
            cfg.rate_limit_per_minute = Some(r);
        }
        GenesysClient::new(cfg).context("cannot build the Genesys client")
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub input: DesiredArgs,
    #[command(flatten)]
    pub rails: RailArgs,
    /// Write the plan as JSON (with each target's version) for `gcprov apply PLAN`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Show every user's changes.
    #[arg(long, short)]
    pub verbose: bool,
    /// No ANSI colours (also when stdout is not a terminal or NO_COLOR is set).
    #[arg(long)]
    pub no_color: bool,
    #[command(flatten)]
    pub genesys: GenesysArgs,
}

pub fn use_color(no_color: bool) -> bool {
    !no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

/// Settings from the config file, then the command line.
pub fn settings(input: &DesiredArgs) -> anyhow::Result<Settings> {
    let mut s = match &input.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            gcprov_reconcile::parse_config(&text, &path.display().to_string())?
        }
        None => Settings::default(),
    };
    if let Some(m) = &input.missing {
        s.missing =
            MissingAction::parse(m).context("--missing must be never, deactivate or delete")?;
    }
    if !input.match_order.is_empty() {
        s.match_order = input
            .match_order
            .iter()
            .map(|k| {
                MatchKey::parse(k).with_context(|| {
                    format!("--match-order: `{k}` is not externalId, userName or email")
                })
            })
            .collect::<anyhow::Result<_>>()?;
    }
    Ok(s)
}

/// Reads the org and streams the desired state into a plan.
pub async fn build_plan(client: &GenesysClient, input: &DesiredArgs) -> anyhow::Result<Plan> {
    let settings = settings(input)?;
    let policy = match &input.policy {
        Some(p) => Some(gcprov_policy::Policy::load(p)?),
        None => None,
    };
    let org = Org::read(client)
        .await
        .context("cannot read the org from Genesys Cloud")?;
    if let Some(path) = &input.desired {
        let format = match input.format.as_deref() {
            Some("csv") => Some(Format::Csv),
            Some("json") => Some(Format::Json),
            Some("ndjson") => Some(Format::Ndjson),
            _ => None,
        };
        let source = path.display().to_string();
        let mut planner = Planner::new(&org, &settings, policy.as_ref(), &source);
        for d in DesiredReader::open(path, format, &settings.mapping)? {
            planner.push(d?);
        }
        Ok(planner.finish_with_reads(client).await?)
    } else if let Some(url) = &input.desired_scim {
        let token = input
            .desired_scim_token
            .as_deref()
            .context("--desired-scim needs a bearer token in GCPROV_SOURCE_SCIM_TOKEN")?;
        let mut planner = Planner::new(&org, &settings, policy.as_ref(), url);
        gcprov_reconcile::pull_scim(url, token, 100, |d| {
            planner.push(d);
            Ok(())
        })
        .await?;
        Ok(planner.finish_with_reads(client).await?)
    } else {
        anyhow::bail!("say where the desired state is: --desired FILE or --desired-scim URL")
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let client = args.genesys.client()?;
    let plan = build_plan(&client, &args.input).await?;
    print!("{}", plan.render(args.verbose, use_color(args.no_color)));
    if let Some(out) = &args.out {
        let text = serde_json::to_vec_pretty(&plan)?;
        std::fs::write(out, text).with_context(|| format!("cannot write {}", out.display()))?;
        println!(
            "Saved the plan to {}; apply it with `gcprov apply {}`.",
            out.display(),
            out.display()
        );
    }
    plan.check_guard(&args.rails.guard())?;
    Ok(())
}
