//! `/api/v2/users…`: users, search, external ids, roles.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::db::{Audit, Contact, Db, PropertyChange, State as UState, User};
use crate::error::ApiError;
use crate::search::{self, SearchRequest};
use crate::server::{App, Caller};
use crate::util::{Page, Query, empty, listing, ok, parse_json, parse_uuid};

/// Which expand options were asked for.
#[derive(Debug, Default, Clone, Copy)]
pub struct Expand {
    pub skills: bool,
    pub languages: bool,
    pub groups: bool,
    pub authorization: bool,
}

impl Expand {
    pub fn from_list(list: &[String]) -> Self {
        let mut e = Expand::default();
        for x in list {
            match x.as_str() {
                "skills" => e.skills = true,
                "languages" => e.languages = true,
                "groups" => e.groups = true,
                "authorization" => e.authorization = true,
                _ => {}
            }
        }
        e
    }
}

#[allow(clippy::too_many_arguments)]
pub fn audit(
    db: &mut Db,
    now: i64,
    client_id: &str,
    service: &'static str,
    action: &'static str,
    entity_type: &'static str,
    entity_id: String,
    name: Option<String>,
    changes: Vec<PropertyChange>,
) {
    db.record(Audit {
        id: Uuid::new_v4(),
        date_ms: now,
        client_id: client_id.to_owned(),
        service_name: service,
        action,
        entity_type,
        entity_id,
        entity_name: name,
        changes,
    });
}

pub fn change(property: &str, old: Option<&str>, new: Option<&str>) -> Option<PropertyChange> {
    if old == new {
        return None;
    }
    Some(PropertyChange {
        property: property.to_owned(),
        old_values: old.map(|s| vec![s.to_owned()]).unwrap_or_default(),
        new_values: new.map(|s| vec![s.to_owned()]).unwrap_or_default(),
    })
}

pub fn user_ref(id: Uuid) -> Value {
    json!({"id": id, "selfUri": format!("/api/v2/users/{id}")})
}

/// The `User` model.
pub fn user_json(db: &Db, u: &User, expand: Expand) -> Value {
    let div = db.division(u.division);
    let mut m = serde_json::Map::new();
    m.insert("id".into(), json!(u.id));
    m.insert("name".into(), json!(u.name));
    m.insert(
        "division".into(),
        json!({"id": u.division, "name": div.map(|d| d.name.as_str()).unwrap_or(""), "selfUri": format!("/api/v2/authorization/divisions/{}", u.division)}),
    );
    m.insert(
        "chat".into(),
        json!({"jabberId": format!("{}@emulator.orgspan.com", u.id.simple())}),
    );
    if let Some(d) = &u.department {
        m.insert("department".into(), json!(d));
    }
    m.insert("email".into(), json!(u.email));
    let mut primary = vec![json!({"address": u.email, "mediaType": "EMAIL", "type": "PRIMARY"})];
    let addresses: Vec<Value> = u
        .addresses
        .iter()
        .map(|c| json!({"address": c.address, "display": c.address, "mediaType": c.media_type, "type": c.kind}))
        .collect();
    if let Some(p) = u.addresses.iter().find(|c| &*c.media_type == "PHONE") {
        primary.push(json!({"address": p.address, "display": p.address, "mediaType": "PHONE", "type": "PRIMARY"}));
    }
    m.insert("primaryContactInfo".into(), Value::Array(primary));
    m.insert("addresses".into(), Value::Array(addresses));
    m.insert("state".into(), json!(u.state.as_str()));
    if let Some(t) = &u.title {
        m.insert("title".into(), json!(t));
    }
    m.insert("username".into(), json!(u.email));
    if let Some(mgr) = u.manager {
        m.insert("manager".into(), user_ref(mgr));
    }
    m.insert("version".into(), json!(u.version));
    if u.employee_id.is_some() || u.date_hire.is_some() {
        let mut e = serde_json::Map::new();
        if let Some(x) = &u.employee_id {
            e.insert("employeeId".into(), json!(x));
        }
        if let Some(x) = &u.date_hire {
            e.insert("dateHire".into(), json!(x));
        }
        m.insert("employerInfo".into(), Value::Object(e));
    }
    if let Some(p) = &u.preferred_name {
        m.insert("preferredName".into(), json!(p));
    }
    m.insert("acdAutoAnswer".into(), json!(false));
    if expand.skills {
        m.insert(
            "skills".into(),
            Value::Array(
                u.skills
                    .iter()
                    .filter_map(|(id, p)| user_skill_json(db, u.id, *id, *p))
                    .collect(),
            ),
        );
    }
    if expand.languages {
        m.insert(
            "languages".into(),
            Value::Array(
                u.languages
                    .iter()
                    .filter_map(|(id, p)| user_language_json(db, u.id, *id, *p))
                    .collect(),
            ),
        );
    }
    if expand.groups {
        m.insert(
            "groups".into(),
            Value::Array(
                u.groups
                    .iter()
                    .filter_map(|g| db.groups.get(g))
                    .map(|g| json!({"id": g.id, "name": g.name, "selfUri": format!("/api/v2/groups/{}", g.id)}))
                    .collect(),
            ),
        );
    }
    if expand.authorization {
        m.insert("authorization".into(), authorization_json(db, &u.grants));
    }
    m.insert("selfUri".into(), json!(format!("/api/v2/users/{}", u.id)));
    Value::Object(m)
}

