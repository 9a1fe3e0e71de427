//! `gcprov policy`: check records against the provisioning policy offline.

use anyhow::Context;
use gcprov_policy::input::check_files;
use gcprov_policy::{EvalContext, Policy};
use std::path::PathBuf;

#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Check SCIM JSON, NDJSON or CSV records against a policy file. Exits 1 when any record
    /// fails an `enforce` rule.
    Check(CheckArgs),
    /// Validate a policy file and list its rules.
    Validate(ValidateArgs),
    /// Read every user from Genesys Cloud (SCIM view) and report who violates the policy
    /// today. Credentials from GENESYS_CLIENT_ID, GENESYS_CLIENT_SECRET and GENESYS_REGION (or
    /// GENESYS_API_URL). Exits 1 when any user fails an `enforce` rule.
    Scan(ScanArgs),
}

#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// The policy file (TOML).
    #[arg(long)]
    policy: PathBuf,
    /// Output format: a table-like text report or a JSON report.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Also write one decision record (JSON) per user to this NDJSON file.
    #[arg(long)]
    records: Option<PathBuf>,
    /// Also append one audit entry per user to the store, each with a `policy.decision`
    /// outbox event (so a SIEM receives it).
    #[arg(long)]
    audit: bool,
    /// For each rejected user, look up who created it in the Genesys audit trail
    /// (`POST /api/v2/audits/query/realtime`, last 14 days, service Directory, action Create).
    #[arg(long)]
    who_created: bool,
    #[command(flatten)]
    store: super::store_config::StoreArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The policy file (TOML).
    #[arg(long)]
    policy: PathBuf,
    /// Output format: human-readable text or a machine-readable JSON report.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Input files: .json (a resource, an array or a ListResponse), .ndjson/.jsonl, .csv
    /// (headers are SCIM attribute paths or userName, email, department, costCenter, ...).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// The policy file (TOML).
    policy: PathBuf,
}

pub async fn run(c: PolicyCommand) -> anyhow::Result<()> {
    match c {
        PolicyCommand::Check(a) => check(a),
        PolicyCommand::Validate(a) => validate(a),
        PolicyCommand::Scan(a) => scan(a).await,
    }
}

fn load(path: &std::path::Path) -> anyhow::Result<Policy> {
    // The error already reads FILE:LINE:COLUMN: rule "NAME": ...
    Policy::load(path).context("invalid policy file")
}

fn check(a: CheckArgs) -> anyhow::Result<()> {
    let policy = load(&a.policy)?;
    let report = check_files(&policy, &a.inputs, &EvalContext::default())
        .context("cannot read the input")?;
    let out = match a.format {
        Format::Text => report.render_text(),
        Format::Json => {
            let mut s =
                serde_json::to_string_pretty(&report).context("cannot serialise the report")?;
            s.push('\n');
            s
        }
    };
    emit(&out)?;
    if report.has_rejections() {
        anyhow::bail!(
            "{} of {} records violate enforce rules of {}",
            report.summary.rejected,
            report.summary.records,
            a.policy.display()
        );
    }
    Ok(())
}

