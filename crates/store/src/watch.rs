//! Read-model change notifications across processes, and the group listings a subscriber
//! reloads from.
//!
//! Several gateway replicas share one PostgreSQL store, and each keeps group names and
//! memberships in memory. Every transaction of the store's writer that changes `rm_group` or
//! `rm_group_member` also runs `pg_notify` on the channel [`MODEL_CHANNEL`]; PostgreSQL
//! delivers the notifications only when (and if) that transaction commits. The payload is
//! `<schema> <kind> <id>`: the schema keeps stores in different schemas of one database apart
//! (each subscriber drops the others' payloads), `kind` is `g` (a group, its name or members
//! changed or it was deleted) or `u` (a user was deleted, and with it its memberships).
//!
//! [`Store::watch_model`] subscribes with sqlx's `PgListener` on a dedicated connection. When
//! that connection drops, notifications sent meanwhile are lost, so after reconnecting (and
//! listening again) the subscriber gets [`ModelChange::Resync`]: reload everything.
//!
//! SQLite serves one process: its gateway updates its own memory after each write, so there is
//! nothing to notify and `watch_model` returns `None`.

use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::Row;
use sqlx::postgres::{PgListener, PgPoolOptions};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::db::{Pool, Store, dispatch};
use crate::error::Result;
use crate::records::GroupRecord;
use crate::write::Op;

/// The PostgreSQL notification channel of read-model changes (all schemas; the payload names
/// the schema).
pub const MODEL_CHANNEL: &str = "gcprov_rm";

/// Longest id sent in a payload. PostgreSQL refuses payloads of 8,000 bytes or more (and would
/// fail the whole transaction): a longer id is sent as "reload everything" (`r`).
const MAX_ID: usize = 4000;

/// Events queued for a slow subscriber before the watcher stops queueing single changes and
/// asks for a full reload instead.
const QUEUE: usize = 1024;

/// What changed in the read model's groups or memberships (committed by some process).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelChange {
    /// This group's name or members changed, or it was deleted: reload it.
    Group(String),
    /// This user was deleted and its memberships with it: reload the groups it was in.
    UserDeleted(String),
    /// Notifications may have been lost (the listener's connection dropped and was re-made, or
    /// the subscriber fell behind): reload all groups and memberships.
    Resync,
}

/// A subscription to read-model changes (see [`Store::watch_model`]). Dropping it stops the
/// listener.
#[derive(Debug)]
pub struct ModelWatch {
    rx: mpsc::Receiver<ModelChange>,
    task: JoinHandle<()>,
}

impl ModelWatch {
    /// The next change; `None` once the listener has stopped for good (it does not stop on
    /// connection loss: it reconnects and reports [`ModelChange::Resync`]).
    pub async fn next(&mut self) -> Option<ModelChange> {
        self.rx.recv().await
    }
}

impl Drop for ModelWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A group's id, displayName and member ids: what a subscriber keeps in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMembers {
    pub id: String,
    pub display_name: String,
    /// Member ids, sorted.
    pub members: Vec<String>,
    /// When the group was last written (µs since the epoch, as the writer set it).
    pub updated_us: i64,
}

impl Store {
    /// Subscribes to committed changes of read-model groups and memberships made by any
    /// process on this store's database and schema (this one included). PostgreSQL only;
    /// `None` on SQLite (one process; see the module docs). Returns once the listener is
    /// listening: every change committed afterwards is reported (or covered by a `Resync`).
    pub async fn watch_model(&self) -> Result<Option<ModelWatch>> {
        let Pool::Postgres(pool) = self.pool() else {
            return Ok(None);
        };
        let schema: String = sqlx::query("SELECT current_schema()::TEXT AS s")
            .fetch_one(pool)
            .await?
            .try_get("s")?;
        // A small pool used only by the listener: `PgListener` takes a new
        // connection from it (and listens again) when the old one drops. The application name
        // lets operators (and tests) find the listener's session.
        let name: String = format!("gcprov-watch:{schema}").chars().take(63).collect();
        let co = (*pool.connect_options()).clone().application_name(&name);
        let lpool = PgPoolOptions::new()
            // Two: a listener being replaced after an error may still hold the first.
            .max_connections(2)
            .min_connections(0)
            .max_lifetime(None)
            .idle_timeout(None)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(co)
            .await?;
        let mut listener = PgListener::connect_with(&lpool).await?;
        listener.listen(MODEL_CHANNEL).await?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(listen_loop(listener, lpool, schema, tx));
        Ok(Some(ModelWatch { rx, task }))
    }

    /// Every group's id, displayName and members (two queries), for rebuilding a subscriber's
    /// memory.
    pub async fn group_index(&self) -> Result<Vec<GroupMembers>> {
        dispatch!(self.pool(), p => {
            let rows = sqlx::query("SELECT id, display_name, updated_us FROM rm_group ORDER BY id")
                .fetch_all(p)
                .await?;
            let mut groups = BTreeMap::new();
            for r in rows {
                let id: String = r.try_get("id")?;
                groups.insert(id.clone(), GroupMembers {
                    id,
                    display_name: r.try_get("display_name")?,
                    members: Vec::new(),
                    updated_us: r.try_get("updated_us")?,
                });
            }
            let rows = sqlx::query("SELECT group_id, member_id FROM rm_group_member ORDER BY group_id, member_id")
                .fetch_all(p)
                .await?;
            for r in rows {
                let gid: String = r.try_get("group_id")?;
                if let Some(g) = groups.get_mut(&gid) {
                    g.members.push(r.try_get("member_id")?);
                }
            }
            Ok(groups.into_values().collect())
        })
    }

