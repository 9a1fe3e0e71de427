//! Schemas as data (RFC 7643 sections 2, 7 and 8.7): attribute characteristics, schema and
//! resource-type definitions, and generators for the `/Schemas`, `/ResourceTypes` and
//! `/ServiceProviderConfig` bodies.
//!
//! The built-in definitions live in [`defs`]; [`ResourceSchema`] binds a core schema with its
//! extensions and resolves [`AttrPath`]s to attribute definitions (case-insensitively, with or
//! without URN prefix). Callers that advertise only part of a schema use [`Schema::retain`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::filter::AttrPath;

pub mod defs;

pub use defs::{
    ENTERPRISE_USER, GENESYS_USER, GROUP, RESOURCE_TYPE, SCHEMA, SERVICE_PROVIDER_CONFIG, USER,
};

/// URN of the `ListResponse` message.
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// URN of the `PatchOp` message.
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Attribute data type (RFC 7643 2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

/// `mutability` (RFC 7643 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

/// `returned` (RFC 7643 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

/// `uniqueness` (RFC 7643 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

/// One attribute definition with all its characteristics.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub attr_type: AttrType,
    pub multi_valued: bool,
    pub description: String,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub canonical_values: Vec<String>,
    pub reference_types: Vec<String>,
    pub sub_attributes: Vec<Attribute>,
}

impl Attribute {
    /// A new attribute with RFC 7643 defaults (single-valued, optional, not caseExact,
    /// readWrite, returned by default, no uniqueness).
    pub fn new(name: impl Into<String>, attr_type: AttrType) -> Self {
        Self {
            name: name.into(),
            attr_type,
            multi_valued: false,
            description: String::new(),
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            canonical_values: Vec::new(),
            reference_types: Vec::new(),
            sub_attributes: Vec::new(),
        }
    }
    pub fn string(name: &str) -> Self {
        Self::new(name, AttrType::String)
    }
    pub fn boolean(name: &str) -> Self {
        Self::new(name, AttrType::Boolean)
    }
    pub fn decimal(name: &str) -> Self {
        Self::new(name, AttrType::Decimal)
    }
    pub fn integer(name: &str) -> Self {
        Self::new(name, AttrType::Integer)
    }
    pub fn date_time(name: &str) -> Self {
        Self::new(name, AttrType::DateTime)
    }
    pub fn binary(name: &str) -> Self {
        Self::new(name, AttrType::Binary)
    }
    /// A reference attribute with its `referenceTypes`.
    pub fn reference(name: &str, types: &[&str]) -> Self {
        let mut a = Self::new(name, AttrType::Reference);
        a.reference_types = types.iter().map(|s| s.to_string()).collect();
        a
    }
    /// A complex attribute with its sub-attributes.
    pub fn complex(name: &str, subs: Vec<Attribute>) -> Self {
        let mut a = Self::new(name, AttrType::Complex);
        a.sub_attributes = subs;
        a
    }
    pub fn desc(mut self, d: &str) -> Self {
        self.description = d.to_string();
        self
    }
    pub fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    pub fn mutability(mut self, m: Mutability) -> Self {
        self.mutability = m;
        self
    }
    pub fn read_only(self) -> Self {
        self.mutability(Mutability::ReadOnly)
    }
    pub fn returned(mut self, r: Returned) -> Self {
        self.returned = r;
        self
    }
    pub fn uniqueness(mut self, u: Uniqueness) -> Self {
        self.uniqueness = u;
        self
    }
    pub fn canonical(mut self, values: &[&str]) -> Self {
        self.canonical_values = values.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Case-insensitive lookup of a sub-attribute.
    pub fn sub_attribute(&self, name: &str) -> Option<&Attribute> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The RFC 7643 section 7 JSON representation.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        m.insert("type".into(), json!(self.attr_type));
        m.insert("multiValued".into(), json!(self.multi_valued));
        m.insert("description".into(), json!(self.description));
        m.insert("required".into(), json!(self.required));
        if !self.canonical_values.is_empty() {
            m.insert("canonicalValues".into(), json!(self.canonical_values));
        }
        // Every characteristic is written for every attribute (strict discovery clients
        // prefer explicit values to RFC defaults); none is ever null.
        m.insert("caseExact".into(), json!(self.case_exact));
        m.insert("mutability".into(), json!(self.mutability));
        m.insert("returned".into(), json!(self.returned));
        m.insert("uniqueness".into(), json!(self.uniqueness));
        if self.attr_type == AttrType::Reference {
            m.insert("referenceTypes".into(), json!(self.reference_types));
        }
        if self.attr_type == AttrType::Complex {
            let subs: Vec<Value> = self.sub_attributes.iter().map(Attribute::to_json).collect();
            m.insert("subAttributes".into(), Value::Array(subs));
        }
        Value::Object(m)
    }
}

/// A schema definition: id (URN), name, description and attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub id: String,
    pub name: String,
    pub description: String,
    pub attributes: Vec<Attribute>,
}

