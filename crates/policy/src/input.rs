//! Offline inputs for `gcprov policy check`: SCIM JSON (one resource, an array or a
//! ListResponse), NDJSON and CSV, and the report printed for them.

use crate::error::InputError;
use crate::path::{CompiledPath, get_ci};
use crate::schema::ResourceKind;
use crate::{Decision, EvalContext, Outcome, Policy, PolicyRef};
use gcprov_scim::filter::{CompValue, CompareOp, Filter};
use serde::Serialize;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The formats `policy check` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InputFormat {
    Json,
    Ndjson,
    Csv,
}

/// One resource read from an input file.
#[derive(Debug, Clone)]
pub struct Record {
    /// `file:line` (NDJSON, CSV), `file[index]` (JSON array / ListResponse) or `file` (one resource).
    pub location: String,
    pub value: Value,
}

/// Pick the format from the extension, else from the content.
pub fn detect_format(path: &Path, text: &str) -> InputFormat {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("csv") => InputFormat::Csv,
        Some("ndjson") | Some("jsonl") => InputFormat::Ndjson,
        Some("json") => InputFormat::Json,
        _ => match text.trim_start().chars().next() {
            Some('{') | Some('[') => InputFormat::Json,
            _ => InputFormat::Csv,
        },
    }
}

/// Read every record of one file.
pub fn read_records(path: &Path) -> Result<Vec<Record>, InputError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| InputError::Io {
        file: file.clone(),
        source,
    })?;
    parse_records(&file, &text, detect_format(path, &text))
}

/// Parse records from text; `file` is the name used in locations and errors.
pub fn parse_records(
    file: &str,
    text: &str,
    format: InputFormat,
) -> Result<Vec<Record>, InputError> {
    match format {
        InputFormat::Json => parse_json(file, text),
        InputFormat::Ndjson => parse_ndjson(file, text),
        InputFormat::Csv => parse_csv(file, text),
    }
}

fn parse_json(file: &str, text: &str) -> Result<Vec<Record>, InputError> {
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            // Several JSON objects one after another is NDJSON with a .json name.
            if e.to_string().starts_with("trailing characters")
                && text.trim_start().starts_with('{')
            {
                return parse_ndjson(file, text);
            }
            return Err(InputError::Parse {
                file: file.into(),
                line: e.line(),
                message: format!("malformed JSON: {e}"),
            });
        }
    };
    let items = |arr: &Vec<Value>, label: &str| -> Result<Vec<Record>, InputError> {
        arr.iter()
            .enumerate()
            .map(|(i, x)| {
                if x.is_object() {
                    Ok(Record {
                        location: format!("{file}{label}[{i}]"),
                        value: x.clone(),
                    })
                } else {
                    Err(InputError::Parse {
                        file: file.into(),
                        line: 1,
                        message: format!("{label}[{i}] is not a JSON object"),
                    })
                }
            })
            .collect()
    };
    match &v {
        Value::Array(arr) => items(arr, ""),
        Value::Object(_) => match get_ci(&v, "Resources") {
            Some(Value::Array(arr)) => items(arr, ":Resources"),
            Some(_) => Err(InputError::Parse {
                file: file.into(),
                line: 1,
                message: "'Resources' is not an array".into(),
            }),
            None => Ok(vec![Record {
                location: file.to_string(),
                value: v,
            }]),
        },
        _ => Err(InputError::Parse {
            file: file.into(),
            line: 1,
            message: "expected a SCIM resource, an array of resources or a ListResponse".into(),
        }),
    }
}

