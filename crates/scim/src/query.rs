//! Query features (RFC 7644 3.4.2 and 3.9): `attributes`/`excludedAttributes` projection,
//! `sortBy`/`sortOrder`, `startIndex`/`count` paging and the `ListResponse` message.

use std::cmp::Ordering;

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{ScimError, ScimType};
use crate::filter::AttrPath;
use crate::resource::{Resource, get_ci};
use crate::schema::{AttrType, Attribute, LIST_RESPONSE, ResourceSchema, Returned};

// ---------------------------------------------------------------------------------------------
// Projection
// ---------------------------------------------------------------------------------------------

/// Which attributes a response carries (RFC 7644 3.9).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Projection {
    /// `attributes=`: return these (plus `returned: always`) and nothing else.
    pub attributes: Option<Vec<AttrPath>>,
    /// `excludedAttributes=`: return the defaults minus these.
    pub excluded: Vec<AttrPath>,
}

fn parse_list(list: &str) -> Result<Vec<AttrPath>, ScimError> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            // A bare extension URN (`urn:...:enterprise:2.0:User`) selects the whole extension;
            // AttrPath::parse splits it into urn `urn:...:2.0` + attr `User`, which
            // `Projection::selects` recognises.
            AttrPath::parse(s).map_err(|e| {
                ScimError::bad_request(
                    ScimType::InvalidValue,
                    format!("invalid attribute name '{s}': {}", e.detail),
                )
            })
        })
        .collect()
}

impl Projection {
    /// Builds a projection from the raw query parameters. When both are given, `attributes`
    /// wins (RFC 7644 3.4.2.5 says they are mutually exclusive; we do not fail the request).
    pub fn new(
        attributes: Option<&str>,
        excluded_attributes: Option<&str>,
    ) -> Result<Self, ScimError> {
        let attributes = match attributes {
            Some(a) if !a.trim().is_empty() => Some(parse_list(a)?),
            _ => None,
        };
        let excluded = match (excluded_attributes, &attributes) {
            (Some(e), None) => parse_list(e)?,
            _ => Vec::new(),
        };
        Ok(Self {
            attributes,
            excluded,
        })
    }

    /// Applies the projection. `returned: never` attributes are always removed, `always` ones
    /// always kept, `request` ones only when named in `attributes`, `default` ones unless
    /// excluded or not named when `attributes` is given. Unknown attributes count as `default`.
    pub fn apply(&self, resource: &Resource, schema: &ResourceSchema) -> Value {
        let mut out = Map::new();
        for (key, value) in resource.as_map() {
            if key.eq_ignore_ascii_case("schemas") {
                out.insert(key.clone(), value.clone());
                continue;
            }
            if let Some(ext) = schema.extension(key) {
                if let Value::Object(inner) = value {
                    let projected =
                        self.project_object(inner, schema, Some(ext.id.as_str()), |n| {
                            ext.attribute(n)
                        });
                    if !projected.is_empty() {
                        out.insert(key.clone(), Value::Object(projected));
                    }
                }
                continue;
            }
            if crate::resource::is_urn(key) && value.is_object() {
                // unknown extension: whole-object granularity
                if self.keep_unknown_extension(key) {
                    out.insert(key.clone(), value.clone());
                }
                continue;
            }
            let def = schema
                .core
                .attribute(key)
                .or_else(|| crate::schema::common_attribute(key));
            if let Some(v) = self.project_attr(key, value, def, None, schema) {
                out.insert(key.clone(), v);
            }
        }
        Value::Object(out)
    }

