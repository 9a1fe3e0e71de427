//! Audits: `POST /api/v2/audits/query/realtime` and the asynchronous `POST /api/v2/audits/query`.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::db::Audit;
use crate::error::ApiError;
use crate::server::App;
use crate::util::{Page, Query, iso, ok, parse_iso, parse_json};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RealtimeIn {
    interval: Option<String>,
    service_name: Option<String>,
    #[serde(default)]
    filters: Vec<FilterIn>,
    #[serde(default)]
    sort: Vec<SortIn>,
    page_number: Option<i64>,
    page_size: Option<i64>,
}

#[derive(Deserialize)]
struct FilterIn {
    property: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SortIn {
    name: Option<String>,
    sort_order: Option<String>,
}

pub fn audit_json(a: &Audit, org: &str) -> Value {
    let mut entity = json!({"id": a.entity_id});
    if let (Some(n), Some(m)) = (&a.entity_name, entity.as_object_mut()) {
        m.insert("name".into(), json!(n));
    }
    json!({
        "id": a.id,
        "userHomeOrgId": org,
        "client": {"id": a.client_id, "selfUri": format!("/api/v2/oauth/clients/{}", a.client_id)},
        "remoteIp": ["127.0.0.1"],
        "serviceName": a.service_name,
        "level": "USER",
        "eventDate": iso(a.date_ms),
        "action": a.action,
        "entity": entity,
        "entityType": a.entity_type,
        "status": "SUCCESS",
        "propertyChanges": a.changes.iter().map(|c| json!({"property": c.property, "oldValues": c.old_values, "newValues": c.new_values})).collect::<Vec<_>>(),
        "context": {},
    })
}

/// Validate a query and render every matching audit entry (oldest first unless sorted
/// descending).
fn select(
    app: &App,
    interval: Option<String>,
    service_name: Option<String>,
    filters_in: Vec<FilterIn>,
    sort: &[SortIn],
) -> Result<Vec<Value>, ApiError> {
    let interval =
        interval.ok_or_else(|| ApiError::invalid_value("interval", "interval is required"))?;
    let bad_date = || {
        ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid.date",
            "Dates must be specified as ISO-8601 strings. For example: yyyy-MM-ddTHH:mm:ss.SSSZ",
        )
    };
    let (s, e) = interval.split_once('/').ok_or_else(bad_date)?;
    let (start, end) = (
        parse_iso(s).ok_or_else(bad_date)?,
        parse_iso(e).ok_or_else(bad_date)?,
    );
    if end < start {
        return Err(ApiError::bad_request(
            "The interval end is before its start.",
        ));
    }
    let mut filters = Vec::new();
    for f in filters_in {
        let p = f
            .property
            .ok_or_else(|| ApiError::invalid_value("property", "filter property is required"))?;
        let v = f
            .value
            .ok_or_else(|| ApiError::invalid_value("value", "filter value is required"))?;
        if !matches!(
            p.as_str(),
            "UserId" | "TrusteeOrganizationId" | "ClientId" | "Action" | "EntityType" | "EntityId"
        ) {
            return Err(ApiError::invalid_value(
                "property",
                format!(
                    "Value [{p}] is not valid for field type [property]. Allowable values are: UserId, TrusteeOrganizationId, ClientId, Action, EntityType, EntityId"
                ),
            ));
        }
        filters.push((p, v));
    }
    let desc = sort.iter().any(|s| {
        s.sort_order.as_deref() == Some("descending")
            && s.name.as_deref().is_none_or(|n| n == "Timestamp")
    });
    let db = app.db.read();
    let org = db.org_id.to_string();
    let mut hits: Vec<&Audit> = db
        .audits
        .iter()
        .filter(|a| a.date_ms >= start && a.date_ms < end)
        .filter(|a| {
            service_name
                .as_deref()
                .is_none_or(|s| s.eq_ignore_ascii_case(a.service_name))
        })
        .filter(|a| {
            filters.iter().all(|(p, v)| match p.as_str() {
                "ClientId" => a.client_id == *v,
                "Action" => a.action.eq_ignore_ascii_case(v),
                "EntityType" => a.entity_type.eq_ignore_ascii_case(v),
                "EntityId" => a.entity_id == *v,
                // Client-credentials callers have no user; trustee orgs are not emulated.
                _ => false,
            })
        })
        .collect();
    if desc {
        hits.reverse();
    }
    Ok(hits.into_iter().map(|a| audit_json(a, &org)).collect())
}

