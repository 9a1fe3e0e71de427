//! The operations: plan/create, list, show, audit, rotate-secret, disable, delete.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use futures::TryStreamExt;
use gcprov_genesys::GenesysClient;
use gcprov_genesys::models::{
    AuthzDivision, GrantType, OAuthClient, OAuthClientRequest, OAuthClientState, OrganizationRole,
    RoleDivision,
};
use gcprov_store::{NewEntry, NewEvent, Outcome, Store};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use crate::config::{DEFAULT_TOKEN_LIFETIME, GovernanceConfig, MIN_TOKEN_LIFETIME, Profile};
use crate::error::{Error, FieldError, Result};
use crate::privilege::{ExpandedRole, Finding, check_roles, check_scopes};
use crate::secret::{IssuedSecret, SecretFingerprint};
use crate::sink::{Delivery, Reason, Receipt, SecretSink};
use crate::spec::{ClientSpec, marker, parse_marker};

/// The five real values of `authorizedGrantType`.
pub const GRANT_TYPES: &[&str] = &[
    "CODE",
    "TOKEN",
    "SAML2-BEARER",
    "PASSWORD",
    "CLIENT-CREDENTIALS",
];

/// A validated request, ready to send, with its least-privilege findings.
#[derive(Debug, Clone)]
pub struct Plan {
    pub request: OAuthClientRequest,
    pub profile: String,
    pub scim: bool,
    pub findings: Vec<Finding>,
}

impl Plan {
    pub fn violations(&self) -> Vec<Finding> {
        self.findings
            .iter()
            .filter(|f| f.is_violation())
            .cloned()
            .collect()
    }
}

/// Compliance flags stored with every secret-issuing action.
#[derive(Debug, Clone, Serialize)]
pub struct Compliance {
    pub profile: Option<String>,
    pub least_privilege_verified: bool,
    pub excess_allowed: bool,
    pub excess_reason: Option<String>,
    pub delivered: bool,
    pub findings: Vec<Finding>,
}

/// What became of the new secret.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DeliveryOutcome {
    Delivered {
        sink: String,
        receipt: Receipt,
    },
    /// The secret was not delivered and is gone: run `rotate-secret` to issue a new one.
    Failed {
        sink: String,
        error: String,
    },
    /// Genesys returned no secret (e.g. a retried create found the client already made).
    NoSecretReturned,
}

impl DeliveryOutcome {
    pub fn delivered(&self) -> bool {
        matches!(self, DeliveryOutcome::Delivered { .. })
    }
}

/// Result of `create` or `rotate-secret`. Holds no secret.
#[derive(Debug, Clone, Serialize)]
pub struct SecretReport {
    pub action: &'static str,
    pub client_id: String,
    pub client_name: String,
    pub fingerprint: Option<SecretFingerprint>,
    pub delivery: DeliveryOutcome,
    pub latencies_ms: BTreeMap<&'static str, u64>,
    pub compliance: Compliance,
    /// A rotation that replaces a secret whose delivery had failed.
    pub replaces_undelivered: bool,
    pub audit_seq: Option<i64>,
}

/// One client as listed.
#[derive(Debug, Clone, Serialize)]
pub struct ClientSummary {
    pub id: String,
    pub name: String,
    pub grant_type: String,
    pub state: String,
    pub profile: Option<String>,
    pub scim: bool,
    pub token_lifetime_seconds: Option<i64>,
    pub scopes: Vec<String>,
    pub roles: Vec<RoleGrant>,
    pub date_created: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RoleGrant {
    pub role_id: String,
    pub role: Option<String>,
    pub division_id: String,
    pub division: Option<String>,
}

/// One client in an audit.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    #[serde(flatten)]
    pub client: ClientSummary,
    pub baseline: Option<String>,
    pub findings: Vec<Finding>,
    /// `"unknown"`: neither gcprov-genesys nor the emulator serve the usage API yet.
    pub usage: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    pub clients: Vec<AuditRow>,
    pub unused_days: Option<u32>,
    pub usage_note: Option<String>,
    pub with_findings: usize,
}

