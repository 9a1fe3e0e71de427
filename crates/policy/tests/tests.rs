//! The one integration-test binary of gcprov-policy (submodules under `suite/`).

mod suite;