impl Schema {
    /// Case-insensitive lookup of a top-level attribute.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// A copy keeping only the attributes for which `keep(path)` is true. `path` is the attribute
    /// name for top-level attributes and `attr.sub` for sub-attributes (a complex attribute
    /// whose sub-attributes are all dropped is dropped too). Names are as defined in the schema.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) -> Schema {
        let mut out = self.clone();
        out.attributes = self
            .attributes
            .iter()
            .filter(|a| keep(&a.name))
            .filter_map(|a| {
                let mut a = a.clone();
                if a.attr_type == AttrType::Complex {
                    let parent = a.name.clone();
                    a.sub_attributes
                        .retain(|s| keep(&format!("{parent}.{}", s.name)));
                    if a.sub_attributes.is_empty() {
                        return None;
                    }
                }
                Some(a)
            })
            .collect();
        out
    }

    /// The `/Schemas/{id}` body. `base_url` (no trailing slash) is used for `meta.location`.
    pub fn to_json(&self, base_url: &str) -> Value {
        json!({
            "schemas": [SCHEMA],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": self.attributes.iter().map(Attribute::to_json).collect::<Vec<_>>(),
            "meta": {
                "resourceType": "Schema",
                "location": format!("{base_url}/Schemas/{}", self.id),
            }
        })
    }
}

/// A schema extension of a resource type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaExtension {
    pub schema: String,
    pub required: bool,
}

/// A resource type (RFC 7643 section 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceType {
    pub id: String,
    pub name: String,
    pub description: String,
    /// Relative endpoint, e.g. `/Users`.
    pub endpoint: String,
    pub schema: String,
    pub schema_extensions: Vec<SchemaExtension>,
}

impl ResourceType {
    /// The `/ResourceTypes/{id}` body.
    pub fn to_json(&self, base_url: &str) -> Value {
        let mut v = json!({
            "schemas": [RESOURCE_TYPE],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "endpoint": self.endpoint,
            "schema": self.schema,
            "meta": {
                "resourceType": "ResourceType",
                "location": format!("{base_url}/ResourceTypes/{}", self.id),
            }
        });
        if !self.schema_extensions.is_empty()
            && let Some(m) = v.as_object_mut()
        {
            let exts: Vec<Value> = self
                .schema_extensions
                .iter()
                .map(|e| json!({"schema": e.schema, "required": e.required}))
                .collect();
            m.insert("schemaExtensions".into(), Value::Array(exts));
        }
        v
    }
}

/// A core schema bound with its extensions: what a resource of one type may contain.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceSchema {
    pub resource_type: ResourceType,
    pub core: Schema,
    pub extensions: Vec<Schema>,
}

/// Where an attribute path lands in a resource.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resolved<'a> {
    /// `Some(urn)` when the attribute lives in an extension object keyed by this URN.
    pub extension: Option<&'a str>,
    pub attribute: &'a Attribute,
    pub sub_attribute: Option<&'a Attribute>,
}

impl<'a> Resolved<'a> {
    /// The innermost definition (the sub-attribute if any).
    pub fn leaf(&self) -> &'a Attribute {
        self.sub_attribute.unwrap_or(self.attribute)
    }
}

impl ResourceSchema {
    /// All schemas (core first).
    pub fn schemas(&self) -> impl Iterator<Item = &Schema> {
        std::iter::once(&self.core).chain(self.extensions.iter())
    }

    /// The extension with this URN (case-insensitive).
    pub fn extension(&self, urn: &str) -> Option<&Schema> {
        self.extensions
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// Whether `urn` is the core schema or one of the extensions.
    pub fn knows_schema(&self, urn: &str) -> bool {
        self.core.id.eq_ignore_ascii_case(urn) || self.extension(urn).is_some()
    }

    /// Resolves an attribute path. Without a URN the core schema is searched first, then the
    /// extensions in order (Genesys and Entra filter on `manager`, `division`, `employeeNumber`
    /// without the enterprise URN). Common attributes (`id`, `externalId`, `meta`) resolve
    /// through [`common_attributes`]. Returns `None` for unknown attributes.
    pub fn resolve(&self, path: &AttrPath) -> Option<Resolved<'_>> {
        self.resolve_parts(path.urn.as_deref(), &path.attr, path.sub_attr.as_deref())
    }

