//! `/api/v2/groups…`: groups with integer versions, membership (202), search.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::db::{Db, Group, PropertyChange, State as UState, User};
use crate::error::ApiError;
use crate::search::{self, SearchRequest};
use crate::server::{App, Caller};
use crate::users::{Expand, audit, change, search_response, user_json, user_ref};
use crate::util::{Page, Query, empty, iso, listing, ok, parse_json, parse_uuid};

pub fn group_json(g: &Group) -> Value {
    let mut v = json!({
        "id": g.id,
        "name": g.name,
        "dateModified": iso(g.modified_ms),
        "memberCount": g.members.len(),
        "state": g.state.as_str(),
        "version": g.version,
        "type": g.kind,
        "addresses": [],
        "rulesVisible": g.rules_visible,
        "visibility": g.visibility,
        "rolesEnabled": g.roles_enabled,
        "includeOwners": g.include_owners,
        "callsEnabled": g.calls_enabled,
        "owners": g.owners.iter().map(|o| user_ref(*o)).collect::<Vec<_>>(),
        "selfUri": format!("/api/v2/groups/{}", g.id),
    });
    if let Some(m) = v.as_object_mut() {
        if let Some(d) = &g.description {
            m.insert("description".into(), json!(d));
        }
        if let Some(e) = &g.email {
            m.insert("email".into(), json!(e));
        }
    }
    v
}

fn find(db: &Db, id: &str) -> Result<Uuid, ApiError> {
    parse_uuid(id)
        .filter(|i| db.groups.contains_key(i))
        .ok_or_else(ApiError::not_found)
}

pub async fn list(State(app): State<App>, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let page = Page::from_query(&q, 500)?;
    let ids: Vec<Uuid> = q.all("id").iter().filter_map(|i| parse_uuid(i)).collect();
    let desc = matches!(q.get("sortOrder"), Some("DESC" | "desc" | "descending"));
    let db = app.db.read();
    let mut gs: Vec<&Group> = db
        .groups
        .values()
        .filter(|g| ids.is_empty() || ids.contains(&g.id))
        .collect();
    gs.sort_by(|a, b| {
        a.name
            .to_lowercase()
            .cmp(&b.name.to_lowercase())
            .then(a.id.cmp(&b.id))
    });
    if desc {
        gs.reverse();
    }
    let total = gs.len();
    let entities = page.slice(&gs).into_iter().map(group_json).collect();
    Ok(ok(listing("/api/v2/groups", "", page, total, entities)))
}

