//! Policy decisions as audit entries with their outbox event: one mapping shared by the
//! gateway's `POST /policy/v1/evaluate` and `gcprov policy scan --audit`, so a SIEM receives
//! every decision in the same shape whichever way it was made.

use gcprov_policy::{DecisionRecord, Outcome};
use gcprov_store::{NewEntry, NewEvent, Outcome as AuditOutcome, Store};

/// Outbox event kind of a policy decision.
pub const DECISION_EVENT: &str = "policy.decision";

/// The audit entry (target: the subject's Genesys id when known; outcome `denied` for a
/// rejection, else `success`) and its `policy.decision` event for one decision. The detail is
/// the record itself, which carries no secrets and no personal attribute values.
pub fn decision_entry(
    actor: &str,
    action: &str,
    rec: &DecisionRecord,
) -> Result<(NewEntry, NewEvent), serde_json::Error> {
    let outcome = match rec.decision {
        Outcome::Rejected => AuditOutcome::Denied,
        _ => AuditOutcome::Success,
    };
    let detail = serde_json::to_value(rec)?;
    let mut entry = NewEntry::new(actor, action, outcome).detail(detail.clone());
    if let Some(id) = &rec.subject.id {
        entry = entry.target(id.clone());
    }
    Ok((entry, NewEvent::new(DECISION_EVENT, detail)))
}

/// Records the decisions of the HTTP policy endpoint in the store (action `policy.evaluate`).
/// The endpoint answers without waiting for the append; a failed append is logged and counted
/// (`gcprov_gateway_audit_failures_total`) like every other audit failure of the gateway.
pub struct StoreDecisionSink {
    store: Store,
}

impl StoreDecisionSink {
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

impl gcprov_policy::http::DecisionSink for StoreDecisionSink {
    fn record(&self, rec: DecisionRecord) {
        let actor = rec.actor.clone().unwrap_or_else(|| "http:policy".into());
        let (entry, event) = match decision_entry(&actor, "policy.evaluate", &rec) {
            Ok(x) => x,
            Err(e) => {
                metrics::counter!("gcprov_gateway_audit_failures_total").increment(1);
                tracing::error!(error = %e, "cannot encode a policy decision for the audit log");
                return;
            }
        };
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.append(entry, vec![event]).await {
                metrics::counter!("gcprov_gateway_audit_failures_total").increment(1);
                tracing::error!(error = %e, "audit append of a policy decision failed");
            }
        });
    }
}
