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

//!
//! # Example
//!
//! ```
//! use gcprov_scim::schema::defs::user_resource;
//! use gcprov_scim::{CompiledFilter, PatchRequest, Resource, filter};
//! use serde_json::json;
//!
//! let user = Resource::from_json(json!({
//!     "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
//!     "id": "1", "userName": "Alice@Acme.com", "active": true,
//!     "emails": [{"type": "work", "value": "alice@acme.com"}]
//! }))?;
//!
//! // Filters: parse once, compile once per query, evaluate per resource.
//! let f = filter::parse(r#"emails[type eq "work"].value eq "ALICE@acme.com" and active eq true"#)?;
//! assert_eq!(f.to_string(), r#"emails[type eq "work" and value eq "ALICE@acme.com"] and active eq true"#);
//! let compiled = CompiledFilter::compile(&f, user_resource())?;
//! assert!(compiled.matches(&user));
//!
//! // PATCH: applied to a copy, all or nothing; Entra's "Replace" and "False" are accepted.
//! let patch = PatchRequest::from_json(&json!({
//!     "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
//!     "Operations": [{"op": "Replace", "path": "active", "value": "False"}]
//! }))?;
//! let updated = patch.apply(&user, user_resource())?;
//! assert_eq!(updated.active(), Some(false));
//! assert_eq!(user.active(), Some(true));
//! # Ok::<(), gcprov_scim::ScimError>(())
//! ```

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
