//! Server: shared state, the accept loop, the request pipeline (correlation id, faults, size and
//! content-type checks, authentication, rate limit, permissions, stats) and the admin routes.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use parking_lot::{Mutex, RwLock};
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::config::{EmulatorConfig, FaultConfig};
use crate::db::Db;
use crate::error::{ApiError, CORRELATION_ID, EmulatorError, oauth_error};
use crate::perms::{Required, required_permissions};
use crate::util::{empty, ok};

/// Who is calling (inserted into request extensions after authentication). No `Debug`: it
/// holds the bearer token.
#[derive(Clone)]
pub struct Caller {
    pub client_id: String,
    pub token: String,
}

#[derive(Clone)]
pub(crate) struct Token {
    pub client_id: String,
    pub expires_ms: i64,
    pub issued_ms: i64,
    pub revoked: bool,
    pub window: i64,
    pub count: u32,
}

pub(crate) struct FaultState {
    pub config: FaultConfig,
    pub rng: rand::rngs::StdRng,
    pub injected: u64,
    pub storm_left: u64,
    pub revoke_countdown: Option<u64>,
}

#[derive(Default)]
pub(crate) struct Stats {
    /// (method route, status, client id, token id) → count
    pub counts: HashMap<(String, u16, Option<String>, Option<String>), u64>,
}

pub(crate) struct Inner {
    pub db: RwLock<Db>,
    pub tokens: Mutex<HashMap<String, Token>>,
    pub rate_limit: RwLock<Option<u32>>,
    pub faults: Mutex<FaultState>,
    pub stats: Mutex<Stats>,
    pub clock_offset_ms: AtomicI64,
    pub base_url: String,
    pub max_request_bytes: usize,
    pub rng_seed: u64,
    pub revocations: AtomicU64,
    /// (user generation, user ids sorted by lower-cased name then id).
    pub name_order: Mutex<(u64, Arc<Vec<uuid::Uuid>>)>,
    /// Asynchronous audit queries (bounded).
    pub audit_queries: Mutex<Vec<(uuid::Uuid, crate::audits::StoredQuery)>>,
}

/// Shared application state.
#[derive(Clone)]
pub(crate) struct App(pub(crate) Arc<Inner>);

impl std::ops::Deref for App {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl App {
    /// The emulator clock: wall clock plus the offset tests add to make expiry observable.
    pub fn now_ms(&self) -> i64 {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        wall.saturating_add(self.clock_offset_ms.load(Ordering::Relaxed))
    }

    pub(crate) fn set_faults(&self, config: FaultConfig) {
        let mut f = self.faults.lock();
        f.rng = rand::rngs::StdRng::seed_from_u64(config.seed.unwrap_or(self.rng_seed));
        f.storm_left = config
            .rate_limit_storm
            .as_ref()
            .map(|s| s.requests)
            .unwrap_or(0);
        f.revoke_countdown = config.revoke_tokens_after_requests;
        f.injected = 0;
        f.config = config;
    }

    pub(crate) fn revoke_all_tokens(&self) -> usize {
        let mut t = self.tokens.lock();
        let mut n = 0;
        for tok in t.values_mut() {
            if !tok.revoked {
                tok.revoked = true;
                n += 1;
            }
        }
        n
    }

    pub(crate) fn stats_json(&self) -> Value {
        let s = self.stats.lock();
        let mut by_route: HashMap<String, u64> = HashMap::new();
        let mut by_status: HashMap<String, u64> = HashMap::new();
        let mut by_token: HashMap<String, u64> = HashMap::new();
        let mut by_client: HashMap<String, u64> = HashMap::new();
        let mut total = 0;
        let mut entries = Vec::new();
        for ((route, status, client, token), n) in &s.counts {
            total += n;
            *by_route.entry(route.clone()).or_default() += n;
            *by_status.entry(status.to_string()).or_default() += n;
            if let Some(t) = token {
                *by_token.entry(t.clone()).or_default() += n;
            }
            if let Some(c) = client {
                *by_client.entry(c.clone()).or_default() += n;
            }
            entries.push(json!({"route": route, "status": status, "clientId": client, "tokenId": token, "count": n}));
        }
        entries.sort_by(|a, b| {
            a["route"]
                .as_str()
                .cmp(&b["route"].as_str())
                .then(a["status"].as_u64().cmp(&b["status"].as_u64()))
        });
        json!({
            "totalRequests": total,
            "byRoute": by_route,
            "byStatus": by_status,
            "byToken": by_token,
            "byClient": by_client,
            "entries": entries,
        })
    }
}

/// Token id shown in stats: the first 8 characters of the access token.
pub fn token_id(token: &str) -> String {
    token.chars().take(8).collect()
}

/// Marker: close the connection without answering.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DropConnection;

#[derive(Debug)]
struct Dropped;
impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}
impl std::error::Error for Dropped {}

