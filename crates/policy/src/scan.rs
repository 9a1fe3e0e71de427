//! `gcprov policy scan`: evaluate every user of an org (read as a stream, e.g. the Genesys
//! client's `scim_list_users`) and report who violates the policy today. Users created by hand
//! in the admin UI bypass the IdP and the gateway; this finds them.
//!
//! Generic over the stream so this crate does not depend on the Genesys client.

use crate::decision::DecisionRecord;
use crate::input::{CheckReport, Record, check_records};
use crate::path::get_ci;
use crate::{EvalContext, Policy};
use futures::{Stream, StreamExt};
use serde::Serialize;
use serde_json::Value;

/// Why a scan stopped.
#[derive(Debug, thiserror::Error)]
pub enum ScanError<E: std::error::Error + 'static> {
    /// The source failed (e.g. a Genesys API error after retries).
    #[error("reading users failed after {read} users: {source}")]
    Source {
        read: usize,
        #[source]
        source: E,
    },
    /// A user could not be turned into JSON.
    #[error("user #{index} could not be encoded as JSON: {source}")]
    Encode {
        index: usize,
        #[source]
        source: serde_json::Error,
    },
}

/// The scan result: the same report as `policy check`, plus one audit record per user.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanReport {
    #[serde(flatten)]
    pub report: CheckReport,
    /// One `DecisionRecord` per user (channel `scan`), for the audit log and the outbox.
    #[serde(skip)]
    pub records: Vec<DecisionRecord>,
}

/// Several sources read one after the other (e.g. active users, then inactive users: the
/// SCIM list without a filter returns active users only).
pub fn concat<S: Stream + Unpin>(sources: Vec<S>) -> impl Stream<Item = S::Item> {
    futures::stream::iter(sources).flatten()
}

/// Evaluate every resource the stream yields. `source` names the origin in locations
/// (e.g. `genesys`), giving `genesys:users/<id>`.
pub async fn scan<S, T, E>(
    policy: &Policy,
    users: S,
    source: &str,
    ctx: &EvalContext<'_>,
    actor: Option<String>,
) -> Result<ScanReport, ScanError<E>>
where
    S: Stream<Item = Result<T, E>>,
    T: Serialize,
    E: std::error::Error + 'static,
{
    let mut users = std::pin::pin!(users);
    let mut read = Vec::new();
    while let Some(item) = users.next().await {
        let user = item.map_err(|source| ScanError::Source {
            read: read.len(),
            source,
        })?;
        let value = serde_json::to_value(&user).map_err(|source| ScanError::Encode {
            index: read.len(),
            source,
        })?;
        let id = get_ci(&value, "id")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        read.push(Record {
            location: format!("{source}:users/{id}"),
            value,
        });
    }
    let report = check_records(policy, &read, ctx);
    let now = time::OffsetDateTime::now_utc();
    let records = report
        .records
        .iter()
        .zip(&read)
        .map(|(r, rec)| {
            DecisionRecord::new(
                policy.reference(),
                &r.decision,
                &rec.value,
                "scan",
                actor.clone(),
                now,
            )
        })
        .collect();
    Ok(ScanReport { report, records })
}
