//! What an evaluation produces: violations, a decision, and the audit-ready record.

use crate::path::get_ci;
use crate::schema::ResourceKind;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How a rule's failure is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A failure rejects the resource.
    Enforce,
    /// A failure is reported as a warning; the resource is accepted.
    Warn,
    /// The rule is validated at load time but never evaluated.
    Off,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Warn => "warn",
            Mode::Off => "off",
        }
    }
}

/// One failed rule on one attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Violation {
    /// The SCIM attribute path the rule looked at, as written in the policy.
    pub path: String,
    /// A stable, machine-readable code (e.g. `SCIM_MISSING_USERNAME`).
    pub code: String,
    /// A human explanation. Never contains the value of a sensitive attribute (password).
    pub message: String,
    /// The `name` of the rule in the policy file.
    pub rule: String,
    /// `enforce` or `warn`.
    pub mode: Mode,
}

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Outcome {
    Accepted,
    AcceptedWithWarnings,
    Rejected,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "ACCEPTED",
            Outcome::AcceptedWithWarnings => "ACCEPTED_WITH_WARNINGS",
            Outcome::Rejected => "REJECTED",
        }
    }
}

/// The result of evaluating a policy against one resource. Violations are in policy-file rule
/// order, then in document order of the offending values: deterministic for a given input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    #[serde(rename = "decision")]
    pub outcome: Outcome,
    /// Failures of `enforce` rules (non-empty exactly when the outcome is `Rejected`).
    pub violations: Vec<Violation>,
    /// Failures of `warn` rules.
    pub warnings: Vec<Violation>,
}

impl Decision {
    pub(crate) fn from_parts(violations: Vec<Violation>, warnings: Vec<Violation>) -> Decision {
        let outcome = if !violations.is_empty() {
            Outcome::Rejected
        } else if !warnings.is_empty() {
            Outcome::AcceptedWithWarnings
        } else {
            Outcome::Accepted
        };
        Decision {
            outcome,
            violations,
            warnings,
        }
    }
    pub fn is_rejected(&self) -> bool {
        self.outcome == Outcome::Rejected
    }
    /// All violations, enforce first then warn.
    pub fn all(&self) -> impl Iterator<Item = &Violation> {
        self.violations.iter().chain(self.warnings.iter())
    }
}

/// Identifiers of the resource a decision is about. Only identifiers: never attribute values
/// such as passwords.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subject {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

impl Subject {
    /// Pick the identifiers out of a SCIM resource (names compared case-insensitively).
    pub fn from_resource(v: &Value) -> Subject {
        let s = |k: &str| get_ci(v, k).and_then(|x| x.as_str()).map(str::to_string);
        Subject {
            id: s("id"),
            user_name: s("userName"),
            external_id: s("externalId"),
            display_name: s("displayName"),
        }
    }
}

/// What a caller hands to the audit store / outbox for every decision (accepted, warned or
/// rejected). Serialisable; contains identifiers, the decision and the violations, never
/// secrets or password values. This crate does not depend on the store: callers convert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionRecord {
    /// RFC 3339 UTC time of the evaluation.
    pub evaluated_at: String,
    /// Who asked: e.g. the IdP client id, `cli`, a Process Automation workflow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Where the evaluation ran: `scim`, `reconciler`, `http`, `cli`, `scan`.
    pub channel: String,
    pub resource_type: ResourceKind,
    pub subject: Subject,
    /// Name and version of the policy (from its `[policy]` table).
    pub policy: PolicyRef,
    pub decision: Outcome,
    pub violations: Vec<Violation>,
    pub warnings: Vec<Violation>,
}

/// Which policy produced a decision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRef {
    /// Serialised as `id`: audit redaction treats a `name` key as personal data.
    #[serde(rename = "id")]
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl DecisionRecord {
    /// Build the record for one decision. `at` is passed in so that evaluation itself stays pure.
    pub fn new(
        policy: PolicyRef,
        decision: &Decision,
        resource: &Value,
        channel: impl Into<String>,
        actor: Option<String>,
        at: time::OffsetDateTime,
    ) -> DecisionRecord {
        DecisionRecord {
            evaluated_at: rfc3339(at),
            actor,
            channel: channel.into(),
            resource_type: ResourceKind::detect(resource),
            subject: Subject::from_resource(resource),
            policy,
            decision: decision.outcome,
            violations: decision.violations.clone(),
            warnings: decision.warnings.clone(),
        }
    }
}

pub(crate) fn rfc3339(at: time::OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}