/// A running emulator.
pub struct EmulatorHandle {
    pub(crate) app: App,
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) admin_client_id: String,
    pub(crate) admin_client_secret: String,
    pub(crate) stop: tokio::sync::watch::Sender<bool>,
    pub(crate) task: tokio::task::JoinHandle<()>,
}

impl EmulatorHandle {
    /// `http://127.0.0.1:PORT`: serves both the login routes and the API routes.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.addr
    }
    pub fn admin_client_id(&self) -> &str {
        &self.admin_client_id
    }
    pub fn admin_client_secret(&self) -> &str {
        &self.admin_client_secret
    }
    /// Move the emulator clock forward (token expiry and rate-limit windows follow it).
    pub fn advance_clock(&self, by: std::time::Duration) {
        self.app
            .clock_offset_ms
            .fetch_add(by.as_millis() as i64, Ordering::Relaxed);
    }
    pub fn set_rate_limit_per_minute(&self, limit: Option<u32>) {
        *self.app.rate_limit.write() = limit;
    }
    pub fn set_faults(&self, faults: FaultConfig) -> Result<(), EmulatorError> {
        faults.validate()?;
        self.app.set_faults(faults);
        Ok(())
    }
    /// Revoke every token issued so far; returns how many were live.
    pub fn revoke_all_tokens(&self) -> usize {
        self.app.revoke_all_tokens()
    }
    /// The same JSON as `GET /emulator/stats`.
    pub fn stats(&self) -> Value {
        self.app.stats_json()
    }
    pub fn reset_stats(&self) {
        self.app.stats.lock().counts.clear();
    }
    /// Number of users in every state.
    pub fn user_count(&self) -> usize {
        self.app.db.read().users.len()
    }
    /// Stop accepting connections and close open ones.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Entry point.
pub struct Emulator;

impl Emulator {
    pub async fn start(config: EmulatorConfig) -> Result<EmulatorHandle, EmulatorError> {
        config.faults.validate()?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| EmulatorError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let addr = listener
            .local_addr()
            .map_err(|e| EmulatorError::Io(e.to_string()))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let seed = config.seed.clone().unwrap_or_default();
        let db = Db::build(
            &seed,
            &config.admin_client_id,
            &config.admin_client_secret,
            config.generate_users,
            config.rng_seed,
            now,
        )?;
        let app = App(Arc::new(Inner {
            db: RwLock::new(db),
            tokens: Mutex::new(HashMap::new()),
            rate_limit: RwLock::new(config.rate_limit_per_minute),
            faults: Mutex::new(FaultState {
                config: FaultConfig::default(),
                rng: rand::rngs::StdRng::seed_from_u64(config.rng_seed),
                injected: 0,
                storm_left: 0,
                revoke_countdown: None,
            }),
            stats: Mutex::new(Stats::default()),
            clock_offset_ms: AtomicI64::new(0),
            base_url: format!("http://{addr}"),
            max_request_bytes: config.max_request_bytes,
            rng_seed: config.rng_seed,
            revocations: AtomicU64::new(0),
            name_order: Mutex::new((u64::MAX, Arc::new(Vec::new()))),
            audit_queries: Mutex::new(Vec::new()),
        }));
        app.set_faults(config.faults.clone());
        let router = router(app.clone());
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let _ = stream.set_nodelay(true);
                        let router = router.clone();
                        conns.spawn(serve_connection(stream, router));
                    }
                    _ = stopped.changed() => break,
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
            conns.abort_all();
            while conns.join_next().await.is_some() {}
        });
        Ok(EmulatorHandle {
            app,
            addr,
            admin_client_id: config.admin_client_id,
            admin_client_secret: config.admin_client_secret,
            stop,
            task,
        })
    }
}

