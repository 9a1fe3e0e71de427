//! gcprov-genesys: how every part of gcprov talks to Genesys Cloud.
//!
//! * [`ClientConfig`]: region or explicit API/login base URLs, credentials (also from the
//!   `GENESYS_*` environment variables), pacing and retry settings. The secret is a
//!   [`secrecy::SecretString`] and is never printed.
//! * [`GenesysClient`]: client-credentials login with a cached token and single-flight
//!   refresh; a per-token [`Pacer`] keeping under the rate limit; retries of what is safe to
//!   retry; typed operations for users, routing, authorization, groups, SCIM, OAuth clients
//!   and audits; paged lists as streams.
//! * [`Error`]: one error type with the HTTP status, the parsed `ErrorBody` / SCIM error and
//!   the `ININ-Correlation-Id`.
//!
//! See `docs/architecture/genesys.md` for the request lifecycle and invariants.

pub mod api;
mod client;
pub mod config;
pub mod error;
pub mod models;
pub mod pacer;
mod retry;
mod token;

pub use api::{Conditional, ListUsers, Versioned};
pub use client::{ClientStats, GenesysClient};
pub use config::{ClientConfig, Region, RetryPolicy};
pub use error::{ApiError, ConfigError, Error, Result, TransportKind};
pub use pacer::Pacer;
pub use secrecy::{ExposeSecret, SecretString};
