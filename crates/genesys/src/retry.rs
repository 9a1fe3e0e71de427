//! Retry helpers: backoff with jitter, `Retry-After` parsing, transport error classification.
//!
//! Hand-rolled rather than `backon`: the decision depends on the HTTP status, the method's
//! safety, `Retry-After` and a shared pause gate, which is a few lines here and awkward to
//! express through a generic retry combinator.

use std::time::Duration;

use rand::Rng;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::config::RetryPolicy;
use crate::error::TransportKind;

/// Exponential backoff with "equal jitter": `d/2 + rand(0..=d/2)` where
/// `d = min(max_delay, base * 2^(attempt-1))`.
pub(crate) fn backoff_delay(p: &RetryPolicy, attempt: u32) -> Duration {
    let exp = attempt.saturating_sub(1).min(20);
    let d = p
        .base_delay
        .saturating_mul(1u32 << exp)
        .min(p.max_delay)
        .max(Duration::from_millis(1));
    let half = d / 2;
    let jitter = rand::rng().random_range(0..=half.as_micros() as u64);
    half + Duration::from_micros(jitter)
}

/// `Retry-After` as integer (or decimal) seconds. HTTP-date values are not used by Genesys
/// Cloud; they are ignored (the caller falls back to its default).
pub(crate) fn parse_retry_after(h: &HeaderMap) -> Option<Duration> {
    let v = h.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let secs: f64 = v.parse().ok()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(secs.min(3600.0)))
}

pub(crate) fn transport_kind(e: &reqwest::Error) -> TransportKind {
    if e.is_timeout() {
        TransportKind::Timeout
    } else if e.is_connect() {
        TransportKind::Connect
    } else if e.is_builder() {
        TransportKind::Request
    } else {
        TransportKind::Io
    }
}

/// The error and its sources, without the URL reqwest puts in its own message (the query
/// string of a URL may hold personal data).
pub(crate) fn error_chain(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        parts.push(s.to_string());
        src = s.source();
    }
    if parts.is_empty() {
        format!("{}", transport_kind(e))
    } else {
        parts.join(": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            ..RetryPolicy::default()
        };
        for _ in 0..50 {
            let d1 = backoff_delay(&p, 1);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100));
            let d3 = backoff_delay(&p, 3);
            assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400));
            let d10 = backoff_delay(&p, 10);
            assert!(d10 >= Duration::from_secs(1) && d10 <= Duration::from_secs(2));
        }
    }

    #[test]
    fn retry_after_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(parse_retry_after(&h), None);
        h.insert(RETRY_AFTER, "42".parse().unwrap());
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(42)));
        h.insert(RETRY_AFTER, "0.5".parse().unwrap());
        assert_eq!(parse_retry_after(&h), Some(Duration::from_millis(500)));
        h.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(parse_retry_after(&h), None);
    }
}
