//! Small helpers shared by the handlers: query strings, JSON bodies, dates, paging envelopes.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::error::ApiError;

/// A parsed query string keeping repeated keys (`id=a&id=b`), as Genesys' "multi" format.
#[derive(Debug, Default, Clone)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        Self(
            raw.map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default(),
        )
    }
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    /// All values of a key; comma-separated values are split too.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .flat_map(|(_, v)| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect::<Vec<_>>()
            })
            .collect()
    }
    pub fn int(&self, key: &str, default: i64) -> Result<i64, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(default),
            Some(v) => v.parse().map_err(|_| {
                ApiError::invalid_value(
                    key,
                    format!("Value [{v}] is not valid for field type [Integer]."),
                )
            }),
        }
    }
}

/// Page parameters of Platform API listings.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub size: usize,
    pub number: usize,
}

impl Page {
    /// `pageSize` (default 25) and `pageNumber` (default 1). Sizes above `max` are rejected:
    /// Genesys does not publish its maximum; 500 is what Genesys' own Terraform exporter uses,
    /// so the emulator conservatively refuses anything larger.
    pub fn from_query(q: &Query, max: usize) -> Result<Self, ApiError> {
        let size = q.int("pageSize", 25)?;
        let number = q.int("pageNumber", 1)?;
        Self::check(size, number, max)
    }
    pub fn check(size: i64, number: i64, max: usize) -> Result<Self, ApiError> {
        if size < 1 || size as usize > max {
            return Err(ApiError::invalid_value(
                "pageSize",
                format!("pageSize must be between 1 and {max}"),
            ));
        }
        if number < 1 {
            return Err(ApiError::invalid_value(
                "pageNumber",
                "pageNumber must be at least 1",
            ));
        }
        Ok(Self {
            size: size as usize,
            number: number as usize,
        })
    }
    pub fn slice<T: Clone>(&self, items: &[T]) -> Vec<T> {
        let start = (self.number - 1).saturating_mul(self.size);
        items.iter().skip(start).take(self.size).cloned().collect()
    }
    pub fn page_count(&self, total: usize) -> usize {
        total.div_ceil(self.size)
    }
}

/// The `…EntityListing` envelope; `extra` is appended to the URIs (e.g. `&state=any`).
pub fn listing(path: &str, extra: &str, page: Page, total: usize, entities: Vec<Value>) -> Value {
    let page_count = page.page_count(total);
    let uri = |n: usize| format!("{path}?pageSize={}&pageNumber={n}{extra}", page.size);
    let mut v = json!({
        "entities": entities,
        "pageSize": page.size,
        "pageNumber": page.number,
        "total": total,
        "firstUri": uri(1),
        "selfUri": uri(page.number),
        "lastUri": uri(page_count.max(1)),
        "pageCount": page_count,
    });
    if let Some(m) = v.as_object_mut() {
        if page.number < page_count {
            m.insert("nextUri".into(), Value::String(uri(page.number + 1)));
        }
        if page.number > 1 {
            m.insert("previousUri".into(), Value::String(uri(page.number - 1)));
        }
    }
    v
}

/// Parse a JSON body into `T`, answering 400 `bad.request` on malformed input.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request("A request body is required."));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "The request could not be understood by the server due to malformed syntax: {e}"
        ))
    })
}

pub fn ok(value: Value) -> Response {
    (StatusCode::OK, axum::Json(value)).into_response()
}

pub fn status_ok(status: StatusCode, value: Value) -> Response {
    (status, axum::Json(value)).into_response()
}

pub fn empty(status: StatusCode) -> Response {
    status.into_response()
}

pub fn scim_json(status: StatusCode, value: &Value) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/scim+json"),
    );
    resp
}

/// ISO-8601 UTC with milliseconds, as Genesys formats dates.
pub fn iso(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&f).unwrap_or_default()
}

pub fn parse_iso(s: &str) -> Option<i64> {
    time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}

pub fn parse_uuid(s: &str) -> Option<uuid::Uuid> {
    uuid::Uuid::parse_str(s).ok()
}
