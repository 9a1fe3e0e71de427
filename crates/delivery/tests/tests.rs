//! Integration tests of gcprov-delivery against SQLite and the real PostgreSQL, with local
//! HTTP receivers.

mod support;

mod crash;
mod delivery;