async fn serve_connection(stream: tokio::net::TcpStream, router: Router) {
    use tower::ServiceExt;
    let io = hyper_util::rt::TokioIo::new(stream);
    let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let router = router.clone();
        async move {
            let resp = match router.oneshot(req.map(Body::new)).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            if resp.extensions().get::<DropConnection>().is_some() {
                return Err(Dropped);
            }
            Ok::<_, Dropped>(resp)
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, svc)
        .await;
}

fn router(app: App) -> Router {
    let api = crate::routes::api_routes()
        .route("/oauth/token", post(login))
        .route(
            "/api/v2/tokens/me",
            get(token_me).head(token_head).delete(token_delete),
        )
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(app.clone(), pipeline));
    let admin = Router::new()
        .route("/emulator/stats", get(admin_stats))
        .route("/emulator/stats/reset", post(admin_stats_reset))
        .route(
            "/emulator/faults",
            get(admin_faults_get)
                .put(admin_faults_put)
                .delete(admin_faults_delete),
        )
        .route("/emulator/tokens/revoke-all", post(admin_revoke_all))
        .route("/emulator/clock/advance", post(admin_clock_advance))
        .route("/emulator/rate-limit", put(admin_rate_limit))
        .route(
            "/emulator/health",
            get(|| async { ok(json!({"status": "ok"})) }),
        )
        .route("/emulator/users/count", get(admin_user_count))
        .layer(axum::middleware::from_fn(admin_headers));
    admin.merge(api).with_state(app)
}

async fn fallback() -> ApiError {
    ApiError::not_found()
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method.not.allowed",
        "HTTP method not allowed for this resource.",
    )
}

async fn admin_headers(req: Request, next: Next) -> Response {
    let corr = uuid::Uuid::new_v4().to_string();
    let mut resp = CORRELATION_ID.scope(corr.clone(), next.run(req)).await;
    if let Ok(v) = HeaderValue::from_str(&corr) {
        resp.headers_mut().insert("ININ-Correlation-Id", v);
    }
    resp
}

/// The request pipeline of every login and API route.
async fn pipeline(State(app): State<App>, req: Request, next: Next) -> Response {
    let corr = uuid::Uuid::new_v4().to_string();
    let template = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "(unmatched)".to_owned());
    let route = format!("{} {}", req.method(), template);
    let (mut resp, who) = CORRELATION_ID
        .scope(corr.clone(), handle(app.clone(), req, next, template))
        .await;
    if let Ok(v) = HeaderValue::from_str(&corr) {
        resp.headers_mut().insert("ININ-Correlation-Id", v);
    }
    let status = if resp.extensions().get::<DropConnection>().is_some() {
        0
    } else {
        resp.status().as_u16()
    };
    let (client, token) = match who {
        Some(c) => (Some(c.client_id), Some(token_id(&c.token))),
        None => (None, None),
    };
    *app.stats
        .lock()
        .counts
        .entry((route, status, client, token))
        .or_default() += 1;
    resp
}

enum Fault {
    None,
    Drop,
    Error(u16),
    Storm(u64),
}

fn decide_fault(app: &App, template: &str) -> (Fault, u64) {
    let revoke = {
        let mut f = app.faults.lock();
        match f.revoke_countdown {
            Some(n) if n <= 1 => {
                f.revoke_countdown = None;
                f.injected += 1;
                true
            }
            Some(n) => {
                f.revoke_countdown = Some(n - 1);
                false
            }
            None => false,
        }
    };
    if revoke {
        app.revoke_all_tokens();
    }
    let mut f = app.faults.lock();
    let c = &f.config;
    let active = c.error_probability > 0.0
        || c.drop_probability > 0.0
        || c.latency_ms > 0
        || f.storm_left > 0;
    if !active {
        return (Fault::None, 0);
    }
    if !c.routes.is_empty() && !c.routes.iter().any(|r| template.starts_with(r.as_str())) {
        return (Fault::None, 0);
    }
    if let Some(max) = c.max_faults
        && f.injected >= max
    {
        return (Fault::None, 0);
    }
    let (error_p, drop_p, latency, latency_p) = (
        c.error_probability,
        c.drop_probability,
        c.latency_ms,
        c.latency_probability.unwrap_or(1.0),
    );
    let statuses = if c.error_statuses.is_empty() {
        vec![500, 502, 503, 504]
    } else {
        c.error_statuses.clone()
    };
    let storm_secs = c
        .rate_limit_storm
        .as_ref()
        .map(|s| s.retry_after_seconds)
        .unwrap_or(1);
    let mut delay = 0;
    if latency > 0 && f.rng.random::<f64>() < latency_p {
        delay = latency;
        f.injected += 1;
    }
    if f.storm_left > 0 {
        f.storm_left -= 1;
        f.injected += 1;
        return (Fault::Storm(storm_secs), delay);
    }
    if drop_p > 0.0 && f.rng.random::<f64>() < drop_p {
        f.injected += 1;
        return (Fault::Drop, delay);
    }
    if error_p > 0.0 && f.rng.random::<f64>() < error_p {
        f.injected += 1;
        let i = f.rng.random_range(0..statuses.len());
        return (Fault::Error(statuses[i]), delay);
    }
    (Fault::None, delay)
}

