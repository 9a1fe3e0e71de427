//! `gcprov groups create`: create a group (or adopt the existing one of that name), set its
//! external id, add members in batches of 50, audit it and emit `group.created`.

use std::collections::HashSet;
use std::time::Instant;

use futures::TryStreamExt;
use gcprov_genesys::GenesysClient;
use gcprov_genesys::models::{GroupCreate, ScimPatchOpKind, ScimPatchOperation, ScimPatchRequest};
use gcprov_store::{NewEntry, NewEvent, Outcome, Store};
use serde_json::json;

use crate::error::{Error, Result};
use crate::plan::{MEMBER_BATCH, now_rfc3339};
use crate::report::{ApiCalls, ItemError, ItemOutcome, Latency, Report};

/// Longest group name accepted (Genesys does not publish a limit; this is conservative).
pub const MAX_NAME_CHARS: usize = 255;
/// Most members one command may add (a bound so a typo cannot start an unbounded job).
pub const MAX_MEMBERS: usize = 10_000;

/// What to create.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupSpec {
    pub name: String,
    pub external_id: Option<String>,
    /// User ids or emails.
    pub members: Vec<String>,
}

/// Checks the name and member count before anything is sent.
pub fn validate(spec: &GroupSpec) -> Result<()> {
    let name = spec.name.trim();
    if name.is_empty() {
        return Err(Error::Invalid("the group name is empty".into()));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::Invalid(format!(
            "the group name is longer than {MAX_NAME_CHARS} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::Invalid(
            "the group name contains control characters".into(),
        ));
    }
    if spec.members.len() > MAX_MEMBERS {
        return Err(Error::Invalid(format!(
            "{} members given; at most {MAX_MEMBERS} per command",
            spec.members.len()
        )));
    }
    if let Some(m) = spec.members.iter().find(|m| m.trim().is_empty()) {
        return Err(Error::Invalid(format!("empty member {m:?}")));
    }
    Ok(())
}

/// The outcome of `groups create`.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupResult {
    pub id: String,
    /// The group existed already (409 on create) and was adopted.
    pub adopted: bool,
    pub members_added: usize,
    pub report: Report,
}

fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

