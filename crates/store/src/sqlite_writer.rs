//! SQLite's writer: a thread of its own that owns the process's one SQLite write connection
//! (through rusqlite) and commits what the store queues, batch by batch.
//!
//! Why a thread, and rusqlite rather than a sqlx connection: sqlx runs each SQLite statement as
//! a message to the connection's worker thread and an answer back, so a batch (begin, chain
//! head, its statements, commit) was several round trips between an async task and that thread,
//! each costing thread wake-ups that, on a busy two-vCPU machine, cost more than the SQL. (The
//! earlier work-around ran a batch's statements as one script of hex-encoded literals, which
//! SQLite then had to parse.) Here a batch is plain function calls on one thread, with cached
//! prepared statements and bound parameters: a request costs one hand-over to this thread and
//! one back. The read model's point lookups have rusqlite connections of their own
//! (`sqlite_read`); other reads and the migrations stay on sqlx's pool.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior, params};
use tokio::sync::mpsc;

use crate::audit::{AppendPlan, Prepared, plan_append};
use crate::db::SqliteDurability;
use crate::error::{Result, StoreError};
use crate::records::{EmailRecord, UserRecord};
use crate::write::{
    Committed, DELETE_GROUP, DELETE_GROUP_MEMBERS, DELETE_MEMBER_EVERYWHERE, DELETE_USER,
    DELETE_USER_EMAILS, INSERT_GROUP_MEMBER, INSERT_USER_EMAIL, Job, Msg, Op, READ_HEAD,
    UPSERT_GROUP, UPSERT_USER, WriteReq, assemble, lc, reply_each,
};

/// Work run on the writer thread's connection (see `Store::on_sqlite_writer`).
pub(crate) type SqliteJob = Box<dyn FnOnce(&mut Connection) + Send>;

/// Wake the checkpointer after this many committed units. A gateway write adds about 13 WAL
/// pages, so the WAL grows to about 50 MB between checkpoints (SQLite's default is 1,000
/// pages). Fewer, larger checkpoints write each hot page (chain head, index edges) back once
/// instead of dozens of times, and a checkpoint's fsync of the database file, although off the
/// writer's path, still queues the writer's own fsync behind it on the same disk: at 64 units
/// the gateway bench's PATCH p99 was 15-18 ms, at 1,024 1.5-3 ms (on another machine, 256 and
/// 1,024 measured the same; see docs/benchmarks/gateway.md).
const CHECKPOINT_EVERY: usize = 1024;

/// The shared statements use PostgreSQL's `$n` placeholders. SQLite reads `$1` as a *named*
/// parameter numbered by first appearance, so `?n` (numbered exactly) is used instead.
pub(crate) fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// Opens a write connection (the writer's or the checkpointer's) on an existing, migrated
/// database file.
pub(crate) fn open(
    file: &Path,
    durability: SqliteDurability,
    busy_timeout: Duration,
) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        file,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(busy_timeout)?;
    // The read pool set WAL (a property of the file); asking again is a no-op that confirms it.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Invalid(format!(
            "SQLite journal mode is {mode}, expected wal"
        )));
    }
    // FULL: every acknowledged commit is on disk (also across power loss).
    let sync = match durability {
        SqliteDurability::Full => "FULL",
        SqliteDurability::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", sync)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Checkpoints run beside the writer (the store's checkpointer), never inside a commit.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Starts the writer thread. It ends when every sender of `rx` is gone (the store is dropped).
pub(crate) fn spawn(
    conn: Connection,
    rx: mpsc::Receiver<Msg>,
    max_batch: usize,
    checkpoints: std::sync::mpsc::SyncSender<()>,
) -> Result<()> {
    std::thread::Builder::new()
        .name("gcprov-store-writer".into())
        .spawn(move || run(conn, rx, max_batch, checkpoints))
        .map(|_| ())
        .map_err(|e| StoreError::Io(format!("cannot start the store's writer thread: {e}")))
}

/// Starts the checkpointer: a thread that copies the WAL back into the database file
/// (`PRAGMA wal_checkpoint(PASSIVE)`) whenever the writer asks, on a connection of its own.
/// SQLite would otherwise run the checkpoint inside the commit that crosses
/// `wal_autocheckpoint` pages: that one commit (and every request waiting on it) would also pay
/// for copying thousands of pages and two more fsyncs. A passive checkpoint never blocks the
/// writer or readers. Ends when the writer ends (its sender is dropped).
pub(crate) fn spawn_checkpointer(conn: Connection) -> Result<std::sync::mpsc::SyncSender<()>> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
    std::thread::Builder::new()
        .name("gcprov-store-checkpoint".into())
        .spawn(move || {
            while rx.recv().is_ok() {
                let r: rusqlite::Result<(i64, i64, i64)> =
                    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    });
                if let Err(e) = r {
                    tracing::debug!(error = %e, "WAL checkpoint skipped");
                }
            }
        })
        .map(|_| tx)
        .map_err(|e| StoreError::Io(format!("cannot start the store's checkpointer: {e}")))
}

