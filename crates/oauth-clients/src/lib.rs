//! gcprov-oauth-clients
