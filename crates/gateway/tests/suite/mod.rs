pub mod support;

mod auth;
mod consistency;
mod correlation;
mod entra;
mod etag;
mod faults;
mod idempotency;
mod idempotency_replicas;
mod jwks;
mod mapping_divisions;
mod mapping_lifecycle;
mod okta;
mod protocol;
mod readiness;
mod replicas;
mod shadow_policy;
mod tls;
