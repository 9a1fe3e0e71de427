//! Integration tests of gcprov-genesys against the Genesys Cloud emulator (one test binary).

mod it;
