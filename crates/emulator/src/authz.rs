//! Authorization: roles, subjects (grants), divisions.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::db::{Db, Division, PropertyChange, Role, State as UState};
use crate::error::ApiError;
use crate::server::{App, Caller};
use crate::users::audit;
use crate::util::{Page, Query, empty, iso, listing, ok, parse_json, parse_uuid};

fn role_json(db: &Db, r: &Role) -> Value {
    let users = db
        .users
        .values()
        .filter(|u| u.state != UState::Deleted && u.grants.iter().any(|(x, _)| *x == r.id))
        .count();
    json!({
        "id": r.id,
        "name": r.name,
        "description": r.description.clone().unwrap_or_default(),
        "permissions": r.permissions,
        "permissionPolicies": [],
        "userCount": users,
        "default": false,
        "base": false,
        "selfUri": format!("/api/v2/authorization/roles/{}", r.id),
    })
}

pub async fn roles_list(
    State(app): State<App>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let page = Page::from_query(&q, 500)?;
    let name = q.get("name").map(str::to_lowercase);
    let ids: Vec<Uuid> = q.all("id").iter().filter_map(|i| parse_uuid(i)).collect();
    let perms = q.all("permission");
    let db = app.db.read();
    let mut rs: Vec<&Role> = db
        .roles
        .iter()
        .filter(|r| {
            name.as_deref()
                .is_none_or(|n| r.name.to_lowercase().starts_with(n))
        })
        .filter(|r| ids.is_empty() || ids.contains(&r.id))
        .filter(|r| perms.iter().all(|p| r.permissions.contains(p)))
        .collect();
    rs.sort_by_key(|a| a.name.to_lowercase());
    let total = rs.len();
    let entities = page
        .slice(&rs)
        .into_iter()
        .map(|r| role_json(&db, r))
        .collect();
    Ok(ok(listing(
        "/api/v2/authorization/roles",
        "",
        page,
        total,
        entities,
    )))
}

pub async fn role_get(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let db = app.db.read();
    let r = parse_uuid(&id)
        .and_then(|i| db.role(i))
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(role_json(&db, r)))
}

fn division_json(d: &Division) -> Value {
    json!({
        "id": d.id,
        "name": d.name,
        "description": d.description.clone().unwrap_or_default(),
        "homeDivision": d.home,
        "selfUri": format!("/api/v2/authorization/divisions/{}", d.id),
    })
}

pub async fn divisions_list(
    State(app): State<App>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let page = Page::from_query(&q, 500)?;
    let name = q.get("name").map(str::to_lowercase);
    let db = app.db.read();
    let ds: Vec<&Division> = db
        .divisions
        .iter()
        .filter(|d| name.as_deref().is_none_or(|n| d.name.to_lowercase() == n))
        .collect();
    let total = ds.len();
    let entities = page.slice(&ds).into_iter().map(division_json).collect();
    Ok(ok(listing(
        "/api/v2/authorization/divisions",
        "",
        page,
        total,
        entities,
    )))
}

pub async fn division_home(State(app): State<App>) -> Response {
    let db = app.db.read();
    ok(division_json(db.home_division()))
}

pub async fn division_get(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let db = app.db.read();
    let d = parse_uuid(&id)
        .and_then(|i| db.division(i))
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(division_json(d)))
}

enum Subject {
    User(Uuid),
    Group(Uuid),
}

fn subject(db: &Db, id: &str) -> Result<Subject, ApiError> {
    let sid = parse_uuid(id).ok_or_else(ApiError::not_found)?;
    if db
        .users
        .get(&sid)
        .is_some_and(|u| u.state != UState::Deleted)
    {
        Ok(Subject::User(sid))
    } else if db.groups.contains_key(&sid) {
        Ok(Subject::Group(sid))
    } else {
        Err(ApiError::not_found())
    }
}

fn grants_of<'a>(db: &'a mut Db, s: &Subject) -> Option<&'a mut Vec<(Uuid, Uuid)>> {
    match s {
        Subject::User(u) => db.users.get_mut(u).map(|u| &mut u.grants),
        Subject::Group(g) => db.groups.get_mut(g).map(|g| &mut g.grants),
    }
}

