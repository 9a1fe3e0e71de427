//! The store's single writer: every read-model change, identity link, idempotency key,
//! reconciler checkpoint and audit append of one process goes through one task that owns one
//! database connection and group-commits whatever is queued.
//!
//! Why: two writers in one process (say a read-model upsert on a pool connection and the audit
//! writer) contend for SQLite's one write lock, and SQLite's busy handler then sleeps 1, 2, 5,
//! 10 ... 100 ms. With one writer nothing in the process waits on the lock, and a burst of
//! requests shares one transaction and one fsync.

use serde_json::Value;
use sqlx::Row;
use tokio::sync::{mpsc, oneshot};

use crate::audit::{Appended, NewEntry, NewEvent, Prepared, plan_append, write_plan_pg};
use crate::db::{Pool, Store};
use crate::error::{Result, StoreError};
use crate::records::{GroupRecord, IdempotencyRecord, UserRecord};

/// One change to the read model or to the small records, committed by the store's writer.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Insert or replace a user and its emails.
    UpsertUser(UserRecord),
    /// Remove a user, its emails and its group memberships (by Genesys id).
    DeleteUser(String),
    /// Insert or replace a group and its member list.
    UpsertGroup(GroupRecord),
    /// Remove a group and its member list (by Genesys id).
    DeleteGroup(String),
    /// Link an IdP identity to a Genesys id (replacing an earlier link of that identity).
    LinkIdentity {
        idp: String,
        kind: String,
        idp_id: String,
        genesys_id: String,
    },
    /// Remove the link of an IdP identity.
    UnlinkIdentity {
        idp: String,
        kind: String,
        idp_id: String,
    },
    /// Store a response under an idempotency key unless the key exists (first writer wins).
    PutIdempotency(IdempotencyRecord),
    /// Delete idempotency records expired at this time (µs since the epoch).
    PurgeIdempotency { now_us: i64 },
    /// Claim an idempotency key for a request about to run: insert an in-flight record (no
    /// answer yet, `claim` set, expiring at `expires_us`, the end of the claim's lease), or take
    /// over a record of the key that expired at `now_us`. Affects 1 row when this claim holds
    /// the key, 0 when an unexpired record (in flight or answered) has it.
    ClaimIdempotency {
        key: String,
        request_hash: String,
        claim: String,
        now_us: i64,
        expires_us: i64,
    },
    /// Store the answer of a claimed key, only while `claim` still holds it (1 row) — not once
    /// its lease ran out and another request took the key over (0 rows).
    CompleteIdempotency {
        claim: String,
        rec: IdempotencyRecord,
    },
    /// Delete a claimed key's in-flight record, only while `claim` still holds it.
    ReleaseIdempotency { key: String, claim: String },
    /// Extend the lease of a claimed key that is still in flight to `expires_us`, only while
    /// `claim` still holds it.
    RenewIdempotency {
        key: String,
        claim: String,
        expires_us: i64,
    },
    /// Insert or replace a reconciler checkpoint.
    PutCheckpoint { name: String, state: Value },
    /// Delete a reconciler checkpoint.
    DeleteCheckpoint { name: String },
}

/// Read-model changes and at most one audit entry (with its outbox events) that commit in one
/// transaction: all of them or none. An audit entry therefore never describes a change that was
/// not stored, and a stored change always has its entry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Commit {
    pub changes: Vec<Change>,
    pub audit: Option<(NewEntry, Vec<NewEvent>)>,
}

impl Commit {
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a change (applied in the order given).
    pub fn change(mut self, c: Change) -> Self {
        self.changes.push(c);
        self
    }
    /// Sets the audit entry and its outbox events.
    pub fn audit(mut self, entry: NewEntry, events: Vec<NewEvent>) -> Self {
        self.audit = Some((entry, events));
        self
    }
}

/// What one [`Commit`] stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The audit entry appended, when the commit had one.
    pub appended: Option<Appended>,
    /// Per change, in order, the rows it affected in its main table: 1 for an upsert or link,
    /// 0 or 1 for a delete or unlink (whether the row existed), 0 or 1 for an idempotency put
    /// (whether the key was new) or claim (whether this claim holds the key), 0 or 1 for an
    /// idempotency complete or release (whether the claim still held the key), the number of
    /// records removed by a purge.
    pub affected: Vec<u64>,
}

/// A change with its JSON already encoded (off the writer task).
pub(crate) enum Op {
    UpsertUser(UserRecord, String),
    DeleteUser(String),
    UpsertGroup(GroupRecord, String),
    DeleteGroup(String),
    Link {
        idp: String,
        kind: String,
        idp_id: String,
        genesys_id: String,
        now: i64,
    },
    Unlink {
        idp: String,
        kind: String,
        idp_id: String,
    },
    PutIdempotency(IdempotencyRecord),
    PurgeIdempotency(i64),
    ClaimIdempotency {
        key: String,
        request_hash: String,
        claim: String,
        now_us: i64,
        expires_us: i64,
    },
    CompleteIdempotency {
        claim: String,
        rec: IdempotencyRecord,
    },
    ReleaseIdempotency {
        key: String,
        claim: String,
    },
    RenewIdempotency {
        key: String,
        claim: String,
        expires_us: i64,
    },
    PutCheckpoint {
        name: String,
        state: String,
        now: i64,
    },
    DeleteCheckpoint(String),
}

