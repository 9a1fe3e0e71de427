//! Integration tests of gcprov-store, each run against SQLite and the real PostgreSQL.

mod support;

mod audit;
mod commit;
mod idempotency;
mod outbox;
mod records;
mod watch;
