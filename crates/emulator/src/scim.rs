//! SCIM 2.0 as Genesys serves it, under `/api/v2/scim/v2/…` and `/api/v2/scim/…`.
//!
//! The SCIM view and the native view share the same `User`/`Group` records. Genesys documents
//! only `eq` filters on a fixed attribute list (reference section 6.4) plus the Genesys
//! extension's `externalIds[authority eq … and value eq …]`; everything else is refused with
//! `invalidFilter`, which is the conservative reading.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gcprov_scim::ScimType;
use gcprov_scim::filter::{AttrPath, CompValue, CompareOp, Filter};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::db::{Db, Group, PropertyChange, SCIM_AUTHORITY, State as UState, User};
use crate::error::{ScimErr, ScimOrApi};
use crate::server::{App, Caller};
use crate::users::{audit, remove_external_id, set_external_id};
use crate::util::{Query, iso, parse_uuid, scim_json};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const GENESYS: &str = "urn:ietf:params:scim:schemas:extension:genesys:purecloud:2.0:User";
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

type R = Result<Response, ScimOrApi>;

fn err(status: u16, t: Option<ScimType>, detail: impl Into<String>) -> ScimOrApi {
    ScimOrApi::Scim(ScimErr::new(status, t, detail))
}
fn invalid_value(detail: impl Into<String>) -> ScimOrApi {
    err(400, Some(ScimType::InvalidValue), detail)
}
fn not_found() -> ScimOrApi {
    err(404, None, "Resource not found.")
}

fn etag(version: u32) -> String {
    format!("\"{version}\"")
}

fn with_etag(mut resp: Response, version: u32) -> Response {
    if let Ok(v) = HeaderValue::from_str(&etag(version)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

/// Strip `W/` and quotes from an entity tag.
fn tag_value(s: &str) -> &str {
    s.trim().trim_start_matches("W/").trim_matches('"')
}

fn if_none_match(headers: &HeaderMap, version: u32) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == "*" || tag_value(t) == version.to_string())
        })
}

/// `If-Match` mismatch → 409 `invalidVers` (the status table; the parameter docs say 400).
/// No header → last writer wins, as Genesys documents.
fn check_if_match(headers: &HeaderMap, version: u32) -> Result<(), ScimOrApi> {
    match headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) {
        None => Ok(()),
        Some(v)
            if v.split(',')
                .any(|t| t.trim() == "*" || tag_value(t) == version.to_string()) =>
        {
            Ok(())
        }
        Some(_) => Err(err(
            409,
            Some(ScimType::InvalidVers),
            "Version does not match current version.",
        )),
    }
}

// ---- rendering --------------------------------------------------------------------------

fn user_location(app: &App, id: Uuid) -> String {
    format!("{}/api/v2/scim/v2/users/{id}", app.base_url)
}

// Typed, allocation-light rendering of a SCIM user for the hot paths (list and GET); the
// `Value` form (`scim_user`) is derived from it.
#[derive(serde::Serialize)]
struct Named<'a> {
    name: &'a str,
    proficiency: f64,
}

#[derive(serde::Serialize)]
struct ExtIdOut<'a> {
    authority: &'a str,
    value: &'a str,
}

#[derive(serde::Serialize)]
struct EmailOut<'a> {
    value: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    primary: bool,
}

#[derive(serde::Serialize)]
struct PhoneOut<'a> {
    value: &'a str,
    #[serde(rename = "type")]
    kind: String,
    primary: bool,
}

#[derive(serde::Serialize)]
struct RefOut {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    value: Uuid,
    #[serde(rename = "$ref")]
    reference: String,
}

#[derive(serde::Serialize)]
struct RoleOut<'a> {
    value: &'a str,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct EnterpriseOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    division: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    department: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    manager: Option<RefOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    employee_number: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    date_hire: Option<&'a str>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct GenesysOut<'a> {
    routing_skills: Vec<Named<'a>>,
    routing_languages: Vec<Named<'a>>,
    external_ids: Vec<ExtIdOut<'a>>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct MetaOut {
    resource_type: &'static str,
    last_modified: String,
    location: String,
    version: String,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScimUserOut<'a> {
    schemas: [&'static str; 3],
    id: Uuid,
    active: bool,
    user_name: &'a str,
    display_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    phone_numbers: Vec<PhoneOut<'a>>,
    emails: Vec<EmailOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    groups: Vec<RefOut>,
    roles: Vec<RoleOut<'a>>,
    #[serde(rename = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")]
    enterprise: EnterpriseOut<'a>,
    #[serde(rename = "urn:ietf:params:scim:schemas:extension:genesys:purecloud:2.0:User")]
    genesys: GenesysOut<'a>,
    meta: MetaOut,
}

pub(crate) fn scim_user_out<'a>(app: &App, db: &'a Db, u: &'a User) -> ScimUserOut<'a> {
    let mut emails = vec![EmailOut {
        value: &u.email,
        kind: "other",
        primary: true,
    }];
    emails.extend(
        u.addresses
            .iter()
            .filter(|c| &*c.media_type == "EMAIL")
            .map(|c| EmailOut {
                value: &c.address,
                kind: "work",
                primary: false,
            }),
    );
    let mut roles: Vec<RoleOut<'a>> = Vec::new();
    for (r, _) in &u.grants {
        if let Some(role) = db.role(*r)
            && !roles.iter().any(|x| x.value == role.name)
        {
            roles.push(RoleOut { value: &role.name });
        }
    }
    ScimUserOut {
        schemas: [USER_SCHEMA, ENTERPRISE, GENESYS],
        id: u.id,
        active: u.state == UState::Active,
        user_name: &u.email,
        display_name: &u.name,
        title: u.title.as_deref(),
        phone_numbers: u
            .addresses
            .iter()
            .filter(|c| &*c.media_type == "PHONE")
            .map(|c| PhoneOut {
                value: &c.address,
                kind: c.kind.to_lowercase(),
                primary: false,
            })
            .collect(),
        emails,
        external_id: u
            .external_ids
            .iter()
            .find(|(a, _)| &**a == SCIM_AUTHORITY)
            .map(|(_, k)| &**k),
        groups: u
            .groups
            .iter()
            .map(|g| RefOut {
                kind: Some("Group"),
                value: *g,
                reference: format!("{}/api/v2/scim/v2/groups/{g}", app.base_url),
            })
            .collect(),
        roles,
        enterprise: EnterpriseOut {
            division: db.division(u.division).map(|d| d.name.as_str()),
            department: u.department.as_deref(),
            manager: u.manager.map(|m| RefOut {
                kind: None,
                value: m,
                reference: user_location(app, m),
            }),
            employee_number: u.employee_id.as_deref(),
            date_hire: u.date_hire.as_deref(),
        },
        genesys: GenesysOut {
            routing_skills: u
                .skills
                .iter()
                .filter_map(|(s, p)| {
                    db.skill(*s).map(|s| Named {
                        name: &s.name,
                        proficiency: *p as f64,
                    })
                })
                .collect(),
            routing_languages: u
                .languages
                .iter()
                .filter_map(|(s, p)| {
                    db.language(*s).map(|s| Named {
                        name: &s.name,
                        proficiency: *p as f64,
                    })
                })
                .collect(),
            external_ids: u
                .external_ids
                .iter()
                .map(|(a, k)| ExtIdOut {
                    authority: a,
                    value: k,
                })
                .collect(),
        },
        meta: MetaOut {
            resource_type: "User",
            last_modified: iso(u.modified_ms),
            location: user_location(app, u.id),
            version: etag(u.version),
        },
    }
}

