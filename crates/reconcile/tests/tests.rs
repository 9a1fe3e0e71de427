//! Integration tests of gcprov-reconcile against the Genesys Cloud emulator (one binary).

mod suite;
