//! Which Genesys HTTP calls a piece of work made, without changing any operation's signature.
//!
//! A caller that wants to know (the gateway, to audit the correlation ids of a SCIM request)
//! runs its work inside [`CallRecorder::scope`]. Every HTTP attempt the client sends while the
//! scope is active — on this task — is recorded: method, path, status (or transport failure),
//! `ININ-Correlation-Id`, the attempt number and latency. A re-send (401 re-login, 429, 5xx or
//! timeout retry) is one more record with a higher attempt number. Outside a scope nothing is
//! recorded and the hook costs one task-local lookup.
//!
//! Scopes are task-local (tokio `task_local!`): concurrent requests each see only their own
//! calls, and work moved to another task with `tokio::spawn` is not recorded unless that task
//! enters a scope itself (`recorder.scope(fut)` with a clone of the recorder). An inner scope
//! hides the outer one for its duration.
//!
//! The client also remembers when any of its calls last succeeded ([`GenesysClient::since_last_success`]),
//! scope or not, so a readiness probe can tell "Genesys reachable" without a call of its own.
//!
//! [`GenesysClient::since_last_success`]: crate::GenesysClient::since_last_success

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;

/// At most this many calls are kept per scope; later ones are counted in
/// [`CallRecorder::dropped`] (a `/Bulk` of 100 operations stays far below).
pub const MAX_CALLS_PER_SCOPE: usize = 2_000;

tokio::task_local! {
    static SCOPE: CallRecorder;
}

/// One HTTP attempt sent to the Genesys API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedCall {
    /// `GET`, `POST`, ...
    pub method: String,
    /// `/api/v2/...`, without the query string (queries may hold personal data).
    pub path: String,
    /// The HTTP status; `None` when no response arrived.
    pub status: Option<u16>,
    /// The transport failure (`connect`, `timeout`, `connection`, `request`) when no response
    /// arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport_error: Option<String>,
    /// `ININ-Correlation-Id` of the response.
    pub correlation_id: Option<String>,
    /// 1 for the first send of a request, 2 for its first re-send, ...
    pub attempt: u32,
    pub latency_ms: u64,
}

impl RecordedCall {
    /// A 2xx or 304 answer.
    pub fn succeeded(&self) -> bool {
        self.status
            .is_some_and(|s| (200..300).contains(&s) || s == 304)
    }
}

#[derive(Default)]
struct Calls {
    list: Vec<RecordedCall>,
    dropped: u64,
}

/// Collects the calls made inside its scopes. Cheap to clone; clones share the list.
#[derive(Clone, Default)]
pub struct CallRecorder {
    calls: Arc<Mutex<Calls>>,
}

impl std::fmt::Debug for CallRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = self.calls.lock();
        f.debug_struct("CallRecorder")
            .field("calls", &c.list.len())
            .field("dropped", &c.dropped)
            .finish()
    }
}

impl CallRecorder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `fut` with this recorder active on the current task.
    pub async fn scope<F: Future>(&self, fut: F) -> F::Output {
        SCOPE.scope(self.clone(), fut).await
    }

    /// The recorder active on the current task, if any.
    pub fn current() -> Option<CallRecorder> {
        SCOPE.try_with(Clone::clone).ok()
    }

    /// A copy of the calls recorded so far, oldest first.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.calls.lock().list.clone()
    }

    /// The calls recorded so far, oldest first, leaving the recorder empty (so a scope that
    /// covers several audited steps, like the operations of a `/Bulk`, gives each its own).
    pub fn take(&self) -> Vec<RecordedCall> {
        std::mem::take(&mut self.calls.lock().list)
    }

    /// Calls not kept because the scope already held [`MAX_CALLS_PER_SCOPE`].
    pub fn dropped(&self) -> u64 {
        self.calls.lock().dropped
    }

    fn push(&self, call: RecordedCall) {
        let mut c = self.calls.lock();
        if c.list.len() >= MAX_CALLS_PER_SCOPE {
            c.dropped += 1;
        } else {
            c.list.push(call);
        }
    }
}

/// [`CallRecorder::take`] on the recorder active on this task; empty outside a scope.
pub fn take_current() -> Vec<RecordedCall> {
    CallRecorder::current()
        .map(|r| r.take())
        .unwrap_or_default()
}

/// When a client's calls last succeeded (any task, any scope).
#[derive(Debug, Default)]
pub(crate) struct Activity {
    last_success: Mutex<Option<Instant>>,
}

impl Activity {
    pub(crate) fn since_last_success(&self) -> Option<Duration> {
        self.last_success.lock().map(|t| t.elapsed())
    }
}

/// The client's hook: called once per HTTP attempt, after its outcome is known.
pub(crate) fn observe(activity: &Activity, call: RecordedCall) {
    if call.succeeded() {
        *activity.last_success.lock() = Some(Instant::now());
    }
    // `try_with` fails outside a scope: nothing to record.
    let _ = SCOPE.try_with(|r| r.push(call));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(n: u32, status: u16) -> RecordedCall {
        RecordedCall {
            method: "GET".into(),
            path: format!("/api/v2/users/{n}"),
            status: Some(status),
            transport_error: None,
            correlation_id: Some(format!("c{n}")),
            attempt: 1,
            latency_ms: 0,
        }
    }

    #[tokio::test]
    async fn records_only_inside_a_scope() {
        let a = Activity::default();
        observe(&a, call(1, 200));
        assert!(CallRecorder::current().is_none());
        let r = CallRecorder::new();
        r.scope(async { observe(&a, call(2, 200)) }).await;
        observe(&a, call(3, 200));
        let paths: Vec<String> = r.calls().into_iter().map(|c| c.path).collect();
        assert_eq!(paths, vec!["/api/v2/users/2".to_string()]);
    }

    #[tokio::test]
    async fn take_drains_and_inner_scope_hides_outer() {
        let a = Activity::default();
        let outer = CallRecorder::new();
        let inner = CallRecorder::new();
        outer
            .scope(async {
                observe(&a, call(1, 200));
                inner.scope(async { observe(&a, call(2, 200)) }).await;
                assert_eq!(take_current().len(), 1);
                observe(&a, call(3, 200));
            })
            .await;
        assert_eq!(outer.calls().len(), 1);
        assert_eq!(outer.calls()[0].path, "/api/v2/users/3");
        assert_eq!(inner.calls()[0].path, "/api/v2/users/2");
        assert!(take_current().is_empty());
    }

    #[tokio::test]
    async fn last_success_ignores_failures() {
        let a = Activity::default();
        observe(&a, call(1, 500));
        assert!(a.since_last_success().is_none());
        observe(&a, call(2, 304));
        assert!(a.since_last_success().is_some());
    }

    #[tokio::test]
    async fn bounded_per_scope() {
        let a = Activity::default();
        let r = CallRecorder::new();
        r.scope(async {
            for i in 0..(MAX_CALLS_PER_SCOPE as u32 + 3) {
                observe(&a, call(i, 200));
            }
        })
        .await;
        assert_eq!(r.calls().len(), MAX_CALLS_PER_SCOPE);
        assert_eq!(r.dropped(), 3);
    }
}
