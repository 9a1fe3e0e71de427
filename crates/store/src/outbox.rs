//! The delivery outbox: claim with a lease, mark delivered or failed, dead letters, purge.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;
use uuid::Uuid;

use crate::db::{Store, dispatch};
use crate::error::{Result, StoreError};
use crate::sqlite_writer::numbered;
use crate::write::Arg::{Int, Text};

/// Where an event is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxState {
    Pending,
    Delivered,
    Dead,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Delivered => "delivered",
            OutboxState::Dead => "dead",
        }
    }
}

impl std::str::FromStr for OutboxState {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "pending" => Ok(OutboxState::Pending),
            "delivered" => Ok(OutboxState::Delivered),
            "dead" => Ok(OutboxState::Dead),
            other => Err(StoreError::Invalid(format!(
                "unknown outbox state `{other}` (pending, delivered, dead)"
            ))),
        }
    }
}

/// An outbox event as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEvent {
    /// Stable id; sinks receive it as the idempotency key.
    pub id: Uuid,
    /// Insertion order.
    pub pos: i64,
    /// The audit entry that caused the event.
    pub audit_seq: i64,
    pub kind: String,
    pub payload: Value,
    pub state: OutboxState,
    /// Failed attempts so far.
    pub attempts: i64,
    pub next_attempt_us: i64,
    /// Sinks that already accepted this event (skipped on retry).
    pub delivered_sinks: Vec<String>,
    pub last_error: Option<String>,
    pub created_us: i64,
    pub delivered_us: Option<i64>,
}

/// Events per state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutboxCounts {
    pub pending: i64,
    pub delivered: i64,
    pub dead: i64,
}

/// An event from a row of `outbox`: a sqlx row (`try_get`, the default) or a rusqlite row of
/// SQLite's writer connection (`get`).
macro_rules! event_from_row {
    ($row:expr) => {
        event_from_row!($row, try_get)
    };
    ($row:expr, $get:ident) => {{
        let r = &$row;
        let id: String = r.$get("id")?;
        let payload: String = r.$get("payload")?;
        let state: String = r.$get("state")?;
        let sinks: String = r.$get("delivered_sinks")?;
        OutboxEvent {
            id: Uuid::parse_str(&id).map_err(|_| StoreError::Corrupt("outbox id".into()))?,
            pos: r.$get("pos")?,
            audit_seq: r.$get("audit_seq")?,
            kind: r.$get("kind")?,
            payload: serde_json::from_str(&payload)?,
            state: state.parse()?,
            attempts: r.$get("attempts")?,
            next_attempt_us: r.$get("next_attempt_us")?,
            delivered_sinks: serde_json::from_str(&sinks)?,
            last_error: r.$get("last_error")?,
            created_us: r.$get("created_us")?,
            delivered_us: r.$get("delivered_us")?,
        }
    }};
}

/// Claims due pending events (`$1` lease end, `$2` worker, `$3` now, `$4` limit). SQLite: a
/// single UPDATE is atomic under its one-writer lock. PostgreSQL adds `FOR UPDATE SKIP LOCKED`
/// to the inner select (see `claim_events`).
macro_rules! claim_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE outbox SET locked_until_us = $1, locked_by = $2 WHERE pos IN ( \
               SELECT pos FROM outbox WHERE state = 'pending' AND next_attempt_us <= $3 \
               AND (locked_until_us IS NULL OR locked_until_us <= $3) ORDER BY pos LIMIT $4",
            $lock,
            ") RETURNING *"
        )
    };
}

const MARK_DELIVERED: &str = "UPDATE outbox SET state = 'delivered', delivered_us = $1, locked_until_us = NULL, \
     locked_by = NULL, last_error = NULL WHERE id = $2 AND locked_by = $3 AND state = 'pending'";
const MARK_FAILED: &str = "UPDATE outbox SET state = $1, attempts = attempts + 1, next_attempt_us = $2, \
     locked_until_us = NULL, locked_by = NULL, last_error = $3, delivered_sinks = $4 \
     WHERE id = $5 AND locked_by = $6 AND state = 'pending'";
const RETRY_EVENT: &str = "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_us = $1, \
     locked_until_us = NULL, locked_by = NULL WHERE id = $2 AND state IN ('dead', 'pending')";
const RETRY_ALL_DEAD: &str = "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_us = $1, \
     locked_until_us = NULL, locked_by = NULL WHERE state = 'dead'";
const PURGE_DELIVERED: &str = "DELETE FROM outbox WHERE state = 'delivered' AND delivered_us < $1";

fn sorted(mut v: Vec<OutboxEvent>) -> Vec<OutboxEvent> {
    v.sort_by_key(|e| e.pos);
    v
}

fn parse_id(id: &str) -> Result<String> {
    Uuid::parse_str(id.trim())
        .map(|u| u.to_string())
        .map_err(|_| StoreError::Invalid(format!("`{id}` is not an event id (a UUID)")))
}

