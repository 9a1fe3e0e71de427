//! SCIM filter expressions (RFC 7644 section 3.4.2.2): AST, parser, canonical printer, evaluator.
//!
//! The AST below is the shared contract used by the emulator, the gateway's read model (which
//! translates it to SQL) and the policy engine. Extend it rather than shadowing it elsewhere.

/// An attribute path: optional schema URN, attribute name, optional sub-attribute.
/// `urn:ietf:params:scim:schemas:core:2.0:User:name.givenName` has `urn = Some("urn:...:User")`,
/// `attr = "name"`, `sub_attr = Some("givenName")`. Names keep the caller's case; comparisons of
/// names are case-insensitive (RFC 7643 2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    pub urn: Option<String>,
    pub attr: String,
    pub sub_attr: Option<String>,
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A comparison literal. dateTime literals are JSON strings; the evaluator compares them as
/// times when the attribute's type is dateTime.
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `attrPath op value`
    Compare { path: AttrPath, op: CompareOp, value: CompValue },
    /// `attrPath pr`
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attrPath[valFilter]`: `filter`'s paths are relative to the elements of `path`.
    ValuePath { path: AttrPath, filter: Box<Filter> },
}
