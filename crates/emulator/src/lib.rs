//! gcprov-emulator: a faithful local copy of the part of the Genesys Cloud Platform API that
//! gcprov uses (login, users, groups, SCIM, routing, authorization, OAuth clients, audits),
//! with its rate limits, versions and errors, plus fault injection and request statistics.
//!
//! ```no_run
//! # async fn demo() -> Result<(), gcprov_emulator::EmulatorError> {
//! let emu = gcprov_emulator::Emulator::start(Default::default()).await?;
//! println!("{} {}", emu.base_url(), emu.admin_client_id());
//! emu.shutdown().await;
//! # Ok(()) }
//! ```

mod config;
mod db;
mod error;
mod perms;
mod routes;
mod search;
mod server;
mod util;

mod audits;
mod authz;
mod groups;
mod oauth;
mod routing;
mod scim;
mod users;

pub use config::{
    EmulatorConfig, FaultConfig, RateLimitStorm, Seed, SeedClient, SeedDivision, SeedExternalId,
    SeedGroup, SeedNamed, SeedProficiency, SeedQueue, SeedRole, SeedUser, random_secret,
};
pub use error::EmulatorError;
pub use server::{Emulator, EmulatorHandle, permission_matches};
