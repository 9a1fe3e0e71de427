//! The store's single writer: every read-model change, identity link, idempotency key,
//! reconciler checkpoint, audit append and outbox mark of one process goes through one writer
//! that owns one database connection and group-commits whatever is queued: on SQLite its
//! callers, on their own threads, one at a time (`sqlite_writer`), on PostgreSQL a task
//! (`pg_writer_loop`).
//!
//! Why: two writers in one process (say a read-model upsert on a pool connection and the audit
//! writer) contend for SQLite's one write lock, and SQLite's busy handler then sleeps 1, 2, 5,
//! 10 ... 100 ms. With one writer nothing in the process waits on the lock, and a burst of
//! requests shares one transaction and one fsync.

use serde_json::Value;
use sqlx::postgres::{PgConnection, PgPool, Postgres};
use sqlx::{QueryBuilder, Row};
use tokio::sync::{mpsc, oneshot};

use crate::audit::{Appended, NewEntry, NewEvent, Prepared, plan_append, write_plan_pg};
use crate::db::Store;
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

impl Op {
    /// The one statement and its values of a change that is a single statement (all but the
    /// user and group upserts and deletes, which each backend writes its own way). Both
    /// backends run it as it is.
    pub(crate) fn statement(&self) -> Option<(&'static str, Vec<Arg>)> {
        use Arg::{Int, Text};
        let t = |v: &String| Text(v.clone());
        Some(match self {
            Op::UpsertUser(..) | Op::DeleteUser(_) | Op::UpsertGroup(..) | Op::DeleteGroup(_) => {
                return None;
            }
            Op::Link {
                idp,
                kind,
                idp_id,
                genesys_id,
                now,
            } => (
                LINK,
                vec![t(idp), t(kind), t(idp_id), t(genesys_id), Int(*now)],
            ),
            Op::Unlink { idp, kind, idp_id } => (UNLINK, vec![t(idp), t(kind), t(idp_id)]),
            Op::PutIdempotency(r) => (
                PUT_IDEMPOTENCY,
                vec![
                    t(&r.key),
                    t(&r.request_hash),
                    Int(r.status),
                    t(&r.response),
                    Int(r.created_us),
                    Int(r.expires_us),
                ],
            ),
            Op::PurgeIdempotency(now_us) => (PURGE_IDEMPOTENCY, vec![Int(*now_us)]),
            Op::ClaimIdempotency {
                key,
                request_hash,
                claim,
                now_us,
                expires_us,
            } => (
                CLAIM_IDEMPOTENCY,
                vec![
                    t(key),
                    t(request_hash),
                    Int(*now_us),
                    Int(*expires_us),
                    t(claim),
                ],
            ),
            Op::CompleteIdempotency { claim, rec } => (
                COMPLETE_IDEMPOTENCY,
                vec![
                    t(&rec.request_hash),
                    Int(rec.status),
                    t(&rec.response),
                    Int(rec.created_us),
                    Int(rec.expires_us),
                    t(&rec.key),
                    t(claim),
                ],
            ),
            Op::ReleaseIdempotency { key, claim } => (RELEASE_IDEMPOTENCY, vec![t(key), t(claim)]),
            Op::RenewIdempotency {
                key,
                claim,
                expires_us,
            } => (RENEW_IDEMPOTENCY, vec![Int(*expires_us), t(key), t(claim)]),
            Op::PutCheckpoint { name, state, now } => {
                (PUT_CHECKPOINT, vec![t(name), t(state), Int(*now)])
            }
            Op::DeleteCheckpoint(name) => (DELETE_CHECKPOINT, vec![t(name)]),
        })
    }
}

