//! `gcprov patch --file ops.ndjson`: SCIM PatchOp documents applied to many users.
//!
//! Each line is `{"id" | "userName" | "externalId": "...", "patch": {PatchOp}}` (the PatchOp may
//! also be inline: `{"userName": "...", "schemas": [...], "Operations": [...]}`). Every line is
//! validated before anything is sent; then each user is read through SCIM (for its ETag) and
//! patched with `If-Match`, so a concurrent change gives a 412/409 instead of being overwritten.

use std::io::{BufRead, BufReader, Read};
use std::time::Instant;

use futures::{StreamExt, TryStreamExt};
use gcprov_genesys::models::{ScimPatchOpKind, ScimPatchOperation, ScimPatchRequest};
use gcprov_genesys::{Conditional, GenesysClient};
use gcprov_store::{NewEntry, NewEvent, Outcome, Store};
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::apply::Progress;
use crate::error::{Error, Result};
use crate::plan::now_rfc3339;
use crate::report::{ApiCalls, ItemError, ItemOutcome, Latency, Report};

/// How a line names its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserSelector {
    Id(String),
    UserName(String),
    ExternalId(String),
}

impl UserSelector {
    fn text(&self) -> &str {
        match self {
            UserSelector::Id(s) | UserSelector::UserName(s) | UserSelector::ExternalId(s) => s,
        }
    }
}

/// One validated line.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchLine {
    pub line: u64,
    pub user: UserSelector,
    pub patch: ScimPatchRequest,
}

/// Reads and validates every line; all errors are reported together (`file:line: message`).
pub fn read_ops(r: impl Read, file: &str) -> Result<Vec<PatchLine>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in BufReader::new(r).lines().enumerate() {
        let n = i as u64 + 1;
        let line = line.map_err(|source| Error::Io {
            file: file.to_string(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(&line, n) {
            Ok(p) => out.push(p),
            Err(m) => errors.push(format!("{file}:{n}: {m}")),
        }
    }
    if !errors.is_empty() {
        let more = errors.len().saturating_sub(20);
        let mut msg = errors.into_iter().take(20).collect::<Vec<_>>().join("\n");
        if more > 0 {
            msg.push_str(&format!("\n... and {more} more"));
        }
        return Err(Error::Invalid(format!(
            "invalid patch file; nothing was sent:\n{msg}"
        )));
    }
    Ok(out)
}

fn parse_line(text: &str, line: u64) -> std::result::Result<PatchLine, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let obj = v.as_object().ok_or("each line must be a JSON object")?;
    let mut sel = Vec::new();
    for (k, make) in [
        ("id", UserSelector::Id as fn(String) -> UserSelector),
        ("userName", UserSelector::UserName),
        ("externalId", UserSelector::ExternalId),
    ] {
        if let Some(x) = obj
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v)
        {
            let s = x
                .as_str()
                .filter(|s| !s.trim().is_empty())
                .ok_or(format!("`{k}` must be a non-empty string"))?;
            sel.push(make(s.trim().to_string()));
        }
    }
    let user = match sel.len() {
        1 => sel.remove(0),
        0 => return Err("name the user with one of `id`, `userName`, `externalId`".into()),
        _ => return Err("name the user with only one of `id`, `userName`, `externalId`".into()),
    };
    let doc = match obj.get("patch") {
        Some(p) => p.clone(),
        None => {
            let mut d = obj.clone();
            d.retain(|k, _| {
                k.eq_ignore_ascii_case("schemas") || k.eq_ignore_ascii_case("Operations")
            });
            Value::Object(d)
        }
    };
    let parsed =
        gcprov_scim::PatchRequest::from_json(&doc).map_err(|e| format!("PatchOp: {}", e.detail))?;
    let operations = parsed
        .operations
        .into_iter()
        .map(|op| ScimPatchOperation {
            op: match op.op {
                gcprov_scim::patch::PatchOpKind::Add => ScimPatchOpKind::Add,
                gcprov_scim::patch::PatchOpKind::Replace => ScimPatchOpKind::Replace,
                gcprov_scim::patch::PatchOpKind::Remove => ScimPatchOpKind::Remove,
            },
            path: op.path_text,
            value: op.value,
        })
        .collect();
    Ok(PatchLine {
        line,
        user,
        patch: ScimPatchRequest::new(operations),
    })
}

