//! ETags (RFC 7644 3.14, RFC 9110 8.8.3 and 13.1): parsing, generation and evaluation of
//! `If-Match` / `If-None-Match`.
//!
//! SCIM servers usually issue weak ETags (`W/"3"`) built from `meta.version`. Following RFC 9110,
//! `If-Match` uses the *strong* comparison unless the caller asks for weak comparison, and
//! `If-None-Match` always uses the weak comparison. Because IdPs and our own reconciler send
//! back exactly the weak tag they received, [`if_match`] takes a [`Comparison`] so the gateway
//! can choose weak comparison for its weak tags (documented in docs/architecture/scim.md).

use std::fmt;

use serde_json::Value;

use crate::error::{ScimError, ScimType};

/// An entity tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ETag {
    pub weak: bool,
    /// The opaque tag without quotes.
    pub tag: String,
}

/// How two tags are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// Both strong and the same opaque tag.
    Strong,
    /// The same opaque tag, weakness ignored.
    Weak,
}

impl ETag {
    /// A weak tag `W/"tag"`.
    pub fn weak(tag: impl Into<String>) -> Self {
        Self {
            weak: true,
            tag: tag.into(),
        }
    }

    /// A strong tag `"tag"`.
    pub fn strong(tag: impl Into<String>) -> Self {
        Self {
            weak: false,
            tag: tag.into(),
        }
    }

    /// A weak tag derived from a resource's JSON content (64-bit FNV-1a of its serialisation,
    /// hex). Equal content gives equal tags; any change gives a different tag with
    /// overwhelming probability.
    pub fn weak_from_content(v: &Value) -> Self {
        let text = v.to_string();
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in text.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        Self::weak(format!("{h:016x}"))
    }

    /// Parses one entity tag (`"abc"` or `W/"abc"`). Errors are 400 `invalidValue`.
    pub fn parse(s: &str) -> Result<Self, ScimError> {
        let s = s.trim();
        let (weak, rest) = match s.strip_prefix("W/") {
            Some(r) => (true, r),
            None => (false, s),
        };
        let tag = rest
            .strip_prefix('"')
            .and_then(|r| r.strip_suffix('"'))
            .filter(|t| !t.contains('"'))
            .ok_or_else(|| {
                ScimError::bad_request(ScimType::InvalidValue, format!("malformed entity tag: {s}"))
            })?;
        Ok(Self {
            weak,
            tag: tag.to_string(),
        })
    }

    /// Compares two tags.
    pub fn matches(&self, other: &ETag, how: Comparison) -> bool {
        match how {
            Comparison::Strong => !self.weak && !other.weak && self.tag == other.tag,
            Comparison::Weak => self.tag == other.tag,
        }
    }
}

impl fmt::Display for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.weak {
            f.write_str("W/")?;
        }
        write!(f, "\"{}\"", self.tag)
    }
}

/// A parsed `If-Match` / `If-None-Match` header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ETagCondition {
    /// `*`
    Any,
    /// A list of tags.
    Tags(Vec<ETag>),
}

impl ETagCondition {
    /// Parses `*` or a comma-separated list of entity tags.
    pub fn parse(header: &str) -> Result<Self, ScimError> {
        let h = header.trim();
        if h == "*" {
            return Ok(Self::Any);
        }
        let mut tags = Vec::new();
        let mut rest = h;
        while !rest.is_empty() {
            let weak = rest.starts_with("W/");
            let body = if weak { &rest[2..] } else { rest };
            let Some(after_quote) = body.strip_prefix('"') else {
                return Err(ScimError::bad_request(
                    ScimType::InvalidValue,
                    format!("malformed entity tag list: {h}"),
                ));
            };
            let Some(end) = after_quote.find('"') else {
                return Err(ScimError::bad_request(
                    ScimType::InvalidValue,
                    format!("malformed entity tag list: {h}"),
                ));
            };
            tags.push(ETag {
                weak,
                tag: after_quote[..end].to_string(),
            });
            rest = after_quote[end + 1..].trim_start();
            if let Some(r) = rest.strip_prefix(',') {
                rest = r.trim_start();
            } else if !rest.is_empty() {
                return Err(ScimError::bad_request(
                    ScimType::InvalidValue,
                    format!("malformed entity tag list: {h}"),
                ));
            }
        }
        if tags.is_empty() {
            return Err(ScimError::bad_request(
                ScimType::InvalidValue,
                "empty entity tag list",
            ));
        }
        Ok(Self::Tags(tags))
    }
}

/// Evaluates `If-Match` against the current tag (`None` when the resource does not exist).
/// `Ok(true)`: proceed; `Ok(false)`: answer 412 Precondition Failed.
pub fn if_match(header: &str, current: Option<&ETag>, how: Comparison) -> Result<bool, ScimError> {
    Ok(match (ETagCondition::parse(header)?, current) {
        (_, None) => false,
        (ETagCondition::Any, Some(_)) => true,
        (ETagCondition::Tags(tags), Some(cur)) => tags.iter().any(|t| t.matches(cur, how)),
    })
}

/// Evaluates `If-None-Match` (weak comparison). `Ok(true)`: proceed; `Ok(false)`: answer 304 Not
/// Modified for GET/HEAD, 412 for other methods.
pub fn if_none_match(header: &str, current: Option<&ETag>) -> Result<bool, ScimError> {
    Ok(match (ETagCondition::parse(header)?, current) {
        (_, None) => true,
        (ETagCondition::Any, Some(_)) => false,
        (ETagCondition::Tags(tags), Some(cur)) => {
            !tags.iter().any(|t| t.matches(cur, Comparison::Weak))
        }
    })
}

/// The `412` error for a failed precondition.
pub fn precondition_failed(detail: impl Into<String>) -> ScimError {
    ScimError::new(412, None, detail)
}