impl Op {
    fn prepare(c: Change) -> Result<Op> {
        Ok(match c {
            Change::UpsertUser(u) => {
                let s = serde_json::to_string(&u.resource)?;
                Op::UpsertUser(u, s)
            }
            Change::DeleteUser(id) => Op::DeleteUser(id),
            Change::UpsertGroup(g) => {
                let s = serde_json::to_string(&g.resource)?;
                Op::UpsertGroup(g, s)
            }
            Change::DeleteGroup(id) => Op::DeleteGroup(id),
            Change::LinkIdentity {
                idp,
                kind,
                idp_id,
                genesys_id,
            } => Op::Link {
                idp,
                kind,
                idp_id,
                genesys_id,
                now: crate::now_us(),
            },
            Change::UnlinkIdentity { idp, kind, idp_id } => Op::Unlink { idp, kind, idp_id },
            Change::PutIdempotency(r) => Op::PutIdempotency(r),
            Change::PurgeIdempotency { now_us } => Op::PurgeIdempotency(now_us),
            Change::ClaimIdempotency {
                key,
                request_hash,
                claim,
                now_us,
                expires_us,
            } => Op::ClaimIdempotency {
                key,
                request_hash,
                claim,
                now_us,
                expires_us,
            },
            Change::CompleteIdempotency { claim, rec } => Op::CompleteIdempotency { claim, rec },
            Change::ReleaseIdempotency { key, claim } => Op::ReleaseIdempotency { key, claim },
            Change::RenewIdempotency {
                key,
                claim,
                expires_us,
            } => Op::RenewIdempotency {
                key,
                claim,
                expires_us,
            },
            Change::PutCheckpoint { name, state } => Op::PutCheckpoint {
                name,
                state: serde_json::to_string(&state)?,
                now: crate::now_us(),
            },
            Change::DeleteCheckpoint { name } => Op::DeleteCheckpoint(name),
        })
    }
}

/// One caller's unit of work, as the writer sees it.
pub(crate) struct Job {
    ops: Vec<Op>,
    entry: Option<Prepared>,
}

impl Job {
    pub(crate) fn audit_only(entry: Prepared) -> Job {
        Job {
            ops: Vec::new(),
            entry: Some(entry),
        }
    }
    pub(crate) fn one(c: Change) -> Result<Job> {
        Ok(Job {
            ops: vec![Op::prepare(c)?],
            entry: None,
        })
    }
}

/// A message to the writer: jobs that are committed together (same batch) and one reply with a
/// result per job.
pub(crate) struct WriteReq {
    jobs: Vec<Job>,
    reply: oneshot::Sender<Vec<Result<Committed>>>,
}

impl Store {
    /// Commits read-model changes and an audit entry with its outbox events in one transaction
    /// (see [`Commit`]). Returns once the transaction is durable. Concurrent commits are
    /// group-committed by the store's single writer.
    pub async fn commit(&self, c: Commit) -> Result<Committed> {
        let job = self.prepare_job(c)?;
        self.submit_one(job).await
    }

    /// Commits several units of work in one batch (one transaction when all succeed). Each
    /// keeps its own all-or-nothing guarantee and gets its own result: when the batch
    /// transaction fails, the writer retries every unit alone, so a failing unit does not take
    /// the others down (its caller gets the error, the others commit). Useful for bulk loads
    /// such as a full sync of the read model.
    pub async fn commit_all(&self, cs: Vec<Commit>) -> Vec<Result<Committed>> {
        let n = cs.len();
        let mut jobs = Vec::with_capacity(n);
        // Results for units refused before reaching the writer, by position.
        let mut refused: Vec<Option<StoreError>> = Vec::with_capacity(n);
        for c in cs {
            match self.prepare_job(c) {
                Ok(j) => {
                    jobs.push(j);
                    refused.push(None);
                }
                Err(e) => refused.push(Some(e)),
            }
        }
        let mut done = if jobs.is_empty() {
            Vec::new()
        } else {
            match self.submit(jobs).await {
                Ok(v) => v,
                Err(e) => {
                    return refused
                        .into_iter()
                        .map(|r| Err(r.unwrap_or_else(|| e.clone())))
                        .collect();
                }
            }
        }
        .into_iter();
        refused
            .into_iter()
            .map(|r| match r {
                Some(e) => Err(e),
                None => done.next().unwrap_or(Err(StoreError::WriterStopped)),
            })
            .collect()
    }

    fn prepare_job(&self, c: Commit) -> Result<Job> {
        let entry = match c.audit {
            Some((e, evs)) => Some(self.prepare_entry(e, evs)?),
            None => None,
        };
        let mut ops = Vec::with_capacity(c.changes.len());
        for ch in c.changes {
            ops.push(Op::prepare(ch)?);
        }
        Ok(Job { ops, entry })
    }

