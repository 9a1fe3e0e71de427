//! PATCH (RFC 7644 3.5.2), PUT (3.5.1) and POST (3.3) body handling.
//!
//! [`PatchRequest::from_json`] parses a `PatchOp` message; [`PatchRequest::apply`] applies it to
//! a *copy* of the resource and returns the new resource, so a failing operation leaves the
//! caller's resource untouched (all or nothing). [`replace_resource`] implements PUT and
//! [`prepare_create`] cleans a POST body.
//!
//! Tolerated identity-provider shapes (see `../shared/reference/idp-requests.md`):
//! - `op` in any case (`"Replace"`, `"Add"`, `"Remove"`), `Operations` in any case, a missing
//!   `schemas` member (Entra's and Okta's group examples omit it);
//! - `"True"`/`"False"` strings for boolean attributes;
//! - null members (`"$ref": null`) mean "unassigned" and are dropped;
//! - `remove` with a `value` array removes the listed elements (matched by their `value`);
//! - `add` on a single-valued attribute replaces it;
//! - a one-element array for a single-valued complex attribute (Entra's `manager`), and a bare
//!   value for a complex attribute with a `value` sub-attribute (`"manager": "id"` means
//!   `{"value": "id"}`);
//! - path-less operations whose `value` keys are paths (`name.givenName`,
//!   `urn:...:enterprise:2.0:User:employeeNumber`) or extension URNs;
//! - read-only attributes (`id`, `meta`, `groups`) inside path-less values or PUT bodies are
//!   ignored, not rejected (an explicit `path` to a read-only attribute is a `mutability` error);
//! - `add`/`replace` on `emails[type eq "work"].value` when no element matches creates the
//!   element `{"type": "work", "value": ...}` (Entra relies on this; the filter must be a
//!   conjunction of `eq` comparisons, otherwise the result is `noTarget`).

use std::fmt;

use serde_json::{Map, Value};

use crate::error::{ScimError, ScimType};
use crate::eval::CompiledFilter;
use crate::filter::{AttrPath, CompValue, CompareOp, Filter, ParseOptions, Parser};
use crate::resource::{Resource, get_ci, get_ci_mut, is_urn, key_ci, remove_ci};
use crate::schema::{AttrType, Attribute, Mutability, PATCH_OP, ResourceSchema};

/// The operation kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PatchOpKind {
    Add,
    Replace,
    Remove,
}

impl PatchOpKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PatchOpKind::Add => "add",
            PatchOpKind::Replace => "replace",
            PatchOpKind::Remove => "remove",
        }
    }
}

/// A PATCH path: `attrPath`, `attrPath[valFilter]` or `attrPath[valFilter].subAttr`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    /// The value filter inside `[...]`.
    pub filter: Option<Filter>,
    /// The sub-attribute after `]`.
    pub value_sub_attr: Option<String>,
}

impl PatchPath {
    /// Parses a PATCH path. Errors are `invalidPath` with the position.
    pub fn parse(input: &str) -> Result<Self, ScimError> {
        let to_path_err = |e: ScimError| {
            ScimError::bad_request(
                ScimType::InvalidPath,
                e.detail.replacen("invalid filter", "invalid path", 1),
            )
        };
        let mut p = Parser::new(input, ParseOptions::default());
        p.skip_ws();
        let attr = p.attr_path().map_err(to_path_err)?;
        let mut filter = None;
        let mut value_sub_attr = None;
        if p.peek() == Some(b'[') {
            if attr.sub_attr.is_some() {
                return Err(to_path_err(
                    p.error("a multi-valued attribute name before '['"),
                ));
            }
            let (f, _) = p.bracket_filter(0).map_err(to_path_err)?;
            filter = Some(f);
            if p.peek() == Some(b'.') {
                p.pos += 1;
                let start = p.pos;
                let sub = p.attr_path().map_err(to_path_err)?;
                if sub.urn.is_some() || sub.sub_attr.is_some() {
                    return Err(to_path_err(p.error_at(start, "a sub-attribute name")));
                }
                value_sub_attr = Some(sub.attr);
            }
        }
        p.skip_ws();
        if !p.at_end() {
            return Err(to_path_err(p.error("end of path")));
        }
        Ok(Self {
            attr,
            filter,
            value_sub_attr,
        })
    }
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr)?;
        if let Some(filter) = &self.filter {
            write!(f, "[{filter}]")?;
        }
        if let Some(sub) = &self.value_sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// One PATCH operation.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    pub op: PatchOpKind,
    pub path: Option<PatchPath>,
    /// The raw path text (kept for error messages and whole-extension paths).
    pub path_text: Option<String>,
    pub value: Option<Value>,
}

/// A parsed `PatchOp` message.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchRequest {
    pub operations: Vec<PatchOperation>,
}

fn syntax(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::InvalidSyntax, detail)
}
fn invalid_value(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::InvalidValue, detail)
}
fn invalid_path(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::InvalidPath, detail)
}
fn no_target(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::NoTarget, detail)
}
fn mutability(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::Mutability, detail)
}

