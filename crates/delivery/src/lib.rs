//! gcprov-delivery: delivers outbox events from the store to configured sinks.
//!
//! Workers claim events with a lease ([`gcprov_store::Store::claim_events`]), send each to every
//! sink that has not accepted it yet, and mark it delivered; failures are retried with exponential
//! backoff and jitter until the configured attempts, then the event is dead-lettered.
//! Delivery is at-least-once: sinks get the event id as an idempotency key.
//!
//! Sinks: generic [`WebhookSink`], [`SplunkHecSink`], JSON-lines [`FileSink`]. Add one by
//! implementing [`Sink`].

mod config;
mod envelope;
mod file;
mod sink;
mod splunk;
mod webhook;
mod worker;

pub use config::{ConfigError, DeliveryConfig, DeliverySettings, SinkConfig};
pub use envelope::Envelope;
pub use file::FileSink;
pub use secrecy::{ExposeSecret, SecretString};
pub use sink::{BoxFuture, Sink, SinkError, classify_status};
pub use splunk::SplunkHecSink;
pub use webhook::{SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookSink, sign};
pub use worker::{Backoff, DeliveryError, RunStats, Worker, WorkerOptions};