    pub(crate) async fn submit_one(&self, job: Job) -> Result<Committed> {
        self.submit(vec![job])
            .await?
            .pop()
            .unwrap_or(Err(StoreError::WriterStopped))
    }

    async fn submit(&self, jobs: Vec<Job>) -> Result<Vec<Result<Committed>>> {
        let (tx, rx) = oneshot::channel();
        self.inner
            .writer
            .send(WriteReq { jobs, reply: tx })
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        rx.await.map_err(|_| StoreError::WriterStopped)
    }

    /// Applies one change on its own (one transaction through the writer).
    pub(crate) async fn change_one(&self, c: Change) -> Result<u64> {
        let done = self.submit_one(Job::one(c)?).await?;
        Ok(done.affected.first().copied().unwrap_or(0))
    }
}

/// Drains queued work into one transaction per round: every unit in a batch commits (and is
/// fsynced) before any of them is acknowledged, so durability per acknowledged unit holds while
/// fsyncs are shared. When a batch of several units fails, each is retried alone so that only
/// the failing one reports the error.
pub(crate) async fn writer_loop(
    pool: Pool,
    mut rx: mpsc::Receiver<WriteReq>,
    max_batch: usize,
    checkpoints: Option<mpsc::Sender<()>>,
) {
    // Units committed since the checkpointer was last woken.
    let mut since_checkpoint = 0usize;
    while let Some(first) = rx.recv().await {
        let mut size = first.jobs.len();
        let mut reqs = vec![first];
        // Callers woken by the previous batch's acknowledgement may not have re-queued yet:
        // give them a moment (two scheduler yields, microseconds against a millisecond fsync)
        // so they share this commit instead of waiting for the next one.
        for _ in 0..2 {
            tokio::task::yield_now().await;
        }
        while size < max_batch {
            match rx.try_recv() {
                Ok(r) => {
                    size += r.jobs.len();
                    reqs.push(r);
                }
                Err(_) => break,
            }
        }
        let jobs: Vec<&Job> = reqs.iter().flat_map(|r| r.jobs.iter()).collect();
        let mut results: Vec<Result<Committed>> = match run_batch(&pool, &jobs).await {
            Ok(done) => done.into_iter().map(Ok).collect(),
            Err(e) if jobs.len() == 1 => vec![Err(e)],
            Err(e) => {
                tracing::warn!(error = %e, size = jobs.len(), "store write batch failed; retrying each unit alone");
                let mut v = Vec::with_capacity(jobs.len());
                for job in &jobs {
                    v.push(
                        run_batch(&pool, std::slice::from_ref(job))
                            .await
                            .and_then(|mut d| d.pop().ok_or(StoreError::WriterStopped)),
                    );
                }
                v
            }
        };
        since_checkpoint += jobs.len();
        drop(jobs);
        if since_checkpoint >= CHECKPOINT_EVERY
            && let Some(c) = &checkpoints
        {
            // Full channel: a checkpoint is already pending, which covers these commits too.
            let _ = c.try_send(());
            since_checkpoint = 0;
        }
        // Hand each request its own results, in order.
        let mut rest = results.drain(..);
        for req in reqs {
            let mine: Vec<Result<Committed>> = rest.by_ref().take(req.jobs.len()).collect();
            let _ = req.reply.send(mine);
        }
    }
}

/// SQLite: wake the checkpointer after this many committed units. A gateway write adds about
/// 16 WAL pages, so the WAL grows to about 64 MB between checkpoints (SQLite's default is 1,000
/// pages). Fewer, larger checkpoints write each hot page (chain head, index edges) back once
/// instead of dozens of times, and a checkpoint's fsync of the database file, although off the
/// writer's path, still queues the writer's own fsync behind it on the same disk: at 64 units
/// the gateway bench's PATCH p99 was 15-18 ms, at 1,024 it is 1.5-3 ms.
const CHECKPOINT_EVERY: usize = 1024;

const UPSERT_USER: &str = "INSERT INTO rm_user (id, user_name, user_name_lc, external_id, display_name, display_name_lc, active, version, resource, updated_us) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO UPDATE SET \
     user_name = excluded.user_name, user_name_lc = excluded.user_name_lc, external_id = excluded.external_id, \
     display_name = excluded.display_name, display_name_lc = excluded.display_name_lc, active = excluded.active, \
     version = excluded.version, resource = excluded.resource, updated_us = excluded.updated_us";

const UPSERT_GROUP: &str = "INSERT INTO rm_group (id, display_name, display_name_lc, external_id, version, resource, updated_us) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name, \
     display_name_lc = excluded.display_name_lc, external_id = excluded.external_id, version = excluded.version, \
     resource = excluded.resource, updated_us = excluded.updated_us";

/// Claims a key: a new in-flight record, or one that replaces a record expired at `now` (an
/// answer past its TTL, or the claim of a replica that died and whose lease ran out). Values:
/// key, request hash, now (created), lease end, claim, now (expiry test). On PostgreSQL a
/// concurrent claim of the same key waits for the first to commit, then finds it unexpired.
const CLAIM_IDEMPOTENCY: &str = "INSERT INTO idempotency_key (key, request_hash, status, response, created_us, expires_us, claim) \
     VALUES ($1, $2, 0, '', $3, $4, $5) ON CONFLICT (key) DO UPDATE SET request_hash = excluded.request_hash, \
     status = excluded.status, response = excluded.response, created_us = excluded.created_us, \
     expires_us = excluded.expires_us, claim = excluded.claim WHERE idempotency_key.expires_us <= $6";