pub fn scim_user(app: &App, db: &Db, u: &User) -> Value {
    serde_json::to_value(scim_user_out(app, db, u)).unwrap_or(Value::Null)
}

/// `ListResponse` serialised straight to bytes.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ListOut<T: serde::Serialize> {
    schemas: [&'static str; 1],
    total_results: usize,
    start_index: usize,
    items_per_page: usize,
    #[serde(rename = "Resources")]
    resources: Vec<T>,
}

fn list_bytes<T: serde::Serialize>(total: usize, start: usize, resources: Vec<T>) -> Response {
    let out = ListOut {
        schemas: [LIST_SCHEMA],
        total_results: total,
        start_index: start,
        items_per_page: resources.len(),
        resources,
    };
    let body = serde_json::to_vec(&out).unwrap_or_default();
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/scim+json"),
    );
    resp
}

pub fn scim_group(app: &App, db: &Db, g: &Group) -> Value {
    let members: Vec<Value> = g
        .members
        .iter()
        .filter(|m| db.users.get(m).is_some_and(|u| u.state != UState::Deleted))
        .map(|m| json!({"type": "User", "value": m, "$ref": user_location(app, *m)}))
        .collect();
    let mut v = json!({
        "schemas": [GROUP_SCHEMA],
        "id": g.id,
        "displayName": g.name,
        "members": members,
        "meta": {"resourceType": "Group", "lastModified": iso(g.modified_ms), "location": format!("{}/api/v2/scim/v2/groups/{}", app.base_url, g.id), "version": etag(g.version)},
    });
    if let (Some(x), Some(m)) = (&g.external_id, v.as_object_mut()) {
        m.insert("externalId".into(), json!(x));
    }
    v
}

/// `attributes` / `excludedAttributes` on top-level attributes; `id`, `userName`, `active`,
/// `meta` and `schemas` are always returned.
fn project(v: Value, q: &Query) -> Value {
    let attrs: Vec<String> = q
        .all("attributes")
        .iter()
        .map(|s| s.to_lowercase())
        .collect();
    let excluded: Vec<String> = q
        .all("excludedAttributes")
        .iter()
        .map(|s| s.to_lowercase())
        .collect();
    if attrs.is_empty() && excluded.is_empty() {
        return v;
    }
    let Value::Object(m) = v else { return v };
    let keep = |k: &str| {
        let k = k.to_lowercase();
        if matches!(
            k.as_str(),
            "id" | "username" | "active" | "meta" | "schemas"
        ) {
            return true;
        }
        let named = |list: &Vec<String>| {
            list.iter().any(|a| {
                *a == k || a.starts_with(&format!("{k}.")) || a.starts_with(&format!("{k}:"))
            })
        };
        if !attrs.is_empty() {
            named(&attrs)
        } else {
            !excluded.contains(&k)
        }
    };
    Value::Object(m.into_iter().filter(|(k, _)| keep(k)).collect())
}

// ---- filters ----------------------------------------------------------------------------

#[derive(Debug)]
enum UserFilter {
    Id(String),
    UserName(String),
    Manager(String),
    Division(String),
    ExternalId(String),
    Active(bool),
    EmployeeNumber(String),
    ExternalIds(String, String),
}

fn comp_str(v: &CompValue) -> String {
    match v {
        CompValue::Null => "null".into(),
        CompValue::Bool(b) => b.to_string(),
        CompValue::Number(n) => n.to_string(),
        CompValue::String(s) => s.clone(),
    }
}

fn invalid_filter(detail: impl Into<String>) -> ScimOrApi {
    err(400, Some(ScimType::InvalidFilter), detail)
}

fn urn_is(path: &AttrPath, urn: &str) -> bool {
    path.urn
        .as_deref()
        .is_none_or(|u| u.eq_ignore_ascii_case(urn))
}

fn parse_user_filter(raw: &str) -> Result<UserFilter, ScimOrApi> {
    let f = gcprov_scim::filter::parse(raw).map_err(|e| invalid_filter(e.detail))?;
    match f {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } => {
            let v = comp_str(&value);
            let attr = path.attr.to_ascii_lowercase();
            let sub = path.sub_attr.as_deref().map(str::to_ascii_lowercase);
            let core = urn_is(&path, USER_SCHEMA);
            let ent = path
                .urn
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case(ENTERPRISE))
                || path.urn.is_none();
            match (attr.as_str(), sub.as_deref()) {
                ("id", None) if core => Ok(UserFilter::Id(v)),
                ("username", None) if core => Ok(UserFilter::UserName(v)),
                ("email" | "emails", None | Some("value")) if core => Ok(UserFilter::UserName(v)),
                ("externalid", None) if core => Ok(UserFilter::ExternalId(v)),
                ("active", None) if core => match value {
                    CompValue::Bool(b) => Ok(UserFilter::Active(b)),
                    CompValue::String(s)
                        if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") =>
                    {
                        Ok(UserFilter::Active(s.eq_ignore_ascii_case("true")))
                    }
                    _ => Err(invalid_filter("active must be compared with true or false")),
                },
                ("manager", None | Some("value")) if ent => Ok(UserFilter::Manager(v)),
                ("division", None) if ent => Ok(UserFilter::Division(v)),
                ("employeenumber", None) if ent => Ok(UserFilter::EmployeeNumber(v)),
                _ => Err(invalid_filter(format!(
                    "Filtering on [{raw}] is not supported."
                ))),
            }
        }
        Filter::ValuePath { path, filter }
            if path.attr.eq_ignore_ascii_case("externalIds")
                && path
                    .urn
                    .as_deref()
                    .is_some_and(|u| u.eq_ignore_ascii_case(GENESYS)) =>
        {
            let mut authority = None;
            let mut value = None;
            if let Filter::And(a, b) = *filter {
                for side in [*a, *b] {
                    if let Filter::Compare {
                        path,
                        op: CompareOp::Eq,
                        value: v,
                    } = side
                    {
                        match path.attr.to_ascii_lowercase().as_str() {
                            "authority" => authority = Some(comp_str(&v)),
                            "value" => value = Some(comp_str(&v)),
                            _ => {}
                        }
                    }
                }
            }
            match (authority, value) {
                (Some(a), Some(v)) => Ok(UserFilter::ExternalIds(a, v)),
                _ => Err(invalid_filter(
                    "externalIds filters must be [authority eq \"…\" and value eq \"…\"]",
                )),
            }
        }
        _ => Err(invalid_filter(format!(
            "Filtering on [{raw}] is not supported; only 'eq' filters are."
        ))),
    }
}

fn user_matches(db: &Db, u: &User, f: &UserFilter) -> bool {
    match f {
        UserFilter::Id(v) => u.id.to_string() == *v,
        UserFilter::UserName(v) => u.email.eq_ignore_ascii_case(v),
        UserFilter::Manager(v) => u.manager.is_some_and(|m| m.to_string() == *v),
        UserFilter::Division(v) => db
            .division(u.division)
            .is_some_and(|d| d.name.eq_ignore_ascii_case(v)),
        UserFilter::ExternalId(v) => u
            .external_ids
            .iter()
            .any(|(a, k)| &**a == SCIM_AUTHORITY && **k == **v),
        UserFilter::Active(b) => (u.state == UState::Active) == *b,
        UserFilter::EmployeeNumber(v) => u.employee_id.as_deref() == Some(v.as_str()),
        UserFilter::ExternalIds(a, v) => {
            u.external_ids.iter().any(|(x, k)| **x == **a && **k == **v)
        }
    }
}