async fn handle(
    app: App,
    req: Request,
    next: Next,
    template: String,
) -> (Response, Option<Caller>) {
    let (fault, delay) = decide_fault(&app, &template);
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    match fault {
        Fault::None => {}
        Fault::Drop => {
            let mut r = StatusCode::INTERNAL_SERVER_ERROR.into_response();
            r.extensions_mut().insert(DropConnection);
            return (r, None);
        }
        Fault::Error(s) => return (ApiError::server_error(s).into_response(), None),
        Fault::Storm(secs) => return (ApiError::too_many_requests(secs).into_response(), None),
    }

    let is_login = template == "/oauth/token";
    let (mut parts, body) = req.into_parts();
    // 413: over request.bytes.max. The Genesys error code for it is not documented; the
    // message is the documented one.
    let too_large = ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "request.entity.too.large",
        format!(
            "The request is over the size limit. Maximum bytes: {}",
            app.max_request_bytes
        ),
    );
    if let Some(len) = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && len > app.max_request_bytes
    {
        return (too_large.into_response(), None);
    }
    let bytes = match axum::body::to_bytes(body, app.max_request_bytes).await {
        Ok(b) => b,
        Err(_) => return (too_large.into_response(), None),
    };
    if !bytes.is_empty() && matches!(parts.method, Method::POST | Method::PUT | Method::PATCH) {
        let ct = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        let okay = if is_login {
            ct == "application/x-www-form-urlencoded"
        } else {
            ct == "application/json" || ct == "application/scim+json"
        };
        if !okay {
            if is_login {
                return (
                    oauth_error(
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        "invalid_request",
                        "unsupported content type",
                    ),
                    None,
                );
            }
            return (
                ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported.media.type",
                    "Unsupported Media Type - Unsupported or incorrect media type, such as an incorrect Content-Type value in the header.",
                )
                .into_response(),
                None,
            );
        }
    }

    let mut caller = None;
    if template.starts_with("/api/v2/")
        || template == "(unmatched)" && parts.uri.path().starts_with("/api/v2/")
    {
        match authenticate(&app, &parts.headers) {
            Ok(c) => {
                if let Err(e) = rate_limit(&app, &c.token) {
                    return (e.into_response(), Some(c));
                }
                let req = required_permissions(parts.method.as_str(), &template);
                if !matches!(req, Required::None)
                    && let Err(e) = check_permissions(&app, &c, &req)
                {
                    return (e.into_response(), Some(c));
                }
                parts.extensions.insert(c.clone());
                caller = Some(c);
            }
            Err(e) => return (e.into_response(), None),
        }
    }
    let req = Request::from_parts(parts, Body::from(bytes));
    (next.run(req).await, caller)
}

fn authenticate(app: &App, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let token = match auth.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() => {
            t.trim()
        }
        _ => return Err(ApiError::auth_required()),
    };
    let now = app.now_ms();
    let client_id = {
        let tokens = app.tokens.lock();
        let t = tokens.get(token).ok_or_else(ApiError::bad_credentials)?;
        if t.revoked || now >= t.expires_ms {
            return Err(ApiError::bad_credentials());
        }
        t.client_id.clone()
    };
    // A disabled (or deleted) client's tokens stop working.
    let db = app.db.read();
    match db.clients.get(&client_id) {
        Some(c) if c.state != "disabled" => {}
        _ => return Err(ApiError::bad_credentials()),
    }
    Ok(Caller {
        client_id,
        token: token.to_owned(),
    })
}

