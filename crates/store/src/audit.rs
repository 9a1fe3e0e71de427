//! The tamper-evident audit log: appends (with their outbox events, in one transaction), reads,
//! chain verification and signed checkpoints.

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::Row;
use uuid::Uuid;

use crate::db::{Store, dispatch};
use crate::error::{Result, StoreError};
use crate::redact::check_no_secrets;

/// The `prev_hash` of the first entry: 32 zero bytes, hex-encoded.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What came of the audited action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Failure,
    Denied,
    Skipped,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
            Outcome::Skipped => "skipped",
        }
    }
}

/// An entry to append. The store assigns `seq`, the time and the hashes.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry {
    /// Which caller or job: e.g. `scim:entra-prod`, `reconciler`, `cli:alice`.
    pub actor: String,
    /// What was asked or done: e.g. `user.create`, `group.patch`, `oauth.rotate`.
    pub action: String,
    /// Genesys ids the action touched.
    pub targets: Vec<String>,
    /// Our request id (the `X-Request-Id` of the incoming call, or the job run id).
    pub request_id: Option<String>,
    /// Genesys `ININ-Correlation-Id`s of the API calls made.
    pub correlation_ids: Vec<String>,
    pub outcome: Outcome,
    /// Structured detail (policy violations, the diff applied). Secret-looking keys are refused;
    /// personal data passes through the store's redaction hook.
    pub detail: Value,
}

impl NewEntry {
    pub fn new(actor: impl Into<String>, action: impl Into<String>, outcome: Outcome) -> Self {
        NewEntry {
            actor: actor.into(),
            action: action.into(),
            targets: Vec::new(),
            request_id: None,
            correlation_ids: Vec::new(),
            outcome,
            detail: Value::Object(Default::default()),
        }
    }
    pub fn target(mut self, id: impl Into<String>) -> Self {
        self.targets.push(id.into());
        self
    }
    pub fn request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }
    pub fn correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_ids.push(id.into());
        self
    }
    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }
}

/// An event for the outbox, enqueued together with the entry that caused it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Event type, e.g. `audit.entry`, `user.created`.
    pub kind: String,
    pub payload: Value,
}

impl NewEvent {
    pub fn new(kind: impl Into<String>, payload: Value) -> Self {
        NewEvent {
            kind: kind.into(),
            payload,
        }
    }
}

/// A stored audit entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: i64,
    /// Microseconds since the Unix epoch, UTC.
    pub ts_us: i64,
    pub actor: String,
    pub action: String,
    pub targets: Vec<String>,
    pub request_id: Option<String>,
    pub correlation_ids: Vec<String>,
    pub outcome: String,
    pub detail: Value,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditEntry {
    pub fn time(&self) -> time::OffsetDateTime {
        crate::from_us(self.ts_us)
    }
    /// RFC 3339 time, for humans and exports.
    pub fn time_rfc3339(&self) -> String {
        self.time()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| self.ts_us.to_string())
    }
}

/// What [`Store::append`] committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub seq: i64,
    pub hash: String,
    /// Outbox event ids, in the order the events were given (also their `Idempotency-Key`).
    pub event_ids: Vec<Uuid>,
}

/// Filters for reading the log. Empty filters match everything.
#[derive(Debug, Clone)]
pub struct AuditQuery {
    /// Only entries with `seq > after_seq`.
    pub after_seq: i64,
    /// Inclusive lower bound on time (µs since epoch).
    pub since_us: Option<i64>,
    /// Exclusive upper bound on time (µs since epoch).
    pub until_us: Option<i64>,
    pub actor: Option<String>,
    pub action: Option<String>,
    /// Entries that list this Genesys id among their targets.
    pub target: Option<String>,
    pub limit: i64,
}

impl Default for AuditQuery {
    fn default() -> Self {
        AuditQuery {
            after_seq: 0,
            since_us: None,
            until_us: None,
            actor: None,
            action: None,
            target: None,
            limit: 1000,
        }
    }
}