impl PatchRequest {
    /// Parses a `PatchOp` JSON body.
    pub fn from_json(body: &Value) -> Result<Self, ScimError> {
        let obj = body
            .as_object()
            .ok_or_else(|| syntax("a PatchOp body must be a JSON object"))?;
        if let Some(schemas) = get_ci(obj, "schemas") {
            let ok = schemas.as_array().is_some_and(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .any(|s| s.eq_ignore_ascii_case(PATCH_OP))
            });
            if !ok {
                return Err(syntax(format!("'schemas' must contain \"{PATCH_OP}\"")));
            }
        }
        let ops = get_ci(obj, "Operations")
            .and_then(Value::as_array)
            .ok_or_else(|| syntax("a PatchOp body needs an 'Operations' array"))?;
        if ops.is_empty() {
            return Err(syntax("'Operations' must contain at least one operation"));
        }
        let mut operations = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            operations.push(Self::parse_op(i, op)?);
        }
        Ok(Self { operations })
    }

    /// Parses a `PatchOp` body from bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, ScimError> {
        let v: Value =
            serde_json::from_slice(bytes).map_err(|e| syntax(format!("malformed JSON: {e}")))?;
        Self::from_json(&v)
    }

    fn parse_op(i: usize, op: &Value) -> Result<PatchOperation, ScimError> {
        let n = i + 1;
        let obj = op
            .as_object()
            .ok_or_else(|| syntax(format!("operation {n} must be a JSON object")))?;
        let kind = match get_ci(obj, "op").and_then(Value::as_str) {
            Some(s) if s.eq_ignore_ascii_case("add") => PatchOpKind::Add,
            Some(s) if s.eq_ignore_ascii_case("replace") => PatchOpKind::Replace,
            Some(s) if s.eq_ignore_ascii_case("remove") => PatchOpKind::Remove,
            _ => {
                return Err(syntax(format!(
                    "operation {n}: 'op' must be \"add\", \"replace\" or \"remove\""
                )));
            }
        };
        let path_text = match get_ci(obj, "path") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(s.trim().to_string()),
            Some(_) => {
                return Err(invalid_path(format!(
                    "operation {n}: 'path' must be a string"
                )));
            }
        };
        let path = match &path_text {
            Some(t) => Some(
                PatchPath::parse(t)
                    .map_err(|e| invalid_path(format!("operation {n}: {}", e.detail)))?,
            ),
            None => None,
        };
        let value = get_ci(obj, "value").cloned();
        match kind {
            PatchOpKind::Remove if path.is_none() => {
                return Err(no_target(format!(
                    "operation {n}: 'remove' requires a 'path'"
                )));
            }
            PatchOpKind::Add | PatchOpKind::Replace if value.is_none() => {
                return Err(invalid_value(format!(
                    "operation {n}: '{}' requires a 'value'",
                    kind.as_str()
                )));
            }
            _ => {}
        }
        Ok(PatchOperation {
            op: kind,
            path,
            path_text,
            value,
        })
    }

    /// Applies the operations, in order, to a copy of `resource`. On success returns the new
    /// resource; on the first failing operation returns its error and `resource` is unchanged.
    pub fn apply(
        &self,
        resource: &Resource,
        schema: &ResourceSchema,
    ) -> Result<Resource, ScimError> {
        let mut work = resource.clone();
        for (i, op) in self.operations.iter().enumerate() {
            apply_op(&mut work, op, schema).map_err(|e| ScimError {
                detail: format!("operation {}: {}", i + 1, e.detail),
                ..e
            })?;
        }
        // Do not let a PATCH make a valid resource invalid (e.g. a routing skill without name).
        if let Err(e) = check_required_present(&work, schema)
            && check_required_present(resource, schema).is_ok()
        {
            return Err(ScimError {
                detail: format!("after all operations: {}", e.detail),
                ..e
            });
        }
        Ok(work)
    }
}

/// Parses and applies a PATCH body in one step.
pub fn apply_patch(
    resource: &Resource,
    body: &Value,
    schema: &ResourceSchema,
) -> Result<Resource, ScimError> {
    PatchRequest::from_json(body)?.apply(resource, schema)
}

// ---------------------------------------------------------------------------------------------
// Targets and value normalisation
// ---------------------------------------------------------------------------------------------

/// A resolved attribute location.
#[derive(Debug, Clone)]
struct Target<'s> {
    /// Extension object key, or `None` for top-level.
    ext: Option<String>,
    attr: String,
    def: Option<&'s Attribute>,
    sub: Option<String>,
    sub_def: Option<&'s Attribute>,
}

impl Target<'_> {
    fn display(&self) -> String {
        let mut s = String::new();
        if let Some(e) = &self.ext {
            s.push_str(e);
            s.push(':');
        }
        s.push_str(&self.attr);
        if let Some(sub) = &self.sub {
            s.push('.');
            s.push_str(sub);
        }
        s
    }
    fn is_multi(&self, current: Option<&Value>) -> bool {
        match self.def {
            Some(d) => d.multi_valued,
            None => matches!(current, Some(Value::Array(_))),
        }
    }
}

fn resolve<'s>(
    schema: &'s ResourceSchema,
    urn: Option<&str>,
    attr: &str,
    sub: Option<&str>,
) -> Result<Target<'s>, ScimError> {
    if let Some(r) = schema.resolve_parts(urn, attr, sub) {
        return Ok(Target {
            ext: r.extension.map(str::to_string),
            attr: r.attribute.name.clone(),
            def: Some(r.attribute),
            sub: r.sub_attribute.map(|s| s.name.clone()),
            sub_def: r.sub_attribute,
        });
    }
    match urn {
        Some(u) if !schema.knows_schema(u) => Ok(Target {
            ext: Some(u.to_string()),
            attr: attr.to_string(),
            def: None,
            sub: sub.map(str::to_string),
            sub_def: None,
        }),
        _ => {
            let mut name = attr.to_string();
            if let Some(s) = sub {
                name = format!("{name}.{s}");
            }
            Err(invalid_path(format!(
                "'{name}' is not an attribute of the {} schema",
                schema.resource_type.name
            )))
        }
    }
}

