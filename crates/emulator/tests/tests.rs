//! Integration tests of the emulator through plain HTTP (one test binary, submodules).

mod common;

mod auth;
mod users;
