//! SCIM filter expressions (RFC 7644 section 3.4.2.2): AST, parser and canonical printer.
//!
//! The AST below is the shared contract used by the emulator, the gateway's read model (which
//! translates it to SQL) and the policy engine. Extend it rather than shadowing it elsewhere.
//! Evaluation against resources lives in [`crate::eval`].
//!
//! # Parsing
//! [`parse`] accepts the whole RFC grammar plus the shapes identity providers and Genesys Cloud
//! really send:
//! - operators, `and`/`or`/`not` and the literals `true`/`false`/`null` in any letter case;
//! - precedence `not` > `and` > `or`, left-associative, parentheses;
//! - value paths `emails[type eq "work" and value co "@acme.com"]`, sub-attributes and
//!   URN-qualified paths (`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`);
//! - Entra ID's `emails[type eq "work"].value eq "x"` (a value path followed by a sub-attribute
//!   and a comparison). It is *desugared* to `emails[type eq "work" and value eq "x"]`, which means
//!   the same thing ("some element has type work and value x"), so the AST, the evaluator and any
//!   SQL translation need no extra case;
//! - unquoted values as Genesys documents them (`userName eq search@sample.org`,
//!   `externalId eq 167844`). A bare word that is a JSON number becomes [`CompValue::Number`]
//!   (the evaluator compares a number literal with a string attribute by its text), `true`,
//!   `false`, `null` become literals and any other bare word becomes [`CompValue::String`].
//!   This tolerance is on by default because rejecting such filters makes IdPs create duplicates;
//!   [`parse_strict`] is the RFC-only mode.
//!
//! Errors are [`ScimError`] 400 `invalidFilter` whose detail names the 1-based character position
//! and what was expected there. Nesting is limited to [`MAX_DEPTH`] levels so no input can
//! exhaust the stack.
//!
//! # Printing
//! `Display` prints a canonical form: lower-case operators and keywords, strings JSON-quoted,
//! the minimum parentheses needed. `parse(&f.to_string()) == Ok(f)` for every filter the parser
//! can produce (checked by property tests).

use std::fmt;

use crate::error::{ScimError, ScimType};

/// Maximum nesting depth of a parsed filter (parentheses, `not`, value paths and the length of
/// `and`/`or` chains all count). Deeper filters are rejected with `invalidFilter`.
pub const MAX_DEPTH: usize = 200;

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

impl AttrPath {
    /// A path to a top-level attribute without URN or sub-attribute.
    pub fn new(attr: impl Into<String>) -> Self {
        Self {
            urn: None,
            attr: attr.into(),
            sub_attr: None,
        }
    }

    /// A path `attr.sub_attr`.
    pub fn with_sub(attr: impl Into<String>, sub: impl Into<String>) -> Self {
        Self {
            urn: None,
            attr: attr.into(),
            sub_attr: Some(sub.into()),
        }
    }

    /// Parses a bare attribute path (`name.givenName`, `urn:...:User:emails`). No brackets.
    pub fn parse(input: &str) -> Result<Self, ScimError> {
        let mut p = Parser::new(input, ParseOptions::default());
        p.skip_ws();
        let path = p.attr_path()?;
        p.skip_ws();
        if !p.at_end() {
            return Err(p.error("end of attribute path"));
        }
        Ok(path)
    }
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

impl CompareOp {
    /// All operators, in RFC order.
    pub const ALL: [CompareOp; 9] = [
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Co,
        CompareOp::Sw,
        CompareOp::Ew,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ];