/// Drops null members recursively (`"$ref": null` means unassigned).
fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.into_iter()
                .filter(|v| !v.is_null())
                .map(strip_nulls)
                .collect(),
        ),
        v => v,
    }
}

/// Checks and coerces a scalar for `def`.
fn coerce_scalar(def: &Attribute, v: Value, name: &str) -> Result<Value, ScimError> {
    let bad = |what: &str| invalid_value(format!("'{name}' must be {what}"));
    match def.attr_type {
        AttrType::Boolean => match v {
            Value::Bool(_) => Ok(v),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            _ => Err(bad("a boolean")),
        },
        AttrType::String | AttrType::Reference | AttrType::Binary => match v {
            Value::String(_) => Ok(v),
            Value::Number(n) => Ok(Value::String(n.to_string())),
            _ => Err(bad("a string")),
        },
        AttrType::DateTime => match &v {
            Value::String(s)
                if time::OffsetDateTime::parse(
                    s,
                    &time::format_description::well_known::Rfc3339,
                )
                .is_ok() =>
            {
                Ok(v)
            }
            _ => Err(bad("an RFC 3339 dateTime string")),
        },
        AttrType::Integer => match &v {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(v),
            Value::String(s) => s
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| bad("an integer")),
            _ => Err(bad("an integer")),
        },
        AttrType::Decimal => match &v {
            Value::Number(_) => Ok(v),
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| bad("a number")),
            _ => Err(bad("a number")),
        },
        AttrType::Complex => match v {
            Value::Object(m) => normalize_object(def, m, name).map(Value::Object),
            // A bare value for a complex attribute with a `value` sub-attribute (Entra's
            // manager as a string, role names as strings) means `{"value": ...}`.
            v @ (Value::String(_) | Value::Number(_) | Value::Bool(_)) => {
                match def.sub_attribute("value") {
                    Some(vd) => {
                        let v = coerce_scalar(vd, v, &format!("{name}.value"))?;
                        let mut m = Map::new();
                        m.insert(vd.name.clone(), v);
                        Ok(Value::Object(m))
                    }
                    None => Err(bad("a JSON object")),
                }
            }
            _ => Err(bad("a JSON object")),
        },
    }
}

/// Normalises a complex value: sub-attributes coerced, read-only sub-attributes dropped,
/// unknown sub-attributes kept.
fn normalize_object(
    def: &Attribute,
    m: Map<String, Value>,
    name: &str,
) -> Result<Map<String, Value>, ScimError> {
    let mut out = Map::new();
    for (k, v) in m {
        if v.is_null() {
            continue;
        }
        match def.sub_attribute(&k) {
            Some(sd) if sd.mutability == Mutability::ReadOnly => {}
            Some(sd) => {
                let v = coerce_scalar(sd, v, &format!("{name}.{}", sd.name))?;
                out.insert(sd.name.clone(), v);
            }
            None => {
                out.insert(k, v);
            }
        }
    }
    Ok(out)
}

/// Normalises a value for an attribute: nulls stripped, types coerced, the single/multi shape
/// fixed (a single value for a multi-valued attribute is wrapped, a one-element array for a
/// single-valued complex attribute is unwrapped). Returns `Null` for "no value".
fn normalize(def: Option<&Attribute>, v: Value, name: &str) -> Result<Value, ScimError> {
    let v = strip_nulls(v);
    let Some(def) = def else { return Ok(v) };
    if v.is_null() {
        return Ok(Value::Null);
    }
    if def.multi_valued {
        let items = match v {
            Value::Array(a) => a,
            other => vec![other],
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            out.push(coerce_scalar(def, item, name)?);
        }
        return Ok(Value::Array(out));
    }
    match v {
        Value::Array(mut a) if def.attr_type == AttrType::Complex || a.len() <= 1 => {
            match a.len() {
                0 => Ok(Value::Null),
                1 => coerce_scalar(def, a.remove(0), name),
                _ => Err(invalid_value(format!("'{name}' is single-valued"))),
            }
        }
        Value::Array(_) => Err(invalid_value(format!("'{name}' is single-valued"))),
        other => coerce_scalar(def, other, name),
    }
}

// ---------------------------------------------------------------------------------------------
// Application
// ---------------------------------------------------------------------------------------------

fn container_mut<'a>(
    res: &'a mut Resource,
    ext: Option<&str>,
    create: bool,
) -> Option<&'a mut Map<String, Value>> {
    match ext {
        None => Some(res.as_map_mut()),
        Some(urn) => {
            if create {
                res.add_schema(urn);
                let map = res.as_map_mut();
                let key = key_ci(map, urn).unwrap_or_else(|| urn.to_string());
                let entry = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
                if !entry.is_object() {
                    *entry = Value::Object(Map::new());
                }
                entry.as_object_mut()
            } else {
                get_ci_mut(res.as_map_mut(), urn).and_then(Value::as_object_mut)
            }
        }
    }
}

