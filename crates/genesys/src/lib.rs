//! gcprov-genesys
