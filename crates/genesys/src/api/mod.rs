//! Typed operations, one module per API family (all are `impl GenesysClient` blocks).

pub mod audits;
pub mod authz;
pub mod groups;
pub mod oauth;
pub mod routing;
pub mod scim;
pub mod users;

pub use authz::{DIVISION_OBJECT_CHUNK, SUBJECT_GRANTS_PAGE_SIZE};
pub use groups::GROUP_MEMBER_CHUNK;
pub use routing::{QUEUE_MEMBER_CHUNK, ROUTING_BULK_CHUNK};
pub use scim::{Conditional, SCIM_PAGE_SIZE, Versioned};
pub use users::ListUsers;