fn lc(s: &str) -> String {
    s.to_lowercase()
}

/// Applies one prepared change inside the transaction `$tx`; evaluates to the rows affected.
macro_rules! apply_op {
    ($tx:ident, $op:expr, $db:ty) => {{
        match $op {
            Op::UpsertUser(u, resource) => {
                let r = sqlx::query(UPSERT_USER)
                    .bind(&u.id)
                    .bind(&u.user_name)
                    .bind(lc(&u.user_name))
                    .bind(&u.external_id)
                    .bind(&u.display_name)
                    .bind(u.display_name.as_deref().map(lc))
                    .bind(u.active)
                    .bind(u.version)
                    .bind(resource)
                    .bind(u.updated_us)
                    .execute(&mut *$tx)
                    .await?;
                sqlx::query("DELETE FROM rm_user_email WHERE user_id = $1")
                    .bind(&u.id)
                    .execute(&mut *$tx)
                    .await?;
                if !u.emails.is_empty() {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO rm_user_email (user_id, value_lc, value, type, is_primary) ",
                    );
                    qb.push_values(u.emails.iter(), |mut b, e| {
                        b.push_bind(u.id.clone())
                            .push_bind(lc(&e.value))
                            .push_bind(e.value.clone())
                            .push_bind(e.kind.clone())
                            .push_bind(e.primary);
                    });
                    qb.push(" ON CONFLICT (user_id, value_lc) DO NOTHING");
                    qb.build().execute(&mut *$tx).await?;
                }
                r.rows_affected()
            }
            Op::DeleteUser(id) => {
                sqlx::query("DELETE FROM rm_user_email WHERE user_id = $1")
                    .bind(id)
                    .execute(&mut *$tx)
                    .await?;
                sqlx::query("DELETE FROM rm_group_member WHERE member_id = $1")
                    .bind(id)
                    .execute(&mut *$tx)
                    .await?;
                sqlx::query("DELETE FROM rm_user WHERE id = $1")
                    .bind(id)
                    .execute(&mut *$tx)
                    .await?
                    .rows_affected()
            }
            Op::UpsertGroup(g, resource) => {
                let r = sqlx::query(UPSERT_GROUP)
                    .bind(&g.id)
                    .bind(&g.display_name)
                    .bind(lc(&g.display_name))
                    .bind(&g.external_id)
                    .bind(g.version)
                    .bind(resource)
                    .bind(g.updated_us)
                    .execute(&mut *$tx)
                    .await?;
                sqlx::query("DELETE FROM rm_group_member WHERE group_id = $1")
                    .bind(&g.id)
                    .execute(&mut *$tx)
                    .await?;
                if !g.members.is_empty() {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO rm_group_member (group_id, member_id) ",
                    );
                    qb.push_values(g.members.iter(), |mut b, m| {
                        b.push_bind(g.id.clone()).push_bind(m.clone());
                    });
                    qb.push(" ON CONFLICT DO NOTHING");
                    qb.build().execute(&mut *$tx).await?;
                }
                r.rows_affected()
            }
            Op::DeleteGroup(id) => {
                sqlx::query("DELETE FROM rm_group_member WHERE group_id = $1")
                    .bind(id)
                    .execute(&mut *$tx)
                    .await?;
                sqlx::query("DELETE FROM rm_group WHERE id = $1")
                    .bind(id)
                    .execute(&mut *$tx)
                    .await?
                    .rows_affected()
            }
            Op::Link {
                idp,
                kind,
                idp_id,
                genesys_id,
                now,
            } => sqlx::query(
                "INSERT INTO identity_map (idp, kind, idp_id, genesys_id, updated_us) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (idp, kind, idp_id) DO UPDATE SET genesys_id = excluded.genesys_id, updated_us = excluded.updated_us",
            )
            .bind(idp)
            .bind(kind)
            .bind(idp_id)
            .bind(genesys_id)
            .bind(*now)
            .execute(&mut *$tx)
            .await?
            .rows_affected(),
            Op::Unlink { idp, kind, idp_id } => sqlx::query(
                "DELETE FROM identity_map WHERE idp = $1 AND kind = $2 AND idp_id = $3",
            )
            .bind(idp)
            .bind(kind)
            .bind(idp_id)
            .execute(&mut *$tx)
            .await?
            .rows_affected(),
            Op::PutIdempotency(rec) => sqlx::query(
                "INSERT INTO idempotency_key (key, request_hash, status, response, created_us, expires_us) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key) DO NOTHING",
            )
            .bind(&rec.key)
            .bind(&rec.request_hash)
            .bind(rec.status)
            .bind(&rec.response)
            .bind(rec.created_us)
            .bind(rec.expires_us)
            .execute(&mut *$tx)
            .await?
            .rows_affected(),
            Op::PurgeIdempotency(now_us) => {
                sqlx::query("DELETE FROM idempotency_key WHERE expires_us <= $1")
                    .bind(*now_us)
                    .execute(&mut *$tx)
                    .await?
                    .rows_affected()
            }
            Op::ClaimIdempotency {
                key,
                request_hash,
                claim,
                now_us,
                expires_us,
            } => sqlx::query(CLAIM_IDEMPOTENCY)
                .bind(key)
                .bind(request_hash)
                .bind(*now_us)
                .bind(*expires_us)
                .bind(claim)
                .bind(*now_us)
                .execute(&mut *$tx)
                .await?
                .rows_affected(),
            Op::CompleteIdempotency { claim, rec } => sqlx::query(
                "UPDATE idempotency_key SET request_hash = $1, status = $2, response = $3, created_us = $4, \
                 expires_us = $5, claim = NULL WHERE key = $6 AND claim = $7",
            )
            .bind(&rec.request_hash)
            .bind(rec.status)
            .bind(&rec.response)
            .bind(rec.created_us)
            .bind(rec.expires_us)
            .bind(&rec.key)
            .bind(claim)
            .execute(&mut *$tx)
            .await?
            .rows_affected(),
            Op::ReleaseIdempotency { key, claim } => {
                sqlx::query("DELETE FROM idempotency_key WHERE key = $1 AND claim = $2")
                    .bind(key)
                    .bind(claim)
                    .execute(&mut *$tx)
                    .await?
                    .rows_affected()
            }
            Op::RenewIdempotency {
                key,
                claim,
                expires_us,
            } => sqlx::query(
                "UPDATE idempotency_key SET expires_us = $1 WHERE key = $2 AND claim = $3",
            )
            .bind(*expires_us)
            .bind(key)
            .bind(claim)
            .execute(&mut *$tx)
            .await?
            .rows_affected(),
            Op::PutCheckpoint { name, state, now } => sqlx::query(
                "INSERT INTO reconcile_checkpoint (name, state, updated_us) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET state = excluded.state, updated_us = excluded.updated_us",
            )
            .bind(name)
            .bind(state)
            .bind(*now)
            .execute(&mut *$tx)
            .await?
            .rows_affected(),
            Op::DeleteCheckpoint(name) => {
                sqlx::query("DELETE FROM reconcile_checkpoint WHERE name = $1")
                    .bind(name)
                    .execute(&mut *$tx)
                    .await?
                    .rows_affected()
            }
        }
    }};
}

