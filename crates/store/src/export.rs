//! Writing audit entries as JSON lines or CSV (used by `gcprov audit export`).

use std::io::Write;

use crate::audit::{AuditEntry, canonical_json};
use crate::error::{Result, StoreError};

/// Output format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    Csv,
}

impl std::str::FromStr for Format {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "jsonl" => Ok(Format::Jsonl),
            "csv" => Ok(Format::Csv),
            other => Err(StoreError::Invalid(format!(
                "unknown format `{other}` (jsonl, csv)"
            ))),
        }
    }
}

/// The header row of CSV exports.
pub const CSV_HEADER: &[&str] = &[
    "seq",
    "time",
    "actor",
    "action",
    "targets",
    "request_id",
    "correlation_ids",
    "outcome",
    "detail",
    "prev_hash",
    "hash",
];

/// Writes entries in one format; call [`Exporter::write`] per page, then [`Exporter::finish`].
pub struct Exporter<W: Write> {
    format: Format,
    csv: Option<csv::Writer<W>>,
    raw: Option<W>,
}

fn io(e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(e.to_string())
}

impl<W: Write> Exporter<W> {
    pub fn new(format: Format, out: W) -> Result<Self> {
        match format {
            Format::Jsonl => Ok(Exporter {
                format,
                csv: None,
                raw: Some(out),
            }),
            Format::Csv => {
                let mut w = csv::Writer::from_writer(out);
                w.write_record(CSV_HEADER).map_err(io)?;
                Ok(Exporter {
                    format,
                    csv: Some(w),
                    raw: None,
                })
            }
        }
    }

    pub fn write(&mut self, e: &AuditEntry) -> Result<()> {
        match (self.format, self.csv.as_mut(), self.raw.as_mut()) {
            (Format::Jsonl, _, Some(w)) => {
                let mut v = serde_json::to_value(e)?;
                if let Some(obj) = v.as_object_mut() {
                    obj.insert("time".into(), serde_json::Value::String(e.time_rfc3339()));
                }
                writeln!(w, "{}", serde_json::to_string(&v)?).map_err(io)
            }
            (Format::Csv, Some(w), _) => w
                .write_record([
                    e.seq.to_string(),
                    e.time_rfc3339(),
                    e.actor.clone(),
                    e.action.clone(),
                    e.targets.join(" "),
                    e.request_id.clone().unwrap_or_default(),
                    e.correlation_ids.join(" "),
                    e.outcome.clone(),
                    canonical_json(&e.detail),
                    e.prev_hash.clone(),
                    e.hash.clone(),
                ])
                .map_err(io),
            _ => Err(StoreError::Invalid("exporter misconfigured".into())),
        }
    }

    pub fn finish(self) -> Result<()> {
        if let Some(mut w) = self.csv {
            w.flush().map_err(io)?;
        }
        if let Some(mut w) = self.raw {
            w.flush().map_err(io)?;
        }
        Ok(())
    }
}