/// Runs the operations against one org with one configuration. Catalogues (scopes, roles,
/// divisions) are fetched at most once per `Governor`, i.e. once per CLI run.
pub struct Governor {
    gc: GenesysClient,
    cfg: GovernanceConfig,
    store: Option<Store>,
    actor: String,
    scopes: OnceCell<BTreeSet<String>>,
    roles: OnceCell<Vec<OrganizationRole>>,
    divisions: OnceCell<Vec<AuthzDivision>>,
}

fn ms(since: Instant) -> u64 {
    since.elapsed().as_millis().min(u128::from(u64::MAX)) as u64
}

fn eq_ci(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

impl Governor {
    pub fn new(gc: GenesysClient, cfg: GovernanceConfig) -> Self {
        Self {
            gc,
            cfg,
            store: None,
            actor: "cli".into(),
            scopes: OnceCell::new(),
            roles: OnceCell::new(),
            divisions: OnceCell::new(),
        }
    }

    /// Audit entries go to this store (none without one).
    pub fn with_store(mut self, store: Store) -> Self {
        self.store = Some(store);
        self
    }

    /// Who is acting, as recorded in the audit log (default `cli`).
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = actor.into();
        self
    }

    pub fn config(&self) -> &GovernanceConfig {
        &self.cfg
    }

    // ------------------------------------------------------------ catalogues

    async fn scope_catalog(&self) -> Result<&BTreeSet<String>> {
        self.scopes
            .get_or_try_init(|| async {
                let l = self.gc.list_oauth_scopes().await?;
                Ok::<_, Error>(
                    l.entities
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|s| s.id)
                        .collect(),
                )
            })
            .await
    }

    async fn role_catalog(&self) -> Result<&Vec<OrganizationRole>> {
        self.roles
            .get_or_try_init(|| async {
                Ok::<_, Error>(self.gc.list_roles(None).try_collect().await?)
            })
            .await
    }

    async fn division_catalog(&self) -> Result<&Vec<AuthzDivision>> {
        self.divisions
            .get_or_try_init(|| async {
                Ok::<_, Error>(self.gc.list_divisions().try_collect().await?)
            })
            .await
    }

    fn find_role<'a>(roles: &'a [OrganizationRole], q: &str) -> Option<&'a OrganizationRole> {
        roles
            .iter()
            .find(|r| r.id.as_deref() == Some(q.trim()))
            .or_else(|| {
                roles
                    .iter()
                    .find(|r| r.name.as_deref().is_some_and(|n| eq_ci(n, q)))
            })
    }

    fn find_division<'a>(divs: &'a [AuthzDivision], q: &str) -> Option<&'a AuthzDivision> {
        divs.iter()
            .find(|d| d.id.as_deref() == Some(q.trim()))
            .or_else(|| {
                divs.iter()
                    .find(|d| d.name.as_deref().is_some_and(|n| eq_ci(n, q)))
            })
    }

    /// Expands role ids to their permissions, from the role catalogue
    /// (`GET /api/v2/authorization/roles`, whose entries carry `permissions`): one paged read
    /// per run instead of one `GET /api/v2/authorization/roles/{id}` per role, and
    /// gcprov-genesys has no single-role read.
    async fn expand(&self, role_ids: &[String]) -> Result<(Vec<ExpandedRole>, Vec<Finding>)> {
        let roles = self.role_catalog().await?;
        let mut out = Vec::new();
        let mut unknown = Vec::new();
        for id in role_ids {
            match roles.iter().find(|r| r.id.as_deref() == Some(id.as_str())) {
                // Conservative: a role listed without `permissions` is not "no permissions".
                Some(r) if r.permissions.is_none() => {
                    unknown.push(Finding::PermissionsUnavailable {
                        role: r.name.clone().unwrap_or_else(|| id.clone()),
                        role_id: id.clone(),
                    })
                }
                Some(r) => out.push(ExpandedRole {
                    id: id.clone(),
                    name: r.name.clone().unwrap_or_else(|| id.clone()),
                    permissions: r.permissions.clone().unwrap_or_default(),
                }),
                None => unknown.push(Finding::UnknownRole {
                    role_id: id.clone(),
                }),
            }
        }
        Ok((out, unknown))
    }

    fn baseline(&self, name: &str) -> Option<&Profile> {
        self.cfg.profile(name)
    }

    // ------------------------------------------------------------ validation

    /// Validates a specification without writing anything: field checks against the
    /// configured limits and the org's catalogues, the duplicate-name check, then the
    /// least-privilege findings.
    pub async fn plan(&self, spec: &ClientSpec) -> Result<Plan> {
        let mut errs: Vec<FieldError> = Vec::new();
        let limits = &self.cfg.limits;
        let name = spec.name.trim();
        if name.is_empty() {
            errs.push(FieldError::new("name", "is required"));
        } else if name.chars().count() > 200 {
            errs.push(FieldError::new("name", "must be at most 200 characters"));
        }
        let grant_s = spec.grant_type.trim().to_ascii_uppercase();
        let grant = if GRANT_TYPES.contains(&grant_s.as_str()) {
            Some(GrantType::from(grant_s.as_str()))
        } else {
            let hint = if grant_s.contains('_') {
                format!(" (did you mean {}?)", grant_s.replace('_', "-"))
            } else {
                String::new()
            };
            errs.push(FieldError::new(
                "grant_type",
                format!(
                    "{:?} is not a Genesys grant type; use one of {}{hint}",
                    spec.grant_type,
                    GRANT_TYPES.join(", ")
                ),
            ));
            None
        };
        let cc = grant == Some(GrantType::ClientCredentials);

        // Profile.
        let profile = match &spec.profile {
            Some(p) if self.baseline(p).is_some() => Some(p.clone()),
            Some(p) => {
                errs.push(FieldError::new(
                    "profile",
                    format!(
                        "no baseline profile {p:?} in the configuration (available: {})",
                        self.profile_names()
                    ),
                ));
                None
            }
            None => {
                errs.push(FieldError::new(
                    "profile",
                    format!("is required: name the baseline profile to verify least privilege against (available: {})", self.profile_names()),
                ));
                None
            }
        };

        // Token lifetime.
        if spec.scim && grant.is_some() && !cc {
            errs.push(FieldError::new(
                "scim",
                "a SCIM client uses the CLIENT-CREDENTIALS grant",
            ));
        }
        let max = if spec.scim {
            limits.max_scim_token_lifetime_seconds
        } else {
            limits.max_token_lifetime_seconds
        };
        match spec.token_lifetime_seconds {
            Some(v) if v < MIN_TOKEN_LIFETIME || v > max => {
                let more = if !spec.scim && v > max && v <= limits.max_scim_token_lifetime_seconds {
                    " (longer lifetimes are only for SCIM clients: set scim = true / --scim)"
                } else {
                    ""
                };
                errs.push(FieldError::new(
                    "token_lifetime_seconds",
                    format!("{v} is outside {MIN_TOKEN_LIFETIME}..={max} seconds{more}"),
                ));
            }
            None if DEFAULT_TOKEN_LIFETIME > max => errs.push(FieldError::new(
                "token_lifetime_seconds",
                format!("is required: Genesys' default of {DEFAULT_TOKEN_LIFETIME} s exceeds the configured maximum of {max} s"),
            )),
            _ => {}
        }

        // Grants: roles (client credentials) or scopes (user-delegated).
        let mut role_divisions: Vec<RoleDivision> = Vec::new();
        if cc {
            if spec.roles.is_empty() {
                errs.push(FieldError::new(
                    "roles",
                    "a CLIENT-CREDENTIALS client needs at least one role (with a division)",
                ));
            }
            if !spec.scopes.is_empty() {
                errs.push(FieldError::new(
                    "scopes",
                    "scopes only apply to user-delegated grants; a CLIENT-CREDENTIALS client gets its permissions from roles",
                ));
            }
            if !spec.redirect_uris.is_empty() {
                errs.push(FieldError::new(
                    "redirect_uris",
                    "redirect URIs do not apply to CLIENT-CREDENTIALS clients",
                ));
            }
            if !spec.roles.is_empty() {
                let roles = self.role_catalog().await?;
                let divs = self.division_catalog().await?;
                let home = divs.iter().find(|d| d.home_division == Some(true));
                for (i, rs) in spec.roles.iter().enumerate() {
                    let role = Self::find_role(roles, &rs.role);
                    if role.is_none() {
                        errs.push(FieldError::new(
                            format!("roles[{i}].role"),
                            format!(
                                "no role {:?} in the org (give an id or an exact name)",
                                rs.role
                            ),
                        ));
                    }
                    let div = match &rs.division {
                        Some(d) => {
                            let found = Self::find_division(divs, d);
                            if found.is_none() {
                                errs.push(FieldError::new(
                                    format!("roles[{i}].division"),
                                    format!(
                                        "no division {d:?} in the org (give an id or an exact name)"
                                    ),
                                ));
                            }
                            found
                        }
                        None => {
                            if home.is_none() {
                                errs.push(FieldError::new(
                                    format!("roles[{i}].division"),
                                    "is required: the org reports no home division",
                                ));
                            }
                            home
                        }
                    };
                    if let (Some(r), Some(d)) = (role, div) {
                        let rd = RoleDivision {
                            role_id: r.id.clone().unwrap_or_default(),
                            division_id: d.id.clone().unwrap_or_default(),
                        };
                        if !role_divisions.contains(&rd) {
                            role_divisions.push(rd);
                        }
                    }
                }
            }
        } else if grant.is_some() {
            if !spec.roles.is_empty() {
                errs.push(FieldError::new(
                    "roles",
                    "roles and divisions only apply to CLIENT-CREDENTIALS clients; use scopes",
                ));
            }
            if spec.scopes.len() > limits.max_scopes {
                errs.push(FieldError::new(
                    "scopes",
                    format!(
                        "{} scopes exceed the configured maximum of {}",
                        spec.scopes.len(),
                        limits.max_scopes
                    ),
                ));
            }
            let mut seen = BTreeSet::new();
            if !spec.scopes.is_empty() {
                let catalog = self.scope_catalog().await?;
                for (i, s) in spec.scopes.iter().enumerate() {
                    if !seen.insert(s.as_str()) {
                        errs.push(FieldError::new(
                            format!("scopes[{i}]"),
                            format!("{s:?} is listed twice"),
                        ));
                    } else if !catalog.contains(s) {
                        errs.push(FieldError::new(
                            format!("scopes[{i}]"),
                            format!("{s:?} is not in the org's scope catalogue (GET /api/v2/oauth/scopes)"),
                        ));
                    }
                }
            }
            let needs_redirect = matches!(grant, Some(GrantType::Code) | Some(GrantType::Token));
            if needs_redirect && spec.redirect_uris.is_empty() {
                errs.push(FieldError::new(
                    "redirect_uris",
                    format!("a {grant_s} client needs at least one redirect URI"),
                ));
            }
            for (i, u) in spec.redirect_uris.iter().enumerate() {
                match url::Url::parse(u) {
                    Ok(parsed) if parsed.fragment().is_none() => {}
                    Ok(_) => errs.push(FieldError::new(
                        format!("redirect_uris[{i}]"),
                        "must not have a fragment",
                    )),
                    Err(e) => errs.push(FieldError::new(
                        format!("redirect_uris[{i}]"),
                        format!("{u:?} is not an absolute URI: {e}"),
                    )),
                }
            }
        }

        if !errs.is_empty() {
            return Err(Error::Invalid(errs));
        }
        let (Some(grant), Some(profile)) = (grant, profile) else {
            return Err(Error::Invalid(vec![FieldError::new("spec", "incomplete")]));
        };

        // Duplicate names are reported, never created.
        let existing = self.gc.list_oauth_clients().await?;
        if let Some(c) = existing
            .iter()
            .find(|c| c.name.as_deref().is_some_and(|n| eq_ci(n, name)))
        {
            return Err(Error::NameExists {
                name: name.to_string(),
                id: c.id.clone().unwrap_or_default(),
            });
        }

        // Least privilege.
        let baseline = self.baseline(&profile).cloned().unwrap_or_default();
        let findings = if cc {
            let ids: Vec<String> = unique(role_divisions.iter().map(|rd| rd.role_id.clone()));
            let (expanded, mut unknown) = self.expand(&ids).await?;
            let mut f = check_roles(&expanded, &baseline);
            f.append(&mut unknown);
            f
        } else {
            check_scopes(&spec.scopes, &baseline)
        };

        let tag = marker(Some(&profile), spec.scim);
        let description = match (spec.description.as_deref().map(str::trim), tag) {
            (Some(d), Some(t)) if !d.is_empty() => Some(format!("{d} {t}")),
            (_, t) => t,
        };
        let request = OAuthClientRequest {
            name: name.to_string(),
            authorized_grant_type: grant,
            description,
            access_token_validity_seconds: spec.token_lifetime_seconds,
            registered_redirect_uri: (!spec.redirect_uris.is_empty())
                .then(|| spec.redirect_uris.clone()),
            scope: (!cc && !spec.scopes.is_empty()).then(|| spec.scopes.clone()),
            role_divisions: cc.then_some(role_divisions),
            state: None,
            date_to_delete: None,
        };
        Ok(Plan {
            request,
            profile,
            scim: spec.scim,
            findings,
        })
    }

    fn profile_names(&self) -> String {
        if self.cfg.profiles.is_empty() {
            "none configured".into()
        } else {
            self.cfg
                .profiles
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        }
    }

    // ------------------------------------------------------------ create / rotate

    /// Validates, checks least privilege, creates the client and delivers its secret.
    /// `allow_excess`: `Some(reason)` lets a client exceeding its baseline be created; the
    /// reason is audited. A failed delivery is not an error: the report says so (the client
    /// exists, its secret is lost, `rotate-secret` issues a new one).
    pub async fn create(
        &self,
        spec: &ClientSpec,
        allow_excess: Option<&str>,
        sink: &dyn SecretSink,
    ) -> Result<SecretReport> {
        let mut lat = BTreeMap::new();
        let reason = match allow_excess {
            Some(r) if r.trim().is_empty() => return Err(Error::MissingReason),
            Some(r) => Some(r.trim().to_string()),
            None => None,
        };
        let t = Instant::now();
        let plan = self.plan(spec).await?;
        lat.insert("validate", ms(t));
        let violations = plan.violations();
        if !violations.is_empty() && reason.is_none() {
            self.record(
                NewEntry::new(&self.actor, "oauth_client.create", Outcome::Denied).detail(json!({
                    "client_name": plan.request.name,
                    "profile": plan.profile,
                    "findings": plan.findings,
                })),
                None,
            )
            .await?;
            return Err(Error::ExcessPrivilege {
                profile: plan.profile,
                findings: violations,
            });
        }
        let t = Instant::now();
        let created = self.gc.create_oauth_client(&plan.request).await?;
        lat.insert("genesys_create", ms(t));
        let compliance = Compliance {
            profile: Some(plan.profile.clone()),
            least_privilege_verified: violations.is_empty(),
            excess_allowed: !violations.is_empty(),
            excess_reason: if violations.is_empty() { None } else { reason },
            delivered: false,
            findings: plan.findings.clone(),
        };
        self.issue(created, Reason::Created, sink, lat, compliance, false)
            .await
    }

    /// Regenerates the secret (`POST /api/v2/oauth/clients/{id}/secret`) and delivers the new
    /// one. This is also the retry after a failed delivery: nothing from the failed attempt
    /// was kept.
    pub async fn rotate(&self, id_or_name: &str, sink: &dyn SecretSink) -> Result<SecretReport> {
        let mut lat = BTreeMap::new();
        let t = Instant::now();
        let current = self.resolve(id_or_name).await?;
        let id = current.id.clone().unwrap_or_default();
        let replaces_undelivered = self.last_delivery_failed(&id).await?;
        lat.insert("resolve", ms(t));
        let t = Instant::now();
        let rotated = self.gc.regenerate_oauth_client_secret(&id).await?;
        lat.insert("genesys_regenerate", ms(t));
        let marker = parse_marker(current.description.as_deref());
        let compliance = Compliance {
            profile: marker.profile,
            least_privilege_verified: false,
            excess_allowed: false,
            excess_reason: None,
            delivered: false,
            findings: Vec::new(),
        };
        let mut merged = rotated;
        if merged.name.is_none() {
            merged.name = current.name.clone();
        }
        if merged.id.is_none() {
            merged.id = Some(id);
        }
        self.issue(
            merged,
            Reason::Rotated,
            sink,
            lat,
            compliance,
            replaces_undelivered,
        )
        .await
    }

    /// Takes the secret out of a Genesys response, delivers it, drops it and audits.
    async fn issue(
        &self,
        mut client: OAuthClient,
        reason: Reason,
        sink: &dyn SecretSink,
        mut lat: BTreeMap<&'static str, u64>,
        mut compliance: Compliance,
        replaces_undelivered: bool,
    ) -> Result<SecretReport> {
        let client_id = client.id.clone().unwrap_or_default();
        let client_name = client.name.clone().unwrap_or_default();
        let (fingerprint, delivery) = match client.secret.take() {
            Some(s) => {
                let issued = IssuedSecret::new(client_id.clone(), s);
                let fp = issued.fingerprint();
                let t = Instant::now();
                let d = Delivery {
                    secret: &issued,
                    client_name: &client_name,
                    reason,
                };
                let res = sink.deliver(&d).await;
                lat.insert("deliver", ms(t));
                // `issued` is dropped (and zeroed) at the end of this arm.
                let outcome = match res {
                    Ok(receipt) => DeliveryOutcome::Delivered {
                        sink: sink.describe(),
                        receipt,
                    },
                    Err(e) => {
                        tracing::warn!(client_id = %client_id, sink = %sink.describe(), error = %e, "secret delivery failed; the secret was not kept");
                        DeliveryOutcome::Failed {
                            sink: sink.describe(),
                            error: e.0,
                        }
                    }
                };
                (Some(fp), outcome)
            }
            None => (None, DeliveryOutcome::NoSecretReturned),
        };
        compliance.delivered = delivery.delivered();
        let action = match reason {
            Reason::Created => "oauth_client.create",
            Reason::Rotated => "oauth_client.rotate_secret",
        };
        let mut report = SecretReport {
            action,
            client_id: client_id.clone(),
            client_name,
            fingerprint,
            delivery,
            latencies_ms: lat,
            compliance,
            replaces_undelivered,
            audit_seq: None,
        };
        let mut detail = serde_json::to_value(&report).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut detail {
            m.remove("audit_seq");
            if !report.delivery.delivered() {
                m.insert(
                    "note".into(),
                    json!("the secret was not delivered and was not kept; run `gcprov oauth-clients rotate-secret` to issue and deliver a new one"),
                );
            }
        }
        let outcome = if report.delivery.delivered() {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        report.audit_seq = self
            .record(
                NewEntry::new(&self.actor, action, outcome)
                    .target(&client_id)
                    .detail(detail),
                Some(match reason {
                    Reason::Created => "oauth_client.created",
                    Reason::Rotated => "oauth_client.secret_rotated",
                }),
            )
            .await?;
        Ok(report)
    }

    /// Whether the newest secret-issuing audit entry for this client records a failed delivery.
    async fn last_delivery_failed(&self, client_id: &str) -> Result<bool> {
        let Some(store) = &self.store else {
            return Ok(false);
        };
        let entries = store
            .entries(&gcprov_store::AuditQuery {
                target: Some(client_id.to_string()),
                limit: 10_000,
                ..Default::default()
            })
            .await?;
        Ok(entries
            .iter()
            .rev()
            .find(|e| e.action == "oauth_client.create" || e.action == "oauth_client.rotate_secret")
            .and_then(|e| {
                e.detail
                    .pointer("/compliance/delivered")
                    .and_then(Value::as_bool)
            })
            .is_some_and(|d| !d))
    }

    /// Appends an audit entry (and an outbox event carrying the same detail) when a store is
    /// configured.
    async fn record(&self, entry: NewEntry, event: Option<&str>) -> Result<Option<i64>> {
        let Some(store) = &self.store else {
            return Ok(None);
        };
        let events = match event {
            Some(kind) => {
                let mut payload = entry.detail.clone();
                if let Value::Object(m) = &mut payload {
                    m.insert("targets".into(), json!(entry.targets));
                    m.insert("outcome".into(), json!(entry.outcome.as_str()));
                }
                vec![NewEvent::new(kind, payload)]
            }
            None => Vec::new(),
        };
        Ok(Some(store.append(entry, events).await?.seq))
    }

    // ------------------------------------------------------------ read

    /// Finds a client by id or exact name.
    pub async fn resolve(&self, id_or_name: &str) -> Result<OAuthClient> {
        let q = id_or_name.trim();
        let all = self.gc.list_oauth_clients().await?;
        if let Some(c) = all.iter().find(|c| c.id.as_deref() == Some(q)) {
            return Ok(c.clone());
        }
        let by_name: Vec<&OAuthClient> = all
            .iter()
            .filter(|c| c.name.as_deref() == Some(q))
            .collect();
        match by_name.len() {
            0 => Err(Error::NotFound(q.to_string())),
            1 => Ok(by_name[0].clone()),
            n => Err(Error::Ambiguous {
                query: q.to_string(),
                count: n,
            }),
        }
    }

    async fn summary(&self, c: &OAuthClient) -> Result<ClientSummary> {
        let m = parse_marker(c.description.as_deref());
        let mut roles = Vec::new();
        if let Some(rds) = &c.role_divisions
            && !rds.is_empty()
        {
            let rcat = self.role_catalog().await?;
            let dcat = self.division_catalog().await?;
            for rd in rds {
                roles.push(RoleGrant {
                    role_id: rd.role_id.clone(),
                    role: rcat
                        .iter()
                        .find(|r| r.id.as_deref() == Some(rd.role_id.as_str()))
                        .and_then(|r| r.name.clone()),
                    division_id: rd.division_id.clone(),
                    division: dcat
                        .iter()
                        .find(|d| d.id.as_deref() == Some(rd.division_id.as_str()))
                        .and_then(|d| d.name.clone()),
                });
            }
        }
        Ok(ClientSummary {
            id: c.id.clone().unwrap_or_default(),
            name: c.name.clone().unwrap_or_default(),
            grant_type: c
                .authorized_grant_type
                .as_ref()
                .map(|g| g.to_string())
                .unwrap_or_default(),
            state: c
                .state
                .as_ref()
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|| "active".into()),
            profile: m.profile,
            scim: m.scim,
            token_lifetime_seconds: c.access_token_validity_seconds,
            scopes: c.scope.clone().unwrap_or_default(),
            roles,
            date_created: c.date_created.clone(),
        })
    }

    pub async fn list(&self) -> Result<Vec<ClientSummary>> {
        let mut out = Vec::new();
        for c in self.gc.list_oauth_clients().await? {
            out.push(self.summary(&c).await?);
        }
        Ok(out)
    }

    pub async fn show(&self, id_or_name: &str) -> Result<ClientSummary> {
        let c = self.resolve(id_or_name).await?;
        let id = c.id.clone().unwrap_or_default();
        let full = self.gc.get_oauth_client(&id).await?;
        self.summary(&full).await
    }

    /// Checks every client in the org against its baseline (the profile in its gcprov
    /// marker, else `audit.default_profile`) and the lifetime limits.
    pub async fn audit(&self, unused_days: Option<u32>) -> Result<AuditReport> {
        let mut rows = Vec::new();
        for c in self.gc.list_oauth_clients().await? {
            let s = self.summary(&c).await?;
            let baseline_name = s
                .profile
                .clone()
                .or_else(|| self.cfg.audit.default_profile.clone());
            let mut findings = Vec::new();
            let baseline = baseline_name.as_deref().and_then(|n| self.baseline(n));
            match (&baseline_name, baseline) {
                (None, _) => findings.push(Finding::NoBaseline),
                (Some(n), None) => findings.push(Finding::UnknownProfile { profile: n.clone() }),
                (Some(_), Some(b)) => {
                    if s.grant_type == "CLIENT-CREDENTIALS" {
                        let ids = unique(s.roles.iter().map(|r| r.role_id.clone()));
                        let (expanded, mut unknown) = self.expand(&ids).await?;
                        findings.extend(check_roles(&expanded, b));
                        findings.append(&mut unknown);
                    } else {
                        findings.extend(check_scopes(&s.scopes, b));
                    }
                }
            }
            let max = if s.scim {
                self.cfg.limits.max_scim_token_lifetime_seconds
            } else {
                self.cfg.limits.max_token_lifetime_seconds
            };
            let lifetime = s.token_lifetime_seconds.unwrap_or(DEFAULT_TOKEN_LIFETIME);
            if lifetime > max {
                findings.push(Finding::LifetimeBeyondLimit {
                    seconds: lifetime,
                    max,
                });
            }
            rows.push(AuditRow {
                client: s,
                baseline: baseline_name,
                findings,
                usage: "unknown".into(),
            });
        }
        let with_findings = rows.iter().filter(|r| !r.findings.is_empty()).count();
        let usage_note = unused_days.map(|d| {
            format!("usage unknown: cannot tell which clients were unused for {d} days (gcprov does not query the Genesys usage API yet)")
        });
        self.record(
            NewEntry::new(&self.actor, "oauth_client.audit", Outcome::Success).detail(json!({
                "clients": rows.len(),
                "with_findings": with_findings,
            })),
            None,
        )
        .await?;
        Ok(AuditReport {
            clients: rows,
            unused_days,
            usage_note,
            with_findings,
        })
    }

    // ------------------------------------------------------------ state

    /// Sets the state to `disabled` (tokens invalid, no new tokens).
    pub async fn disable(&self, id_or_name: &str) -> Result<ClientSummary> {
        let c = self.resolve(id_or_name).await?;
        let id = c.id.clone().unwrap_or_default();
        let updated = self
            .gc
            .set_oauth_client_state(&id, OAuthClientState::Disabled)
            .await?;
        self.record(
            NewEntry::new(&self.actor, "oauth_client.disable", Outcome::Success)
                .target(&id)
                .detail(json!({ "client_name": c.name, "previous_state": c.state.as_ref().map(|s| s.as_str().to_string()) })),
            Some("oauth_client.disabled"),
        )
        .await?;
        self.summary(&updated).await
    }

    /// Deletes a client: sets it `inactive` first (Genesys requires it), then `DELETE`s it and
    /// checks it is gone.
    pub async fn delete(&self, id_or_name: &str) -> Result<String> {
        let c = self.resolve(id_or_name).await?;
        let id = c.id.clone().unwrap_or_default();
        let was = c.state.clone().unwrap_or(OAuthClientState::Active);
        if was != OAuthClientState::Inactive {
            self.gc
                .set_oauth_client_state(&id, OAuthClientState::Inactive)
                .await?;
        }
        self.gc.delete_oauth_client(&id).await?;
        // Genesys' Terraform provider polls until 404 (or a returned state "deleted").
        let gone = match self.gc.get_oauth_client(&id).await {
            Err(e) if e.is_not_found() => true,
            Ok(c) => c.state.as_ref().map(|s| s.as_str()) == Some("deleted"),
            Err(e) => return Err(e.into()),
        };
        self.record(
            NewEntry::new(&self.actor, "oauth_client.delete", Outcome::Success)
                .target(&id)
                .detail(json!({ "client_name": c.name, "previous_state": was.as_str(), "set_inactive_first": was != OAuthClientState::Inactive, "confirmed_gone": gone })),
            Some("oauth_client.deleted"),
        )
        .await?;
        Ok(id)
    }
}

fn unique(it: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for s in it {
        if !v.contains(&s) {
            v.push(s);
        }
    }
    v
}
