//! The final report of an apply (also used by `gcprov patch` and `gcprov groups create`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How one item ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ItemOutcome {
    /// Written.
    Applied,
    /// Nothing left to write (a re-read showed the change already there).
    AlreadyDone,
    /// Done in an earlier, interrupted run (resume).
    DoneEarlier,
    /// Refused: the target moved on since the plan.
    Stale,
    /// The API refused or failed.
    Failed,
    /// Not attempted (a dependency failed, or the run was interrupted).
    Skipped,
}

impl ItemOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemOutcome::Applied => "applied",
            ItemOutcome::AlreadyDone => "already-done",
            ItemOutcome::DoneEarlier => "done-earlier",
            ItemOutcome::Stale => "stale",
            ItemOutcome::Failed => "failed",
            ItemOutcome::Skipped => "skipped",
        }
    }
}

/// A failed or refused item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemError {
    pub item: String,
    pub key: String,
    pub action: String,
    pub outcome: ItemOutcome,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Genesys `ININ-Correlation-Id` of the failing call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

/// Latency percentiles of items, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Latency {
    pub fn from_samples(mut v: Vec<f64>) -> Latency {
        if v.is_empty() {
            return Latency::default();
        }
        v.sort_by(f64::total_cmp);
        let pct = |p: f64| {
            let i = ((v.len() as f64 - 1.0) * p).round() as usize;
            v[i.min(v.len() - 1)]
        };
        Latency {
            count: v.len() as u64,
            p50: pct(0.50),
            p90: pct(0.90),
            p99: pct(0.99),
            max: v[v.len() - 1],
        }
    }
}

/// API calls used against the minimum.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiCalls {
    /// Calls of the read that produced the plan (0 for a saved plan).
    pub reads: u64,
    /// Calls made by this apply (writes, plus re-reads after conflicts and retries).
    pub apply: u64,
    pub used: u64,
    /// Reads plus one call per planned write.
    pub minimum: u64,
    pub ratio: f64,
}

/// The report of one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub run_id: String,
    pub command: String,
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: u64,
    pub resumed: bool,
    /// Stopped before the end (SIGINT); `--resume` continues.
    pub interrupted: bool,
    /// action → outcome → count.
    pub counts: BTreeMap<String, BTreeMap<String, u64>>,
    pub errors: Vec<ItemError>,
    pub latency_ms: Latency,
    pub api_calls: ApiCalls,
}

impl Report {
    pub fn count(&mut self, action: &str, outcome: ItemOutcome) {
        *self
            .counts
            .entry(action.to_string())
            .or_default()
            .entry(outcome.as_str().to_string())
            .or_insert(0) += 1;
    }

    /// Items that failed or were refused (skipped optional steps do not count).
    pub fn failures(&self) -> usize {
        self.errors
            .iter()
            .filter(|e| e.outcome != ItemOutcome::Skipped)
            .count()
    }

    /// Writes made (items with outcome `applied`).
    pub fn applied(&self) -> u64 {
        self.counts.values().filter_map(|m| m.get("applied")).sum()
    }

    /// Human-readable text.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} run {}{}: {:.1} s{}",
            self.command,
            self.run_id,
            if self.resumed { " (resumed)" } else { "" },
            self.duration_ms as f64 / 1000.0,
            if self.interrupted {
                ", INTERRUPTED (continue with --resume)"
            } else {
                ""
            }
        );
        for (action, m) in &self.counts {
            let parts: Vec<String> = m.iter().map(|(o, n)| format!("{n} {o}")).collect();
            let _ = writeln!(out, "  {action:<12} {}", parts.join(", "));
        }
        let l = &self.latency_ms;
        let _ = writeln!(
            out,
            "  latency per item: p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} items)",
            l.p50, l.p90, l.p99, l.max, l.count
        );
        let a = &self.api_calls;
        let _ = writeln!(
            out,
            "  API calls: {} used ({} read + {} apply), minimum {}, ratio {:.3}",
            a.used, a.reads, a.apply, a.minimum, a.ratio
        );
        for e in &self.errors {
            let _ = writeln!(
                out,
                "  {} {} {} [{}]: {}{}",
                e.outcome.as_str(),
                e.action,
                e.key,
                e.item,
                e.message,
                e.correlation_id
                    .as_deref()
                    .filter(|c| !e.message.contains(*c))
                    .map(|c| format!(" (correlation id {c})"))
                    .unwrap_or_default()
            );
        }
        out
    }
}
