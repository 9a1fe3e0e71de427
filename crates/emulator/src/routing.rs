//! Routing: skills and languages catalogues, per-user skills/languages, queues and membership.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::db::{Catalogued, Db, PropertyChange, Queue, State as UState};
use crate::error::ApiError;
use crate::server::{App, Caller};
use crate::users::{audit, change, user_language_json, user_skill_json};
use crate::util::{Page, Query, empty, iso, listing, ok, parse_json, parse_uuid};

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Skill,
    Language,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Kind::Skill => "/api/v2/routing/skills",
            Kind::Language => "/api/v2/routing/languages",
        }
    }
    fn list(self, db: &Db) -> &Vec<Catalogued> {
        match self {
            Kind::Skill => &db.skills,
            Kind::Language => &db.languages,
        }
    }
    fn list_mut(self, db: &mut Db) -> &mut Vec<Catalogued> {
        match self {
            Kind::Skill => &mut db.skills,
            Kind::Language => &mut db.languages,
        }
    }
    fn entity(self) -> &'static str {
        match self {
            Kind::Skill => "Skill",
            Kind::Language => "Language",
        }
    }
}

fn cat_json(db: &Db, kind: Kind, s: &Catalogued) -> Value {
    let mut v = json!({
        "id": s.id,
        "name": s.name,
        "dateModified": iso(s.modified_ms),
        "state": s.state.as_str(),
        "version": s.version.to_string(),
        "selfUri": format!("{}/{}", kind.path(), s.id),
    });
    if kind == Kind::Skill
        && let Some(m) = v.as_object_mut()
    {
        let d = db.division(s.division);
        m.insert("division".into(), json!({"id": s.division, "name": d.map(|d| d.name.as_str()).unwrap_or(""), "selfUri": format!("/api/v2/authorization/divisions/{}", s.division)}));
    }
    v
}

fn cat_list(app: &App, kind: Kind, raw: Option<String>) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let page = Page::from_query(&q, 500)?;
    let name = q
        .get("name")
        .map(|n| n.trim_end_matches('*').to_lowercase());
    let ids: Vec<Uuid> = q.all("id").iter().filter_map(|i| parse_uuid(i)).collect();
    let db = app.db.read();
    let mut items: Vec<&Catalogued> = kind
        .list(&db)
        .iter()
        .filter(|s| s.state != UState::Deleted)
        .filter(|s| {
            name.as_deref()
                .is_none_or(|n| s.name.to_lowercase().starts_with(n))
        })
        .filter(|s| ids.is_empty() || ids.contains(&s.id))
        .collect();
    items.sort_by_key(|a| a.name.to_lowercase());
    if matches!(q.get("sortOrder"), Some("DESC" | "desc" | "descending")) {
        items.reverse();
    }
    let total = items.len();
    let entities = page
        .slice(&items)
        .into_iter()
        .map(|s| cat_json(&db, kind, s))
        .collect();
    Ok(ok(listing(kind.path(), "", page, total, entities)))
}