pub async fn get_one(State(app): State<App>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let db = app.db.read();
    let gid = find(&db, &id)?;
    Ok(ok(group_json(&db.groups[&gid])))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupIn {
    name: Option<String>,
    description: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    rules_visible: Option<bool>,
    visibility: Option<String>,
    roles_enabled: Option<bool>,
    include_owners: Option<bool>,
    calls_enabled: Option<bool>,
    email: Option<String>,
    owner_ids: Option<Vec<String>>,
    state: Option<String>,
    version: Option<i64>,
}

fn check_visibility(v: &str) -> Result<(), ApiError> {
    // GroupUpdate's swagger enum says `ownerIds` (a swagger quirk); accept it as `owners`.
    if matches!(v, "public" | "owners" | "members" | "ownerIds") {
        Ok(())
    } else {
        Err(ApiError::invalid_value(
            "visibility",
            format!(
                "Value [{v}] is not valid for field type [visibility]. Allowable values are: public, owners, members"
            ),
        ))
    }
}

fn owners(db: &Db, ids: &[String]) -> Result<Vec<Uuid>, ApiError> {
    ids.iter()
        .map(|o| {
            parse_uuid(o)
                .filter(|i| db.users.get(i).is_some_and(|u| u.state != UState::Deleted))
                .ok_or_else(|| {
                    ApiError::invalid_value("ownerIds", format!("User [{o}] does not exist."))
                })
        })
        .collect()
}

pub async fn create(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: GroupIn = parse_json(&body)?;
    let name = req
        .name
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::invalid_value("name", "name is required"))?;
    let kind = req
        .kind
        .ok_or_else(|| ApiError::invalid_value("type", "type is required"))?;
    if !matches!(kind.as_str(), "official" | "social") {
        return Err(ApiError::invalid_value(
            "type",
            format!(
                "Value [{kind}] is not valid for field type [type]. Allowable values are: official, social"
            ),
        ));
    }
    let rules_visible = req
        .rules_visible
        .ok_or_else(|| ApiError::invalid_value("rulesVisible", "rulesVisible is required"))?;
    let visibility = req
        .visibility
        .ok_or_else(|| ApiError::invalid_value("visibility", "visibility is required"))?;
    check_visibility(&visibility)?;
    let now = app.now_ms();
    let mut db = app.db.write();
    // Group names are unique per org (the chat room created with each group shares the name);
    // the emulator compares them case-insensitively.
    if db
        .groups
        .values()
        .any(|g| g.name.eq_ignore_ascii_case(&name))
    {
        return Err(ApiError::conflict(format!(
            "A group named [{name}] already exists."
        )));
    }
    let owner_ids = owners(&db, req.owner_ids.as_deref().unwrap_or(&[]))?;
    let g = Group {
        id: Uuid::new_v4(),
        name,
        description: req.description,
        kind,
        visibility: if visibility == "ownerIds" {
            "owners".into()
        } else {
            visibility
        },
        rules_visible,
        roles_enabled: req.roles_enabled.unwrap_or(false),
        include_owners: req.include_owners.unwrap_or(false),
        calls_enabled: req.calls_enabled.unwrap_or(false),
        email: req.email,
        state: UState::Active,
        version: 1,
        modified_ms: now,
        members: Vec::new(),
        owners: owner_ids,
        grants: Vec::new(),
        external_id: None,
    };
    let out = group_json(&g);
    audit(
        &mut db,
        now,
        &c.client_id,
        "Directory",
        "Create",
        "Group",
        g.id.to_string(),
        Some(g.name.clone()),
        change("name", None, Some(&g.name)).into_iter().collect(),
    );
    db.groups.insert(g.id, g);
    Ok(ok(out))
}

