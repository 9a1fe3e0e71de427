//! `/api/v2/oauth/clients` and `/api/v2/oauth/scopes`.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::db::{Client, Db, PropertyChange};
use crate::error::ApiError;
use crate::server::{App, Caller};
use crate::users::{audit, change};
use crate::util::{Page, empty, iso, listing, ok, parse_json};

const GRANT_TYPES: &[&str] = &[
    "CODE",
    "TOKEN",
    "SAML2-BEARER",
    "PASSWORD",
    "CLIENT-CREDENTIALS",
];

/// Known scope ids (reference section 7.4). Descriptions are not published; the emulator
/// derives them from the id.
pub const SCOPES: &[&str] = &[
    "alerting",
    "alerting:readonly",
    "analytics",
    "analytics:readonly",
    "architect",
    "architect:readonly",
    "assistants",
    "assistants:readonly",
    "audits:readonly",
    "authorization",
    "authorization:readonly",
    "billing:readonly",
    "coaching",
    "coaching:readonly",
    "content-management",
    "content-management:readonly",
    "conversations",
    "conversations:readonly",
    "devices",
    "devices:readonly",
    "dialog",
    "dialog:readonly",
    "external-contacts",
    "external-contacts:readonly",
    "fax",
    "fax:readonly",
    "gdpr",
    "gdpr:readonly",
    "geolocation",
    "geolocation:readonly",
    "greetings",
    "greetings:readonly",
    "groups",
    "groups:readonly",
    "identity-providers:readonly",
    "integrations",
    "integrations:readonly",
    "journey",
    "journey:readonly",
    "knowledge",
    "knowledge:readonly",
    "language-understanding",
    "language-understanding:readonly",
    "learning",
    "learning:readonly",
    "license",
    "license:readonly",
    "locations",
    "locations:readonly",
    "messaging",
    "messaging-platform",
    "messaging-platform:readonly",
    "messaging:readonly",
    "notifications",
    "oauth",
    "oauth:readonly",
    "organization",
    "organization-authorization",
    "organization-authorization:readonly",
    "organization:readonly",
    "outbound",
    "outbound:readonly",
    "presence",
    "presence:readonly",
    "quality",
    "quality:readonly",
    "recordings",
    "recordings:readonly",
    "response-management",
    "response-management:readonly",
    "routing",
    "routing:readonly",
    "scim",
    "scim:readonly",
    "scripts",
    "scripts:readonly",
    "search:readonly",
    "speech-and-text-analytics",
    "speech-and-text-analytics:readonly",
    "stations",
    "stations:readonly",
    "streaming-events:readonly",
    "telephony",
    "telephony:readonly",
    "textbots",
    "textbots:readonly",
    "upload",
    "user-basic-info",
    "user-recordings",
    "user-recordings:readonly",
    "users",
    "users:readonly",
    "voicemail",
    "voicemail:readonly",
    "web-chat",
    "web-chat:readonly",
    "widgets",
    "widgets:readonly",
    "workforce-management",
    "workforce-management:readonly",
];

pub fn client_json(c: &Client, with_secret: bool) -> Value {
    let mut v = json!({
        "id": c.id,
        "name": c.name,
        "accessTokenValiditySeconds": c.validity_seconds,
        "registeredRedirectUri": c.redirect_uris,
        "roleIds": c.role_divisions.iter().map(|(r, _)| r.to_string()).collect::<Vec<_>>(),
        "dateCreated": iso(c.created_ms),
        "dateModified": iso(c.modified_ms),
        "authorizedGrantType": c.grant_type,
        "scope": c.scope,
        "roleDivisions": c.role_divisions.iter().map(|(r, d)| json!({"roleId": r, "divisionId": d})).collect::<Vec<_>>(),
        "state": c.state,
        "selfUri": format!("/api/v2/oauth/clients/{}", c.id),
    });
    if let Some(m) = v.as_object_mut() {
        if let Some(d) = &c.description {
            m.insert("description".into(), json!(d));
        }
        if with_secret {
            m.insert("secret".into(), json!(c.secret));
        }
    }
    v
}

/// `GET /api/v2/oauth/clients` takes no query parameters ([PY269] `get_oauth_clients` has none),
/// so there is no way to ask for a second page: every client comes back in one listing.
pub async fn list(State(app): State<App>) -> Result<Response, ApiError> {
    let db = app.db.read();
    let mut cs: Vec<&Client> = db.clients.values().collect();
    cs.sort_by(|a, b| {
        a.name
            .to_lowercase()
            .cmp(&b.name.to_lowercase())
            .then(a.id.cmp(&b.id))
    });
    let total = cs.len();
    let page = Page::check(total.max(1) as i64, 1, usize::MAX)?;
    let entities = cs.into_iter().map(|c| client_json(c, false)).collect();
    Ok(ok(listing(
        "/api/v2/oauth/clients",
        "",
        page,
        total,
        entities,
    )))
}