fn paging(q: &Query) -> Result<(usize, usize), ScimOrApi> {
    let start = q
        .get("startIndex")
        .map(|s| s.parse::<i64>())
        .transpose()
        .map_err(|_| invalid_value("startIndex must be an integer"))?
        .unwrap_or(1)
        .max(1) as usize;
    // count: default 25. Genesys warns that pages over 25 may be refused with 429 and does not
    // publish a maximum; the emulator returns at most 25 (RFC 7644 lets a provider return fewer).
    let count = q
        .get("count")
        .map(|s| s.parse::<i64>())
        .transpose()
        .map_err(|_| invalid_value("count must be an integer"))?
        .unwrap_or(25)
        .clamp(0, 25) as usize;
    Ok((start, count))
}

fn list_response(total: usize, start: usize, resources: Vec<Value>) -> Response {
    scim_json(
        StatusCode::OK,
        &json!({"schemas": [LIST_SCHEMA], "totalResults": total, "startIndex": start, "itemsPerPage": resources.len(), "Resources": resources}),
    )
}

pub async fn users_list(State(app): State<App>, RawQuery(raw): RawQuery) -> R {
    let q = Query::parse(raw.as_deref());
    let (start, count) = paging(&q)?;
    let filter = match q.get("filter") {
        Some(f) if !f.trim().is_empty() => Some(parse_user_filter(f)?),
        _ => None,
    };
    let db = app.db.read();
    // Deleted users are never visible through SCIM. Without a filter only active users are
    // listed (Genesys: "use filter=active eq false for inactive ones").
    let mut hits: Vec<&User> = match &filter {
        Some(UserFilter::Id(v)) => parse_uuid(v)
            .and_then(|i| db.users.get(&i))
            .into_iter()
            .collect(),
        Some(UserFilter::UserName(v)) => db.user_by_email(v).into_iter().collect(),
        Some(UserFilter::ExternalId(v)) => db
            .by_external
            .get(&(
                Box::<str>::from(SCIM_AUTHORITY),
                Box::<str>::from(v.as_str()),
            ))
            .and_then(|i| db.users.get(i))
            .into_iter()
            .collect(),
        Some(UserFilter::ExternalIds(a, v)) => db
            .by_external
            .get(&(Box::<str>::from(a.as_str()), Box::<str>::from(v.as_str())))
            .and_then(|i| db.users.get(i))
            .into_iter()
            .collect(),
        Some(f) => db
            .users
            .values()
            .filter(|u| user_matches(&db, u, f))
            .collect(),
        None => db
            .users
            .values()
            .filter(|u| u.state == UState::Active)
            .collect(),
    };
    hits.retain(|u| u.state != UState::Deleted);
    if hits.len() > 1 {
        hits.sort_by(|a, b| a.email.cmp(&b.email));
    }
    let total = hits.len();
    let page = hits.into_iter().skip(start - 1).take(count);
    if q.get("attributes").is_none() && q.get("excludedAttributes").is_none() {
        let resources: Vec<ScimUserOut> = page.map(|u| scim_user_out(&app, &db, u)).collect();
        return Ok(list_bytes(total, start, resources));
    }
    let resources = page.map(|u| project(scim_user(&app, &db, u), &q)).collect();
    Ok(list_response(total, start, resources))
}

fn find_user(db: &Db, id: &str) -> Result<Uuid, ScimOrApi> {
    parse_uuid(id)
        .filter(|i| db.users.get(i).is_some_and(|u| u.state != UState::Deleted))
        .ok_or_else(not_found)
}

pub async fn user_get(
    State(app): State<App>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> R {
    let q = Query::parse(raw.as_deref());
    let db = app.db.read();
    let uid = find_user(&db, &id)?;
    let u = &db.users[&uid];
    if if_none_match(&headers, u.version) {
        return Ok(with_etag(
            StatusCode::NOT_MODIFIED.into_response(),
            u.version,
        ));
    }
    Ok(with_etag(
        scim_json(StatusCode::OK, &project(scim_user(&app, &db, u), &q)),
        u.version,
    ))
}

// ---- writes -----------------------------------------------------------------------------

/// Everything SCIM can set on a user, by name; applied to the `User` at commit.
#[derive(Debug, Clone, Default)]
struct Draft {
    user_name: Option<String>,
    display_name: Option<String>,
    active: bool,
    title: Option<String>,
    phones: Vec<(String, String)>,
    work_emails: Vec<String>,
    external_id: Option<String>,
    roles: Vec<String>,
    division: Option<String>,
    department: Option<String>,
    manager: Option<String>,
    employee_number: Option<String>,
    date_hire: Option<String>,
    skills: Vec<(String, f64)>,
    languages: Vec<(String, f64)>,
    external_ids: Vec<(String, String)>,
}

impl Draft {
    fn from_user(db: &Db, u: &User) -> Self {
        Draft {
            user_name: Some(u.email.to_string()),
            display_name: Some(u.name.to_string()),
            active: u.state == UState::Active,
            title: u.title.as_deref().map(String::from),
            phones: u
                .addresses
                .iter()
                .filter(|c| &*c.media_type == "PHONE")
                .map(|c| (c.kind.to_lowercase(), c.address.to_string()))
                .collect(),
            work_emails: u
                .addresses
                .iter()
                .filter(|c| &*c.media_type == "EMAIL")
                .map(|c| c.address.to_string())
                .collect(),
            external_id: u
                .external_ids
                .iter()
                .find(|(a, _)| &**a == SCIM_AUTHORITY)
                .map(|(_, k)| k.to_string()),
            roles: u
                .grants
                .iter()
                .filter_map(|(r, _)| db.role(*r).map(|r| r.name.clone()))
                .fold(Vec::new(), |mut v, n| {
                    if !v.contains(&n) {
                        v.push(n);
                    }
                    v
                }),
            division: db.division(u.division).map(|d| d.name.clone()),
            department: u.department.as_deref().map(String::from),
            manager: u.manager.map(|m| m.to_string()),
            employee_number: u.employee_id.as_deref().map(String::from),
            date_hire: u.date_hire.as_deref().map(String::from),
            skills: u
                .skills
                .iter()
                .filter_map(|(s, p)| db.skill(*s).map(|s| (s.name.clone(), *p as f64)))
                .collect(),
            languages: u
                .languages
                .iter()
                .filter_map(|(s, p)| db.language(*s).map(|s| (s.name.clone(), *p as f64)))
                .collect(),
            external_ids: u
                .external_ids
                .iter()
                .filter(|(a, _)| &**a != SCIM_AUTHORITY)
                .map(|(a, k)| (a.to_string(), k.to_string()))
                .collect(),
        }
    }
}

fn as_bool(v: &Value) -> Result<bool, ScimOrApi> {
    match v {
        Value::Bool(b) => Ok(*b),
        // Entra ID sends "True"/"False" strings.
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(invalid_value("active must be a boolean")),
    }
}

fn as_opt_string(v: &Value, what: &str) -> Result<Option<String>, ScimOrApi> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        _ => Err(invalid_value(format!("{what} must be a string"))),
    }
}

