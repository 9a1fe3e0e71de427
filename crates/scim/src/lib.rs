//! SCIM 2.0 protocol core (RFC 7643 / RFC 7644): schemas as data, resources, filters, PATCH,
//! query features (projection, sorting, paging) and ETags. Pure: no I/O, no async.
//!
//! Module map:
//! - [`filter`]: filter AST, parser ([`filter::parse`]) and canonical printer (`Display`).
//! - [`eval`]: [`eval::CompiledFilter`], schema-aware filter evaluation.
//! - [`schema`]: attribute characteristics, built-in schemas ([`schema::defs`]), `/Schemas`,
//!   `/ResourceTypes` and `/ServiceProviderConfig` bodies.
//! - [`resource`]: [`Resource`], a case-insensitive JSON object with typed accessors.
//! - [`patch`]: PATCH (RFC 7644 3.5.2) parsing and atomic application, PUT and POST helpers.
//! - [`query`]: projection, sorting, paging and `ListResponse`.
//! - [`etag`]: ETag parsing, generation and `If-Match`/`If-None-Match` evaluation.
//! - [`error`]: [`ScimError`], the SCIM `Error` message.

pub mod error;
pub mod etag;
pub mod eval;
pub mod filter;
pub mod patch;
pub mod query;
pub mod resource;
pub mod schema;

pub use error::{ScimError, ScimType};
pub use eval::CompiledFilter;
pub use filter::Filter;
pub use patch::{PatchRequest, apply_patch, prepare_create, replace_resource};
pub use resource::Resource;
