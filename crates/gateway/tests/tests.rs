//! gcprov-gateway integration tests: an in-process emulator and gateway on ephemeral loopback
//! ports, driven over HTTP with the request sequences real IdPs send. One test binary.

mod suite;
