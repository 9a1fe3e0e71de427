//! `/readyz`: the store answers and Genesys Cloud is reachable, without spending the Genesys
//! rate budget on every probe.
//!
//! Genesys counts as reachable when any call of the gateway's client got a 2xx/304 within
//! `readiness.genesys_fresh_seconds` (writes, syncs, earlier checks: the client remembers).
//! Otherwise one live call is made, `GET /api/v2/authorization/divisions/home` (in the
//! reference, no permission needed, one small object), with a time limit. Concurrent probes
//! share one live call; a failed check is reused for `readiness.failure_cache_seconds`.

use std::time::{Duration, Instant};

use gcprov_genesys::{Error as GenesysError, GenesysClient};
use gcprov_store::Store;
use serde_json::{Value, json};

use crate::config::ReadinessConfig;

/// How the Genesys answer was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// A call succeeded within the freshness window: no call made.
    RecentCall,
    /// One live call was made now.
    LiveCall,
    /// A live call failed a moment ago; its answer is reused.
    CachedFailure,
}

impl Check {
    fn as_str(self) -> &'static str {
        match self {
            Check::RecentCall => "recent-call",
            Check::LiveCall => "live-call",
            Check::CachedFailure => "cached-failure",
        }
    }
}

/// Whether one dependency is usable, and if not why (no secret, no personal data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepStatus {
    pub ok: bool,
    pub detail: Option<String>,
}

struct Failed {
    at: Instant,
    detail: String,
}

/// State of the readiness checks of one gateway.
pub struct Readiness {
    cfg: ReadinessConfig,
    /// Held while a live call runs (single flight); the last failed live call.
    last_failure: tokio::sync::Mutex<Option<Failed>>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl Readiness {
    pub fn new(cfg: ReadinessConfig) -> Self {
        Self {
            cfg,
            last_failure: tokio::sync::Mutex::new(None),
        }
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.cfg.probe_timeout_seconds.max(1))
    }

    /// The store answers a trivial query within the probe time limit.
    pub async fn store(&self, store: &Store) -> DepStatus {
        match tokio::time::timeout(self.timeout(), store.schema_version()).await {
            Ok(Ok(_)) => DepStatus {
                ok: true,
                detail: None,
            },
            Ok(Err(_)) => DepStatus {
                ok: false,
                detail: Some("the store did not answer a query".into()),
            },
            Err(_) => DepStatus {
                ok: false,
                detail: Some(format!(
                    "the store did not answer within {}s",
                    self.timeout().as_secs()
                )),
            },
        }
    }

    /// Genesys reachable: a recent success, else one live call (shared by concurrent probes).
    pub async fn genesys(&self, client: &GenesysClient) -> (DepStatus, Check) {
        let fresh = Duration::from_secs(self.cfg.genesys_fresh_seconds);
        let asked = Instant::now();
        if client.since_last_success().is_some_and(|age| age < fresh) {
            return (ok(), Check::RecentCall);
        }
        let mut last = self.last_failure.lock().await;
        // A call (perhaps the live call of a probe we waited for) succeeded since we asked.
        if client
            .since_last_success()
            .is_some_and(|age| age <= asked.elapsed())
        {
            return (ok(), Check::RecentCall);
        }
        let reuse = Duration::from_secs(self.cfg.failure_cache_seconds);
        if let Some(f) = last.as_ref()
            && f.at.elapsed() < reuse
        {
            return (failed(f.detail.clone()), Check::CachedFailure);
        }
        let detail = match tokio::time::timeout(self.timeout(), client.get_home_division()).await {
            Ok(Ok(_)) => {
                *last = None;
                return (ok(), Check::LiveCall);
            }
            Ok(Err(e)) => describe(&e),
            Err(_) => format!(
                "Genesys Cloud did not answer within {}s",
                self.timeout().as_secs()
            ),
        };
        *last = Some(Failed {
            at: Instant::now(),
            detail: detail.clone(),
        });
        (failed(detail), Check::LiveCall)
    }

    /// The `/readyz` answer: `(ready, body)`.
    pub async fn report(
        &self,
        store: &Store,
        client: &GenesysClient,
        synced: bool,
    ) -> (bool, Value) {
        let (s, (g, how)) = tokio::join!(self.store(store), self.genesys(client));
        let mut failed = Vec::new();
        if !s.ok {
            failed.push("store");
        }
        if !g.ok {
            failed.push("genesys");
        }
        if !synced {
            failed.push("readModel");
        }
        let ready = failed.is_empty();
        let body = json!({
            "ready": ready,
            "store": s.ok,
            "genesys": g.ok,
            "readModelSynced": synced,
            "failed": failed,
            "genesysCheck": how.as_str(),
            "details": {"store": s.detail, "genesys": g.detail},
        });
        (ready, body)
    }
}

fn ok() -> DepStatus {
    DepStatus {
        ok: true,
        detail: None,
    }
}

fn failed(detail: String) -> DepStatus {
    DepStatus {
        ok: false,
        detail: Some(detail),
    }
}

/// What went wrong, without the error's message (it may quote a body).
fn describe(e: &GenesysError) -> String {
    let cid = e
        .correlation_id()
        .map(|c| format!(" (correlation id {c})"))
        .unwrap_or_default();
    match e {
        GenesysError::Transport { kind, .. } => format!("Genesys Cloud unreachable ({kind})"),
        GenesysError::Login { status, .. } => {
            format!("Genesys Cloud login refused gcprov's OAuth client (HTTP {status})")
        }
        _ => match e.status() {
            Some(s @ (401 | 403)) => {
                format!("Genesys Cloud refused gcprov's OAuth client (HTTP {s}){cid}")
            }
            Some(s) => format!("Genesys Cloud answered HTTP {s}{cid}"),
            None => "the Genesys Cloud check failed".into(),
        },
    }
}
