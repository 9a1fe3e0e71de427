//! gcprov-delivery
