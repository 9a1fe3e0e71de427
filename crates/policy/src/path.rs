//! SCIM attribute paths and conditions as the policy engine uses them, built on `gcprov-scim`:
//! its filter parser (`gcprov_scim::filter::parse`), its schema definitions
//! (`ResourceSchema::resolve`, core User/Group, enterprise and Genesys extensions) and its
//! compiled filter evaluator (`CompiledFilter`).
//!
//! What is still ours: reading *all* values of a PATCH-style path with a value filter
//! (`emails[type eq "work"].value`) from a `serde_json::Value`, precompiled so evaluation does
//! no parsing. `gcprov_scim::Resource::get_all` parses its argument on every call and has no
//! value filters, so [`CompiledPath::values`] is the one function to swap when the scim crate
//! grows a compiled path reader.

use crate::schema::ResourceKind;
use gcprov_scim::CompiledFilter;
use gcprov_scim::filter::{AttrPath, Filter};
use gcprov_scim::schema::{self as sch, ResourceSchema};
use serde_json::Value;

pub(crate) const CORE_USER: &str = sch::USER;

/// Attributes whose values never appear in violation messages (see `CompiledPath::sensitive`).
const WITHHELD: &[&str] = &[
    "password",
    "userName",
    "name",
    "displayName",
    "nickName",
    "emails",
    "phoneNumbers",
    "addresses",
    "photos",
    "ims",
    "title",
    "manager",
    "employeeNumber",
    "x509Certificates",
];
pub(crate) const ENTERPRISE_USER: &str = sch::ENTERPRISE_USER;

pub(crate) fn resource_schema(kind: ResourceKind) -> &'static ResourceSchema {
    match kind {
        ResourceKind::User => sch::defs::user_resource(),
        ResourceKind::Group => sch::defs::group_resource(),
    }
}

/// Parse a SCIM filter with the scim crate's parser (RFC 7644 3.4.2.2 plus IdP tolerance).
pub fn parse_filter(s: &str) -> Result<Filter, String> {
    gcprov_scim::filter::parse(s).map_err(|e| e.detail)
}

/// A compiled condition (`when`): a filter over the whole resource.
#[derive(Debug, Clone)]
pub(crate) struct Cond(CompiledFilter);

impl Cond {
    /// Parse, check every attribute against the schema, compile.
    pub(crate) fn compile(text: &str, kind: ResourceKind) -> Result<Cond, String> {
        let f = parse_filter(text)?;
        let rs = resource_schema(kind);
        check_filter_paths(&f, rs, None)?;
        CompiledFilter::compile(&f, rs)
            .map(Cond)
            .map_err(|e| e.detail)
    }
    pub(crate) fn matches(&self, v: &Value) -> bool {
        v.as_object().is_some_and(|m| self.0.matches_map(m))
    }
}

/// Every attribute a filter names must exist (a typo would silently never match).
fn check_filter_paths(
    f: &Filter,
    rs: &ResourceSchema,
    parent: Option<&gcprov_scim::schema::Attribute>,
) -> Result<(), String> {
    let check = |p: &AttrPath| -> Result<Option<&gcprov_scim::schema::Attribute>, String> {
        match parent {
            Some(par) => {
                let a = par
                    .sub_attribute(&p.attr)
                    .ok_or_else(|| format!("'{}' has no sub-attribute '{}'", par.name, p.attr))?;
                if let Some(s) = &p.sub_attr
                    && a.sub_attribute(s).is_none()
                {
                    return Err(format!(
                        "'{}.{}' has no sub-attribute '{s}'",
                        par.name, p.attr
                    ));
                }
                Ok(Some(a))
            }
            None => rs
                .resolve(p)
                .map(|r| Some(r.attribute))
                .ok_or_else(|| unknown(p, rs)),
        }
    };
    match f {
        Filter::Compare { path, .. } | Filter::Present(path) => check(path).map(|_| ()),
        Filter::And(a, b) | Filter::Or(a, b) => {
            check_filter_paths(a, rs, parent)?;
            check_filter_paths(b, rs, parent)
        }
        Filter::Not(a) => check_filter_paths(a, rs, parent),
        Filter::ValuePath { path, filter } => {
            let a = check(path)?;
            check_filter_paths(filter, rs, a)
        }
    }
}

