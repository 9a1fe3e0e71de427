//! gcprov-gateway