pub async fn get_one(State(app): State<App>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let db = app.db.read();
    let c = db.clients.get(&id).ok_or_else(ApiError::not_found)?;
    Ok(ok(client_json(c, false)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientIn {
    name: Option<String>,
    description: Option<String>,
    authorized_grant_type: Option<String>,
    access_token_validity_seconds: Option<i64>,
    #[serde(default)]
    registered_redirect_uri: Vec<String>,
    #[serde(default)]
    scope: Vec<String>,
    role_divisions: Option<Vec<RoleDivIn>>,
    role_ids: Option<Vec<String>>,
    state: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoleDivIn {
    role_id: Option<String>,
    division_id: Option<String>,
}

struct Validated {
    name: String,
    description: Option<String>,
    grant_type: String,
    validity: u32,
    redirect: Vec<String>,
    scope: Vec<String>,
    role_divisions: Vec<(Uuid, Uuid)>,
    state: String,
}

fn validate(db: &Db, caller: &Caller, req: ClientIn) -> Result<Validated, ApiError> {
    let name = req
        .name
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::invalid_value("name", "name is required"))?;
    let grant = req.authorized_grant_type.ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "grant.type.required",
            "The authorizedGrantType is required.",
        )
    })?;
    if !GRANT_TYPES.contains(&grant.as_str()) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad.grant.type",
            "Invalid grant type.",
        ));
    }
    // 300..=172800 seconds. SCIM clients may go up to 450 days in Genesys, but the emulator
    // cannot tell a SCIM client apart, so it keeps the general (narrower) range.
    let validity = req.access_token_validity_seconds.unwrap_or(86_400);
    if !(300..=172_800).contains(&validity) {
        return Err(ApiError::invalid_value(
            "accessTokenValiditySeconds",
            "accessTokenValiditySeconds must be between 300 and 172800",
        ));
    }
    let home = db.home_division().id;
    let mut pairs: Vec<(Uuid, Uuid)> = Vec::new();
    for rd in req.role_divisions.unwrap_or_default() {
        let r = rd
            .role_id
            .as_deref()
            .and_then(crate::util::parse_uuid)
            .filter(|r| db.role(*r).is_some())
            .ok_or_else(|| {
                ApiError::invalid_value("roleDivisions", "roleId must name an existing role")
            })?;
        let d = match rd.division_id.as_deref() {
            Some(d) => crate::util::parse_uuid(d)
                .filter(|d| db.division(*d).is_some())
                .ok_or_else(|| {
                    ApiError::invalid_value(
                        "roleDivisions",
                        "divisionId must name an existing division",
                    )
                })?,
            None => {
                return Err(ApiError::invalid_value(
                    "roleDivisions",
                    "divisionId is required",
                ));
            }
        };
        if !pairs.contains(&(r, d)) {
            pairs.push((r, d));
        }
    }
    for r in req.role_ids.unwrap_or_default() {
        let r = crate::util::parse_uuid(&r)
            .filter(|r| db.role(*r).is_some())
            .ok_or_else(|| {
                ApiError::invalid_value("roleIds", "roleIds must name existing roles")
            })?;
        if !pairs.iter().any(|(x, _)| *x == r) {
            pairs.push((r, home));
        }
    }
    if grant == "CLIENT-CREDENTIALS" && pairs.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "missing.client.roles",
            "Client roles are missing.",
        ));
    }
    // No privilege escalation: every permission of a granted role must be held by the caller.
    let held = caller_permissions_from(db, &caller.client_id);
    for (r, _) in &pairs {
        if let Some(role) = db.role(*r)
            && let Some(p) = role
                .permissions
                .iter()
                .find(|p| !held.iter().any(|h| crate::server::permission_matches(h, p)))
        {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "missing.permissions",
                format!(
                    "Unable to perform the requested action. You are missing the following permission(s): [{p}]"
                ),
            ));
        }
    }
    if let Some(s) = req.scope.iter().find(|s| !SCOPES.contains(&s.as_str())) {
        return Err(ApiError::invalid_value(
            "scope",
            format!("Scope [{s}] does not exist."),
        ));
    }
    let state = req.state.unwrap_or_else(|| "active".into());
    if !matches!(state.as_str(), "active" | "disabled" | "inactive") {
        return Err(ApiError::invalid_value(
            "state",
            format!(
                "Value [{state}] is not valid for field type [state]. Allowable values are: active, disabled, inactive"
            ),
        ));
    }
    Ok(Validated {
        name,
        description: req.description,
        grant_type: grant,
        validity: validity as u32,
        redirect: req.registered_redirect_uri,
        scope: req.scope,
        role_divisions: pairs,
        state,
    })
}