/// The kind of tampering `verify` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TamperKind {
    /// The entry's content or hash does not match its stored hash.
    Altered,
    /// The entry with this seq is missing.
    Removed,
    /// The entry with this seq does not belong to the chain.
    Inserted,
    /// The entry at this seq belongs to a later position in the chain.
    Reordered,
    /// The chain is consistent but differs from a signed checkpoint at this seq (rewritten).
    CheckpointMismatch,
    /// The checkpoint's signature is wrong (wrong key or edited checkpoint).
    BadCheckpointSignature,
}

impl std::fmt::Display for TamperKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TamperKind::Altered => "altered",
            TamperKind::Removed => "removed",
            TamperKind::Inserted => "inserted",
            TamperKind::Reordered => "reordered",
            TamperKind::CheckpointMismatch => "differs from the signed checkpoint",
            TamperKind::BadCheckpointSignature => "checkpoint signature invalid",
        })
    }
}

/// The first problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tamper {
    pub seq: i64,
    pub kind: TamperKind,
    pub reason: String,
}

impl std::fmt::Display for Tamper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "audit entry {} {}: {}", self.seq, self.kind, self.reason)
    }
}

/// Result of a verification walk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Entries checked before the walk stopped.
    pub entries: u64,
    pub head_seq: i64,
    pub head_hash: String,
    pub first_problem: Option<Tamper>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.first_problem.is_none()
    }
}

/// A signed statement "the chain had hash `hash` at `seq`". Export it as JSON to an auditor;
/// later, `verify_checkpoint` proves nothing up to `seq` changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub version: u32,
    pub seq: i64,
    pub hash: String,
    /// RFC 3339 time the checkpoint was made (informational, not signed).
    pub created_at: String,
    /// Hex HMAC-SHA256 over `gcprov-audit-checkpoint:v1:{seq}:{hash}`.
    pub mac: String,
}

type HmacSha256 = Hmac<Sha256>;

impl Checkpoint {
    fn message(seq: i64, hash: &str) -> String {
        format!("gcprov-audit-checkpoint:v1:{seq}:{hash}")
    }

    pub fn sign(seq: i64, hash: &str, key: &[u8]) -> Result<Checkpoint> {
        let mut mac = HmacSha256::new_from_slice(key)
            .map_err(|_| StoreError::Invalid("checkpoint key unusable".into()))?;
        mac.update(Self::message(seq, hash).as_bytes());
        Ok(Checkpoint {
            version: 1,
            seq,
            hash: hash.to_string(),
            created_at: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            mac: hex::encode(mac.finalize().into_bytes()),
        })
    }

    /// Constant-time check of the MAC.
    pub fn signature_valid(&self, key: &[u8]) -> bool {
        let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
            return false;
        };
        mac.update(Self::message(self.seq, &self.hash).as_bytes());
        let Ok(given) = hex::decode(&self.mac) else {
            return false;
        };
        mac.verify_slice(&given).is_ok()
    }
}

// ---------------------------------------------------------------------------------------------
// Canonical encoding and hashing.

