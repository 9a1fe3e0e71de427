//! The HTTP front: routes, authentication, request ids, metrics, `/Bulk`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use gcprov_scim::ScimType;
use gcprov_scim::etag::{self, ETag};
use gcprov_scim::schema::{resource_types_body, schemas_body};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{Value, json};

use crate::auth::{Authenticator, Caller, Role};
use crate::error::GwError;
use crate::idempotency::{self, Idempotency};
use crate::readiness::Readiness;
use crate::schema;
use crate::service::{Ctx, Kind, ListParams, Reply, Service};

pub const SCIM_JSON: &str = "application/scim+json";

#[derive(Clone)]
pub(crate) struct AppState {
    pub svc: Arc<Service>,
    pub auth: Arc<Authenticator>,
    pub metrics: PrometheusHandle,
    pub idempotency: Arc<Idempotency>,
    pub readiness: Arc<Readiness>,
}

#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub String);

fn scim_json(status: StatusCode, body: &Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    r
}

impl IntoResponse for GwError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.scim.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut r = scim_json(status, &self.scim.to_body());
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"gcprov\""),
            );
        }
        r
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        let mut r = match &self.body {
            Some(b) => scim_json(status, b),
            None => status.into_response(),
        };
        if let Some(e) = self
            .etag
            .as_deref()
            .and_then(|e| HeaderValue::from_str(e).ok())
        {
            r.headers_mut().insert(header::ETAG, e);
        }
        if self.status == 201
            && let Some(l) = self
                .location
                .as_deref()
                .and_then(|l| HeaderValue::from_str(l).ok())
        {
            r.headers_mut().insert(header::LOCATION, l);
        }
        r
    }
}

fn params(q: &HashMap<String, String>) -> ListParams {
    let get = |k: &str| {
        q.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    ListParams {
        filter: get("filter"),
        sort_by: get("sortBy"),
        sort_order: get("sortOrder"),
        start_index: get("startIndex"),
        count: get("count"),
        attributes: get("attributes"),
        excluded_attributes: get("excludedAttributes"),
    }
}

fn search_params(body: &Value) -> ListParams {
    let s = |k: &str| -> Option<String> {
        let v = body
            .as_object()?
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))?
            .1;
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Array(a) => Some(
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            _ => None,
        }
    };
    ListParams {
        filter: s("filter"),
        sort_by: s("sortBy"),
        sort_order: s("sortOrder"),
        start_index: s("startIndex"),
        count: s("count"),
        attributes: s("attributes"),
        excluded_attributes: s("excludedAttributes"),
    }
}

