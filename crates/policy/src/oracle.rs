//! Uniqueness checks: the policy engine cannot see the whole directory, so the caller (the SCIM
//! gateway's read model, the reconciler's snapshot) answers "is this value already used?".

use std::collections::HashMap;

/// Answers `unique` rules. `attribute` is the rule's path exactly as written in the policy file
/// (e.g. `externalId`, `emails[type eq "work"].value`); `excluding_id` is the `id` of the
/// resource being evaluated, so that a resource never collides with itself.
pub trait UniquenessOracle {
    fn is_taken(&self, attribute: &str, value: &str, excluding_id: Option<&str>) -> bool;
}

/// An in-memory oracle for tests and offline checks. Values compare case-insensitively, as
/// SCIM `uniqueness: server` attributes such as `userName` do.
#[derive(Debug, Default, Clone)]
pub struct InMemoryOracle {
    /// attribute (as inserted) -> value lower-cased -> owning resource ids.
    taken: HashMap<String, HashMap<String, Vec<String>>>,
}

impl InMemoryOracle {
    pub fn new() -> Self {
        Self::default()
    }
    /// Record that the resource `owner_id` holds `value` for `attribute`.
    pub fn insert(&mut self, attribute: &str, value: &str, owner_id: &str) {
        self.taken
            .entry(attribute.to_string())
            .or_default()
            .entry(value.to_lowercase())
            .or_default()
            .push(owner_id.to_string());
    }
}

impl UniquenessOracle for InMemoryOracle {
    fn is_taken(&self, attribute: &str, value: &str, excluding_id: Option<&str>) -> bool {
        // Exact attribute first (the policy passes its path text unchanged), then any case.
        let values = self.taken.get(attribute).or_else(|| {
            self.taken
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(attribute))
                .map(|(_, v)| v)
        });
        let Some(values) = values else { return false };
        let owners = if value.is_ascii() && !value.bytes().any(|b| b.is_ascii_uppercase()) {
            values.get(value)
        } else {
            values.get(&value.to_lowercase())
        };
        owners.is_some_and(|owners| owners.iter().any(|o| Some(o.as_str()) != excluding_id))
    }
}
