//! Filter evaluation against resources.
//!
//! A [`Filter`] is first compiled against a [`ResourceSchema`] into a [`CompiledFilter`]: every
//! attribute path is resolved once (canonical name, extension object, `caseExact`, type) and
//! every literal is prepared once (lower-cased, parsed as number or time). Evaluating the
//! compiled form against a resource does no allocation on the common paths, which is what makes
//! a scan of 100,000 users cheap (see docs/benchmarks/scim.md).
//!
//! Semantics (RFC 7644 3.4.2.2):
//! - strings compare case-insensitively unless the attribute is `caseExact`; unknown attributes
//!   compare case-insensitively (RFC 7643 2.1 default);
//! - `decimal`/`integer` compare numerically, `dateTime` as instants (RFC 3339), `boolean` only
//!   with `eq`/`ne` (`gt`, `co`, ... on a boolean or binary attribute is `invalidFilter`);
//! - a number literal compared with a string attribute compares its text (`externalId eq 167844`);
//! - multi-valued attributes match when any value matches; a complex value without a
//!   sub-attribute is compared through its `value` sub-attribute (`manager eq "id"`,
//!   `members eq "id"`);
//! - `ne` is the negation of `eq` (an absent attribute is "not equal"); `eq null` means "not
//!   present" and `ne null` means "present";
//! - `pr` is true for a non-null, non-empty value (a complex value needs one non-empty member).

use std::cmp::Ordering;

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{ScimError, ScimType};
use crate::filter::{AttrPath, CompValue, CompareOp, Filter};
use crate::resource::{Resource, get_ci, is_urn};
use crate::schema::{AttrType, Attribute, ResourceSchema};

/// A filter prepared for fast repeated evaluation.
#[derive(Debug, Clone)]
pub struct CompiledFilter {
    root: Node,
}

#[derive(Debug, Clone)]
enum Node {
    Cmp(Box<Cmp>),
    Present(Loc),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Not(Box<Node>),
    ValuePath { loc: Loc, inner: Box<Node> },
}

/// Where a value lives: optional extension object, attribute, optional sub-attribute.
#[derive(Debug, Clone)]
struct Loc {
    ext: Option<String>,
    attr: String,
    sub: Option<String>,
    /// Short name not found in the schema: also search extension objects.
    search_extensions: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str {
        case_exact: bool,
    },
    Num,
    Bool,
    DateTime,
    /// Not in the schema: decided by the JSON type of each value.
    Unknown,
}

#[derive(Debug, Clone)]
struct Cmp {
    loc: Loc,
    op: CompareOp,
    kind: Kind,
    lit: Lit,
}

/// A prepared literal.
#[derive(Debug, Clone)]
struct Lit {
    /// Text form (string literal, or a number's text).
    text: Option<String>,
    /// Lower-cased text for case-insensitive comparison.
    folded: Option<String>,
    folded_ascii: bool,
    num: Option<f64>,
    boolean: Option<bool>,
    time: Option<OffsetDateTime>,
}

fn invalid(detail: String) -> ScimError {
    ScimError::bad_request(ScimType::InvalidFilter, detail)
}

fn kind_of(attr: Option<&Attribute>) -> Kind {
    let Some(a) = attr else { return Kind::Unknown };
    match a.attr_type {
        AttrType::String => Kind::Str {
            case_exact: a.case_exact,
        },
        AttrType::Reference | AttrType::Binary => Kind::Str { case_exact: true },
        AttrType::Boolean => Kind::Bool,
        AttrType::Decimal | AttrType::Integer => Kind::Num,
        AttrType::DateTime => Kind::DateTime,
        AttrType::Complex => kind_of(a.sub_attribute("value")),
    }
}

fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

