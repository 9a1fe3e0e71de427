//! gcprov-reconcile: make Genesys Cloud match a desired state with the fewest API calls.
//!
//! Pipeline (see `docs/architecture/reconcile.md`):
//! read the org ([`Org::read`]) → stream desired users ([`DesiredReader`], [`pull_scim`]) →
//! match and diff ([`Planner`]) → safety rails ([`Plan::check_guard`]) → apply with
//! checkpoints ([`apply()`], [`resume`]) → [`Report`].
//!
//! The direct batch jobs share the engine: [`patch`] (SCIM PatchOp documents per user) and
//! [`groups`] (create a group, adopt an existing one, add members in batches of 50).

pub mod apply;
pub mod desired;
mod error;
pub mod groups;
pub mod org;
pub mod patch;
pub mod plan;
pub mod report;

pub use apply::{ApplyOptions, NoProgress, Progress, abandon, apply, resume};
pub use desired::{ColumnMapping, DesiredReader, DesiredUser, Format, parse_config, pull_scim};
pub use error::{Error, Result};
pub use org::{ActualUser, Org};
pub use plan::{Guard, MatchKey, MissingAction, Plan, Planner, Settings, plan_from_iter};
pub use report::{ItemOutcome, Report};