    /// Like [`ResourceSchema::resolve`] with the parts given separately.
    pub fn resolve_parts(
        &self,
        urn: Option<&str>,
        attr: &str,
        sub: Option<&str>,
    ) -> Option<Resolved<'_>> {
        fn finish_with<'a>(
            extension: Option<&'a str>,
            attribute: &'a Attribute,
            sub: Option<&str>,
        ) -> Option<Resolved<'a>> {
            let sub_attribute = match sub {
                Some(s) => Some(attribute.sub_attribute(s)?),
                None => None,
            };
            Some(Resolved {
                extension,
                attribute,
                sub_attribute,
            })
        }
        match urn {
            Some(u) if self.core.id.eq_ignore_ascii_case(u) => {
                let a = self
                    .core
                    .attribute(attr)
                    .or_else(|| common_attribute(attr))?;
                finish_with(None, a, sub)
            }
            Some(u) => {
                let ext = self.extension(u)?;
                finish_with(Some(ext.id.as_str()), ext.attribute(attr)?, sub)
            }
            None => {
                if let Some(a) = self.core.attribute(attr).or_else(|| common_attribute(attr)) {
                    return finish_with(None, a, sub);
                }
                self.extensions
                    .iter()
                    .find_map(|e| e.attribute(attr).map(|a| (e.id.as_str(), a)))
                    .and_then(|(urn, a)| finish_with(Some(urn), a, sub))
            }
        }
    }

    /// The schema definitions of this resource type with only the attributes `keep` accepts
    /// (see [`Schema::retain`]; the predicate receives the schema URN and the attribute path).
    pub fn advertised(&self, keep: impl Fn(&str, &str) -> bool) -> Vec<Schema> {
        self.schemas()
            .map(|s| s.retain(|p| keep(&s.id, p)))
            .collect()
    }
}

/// The common attributes every resource has (RFC 7643 3.1): `id`, `externalId`, `meta`.
/// They are not listed in `/Schemas` bodies but drive evaluation, projection and PATCH.
pub fn common_attributes() -> &'static [Attribute] {
    &defs::COMMON
}

/// Case-insensitive lookup in [`common_attributes`].
pub fn common_attribute(name: &str) -> Option<&'static Attribute> {
    common_attributes()
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
}

/// The `/Schemas` list body for the given schemas.
pub fn schemas_body(schemas: &[Schema], base_url: &str) -> Value {
    let resources: Vec<Value> = schemas.iter().map(|s| s.to_json(base_url)).collect();
    list_body(resources)
}

/// The `/ResourceTypes` list body.
pub fn resource_types_body(types: &[ResourceType], base_url: &str) -> Value {
    let resources: Vec<Value> = types.iter().map(|t| t.to_json(base_url)).collect();
    list_body(resources)
}

fn list_body(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": resources.len(),
        "startIndex": 1,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// An authentication scheme advertised in `/ServiceProviderConfig`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticationScheme {
    /// `oauthbearertoken`, `httpbasic`, ...
    pub scheme_type: String,
    pub name: String,
    pub description: String,
    pub spec_uri: Option<String>,
    pub primary: bool,
}

/// The service provider's capabilities (RFC 7643 section 5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceProviderConfig {
    pub documentation_uri: Option<String>,
    pub patch: bool,
    pub bulk: Option<(u32, u64)>,
    /// `Some(maxResults)` when filtering is supported.
    pub filter_max_results: Option<u32>,
    pub change_password: bool,
    pub sort: bool,
    pub etag: bool,
    pub authentication_schemes: Vec<AuthenticationScheme>,
}

impl Default for ServiceProviderConfig {
    fn default() -> Self {
        Self {
            documentation_uri: None,
            patch: true,
            bulk: None,
            filter_max_results: Some(200),
            change_password: false,
            sort: true,
            etag: true,
            authentication_schemes: vec![AuthenticationScheme {
                scheme_type: "oauthbearertoken".into(),
                name: "OAuth Bearer Token".into(),
                description: "Authentication with a bearer token in the Authorization header"
                    .into(),
                spec_uri: Some("https://www.rfc-editor.org/info/rfc6750".into()),
                primary: true,
            }],
        }
    }
}

impl ServiceProviderConfig {
    /// The `/ServiceProviderConfig` body.
    pub fn to_json(&self, base_url: &str) -> Value {
        let (bulk_ops, bulk_size) = self.bulk.unwrap_or((0, 0));
        let mut v = json!({
            "schemas": [SERVICE_PROVIDER_CONFIG],
            "patch": {"supported": self.patch},
            "bulk": {"supported": self.bulk.is_some(), "maxOperations": bulk_ops, "maxPayloadSize": bulk_size},
            "filter": {"supported": self.filter_max_results.is_some(), "maxResults": self.filter_max_results.unwrap_or(0)},
            "changePassword": {"supported": self.change_password},
            "sort": {"supported": self.sort},
            "etag": {"supported": self.etag},
            "authenticationSchemes": self.authentication_schemes.iter().map(|a| {
                let mut s = json!({"type": a.scheme_type, "name": a.name, "description": a.description, "primary": a.primary});
                if let (Some(uri), Some(m)) = (&a.spec_uri, s.as_object_mut()) {
                    m.insert("specUri".into(), json!(uri));
                }
                s
            }).collect::<Vec<_>>(),
            "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base_url}/ServiceProviderConfig")},
        });
        if let (Some(doc), Some(m)) = (&self.documentation_uri, v.as_object_mut()) {
            m.insert("documentationUri".into(), json!(doc));
        }
        v
    }
}
