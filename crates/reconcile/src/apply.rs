//! Apply: groups, then users (bounded concurrency at the client's pace), then membership
//! batches, then division moves; version preconditions on every update; checkpoints so a run
//! can be resumed.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use futures::StreamExt;
use gcprov_genesys::models::{
    CreateUser, EmployerInfo, EntityState, GroupCreate, RoleDivisionPair, SubjectType, UpdateUser,
    UserRoutingLanguagePost, UserRoutingSkillPost,
};
use gcprov_genesys::{Error as GError, GenesysClient, ListUsers};
use gcprov_store::{NewEntry, NewEvent, Outcome, Store};
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::org::{ActualUser, UserState};
use crate::plan::{
    DivisionMoveItem, GroupRef, MEMBER_BATCH, MOVE_BATCH, MemberRef, MoveUser, Plan, RoleGrant,
    Steps, Target, UserAction, UserItem, diff_user, now_rfc3339,
};
use crate::report::{ApiCalls, ItemError, ItemOutcome, Latency, Report};

/// Checkpoint name of the run in progress.
pub const ACTIVE: &str = "reconcile:active";

/// Progress callbacks (a bar on a terminal, lines otherwise).
pub trait Progress: Send + Sync {
    fn begin(&self, _phase: &str, _total: u64) {}
    fn advance(&self, _ok: bool) {}
    fn end(&self) {}
}

/// No progress output.
pub struct NoProgress;
impl Progress for NoProgress {}

/// How to apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Items in flight at once (the client's pacer sets the rate).
    pub concurrency: usize,
    /// Re-diff and apply items whose target moved on since the plan (always on for
    /// `apply --desired`, off by default for a saved plan).
    pub replan_stale: bool,
    /// The plan came from a file: deletes check the version with a read first.
    pub saved_plan: bool,
    /// Audit actor.
    pub actor: String,
    /// Set to stop starting new items (SIGINT); in-flight items finish and are checkpointed.
    pub stop: Arc<AtomicBool>,
    /// Test hook: after this many API writes, behave like a crash (stop at once, without
    /// checkpointing the item that made the last write).
    pub crash_after_writes: Option<u64>,
    /// Calls the read behind the plan used (for the report).
    pub read_calls: u64,
    pub command: String,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            concurrency: 8,
            replan_stale: true,
            saved_plan: false,
            actor: "reconciler".into(),
            stop: Arc::new(AtomicBool::new(false)),
            crash_after_writes: None,
            read_calls: 0,
            command: "apply".into(),
        }
    }
}

/// What a run stores under [`ACTIVE`] so that `--resume` can continue it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveRun {
    pub run_id: String,
    pub started_at: String,
    pub replan_stale: bool,
    pub saved_plan: bool,
    pub plan: Plan,
}

enum StepErr {
    /// Version conflict, or the create found the email taken: re-read and re-diff.
    Conflict {
        id: Option<String>,
    },
    Api(GError),
    Crash,
}

impl From<GError> for StepErr {
    fn from(e: GError) -> Self {
        if e.is_version_conflict() {
            StepErr::Conflict { id: None }
        } else {
            StepErr::Api(e)
        }
    }
}

struct ItemResult {
    outcome: ItemOutcome,
    id: Option<String>,
    error: Option<(String, Option<u16>, Option<String>)>,
}

struct Exec<'a> {
    client: &'a GenesysClient,
    store: Option<&'a Store>,
    opts: &'a ApplyOptions,
    run_id: String,
    resumed: bool,
    writes: AtomicU64,
    crashed: AtomicBool,
    latencies: Mutex<Vec<f64>>,
    report: Mutex<Report>,
    progress: &'a dyn Progress,
    /// The plan's managed roles (for re-diffs).
    managed: &'a BTreeMap<String, String>,
}

fn ck(run: &str, what: &str) -> String {
    format!("reconcile:{run}:{what}")
}