fn parse_ndjson(file: &str, text: &str) -> Result<Vec<Record>, InputError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).map_err(|e| InputError::Parse {
            file: file.into(),
            line: n,
            message: format!("malformed JSON line: {e}"),
        })?;
        if !v.is_object() {
            return Err(InputError::Parse {
                file: file.into(),
                line: n,
                message: "expected a JSON object (a SCIM resource)".into(),
            });
        }
        out.push(Record {
            location: format!("{file}:{n}"),
            value: v,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// CSV: headers are SCIM attribute paths, or one of the convenient names below.
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
enum Column {
    /// `[urn:]attr[.sub]` on a single-valued attribute.
    Single {
        urn: Option<String>,
        attr: String,
        sub: Option<String>,
    },
    /// `[urn:]attr[filter].sub` or `attr.sub` on a multi-valued attribute: the element matching
    /// the `eq` pairs (created when missing) gets `sub`.
    Multi {
        urn: Option<String>,
        attr: String,
        matchers: Vec<(String, Value)>,
        sub: Option<String>,
    },
    /// `;`-separated list into `attr[].key`.
    List { attr: String, key: &'static str },
}

const ENT: &str = crate::path::ENTERPRISE_USER;

fn convenience(h: &str) -> Option<Column> {
    let single = |urn: Option<&str>, attr: &str, sub: Option<&str>| Column::Single {
        urn: urn.map(str::to_string),
        attr: attr.to_string(),
        sub: sub.map(str::to_string),
    };
    let email = |ty: &str, primary: bool| {
        let mut matchers = vec![("type".to_string(), Value::String(ty.into()))];
        if primary {
            matchers.push(("primary".to_string(), Value::Bool(true)));
        }
        Column::Multi {
            urn: None,
            attr: "emails".into(),
            matchers,
            sub: Some("value".into()),
        }
    };
    Some(match h.to_ascii_lowercase().as_str() {
        "email" | "primaryemail" | "mail" => email("work", true),
        "workemail" => email("work", false),
        "department" => single(Some(ENT), "department", None),
        "costcenter" | "costcentre" => single(Some(ENT), "costCenter", None),
        "division" => single(Some(ENT), "division", None),
        "employeenumber" => single(Some(ENT), "employeeNumber", None),
        "organization" | "organisation" => single(Some(ENT), "organization", None),
        "manager" => single(Some(ENT), "manager", Some("value")),
        "givenname" | "firstname" => single(None, "name", Some("givenName")),
        "familyname" | "lastname" | "surname" => single(None, "name", Some("familyName")),
        "groups" => Column::List {
            attr: "groups".into(),
            key: "display",
        },
        "roles" => Column::List {
            attr: "roles".into(),
            key: "value",
        },
        _ => return None,
    })
}

fn column_for(h: &str) -> Result<Column, String> {
    if let Some(c) = convenience(h) {
        return Ok(c);
    }
    // Validate and resolve like a policy path, then split it into what the setter needs.
    let cp = CompiledPath::parse(h, ResourceKind::User)?;
    if !cp.multi_valued {
        return Ok(Column::Single {
            urn: cp.ext,
            attr: cp.attr,
            sub: cp.sub,
        });
    }
    let mut matchers = Vec::new();
    if let Some(f) = &cp.filter_ast {
        eq_pairs(f, &mut matchers)?;
    }
    Ok(Column::Multi {
        urn: cp.ext,
        attr: cp.attr,
        matchers,
        sub: cp.sub,
    })
}

fn eq_pairs(f: &Filter, out: &mut Vec<(String, Value)>) -> Result<(), String> {
    match f {
        Filter::And(a, b) => {
            eq_pairs(a, out)?;
            eq_pairs(b, out)
        }
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } => {
            let v = match value {
                CompValue::String(s) => Value::String(s.clone()),
                CompValue::Bool(b) => Value::Bool(*b),
                CompValue::Number(n) => Value::Number(n.clone()),
                CompValue::Null => {
                    return Err("a CSV column filter cannot compare with null".into());
                }
            };
            out.push((path.attr.clone(), v));
            Ok(())
        }
        _ => Err("a CSV column filter may only use 'eq' joined by 'and'".into()),
    }
}

fn cell_value(attr: &str, sub: Option<&str>, cell: &str) -> Value {
    let name = sub.unwrap_or(attr);
    let boolish = ["active", "primary"]
        .iter()
        .any(|b| b.eq_ignore_ascii_case(name));
    if boolish {
        if cell.eq_ignore_ascii_case("true") {
            return Value::Bool(true);
        }
        if cell.eq_ignore_ascii_case("false") {
            return Value::Bool(false);
        }
    }
    Value::String(cell.to_string())
}

fn obj_entry<'a>(obj: &'a mut Map<String, Value>, key: &str, empty: Value) -> &'a mut Value {
    let existing = obj.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned();
    let k = existing.unwrap_or_else(|| key.to_string());
    let slot = obj.entry(k).or_insert(empty.clone());
    if std::mem::discriminant(slot) != std::mem::discriminant(&empty) {
        *slot = empty;
    }
    slot
}