fn bool_text(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

impl Lit {
    fn new(v: &CompValue) -> Self {
        let text = match v {
            CompValue::String(s) => Some(s.clone()),
            CompValue::Number(n) => Some(n.to_string()),
            _ => None,
        };
        let folded = text.as_ref().map(|t| t.to_lowercase());
        Lit {
            folded_ascii: folded.as_deref().is_some_and(str::is_ascii),
            folded,
            num: match v {
                CompValue::Number(n) => n.as_f64(),
                CompValue::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
                _ => None,
            },
            boolean: match v {
                CompValue::Bool(b) => Some(*b),
                CompValue::String(s) => bool_text(s),
                _ => None,
            },
            time: match v {
                CompValue::String(s) => parse_time(s),
                _ => None,
            },
            text,
        }
    }
}

/// The attribute context paths are compiled in.
#[derive(Clone, Copy)]
enum Ctx<'a> {
    Root(Option<&'a ResourceSchema>),
    /// Inside `attr[...]`: paths name sub-attributes of `parent`.
    Element(Option<&'a Attribute>),
}

impl CompiledFilter {
    /// Compiles `filter` for resources described by `schema`. Fails with `invalidFilter` for
    /// comparisons the attribute type does not allow (`active gt true`) and for dateTime
    /// attributes compared with a literal that is not a time.
    pub fn compile(filter: &Filter, schema: &ResourceSchema) -> Result<Self, ScimError> {
        Ok(Self {
            root: compile(filter, Ctx::Root(Some(schema)))?,
        })
    }

    /// Compiles without a schema: every attribute is treated as unknown (case-insensitive
    /// strings, numbers and booleans by their JSON type).
    pub fn compile_without_schema(filter: &Filter) -> Result<Self, ScimError> {
        Ok(Self {
            root: compile(filter, Ctx::Root(None))?,
        })
    }

    /// Compiles a value filter (the part inside `attr[...]`) whose paths name sub-attributes of
    /// `parent`; used by PATCH paths. The result is evaluated against element objects with
    /// [`CompiledFilter::matches_map`].
    pub fn compile_element(filter: &Filter, parent: Option<&Attribute>) -> Result<Self, ScimError> {
        Ok(Self {
            root: compile(filter, Ctx::Element(parent))?,
        })
    }

    /// Whether `resource` matches.
    pub fn matches(&self, resource: &Resource) -> bool {
        self.root.eval(resource.as_map())
    }

    /// Whether a JSON object matches.
    pub fn matches_map(&self, object: &Map<String, Value>) -> bool {
        self.root.eval(object)
    }
}

/// One-shot convenience: compile and evaluate.
pub fn matches(
    filter: &Filter,
    schema: &ResourceSchema,
    resource: &Resource,
) -> Result<bool, ScimError> {
    Ok(CompiledFilter::compile(filter, schema)?.matches(resource))
}

fn resolve_loc<'a>(
    path: &AttrPath,
    ctx: Ctx<'a>,
) -> (Loc, Option<&'a Attribute>, Option<&'a Attribute>) {
    match ctx {
        Ctx::Root(Some(schema)) => {
            if let Some(r) = schema.resolve(path) {
                let loc = Loc {
                    ext: r.extension.map(str::to_string),
                    attr: r.attribute.name.clone(),
                    sub: r.sub_attribute.map(|s| s.name.clone()),
                    search_extensions: false,
                };
                return (loc, Some(r.attribute), Some(r.leaf()));
            }
            let ext = path
                .urn
                .as_ref()
                .filter(|u| !schema.core.id.eq_ignore_ascii_case(u))
                .cloned();
            let search = path.urn.is_none();
            (
                Loc {
                    ext,
                    attr: path.attr.clone(),
                    sub: path.sub_attr.clone(),
                    search_extensions: search,
                },
                None,
                None,
            )
        }
        Ctx::Root(None) => {
            let ext = path
                .urn
                .as_ref()
                .filter(|u| u.to_ascii_lowercase().contains(":extension:"))
                .cloned();
            let search = path.urn.is_none();
            (
                Loc {
                    ext,
                    attr: path.attr.clone(),
                    sub: path.sub_attr.clone(),
                    search_extensions: search,
                },
                None,
                None,
            )
        }
        Ctx::Element(parent) => {
            let a = parent.and_then(|p| p.sub_attribute(&path.attr));
            let leaf = match (a, &path.sub_attr) {
                (Some(a), Some(s)) => a.sub_attribute(s),
                (a, None) => a,
                (None, Some(_)) => None,
            };
            let loc = Loc {
                ext: None,
                attr: a.map_or_else(|| path.attr.clone(), |a| a.name.clone()),
                sub: path.sub_attr.clone(),
                search_extensions: false,
            };
            (loc, a, leaf)
        }
    }
}

fn compile(f: &Filter, ctx: Ctx<'_>) -> Result<Node, ScimError> {
    Ok(match f {
        Filter::And(a, b) => Node::And(Box::new(compile(a, ctx)?), Box::new(compile(b, ctx)?)),
        Filter::Or(a, b) => Node::Or(Box::new(compile(a, ctx)?), Box::new(compile(b, ctx)?)),
        Filter::Not(a) => Node::Not(Box::new(compile(a, ctx)?)),
        Filter::Present(path) => Node::Present(resolve_loc(path, ctx).0),
        Filter::ValuePath { path, filter } => {
            if matches!(ctx, Ctx::Element(_)) {
                return Err(invalid(format!(
                    "value paths cannot be nested ('{path}[...]')"
                )));
            }
            let (loc, attr, leaf) = resolve_loc(path, ctx);
            let parent = if path.sub_attr.is_some() { leaf } else { attr };
            let inner_ctx = Ctx::Element(if matches!(ctx, Ctx::Root(None)) {
                None
            } else {
                parent
            });
            Node::ValuePath {
                loc,
                inner: Box::new(compile(filter, inner_ctx)?),
            }
        }
        Filter::Compare { path, op, value } => {
            let (loc, _, leaf) = resolve_loc(path, ctx);
            let kind = kind_of(leaf);
            if matches!(value, CompValue::Null) {
                return Ok(match op {
                    CompareOp::Eq => Node::Not(Box::new(Node::Present(loc))),
                    CompareOp::Ne => Node::Present(loc),
                    _ => {
                        return Err(invalid(format!(
                            "'{path} {op} null': only eq and ne accept null"
                        )));
                    }
                });
            }
            let ordering = matches!(
                op,
                CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
            );
            let substring = matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew);
            if kind == Kind::Bool && (ordering || substring) {
                return Err(invalid(format!(
                    "'{op}' cannot be used with the boolean attribute '{path}'"
                )));
            }
            if ordering && leaf.is_some_and(|a| a.attr_type == AttrType::Binary) {
                return Err(invalid(format!(
                    "'{op}' cannot be used with the binary attribute '{path}'"
                )));
            }
            if matches!(value, CompValue::Bool(_)) && (ordering || substring) {
                return Err(invalid(format!(
                    "'{op}' cannot be used with a boolean value ('{path}')"
                )));
            }
            let lit = Lit::new(value);
            if kind == Kind::DateTime && lit.time.is_none() && !substring {
                return Err(invalid(format!(
                    "'{path}' is a dateTime: '{value}' is not an RFC 3339 date-time"
                )));
            }
            let (op, negate) = if *op == CompareOp::Ne {
                (CompareOp::Eq, true)
            } else {
                (*op, false)
            };
            let node = Node::Cmp(Box::new(Cmp { loc, op, kind, lit }));
            if negate {
                Node::Not(Box::new(node))
            } else {
                node
            }
        }
    })
}

