//! The single integration-test binary of gcprov-scim (one binary keeps link time low).

mod cases {
    pub mod common;
    mod etag;
    mod eval;
    mod filter;
    mod idp;
    mod patch;
    mod props;
    mod query;
    mod schema;
}