async fn scan(a: ScanArgs) -> anyhow::Result<()> {
    let policy = load(&a.policy)?;
    let client = gcprov_genesys::GenesysClient::from_env()
        .context("cannot configure the Genesys Cloud client")?;
    // The SCIM list without a filter returns active users only; read the inactive ones too
    // (people created by hand are often left inactive).
    let users = gcprov_policy::scan::concat(vec![
        client.scim_list_users(None),
        client.scim_list_users(Some("active eq false")),
    ]);
    let mut result = gcprov_policy::scan::scan(
        &policy,
        users,
        "genesys",
        &EvalContext::default(),
        Some("gcprov policy scan".into()),
    )
    .await
    .context("policy scan failed")?;
    if let Some(path) = &a.records {
        let mut out = String::new();
        for r in &result.records {
            out.push_str(&serde_json::to_string(r).context("cannot serialise an audit record")?);
            out.push('\n');
        }
        std::fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if a.who_created {
        for r in result
            .report
            .records
            .iter_mut()
            .filter(|r| r.decision.is_rejected())
        {
            let Some(id) = r.location.strip_prefix("genesys:users/") else {
                continue;
            };
            r.created_by = who_created(&client, id).await?;
        }
    }
    if a.audit {
        append_audit(&a.store, &result.records).await?;
    }
    let report = &result.report;
    let out = match a.format {
        Format::Text => report.render_text(),
        Format::Json => {
            let mut s =
                serde_json::to_string_pretty(report).context("cannot serialise the report")?;
            s.push('\n');
            s
        }
    };
    emit(&out)?;
    if report.has_rejections() {
        anyhow::bail!(
            "{} of {} users violate enforce rules of {}",
            report.summary.rejected,
            report.summary.records,
            a.policy.display()
        );
    }
    Ok(())
}

/// The `Create` audit of a user in the last 14 days (the realtime query's documented window
/// for some services; older creations are reported as unknown).
async fn who_created(
    client: &gcprov_genesys::GenesysClient,
    user_id: &str,
) -> anyhow::Result<Option<gcprov_policy::input::CreatedBy>> {
    use gcprov_genesys::models::{AuditQueryFilter, AuditRealtimeQueryRequest};
    use time::format_description::well_known::Rfc3339;
    let end = time::OffsetDateTime::now_utc();
    let start = end - time::Duration::days(14);
    let interval = format!(
        "{}/{}",
        start.format(&Rfc3339).context("time format")?,
        end.format(&Rfc3339).context("time format")?
    );
    let filter = |p: &str, v: &str| AuditQueryFilter {
        property: Some(p.to_string()),
        value: Some(v.to_string()),
    };
    let body = AuditRealtimeQueryRequest {
        interval: Some(interval),
        service_name: Some("Directory".into()),
        filters: Some(vec![
            filter("EntityId", user_id),
            filter("Action", "Create"),
        ]),
        page_number: Some(1),
        page_size: Some(1),
        ..Default::default()
    };
    let res = client
        .audit_realtime_query(&body)
        .await
        .with_context(|| format!("audit query for user {user_id} failed"))?;
    Ok(res
        .entities
        .unwrap_or_default()
        .into_iter()
        .next()
        .map(|a| gcprov_policy::input::CreatedBy {
            user_id: a.user.and_then(|u| u.id),
            client_id: a.client.and_then(|c| c.id),
            at: a.event_date,
            audit_id: a.id,
        }))
}

/// One audit entry (action `policy.scan`, target the Genesys user id) and one outbox event per
/// decision, in the shape the gateway's policy endpoint uses too.
async fn append_audit(
    store: &super::store_config::StoreArgs,
    records: &[gcprov_policy::DecisionRecord],
) -> anyhow::Result<()> {
    let store = store.open().await?;
    for rec in records {
        let (entry, event) =
            gcprov_gateway::policy_audit::decision_entry("cli:policy-scan", "policy.scan", rec)
                .context("cannot serialise a decision record")?;
        store
            .append(entry, vec![event])
            .await
            .context("cannot append the audit entry")?;
    }
    Ok(())
}

fn validate(a: ValidateArgs) -> anyhow::Result<()> {
    let policy = load(&a.policy)?;
    let r = policy.reference();
    let mut out = format!(
        "{}: policy '{}' version {} is valid\n",
        a.policy.display(),
        r.name,
        r.version.as_deref().unwrap_or("-")
    );
    for rule in policy.rules() {
        out.push_str(&format!(
            "  line {:>4}  {:<7} {:<6} {:<15} {:<32} {}\n",
            rule.line,
            rule.mode.as_str(),
            rule.applies_to.as_str(),
            rule.kind,
            rule.name,
            rule.code
        ));
    }
    emit(&out)
}

/// Write to stdout; a closed pipe (`... | head`) is not an error.
fn emit(s: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("cannot write to stdout")
        }
        _ => Ok(()),
    }
}
