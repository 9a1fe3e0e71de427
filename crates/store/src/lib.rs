//! gcprov-store: the durable store of gcprov.
//!
//! One [`Store`] handle over two real backends: SQLite (the embedded default, WAL; reads through
//! sqlx, writes through one rusqlite connection) and PostgreSQL (sqlx; several replicas
//! sharing one database). It holds the tamper-evident audit log, the delivery outbox (written in the same transaction as the audit entry that caused each event),
//! idempotency keys, the IdP-to-Genesys identity map, reconciler checkpoints and the read model of
//! the org's users and groups. See `docs/architecture/store.md`.

mod audit;
mod db;
mod error;
pub mod export;
mod outbox;
mod records;
mod redact;
mod sqlite_read;
mod sqlite_writer;
mod watch;
mod write;

pub use audit::{
    Appended, AuditEntry, AuditQuery, Checkpoint, GENESIS_HASH, NewEntry, NewEvent, Outcome,
    Tamper, TamperKind, VerifyReport, canonical_entry_bytes, canonical_json, entry_hash,
};
pub use db::{Backend, SCHEMA_VERSION, SqliteDurability, Store, StoreOptions};
pub use error::StoreError;
pub use outbox::{OutboxCounts, OutboxEvent, OutboxState};
pub use records::{
    EmailRecord, GroupRecord, IdempotencyClaim, IdempotencyRecord, IdentityLink, UserLookup,
    UserRecord,
};
pub use redact::{FieldRedactor, Redact, check_no_secrets};
pub use watch::{GroupMembers, MODEL_CHANNEL, ModelChange, ModelWatch};
pub use write::{Change, Commit, Committed};

/// Microseconds since the Unix epoch for a timestamp (the unit every time column uses).
pub fn to_us(t: time::OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1000) as i64
}

/// The timestamp for microseconds since the Unix epoch (clamped to the representable range).
pub fn from_us(us: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

pub(crate) fn now_us() -> i64 {
    to_us(time::OffsetDateTime::now_utc())
}

/// The sqlx version the store uses, for tests that edit the database behind the store's back.
#[doc(hidden)]
pub use sqlx;