/// Puts the batch's results together: per job, the rows affected by each of its changes (in
/// `affected`, flattened in job order) and its audit entry (from `appended`, in job order).
fn assemble(jobs: &[&Job], affected: Vec<u64>, appended: Vec<Appended>) -> Result<Vec<Committed>> {
    let mut affected = affected.into_iter();
    let mut appended = appended.into_iter();
    let mut out = Vec::with_capacity(jobs.len());
    for job in jobs {
        let a: Vec<u64> = affected.by_ref().take(job.ops.len()).collect();
        let e = match job.entry {
            Some(_) => Some(appended.next().ok_or_else(|| {
                StoreError::Corrupt("audit batch returned too few entries".into())
            })?),
            None => None,
        };
        out.push(Committed {
            appended: e,
            affected: a,
        });
    }
    Ok(out)
}

/// Applies every job's changes in queue order, then appends the audit entries of the jobs that
/// have one (in the same order, so the chain order is the commit order), in one transaction.
async fn run_batch(pool: &Pool, jobs: &[&Job]) -> Result<Vec<Committed>> {
    let entries: Vec<&Prepared> = jobs.iter().filter_map(|j| j.entry.as_ref()).collect();
    match pool {
        Pool::Sqlite(p) => {
            // BEGIN IMMEDIATE takes SQLite's write lock up front: other processes wait (busy
            // timeout) and the chain head we read cannot move under us.
            let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
            let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(&mut *tx)
                .await?;
            let plan = if entries.is_empty() {
                None
            } else {
                Some(plan_append(
                    head.try_get("seq")?,
                    head.try_get("hash")?,
                    &entries,
                )?)
            };
            // Everything else is one script: one round trip to the connection's worker thread
            // instead of one per statement (see `sqlite_script`).
            let n_ops: usize = jobs.iter().map(|j| j.ops.len()).sum();
            let mut affected = vec![0u64; n_ops];
            let script = sqlite_script::render(jobs, plan.as_ref());
            if !script.is_empty() {
                let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(script))
                    .fetch_all(&mut *tx)
                    .await?;
                for r in rows {
                    let k: i64 = r.try_get("op")?;
                    match usize::try_from(k).ok().and_then(|k| affected.get_mut(k)) {
                        Some(n) => *n += 1,
                        None => return Err(StoreError::Corrupt("unexpected change marker".into())),
                    }
                }
            }
            tx.commit().await?;
            assemble(jobs, affected, plan.map(|p| p.appended).unwrap_or_default())
        }
        Pool::Postgres(p) => {
            // The head row lock serialises writers across connections and replicas: one chain,
            // and (taken first, by every batch) no deadlock between batches on read-model rows.
            let mut tx = p.begin().await?;
            let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE")
                .fetch_one(&mut *tx)
                .await?;
            let mut affected = Vec::new();
            for job in jobs {
                for op in &job.ops {
                    affected.push(apply_op!(tx, op, sqlx::Postgres));
                }
            }
            // Other replicas learn of group/membership changes on commit (see watch.rs).
            let notes = crate::watch::payloads(jobs.iter().flat_map(|j| j.ops.iter()));
            crate::watch::notify_pg(&mut tx, notes).await?;
            let appended = if entries.is_empty() {
                Vec::new()
            } else {
                let plan = plan_append(head.try_get("seq")?, head.try_get("hash")?, &entries)?;
                write_plan_pg(&mut tx, plan).await?
            };
            tx.commit().await?;
            assemble(jobs, affected, appended)
        }
    }
}

