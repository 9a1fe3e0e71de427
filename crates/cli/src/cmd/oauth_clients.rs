//! `gcprov oauth-clients`: create, audit and rotate Genesys OAuth clients with least
//! privilege. The logic lives in `gcprov-oauth-clients`; this module parses flags, picks the
//! secret sink and prints.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, bail};
use gcprov_genesys::GenesysClient;
use gcprov_oauth_clients::sink::from_config;
use gcprov_oauth_clients::{
    AuditReport, ClientSpec, ClientSummary, DeliveryOutcome, GovernanceConfig, Governor,
    RevealSink, RoleSpec, SecretReport, SecretSink,
};

use super::store_config::StoreArgs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Common {
    /// Governance configuration (limits, baseline profiles, secret sink), TOML or JSON.
    /// Genesys credentials come from GENESYS_CLIENT_ID, GENESYS_CLIENT_SECRET and
    /// GENESYS_REGION or GENESYS_API_URL.
    #[arg(long, env = "GCPROV_OAUTH_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub common: Common,
    /// Client specification file (TOML, or JSON when it ends in .json); flags override it.
    #[arg(long)]
    pub file: Option<PathBuf>,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    /// CODE, TOKEN, SAML2-BEARER, PASSWORD or CLIENT-CREDENTIALS.
    #[arg(long)]
    pub grant_type: Option<String>,
    /// Baseline profile from the configuration.
    #[arg(long)]
    pub profile: Option<String>,
    /// Role grant `ROLE[@DIVISION]` (id or name; home division by default). Repeatable.
    #[arg(long = "role")]
    pub roles: Vec<String>,
    /// Scope (user-delegated grants). Repeatable or comma-separated.
    #[arg(long = "scope", value_delimiter = ',')]
    pub scopes: Vec<String>,
    /// Redirect URI (CODE/TOKEN). Repeatable.
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// accessTokenValiditySeconds (300..=172800; up to 38880000 for SCIM clients).
    #[arg(long)]
    pub token_lifetime: Option<i64>,
    /// Mark the client as a SCIM provisioning client (allows longer token lifetimes).
    #[arg(long)]
    pub scim: bool,
    /// Create even if the client exceeds its baseline (needs --reason; audited).
    #[arg(long, requires = "reason")]
    pub allow_excess: bool,
    /// Why the excess is accepted (recorded in the audit log).
    #[arg(long)]
    pub reason: Option<String>,
    /// Print the secret on this terminal instead of delivering it to the configured sink.
    /// Refused when stdout is not a terminal.
    #[arg(long)]
    pub reveal: bool,
    /// Validate and check least privilege only; create nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum OauthClientsCommand {
    /// Create a client (validated, least privilege checked) and deliver its secret.
    Create(Box<CreateArgs>),
    /// List the org's OAuth clients.
    List {
        #[command(flatten)]
        common: Common,
    },
    /// Show one client (by id or exact name).
    Show {
        #[command(flatten)]
        common: Common,
        client: String,
    },
    /// Check every client in the org against the baselines and limits.
    Audit {
        #[command(flatten)]
        common: Common,
        /// Also report clients unused for this many days (when usage data is available).
        #[arg(long)]
        unused_days: Option<u32>,
        /// Exit with status 1 when any client has a finding.
        #[arg(long)]
        fail_on_findings: bool,
    },
    /// Regenerate a client's secret and deliver the new one (also the retry after a failed
    /// delivery).
    RotateSecret {
        #[command(flatten)]
        common: Common,
        client: String,
        /// Print the secret on this terminal instead of the configured sink.
        #[arg(long)]
        reveal: bool,
    },
    /// Disable a client (its tokens stop working).
    Disable {
        #[command(flatten)]
        common: Common,
        client: String,
    },
    /// Delete a client (set inactive first, as Genesys requires).
    Delete {
        #[command(flatten)]
        common: Common,
        client: String,
    },
}