fn multi(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

fn proficiency_list(v: &Value, what: &str) -> Result<Vec<(String, f64)>, ScimOrApi> {
    let mut out = Vec::new();
    for item in multi(v) {
        let name = item
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid_value(format!("{what}: name is required")))?;
        let p = match item.get("proficiency") {
            None | Some(Value::Null) => 0.0,
            Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
            Some(Value::String(s)) => s
                .parse()
                .map_err(|_| invalid_value(format!("{what}: proficiency must be a number")))?,
            _ => {
                return Err(invalid_value(format!(
                    "{what}: proficiency must be a number"
                )));
            }
        };
        if !(0.0..=5.0).contains(&p) {
            return Err(invalid_value(format!(
                "{what}: proficiency must be between 0.0 and 5.0"
            )));
        }
        match out.iter_mut().find(|(n, _): &&mut (String, f64)| n == name) {
            Some(e) => e.1 = p,
            None => out.push((name.to_owned(), p)),
        }
    }
    if out.len() > 50 {
        return Err(invalid_value(format!("{what}: at most 50 entries")));
    }
    Ok(out)
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Add,
    Replace,
    Remove,
}

/// Apply one attribute (lower-cased `path`, optional `[type eq "x"]` filter value, optional
/// sub-attribute) to the draft.
fn apply_attr(
    d: &mut Draft,
    op: Op,
    attr: &str,
    filt: Option<&str>,
    sub: Option<&str>,
    v: &Value,
) -> Result<(), ScimOrApi> {
    let rm = op == Op::Remove;
    let s = |v: &Value, what: &str| if rm { Ok(None) } else { as_opt_string(v, what) };
    match attr {
        "username" => {
            let n = s(v, "userName")?.ok_or_else(|| {
                err(
                    400,
                    Some(ScimType::Mutability),
                    "userName cannot be removed",
                )
            })?;
            d.user_name = Some(n);
        }
        "displayname" => {
            d.display_name = Some(s(v, "displayName")?.ok_or_else(|| {
                err(
                    400,
                    Some(ScimType::Mutability),
                    "displayName cannot be removed",
                )
            })?)
        }
        "active" => d.active = if rm { false } else { as_bool(v)? },
        "title" => d.title = s(v, "title")?,
        "externalid" => d.external_id = s(v, "externalId")?,
        "password" => {}
        "id" | "meta" | "schemas" | "groups" => {
            if op != Op::Add && op != Op::Replace || attr == "groups" {
                return Err(err(
                    400,
                    Some(ScimType::Mutability),
                    format!("{attr} is read-only"),
                ));
            }
        }
        "emails" => {
            let want = filt.unwrap_or("work");
            if want == "other" {
                return Err(err(
                    400,
                    Some(ScimType::Mutability),
                    "The primary (type other) email is read-only.",
                ));
            }
            if filt.is_some() || sub.is_some() {
                let val = if rm {
                    None
                } else {
                    s(
                        if sub.is_some() {
                            v
                        } else {
                            v.get("value").unwrap_or(v)
                        },
                        "emails.value",
                    )?
                };
                d.work_emails = val.into_iter().collect();
            } else if rm {
                d.work_emails.clear();
            } else {
                let mut list = Vec::new();
                for e in multi(v) {
                    let t = e.get("type").and_then(Value::as_str).unwrap_or("work");
                    if t == "work"
                        && let Some(x) = e.get("value").and_then(Value::as_str)
                    {
                        list.push(x.to_owned());
                    }
                }
                d.work_emails = list.into_iter().take(1).collect();
            }
        }
        "phonenumbers" => {
            if let Some(t) = filt {
                d.phones.retain(|(k, _)| k != t);
                if !rm {
                    let val = if sub.is_some() {
                        s(v, "phoneNumbers.value")?
                    } else {
                        s(v.get("value").unwrap_or(v), "phoneNumbers.value")?
                    };
                    if let Some(x) = val {
                        d.phones.push((t.to_owned(), x));
                    }
                }
            } else if rm {
                d.phones.clear();
            } else {
                if op == Op::Replace {
                    d.phones.clear();
                }
                for p in multi(v) {
                    let t = p
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("work")
                        .to_lowercase();
                    if let Some(x) = p.get("value").and_then(Value::as_str) {
                        d.phones.retain(|(k, _)| *k != t);
                        d.phones.push((t, x.to_owned()));
                    }
                }
            }
        }
        "roles" => {
            let names: Vec<String> = multi(v)
                .iter()
                .filter_map(|r| {
                    r.get("value")
                        .and_then(Value::as_str)
                        .or(r.as_str())
                        .map(String::from)
                })
                .collect();
            match (op, filt) {
                (Op::Remove, Some(f)) => d.roles.retain(|r| r != f),
                (Op::Remove, None) if names.is_empty() => d.roles.clear(),
                (Op::Remove, None) => d.roles.retain(|r| !names.contains(r)),
                (Op::Replace, _) => d.roles = names,
                (Op::Add, _) => {
                    for n in names {
                        if !d.roles.contains(&n) {
                            d.roles.push(n);
                        }
                    }
                }
            }
        }
        "division" => d.division = s(v, "division")?,
        "department" => d.department = s(v, "department")?,
        "employeenumber" => d.employee_number = s(v, "employeeNumber")?,
        "datehire" => d.date_hire = s(v, "dateHire")?,
        "manager" => {
            d.manager = if rm {
                None
            } else if sub.is_some() || v.is_string() {
                as_opt_string(v, "manager")?
            } else {
                as_opt_string(v.get("value").unwrap_or(&Value::Null), "manager.value")?
            }
        }
        "routingskills" | "routinglanguages" => {
            let list = if rm && filt.is_none() && v.is_null() {
                Vec::new()
            } else {
                proficiency_list(v, attr)?
            };
            let target = if attr == "routingskills" {
                &mut d.skills
            } else {
                &mut d.languages
            };
            match (op, filt) {
                (Op::Remove, Some(f)) => target.retain(|(n, _)| n != f),
                (Op::Remove, None) if list.is_empty() => target.clear(),
                (Op::Remove, None) => target.retain(|(n, _)| !list.iter().any(|(x, _)| x == n)),
                (Op::Replace, _) => *target = list,
                (Op::Add, _) => {
                    for (n, p) in list {
                        match target.iter_mut().find(|(x, _)| *x == n) {
                            Some(e) => e.1 = p,
                            None => target.push((n, p)),
                        }
                    }
                }
            }
        }
        "externalids" => {
            let mut list = Vec::new();
            for e in multi(v) {
                let a = e
                    .get("authority")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid_value("externalIds: authority is required"))?;
                let k = e
                    .get("value")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid_value("externalIds: value is required"))?;
                if a.starts_with(SCIM_AUTHORITY) {
                    return Err(err(
                        400,
                        Some(ScimType::Mutability),
                        "The SCIM external id authority is immutable.",
                    ));
                }
                list.push((a.to_owned(), k.to_owned()));
            }
            match op {
                Op::Remove if list.is_empty() => d.external_ids.clear(),
                Op::Remove => d.external_ids.retain(|x| !list.contains(x)),
                Op::Replace => d.external_ids = list,
                Op::Add => {
                    for (a, k) in list {
                        d.external_ids.retain(|(x, _)| *x != a);
                        d.external_ids.push((a, k));
                    }
                }
            }
        }
        other => {
            return Err(err(
                400,
                Some(ScimType::InvalidPath),
                format!("Attribute [{other}] is not supported."),
            ));
        }
    }
    Ok(())
}