pub fn user_skill_json(db: &Db, user: Uuid, skill: Uuid, proficiency: f32) -> Option<Value> {
    let s = db.skill(skill)?;
    Some(json!({
        "id": s.id, "name": s.name, "proficiency": proficiency as f64, "state": "active",
        "skillUri": format!("/api/v2/routing/skills/{}", s.id),
        "selfUri": format!("/api/v2/users/{user}/routingskills/{}", s.id),
    }))
}

pub fn user_language_json(db: &Db, user: Uuid, lang: Uuid, proficiency: f32) -> Option<Value> {
    let s = db.language(lang)?;
    Some(json!({
        "id": s.id, "name": s.name, "proficiency": proficiency as f64, "state": "active",
        "languageUri": format!("/api/v2/routing/languages/{}", s.id),
        "selfUri": format!("/api/v2/users/{user}/routinglanguages/{}", s.id),
    }))
}

pub fn authorization_json(db: &Db, grants: &[(Uuid, Uuid)]) -> Value {
    let mut roles: Vec<Value> = Vec::new();
    let mut seen = Vec::new();
    for (r, _) in grants {
        if seen.contains(r) {
            continue;
        }
        seen.push(*r);
        if let Some(role) = db.role(*r) {
            roles.push(json!({"id": role.id, "name": role.name}));
        }
    }
    json!({"roles": roles, "unusedRoles": [], "permissions": db.permissions_of(grants), "permissionPolicies": []})
}

fn parse_state_filter(q: &Query) -> Result<Option<UState>, ApiError> {
    // None = any
    match q.get("state").unwrap_or("active") {
        "any" => Ok(None),
        s => UState::parse(s).map(Some).ok_or_else(|| {
            ApiError::invalid_value("state", format!("Value [{s}] is not valid for field type [state]. Allowable values are: active, inactive, deleted, any"))
        }),
    }
}

fn descending(q: &Query) -> Result<bool, ApiError> {
    match q.get("sortOrder").unwrap_or("ASC") {
        "ASC" | "asc" | "ascending" => Ok(false),
        "DESC" | "desc" | "descending" => Ok(true),
        s => Err(ApiError::invalid_value(
            "sortOrder",
            format!(
                "Value [{s}] is not valid for field type [sortOrder]. Allowable values are: ascending, descending"
            ),
        )),
    }
}

pub async fn list(State(app): State<App>, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let page = Page::from_query(&q, 500)?;
    let ids = q.all("id");
    if ids.len() > 100 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "max.user.ids",
            "Only 100 users can be requested at a time",
        ));
    }
    let state = parse_state_filter(&q)?;
    let desc = descending(&q)?;
    let expand = Expand::from_list(&q.all("expand"));
    let db = app.db.read();
    let mut found: Vec<&User> = if ids.is_empty() {
        let order = name_order(&app, &db);
        let mut v: Vec<&User> = order
            .iter()
            .filter_map(|i| db.users.get(i))
            .filter(|u| state.is_none_or(|s| u.state == s))
            .collect();
        if desc {
            v.reverse();
        }
        let total = v.len();
        let entities = page
            .slice(&v)
            .into_iter()
            .map(|u| user_json(&db, u, expand))
            .collect();
        let extra = q
            .get("state")
            .map(|s| format!("&state={s}"))
            .unwrap_or_default();
        return Ok(ok(listing("/api/v2/users", &extra, page, total, entities)));
    } else {
        ids.iter()
            .filter_map(|i| parse_uuid(i))
            .filter_map(|i| db.users.get(&i))
            .filter(|u| state.is_none_or(|s| u.state == s))
            .collect()
    };
    found.sort_by_cached_key(|u| (u.name.to_lowercase(), u.id));
    if desc {
        found.reverse();
    }
    let total = found.len();
    let entities = page
        .slice(&found)
        .into_iter()
        .map(|u| user_json(&db, u, expand))
        .collect();
    let mut extra = String::new();
    if let Some(s) = q.get("state") {
        extra = format!("&state={s}");
    }
    Ok(ok(listing("/api/v2/users", &extra, page, total, entities)))
}