    fn project_object<'a>(
        &self,
        obj: &Map<String, Value>,
        schema: &ResourceSchema,
        ext: Option<&str>,
        lookup: impl Fn(&str) -> Option<&'a Attribute>,
    ) -> Map<String, Value> {
        let mut out = Map::new();
        for (k, v) in obj {
            if let Some(pv) = self.project_attr(k, v, lookup(k), ext, schema) {
                out.insert(k.clone(), pv);
            }
        }
        out
    }

    fn names(path: &AttrPath, attr: &str, ext: Option<&str>, schema: &ResourceSchema) -> bool {
        // `urn:...:enterprise:2.0:User` parses as urn `urn:...:2.0` + attr `User`.
        if let (Some(u), Some(e)) = (&path.urn, ext)
            && e.len() == u.len() + 1 + path.attr.len()
            && e.eq_ignore_ascii_case(&format!("{u}:{}", path.attr))
        {
            return true;
        }
        if !path.attr.eq_ignore_ascii_case(attr) {
            return false;
        }
        match (&path.urn, ext) {
            (None, _) => true,
            (Some(u), Some(e)) => u.eq_ignore_ascii_case(e),
            (Some(u), None) => u.eq_ignore_ascii_case(&schema.core.id),
        }
    }

    fn keep_unknown_extension(&self, urn: &str) -> bool {
        let named = |p: &AttrPath| {
            p.urn
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case(urn))
                || p.urn
                    .as_deref()
                    .is_some_and(|u| format!("{u}:{}", p.attr).eq_ignore_ascii_case(urn))
        };
        match &self.attributes {
            Some(list) => list.iter().any(named),
            None => !self
                .excluded
                .iter()
                .any(|p| named(p) && p.sub_attr.is_none()),
        }
    }

    fn project_attr(
        &self,
        name: &str,
        value: &Value,
        def: Option<&Attribute>,
        ext: Option<&str>,
        schema: &ResourceSchema,
    ) -> Option<Value> {
        let returned = def.map_or(Returned::Default, |d| d.returned);
        match returned {
            Returned::Never => return None,
            Returned::Always => return Some(value.clone()),
            _ => {}
        }
        match &self.attributes {
            Some(list) => {
                let hits: Vec<&AttrPath> = list
                    .iter()
                    .filter(|p| Self::names(p, name, ext, schema))
                    .collect();
                if hits.is_empty() {
                    return None;
                }
                // Whole attribute requested (or the whole extension)?
                if hits
                    .iter()
                    .any(|p| p.sub_attr.is_none() || !Self::attr_matches(p, name))
                {
                    return Some(self.strip_never(value, def));
                }
                let subs: Vec<&str> = hits.iter().filter_map(|p| p.sub_attr.as_deref()).collect();
                Some(Self::keep_subs(value, def, &subs))
            }
            None => {
                if returned == Returned::Request {
                    return None;
                }
                let hits: Vec<&AttrPath> = self
                    .excluded
                    .iter()
                    .filter(|p| Self::names(p, name, ext, schema))
                    .collect();
                if hits
                    .iter()
                    .any(|p| p.sub_attr.is_none() || !Self::attr_matches(p, name))
                {
                    return None;
                }
                let subs: Vec<&str> = hits.iter().filter_map(|p| p.sub_attr.as_deref()).collect();
                let v = self.strip_never(value, def);
                if subs.is_empty() {
                    Some(v)
                } else {
                    Some(Self::drop_subs(&v, def, &subs))
                }
            }
        }
    }

    fn attr_matches(p: &AttrPath, name: &str) -> bool {
        p.attr.eq_ignore_ascii_case(name)
    }

    /// Removes `returned: never` and (without `attributes`) `returned: request` sub-attributes.
    fn strip_never(&self, value: &Value, def: Option<&Attribute>) -> Value {
        let Some(def) = def.filter(|d| d.attr_type == AttrType::Complex) else {
            return value.clone();
        };
        retain_sub_keys(value, |k| {
            def.sub_attribute(k).is_none_or(|sd| {
                sd.returned != Returned::Never
                    && (sd.returned != Returned::Request || self.attributes.is_some())
            })
        })
    }

    fn keep_subs(value: &Value, def: Option<&Attribute>, subs: &[&str]) -> Value {
        let keep = |k: &str| {
            subs.iter().any(|s| s.eq_ignore_ascii_case(k))
                || def
                    .and_then(|d| d.sub_attribute(k))
                    .is_some_and(|sd| sd.returned == Returned::Always)
        };
        retain_sub_keys(value, keep)
    }

    fn drop_subs(value: &Value, def: Option<&Attribute>, subs: &[&str]) -> Value {
        let drop = |k: &str| {
            subs.iter().any(|s| s.eq_ignore_ascii_case(k))
                && !def
                    .and_then(|d| d.sub_attribute(k))
                    .is_some_and(|sd| sd.returned == Returned::Always)
        };
        retain_sub_keys(value, |k| !drop(k))
    }
}

