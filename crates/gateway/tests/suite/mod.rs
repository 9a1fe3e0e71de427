pub mod support;

mod auth;
mod consistency;
mod entra;
mod etag;
mod faults;
mod okta;
mod protocol;
mod shadow_policy;
mod tls;