/// Creates the group described by `spec` (see the module docs).
pub async fn create(
    client: &GenesysClient,
    store: Option<&Store>,
    spec: &GroupSpec,
    actor: &str,
) -> Result<GroupResult> {
    validate(spec)?;
    let t0 = Instant::now();
    let calls0 = client.stats().paced_requests;
    let run_id = uuid::Uuid::now_v7().to_string();
    let mut report = Report {
        run_id: run_id.clone(),
        command: "groups create".into(),
        started_at: now_rfc3339(),
        ..Default::default()
    };
    let name = spec.name.trim().to_string();
    // Resolve members first: an unknown member stops the command before any write.
    let mut ids: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    for m in &spec.members {
        let m = m.trim();
        let id = if is_uuid(m) {
            m.to_string()
        } else {
            match client.find_user_by_email(m).await? {
                Some(u) => u.id.unwrap_or_default(),
                None => return Err(Error::Invalid(format!("member {m:?}: no such user"))),
            }
        };
        if seen.insert(id.clone()) {
            ids.push(id);
        }
    }
    let mut writes = 0u64;
    let (group, adopted) = match client
        .create_group(&GroupCreate::official(name.clone()))
        .await
    {
        Ok(g) => {
            writes += 1;
            (g, false)
        }
        Err(e) if e.status() == Some(409) => match client.find_group_by_name(&name).await? {
            Some(g) => (g, true),
            None => return Err(e.into()),
        },
        Err(e) => return Err(e.into()),
    };
    let gid = group.id.clone().unwrap_or_default();
    report.count(
        "group.create",
        if adopted {
            ItemOutcome::AlreadyDone
        } else {
            ItemOutcome::Applied
        },
    );
    if let Some(s) = store {
        let action = if adopted {
            "group.adopted"
        } else {
            "group.created"
        };
        let detail = json!({"name": name, "externalId": spec.external_id, "adopted": adopted});
        let events = if adopted {
            Vec::new()
        } else {
            vec![NewEvent::new(
                "group.created",
                json!({"id": gid, "name": name, "externalId": spec.external_id}),
            )]
        };
        s.append(
            NewEntry::new(actor, action, Outcome::Success)
                .target(&gid)
                .request_id(&run_id)
                .detail(detail),
            events,
        )
        .await?;
    }
    // External id through SCIM (the Platform API group has no such field).
    if let Some(x) = &spec.external_id {
        let patch = ScimPatchRequest::new(vec![ScimPatchOperation {
            op: ScimPatchOpKind::Replace,
            path: Some("externalId".into()),
            value: Some(json!(x)),
        }]);
        match client.scim_patch_group(&gid, &patch, None).await {
            Ok(_) => {
                writes += 1;
                report.count("group.externalId", ItemOutcome::Applied);
            }
            // The group and its members matter more than the external id: report and go on.
            Err(e) => {
                report.count("group.externalId", ItemOutcome::Skipped);
                report.errors.push(ItemError {
                    item: "group".into(),
                    key: name.clone(),
                    action: "group.externalId".into(),
                    outcome: ItemOutcome::Skipped,
                    message: e.to_string(),
                    status: e.status(),
                    correlation_id: e.correlation_id().map(str::to_string),
                });
            }
        }
    }
    // Members not in the group yet (an adopted group may have some already).
    if adopted && !ids.is_empty() {
        let current: HashSet<String> = client
            .list_group_members(&gid)
            .try_filter_map(|u| async move { Ok(u.id) })
            .try_collect()
            .await?;
        ids.retain(|i| !current.contains(i));
    }
    let mut version = group.version;
    let mut lat = Vec::new();
    let mut added = 0;
    for chunk in ids.chunks(MEMBER_BATCH) {
        let t = Instant::now();
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let mut tries = 0;
        let res = loop {
            tries += 1;
            let v = match version {
                Some(v) => v,
                None => client.get_group(&gid).await?.version.unwrap_or(0),
            };
            match client.add_group_members_versioned(&gid, &refs, v).await {
                Ok(()) => {
                    version = Some(v + 1);
                    break Ok(());
                }
                Err(e) if e.is_version_conflict() && tries < 4 => version = None,
                Err(e) => break Err(e),
            }
        };
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        match res {
            Ok(()) => {
                writes += 1;
                added += chunk.len();
                report.count("group.members", ItemOutcome::Applied);
                if let Some(s) = store {
                    s.append(
                        NewEntry::new(actor, "group.members_added", Outcome::Success)
                            .target(&gid)
                            .request_id(&run_id)
                            .detail(json!({"name": name, "members": chunk})),
                        vec![NewEvent::new(
                            "group.members_added",
                            json!({"id": gid, "members": chunk}),
                        )],
                    )
                    .await?;
                }
            }
            Err(e) => {
                report.count("group.members", ItemOutcome::Failed);
                report.errors.push(ItemError {
                    item: format!("members:{}", added / MEMBER_BATCH),
                    key: name.clone(),
                    action: "group.members".into(),
                    outcome: ItemOutcome::Failed,
                    message: e.to_string(),
                    status: e.status(),
                    correlation_id: e.correlation_id().map(str::to_string),
                });
            }
        }
    }
    let used = client.stats().paced_requests.saturating_sub(calls0);
    report.finished_at = now_rfc3339();
    report.duration_ms = t0.elapsed().as_millis() as u64;
    report.latency_ms = Latency::from_samples(lat);
    report.api_calls = ApiCalls {
        reads: 0,
        apply: used,
        used,
        minimum: writes,
        ratio: if writes == 0 {
            1.0
        } else {
            used as f64 / writes as f64
        },
    };
    Ok(GroupResult {
        id: gid,
        adopted,
        members_added: added,
        report,
    })
}
