//! Resource kinds. Attribute definitions come from `gcprov_scim::schema` (see `path.rs`).

const CORE_GROUP: &str = gcprov_scim::schema::GROUP;

/// The kind of resource a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceKind {
    User,
    Group,
}

impl ResourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::User => "user",
            ResourceKind::Group => "group",
        }
    }

    /// Guess from `schemas` / `meta.resourceType`; a resource with neither is a user.
    pub fn detect(v: &serde_json::Value) -> ResourceKind {
        let is_group =
            |s: &str| s.eq_ignore_ascii_case(CORE_GROUP) || s.eq_ignore_ascii_case("Group");
        if let Some(schemas) = crate::path::get_ci(v, "schemas").and_then(|s| s.as_array())
            && schemas.iter().filter_map(|s| s.as_str()).any(is_group)
        {
            return ResourceKind::Group;
        }
        if let Some(rt) = crate::path::get_ci(v, "meta")
            .and_then(|m| crate::path::get_ci(m, "resourceType"))
            .and_then(|s| s.as_str())
            && is_group(rt)
        {
            return ResourceKind::Group;
        }
        ResourceKind::User
    }
}