impl Exec<'_> {
    fn stopped(&self) -> bool {
        self.opts.stop.load(Ordering::SeqCst) || self.crashed.load(Ordering::SeqCst)
    }

    /// Counts one write; `Err(Crash)` once the test hook's budget is spent.
    fn wrote(&self) -> std::result::Result<(), StepErr> {
        let n = self.writes.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(max) = self.opts.crash_after_writes
            && n >= max
        {
            self.crashed.store(true, Ordering::SeqCst);
            return Err(StepErr::Crash);
        }
        Ok(())
    }

    async fn done_marker(&self, name: &str) -> Result<Option<Value>> {
        match self.store {
            Some(s) if self.resumed => Ok(s.reconcile_checkpoint(&ck(&self.run_id, name)).await?),
            _ => Ok(None),
        }
    }

    async fn mark_done(&self, name: &str, v: Value) -> Result<()> {
        if let Some(s) = self.store {
            s.put_reconcile_checkpoint(&ck(&self.run_id, name), &v)
                .await?;
        }
        Ok(())
    }

    async fn audit(
        &self,
        action: &str,
        target: Option<&str>,
        corr: Option<&str>,
        detail: Value,
    ) -> Result<()> {
        let Some(s) = self.store else { return Ok(()) };
        let mut e = NewEntry::new(&self.opts.actor, action, Outcome::Success)
            .request_id(&self.run_id)
            .detail(detail.clone());
        if let Some(t) = target {
            e = e.target(t);
        }
        if let Some(c) = corr {
            e = e.correlation_id(c);
        }
        let mut payload = detail;
        if let Some(m) = payload.as_object_mut() {
            m.insert("runId".into(), json!(self.run_id));
            if let Some(t) = target {
                m.insert("id".into(), json!(t));
            }
        }
        s.append(e, vec![NewEvent::new(action, payload)]).await?;
        Ok(())
    }

    fn record(
        &self,
        item: String,
        key: &str,
        action: &str,
        r: &ItemResult,
        started: Option<Instant>,
    ) {
        let mut rep = self.report.lock();
        rep.count(action, r.outcome);
        if let Some((message, status, correlation_id)) = &r.error {
            rep.errors.push(ItemError {
                item,
                key: key.to_string(),
                action: action.to_string(),
                outcome: r.outcome,
                message: message.clone(),
                status: *status,
                correlation_id: correlation_id.clone(),
            });
        }
        drop(rep);
        if let Some(t) = started {
            self.latencies
                .lock()
                .push(t.elapsed().as_secs_f64() * 1000.0);
        }
        self.progress.advance(matches!(
            r.outcome,
            ItemOutcome::Applied | ItemOutcome::AlreadyDone | ItemOutcome::DoneEarlier
        ));
    }

    // ------------------------------------------------------------------ groups

    async fn create_group(&self, i: usize, name: &str) -> Result<ItemResult> {
        let marker = format!("g:{i}");
        if let Some(v) = self.done_marker(&marker).await? {
            return Ok(ItemResult {
                outcome: ItemOutcome::DoneEarlier,
                id: v.get("id").and_then(Value::as_str).map(str::to_string),
                error: None,
            });
        }
        let created = match self.client.create_group(&GroupCreate::official(name)).await {
            Ok(g) => {
                let _ = self.wrote();
                Ok((g, ItemOutcome::Applied))
            }
            // Created meanwhile (or by an earlier, interrupted run): adopt it.
            Err(e) if e.status() == Some(409) => match self.client.find_group_by_name(name).await {
                Ok(Some(g)) => Ok((g, ItemOutcome::AlreadyDone)),
                Ok(None) => Err(e),
                Err(e2) => Err(e2),
            },
            Err(e) => Err(e),
        };
        match created {
            Ok((g, outcome)) => {
                let id = g.id.clone().unwrap_or_default();
                if outcome == ItemOutcome::Applied {
                    self.audit(
                        "group.created",
                        Some(&id),
                        None,
                        json!({"name": name, "version": g.version}),
                    )
                    .await?;
                }
                self.mark_done(&marker, json!({"id": id, "version": g.version}))
                    .await?;
                Ok(ItemResult {
                    outcome,
                    id: Some(id),
                    error: None,
                })
            }
            Err(e) => Ok(failed(&e)),
        }
    }

    // ------------------------------------------------------------------ users

    async fn user(&self, i: usize, item: &UserItem) -> Result<ItemResult> {
        let marker = format!("u:{i}");
        if let Some(v) = self.done_marker(&marker).await? {
            return Ok(ItemResult {
                outcome: ItemOutcome::DoneEarlier,
                id: v.get("id").and_then(Value::as_str).map(str::to_string),
                error: None,
            });
        }
        if item.steps.is_empty() {
            // Membership-only: nothing to write in this phase.
            return Ok(ItemResult {
                outcome: ItemOutcome::Skipped,
                id: item.target.as_ref().map(|t| t.id.clone()),
                error: None,
            });
        }
        let mut target = item.target.clone();
        let mut steps = item.steps.clone();
        // A saved plan's delete carries no precondition of its own: check the version first.
        if steps.delete
            && self.opts.saved_plan
            && !self.opts.replan_stale
            && let Some(t) = &target
        {
            match self.client.get_user(&t.id, &[]).await {
                Ok(u) if u.version.unwrap_or(0) != t.version => {
                    return Ok(stale(item, "the user changed since the plan"));
                }
                Ok(_) => {}
                Err(e) if e.is_not_found() => {
                    return self
                        .finish_user(i, item, ItemOutcome::AlreadyDone, Some(t.id.clone()), None)
                        .await;
                }
                Err(e) => return Ok(failed(&e)),
            }
        }
        let mut attempts = 0;
        loop {
            match self.exec_steps(item, target.as_deref(), &steps).await {
                Ok((id, corr)) => {
                    return self
                        .finish_user(i, item, ItemOutcome::Applied, Some(id), corr)
                        .await;
                }
                Err(StepErr::Crash) => {
                    return Ok(ItemResult {
                        outcome: ItemOutcome::Skipped,
                        id: None,
                        error: None,
                    });
                }
                Err(StepErr::Api(e)) => return Ok(failed(&e)),
                Err(StepErr::Conflict { id }) => {
                    attempts += 1;
                    if attempts > 3 {
                        return Ok(ItemResult {
                            outcome: ItemOutcome::Failed,
                            id,
                            error: Some((
                                "version conflict persisted after 3 re-reads".into(),
                                Some(409),
                                None,
                            )),
                        });
                    }
                    // Re-read this one user and re-diff it; never overwrite blindly.
                    let id = id.or_else(|| target.as_ref().map(|t| t.id.clone()));
                    let actual = match self.reread(item, id.as_deref()).await {
                        Ok(a) => a,
                        Err(e) => return Ok(failed(&e)),
                    };
                    let next = match (&item.want, &actual) {
                        (Some(want), a) => {
                            diff_user(want, a.as_ref(), self.managed).map(|(_, _, s)| s)
                        }
                        (None, None) => None,
                        (None, Some(a)) => removal_steps(item.action, a),
                    };
                    let Some(next) = next else {
                        let id = actual.map(|a| a.id).or(id);
                        return self
                            .finish_user(i, item, ItemOutcome::AlreadyDone, id, None)
                            .await;
                    };
                    let own_progress =
                        self.resumed && actual.as_ref().is_some_and(|a| !moved_on(item, a));
                    if !self.opts.replan_stale && !own_progress {
                        return Ok(stale(
                            item,
                            "the user changed since the plan (version differs)",
                        ));
                    }
                    target = actual.map(|a| {
                        Box::new(Target {
                            id: a.id,
                            version: a.version,
                            state: a.state,
                        })
                    });
                    steps = next;
                }
            }
        }
    }

    async fn finish_user(
        &self,
        i: usize,
        item: &UserItem,
        outcome: ItemOutcome,
        id: Option<String>,
        corr: Option<String>,
    ) -> Result<ItemResult> {
        if outcome == ItemOutcome::Applied {
            self.audit(
                item.action.event(),
                id.as_deref(),
                corr.as_deref(),
                json!({"userName": item.key, "action": item.action.as_str(), "changes": item.changes}),
            )
            .await?;
        }
        self.mark_done(
            &format!("u:{i}"),
            json!({"id": id, "outcome": outcome.as_str()}),
        )
        .await?;
        Ok(ItemResult {
            outcome,
            id,
            error: None,
        })
    }

    async fn reread(
        &self,
        item: &UserItem,
        id: Option<&str>,
    ) -> std::result::Result<Option<ActualUser>, GError> {
        let expand = ["groups", "skills", "languages"];
        let id = match id {
            Some(id) => id.to_string(),
            None => {
                // A create that found its email taken: find who holds it.
                let Some(want) = &item.want else {
                    return Ok(None);
                };
                let found = match self
                    .client
                    .find_user_by_email(want.email.as_deref().unwrap_or(&item.key))
                    .await?
                {
                    Some(u) => Some(u),
                    None => {
                        self.client
                            .find_deleted_user_by_email(want.email.as_deref().unwrap_or(&item.key))
                            .await?
                    }
                };
                match found.and_then(|u| u.id) {
                    Some(id) => id,
                    None => return Ok(None),
                }
            }
        };
        let actual = match self.client.get_user(&id, &expand).await {
            Ok(u) => ActualUser::from_api(&u),
            Err(e) if e.is_not_found() => match self.client.get_user_in_state(&id, "deleted").await
            {
                Ok(u) => ActualUser::from_api(&u),
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(e),
            },
            Err(e) => return Err(e),
        };
        // Role grants only when the item manages roles: one more call, this user only.
        let wants_roles = item.want.as_ref().is_some_and(|w| w.roles.is_some());
        match actual {
            Some(mut a) if wants_roles && a.state != UserState::Deleted => {
                let subject = self.client.get_subject(&a.id).await?;
                let mut grants: Vec<RoleDivisionPair> = subject
                    .grants
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|g| {
                        Some(RoleDivisionPair {
                            role_id: g.role?.id?,
                            division_id: g.division?.id?,
                        })
                    })
                    .collect();
                grants.sort();
                grants.dedup();
                a.grants = Some(grants);
                Ok(Some(a))
            }
            a => Ok(a),
        }
    }

    /// Runs the steps; returns the user id and the last correlation id.
    async fn exec_steps(
        &self,
        item: &UserItem,
        target: Option<&Target>,
        steps: &Steps,
    ) -> std::result::Result<(String, Option<String>), StepErr> {
        let mut id = target.map(|t| t.id.clone());
        let mut version = target.map(|t| t.version).unwrap_or(0);
        let conflict = |id: &Option<String>, e: GError| {
            if e.is_version_conflict() || e.is_not_found() {
                StepErr::Conflict { id: id.clone() }
            } else {
                StepErr::Api(e)
            }
        };
        if steps.create {
            let Some(w) = &item.want else {
                return Err(StepErr::Api(GError::InvalidArgument(
                    "create without a desired state".into(),
                )));
            };
            let body = CreateUser {
                // A record without a name creates the user under its userName.
                name: w.name.clone().unwrap_or_else(|| item.key.clone()),
                email: w.email.clone().unwrap_or_else(|| item.key.clone()),
                division_id: w.division_id.as_deref().map(str::to_string),
                department: w.department.as_deref().map(str::to_string),
                title: w.title.as_deref().map(str::to_string),
                state: Some(if w.active.unwrap_or(true) {
                    EntityState::Active
                } else {
                    EntityState::Inactive
                }),
                ..Default::default()
            };
            match self.client.create_user(&body).await {
                Ok(u) => {
                    id = u.id.clone();
                    version = u.version.unwrap_or(1);
                    self.wrote()?;
                }
                Err(e) if e.is_conflict() => return Err(StepErr::Conflict { id: None }),
                Err(e) => return Err(StepErr::Api(e)),
            }
        }
        let Some(uid) = id.clone() else {
            return Err(StepErr::Api(GError::InvalidArgument("no user id".into())));
        };
        if let Some(state) = steps.state {
            let st = match state {
                UserState::Active => EntityState::Active,
                UserState::Inactive => EntityState::Inactive,
                UserState::Deleted => EntityState::Deleted,
            };
            let body = UpdateUser {
                version,
                state: Some(st),
                ..Default::default()
            };
            match self.client.update_user(&uid, &body).await {
                Ok(u) => {
                    version = u.version.unwrap_or(version + 1);
                    self.wrote()?;
                }
                Err(e) => return Err(conflict(&id, e)),
            }
        }
        if steps.set_external_id
            && let Some(x) = item.want.as_ref().and_then(|w| w.external_id.clone())
        {
            let body = UpdateUser {
                version,
                employer_info: Some(EmployerInfo {
                    employee_id: Some(x),
                    ..Default::default()
                }),
                ..Default::default()
            };
            match self.client.update_user(&uid, &body).await {
                Ok(u) => {
                    version = u.version.unwrap_or(version + 1);
                    self.wrote()?;
                }
                Err(e) => return Err(conflict(&id, e)),
            }
        }
        if let Some(a) = &steps.attrs {
            let body = UpdateUser {
                version,
                name: a.name.clone(),
                title: a.title.clone(),
                department: a.department.clone(),
                employer_info: a.employee_id.as_ref().map(|x| EmployerInfo {
                    employee_id: Some(x.clone()),
                    ..Default::default()
                }),
                ..Default::default()
            };
            match self.client.update_user(&uid, &body).await {
                Ok(_) => self.wrote()?,
                Err(e) => return Err(conflict(&id, e)),
            }
        }
        if steps.skills_replace || !steps.skills_put.is_empty() {
            let posts: Vec<UserRoutingSkillPost> = steps
                .skills_put
                .iter()
                .map(|h| UserRoutingSkillPost {
                    id: h.id.clone(),
                    proficiency: h.proficiency,
                })
                .collect();
            let r = if steps.skills_replace {
                self.client.replace_user_skills(&uid, &posts).await
            } else {
                self.client.add_user_skills(&uid, &posts).await
            };
            r.map_err(|e| conflict(&id, e))?;
            self.wrote()?;
        }
        if !steps.languages_put.is_empty() {
            let posts: Vec<UserRoutingLanguagePost> = steps
                .languages_put
                .iter()
                .map(|h| UserRoutingLanguagePost {
                    id: h.id.clone(),
                    proficiency: h.proficiency,
                })
                .collect();
            self.client
                .add_user_languages(&uid, &posts)
                .await
                .map_err(|e| conflict(&id, e))?;
            self.wrote()?;
        }
        for l in &steps.languages_remove {
            match self.client.remove_user_language(&uid, &l.id).await {
                Ok(()) => self.wrote()?,
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(StepErr::Api(e)),
            }
        }
        if !steps.grants_add.is_empty() {
            let pairs = role_division_pairs(&steps.grants_add);
            self.client
                .add_grants(&uid, SubjectType::User, &pairs)
                .await
                .map_err(|e| conflict(&id, e))?;
            self.wrote()?;
        }
        // After the adds, so a grant moving to another division is never missing in between.
        if !steps.grants_remove.is_empty() {
            let pairs = role_division_pairs(&steps.grants_remove);
            self.client
                .remove_grants(&uid, &pairs)
                .await
                .map_err(|e| conflict(&id, e))?;
            self.wrote()?;
        }
        if steps.delete {
            match self.client.delete_user(&uid).await {
                Ok(()) => self.wrote()?,
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(StepErr::Api(e)),
            }
        }
        Ok((uid, None))
    }

    // ------------------------------------------------------------------ memberships

    async fn membership(
        &self,
        i: usize,
        plan: &Plan,
        group_ids: &HashMap<usize, (String, i64)>,
        created: &HashMap<usize, String>,
    ) -> Result<ItemResult> {
        let m = &plan.memberships[i];
        let (gid, mut version) = match &m.group {
            GroupRef::Existing { id, version } => (id.clone(), Some(*version)),
            GroupRef::New { index } => match group_ids.get(index) {
                Some((id, v)) => (id.clone(), Some(*v)),
                None => {
                    return Ok(ItemResult {
                        outcome: ItemOutcome::Skipped,
                        id: None,
                        error: Some((format!("group {:?} was not created", m.name), None, None)),
                    });
                }
            },
        };
        let adds: Vec<String> = m
            .add
            .iter()
            .filter_map(|r| match r {
                MemberRef::Existing { id } => Some(id.clone()),
                MemberRef::Created { item } => created.get(item).cloned(),
            })
            .collect();
        let missing = m.add.len() - adds.len();
        let mut applied = false;
        for (c, chunk) in adds.chunks(MEMBER_BATCH).enumerate() {
            let marker = format!("m:{i}:a:{c}");
            if self.done_marker(&marker).await?.is_some() {
                version = None;
                continue;
            }
            if self.stopped() {
                return Ok(ItemResult {
                    outcome: ItemOutcome::Skipped,
                    id: Some(gid),
                    error: None,
                });
            }
            let ids: Vec<&str> = chunk.iter().map(String::as_str).collect();
            let mut tries = 0;
            loop {
                tries += 1;
                let v = match version {
                    Some(v) => v,
                    None => match self.client.get_group(&gid).await {
                        Ok(g) => g.version.unwrap_or(0),
                        Err(e) => return Ok(failed(&e)),
                    },
                };
                // Member adds are set operations: a group that moved on is re-read, not refused.
                match self.client.add_group_members_versioned(&gid, &ids, v).await {
                    Ok(()) => {
                        version = Some(v + 1);
                        break;
                    }
                    Err(e) if e.is_version_conflict() && tries < 4 => version = None,
                    Err(e) => return Ok(failed(&e)),
                }
            }
            applied = true;
            if self.wrote().is_err() {
                return Ok(ItemResult {
                    outcome: ItemOutcome::Skipped,
                    id: Some(gid),
                    error: None,
                });
            }
            self.audit(
                "group.members_added",
                Some(&gid),
                None,
                json!({"name": m.name, "members": chunk}),
            )
            .await?;
            self.mark_done(&marker, json!({})).await?;
        }
        for (c, chunk) in m.remove.chunks(MEMBER_BATCH).enumerate() {
            let marker = format!("m:{i}:r:{c}");
            if self.done_marker(&marker).await?.is_some() {
                continue;
            }
            if self.stopped() {
                return Ok(ItemResult {
                    outcome: ItemOutcome::Skipped,
                    id: Some(gid),
                    error: None,
                });
            }
            let ids: Vec<&str> = chunk.iter().map(String::as_str).collect();
            if let Err(e) = self.client.remove_group_members(&gid, &ids).await {
                return Ok(failed(&e));
            }
            version = version.map(|v| v + 1);
            applied = true;
            if self.wrote().is_err() {
                return Ok(ItemResult {
                    outcome: ItemOutcome::Skipped,
                    id: Some(gid),
                    error: None,
                });
            }
            self.audit(
                "group.members_removed",
                Some(&gid),
                None,
                json!({"name": m.name, "members": chunk}),
            )
            .await?;
            self.mark_done(&marker, json!({})).await?;
        }
        let error = (missing > 0).then(|| {
            (
                format!("{missing} members were not created and were left out"),
                None,
                None,
            )
        });
        Ok(ItemResult {
            outcome: if error.is_some() {
                ItemOutcome::Failed
            } else if applied {
                ItemOutcome::Applied
            } else {
                ItemOutcome::DoneEarlier
            },
            id: Some(gid),
            error,
        })
    }
}