pub async fn run(c: OauthClientsCommand) -> anyhow::Result<()> {
    match c {
        OauthClientsCommand::Create(a) => create(*a).await,
        OauthClientsCommand::List { common } => {
            let gov = governor(&common).await?;
            let list = gov.list().await.context("cannot list OAuth clients")?;
            match common.format {
                Format::Json => print_json(&list),
                Format::Table => {
                    print_clients(&list);
                    Ok(())
                }
            }
        }
        OauthClientsCommand::Show { common, client } => {
            let gov = governor(&common).await?;
            let c = gov
                .show(&client)
                .await
                .with_context(|| format!("cannot show OAuth client {client:?}"))?;
            match common.format {
                Format::Json => print_json(&c),
                Format::Table => {
                    print_client(&c);
                    Ok(())
                }
            }
        }
        OauthClientsCommand::Audit {
            common,
            unused_days,
            fail_on_findings,
        } => {
            let gov = governor(&common).await?;
            let report = gov
                .audit(unused_days)
                .await
                .context("cannot audit OAuth clients")?;
            match common.format {
                Format::Json => print_json(&report)?,
                Format::Table => print_audit(&report),
            }
            if fail_on_findings && report.with_findings > 0 {
                bail!("{} client(s) have findings", report.with_findings);
            }
            Ok(())
        }
        OauthClientsCommand::RotateSecret {
            common,
            client,
            reveal,
        } => {
            let gov = governor(&common).await?;
            let sink = pick_sink(gov.config(), reveal)?;
            let report = gov
                .rotate(&client, sink.as_ref())
                .await
                .with_context(|| format!("cannot rotate the secret of {client:?}"))?;
            finish(&report, common.format)
        }
        OauthClientsCommand::Disable { common, client } => {
            let gov = governor(&common).await?;
            let c = gov
                .disable(&client)
                .await
                .with_context(|| format!("cannot disable {client:?}"))?;
            match common.format {
                Format::Json => print_json(&c),
                Format::Table => {
                    println!("disabled OAuth client {} ({})", c.name, c.id);
                    Ok(())
                }
            }
        }
        OauthClientsCommand::Delete { common, client } => {
            let gov = governor(&common).await?;
            let id = gov
                .delete(&client)
                .await
                .with_context(|| format!("cannot delete {client:?}"))?;
            match common.format {
                Format::Json => print_json(&serde_json::json!({ "deleted": id })),
                Format::Table => {
                    println!("deleted OAuth client {id} (set inactive first)");
                    Ok(())
                }
            }
        }
    }
}

async fn governor(common: &Common) -> anyhow::Result<Governor> {
    let cfg = match &common.config {
        Some(p) => GovernanceConfig::from_path(p)?,
        None => GovernanceConfig::default(),
    };
    let gc = GenesysClient::from_env().context("Genesys Cloud configuration (GENESYS_*)")?;
    let store = common.store.open().await?;
    let actor = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    );
    Ok(Governor::new(gc, cfg).with_store(store).actor(actor))
}

/// The terminal with `--reveal` (only on a TTY), else the configured sink. Decided before any
/// write so a misconfiguration never costs a secret.
fn pick_sink(cfg: &GovernanceConfig, reveal: bool) -> anyhow::Result<Box<dyn SecretSink>> {
    if reveal {
        if !std::io::stdout().is_terminal() {
            bail!(
                "--reveal prints the secret only to a terminal; stdout is not one (configure a [sink] instead)"
            );
        }
        return Ok(Box::new(RevealSink::new(std::io::stdout())));
    }
    match &cfg.sink {
        Some(s) => Ok(from_config(s, |k| std::env::var(k).ok())?),
        None => Err(gcprov_oauth_clients::Error::NoSink.into()),
    }
}

async fn create(a: CreateArgs) -> anyhow::Result<()> {
    let mut spec = match &a.file {
        Some(p) => ClientSpec::from_path(p)?,
        None => ClientSpec::default(),
    };
    if let Some(v) = a.name {
        spec.name = v;
    }
    if let Some(v) = a.description {
        spec.description = Some(v);
    }
    if let Some(v) = a.grant_type {
        spec.grant_type = v;
    }
    if let Some(v) = a.profile {
        spec.profile = Some(v);
    }
    if !a.roles.is_empty() {
        spec.roles = a.roles.iter().map(|r| RoleSpec::parse_flag(r)).collect();
    }
    if !a.scopes.is_empty() {
        spec.scopes = a
            .scopes
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
    }
    if !a.redirect_uris.is_empty() {
        spec.redirect_uris = a.redirect_uris;
    }
    if a.token_lifetime.is_some() {
        spec.token_lifetime_seconds = a.token_lifetime;
    }
    if a.scim {
        spec.scim = true;
    }
    let gov = governor(&a.common).await?;
    if a.dry_run {
        let plan = gov.plan(&spec).await?;
        let body = serde_json::json!({
            "request": plan.request,
            "profile": plan.profile,
            "findings": plan.findings,
            "violations": plan.violations().len(),
        });
        return match a.common.format {
            Format::Json => print_json(&body),
            Format::Table => {
                println!(
                    "valid: would create {} ({}) against profile {:?}",
                    plan.request.name, plan.request.authorized_grant_type, plan.profile
                );
                for f in &plan.findings {
                    println!("  finding: {f}");
                }
                Ok(())
            }
        };
    }
    let sink = pick_sink(gov.config(), a.reveal)?;
    let excess = if a.allow_excess {
        Some(a.reason.clone().unwrap_or_default())
    } else {
        None
    };
    let report = gov.create(&spec, excess.as_deref(), sink.as_ref()).await?;
    finish(&report, a.common.format)
}