    /// A page of groups ordered by id (`after_id` exclusive), with their members (two queries).
    pub async fn list_groups(&self, after_id: &str, limit: i64) -> Result<Vec<GroupRecord>> {
        dispatch!(self.pool(), p => {
            let rows = sqlx::query(
                "SELECT id, display_name, external_id, version, resource, updated_us FROM rm_group \
                 WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after_id)
            .bind(limit.max(0))
            .fetch_all(p)
            .await?;
            let mut groups = Vec::with_capacity(rows.len());
            for r in rows {
                let resource: String = r.try_get("resource")?;
                groups.push(GroupRecord {
                    id: r.try_get("id")?,
                    display_name: r.try_get("display_name")?,
                    external_id: r.try_get("external_id")?,
                    version: r.try_get("version")?,
                    members: Vec::new(),
                    resource: serde_json::from_str(&resource)?,
                    updated_us: r.try_get("updated_us")?,
                });
            }
            let (Some(first), Some(last)) = (groups.first(), groups.last()) else {
                return Ok(groups);
            };
            let rows = sqlx::query(
                "SELECT group_id, member_id FROM rm_group_member \
                 WHERE group_id >= $1 AND group_id <= $2 ORDER BY group_id, member_id",
            )
            .bind(first.id.clone())
            .bind(last.id.clone())
            .fetch_all(p)
            .await?;
            let mut by_id: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for r in rows {
                by_id.entry(r.try_get("group_id")?).or_default().push(r.try_get("member_id")?);
            }
            for g in groups.iter_mut() {
                g.members = by_id.remove(&g.id).unwrap_or_default();
            }
            Ok(groups)
        })
    }
}

/// The `<kind> <id>` notification payloads (without the schema) a batch of changes owes.
pub(crate) fn payloads<'a>(ops: impl Iterator<Item = &'a Op>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for op in ops {
        let p = match op {
            Op::UpsertGroup(g, _) if g.id.len() > MAX_ID => "r -".to_string(),
            Op::DeleteGroup(id) | Op::DeleteUser(id) if id.len() > MAX_ID => "r -".to_string(),
            Op::UpsertGroup(g, _) => format!("g {}", g.id),
            Op::DeleteGroup(id) => format!("g {id}"),
            Op::DeleteUser(id) => format!("u {id}"),
            _ => continue,
        };
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// Queues the notifications of a batch inside its transaction (PostgreSQL sends them on
/// commit, and never for a rolled-back transaction). One statement per batch.
pub(crate) async fn notify_pg(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    payloads: Vec<String>,
) -> Result<()> {
    if payloads.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "SELECT pg_notify($1, current_schema() || ' ' || p) FROM unnest($2::TEXT[]) AS t(p)",
    )
    .bind(MODEL_CHANNEL)
    .bind(payloads)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Parses a payload for `schema`; `None` for another schema's or an unknown payload.
fn parse(schema: &str, payload: &str) -> Option<ModelChange> {
    let mut it = payload.splitn(3, ' ');
    if it.next()? != schema {
        return None;
    }
    let kind = it.next()?;
    let id = it.next()?.to_string();
    match kind {
        "g" => Some(ModelChange::Group(id)),
        "u" => Some(ModelChange::UserDeleted(id)),
        "r" => Some(ModelChange::Resync),
        _ => None,
    }
}

/// Forwards notifications until the subscriber is dropped. Connection loss: `try_recv`
/// reconnects and listens again before returning `Ok(None)` (sqlx's eager reconnect); if that
/// fails, the listener is rebuilt with backoff. Either way the subscriber then gets `Resync`,
/// sent only once the new connection listens, so nothing committed after its reload is missed.
async fn listen_loop(
    mut listener: PgListener,
    pool: sqlx::PgPool,
    schema: String,
    tx: mpsc::Sender<ModelChange>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let got = tokio::select! {
            _ = tx.closed() => return,
            r = listener.try_recv() => r,
        };
        let change = match got {
            Ok(Some(n)) => match parse(&schema, n.payload()) {
                Some(c) => c,
                None => continue,
            },
            Ok(None) => {
                tracing::warn!("read-model listener reconnected; reloading groups");
                ModelChange::Resync
            }
            Err(e) => {
                tracing::warn!(error = %e, "read-model listener lost its connection; retrying");
                // Re-listen on a fresh connection; until then nothing is received.
                loop {
                    tokio::select! {
                        _ = tx.closed() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    match relisten(&pool).await {
                        Ok(l) => {
                            listener = l;
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "read-model listener: reconnect failed")
                        }
                    }
                }
                ModelChange::Resync
            }
        };
        backoff = Duration::from_millis(100);
        match tx.try_send(change) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                // The subscriber is behind: this change (and what it misses meanwhile) is
                // covered by a full reload once it catches up.
                if tx.send(ModelChange::Resync).await.is_err() {
                    return;
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
}

async fn relisten(pool: &sqlx::PgPool) -> Result<PgListener> {
    let mut l = PgListener::connect_with(pool).await?;
    l.listen(MODEL_CHANNEL).await?;
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_of_other_schemas_are_dropped() {
        assert_eq!(
            parse("t_a", "t_a g grp 1"),
            Some(ModelChange::Group("grp 1".into()))
        );
        assert_eq!(
            parse("t_a", "t_a u u1"),
            Some(ModelChange::UserDeleted("u1".into()))
        );
        assert_eq!(parse("t_a", "t_ab g g1"), None);
        assert_eq!(parse("t_a", "t_b g g1"), None);
        assert_eq!(parse("t_a", "t_a x g1"), None);
        assert_eq!(parse("t_a", "t_a"), None);
        assert_eq!(parse("t_a", "t_a r -"), Some(ModelChange::Resync));
    }
}