impl Exec<'_> {
    // ------------------------------------------------------------------ division moves

    /// Moves of item `i`, in batches of [`MOVE_BATCH`] (checkpoint `d:{i}:{c}` per batch).
    ///
    /// The endpoint takes no version, so a saved plan (without `--replan-stale`) checks its own
    /// precondition first with one listing of the batch's users (`GET /users?id=…`): a user
    /// already in the target division is `already-done`, one in neither the planned old
    /// division nor the target was moved by someone else and is refused as stale, a user that
    /// is gone is skipped. With `apply --desired` the desired division wins, as for every other
    /// attribute, and the move is sent without that read (moving is idempotent).
    async fn division_moves(&self, i: usize, m: &DivisionMoveItem) -> Result<ItemResult> {
        let mut applied = false;
        let mut earlier = false;
        let mut refused: Vec<String> = Vec::new();
        for (c, chunk) in m.users.chunks(MOVE_BATCH).enumerate() {
            let marker = format!("d:{i}:{c}");
            if self.done_marker(&marker).await?.is_some() {
                earlier = true;
                continue;
            }
            if self.stopped() {
                return Ok(ItemResult {
                    outcome: ItemOutcome::Skipped,
                    id: Some(m.division_id.clone()),
                    error: None,
                });
            }
            let mut send: Vec<&MoveUser> = chunk.iter().collect();
            if self.opts.saved_plan && !self.opts.replan_stale {
                let opts = ListUsers {
                    page_size: Some(MOVE_BATCH as u32),
                    state: Some("any".into()),
                    expand: Vec::new(),
                    ids: chunk.iter().map(|u| u.id.clone()).collect(),
                };
                let page = match self.client.list_users_page(&opts, 1).await {
                    Ok(p) => p,
                    Err(e) => return Ok(failed(&e)),
                };
                let now: HashMap<String, ActualUser> = page
                    .entities
                    .iter()
                    .filter_map(ActualUser::from_api)
                    .map(|a| (a.id.clone(), a))
                    .collect();
                send.retain(|u| match now.get(&u.id) {
                    None => false,
                    Some(a) if a.state == UserState::Deleted => false,
                    Some(a) if a.division_id.as_deref() == Some(m.division_id.as_str()) => false,
                    Some(a) if a.division_id == u.from => true,
                    Some(_) => {
                        refused.push(u.key.clone());
                        false
                    }
                });
            }
            if !send.is_empty() {
                let ids: Vec<&str> = send.iter().map(|u| u.id.as_str()).collect();
                if let Err(e) = self
                    .client
                    .move_to_division(&m.division_id, "USER", &ids)
                    .await
                {
                    return Ok(failed(&e));
                }
                applied = true;
                if self.wrote().is_err() {
                    return Ok(ItemResult {
                        outcome: ItemOutcome::Skipped,
                        id: Some(m.division_id.clone()),
                        error: None,
                    });
                }
                for u in &send {
                    self.audit(
                        UserAction::Update.event(),
                        Some(&u.id),
                        None,
                        json!({"userName": u.key, "action": "division.move",
                               "changes": [{"field": "division", "from": u.from, "to": m.division_id}]}),
                    )
                    .await?;
                }
            }
            self.mark_done(&marker, json!({})).await?;
        }
        if !refused.is_empty() {
            return Ok(ItemResult {
                outcome: ItemOutcome::Stale,
                id: Some(m.division_id.clone()),
                error: Some((
                    format!(
                        "{} users were moved to another division since the plan ({}); re-plan, or apply with --replan-stale",
                        refused.len(),
                        refused.join(", ")
                    ),
                    Some(409),
                    None,
                )),
            });
        }
        Ok(ItemResult {
            outcome: if applied {
                ItemOutcome::Applied
            } else if earlier {
                ItemOutcome::DoneEarlier
            } else {
                ItemOutcome::AlreadyDone
            },
            id: Some(m.division_id.clone()),
            error: None,
        })
    }
}