pub async fn put(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: GroupIn = parse_json(&body)?;
    let version = req
        .version
        .ok_or_else(|| ApiError::invalid_value("version", "version is required"))?;
    if let Some(v) = &req.visibility {
        check_visibility(v)?;
    }
    let now = app.now_ms();
    let mut guard = app.db.write();
    let db = &mut *guard;
    let gid = find(db, &id)?;
    if db.groups[&gid].version as i64 != version {
        return Err(ApiError::version_conflict());
    }
    if let Some(n) = &req.name {
        if n.trim().is_empty() {
            return Err(ApiError::invalid_value("name", "name cannot be empty"));
        }
        if db
            .groups
            .values()
            .any(|g| g.id != gid && g.name.eq_ignore_ascii_case(n))
        {
            return Err(ApiError::conflict(format!(
                "A group named [{n}] already exists."
            )));
        }
    }
    let new_owners = match &req.owner_ids {
        Some(o) => Some(owners(db, o)?),
        None => None,
    };
    let state = match req.state.as_deref() {
        None => None,
        Some(s) => Some(UState::parse(s).filter(|s| *s != UState::Deleted).ok_or_else(|| ApiError::invalid_value("state", format!("Value [{s}] is not valid for field type [state]. Allowable values are: active, inactive")))?),
    };
    let g = db.groups.get_mut(&gid).ok_or_else(ApiError::not_found)?;
    let mut changes: Vec<PropertyChange> = Vec::new();
    if let Some(n) = req.name {
        changes.extend(change("name", Some(&g.name), Some(&n)));
        g.name = n;
    }
    if let Some(d) = req.description {
        changes.extend(change("description", g.description.as_deref(), Some(&d)));
        g.description = Some(d);
    }
    if let Some(v) = req.visibility {
        g.visibility = if v == "ownerIds" { "owners".into() } else { v };
    }
    if let Some(v) = req.rules_visible {
        g.rules_visible = v;
    }
    if let Some(v) = req.roles_enabled {
        g.roles_enabled = v;
    }
    if let Some(v) = req.include_owners {
        g.include_owners = v;
    }
    if let Some(v) = req.calls_enabled {
        g.calls_enabled = v;
    }
    if let Some(e) = req.email {
        g.email = Some(e);
    }
    if let Some(o) = new_owners {
        g.owners = o;
    }
    if let Some(s) = state {
        changes.extend(change("state", Some(g.state.as_str()), Some(s.as_str())));
        g.state = s;
    }
    g.version += 1;
    g.modified_ms = now;
    let out = group_json(g);
    let name = g.name.clone();
    audit(
        db,
        now,
        &c.client_id,
        "Directory",
        "Update",
        "Group",
        gid.to_string(),
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
    let gid = find(&db, &id)?;
    let Some(g) = db.groups.remove(&gid) else {
        return Err(ApiError::not_found());
    };
    for m in &g.members {
        if let Some(u) = db.users.get_mut(m) {
            u.groups.retain(|x| *x != gid);
        }
    }
    audit(
        &mut db,
        now,
        &c.client_id,
        "Directory",
        "Delete",
        "Group",
        gid.to_string(),
        Some(g.name),
        Vec::new(),
    );
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn members(
    State(app): State<App>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let page = Page::from_query(&q, 500)?;
    let expand = Expand::from_list(&q.all("expand"));
    let desc = matches!(q.get("sortOrder"), Some("DESC" | "desc" | "descending"));
    let db = app.db.read();
    let gid = find(&db, &id)?;
    let mut us: Vec<&User> = db.groups[&gid]
        .members
        .iter()
        .filter_map(|m| db.users.get(m))
        .filter(|u| u.state != UState::Deleted)
        .collect();
    us.sort_by(|a, b| {
        a.name
            .to_lowercase()
            .cmp(&b.name.to_lowercase())
            .then(a.id.cmp(&b.id))
    });
    if desc {
        us.reverse();
    }
    let total = us.len();
    let entities = page
        .slice(&us)
        .into_iter()
        .map(|u| user_json(&db, u, expand))
        .collect();
    Ok(ok(listing(
        &format!("/api/v2/groups/{gid}/members"),
        "",
        page,
        total,
        entities,
    )))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MembersIn {
    member_ids: Option<Vec<String>>,
    version: Option<i64>,
}

/// Add users to a group (maintains the users' reverse index). Returns whether anything changed.
pub fn add_members(db: &mut Db, gid: Uuid, users: &[Uuid]) -> bool {
    let mut changed = false;
    for uid in users {
        let Some(g) = db.groups.get_mut(&gid) else {
            return changed;
        };
        if g.members.contains(uid) {
            continue;
        }
        g.members.push(*uid);
        if let Some(u) = db.users.get_mut(uid) {
            u.groups.push(gid);
        }
        changed = true;
    }
    changed
}

pub fn remove_members(db: &mut Db, gid: Uuid, users: &[Uuid]) -> bool {
    let Some(g) = db.groups.get_mut(&gid) else {
        return false;
    };
    let before = g.members.len();
    g.members.retain(|m| !users.contains(m));
    let changed = g.members.len() != before;
    for uid in users {
        if let Some(u) = db.users.get_mut(uid) {
            u.groups.retain(|x| *x != gid);
        }
    }
    changed
}

pub async fn members_add(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: MembersIn = parse_json(&body)?;
    let ids = req
        .member_ids
        .ok_or_else(|| ApiError::invalid_value("memberIds", "memberIds is required"))?;
    if ids.len() > 50 {
        return Err(ApiError::bad_request(
            "A maximum of 50 members are allowed per request.",
        ));
    }
    // The reference requires the current group version on every membership add.
    let version = req
        .version
        .ok_or_else(|| ApiError::invalid_value("version", "version is required"))?;
    let now = app.now_ms();
    let mut guard = app.db.write();
    let db = &mut *guard;
    let gid = find(db, &id)?;
    if db.groups[&gid].version as i64 != version {
        return Err(ApiError::version_conflict());
    }
    let mut uids = Vec::new();
    for i in &ids {
        let uid = parse_uuid(i)
            .filter(|u| db.users.get(u).is_some_and(|u| u.state != UState::Deleted))
            .ok_or_else(|| {
                ApiError::invalid_value("memberIds", format!("User [{i}] does not exist."))
            })?;
        uids.push(uid);
    }
    add_members(db, gid, &uids);
    if let Some(g) = db.groups.get_mut(&gid) {
        g.version += 1;
        g.modified_ms = now;
    }
    let name = db.groups[&gid].name.clone();
    audit(
        db,
        now,
        &c.client_id,
        "Directory",
        "MemberAdd",
        "Group",
        gid.to_string(),
        Some(name),
        vec![PropertyChange {
            property: "members".into(),
            old_values: vec![],
            new_values: ids,
        }],
    );
    Ok(empty(StatusCode::ACCEPTED))
}

pub async fn members_remove(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let ids = q.all("ids");
    if ids.is_empty() {
        return Err(ApiError::invalid_value("ids", "ids is required"));
    }
    if ids.len() > 50 {
        return Err(ApiError::bad_request(
            "A maximum of 50 members are allowed per request.",
        ));
    }
    let uids: Vec<Uuid> = ids.iter().filter_map(|i| parse_uuid(i)).collect();
    let now = app.now_ms();
    let mut guard = app.db.write();
    let db = &mut *guard;
    let gid = find(db, &id)?;
    remove_members(db, gid, &uids);
    if let Some(g) = db.groups.get_mut(&gid) {
        g.version += 1;
        g.modified_ms = now;
    }
    let name = db.groups[&gid].name.clone();
    audit(
        db,
        now,
        &c.client_id,
        "Directory",
        "MemberRemove",
        "Group",
        gid.to_string(),
        Some(name),
        vec![PropertyChange {
            property: "members".into(),
            old_values: ids,
            new_values: vec![],
        }],
    );
    Ok(empty(StatusCode::ACCEPTED))
}

fn group_field(g: &Group, f: &str) -> Vec<String> {
    match f {
        "id" => vec![g.id.to_string()],
        "name" => vec![g.name.clone()],
        "description" => g.description.clone().into_iter().collect(),
        "state" => vec![g.state.as_str().into()],
        "type" => vec![g.kind.clone()],
        "visibility" => vec![g.visibility.clone()],
        "email" => g.email.clone().into_iter().collect(),
        _ => Vec::new(),
    }
}

const GROUP_FIELDS: &[&str] = &[
    "id",
    "name",
    "description",
    "state",
    "type",
    "visibility",
    "email",
];

fn run_search(app: &App, mut req: SearchRequest) -> Result<Value, ApiError> {
    search::validate(
        &req.query,
        search::GROUP_TYPES,
        &|f| GROUP_FIELDS.contains(&f),
        0,
    )?;
    let page = Page::check(
        req.page_size.unwrap_or(25),
        req.page_number.unwrap_or(1),
        100,
    )?;
    let desc = matches!(req.sort_order.as_deref(), Some("DESC"));
    let db = app.db.read();
    let mut hits: Vec<&Group> = db
        .groups
        .values()
        .filter(|g| search::eval(&req.query, &|f| group_field(g, f)))
        .collect();
    hits.sort_by(|a, b| {
        a.name
            .to_lowercase()
            .cmp(&b.name.to_lowercase())
            .then(a.id.cmp(&b.id))
    });
    if desc {
        hits.reverse();
    }
    let total = hits.len();
    let results = page.slice(&hits).into_iter().map(group_json).collect();
    req.types = vec!["groups".into()];
    req.page_size = Some(page.size as i64);
    Ok(search_response(
        "/api/v2/groups/search",
        req,
        page,
        total,
        page.page_count(total),
        results,
    ))
}

pub async fn search_post(State(app): State<App>, body: Bytes) -> Result<Response, ApiError> {
    let req: SearchRequest = parse_json(&body)?;
    Ok(ok(run_search(&app, req)?))
}

pub async fn search_get(
    State(app): State<App>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    Ok(ok(run_search(&app, search::request_from_query(&q)?)?))
}