impl Loc {
    #[inline]
    fn top<'a>(&self, root: &'a Map<String, Value>) -> Option<&'a Value> {
        match &self.ext {
            Some(urn) => get_ci(get_ci(root, urn)?.as_object()?, &self.attr),
            None => {
                if let Some(v) = get_ci(root, &self.attr) {
                    return Some(v);
                }
                if !self.search_extensions {
                    return None;
                }
                root.iter()
                    .filter(|(k, _)| is_urn(k))
                    .filter_map(|(_, v)| v.as_object())
                    .find_map(|m| get_ci(m, &self.attr))
            }
        }
    }

    /// Whether any leaf value at this location satisfies `f`.
    #[inline]
    fn any(&self, root: &Map<String, Value>, f: &impl Fn(&Value) -> bool) -> bool {
        let Some(v) = self.top(root) else {
            return false;
        };
        match &self.sub {
            None => any_leaf(v, f),
            Some(sub) => match v {
                Value::Array(items) => items.iter().any(|i| {
                    i.as_object()
                        .and_then(|m| get_ci(m, sub))
                        .is_some_and(|x| any_leaf(x, f))
                }),
                Value::Object(m) => get_ci(m, sub).is_some_and(|x| any_leaf(x, f)),
                _ => false,
            },
        }
    }

    fn present(&self, root: &Map<String, Value>) -> bool {
        let Some(v) = self.top(root) else {
            return false;
        };
        match &self.sub {
            None => non_empty(v),
            Some(sub) => match v {
                Value::Array(items) => items.iter().any(|i| {
                    i.as_object()
                        .and_then(|m| get_ci(m, sub))
                        .is_some_and(non_empty)
                }),
                Value::Object(m) => get_ci(m, sub).is_some_and(non_empty),
                _ => false,
            },
        }
    }
}

