//! CLI integration tests: each runs the real `gcprov` binary.

mod store_cli;