fn unknown(p: &AttrPath, rs: &ResourceSchema) -> String {
    let shown = match &p.urn {
        Some(u) => format!("{u}:{}", p.attr),
        None => p.attr.clone(),
    };
    match &p.urn {
        Some(u) if !rs.knows_schema(u) => format!(
            "unknown schema '{u}' for a {} resource",
            rs.resource_type.name
        ),
        _ => match &p.sub_attr {
            Some(s) if rs.resolve_parts(p.urn.as_deref(), &p.attr, None).is_some() => {
                format!("'{shown}' has no sub-attribute '{s}'")
            }
            _ => format!(
                "unknown attribute '{shown}' in the {} schemas",
                rs.resource_type.name
            ),
        },
    }
}

/// A parsed, schema-checked attribute path: `[urn:]attr[\[filter\]][.sub]`.
#[derive(Debug, Clone)]
pub(crate) struct CompiledPath {
    /// The extension object holding the attribute (`None`: top level).
    pub(crate) ext: Option<String>,
    pub(crate) attr: String,
    pub(crate) multi_valued: bool,
    filter: Option<CompiledFilter>,
    /// The `[filter]` as parsed (the CSV reader turns its `eq` pairs into element values).
    pub(crate) filter_ast: Option<Filter>,
    pub(crate) sub: Option<String>,
    /// The path as the policy wrote it (used in violations).
    pub(crate) text: String,
    /// Values of this path never appear in messages: secrets (password) and personal data
    /// (names, userName, emails, phone numbers, addresses, title, manager, employeeNumber), so
    /// violation messages can go to the audit log, whose redaction works on keys, not text.
    pub(crate) sensitive: bool,
}

impl CompiledPath {
    /// Parse a PATCH-style path (RFC 7644 3.5.2): `attrPath [ "[" valFilter "]" ] [ "." subAttr ]`
    /// and resolve it against the schemas of `kind`.
    pub(crate) fn parse(s: &str, kind: ResourceKind) -> Result<CompiledPath, String> {
        let s = s.trim();
        let (head, filter, tail) = match s.find('[') {
            None => (s, None, None),
            Some(open) => {
                let close = s
                    .rfind(']')
                    .filter(|c| *c > open)
                    .ok_or_else(|| "'[' without ']'".to_string())?;
                let f = parse_filter(&s[open + 1..close])?;
                let tail = &s[close + 1..];
                let tail = if tail.is_empty() {
                    None
                } else {
                    Some(
                        tail.strip_prefix('.')
                            .ok_or_else(|| format!("unexpected '{tail}' after ']'"))?,
                    )
                };
                (&s[..open], Some(f), tail)
            }
        };
        let mut ap = AttrPath::parse(head).map_err(|e| e.detail)?;
        if let Some(t) = tail {
            if ap.sub_attr.is_some() {
                return Err("a path has at most one sub-attribute".into());
            }
            ap.sub_attr = Some(t.to_string());
        } else if filter.is_some() && ap.sub_attr.is_some() {
            return Err("the [filter] must follow the attribute, not its sub-attribute".into());
        }
        let rs = resource_schema(kind);
        let r = rs.resolve(&ap).ok_or_else(|| unknown(&ap, rs))?;
        let filter_ast = filter.clone();
        let filter = match filter {
            None => None,
            Some(f) => {
                if !r.attribute.multi_valued {
                    return Err(format!(
                        "'{}' is single-valued: it takes no [filter]",
                        r.attribute.name
                    ));
                }
                check_filter_paths(&f, rs, Some(r.attribute))?;
                Some(CompiledFilter::compile_element(&f, Some(r.attribute)).map_err(|e| e.detail)?)
            }
        };
        Ok(CompiledPath {
            ext: r.extension.map(str::to_string),
            attr: r.attribute.name.clone(),
            multi_valued: r.attribute.multi_valued,
            filter,
            filter_ast,
            sub: r.sub_attribute.map(|a| a.name.clone()),
            text: s.to_string(),
            sensitive: WITHHELD
                .iter()
                .any(|w| r.attribute.name.eq_ignore_ascii_case(w)),
        })
    }