/// One caller's unit of work, as the writer sees it.
pub(crate) struct Job {
    pub(crate) ops: Vec<Op>,
    pub(crate) entry: Option<Prepared>,
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

/// Jobs that are committed together (same batch) and one reply with a result per job.
pub(crate) struct WriteReq {
    pub(crate) jobs: Vec<Job>,
    pub(crate) reply: oneshot::Sender<Vec<Result<Committed>>>,
}

/// The store's writer: SQLite's runs on its callers' threads (`sqlite_writer`), PostgreSQL's is
/// a task with a connection of its own (`pg_writer_loop`).
pub(crate) enum Writer {
    Sqlite(Box<crate::sqlite_writer::SqliteWriter>),
    Postgres(mpsc::Sender<WriteReq>),
}

/// A bound value of a write run through [`Store::exec_write`].
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Int(i64),
    Text(String),
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
        match &self.inner.writer {
            Writer::Sqlite(w) => blocking(|| w.write(jobs)),
            Writer::Postgres(tx) => {
                let (reply, rx) = oneshot::channel();
                tx.send(WriteReq { jobs, reply })
                    .await
                    .map_err(|_| StoreError::WriterStopped)?;
                rx.await.map_err(|_| StoreError::WriterStopped)
            }
        }
    }

    /// Applies one change on its own (one transaction through the writer).
    pub(crate) async fn change_one(&self, c: Change) -> Result<u64> {
        let done = self.submit_one(Job::one(c)?).await?;
        Ok(done.affected.first().copied().unwrap_or(0))
    }

    /// Runs one write statement (`$n` placeholders) outside the batches, on the writer's
    /// connection, and returns the rows it affected: on SQLite in queue order with the batches,
    /// on PostgreSQL on the writer's own connection.
    pub(crate) async fn exec_write(&self, sql: &'static str, args: Vec<Arg>) -> Result<u64> {
        match &self.inner.pg_writer {
            Some(p) => Ok(pg_query(sql, args).execute(p).await?.rows_affected()),
            None => {
                self.on_sqlite_writer(move |c| {
                    let n = c
                        .prepare_cached(&crate::sqlite_writer::numbered(sql))?
                        .execute(rusqlite::params_from_iter(args.iter()))?;
                    Ok(n as u64)
                })
                .await
            }
        }
    }

    /// Runs `f` on the SQLite writer's connection, in queue order with the writes.
    pub(crate) async fn on_sqlite_writer<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut rusqlite::Connection) -> Result<T> + Send + 'static,
    {
        match &self.inner.writer {
            Writer::Sqlite(w) => blocking(|| w.run(f)),
            Writer::Postgres(_) => Err(StoreError::Invalid(
                "a SQLite job sent to a PostgreSQL store".into(),
            )),
        }
    }
}

/// Runs `f`, which blocks this thread (a SQLite write and its fsync), without holding up the
/// async tasks queued behind the caller: on a multi-threaded Tokio runtime through
/// `block_in_place`, which hands this worker's other tasks to another thread while `f` runs.
/// The caller's own task goes on on this thread as soon as `f` returns: unlike a hand-over to a
/// writer thread, no thread has to be woken (and scheduled, on a busy machine) on the way there
/// or back. On a current-thread runtime (tests) `f` simply runs.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// A PostgreSQL statement with its values bound.
fn pg_query(
    sql: &'static str,
    args: Vec<Arg>,
) -> sqlx::query::Query<'static, Postgres, sqlx::postgres::PgArguments> {
    args.into_iter().fold(sqlx::query(sql), |q, a| match a {
        Arg::Int(v) => q.bind(v),
        Arg::Text(v) => q.bind(v),
    })
}

impl rusqlite::ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Arg::Int(v) => v.to_sql(),
            Arg::Text(v) => v.to_sql(),
        }
    }
}

/// Hands each request its own results, in order.
pub(crate) fn reply_each(reqs: Vec<WriteReq>, mut results: Vec<Result<Committed>>) {
    let mut rest = results.drain(..);
    for req in reqs {
        let mine: Vec<Result<Committed>> = rest.by_ref().take(req.jobs.len()).collect();
        let _ = req.reply.send(mine);
    }
}

/// PostgreSQL: drains queued work into one transaction per round: every unit in a batch
/// commits before any of them is acknowledged. (SQLite's writer runs on its callers' threads,
/// see `sqlite_writer`.)
pub(crate) async fn pg_writer_loop(
    pool: PgPool,
    mut rx: mpsc::Receiver<WriteReq>,
    max_batch: usize,
) {
    while let Some(first) = rx.recv().await {
        let mut size = first.jobs.len();
        let mut reqs = vec![first];
        // Callers woken by the previous batch's acknowledgement may not have re-queued yet:
        // give them a moment so they share this commit instead of waiting for the next one.
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
        let results = match run_batch_pg(&pool, &jobs).await {
            Ok(done) => done.into_iter().map(Ok).collect(),
            Err(e) if jobs.len() == 1 => vec![Err(e)],
            Err(e) => {
                tracing::warn!(error = %e, size = jobs.len(), "store write batch failed; retrying each unit alone");
                let mut v = Vec::with_capacity(jobs.len());
                for job in &jobs {
                    v.push(
                        run_batch_pg(&pool, std::slice::from_ref(job))
                            .await
                            .and_then(|mut d| d.pop().ok_or(StoreError::WriterStopped)),
                    );
                }
                v
            }
        };
        drop(jobs);
        reply_each(reqs, results);
    }
}