/// The SQLite side of a batch as one multi-statement script run with `sqlx::raw_sql`.
///
/// sqlx runs each SQLite statement as a message to the connection's worker thread and back; a
/// gateway write was ten of them (two thread wake-ups each, the dominant cost after the fsync on
/// a busy machine). `raw_sql` runs a whole script in one message but takes no bound
/// parameters, so values are written as literals that cannot carry SQL:
/// - text as `CAST(X'<hex of its UTF-8 bytes>' AS TEXT)`: only `[0-9a-f]` appear between the
///   quotes, so no value can close the literal, and a NUL byte (which would end the SQL text
///   for `sqlite3_prepare`) is just `00`;
/// - integers in decimal (`i64::MIN` as an expression, which SQLite would otherwise read as a
///   real), booleans as 1/0, `NULL`.
///
/// Statements whose effect the caller needs (rows affected by a change) end in
/// `RETURNING <k> AS op`, `k` being the change's index in the batch: the rows returned are
/// counted per `k`.
mod sqlite_script {
    use std::fmt::Write;

    use super::{Job, Op, lc};
    use crate::audit::AppendPlan;

    pub(super) fn render(jobs: &[&Job], plan: Option<&AppendPlan>) -> String {
        let mut s = Script(String::new());
        let mut k = 0usize;
        for job in jobs {
            for op in &job.ops {
                s.op(op, k);
                k += 1;
            }
        }
        if let Some(plan) = plan {
            s.plan(plan);
        }
        s.0
    }

    struct Script(String);

    const HEX: &[u8; 16] = b"0123456789abcdef";

    impl Script {
        fn sql(&mut self, q: &str) -> &mut Self {
            self.0.push_str(q);
            self
        }
        fn text(&mut self, v: &str) -> &mut Self {
            self.0.reserve(v.len() * 2 + 20);
            self.0.push_str("CAST(X'");
            for b in v.bytes() {
                self.0.push(HEX[usize::from(b >> 4)] as char);
                self.0.push(HEX[usize::from(b & 0x0f)] as char);
            }
            self.0.push_str("' AS TEXT)");
            self
        }
        fn opt_text(&mut self, v: Option<&str>) -> &mut Self {
            match v {
                Some(v) => self.text(v),
                None => self.sql("NULL"),
            }
        }
        fn int(&mut self, v: i64) -> &mut Self {
            if v == i64::MIN {
                self.0.push_str("(-9223372036854775807-1)");
            } else {
                let _ = write!(self.0, "{v}");
            }
            self
        }
        fn boolean(&mut self, v: bool) -> &mut Self {
            self.sql(if v { "1" } else { "0" })
        }
        fn returning(&mut self, k: usize) -> &mut Self {
            let _ = writeln!(self.0, " RETURNING {k} AS op;");
            self
        }