    /// The lower-case keyword (`eq`, `ne`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    /// Case-insensitive lookup of an operator keyword.
    pub fn from_keyword(word: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(word))
    }
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
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: CompValue,
    },
    /// `attrPath pr`
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attrPath[valFilter]`: `filter`'s paths are relative to the elements of `path`.
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
}

impl Filter {
    /// `path op value` convenience constructor.
    pub fn compare(path: AttrPath, op: CompareOp, value: CompValue) -> Self {
        Filter::Compare { path, op, value }
    }

    /// `a and b`.
    pub fn and(a: Filter, b: Filter) -> Self {
        Filter::And(Box::new(a), Box::new(b))
    }

    /// `a or b`.
    pub fn or(a: Filter, b: Filter) -> Self {
        Filter::Or(Box::new(a), Box::new(b))
    }

    /// `not (a)`.
    #[allow(clippy::should_implement_trait)]
    pub fn not(a: Filter) -> Self {
        Filter::Not(Box::new(a))
    }

    /// Calls `f` for every attribute path in the filter, with the enclosing value path's
    /// attribute for paths inside `[...]` (`None` at top level). Useful to check which
    /// attributes a filter needs before pushing it down to another server or to SQL.
    pub fn visit_paths<'a>(&'a self, f: &mut impl FnMut(Option<&'a AttrPath>, &'a AttrPath)) {
        self.visit_inner(None, f);
    }

    fn visit_inner<'a>(
        &'a self,
        parent: Option<&'a AttrPath>,
        f: &mut impl FnMut(Option<&'a AttrPath>, &'a AttrPath),
    ) {
        match self {
            Filter::Compare { path, .. } | Filter::Present(path) => f(parent, path),
            Filter::And(a, b) | Filter::Or(a, b) => {
                a.visit_inner(parent, f);
                b.visit_inner(parent, f);
            }
            Filter::Not(a) => a.visit_inner(parent, f),
            Filter::ValuePath { path, filter } => {
                f(parent, path);
                filter.visit_inner(Some(path), f);
            }
        }
    }

    /// `Some((path, value))` when the filter is a single `path eq value` comparison: the shape
    /// Entra, Okta and Genesys use for lookups (`userName eq "x"`, `externalId eq "y"`).
    pub fn as_simple_eq(&self) -> Option<(&AttrPath, &CompValue)> {
        match self {
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                value,
            } => Some((path, value)),
            _ => None,
        }
    }

    /// Depth of the tree (a leaf has depth 1).
    pub fn depth(&self) -> usize {
        match self {
            Filter::Compare { .. } | Filter::Present(_) => 1,
            Filter::And(a, b) | Filter::Or(a, b) => 1 + a.depth().max(b.depth()),
            Filter::Not(a) => 1 + a.depth(),
            Filter::ValuePath { filter, .. } => 1 + filter.depth(),
        }
    }
}

impl std::str::FromStr for Filter {
    type Err = ScimError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

/// Parser options. The default is the tolerant mode used by [`parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// Accept unquoted string values (`userName eq search@sample.org`), as Genesys Cloud
    /// documents and Entra ID's documentation shows.
    pub allow_unquoted_values: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            allow_unquoted_values: true,
        }
    }
}

/// Parses a filter, tolerating unquoted values (see the module documentation).
pub fn parse(input: &str) -> Result<Filter, ScimError> {
    parse_with(input, ParseOptions::default())
}

/// Parses a filter accepting only the RFC 7644 grammar (values must be JSON literals).
pub fn parse_strict(input: &str) -> Result<Filter, ScimError> {
    parse_with(
        input,
        ParseOptions {
            allow_unquoted_values: false,
        },
    )
}

/// Parses a filter with explicit options.
pub fn parse_with(input: &str, options: ParseOptions) -> Result<Filter, ScimError> {
    let mut p = Parser::new(input, options);
    p.skip_ws();
    if p.at_end() {
        return Err(p.error("a filter expression"));
    }
    let (f, _) = p.or_expr(0)?;
    p.skip_ws();
    if !p.at_end() {
        let what = if p.in_value_filter {
            "']'"
        } else {
            "'and', 'or' or end of filter"
        };
        return Err(p.error(what));
    }
    Ok(f)
}

// ---------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------

pub(crate) struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pub(crate) pos: usize,
    opts: ParseOptions,
    in_value_filter: bool,
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'$'
}

fn is_path_byte(b: u8) -> bool {
    is_name_byte(b) || b == b'.' || b == b':'
}

fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'$' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl<'a> Parser<'a> {
    pub(crate) fn new(src: &'a str, opts: ParseOptions) -> Self {
        Self {
            src,
            bytes: src.as_bytes(),
            pos: 0,
            opts,
            in_value_filter: false,
        }
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    pub(crate) fn skip_ws(&mut self) -> bool {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// An `invalidFilter` error at the current position.
    pub(crate) fn error(&self, expected: &str) -> ScimError {
        self.error_at(self.pos, expected)
    }

    pub(crate) fn error_at(&self, pos: usize, expected: &str) -> ScimError {
        let pos = pos.min(self.src.len());
        let prefix = self.src.get(..pos).unwrap_or("");
        let column = prefix.chars().count() + 1;
        let rest = self.src.get(pos..).unwrap_or("");
        let found = if rest.is_empty() {
            "end of filter".to_string()
        } else {
            let snippet: String = rest.chars().take(16).collect();
            let more = if rest.chars().nth(16).is_some() {
                "..."
            } else {
                ""
            };
            format!("'{snippet}{more}'")
        };
        ScimError::bad_request(
            ScimType::InvalidFilter,
            format!("invalid filter at position {column}: expected {expected}, found {found}"),
        )
    }

    /// Matches a keyword (case-insensitive) that is not immediately followed by a name byte.
    fn keyword(&mut self, kw: &str) -> bool {
        let end = self.pos + kw.len();
        match self.bytes.get(self.pos..end) {
            Some(w) if w.eq_ignore_ascii_case(kw.as_bytes()) => {
                if self.bytes.get(end).is_some_and(|&b| is_path_byte(b)) {
                    return false;
                }
                self.pos = end;
                true
            }
            _ => false,
        }
    }

    fn too_deep(&self) -> ScimError {
        self.error(&format!("a filter nested at most {MAX_DEPTH} levels deep"))
    }

    /// `or`-level expression. Returns the filter and its tree depth.
    fn or_expr(&mut self, depth: usize) -> Result<(Filter, usize), ScimError> {
        let (mut left, mut d) = self.and_expr(depth)?;
        loop {
            let save = self.pos;
            let had_ws = self.skip_ws();
            if had_ws && self.keyword("or") {
                let (right, rd) = self.and_expr(depth)?;
                d = 1 + d.max(rd);
                if d > MAX_DEPTH {
                    return Err(self.too_deep());
                }
                left = Filter::Or(Box::new(left), Box::new(right));
            } else {
                self.pos = save;
                return Ok((left, d));
            }
        }
    }

    fn and_expr(&mut self, depth: usize) -> Result<(Filter, usize), ScimError> {
        let (mut left, mut d) = self.unary(depth)?;
        loop {
            let save = self.pos;
            let had_ws = self.skip_ws();
            if had_ws && self.keyword("and") {
                let (right, rd) = self.unary(depth)?;
                d = 1 + d.max(rd);
                if d > MAX_DEPTH {
                    return Err(self.too_deep());
                }
                left = Filter::And(Box::new(left), Box::new(right));
            } else {
                self.pos = save;
                return Ok((left, d));
            }
        }
    }

    fn unary(&mut self, depth: usize) -> Result<(Filter, usize), ScimError> {
        if depth >= MAX_DEPTH {
            return Err(self.too_deep());
        }
        self.skip_ws();
        match self.peek() {
            None => return Err(self.error("an attribute path, 'not' or '('")),
            Some(b'(') => {
                self.pos += 1;
                let r = self.or_expr(depth + 1)?;
                self.skip_ws();
                if self.peek() != Some(b')') {
                    return Err(self.error("'and', 'or' or ')'"));
                }
                self.pos += 1;
                return Ok(r);
            }
            _ => {}
        }
        // `not` followed (after optional whitespace) by `(`.
        let save = self.pos;
        if self.keyword("not") {
            self.skip_ws();
            if self.peek() == Some(b'(') {
                self.pos += 1;
                let (inner, d) = self.or_expr(depth + 1)?;
                self.skip_ws();
                if self.peek() != Some(b')') {
                    return Err(self.error("'and', 'or' or ')'"));
                }
                self.pos += 1;
                if d + 1 > MAX_DEPTH {
                    return Err(self.too_deep());
                }
                return Ok((Filter::Not(Box::new(inner)), d + 1));
            }
            self.pos = save;
        }
        self.attr_expr(depth)
    }

    /// Reads an attribute path (`[URN ":"] name ["." sub]`).
    pub(crate) fn attr_path(&mut self) -> Result<AttrPath, ScimError> {
        let start = self.pos;
        while self.peek().is_some_and(is_path_byte) {
            self.pos += 1;
        }
        let token = &self.src[start..self.pos];
        if token.is_empty() {
            return Err(self.error_at(start, "an attribute path"));
        }
        let (urn, rest, rest_start) = if token.len() > 4 && token[..4].eq_ignore_ascii_case("urn:")
        {
            match token.rfind(':') {
                Some(i) => (Some(&token[..i]), &token[i + 1..], start + i + 1),
                None => (None, token, start),
            }
        } else {
            (None, token, start)
        };
        if rest.contains(':') {
            return Err(self.error_at(start, "an attribute path (a URN must start with 'urn:')"));
        }
        let mut parts = rest.splitn(3, '.');
        let attr = parts.next().unwrap_or("");
        let sub = parts.next();
        if parts.next().is_some() {
            let bad = rest_start + attr.len() + 1 + sub.map_or(0, str::len);
            return Err(self.error_at(bad, "at most one sub-attribute ('attr.subAttr')"));
        }
        if !valid_name(attr) {
            return Err(self.error_at(
                rest_start,
                "an attribute name (a letter, then letters, digits, '_' or '-')",
            ));
        }
        if let Some(sub) = sub
            && !valid_name(sub)
        {
            return Err(self.error_at(
                rest_start + attr.len() + 1,
                "a sub-attribute name (a letter, then letters, digits, '_' or '-')",
            ));
        }
        Ok(AttrPath {
            urn: urn.map(str::to_string),
            attr: attr.to_string(),
            sub_attr: sub.map(str::to_string),
        })
    }

    /// A sub-attribute name after `].`.
    fn sub_name(&mut self) -> Result<String, ScimError> {
        let start = self.pos;
        while self.peek().is_some_and(is_name_byte) {
            self.pos += 1;
        }
        let name = &self.src[start..self.pos];
        if !valid_name(name) {
            return Err(self.error_at(start, "a sub-attribute name"));
        }
        Ok(name.to_string())
    }

    /// Parses `[valFilter]` at the current position (which must be `[`). Returns the inner
    /// filter and its depth.
    pub(crate) fn bracket_filter(&mut self, depth: usize) -> Result<(Filter, usize), ScimError> {
        if self.in_value_filter {
            return Err(self.error("a comparison (value paths cannot be nested)"));
        }
        self.pos += 1; // '['
        self.in_value_filter = true;
        let r = self.or_expr(depth + 1);
        self.in_value_filter = false;
        let r = r?;
        self.skip_ws();
        if self.peek() != Some(b']') {
            return Err(self.error("'and', 'or' or ']'"));
        }
        self.pos += 1;
        Ok(r)
    }

    fn attr_expr(&mut self, depth: usize) -> Result<(Filter, usize), ScimError> {
        let path = self.attr_path()?;
        if self.peek() == Some(b'[') {
            let (inner, d) = self.bracket_filter(depth)?;
            if self.peek() == Some(b'.') {
                // Entra ID: `emails[type eq "work"].value eq "x"` == `emails[type eq "work" and value eq "x"]`.
                self.pos += 1;
                let sub = self.sub_name()?;
                let leaf = self.operator_and_value(AttrPath::new(sub))?;
                let d = d.max(1) + 2;
                if d > MAX_DEPTH {
                    return Err(self.too_deep());
                }
                let filter = Filter::And(Box::new(inner), Box::new(leaf));
                return Ok((
                    Filter::ValuePath {
                        path,
                        filter: Box::new(filter),
                    },
                    d,
                ));
            }
            if d + 1 > MAX_DEPTH {
                return Err(self.too_deep());
            }
            return Ok((
                Filter::ValuePath {
                    path,
                    filter: Box::new(inner),
                },
                d + 1,
            ));
        }
        Ok((self.operator_and_value(path)?, 1))
    }

    fn operator_and_value(&mut self, path: AttrPath) -> Result<Filter, ScimError> {
        if !self.skip_ws() {
            return Err(
                self.error("a space and then an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)")
            );
        }
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_alphabetic()) {
            self.pos += 1;
        }
        let word = &self.src[start..self.pos];
        if word.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present(path));
        }
        let Some(op) = CompareOp::from_keyword(word) else {
            return Err(self.error_at(
                start,
                "an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)",
            ));
        };
        let value = self.comp_value()?;
        Ok(Filter::Compare { path, op, value })
    }

    fn comp_value(&mut self) -> Result<CompValue, ScimError> {
        self.skip_ws();
        let start = self.pos;
        if self.peek() == Some(b'"') {
            return self.string_literal().map(CompValue::String);
        }
        while self.peek().is_some_and(|b| {
            !matches!(
                b,
                b' ' | b'\t' | b'\r' | b'\n' | b'(' | b')' | b'[' | b']' | b'"'
            )
        }) {
            self.pos += 1;
        }
        let token = &self.src[start..self.pos];
        if token.is_empty() {
            return Err(self.error_at(
                start,
                "a value (a quoted string, number, true, false or null)",
            ));
        }
        if token.eq_ignore_ascii_case("true") {
            return Ok(CompValue::Bool(true));
        }
        if token.eq_ignore_ascii_case("false") {
            return Ok(CompValue::Bool(false));
        }
        if token.eq_ignore_ascii_case("null") {
            return Ok(CompValue::Null);
        }
        if looks_like_json_number(token)
            && let Some(n) = json_number(token)
        {
            return Ok(CompValue::Number(n));
        }
        if self.opts.allow_unquoted_values {
            return Ok(CompValue::String(token.to_string()));
        }
        Err(self.error_at(
            start,
            "a value (a quoted string, number, true, false or null)",
        ))
    }

    fn string_literal(&mut self) -> Result<String, ScimError> {
        let start = self.pos;
        self.pos += 1; // opening quote
        loop {
            match self.peek() {
                None => return Err(self.error_at(start, "a closing '\"' for this string")),
                Some(b'\\') => self.pos += 2,
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(_) => self.pos += 1,
            }
        }
        if self.pos > self.bytes.len() {
            self.pos = self.bytes.len();
            return Err(self.error_at(start, "a closing '\"' for this string"));
        }
        let lit = &self.src[start..self.pos];
        serde_json::from_str::<String>(lit).map_err(|_| {
            self.error_at(
                start,
                "a valid JSON string (check escapes and control characters)",
            )
        })
    }
}

