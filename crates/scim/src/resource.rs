//! SCIM resources as JSON objects with case-insensitive access (RFC 7643 2.1).
//!
//! [`Resource`] wraps a `serde_json::Map` so that every attribute, including unknown extension
//! attributes, round-trips unchanged. Lookups ignore the case of attribute names and schema
//! URNs; a fully qualified name (`urn:...:User:emails`) resolves like the short one, and an
//! extension URN prefix looks inside the extension object. Typed accessors cover the attributes
//! the rest of gcprov reads.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{ScimError, ScimType};
use crate::schema::{ENTERPRISE_USER, GENESYS_USER};

/// Case-insensitive lookup in a JSON object.
///
/// Small objects (the common case: a user has a dozen attributes, an `emails` element three)
/// are scanned once, comparing lengths first, which touches fewer cache lines than hashing into
/// the index and then falling back to a scan. Large objects try the exact key via the hash
/// index first. (Note: only ASCII case is folded in member names; SCIM names are ASCII.)
#[inline]
pub fn get_ci<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    let kb = key.as_bytes();
    if map.len() <= SCAN_LIMIT {
        return map
            .iter()
            .find(|(k, _)| k.len() == kb.len() && k.as_bytes().eq_ignore_ascii_case(kb))
            .map(|(_, v)| v);
    }
    if let Some(v) = map.get(key) {
        return Some(v);
    }
    map.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// Objects up to this many members are searched linearly by [`get_ci`].
const SCAN_LIMIT: usize = 24;

/// The key actually stored for `key` (case-insensitive), if any.
pub fn key_ci(map: &Map<String, Value>, key: &str) -> Option<String> {
    if map.contains_key(key) {
        return Some(key.to_string());
    }
    map.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned()
}

/// Case-insensitive mutable lookup.
pub fn get_ci_mut<'a>(map: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Value> {
    let k = key_ci(map, key)?;
    map.get_mut(&k)
}

/// Case-insensitive removal; returns the removed value.
pub fn remove_ci(map: &mut Map<String, Value>, key: &str) -> Option<Value> {
    let k = key_ci(map, key)?;
    map.remove(&k)
}

/// Whether `s` starts with `urn:` (any case).
pub fn is_urn(s: &str) -> bool {
    s.len() > 4 && s.as_bytes()[..4].eq_ignore_ascii_case(b"urn:")
}

/// Splits `urn:...:attr[.sub]` into (`Some(urn)`, `attr[.sub]`); other names give (`None`, name).
pub fn split_urn(name: &str) -> (Option<&str>, &str) {
    if is_urn(name)
        && let Some(i) = name.rfind(':')
    {
        return (Some(&name[..i]), &name[i + 1..]);
    }
    (None, name)
}

/// A SCIM resource (User, Group or any other type) as a JSON object.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Resource {
    attrs: Map<String, Value>,
}

/// A `{value, type, primary, display}` element of a multi-valued attribute.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiValue {
    pub value: Option<String>,
    pub kind: Option<String>,
    pub primary: bool,
    pub display: Option<String>,
}

/// The `name` complex attribute.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Name {
    pub formatted: Option<String>,
    pub family_name: Option<String>,
    pub given_name: Option<String>,
    pub middle_name: Option<String>,
    pub honorific_prefix: Option<String>,
    pub honorific_suffix: Option<String>,
}

/// A Genesys routing skill or language (`{name, proficiency}`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Proficiency {
    pub name: String,
    pub proficiency: Option<f64>,
}

/// A Genesys external id (`{authority, value}`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExternalIdRef {
    pub authority: String,
    pub value: String,
}

/// A group member (`{value, type, display, $ref}`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Member {
    pub value: String,
    pub kind: Option<String>,
    pub display: Option<String>,
    pub reference: Option<String>,
}

fn str_of(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str)
}

