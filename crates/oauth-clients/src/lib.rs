//! gcprov-oauth-clients: OAuth client governance for Genesys Cloud.
//!
//! * [`Governor`]: create (validated against the org's catalogues and the configured limits,
//!   checked for least privilege against a baseline profile), list, show, audit,
//!   rotate-secret, disable and delete (inactive first).
//! * [`GovernanceConfig`]: limits, baseline profiles, the secret sink.
//! * [`sink`]: where a new secret goes (Vault KV v2, signed webhook, 0600 file, terminal).
//!   The secret lives in an [`IssuedSecret`] between the Genesys response and its delivery;
//!   only its SHA-256 and masked form are stored and audited.
//!
//! See `docs/architecture/oauth-clients.md`.

pub mod config;
pub mod error;
pub mod governor;
pub mod privilege;
pub mod secret;
pub mod sink;
pub mod spec;

pub use config::{GovernanceConfig, Limits, Profile, SinkConfig};
pub use error::{Error, FieldError, Result};
pub use governor::{
    AuditReport, AuditRow, ClientSummary, Compliance, DeliveryOutcome, GRANT_TYPES, Governor, Plan,
    RoleGrant, SecretReport,
};
pub use privilege::{Finding, permission_covered};
pub use secret::{IssuedSecret, SecretFingerprint, fingerprint};
pub use sink::{
    Delivery, FileSink, Reason, Receipt, RevealSink, SecretSink, SinkError, VaultEventSink,
    VaultKvSink, WebhookSink,
};
pub use spec::{ClientSpec, RoleSpec};