/// Canonical JSON: object keys sorted by their UTF-8 bytes, no insignificant whitespace,
/// strings and numbers exactly as `serde_json` writes them. Stable across backends and runs.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(child) = map.get(k) {
                    write_canonical(child, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The canonical encoding of an entry: the canonical JSON of the object
/// `{action, actor, correlation_ids, detail, outcome, request_id, seq, targets, ts_us}`.
pub fn canonical_entry_bytes(e: &AuditEntry) -> Vec<u8> {
    let v = serde_json::json!({
        "seq": e.seq,
        "ts_us": e.ts_us,
        "actor": e.actor,
        "action": e.action,
        "targets": e.targets,
        "request_id": e.request_id,
        "correlation_ids": e.correlation_ids,
        "outcome": e.outcome,
        "detail": e.detail,
    });
    canonical_json(&v).into_bytes()
}

/// `hex(SHA-256(prev_hash as 32 raw bytes || canonical entry bytes))`.
pub fn entry_hash(prev_hash_hex: &str, canonical: &[u8]) -> Result<String> {
    let prev = hex::decode(prev_hash_hex)
        .ok()
        .filter(|b| b.len() == 32)
        .ok_or_else(|| StoreError::Corrupt("previous hash is not 32 hex bytes".into()))?;
    let mut h = Sha256::new();
    h.update(&prev);
    h.update(canonical);
    Ok(hex::encode(h.finalize()))
}

// ---------------------------------------------------------------------------------------------
// Group-commit writer.

/// An entry checked, redacted and encoded by the caller, ready for the writer.
pub(crate) struct Prepared {
    pub(crate) actor: String,
    pub(crate) action: String,
    pub(crate) targets: Vec<String>,
    pub(crate) request_id: Option<String>,
    pub(crate) correlation_ids: Vec<String>,
    pub(crate) outcome: &'static str,
    pub(crate) detail: Value,
    pub(crate) events: Vec<(Uuid, String, String)>,
}

/// The rows a batch of prepared entries becomes once chained onto the head `(seq, hash)`:
/// computed once, then written with multi-row statements (PostgreSQL, [`write_plan_pg`]) or
/// cached single-row statements (SQLite's writer, see `sqlite_writer.rs`).
pub(crate) struct AppendPlan {
    pub(crate) ts_us: i64,
    /// Per entry: the entry, its canonical detail, its targets and correlation ids as JSON.
    pub(crate) rows: Vec<(AuditEntry, String, String, String)>,
    /// `(target, seq)`, distinct per entry.
    pub(crate) targets: Vec<(String, i64)>,
    /// `(event id, seq, kind, payload)`.
    pub(crate) events: Vec<(String, i64, String, String)>,
    /// The new head.
    pub(crate) head_seq: i64,
    pub(crate) head_hash: String,
    pub(crate) appended: Vec<Appended>,
}

pub(crate) fn plan_append(seq: i64, prev: String, batch: &[&Prepared]) -> Result<AppendPlan> {
    let mut seq = seq;
    let mut prev = prev;
    let ts_us = crate::now_us();
    let mut plan = AppendPlan {
        ts_us,
        rows: Vec::with_capacity(batch.len()),
        targets: Vec::new(),
        events: Vec::new(),
        head_seq: seq,
        head_hash: String::new(),
        appended: Vec::with_capacity(batch.len()),
    };
    for p in batch {
        seq += 1;
        let mut entry = AuditEntry {
            seq,
            ts_us,
            actor: p.actor.clone(),
            action: p.action.clone(),
            targets: p.targets.clone(),
            request_id: p.request_id.clone(),
            correlation_ids: p.correlation_ids.clone(),
            outcome: p.outcome.to_string(),
            detail: p.detail.clone(),
            prev_hash: prev.clone(),
            hash: String::new(),
        };
        entry.hash = entry_hash(&prev, &canonical_entry_bytes(&entry))?;
        let mut distinct: Vec<&String> = Vec::new();
        for t in &entry.targets {
            if !distinct.contains(&t) {
                distinct.push(t);
                plan.targets.push((t.clone(), seq));
            }
        }
        let mut ids = Vec::with_capacity(p.events.len());
        for (id, kind, payload) in &p.events {
            plan.events
                .push((id.to_string(), seq, kind.clone(), payload.clone()));
            ids.push(*id);
        }
        prev = entry.hash.clone();
        plan.appended.push(Appended {
            seq,
            hash: entry.hash.clone(),
            event_ids: ids,
        });
        let detail = canonical_json(&entry.detail);
        let t = serde_json::to_string(&entry.targets)?;
        let c = serde_json::to_string(&entry.correlation_ids)?;
        plan.rows.push((entry, detail, t, c));
    }
    plan.head_seq = seq;
    plan.head_hash = prev;
    Ok(plan)
}

// The audit tables' insert heads, shared by the PostgreSQL multi-row statements below and the
// single-row statements of SQLite's writer.
macro_rules! insert_audit_row {
    () => {
        "INSERT INTO audit_log (seq, ts_us, actor, action, targets, request_id, correlation_ids, outcome, detail, prev_hash, hash) "
    };
}
macro_rules! insert_audit_target {
    () => {
        "INSERT INTO audit_target (target, seq) "
    };
}
macro_rules! insert_outbox_event {
    () => {
        "INSERT INTO outbox (id, audit_seq, kind, payload, state, attempts, next_attempt_us, created_us) "
    };
}
pub(crate) const INSERT_AUDIT_ROW: &str = concat!(
    insert_audit_row!(),
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
);
pub(crate) const INSERT_AUDIT_TARGET: &str = concat!(insert_audit_target!(), "VALUES ($1, $2)");
/// An event is pending, never attempted, and due when created (`$5`).
pub(crate) const INSERT_OUTBOX_EVENT: &str = concat!(
    insert_outbox_event!(),
    "VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)"
);
pub(crate) const MOVE_HEAD: &str = "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1";

/// Writes a plan with one multi-row statement per table (four statements per batch, whatever
/// its size) and bound parameters, inside the caller's PostgreSQL transaction.
pub(crate) async fn write_plan_pg(
    tx: &mut sqlx::PgConnection,
    plan: AppendPlan,
) -> Result<Vec<Appended>> {
    let ts_us = plan.ts_us;
    let mut qb = sqlx::QueryBuilder::<sqlx::Postgres>::new(insert_audit_row!());
    qb.push_values(plan.rows, |mut b, (e, detail, t, c)| {
        b.push_bind(e.seq)
            .push_bind(e.ts_us)
            .push_bind(e.actor)
            .push_bind(e.action)
            .push_bind(t)
            .push_bind(e.request_id)
            .push_bind(c)
            .push_bind(e.outcome)
            .push_bind(detail)
            .push_bind(e.prev_hash)
            .push_bind(e.hash);
    });
    qb.build().execute(&mut *tx).await?;
    if !plan.targets.is_empty() {
        let mut qb = sqlx::QueryBuilder::<sqlx::Postgres>::new(insert_audit_target!());
        qb.push_values(plan.targets, |mut b, (t, s)| {
            b.push_bind(t).push_bind(s);
        });
        qb.build().execute(&mut *tx).await?;
    }
    if !plan.events.is_empty() {
        let mut qb = sqlx::QueryBuilder::<sqlx::Postgres>::new(insert_outbox_event!());
        qb.push_values(plan.events, |mut b, (id, s, kind, payload)| {
            b.push_bind(id)
                .push_bind(s)
                .push_bind(kind)
                .push_bind(payload)
                .push_bind("pending")
                .push_bind(0i64)
                .push_bind(ts_us)
                .push_bind(ts_us);
        });
        qb.build().execute(&mut *tx).await?;
    }
    sqlx::query(MOVE_HEAD)
        .bind(plan.head_seq)
        .bind(&plan.head_hash)
        .execute(&mut *tx)
        .await?;
    Ok(plan.appended)
}

// ---------------------------------------------------------------------------------------------
// Reads.

struct RawEntry {
    seq: i64,
    ts_us: i64,
    actor: String,
    action: String,
    targets: String,
    request_id: Option<String>,
    correlation_ids: String,
    outcome: String,
    detail: String,
    prev_hash: String,
    hash: String,
}

impl RawEntry {
    fn parse(self) -> Result<AuditEntry> {
        Ok(AuditEntry {
            seq: self.seq,
            ts_us: self.ts_us,
            actor: self.actor,
            action: self.action,
            targets: serde_json::from_str(&self.targets)?,
            request_id: self.request_id,
            correlation_ids: serde_json::from_str(&self.correlation_ids)?,
            outcome: self.outcome,
            detail: serde_json::from_str(&self.detail)?,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

macro_rules! raw_entry {
    ($row:expr) => {{
        let r = &$row;
        RawEntry {
            seq: r.try_get("seq")?,
            ts_us: r.try_get("ts_us")?,
            actor: r.try_get("actor")?,
            action: r.try_get("action")?,
            targets: r.try_get("targets")?,
            request_id: r.try_get("request_id")?,
            correlation_ids: r.try_get("correlation_ids")?,
            outcome: r.try_get("outcome")?,
            detail: r.try_get("detail")?,
            prev_hash: r.try_get("prev_hash")?,
            hash: r.try_get("hash")?,
        }
    }};
}

impl Store {
    /// Appends one audit entry and its outbox events in one transaction: both or neither.
    /// Returns once the transaction is durable. Concurrent calls are group-committed.
    pub async fn append(&self, entry: NewEntry, events: Vec<NewEvent>) -> Result<Appended> {
        let prepared = self.prepare_entry(entry, events)?;
        let done = self
            .submit_one(crate::write::Job::audit_only(prepared))
            .await?;
        done.appended
            .ok_or_else(|| StoreError::Corrupt("the writer returned no audit entry".into()))
    }

    /// Checks an entry and its events (secrets, required fields), redacts the detail and
    /// encodes the event payloads, before anything is queued for the writer.
    pub(crate) fn prepare_entry(&self, entry: NewEntry, events: Vec<NewEvent>) -> Result<Prepared> {
        check_no_secrets(&entry.detail)?;
        let mut detail = entry.detail;
        self.inner.redactor.redact(&mut detail);
        // The redaction hook is pluggable: guard again after it.
        check_no_secrets(&detail)?;
        let mut evs = Vec::with_capacity(events.len());
        for ev in events {
            check_no_secrets(&ev.payload)?;
            if ev.kind.is_empty() {
                return Err(StoreError::Invalid("event kind is empty".into()));
            }
            evs.push((Uuid::now_v7(), ev.kind, serde_json::to_string(&ev.payload)?));
        }
        if entry.actor.is_empty() || entry.action.is_empty() {
            return Err(StoreError::Invalid("actor and action are required".into()));
        }
        Ok(Prepared {
            actor: entry.actor,
            action: entry.action,
            targets: entry.targets,
            request_id: entry.request_id,
            correlation_ids: entry.correlation_ids,
            outcome: entry.outcome.as_str(),
            detail,
            events: evs,
        })
    }

    /// The chain head: the last seq and its hash (`0` and [`GENESIS_HASH`] when empty).
    pub async fn head(&self) -> Result<(i64, String)> {
        dispatch!(self.pool(), p => {
            let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(p).await?;
            Ok((row.try_get("seq")?, row.try_get("hash")?))
        })
    }

    /// One entry by seq.
    pub async fn entry(&self, seq: i64) -> Result<Option<AuditEntry>> {
        let raw = dispatch!(self.pool(), p => {
            let row = sqlx::query(
                "SELECT seq, ts_us, actor, action, targets, request_id, correlation_ids, outcome, detail, prev_hash, hash \
                 FROM audit_log WHERE seq = $1",
            )
            .bind(seq)
            .fetch_optional(p)
            .await?;
            match row { Some(r) => Some(raw_entry!(r)), None => None }
        });
        raw.map(RawEntry::parse).transpose()
    }

    /// Entries matching `q`, ascending by seq, at most `q.limit`.
    pub async fn entries(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let raws: Vec<RawEntry> = dispatch!(self.pool(), p => {
            let rows = sqlx::query(
                "SELECT seq, ts_us, actor, action, targets, request_id, correlation_ids, outcome, detail, prev_hash, hash \
                 FROM audit_log WHERE seq > $1 AND ts_us >= $2 AND ts_us < $3 \
                 AND (CAST($4 AS TEXT) IS NULL OR actor = $4) \
                 AND (CAST($5 AS TEXT) IS NULL OR action = $5) \
                 AND (CAST($6 AS TEXT) IS NULL OR seq IN (SELECT seq FROM audit_target WHERE target = $6)) \
                 ORDER BY seq LIMIT $7",
            )
            .bind(q.after_seq)
            .bind(q.since_us.unwrap_or(i64::MIN))
            .bind(q.until_us.unwrap_or(i64::MAX))
            .bind(&q.actor)
            .bind(&q.action)
            .bind(&q.target)
            .bind(q.limit.max(0))
            .fetch_all(p)
            .await?;
            let mut v = Vec::with_capacity(rows.len());
            for r in rows { v.push(raw_entry!(r)); }
            v
        });
        raws.into_iter().map(RawEntry::parse).collect()
    }

    /// The last `n` entries, ascending.
    pub async fn tail(&self, n: i64) -> Result<Vec<AuditEntry>> {
        let raws: Vec<RawEntry> = dispatch!(self.pool(), p => {
            let rows = sqlx::query(
                "SELECT seq, ts_us, actor, action, targets, request_id, correlation_ids, outcome, detail, prev_hash, hash \
                 FROM audit_log ORDER BY seq DESC LIMIT $1",
            )
            .bind(n.max(0))
            .fetch_all(p)
            .await?;
            let mut v = Vec::with_capacity(rows.len());
            for r in rows { v.push(raw_entry!(r)); }
            v
        });
        let mut out: Vec<AuditEntry> = raws
            .into_iter()
            .map(RawEntry::parse)
            .collect::<Result<_>>()?;
        out.reverse();
        Ok(out)
    }

    async fn raw_page(&self, after: i64, upto: i64, limit: i64) -> Result<Vec<RawEntry>> {
        Ok(dispatch!(self.pool(), p => {
            let rows = sqlx::query(
                "SELECT seq, ts_us, actor, action, targets, request_id, correlation_ids, outcome, detail, prev_hash, hash \
                 FROM audit_log WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3",
            )
            .bind(after)
            .bind(upto)
            .bind(limit)
            .fetch_all(p)
            .await?;
            let mut v = Vec::with_capacity(rows.len());
            for r in rows { v.push(raw_entry!(r)); }
            v
        }))
    }

    /// Where an entry with this hash is stored now (only on the failure path: a full scan).
    async fn seq_of_hash(&self, hash: &str) -> Result<Option<i64>> {
        dispatch!(self.pool(), p => {
            let row = sqlx::query("SELECT MIN(seq) AS s FROM audit_log WHERE hash = $1")
                .bind(hash)
                .fetch_one(p)
                .await?;
            Ok(row.try_get::<Option<i64>, _>("s")?)
        })
    }

    async fn first_seq_beyond_head(&self) -> Result<Option<i64>> {
        dispatch!(self.pool(), p => {
            let row = sqlx::query(
                "SELECT MIN(seq) AS s FROM audit_log WHERE seq > (SELECT seq FROM audit_head WHERE id = 1)",
            )
            .fetch_one(p)
            .await?;
            Ok(row.try_get::<Option<i64>, _>("s")?)
        })
    }

    /// Walks the chain from the first entry to the head and reports the first entry that was
    /// altered, removed, inserted or reordered.
    pub async fn verify(&self) -> Result<VerifyReport> {
        let (head_seq, head_hash) = self.head().await?;
        let mut report = VerifyReport {
            entries: 0,
            head_seq,
            head_hash: head_hash.clone(),
            first_problem: None,
        };
        let mut prev_hash = GENESIS_HASH.to_string();
        // The hash before `prev_hash` (to recognise one interloper between two genuine entries).
        let mut prev_prev_hash: Option<String> = None;
        let mut expected: i64 = 1;
        let mut after = 0i64;
        let found = |seq: i64, kind: TamperKind, reason: String| Some(Tamper { seq, kind, reason });
        'walk: loop {
            let page = self.raw_page(after, head_seq, 1000).await?;
            if page.is_empty() {
                break;
            }
            for raw in page {
                after = raw.seq;
                if raw.seq != expected {
                    report.first_problem = if raw.seq > expected {
                        found(
                            expected,
                            TamperKind::Removed,
                            format!(
                                "entry {expected} is missing (next stored entry is {})",
                                raw.seq
                            ),
                        )
                    } else {
                        found(
                            raw.seq,
                            TamperKind::Inserted,
                            "sequence number out of range".into(),
                        )
                    };
                    break 'walk;
                }
                if raw.prev_hash != prev_hash {
                    let seq = raw.seq;
                    report.first_problem = if prev_prev_hash.as_deref()
                        == Some(raw.prev_hash.as_str())
                    {
                        found(
                            seq - 1,
                            TamperKind::Inserted,
                            format!(
                                "entry {} is not in the chain: entry {seq} links past it",
                                seq - 1
                            ),
                        )
                    } else if raw.prev_hash == GENESIS_HASH {
                        found(
                            1,
                            TamperKind::Removed,
                            format!("entry {seq} links to the start of the log"),
                        )
                    } else {
                        match self.seq_of_hash(&raw.prev_hash).await? {
                            Some(s) if s > seq => found(
                                seq,
                                TamperKind::Reordered,
                                format!("entry {seq} belongs after the entry now stored at {s}"),
                            ),
                            Some(s) if s < seq => found(
                                s + 1,
                                TamperKind::Removed,
                                format!(
                                    "entry {seq} links to entry {s}: the entries between were removed"
                                ),
                            ),
                            _ => found(
                                seq,
                                TamperKind::Altered,
                                "its previous-hash link does not match the chain".into(),
                            ),
                        }
                    };
                    break 'walk;
                }
                let seq = raw.seq;
                let stored_hash = raw.hash.clone();
                let ok = match raw.parse() {
                    Ok(e) => entry_hash(&e.prev_hash, &canonical_entry_bytes(&e))
                        .map(|h| h == e.hash)
                        .unwrap_or(false),
                    Err(_) => false,
                };
                if !ok {
                    report.first_problem = found(
                        seq,
                        TamperKind::Altered,
                        "its content does not match its hash".into(),
                    );
                    break 'walk;
                }
                prev_prev_hash = Some(std::mem::replace(&mut prev_hash, stored_hash));
                expected += 1;
                report.entries += 1;
            }
        }
        if report.first_problem.is_none() {
            let last = expected - 1;
            if last < head_seq {
                report.first_problem = found(
                    last + 1,
                    TamperKind::Removed,
                    format!("the chain head is at {head_seq} but the log ends at {last}"),
                );
            } else if prev_hash != head_hash {
                report.first_problem = found(
                    head_seq,
                    TamperKind::Altered,
                    "the last entry's hash does not match the chain head".into(),
                );
            } else if let Some(s) = self.first_seq_beyond_head().await? {
                report.first_problem = found(
                    s,
                    TamperKind::Inserted,
                    "entry lies beyond the chain head (not written by gcprov)".into(),
                );
            }
        }
        Ok(report)
    }

    /// A signed checkpoint of the current head.
    pub async fn checkpoint(&self, key: &[u8]) -> Result<Checkpoint> {
        let (seq, hash) = self.head().await?;
        Checkpoint::sign(seq, &hash, key)
    }

    /// Verifies the chain and that it still contains the checkpointed entry unchanged.
    pub async fn verify_checkpoint(&self, cp: &Checkpoint, key: &[u8]) -> Result<VerifyReport> {
        let mut report = self.verify().await?;
        if !cp.signature_valid(key) {
            report.first_problem = Some(Tamper {
                seq: cp.seq,
                kind: TamperKind::BadCheckpointSignature,
                reason: "the checkpoint was not signed with this key or was edited".into(),
            });
            return Ok(report);
        }
        if report.first_problem.is_some() || cp.seq == 0 {
            return Ok(report);
        }
        let stored = dispatch!(self.pool(), p => {
            let row = sqlx::query("SELECT hash FROM audit_log WHERE seq = $1")
                .bind(cp.seq)
                .fetch_optional(p)
                .await?;
            match row { Some(r) => Some(r.try_get::<String, _>("hash")?), None => None }
        });
        report.first_problem = match stored {
            None => Some(Tamper {
                seq: cp.seq,
                kind: TamperKind::Removed,
                reason: "the checkpointed entry is missing".into(),
            }),
            Some(h) if h != cp.hash => Some(Tamper {
                seq: cp.seq,
                kind: TamperKind::CheckpointMismatch,
                reason: "the chain up to the checkpoint was rewritten".into(),
            }),
            Some(_) => None,
        };
        Ok(report)
    }
}