/// Converts JSON number text exactly (std's float parser is correctly rounded, so printing
/// and re-parsing gives the same value).
fn json_number(token: &str) -> Option<serde_json::Number> {
    if !token.contains(['.', 'e', 'E']) {
        if let Ok(i) = token.parse::<i64>() {
            return Some(i.into());
        }
        if let Ok(u) = token.parse::<u64>() {
            return Some(u.into());
        }
    }
    token
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
}

/// JSON number grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn looks_like_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(c) if c.is_ascii_digit() => {
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        let s = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == s {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let s = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == s {
            return false;
        }
    }
    i == b.len()
}

// ---------------------------------------------------------------------------------------------
// Canonical printer
// ---------------------------------------------------------------------------------------------

/// Writes `s` as a JSON string literal.
pub(crate) fn write_json_string(out: &mut impl fmt::Write, s: &str) -> fmt::Result {
    out.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            c if (c as u32) < 0x20 => write!(out, "\\u{:04x}", c as u32)?,
            c => out.write_char(c)?,
        }
    }
    out.write_char('"')
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.attr)?;
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompValue::Null => f.write_str("null"),
            CompValue::Bool(b) => write!(f, "{b}"),
            CompValue::Number(n) => write!(f, "{n}"),
            CompValue::String(s) => write_json_string(f, s),
        }
    }
}

