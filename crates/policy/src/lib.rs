//! gcprov-policy