/// User ids ordered by lower-cased name then id, cached until a user is added or renamed.
fn name_order(app: &App, db: &Db) -> std::sync::Arc<Vec<Uuid>> {
    let mut cache = app.name_order.lock();
    if cache.0 != db.user_gen {
        let mut v: Vec<(String, Uuid)> = db
            .users
            .values()
            .map(|u| (u.name.to_lowercase(), u.id))
            .collect();
        v.sort_unstable();
        *cache = (
            db.user_gen,
            std::sync::Arc::new(v.into_iter().map(|(_, id)| id).collect()),
        );
    }
    cache.1.clone()
}

pub async fn get_one(
    State(app): State<App>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let expand = Expand::from_list(&q.all("expand"));
    let want_deleted = match q.get("state").unwrap_or("active") {
        "active" => false,
        "deleted" => true,
        s => {
            return Err(ApiError::invalid_value(
                "state",
                format!(
                    "Value [{s}] is not valid for field type [state]. Allowable values are: active, deleted"
                ),
            ));
        }
    };
    let db = app.db.read();
    let u = parse_uuid(&id)
        .and_then(|i| db.users.get(&i))
        .ok_or_else(ApiError::not_found)?;
    // `state=active` (default) hides deleted users; `state=deleted` finds only deleted ones.
    if (u.state == UState::Deleted) != want_deleted {
        return Err(ApiError::not_found());
    }
    Ok(ok(user_json(&db, u, expand)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContactIn {
    address: Option<String>,
    media_type: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    extension: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateUser {
    name: Option<String>,
    email: Option<String>,
    division_id: Option<String>,
    department: Option<String>,
    title: Option<String>,
    #[allow(dead_code)]
    password: Option<String>,
    #[serde(default)]
    addresses: Vec<ContactIn>,
    state: Option<String>,
}

fn valid_email(e: &str) -> bool {
    let Some((l, d)) = e.split_once('@') else {
        return false;
    };
    !l.is_empty() && d.contains('.') && !e.contains(char::is_whitespace)
}

fn contacts(list: Vec<ContactIn>) -> Result<Vec<Contact>, ApiError> {
    let mut out = Vec::new();
    for c in list {
        let media = c.media_type.unwrap_or_else(|| "PHONE".into());
        if !matches!(media.as_str(), "PHONE" | "EMAIL" | "SMS") {
            return Err(ApiError::invalid_value(
                "mediaType",
                format!(
                    "Value [{media}] is not valid for field type [mediaType]. Allowable values are: PHONE, EMAIL, SMS"
                ),
            ));
        }
        let kind = c.kind.unwrap_or_else(|| "WORK".into());
        let address = c.address.or(c.extension).unwrap_or_default();
        if address.is_empty() {
            return Err(ApiError::invalid_value("address", "address is required"));
        }
        if out
            .iter()
            .any(|x: &Contact| *x.media_type == *media && *x.kind == *kind)
        {
            return Err(ApiError::bad_request(
                "One entry is allowed per media type and type.",
            ));
        }
        out.push(Contact {
            address: address.into(),
            media_type: media.into(),
            kind: kind.into(),
        });
    }
    Ok(out)
}

pub async fn create(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: CreateUser = parse_json(&body)?;
    let name = req
        .name
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::invalid_value("name", "name is required"))?;
    let email = req
        .email
        .filter(|e| !e.is_empty())
        .ok_or_else(|| ApiError::invalid_value("email", "email is required"))?;
    if !valid_email(&email) {
        return Err(ApiError::invalid_value(
            "email",
            format!("Value [{email}] is not a valid email address."),
        ));
    }
    // Genesys: "If not specified, state will be Active if invites are sent, otherwise Inactive".
    // The emulator sends no invites, so the default is `inactive` (clients should say what they
    // want); `deleted` cannot be asked for at creation.
    let state = match req.state.as_deref() {
        None => UState::Inactive,
        Some("active") => UState::Active,
        Some("inactive") => UState::Inactive,
        Some(s) => {
            return Err(ApiError::invalid_value(
                "state",
                format!(
                    "Value [{s}] is not valid for field type [state]. Allowable values are: active, inactive"
                ),
            ));
        }
    };
    let addresses = contacts(req.addresses)?;
    let now = app.now_ms();
    let mut db = app.db.write();
    let division = match req.division_id.as_deref() {
        None | Some("") => db.home_division().id,
        Some(d) => parse_uuid(d)
            .and_then(|d| db.division(d))
            .map(|d| d.id)
            .ok_or_else(|| {
                ApiError::invalid_value("divisionId", format!("Division [{d}] does not exist."))
            })?,
    };
    if db.by_email.contains_key(email.to_lowercase().as_str()) {
        // Email/username is unique across every state, deleted users included.
        return Err(ApiError::conflict(format!(
            "The email address [{email}] is already in use."
        )));
    }
    let user = User {
        id: Uuid::new_v4(),
        name: name.into(),
        email: email.into(),
        department: req.department.map(Into::into),
        title: req.title.map(Into::into),
        preferred_name: None,
        state,
        version: 1,
        division,
        manager: None,
        modified_ms: now,
        employee_id: None,
        date_hire: None,
        addresses,
        external_ids: Vec::new(),
        skills: Vec::new(),
        languages: Vec::new(),
        grants: Vec::new(),
        groups: Vec::new(),
    };
    let id = user.id;
    let changes = vec![
        change("name", None, Some(&user.name)),
        change("email", None, Some(&user.email)),
        change("state", None, Some(user.state.as_str())),
    ]
    .into_iter()
    .flatten()
    .collect();
    audit(
        &mut db,
        now,
        &c.client_id,
        "Directory",
        "Create",
        "User",
        id.to_string(),
        Some(user.name.to_string()),
        changes,
    );
    db.insert_user(user);
    let u = &db.users[&id];
    Ok(ok(user_json(&db, u, Expand::default())))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EmployerInfo {
    employee_id: Option<String>,
    date_hire: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateUser {
    version: Option<i64>,
    name: Option<String>,
    department: Option<String>,
    email: Option<String>,
    title: Option<String>,
    preferred_name: Option<String>,
    manager: Option<String>,
    addresses: Option<Vec<ContactIn>>,
    state: Option<String>,
    employer_info: Option<EmployerInfo>,
}

/// A `state` value of a request body: `active`, `inactive` or `deleted`.
fn parse_state(s: &str) -> Result<UState, ApiError> {
    UState::parse(s).ok_or_else(|| ApiError::invalid_value("state", format!("Value [{s}] is not valid for field type [state]. Allowable values are: active, inactive, deleted")))
}

/// Moves user `uid` to `new` (the caller has checked the version): bumps the version, and on a
/// restore re-claims the email unless a non-deleted user holds it now (409). Shared by
/// `PATCH /users/{id}` with `state` and `PUT /users/{id}/state`. Returns the previous state.
fn transition_state(db: &mut Db, uid: Uuid, new: UState, now: i64) -> Result<UState, ApiError> {
    let u = db.users.get(&uid).ok_or_else(ApiError::not_found)?;
    let old = u.state;
    let restore = old == UState::Deleted && new != UState::Deleted;
    let key = u.email.to_lowercase();
    if restore
        && let Some(holder) = db.by_email.get(key.as_str())
        && *holder != uid
        && db
            .users
            .get(holder)
            .is_some_and(|h| h.state != UState::Deleted)
    {
        return Err(ApiError::conflict(
            "The email address is in use by another user.",
        ));
    }
    let u = db.users.get_mut(&uid).ok_or_else(ApiError::not_found)?;
    u.state = new;
    u.version += 1;
    u.modified_ms = now;
    if restore {
        db.by_email.insert(key.into_boxed_str(), uid);
    }
    Ok(old)
}

pub async fn patch(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: UpdateUser = parse_json(&body)?;
    let version = req
        .version
        .ok_or_else(|| ApiError::invalid_value("version", "version is required"))?;
    let uid = parse_uuid(&id).ok_or_else(ApiError::not_found)?;
    let now = app.now_ms();
    let mut guard = app.db.write();
    let db = &mut *guard;
    let u = db.users.get(&uid).ok_or_else(ApiError::not_found)?;
    if version != u.version as i64 {
        return Err(ApiError::version_conflict());
    }
    let mut changes = Vec::new();
    let mut action = "Update";
    if let Some(s) = req.state {
        // "If specified, it is the only modifiable field."
        let new = parse_state(&s)?;
        let old = transition_state(db, uid, new, now)?;
        if old == UState::Deleted && new != UState::Deleted {
            action = "Restore";
        }
        changes.extend(change("state", Some(old.as_str()), Some(new.as_str())));
    } else {
        if u.state == UState::Deleted {
            return Err(ApiError::not_found());
        }
        if let Some(e) = &req.email
            && !e.eq_ignore_ascii_case(&u.email)
        {
            return Err(ApiError::bad_request(
                "The PRIMARY email address cannot be changed.",
            ));
        }
        let manager = match req.manager.as_deref() {
            None => None,
            Some("") => Some(None),
            Some(m) => {
                let mid = parse_uuid(m)
                    .filter(|m| db.users.contains_key(m))
                    .ok_or_else(|| {
                        ApiError::invalid_value("manager", format!("Manager [{m}] does not exist."))
                    })?;
                if mid == uid {
                    return Err(ApiError::invalid_value(
                        "manager",
                        "A user cannot be their own manager.",
                    ));
                }
                Some(Some(mid))
            }
        };
        let addresses = match req.addresses {
            Some(a) => {
                let list = contacts(a)?;
                if list.iter().any(|c| {
                    &*c.kind == "PRIMARY"
                        && &*c.media_type == "EMAIL"
                        && !c.address.eq_ignore_ascii_case(&u.email)
                }) {
                    return Err(ApiError::bad_request(
                        "The PRIMARY email address cannot be changed.",
                    ));
                }
                Some(
                    list.into_iter()
                        .filter(|c| !(&*c.kind == "PRIMARY" && &*c.media_type == "EMAIL"))
                        .collect::<Vec<_>>(),
                )
            }
            None => None,
        };
        let u = db.users.get_mut(&uid).ok_or_else(ApiError::not_found)?;
        if let Some(n) = req.name {
            if n.trim().is_empty() {
                return Err(ApiError::invalid_value("name", "name cannot be empty"));
            }
            changes.extend(change("name", Some(&u.name), Some(&n)));
            u.name = n.into();
        }
        macro_rules! opt {
            ($field:ident, $val:expr, $prop:literal) => {
                if let Some(v) = $val {
                    let new: Option<Box<str>> = if v.is_empty() { None } else { Some(v.into()) };
                    changes.extend(change($prop, u.$field.as_deref(), new.as_deref()));
                    u.$field = new;
                }
            };
        }
        opt!(department, req.department, "department");
        opt!(title, req.title, "title");
        opt!(preferred_name, req.preferred_name, "preferredName");
        if let Some(e) = req.employer_info {
            opt!(employee_id, e.employee_id, "employerInfo.employeeId");
            opt!(date_hire, e.date_hire, "employerInfo.dateHire");
        }
        if let Some(m) = manager {
            changes.extend(change(
                "manager",
                u.manager.map(|x| x.to_string()).as_deref(),
                m.map(|x| x.to_string()).as_deref(),
            ));
            u.manager = m;
        }
        if let Some(a) = addresses {
            if a != u.addresses {
                changes.push(crate::db::PropertyChange {
                    property: "addresses".into(),
                    old_values: u.addresses.iter().map(|c| c.address.to_string()).collect(),
                    new_values: a.iter().map(|c| c.address.to_string()).collect(),
                });
            }
            u.addresses = a;
        }
        u.version += 1;
        u.modified_ms = now;
    }
    db.user_gen += 1;
    let name = db.users[&uid].name.to_string();
    audit(
        db,
        now,
        &c.client_id,
        "Directory",
        action,
        "User",
        uid.to_string(),
        Some(name),
        changes,
    );
    Ok(ok(user_json(db, &db.users[&uid], Expand::default())))
}

pub async fn delete(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let uid = parse_uuid(&id).ok_or_else(ApiError::not_found)?;
    let now = app.now_ms();
    let mut db = app.db.write();
    soft_delete(&mut db, uid, now, &c.client_id)?;
    Ok(ok(json!({})))
}

pub fn soft_delete(db: &mut Db, uid: Uuid, now: i64, client: &str) -> Result<(), ApiError> {
    let u = db
        .users
        .get_mut(&uid)
        .filter(|u| u.state != UState::Deleted)
        .ok_or_else(ApiError::not_found)?;
    let old = u.state;
    u.state = UState::Deleted;
    u.version += 1;
    u.modified_ms = now;
    let name = u.name.to_string();
    audit(
        db,
        now,
        client,
        "Directory",
        "Delete",
        "User",
        uid.to_string(),
        Some(name),
        change("state", Some(old.as_str()), Some("deleted"))
            .into_iter()
            .collect(),
    );
    Ok(())
}

// ---- search -----------------------------------------------------------------------------

fn user_field(db: &Db, u: &User, f: &str) -> Vec<String> {
    let one = |s: Option<&str>| s.map(|x| vec![x.to_owned()]).unwrap_or_default();
    match f {
        "id" => vec![u.id.to_string()],
        "name" => vec![u.name.to_string()],
        "email" | "username" => vec![u.email.to_string()],
        "state" => vec![u.state.as_str().to_owned()],
        "department" => one(u.department.as_deref()),
        "title" => one(u.title.as_deref()),
        "preferredName" => one(u.preferred_name.as_deref()),
        "division.id" | "divisionId" => vec![u.division.to_string()],
        "manager.id" => one(u.manager.map(|m| m.to_string()).as_deref()),
        "employerInfo.employeeId" => one(u.employee_id.as_deref()),
        "groups.id" => u.groups.iter().map(|g| g.to_string()).collect(),
        "routingSkills.name" | "skills.name" => u
            .skills
            .iter()
            .filter_map(|(s, _)| db.skill(*s).map(|s| s.name.clone()))
            .collect(),
        "languages.name" => u
            .languages
            .iter()
            .filter_map(|(s, _)| db.language(*s).map(|s| s.name.clone()))
            .collect(),
        "addresses" => u.addresses.iter().map(|c| c.address.to_string()).collect(),
        _ => Vec::new(),
    }
}

const USER_FIELDS: &[&str] = &[
    "id",
    "name",
    "email",
    "username",
    "state",
    "department",
    "title",
    "preferredName",
    "division.id",
    "divisionId",
    "manager.id",
    "employerInfo.employeeId",
    "groups.id",
    "routingSkills.name",
    "skills.name",
    "languages.name",
    "addresses",
];

pub fn run_user_search(app: &App, mut req: SearchRequest) -> Result<Value, ApiError> {
    search::validate(
        &req.query,
        search::USER_TYPES,
        &|f| USER_FIELDS.contains(&f),
        0,
    )?;
    let page = Page::check(
        req.page_size.unwrap_or(25),
        req.page_number.unwrap_or(1),
        100,
    )?;
    let desc = match req.sort_order.as_deref() {
        None | Some("ASC") | Some("SCORE") => false,
        Some("DESC") => true,
        Some(s) => {
            return Err(ApiError::invalid_value(
                "sortOrder",
                format!(
                    "Value [{s}] is not valid for field type [sortOrder]. Allowable values are: ASC, DESC, SCORE"
                ),
            ));
        }
    };
    let sort_by = req.sort_by.clone().unwrap_or_else(|| "name".into());
    if !USER_FIELDS.contains(&sort_by.as_str()) {
        return Err(ApiError::invalid_value(
            "sortBy",
            format!("Field [{sort_by}] is not sortable."),
        ));
    }
    let expand = Expand::from_list(&req.expand);
    // Deleted users are found only when a criterion names the `state` field (as Genesys'
    // Terraform provider does to find deleted users); other states are all searched.
    let state_named = search::mentions(&req.query, "state");
    let db = app.db.read();
    let mut hits: Vec<&User> = db
        .users
        .values()
        .filter(|u| state_named || u.state != UState::Deleted)
        .filter(|u| search::eval(&req.query, &|f| user_field(&db, u, f)))
        .collect();
    hits.sort_by_cached_key(|u| (user_field(&db, u, &sort_by).join(",").to_lowercase(), u.id));
    if desc {
        hits.reverse();
    }
    let total = hits.len();
    let page_count = page.page_count(total);
    let results: Vec<Value> = page
        .slice(&hits)
        .into_iter()
        .map(|u| user_json(&db, u, expand))
        .collect();
    req.types = vec!["users".into()];
    req.page_size = Some(page.size as i64);
    Ok(search_response(
        "/api/v2/users/search",
        req,
        page,
        total,
        page_count,
        results,
    ))
}

pub fn search_response(
    path: &str,
    mut req: SearchRequest,
    page: Page,
    total: usize,
    page_count: usize,
    results: Vec<Value>,
) -> Value {
    let mut uri = |n: usize| {
        req.page_number = Some(n as i64);
        format!("{path}?q64={}", search::encode_q64(&req))
    };
    let mut v = json!({
        "total": total,
        "pageCount": page_count,
        "pageSize": page.size,
        "pageNumber": page.number,
        "currentPage": uri(page.number),
        "types": [path.trim_start_matches("/api/v2/").trim_end_matches("/search")],
        "results": results,
    });
    if let Some(m) = v.as_object_mut() {
        if page.number > 1 {
            m.insert("previousPage".into(), json!(uri(page.number - 1)));
        }
        if page.number < page_count {
            m.insert("nextPage".into(), json!(uri(page.number + 1)));
        }
    }
    v
}

pub async fn search_post(State(app): State<App>, body: Bytes) -> Result<Response, ApiError> {
    let req: SearchRequest = parse_json(&body)?;
    Ok(ok(run_user_search(&app, req)?))
}

pub async fn search_get(
    State(app): State<App>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let mut req = search::request_from_query(&q)?;
    let expand = q.all("expand");
    if !expand.is_empty() {
        req.expand = expand;
    }
    Ok(ok(run_user_search(&app, req)?))
}

// ---- external ids -----------------------------------------------------------------------

fn ext_json(uid: Uuid, a: &str, k: &str) -> Value {
    json!({"authorityName": a, "externalKey": k, "selfUri": format!("/api/v2/users/{uid}/externalid/{a}/{k}")})
}

fn live_user(db: &Db, id: &str) -> Result<Uuid, ApiError> {
    parse_uuid(id)
        .filter(|i| db.users.get(i).is_some_and(|u| u.state != UState::Deleted))
        .ok_or_else(ApiError::not_found)
}

pub async fn externalid_list(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let db = app.db.read();
    let uid = live_user(&db, &id)?;
    let u = &db.users[&uid];
    Ok(ok(Value::Array(
        u.external_ids
            .iter()
            .map(|(a, k)| ext_json(uid, a, k))
            .collect(),
    )))
}

pub async fn externalid_get(
    State(app): State<App>,
    Path((id, authority)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let db = app.db.read();
    let uid = live_user(&db, &id)?;
    let u = &db.users[&uid];
    let (a, k) = u
        .external_ids
        .iter()
        .find(|(a, _)| **a == *authority)
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(ext_json(uid, a, k)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExtIn {
    authority_name: Option<String>,
    external_key: Option<String>,
}

pub async fn externalid_post(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: ExtIn = parse_json(&body)?;
    let a = req
        .authority_name
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::invalid_value("authorityName", "authorityName is required"))?;
    let k = req
        .external_key
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::invalid_value("externalKey", "externalKey is required"))?;
    let now = app.now_ms();
    let mut db = app.db.write();
    let uid = live_user(&db, &id)?;
    set_external_id(&mut db, uid, &a, &k)?;
    audit(
        &mut db,
        now,
        &c.client_id,
        "Directory",
        "Update",
        "User",
        uid.to_string(),
        None,
        change("externalId", None, Some(&format!("{a}/{k}")))
            .into_iter()
            .collect(),
    );
    let u = &db.users[&uid];
    Ok(ok(Value::Array(
        u.external_ids
            .iter()
            .map(|(a, k)| ext_json(uid, a, k))
            .collect(),
    )))
}

/// One key per authority and user; a key may belong to one user only (case-sensitive).
pub fn set_external_id(db: &mut Db, uid: Uuid, a: &str, k: &str) -> Result<(), ApiError> {
    let key = (Box::<str>::from(a), Box::<str>::from(k));
    if let Some(holder) = db.by_external.get(&key)
        && *holder != uid
    {
        return Err(ApiError::conflict(format!(
            "External identifier [{a}/{k}] is already in use."
        )));
    }
    let u = db.users.get_mut(&uid).ok_or_else(ApiError::not_found)?;
    let old = u
        .external_ids
        .iter()
        .position(|(x, _)| **x == *a)
        .map(|i| u.external_ids.remove(i));
    if old.is_none() && u.external_ids.len() >= 100 {
        return Err(ApiError::bad_request(
            "Limit 100 external identifiers per entity.",
        ));
    }
    u.external_ids.push(key.clone());
    if let Some(o) = old {
        db.by_external.remove(&o);
    }
    db.by_external.insert(key, uid);
    Ok(())
}

pub fn remove_external_id(db: &mut Db, uid: Uuid, a: &str) -> bool {
    let Some(u) = db.users.get_mut(&uid) else {
        return false;
    };
    match u.external_ids.iter().position(|(x, _)| **x == *a) {
        Some(i) => {
            let old = u.external_ids.remove(i);
            db.by_external.remove(&old);
            true
        }
        None => false,
    }
}

pub async fn externalid_delete(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path((id, a, k)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let now = app.now_ms();
    let mut db = app.db.write();
    let uid = live_user(&db, &id)?;
    if !db.users[&uid]
        .external_ids
        .iter()
        .any(|(x, y)| **x == *a && **y == *k)
    {
        return Err(ApiError::not_found());
    }
    remove_external_id(&mut db, uid, &a);
    audit(
        &mut db,
        now,
        &c.client_id,
        "Directory",
        "Update",
        "User",
        uid.to_string(),
        None,
        change("externalId", Some(&format!("{a}/{k}")), None)
            .into_iter()
            .collect(),
    );
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn by_external_id(
    State(app): State<App>,
    Path((a, k)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let db = app.db.read();
    let uid = db
        .by_external
        .get(&(Box::<str>::from(a.as_str()), Box::<str>::from(k.as_str())))
        .ok_or_else(ApiError::not_found)?;
    let u = db
        .users
        .get(uid)
        .filter(|u| u.state != UState::Deleted)
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(user_json(&db, u, Expand::from_list(&q.all("expand")))))
}

// ---- roles ------------------------------------------------------------------------------

pub async fn roles_get(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let db = app.db.read();
    let uid = live_user(&db, &id)?;
    Ok(ok(authorization_json(&db, &db.users[&uid].grants)))
}

pub async fn roles_put(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let ids: Vec<String> = parse_json(&body)?;
    let now = app.now_ms();
    let mut db = app.db.write();
    let uid = live_user(&db, &id)?;
    let home = db.home_division().id;
    let mut grants = Vec::new();
    for r in &ids {
        let role = parse_uuid(r).and_then(|r| db.role(r)).ok_or_else(|| {
            ApiError::invalid_value("roleId", format!("Role [{r}] does not exist."))
        })?;
        if !grants.iter().any(|(x, _)| *x == role.id) {
            grants.push((role.id, home));
        }
    }
    let old: Vec<String> = db.users[&uid]
        .grants
        .iter()
        .map(|(r, _)| r.to_string())
        .collect();
    let new: Vec<String> = grants.iter().map(|(r, _)| r.to_string()).collect();
    if let Some(u) = db.users.get_mut(&uid) {
        u.grants = grants;
    }
    audit(
        &mut db,
        now,
        &c.client_id,
        "PeoplePermissions",
        "Update",
        "User",
        uid.to_string(),
        None,
        vec![PropertyChange {
            property: "roles".into(),
            old_values: old,
            new_values: new,
        }],
    );
    Ok(ok(authorization_json(&db, &db.users[&uid].grants)))
}

// ---- user state -------------------------------------------------------------------------

fn state_json(u: &User) -> Value {
    json!({"state": u.state.as_str(), "version": u.version, "stateChangeDate": crate::util::iso(u.modified_ms)})
}

pub async fn state_get(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let db = app.db.read();
    let u = parse_uuid(&id)
        .and_then(|i| db.users.get(&i))
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(state_json(u)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StateIn {
    state: Option<String>,
    version: Option<i64>,
}

/// `PUT /api/v2/users/{userId}/state`: the same transition as PATCH with `state`, version-checked.
pub async fn state_put(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: StateIn = parse_json(&body)?;
    let s = req
        .state
        .ok_or_else(|| ApiError::invalid_value("state", "state is required"))?;
    let new = parse_state(&s)?;
    let version = req
        .version
        .ok_or_else(|| ApiError::invalid_value("version", "version is required"))?;
    let uid = parse_uuid(&id).ok_or_else(ApiError::not_found)?;
    let now = app.now_ms();
    let mut guard = app.db.write();
    let db = &mut *guard;
    let u = db.users.get(&uid).ok_or_else(ApiError::not_found)?;
    if u.version as i64 != version {
        return Err(ApiError::version_conflict());
    }
    let old = transition_state(db, uid, new, now)?;
    let u = &db.users[&uid];
    let out = state_json(u);
    let name = u.name.to_string();
    let action = if old == UState::Deleted && new != UState::Deleted {
        "Restore"
    } else {
        "Update"
    };
    audit(
        db,
        now,
        &c.client_id,
        "Directory",
        action,
        "User",
        uid.to_string(),
        Some(name),
        change("state", Some(old.as_str()), Some(new.as_str()))
            .into_iter()
            .collect(),
    );
    Ok(ok(out))
}