// The statements of the changes, shared by both backends (`$n` placeholders; the SQLite writer
// turns them into `?n`, see `sqlite_writer::numbered`).

pub(crate) const UPSERT_USER: &str = "INSERT INTO rm_user (id, user_name, user_name_lc, external_id, display_name, display_name_lc, active, version, resource, updated_us) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO UPDATE SET \
     user_name = excluded.user_name, user_name_lc = excluded.user_name_lc, external_id = excluded.external_id, \
     display_name = excluded.display_name, display_name_lc = excluded.display_name_lc, active = excluded.active, \
     version = excluded.version, resource = excluded.resource, updated_us = excluded.updated_us";
pub(crate) const DELETE_USER_EMAILS: &str = "DELETE FROM rm_user_email WHERE user_id = $1";
pub(crate) const INSERT_USER_EMAIL: &str = "INSERT INTO rm_user_email (user_id, value_lc, value, type, is_primary) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, value_lc) DO NOTHING";
pub(crate) const DELETE_MEMBER_EVERYWHERE: &str =
    "DELETE FROM rm_group_member WHERE member_id = $1";
pub(crate) const DELETE_USER: &str = "DELETE FROM rm_user WHERE id = $1";
pub(crate) const UPSERT_GROUP: &str = "INSERT INTO rm_group (id, display_name, display_name_lc, external_id, version, resource, updated_us) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name, \
     display_name_lc = excluded.display_name_lc, external_id = excluded.external_id, version = excluded.version, \
     resource = excluded.resource, updated_us = excluded.updated_us";
pub(crate) const DELETE_GROUP_MEMBERS: &str = "DELETE FROM rm_group_member WHERE group_id = $1";
pub(crate) const INSERT_GROUP_MEMBER: &str =
    "INSERT INTO rm_group_member (group_id, member_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
pub(crate) const DELETE_GROUP: &str = "DELETE FROM rm_group WHERE id = $1";
pub(crate) const LINK: &str = "INSERT INTO identity_map (idp, kind, idp_id, genesys_id, updated_us) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (idp, kind, idp_id) DO UPDATE SET genesys_id = excluded.genesys_id, updated_us = excluded.updated_us";
pub(crate) const UNLINK: &str =
    "DELETE FROM identity_map WHERE idp = $1 AND kind = $2 AND idp_id = $3";
pub(crate) const PUT_IDEMPOTENCY: &str = "INSERT INTO idempotency_key (key, request_hash, status, response, created_us, expires_us) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key) DO NOTHING";
pub(crate) const PURGE_IDEMPOTENCY: &str = "DELETE FROM idempotency_key WHERE expires_us <= $1";
/// Claims a key: a new in-flight record, or one that replaces a record expired at `now` (an
/// answer past its TTL, or the claim of a replica that died and whose lease ran out). Values:
/// key, request hash, now (created), lease end, claim. On PostgreSQL a concurrent claim of the
/// same key waits for the first to commit, then finds it unexpired.
pub(crate) const CLAIM_IDEMPOTENCY: &str = "INSERT INTO idempotency_key (key, request_hash, status, response, created_us, expires_us, claim) \
     VALUES ($1, $2, 0, '', $3, $4, $5) ON CONFLICT (key) DO UPDATE SET request_hash = excluded.request_hash, \
     status = excluded.status, response = excluded.response, created_us = excluded.created_us, \
     expires_us = excluded.expires_us, claim = excluded.claim WHERE idempotency_key.expires_us <= $3";
