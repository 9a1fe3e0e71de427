//! gcprov-reconcile