    /// Every non-null value the path designates, in document order; arrays are flattened.
    pub(crate) fn values<'a>(&self, resource: &'a Value) -> Vals<'a> {
        let mut out = Vals::default();
        let base = match &self.ext {
            None => Some(resource),
            Some(urn) => get_ci(resource, urn),
        };
        let Some(v) = base.and_then(|b| get_ci(b, &self.attr)) else {
            return out;
        };
        let mut visit = |elem: &'a Value| {
            if let Some(f) = &self.filter
                && !elem.as_object().is_some_and(|m| f.matches_map(m))
            {
                return;
            }
            match &self.sub {
                Some(sub) => match get_ci(elem, sub) {
                    Some(Value::Array(items)) => items
                        .iter()
                        .filter(|x| !x.is_null())
                        .for_each(|x| out.push(x)),
                    Some(Value::Null) | None => {}
                    Some(x) => out.push(x),
                },
                None => {
                    if !elem.is_null() {
                        out.push(elem)
                    }
                }
            }
        };
        match v {
            Value::Array(items) => items.iter().for_each(&mut visit),
            other => visit(other),
        }
        out
    }

    /// True when the path designates at least one present value (RFC 7644 `pr` semantics).
    pub(crate) fn is_present(&self, resource: &Value) -> bool {
        self.values(resource).into_iter().any(is_present_value)
    }
}

/// The values of a path. Most paths designate zero or one value: those cost no allocation.
#[derive(Debug, Default)]
pub(crate) struct Vals<'a> {
    first: Option<&'a Value>,
    rest: Vec<&'a Value>,
}

impl<'a> Vals<'a> {
    fn push(&mut self, v: &'a Value) {
        if self.first.is_none() {
            self.first = Some(v);
        } else {
            self.rest.push(v);
        }
    }
    pub(crate) fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }
}

impl<'a> IntoIterator for Vals<'a> {
    type Item = &'a Value;
    type IntoIter =
        std::iter::Chain<std::option::IntoIter<&'a Value>, std::vec::IntoIter<&'a Value>>;
    fn into_iter(self) -> Self::IntoIter {
        self.first.into_iter().chain(self.rest)
    }
}

/// RFC 7644 `pr`: not null, not an empty string, array or object.
pub(crate) fn is_present_value(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.trim().is_empty(),
        Value::Array(a) => a.iter().any(is_present_value),
        Value::Object(o) => o.values().any(is_present_value),
        _ => true,
    }
}

/// Case-insensitive member lookup on a JSON value; an exact-case key wins over other cases.
///
/// SCIM objects are small, so a linear scan that compares lengths first beats hashing long
/// URN keys (profiling showed SipHash of extension URNs dominating evaluation); large objects
/// use the hash lookup first.
pub(crate) fn get_ci<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let obj = v.as_object()?;
    if obj.len() > 24 {
        return gcprov_scim::resource::get_ci(obj, key);
    }
    let kb = key.as_bytes();
    let (Some(first), Some(last)) = (kb.first(), kb.last()) else {
        return obj.get(key);
    };
    let (first, last) = (first.to_ascii_lowercase(), last.to_ascii_lowercase());
    let mut folded = None;
    for (k, val) in obj {
        let b = k.as_bytes();
        // Cheap filters before any full comparison: length, then first and last byte.
        if b.len() != kb.len()
            || b[0].to_ascii_lowercase() != first
            || b[b.len() - 1].to_ascii_lowercase() != last
        {
            continue;
        }
        if b == kb {
            return Some(val);
        }
        if folded.is_none() && b.eq_ignore_ascii_case(kb) {
            folded = Some(val);
        }
    }
    folded
}

/// SCIM booleans as IdPs really send them: `true` or `"True"`.
pub(crate) fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}
