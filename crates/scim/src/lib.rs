//! SCIM 2.0 protocol core (RFC 7643 / RFC 7644): schemas as data, resources, filters, PATCH,
//! query features (projection, sorting, paging) and ETags. Pure: no I/O, no async.

pub mod error;
pub mod filter;

pub use error::{ScimError, ScimType};
pub use filter::Filter;