fn bool_of(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

impl Resource {
    /// An empty resource.
    pub fn new() -> Self {
        Self::default()
    }

    /// A resource from a JSON object (`invalidSyntax` for anything else).
    pub fn from_json(value: Value) -> Result<Self, ScimError> {
        match value {
            Value::Object(attrs) => Ok(Self { attrs }),
            _ => Err(ScimError::bad_request(
                ScimType::InvalidSyntax,
                "a SCIM resource must be a JSON object",
            )),
        }
    }

    /// Parses a resource from JSON bytes (`invalidSyntax` on malformed JSON).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, ScimError> {
        let v: Value = serde_json::from_slice(bytes).map_err(|e| {
            ScimError::bad_request(ScimType::InvalidSyntax, format!("malformed JSON: {e}"))
        })?;
        Self::from_json(v)
    }

    /// A resource wrapping `attrs`.
    pub fn from_map(attrs: Map<String, Value>) -> Self {
        Self { attrs }
    }

    /// The underlying object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.attrs
    }

    /// The underlying object, mutable.
    pub fn as_map_mut(&mut self) -> &mut Map<String, Value> {
        &mut self.attrs
    }

    /// Consumes the resource into its object.
    pub fn into_map(self) -> Map<String, Value> {
        self.attrs
    }

    /// Consumes the resource into a JSON value.
    pub fn into_json(self) -> Value {
        Value::Object(self.attrs)
    }

    /// A JSON value copy.
    pub fn to_json(&self) -> Value {
        Value::Object(self.attrs.clone())
    }

    /// The `schemas` URNs.
    pub fn schemas(&self) -> Vec<&str> {
        match get_ci(&self.attrs, "schemas") {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// Whether `schemas` contains `urn` (case-insensitive).
    pub fn has_schema(&self, urn: &str) -> bool {
        self.schemas().iter().any(|s| s.eq_ignore_ascii_case(urn))
    }

    /// Adds `urn` to `schemas` if missing.
    pub fn add_schema(&mut self, urn: &str) {
        if self.has_schema(urn) {
            return;
        }
        match get_ci_mut(&mut self.attrs, "schemas") {
            Some(Value::Array(a)) => a.push(Value::String(urn.to_string())),
            _ => {
                self.attrs.insert(
                    "schemas".into(),
                    Value::Array(vec![Value::String(urn.to_string())]),
                );
            }
        }
    }

    /// The extension object for `urn`, if present.
    pub fn extension(&self, urn: &str) -> Option<&Map<String, Value>> {
        get_ci(&self.attrs, urn).and_then(Value::as_object)
    }

    /// Looks up an attribute by name: `userName`, `name.givenName`, `urn:...:User:emails`,
    /// `urn:...:enterprise:2.0:User:manager.value`. Case-insensitive. A short name that is not a
    /// top-level attribute is looked up in the extension objects (`department` finds the
    /// enterprise department). For multi-valued complex attributes, `emails.value` returns the
    /// `value` of the first element (use [`Resource::get_all`] for all of them).
    pub fn get(&self, name: &str) -> Option<&Value> {
        if is_urn(name)
            && let Some(v) = get_ci(&self.attrs, name)
        {
            return Some(v);
        }
        let (urn, rest) = split_urn(name);
        let (attr, sub) = match rest.split_once('.') {
            Some((a, s)) => (a, Some(s)),
            None => (rest, None),
        };
        let top = self.lookup(urn, attr)?;
        match sub {
            None => Some(top),
            Some(sub) => match top {
                Value::Object(m) => get_ci(m, sub),
                Value::Array(items) => items
                    .iter()
                    .filter_map(Value::as_object)
                    .find_map(|m| get_ci(m, sub)),
                _ => None,
            },
        }
    }

    /// All values at `name` (flattening multi-valued attributes and their sub-attributes).
    pub fn get_all(&self, name: &str) -> Vec<&Value> {
        let (urn, rest) = split_urn(name);
        let (attr, sub) = match rest.split_once('.') {
            Some((a, s)) => (a, Some(s)),
            None => (rest, None),
        };
        let Some(top) = self.lookup(urn, attr) else {
            return Vec::new();
        };
        let items: Vec<&Value> = match top {
            Value::Array(a) => a.iter().collect(),
            Value::Null => Vec::new(),
            v => vec![v],
        };
        match sub {
            None => items,
            Some(sub) => items
                .into_iter()
                .filter_map(|v| v.as_object().and_then(|m| get_ci(m, sub)))
                .collect(),
        }
    }

    /// Top-level or extension attribute lookup.
    pub(crate) fn lookup(&self, urn: Option<&str>, attr: &str) -> Option<&Value> {
        if let Some(urn) = urn {
            if let Some(ext) = self.extension(urn) {
                return get_ci(ext, attr);
            }
            // A URN that is not an extension object names the core schema.
            if urn.to_ascii_lowercase().contains(":extension:") {
                return None;
            }
            return get_ci(&self.attrs, attr);
        }
        if let Some(v) = get_ci(&self.attrs, attr) {
            return Some(v);
        }
        self.attrs
            .iter()
            .filter(|(k, _)| is_urn(k))
            .filter_map(|(_, v)| v.as_object())
            .find_map(|ext| get_ci(ext, attr))
    }

    /// Sets a top-level attribute, replacing any differently-cased key.
    pub fn set(&mut self, name: &str, value: Value) {
        let key = key_ci(&self.attrs, name).unwrap_or_else(|| name.to_string());
        self.attrs.insert(key, value);
    }

    /// Sets an attribute of the extension `urn`, creating the extension object and adding the
    /// URN to `schemas` when needed.
    pub fn set_extension_attr(&mut self, urn: &str, name: &str, value: Value) {
        self.add_schema(urn);
        let key = key_ci(&self.attrs, urn).unwrap_or_else(|| urn.to_string());
        let entry = self
            .attrs
            .entry(key)
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        if let Value::Object(m) = entry {
            let k = key_ci(m, name).unwrap_or_else(|| name.to_string());
            m.insert(k, value);
        }
    }

    /// Removes a top-level attribute (case-insensitive).
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        remove_ci(&mut self.attrs, name)
    }

    /// A string attribute by name (see [`Resource::get`]).
    pub fn get_str(&self, name: &str) -> Option<&str> {
        str_of(self.get(name))
    }

    // ----- typed accessors -----

    pub fn id(&self) -> Option<&str> {
        str_of(get_ci(&self.attrs, "id"))
    }
    pub fn external_id(&self) -> Option<&str> {
        str_of(get_ci(&self.attrs, "externalId"))
    }
    pub fn user_name(&self) -> Option<&str> {
        str_of(get_ci(&self.attrs, "userName"))
    }
    pub fn display_name(&self) -> Option<&str> {
        str_of(get_ci(&self.attrs, "displayName"))
    }
    pub fn title(&self) -> Option<&str> {
        str_of(get_ci(&self.attrs, "title"))
    }
    /// `active`, accepting Entra's `"True"`/`"False"` strings.
    pub fn active(&self) -> Option<bool> {
        get_ci(&self.attrs, "active").and_then(bool_of)
    }
    /// `meta.version` (the ETag).
    pub fn version(&self) -> Option<&str> {
        str_of(
            get_ci(&self.attrs, "meta")
                .and_then(Value::as_object)
                .and_then(|m| get_ci(m, "version")),
        )
    }

    /// The `name` complex attribute.
    pub fn name(&self) -> Option<Name> {
        let m = get_ci(&self.attrs, "name")?.as_object()?;
        let f = |k: &str| str_of(get_ci(m, k)).map(str::to_string);
        Some(Name {
            formatted: f("formatted"),
            family_name: f("familyName"),
            given_name: f("givenName"),
            middle_name: f("middleName"),
            honorific_prefix: f("honorificPrefix"),
            honorific_suffix: f("honorificSuffix"),
        })
    }

    /// Elements of a multi-valued `{value,type,primary,display}` attribute (`emails`,
    /// `phoneNumbers`, `roles`, ...).
    pub fn multi_values(&self, name: &str) -> Vec<MultiValue> {
        let Some(Value::Array(items)) = get_ci(&self.attrs, name) else {
            return Vec::new();
        };
        items
            .iter()
            .filter_map(Value::as_object)
            .map(|m| MultiValue {
                value: str_of(get_ci(m, "value")).map(str::to_string),
                kind: str_of(get_ci(m, "type")).map(str::to_string),
                primary: get_ci(m, "primary").and_then(bool_of).unwrap_or(false),
                display: str_of(get_ci(m, "display")).map(str::to_string),
            })
            .collect()
    }

    /// `emails`.
    pub fn emails(&self) -> Vec<MultiValue> {
        self.multi_values("emails")
    }

    /// The primary email: the element marked primary, else the `work` one, else the first.
    pub fn primary_email(&self) -> Option<String> {
        let emails = self.emails();
        emails
            .iter()
            .find(|e| e.primary)
            .or_else(|| {
                emails.iter().find(|e| {
                    e.kind
                        .as_deref()
                        .is_some_and(|k| k.eq_ignore_ascii_case("work"))
                })
            })
            .or_else(|| emails.first())
            .and_then(|e| e.value.clone())
    }

    /// The email of a given `type` (case-insensitive).
    pub fn email_of_type(&self, kind: &str) -> Option<String> {
        self.emails()
            .into_iter()
            .find(|e| {
                e.kind
                    .as_deref()
                    .is_some_and(|k| k.eq_ignore_ascii_case(kind))
            })
            .and_then(|e| e.value)
    }

    fn enterprise_str(&self, attr: &str) -> Option<&str> {
        str_of(
            self.extension(ENTERPRISE_USER)
                .and_then(|m| get_ci(m, attr)),
        )
    }
    pub fn department(&self) -> Option<&str> {
        self.enterprise_str("department")
    }
    pub fn division(&self) -> Option<&str> {
        self.enterprise_str("division")
    }
    pub fn cost_center(&self) -> Option<&str> {
        self.enterprise_str("costCenter")
    }
    pub fn organization(&self) -> Option<&str> {
        self.enterprise_str("organization")
    }
    pub fn employee_number(&self) -> Option<&str> {
        self.enterprise_str("employeeNumber")
    }
    /// The manager's id (`manager.value`; a bare string manager is tolerated).
    pub fn manager_id(&self) -> Option<&str> {
        match self
            .extension(ENTERPRISE_USER)
            .and_then(|m| get_ci(m, "manager"))?
        {
            Value::String(s) => Some(s),
            Value::Object(m) => str_of(get_ci(m, "value")),
            Value::Array(a) => a
                .first()
                .and_then(Value::as_object)
                .and_then(|m| str_of(get_ci(m, "value"))),
            _ => None,
        }
    }

    fn genesys_items(&self, attr: &str) -> Vec<&Map<String, Value>> {
        match self.extension(GENESYS_USER).and_then(|m| get_ci(m, attr)) {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_object).collect(),
            _ => Vec::new(),
        }
    }
    fn proficiencies(&self, attr: &str) -> Vec<Proficiency> {
        self.genesys_items(attr)
            .into_iter()
            .filter_map(|m| {
                Some(Proficiency {
                    name: str_of(get_ci(m, "name"))?.to_string(),
                    proficiency: get_ci(m, "proficiency").and_then(|v| match v {
                        Value::Number(n) => n.as_f64(),
                        Value::String(s) => s.parse().ok(),
                        _ => None,
                    }),
                })
            })
            .collect()
    }
    /// Genesys `routingSkills`.
    pub fn routing_skills(&self) -> Vec<Proficiency> {
        self.proficiencies("routingSkills")
    }
    /// Genesys `routingLanguages`.
    pub fn routing_languages(&self) -> Vec<Proficiency> {
        self.proficiencies("routingLanguages")
    }
    /// Genesys `externalIds`.
    pub fn genesys_external_ids(&self) -> Vec<ExternalIdRef> {
        self.genesys_items("externalIds")
            .into_iter()
            .filter_map(|m| {
                Some(ExternalIdRef {
                    authority: str_of(get_ci(m, "authority"))?.to_string(),
                    value: str_of(get_ci(m, "value"))?.to_string(),
                })
            })
            .collect()
    }

    /// Group `members`.
    pub fn members(&self) -> Vec<Member> {
        let Some(Value::Array(items)) = get_ci(&self.attrs, "members") else {
            return Vec::new();
        };
        items
            .iter()
            .filter_map(Value::as_object)
            .filter_map(|m| {
                Some(Member {
                    value: str_of(get_ci(m, "value"))?.to_string(),
                    kind: str_of(get_ci(m, "type")).map(str::to_string),
                    display: str_of(get_ci(m, "display")).map(str::to_string),
                    reference: str_of(get_ci(m, "$ref")).map(str::to_string),
                })
            })
            .collect()
    }
}

impl From<Map<String, Value>> for Resource {
    fn from(attrs: Map<String, Value>) -> Self {
        Self { attrs }
    }
}

impl TryFrom<Value> for Resource {
    type Error = ScimError;
    fn try_from(v: Value) -> Result<Self, ScimError> {
        Self::from_json(v)
    }
}
