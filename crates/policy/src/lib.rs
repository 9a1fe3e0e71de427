//! gcprov-policy: provisioning rules evaluated against SCIM users and groups, with an
//! explanation for every rejection.
//!
//! ```no_run
//! # fn main() -> Result<(), gcprov_policy::PolicyError> {
//! let policy = gcprov_policy::Policy::load(std::path::Path::new("examples/policy/demo.toml"))?;
//! let user = serde_json::json!({"userName": "ada@example.com"});
//! let decision = policy.evaluate(&user);
//! for v in decision.all() {
//!     println!("{} {} {}: {}", v.mode.as_str(), v.code, v.path, v.message);
//! }
//! # Ok(()) }
//! ```
//!
//! The policy is loaded and validated once ([`Policy::load`]); evaluation ([`Policy::evaluate`])
//! is pure, deterministic and does no parsing.

mod config;
mod decision;
mod error;
pub mod http;
pub mod input;
mod oracle;
mod path;
mod rules;
pub mod scan;
mod schema;

pub use config::RULE_KINDS;
pub use decision::{Decision, DecisionRecord, Mode, Outcome, PolicyRef, Subject, Violation};
pub use error::{InputError, PolicyError};
pub use oracle::{InMemoryOracle, UniquenessOracle};
pub use path::parse_filter;
pub use rules::{EvalContext, codes};
pub use schema::ResourceKind;

use serde_json::Value;
use std::path::Path;

/// A loaded, validated, precompiled policy. Cheap to share (`Arc<Policy>`); `Send + Sync`.
#[derive(Debug)]
pub struct Policy {
    meta: PolicyRef,
    rules: Vec<rules::Rule>,
}

/// A summary of one rule, for listings and documentation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RuleInfo {
    pub name: String,
    pub kind: &'static str,
    pub code: String,
    pub mode: Mode,
    pub applies_to: ResourceKind,
    /// 1-based line of the rule in the policy file.
    pub line: usize,
}

impl Policy {
    /// Read and validate a policy file. Errors name the file, line, column and rule.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Io {
            file: file.clone(),
            source,
        })?;
        Policy::from_toml(&text, &file)
    }

    /// Validate a policy from TOML text; `file` is the name used in error messages.
    pub fn from_toml(text: &str, file: &str) -> Result<Policy, PolicyError> {
        let loaded = config::load(file, text)?;
        Ok(Policy {
            meta: loaded.meta,
            rules: loaded.rules,
        })
    }

    /// Name and version from the `[policy]` table (the name defaults to the file name).
    pub fn reference(&self) -> PolicyRef {
        self.meta.clone()
    }

    /// The rules in evaluation order (file order).
    pub fn rules(&self) -> Vec<RuleInfo> {
        self.rules
            .iter()
            .map(|r| RuleInfo {
                name: r.name.clone(),
                kind: r.kind,
                code: r.code.clone(),
                mode: r.mode,
                applies_to: r.applies_to,
                line: r.line,
            })
            .collect()
    }

    /// Evaluate a resource (user or group, detected from `schemas`) without a uniqueness oracle.
    pub fn evaluate(&self, resource: &Value) -> Decision {
        self.evaluate_with(resource, &EvalContext::default())
    }

    /// Evaluate a resource. Rules run in file order; `off` rules and rules for another
    /// resource type are skipped. The result depends only on the policy, the resource and the
    /// oracle's answers.
    pub fn evaluate_with(&self, resource: &Value, ctx: &EvalContext<'_>) -> Decision {
        let kind = ctx.kind.unwrap_or_else(|| ResourceKind::detect(resource));
        let mut found = Vec::new();
        for rule in &self.rules {
            if rule.mode == Mode::Off || rule.applies_to != kind {
                continue;
            }
            rule.eval(resource, ctx, &mut found);
        }
        let (violations, warnings): (Vec<Violation>, Vec<Violation>) =
            found.into_iter().partition(|v| v.mode == Mode::Enforce);
        Decision::from_parts(violations, warnings)
    }

    /// Judge a PATCH on the resource it would produce: `apply` is the SCIM PATCH engine
    /// (`current` -> patched resource); the policy then evaluates the result. A PATCH that
    /// cannot be applied returns the engine's error unchanged.
    pub fn evaluate_patch<E>(
        &self,
        current: &Value,
        apply: impl FnOnce(&Value) -> Result<Value, E>,
        ctx: &EvalContext<'_>,
    ) -> Result<(Value, Decision), E> {
        let patched = apply(current)?;
        let decision = self.evaluate_with(&patched, ctx);
        Ok((patched, decision))
    }

    /// Judge a SCIM PATCH body (RFC 7644 3.5.2, as IdPs really send it) on the resource it
    /// would produce: the PATCH is applied to a copy of `current` with the `gcprov-scim` engine,
    /// then the result is evaluated. Returns the patched resource and the decision; a PATCH the
    /// engine rejects returns its `ScimError` (400 with `scimType`).
    pub fn evaluate_scim_patch(
        &self,
        current: &Value,
        patch: &Value,
        ctx: &EvalContext<'_>,
    ) -> Result<(Value, Decision), gcprov_scim::ScimError> {
        let kind = ctx.kind.unwrap_or_else(|| ResourceKind::detect(current));
        let ctx = EvalContext {
            kind: Some(kind),
            oracle: ctx.oracle,
        };
        self.evaluate_patch(
            current,
            |cur| {
                let res = gcprov_scim::Resource::from_json(cur.clone())?;
                gcprov_scim::apply_patch(&res, patch, path::resource_schema(kind))
                    .map(|r| r.into_json())
            },
            &ctx,
        )
    }

    /// Would mapping the IdP group `group` to the Genesys role `role` (in `division`) be
    /// allowed by the policy's `group_mapping` rules? For the reconciler's mapping tables.
    /// Returns the violations; empty means allowed (also when the policy has no such rules).
    pub fn check_grant(&self, group: &str, role: &str, division: Option<&str>) -> Decision {
        let mut user = serde_json::json!({
            "groups": [{"display": group}],
            "roles": [{"value": role}],
        });
        if let (Some(d), Some(obj)) = (division, user.as_object_mut()) {
            obj.insert(
                path::ENTERPRISE_USER.to_string(),
                serde_json::json!({ "division": d }),
            );
        }
        let mut found = Vec::new();
        for rule in &self.rules {
            if rule.mode != Mode::Off && matches!(rule.check, rules::Check::GroupMapping(_)) {
                rule.eval(&user, &EvalContext::default(), &mut found);
            }
        }
        let (violations, warnings) = found.into_iter().partition(|v| v.mode == Mode::Enforce);
        Decision::from_parts(violations, warnings)
    }

    /// The audit/outbox record for a decision taken now (see [`DecisionRecord::new`]).
    pub fn record(
        &self,
        decision: &Decision,
        resource: &Value,
        channel: &str,
        actor: Option<String>,
    ) -> DecisionRecord {
        DecisionRecord::new(
            self.reference(),
            decision,
            resource,
            channel,
            actor,
            time::OffsetDateTime::now_utc(),
        )
    }
}
