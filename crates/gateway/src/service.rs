//! The gateway's operations, independent of HTTP: reads from the read model, the write
//! pipeline (normalise, policy, map, uniqueness/lifecycle, write through Genesys, audit) and
//! the full sync. `http.rs` and `/Bulk` call these.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use futures::StreamExt;
use gcprov_genesys::models::{GroupCreate, GroupUpdate, ScimV2User};
use gcprov_genesys::{GenesysClient, Versioned};
use gcprov_policy::{EvalContext, Policy, ResourceKind};
use gcprov_scim::etag::{self, Comparison, ETag};
use gcprov_scim::filter::{self, AttrPath, CompValue, CompareOp, Filter};
use gcprov_scim::query::{self, Paging, Projection, SortOrder};
use gcprov_scim::schema::defs;
use gcprov_scim::{CompiledFilter, PatchRequest, Resource, ScimType};
use gcprov_store::{
    Change, Commit, EmailRecord, GroupRecord, NewEntry, NewEvent, Outcome, Store, UserLookup,
    UserRecord,
};
use serde_json::{Map, Value, json};
use tokio::sync::{RwLock, Semaphore};

use crate::auth::{Caller, Role};
use crate::config::{GatewayConfig, GroupOnDelete, Mode, OnConflict, OnDelete};
use crate::error::{GwError, from_genesys};
use crate::mapping::{Held, HeldGrants, Mapping, Resolved, Resolver};
use crate::normalize::{normalize, normalize_patch};
use crate::schema;

/// Who is asking, and under which request id.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub caller: Caller,
    pub request_id: String,
}

/// What an operation answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Option<Value>,
    pub etag: Option<String>,
    pub location: Option<String>,
}

impl Reply {
    fn ok(status: u16, body: Value) -> Self {
        let etag = body
            .pointer("/meta/version")
            .and_then(Value::as_str)
            .map(str::to_string);
        let location = body
            .pointer("/meta/location")
            .and_then(Value::as_str)
            .map(str::to_string);
        Self {
            status,
            body: Some(body),
            etag,
            location,
        }
    }
    fn empty(status: u16) -> Self {
        Self {
            status,
            body: None,
            etag: None,
            location: None,
        }
    }
}

/// The two resource types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Group,
}

impl Kind {
    pub fn schema(self) -> &'static gcprov_scim::schema::ResourceSchema {
        match self {
            Kind::User => schema::user(),
            Kind::Group => schema::group(),
        }
    }
    fn endpoint(self) -> &'static str {
        match self {
            Kind::User => "Users",
            Kind::Group => "Groups",
        }
    }
}

/// List parameters (query string or `.search` body).
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub filter: Option<String>,
    pub sort_by: Option<String>,
    pub sort_order: Option<String>,
    pub start_index: Option<String>,
    pub count: Option<String>,
    pub attributes: Option<String>,
    pub excluded_attributes: Option<String>,
}

/// Shared state of a running gateway.
pub struct Service {
    pub(crate) cfg: GatewayConfig,
    pub(crate) base_url: String,
    pub(crate) store: Store,
    pub(crate) genesys: GenesysClient,
    pub(crate) policy: Option<Arc<Policy>>,
    pub(crate) mapping: Mapping,
    /// The mapping's rules with Genesys ids (cleared by every full sync).
    resolver: Resolver,
    /// Group id -> displayName (mirrors `rm_group`; names the groups in a user's `groups`
    /// attribute and the mapping rules a user's groups owe).
    pub(crate) groups: RwLock<BTreeMap<String, String>>,
    /// Group memberships both ways (mirrors `rm_group_member`; saves a query per user read).
    /// Both maps are only ever set from what the store holds (`reload_group`, `reload_all`),
    /// with `members` locked before `groups`; other replicas' changes arrive as store
    /// notifications (`apply_model_change`). See "Consistency" in docs/architecture/gateway.md.
    members: RwLock<Memberships>,
    /// How many store-reported changes `apply_model_change` has handled (tests and operators
    /// wait on it instead of sleeping).
    model_changes: tokio::sync::watch::Sender<u64>,
    writes: Semaphore,
    pending: AtomicUsize,
    pub(crate) synced: AtomicBool,
    pub(crate) genesys_ok: AtomicBool,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("base_url", &self.base_url)
            .field("mode", &self.cfg.mode)
            .finish_non_exhaustive()
    }
}

/// Holds a place in the bounded write queue; released on drop.
struct Slot<'a> {
    svc: &'a Service,
    _permit: tokio::sync::SemaphorePermit<'a>,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let n = self
            .svc
            .pending
            .fetch_sub(1, Ordering::SeqCst)
            .saturating_sub(1);
        metrics::gauge!("gcprov_gateway_queue_depth").set(n as f64);
    }
}

/// Strips `W/` and quotes: `W/"42"` -> `42`.
pub fn etag_tag(s: &str) -> String {
    let s = s.trim();
    let s = s.strip_prefix("W/").unwrap_or(s);
    s.trim_matches('"').to_string()
}

fn now_us() -> i64 {
    gcprov_store::to_us(time::OffsetDateTime::now_utc())
}

fn remove_ci(m: &mut Map<String, Value>, key: &str) {
    let keys: Vec<String> = m
        .keys()
        .filter(|k| k.eq_ignore_ascii_case(key))
        .cloned()
        .collect();
    for k in keys {
        m.remove(&k);
    }
}

/// One Genesys call made (or, in shadow mode, that would have been made).
#[derive(Debug, Clone)]
struct Call {
    op: &'static str,
    target: String,
    outcome: String,
    correlation_id: Option<String>,
}

impl Call {
    fn json(&self) -> Value {
        json!({"op": self.op, "target": self.target, "outcome": self.outcome, "correlationId": self.correlation_id})
    }
}

#[derive(Default)]
struct Trace {
    calls: Vec<Call>,
    policy: Option<Value>,
    /// Read-model changes of this request, committed in one transaction with its audit entry
    /// (so the entry never describes a change that was not stored, and vice versa).
    staged: Vec<Change>,
}

impl Trace {
    fn ok(&mut self, op: &'static str, target: &str, shadow: bool) {
        self.calls.push(Call {
            op,
            target: target.to_string(),
            outcome: if shadow { "shadow" } else { "ok" }.into(),
            correlation_id: None,
        });
        metrics::counter!("gcprov_gateway_genesys_calls_total", "op" => op, "outcome" => if shadow { "shadow" } else { "ok" }).increment(1);
    }
    fn err(&mut self, op: &'static str, target: &str, e: &gcprov_genesys::Error) {
        let status = e
            .status()
            .map(|s| s.to_string())
            .unwrap_or_else(|| "transport".into());
        if e.is_rate_limited() {
            metrics::counter!("gcprov_gateway_genesys_429_total").increment(1);
        }
        metrics::counter!("gcprov_gateway_genesys_calls_total", "op" => op, "outcome" => "error")
            .increment(1);
        self.calls.push(Call {
            op,
            target: target.to_string(),
            outcome: format!("error {status}"),
            correlation_id: e.correlation_id().map(str::to_string),
        });
    }
}

impl Service {
    pub(crate) fn new(
        cfg: GatewayConfig,
        base_url: String,
        store: Store,
        genesys: GenesysClient,
        policy: Option<Arc<Policy>>,
        mapping: Mapping,
    ) -> Self {
        let concurrency = cfg.queue.concurrency.max(1);
        Self {
            cfg,
            base_url,
            store,
            genesys,
            policy,
            mapping,
            resolver: Resolver::default(),
            groups: RwLock::new(BTreeMap::new()),
            members: RwLock::new(Memberships::default()),
            model_changes: tokio::sync::watch::Sender::new(0),
            writes: Semaphore::new(concurrency),
            pending: AtomicUsize::new(0),
            synced: AtomicBool::new(false),
            genesys_ok: AtomicBool::new(false),
        }
    }

    /// The store (audit log, outbox and read model).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The Genesys client the gateway writes through.
    pub fn genesys(&self) -> &GenesysClient {
        &self.genesys
    }

    fn shadow(&self) -> bool {
        self.cfg.mode == Mode::Shadow
    }

    fn retry_after(&self) -> u64 {
        self.cfg.queue.retry_after_seconds
    }