fn parse_body(b: &Bytes) -> Result<Value, GwError> {
    if b.is_empty() {
        return Err(GwError::bad(
            ScimType::InvalidSyntax,
            "the request body is empty",
        ));
    }
    serde_json::from_slice(b)
        .map_err(|e| GwError::bad(ScimType::InvalidSyntax, format!("malformed JSON: {e}")))
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn ctx(caller: &Caller, rid: &RequestId) -> Ctx {
    Ctx {
        caller: caller.clone(),
        request_id: rid.0.clone(),
    }
}

fn kind_of(seg: &str) -> Option<Kind> {
    if seg.eq_ignore_ascii_case("users") {
        Some(Kind::User)
    } else if seg.eq_ignore_ascii_case("groups") {
        Some(Kind::Group)
    } else {
        None
    }
}

// ---------------------------------------------------------------------------- middleware

/// Request id (from `X-Request-Id` / `client-request-id`, or new), JSON log line, metrics.
async fn request_id(mut req: Request, next: Next) -> Response {
    let given = ["x-request-id", "client-request-id"]
        .iter()
        .find_map(|h| header_str(req.headers(), h))
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map(str::to_string);
    let id = given.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().to_string();
    let route = route_label(req.uri().path());
    let start = Instant::now();
    let mut resp = next.run(req).await;
    let elapsed = start.elapsed();
    let status = resp.status().as_u16();
    metrics::counter!("gcprov_gateway_requests_total", "route" => route.clone(), "method" => method.clone(), "status" => status.to_string()).increment(1);
    metrics::histogram!("gcprov_gateway_request_duration_seconds", "route" => route.clone())
        .record(elapsed.as_secs_f64());
    tracing::info!(request_id = %id, method = %method, route = %route, status, elapsed_ms = elapsed.as_secs_f64() * 1000.0, "request");
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// A low-cardinality route label: ids replaced by `{id}`.
fn route_label(path: &str) -> String {
    let segs: Vec<&str> = path.split('/').collect();
    let mut out = Vec::with_capacity(segs.len());
    for (i, s) in segs.iter().enumerate() {
        let prev = if i > 0 { segs[i - 1] } else { "" };
        if i >= 4
            && (kind_of(prev).is_some()
                || prev.eq_ignore_ascii_case("schemas")
                || prev.eq_ignore_ascii_case("resourcetypes"))
            && *s != ".search"
        {
            out.push("{id}".to_string());
        } else {
            out.push(s.to_string());
        }
    }
    out.join("/")
}

async fn authenticate(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    match st
        .auth
        .authenticate(header_str(req.headers(), "authorization"))
        .await
    {
        Ok(c) => {
            req.extensions_mut().insert(c);
            next.run(req).await
        }
        Err(_) => {
            metrics::counter!("gcprov_gateway_auth_failures_total").increment(1);
            GwError::new(401, None, "Authentication required").into_response()
        }
    }
}

/// Runs the request in a `CallRecorder` scope: every Genesys HTTP attempt it makes (method,
/// path, status, correlation id, attempt) reaches its audit entries (`Service::audit` takes
/// them).
async fn record_calls(req: Request, next: Next) -> Response {
    gcprov_genesys::CallRecorder::new()
        .scope(next.run(req))
        .await
}

// ---------------------------------------------------------------------------- handlers

type Q = Query<HashMap<String, String>>;

async fn list(
    State(st): State<AppState>,
    Path(res): Path<String>,
    Extension(c): Extension<Caller>,
    Query(q): Q,
) -> Result<Response, GwError> {
    Service::require(&c, Role::Reader)?;
    let kind = kind_of(&res).ok_or_else(not_found_path)?;
    let v = st.svc.list(&[kind], &params(&q)).await?;
    Ok(scim_json(StatusCode::OK, &v))
}

async fn search(
    State(st): State<AppState>,
    Path(res): Path<String>,
    Extension(c): Extension<Caller>,
    body: Bytes,
) -> Result<Response, GwError> {
    Service::require(&c, Role::Reader)?;
    let kind = kind_of(&res).ok_or_else(not_found_path)?;
    let v = st
        .svc
        .list(&[kind], &search_params(&parse_body(&body)?))
        .await?;
    Ok(scim_json(StatusCode::OK, &v))
}

async fn root_search(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    body: Bytes,
) -> Result<Response, GwError> {
    Service::require(&c, Role::Reader)?;
    let v = st
        .svc
        .list(
            &[Kind::User, Kind::Group],
            &search_params(&parse_body(&body)?),
        )
        .await?;
    Ok(scim_json(StatusCode::OK, &v))
}

async fn create(
    State(st): State<AppState>,
    Path(res): Path<String>,
    Extension(c): Extension<Caller>,
    Extension(rid): Extension<RequestId>,
    Query(q): Q,
    body: Bytes,
) -> Result<Reply, GwError> {
    let kind = kind_of(&res).ok_or_else(not_found_path)?;
    let body = parse_body(&body)?;
    let ctx = ctx(&c, &rid);
    match kind {
        Kind::User => st.svc.create_user(&ctx, body, &params(&q)).await,
        Kind::Group => st.svc.create_group(&ctx, body, &params(&q)).await,
    }
}

async fn get_one(
    State(st): State<AppState>,
    Path((res, id)): Path<(String, String)>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
    Query(q): Q,
) -> Result<Response, GwError> {
    Service::require(&c, Role::Reader)?;
    let kind = kind_of(&res).ok_or_else(not_found_path)?;
    let (v, tag) = st.svc.get(kind, &id, &params(&q)).await?;
    if let Some(h) = header_str(&headers, "if-none-match") {
        let cur = ETag::parse(&tag).ok();
        if !etag::if_none_match(h, cur.as_ref())? {
            let mut r = StatusCode::NOT_MODIFIED.into_response();
            if let Ok(e) = HeaderValue::from_str(&tag) {
                r.headers_mut().insert(header::ETAG, e);
            }
            return Ok(r);
        }
    }
    let mut r = scim_json(StatusCode::OK, &v);
    if let Ok(e) = HeaderValue::from_str(&tag) {
        r.headers_mut().insert(header::ETAG, e);
    }
    Ok(r)
}

async fn put_one(
    State(st): State<AppState>,
    Path((res, id)): Path<(String, String)>,
    Extension(c): Extension<Caller>,
    Extension(rid): Extension<RequestId>,
    headers: HeaderMap,
    Query(q): Q,
    body: Bytes,
) -> Result<Reply, GwError> {
    let kind = kind_of(&res).ok_or_else(not_found_path)?;
    let body = parse_body(&body)?;
    let im = header_str(&headers, "if-match");
    let ctx = ctx(&c, &rid);
    match kind {
        Kind::User => st.svc.replace_user(&ctx, &id, im, body, &params(&q)).await,
        Kind::Group => st.svc.replace_group(&ctx, &id, im, body, &params(&q)).await,
    }
}

async fn patch_one(
    State(st): State<AppState>,
    Path((res, id)): Path<(String, String)>,
    Extension(c): Extension<Caller>,
    Extension(rid): Extension<RequestId>,
    headers: HeaderMap,
    Query(q): Q,
    body: Bytes,
) -> Result<Reply, GwError> {
    let kind = kind_of(&res).ok_or_else(not_found_path)?;
    let body = parse_body(&body)?;
    let im = header_str(&headers, "if-match");
    let ctx = ctx(&c, &rid);
    match kind {
        Kind::User => st.svc.patch_user(&ctx, &id, im, body, &params(&q)).await,
        Kind::Group => st.svc.patch_group(&ctx, &id, im, body, &params(&q)).await,
    }
}

async fn delete_one(
    State(st): State<AppState>,
    Path((res, id)): Path<(String, String)>,
    Extension(c): Extension<Caller>,
    Extension(rid): Extension<RequestId>,
    headers: HeaderMap,
) -> Result<Reply, GwError> {
    let kind = kind_of(&res).ok_or_else(not_found_path)?;
    let im = header_str(&headers, "if-match");
    let ctx = ctx(&c, &rid);
    match kind {
        Kind::User => st.svc.delete_user(&ctx, &id, im).await,
        Kind::Group => st.svc.delete_group(&ctx, &id, im).await,
    }
}

fn not_found_path() -> GwError {
    GwError::new(404, None, "no such endpoint")
}

async fn spc(State(st): State<AppState>) -> Response {
    let c = &st.svc.cfg;
    let v = schema::service_provider_config(
        c.paging.max_count as u32,
        c.bulk.max_operations,
        c.bulk.max_payload_bytes,
    )
    .to_json(&st.svc.base_url);
    scim_json(StatusCode::OK, &v)
}

fn resource_types(org_refs: bool) -> Vec<gcprov_scim::schema::ResourceType> {
    vec![
        schema::user_advertised(org_refs).resource_type.clone(),
        schema::group().resource_type.clone(),
    ]
}

async fn rts(State(st): State<AppState>) -> Response {
    scim_json(
        StatusCode::OK,
        &resource_types_body(
            &resource_types(st.svc.cfg.users.advertise_org_references),
            &st.svc.base_url,
        ),
    )
}

async fn rt(State(st): State<AppState>, Path(id): Path<String>) -> Result<Response, GwError> {
    let t = resource_types(st.svc.cfg.users.advertise_org_references)
        .into_iter()
        .find(|t| t.id.eq_ignore_ascii_case(&id))
        .ok_or_else(|| GwError::new(404, None, "no such resource type"))?;
    Ok(scim_json(StatusCode::OK, &t.to_json(&st.svc.base_url)))
}

async fn schemas(State(st): State<AppState>) -> Response {
    scim_json(
        StatusCode::OK,
        &schemas_body(
            &schema::all_schemas(st.svc.cfg.users.advertise_org_references),
            &st.svc.base_url,
        ),
    )
}

async fn schema_one(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, GwError> {
    let s = schema::all_schemas(st.svc.cfg.users.advertise_org_references)
        .into_iter()
        .find(|s| s.id.eq_ignore_ascii_case(&id))
        .ok_or_else(|| GwError::new(404, None, "no such schema"))?;
    Ok(scim_json(StatusCode::OK, &s.to_json(&st.svc.base_url)))
}

async fn healthz() -> Response {
    (StatusCode::OK, "ok\n").into_response()
}

/// Store and Genesys reachable, read model synced (see `readiness.rs`); 503 naming what failed.
async fn readyz(State(st): State<AppState>) -> Response {
    let synced = st.svc.synced.load(Ordering::SeqCst);
    let (ok, mut body) = st
        .readiness
        .report(&st.svc.store, &st.svc.genesys, synced)
        .await;
    // Informative only: a failed scheduled sync shows here, readiness follows the checks.
    body["lastSyncOk"] = json!(st.svc.genesys_ok.load(Ordering::SeqCst));
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

async fn metrics_route(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
) -> Result<Response, GwError> {
    Service::require(&c, Role::Admin)?;
    if let Ok(counts) = st.svc.store.outbox_counts().await {
        metrics::gauge!("gcprov_gateway_outbox_backlog").set(counts.pending as f64);
    }
    let mut r = (StatusCode::OK, st.metrics.render()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    Ok(r)
}

async fn fallback() -> GwError {
    not_found_path()
}

// ---------------------------------------------------------------------------- bulk

fn substitute(v: &mut Value, ids: &HashMap<String, String>) {
    match v {
        Value::String(s) => {
            if let Some(k) = s.strip_prefix("bulkId:")
                && let Some(id) = ids.get(k)
            {
                *s = id.clone();
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| substitute(x, ids)),
        Value::Object(m) => m.values_mut().for_each(|x| substitute(x, ids)),
        _ => {}
    }
}

async fn bulk(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Extension(rid): Extension<RequestId>,
    body: Bytes,
) -> Result<Response, GwError> {
    Service::require(&c, Role::Provisioner)?;
    let cfg = &st.svc.cfg.bulk;
    if body.len() as u64 > cfg.max_payload_bytes {
        return Err(GwError::new(
            413,
            None,
            format!(
                "the bulk request exceeds maxPayloadSize ({} bytes)",
                cfg.max_payload_bytes
            ),
        ));
    }
    let req = parse_body(&body)?;
    let obj = req
        .as_object()
        .ok_or_else(|| GwError::bad(ScimType::InvalidSyntax, "a BulkRequest must be an object"))?;
    let get = |k: &str| {
        obj.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v)
    };
    let ops = get("Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| GwError::bad(ScimType::InvalidSyntax, "a BulkRequest needs 'Operations'"))?;
    if ops.len() > cfg.max_operations as usize {
        return Err(GwError::new(
            413,
            None,
            format!(
                "the bulk request exceeds maxOperations ({})",
                cfg.max_operations
            ),
        ));
    }
    let fail_on = get("failOnErrors").and_then(Value::as_u64);
    let ctx = ctx(&c, &rid);
    let svc = &st.svc;
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut results = Vec::new();
    let mut errors = 0u64;
    let none = ListParams::default();
    for op in ops {
        if fail_on.is_some_and(|n| errors >= n) {
            break;
        }
        let o = op.as_object();
        let field = |k: &str| {
            o.and_then(|m| {
                m.iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(k))
                    .map(|(_, v)| v.clone())
            })
        };
        let method = field("method")
            .and_then(|v| v.as_str().map(str::to_ascii_uppercase))
            .unwrap_or_default();
        let bulk_id = field("bulkId").and_then(|v| v.as_str().map(str::to_string));
        let version = field("version").and_then(|v| v.as_str().map(str::to_string));
        let mut path_v = field("path").unwrap_or(Value::Null);
        substitute(&mut path_v, &ids);
        let path = path_v.as_str().unwrap_or_default().to_string();
        let mut data = field("data").unwrap_or(Value::Null);
        substitute(&mut data, &ids);
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let unresolved = path.contains("bulkId:") || data.to_string().contains("\"bulkId:");
        let r: Result<Reply, GwError> = if unresolved {
            Err(GwError::bad(
                ScimType::InvalidValue,
                "unresolved bulkId reference",
            ))
        } else {
            match (method.as_str(), segs.as_slice()) {
                ("POST", [res]) => match kind_of(res) {
                    Some(Kind::User) => svc.create_user(&ctx, data, &none).await,
                    Some(Kind::Group) => svc.create_group(&ctx, data, &none).await,
                    None => Err(not_found_path()),
                },
                ("PUT", [res, id]) => match kind_of(res) {
                    Some(Kind::User) => {
                        svc.replace_user(&ctx, id, version.as_deref(), data, &none)
                            .await
                    }
                    Some(Kind::Group) => {
                        svc.replace_group(&ctx, id, version.as_deref(), data, &none)
                            .await
                    }
                    None => Err(not_found_path()),
                },
                ("PATCH", [res, id]) => match kind_of(res) {
                    Some(Kind::User) => {
                        svc.patch_user(&ctx, id, version.as_deref(), data, &none)
                            .await
                    }
                    Some(Kind::Group) => {
                        svc.patch_group(&ctx, id, version.as_deref(), data, &none)
                            .await
                    }
                    None => Err(not_found_path()),
                },
                ("DELETE", [res, id]) => match kind_of(res) {
                    Some(Kind::User) => svc.delete_user(&ctx, id, version.as_deref()).await,
                    Some(Kind::Group) => svc.delete_group(&ctx, id, version.as_deref()).await,
                    None => Err(not_found_path()),
                },
                _ => Err(GwError::bad(
                    ScimType::InvalidSyntax,
                    format!("unsupported bulk operation {method} {path}"),
                )),
            }
        };
        let mut item = serde_json::Map::new();
        item.insert("method".into(), json!(method));
        if let Some(b) = &bulk_id {
            item.insert("bulkId".into(), json!(b));
        }
        match r {
            Ok(reply) => {
                if let (Some(b), Some(id)) = (
                    &bulk_id,
                    reply
                        .body
                        .as_ref()
                        .and_then(|v| v.get("id"))
                        .and_then(Value::as_str),
                ) {
                    ids.insert(b.clone(), id.to_string());
                }
                if let Some(l) = &reply.location {
                    item.insert("location".into(), json!(l));
                }
                if let Some(e) = &reply.etag {
                    item.insert("version".into(), json!(e));
                }
                item.insert("status".into(), json!(reply.status.to_string()));
            }
            Err(e) => {
                errors += 1;
                item.insert("status".into(), json!(e.status().to_string()));
                item.insert("response".into(), e.scim.to_body());
            }
        }
        results.push(Value::Object(item));
    }
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkResponse"], "Operations": results});
    Ok(scim_json(StatusCode::OK, &body))
}

// ---------------------------------------------------------------------------- router

/// Largest request body accepted (the `/Bulk` limit, at least 1 MiB).
pub(crate) fn body_limit(cfg: &crate::config::GatewayConfig) -> usize {
    usize::try_from(cfg.bulk.max_payload_bytes)
        .unwrap_or(usize::MAX)
        .max(1_048_576)
}

pub(crate) fn router(st: AppState, policy: Option<Router>) -> Router {
    let limit = body_limit(&st.svc.cfg);
    let scim = Router::new()
        .route("/Bulk", post(bulk))
        .route("/bulk", post(bulk))
        .route("/.search", post(root_search))
        .route("/{res}", get(list).post(create))
        .route("/{res}/.search", post(search))
        .route(
            "/{res}/{id}",
            get(get_one)
                .put(put_one)
                .patch(patch_one)
                .delete(delete_one),
        )
        .route_layer(middleware::from_fn(record_calls))
        .route_layer(middleware::from_fn_with_state(
            st.clone(),
            idempotency::layer,
        ))
        .route_layer(middleware::from_fn_with_state(st.clone(), authenticate));
    // Discovery endpoints are public (RFC 7644 4 allows it; IdPs read them before auth setup).
    let discovery = Router::new()
        .route("/ServiceProviderConfig", get(spc))
        .route("/serviceproviderconfig", get(spc))
        .route("/ServiceProviderConfigs", get(spc))
        .route("/ResourceTypes", get(rts))
        .route("/resourcetypes", get(rts))
        .route("/ResourceTypes/{id}", get(rt))
        .route("/resourcetypes/{id}", get(rt))
        .route("/Schemas", get(schemas))
        .route("/schemas", get(schemas))
        .route("/Schemas/{id}", get(schema_one))
        .route("/schemas/{id}", get(schema_one));
    let admin = Router::new()
        .route("/metrics", get(metrics_route))
        .route_layer(middleware::from_fn_with_state(st.clone(), authenticate));
    let app: Router = Router::new()
        .nest("/scim/v2", discovery.merge(scim).fallback(fallback))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(admin)
        .fallback(fallback)
        .with_state(st.clone());
    let app = match policy {
        Some(p) => app.merge(p.route_layer(middleware::from_fn_with_state(st, authenticate))),
        None => app,
    };
    app.layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn(request_id))
}