/// Steps still needed to deactivate or delete a missing user, given its current state.
fn removal_steps(action: UserAction, a: &ActualUser) -> Option<Steps> {
    match (action, a.state) {
        (UserAction::Deactivate, UserState::Active) => Some(Steps {
            state: Some(UserState::Inactive),
            ..Default::default()
        }),
        (UserAction::Delete, UserState::Active | UserState::Inactive) => Some(Steps {
            delete: true,
            ..Default::default()
        }),
        _ => None,
    }
}

/// Whether a field the plan changes now holds a value that is neither the planned old value
/// nor the new one (someone else changed it).
fn moved_on(item: &UserItem, a: &ActualUser) -> bool {
    item.changes.iter().any(|c| {
        let now: Option<&str> = match c.field.as_str() {
            "name" => Some(a.name.as_str()),
            "title" => a.title.as_deref(),
            "department" => a.department.as_deref(),
            "externalId" => a.employee_id.as_deref(),
            "state" => Some(a.state.as_str()),
            _ => return false,
        };
        now != c.from.as_deref() && now != c.to.as_deref()
    })
}

fn failed(e: &GError) -> ItemResult {
    ItemResult {
        outcome: ItemOutcome::Failed,
        id: None,
        error: Some((
            e.to_string(),
            e.status(),
            e.correlation_id().map(str::to_string),
        )),
    }
}

