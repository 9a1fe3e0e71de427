//! What the gateway advertises: only the attributes that map to Genesys Cloud and round-trip
//! through its SCIM API (compliance checkers PATCH every writable attribute they are shown).
//!
//! Not advertised, because Genesys drops them: `name.*`, `nickName`, `profileUrl`, `userType`,
//! `preferredLanguage`, `locale`, `timezone`, `ims`, `photos`, `addresses`, `entitlements`,
//! `x509Certificates`, `password` (write-only; accepted on create but never returned),
//! enterprise `costCenter`/`organization`/`manager.displayName`.

use std::sync::LazyLock;

use gcprov_scim::schema::{
    self, AuthenticationScheme, ResourceSchema, Schema, ServiceProviderConfig, defs,
};

fn keep_user(path: &str) -> bool {
    matches!(
        path,
        "userName"
            | "displayName"
            | "active"
            | "title"
            | "emails"
            | "emails.value"
            | "emails.type"
            | "phoneNumbers"
            | "phoneNumbers.value"
            | "phoneNumbers.type"
            | "roles"
            | "roles.value"
            | "groups"
            | "groups.value"
            | "groups.$ref"
            | "groups.display"
            | "groups.type"
    )
}

fn keep_enterprise(path: &str) -> bool {
    matches!(
        path,
        "employeeNumber" | "division" | "department" | "manager" | "manager.value" | "manager.$ref"
    )
}

fn restrict_canonical(s: &mut Schema, attr: &str, values: &[&str]) {
    if let Some(a) = s.attributes.iter_mut().find(|a| a.name == attr)
        && let Some(t) = a.sub_attributes.iter_mut().find(|t| t.name == "type")
    {
        t.canonical_values = values.iter().map(|v| v.to_string()).collect();
    }
}

static USER: LazyLock<ResourceSchema> = LazyLock::new(|| {
    let full = defs::user_resource();
    let mut core = full.core.retain(keep_user);
    // Genesys requires displayName and always holds a state: neither can be removed.
    for a in core.attributes.iter_mut() {
        if a.name == "displayName" || a.name == "active" {
            a.required = true;
        }
    }
    // Genesys keeps work emails; `other` is the read-only primary email (= userName).
    restrict_canonical(&mut core, "emails", &["work"]);
    restrict_canonical(
        &mut core,
        "phoneNumbers",
        &["work", "work2", "work3", "work4", "home", "mobile", "other"],
    );
    let extensions = full
        .extensions
        .iter()
        .map(|s| {
            if s.id == schema::ENTERPRISE_USER {
                s.retain(keep_enterprise)
            } else {
                s.clone()
            }
        })
        .collect();
    ResourceSchema {
        resource_type: full.resource_type.clone(),
        core,
        extensions,
    }
});

/// The User resource type as advertised and used for filters, sorting and projection.
pub fn user() -> &'static ResourceSchema {
    &USER
}

/// The User schemas without the attributes whose values must name something that exists in
/// the Genesys org (`roles`, enterprise `division`, `routingSkills`, `routingLanguages`): a
/// generic client cannot know those names. For deployments that drive them from the mapping
/// file only, and for compliance checkers.
static USER_PORTABLE: LazyLock<ResourceSchema> = LazyLock::new(|| {
    // The Genesys extension goes entirely: besides routing it holds only externalIds, which
    // the Genesys external-id API adds to but a SCIM PUT never removes from.
    let mut r = USER.clone();
    r.core = r.core.retain(|p| !p.starts_with("roles"));
    r.extensions.retain(|e| e.id != schema::GENESYS_USER);
    for e in r.extensions.iter_mut() {
        if e.id == schema::ENTERPRISE_USER {
            *e = e.retain(|p| p != "division");
        }
    }
    r.resource_type
        .schema_extensions
        .retain(|x| x.schema != schema::GENESYS_USER);
    r
});

static GROUP: LazyLock<ResourceSchema> = LazyLock::new(|| {
    let full = defs::group_resource();
    // Genesys keeps no member display names; `members.display` is not RFC 7643 8.7.1 either.
    ResourceSchema {
        resource_type: full.resource_type.clone(),
        core: full.core.retain(|p| p != "members.display"),
        extensions: full.extensions.clone(),
    }
});

/// The Group resource type (Genesys groups: displayName, members; externalId kept by gcprov).
pub fn group() -> &'static ResourceSchema {
    &GROUP
}

/// The User resource type as advertised (see [`USER_PORTABLE`]).
pub fn user_advertised(org_refs: bool) -> &'static ResourceSchema {
    if org_refs { &USER } else { &USER_PORTABLE }
}

/// Every schema `/Schemas` lists (resource schemas plus the meta-schemas checkers expect).
pub fn all_schemas(org_refs: bool) -> Vec<Schema> {
    let users = user_advertised(org_refs);
    let mut v: Vec<Schema> = users.schemas().cloned().collect();
    v.push(group().core.clone());
    v.push(defs::service_provider_config().clone());
    v.push(defs::resource_type().clone());
    v.push(defs::schema().clone());
    v
}

/// `/ServiceProviderConfig`.
pub fn service_provider_config(
    max_results: u32,
    bulk_ops: u32,
    bulk_bytes: u64,
) -> ServiceProviderConfig {
    ServiceProviderConfig {
        documentation_uri: None,
        patch: true,
        bulk: Some((bulk_ops, bulk_bytes)),
        filter_max_results: Some(max_results),
        change_password: false,
        sort: true,
        etag: true,
        authentication_schemes: vec![AuthenticationScheme {
            scheme_type: "oauthbearertoken".into(),
            name: "OAuth Bearer Token".into(),
            description: "A gcprov static bearer token or a JWT from a configured issuer".into(),
            spec_uri: Some("https://www.rfc-editor.org/info/rfc6750".into()),
            primary: true,
        }],
    }
}
