//! gcprov-store
