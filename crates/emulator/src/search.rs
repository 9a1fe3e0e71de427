//! `POST …/search` criteria evaluation and the `q64` page tokens.

use std::io::{Read, Write};

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Criteria {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub group: Vec<Criteria>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_format: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SearchRequest {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    pub query: Vec<Criteria>,
    pub page_size: Option<i64>,
    pub page_number: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort_order: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort_by: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sort: Vec<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expand: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integration_presence_source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enforce_permissions: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub return_fields: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_type: Option<String>,
}

/// Types the emulator evaluates. REGEX and QUERY_STRING are refused with 400 (the emulator
/// has no Elasticsearch semantics for them; refusing is safer than guessing).
pub const USER_TYPES: &[&str] = &[
    "EXACT",
    "STARTS_WITH",
    "CONTAINS",
    "TERM",
    "TERMS",
    "REQUIRED_FIELDS",
    "MATCH_ALL",
    "RANGE",
    "LESS_THAN",
    "LESS_THAN_EQUAL_TO",
    "GREATER_THAN",
    "GREATER_THAN_EQUAL_TO",
];
pub const GROUP_TYPES: &[&str] = &[
    "EXACT",
    "STARTS_WITH",
    "CONTAINS",
    "TERM",
    "TERMS",
    "REQUIRED_FIELDS",
    "MATCH_ALL",
];

/// Validate criteria: known types, known fields (via `field_ok`), operators, values.
pub fn validate(
    list: &[Criteria],
    types: &[&str],
    field_ok: &dyn Fn(&str) -> bool,
    depth: usize,
) -> Result<(), ApiError> {
    if depth > 5 {
        return Err(ApiError::bad_request(
            "Search criteria are nested too deeply.",
        ));
    }
    for c in list {
        let kind = c
            .kind
            .as_deref()
            .ok_or_else(|| ApiError::invalid_value("type", "Search criteria type is required."))?;
        if !types.contains(&kind) {
            return Err(ApiError::invalid_value(
                "type",
                format!(
                    "Value [{kind}] is not valid for field type [type]. Allowable values are: {}",
                    types.join(", ")
                ),
            ));
        }
        if let Some(op) = &c.operator
            && !matches!(op.as_str(), "AND" | "OR" | "NOT")
        {
            return Err(ApiError::invalid_value(
                "operator",
                format!(
                    "Value [{op}] is not valid for field type [operator]. Allowable values are: AND, OR, NOT"
                ),
            ));
        }
        if !c.group.is_empty() {
            validate(&c.group, types, field_ok, depth + 1)?;
            continue;
        }
        if kind != "MATCH_ALL" {
            if c.fields.is_empty() {
                return Err(ApiError::invalid_value(
                    "fields",
                    "Search criteria fields are required.",
                ));
            }
            if let Some(f) = c.fields.iter().find(|f| !field_ok(f)) {
                return Err(ApiError::invalid_value(
                    "fields",
                    format!("Field [{f}] is not searchable."),
                ));
            }
        }
        let needs_value = !matches!(kind, "MATCH_ALL" | "REQUIRED_FIELDS" | "RANGE");
        if needs_value && c.value.is_none() && c.values.is_empty() {
            return Err(ApiError::invalid_value(
                "value",
                "Search criteria value or values is required.",
            ));
        }
        if kind == "RANGE" && c.start_value.is_none() && c.end_value.is_none() {
            return Err(ApiError::invalid_value(
                "startValue",
                "RANGE needs startValue and/or endValue.",
            ));
        }
    }
    Ok(())
}

/// Does any criterion (recursively) use `field`?
pub fn mentions(list: &[Criteria], field: &str) -> bool {
    list.iter()
        .any(|c| c.fields.iter().any(|f| f == field) || mentions(&c.group, field))
}

fn cmp_values(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        _ => a.to_lowercase().cmp(&b.to_lowercase()),
    }
}