fn non_empty(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => a.iter().any(non_empty),
        Value::Object(m) => m.values().any(non_empty),
        _ => true,
    }
}

#[inline]
fn any_leaf(v: &Value, f: &impl Fn(&Value) -> bool) -> bool {
    match v {
        Value::Array(items) => items.iter().any(|x| match x {
            Value::Object(m) => get_ci(m, "value").is_some_and(f),
            other => f(other),
        }),
        Value::Object(m) => get_ci(m, "value").is_some_and(f),
        Value::Null => false,
        other => f(other),
    }
}

impl Node {
    fn eval(&self, root: &Map<String, Value>) -> bool {
        match self {
            Node::Cmp(c) => c.loc.any(root, &|v| c.test(v)),
            Node::Present(loc) => loc.present(root),
            Node::And(a, b) => a.eval(root) && b.eval(root),
            Node::Or(a, b) => a.eval(root) || b.eval(root),
            Node::Not(a) => !a.eval(root),
            Node::ValuePath { loc, inner } => {
                let Some(v) = loc.top(root) else { return false };
                let v = match &loc.sub {
                    Some(sub) => match v.as_object().and_then(|m| get_ci(m, sub)) {
                        Some(x) => x,
                        None => return false,
                    },
                    None => v,
                };
                match v {
                    Value::Array(items) => items
                        .iter()
                        .filter_map(Value::as_object)
                        .any(|m| inner.eval(m)),
                    Value::Object(m) => inner.eval(m),
                    _ => false,
                }
            }
        }
    }
}