pub(crate) const COMPLETE_IDEMPOTENCY: &str = "UPDATE idempotency_key SET request_hash = $1, status = $2, response = $3, created_us = $4, \
     expires_us = $5, claim = NULL WHERE key = $6 AND claim = $7";
pub(crate) const RELEASE_IDEMPOTENCY: &str =
    "DELETE FROM idempotency_key WHERE key = $1 AND claim = $2";
pub(crate) const RENEW_IDEMPOTENCY: &str =
    "UPDATE idempotency_key SET expires_us = $1 WHERE key = $2 AND claim = $3";
pub(crate) const PUT_CHECKPOINT: &str = "INSERT INTO reconcile_checkpoint (name, state, updated_us) VALUES ($1, $2, $3) \
     ON CONFLICT (name) DO UPDATE SET state = excluded.state, updated_us = excluded.updated_us";
pub(crate) const DELETE_CHECKPOINT: &str = "DELETE FROM reconcile_checkpoint WHERE name = $1";
pub(crate) const READ_HEAD: &str = "SELECT seq, hash FROM audit_head WHERE id = 1";

pub(crate) fn lc(s: &str) -> String {
    s.to_lowercase()
}

/// Puts the batch's results together: per job, the rows affected by each of its changes (in
/// `affected`, flattened in job order) and its audit entry (from `appended`, in job order).
pub(crate) fn assemble(
    jobs: &[&Job],
    affected: Vec<u64>,
    appended: Vec<Appended>,
) -> Result<Vec<Committed>> {
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

/// PostgreSQL: applies every job's changes in queue order, then appends the audit entries of the
/// jobs that have one (in the same order, so the chain order is the commit order), in one
/// transaction.
async fn run_batch_pg(pool: &PgPool, jobs: &[&Job]) -> Result<Vec<Committed>> {
    let entries: Vec<&Prepared> = jobs.iter().filter_map(|j| j.entry.as_ref()).collect();
    // The head row lock serialises writers across connections and replicas: one chain, and
    // (taken first, by every batch) no deadlock between batches on read-model rows.
    let mut tx = pool.begin().await?;
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE")
        .fetch_one(&mut *tx)
        .await?;
    let mut affected = Vec::new();
    for job in jobs {
        for op in &job.ops {
            affected.push(apply_pg(&mut tx, op).await?);
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

/// Applies one prepared change inside a PostgreSQL transaction; returns the rows affected.
/// Emails and members go in one multi-row statement each (a group can have thousands).
async fn apply_pg(tx: &mut PgConnection, op: &Op) -> Result<u64> {
    let n = match op {
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
                .execute(&mut *tx)
                .await?;
            sqlx::query(DELETE_USER_EMAILS)
                .bind(&u.id)
                .execute(&mut *tx)
                .await?;
            if !u.emails.is_empty() {
                let mut qb = QueryBuilder::<Postgres>::new(
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
                qb.build().execute(&mut *tx).await?;
            }
            r.rows_affected()
        }
        Op::DeleteUser(id) => {
            for q in [DELETE_USER_EMAILS, DELETE_MEMBER_EVERYWHERE] {
                sqlx::query(q).bind(id).execute(&mut *tx).await?;
            }
            sqlx::query(DELETE_USER)
                .bind(id)
                .execute(&mut *tx)
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
                .execute(&mut *tx)
                .await?;
            sqlx::query(DELETE_GROUP_MEMBERS)
                .bind(&g.id)
                .execute(&mut *tx)
                .await?;
            if !g.members.is_empty() {
                let mut qb = QueryBuilder::<Postgres>::new(
                    "INSERT INTO rm_group_member (group_id, member_id) ",
                );
                qb.push_values(g.members.iter(), |mut b, m| {
                    b.push_bind(g.id.clone()).push_bind(m.clone());
                });
                qb.push(" ON CONFLICT DO NOTHING");
                qb.build().execute(&mut *tx).await?;
            }
            r.rows_affected()
        }
        Op::DeleteGroup(id) => {
            sqlx::query(DELETE_GROUP_MEMBERS)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(DELETE_GROUP)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        }
        other => {
            let Some((sql, args)) = other.statement() else {
                return Err(StoreError::Corrupt("a change without its statement".into()));
            };
            pg_query(sql, args).execute(&mut *tx).await?.rows_affected()
        }
    };
    Ok(n)
}