impl Filter {
    fn precedence(&self) -> u8 {
        match self {
            Filter::Or(..) => 1,
            Filter::And(..) => 2,
            _ => 3,
        }
    }

    fn fmt_prec(&self, f: &mut fmt::Formatter<'_>, min: u8) -> fmt::Result {
        let paren = self.precedence() < min;
        if paren {
            f.write_str("(")?;
        }
        match self {
            Filter::Compare { path, op, value } => write!(f, "{path} {op} {value}")?,
            Filter::Present(path) => write!(f, "{path} pr")?,
            Filter::Or(a, b) => {
                a.fmt_prec(f, 1)?;
                f.write_str(" or ")?;
                b.fmt_prec(f, 2)?;
            }
            Filter::And(a, b) => {
                a.fmt_prec(f, 2)?;
                f.write_str(" and ")?;
                b.fmt_prec(f, 3)?;
            }
            Filter::Not(a) => {
                f.write_str("not (")?;
                a.fmt_prec(f, 0)?;
                f.write_str(")")?;
            }
            Filter::ValuePath { path, filter } => {
                write!(f, "{path}[")?;
                filter.fmt_prec(f, 0)?;
                f.write_str("]")?;
            }
        }
        if paren {
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_prec(f, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Filter {
        parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn cmp(attr: &str, op: CompareOp, v: &str) -> Filter {
        Filter::compare(AttrPath::new(attr), op, CompValue::String(v.into()))
    }

    #[test]
    fn every_operator_any_case() {
        for op in CompareOp::ALL {
            let up = op.as_str().to_uppercase();
            assert_eq!(p(&format!("userName {up} \"x\"")), cmp("userName", op, "x"));
        }
        assert_eq!(p("title PR"), Filter::Present(AttrPath::new("title")));
    }

    #[test]
    fn precedence_and_over_or() {
        let f = p("a eq \"1\" or b eq \"2\" and c eq \"3\"");
        assert_eq!(
            f,
            Filter::or(
                cmp("a", CompareOp::Eq, "1"),
                Filter::and(cmp("b", CompareOp::Eq, "2"), cmp("c", CompareOp::Eq, "3"))
            )
        );
        let f = p("a eq \"1\" AND b eq \"2\" Or c eq \"3\"");
        assert_eq!(
            f,
            Filter::or(
                Filter::and(cmp("a", CompareOp::Eq, "1"), cmp("b", CompareOp::Eq, "2")),
                cmp("c", CompareOp::Eq, "3")
            )
        );
    }

    #[test]
    fn not_binds_tighter_than_and() {
        let f = p("not (a eq \"1\") and b eq \"2\"");
        assert_eq!(
            f,
            Filter::and(
                Filter::not(cmp("a", CompareOp::Eq, "1")),
                cmp("b", CompareOp::Eq, "2")
            )
        );
    }

    #[test]
    fn parentheses_override() {
        let f = p("(a eq \"1\" or b eq \"2\") and c eq \"3\"");
        assert_eq!(
            f,
            Filter::and(
                Filter::or(cmp("a", CompareOp::Eq, "1"), cmp("b", CompareOp::Eq, "2")),
                cmp("c", CompareOp::Eq, "3")
            )
        );
        assert_eq!(f.to_string(), "(a eq \"1\" or b eq \"2\") and c eq \"3\"");
    }

    #[test]
    fn urn_paths_and_sub_attributes() {
        let f = p("urn:ietf:params:scim:schemas:core:2.0:User:name.givenName sw \"J\"");
        let Filter::Compare { path, .. } = &f else {
            panic!("{f:?}")
        };
        assert_eq!(
            path.urn.as_deref(),
            Some("urn:ietf:params:scim:schemas:core:2.0:User")
        );
        assert_eq!(path.attr, "name");
        assert_eq!(path.sub_attr.as_deref(), Some("givenName"));
    }

    #[test]
    fn entra_value_path_with_sub_attribute() {
        let f = p("emails[type eq \"work\"].value eq \"user@contoso.com\"");
        assert_eq!(
            f,
            p("emails[type eq \"work\" and value eq \"user@contoso.com\"]")
        );
    }

    #[test]
    fn unquoted_values() {
        assert_eq!(
            p("userName eq search@sample.org"),
            cmp("userName", CompareOp::Eq, "search@sample.org")
        );
        assert_eq!(
            p("externalId eq 167844"),
            Filter::compare(
                AttrPath::new("externalId"),
                CompareOp::Eq,
                CompValue::Number(167844.into())
            )
        );
        assert!(parse_strict("userName eq search@sample.org").is_err());
        assert_eq!(
            p("active eq False"),
            Filter::compare(
                AttrPath::new("active"),
                CompareOp::Eq,
                CompValue::Bool(false)
            )
        );
    }

    #[test]
    fn errors_name_position() {
        let e = parse("userName xx \"a\"").unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
        assert!(e.detail.contains("position 10"), "{}", e.detail);
        assert!(e.detail.contains("operator"), "{}", e.detail);
        let e = parse("userName eq \"a").unwrap_err();
        assert!(e.detail.contains("position 13"), "{}", e.detail);
        let e = parse("(a eq 1").unwrap_err();
        assert!(e.detail.contains("')'"), "{}", e.detail);
    }

    #[test]
    fn depth_limited() {
        let deep = format!("{}a eq 1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse(&deep).is_err());
        let nots = format!("{}a eq 1{}", "not (".repeat(5000), ")".repeat(5000));
        assert!(parse(&nots).is_err());
        let chain = vec!["a eq 1"; 5000].join(" and ");
        assert!(parse(&chain).is_err());
        let ok = vec!["a eq 1"; 100].join(" or ");
        assert!(parse(&ok).is_ok());
    }
}