fn caller_permissions_from(db: &Db, client_id: &str) -> Vec<String> {
    db.clients
        .get(client_id)
        .map(|c| db.permissions_of(&c.role_divisions))
        .unwrap_or_default()
}

pub async fn create(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: ClientIn = parse_json(&body)?;
    let now = app.now_ms();
    let mut db = app.db.write();
    let v = validate(&db, &c, req)?;
    let client = Client {
        id: Uuid::new_v4().to_string(),
        name: v.name,
        description: v.description,
        secret: crate::config::random_secret(),
        grant_type: v.grant_type,
        role_divisions: v.role_divisions,
        scope: v.scope,
        redirect_uris: v.redirect,
        validity_seconds: v.validity,
        state: v.state,
        created_ms: now,
        modified_ms: now,
        admin: false,
    };
    let out = client_json(&client, true);
    // The audit entry never carries the secret.
    audit(
        &mut db,
        now,
        &c.client_id,
        "Platform",
        "Create",
        "OAuthClient",
        client.id.clone(),
        Some(client.name.clone()),
        change("name", None, Some(&client.name))
            .into_iter()
            .collect(),
    );
    db.clients.insert(client.id.clone(), client);
    Ok(ok(out))
}

pub async fn put(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: ClientIn = parse_json(&body)?;
    let now = app.now_ms();
    let mut db = app.db.write();
    if !db.clients.contains_key(&id) {
        return Err(ApiError::not_found());
    }
    let v = validate(&db, &c, req)?;
    let Some(client) = db.clients.get_mut(&id) else {
        return Err(ApiError::not_found());
    };
    let mut changes: Vec<PropertyChange> = Vec::new();
    changes.extend(change("name", Some(&client.name), Some(&v.name)));
    changes.extend(change("state", Some(&client.state), Some(&v.state)));
    client.name = v.name;
    client.description = v.description;
    client.grant_type = v.grant_type;
    client.validity_seconds = v.validity;
    client.redirect_uris = v.redirect;
    client.scope = v.scope;
    client.role_divisions = v.role_divisions;
    client.state = v.state;
    client.modified_ms = now;
    let out = client_json(client, false);
    let name = client.name.clone();
    audit(
        &mut db,
        now,
        &c.client_id,
        "Platform",
        "Update",
        "OAuthClient",
        id,
        Some(name),
        changes,
    );
    Ok(ok(out))
}

pub async fn delete(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let now = app.now_ms();
    let mut db = app.db.write();
    let client = db.clients.get(&id).ok_or_else(ApiError::not_found)?;
    // "The client state must be set to inactive before deleting" (Genesys' Terraform provider).
    // The status Genesys answers otherwise is not published; the emulator answers 400.
    if client.state != "inactive" {
        return Err(ApiError::bad_request(
            "The client state must be set to inactive before deleting.",
        ));
    }
    if client.admin {
        return Err(ApiError::bad_request(
            "The emulator's admin client cannot be deleted.",
        ));
    }
    let name = client.name.clone();
    db.clients.remove(&id);
    audit(
        &mut db,
        now,
        &c.client_id,
        "Platform",
        "Delete",
        "OAuthClient",
        id.clone(),
        Some(name),
        Vec::new(),
    );
    drop(db);
    app.tokens.lock().retain(|_, t| t.client_id != id);
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn secret(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let now = app.now_ms();
    let mut db = app.db.write();
    let client = db.clients.get_mut(&id).ok_or_else(ApiError::not_found)?;
    client.secret = crate::config::random_secret();
    client.modified_ms = now;
    let out = client_json(client, true);
    let name = client.name.clone();
    audit(
        &mut db,
        now,
        &c.client_id,
        "Platform",
        "Update",
        "OAuthClient",
        id,
        Some(name),
        vec![PropertyChange {
            property: "secret".into(),
            old_values: vec!["[redacted]".into()],
            new_values: vec!["[redacted]".into()],
        }],
    );
    Ok(ok(out))
}

pub async fn scopes(State(_app): State<App>) -> Response {
    let entities: Vec<Value> = SCOPES
        .iter()
        .map(|s| {
            let (domain, ro) = match s.strip_suffix(":readonly") {
                Some(d) => (d, true),
                None => (*s, false),
            };
            let desc = if ro {
                format!("View {domain} data")
            } else {
                format!("View and manage {domain} data")
            };
            json!({"id": s, "description": desc, "selfUri": format!("/api/v2/oauth/scopes/{s}")})
        })
        .collect();
    ok(json!({"total": entities.len(), "entities": entities, "selfUri": "/api/v2/oauth/scopes"}))
}
