//! SQLite's writer: the process's one SQLite write connection (through rusqlite), and the queue
//! of work for it, which its callers commit batch by batch on their own threads.
//!
//! Why rusqlite rather than a sqlx connection: sqlx runs each SQLite statement as a message to
//! the connection's worker thread and an answer back, so a batch (begin, chain head, its
//! statements, commit) was several round trips between an async task and that thread, each
//! costing thread wake-ups that, on a busy two-vCPU machine, cost more than the SQL. Here a
//! batch is plain function calls with cached prepared statements and bound parameters.
//!
//! Why on the callers' threads: a writer thread of its own still cost every request two
//! hand-overs (wake the writer, wake the caller), and on a busy machine a woken thread waits
//! for a CPU: in the gateway bench the commit as the request saw it had a p99 of 1-2.5 ms while
//! the writer's own work had 0.4-1 ms. The caller that finds the connection free commits at
//! once and goes on; callers that queue meanwhile share the next commit. The read model's point
//! lookups have rusqlite connections of their own (`sqlite_read`); other reads and the
//! migrations stay on sqlx's pool.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior, params};
use tokio::sync::oneshot;

use crate::audit::{AppendPlan, Prepared, plan_append};
use crate::db::SqliteDurability;
use crate::error::{Result, StoreError};
use crate::records::{EmailRecord, UserRecord};
use crate::write::{
    Committed, DELETE_GROUP, DELETE_GROUP_MEMBERS, DELETE_MEMBER_EVERYWHERE, DELETE_USER,
    DELETE_USER_EMAILS, INSERT_GROUP_MEMBER, INSERT_USER_EMAIL, Job, Op, READ_HEAD, UPSERT_GROUP,
    UPSERT_USER, WriteReq, assemble, lc, reply_each,
};

/// Work run on the writer's connection between batches (see `Store::on_sqlite_writer`).
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

/// The writer's side of the checkpointer: wakes it, and learns when its last pass finished.
pub(crate) struct Checkpoints {
    wake: std::sync::mpsc::SyncSender<()>,
    finished: Arc<AtomicBool>,
}

/// Starts the checkpointer: a thread that copies the WAL back into the database file
/// (`PRAGMA wal_checkpoint(PASSIVE)`) whenever the writer asks, on a connection of its own.
/// SQLite would otherwise run the checkpoint inside the commit that crosses
/// `wal_autocheckpoint` pages: that one commit (and every request waiting on it) would also pay
/// for copying thousands of pages and two more fsyncs. A passive checkpoint never blocks the
/// writer or readers. Ends when the writer ends (its sender is dropped).
pub(crate) fn spawn_checkpointer(conn: Connection) -> Result<Checkpoints> {
    let (wake, rx) = std::sync::mpsc::sync_channel::<()>(1);
    let finished = Arc::new(AtomicBool::new(false));
    let done = finished.clone();
    std::thread::Builder::new()
        .name("gcprov-store-checkpoint".into())
        .spawn(move || {
            while rx.recv().is_ok() {
                if let Err(e) = passive_checkpoint(&conn) {
                    tracing::debug!(error = %e, "WAL checkpoint skipped");
                }
                done.store(true, Ordering::Release);
            }
        })
        .map(|_| Checkpoints { wake, finished })
        .map_err(|e| StoreError::Io(format!("cannot start the store's checkpointer: {e}")))
}

/// Copies what it can of the WAL into the database file without waiting for anyone; returns
/// the number of frames now copied.
fn passive_checkpoint(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(2))
}

/// Work queued for the writer: a batch of jobs to commit, or a closure to run on the
/// connection (the outbox's claims and marks), in queue order.
pub(crate) enum Work {
    Write(WriteReq),
    Run(SqliteJob),
}

/// The process's one SQLite writer. Nothing runs it but its callers: a caller queues its work,
/// then, if no other caller is committing, takes the connection and commits what is queued
/// (its own work and whatever queued meanwhile) on its own thread, until its own work is done.
/// Callers that queue while a commit runs wait, and usually find their work committed by that
/// holder's next round: one transaction, one fsync for all of them (group commit).
pub(crate) struct SqliteWriter {
    queue: Mutex<Queue>,
    /// Signalled (under `queue`'s lock) after each round's answers and when the holder lets
    /// the connection go: a waiter whose work was answered returns at once instead of queueing
    /// for the connection behind the next commit, and one whose work is still queued takes over.
    changed: Condvar,
    /// Only ever locked by the caller that set `Queue::busy`.
    state: Mutex<State>,
    max_batch: usize,
}

struct Queue {
    work: VecDeque<Work>,
    /// A caller holds the connection and is committing.
    busy: bool,
}

