//! Integration tests of the emulator through plain HTTP (one test binary, submodules).

mod common;

mod admin;
mod auth;
mod concurrency;
mod extra;
mod groups;
mod oauth;
mod routing;
mod scim;
mod users;