        fn op(&mut self, op: &Op, k: usize) {
            match op {
                Op::UpsertUser(u, resource) => {
                    self.sql("INSERT INTO rm_user (id, user_name, user_name_lc, external_id, display_name, display_name_lc, active, version, resource, updated_us) VALUES (")
                        .text(&u.id).sql(", ")
                        .text(&u.user_name).sql(", ")
                        .text(&lc(&u.user_name)).sql(", ")
                        .opt_text(u.external_id.as_deref()).sql(", ")
                        .opt_text(u.display_name.as_deref()).sql(", ")
                        .opt_text(u.display_name.as_deref().map(lc).as_deref()).sql(", ")
                        .boolean(u.active).sql(", ")
                        .int(u.version).sql(", ")
                        .text(resource).sql(", ")
                        .int(u.updated_us)
                        .sql(") ON CONFLICT (id) DO UPDATE SET user_name = excluded.user_name, user_name_lc = excluded.user_name_lc, \
                              external_id = excluded.external_id, display_name = excluded.display_name, display_name_lc = excluded.display_name_lc, \
                              active = excluded.active, version = excluded.version, resource = excluded.resource, updated_us = excluded.updated_us")
                        .returning(k);
                    self.sql("DELETE FROM rm_user_email WHERE user_id = ")
                        .text(&u.id)
                        .sql(";\n");
                    if !u.emails.is_empty() {
                        self.sql("INSERT INTO rm_user_email (user_id, value_lc, value, type, is_primary) VALUES ");
                        for (i, e) in u.emails.iter().enumerate() {
                            if i > 0 {
                                self.sql(", ");
                            }
                            self.sql("(")
                                .text(&u.id)
                                .sql(", ")
                                .text(&lc(&e.value))
                                .sql(", ")
                                .text(&e.value)
                                .sql(", ")
                                .opt_text(e.kind.as_deref())
                                .sql(", ")
                                .boolean(e.primary)
                                .sql(")");
                        }
                        self.sql(" ON CONFLICT (user_id, value_lc) DO NOTHING;\n");
                    }
                }
                Op::DeleteUser(id) => {
                    self.sql("DELETE FROM rm_user_email WHERE user_id = ")
                        .text(id)
                        .sql(";\n");
                    self.sql("DELETE FROM rm_group_member WHERE member_id = ")
                        .text(id)
                        .sql(";\n");
                    self.sql("DELETE FROM rm_user WHERE id = ")
                        .text(id)
                        .returning(k);
                }
                Op::UpsertGroup(g, resource) => {
                    self.sql("INSERT INTO rm_group (id, display_name, display_name_lc, external_id, version, resource, updated_us) VALUES (")
                        .text(&g.id).sql(", ")
                        .text(&g.display_name).sql(", ")
                        .text(&lc(&g.display_name)).sql(", ")
                        .opt_text(g.external_id.as_deref()).sql(", ")
                        .int(g.version).sql(", ")
                        .text(resource).sql(", ")
                        .int(g.updated_us)
                        .sql(") ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name, display_name_lc = excluded.display_name_lc, \
                              external_id = excluded.external_id, version = excluded.version, resource = excluded.resource, updated_us = excluded.updated_us")
                        .returning(k);
                    self.sql("DELETE FROM rm_group_member WHERE group_id = ")
                        .text(&g.id)
                        .sql(";\n");
                    if !g.members.is_empty() {
                        self.sql("INSERT INTO rm_group_member (group_id, member_id) VALUES ");
                        for (i, m) in g.members.iter().enumerate() {
                            if i > 0 {
                                self.sql(", ");
                            }
                            self.sql("(").text(&g.id).sql(", ").text(m).sql(")");
                        }
                        self.sql(" ON CONFLICT DO NOTHING;\n");
                    }
                }
                Op::DeleteGroup(id) => {
                    self.sql("DELETE FROM rm_group_member WHERE group_id = ")
                        .text(id)
                        .sql(";\n");
                    self.sql("DELETE FROM rm_group WHERE id = ")
                        .text(id)
                        .returning(k);
                }
                Op::Link {
                    idp,
                    kind,
                    idp_id,
                    genesys_id,
                    now,
                } => {
                    self.sql("INSERT INTO identity_map (idp, kind, idp_id, genesys_id, updated_us) VALUES (")
                        .text(idp).sql(", ").text(kind).sql(", ").text(idp_id).sql(", ")
                        .text(genesys_id).sql(", ").int(*now)
                        .sql(") ON CONFLICT (idp, kind, idp_id) DO UPDATE SET genesys_id = excluded.genesys_id, updated_us = excluded.updated_us")
                        .returning(k);
                }
                Op::Unlink { idp, kind, idp_id } => {
                    self.sql("DELETE FROM identity_map WHERE idp = ")
                        .text(idp)
                        .sql(" AND kind = ")
                        .text(kind)
                        .sql(" AND idp_id = ")
                        .text(idp_id)
                        .returning(k);
                }
                Op::PutIdempotency(r) => {
                    self.sql("INSERT INTO idempotency_key (key, request_hash, status, response, created_us, expires_us) VALUES (")
                        .text(&r.key).sql(", ").text(&r.request_hash).sql(", ").int(r.status).sql(", ")
                        .text(&r.response).sql(", ").int(r.created_us).sql(", ").int(r.expires_us)
                        .sql(") ON CONFLICT (key) DO NOTHING")
                        .returning(k);
                }
                Op::PurgeIdempotency(now_us) => {
                    self.sql("DELETE FROM idempotency_key WHERE expires_us <= ")
                        .int(*now_us)
                        .returning(k);
                }
                Op::ClaimIdempotency {
                    key,
                    request_hash,
                    claim,
                    now_us,
                    expires_us,
                } => {
                    // The same statement as CLAIM_IDEMPOTENCY, with literals. `RETURNING` yields
                    // a row for an insert or a takeover, none when the WHERE keeps the record.
                    self.sql("INSERT INTO idempotency_key (key, request_hash, status, response, created_us, expires_us, claim) VALUES (")
                        .text(key).sql(", ").text(request_hash).sql(", 0, '', ").int(*now_us).sql(", ")
                        .int(*expires_us).sql(", ").text(claim)
                        .sql(") ON CONFLICT (key) DO UPDATE SET request_hash = excluded.request_hash, status = excluded.status, \
                              response = excluded.response, created_us = excluded.created_us, expires_us = excluded.expires_us, \
                              claim = excluded.claim WHERE idempotency_key.expires_us <= ")
                        .int(*now_us)
                        .returning(k);
                }
                Op::CompleteIdempotency { claim, rec } => {
                    self.sql("UPDATE idempotency_key SET request_hash = ")
                        .text(&rec.request_hash)
                        .sql(", status = ")
                        .int(rec.status)
                        .sql(", response = ")
                        .text(&rec.response)
                        .sql(", created_us = ")
                        .int(rec.created_us)
                        .sql(", expires_us = ")
                        .int(rec.expires_us)
                        .sql(", claim = NULL WHERE key = ")
                        .text(&rec.key)
                        .sql(" AND claim = ")
                        .text(claim)
                        .returning(k);
                }
                Op::ReleaseIdempotency { key, claim } => {
                    self.sql("DELETE FROM idempotency_key WHERE key = ")
                        .text(key)
                        .sql(" AND claim = ")
                        .text(claim)
                        .returning(k);
                }
                Op::RenewIdempotency {
                    key,
                    claim,
                    expires_us,
                } => {
                    self.sql("UPDATE idempotency_key SET expires_us = ")
                        .int(*expires_us)
                        .sql(" WHERE key = ")
                        .text(key)
                        .sql(" AND claim = ")
                        .text(claim)
                        .returning(k);
                }
                Op::PutCheckpoint { name, state, now } => {
                    self.sql("INSERT INTO reconcile_checkpoint (name, state, updated_us) VALUES (")
                        .text(name).sql(", ").text(state).sql(", ").int(*now)
                        .sql(") ON CONFLICT (name) DO UPDATE SET state = excluded.state, updated_us = excluded.updated_us")
                        .returning(k);
                }
                Op::DeleteCheckpoint(name) => {
                    self.sql("DELETE FROM reconcile_checkpoint WHERE name = ")
                        .text(name)
                        .returning(k);
                }
            }
        }

