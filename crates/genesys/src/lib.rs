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
//!
//! ```no_run
//! use futures::TryStreamExt;
//! use gcprov_genesys::models::{CreateUser, UpdateUser};
//! use gcprov_genesys::{GenesysClient, ListUsers};
//!
//! # async fn demo() -> gcprov_genesys::Result<()> {
//! // GENESYS_CLIENT_ID, GENESYS_CLIENT_SECRET and GENESYS_REGION (or GENESYS_API_URL).
//! let client = GenesysClient::from_env()?;
//! let user = client
//!     .create_user(&CreateUser {
//!         name: "Ada Agent".into(),
//!         email: "ada@example.com".into(),
//!         ..Default::default()
//!     })
//!     .await?;
//! let id = user.id.clone().unwrap_or_default();
//! match client
//!     .update_user(&id, &UpdateUser { version: user.version.unwrap_or(1), title: Some("Lead".into()), ..Default::default() })
//!     .await
//! {
//!     Err(e) if e.is_version_conflict() => { /* re-read, re-diff, try again */ }
//!     other => { other?; }
//! }
//! let everyone: Vec<_> = client.list_users(ListUsers::default()).try_collect().await?;
//! # let _ = everyone;
//! # Ok(()) }
//! ```

pub mod api;
mod client;
pub mod config;
pub mod error;
pub mod models;
pub mod pacer;
pub mod recorder;
mod retry;
mod token;

pub use api::{Conditional, ListUsers, Versioned};
pub use client::{ClientStats, GenesysClient};
pub use config::{ClientConfig, Region, RetryPolicy};
pub use error::{ApiError, ConfigError, Error, Result, TransportKind};
pub use pacer::Pacer;
pub use recorder::{CallRecorder, RecordedCall};
pub use secrecy::{ExposeSecret, SecretString};