/// `value` (an object, or an array of objects) with only the sub-attribute keys `keep` accepts;
/// anything else unchanged.
fn retain_sub_keys(value: &Value, keep: impl Fn(&str) -> bool) -> Value {
    let filter_obj = |m: &Map<String, Value>| -> Value {
        Value::Object(
            m.iter()
                .filter(|(k, _)| keep(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    };
    match value {
        Value::Object(m) => filter_obj(m),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|e| e.as_object().map_or_else(|| e.clone(), filter_obj))
                .collect(),
        ),
        v => v.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// Sorting
// ---------------------------------------------------------------------------------------------

/// `sortOrder`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    Ascending,
    Descending,
}

impl SortOrder {
    /// Parses `ascending`/`descending` (any case); `None` gives the default (ascending).
    pub fn parse(s: Option<&str>) -> Result<Self, ScimError> {
        match s.map(str::trim) {
            None | Some("") => Ok(SortOrder::Ascending),
            Some(s) if s.eq_ignore_ascii_case("ascending") => Ok(SortOrder::Ascending),
            Some(s) if s.eq_ignore_ascii_case("descending") => Ok(SortOrder::Descending),
            Some(s) => Err(ScimError::bad_request(
                ScimType::InvalidValue,
                format!("sortOrder must be 'ascending' or 'descending', not '{s}'"),
            )),
        }
    }
}

/// A typed sort key.
#[derive(Debug, Clone, PartialEq)]
enum SortKey {
    Time(OffsetDateTime),
    Num(f64),
    Bool(bool),
    Str(String),
}

impl SortKey {
    fn cmp(&self, other: &Self) -> Ordering {
        use SortKey::*;
        match (self, other) {
            (Time(a), Time(b)) => a.cmp(b),
            (Num(a), Num(b)) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
            (Bool(a), Bool(b)) => a.cmp(b),
            (Str(a), Str(b)) => a.cmp(b),
            (a, b) => a.rank().cmp(&b.rank()),
        }
    }
    fn rank(&self) -> u8 {
        match self {
            SortKey::Bool(_) => 0,
            SortKey::Num(_) => 1,
            SortKey::Time(_) => 2,
            SortKey::Str(_) => 3,
        }
    }
}

fn sort_key(
    resource: &Resource,
    path: &AttrPath,
    def: Option<&Attribute>,
    ext: Option<&str>,
) -> Option<SortKey> {
    let top = match ext {
        Some(u) => get_ci(resource.extension(u)?, &path.attr)?,
        None => resource.lookup(path.urn.as_deref(), &path.attr)?,
    };
    // Multi-valued: the primary value, else the first (RFC 7644 3.4.2.3).
    let item = match top {
        Value::Array(a) => a.iter().find(|e| is_primary(e)).or_else(|| a.first())?,
        v => v,
    };
    let leaf = match (&path.sub_attr, item) {
        (Some(s), Value::Object(m)) => get_ci(m, s)?,
        (None, Value::Object(m)) => get_ci(m, "value")?,
        (_, v) => v,
    };
    let case_exact = def.is_some_and(|d| d.case_exact);
    let ty = def.map(|d| d.attr_type);
    match leaf {
        Value::Bool(b) => Some(SortKey::Bool(*b)),
        Value::Number(n) => n.as_f64().map(SortKey::Num),
        Value::String(s) => {
            if ty == Some(AttrType::DateTime)
                && let Ok(t) = OffsetDateTime::parse(s, &Rfc3339)
            {
                return Some(SortKey::Time(t));
            }
            if matches!(ty, Some(AttrType::Decimal | AttrType::Integer))
                && let Ok(n) = s.trim().parse::<f64>()
            {
                return Some(SortKey::Num(n));
            }
            Some(SortKey::Str(if case_exact {
                s.clone()
            } else {
                s.to_lowercase()
            }))
        }
        _ => None,
    }
}

fn is_primary(v: &Value) -> bool {
    v.as_object()
        .and_then(|m| get_ci(m, "primary"))
        .and_then(Value::as_bool)
        == Some(true)
}

/// Sorts resources by `sort_by` (typed: strings honour `caseExact`, numbers numerically,
/// dateTimes as instants). Resources without a value sort last in ascending order and first
/// in descending order. The sort is stable.
pub fn sort_resources(
    resources: &mut [Resource],
    sort_by: &AttrPath,
    order: SortOrder,
    schema: &ResourceSchema,
) {
    let resolved = schema.resolve(sort_by);
    let def = resolved.map(|r| {
        let leaf = r.leaf();
        if leaf.attr_type == AttrType::Complex {
            leaf.sub_attribute("value").unwrap_or(leaf)
        } else {
            leaf
        }
    });
    let ext = resolved.and_then(|r| r.extension);
    let path = match resolved {
        Some(r) => AttrPath {
            urn: None,
            attr: r.attribute.name.clone(),
            sub_attr: r.sub_attribute.map(|s| s.name.clone()),
        },
        None => sort_by.clone(),
    };
    let mut keyed: Vec<(Option<SortKey>, Resource)> = resources
        .iter()
        .map(|r| (sort_key(r, &path, def, ext), r.clone()))
        .collect();
    keyed.sort_by(|(a, _), (b, _)| {
        let o = match (a, b) {
            (Some(a), Some(b)) => a.cmp(b),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        if order == SortOrder::Descending {
            o.reverse()
        } else {
            o
        }
    });
    for (slot, (_, r)) in resources.iter_mut().zip(keyed) {
        *slot = r;
    }
}

// ---------------------------------------------------------------------------------------------
// Paging
// ---------------------------------------------------------------------------------------------

/// Paging limits of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PagingConfig {
    /// `count` when the client sends none.
    pub default_count: usize,
    /// Larger `count` values are clamped to this.
    pub max_count: usize,
}

impl Default for PagingConfig {
    fn default() -> Self {
        Self {
            default_count: 100,
            max_count: 200,
        }
    }
}

/// A resolved page request: 1-based `start_index` and `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub start_index: usize,
    pub count: usize,
}

impl Paging {
    /// Resolves `startIndex`/`count` per RFC 7644 3.4.2.4: a `startIndex` below 1 means 1, a
    /// negative `count` means 0, `count` 0 returns only `totalResults`, a `count` above the
    /// maximum is clamped.
    pub fn new(start_index: Option<i64>, count: Option<i64>, cfg: PagingConfig) -> Self {
        let start_index = start_index.map_or(1, |s| usize::try_from(s.max(1)).unwrap_or(1));
        let count = match count {
            None => cfg.default_count.min(cfg.max_count),
            Some(c) if c <= 0 => 0,
            Some(c) => usize::try_from(c).unwrap_or(usize::MAX).min(cfg.max_count),
        };
        Self { start_index, count }
    }

    /// Parses the raw query values (`invalidValue` for non-integers).
    pub fn parse(
        start_index: Option<&str>,
        count: Option<&str>,
        cfg: PagingConfig,
    ) -> Result<Self, ScimError> {
        let num = |name: &str, v: Option<&str>| -> Result<Option<i64>, ScimError> {
            match v.map(str::trim) {
                None | Some("") => Ok(None),
                Some(s) => s.parse::<i64>().map(Some).map_err(|_| {
                    ScimError::bad_request(
                        ScimType::InvalidValue,
                        format!("{name} must be an integer, not '{s}'"),
                    )
                }),
            }
        };
        Ok(Self::new(
            num("startIndex", start_index)?,
            num("count", count)?,
            cfg,
        ))
    }

    /// The 0-based range of `total` items this page covers.
    pub fn range(&self, total: usize) -> std::ops::Range<usize> {
        let start = self.start_index.saturating_sub(1).min(total);
        let end = start.saturating_add(self.count).min(total);
        start..end
    }

    /// Takes this page out of `items`.
    pub fn page<T>(&self, items: Vec<T>) -> Vec<T> {
        let r = self.range(items.len());
        items
            .into_iter()
            .skip(r.start)
            .take(r.end - r.start)
            .collect()
    }
}

/// A `ListResponse` message (RFC 7644 3.4.2).
#[derive(Debug, Clone, PartialEq)]
pub struct ListResponse {
    pub total_results: usize,
    pub start_index: usize,
    pub resources: Vec<Value>,
}

impl ListResponse {
    /// The JSON body. `itemsPerPage` is the number of resources returned.
    pub fn to_json(&self) -> Value {
        json!({
            "schemas": [LIST_RESPONSE],
            "totalResults": self.total_results,
            "startIndex": self.start_index,
            "itemsPerPage": self.resources.len(),
            "Resources": self.resources,
        })
    }
}

/// The whole query pipeline over an in-memory collection: filter (already applied by the
/// caller or `None`), sort, page, project. Returns the `ListResponse`.
pub fn list_response(
    mut resources: Vec<Resource>,
    sort: Option<(&AttrPath, SortOrder)>,
    paging: Paging,
    projection: &Projection,
    schema: &ResourceSchema,
) -> ListResponse {
    if let Some((by, order)) = sort {
        sort_resources(&mut resources, by, order, schema);
    }
    let total_results = resources.len();
    let page = paging.page(resources);
    ListResponse {
        total_results,
        start_index: paging.start_index,
        resources: page.iter().map(|r| projection.apply(r, schema)).collect(),
    }
}