/// Applies validated lines with bounded concurrency; one report for all.
pub async fn apply_ops(
    client: &GenesysClient,
    store: Option<&Store>,
    ops: &[PatchLine],
    concurrency: usize,
    actor: &str,
    progress: &dyn Progress,
) -> Result<Report> {
    let t0 = Instant::now();
    let calls0 = client.stats().paced_requests;
    let run_id = uuid::Uuid::now_v7().to_string();
    let report = Mutex::new(Report {
        run_id: run_id.clone(),
        command: "patch".into(),
        started_at: now_rfc3339(),
        ..Default::default()
    });
    let lat = Mutex::new(Vec::new());
    progress.begin("patch", ops.len() as u64);
    let results = futures::stream::iter(ops)
        .map(|op| {
            let (report, lat, run_id) = (&report, &lat, &run_id);
            async move {
                let t = Instant::now();
                let r = patch_one(client, op).await;
                lat.lock().push(t.elapsed().as_secs_f64() * 1000.0);
                match r {
                    Ok(id) => {
                        report.lock().count("patch", ItemOutcome::Applied);
                        progress.advance(true);
                        if let Some(s) = store {
                            let detail =
                                json!({"line": op.line, "operations": op.patch.operations.len()});
                            s.append(
                                NewEntry::new(actor, "user.updated", Outcome::Success)
                                    .target(&id)
                                    .request_id(run_id)
                                    .detail(detail.clone()),
                                vec![NewEvent::new(
                                    "user.updated",
                                    json!({"id": id, "line": op.line, "runId": run_id}),
                                )],
                            )
                            .await?;
                        }
                    }
                    Err((message, status, corr)) => {
                        let mut rep = report.lock();
                        rep.count("patch", ItemOutcome::Failed);
                        rep.errors.push(ItemError {
                            item: format!("line:{}", op.line),
                            key: op.user.text().to_string(),
                            action: "patch".into(),
                            outcome: ItemOutcome::Failed,
                            message,
                            status,
                            correlation_id: corr,
                        });
                        drop(rep);
                        progress.advance(false);
                    }
                }
                Ok::<_, Error>(())
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    progress.end();
    for r in results {
        r?;
    }
    let used = client.stats().paced_requests.saturating_sub(calls0);
    let mut rep = report.into_inner();
    rep.finished_at = now_rfc3339();
    rep.duration_ms = t0.elapsed().as_millis() as u64;
    rep.latency_ms = Latency::from_samples(lat.into_inner());
    // Minimum: one read for the ETag (plus one search for userName/externalId) and one PATCH.
    let minimum: u64 = ops
        .iter()
        .map(|o| {
            if matches!(o.user, UserSelector::Id(_)) {
                2
            } else {
                3
            }
        })
        .sum();
    rep.api_calls = ApiCalls {
        reads: 0,
        apply: used,
        used,
        minimum,
        ratio: if minimum == 0 {
            1.0
        } else {
            used as f64 / minimum as f64
        },
    };
    Ok(rep)
}

type Fail = (String, Option<u16>, Option<String>);

fn fail(e: gcprov_genesys::Error) -> Fail {
    (
        e.to_string(),
        e.status(),
        e.correlation_id().map(str::to_string),
    )
}

async fn patch_one(client: &GenesysClient, op: &PatchLine) -> std::result::Result<String, Fail> {
    let id = match &op.user {
        UserSelector::Id(id) => id.clone(),
        UserSelector::UserName(n) => client
            .scim_find_user(n)
            .await
            .map_err(fail)?
            .and_then(|u| u.id)
            .ok_or_else(|| (format!("no user with userName {n:?}"), Some(404), None))?,
        UserSelector::ExternalId(x) => {
            let filter = format!("externalId eq \"{}\"", x.replace('"', "\\\""));
            let found: Vec<_> = client
                .scim_list_users(Some(&filter))
                .take(2)
                .try_collect()
                .await
                .map_err(fail)?;
            match found.as_slice() {
                [one] => one.id.clone().unwrap_or_default(),
                [] => return Err((format!("no user with externalId {x:?}"), Some(404), None)),
                _ => {
                    return Err((
                        format!("externalId {x:?} matches several users"),
                        Some(409),
                        None,
                    ));
                }
            }
        }
    };
    let etag = match client.scim_get_user(&id, None).await.map_err(fail)? {
        Conditional::Modified(v) => v.etag,
        Conditional::NotModified => None,
    };
    client
        .scim_patch_user(&id, &op.patch, etag.as_deref())
        .await
        .map_err(fail)?;
    Ok(id)
}