fn rate_limit(app: &App, token: &str) -> Result<(), ApiError> {
    let Some(limit) = *app.rate_limit.read() else {
        return Ok(());
    };
    let now = app.now_ms();
    let mut tokens = app.tokens.lock();
    let Some(t) = tokens.get_mut(token) else {
        return Ok(());
    };
    // A one-minute window per token that opens at the token's first request after the previous
    // window closed: deterministic for a sequence of requests (no dependence on where the wall
    // clock's minute boundary falls). Genesys does not publish its window algorithm.
    if t.window == i64::MIN || now >= t.window.saturating_add(60_000) {
        t.window = now;
        t.count = 0;
    }
    if t.count >= limit {
        let left_ms = t.window.saturating_add(60_000).saturating_sub(now);
        let secs = ((left_ms + 999) / 1000).max(1) as u64;
        return Err(ApiError::too_many_requests(secs));
    }
    t.count += 1;
    Ok(())
}

/// Does a held permission (`domain:entity:action`, `*` wildcards) cover a required one?
pub fn permission_matches(held: &str, required: &str) -> bool {
    if held == "*" || held == required {
        return true;
    }
    let h: Vec<&str> = held.split(':').collect();
    let r: Vec<&str> = required.split(':').collect();
    for (i, part) in r.iter().enumerate() {
        match h.get(i) {
            Some(&"*") if i == h.len() - 1 => return true,
            Some(p) if *p == "*" || p == part => {}
            _ => return false,
        }
    }
    h.len() == r.len()
}

pub(crate) fn caller_permissions(app: &App, client_id: &str) -> Vec<String> {
    let db = app.db.read();
    match db.clients.get(client_id) {
        Some(c) => db.permissions_of(&c.role_divisions),
        None => Vec::new(),
    }
}

pub(crate) fn has_permission(held: &[String], required: &str) -> bool {
    held.iter().any(|h| permission_matches(h, required))
}

fn check_permissions(app: &App, caller: &Caller, req: &Required) -> Result<(), ApiError> {
    let held = caller_permissions(app, &caller.client_id);
    match req {
        Required::None => Ok(()),
        Required::All(list) => {
            let missing: Vec<&str> = list
                .iter()
                .copied()
                .filter(|p| !has_permission(&held, p))
                .collect();
            if missing.is_empty() {
                Ok(())
            } else {
                Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "missing.permissions",
                    format!(
                        "Unable to perform the requested action. You are missing the following permission(s): [{}]",
                        missing.join(", ")
                    ),
                ))
            }
        }
        Required::Any(list) => {
            if list.iter().any(|p| has_permission(&held, p)) {
                Ok(())
            } else if list.len() == 1 {
                Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "missing.permissions",
                    format!(
                        "Unable to perform the requested action. You are missing the following permission(s): [{}]",
                        list[0]
                    ),
                ))
            } else {
                Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "missing.any.permissions",
                    format!(
                        "Unable to perform the requested action. You must have at least one of the following permissions assigned: [{}]",
                        list.join(", ")
                    ),
                ))
            }
        }
    }
}

// ---- login host -------------------------------------------------------------------------