/// Apply a whole (partial) resource object: used by POST, PUT and PATCH without `path`.
fn apply_object(d: &mut Draft, op: Op, obj: &Map<String, Value>) -> Result<(), ScimOrApi> {
    for (k, v) in obj {
        let lk = k.to_lowercase();
        if lk == ENTERPRISE.to_lowercase() || lk == GENESYS.to_lowercase() {
            let Some(inner) = v.as_object() else {
                return Err(invalid_value(format!("{k} must be an object")));
            };
            apply_object(d, op, inner)?;
            continue;
        }
        if let Some(rest) = lk
            .strip_prefix(&format!("{}:", ENTERPRISE.to_lowercase()))
            .or_else(|| lk.strip_prefix(&format!("{}:", GENESYS.to_lowercase())))
        {
            apply_attr(d, op, rest, None, None, v)?;
            continue;
        }
        if matches!(lk.as_str(), "id" | "meta" | "schemas" | "groups") {
            continue;
        }
        if let Some((a, sub)) = lk.split_once('.') {
            apply_attr(d, op, a, None, Some(sub), v)?;
            continue;
        }
        apply_attr(d, op, &lk, None, None, v)?;
    }
    Ok(())
}

/// Split a PATCH path like `urn:…:User:manager.value`, `emails[type eq "work"].value`,
/// `members[value eq "id"]` into (attr, filter value, sub-attribute), all lower-cased except the
/// filter value.
fn split_path(path: &str) -> Result<(String, Option<String>, Option<String>), ScimOrApi> {
    let mut p = path.trim().to_string();
    for urn in [ENTERPRISE, GENESYS, USER_SCHEMA, GROUP_SCHEMA] {
        if p.get(..urn.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(urn))
            && p.as_bytes().get(urn.len()) == Some(&b':')
        {
            p = p[urn.len() + 1..].to_string();
            break;
        }
    }
    let (head, filt, tail) = match p.find('[') {
        Some(i) => {
            let j = p[i..].find(']').map(|j| i + j).ok_or_else(|| {
                err(
                    400,
                    Some(ScimType::InvalidPath),
                    format!("Invalid path [{path}]"),
                )
            })?;
            let inner = &p[i + 1..j];
            // `type eq "work"` / `value eq "id"` / `name eq "x"`: keep the literal.
            let lit = inner
                .splitn(3, ' ')
                .nth(2)
                .map(|s| s.trim().trim_matches('"').to_string())
                .ok_or_else(|| {
                    err(
                        400,
                        Some(ScimType::InvalidPath),
                        format!("Invalid path [{path}]"),
                    )
                })?;
            (
                p[..i].to_string(),
                Some(lit),
                p[j + 1..].trim_start_matches('.').to_string(),
            )
        }
        None => match p.split_once('.') {
            Some((a, b)) => (a.to_string(), None, b.to_string()),
            None => (p.clone(), None, String::new()),
        },
    };
    let tail = if tail.is_empty() {
        None
    } else {
        Some(tail.to_lowercase())
    };
    Ok((head.to_lowercase(), filt, tail))
}

fn parse_op(o: &Value) -> Result<(Op, Option<String>, Value), ScimOrApi> {
    let op = match o
        .get("op")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("add") => Op::Add,
        Some("replace") => Op::Replace,
        Some("remove") => Op::Remove,
        _ => {
            return Err(err(
                400,
                Some(ScimType::InvalidSyntax),
                "op must be add, replace or remove",
            ));
        }
    };
    let path = o.get("path").and_then(Value::as_str).map(String::from);
    if op == Op::Remove && path.is_none() {
        return Err(err(
            400,
            Some(ScimType::NoTarget),
            "path is required for remove",
        ));
    }
    Ok((op, path, o.get("value").cloned().unwrap_or(Value::Null)))
}