        fn plan(&mut self, plan: &AppendPlan) {
            self.sql("INSERT INTO audit_log (seq, ts_us, actor, action, targets, request_id, correlation_ids, outcome, detail, prev_hash, hash) VALUES ");
            for (i, (e, detail, t, c)) in plan.rows.iter().enumerate() {
                if i > 0 {
                    self.sql(", ");
                }
                self.sql("(")
                    .int(e.seq)
                    .sql(", ")
                    .int(e.ts_us)
                    .sql(", ")
                    .text(&e.actor)
                    .sql(", ")
                    .text(&e.action)
                    .sql(", ")
                    .text(t)
                    .sql(", ")
                    .opt_text(e.request_id.as_deref())
                    .sql(", ")
                    .text(c)
                    .sql(", ")
                    .text(&e.outcome)
                    .sql(", ")
                    .text(detail)
                    .sql(", ")
                    .text(&e.prev_hash)
                    .sql(", ")
                    .text(&e.hash)
                    .sql(")");
            }
            self.sql(";\n");
            if !plan.targets.is_empty() {
                self.sql("INSERT INTO audit_target (target, seq) VALUES ");
                for (i, (t, seq)) in plan.targets.iter().enumerate() {
                    if i > 0 {
                        self.sql(", ");
                    }
                    self.sql("(").text(t).sql(", ").int(*seq).sql(")");
                }
                self.sql(";\n");
            }
            if !plan.events.is_empty() {
                self.sql("INSERT INTO outbox (id, audit_seq, kind, payload, state, attempts, next_attempt_us, created_us) VALUES ");
                for (i, (id, seq, kind, payload)) in plan.events.iter().enumerate() {
                    if i > 0 {
                        self.sql(", ");
                    }
                    self.sql("(")
                        .text(id)
                        .sql(", ")
                        .int(*seq)
                        .sql(", ")
                        .text(kind)
                        .sql(", ")
                        .text(payload)
                        .sql(", 'pending', 0, ")
                        .int(plan.ts_us)
                        .sql(", ")
                        .int(plan.ts_us)
                        .sql(")");
                }
                self.sql(";\n");
            }
            self.sql("UPDATE audit_head SET seq = ")
                .int(plan.head_seq)
                .sql(", hash = ")
                .text(&plan.head_hash)
                .sql(" WHERE id = 1;\n");
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn text_literals_carry_only_hex_digits() {
            let mut s = Script(String::new());
            s.text("a'); DROP TABLE audit_log; --\u{0}é");
            let inner =
                s.0.strip_prefix("CAST(X'")
                    .and_then(|r| r.strip_suffix("' AS TEXT)"));
            let inner = inner.expect("the literal's frame");
            assert!(inner.bytes().all(|b| b.is_ascii_hexdigit()), "{inner}");
            assert_eq!(
                hex::decode(inner).expect("hex"),
                "a'); DROP TABLE audit_log; --\u{0}é".as_bytes()
            );
            let mut s = Script(String::new());
            s.int(i64::MIN).sql(" ").int(-1).sql(" ").int(i64::MAX);
            assert_eq!(s.0, "(-9223372036854775807-1) -1 9223372036854775807");
        }
    }
}