/// Drains queued work into one transaction per round: every unit in a batch commits (and is
/// fsynced) before any of them is acknowledged, so durability per acknowledged unit holds while
/// fsyncs are shared. `Run` messages run between batches, in queue order.
fn run(
    mut conn: Connection,
    mut rx: mpsc::Receiver<Msg>,
    max_batch: usize,
    checkpoints: std::sync::mpsc::SyncSender<()>,
) {
    // Units committed since the checkpointer was last woken.
    let mut since_checkpoint = 0usize;
    let mut held: Option<Msg> = None;
    loop {
        let Some(msg) = held.take().or_else(|| rx.blocking_recv()) else {
            return;
        };
        let first = match msg {
            Msg::Write(w) => w,
            Msg::Run(f) => {
                f(&mut conn);
                continue;
            }
        };
        let mut size = first.jobs.len();
        let mut reqs: Vec<WriteReq> = vec![first];
        // Callers woken by the previous batch's acknowledgement may not have re-queued yet:
        // give them a moment (microseconds against a commit's fsync) to share this commit.
        std::thread::yield_now();
        while size < max_batch {
            match rx.try_recv() {
                Ok(Msg::Write(r)) => {
                    size += r.jobs.len();
                    reqs.push(r);
                }
                Ok(other) => {
                    held = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        let jobs: Vec<&Job> = reqs.iter().flat_map(|r| r.jobs.iter()).collect();
        let results: Vec<Result<Committed>> = match run_batch(&mut conn, &jobs) {
            Ok(done) => done.into_iter().map(Ok).collect(),
            Err(e) if jobs.len() == 1 => vec![Err(e)],
            Err(e) => {
                tracing::warn!(error = %e, size = jobs.len(), "store write batch failed; retrying each unit alone");
                jobs.iter()
                    .map(|job| {
                        run_batch(&mut conn, std::slice::from_ref(job))
                            .and_then(|mut d| d.pop().ok_or(StoreError::WriterStopped))
                    })
                    .collect()
            }
        };
        since_checkpoint += jobs.len();
        drop(jobs);
        if since_checkpoint >= CHECKPOINT_EVERY {
            // Full channel: a checkpoint is already pending, which covers these commits too.
            let _ = checkpoints.try_send(());
            since_checkpoint = 0;
        }
        reply_each(reqs, results);
    }
}

/// Applies every job's changes in queue order, then appends the audit entries of the jobs that
/// have one (in the same order, so the chain order is the commit order), in one transaction.
/// An error drops the transaction, which rolls it back.
fn run_batch(conn: &mut Connection, jobs: &[&Job]) -> Result<Vec<Committed>> {
    // IMMEDIATE takes SQLite's write lock up front: other processes wait (busy timeout) and the
    // chain head read below cannot move under us.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut affected = Vec::with_capacity(jobs.iter().map(|j| j.ops.len()).sum());
    for job in jobs {
        for op in &job.ops {
            affected.push(apply(&tx, op)?);
        }
    }
    let entries: Vec<&Prepared> = jobs.iter().filter_map(|j| j.entry.as_ref()).collect();
    let appended = if entries.is_empty() {
        Vec::new()
    } else {
        let (seq, hash): (i64, String) = tx
            .prepare_cached(READ_HEAD)?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let plan = plan_append(seq, hash, &entries)?;
        write_plan(&tx, &plan)?;
        plan.appended
    };
    tx.commit()?;
    assemble(jobs, affected, appended)
}

/// Runs one shared statement with its values; returns the rows it changed.
fn exec(tx: &Transaction<'_>, sql: &str, values: impl rusqlite::Params) -> Result<u64> {
    let n = tx.prepare_cached(&numbered(sql))?.execute(values)?;
    Ok(n as u64)
}

/// Applies one prepared change; returns the rows affected in its main table.
fn apply(tx: &Transaction<'_>, op: &Op) -> Result<u64> {
    Ok(match op {
        Op::UpsertUser(u, resource) => upsert_user(tx, u, resource)?,
        Op::DeleteUser(id) => {
            exec(tx, DELETE_USER_EMAILS, params![id])?;
            exec(tx, DELETE_MEMBER_EVERYWHERE, params![id])?;
            exec(tx, DELETE_USER, params![id])?
        }
        Op::UpsertGroup(g, resource) => {
            let n = exec(
                tx,
                UPSERT_GROUP,
                params![
                    g.id,
                    g.display_name,
                    lc(&g.display_name),
                    g.external_id,
                    g.version,
                    resource,
                    g.updated_us
                ],
            )?;
            exec(tx, DELETE_GROUP_MEMBERS, params![g.id])?;
            for m in &g.members {
                exec(tx, INSERT_GROUP_MEMBER, params![g.id, m])?;
            }
            n
        }
        Op::DeleteGroup(id) => {
            exec(tx, DELETE_GROUP_MEMBERS, params![id])?;
            exec(tx, DELETE_GROUP, params![id])?
        }
        other => {
            let Some((sql, args)) = other.statement() else {
                return Err(StoreError::Corrupt("a change without its statement".into()));
            };
            exec(tx, sql, rusqlite::params_from_iter(args.iter()))?
        }
    })
}

/// Keeps a user's rows as they are where they do not change: a write rewrites only the B-tree
/// pages whose content changes, and every page a commit touches is written to the WAL (and
/// fsynced) again. A typical PATCH changes the resource and version but not `userName`,
/// `externalId`, `displayName` or the emails, so it updates the user row without touching its
/// three indexes, and leaves the email rows (table and two indexes) alone: about 6 of the 19
/// pages such a commit used to write.
fn upsert_user(tx: &Transaction<'_>, u: &UserRecord, resource: &str) -> Result<u64> {
    let same_keys = exec(
        tx,
        "UPDATE rm_user SET active = $1, version = $2, resource = $3, updated_us = $4 \
         WHERE id = $5 AND user_name = $6 AND external_id IS $7 AND display_name IS $8",
        params![
            u.active,
            u.version,
            resource,
            u.updated_us,
            u.id,
            u.user_name,
            u.external_id,
            u.display_name
        ],
    )?;
    let n = if same_keys == 1 {
        1
    } else {
        exec(
            tx,
            UPSERT_USER,
            params![
                u.id,
                u.user_name,
                lc(&u.user_name),
                u.external_id,
                u.display_name,
                u.display_name.as_deref().map(lc),
                u.active,
                u.version,
                resource,
                u.updated_us
            ],
        )?
    };
    // The stored emails, in the form they are written (one per lower-cased value, the first
    // wins, as `ON CONFLICT DO NOTHING` keeps it).
    let mut want: Vec<(String, &EmailRecord)> = Vec::with_capacity(u.emails.len());
    for e in &u.emails {
        let k = lc(&e.value);
        if !want.iter().any(|(w, _)| *w == k) {
            want.push((k, e));
        }
    }
    let mut st = tx.prepare_cached(
        "SELECT value_lc, value, type, is_primary FROM rm_user_email WHERE user_id = ?1",
    )?;
    let have: Vec<(String, String, Option<String>, bool)> = st
        .query_map(params![u.id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let unchanged = have.len() == want.len()
        && want.iter().all(|(k, e)| {
            have.iter().any(|(hk, hv, ht, hp)| {
                hk == k && *hv == e.value && *ht == e.kind && *hp == e.primary
            })
        });
    if !unchanged {
        exec(tx, DELETE_USER_EMAILS, params![u.id])?;
        for (k, e) in &want {
            exec(
                tx,
                INSERT_USER_EMAIL,
                params![u.id, k, e.value, e.kind, e.primary],
            )?;
        }
    }
    Ok(n)
}

/// Writes a batch's audit rows, their targets and outbox events, and moves the chain head.
fn write_plan(tx: &Transaction<'_>, plan: &AppendPlan) -> Result<()> {
    for (e, detail, targets, correlation) in &plan.rows {
        exec(
            tx,
            crate::audit::INSERT_AUDIT_ROW,
            params![
                e.seq,
                e.ts_us,
                e.actor,
                e.action,
                targets,
                e.request_id,
                correlation,
                e.outcome,
                detail,
                e.prev_hash,
                e.hash
            ],
        )?;
    }
    for (target, seq) in &plan.targets {
        exec(tx, crate::audit::INSERT_AUDIT_TARGET, params![target, seq])?;
    }
    for (id, seq, kind, payload) in &plan.events {
        exec(
            tx,
            crate::audit::INSERT_OUTBOX_EVENT,
            params![id, seq, kind, payload, plan.ts_us],
        )?;
    }
    exec(
        tx,
        crate::audit::MOVE_HEAD,
        params![plan.head_seq, plan.head_hash],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::numbered;

    #[test]
    fn placeholders_become_numbered_parameters() {
        assert_eq!(
            numbered("UPDATE t SET a = $1 WHERE b = $12 AND c <= $1 AND d = '$'"),
            "UPDATE t SET a = ?1 WHERE b = ?12 AND c <= ?1 AND d = '$'"
        );
    }
}