/// Prints a create/rotate report; a failed delivery is an error exit with what to do next.
fn finish(r: &SecretReport, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => print_json(r)?,
        Format::Table => {
            let verb = if r.action == "oauth_client.create" {
                "created OAuth client"
            } else {
                "rotated the secret of"
            };
            println!("{verb} {} (id {})", r.client_name, r.client_id);
            if let Some(fp) = &r.fingerprint {
                println!("  secret sha256 {}  masked {}", fp.sha256, fp.masked);
            }
            match &r.delivery {
                DeliveryOutcome::Delivered { sink, receipt } => println!(
                    "  delivered to {sink} at {}{}",
                    receipt.location,
                    receipt
                        .version
                        .map(|v| format!(" (version {v})"))
                        .unwrap_or_default()
                ),
                DeliveryOutcome::Failed { sink, error } => {
                    println!("  NOT delivered to {sink}: {error}")
                }
                DeliveryOutcome::NoSecretReturned => {
                    println!("  Genesys returned no secret")
                }
            }
            let c = &r.compliance;
            if c.excess_allowed {
                println!(
                    "  least privilege: EXCEEDS profile {:?}, allowed because: {}",
                    c.profile.as_deref().unwrap_or("-"),
                    c.excess_reason.as_deref().unwrap_or("-")
                );
            } else if c.least_privilege_verified {
                println!(
                    "  least privilege: verified against profile {:?}",
                    c.profile.as_deref().unwrap_or("-")
                );
            }
            for f in &c.findings {
                println!("  finding: {f}");
            }
            if r.replaces_undelivered {
                println!("  this secret replaces one whose delivery had failed");
            }
        }
    }
    if !r.delivery.delivered() {
        let what = if r.action == "oauth_client.create" {
            "the client exists but its secret is lost (it was not kept anywhere)"
        } else {
            "the new secret is lost (it was not kept anywhere) and the old one no longer works"
        };
        bail!(
            "secret delivery failed: {what}; run `gcprov oauth-clients rotate-secret {}` to issue and deliver a new secret",
            r.client_id
        );
    }
    Ok(())
}

fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(v).context("cannot encode JSON")?
    );
    Ok(())
}

fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut w: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(x) = w.get_mut(i) {
                *x = (*x).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let s: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = w.get(i).copied().unwrap_or(0)))
            .collect();
        println!("{}", s.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for r in rows {
        line(r.clone());
    }
}

fn grants(c: &ClientSummary) -> String {
    if c.roles.is_empty() {
        c.scopes.join(",")
    } else {
        c.roles
            .iter()
            .map(|r| {
                format!(
                    "{}@{}",
                    r.role.as_deref().unwrap_or(&r.role_id),
                    r.division.as_deref().unwrap_or(&r.division_id)
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn print_clients(list: &[ClientSummary]) {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|c| {
            vec![
                c.id.clone(),
                c.name.clone(),
                c.grant_type.clone(),
                c.state.clone(),
                c.profile.clone().unwrap_or_else(|| "-".into()),
                grants(c),
            ]
        })
        .collect();
    table(
        &["ID", "NAME", "GRANT", "STATE", "PROFILE", "ROLES/SCOPES"],
        &rows,
    );
}

fn print_client(c: &ClientSummary) {
    println!("id:            {}", c.id);
    println!("name:          {}", c.name);
    println!("grant type:    {}", c.grant_type);
    println!("state:         {}", c.state);
    println!(
        "profile:       {}{}",
        c.profile.as_deref().unwrap_or("-"),
        if c.scim { " (SCIM client)" } else { "" }
    );
    println!(
        "token lifetime: {}",
        c.token_lifetime_seconds
            .map(|s| format!("{s} s"))
            .unwrap_or_else(|| "-".into())
    );
    for r in &c.roles {
        println!(
            "role:          {} ({}) in {} ({})",
            r.role.as_deref().unwrap_or("?"),
            r.role_id,
            r.division.as_deref().unwrap_or("?"),
            r.division_id
        );
    }
    for s in &c.scopes {
        println!("scope:         {s}");
    }
}

fn print_audit(r: &AuditReport) {
    let rows: Vec<Vec<String>> = r
        .clients
        .iter()
        .map(|row| {
            vec![
                row.client.name.clone(),
                row.client.grant_type.clone(),
                row.client.state.clone(),
                row.baseline.clone().unwrap_or_else(|| "-".into()),
                row.findings.len().to_string(),
                row.usage.clone(),
            ]
        })
        .collect();
    table(
        &["NAME", "GRANT", "STATE", "BASELINE", "FINDINGS", "USAGE"],
        &rows,
    );
    for row in &r.clients {
        for f in &row.findings {
            println!("{} ({}): {f}", row.client.name, row.client.id);
        }
    }
    if let Some(n) = &r.usage_note {
        println!("{n}");
    }
    println!(
        "{} client(s), {} with findings",
        r.clients.len(),
        r.with_findings
    );
}