fn ord_matches(op: CompareOp, o: Ordering) -> bool {
    match op {
        CompareOp::Eq => o == Ordering::Equal,
        CompareOp::Ne => o != Ordering::Equal,
        CompareOp::Gt => o == Ordering::Greater,
        CompareOp::Ge => o != Ordering::Less,
        CompareOp::Lt => o == Ordering::Less,
        CompareOp::Le => o != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

fn ascii_contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    hay.len() >= needle.len()
        && hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

impl Cmp {
    #[inline]
    fn test(&self, v: &Value) -> bool {
        match v {
            Value::String(s) => match self.kind {
                Kind::Num => s
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .zip(self.lit.num)
                    .is_some_and(|(a, b)| num_cmp(self.op, a, b)),
                Kind::Bool => bool_text(s)
                    .zip(self.lit.boolean)
                    .is_some_and(|(a, b)| self.bool_cmp(a, b)),
                Kind::DateTime
                    if !matches!(self.op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) =>
                {
                    match (parse_time(s), self.lit.time) {
                        (Some(a), Some(b)) => ord_matches(self.op, a.cmp(&b)),
                        _ => self.str_test(s, true),
                    }
                }
                Kind::DateTime => self.str_test(s, true),
                Kind::Str { case_exact } => self.str_test(s, case_exact),
                Kind::Unknown => match self.lit.text {
                    Some(_) => self.str_test(s, false),
                    None => bool_text(s)
                        .zip(self.lit.boolean)
                        .is_some_and(|(a, b)| self.bool_cmp(a, b)),
                },
            },
            Value::Number(n) => match (n.as_f64(), self.lit.num) {
                (Some(a), Some(b)) => num_cmp(self.op, a, b),
                _ => match (&self.lit.text, self.op) {
                    (Some(t), CompareOp::Co | CompareOp::Sw | CompareOp::Ew) => {
                        self.str_test_raw(&n.to_string(), t)
                    }
                    _ => false,
                },
            },
            Value::Bool(b) => self.lit.boolean.is_some_and(|l| self.bool_cmp(*b, l)),
            _ => false,
        }
    }

    fn bool_cmp(&self, a: bool, b: bool) -> bool {
        match self.op {
            CompareOp::Eq => a == b,
            CompareOp::Ne => a != b,
            _ => false,
        }
    }

    fn str_test_raw(&self, s: &str, lit: &str) -> bool {
        match self.op {
            CompareOp::Co => s.contains(lit),
            CompareOp::Sw => s.starts_with(lit),
            CompareOp::Ew => s.ends_with(lit),
            op => ord_matches(op, s.cmp(lit)),
        }
    }

    #[inline]
    fn str_test(&self, s: &str, case_exact: bool) -> bool {
        let (Some(text), Some(folded)) = (&self.lit.text, &self.lit.folded) else {
            return false;
        };
        if case_exact {
            return self.str_test_raw(s, text);
        }
        if self.op == CompareOp::Eq && self.lit.folded_ascii {
            // Fast path without touching `s`'s bytes when lengths rule a match out: a string
            // that lower-cases to an ASCII literal is ASCII plus possibly KELVIN SIGN (3 bytes,
            // lower-cases to 'k'), so it is never shorter than the literal.
            let (h, n) = (s.as_bytes(), folded.as_bytes());
            if h.len() == n.len() {
                return h.eq_ignore_ascii_case(n);
            }
            if h.len() < n.len() || s.is_ascii() {
                return false;
            }
            return s.to_lowercase() == *folded;
        }
        if self.lit.folded_ascii && s.is_ascii() {
            let (h, n) = (s.as_bytes(), folded.as_bytes());
            return match self.op {
                CompareOp::Eq => h.len() == n.len() && h.eq_ignore_ascii_case(n),
                CompareOp::Ne => !(h.len() == n.len() && h.eq_ignore_ascii_case(n)),
                CompareOp::Co => ascii_contains_ci(h, n),
                CompareOp::Sw => h.len() >= n.len() && h[..n.len()].eq_ignore_ascii_case(n),
                CompareOp::Ew => {
                    h.len() >= n.len() && h[h.len() - n.len()..].eq_ignore_ascii_case(n)
                }
                op => {
                    let o = h.iter().map(u8::to_ascii_lowercase).cmp(n.iter().copied());
                    ord_matches(op, o)
                }
            };
        }
        let lower = s.to_lowercase();
        self.str_test_raw(&lower, folded)
    }
}

fn num_cmp(op: CompareOp, a: f64, b: f64) -> bool {
    match a.partial_cmp(&b) {
        Some(o) => ord_matches(op, o),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::parse;
    use crate::schema::defs::user_resource;
    use serde_json::json;

    fn user() -> Resource {
        Resource::from_json(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "abc",
            "userName": "Alice@Example.com",
            "active": true,
            "emails": [{"type": "work", "value": "alice@acme.com", "primary": true}, {"type": "home", "value": "a@home.net"}],
            "meta": {"lastModified": "2024-05-01T10:00:00Z"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "boss"}, "department": "Sales"}
        }))
        .unwrap()
    }

    fn m(f: &str) -> bool {
        matches(&parse(f).unwrap(), user_resource(), &user()).unwrap()
    }

    #[test]
    fn basics() {
        assert!(m("userName eq \"alice@example.com\""));
        assert!(!m("id eq \"ABC\""));
        assert!(m("emails[type eq \"work\" and value co \"@acme.com\"]"));
        assert!(m("emails[type eq \"work\"].value eq \"ALICE@acme.com\""));
        assert!(!m("emails[type eq \"home\"].value eq \"alice@acme.com\""));
        assert!(m("manager eq \"boss\""));
        assert!(m("department eq sales"));
        assert!(!m("meta.lastModified gt \"2024-05-01T09:00:00-02:00\""));
        assert!(m("meta.lastModified lt \"2024-05-01T09:00:00-02:00\""));
        assert!(m("active eq true and not (title pr)"));
        assert!(
            parse("active gt true")
                .and_then(|f| CompiledFilter::compile(&f, user_resource()))
                .is_err()
        );
    }
}