fn set(resource: &mut Map<String, Value>, col: &Column, cell: &str) {
    match col {
        Column::Single { urn, attr, sub } => {
            let Some(target) = target_map(resource, urn) else {
                return;
            };
            let v = cell_value(attr, sub.as_deref(), cell);
            match sub {
                None => {
                    *obj_entry(target, attr, Value::Null) = v;
                }
                Some(s) => {
                    if let Value::Object(m) = obj_entry(target, attr, Value::Object(Map::new())) {
                        *obj_entry(m, s, Value::Null) = v;
                    }
                }
            }
        }
        Column::Multi {
            urn,
            attr,
            matchers,
            sub,
        } => {
            let Some(target) = target_map(resource, urn) else {
                return;
            };
            if let Value::Array(items) = obj_entry(target, attr, Value::Array(Vec::new())) {
                let pos = items.iter().position(|e| {
                    matchers.iter().all(|(k, want)| match (get_ci(e, k), want) {
                        (Some(Value::String(a)), Value::String(b)) => a.eq_ignore_ascii_case(b),
                        (Some(a), b) => a == b,
                        (None, _) => false,
                    })
                });
                let idx = match pos {
                    Some(i) => i,
                    None => {
                        let mut m = Map::new();
                        for (k, v) in matchers {
                            m.insert(k.clone(), v.clone());
                        }
                        items.push(Value::Object(m));
                        items.len() - 1
                    }
                };
                if let Some(Value::Object(m)) = items.get_mut(idx) {
                    let key = sub.clone().unwrap_or_else(|| "value".to_string());
                    m.insert(key.clone(), cell_value(attr, Some(&key), cell));
                }
            }
        }
        Column::List { attr, key } => {
            if let Value::Array(items) = obj_entry(resource, attr, Value::Array(Vec::new())) {
                for part in cell.split(';').map(str::trim).filter(|p| !p.is_empty()) {
                    let mut m = Map::new();
                    m.insert((*key).to_string(), Value::String(part.to_string()));
                    items.push(Value::Object(m));
                }
            }
        }
    }
}

fn target_map<'a>(
    resource: &'a mut Map<String, Value>,
    urn: &Option<String>,
) -> Option<&'a mut Map<String, Value>> {
    match urn {
        Some(u) if !u.eq_ignore_ascii_case(crate::path::CORE_USER) => {
            let key = resource
                .keys()
                .find(|k| k.eq_ignore_ascii_case(u))
                .cloned()
                .unwrap_or_else(|| u.clone());
            let slot = resource
                .entry(key)
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            slot.as_object_mut()
        }
        _ => Some(resource),
    }
}

