pub mod support;

mod auth;
mod entra;
mod etag;
mod faults;
mod jwks;
mod mapping_lifecycle;
mod okta;
mod protocol;
mod shadow_policy;
mod tls;