impl Store {
    /// Claims up to `limit` due pending events for `worker` for `lease`. Claimed events are
    /// invisible to other workers until the lease runs out (a crashed worker's events come back).
    /// PostgreSQL uses `FOR UPDATE SKIP LOCKED`, so replicas never wait on or share a claim.
    pub async fn claim_events(
        &self,
        worker: &str,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<OutboxEvent>> {
        let now = crate::now_us();
        let until = now.saturating_add(lease.as_micros().min(i64::MAX as u128) as i64);
        let evs = match &self.inner.pg_writer {
            None => {
                let worker = worker.to_string();
                self.on_sqlite_writer(move |c| {
                    let mut st = c.prepare_cached(&numbered(claim_sql!("")))?;
                    let mut rows = st.query(rusqlite::params![until, worker, now, limit])?;
                    let mut v = Vec::new();
                    while let Some(r) = rows.next()? {
                        v.push(event_from_row!(r, get));
                    }
                    Ok(v)
                })
                .await?
            }
            Some(p) => {
                let rows = sqlx::query(claim_sql!(" FOR UPDATE SKIP LOCKED"))
                    .bind(until)
                    .bind(worker)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(p)
                    .await?;
                let mut v = Vec::with_capacity(rows.len());
                for r in rows {
                    v.push(event_from_row!(r));
                }
                v
            }
        };
        Ok(sorted(evs))
    }

    /// Marks an event delivered. Returns false when `worker` no longer holds it.
    pub async fn mark_delivered(&self, id: Uuid, worker: &str) -> Result<bool> {
        let now = crate::now_us();
        let n = self
            .exec_write(
                MARK_DELIVERED,
                vec![Int(now), Text(id.to_string()), Text(worker.to_string())],
            )
            .await?;
        Ok(n == 1)
    }

    /// Records a failed attempt: the event is retried at `retry_at_us`, or moves to the dead
    /// letter state when that is `None`. `delivered_sinks` lists the sinks that did accept it.
    /// `error` must not contain secrets (sinks build it without URLs or headers).
    pub async fn mark_failed(
        &self,
        id: Uuid,
        worker: &str,
        error: &str,
        delivered_sinks: &[String],
        retry_at_us: Option<i64>,
    ) -> Result<bool> {
        let state = if retry_at_us.is_some() {
            "pending"
        } else {
            "dead"
        };
        let sinks = serde_json::to_string(delivered_sinks)?;
        let err: String = error.chars().take(1000).collect();
        let n = self
            .exec_write(
                MARK_FAILED,
                vec![
                    Text(state.to_string()),
                    Int(retry_at_us.unwrap_or_else(crate::now_us)),
                    Text(err),
                    Text(sinks),
                    Text(id.to_string()),
                    Text(worker.to_string()),
                ],
            )
            .await?;
        Ok(n == 1)
    }

    /// One event by id.
    pub async fn event(&self, id: &str) -> Result<Option<OutboxEvent>> {
        let id = parse_id(id)?;
        dispatch!(self.pool(), p => {
            let row = sqlx::query("SELECT * FROM outbox WHERE id = $1").bind(id).fetch_optional(p).await?;
            Ok(match row { Some(r) => Some(event_from_row!(r)), None => None })
        })
    }

    /// Events in insertion order, optionally of one state, after position `after_pos`.
    pub async fn list_events(
        &self,
        state: Option<OutboxState>,
        after_pos: i64,
        limit: i64,
    ) -> Result<Vec<OutboxEvent>> {
        let state = state.map(|s| s.as_str());
        dispatch!(self.pool(), p => {
            let rows = sqlx::query(
                "SELECT * FROM outbox WHERE (CAST($1 AS TEXT) IS NULL OR state = $1) AND pos > $2 \
                 ORDER BY pos LIMIT $3",
            )
            .bind(state)
            .bind(after_pos)
            .bind(limit.max(0))
            .fetch_all(p)
            .await?;
            let mut v = Vec::with_capacity(rows.len());
            for r in rows { v.push(event_from_row!(r)); }
            Ok(v)
        })
    }

    /// Events caused by one audit entry.
    pub async fn events_for_entry(&self, audit_seq: i64) -> Result<Vec<OutboxEvent>> {
        dispatch!(self.pool(), p => {
            let rows = sqlx::query("SELECT * FROM outbox WHERE audit_seq = $1 ORDER BY pos")
                .bind(audit_seq)
                .fetch_all(p)
                .await?;
            let mut v = Vec::with_capacity(rows.len());
            for r in rows { v.push(event_from_row!(r)); }
            Ok(v)
        })
    }

    pub async fn outbox_counts(&self) -> Result<OutboxCounts> {
        dispatch!(self.pool(), p => {
            let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state")
                .fetch_all(p)
                .await?;
            let mut c = OutboxCounts::default();
            for r in rows {
                let s: String = r.try_get("state")?;
                let n: i64 = r.try_get("n")?;
                match s.as_str() {
                    "pending" => c.pending = n,
                    "delivered" => c.delivered = n,
                    "dead" => c.dead = n,
                    _ => {}
                }
            }
            Ok(c)
        })
    }

    /// Puts a dead (or pending) event back in the queue, due now, with its attempts reset.
    /// Returns false when no such dead or pending event exists.
    pub async fn retry_event(&self, id: &str) -> Result<bool> {
        let id = parse_id(id)?;
        let now = crate::now_us();
        let n = self
            .exec_write(RETRY_EVENT, vec![Int(now), Text(id)])
            .await?;
        Ok(n == 1)
    }

    /// Requeues every dead event; returns how many.
    pub async fn retry_all_dead(&self) -> Result<u64> {
        let now = crate::now_us();
        self.exec_write(RETRY_ALL_DEAD, vec![Int(now)]).await
    }

    /// Deletes delivered events delivered before `before_us`; returns how many.
    pub async fn purge_delivered_before(&self, before_us: i64) -> Result<u64> {
        self.exec_write(PURGE_DELIVERED, vec![Int(before_us)]).await
    }

    /// Deletes every dead event; returns how many.
    pub async fn purge_dead(&self) -> Result<u64> {
        self.exec_write("DELETE FROM outbox WHERE state = 'dead'", Vec::new())
            .await
    }
}