fn stale(item: &UserItem, why: &str) -> ItemResult {
    ItemResult {
        outcome: ItemOutcome::Stale,
        id: item.target.as_ref().map(|t| t.id.clone()),
        error: Some((
            format!("{why}; re-plan, or apply with --replan-stale"),
            Some(409),
            None,
        )),
    }
}

/// Applies `plan`. With a store, the run is checkpointed (resume with [`resume`]) and every
/// write is audited with its outbox event. Refuses to start while another run is unfinished.
pub async fn apply(
    client: &GenesysClient,
    store: Option<&Store>,
    plan: &Plan,
    opts: &ApplyOptions,
    progress: &dyn Progress,
) -> Result<Report> {
    let run_id = uuid::Uuid::now_v7().to_string();
    if let Some(s) = store {
        if let Some(v) = s.reconcile_checkpoint(ACTIVE).await? {
            let id = v.get("runId").and_then(Value::as_str).unwrap_or("?");
            return Err(Error::Resume(format!(
                "run {id} was interrupted: continue it with `gcprov apply --resume` or drop it with `gcprov apply --abandon`"
            )));
        }
        let active = ActiveRun {
            run_id: run_id.clone(),
            started_at: now_rfc3339(),
            replan_stale: opts.replan_stale,
            saved_plan: opts.saved_plan,
            plan: plan.clone(),
        };
        let v = serde_json::to_value(&active).map_err(|e| Error::Plan(e.to_string()))?;
        s.put_reconcile_checkpoint(ACTIVE, &v).await?;
    }
    run(client, store, plan, opts, run_id, false, progress).await
}

