//! `POST /api/v2/audits/query/realtime`.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::db::Audit;
use crate::error::ApiError;
use crate::server::App;
use crate::util::{Page, iso, ok, parse_iso, parse_json};

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

pub async fn realtime(State(app): State<App>, body: Bytes) -> Result<Response, ApiError> {
    let req: RealtimeIn = parse_json(&body)?;
    let interval = req
        .interval
        .ok_or_else(|| ApiError::invalid_value("interval", "interval is required"))?;
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
    let page = Page::check(
        req.page_size.unwrap_or(25),
        req.page_number.unwrap_or(1),
        500,
    )?;
    let mut filters = Vec::new();
    for f in req.filters {
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
    let desc = req.sort.iter().any(|s| {
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
            req.service_name
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
    let total = hits.len();
    let entities: Vec<Value> = page
        .slice(&hits)
        .into_iter()
        .map(|a| audit_json(a, &org))
        .collect();
    Ok(ok(
        json!({"entities": entities, "pageSize": page.size, "pageNumber": page.number, "total": total, "pageCount": page.page_count(total)}),
    ))
}
