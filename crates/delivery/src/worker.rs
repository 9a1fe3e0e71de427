use std::sync::Arc;
use std::time::Duration;

use gcprov_store::{OutboxEvent, Store, StoreError};
use rand::Rng;

use crate::envelope::Envelope;
use crate::sink::{Sink, SinkError};

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Exponential backoff: `initial * 2^(attempt-1)` capped at `max`, with jitter drawing the delay
/// uniformly from its upper half (so retries from many events spread out but never shrink to 0).
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    pub jitter: bool,
}

impl Backoff {
    /// The delay before retry number `attempt` (1 = after the first failure).
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(32);
        let base = self
            .initial
            .checked_mul(1u32 << exp.min(31))
            .unwrap_or(self.max)
            .min(self.max);
        if !self.jitter || base.is_zero() {
            return base;
        }
        let half = base / 2;
        let extra = rand::rng().random_range(0..=half.as_micros().min(u64::MAX as u128) as u64);
        half + Duration::from_micros(extra)
    }
}

#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Unique per worker (e.g. host + pid); leases are held under this id.
    pub worker_id: String,
    pub batch_size: i64,
    /// How long a claim is exclusive; a crashed worker's events come back after it.
    pub lease: Duration,
    /// After this many failed attempts the event is dead-lettered.
    pub max_attempts: u32,
    pub backoff: Backoff,
}

impl WorkerOptions {
    pub fn new(worker_id: impl Into<String>) -> Self {
        WorkerOptions {
            worker_id: worker_id.into(),
            batch_size: 32,
            lease: Duration::from_secs(60),
            max_attempts: 8,
            backoff: Backoff {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(600),
                jitter: true,
            },
        }
    }
}

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStats {
    pub claimed: u64,
    pub delivered: u64,
    pub retried: u64,
    pub dead: u64,
}

impl RunStats {
    fn add(&mut self, o: RunStats) {
        self.claimed += o.claimed;
        self.delivered += o.delivered;
        self.retried += o.retried;
        self.dead += o.dead;
    }
}

/// A delivery worker. Run several (in one process or many replicas) against one store.
#[derive(Clone)]
pub struct Worker {
    store: Store,
    sinks: Vec<Arc<dyn Sink>>,
    opts: WorkerOptions,
}

impl Worker {
    pub fn new(store: Store, sinks: Vec<Arc<dyn Sink>>, opts: WorkerOptions) -> Self {
        Worker { store, sinks, opts }
    }

    /// Claims one batch of due events and delivers it.
    pub async fn run_once(&self) -> Result<RunStats, DeliveryError> {
        let events = self
            .store
            .claim_events(&self.opts.worker_id, self.opts.batch_size, self.opts.lease)
            .await?;
        let mut stats = RunStats {
            claimed: events.len() as u64,
            ..Default::default()
        };
        let mut set = tokio::task::JoinSet::new();
        for ev in events {
            let w = self.clone();
            set.spawn(async move { w.deliver_one(ev).await });
        }
        while let Some(res) = set.join_next().await {
            match res {
                Ok(Ok(s)) => stats.add(s),
                Ok(Err(e)) => return Err(e),
                Err(e) => tracing::error!(error = %e, "delivery task failed"),
            }
        }
        Ok(stats)
    }

    /// Runs batches until nothing is due.
    pub async fn run_until_idle(&self) -> Result<RunStats, DeliveryError> {
        let mut total = RunStats::default();
        loop {
            let s = self.run_once().await?;
            total.add(s);
            if s.claimed == 0 {
                return Ok(total);
            }
        }
    }

    /// Runs until `shutdown` resolves, polling every `poll` when idle.
    pub async fn run(
        &self,
        poll: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), DeliveryError> {
        tokio::pin!(shutdown);
        loop {
            let s = tokio::select! {
                _ = &mut shutdown => return Ok(()),
                s = self.run_until_idle() => s,
            };
            if let Err(e) = s {
                tracing::warn!(error = %e, "delivery round failed");
            }
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }

    async fn deliver_one(&self, ev: OutboxEvent) -> Result<RunStats, DeliveryError> {
        let worker = &self.opts.worker_id;
        let mut stats = RunStats::default();
        let env = match Envelope::from_event(&ev) {
            Ok(e) => e,
            Err(e) => {
                self.store
                    .mark_failed(
                        ev.id,
                        worker,
                        &format!("cannot encode: {e}"),
                        &ev.delivered_sinks,
                        None,
                    )
                    .await?;
                stats.dead += 1;
                return Ok(stats);
            }
        };
        let mut done = ev.delivered_sinks.clone();
        let mut failure: Option<SinkError> = None;
        for sink in &self.sinks {
            if done.iter().any(|d| d == sink.name()) {
                continue;
            }
            match sink.send(&env).await {
                Ok(()) => done.push(sink.name().to_string()),
                Err(e) => {
                    tracing::warn!(event = %ev.id, sink = sink.name(), error = %e, "delivery failed");
                    // Keep a permanent failure if any sink reported one.
                    if !matches!(failure, Some(SinkError::Permanent(_))) {
                        failure = Some(e);
                    }
                }
            }
        }
        match failure {
            None => {
                if self.store.mark_delivered(ev.id, worker).await? {
                    stats.delivered += 1;
                } else {
                    tracing::debug!(event = %ev.id, "lease lost before marking delivered");
                }
            }
            Some(e) => {
                let attempt = u32::try_from(ev.attempts)
                    .unwrap_or(u32::MAX)
                    .saturating_add(1);
                let permanent = matches!(e, SinkError::Permanent(_));
                let retry_at = if permanent || attempt >= self.opts.max_attempts {
                    None
                } else {
                    let d = self.opts.backoff.delay(attempt);
                    Some(gcprov_store::to_us(time::OffsetDateTime::now_utc() + d))
                };
                self.store
                    .mark_failed(ev.id, worker, &e.to_string(), &done, retry_at)
                    .await?;
                if retry_at.is_some() {
                    stats.retried += 1;
                } else {
                    tracing::error!(event = %ev.id, attempts = attempt, "event moved to dead letter");
                    stats.dead += 1;
                }
            }
        }
        Ok(stats)
    }
}