pub async fn realtime(State(app): State<App>, body: Bytes) -> Result<Response, ApiError> {
    let req: RealtimeIn = parse_json(&body)?;
    let page = Page::check(
        req.page_size.unwrap_or(25),
        req.page_number.unwrap_or(1),
        500,
    )?;
    let all = select(&app, req.interval, req.service_name, req.filters, &req.sort)?;
    let total = all.len();
    let entities = page.slice(&all);
    Ok(ok(
        json!({"entities": entities, "pageSize": page.size, "pageNumber": page.number, "total": total, "pageCount": page.page_count(total)}),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryIn {
    interval: Option<String>,
    service_name: Option<String>,
    #[serde(default)]
    filters: Vec<FilterIn>,
    #[serde(default)]
    sort: Vec<SortIn>,
}

/// A finished asynchronous audit query: its status body and the matching entries.
pub struct StoredQuery {
    status: Value,
    entities: Vec<Value>,
}

/// At most this many asynchronous queries are kept (oldest dropped).
const MAX_QUERIES: usize = 100;

/// `POST /api/v2/audits/query`: answered 202 `Queued` (so clients exercise their polling); the
/// result is computed at once and `GET …/{transactionId}` reports `Succeeded`.
pub async fn query(State(app): State<App>, body: Bytes) -> Result<Response, ApiError> {
    let req: QueryIn = parse_json(&body)?;
    let interval = req.interval.clone();
    let service = req.service_name.clone();
    let filters: Vec<Value> = req
        .filters
        .iter()
        .map(|f| json!({"property": f.property, "value": f.value}))
        .collect();
    let entities = select(&app, req.interval, req.service_name, req.filters, &req.sort)?;
    let id = uuid::Uuid::new_v4();
    let mut status = json!({"id": id, "state": "Queued", "startDate": iso(app.now_ms()), "interval": interval, "filters": filters});
    if let (Some(s), Some(m)) = (service, status.as_object_mut()) {
        m.insert("serviceName".into(), json!(s));
    }
    let answer = status.clone();
    if let Some(m) = status.as_object_mut() {
        m.insert("state".into(), json!("Succeeded"));
    }
    let mut q = app.audit_queries.lock();
    if q.len() >= MAX_QUERIES {
        q.remove(0);
    }
    q.push((id, StoredQuery { status, entities }));
    Ok(crate::util::status_ok(
        axum::http::StatusCode::ACCEPTED,
        answer,
    ))
}

pub async fn query_status(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let q = app.audit_queries.lock();
    let (_, s) = q
        .iter()
        .find(|(i, _)| i.to_string() == id)
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(s.status.clone()))
}

/// Results by cursor (the cursor is the offset of the next page); `pageSize` default 25, max 500.
pub async fn query_results(
    State(app): State<App>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let qs = Query::parse(raw.as_deref());
    let size = qs.int("pageSize", 25)?;
    if !(1..=500).contains(&size) {
        return Err(ApiError::invalid_value(
            "pageSize",
            "pageSize must be between 1 and 500",
        ));
    }
    let offset: usize = match qs.get("cursor") {
        None | Some("") => 0,
        Some(c) => c
            .parse()
            .map_err(|_| ApiError::invalid_value("cursor", "The cursor is not valid."))?,
    };
    let q = app.audit_queries.lock();
    let (qid, s) = q
        .iter()
        .find(|(i, _)| i.to_string() == id)
        .ok_or_else(ApiError::not_found)?;
    let page: Vec<Value> = s
        .entities
        .iter()
        .skip(offset)
        .take(size as usize)
        .cloned()
        .collect();
    let next = offset + page.len();
    let mut v = json!({"id": qid, "pageSize": size, "entities": page});
    if next < s.entities.len()
        && let Some(m) = v.as_object_mut()
    {
        m.insert("cursor".into(), json!(next.to_string()));
    }
    Ok(ok(v))
}