fn parse_csv(file: &str, text: &str) -> Result<Vec<Record>, InputError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = rdr
        .headers()
        .map_err(|e| InputError::Parse {
            file: file.into(),
            line: 1,
            message: format!("bad CSV header: {e}"),
        })?
        .clone();
    let mut cols = Vec::new();
    for h in headers.iter() {
        let h = h.trim_start_matches('\u{feff}');
        let c = column_for(h).map_err(|e| InputError::Parse {
            file: file.into(),
            line: 1,
            message: format!("unknown CSV column '{h}': {e} (use a SCIM attribute path or one of userName, email, department, costCenter, division, givenName, familyName, groups, roles...)"),
        })?;
        cols.push(c);
    }
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map(|p| p.line() as usize).unwrap_or(0);
            InputError::Parse {
                file: file.into(),
                line,
                message: format!("bad CSV record: {e}"),
            }
        })?;
        let line = rec.position().map(|p| p.line() as usize).unwrap_or(0);
        let mut m = Map::new();
        m.insert(
            "schemas".into(),
            serde_json::json!([crate::path::CORE_USER]),
        );
        for (col, cell) in cols.iter().zip(rec.iter()) {
            if !cell.is_empty() {
                set(&mut m, col, cell);
            }
        }
        out.push(Record {
            location: format!("{file}:{line}"),
            value: Value::Object(m),
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// The report.
// ---------------------------------------------------------------------------------------------

/// The decision for one record.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordReport {
    pub location: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(flatten)]
    pub decision: Decision,
    /// Who created the resource, when a scan looked it up (Genesys audits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<CreatedBy>,
}

/// The creator of a resource according to the platform's audit trail.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedBy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_id: Option<String>,
}

/// Counts over all records.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub records: usize,
    pub accepted: usize,
    pub accepted_with_warnings: usize,
    pub rejected: usize,
}

/// What `gcprov policy check` prints (`--format json` serialises this).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckReport {
    pub policy: PolicyRef,
    pub records: Vec<RecordReport>,
    pub summary: Summary,
}

impl CheckReport {
    /// True when at least one `enforce` rule failed: the CLI then exits non-zero.
    pub fn has_rejections(&self) -> bool {
        self.summary.rejected > 0
    }

    /// Human-readable: one block per record with violations, then a summary line.
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        for r in &self.records {
            if r.decision.outcome == Outcome::Accepted {
                continue;
            }
            s.push_str(&format!(
                "{} {}: {}\n",
                r.location,
                r.user_name.as_deref().unwrap_or("(no userName)"),
                r.decision.outcome.as_str()
            ));
            if let Some(c) = &r.created_by {
                s.push_str(&format!(
                    "  created by user {} client {} at {}\n",
                    c.user_id.as_deref().unwrap_or("-"),
                    c.client_id.as_deref().unwrap_or("-"),
                    c.at.as_deref().unwrap_or("-")
                ));
            }
            for v in r.decision.all() {
                s.push_str(&format!(
                    "  {:<7} {} {}: {} [rule {}]\n",
                    v.mode.as_str(),
                    v.code,
                    v.path,
                    v.message,
                    v.rule
                ));
            }
        }
        let m = &self.summary;
        s.push_str(&format!(
            "{} records: {} accepted, {} accepted with warnings, {} rejected\n",
            m.records, m.accepted, m.accepted_with_warnings, m.rejected
        ));
        s
    }
}

/// Evaluate records (already read) against a policy.
pub fn check_records(policy: &Policy, records: &[Record], ctx: &EvalContext<'_>) -> CheckReport {
    let mut summary = Summary::default();
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        let decision = policy.evaluate_with(&r.value, ctx);
        summary.records += 1;
        match decision.outcome {
            Outcome::Accepted => summary.accepted += 1,
            Outcome::AcceptedWithWarnings => summary.accepted_with_warnings += 1,
            Outcome::Rejected => summary.rejected += 1,
        }
        let user_name = get_ci(&r.value, "userName")
            .or_else(|| get_ci(&r.value, "displayName"))
            .and_then(Value::as_str)
            .map(str::to_string);
        out.push(RecordReport {
            location: r.location.clone(),
            user_name,
            decision,
            created_by: None,
        });
    }
    CheckReport {
        policy: policy.reference(),
        records: out,
        summary,
    }
}

/// Read every input file and evaluate every record: the library side of `gcprov policy check`.
pub fn check_files(
    policy: &Policy,
    files: &[PathBuf],
    ctx: &EvalContext<'_>,
) -> Result<CheckReport, InputError> {
    let mut records = Vec::new();
    for f in files {
        records.extend(read_records(f)?);
    }
    Ok(check_records(policy, &records, ctx))
}