struct State {
    conn: Connection,
    /// Units committed since the checkpointer was last woken.
    since_checkpoint: usize,
    checkpoints: Checkpoints,
}

impl SqliteWriter {
    pub(crate) fn new(conn: Connection, max_batch: usize, checkpoints: Checkpoints) -> Self {
        SqliteWriter {
            queue: Mutex::new(Queue {
                work: VecDeque::new(),
                busy: false,
            }),
            changed: Condvar::new(),
            state: Mutex::new(State {
                conn,
                since_checkpoint: 0,
                checkpoints,
            }),
            max_batch: max_batch.max(1),
        }
    }

    /// Commits `jobs` (one batch, see `Store::commit_all`); returns once they are durable.
    pub(crate) fn write(&self, jobs: Vec<Job>) -> Result<Vec<Result<Committed>>> {
        let (reply, rx) = oneshot::channel();
        self.run_until(Work::Write(WriteReq { jobs, reply }), rx)
    }

    /// Runs `f` on the writer's connection, between batches.
    pub(crate) fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        let job: SqliteJob = Box::new(move |c| {
            let _ = tx.send(f(c));
        });
        self.run_until(Work::Run(job), rx)?
    }

    /// Queues `work`, then works through the queue until `rx` holds its answer. The caller's
    /// thread blocks for as long as that takes (the store calls this through `write::blocking`,
    /// which keeps the caller's async worker's other tasks running elsewhere).
    fn run_until<T>(&self, work: Work, mut rx: oneshot::Receiver<T>) -> Result<T> {
        let mut q = lock(&self.queue);
        q.work.push_back(work);
        // Wait while someone else commits (its rounds may answer us), unless we are answered.
        loop {
            if let Some(answer) = answered(&mut rx) {
                return answer;
            }
            if !q.busy {
                break;
            }
            q = self
                .changed
                .wait(q)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        // Ours now. Whoever held it before answered everything it took from the queue, so our
        // work is still queued: run rounds until it is answered.
        q.busy = true;
        drop(q);
        let _holding = Holding(self);
        let mut st = lock(&self.state);
        loop {
            if let Some(answer) = answered(&mut rx) {
                return answer;
            }
            if !self.round(&mut st) {
                return Err(StoreError::WriterStopped);
            }
        }
    }

    /// Wakes the waiters after answers were sent. Taking the queue's lock first means no
    /// waiter is between checking its answer and starting to wait, so none misses the wake-up.
    fn answered_some(&self) {
        let _q = lock(&self.queue);
        self.changed.notify_all();
    }

    /// Runs the queue's next closure, or commits its next writes (up to `max_batch` jobs) in
    /// one transaction: every unit in it is fsynced before any is answered, so each answer
    /// means durable while fsyncs are shared. False when the queue was empty.
    fn round(&self, st: &mut State) -> bool {
        let mut reqs: Vec<WriteReq> = Vec::new();
        {
            let mut q = lock(&self.queue);
            let mut size = 0;
            while size < self.max_batch {
                match q.work.pop_front() {
                    Some(Work::Write(r)) => {
                        size += r.jobs.len();
                        reqs.push(r);
                    }
                    Some(Work::Run(f)) if reqs.is_empty() => {
                        drop(q);
                        // Whoever holds the connection runs other callers' jobs too: a job that
                        // panics fails its own caller (its answer is dropped), not this one.
                        let conn = &mut st.conn;
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)));
                        self.answered_some();
                        return true;
                    }
                    Some(run) => {
                        q.work.push_front(run);
                        break;
                    }
                    None => break,
                }
            }
        }
        if reqs.is_empty() {
            return false;
        }
        let jobs: Vec<&Job> = reqs.iter().flat_map(|r| r.jobs.iter()).collect();
        let results: Vec<Result<Committed>> = match run_batch(&mut st.conn, &jobs) {
            Ok(done) => done.into_iter().map(Ok).collect(),
            Err(e) if jobs.len() == 1 => vec![Err(e)],
            Err(e) => {
                tracing::warn!(error = %e, size = jobs.len(), "store write batch failed; retrying each unit alone");
                jobs.iter()
                    .map(|job| {
                        run_batch(&mut st.conn, std::slice::from_ref(job))
                            .and_then(|mut d| d.pop().ok_or(StoreError::WriterStopped))
                    })
                    .collect()
            }
        };
        st.since_checkpoint += jobs.len();
        drop(jobs);
        if st.since_checkpoint >= CHECKPOINT_EVERY {
            // Full channel: a checkpoint is already pending, which covers these commits too.
            let _ = st.checkpoints.wake.try_send(());
            st.since_checkpoint = 0;
        }
        reply_each(reqs, results);
        self.answered_some();
        if st.checkpoints.finished.swap(false, Ordering::Acquire) {
            // The checkpointer's pass copied all but what was committed while it ran. Copying
            // that remainder here, between batches (a few commits' pages), lets the next
            // transaction restart the WAL from its start: SQLite only rewinds a WAL that is
            // wholly copied when a write begins, which a passive pass beside a busy writer never
            // sees. Without the rewind the WAL grows for as long as writes keep coming, and
            // every commit appends to new blocks, whose fsync also commits the file system's
            // journal (the gateway bench's commits were slower and their tail longer).
            if let Err(e) = passive_checkpoint(&st.conn) {
                tracing::debug!(error = %e, "WAL catch-up checkpoint skipped");
            }
        }
        true
    }
}

