//! Integration tests of gcprov-oauth-clients against the Genesys Cloud emulator and a local
//! Vault KV v2 receiver (one test binary).

mod suite;