/// Continues the interrupted run recorded in the store.
pub async fn resume(
    client: &GenesysClient,
    store: &Store,
    opts: &ApplyOptions,
    progress: &dyn Progress,
) -> Result<Report> {
    let v = store
        .reconcile_checkpoint(ACTIVE)
        .await?
        .ok_or_else(|| Error::Resume("no interrupted apply to resume".into()))?;
    let active: ActiveRun = serde_json::from_value(v)
        .map_err(|e| Error::Resume(format!("unreadable checkpoint: {e}")))?;
    let mut o = opts.clone();
    o.replan_stale = active.replan_stale || opts.replan_stale;
    o.saved_plan = active.saved_plan;
    run(
        client,
        Some(store),
        &active.plan,
        &o,
        active.run_id,
        true,
        progress,
    )
    .await
}

/// Drops an interrupted run (its completed writes stay; nothing is undone).
pub async fn abandon(store: &Store) -> Result<bool> {
    Ok(store.delete_reconcile_checkpoint(ACTIVE).await?)
}

async fn run(
    client: &GenesysClient,
    store: Option<&Store>,
    plan: &Plan,
    opts: &ApplyOptions,
    run_id: String,
    resumed: bool,
    progress: &dyn Progress,
) -> Result<Report> {
    let t0 = Instant::now();
    let calls0 = client.stats().paced_requests;
    let ex = Exec {
        client,
        store,
        opts,
        run_id: run_id.clone(),
        resumed,
        writes: AtomicU64::new(0),
        crashed: AtomicBool::new(false),
        latencies: Mutex::new(Vec::new()),
        report: Mutex::new(Report {
            run_id: run_id.clone(),
            command: opts.command.clone(),
            started_at: now_rfc3339(),
            resumed,
            ..Default::default()
        }),
        progress,
        managed: &plan.managed_roles,
    };
    let total =
        plan.groups_to_create.len() + plan.users.len() + plan.memberships.len() + plan.moves.len();
    progress.begin("apply", total as u64);

    // 1. Groups (few; sequential).
    let mut group_ids: HashMap<usize, (String, i64)> = HashMap::new();
    for (i, g) in plan.groups_to_create.iter().enumerate() {
        if ex.stopped() {
            break;
        }
        let t = Instant::now();
        let r = ex.create_group(i, &g.name).await?;
        if let Some(id) = &r.id {
            let v = match store {
                Some(s) if r.outcome == ItemOutcome::DoneEarlier => s
                    .reconcile_checkpoint(&ck(&run_id, &format!("g:{i}")))
                    .await?
                    .and_then(|v| v.get("version").and_then(Value::as_i64)),
                _ => None,
            };
            group_ids.insert(i, (id.clone(), v.unwrap_or(1)));
        }
        ex.record(format!("group:{i}"), &g.name, "group.create", &r, Some(t));
    }

    // 2. Users, bounded concurrency; the pacer inside the client sets the rate.
    let created: Mutex<HashMap<usize, String>> = Mutex::new(HashMap::new());
    let conc = opts.concurrency.max(1);
    let results = futures::stream::iter(plan.users.iter().enumerate())
        .map(|(i, item)| {
            let ex = &ex;
            let created = &created;
            async move {
                if ex.stopped() {
                    return Ok::<_, Error>(());
                }
                let t = Instant::now();
                let r = ex.user(i, item).await?;
                if ex.crashed.load(Ordering::SeqCst) && r.outcome == ItemOutcome::Skipped {
                    return Ok(());
                }
                if item.action == UserAction::Create
                    && let Some(id) = &r.id
                {
                    created.lock().insert(i, id.clone());
                }
                if !item.steps.is_empty() {
                    ex.record(
                        format!("user:{i}"),
                        &item.key,
                        item.action.as_str(),
                        &r,
                        Some(t),
                    );
                } else {
                    ex.progress.advance(true);
                }
                Ok(())
            }
        })
        .buffer_unordered(conc)
        .collect::<Vec<_>>()
        .await;
    for r in results {
        r?;
    }
    let created = created.into_inner();

    // 3. Memberships, one task per group (batches of a group are sequential).
    if !ex.stopped() {
        let results = futures::stream::iter(0..plan.memberships.len())
            .map(|i| {
                let ex = &ex;
                let group_ids = &group_ids;
                let created = &created;
                async move {
                    if ex.stopped() {
                        return Ok::<_, Error>(());
                    }
                    let t = Instant::now();
                    let r = ex.membership(i, plan, group_ids, created).await?;
                    if ex.crashed.load(Ordering::SeqCst) && r.outcome == ItemOutcome::Skipped {
                        return Ok(());
                    }
                    ex.record(
                        format!("membership:{i}"),
                        &plan.memberships[i].name,
                        "group.members",
                        &r,
                        Some(t),
                    );
                    Ok(())
                }
            })
            .buffer_unordered(conc)
            .collect::<Vec<_>>()
            .await;
        for r in results {
            r?;
        }
    }

    // 4. Division moves, after the user items (a move changes the user's version, which the
    //    version-guarded user writes above still rely on). One task per division.
    if !ex.stopped() {
        let results = futures::stream::iter(0..plan.moves.len())
            .map(|i| {
                let ex = &ex;
                async move {
                    if ex.stopped() {
                        return Ok::<_, Error>(());
                    }
                    let t = Instant::now();
                    let r = ex.division_moves(i, &plan.moves[i]).await?;
                    if ex.crashed.load(Ordering::SeqCst) && r.outcome == ItemOutcome::Skipped {
                        return Ok(());
                    }
                    ex.record(
                        format!("division:{i}"),
                        &plan.moves[i].name,
                        "division.move",
                        &r,
                        Some(t),
                    );
                    Ok(())
                }
            })
            .buffer_unordered(conc)
            .collect::<Vec<_>>()
            .await;
        for r in results {
            r?;
        }
    }
    progress.end();

    let interrupted = ex.stopped();
    if !interrupted && let Some(s) = store {
        s.delete_reconcile_checkpoint(ACTIVE).await?;
    }
    let apply_calls = client.stats().paced_requests.saturating_sub(calls0);
    let mut rep = ex.report.into_inner();
    rep.interrupted = interrupted;
    rep.finished_at = now_rfc3339();
    rep.duration_ms = t0.elapsed().as_millis() as u64;
    rep.latency_ms = Latency::from_samples(ex.latencies.into_inner());
    let reads = if resumed { 0 } else { opts.read_calls };
    let minimum = reads + plan.stats.min_writes;
    rep.api_calls = ApiCalls {
        reads,
        apply: apply_calls,
        used: reads + apply_calls,
        minimum,
        ratio: if minimum == 0 {
            1.0
        } else {
            (reads + apply_calls) as f64 / minimum as f64
        },
    };
    Ok(rep)
}

/// The API's form of planned role grants.
fn role_division_pairs(grants: &[RoleGrant]) -> Vec<RoleDivisionPair> {
    grants
        .iter()
        .map(|g| RoleDivisionPair {
            role_id: g.role_id.to_string(),
            division_id: g.division_id.to_string(),
        })
        .collect()
}