fn one(c: &Criteria, get: &dyn Fn(&str) -> Vec<String>) -> bool {
    if !c.group.is_empty() {
        return eval(&c.group, get);
    }
    let kind = c.kind.as_deref().unwrap_or("");
    let mut wanted: Vec<String> = c.values.iter().map(|v| v.to_lowercase()).collect();
    if let Some(v) = &c.value {
        wanted.push(v.to_lowercase());
    }
    if kind == "MATCH_ALL" {
        return true;
    }
    if kind == "REQUIRED_FIELDS" {
        return c
            .fields
            .iter()
            .all(|f| get(f).iter().any(|v| !v.is_empty()));
    }
    c.fields.iter().any(|f| {
        get(f).iter().any(|actual| {
            let a = actual.to_lowercase();
            match kind {
                "EXACT" => wanted.contains(&a),
                "STARTS_WITH" => wanted.iter().any(|w| a.starts_with(w.as_str())),
                "CONTAINS" => wanted.iter().any(|w| a.contains(w.as_str())),
                "TERM" | "TERMS" => {
                    let tokens: Vec<&str> = a
                        .split(|ch: char| !ch.is_alphanumeric())
                        .filter(|t| !t.is_empty())
                        .collect();
                    wanted
                        .iter()
                        .any(|w| tokens.contains(&w.as_str()) || *w == a)
                }
                "RANGE" => {
                    c.start_value
                        .as_deref()
                        .is_none_or(|s| cmp_values(actual, s).is_ge())
                        && c.end_value
                            .as_deref()
                            .is_none_or(|e| cmp_values(actual, e).is_le())
                }
                "LESS_THAN" => wanted.iter().any(|w| cmp_values(actual, w).is_lt()),
                "LESS_THAN_EQUAL_TO" => wanted.iter().any(|w| cmp_values(actual, w).is_le()),
                "GREATER_THAN" => wanted.iter().any(|w| cmp_values(actual, w).is_gt()),
                "GREATER_THAN_EQUAL_TO" => wanted.iter().any(|w| cmp_values(actual, w).is_ge()),
                _ => false,
            }
        })
    })
}

/// AND criteria must all match, NOT criteria must not match, and when OR criteria exist at
/// least one of them must match (Elasticsearch must / must_not / should).
pub fn eval(list: &[Criteria], get: &dyn Fn(&str) -> Vec<String>) -> bool {
    let mut any_or = false;
    let mut or_hit = false;
    for c in list {
        match c.operator.as_deref().unwrap_or("AND") {
            "NOT" => {
                if one(c, get) {
                    return false;
                }
            }
            "OR" => {
                any_or = true;
                if !or_hit && one(c, get) {
                    or_hit = true;
                }
            }
            _ => {
                if !one(c, get) {
                    return false;
                }
            }
        }
    }
    !any_or || or_hit
}

/// gzip + URL-safe base64 of the query JSON, with `=` percent-encoded, as Genesys does.
pub fn encode_q64(req: &SearchRequest) -> String {
    let json = serde_json::to_vec(req).unwrap_or_default();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = enc.write_all(&json);
    let gz = enc.finish().unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE
        .encode(gz)
        .replace('=', "%3D")
}

/// The search replayed by `GET …/search?q64=…` (users and groups): the required `q64` parameter,
/// decoded.
pub fn request_from_query(q: &crate::util::Query) -> Result<SearchRequest, ApiError> {
    let q64 = q
        .get("q64")
        .ok_or_else(|| ApiError::invalid_value("q64", "q64 is required"))?;
    decode_q64(q64)
}

pub fn decode_q64(q64: &str) -> Result<SearchRequest, ApiError> {
    let bad = || ApiError::bad_request("The q64 value is not valid.");
    let trimmed = q64.trim().replace("%3D", "=").replace("%3d", "=");
    let raw = trimmed.trim_end_matches('=');
    let gz = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(raw))
        .map_err(|_| bad())?;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .take(1_000_000)
        .read_to_end(&mut out)
        .map_err(|_| bad())?;
    serde_json::from_slice(&out).map_err(|_| bad())
}
