pub mod common;
mod create;
mod leaks;
mod manage;
mod privilege;
mod sinks;
mod validation;
