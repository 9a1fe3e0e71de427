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
            | "emails.primary"
            | "phoneNumbers"
            | "phoneNumbers.value"
            | "phoneNumbers.type"
            | "phoneNumbers.primary"
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

/// The Group resource type (Genesys groups: displayName, members; externalId kept by gcprov).
pub fn group() -> &'static ResourceSchema {
    defs::group_resource()
}

/// Every schema `/Schemas` lists (resource schemas plus the meta-schemas checkers expect).
pub fn all_schemas() -> Vec<Schema> {
    let mut v: Vec<Schema> = user().schemas().cloned().collect();
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