fn current<'a>(res: &'a Resource, t: &Target<'_>) -> Option<&'a Value> {
    let map = match &t.ext {
        None => res.as_map(),
        Some(u) => res.extension(u)?,
    };
    get_ci(map, &t.attr).filter(|v| !v.is_null())
}

/// Sets `attr` in the container (creating it), keeping the existing key's case.
fn set_attr(res: &mut Resource, t: &Target<'_>, v: Value) {
    if let Some(map) = container_mut(res, t.ext.as_deref(), true) {
        let key = key_ci(map, &t.attr).unwrap_or_else(|| t.attr.clone());
        map.insert(key, v);
    }
}

fn remove_attr(res: &mut Resource, t: &Target<'_>) {
    let mut drop_ext = false;
    if let Some(map) = container_mut(res, t.ext.as_deref(), false) {
        remove_ci(map, &t.attr);
        drop_ext = t.ext.is_some() && map.is_empty();
    }
    if drop_ext && let Some(urn) = &t.ext {
        remove_ci(res.as_map_mut(), urn);
    }
}

fn check_writable(t: &Target<'_>, res: &Resource, new: Option<&Value>) -> Result<(), ScimError> {
    for def in [t.def, t.sub_def].into_iter().flatten() {
        match def.mutability {
            Mutability::ReadOnly => {
                return Err(mutability(format!("'{}' is readOnly", t.display())));
            }
            Mutability::Immutable => {
                if let Some(cur) = current(res, t)
                    && new != Some(cur)
                {
                    return Err(mutability(format!(
                        "'{}' is immutable and already has a value",
                        t.display()
                    )));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn comp_to_json(v: &CompValue) -> Value {
    match v {
        CompValue::Null => Value::Null,
        CompValue::Bool(b) => Value::Bool(*b),
        CompValue::Number(n) => Value::Number(n.clone()),
        CompValue::String(s) => Value::String(s.clone()),
    }
}

/// The `attr eq value` pairs of a conjunction of equalities, if the filter is one.
fn eq_pairs(f: &Filter, out: &mut Map<String, Value>) -> bool {
    match f {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } if path.urn.is_none() && path.sub_attr.is_none() => {
            out.insert(path.attr.clone(), comp_to_json(value));
            true
        }
        Filter::And(a, b) => eq_pairs(a, out) && eq_pairs(b, out),
        _ => false,
    }
}

/// Two elements denote the same value (for de-duplication and removal by value).
fn same_element(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => match (get_ci(x, "value"), get_ci(y, "value")) {
            (Some(vx), Some(vy)) => {
                vx == vy
                    && match (get_ci(x, "type"), get_ci(y, "type")) {
                        (Some(tx), Some(ty)) => tx == ty,
                        _ => true,
                    }
            }
            _ => a == b,
        },
        (Value::Object(x), other) | (other, Value::Object(x)) => get_ci(x, "value") == Some(other),
        _ => a == b,
    }
}

fn is_primary(v: &Value) -> bool {
    v.as_object()
        .and_then(|m| get_ci(m, "primary"))
        .and_then(Value::as_bool)
        == Some(true)
}

fn clear_primary(items: &mut [Value]) {
    for item in items {
        if let Some(m) = item.as_object_mut()
            && let Some(p) = get_ci_mut(m, "primary")
        {
            *p = Value::Bool(false);
        }
    }
}

/// Appends `new` elements to a multi-valued attribute, skipping duplicates and keeping at most
/// one `primary`.
fn merge_multi(existing: Option<&Value>, new: Vec<Value>) -> Value {
    let mut items = match existing {
        Some(Value::Array(a)) => a.clone(),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => vec![other.clone()],
    };
    for v in new {
        if let Some(pos) = items.iter().position(|e| same_element(e, &v)) {
            if let (Some(e), Value::Object(nm)) = (items[pos].as_object_mut(), &v) {
                for (k, nv) in nm {
                    let key = key_ci(e, k).unwrap_or_else(|| k.clone());
                    e.insert(key, nv.clone());
                }
            }
            continue;
        }
        if is_primary(&v) {
            clear_primary(&mut items);
        }
        items.push(v);
    }
    Value::Array(items)
}

fn merge_objects(existing: Option<&Value>, new: Map<String, Value>) -> Value {
    let mut base = match existing {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    for (k, v) in new {
        let key = key_ci(&base, &k).unwrap_or(k);
        base.insert(key, v);
    }
    Value::Object(base)
}

fn apply_op(
    res: &mut Resource,
    op: &PatchOperation,
    schema: &ResourceSchema,
) -> Result<(), ScimError> {
    let Some(path) = &op.path else {
        // Path-less add/replace: the value is an object of attribute paths.
        let value = op.value.clone().unwrap_or(Value::Null);
        return apply_object(res, op.op, value, schema);
    };
    // A path that is a whole extension URN: treat like a path-less op keyed by it.
    if let Some(text) = &op.path_text
        && path.filter.is_none()
        && path.value_sub_attr.is_none()
        && schema.extension(text).is_some()
    {
        if op.op == PatchOpKind::Remove {
            remove_ci(res.as_map_mut(), text);
            return Ok(());
        }
        let mut m = Map::new();
        m.insert(text.clone(), op.value.clone().unwrap_or(Value::Null));
        return apply_object(res, op.op, Value::Object(m), schema);
    }
    let t = resolve(
        schema,
        path.attr.urn.as_deref(),
        &path.attr.attr,
        path.attr.sub_attr.as_deref(),
    )?;
    match &path.filter {
        None => apply_simple(res, op.op, &t, op.value.clone(), true),
        Some(filter) => apply_filtered(
            res,
            op.op,
            &t,
            filter,
            path.value_sub_attr.as_deref(),
            op.value.clone(),
        ),
    }
}

/// The extension URN a top-level body key names: a known extension of `schema`, or any other
/// URN holding an object that is not itself an attribute path of the schema.
fn extension_key(schema: &ResourceSchema, key: &str, v: &Value) -> Option<String> {
    schema.extension(key).map(|s| s.id.clone()).or_else(|| {
        (is_urn(key)
            && v.is_object()
            && AttrPath::parse(key)
                .ok()
                .and_then(|p| schema.resolve(&p))
                .is_none())
        .then(|| key.to_string())
    })
}

/// Path-less add/replace: each key is a path or an extension URN.
fn apply_object(
    res: &mut Resource,
    kind: PatchOpKind,
    value: Value,
    schema: &ResourceSchema,
) -> Result<(), ScimError> {
    let Value::Object(obj) = value else {
        return Err(invalid_value(
            "an operation without 'path' needs a JSON object 'value'",
        ));
    };
    for (key, v) in obj {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        let ext_urn = extension_key(schema, &key, &v);
        if let Some(urn) = ext_urn {
            let Value::Object(inner) = v else {
                return Err(invalid_value(format!("'{key}' must be a JSON object")));
            };
            for (k, iv) in inner {
                let p = AttrPath::parse(&k).map_err(|e| invalid_path(e.detail))?;
                let t = resolve(schema, Some(&urn), &p.attr, p.sub_attr.as_deref())?;
                apply_lenient(res, kind, &t, iv)?;
            }
            continue;
        }
        let p = AttrPath::parse(&key).map_err(|e| invalid_path(e.detail))?;
        let t = resolve(schema, p.urn.as_deref(), &p.attr, p.sub_attr.as_deref())?;
        apply_lenient(res, kind, &t, v)?;
    }
    Ok(())
}

/// Applies a keyed value from a path-less operation: read-only targets are skipped.
fn apply_lenient(
    res: &mut Resource,
    kind: PatchOpKind,
    t: &Target<'_>,
    v: Value,
) -> Result<(), ScimError> {
    let read_only = [t.def, t.sub_def]
        .into_iter()
        .flatten()
        .any(|d| d.mutability == Mutability::ReadOnly);
    if read_only {
        return Ok(());
    }
    apply_simple(res, kind, t, Some(v), false)
}

/// Add/replace/remove on `attr` or `attr.sub` (no value filter).
fn apply_simple(
    res: &mut Resource,
    kind: PatchOpKind,
    t: &Target<'_>,
    value: Option<Value>,
    explicit: bool,
) -> Result<(), ScimError> {
    let name = t.display();
    let cur = current(res, t).cloned();
    let multi = t.is_multi(cur.as_ref());

    if explicit
        && let Some(d) = [t.def, t.sub_def]
            .into_iter()
            .flatten()
            .find(|d| d.mutability == Mutability::ReadOnly)
    {
        return Err(mutability(format!("'{name}' is readOnly ('{}')", d.name)));
    }
    if kind == PatchOpKind::Remove {
        if cur.is_none() {
            return Ok(()); // nothing to remove: idempotent
        }
        if let Some(v) = value.map(strip_nulls).filter(|v| !v.is_null())
            && t.sub.is_none()
            && multi
        {
            // Entra: remove with a value array removes the listed elements.
            let targets = match v {
                Value::Array(a) => a,
                other => vec![other],
            };
            let Some(Value::Array(items)) = cur else {
                return Ok(());
            };
            if t.def.is_some_and(|d| d.mutability == Mutability::ReadOnly) {
                return Err(mutability(format!("'{name}' is readOnly")));
            }
            let kept: Vec<Value> = items
                .into_iter()
                .filter(|e| !targets.iter().any(|x| same_element(e, x)))
                .collect();
            if kept.is_empty() {
                check_required(t)?;
                remove_attr(res, t);
            } else {
                set_attr(res, t, Value::Array(kept));
            }
            return Ok(());
        }
        check_writable(t, res, None)?;
        match &t.sub {
            None => {
                check_required(t)?;
                remove_attr(res, t);
            }
            Some(sub) => {
                if t.sub_def.is_some_and(|d| d.required) {
                    return Err(invalid_value(format!("'{name}' is required")));
                }
                let updated = match cur {
                    Some(Value::Object(mut m)) => {
                        remove_ci(&mut m, sub);
                        (!m.is_empty()).then_some(Value::Object(m))
                    }
                    Some(Value::Array(items)) => Some(Value::Array(
                        items
                            .into_iter()
                            .map(|mut e| {
                                if let Some(m) = e.as_object_mut() {
                                    remove_ci(m, sub);
                                }
                                e
                            })
                            .collect(),
                    )),
                    other => other,
                };
                match updated {
                    Some(v) => set_attr(res, t, v),
                    None => remove_attr(
                        res,
                        &Target {
                            sub: None,
                            sub_def: None,
                            ..t.clone()
                        },
                    ),
                }
            }
        }
        return Ok(());
    }

    let raw = value.unwrap_or(Value::Null);
    match &t.sub {
        None => {
            let v = normalize(t.def, raw, &name)?;
            if v.is_null() {
                // replace with null (or an empty array) unassigns; add of nothing is a no-op
                if kind == PatchOpKind::Replace && cur.is_some() {
                    if explicit {
                        check_writable(t, res, None)?;
                    }
                    check_required(t)?;
                    remove_attr(res, t);
                }
                return Ok(());
            }
            let new = if multi {
                let items = match v {
                    Value::Array(a) => a,
                    other => vec![other],
                };
                if kind == PatchOpKind::Add {
                    merge_multi(cur.as_ref(), items)
                } else {
                    let mut out: Vec<Value> = Vec::new();
                    let mut seen_primary = false;
                    for item in items.into_iter().rev() {
                        let mut item = item;
                        if is_primary(&item) {
                            if seen_primary && let Some(m) = item.as_object_mut() {
                                m.insert("primary".into(), Value::Bool(false));
                            }
                            seen_primary = true;
                        }
                        out.push(item);
                    }
                    out.reverse();
                    Value::Array(out)
                }
            } else if let Value::Object(m) = v {
                if t.def.is_some_and(|d| d.attr_type == AttrType::Complex)
                    || matches!(cur, Some(Value::Object(_)))
                {
                    merge_objects(cur.as_ref(), m)
                } else {
                    Value::Object(m)
                }
            } else {
                v
            };
            if explicit {
                check_writable(t, res, Some(&new))?;
            }
            set_attr(res, t, new);
        }
        Some(sub) => {
            let v = normalize(t.sub_def, raw, &name)?;
            if explicit {
                check_writable(t, res, None).or_else(|e| {
                    // immutable parents may still get a sub-attribute when they are empty
                    if cur.is_none() { Ok(()) } else { Err(e) }
                })?;
            }
            let sub_key = t.sub_def.map_or_else(|| sub.clone(), |d| d.name.clone());
            let updated = match cur {
                Some(Value::Array(items)) if multi => {
                    let items = items
                        .into_iter()
                        .map(|mut e| {
                            if let Some(m) = e.as_object_mut() {
                                let key = key_ci(m, &sub_key).unwrap_or_else(|| sub_key.clone());
                                if v.is_null() {
                                    m.remove(&key);
                                } else {
                                    m.insert(key, v.clone());
                                }
                            }
                            e
                        })
                        .collect();
                    Value::Array(items)
                }
                _ if multi => {
                    if v.is_null() {
                        return Ok(());
                    }
                    let mut m = Map::new();
                    m.insert(sub_key, v);
                    Value::Array(vec![Value::Object(m)])
                }
                Some(Value::Object(mut m)) => {
                    let key = key_ci(&m, &sub_key).unwrap_or_else(|| sub_key.clone());
                    if v.is_null() {
                        m.remove(&key);
                    } else {
                        m.insert(key, v);
                    }
                    Value::Object(m)
                }
                Some(_) if t.def.is_some() => {
                    return Err(invalid_path(format!(
                        "'{}' is not a complex attribute",
                        t.attr
                    )));
                }
                _ => {
                    if v.is_null() {
                        return Ok(());
                    }
                    let mut m = Map::new();
                    m.insert(sub_key, v);
                    Value::Object(m)
                }
            };
            set_attr(res, t, updated);
        }
    }
    Ok(())
}

fn check_required(t: &Target<'_>) -> Result<(), ScimError> {
    if t.def.is_some_and(|d| d.required) {
        return Err(invalid_value(format!(
            "'{}' is required and cannot be removed",
            t.display()
        )));
    }
    Ok(())
}

/// Operations on `attr[filter]` and `attr[filter].sub`.
fn apply_filtered(
    res: &mut Resource,
    kind: PatchOpKind,
    t: &Target<'_>,
    filter: &Filter,
    sub: Option<&str>,
    value: Option<Value>,
) -> Result<(), ScimError> {
    let name = t.display();
    if t.sub.is_some() {
        return Err(invalid_path(format!(
            "'{name}': a value filter must follow a multi-valued attribute"
        )));
    }
    let cur = current(res, t).cloned();
    if t.def.is_some_and(|d| !d.multi_valued) {
        return Err(invalid_path(format!(
            "'{name}' is not multi-valued; a value filter cannot select its values"
        )));
    }
    if let Some(d) = t.def
        && d.mutability == Mutability::ReadOnly
    {
        return Err(mutability(format!("'{name}' is readOnly")));
    }
    let compiled = CompiledFilter::compile_element(filter, t.def)
        .map_err(|e| invalid_path(format!("'{name}[{filter}]': {}", e.detail)))?;
    let sub_def = match (sub, t.def) {
        (Some(s), Some(d)) => Some(
            d.sub_attribute(s)
                .ok_or_else(|| invalid_path(format!("'{s}' is not a sub-attribute of '{name}'")))?,
        ),
        _ => None,
    };
    if let Some(sd) = sub_def
        && sd.mutability == Mutability::ReadOnly
    {
        return Err(mutability(format!("'{name}.{}' is readOnly", sd.name)));
    }
    let sub_key = sub.map(|s| sub_def.map_or_else(|| s.to_string(), |d| d.name.clone()));
    let mut items = match cur {
        Some(Value::Array(a)) => a,
        Some(_) => return Err(invalid_path(format!("'{name}' is not multi-valued"))),
        None => Vec::new(),
    };
    let matched: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, e)| e.as_object().is_some_and(|m| compiled.matches_map(m)))
        .map(|(i, _)| i)
        .collect();

    match kind {
        PatchOpKind::Remove => {
            if matched.is_empty() {
                return Ok(());
            }
            if t.def.is_some_and(|d| d.mutability == Mutability::Immutable) && sub_key.is_none() {
                return Err(mutability(format!("'{name}' is immutable")));
            }
            match &sub_key {
                None => {
                    let mut i = 0;
                    items.retain(|_| {
                        let keep = !matched.contains(&i);
                        i += 1;
                        keep
                    });
                }
                Some(sk) => {
                    if sub_def.is_some_and(|d| d.required) {
                        return Err(invalid_value(format!("'{name}.{sk}' is required")));
                    }
                    for &i in &matched {
                        if let Some(m) = items[i].as_object_mut() {
                            remove_ci(m, sk);
                        }
                    }
                }
            }
            if items.is_empty() {
                check_required(t)?;
                remove_attr(res, t);
            } else {
                set_attr(res, t, Value::Array(items));
            }
            Ok(())
        }
        PatchOpKind::Add | PatchOpKind::Replace => {
            let raw = value.unwrap_or(Value::Null);
            let new_value = match (&sub_key, sub_def) {
                (Some(sk), _) => normalize(sub_def, raw, &format!("{name}.{sk}"))?,
                (None, _) => {
                    let v = strip_nulls(raw);
                    match (t.def, v) {
                        (Some(d), Value::Object(m)) => {
                            Value::Object(normalize_object(d, m, &name)?)
                        }
                        (None, v @ Value::Object(_)) => v,
                        _ => {
                            return Err(invalid_value(format!(
                                "'{name}[...]' needs a JSON object value"
                            )));
                        }
                    }
                }
            };
            if new_value.is_null() {
                return Ok(());
            }
            if matched.is_empty() {
                let mut seed = Map::new();
                if !eq_pairs(filter, &mut seed) {
                    return Err(no_target(format!(
                        "no value of '{name}' matches [{filter}]"
                    )));
                }
                let mut elem = match t.def {
                    Some(d) => normalize_object(d, seed, &name)?,
                    None => seed,
                };
                match (&sub_key, new_value) {
                    (Some(sk), v) => {
                        elem.insert(sk.clone(), v);
                    }
                    (None, Value::Object(m)) => {
                        for (k, v) in m {
                            elem.insert(k, v);
                        }
                    }
                    _ => {}
                }
                if is_primary(&Value::Object(elem.clone())) {
                    clear_primary(&mut items);
                }
                items.push(Value::Object(elem));
            } else {
                let sets_primary = match (&sub_key, &new_value) {
                    (Some(sk), Value::Bool(true)) => sk.eq_ignore_ascii_case("primary"),
                    (None, v) => is_primary(v),
                    _ => false,
                };
                if sets_primary {
                    clear_primary(&mut items);
                }
                if let (Some(sk), Some(sd)) = (&sub_key, sub_def)
                    && sd.mutability == Mutability::Immutable
                    && matched.iter().any(|&i| {
                        items[i]
                            .as_object()
                            .and_then(|m| get_ci(m, sk))
                            .is_some_and(|old| old != &new_value)
                    })
                {
                    return Err(mutability(format!("'{name}.{sk}' is immutable")));
                }
                for &i in &matched {
                    if let Some(m) = items[i].as_object_mut() {
                        match (&sub_key, &new_value) {
                            (Some(sk), v) => {
                                let key = key_ci(m, sk).unwrap_or_else(|| sk.clone());
                                m.insert(key, v.clone());
                            }
                            (None, Value::Object(nm)) => {
                                for (k, v) in nm {
                                    let key = key_ci(m, k).unwrap_or_else(|| k.clone());
                                    m.insert(key, v.clone());
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
            let new = Value::Array(items);
            if t.def.is_some_and(|d| d.mutability == Mutability::Immutable)
                && current(res, t) != Some(&new)
            {
                return Err(mutability(format!("'{name}' is immutable")));
            }
            set_attr(res, t, new);
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// PUT and POST
// ---------------------------------------------------------------------------------------------

/// Cleans a POST body for creation: nulls and read-only attributes (`id`, `meta`, `groups`)
/// dropped, values coerced to their types, required attributes checked. The caller assigns
/// `id` and `meta`.
pub fn prepare_create(body: Value, schema: &ResourceSchema) -> Result<Resource, ScimError> {
    sanitize(body, None, schema)
}

/// PUT (full replace, RFC 7644 3.5.1): the new resource is `body` with read-only attributes
/// taken from `existing` (a client-sent `id`, `meta` or `groups` is ignored), immutable
/// attributes checked against `existing` (kept when omitted), write-only attributes (`password`)
/// kept when omitted, nulls dropped and required attributes checked. Every other attribute
/// omitted from `body` is cleared.
pub fn replace_resource(
    existing: &Resource,
    body: Value,
    schema: &ResourceSchema,
) -> Result<Resource, ScimError> {
    sanitize(body, Some(existing), schema)
}

fn sanitize(
    body: Value,
    existing: Option<&Resource>,
    schema: &ResourceSchema,
) -> Result<Resource, ScimError> {
    let Value::Object(obj) = body else {
        return Err(syntax("a SCIM resource must be a JSON object"));
    };
    let mut out = Resource::new();
    // schemas first, as clients expect it first.
    match get_ci(&obj, "schemas") {
        Some(Value::Array(a)) => {
            out.as_map_mut()
                .insert("schemas".into(), Value::Array(a.clone()));
        }
        Some(_) => return Err(invalid_value("'schemas' must be an array of URNs")),
        None => {
            let schemas = existing.map(|e| e.schemas()).unwrap_or_default();
            let schemas = if schemas.is_empty() {
                vec![schema.core.id.as_str()]
            } else {
                schemas
            };
            out.as_map_mut().insert(
                "schemas".into(),
                schemas
                    .into_iter()
                    .map(|s| Value::String(s.to_string()))
                    .collect(),
            );
        }
    }
    let put = |out: &mut Resource, t: Target<'_>, v: Value| -> Result<(), ScimError> {
        let name = t.display();
        if let Some(d) = t.def {
            match d.mutability {
                Mutability::ReadOnly => return Ok(()),
                Mutability::Immutable => {
                    let v2 = normalize(Some(d), v.clone(), &name)?;
                    if let Some(cur) = existing.and_then(|e| current(e, &t))
                        && !v2.is_null()
                        && cur != &v2
                    {
                        return Err(mutability(format!(
                            "'{name}' is immutable and cannot change"
                        )));
                    }
                }
                _ => {}
            }
        }
        let v = normalize(t.def, v, &name)?;
        if !v.is_null() {
            set_attr(out, &t, v);
        }
        Ok(())
    };
    for (key, v) in obj {
        if key.eq_ignore_ascii_case("schemas") || v.is_null() {
            continue;
        }
        let ext = extension_key(schema, &key, &v);
        if let Some(urn) = ext {
            let Value::Object(inner) = v else {
                return Err(invalid_value(format!("'{key}' must be a JSON object")));
            };
            for (k, iv) in inner {
                if iv.is_null() {
                    continue;
                }
                let t = match schema.extension(&urn) {
                    Some(s) => match s.attribute(&k) {
                        Some(d) => Target {
                            ext: Some(s.id.clone()),
                            attr: d.name.clone(),
                            def: Some(d),
                            sub: None,
                            sub_def: None,
                        },
                        None => Target {
                            ext: Some(s.id.clone()),
                            attr: k.clone(),
                            def: None,
                            sub: None,
                            sub_def: None,
                        },
                    },
                    None => Target {
                        ext: Some(urn.clone()),
                        attr: k.clone(),
                        def: None,
                        sub: None,
                        sub_def: None,
                    },
                };
                put(&mut out, t, iv)?;
            }
            continue;
        }
        let t = match AttrPath::parse(&key).ok().filter(|p| p.sub_attr.is_none()) {
            Some(p) => match resolve(schema, p.urn.as_deref(), &p.attr, None) {
                Ok(t) => t,
                // unknown attributes round-trip untouched
                Err(_) => Target {
                    ext: None,
                    attr: key.clone(),
                    def: None,
                    sub: None,
                    sub_def: None,
                },
            },
            None => Target {
                ext: None,
                attr: key.clone(),
                def: None,
                sub: None,
                sub_def: None,
            },
        };
        put(&mut out, t, v)?;
    }
    // Carry over what the client cannot set or did not resend.
    if let Some(existing) = existing {
        for s in schema.schemas() {
            let ext = (s.id != schema.core.id).then(|| s.id.clone());
            let attrs = s.attributes.iter().chain(if ext.is_none() {
                crate::schema::common_attributes()
            } else {
                &[]
            });
            for d in attrs {
                let t = Target {
                    ext: ext.clone(),
                    attr: d.name.clone(),
                    def: Some(d),
                    sub: None,
                    sub_def: None,
                };
                let keep = match d.mutability {
                    Mutability::ReadOnly => true,
                    Mutability::WriteOnly | Mutability::Immutable => current(&out, &t).is_none(),
                    Mutability::ReadWrite => false,
                };
                if keep && let Some(v) = current(existing, &t) {
                    let v = v.clone();
                    set_attr(&mut out, &t, v);
                }
            }
        }
    }
    check_required_present(&out, schema)?;
    Ok(out)
}

fn check_required_present(res: &Resource, schema: &ResourceSchema) -> Result<(), ScimError> {
    for s in schema.schemas() {
        let is_core = s.id == schema.core.id;
        if !is_core && res.extension(&s.id).is_none() {
            continue;
        }
        let ext = (!is_core).then(|| s.id.clone());
        for d in &s.attributes {
            let t = Target {
                ext: ext.clone(),
                attr: d.name.clone(),
                def: Some(d),
                sub: None,
                sub_def: None,
            };
            let cur = current(res, &t);
            if d.required && d.mutability != Mutability::ReadOnly && cur.is_none() {
                return Err(invalid_value(format!(
                    "required attribute '{}' is missing",
                    d.name
                )));
            }
            if d.attr_type == AttrType::Complex
                && let Some(cur) = cur
            {
                let elems: Vec<&Value> = match cur {
                    Value::Array(a) => a.iter().collect(),
                    v => vec![v],
                };
                for e in elems {
                    let Some(m) = e.as_object() else { continue };
                    for sd in d.sub_attributes.iter().filter(|sd| sd.required) {
                        if get_ci(m, &sd.name).is_none_or(Value::is_null) {
                            return Err(invalid_value(format!(
                                "required sub-attribute '{}.{}' is missing",
                                d.name, sd.name
                            )));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}