pub async fn subject_get(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let db = app.db.read();
    let s = subject(&db, &id)?;
    let (sid, name, grants, version) = match s {
        Subject::User(u) => {
            let u = &db.users[&u];
            (u.id, u.name.to_string(), u.grants.clone(), u.version)
        }
        Subject::Group(g) => {
            let g = &db.groups[&g];
            (g.id, g.name.clone(), g.grants.clone(), g.version)
        }
    };
    let grants: Vec<Value> = grants
        .iter()
        .filter_map(|(r, d)| {
            let role = db.role(*r)?;
            let div = db.division(*d)?;
            Some(json!({
                "subjectId": sid,
                "division": division_json(div),
                "role": {"id": role.id, "name": role.name, "description": role.description.clone().unwrap_or_default(), "policies": [], "default": false},
                "grantMadeAt": iso(0),
            }))
        })
        .collect();
    Ok(ok(
        json!({"id": sid, "name": name, "grants": grants, "version": version, "selfUri": format!("/api/v2/authorization/subjects/{sid}")}),
    ))
}

#[derive(Deserialize)]
struct GrantsIn {
    grants: Option<Vec<PairIn>>,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PairIn {
    role_id: Option<String>,
    division_id: Option<String>,
}

fn parse_grants(db: &Db, body: &[u8]) -> Result<Vec<(Uuid, Uuid)>, ApiError> {
    let req: GrantsIn = parse_json(body)?;
    let list = req
        .grants
        .ok_or_else(|| ApiError::invalid_value("grants", "grants is required"))?;
    let mut out = Vec::new();
    for p in list {
        let r = p
            .role_id
            .as_deref()
            .and_then(parse_uuid)
            .filter(|r| db.role(*r).is_some())
            .ok_or_else(|| {
                ApiError::invalid_value("roleId", "roleId must name an existing role")
            })?;
        let d = p
            .division_id
            .as_deref()
            .and_then(parse_uuid)
            .filter(|d| db.division(*d).is_some())
            .ok_or_else(|| {
                ApiError::invalid_value("divisionId", "divisionId must name an existing division")
            })?;
        if !out.contains(&(r, d)) {
            out.push((r, d));
        }
    }
    Ok(out)
}

fn bulk(app: &App, c: &Caller, id: &str, body: &[u8], op: &str) -> Result<Response, ApiError> {
    let now = app.now_ms();
    let mut db = app.db.write();
    let s = subject(&db, id)?;
    if let Subject::Group(g) = s
        && !db.groups[&g].roles_enabled
    {
        return Err(ApiError::bad_request(
            "Roles are not enabled for this group.",
        ));
    }
    let pairs = parse_grants(&db, body)?;
    let sid = match s {
        Subject::User(u) | Subject::Group(u) => u,
    };
    let Some(grants) = grants_of(&mut db, &s) else {
        return Err(ApiError::not_found());
    };
    let old: Vec<String> = grants.iter().map(|(r, d)| format!("{r}/{d}")).collect();
    match op {
        "add" => {
            for p in pairs {
                if !grants.contains(&p) {
                    grants.push(p);
                }
            }
        }
        "remove" => grants.retain(|g| !pairs.contains(g)),
        _ => *grants = pairs,
    }
    let new: Vec<String> = grants.iter().map(|(r, d)| format!("{r}/{d}")).collect();
    let entity = if matches!(s, Subject::User(_)) {
        "User"
    } else {
        "Group"
    };
    audit(
        &mut db,
        now,
        &c.client_id,
        "PeoplePermissions",
        "Update",
        entity,
        sid.to_string(),
        None,
        vec![PropertyChange {
            property: "grants".into(),
            old_values: old,
            new_values: new,
        }],
    );
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn bulk_add(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    bulk(&app, &c, &id, &body, "add")
}
pub async fn bulk_remove(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    bulk(&app, &c, &id, &body, "remove")
}
pub async fn bulk_replace(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    bulk(&app, &c, &id, &body, "replace")
}

/// `POST|DELETE /api/v2/authorization/subjects/{subjectId}/divisions/{divisionId}/roles/{roleId}`.
fn single_grant(
    app: &App,
    c: &Caller,
    subject_id: &str,
    division: &str,
    role: &str,
    add: bool,
) -> Result<Response, ApiError> {
    let now = app.now_ms();
    let mut db = app.db.write();
    let s = subject(&db, subject_id)?;
    let r = parse_uuid(role)
        .filter(|r| db.role(*r).is_some())
        .ok_or_else(ApiError::not_found)?;
    let d = parse_uuid(division)
        .filter(|d| db.division(*d).is_some())
        .ok_or_else(ApiError::not_found)?;
    if let Subject::Group(g) = s
        && !db.groups[&g].roles_enabled
    {
        return Err(ApiError::bad_request(
            "Roles are not enabled for this group.",
        ));
    }
    let sid = match s {
        Subject::User(u) | Subject::Group(u) => u,
    };
    let entity = if matches!(s, Subject::User(_)) {
        "User"
    } else {
        "Group"
    };
    let Some(grants) = grants_of(&mut db, &s) else {
        return Err(ApiError::not_found());
    };
    let pair = (r, d);
    if add {
        if !grants.contains(&pair) {
            grants.push(pair);
        }
    } else {
        grants.retain(|g| *g != pair);
    }
    let change = PropertyChange {
        property: "grants".into(),
        old_values: if add {
            vec![]
        } else {
            vec![format!("{r}/{d}")]
        },
        new_values: if add {
            vec![format!("{r}/{d}")]
        } else {
            vec![]
        },
    };
    audit(
        &mut db,
        now,
        &c.client_id,
        "PeoplePermissions",
        "Update",
        entity,
        sid.to_string(),
        None,
        vec![change],
    );
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn grant_add(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path((s, d, r)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    single_grant(&app, &c, &s, &d, &r, true)
}

pub async fn grant_delete(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path((s, d, r)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    single_grant(&app, &c, &s, &d, &r, false)
}

/// `GET /api/v2/authorization/roles/{roleId}/users`: users holding the role.
pub async fn role_users(
    State(app): State<App>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let page = Page::from_query(&q, 500)?;
    let db = app.db.read();
    let rid = parse_uuid(&id)
        .filter(|r| db.role(*r).is_some())
        .ok_or_else(ApiError::not_found)?;
    let mut us: Vec<&crate::db::User> = db
        .users
        .values()
        .filter(|u| u.state != UState::Deleted && u.grants.iter().any(|(r, _)| *r == rid))
        .collect();
    us.sort_by_cached_key(|u| (u.name.to_lowercase(), u.id));
    let total = us.len();
    let entities = page
        .slice(&us)
        .into_iter()
        .map(|u| json!({"id": u.id, "name": u.name, "selfUri": format!("/api/v2/users/{}", u.id)}))
        .collect();
    Ok(ok(listing(
        &format!("/api/v2/authorization/roles/{rid}/users"),
        "",
        page,
        total,
        entities,
    )))
}

fn role_users_change(
    app: &App,
    c: &Caller,
    id: &str,
    body: &[u8],
    add: bool,
) -> Result<Response, ApiError> {
    let ids: Vec<String> = parse_json(body)?;
    let now = app.now_ms();
    let mut db = app.db.write();
    let rid = parse_uuid(id)
        .filter(|r| db.role(*r).is_some())
        .ok_or_else(ApiError::not_found)?;
    let home = db.home_division().id;
    let mut uids = Vec::new();
    for i in &ids {
        let uid = parse_uuid(i)
            .filter(|u| db.users.get(u).is_some_and(|u| u.state != UState::Deleted))
            .ok_or_else(|| {
                ApiError::invalid_value("userId", format!("User [{i}] does not exist."))
            })?;
        uids.push(uid);
    }
    for uid in &uids {
        if let Some(u) = db.users.get_mut(uid) {
            if add {
                if !u.grants.iter().any(|(r, _)| *r == rid) {
                    u.grants.push((rid, home));
                }
            } else {
                u.grants.retain(|(r, _)| *r != rid);
            }
        }
    }
    let change = PropertyChange {
        property: "users".into(),
        old_values: if add { vec![] } else { ids.clone() },
        new_values: if add { ids.clone() } else { vec![] },
    };
    audit(
        &mut db,
        now,
        &c.client_id,
        "PeoplePermissions",
        "Update",
        "Role",
        rid.to_string(),
        None,
        vec![change],
    );
    Ok(ok(json!(ids)))
}

pub async fn role_users_add(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    role_users_change(&app, &c, &id, &body, true)
}

pub async fn role_users_remove(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    role_users_change(&app, &c, &id, &body, false)
}

/// `GET /api/v2/authorization/roles/{roleId}/subjectgrants` (`SubjectDivisionGrantsEntityListing`):
/// every subject holding the role (users that are not deleted, and groups), each with the
/// divisions of its grants of that role. Sorted by name then id so pages are stable. The
/// reference does not say whether a user's entry includes grants inherited from a group; the
/// emulator lists only the subject's own grants (groups appear as their own subjects).
pub async fn role_subject_grants(
    State(app): State<App>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let page = Page::from_query(&q, 500)?;
    let db = app.db.read();
    let rid = parse_uuid(&id)
        .filter(|r| db.role(*r).is_some())
        .ok_or_else(ApiError::not_found)?;
    let divisions_of = |grants: &[(Uuid, Uuid)]| -> Vec<Value> {
        grants
            .iter()
            .filter(|(r, _)| *r == rid)
            .filter_map(|(_, d)| db.division(*d))
            .map(|d| {
                json!({"id": d.id, "name": d.name, "selfUri": format!("/api/v2/authorization/divisions/{}", d.id)})
            })
            .collect()
    };
    // (sort key, subject id, subject type, its grants)
    type Holder<'a> = (String, Uuid, &'static str, &'a [(Uuid, Uuid)]);
    let mut subjects: Vec<Holder> = db
        .users
        .values()
        .filter(|u| u.state != UState::Deleted && u.grants.iter().any(|(r, _)| *r == rid))
        .map(|u| (u.name.to_lowercase(), u.id, "PC_USER", u.grants.as_slice()))
        .chain(
            db.groups
                .values()
                .filter(|g| g.grants.iter().any(|(r, _)| *r == rid))
                .map(|g| (g.name.to_lowercase(), g.id, "PC_GROUP", g.grants.as_slice())),
        )
        .collect();
    subjects.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let total = subjects.len();
    let entities = page
        .slice(&subjects)
        .into_iter()
        .map(|(_, sid, kind, grants)| {
            let (name, uri) = if kind == "PC_USER" {
                (
                    db.users.get(&sid).map(|u| u.name.to_string()),
                    format!("/api/v2/users/{sid}"),
                )
            } else {
                (
                    db.groups.get(&sid).map(|g| g.name.clone()),
                    format!("/api/v2/groups/{sid}"),
                )
            };
            json!({
                "id": sid,
                "name": name.unwrap_or_default(),
                "divisions": divisions_of(grants),
                "type": kind,
                "selfUri": uri,
            })
        })
        .collect();
    Ok(ok(listing(
        &format!("/api/v2/authorization/roles/{rid}/subjectgrants"),
        "",
        page,
        total,
        entities,
    )))
}

/// `POST /api/v2/authorization/divisions/{divisionId}/objects/{objectType}` (204): the body is
/// a list of object ids, all of one type. The emulator supports `USER` (other types answer
/// 400). Every id must be a user that is not deleted, else nothing moves (400). A moved user's
/// `division` changes and its `version` increases: the reference does not say whether the real
/// API bumps the version on a division move; bumping is the conservative assumption (a client
/// holding the old version must re-read). Moving a user into the division it is in already
/// changes nothing. No batch limit is known, so none is enforced.
pub async fn division_objects(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path((division, object_type)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let ids: Vec<String> = parse_json(&body)?;
    let now = app.now_ms();
    let mut db = app.db.write();
    let did = parse_uuid(&division)
        .filter(|d| db.division(*d).is_some())
        .ok_or_else(ApiError::not_found)?;
    if object_type != "USER" {
        return Err(ApiError::invalid_value(
            "objectType",
            format!("objectType {object_type} is not supported by the emulator (USER is)"),
        ));
    }
    let mut uids = Vec::with_capacity(ids.len());
    for i in &ids {
        let uid = parse_uuid(i)
            .filter(|u| db.users.get(u).is_some_and(|u| u.state != UState::Deleted))
            .ok_or_else(|| {
                ApiError::invalid_value("objectId", format!("User [{i}] does not exist."))
            })?;
        if !uids.contains(&uid) {
            uids.push(uid);
        }
    }
    for uid in uids {
        let Some(u) = db.users.get_mut(&uid) else {
            continue;
        };
        if u.division == did {
            continue;
        }
        let old = u.division;
        u.division = did;
        u.version += 1;
        u.modified_ms = now;
        let name = Some(u.name.to_string());
        audit(
            &mut db,
            now,
            &c.client_id,
            "Directory",
            "Update",
            "User",
            uid.to_string(),
            name,
            vec![PropertyChange {
                property: "division".into(),
                old_values: vec![old.to_string()],
                new_values: vec![did.to_string()],
            }],
        );
    }
    Ok(empty(StatusCode::NO_CONTENT))
}