    /// A place in the bounded write queue, or 429 beyond it.
    async fn slot(&self) -> Result<Slot<'_>, GwError> {
        let n = self.pending.fetch_add(1, Ordering::SeqCst);
        if n >= self.cfg.queue.max_pending {
            self.pending.fetch_sub(1, Ordering::SeqCst);
            return Err(GwError::retryable(
                429,
                "too many changes are waiting for Genesys Cloud; retry later",
                self.retry_after(),
            ));
        }
        metrics::gauge!("gcprov_gateway_queue_depth").set((n + 1) as f64);
        match self.writes.acquire().await {
            Ok(permit) => Ok(Slot {
                svc: self,
                _permit: permit,
            }),
            Err(_) => {
                self.pending.fetch_sub(1, Ordering::SeqCst);
                Err(GwError::retryable(503, "shutting down", self.retry_after()))
            }
        }
    }

    pub fn require(caller: &Caller, role: Role) -> Result<(), GwError> {
        if caller.role >= role {
            Ok(())
        } else {
            Err(GwError::new(403, None, "Forbidden"))
        }
    }

    // ------------------------------------------------------------------ representations

    fn location(&self, kind: Kind, id: &str) -> String {
        format!("{}/{}/{}", self.base_url, kind.endpoint(), id)
    }

    /// The Genesys userName for an IdP userName (`users.user_name_domain` appended to names
    /// without `@`: Genesys requires an email address).
    fn genesys_name(&self, n: &str) -> String {
        match &self.cfg.users.user_name_domain {
            Some(d) if !n.contains('@') => format!("{n}@{d}"),
            _ => n.to_string(),
        }
    }

    /// The IdP userName for a Genesys userName (the inverse of [`Self::genesys_name`]).
    fn idp_name(&self, n: &str) -> String {
        if let Some(d) = &self.cfg.users.user_name_domain
            && let Some((local, dom)) = n.rsplit_once('@')
            && dom.eq_ignore_ascii_case(d)
            && !local.contains('@')
        {
            return local.to_string();
        }
        n.to_string()
    }

    /// Drops what is not advertised from a response (strict clients reject extra attributes).
    fn outward(&self, mut v: Value) -> Value {
        if !self.cfg.users.advertise_org_references
            && let Value::Object(m) = &mut v
        {
            m.remove(defs::GENESYS_USER);
            if let Some(Value::Array(schemas)) = m.get_mut("schemas") {
                schemas.retain(|s| s.as_str() != Some(defs::GENESYS_USER));
            }
            let empty = match m.get_mut(defs::ENTERPRISE_USER) {
                Some(Value::Object(ext)) => {
                    ext.remove("division");
                    ext.is_empty()
                }
                _ => false,
            };
            if empty {
                m.remove(defs::ENTERPRISE_USER);
                if let Some(Value::Array(schemas)) = m.get_mut("schemas") {
                    schemas.retain(|s| s.as_str() != Some(defs::ENTERPRISE_USER));
                }
            }
            m.remove("roles");
        }
        v
    }

    /// The IdP-facing form of Genesys' user: the read-only `other` email (a mirror of
    /// userName), Genesys' own external-id authority (a mirror of externalId) and the `primary`
    /// flags Genesys decides itself are not shown; manager `$ref` points at the gateway.
    fn tidy_user(&self, m: &mut Map<String, Value>) {
        for (k, v) in m.iter_mut() {
            let is_emails = k.eq_ignore_ascii_case("emails");
            if (is_emails || k.eq_ignore_ascii_case("phoneNumbers"))
                && let Value::Array(items) = v
            {
                if is_emails {
                    items.retain(|e| {
                        e.get("type")
                            .and_then(Value::as_str)
                            .is_none_or(|t| !t.eq_ignore_ascii_case("other"))
                    });
                }
                for e in items.iter_mut() {
                    if let Value::Object(o) = e {
                        o.remove("primary");
                    }
                }
            }
        }
        if let Some(Value::Object(ent)) = m.get_mut(defs::ENTERPRISE_USER)
            && let Some(Value::Object(mgr)) = ent.get_mut("manager")
            && let Some(id) = mgr.get("value").and_then(Value::as_str).map(str::to_string)
        {
            mgr.insert("$ref".into(), json!(self.location(Kind::User, &id)));
        }
        if let Some(Value::Object(ext)) = m.get_mut(defs::GENESYS_USER)
            && let Some(Value::Array(ids)) = ext.get_mut("externalIds")
        {
            ids.retain(|x| {
                x.get("authority")
                    .and_then(Value::as_str)
                    .is_none_or(|a| !a.to_ascii_lowercase().starts_with("x-pc:scimv2"))
            });
        }
    }

    /// Keeps the current routing skills/languages when a new resource omits them: they are
    /// often granted by the mapping file, and a PUT without them must not clear them.
    fn keep_routing(current: &Resource, new: &mut Resource) {
        // A Genesys user always has a division: removing the enterprise extension (or its
        // division) keeps the current one and clears the rest.
        if let Some(div) = current
            .extension(defs::ENTERPRISE_USER)
            .and_then(|e| e.get("division").cloned())
        {
            let has = new
                .extension(defs::ENTERPRISE_USER)
                .is_some_and(|e| e.keys().any(|k| k.eq_ignore_ascii_case("division")));
            if !has {
                new.set_extension_attr(defs::ENTERPRISE_USER, "division", div);
            }
        }
        let Some(cur) = current.extension(defs::GENESYS_USER) else {
            return;
        };
        for key in ["routingSkills", "routingLanguages"] {
            let Some(val) = cur.get(key).cloned() else {
                continue;
            };
            let missing = new
                .extension(defs::GENESYS_USER)
                .is_none_or(|e| !e.keys().any(|k| k.eq_ignore_ascii_case(key)));
            if missing {
                new.set_extension_attr(defs::GENESYS_USER, key, val);
            }
        }
    }

    /// Gateway representation of a Genesys SCIM user.
    fn user_from_genesys(&self, v: &Versioned<ScimV2User>) -> Result<(UserRecord, Value), GwError> {
        let mut val = serde_json::to_value(&v.resource)
            .map_err(|e| GwError::internal(format!("cannot encode user: {e}")))?;
        let id = v
            .resource
            .id
            .clone()
            .ok_or_else(|| GwError::internal("Genesys returned a user without id"))?;
        let tag = v
            .etag
            .as_deref()
            .or(v.resource.meta.as_ref().and_then(|m| m.version.as_deref()))
            .map(etag_tag)
            .unwrap_or_else(|| "0".into());
        if let Value::Object(m) = &mut val {
            remove_ci(m, "password");
            remove_ci(m, "groups");
            if let Some(Value::String(u)) = m.get_mut("userName") {
                *u = self.idp_name(u);
            }
            self.tidy_user(m);
            let last = v
                .resource
                .meta
                .as_ref()
                .and_then(|m| m.last_modified.clone());
            let mut meta = json!({
                "resourceType": "User",
                "location": self.location(Kind::User, &id),
                "version": ETag::weak(tag.clone()).to_string(),
            });
            if let (Some(l), Some(mm)) = (last, meta.as_object_mut()) {
                mm.insert("lastModified".into(), json!(l));
            }
            m.insert("meta".into(), meta);
            let mut schemas = vec![json!(defs::USER)];
            for urn in [defs::ENTERPRISE_USER, defs::GENESYS_USER] {
                if m.contains_key(urn) {
                    schemas.push(json!(urn));
                }
            }
            m.insert("schemas".into(), Value::Array(schemas));
        }
        let u = &v.resource;
        let emails = u
            .emails
            .iter()
            .flatten()
            .filter_map(|e| {
                Some(EmailRecord {
                    value: e.value.clone()?,
                    kind: e.email_type.clone(),
                    primary: e.primary.unwrap_or(false),
                })
            })
            .collect();
        let rec = UserRecord {
            id,
            user_name: self.idp_name(u.user_name.as_deref().unwrap_or_default()),
            external_id: u.external_id.clone(),
            display_name: u.display_name.clone(),
            active: u.active.unwrap_or(true),
            version: tag.parse().unwrap_or(0),
            emails,
            resource: val.clone(),
            updated_us: now_us(),
        };
        Ok((rec, val))
    }

    /// The Genesys body for a gateway user resource (read-only parts dropped).
    fn user_to_genesys(&self, res: &Resource) -> Result<ScimV2User, GwError> {
        let mut v = res.to_json();
        if let Value::Object(m) = &mut v {
            for k in ["id", "meta", "groups"] {
                remove_ci(m, k);
            }
            // Genesys' `other` email is the read-only primary email (= userName).
            for (k, v) in m.iter_mut() {
                if k.eq_ignore_ascii_case("emails")
                    && let Value::Array(items) = v
                {
                    items.retain(|e| {
                        e.get("type")
                            .and_then(Value::as_str)
                            .is_none_or(|t| !t.eq_ignore_ascii_case("other"))
                    });
                }
            }
        }
        let mut g: ScimV2User = serde_json::from_value(v).map_err(|e| {
            GwError::bad(
                ScimType::InvalidValue,
                format!("the user cannot be mapped to Genesys Cloud: {e}"),
            )
        })?;
        if let Some(u) = g.user_name.as_mut() {
            *u = self.genesys_name(u);
        }
        // Genesys requires displayName; IdPs that send only `name` get one derived from it.
        if g.display_name
            .as_deref()
            .is_none_or(|d| d.trim().is_empty())
        {
            let from_name = res.name().and_then(|n| {
                n.formatted.clone().or_else(|| {
                    let parts: Vec<String> = [n.given_name.clone(), n.family_name.clone()]
                        .into_iter()
                        .flatten()
                        .collect();
                    (!parts.is_empty()).then(|| parts.join(" "))
                })
            });
            g.display_name = from_name.or_else(|| g.user_name.clone());
        }
        // The SCIM authority (`x-pc:scimv2:...`) is Genesys' own, immutable mirror of
        // externalId: never sent back.
        if let Some(ext) = g.genesys.as_mut()
            && let Some(ids) = ext.external_ids.as_mut()
        {
            ids.retain(|x| {
                x.authority
                    .as_deref()
                    .is_none_or(|a| !a.to_ascii_lowercase().starts_with("x-pc:scimv2"))
            });
        }
        Ok(g)
    }

    /// A user record built locally (shadow mode).
    fn user_record_local(&self, id: &str, res: &Resource, version: i64) -> (UserRecord, Value) {
        let mut val = res.to_json();
        if let Value::Object(m) = &mut val {
            remove_ci(m, "password");
            remove_ci(m, "groups");
            m.insert("id".into(), json!(id));
            m.insert(
                "meta".into(),
                json!({"resourceType": "User", "location": self.location(Kind::User, id),
                       "version": ETag::weak(version.to_string()).to_string()}),
            );
        }
        let emails = res
            .emails()
            .into_iter()
            .filter_map(|e| {
                Some(EmailRecord {
                    value: e.value.clone()?,
                    kind: e.kind.clone(),
                    primary: e.primary,
                })
            })
            .collect();
        let rec = UserRecord {
            id: id.to_string(),
            user_name: res.user_name().unwrap_or_default().to_string(),
            external_id: res.external_id().map(str::to_string),
            display_name: res.display_name().map(str::to_string),
            active: res.active().unwrap_or(true),
            version,
            emails,
            resource: val.clone(),
            updated_us: now_us(),
        };
        (rec, val)
    }

    fn group_value(
        &self,
        id: &str,
        name: &str,
        external_id: Option<&str>,
        members: &[String],
        version: i64,
    ) -> Value {
        let members: Vec<Value> = members
            .iter()
            .map(|m| json!({"value": m, "$ref": self.location(Kind::User, m), "type": "User"}))
            .collect();
        let mut v = json!({
            "schemas": [defs::GROUP],
            "id": id,
            "displayName": name,
            "members": members,
            "meta": {"resourceType": "Group", "location": self.location(Kind::Group, id),
                     "version": ETag::weak(version.to_string()).to_string()},
        });
        if let (Some(x), Some(m)) = (external_id, v.as_object_mut()) {
            m.insert("externalId".into(), json!(x));
        }
        v
    }

    fn group_record(
        &self,
        id: &str,
        name: &str,
        external_id: Option<&str>,
        members: Vec<String>,
        version: i64,
    ) -> GroupRecord {
        let resource = self.group_value(id, name, external_id, &members, version);
        GroupRecord {
            id: id.to_string(),
            display_name: name.to_string(),
            external_id: external_id.map(str::to_string),
            version,
            members,
            resource,
            updated_us: now_us(),
        }
    }

    /// Adds the read-only `groups` attribute of a user from the read model.
    async fn decorate_user(&self, mut v: Value) -> Result<Value, GwError> {
        let Some(id) = v.get("id").and_then(Value::as_str).map(str::to_string) else {
            return Ok(v);
        };
        let ids: Vec<String> = self
            .members
            .read()
            .await
            .by_user
            .get(&id)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        if ids.is_empty() {
            return Ok(v);
        }
        let names = self.groups.read().await;
        let groups: Vec<Value> = ids
            .iter()
            .map(|g| {
                json!({"value": g, "$ref": self.location(Kind::Group, g),
                       "display": names.get(g).cloned().unwrap_or_default(), "type": "direct"})
            })
            .collect();
        if let Value::Object(m) = &mut v {
            m.insert("groups".into(), Value::Array(groups));
        }
        Ok(v)
    }

    // ------------------------------------------------------------------ audit

    /// Audits a request (a failure is logged; see [`Service::audit_commit`]).
    #[allow(clippy::too_many_arguments)]
    async fn audit(
        &self,
        ctx: &Ctx,
        action: &str,
        outcome: Outcome,
        target: Option<&str>,
        trace: &Trace,
        extra: Value,
        event: Option<(&str, Value)>,
    ) {
        let _ = self
            .audit_commit(ctx, action, outcome, target, trace, extra, event)
            .await;
    }

    /// Audits a request, committing its staged read-model changes (if any) in the same
    /// transaction. A failure is logged; it is returned only when it also lost staged changes
    /// (the caller then answers 503 instead of claiming success).
    #[allow(clippy::too_many_arguments)]
    async fn audit_commit(
        &self,
        ctx: &Ctx,
        action: &str,
        outcome: Outcome,
        target: Option<&str>,
        trace: &Trace,
        extra: Value,
        event: Option<(&str, Value)>,
    ) -> Result<(), GwError> {
        let mut entry = NewEntry::new(ctx.caller.name.clone(), action, outcome)
            .request_id(ctx.request_id.clone());
        if let Some(t) = target {
            entry = entry.target(t);
        }
        // Every HTTP attempt made since the previous audit entry of this request (the gateway
        // runs each request in a `CallRecorder` scope; empty outside one), failures included.
        let http = gcprov_genesys::recorder::take_current();
        let ids = trace.calls.iter().filter_map(|c| c.correlation_id.as_ref());
        let ids = ids.chain(http.iter().filter_map(|c| c.correlation_id.as_ref()));
        for id in ids {
            if !entry.correlation_ids.contains(id) {
                entry = entry.correlation_id(id.clone());
            }
        }
        let calls: Vec<Value> = trace.calls.iter().map(Call::json).collect();
        entry = entry.detail(json!({
            "mode": if self.shadow() { "shadow" } else { "live" },
            "policy": trace.policy,
            "genesysCalls": calls,
            "genesysHttp": http,
            "result": extra,
        }));
        let events = match event {
            Some((kind, payload)) => vec![NewEvent::new(kind, payload)],
            None => Vec::new(),
        };
        // The request's read-model changes commit with its entry, in one transaction.
        let commit = Commit {
            changes: trace.staged.clone(),
            audit: Some((entry, events)),
        };
        if let Err(e) = self.store.commit(commit).await {
            metrics::counter!("gcprov_gateway_audit_failures_total").increment(1);
            tracing::error!(error = %e, request_id = %ctx.request_id, "audit append failed");
            if !trace.staged.is_empty() {
                return Err(store_err(e));
            }
        }
        Ok(())
    }

    async fn audit_failure(
        &self,
        ctx: &Ctx,
        action: &str,
        target: Option<&str>,
        trace: &Trace,
        e: &GwError,
    ) {
        let outcome = if e.status() == 400 && trace.policy.is_some() && trace.calls.is_empty() {
            Outcome::Denied
        } else {
            Outcome::Failure
        };
        self.audit(
            ctx,
            action,
            outcome,
            target,
            trace,
            json!({"status": e.status(), "scimType": e.scim.scim_type.map(|t| t.as_str()), "detail": e.scim.detail}),
            None,
        )
        .await;
    }

    // ------------------------------------------------------------------ policy

    fn check_policy(&self, kind: Kind, resource: &Value, trace: &mut Trace) -> Result<(), GwError> {
        let Some(p) = &self.policy else {
            return Ok(());
        };
        let ctx = EvalContext {
            kind: Some(match kind {
                Kind::User => ResourceKind::User,
                Kind::Group => ResourceKind::Group,
            }),
            oracle: None,
        };
        let d = p.evaluate_with(resource, &ctx);
        trace.policy = serde_json::to_value(&d).ok();
        if d.is_rejected() {
            metrics::counter!("gcprov_gateway_policy_rejections_total").increment(1);
            let list: Vec<String> = d
                .violations
                .iter()
                .map(|v| format!("{} ({}): {}", v.path, v.code, v.message))
                .collect();
            return Err(GwError::bad(
                ScimType::InvalidValue,
                format!("rejected by policy: {}", list.join("; ")),
            ));
        }
        Ok(())
    }

    // ------------------------------------------------------------------ reads

    pub async fn get(
        &self,
        kind: Kind,
        id: &str,
        params: &ListParams,
    ) -> Result<(Value, String), GwError> {
        let proj = Projection::new(
            params.attributes.as_deref(),
            params.excluded_attributes.as_deref(),
        )?;
        let (v, tag) = match kind {
            Kind::User => {
                let r = self
                    .store
                    .get_user(id)
                    .await
                    .map_err(store_err)?
                    .ok_or_else(|| GwError::not_found("User", id))?;
                (self.decorate_user(r.resource).await?, r.version)
            }
            Kind::Group => {
                let r = self
                    .store
                    .get_group(id)
                    .await
                    .map_err(store_err)?
                    .ok_or_else(|| GwError::not_found("Group", id))?;
                (r.resource, r.version)
            }
        };
        let etag = v
            .pointer("/meta/version")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| ETag::weak(tag.to_string()).to_string());
        let res = Resource::from_json(v)?;
        Ok((self.outward(proj.apply(&res, kind.schema())), etag))
    }

    /// Current ETag of a resource in the read model.
    async fn current(&self, kind: Kind, id: &str) -> Result<Option<(Value, String)>, GwError> {
        let v = match kind {
            Kind::User => self
                .store
                .get_user(id)
                .await
                .map_err(store_err)?
                .map(|r| r.resource),
            Kind::Group => self
                .store
                .get_group(id)
                .await
                .map_err(store_err)?
                .map(|r| r.resource),
        };
        Ok(v.map(|v| {
            let e = v
                .pointer("/meta/version")
                .and_then(Value::as_str)
                .unwrap_or("W/\"0\"")
                .to_string();
            (v, e)
        }))
    }

    /// Resources of one type matching a filter (unpaged). Indexed `eq` comparisons become
    /// store lookups; everything else is evaluated in memory.
    pub async fn matches(
        &self,
        kind: Kind,
        filter: Option<&str>,
    ) -> Result<Vec<Resource>, GwError> {
        let parsed = match filter.map(str::trim).filter(|f| !f.is_empty()) {
            Some(f) => Some(
                filter::parse(f).map_err(|e| GwError::bad(ScimType::InvalidFilter, e.detail))?,
            ),
            None => None,
        };
        let compiled = match &parsed {
            Some(f) => Some(
                CompiledFilter::compile(f, kind.schema())
                    .map_err(|e| GwError::bad(ScimType::InvalidFilter, e.detail))?,
            ),
            None => None,
        };
        let needs_groups = filter.is_some_and(|f| f.to_ascii_lowercase().contains("groups"));
        let candidates: Vec<Value> = match (kind, parsed.as_ref().and_then(indexed)) {
            (Kind::User, Some(Index::Id(id))) => self
                .store
                .get_user(&id)
                .await
                .map_err(store_err)?
                .into_iter()
                .map(|r| r.resource)
                .collect(),
            (Kind::User, Some(Index::User(l))) => self
                .store
                .find_users(&l)
                .await
                .map_err(store_err)?
                .into_iter()
                .map(|r| r.resource)
                .collect(),
            (Kind::Group, Some(Index::Id(id))) => self
                .store
                .get_group(&id)
                .await
                .map_err(store_err)?
                .into_iter()
                .map(|r| r.resource)
                .collect(),
            (Kind::Group, Some(Index::User(UserLookup::DisplayName(n)))) => self
                .store
                .find_groups_by_display_name(&n)
                .await
                .map_err(store_err)?
                .into_iter()
                .map(|r| r.resource)
                .collect(),
            (Kind::Group, Some(Index::User(UserLookup::ExternalId(x)))) => self
                .store
                .find_groups_by_external_id(&x)
                .await
                .map_err(store_err)?
                .into_iter()
                .map(|r| r.resource)
                .collect(),
            (Kind::User, _) => {
                keyset_all(|after| async move {
                    let page = self.store.list_users(&after, 1000).await?;
                    Ok(page.into_iter().map(|r| (r.id, r.resource)).collect())
                })
                .await?
            }
            (Kind::Group, _) => {
                keyset_all(|after| async move {
                    let page = self.store.list_groups(&after, 1000).await?;
                    Ok(page.into_iter().map(|r| (r.id, r.resource)).collect())
                })
                .await?
            }
        };
        let mut out = Vec::with_capacity(candidates.len());
        for v in candidates {
            let v = if needs_groups && kind == Kind::User {
                self.decorate_user(v).await?
            } else {
                v
            };
            let r = Resource::from_json(v)?;
            if compiled.as_ref().is_none_or(|c| c.matches(&r)) {
                out.push(r);
            }
        }
        Ok(out)
    }

    fn paging(&self, p: &ListParams) -> Result<Paging, GwError> {
        Ok(Paging::parse(
            p.start_index.as_deref(),
            p.count.as_deref(),
            query::PagingConfig {
                default_count: self.cfg.paging.default_count,
                max_count: self.cfg.paging.max_count,
            },
        )?)
    }

    /// A `ListResponse` for one or both resource types.
    pub async fn list(&self, kinds: &[Kind], p: &ListParams) -> Result<Value, GwError> {
        let proj = Projection::new(p.attributes.as_deref(), p.excluded_attributes.as_deref())?;
        let paging = self.paging(p)?;
        let order = SortOrder::parse(p.sort_order.as_deref())?;
        let sort_by = match p
            .sort_by
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(s) => Some(
                AttrPath::parse(s).map_err(|e| GwError::bad(ScimType::InvalidValue, e.detail))?,
            ),
            None => None,
        };
        let mut all: Vec<(Kind, Resource)> = Vec::new();
        for k in kinds {
            let mut rs = self.matches(*k, p.filter.as_deref()).await?;
            if let Some(by) = &sort_by {
                query::sort_resources(&mut rs, by, order, k.schema());
            }
            all.extend(rs.into_iter().map(|r| (*k, r)));
        }
        let total = all.len();
        let page = paging.page(all);
        let mut resources = Vec::with_capacity(page.len());
        for (k, r) in page {
            let r = if k == Kind::User && r.get("groups").is_none() {
                Resource::from_json(self.decorate_user(r.into_json()).await?)?
            } else {
                r
            };
            resources.push(self.outward(proj.apply(&r, k.schema())));
        }
        Ok(query::ListResponse {
            total_results: total,
            start_index: paging.start_index,
            resources,
        }
        .to_json())
    }

    // ------------------------------------------------------------------ user writes

    pub async fn create_user(
        &self,
        ctx: &Ctx,
        body: Value,
        p: &ListParams,
    ) -> Result<Reply, GwError> {
        Self::require(&ctx.caller, Role::Provisioner)?;
        let mut trace = Trace::default();
        let r = self.create_user_inner(ctx, body, &mut trace).await;
        match r {
            Ok((id, v, adopted)) => {
                self.audit_commit(
                    ctx,
                    if adopted {
                        "scim.user.adopt"
                    } else {
                        "scim.user.create"
                    },
                    Outcome::Success,
                    Some(&id),
                    &trace,
                    json!({"status": 201}),
                    Some(("scim.user.created", json!({"id": id, "adopted": adopted}))),
                )
                .await?;
                self.respond(Kind::User, 201, v, p).await
            }
            Err(e) => {
                self.audit_failure(ctx, "scim.user.create", None, &trace, &e)
                    .await;
                Err(e)
            }
        }
    }

    async fn respond(
        &self,
        kind: Kind,
        status: u16,
        v: Value,
        p: &ListParams,
    ) -> Result<Reply, GwError> {
        let v = if kind == Kind::User {
            self.decorate_user(v).await?
        } else {
            v
        };
        let proj = Projection::new(p.attributes.as_deref(), p.excluded_attributes.as_deref())?;
        let mut reply = Reply::ok(status, v.clone());
        let r = Resource::from_json(v)?;
        reply.body = Some(self.outward(proj.apply(&r, kind.schema())));
        Ok(reply)
    }

    async fn create_user_inner(
        &self,
        ctx: &Ctx,
        mut body: Value,
        trace: &mut Trace,
    ) -> Result<(String, Value, bool), GwError> {
        normalize(&mut body, &self.cfg.normalize);
        let res = gcprov_scim::prepare_create(body, defs::user_resource())?;
        let user_name = res
            .user_name()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| GwError::bad(ScimType::InvalidValue, "userName is required"))?
            .to_string();
        self.check_policy(Kind::User, &res.to_json(), trace)?;
        if let Some(existing) = self
            .store
            .find_users(&UserLookup::UserName(user_name.clone()))
            .await
            .map_err(store_err)?
            .into_iter()
            .next()
        {
            return match self.cfg.users.on_conflict {
                OnConflict::Reject => Err(GwError::new(
                    409,
                    Some(ScimType::Uniqueness),
                    "a user with this userName already exists",
                )),
                OnConflict::Adopt => {
                    let v = self
                        .replace_existing_user(ctx, &existing.id, res, trace)
                        .await?;
                    Ok((existing.id, v, true))
                }
            };
        }
        let g = self.user_to_genesys(&res)?;
        let _slot = self.slot().await?;
        if self.shadow() {
            let id = uuid::Uuid::new_v4().to_string();
            trace.ok("scim.users.create", &id, true);
            let (rec, v) = self.user_record_local(&id, &res, 1);
            trace.staged.push(Change::UpsertUser(rec));
            return Ok((id, v, false));
        }
        // A soft-deleted Genesys user with this userName is restored instead of duplicated.
        if self.cfg.users.restore_deleted {
            match self
                .genesys
                .find_deleted_user_by_email(&self.genesys_name(&user_name))
                .await
            {
                Ok(Some(u)) => {
                    if let (Some(id), Some(version)) = (u.id.clone(), u.version) {
                        match self.genesys.restore_user(&id, version).await {
                            Ok(_) => {
                                trace.ok("users.restore", &id, false);
                                let v = self.put_genesys_user(&id, &g, None, trace).await?;
                                return Ok((id, v, false));
                            }
                            Err(e) => {
                                trace.err("users.restore", &id, &e);
                                return Err(from_genesys(&e, self.retry_after()));
                            }
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    // Conservative: a failed lookup does not block the create (Genesys
                    // itself refuses a duplicate userName).
                    trace.err("users.search.deleted", &user_name, &e);
                }
            }
        }
        match self.genesys.scim_create_user(&g).await {
            Ok(v) => {
                let (rec, val) = self.user_from_genesys(&v)?;
                trace.ok("scim.users.create", &rec.id, false);
                let id = rec.id.clone();
                trace.staged.push(Change::UpsertUser(rec));
                Ok((id, val, false))
            }
            Err(e) if e.is_conflict() => {
                trace.err("scim.users.create", &user_name, &e);
                // Exists in Genesys but not in our model (changed since the last sync, or an
                // earlier attempt of this very request succeeded): refresh and decide.
                let found = self
                    .genesys
                    .scim_find_user(&self.genesys_name(&user_name))
                    .await
                    .map_err(|e| from_genesys(&e, self.retry_after()))?;
                let Some(found) = found else {
                    return Err(GwError::new(
                        409,
                        Some(ScimType::Uniqueness),
                        "a user with this userName already exists",
                    ));
                };
                let id = found.id.clone().unwrap_or_default();
                let same_request = res.external_id().is_some()
                    && found.external_id.as_deref() == res.external_id();
                if same_request || self.cfg.users.on_conflict == OnConflict::Adopt {
                    let v = self.put_genesys_user(&id, &g, None, trace).await?;
                    Ok((id, v, !same_request))
                } else {
                    let etag = found.meta.as_ref().and_then(|m| m.version.clone());
                    let (rec, _) = self.user_from_genesys(&Versioned {
                        resource: found,
                        etag,
                    })?;
                    self.store.upsert_user(&rec).await.map_err(store_err)?;
                    Err(GwError::new(
                        409,
                        Some(ScimType::Uniqueness),
                        "a user with this userName already exists",
                    ))
                }
            }
            Err(e) => {
                trace.err("scim.users.create", &user_name, &e);
                Err(from_genesys(&e, self.retry_after()))
            }
        }
    }

    /// PUT to Genesys and refresh the model.
    async fn put_genesys_user(
        &self,
        id: &str,
        g: &ScimV2User,
        if_match: Option<&str>,
        trace: &mut Trace,
    ) -> Result<Value, GwError> {
        match self.genesys.scim_replace_user(id, g, if_match).await {
            Ok(v) => {
                trace.ok("scim.users.replace", id, false);
                let (rec, val) = self.user_from_genesys(&v)?;
                trace.staged.push(Change::UpsertUser(rec));
                Ok(val)
            }
            Err(e) => {
                trace.err("scim.users.replace", id, &e);
                Err(from_genesys(&e, self.retry_after()))
            }
        }
    }

    async fn replace_existing_user(
        &self,
        ctx: &Ctx,
        id: &str,
        new: Resource,
        trace: &mut Trace,
    ) -> Result<Value, GwError> {
        let _ = ctx;
        let cur = self
            .store
            .get_user(id)
            .await
            .map_err(store_err)?
            .ok_or_else(|| GwError::not_found("User", id))?;
        let res = gcprov_scim::replace_resource(
            &Resource::from_json(cur.resource)?,
            new.into_json(),
            defs::user_resource(),
        )?;
        let g = self.user_to_genesys(&res)?;
        let _slot = self.slot().await?;
        if self.shadow() {
            trace.ok("scim.users.replace", id, true);
            let (rec, v) = self.user_record_local(id, &res, cur.version + 1);
            trace.staged.push(Change::UpsertUser(rec));
            return Ok(v);
        }
        self.put_genesys_user(id, &g, None, trace).await
    }

    /// Re-reads a user from Genesys and refreshes the model (after a version conflict).
    async fn refresh_user(&self, id: &str, trace: &mut Trace) -> Result<(), GwError> {
        match self.genesys.scim_get_user(id, None).await {
            Ok(gcprov_genesys::Conditional::Modified(v)) => {
                trace.ok("scim.users.get", id, false);
                let (rec, _) = self.user_from_genesys(&v)?;
                self.store.upsert_user(&rec).await.map_err(store_err)?;
                Ok(())
            }
            Ok(gcprov_genesys::Conditional::NotModified) => Ok(()),
            Err(e) if e.is_not_found() => {
                trace.err("scim.users.get", id, &e);
                self.store.delete_user(id).await.map_err(store_err)?;
                Err(GwError::not_found("User", id))
            }
            Err(e) => {
                trace.err("scim.users.get", id, &e);
                Err(from_genesys(&e, self.retry_after()))
            }
        }
    }

    /// PUT or PATCH of a user: `change` turns the current resource into the new one. A user
    /// that was inactive and is active now rejoins the queues its mapped groups owe; a failure
    /// there is recorded in the audit entry, not returned (the user change itself succeeded),
    /// and the next full sync (`mapping.apply_on_sync`) joins them.
    async fn change_user<F>(
        &self,
        id: &str,
        if_match: Option<&str>,
        change: F,
        trace: &mut Trace,
    ) -> Result<Value, GwError>
    where
        F: Fn(&Resource) -> Result<Resource, GwError>,
    {
        let (v, reactivated) = self.write_user(id, if_match, change, trace).await?;
        if reactivated {
            let _ = self.user_queues(id, true, trace).await;
        }
        Ok(v)
    }

    /// The write of [`Self::change_user`], which also tells whether it reactivated the user.
    /// Writes carry the Genesys version; a conflict re-reads, refreshes the model and
    /// re-applies.
    async fn write_user<F>(
        &self,
        id: &str,
        if_match: Option<&str>,
        change: F,
        trace: &mut Trace,
    ) -> Result<(Value, bool), GwError>
    where
        F: Fn(&Resource) -> Result<Resource, GwError>,
    {
        for attempt in 0..3 {
            let cur = self
                .store
                .get_user(id)
                .await
                .map_err(store_err)?
                .ok_or_else(|| GwError::not_found("User", id))?;
            let cur_etag = cur
                .resource
                .pointer("/meta/version")
                .and_then(Value::as_str)
                .unwrap_or("W/\"0\"")
                .to_string();
            if attempt == 0 {
                check_if_match(if_match, &cur_etag)?;
            }
            let current = Resource::from_json(cur.resource.clone())?;
            let new = change(&current)?;
            let mut nv = new.into_json();
            normalize(&mut nv, &self.cfg.normalize);
            let mut new = Resource::from_json(nv)?;
            Self::keep_routing(&current, &mut new);
            self.check_policy(Kind::User, &new.to_json(), trace)?;
            if new.active() == Some(false)
                && cur.active
                && self.cfg.users.on_disable == OnDelete::Delete
            {
                self.delete_user_inner(id, None, trace).await?;
                return Err(GwError::not_found("User", id));
            }
            let reactivated = !cur.active && new.active() == Some(true);
            let g = self.user_to_genesys(&new)?;
            let _slot = self.slot().await?;
            if cur.active && new.active() == Some(false) {
                // Before the PUT: a failure leaves the user active and the IdP retries.
                self.user_queues(id, false, trace).await?;
            }
            if self.shadow() {
                trace.ok("scim.users.replace", id, true);
                let (rec, v) = self.user_record_local(id, &new, cur.version + 1);
                trace.staged.push(Change::UpsertUser(rec));
                return Ok((v, reactivated));
            }
            let genesys_etag = format!("\"{}\"", etag_tag(&cur_etag));
            match self
                .genesys
                .scim_replace_user(id, &g, Some(&genesys_etag))
                .await
            {
                Ok(v) => {
                    trace.ok("scim.users.replace", id, false);
                    let (rec, val) = self.user_from_genesys(&v)?;
                    trace.staged.push(Change::UpsertUser(rec));
                    return Ok((val, reactivated));
                }
                Err(e)
                    if e.is_version_conflict()
                        || (e.status() == Some(409)
                            && e.api().and_then(|a| a.scim_type()) == Some("invalidVers")) =>
                {
                    trace.err("scim.users.replace", id, &e);
                    self.refresh_user(id, trace).await?;
                    continue;
                }
                Err(e) if e.is_not_found() => {
                    trace.err("scim.users.replace", id, &e);
                    self.store.delete_user(id).await.map_err(store_err)?;
                    return Err(GwError::not_found("User", id));
                }
                Err(e) => {
                    trace.err("scim.users.replace", id, &e);
                    return Err(from_genesys(&e, self.retry_after()));
                }
            }
        }
        Err(GwError::retryable(
            409,
            "the user keeps changing in Genesys Cloud; retry later",
            self.retry_after(),
        ))
    }

    pub async fn replace_user(
        &self,
        ctx: &Ctx,
        id: &str,
        if_match: Option<&str>,
        mut body: Value,
        p: &ListParams,
    ) -> Result<Reply, GwError> {
        Self::require(&ctx.caller, Role::Provisioner)?;
        normalize(&mut body, &self.cfg.normalize);
        let mut trace = Trace::default();
        let r = self
            .change_user(
                id,
                if_match,
                |cur| {
                    Ok(gcprov_scim::replace_resource(
                        cur,
                        body.clone(),
                        defs::user_resource(),
                    )?)
                },
                &mut trace,
            )
            .await;
        self.finish_update(ctx, Kind::User, id, "scim.user.replace", r, &trace, p)
            .await
    }

    pub async fn patch_user(
        &self,
        ctx: &Ctx,
        id: &str,
        if_match: Option<&str>,
        mut body: Value,
        p: &ListParams,
    ) -> Result<Reply, GwError> {
        Self::require(&ctx.caller, Role::Provisioner)?;
        normalize_patch(&mut body, &self.cfg.normalize);
        strip_extension_schemas(&mut body);
        let patch = PatchRequest::from_json(&body)?;
        let mut trace = Trace::default();
        let r = self
            .change_user(
                id,
                if_match,
                |cur| Ok(patch.apply(cur, defs::user_resource())?),
                &mut trace,
            )
            .await;
        self.finish_update(ctx, Kind::User, id, "scim.user.patch", r, &trace, p)
            .await
    }

    /// Audits the outcome of a PUT or PATCH (event `scim.user.updated` / `scim.group.updated`
    /// on success) and answers with the projected resource.
    #[allow(clippy::too_many_arguments)]
    async fn finish_update(
        &self,
        ctx: &Ctx,
        kind: Kind,
        id: &str,
        action: &str,
        r: Result<Value, GwError>,
        trace: &Trace,
        p: &ListParams,
    ) -> Result<Reply, GwError> {
        match r {
            Ok(v) => {
                let event = match kind {
                    Kind::User => "scim.user.updated",
                    Kind::Group => "scim.group.updated",
                };
                self.audit_commit(
                    ctx,
                    action,
                    Outcome::Success,
                    Some(id),
                    trace,
                    json!({"status": 200}),
                    Some((event, json!({"id": id}))),
                )
                .await?;
                self.respond(kind, 200, v, p).await
            }
            Err(e) => {
                self.audit_failure(ctx, action, Some(id), trace, &e).await;
                Err(e)
            }
        }
    }

    async fn delete_user_inner(
        &self,
        id: &str,
        if_match: Option<&str>,
        trace: &mut Trace,
    ) -> Result<(), GwError> {
        let _slot = self.slot().await?;
        // Queues route calls to agents: a deleted agent leaves its mapped queues first.
        self.user_queues(id, false, trace).await?;
        let groups = self.groups_of(id).await;
        if self.shadow() {
            self.drop_from_groups(id, &groups).await?;
            trace.ok("scim.users.delete", id, true);
            trace.staged.push(Change::DeleteUser(id.to_string()));
            return Ok(());
        }
        match self.genesys.scim_delete_user(id, if_match).await {
            Ok(()) => trace.ok("scim.users.delete", id, false),
            Err(e) if e.is_not_found() => trace.err("scim.users.delete", id, &e),
            Err(e) => {
                trace.err("scim.users.delete", id, &e);
                return Err(from_genesys(&e, self.retry_after()));
            }
        }
        trace.staged.push(Change::DeleteUser(id.to_string()));
        self.drop_from_groups(id, &groups).await?;
        Ok(())
    }

    /// Ids of the groups a user is a member of (in-memory memberships).
    async fn groups_of(&self, uid: &str) -> Vec<String> {
        self.members
            .read()
            .await
            .by_user
            .get(uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Removes a deleted user from the read model's groups `gids` (member rows, the stored
    /// group resources and the in-memory memberships). Genesys drops a deleted user's
    /// memberships.
    async fn drop_from_groups(&self, uid: &str, gids: &[String]) -> Result<(), GwError> {
        for gid in gids {
            if let Some(g) = self.store.get_group(gid).await.map_err(store_err)? {
                let members: Vec<String> = g.members.into_iter().filter(|m| m != uid).collect();
                let rec = self.group_record(
                    gid,
                    &g.display_name,
                    g.external_id.as_deref(),
                    members,
                    g.version,
                );
                self.store.upsert_group(&rec).await.map_err(store_err)?;
            }
            self.reload_group(gid).await.map_err(store_err)?;
        }
        Ok(())
    }

    /// Joins (`join`) or removes a user to/from the queues its mapped groups owe: on
    /// reactivation, and before deactivation or deletion. Shadow mode records the call.
    async fn user_queues(&self, uid: &str, join: bool, trace: &mut Trace) -> Result<(), GwError> {
        let owed = self.owed_by_groups(uid, None).await?.queues_only();
        if owed.is_empty() {
            return Ok(());
        }
        let op = if join {
            "mapping.queues.join"
        } else {
            "mapping.queues.leave"
        };
        if self.shadow() {
            trace.ok(op, uid, true);
            return Ok(());
        }
        let r = if join {
            owed.grant(&self.genesys, uid).await
        } else {
            owed.revoke(&self.genesys, uid).await
        };
        match r {
            Ok(()) => {
                trace.ok(op, uid, false);
                Ok(())
            }
            Err(e) => {
                trace.err(op, uid, &e);
                Err(from_genesys(&e, self.retry_after()))
            }
        }
    }

    pub async fn delete_user(
        &self,
        ctx: &Ctx,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<Reply, GwError> {
        Self::require(&ctx.caller, Role::Provisioner)?;
        let mut trace = Trace::default();
        let r = async {
            let (_, cur_etag) = self
                .current(Kind::User, id)
                .await?
                .ok_or_else(|| GwError::not_found("User", id))?;
            check_if_match(if_match, &cur_etag)?;
            match self.cfg.users.on_delete {
                OnDelete::Delete => self.delete_user_inner(id, None, &mut trace).await,
                OnDelete::Deactivate => self
                    .change_user(
                        id,
                        None,
                        |cur| {
                            let mut n = cur.clone();
                            n.set("active", json!(false));
                            Ok(n)
                        },
                        &mut trace,
                    )
                    .await
                    .map(|_| ()),
            }
        }
        .await;
        match r {
            Ok(()) => {
                self.audit_commit(ctx, "scim.user.delete", Outcome::Success, Some(id), &trace,
                    json!({"status": 204, "onDelete": format!("{:?}", self.cfg.users.on_delete).to_lowercase()}),
                    Some(("scim.user.deleted", json!({"id": id})))).await?;
                Ok(Reply::empty(204))
            }
            Err(e) => {
                self.audit_failure(ctx, "scim.user.delete", Some(id), &trace, &e)
                    .await;
                Err(e)
            }
        }
    }

    // ------------------------------------------------------------------ group writes

    fn validate_group_name(name: &str) -> Result<(), GwError> {
        if name.trim().is_empty()
            || name.chars().count() > 256
            || name.chars().any(char::is_control)
        {
            return Err(GwError::bad(
                ScimType::InvalidValue,
                "displayName must be 1 to 256 printable characters",
            ));
        }
        Ok(())
    }

    fn member_ids(res: &Resource) -> Vec<String> {
        let mut out: Vec<String> = res
            .multi_values("members")
            .into_iter()
            .filter_map(|m| m.value)
            .collect();
        out.sort();
        out.dedup();
        out
    }

    async fn check_members(&self, ids: &[String]) -> Result<(), GwError> {
        for id in ids {
            if self.store.get_user(id).await.map_err(store_err)?.is_none() {
                let id: String = id.chars().take(64).collect();
                return Err(GwError::bad(
                    ScimType::InvalidValue,
                    format!("member {id} is not a known user"),
                ));
            }
        }
        Ok(())
    }

    pub async fn create_group(
        &self,
        ctx: &Ctx,
        mut body: Value,
        p: &ListParams,
    ) -> Result<Reply, GwError> {
        Self::require(&ctx.caller, Role::Provisioner)?;
        let mut cfg = self.cfg.normalize.clone();
        cfg.lowercase_user_name = false;
        cfg.lowercase_emails = false;
        normalize(&mut body, &cfg);
        let mut trace = Trace::default();
        let r = async {
            let res = gcprov_scim::prepare_create(body, schema::group())?;
            let name = res.display_name().unwrap_or_default().to_string();
            Self::validate_group_name(&name)?;
            self.check_policy(Kind::Group, &res.to_json(), &mut trace)?;
            if !self
                .store
                .find_groups_by_display_name(&name)
                .await
                .map_err(store_err)?
                .is_empty()
            {
                return Err(GwError::new(
                    409,
                    Some(ScimType::Uniqueness),
                    "a group with this displayName already exists",
                ));
            }
            let members = Self::member_ids(&res);
            self.check_members(&members).await?;
            let external_id = res.external_id().map(str::to_string);
            let _slot = self.slot().await?;
            let (id, version) = if self.shadow() {
                let id = uuid::Uuid::new_v4().to_string();
                trace.ok("groups.create", &id, true);
                if !members.is_empty() {
                    trace.ok("groups.members.add", &id, true);
                }
                (id, 1)
            } else {
                let existing = if self.cfg.groups.create_missing {
                    match self
                        .genesys
                        .create_group(&GroupCreate::official(name.clone()))
                        .await
                    {
                        Ok(g) => {
                            trace.ok("groups.create", g.id.as_deref().unwrap_or_default(), false);
                            g
                        }
                        Err(e) if e.is_conflict() => {
                            trace.err("groups.create", &name, &e);
                            self.find_genesys_group(&name, &mut trace)
                                .await?
                                .ok_or_else(|| {
                                    GwError::new(
                                        409,
                                        Some(ScimType::Uniqueness),
                                        "a Genesys group with this name exists",
                                    )
                                })?
                        }
                        Err(e) => {
                            trace.err("groups.create", &name, &e);
                            return Err(from_genesys(&e, self.retry_after()));
                        }
                    }
                } else {
                    self.find_genesys_group(&name, &mut trace)
                        .await?
                        .ok_or_else(|| {
                            GwError::bad(
                                ScimType::InvalidValue,
                                "no Genesys group has this name and groups.create_missing is off",
                            )
                        })?
                };
                let id = existing
                    .id
                    .clone()
                    .ok_or_else(|| GwError::internal("Genesys group without id"))?;
                // An adopted group unlinked earlier (`groups.on_delete = "unlink"`) is the
                // IdP's again.
                self.store
                    .unlink_identity(UNLINKED, "group", &id)
                    .await
                    .map_err(store_err)?;
                let mut version = existing.version.unwrap_or(1);
                if !members.is_empty() {
                    let refs: Vec<&str> = members.iter().map(String::as_str).collect();
                    match self.genesys.add_group_members(&id, &refs).await {
                        Ok(()) => trace.ok("groups.members.add", &id, false),
                        Err(e) => {
                            trace.err("groups.members.add", &id, &e);
                            return Err(from_genesys(&e, self.retry_after()));
                        }
                    }
                    version = self
                        .genesys
                        .get_group(&id)
                        .await
                        .ok()
                        .and_then(|g| g.version)
                        .unwrap_or(version + 1);
                }
                (id, version)
            };
            let rec =
                self.group_record(&id, &name, external_id.as_deref(), members.clone(), version);
            self.store.upsert_group(&rec).await.map_err(store_err)?;
            if let Some(x) = &external_id {
                self.store
                    .link_identity("scim", "group", x, &id)
                    .await
                    .map_err(store_err)?;
            }
            self.reload_group(&id).await.map_err(store_err)?;
            self.apply_mapping(&id, &name, &members, &[], &mut trace)
                .await?;
            Ok((id, rec.resource))
        }
        .await;
        match r {
            Ok((id, v)) => {
                self.audit(
                    ctx,
                    "scim.group.create",
                    Outcome::Success,
                    Some(&id),
                    &trace,
                    json!({"status": 201}),
                    Some(("scim.group.created", json!({"id": id}))),
                )
                .await;
                self.respond(Kind::Group, 201, v, p).await
            }
            Err(e) => {
                self.audit_failure(ctx, "scim.group.create", None, &trace, &e)
                    .await;
                Err(e)
            }
        }
    }

    async fn find_genesys_group(
        &self,
        name: &str,
        trace: &mut Trace,
    ) -> Result<Option<gcprov_genesys::models::Group>, GwError> {
        match self.genesys.find_group_by_name(name).await {
            Ok(g) => {
                trace.ok("groups.search", name, false);
                Ok(g)
            }
            Err(e) => {
                trace.err("groups.search", name, &e);
                Err(from_genesys(&e, self.retry_after()))
            }
        }
    }

    async fn change_group<F>(
        &self,
        id: &str,
        if_match: Option<&str>,
        change: F,
        trace: &mut Trace,
    ) -> Result<Value, GwError>
    where
        F: Fn(&Resource) -> Result<Resource, GwError>,
    {
        let cur = self
            .store
            .get_group(id)
            .await
            .map_err(store_err)?
            .ok_or_else(|| GwError::not_found("Group", id))?;
        let cur_etag = cur
            .resource
            .pointer("/meta/version")
            .and_then(Value::as_str)
            .unwrap_or("W/\"0\"")
            .to_string();
        check_if_match(if_match, &cur_etag)?;
        let current = Resource::from_json(cur.resource.clone())?;
        let new = change(&current)?;
        let mut nv = new.into_json();
        let mut ncfg = self.cfg.normalize.clone();
        ncfg.lowercase_emails = false;
        ncfg.lowercase_user_name = false;
        normalize(&mut nv, &ncfg);
        let new = Resource::from_json(nv)?;
        let name = new.display_name().unwrap_or_default().to_string();
        Self::validate_group_name(&name)?;
        self.check_policy(Kind::Group, &new.to_json(), trace)?;
        let members = Self::member_ids(&new);
        let old: BTreeSet<&String> = cur.members.iter().collect();
        let newset: BTreeSet<&String> = members.iter().collect();
        let added: Vec<String> = newset.difference(&old).map(|s| s.to_string()).collect();
        let removed: Vec<String> = old.difference(&newset).map(|s| s.to_string()).collect();
        self.check_members(&added).await?;
        if name != cur.display_name {
            let clash = self
                .store
                .find_groups_by_display_name(&name)
                .await
                .map_err(store_err)?;
            if clash.iter().any(|g| g.id != id) {
                return Err(GwError::new(
                    409,
                    Some(ScimType::Uniqueness),
                    "a group with this displayName already exists",
                ));
            }
        }
        let external_id = new.external_id().map(str::to_string);
        let _slot = self.slot().await?;
        let mut version = cur.version;
        let shadow = self.shadow();
        if name != cur.display_name {
            if shadow {
                trace.ok("groups.update", id, true);
            } else {
                let mut tries = 0;
                loop {
                    tries += 1;
                    let body = GroupUpdate {
                        version,
                        name: Some(name.clone()),
                        ..Default::default()
                    };
                    match self.genesys.update_group(id, &body).await {
                        Ok(g) => {
                            trace.ok("groups.update", id, false);
                            version = g.version.unwrap_or(version + 1);
                            break;
                        }
                        Err(e) if e.is_version_conflict() && tries < 3 => {
                            trace.err("groups.update", id, &e);
                            version = self
                                .genesys
                                .get_group(id)
                                .await
                                .map_err(|e| from_genesys(&e, self.retry_after()))?
                                .version
                                .unwrap_or(version);
                        }
                        Err(e) => {
                            trace.err("groups.update", id, &e);
                            return Err(from_genesys(&e, self.retry_after()));
                        }
                    }
                }
            }
        }
        if !added.is_empty() {
            if shadow {
                trace.ok("groups.members.add", id, true);
            } else {
                let refs: Vec<&str> = added.iter().map(String::as_str).collect();
                self.genesys
                    .add_group_members(id, &refs)
                    .await
                    .map_err(|e| {
                        trace.err("groups.members.add", id, &e);
                        from_genesys(&e, self.retry_after())
                    })?;
                trace.ok("groups.members.add", id, false);
            }
        }
        if !removed.is_empty() {
            if shadow {
                trace.ok("groups.members.remove", id, true);
            } else {
                let refs: Vec<&str> = removed.iter().map(String::as_str).collect();
                self.genesys
                    .remove_group_members(id, &refs)
                    .await
                    .map_err(|e| {
                        trace.err("groups.members.remove", id, &e);
                        from_genesys(&e, self.retry_after())
                    })?;
                trace.ok("groups.members.remove", id, false);
            }
        }
        if !shadow && (!added.is_empty() || !removed.is_empty()) {
            version = self
                .genesys
                .get_group(id)
                .await
                .ok()
                .and_then(|g| g.version)
                .unwrap_or(version + 1);
        } else if shadow && (name != cur.display_name || !added.is_empty() || !removed.is_empty()) {
            version += 1;
        }
        let rec = self.group_record(id, &name, external_id.as_deref(), members, version);
        self.store.upsert_group(&rec).await.map_err(store_err)?;
        if external_id != cur.external_id {
            if let Some(old) = &cur.external_id {
                self.store
                    .unlink_identity("scim", "group", old)
                    .await
                    .map_err(store_err)?;
            }
            if let Some(x) = &external_id {
                self.store
                    .link_identity("scim", "group", x, id)
                    .await
                    .map_err(store_err)?;
            }
        }
        self.reload_group(id).await.map_err(store_err)?;
        self.apply_mapping(id, &name, &added, &removed, trace)
            .await?;
        Ok(rec.resource)
    }

    pub async fn replace_group(
        &self,
        ctx: &Ctx,
        id: &str,
        if_match: Option<&str>,
        body: Value,
        p: &ListParams,
    ) -> Result<Reply, GwError> {
        Self::require(&ctx.caller, Role::Provisioner)?;
        let mut trace = Trace::default();
        let r = self
            .change_group(
                id,
                if_match,
                |cur| {
                    Ok(gcprov_scim::replace_resource(
                        cur,
                        body.clone(),
                        schema::group(),
                    )?)
                },
                &mut trace,
            )
            .await;
        self.finish_update(ctx, Kind::Group, id, "scim.group.replace", r, &trace, p)
            .await
    }

    pub async fn patch_group(
        &self,
        ctx: &Ctx,
        id: &str,
        if_match: Option<&str>,
        body: Value,
        p: &ListParams,
    ) -> Result<Reply, GwError> {
        Self::require(&ctx.caller, Role::Provisioner)?;
        let patch = PatchRequest::from_json(&body)?;
        let mut trace = Trace::default();
        let r = self
            .change_group(
                id,
                if_match,
                |cur| Ok(patch.apply(cur, schema::group())?),
                &mut trace,
            )
            .await;
        self.finish_update(ctx, Kind::Group, id, "scim.group.patch", r, &trace, p)
            .await
    }

    pub async fn delete_group(
        &self,
        ctx: &Ctx,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<Reply, GwError> {
        Self::require(&ctx.caller, Role::Provisioner)?;
        let mut trace = Trace::default();
        let r = async {
            let cur = self
                .store
                .get_group(id)
                .await
                .map_err(store_err)?
                .ok_or_else(|| GwError::not_found("Group", id))?;
            let cur_etag = cur
                .resource
                .pointer("/meta/version")
                .and_then(Value::as_str)
                .unwrap_or("W/\"0\"")
                .to_string();
            check_if_match(if_match, &cur_etag)?;
            let _slot = self.slot().await?;
            let unlink = self.cfg.groups.on_delete == GroupOnDelete::Unlink;
            if unlink {
                // The Genesys group and its members stay; only the IdP's link goes.
            } else if self.shadow() {
                trace.ok("groups.delete", id, true);
            } else {
                match self.genesys.delete_group(id).await {
                    Ok(()) => trace.ok("groups.delete", id, false),
                    Err(e) if e.is_not_found() => trace.err("groups.delete", id, &e),
                    Err(e) => {
                        trace.err("groups.delete", id, &e);
                        return Err(from_genesys(&e, self.retry_after()));
                    }
                }
            }
            self.apply_mapping(id, &cur.display_name, &[], &cur.members, &mut trace)
                .await?;
            if unlink {
                // A tombstone keeps the next syncs from showing the group to the IdP again
                // (it asked for it to be gone); adopting the group by name lifts it.
                self.store
                    .link_identity(UNLINKED, "group", id, id)
                    .await
                    .map_err(store_err)?;
            }
            self.store.delete_group(id).await.map_err(store_err)?;
            if let Some(x) = &cur.external_id {
                self.store
                    .unlink_identity("scim", "group", x)
                    .await
                    .map_err(store_err)?;
            }
            self.reload_group(id).await.map_err(store_err)?;
            Ok(())
        }
        .await;
        match r {
            Ok(()) => {
                let on_delete = match self.cfg.groups.on_delete {
                    GroupOnDelete::Delete => "delete",
                    GroupOnDelete::Unlink => "unlink",
                };
                self.audit(
                    ctx,
                    "scim.group.delete",
                    Outcome::Success,
                    Some(id),
                    &trace,
                    json!({"status": 204, "onDelete": on_delete}),
                    Some(("scim.group.deleted", json!({"id": id}))),
                )
                .await;
                Ok(Reply::empty(204))
            }
            Err(e) => {
                self.audit_failure(ctx, "scim.group.delete", Some(id), &trace, &e)
                    .await;
                Err(e)
            }
        }
    }

    /// A mapping rule with Genesys ids (cached; see [`Resolver`]).
    async fn resolve_rule(
        &self,
        group: &str,
        rule: &crate::mapping::GroupRule,
    ) -> Result<Arc<Resolved>, GwError> {
        self.resolver
            .get(&self.mapping, &self.genesys, rule)
            .await
            .map_err(|e| {
                GwError::bad(
                    ScimType::InvalidValue,
                    format!("mapping for group '{group}': {e}"),
                )
            })
    }

    /// What the mapped groups a user is in (by the in-memory memberships) owe, except the
    /// group `skip`.
    async fn owed_by_groups(&self, user: &str, skip: Option<&str>) -> Result<Resolved, GwError> {
        let names: Vec<String> = {
            let members = self.members.read().await;
            let groups = self.groups.read().await;
            members
                .by_user
                .get(user)
                .into_iter()
                .flatten()
                .filter(|g| Some(g.as_str()) != skip)
                .filter_map(|g| groups.get(g).cloned())
                .collect()
        };
        let mut parts = Vec::new();
        for name in names {
            if let Some(rule) = self.mapping.rule_for(&name) {
                parts.push(self.resolve_rule(&name, rule).await?);
            }
        }
        Ok(Resolved::union(parts.iter().map(|p| p.as_ref())))
    }

    /// Re-reads a user whose roles/skills/languages the mapping changed, so the model (and the
    /// next SCIM PUT built from it) shows them. A user gone from Genesys meanwhile is not an
    /// error here (the refresh removed it from the model).
    async fn refresh_after_mapping(&self, user: &str, trace: &mut Trace) -> Result<(), GwError> {
        match self.refresh_user(user, trace).await {
            Err(e) if e.status() == 404 => Ok(()),
            r => r,
        }
    }

    /// Applies the mapping file's effects (roles, skills, languages, queues) of membership
    /// changes in the IdP group `group` (id `gid`). A removed member loses only what no other
    /// mapped group the user is still in owes; a deactivated member is not put in queues.
    async fn apply_mapping(
        &self,
        gid: &str,
        group: &str,
        added: &[String],
        removed: &[String],
        trace: &mut Trace,
    ) -> Result<(), GwError> {
        let Some(rule) = self.mapping.rule_for(group) else {
            return Ok(());
        };
        if added.is_empty() && removed.is_empty() {
            return Ok(());
        }
        if self.shadow() {
            for u in added {
                trace.ok("mapping.grant", u, true);
            }
            for u in removed {
                trace.ok("mapping.revoke", u, true);
            }
            return Ok(());
        }
        let this = self.resolve_rule(group, rule).await?;
        for u in added {
            let owed = Resolved::union([this.as_ref(), &self.owed_by_groups(u, Some(gid)).await?]);
            let mut give = this.at_owed_level(&owed);
            let active = self
                .store
                .get_user(u)
                .await
                .map_err(store_err)?
                .is_none_or(|r| r.active);
            if !active {
                give = give.without_queues();
            }
            give.grant(&self.genesys, u).await.map_err(|e| {
                trace.err("mapping.grant", u, &e);
                from_genesys(&e, self.retry_after())
            })?;
            trace.ok("mapping.grant", u, false);
            if give.touches_user() {
                self.refresh_after_mapping(u, trace).await?;
            }
        }
        for u in removed {
            let rest = self.owed_by_groups(u, Some(gid)).await?;
            let (revoke, regrant) = this.leave(&rest);
            revoke.revoke(&self.genesys, u).await.map_err(|e| {
                trace.err("mapping.revoke", u, &e);
                from_genesys(&e, self.retry_after())
            })?;
            trace.ok("mapping.revoke", u, false);
            if !regrant.is_empty() {
                regrant.grant(&self.genesys, u).await.map_err(|e| {
                    trace.err("mapping.regrant", u, &e);
                    from_genesys(&e, self.retry_after())
                })?;
                trace.ok("mapping.regrant", u, false);
            }
            // The model's user must show what the mapping changed: a later SCIM PUT carries
            // the model's roles and routing, and would otherwise undo it.
            if revoke.touches_user() || regrant.touches_user() {
                self.refresh_after_mapping(u, trace).await?;
            }
        }
        Ok(())
    }

    /// Full-sync step: grants what the mapping owes the active members of mapped groups and
    /// they do not hold, judged from `held` (the SCIM users the sync just read: skills and
    /// languages), one role-holder listing per mapped role ([`HeldGrants`]: the (role,
    /// division) pairs) and one member listing per mapped queue, so users already in line
    /// cost no Genesys call and no call is made per user. Never revokes. One `mapping.sync`
    /// audit entry per user brought in line. Returns how many.
    async fn apply_mapping_on_sync(
        &self,
        held: &std::collections::HashMap<String, Held>,
    ) -> Result<usize, GwError> {
        let mapped: Vec<(String, String)> = self
            .groups
            .read()
            .await
            .iter()
            .filter(|(_, n)| self.mapping.rule_for(n).is_some())
            .map(|(g, n)| (g.clone(), n.clone()))
            .collect();
        let mut users = BTreeSet::new();
        let mut queues = BTreeSet::new();
        let mut roles = BTreeSet::new();
        {
            let members = self.members.read().await;
            for (gid, _) in &mapped {
                users.extend(members.by_group.get(gid).into_iter().flatten().cloned());
            }
        }
        if users.is_empty() {
            return Ok(0);
        }
        for (_, name) in &mapped {
            if let Some(rule) = self.mapping.rule_for(name) {
                let r = self.resolve_rule(name, rule).await?;
                queues.extend(r.queue_ids().iter().cloned());
                roles.extend(r.role_ids());
            }
        }
        let ra = self.retry_after();
        // Only the members of mapped groups who could be granted are kept.
        let grants = HeldGrants::read(&self.genesys, &roles, |u| {
            users.contains(u) && held.get(u).is_some_and(|h| h.active)
        })
        .await
        .map_err(|e| from_genesys(&e, ra))?;
        let mut in_queue: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for q in queues {
            let mut set = BTreeSet::new();
            let mut s = self.genesys.list_queue_members(&q);
            while let Some(m) = s.next().await {
                let m = m.map_err(|e| from_genesys(&e, ra))?;
                if let Some(id) = m.id.or_else(|| m.user.and_then(|u| u.id)) {
                    set.insert(id);
                }
            }
            in_queue.insert(q, set);
        }
        let ctx = Ctx {
            caller: Caller {
                name: "gcprov:sync".into(),
                role: Role::Admin,
            },
            request_id: format!("sync-{}", uuid::Uuid::new_v4()),
        };
        let mut n = 0;
        for u in &users {
            // Deactivated users get nothing (queues route calls to agents); users the sync
            // did not see are gone.
            let Some(h) = held.get(u).filter(|h| h.active) else {
                continue;
            };
            let owed = self.owed_by_groups(u, None).await?;
            let missing = owed.missing(
                h,
                |p| grants.holds(u, p),
                |q| in_queue.get(q).is_some_and(|s| s.contains(u)),
            );
            if missing.is_empty() {
                continue;
            }
            let mut trace = Trace::default();
            let r = if self.shadow() {
                trace.ok("mapping.grant", u, true);
                Ok(())
            } else {
                match missing.grant(&self.genesys, u).await {
                    Ok(()) => {
                        trace.ok("mapping.grant", u, false);
                        if missing.touches_user() {
                            self.refresh_after_mapping(u, &mut trace).await
                        } else {
                            Ok(())
                        }
                    }
                    Err(e) => {
                        trace.err("mapping.grant", u, &e);
                        Err(from_genesys(&e, ra))
                    }
                }
            };
            let detail = json!({"granted": missing.describe()});
            match r {
                Ok(()) => {
                    n += 1;
                    self.audit(
                        &ctx,
                        "mapping.sync",
                        Outcome::Success,
                        Some(u),
                        &trace,
                        detail,
                        Some(("mapping.sync.granted", json!({"id": u}))),
                    )
                    .await;
                }
                Err(e) => {
                    self.audit(
                        &ctx,
                        "mapping.sync",
                        Outcome::Failure,
                        Some(u),
                        &trace,
                        detail,
                        None,
                    )
                    .await;
                    return Err(e);
                }
            }
        }
        Ok(n)
    }

    // ------------------------------------------------------------------ sync

    /// Sets one group's name and members in memory from the store (or forgets the group if
    /// the store no longer has it). Both maps stay locked while the store is read, so reloads
    /// apply in the order they read: the last reload of a group, which follows the last commit
    /// that changed it (a write's own reload, or the notification of any replica's commit),
    /// leaves memory equal to the store.
    pub(crate) async fn reload_group(&self, gid: &str) -> Result<(), gcprov_store::StoreError> {
        let mut members = self.members.write().await;
        let mut names = self.groups.write().await;
        match self.store.get_group(gid).await? {
            Some(g) => {
                names.insert(g.id.clone(), g.display_name);
                members.set(gid, Some(g.members));
            }
            None => {
                names.remove(gid);
                members.set(gid, None);
            }
        }
        Ok(())
    }

    /// Rebuilds both in-memory maps from the store (start, full sync, and whenever change
    /// notifications may have been lost).
    pub(crate) async fn reload_all(&self) -> Result<(), gcprov_store::StoreError> {
        let mut members = self.members.write().await;
        let mut names = self.groups.write().await;
        let index = self.store.group_index().await?;
        *members = Memberships::default();
        names.clear();
        for g in index {
            members.set(&g.id, Some(g.members));
            names.insert(g.id, g.display_name);
        }
        Ok(())
    }

    /// Applies a committed read-model change reported by the store (made by this replica or
    /// another one sharing the PostgreSQL store): reloads what it names from the store.
    /// Reloading is idempotent, so this replica's own changes coming back are harmless.
    pub async fn apply_model_change(
        &self,
        change: gcprov_store::ModelChange,
    ) -> Result<(), gcprov_store::StoreError> {
        let r = self.apply_model_change_inner(change).await;
        self.model_changes.send_modify(|n| *n += 1);
        r
    }

    /// A receiver that changes each time a store-reported change has been handled (applied or
    /// failed): wait on it, then check what should have changed.
    pub fn model_changes_handled(&self) -> tokio::sync::watch::Receiver<u64> {
        self.model_changes.subscribe()
    }

    async fn apply_model_change_inner(
        &self,
        change: gcprov_store::ModelChange,
    ) -> Result<(), gcprov_store::StoreError> {
        match change {
            gcprov_store::ModelChange::Group(gid) => self.reload_group(&gid).await,
            gcprov_store::ModelChange::UserDeleted(uid) => {
                // The groups memory holds the user in, and those the store still does.
                let mut gids: BTreeSet<String> = self
                    .members
                    .read()
                    .await
                    .by_user
                    .get(&uid)
                    .cloned()
                    .unwrap_or_default();
                gids.extend(self.store.groups_of_member(&uid).await?);
                for gid in gids {
                    self.reload_group(&gid).await?;
                }
                Ok(())
            }
            gcprov_store::ModelChange::Resync => self.reload_all().await,
        }
    }

    /// Paged full sync of users and groups from Genesys into the read model.
    pub async fn full_sync(&self) -> Result<(usize, usize), GwError> {
        let started_us = now_us();
        let ra = self.retry_after();
        self.resolver.clear().await;
        let apply = self.cfg.mapping.apply_on_sync && !self.mapping.groups.is_empty();
        let mut held: std::collections::HashMap<String, Held> = Default::default();
        let mut seen_users = BTreeSet::new();
        for filter in [None, Some("active eq false")] {
            let mut s = self.genesys.scim_list_users(filter);
            while let Some(u) = s.next().await {
                let u = u.map_err(|e| {
                    self.genesys_ok.store(false, Ordering::SeqCst);
                    from_genesys(&e, ra)
                })?;
                let etag = u.meta.as_ref().and_then(|m| m.version.clone());
                let h = apply.then(|| Held::from_scim(&u));
                let (rec, _) = self.user_from_genesys(&Versioned { resource: u, etag })?;
                if let Some(h) = h {
                    held.insert(rec.id.clone(), h);
                }
                seen_users.insert(rec.id.clone());
                self.store.upsert_user(&rec).await.map_err(store_err)?;
            }
        }
        self.genesys_ok.store(true, Ordering::SeqCst);
        if !self.shadow() {
            let mut after = String::new();
            loop {
                let page = self
                    .store
                    .list_users(&after, 1000)
                    .await
                    .map_err(store_err)?;
                let Some(last) = page.last() else { break };
                after = last.id.clone();
                for r in &page {
                    // A user written since the sync started (by this or another replica) may be
                    // missing from pages listed before the write: keep it for the next sync.
                    if !seen_users.contains(&r.id) && r.updated_us < started_us {
                        self.store.delete_user(&r.id).await.map_err(store_err)?;
                    }
                }
                if page.len() < 1000 {
                    break;
                }
            }
        }
        let mut seen_groups = BTreeSet::new();
        let mut s = self.genesys.list_groups();
        while let Some(g) = s.next().await {
            let g = g.map_err(|e| from_genesys(&e, ra))?;
            let (Some(id), Some(name)) = (g.id.clone(), g.name.clone()) else {
                continue;
            };
            let links = self
                .store
                .identities_by_genesys("group", &id)
                .await
                .map_err(store_err)?;
            if links.iter().any(|l| l.idp == UNLINKED) {
                continue;
            }
            let mut members = Vec::new();
            let mut ms = self.genesys.list_group_members(&id);
            while let Some(m) = ms.next().await {
                if let Some(mid) = m.map_err(|e| from_genesys(&e, ra))?.id {
                    members.push(mid);
                }
            }
            members.sort();
            let external = links
                .into_iter()
                .find(|l| l.idp == "scim")
                .map(|l| l.idp_id);
            let rec = self.group_record(
                &id,
                &name,
                external.as_deref(),
                members,
                g.version.unwrap_or(1),
            );
            self.store.upsert_group(&rec).await.map_err(store_err)?;
            seen_groups.insert(id);
        }
        if !self.shadow() {
            // Groups gone from Genesys leave the read model (whichever replica stored them);
            // a shadow gateway keeps the groups it simulated. A group written since this sync
            // started (created through any replica after the listing passed it) stays.
            for old in self.store.group_index().await.map_err(store_err)? {
                if !seen_groups.contains(&old.id) && old.updated_us < started_us {
                    self.store.delete_group(&old.id).await.map_err(store_err)?;
                }
            }
        }
        self.reload_all().await.map_err(store_err)?;
        let n_groups = self.groups.read().await.len();
        if apply {
            match self.apply_mapping_on_sync(&held).await {
                Ok(n) if n > 0 => tracing::info!(users = n, "mapping applied at sync"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "mapping at sync failed"),
            }
        }
        self.synced.store(true, Ordering::SeqCst);
        Ok((seen_users.len(), n_groups))
    }
}

/// A PATCH whose path is a whole extension URN may carry `schemas` inside its value (some
/// clients copy the extension object as they read it); that key is not an attribute.
fn strip_extension_schemas(body: &mut Value) {
    let Some(ops) = body.as_object_mut().and_then(|o| {
        o.iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case("Operations"))
            .map(|(_, v)| v)
    }) else {
        return;
    };
    for op in ops.as_array_mut().into_iter().flatten() {
        let is_ext = op
            .get("path")
            .and_then(Value::as_str)
            .is_some_and(|p| p.to_ascii_lowercase().starts_with("urn:") && !p.contains('['));
        if is_ext && let Some(Value::Object(v)) = op.get_mut("value") {
            remove_ci(v, "schemas");
        }
    }
}

/// Identity-map "IdP" of the tombstones of groups unlinked by `groups.on_delete = "unlink"`.
const UNLINKED: &str = "gcprov.unlinked";

fn store_err(e: gcprov_store::StoreError) -> GwError {
    tracing::error!(error = %e, "store error");
    GwError::retryable(503, "the gcprov store is unavailable; retry later", 5)
}

fn check_if_match(if_match: Option<&str>, current: &str) -> Result<(), GwError> {
    if let Some(h) = if_match {
        let cur = ETag::parse(current).ok();
        if !etag::if_match(h, cur.as_ref(), Comparison::Weak)? {
            return Err(
                etag::precondition_failed("the resource has changed (ETag mismatch)").into(),
            );
        }
    }
    Ok(())
}

/// The store lookup an indexed `eq` filter becomes.
enum Index {
    Id(String),
    User(UserLookup),
}

fn indexed(f: &Filter) -> Option<Index> {
    match f {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::String(v),
        } => {
            let attr = path.attr.to_ascii_lowercase();
            let sub = path.sub_attr.as_deref().map(str::to_ascii_lowercase);
            match (attr.as_str(), sub.as_deref()) {
                ("id", None) => Some(Index::Id(v.clone())),
                ("username", None) => Some(Index::User(UserLookup::UserName(v.clone()))),
                ("externalid", None) => Some(Index::User(UserLookup::ExternalId(v.clone()))),
                ("displayname", None) => Some(Index::User(UserLookup::DisplayName(v.clone()))),
                ("emails", None | Some("value")) => Some(Index::User(UserLookup::Email(v.clone()))),
                _ => None,
            }
        }
        Filter::And(a, b) => indexed(a).or_else(|| indexed(b)),
        Filter::ValuePath { path, filter } if path.attr.eq_ignore_ascii_case("emails") => {
            match filter.as_ref() {
                Filter::Compare {
                    path: p,
                    op: CompareOp::Eq,
                    value: CompValue::String(v),
                } if p.attr.eq_ignore_ascii_case("value") => {
                    Some(Index::User(UserLookup::Email(v.clone())))
                }
                Filter::And(a, b) => indexed(&Filter::ValuePath {
                    path: path.clone(),
                    filter: a.clone(),
                })
                .or_else(|| {
                    indexed(&Filter::ValuePath {
                        path: path.clone(),
                        filter: b.clone(),
                    })
                }),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Group memberships, by group and by user.
#[derive(Debug, Default)]
struct Memberships {
    by_group: std::collections::HashMap<String, Vec<String>>,
    by_user: std::collections::HashMap<String, BTreeSet<String>>,
}

impl Memberships {
    /// Replaces a group's members (`None`: the group is gone).
    fn set(&mut self, gid: &str, new: Option<Vec<String>>) {
        if let Some(old) = self.by_group.remove(gid) {
            for u in old {
                if let Some(set) = self.by_user.get_mut(&u) {
                    set.remove(gid);
                    if set.is_empty() {
                        self.by_user.remove(&u);
                    }
                }
            }
        }
        if let Some(members) = new {
            for u in &members {
                self.by_user
                    .entry(u.clone())
                    .or_default()
                    .insert(gid.to_string());
            }
            self.by_group.insert(gid.to_string(), members);
        }
    }
}

/// Every resource of a store listing paged by id: `page(after)` returns up to 1,000
/// `(id, resource)` pairs with ids after `after`.
async fn keyset_all<F, Fut>(mut page: F) -> Result<Vec<Value>, GwError>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<(String, Value)>, gcprov_store::StoreError>>,
{
    let mut all = Vec::new();
    let mut after = String::new();
    loop {
        let rows = page(after.clone()).await.map_err(store_err)?;
        let n = rows.len();
        let Some((last, _)) = rows.last() else { break };
        after = last.clone();
        all.extend(rows.into_iter().map(|(_, r)| r));
        if n < 1000 {
            break;
        }
    }
    Ok(all)
}