/// The connection's holder: lets it go when dropped (also when a round panics), and a waiter
/// whose work is still queued takes over.
struct Holding<'a>(&'a SqliteWriter);

impl Drop for Holding<'_> {
    fn drop(&mut self) {
        lock(&self.0.queue).busy = false;
        self.0.changed.notify_all();
    }
}

/// The answer, if the work was answered (or its job panicked, which dropped the sender).
fn answered<T>(rx: &mut oneshot::Receiver<T>) -> Option<Result<T>> {
    match rx.try_recv() {
        Ok(v) => Some(Ok(v)),
        Err(oneshot::error::TryRecvError::Closed) => Some(Err(StoreError::WriterStopped)),
        Err(oneshot::error::TryRecvError::Empty) => None,
    }
}

/// A lock that a panic while it was held does not make unusable: the queue and the connection
/// stay consistent (an unfinished transaction rolls back when it is dropped).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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
    use super::*;
    use crate::db::{Store, StoreOptions};
    use crate::write::Change;

    /// Under a steady stream of writes the checkpointer never copies the whole WAL back (the
    /// writer appends while it runs), so without the writer's catch-up the WAL would grow for
    /// as long as writes keep coming. The checkpointer is played by the test, and a reader's
    /// snapshot stands in for "a commit landed while it ran", so nothing depends on when a
    /// thread gets to run.
    #[tokio::test]
    async fn a_busy_writer_rewinds_the_wal_after_each_checkpoint() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Creates and migrates the file; its own writer stays idle.
        let _store = Store::open(StoreOptions::sqlite_in_dir(dir.path()))
            .await
            .expect("store");
        let file = dir.path().join("gcprov.db");
        let wal = dir.path().join("gcprov.db-wal");
        let conn = || open(&file, SqliteDurability::Normal, Duration::from_secs(5)).expect("open");
        let (wake, woken) = std::sync::mpsc::sync_channel(1);
        let finished = Arc::new(AtomicBool::new(false));
        let writer = SqliteWriter::new(
            conn(),
            64,
            Checkpoints {
                wake,
                finished: finished.clone(),
            },
        );
        let (checkpointer, reader) = (conn(), conn());
        let mut n = 0;
        let mut put = || {
            n += 1;
            let job = Job::one(Change::PutCheckpoint {
                name: format!("run-{}", n % 50),
                state: serde_json::json!({ "n": n }),
            })
            .expect("job");
            let mut done = writer.write(vec![job]).expect("write");
            done.pop().expect("one result").expect("committed");
        };
        let mut first = None;
        for round in 0..3 {
            for _ in 0..CHECKPOINT_EVERY {
                put();
            }
            woken.try_recv().expect("the writer asked for a checkpoint");
            // A commit lands while the checkpointer's pass runs: the reader's older snapshot
            // keeps the pass from copying it.
            reader.execute_batch("BEGIN").expect("begin");
            let _: i64 = reader
                .query_row("SELECT count(*) FROM reconcile_checkpoint", [], |r| {
                    r.get(0)
                })
                .expect("read");
            put();
            let copied = passive_checkpoint(&checkpointer).expect("pass");
            assert!(copied > 0, "round {round}: the pass copied nothing");
            reader.execute_batch("COMMIT").expect("end of read");
            finished.store(true, Ordering::Release);
            let size = std::fs::metadata(&wal).expect("WAL file").len();
            let first = *first.get_or_insert(size);
            // The one commit before the catch-up still appends (a frame or two); a WAL that is
            // not rewound grows by a whole round (about the size of the first).
            assert!(
                size < first + 64 * 1024,
                "round {round}: the WAL grew from {first} to {size} bytes"
            );
        }
    }

    #[test]
    fn placeholders_become_numbered_parameters() {
        assert_eq!(
            numbered("UPDATE t SET a = $1 WHERE b = $12 AND c <= $1 AND d = '$'"),
            "UPDATE t SET a = ?1 WHERE b = ?12 AND c <= ?1 AND d = '$'"
        );
    }
}