fn patch_ops(body: &Value) -> Result<Vec<Value>, ScimOrApi> {
    let schemas_ok = body
        .get("schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|x| x.as_str() == Some(PATCH_SCHEMA)));
    if !schemas_ok {
        return Err(err(
            400,
            Some(ScimType::InvalidSyntax),
            format!("schemas must contain {PATCH_SCHEMA}"),
        ));
    }
    body.get("Operations")
        .or_else(|| body.get("operations"))
        .and_then(Value::as_array)
        .cloned()
        .ok_or_else(|| err(400, Some(ScimType::InvalidSyntax), "Operations is required"))
}

fn parse_body(body: &[u8]) -> Result<Value, ScimOrApi> {
    serde_json::from_slice(body).map_err(|e| {
        err(
            400,
            Some(ScimType::InvalidSyntax),
            format!("Malformed JSON: {e}"),
        )
    })
}

/// Validate the draft against the org and write it to the user (new when `uid` is None).
fn commit(
    app: &App,
    db: &mut Db,
    uid: Option<Uuid>,
    d: Draft,
    client: &str,
) -> Result<Uuid, ScimOrApi> {
    let now = app.now_ms();
    let user_name = d
        .user_name
        .clone()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid_value("userName is required"))?;
    let display_name = d
        .display_name
        .clone()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| invalid_value("displayName is required"))?;
    if !user_name.contains('@') {
        return Err(invalid_value("userName must be an email address"));
    }
    let key = user_name.to_lowercase();
    if let Some(holder) = db.by_email.get(key.as_str())
        && Some(*holder) != uid
        && db
            .users
            .get(holder)
            .is_some_and(|h| h.state != UState::Deleted)
    {
        return Err(err(
            409,
            Some(ScimType::Uniqueness),
            "User name already in use by non-deleted user.",
        ));
    }
    let home = db.home_division().id;
    let mut grants = Vec::new();
    for r in &d.roles {
        let role = db
            .role_by_name(r)
            .ok_or_else(|| invalid_value(format!("Role [{r}] does not exist.")))?;
        if !grants.iter().any(|(x, _)| *x == role.id) {
            grants.push((role.id, home));
        }
    }
    let division = match &d.division {
        Some(n) => {
            db.division_by_name(n)
                .ok_or_else(|| invalid_value(format!("Division [{n}] does not exist.")))?
                .id
        }
        None => home,
    };
    let manager = match &d.manager {
        Some(m) => Some(
            parse_uuid(m)
                .filter(|m| db.users.contains_key(m) && Some(*m) != uid)
                .ok_or_else(|| invalid_value(format!("Manager [{m}] does not exist.")))?,
        ),
        None => None,
    };
    let skills = d
        .skills
        .iter()
        .map(|(n, p)| {
            db.skills
                .iter()
                .find(|s| s.state != UState::Deleted && s.name == *n)
                .map(|s| (s.id, *p as f32))
                .ok_or_else(|| invalid_value(format!("Routing skill [{n}] does not exist.")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let languages = d
        .languages
        .iter()
        .map(|(n, p)| {
            db.languages
                .iter()
                .find(|s| s.state != UState::Deleted && s.name == *n)
                .map(|s| (s.id, *p as f32))
                .ok_or_else(|| invalid_value(format!("Routing language [{n}] does not exist.")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut ext = d.external_ids.clone();
    if let Some(x) = &d.external_id {
        ext.push((SCIM_AUTHORITY.to_owned(), x.clone()));
    }
    for (a, k) in &ext {
        if let Some(h) = db
            .by_external
            .get(&(Box::<str>::from(a.as_str()), Box::<str>::from(k.as_str())))
            && Some(*h) != uid
            && db.users.get(h).is_some_and(|u| u.state != UState::Deleted)
        {
            return Err(err(
                409,
                Some(ScimType::Uniqueness),
                format!("External id [{a}/{k}] is already in use."),
            ));
        }
    }
    let mut addresses = Vec::new();
    for (t, v) in &d.phones {
        addresses.push(crate::db::Contact {
            address: v.as_str().into(),
            media_type: "PHONE".into(),
            kind: t.to_uppercase().into(),
        });
    }
    for e in d.work_emails.iter().take(1) {
        addresses.push(crate::db::Contact {
            address: e.as_str().into(),
            media_type: "EMAIL".into(),
            kind: "WORK".into(),
        });
    }
    let state = if d.active {
        UState::Active
    } else {
        UState::Inactive
    };
    let (id, action, changes) = match uid {
        None => {
            let id = Uuid::new_v4();
            db.insert_user(User {
                id,
                name: display_name.as_str().into(),
                email: user_name.as_str().into(),
                department: None,
                title: None,
                preferred_name: None,
                state,
                version: 0,
                division,
                manager: None,
                modified_ms: now,
                employee_id: None,
                date_hire: None,
                addresses: Vec::new(),
                external_ids: Vec::new(),
                skills: Vec::new(),
                languages: Vec::new(),
                grants: Vec::new(),
                groups: Vec::new(),
            });
            (
                id,
                "Create",
                vec![PropertyChange {
                    property: "userName".into(),
                    old_values: vec![],
                    new_values: vec![user_name.clone()],
                }],
            )
        }
        Some(id) => {
            let u = &db.users[&id];
            let mut ch = Vec::new();
            if *u.email != *user_name {
                ch.push(PropertyChange {
                    property: "userName".into(),
                    old_values: vec![u.email.to_string()],
                    new_values: vec![user_name.clone()],
                });
            }
            if *u.name != *display_name {
                ch.push(PropertyChange {
                    property: "displayName".into(),
                    old_values: vec![u.name.to_string()],
                    new_values: vec![display_name.clone()],
                });
            }
            if u.state != state {
                ch.push(PropertyChange {
                    property: "state".into(),
                    old_values: vec![u.state.as_str().into()],
                    new_values: vec![state.as_str().into()],
                });
            }
            (id, "Update", ch)
        }
    };
    // External ids: drop the old ones not wanted any more, then set the wanted ones.
    let old_ext: Vec<(String, String)> = db.users[&id]
        .external_ids
        .iter()
        .map(|(a, k)| (a.to_string(), k.to_string()))
        .collect();
    for (a, _) in old_ext.iter().filter(|o| !ext.contains(o)) {
        remove_external_id(db, id, a);
    }
    for (a, k) in &ext {
        set_external_id(db, id, a, k)
            .map_err(|e| err(409, Some(ScimType::Uniqueness), e.message))?;
    }
    let old_email = db.users[&id].email.to_lowercase();
    let Some(u) = db.users.get_mut(&id) else {
        return Err(not_found());
    };
    u.name = display_name.into();
    u.email = user_name.into();
    u.title = d.title.map(Into::into);
    u.state = state;
    u.division = division;
    u.department = d.department.map(Into::into);
    u.manager = manager;
    u.employee_id = d.employee_number.map(Into::into);
    u.date_hire = d.date_hire.map(Into::into);
    u.addresses = addresses;
    u.skills = skills;
    u.languages = languages;
    u.grants = grants;
    u.version += 1;
    u.modified_ms = now;
    let name = u.name.to_string();
    if old_email != key {
        if db.by_email.get(old_email.as_str()) == Some(&id) {
            db.by_email.remove(old_email.as_str());
        }
        db.by_email.insert(key.into_boxed_str(), id);
    } else {
        db.by_email.insert(key.into_boxed_str(), id);
    }
    db.user_gen += 1;
    audit(
        db,
        now,
        client,
        "Directory",
        action,
        "User",
        id.to_string(),
        Some(name),
        changes,
    );
    Ok(id)
}

pub async fn user_create(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    body: Bytes,
) -> R {
    let v = parse_body(&body)?;
    let obj = v
        .as_object()
        .ok_or_else(|| invalid_value("The body must be a User resource."))?;
    let mut d = Draft {
        active: true,
        ..Default::default()
    };
    apply_object(&mut d, Op::Replace, obj)?;
    let mut db = app.db.write();
    let id = commit(&app, &mut db, None, d, &c.client_id)?;
    let u = &db.users[&id];
    let mut resp = with_etag(
        scim_json(StatusCode::CREATED, &scim_user(&app, &db, u)),
        u.version,
    );
    if let Ok(l) = HeaderValue::from_str(&user_location(&app, id)) {
        resp.headers_mut().insert(header::LOCATION, l);
    }
    Ok(resp)
}

pub async fn user_put(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> R {
    let v = parse_body(&body)?;
    let obj = v
        .as_object()
        .ok_or_else(|| invalid_value("The body must be a User resource."))?;
    let mut db = app.db.write();
    let uid = find_user(&db, &id)?;
    check_if_match(&headers, db.users[&uid].version)?;
    // PUT replaces what SCIM can set; the user name must be sent again.
    let mut d = Draft {
        active: true,
        external_ids: Draft::from_user(&db, &db.users[&uid]).external_ids,
        ..Default::default()
    };
    apply_object(&mut d, Op::Replace, obj)?;
    commit(&app, &mut db, Some(uid), d, &c.client_id)?;
    let u = &db.users[&uid];
    Ok(with_etag(
        scim_json(StatusCode::OK, &scim_user(&app, &db, u)),
        u.version,
    ))
}

pub async fn user_patch(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> R {
    let v = parse_body(&body)?;
    let ops = patch_ops(&v)?;
    let mut db = app.db.write();
    let uid = find_user(&db, &id)?;
    check_if_match(&headers, db.users[&uid].version)?;
    let mut d = Draft::from_user(&db, &db.users[&uid]);
    for o in &ops {
        let (op, path, value) = parse_op(o)?;
        match path {
            None => {
                let obj = value.as_object().ok_or_else(|| {
                    invalid_value("A PATCH operation without path needs an object value.")
                })?;
                apply_object(&mut d, op, obj)?;
            }
            Some(p) => {
                let (attr, filt, sub) = split_path(&p)?;
                apply_attr(&mut d, op, &attr, filt.as_deref(), sub.as_deref(), &value)?;
            }
        }
    }
    commit(&app, &mut db, Some(uid), d, &c.client_id)?;
    let u = &db.users[&uid];
    Ok(with_etag(
        scim_json(StatusCode::OK, &scim_user(&app, &db, u)),
        u.version,
    ))
}

pub async fn user_delete(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> R {
    let now = app.now_ms();
    let mut db = app.db.write();
    let uid = find_user(&db, &id)?;
    check_if_match(&headers, db.users[&uid].version)?;
    crate::users::soft_delete(&mut db, uid, now, &c.client_id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- groups -----------------------------------------------------------------------------

enum GroupFilter {
    Id(String),
    DisplayName(String),
}

fn parse_group_filter(raw: &str) -> Result<GroupFilter, ScimOrApi> {
    let f = gcprov_scim::filter::parse(raw).map_err(|e| invalid_filter(e.detail))?;
    match f {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } if path.sub_attr.is_none() && urn_is(&path, GROUP_SCHEMA) => {
            match path.attr.to_ascii_lowercase().as_str() {
                "id" => Ok(GroupFilter::Id(comp_str(&value))),
                "displayname" => Ok(GroupFilter::DisplayName(comp_str(&value))),
                _ => Err(invalid_filter(format!(
                    "Filtering on [{raw}] is not supported."
                ))),
            }
        }
        _ => Err(invalid_filter(format!(
            "Filtering on [{raw}] is not supported; only 'eq' filters are."
        ))),
    }
}

fn groups_list_inner(app: &App, raw: Option<String>, filter_required: bool) -> R {
    let q = Query::parse(raw.as_deref());
    let (start, count) = paging(&q)?;
    let filter = match q.get("filter") {
        Some(f) if !f.trim().is_empty() => Some(parse_group_filter(f)?),
        _ if filter_required => return Err(invalid_filter("filter is required")),
        _ => None,
    };
    let db = app.db.read();
    let mut hits: Vec<&Group> = db
        .groups
        .values()
        .filter(|g| match &filter {
            None => true,
            Some(GroupFilter::Id(v)) => g.id.to_string() == *v,
            Some(GroupFilter::DisplayName(v)) => g.name.eq_ignore_ascii_case(v),
        })
        .collect();
    hits.sort_by_key(|a| a.name.to_lowercase());
    let total = hits.len();
    let resources = hits
        .into_iter()
        .skip(start - 1)
        .take(count)
        .map(|g| project(scim_group(app, &db, g), &q))
        .collect();
    Ok(list_response(total, start, resources))
}

pub async fn groups_list(State(app): State<App>, RawQuery(raw): RawQuery) -> R {
    groups_list_inner(&app, raw, false)
}

/// In the `/v2/` family `filter` is a required parameter (SDK 269).
pub async fn groups_list_v2(State(app): State<App>, RawQuery(raw): RawQuery) -> R {
    groups_list_inner(&app, raw, true)
}

fn find_group(db: &Db, id: &str) -> Result<Uuid, ScimOrApi> {
    parse_uuid(id)
        .filter(|i| db.groups.contains_key(i))
        .ok_or_else(not_found)
}

pub async fn group_get(
    State(app): State<App>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> R {
    let q = Query::parse(raw.as_deref());
    let db = app.db.read();
    let gid = find_group(&db, &id)?;
    let g = &db.groups[&gid];
    if if_none_match(&headers, g.version) {
        return Ok(with_etag(
            StatusCode::NOT_MODIFIED.into_response(),
            g.version,
        ));
    }
    Ok(with_etag(
        scim_json(StatusCode::OK, &project(scim_group(&app, &db, g), &q)),
        g.version,
    ))
}

fn member_ids(db: &Db, v: &Value) -> Result<Vec<Uuid>, ScimOrApi> {
    multi(v)
        .iter()
        .map(|m| {
            let id = m
                .get("value")
                .and_then(Value::as_str)
                .or(m.as_str())
                .unwrap_or("");
            parse_uuid(id)
                .filter(|u| db.users.get(u).is_some_and(|u| u.state != UState::Deleted))
                .ok_or_else(|| invalid_value(format!("Member [{id}] is not a user.")))
        })
        .collect()
}

/// Apply a group change: new name and/or member list.
fn commit_group(
    app: &App,
    db: &mut Db,
    gid: Uuid,
    name: Option<String>,
    members: Option<Vec<Uuid>>,
    // `None`: unchanged; `Some(None)`: removed; `Some(Some(x))`: set.
    external_id: Option<Option<String>>,
    client: &str,
) -> Result<(), ScimOrApi> {
    let now = app.now_ms();
    if let Some(n) = &name
        && db
            .groups
            .values()
            .any(|g| g.id != gid && g.name.eq_ignore_ascii_case(n))
    {
        return Err(err(
            409,
            Some(ScimType::Uniqueness),
            format!("A group named [{n}] already exists."),
        ));
    }
    let mut changes = Vec::new();
    if let Some(want) = members {
        let cur = db.groups[&gid].members.clone();
        let add: Vec<Uuid> = want.iter().filter(|m| !cur.contains(m)).copied().collect();
        let rem: Vec<Uuid> = cur.iter().filter(|m| !want.contains(m)).copied().collect();
        if !add.is_empty() || !rem.is_empty() {
            changes.push(PropertyChange {
                property: "members".into(),
                old_values: rem.iter().map(Uuid::to_string).collect(),
                new_values: add.iter().map(Uuid::to_string).collect(),
            });
        }
        crate::groups::remove_members(db, gid, &rem);
        crate::groups::add_members(db, gid, &add);
    }
    let Some(g) = db.groups.get_mut(&gid) else {
        return Err(not_found());
    };
    if let Some(n) = name {
        if n != g.name {
            changes.push(PropertyChange {
                property: "name".into(),
                old_values: vec![g.name.clone()],
                new_values: vec![n.clone()],
            });
        }
        g.name = n;
    }
    if let Some(x) = external_id
        && x != g.external_id
    {
        changes.push(PropertyChange {
            property: "externalId".into(),
            old_values: g.external_id.iter().cloned().collect(),
            new_values: x.iter().cloned().collect(),
        });
        g.external_id = x;
    }
    g.version += 1;
    g.modified_ms = now;
    let n = g.name.clone();
    audit(
        db,
        now,
        client,
        "Directory",
        "Update",
        "Group",
        gid.to_string(),
        Some(n),
        changes,
    );
    Ok(())
}

pub async fn group_put(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> R {
    let v = parse_body(&body)?;
    let mut db = app.db.write();
    let gid = find_group(&db, &id)?;
    check_if_match(&headers, db.groups[&gid].version)?;
    let name = v
        .get("displayName")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| invalid_value("displayName is required"))?
        .to_owned();
    let members = member_ids(&db, v.get("members").unwrap_or(&Value::Null))?;
    // PUT replaces the resource: an absent externalId clears it.
    let external_id = as_opt_string(v.get("externalId").unwrap_or(&Value::Null), "externalId")?;
    commit_group(
        &app,
        &mut db,
        gid,
        Some(name),
        Some(members),
        Some(external_id),
        &c.client_id,
    )?;
    let g = &db.groups[&gid];
    Ok(with_etag(
        scim_json(StatusCode::OK, &scim_group(&app, &db, g)),
        g.version,
    ))
}

pub async fn group_patch(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> R {
    let v = parse_body(&body)?;
    let ops = patch_ops(&v)?;
    let mut db = app.db.write();
    let gid = find_group(&db, &id)?;
    check_if_match(&headers, db.groups[&gid].version)?;
    let mut name: Option<String> = None;
    let mut external_id: Option<Option<String>> = None;
    let mut members = db.groups[&gid].members.clone();
    let before = members.clone();
    for o in &ops {
        let (op, path, value) = parse_op(o)?;
        let (attr, filt, _) = match &path {
            Some(p) => split_path(p)?,
            None => (String::new(), None, None),
        };
        match (attr.as_str(), op) {
            ("", _) => {
                let obj = value.as_object().ok_or_else(|| {
                    invalid_value("A PATCH operation without path needs an object value.")
                })?;
                for (k, x) in obj {
                    match k.to_lowercase().as_str() {
                        "displayname" => name = x.as_str().map(String::from),
                        "externalid" => external_id = Some(as_opt_string(x, "externalId")?),
                        "members" => {
                            let ids = member_ids(&db, x)?;
                            if op == Op::Replace {
                                members = ids;
                            } else {
                                members.extend(ids.into_iter().filter(|i| !before.contains(i)));
                            }
                        }
                        "id" | "schemas" | "meta" => {}
                        other => {
                            return Err(err(
                                400,
                                Some(ScimType::InvalidPath),
                                format!("Attribute [{other}] is not supported."),
                            ));
                        }
                    }
                }
            }
            ("displayname", Op::Remove) => {
                return Err(err(
                    400,
                    Some(ScimType::Mutability),
                    "displayName cannot be removed",
                ));
            }
            ("displayname", _) => {
                name = Some(
                    as_opt_string(&value, "displayName")?
                        .ok_or_else(|| invalid_value("displayName is required"))?,
                )
            }
            ("externalid", Op::Remove) => external_id = Some(None),
            ("externalid", _) => external_id = Some(as_opt_string(&value, "externalId")?),
            ("members", Op::Remove) => match filt {
                Some(f) => members.retain(|m| m.to_string() != f),
                None if value.is_null() => members.clear(),
                None => {
                    let ids: Vec<String> = multi(&value)
                        .iter()
                        .filter_map(|m| m.get("value").and_then(Value::as_str).map(String::from))
                        .collect();
                    members.retain(|m| !ids.contains(&m.to_string()));
                }
            },
            ("members", Op::Add) => {
                for m in member_ids(&db, &value)? {
                    if !members.contains(&m) {
                        members.push(m);
                    }
                }
            }
            ("members", Op::Replace) => members = member_ids(&db, &value)?,
            (other, _) => {
                return Err(err(
                    400,
                    Some(ScimType::InvalidPath),
                    format!("Attribute [{other}] is not supported."),
                ));
            }
        }
    }
    commit_group(
        &app,
        &mut db,
        gid,
        name,
        Some(members),
        external_id,
        &c.client_id,
    )?;
    let g = &db.groups[&gid];
    Ok(with_etag(
        scim_json(StatusCode::OK, &scim_group(&app, &db, g)),
        g.version,
    ))
}

// ---- discovery --------------------------------------------------------------------------

pub async fn service_provider_config(State(app): State<App>) -> Response {
    // Values Genesys does not publish are given conservatively: only what the emulator
    // implements is `supported`; filter.maxResults is the page maximum (25).
    scim_json(
        StatusCode::OK,
        &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "documentationUri": "https://help.mypurecloud.com/articles/about-genesys-cloud-scim-identity-management/",
            "patch": {"supported": true},
            "filter": {"supported": true, "maxResults": 25},
            "etag": {"supported": true},
            "sort": {"supported": false},
            "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
            "changePassword": {"supported": false},
            "authenticationSchemes": [{"name": "OAuth Bearer Token", "description": "Authentication scheme using the OAuth Bearer Token standard", "specUri": "https://tools.ietf.org/html/rfc6750", "type": "oauthbearertoken", "primary": true}],
            "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{}/api/v2/scim/v2/serviceproviderconfig", app.base_url)},
        }),
    )
}

fn resource_type_json(app: &App, name: &str) -> Option<Value> {
    let (schema, endpoint, ext): (&str, &str, Vec<Value>) = match name.to_ascii_lowercase().as_str()
    {
        "user" => (
            USER_SCHEMA,
            "/Users",
            vec![
                json!({"schema": ENTERPRISE, "required": false}),
                json!({"schema": GENESYS, "required": false}),
            ],
        ),
        "group" => (GROUP_SCHEMA, "/Groups", vec![]),
        _ => return None,
    };
    let n = if schema == USER_SCHEMA {
        "User"
    } else {
        "Group"
    };
    Some(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": n, "name": n, "description": n, "endpoint": endpoint, "schema": schema, "schemaExtensions": ext,
        "meta": {"resourceType": "ResourceType", "location": format!("{}/api/v2/scim/v2/resourcetypes/{n}", app.base_url)},
    }))
}

pub async fn resource_types(State(app): State<App>) -> Response {
    let items: Vec<Value> = ["User", "Group"]
        .iter()
        .filter_map(|n| resource_type_json(&app, n))
        .collect();
    list_response(items.len(), 1, items)
}

pub async fn resource_type(State(app): State<App>, Path(name): Path<String>) -> R {
    resource_type_json(&app, &name)
        .map(|v| scim_json(StatusCode::OK, &v))
        .ok_or_else(not_found)
}

fn attr(name: &str, ty: &str, multi: bool, required: bool, mutability: &str) -> Value {
    json!({"name": name, "type": ty, "multiValued": multi, "description": name, "required": required, "caseExact": false, "mutability": mutability, "returned": "default", "uniqueness": if name == "userName" { "server" } else { "none" }})
}

fn schema_json(app: &App, id: &str) -> Option<Value> {
    let (name, attrs) = match id {
        USER_SCHEMA => (
            "User",
            vec![
                attr("userName", "string", false, true, "readWrite"),
                attr("displayName", "string", false, true, "readWrite"),
                attr("active", "boolean", false, false, "readWrite"),
                attr("title", "string", false, false, "readWrite"),
                attr("emails", "complex", true, false, "readWrite"),
                attr("phoneNumbers", "complex", true, false, "readWrite"),
                attr("externalId", "string", false, false, "readWrite"),
                attr("groups", "complex", true, false, "readOnly"),
                attr("roles", "complex", true, false, "readWrite"),
                attr("password", "string", false, false, "writeOnly"),
            ],
        ),
        GROUP_SCHEMA => (
            "Group",
            vec![
                attr("displayName", "string", false, true, "readWrite"),
                attr("externalId", "string", false, false, "readWrite"),
                attr("members", "complex", true, false, "readWrite"),
            ],
        ),
        ENTERPRISE => (
            "EnterpriseUser",
            vec![
                attr("division", "string", false, false, "readWrite"),
                attr("department", "string", false, false, "readWrite"),
                attr("manager", "complex", false, false, "readWrite"),
                attr("employeeNumber", "string", false, false, "readWrite"),
                attr("dateHire", "string", false, false, "readWrite"),
            ],
        ),
        GENESYS => (
            "GenesysUser",
            vec![
                attr("routingSkills", "complex", true, false, "readWrite"),
                attr("routingLanguages", "complex", true, false, "readWrite"),
                attr("externalIds", "complex", true, false, "readWrite"),
            ],
        ),
        _ => return None,
    };
    Some(
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"], "id": id, "name": name, "description": name, "attributes": attrs, "meta": {"resourceType": "Schema", "location": format!("{}/api/v2/scim/v2/schemas/{id}", app.base_url)}}),
    )
}

pub async fn schemas(State(app): State<App>, RawQuery(raw): RawQuery) -> R {
    let q = Query::parse(raw.as_deref());
    if q.get("filter").is_some() {
        // "Filtered results are invalid and return 403 Unauthorized."
        return Err(err(403, None, "Filtered results are invalid."));
    }
    let items: Vec<Value> = [USER_SCHEMA, GROUP_SCHEMA, ENTERPRISE, GENESYS]
        .iter()
        .filter_map(|s| schema_json(&app, s))
        .collect();
    Ok(list_response(items.len(), 1, items))
}

pub async fn schema(State(app): State<App>, Path(id): Path<String>) -> R {
    schema_json(&app, &id)
        .map(|v| scim_json(StatusCode::OK, &v))
        .ok_or_else(not_found)
}