fn cat_get(app: &App, kind: Kind, id: &str) -> Result<Response, ApiError> {
    let db = app.db.read();
    let s = parse_uuid(id)
        .and_then(|i| {
            kind.list(&db)
                .iter()
                .find(|s| s.id == i && s.state != UState::Deleted)
        })
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(cat_json(&db, kind, s)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NamedIn {
    name: Option<String>,
    division_id: Option<String>,
}

fn cat_create(app: &App, c: &Caller, kind: Kind, body: &[u8]) -> Result<Response, ApiError> {
    let req: NamedIn = parse_json(body)?;
    let name = req
        .name
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::invalid_value("name", "name is required"))?;
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
    // Duplicate names give 409 general.conflict; compared case-insensitively (conservative).
    if kind
        .list(&db)
        .iter()
        .any(|s| s.state != UState::Deleted && s.name.eq_ignore_ascii_case(&name))
    {
        return Err(ApiError::conflict(format!(
            "A {} named [{name}] already exists.",
            kind.entity().to_lowercase()
        )));
    }
    let s = Catalogued {
        id: Uuid::new_v4(),
        name,
        state: UState::Active,
        version: 1,
        division,
        modified_ms: now,
    };
    let out = cat_json(&db, kind, &s);
    audit(
        &mut db,
        now,
        &c.client_id,
        "Routing",
        "Create",
        kind.entity(),
        s.id.to_string(),
        Some(s.name.clone()),
        change("name", None, Some(&s.name)).into_iter().collect(),
    );
    kind.list_mut(&mut db).push(s);
    Ok(ok(out))
}

fn cat_delete(
    app: &App,
    c: &Caller,
    kind: Kind,
    id: &str,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let now = app.now_ms();
    let mut db = app.db.write();
    let sid = parse_uuid(id).ok_or_else(ApiError::not_found)?;
    let s = kind
        .list_mut(&mut db)
        .iter_mut()
        .find(|s| s.id == sid && s.state != UState::Deleted)
        .ok_or_else(ApiError::not_found)?;
    s.state = UState::Deleted;
    s.version += 1;
    s.modified_ms = now;
    let name = s.name.clone();
    // Users lose the deleted skill/language.
    for u in db.users.values_mut() {
        match kind {
            Kind::Skill => u.skills.retain(|(x, _)| *x != sid),
            Kind::Language => u.languages.retain(|(x, _)| *x != sid),
        }
    }
    audit(
        &mut db,
        now,
        &c.client_id,
        "Routing",
        "Delete",
        kind.entity(),
        sid.to_string(),
        Some(name),
        Vec::new(),
    );
    Ok(empty(status))
}

pub async fn skills_list(
    State(app): State<App>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    cat_list(&app, Kind::Skill, raw)
}
pub async fn skill_get(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    cat_get(&app, Kind::Skill, &id)
}
pub async fn skill_create(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    cat_create(&app, &c, Kind::Skill, &body)
}
pub async fn skill_delete(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    cat_delete(&app, &c, Kind::Skill, &id, StatusCode::OK)
}
/// PATCH moves a skill to another division (`UpdateSkillDivisionRequest`).
pub async fn skill_patch(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: NamedIn = parse_json(&body)?;
    let now = app.now_ms();
    let mut db = app.db.write();
    let div = req
        .division_id
        .as_deref()
        .and_then(parse_uuid)
        .and_then(|d| db.division(d))
        .map(|d| d.id)
        .ok_or_else(|| {
            ApiError::invalid_value("divisionId", "divisionId must name an existing division")
        })?;
    let sid = parse_uuid(&id).ok_or_else(ApiError::not_found)?;
    let s = db
        .skills
        .iter_mut()
        .find(|s| s.id == sid && s.state != UState::Deleted)
        .ok_or_else(ApiError::not_found)?;
    let old = s.division.to_string();
    s.division = div;
    s.version += 1;
    s.modified_ms = now;
    let out = s.clone();
    audit(
        &mut db,
        now,
        &c.client_id,
        "Routing",
        "Update",
        "Skill",
        sid.to_string(),
        Some(out.name.clone()),
        change("division", Some(&old), Some(&div.to_string()))
            .into_iter()
            .collect(),
    );
    Ok(ok(cat_json(&db, Kind::Skill, &out)))
}
pub async fn languages_list(
    State(app): State<App>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    cat_list(&app, Kind::Language, raw)
}
pub async fn language_get(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    cat_get(&app, Kind::Language, &id)
}
pub async fn language_create(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    cat_create(&app, &c, Kind::Language, &body)
}
pub async fn language_delete(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    cat_delete(&app, &c, Kind::Language, &id, StatusCode::NO_CONTENT)
}

// ---- per-user skills and languages ------------------------------------------------------

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct ProfIn {
    id: Option<String>,
    proficiency: Option<f64>,
}

fn live_user(db: &Db, id: &str) -> Result<Uuid, ApiError> {
    parse_uuid(id)
        .filter(|i| db.users.get(i).is_some_and(|u| u.state != UState::Deleted))
        .ok_or_else(ApiError::not_found)
}

fn check_prof(p: Option<f64>) -> Result<f32, ApiError> {
    let p = p.ok_or_else(|| ApiError::invalid_value("proficiency", "proficiency is required"))?;
    if !(0.0..=5.0).contains(&p) {
        return Err(ApiError::invalid_value(
            "proficiency",
            "Proficiency must be between 0.0 and 5.0",
        ));
    }
    Ok(p as f32)
}

fn resolve(db: &Db, kind: Kind, items: &[ProfIn]) -> Result<Vec<(Uuid, f32)>, ApiError> {
    let mut out: Vec<(Uuid, f32)> = Vec::new();
    for i in items {
        let id =
            i.id.as_deref()
                .ok_or_else(|| ApiError::invalid_value("id", "id is required"))?;
        let sid = parse_uuid(id)
            .filter(|s| match kind {
                Kind::Skill => db.skill(*s).is_some(),
                Kind::Language => db.language(*s).is_some(),
            })
            .ok_or_else(|| {
                ApiError::invalid_value("id", format!("{} [{id}] does not exist.", kind.entity()))
            })?;
        let p = check_prof(i.proficiency)?;
        match out.iter_mut().find(|(x, _)| *x == sid) {
            Some(e) => e.1 = p,
            None => out.push((sid, p)),
        }
    }
    Ok(out)
}

fn user_list_json(db: &Db, kind: Kind, uid: Uuid, q: &Query) -> Result<Value, ApiError> {
    let page = Page::from_query(q, 500)?;
    let u = &db.users[&uid];
    let mut items: Vec<Value> = match kind {
        Kind::Skill => u
            .skills
            .iter()
            .filter_map(|(s, p)| user_skill_json(db, uid, *s, *p))
            .collect(),
        Kind::Language => u
            .languages
            .iter()
            .filter_map(|(s, p)| user_language_json(db, uid, *s, *p))
            .collect(),
    };
    items.sort_by(|a, b| {
        a["name"]
            .as_str()
            .unwrap_or("")
            .to_lowercase()
            .cmp(&b["name"].as_str().unwrap_or("").to_lowercase())
    });
    if matches!(q.get("sortOrder"), Some("DESC" | "desc" | "descending")) {
        items.reverse();
    }
    let total = items.len();
    let seg = if kind == Kind::Skill {
        "routingskills"
    } else {
        "routinglanguages"
    };
    Ok(listing(
        &format!("/api/v2/users/{uid}/{seg}"),
        "",
        page,
        total,
        page.slice(&items),
    ))
}

fn set_user_items(
    db: &mut Db,
    kind: Kind,
    uid: Uuid,
    f: impl FnOnce(&mut Vec<(Uuid, f32)>),
) -> (Vec<String>, Vec<String>) {
    let names = |db: &Db, v: &Vec<(Uuid, f32)>| -> Vec<String> {
        v.iter()
            .filter_map(|(s, p)| match kind {
                Kind::Skill => db.skill(*s).map(|x| format!("{}:{p}", x.name)),
                Kind::Language => db.language(*s).map(|x| format!("{}:{p}", x.name)),
            })
            .collect()
    };
    let Some(u) = db.users.get(&uid) else {
        return (vec![], vec![]);
    };
    let cur = match kind {
        Kind::Skill => u.skills.clone(),
        Kind::Language => u.languages.clone(),
    };
    let old = names(db, &cur);
    let mut next = cur;
    f(&mut next);
    let new = names(db, &next);
    if let Some(u) = db.users.get_mut(&uid) {
        match kind {
            Kind::Skill => u.skills = next,
            Kind::Language => u.languages = next,
        }
    }
    (old, new)
}

fn record_items(
    db: &mut Db,
    now: i64,
    c: &Caller,
    kind: Kind,
    uid: Uuid,
    (old, new): (Vec<String>, Vec<String>),
) {
    if old != new {
        let prop = if kind == Kind::Skill {
            "routingSkills"
        } else {
            "routingLanguages"
        };
        audit(
            db,
            now,
            &c.client_id,
            "Routing",
            "Update",
            "User",
            uid.to_string(),
            None,
            vec![PropertyChange {
                property: prop.into(),
                old_values: old,
                new_values: new,
            }],
        );
    }
}

fn user_items_get(
    app: &App,
    kind: Kind,
    id: &str,
    raw: Option<String>,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let db = app.db.read();
    let uid = live_user(&db, id)?;
    Ok(ok(user_list_json(&db, kind, uid, &q)?))
}

fn user_item_upsert(
    app: &App,
    c: &Caller,
    kind: Kind,
    id: &str,
    item_id: Option<&str>,
    body: &[u8],
) -> Result<Response, ApiError> {
    let mut req: ProfIn = parse_json(body)?;
    if let Some(i) = item_id {
        req.id = Some(i.to_owned());
    }
    let now = app.now_ms();
    let mut db = app.db.write();
    let uid = live_user(&db, id)?;
    let items = resolve(&db, kind, &[req])?;
    let (sid, p) = items[0];
    if item_id.is_some() {
        let has = match kind {
            Kind::Skill => db.users[&uid].skills.iter().any(|(x, _)| *x == sid),
            Kind::Language => db.users[&uid].languages.iter().any(|(x, _)| *x == sid),
        };
        if !has {
            return Err(ApiError::not_found());
        }
    }
    let diff = set_user_items(&mut db, kind, uid, |v| {
        match v.iter_mut().find(|(x, _)| *x == sid) {
            Some(e) => e.1 = p,
            None => v.push((sid, p)),
        }
    });
    record_items(&mut db, now, c, kind, uid, diff);
    let out = match kind {
        Kind::Skill => user_skill_json(&db, uid, sid, p),
        Kind::Language => user_language_json(&db, uid, sid, p),
    };
    Ok(ok(out.unwrap_or(Value::Null)))
}

fn user_item_delete(
    app: &App,
    c: &Caller,
    kind: Kind,
    id: &str,
    item: &str,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let now = app.now_ms();
    let mut db = app.db.write();
    let uid = live_user(&db, id)?;
    let sid = parse_uuid(item).ok_or_else(ApiError::not_found)?;
    let diff = set_user_items(&mut db, kind, uid, |v| v.retain(|(x, _)| *x != sid));
    if diff.0 == diff.1 {
        return Err(ApiError::not_found());
    }
    record_items(&mut db, now, c, kind, uid, diff);
    Ok(empty(status))
}

fn user_items_bulk(
    app: &App,
    c: &Caller,
    kind: Kind,
    id: &str,
    body: &[u8],
    replace: bool,
) -> Result<Response, ApiError> {
    let items: Vec<ProfIn> = parse_json(body)?;
    if items.len() > 50 {
        return Err(ApiError::bad_request(format!(
            "Max 50 routing {}s in request body",
            if kind == Kind::Skill {
                "skill"
            } else {
                "language"
            }
        )));
    }
    let now = app.now_ms();
    let mut db = app.db.write();
    let uid = live_user(&db, id)?;
    let resolved = resolve(&db, kind, &items)?;
    let diff = set_user_items(&mut db, kind, uid, |v| {
        if replace {
            *v = resolved;
        } else {
            for (s, p) in resolved {
                match v.iter_mut().find(|(x, _)| *x == s) {
                    Some(e) => e.1 = p,
                    None => v.push((s, p)),
                }
            }
        }
    });
    record_items(&mut db, now, c, kind, uid, diff);
    Ok(ok(user_list_json(&db, kind, uid, &Query::default())?))
}

pub async fn user_skills(
    State(app): State<App>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    user_items_get(&app, Kind::Skill, &id, raw)
}
pub async fn user_skill_post(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    user_item_upsert(&app, &c, Kind::Skill, &id, None, &body)
}
pub async fn user_skill_put(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path((id, sid)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    user_item_upsert(&app, &c, Kind::Skill, &id, Some(&sid), &body)
}
pub async fn user_skill_delete(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path((id, sid)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    user_item_delete(&app, &c, Kind::Skill, &id, &sid, StatusCode::OK)
}
pub async fn user_skills_bulk_patch(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    user_items_bulk(&app, &c, Kind::Skill, &id, &body, false)
}
pub async fn user_skills_bulk_put(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    user_items_bulk(&app, &c, Kind::Skill, &id, &body, true)
}
pub async fn user_languages(
    State(app): State<App>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    user_items_get(&app, Kind::Language, &id, raw)
}
pub async fn user_language_post(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    user_item_upsert(&app, &c, Kind::Language, &id, None, &body)
}
pub async fn user_language_patch(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path((id, lid)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    user_item_upsert(&app, &c, Kind::Language, &id, Some(&lid), &body)
}
pub async fn user_language_delete(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path((id, lid)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    user_item_delete(&app, &c, Kind::Language, &id, &lid, StatusCode::NO_CONTENT)
}
pub async fn user_languages_bulk_patch(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    user_items_bulk(&app, &c, Kind::Language, &id, &body, false)
}

// ---- queues -----------------------------------------------------------------------------

fn queue_json(db: &Db, q: &Queue, joined: Option<bool>) -> Value {
    let d = db.division(q.division);
    let mut v = json!({
        "id": q.id,
        "name": q.name,
        "division": {"id": q.division, "name": d.map(|d| d.name.as_str()).unwrap_or(""), "selfUri": format!("/api/v2/authorization/divisions/{}", q.division)},
        "dateCreated": iso(q.created_ms),
        "dateModified": iso(q.modified_ms),
        "memberCount": q.members.len(),
        "userMemberCount": q.members.len(),
        "joinedMemberCount": q.members.iter().filter(|(_, j)| *j).count(),
        "selfUri": format!("/api/v2/routing/queues/{}", q.id),
    });
    if let (Some(j), Some(m)) = (joined, v.as_object_mut()) {
        m.insert("joined".into(), json!(j));
    }
    v
}

fn find_queue(db: &Db, id: &str) -> Result<usize, ApiError> {
    parse_uuid(id)
        .and_then(|i| db.queues.iter().position(|q| q.id == i))
        .ok_or_else(ApiError::not_found)
}

pub async fn queues_list(
    State(app): State<App>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let page = Page::from_query(&q, 500)?;
    let name = q
        .get("name")
        .map(|n| n.trim_end_matches('*').to_lowercase());
    let db = app.db.read();
    let mut qs: Vec<&Queue> = db
        .queues
        .iter()
        .filter(|x| {
            name.as_deref()
                .is_none_or(|n| x.name.to_lowercase().starts_with(n))
        })
        .collect();
    qs.sort_by_key(|a| a.name.to_lowercase());
    let total = qs.len();
    let entities = page
        .slice(&qs)
        .into_iter()
        .map(|x| queue_json(&db, x, None))
        .collect();
    Ok(ok(listing(
        "/api/v2/routing/queues",
        "",
        page,
        total,
        entities,
    )))
}

pub async fn queue_get(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let db = app.db.read();
    let i = find_queue(&db, &id)?;
    Ok(ok(queue_json(&db, &db.queues[i], None)))
}

fn member_json(db: &Db, qid: Uuid, uid: Uuid, joined: bool) -> Value {
    let name = db
        .users
        .get(&uid)
        .map(|u| u.name.to_string())
        .unwrap_or_default();
    json!({
        "id": uid,
        "name": name,
        "user": {"id": uid, "name": name, "selfUri": format!("/api/v2/users/{uid}")},
        "ringNumber": 1,
        "joined": joined,
        "memberBy": "user",
        "selfUri": format!("/api/v2/routing/queues/{qid}/members/{uid}"),
    })
}

fn members_listing(db: &Db, i: usize, q: &Query) -> Result<Value, ApiError> {
    let page = Page::from_query(q, 100)?;
    let queue = &db.queues[i];
    let joined = match q.get("joined") {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    };
    let mut items: Vec<Value> = queue
        .members
        .iter()
        .filter(|(_, j)| joined.is_none_or(|w| w == *j))
        .map(|(u, j)| member_json(db, queue.id, *u, *j))
        .collect();
    items.sort_by(|a, b| {
        a["name"]
            .as_str()
            .unwrap_or("")
            .to_lowercase()
            .cmp(&b["name"].as_str().unwrap_or("").to_lowercase())
    });
    let total = items.len();
    Ok(listing(
        &format!("/api/v2/routing/queues/{}/members", queue.id),
        "",
        page,
        total,
        page.slice(&items),
    ))
}

pub async fn queue_members(
    State(app): State<App>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let db = app.db.read();
    let i = find_queue(&db, &id)?;
    Ok(ok(members_listing(&db, i, &q)?))
}

#[derive(Deserialize)]
struct IdIn {
    id: Option<String>,
    joined: Option<bool>,
}

fn resolve_users(db: &Db, items: &[IdIn]) -> Result<Vec<(Uuid, Option<bool>)>, ApiError> {
    if items.len() > 100 {
        return Err(ApiError::bad_request(
            "Up to 100 queue members can be changed per request.",
        ));
    }
    items
        .iter()
        .map(|x| {
            let id = x.id.as_deref().unwrap_or("");
            parse_uuid(id)
                .filter(|u| db.users.get(u).is_some_and(|u| u.state != UState::Deleted))
                .map(|u| (u, x.joined))
                .ok_or_else(|| {
                    ApiError::invalid_value("id", format!("User [{id}] does not exist."))
                })
        })
        .collect()
}

/// POST members: bulk add (or delete with `?delete=true`) up to 100 users.
pub async fn queue_members_post(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let del = q.get("delete") == Some("true");
    let items: Vec<IdIn> = parse_json(&body)?;
    let now = app.now_ms();
    let mut db = app.db.write();
    let i = find_queue(&db, &id)?;
    let users = resolve_users(&db, &items)?;
    let queue = &mut db.queues[i];
    for (u, _) in &users {
        if del {
            queue.members.retain(|(x, _)| x != u);
        } else if !queue.members.iter().any(|(x, _)| x == u) {
            queue.members.push((*u, true));
        }
    }
    queue.modified_ms = now;
    let (qid, name) = (queue.id, queue.name.clone());
    audit(
        &mut db,
        now,
        &c.client_id,
        "Routing",
        if del { "MemberRemove" } else { "MemberAdd" },
        "Queue",
        qid.to_string(),
        Some(name),
        vec![PropertyChange {
            property: "members".into(),
            old_values: vec![],
            new_values: users.iter().map(|(u, _)| u.to_string()).collect(),
        }],
    );
    Ok(empty(StatusCode::NO_CONTENT))
}

/// PATCH members: join/unjoin existing members.
pub async fn queue_members_patch(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let items: Vec<IdIn> = parse_json(&body)?;
    let now = app.now_ms();
    let mut db = app.db.write();
    let i = find_queue(&db, &id)?;
    let users = resolve_users(&db, &items)?;
    let queue = &mut db.queues[i];
    for (u, j) in &users {
        if let Some(m) = queue.members.iter_mut().find(|(x, _)| x == u) {
            m.1 = j.unwrap_or(m.1);
        }
    }
    let qid = queue.id;
    audit(
        &mut db,
        now,
        &c.client_id,
        "Routing",
        "Update",
        "Queue",
        qid.to_string(),
        None,
        Vec::new(),
    );
    Ok(ok(members_listing(&db, i, &Query::default())?))
}

pub async fn queue_member_patch(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path((id, mid)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let item: IdIn = parse_json(&body)?;
    let now = app.now_ms();
    let mut db = app.db.write();
    let i = find_queue(&db, &id)?;
    let uid = parse_uuid(&mid).ok_or_else(ApiError::not_found)?;
    let m = db.queues[i]
        .members
        .iter_mut()
        .find(|(x, _)| *x == uid)
        .ok_or_else(ApiError::not_found)?;
    if let Some(j) = item.joined {
        m.1 = j;
    }
    let qid = db.queues[i].id;
    audit(
        &mut db,
        now,
        &c.client_id,
        "Routing",
        "Update",
        "Queue",
        qid.to_string(),
        None,
        Vec::new(),
    );
    Ok(empty(StatusCode::ACCEPTED))
}

pub async fn queue_member_delete(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path((id, mid)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let now = app.now_ms();
    let mut db = app.db.write();
    let i = find_queue(&db, &id)?;
    let uid = parse_uuid(&mid).ok_or_else(ApiError::not_found)?;
    let before = db.queues[i].members.len();
    db.queues[i].members.retain(|(x, _)| *x != uid);
    if db.queues[i].members.len() == before {
        return Err(ApiError::not_found());
    }
    let qid = db.queues[i].id;
    audit(
        &mut db,
        now,
        &c.client_id,
        "Routing",
        "MemberRemove",
        "Queue",
        qid.to_string(),
        None,
        change("members", Some(&mid), None).into_iter().collect(),
    );
    Ok(empty(StatusCode::NO_CONTENT))
}

fn user_queue_listing(db: &Db, uid: Uuid, q: &Query) -> Result<Value, ApiError> {
    let page = Page::from_query(q, 500)?;
    let joined_only = q.get("joined") != Some("false");
    let items: Vec<Value> = db
        .queues
        .iter()
        .filter_map(|x| {
            x.members
                .iter()
                .find(|(u, _)| *u == uid)
                .map(|(_, j)| (x, *j))
        })
        .filter(|(_, j)| !joined_only || *j)
        .map(|(x, j)| queue_json(db, x, Some(j)))
        .collect();
    let total = items.len();
    Ok(listing(
        &format!("/api/v2/users/{uid}/queues"),
        "",
        page,
        total,
        page.slice(&items),
    ))
}

pub async fn user_queues(
    State(app): State<App>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let db = app.db.read();
    let uid = live_user(&db, &id)?;
    Ok(ok(user_queue_listing(&db, uid, &q)?))
}

/// Only queues the user is already a member of can be joined/unjoined.
pub async fn user_queues_patch(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let items: Vec<IdIn> = parse_json(&body)?;
    let now = app.now_ms();
    let mut db = app.db.write();
    let uid = live_user(&db, &id)?;
    for it in &items {
        let qid = it
            .id
            .as_deref()
            .and_then(parse_uuid)
            .ok_or_else(|| ApiError::invalid_value("id", "queue id is required"))?;
        let q = db.queues.iter_mut().find(|q| q.id == qid).ok_or_else(|| {
            ApiError::invalid_value("id", format!("Queue [{qid}] does not exist."))
        })?;
        let m = q
            .members
            .iter_mut()
            .find(|(u, _)| *u == uid)
            .ok_or_else(|| {
                ApiError::bad_request(format!("The user is not a member of queue [{qid}]."))
            })?;
        if let Some(j) = it.joined {
            m.1 = j;
        }
    }
    audit(
        &mut db,
        now,
        &c.client_id,
        "Routing",
        "Update",
        "User",
        uid.to_string(),
        None,
        Vec::new(),
    );
    let mut q = Query::default();
    q.0.push(("joined".into(), "false".into()));
    Ok(ok(user_queue_listing(&db, uid, &q)?))
}

pub async fn user_queue_patch(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path((id, qid)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let item: IdIn = parse_json(&body)?;
    let now = app.now_ms();
    let mut db = app.db.write();
    let uid = live_user(&db, &id)?;
    let i = find_queue(&db, &qid)?;
    let m = db.queues[i]
        .members
        .iter_mut()
        .find(|(u, _)| *u == uid)
        .ok_or_else(ApiError::not_found)?;
    if let Some(j) = item.joined {
        m.1 = j;
    }
    let joined = m.1;
    audit(
        &mut db,
        now,
        &c.client_id,
        "Routing",
        "Update",
        "User",
        uid.to_string(),
        None,
        Vec::new(),
    );
    Ok(ok(queue_json(&db, &db.queues[i], Some(joined))))
}