async fn login(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    use base64::Engine;
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(s, _)| s.eq_ignore_ascii_case("basic"))
        .and_then(|(_, b)| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok());
    let Some((id, secret)) = basic.as_deref().and_then(|s| s.split_once(':')) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "client not found",
        );
    };
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is required",
            );
        }
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "unsupported grant type",
            );
        }
    }
    let now = app.now_ms();
    let validity = {
        let db = app.db.read();
        let Some(c) = db.clients.get(id) else {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_client",
                "client not found",
            );
        };
        if !constant_time_eq(c.secret.as_bytes(), secret.as_bytes()) {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_client",
                "authentication failed",
            );
        }
        if c.state != "active" {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_client",
                "authentication failed",
            );
        }
        if c.grant_type != "CLIENT-CREDENTIALS" {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                "client is not authorized for this grant type",
            );
        }
        c.validity_seconds
    };
    let token = crate::config::random_secret() + &crate::config::random_secret();
    let mut tokens = app.tokens.lock();
    // Keep memory bounded on long runs: forget dead tokens once there are many.
    if tokens.len() >= 10_000 {
        tokens.retain(|_, t| !t.revoked && t.expires_ms > now);
    }
    tokens.insert(
        token.clone(),
        Token {
            client_id: id.to_owned(),
            expires_ms: now.saturating_add(validity as i64 * 1000),
            issued_ms: now,
            revoked: false,
            window: i64::MIN,
            count: 0,
        },
    );
    drop(tokens);
    // Genesys may answer `expires_in` a second short; the emulator returns the configured value.
    ok(json!({"access_token": token, "token_type": "bearer", "expires_in": validity}))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn token_me(State(app): State<App>, axum::Extension(c): axum::Extension<Caller>) -> Response {
    let db = app.db.read();
    let Some(client) = db.clients.get(&c.client_id) else {
        return ApiError::bad_credentials().into_response();
    };
    let issued = app
        .tokens
        .lock()
        .get(&c.token)
        .map(|t| t.issued_ms)
        .unwrap_or(0);
    let org = json!({"id": db.org_id, "name": db.org_name, "selfUri": format!("/api/v2/organizations/{}", db.org_id)});
    ok(json!({
        "organization": org,
        "homeOrganization": org,
        "authorizedScope": client.scope,
        "OAuthClient": {
            "id": client.id,
            "name": client.name,
            "dateCreated": crate::util::iso(client.created_ms),
            "authorizedGrantType": client.grant_type,
            "scope": client.scope,
            "roleDivisions": client.role_divisions.iter().map(|(r, d)| json!({"roleId": r, "divisionId": d})).collect::<Vec<_>>(),
            "state": client.state,
            "organization": org,
        },
        "dateTokenIdles": crate::util::iso(issued.saturating_add(86_400_000)),
    }))
}

async fn token_head() -> Response {
    empty(StatusCode::OK)
}

async fn token_delete(
    State(app): State<App>,
    axum::Extension(c): axum::Extension<Caller>,
) -> Response {
    if let Some(t) = app.tokens.lock().get_mut(&c.token) {
        t.revoked = true;
    }
    app.revocations.fetch_add(1, Ordering::Relaxed);
    empty(StatusCode::OK)
}

// ---- admin ------------------------------------------------------------------------------

async fn admin_stats(State(app): State<App>) -> Response {
    ok(app.stats_json())
}

async fn admin_stats_reset(State(app): State<App>) -> Response {
    app.stats.lock().counts.clear();
    empty(StatusCode::NO_CONTENT)
}

async fn admin_faults_get(State(app): State<App>) -> Response {
    let f = app.faults.lock();
    ok(json!({"config": f.config, "injected": f.injected, "stormRemaining": f.storm_left}))
}

async fn admin_faults_put(State(app): State<App>, body: Bytes) -> Response {
    let cfg: FaultConfig = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => {
            return ApiError::bad_request(format!("invalid fault config: {e}")).into_response();
        }
    };
    if let Err(e) = cfg.validate() {
        return ApiError::bad_request(e.to_string()).into_response();
    }
    app.set_faults(cfg);
    admin_faults_get(State(app)).await
}

async fn admin_faults_delete(State(app): State<App>) -> Response {
    app.set_faults(FaultConfig::default());
    empty(StatusCode::NO_CONTENT)
}

async fn admin_revoke_all(State(app): State<App>) -> Response {
    let n = app.revoke_all_tokens();
    ok(json!({"revoked": n}))
}

async fn admin_clock_advance(State(app): State<App>, body: Bytes) -> Response {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(secs) = v.get("seconds").and_then(Value::as_i64) else {
        return ApiError::bad_request("body must be {\"seconds\": <integer>}").into_response();
    };
    let total = app
        .clock_offset_ms
        .fetch_add(secs.saturating_mul(1000), Ordering::Relaxed)
        .wrapping_add(secs.saturating_mul(1000));
    ok(json!({"offsetSeconds": total / 1000}))
}

async fn admin_rate_limit(State(app): State<App>, body: Bytes) -> Response {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let limit = match v.get("perMinute") {
        Some(Value::Null) => None,
        Some(n) => match n.as_u64() {
            Some(n) if n > 0 && n <= u32::MAX as u64 => Some(n as u32),
            _ => {
                return ApiError::bad_request("perMinute must be a positive integer or null")
                    .into_response();
            }
        },
        None => {
            return ApiError::bad_request("body must be {\"perMinute\": <integer>|null}")
                .into_response();
        }
    };
    *app.rate_limit.write() = limit;
    ok(json!({"perMinute": limit}))
}

async fn admin_user_count(State(app): State<App>) -> Response {
    ok(json!({"users": app.db.read().users.len()}))
}
