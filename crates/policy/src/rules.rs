//! Compiled rules and their evaluation. Everything here was parsed and validated at load time
//! (see `config.rs`); evaluation only reads the resource and pushes violations.

use crate::decision::{Mode, Violation};
use crate::oracle::UniquenessOracle;
use crate::path::{CompiledPath, Cond, get_ci, is_present_value, truthy};
use crate::schema::ResourceKind;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashSet;

/// Stable codes of the base rule kinds.
pub mod codes {
    pub const MISSING_USERNAME: &str = "SCIM_MISSING_USERNAME";
    pub const MISSING_PRIMARY_EMAIL: &str = "SCIM_MISSING_PRIMARY_EMAIL";
    pub const INVALID_EMAIL_DOMAIN: &str = "SCIM_INVALID_EMAIL_DOMAIN";
    pub const DEPARTMENT_DENIED: &str = "POLICY_DEPARTMENT_DENIED";
    pub const COST_CENTER_MISMATCH: &str = "POLICY_COST_CENTER_MISMATCH";
    pub const MISSING_ATTRIBUTE: &str = "POLICY_MISSING_ATTRIBUTE";
    pub const FORBIDDEN_ATTRIBUTE: &str = "POLICY_FORBIDDEN_ATTRIBUTE";
    pub const VALUE_NOT_ALLOWED: &str = "POLICY_VALUE_NOT_ALLOWED";
    pub const VALUE_DENIED: &str = "POLICY_VALUE_DENIED";
    pub const PATTERN_MISMATCH: &str = "POLICY_PATTERN_MISMATCH";
    pub const LENGTH_OUT_OF_BOUNDS: &str = "POLICY_LENGTH_OUT_OF_BOUNDS";
    pub const NOT_UNIQUE: &str = "POLICY_NOT_UNIQUE";
    pub const TOO_MANY_GROUPS: &str = "POLICY_TOO_MANY_GROUPS";
    pub const ROLE_NOT_PERMITTED: &str = "POLICY_ROLE_NOT_PERMITTED";
    pub const DIVISION_NOT_PERMITTED: &str = "POLICY_DIVISION_NOT_PERMITTED";
    pub const GROUP_NOT_MAPPED: &str = "POLICY_GROUP_NOT_MAPPED";
}

/// Caller-supplied facts for one evaluation.
#[derive(Clone, Copy, Default)]
pub struct EvalContext<'a> {
    /// The resource type; detected from `schemas` / `meta.resourceType` when `None`.
    pub kind: Option<ResourceKind>,
    /// Answers uniqueness rules. Without an oracle, `unique` rules are skipped.
    pub oracle: Option<&'a dyn UniquenessOracle>,
}

impl std::fmt::Debug for EvalContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvalContext")
            .field("kind", &self.kind)
            .field("oracle", &self.oracle.is_some())
            .finish()
    }
}

#[derive(Debug)]
pub(crate) struct Rule {
    pub(crate) name: String,
    pub(crate) kind: &'static str,
    pub(crate) code: String,
    pub(crate) mode: Mode,
    pub(crate) message: Option<String>,
    pub(crate) applies_to: ResourceKind,
    pub(crate) check: Check,
    pub(crate) line: usize,
}

#[derive(Debug)]
pub(crate) struct DomainSet {
    pub(crate) domains: HashSet<String>,
}

impl DomainSet {
    fn contains(&self, domain: &str, include_subdomains: bool) -> bool {
        if self.domains.contains(domain) {
            return true;
        }
        if include_subdomains {
            let mut rest = domain;
            while let Some((_, parent)) = rest.split_once('.') {
                if self.domains.contains(parent) {
                    return true;
                }
                rest = parent;
            }
        }
        false
    }
}

#[derive(Debug)]
pub(crate) struct Mapping {
    pub(crate) group: String,
    pub(crate) roles: HashSet<String>,
    pub(crate) divisions: HashSet<String>,
}

#[derive(Debug)]
pub(crate) enum Check {
    Required(CompiledPath),
    Forbidden(CompiledPath),
    PrimaryEmail,
    EmailDomain {
        path: CompiledPath,
        allow: Option<DomainSet>,
        deny: DomainSet,
        include_subdomains: bool,
    },
    Values {
        path: CompiledPath,
        /// Normalised (lower-cased unless case-sensitive).
        values: HashSet<String>,
        case_sensitive: bool,
        /// true: allowlist, false: denylist.
        allow: bool,
    },
    Regex {
        path: CompiledPath,
        re: regex::Regex,
    },
    Length {
        path: CompiledPath,
        min: Option<usize>,
        max: Option<usize>,
    },
    Conditional {
        when: Cond,
        when_text: String,
        then: Box<Rule>,
    },
    Unique(CompiledPath),
    MaxGroups {
        path: CompiledPath,
        max: usize,
    },
    GroupMapping(Box<GroupMap>),
}

#[derive(Debug)]
pub(crate) struct GroupMap {
    pub(crate) mappings: Vec<Mapping>,
    pub(crate) deny_unmapped: bool,
    pub(crate) groups: CompiledPath,
    pub(crate) roles: CompiledPath,
    pub(crate) division: CompiledPath,
}

const MAX_SHOWN: usize = 64;

/// Lower-case, allocating only when something changes.
fn lower(s: &str) -> Cow<'_, str> {
    if s.is_ascii() && !s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.to_lowercase())
    }
}

/// A value for a message: quoted, truncated, or withheld for secret and personal attributes.
fn show(path: &CompiledPath, v: &Value) -> String {
    if path.sensitive {
        return "the value (withheld)".into();
    }
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > MAX_SHOWN {
        let cut: String = s.chars().take(MAX_SHOWN).collect();
        format!("'{cut}...'")
    } else {
        format!("'{s}'")
    }
}

fn as_text(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::String(s) => Some(Cow::Borrowed(s.as_str())),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    }
}

/// Normalise an email domain: trailing dot removed, lower case, IDNA (UTS 46) to ASCII.
/// Allocates only when the domain is not already in that form.
pub(crate) fn normalise_domain(d: &str) -> Option<Cow<'_, str>> {
    let d = d.trim().trim_end_matches('.');
    if d.is_empty() {
        return None;
    }
    let plain = d
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if plain
        && !d
            .as_bytes()
            .windows(4)
            .any(|w| w.eq_ignore_ascii_case(b"xn--"))
    {
        if d.split('.').any(str::is_empty) {
            return None;
        }
        return Some(lower(d));
    }
    idna::domain_to_ascii(d)
        .ok()
        .filter(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                && !s.split('.').any(str::is_empty)
        })
        .map(Cow::Owned)
}

impl Rule {
    fn violation(&self, path: &str, message: String) -> Violation {
        Violation {
            path: path.to_string(),
            code: self.code.clone(),
            message: match &self.message {
                Some(m) => format!("{m} ({message})"),
                None => message,
            },
            rule: self.name.clone(),
            mode: self.mode,
        }
    }

    fn violation_code(&self, path: &str, code: &str, message: String) -> Violation {
        let mut v = self.violation(path, message);
        if self.code.is_empty() {
            v.code = code.to_string();
        }
        v
    }

    pub(crate) fn eval(&self, res: &Value, ctx: &EvalContext<'_>, out: &mut Vec<Violation>) {
        match &self.check {
            Check::Required(p) => {
                if !p.is_present(res) {
                    out.push(self.violation(&p.text, format!("'{}' is required", p.text)));
                }
            }
            Check::Forbidden(p) => {
                if p.is_present(res) {
                    out.push(self.violation(&p.text, format!("'{}' must not be set", p.text)));
                }
            }
            Check::PrimaryEmail => {
                let ok = get_ci(res, "emails")
                    .and_then(Value::as_array)
                    .is_some_and(|emails| {
                        emails.iter().any(|e| {
                            truthy(get_ci(e, "primary"))
                                && get_ci(e, "value").is_some_and(is_present_value)
                        })
                    });
                if !ok {
                    out.push(self.violation(
                        "emails",
                        "a primary email is required (an entry of 'emails' with primary true and a value)".into(),
                    ));
                }
            }
            Check::EmailDomain {
                path,
                allow,
                deny,
                include_subdomains,
            } => {
                for v in path.values(res) {
                    let Some(addr) = v.as_str() else { continue };
                    let domain = addr.rsplit_once('@').and_then(|(local, d)| {
                        if local.is_empty() {
                            None
                        } else {
                            normalise_domain(d)
                        }
                    });
                    let Some(domain) = domain else {
                        out.push(self.violation(
                            &path.text,
                            format!("{} is not a valid email address", show(path, v)),
                        ));
                        continue;
                    };
                    if deny.contains(&domain, *include_subdomains) {
                        out.push(
                            self.violation(
                                &path.text,
                                format!("email domain '{domain}' is denied"),
                            ),
                        );
                    } else if let Some(allow) = allow
                        && !allow.contains(&domain, *include_subdomains)
                    {
                        out.push(self.violation(
                            &path.text,
                            format!("email domain '{domain}' is not in the approved list"),
                        ));
                    }
                }
            }
            Check::Values {
                path,
                values,
                case_sensitive,
                allow,
            } => {
                for v in path.values(res) {
                    let Some(t) = as_text(v) else { continue };
                    let hit = if *case_sensitive {
                        values.contains(t.as_ref())
                    } else {
                        values.contains(lower(&t).as_ref())
                    };
                    if hit != *allow {
                        let what = if *allow {
                            "is not one of the allowed values"
                        } else {
                            "is a denied value"
                        };
                        out.push(self.violation(&path.text, format!("{} {what}", show(path, v))));
                    }
                }
            }
            Check::Regex { path, re } => {
                for v in path.values(res) {
                    let Some(t) = as_text(v) else { continue };
                    if !re.is_match(&t) {
                        out.push(self.violation(
                            &path.text,
                            format!(
                                "{} does not match the pattern {}",
                                show(path, v),
                                re.as_str()
                            ),
                        ));
                    }
                }
            }
            Check::Length { path, min, max } => {
                for v in path.values(res) {
                    let Some(t) = as_text(v) else { continue };
                    let n = t.chars().count();
                    let short = min.is_some_and(|m| n < m);
                    let long = max.is_some_and(|m| n > m);
                    if short || long {
                        let bounds = match (min, max) {
                            (Some(a), Some(b)) => format!("between {a} and {b}"),
                            (Some(a), None) => format!("at least {a}"),
                            (None, Some(b)) => format!("at most {b}"),
                            (None, None) => String::new(),
                        };
                        out.push(self.violation(
                            &path.text,
                            format!("'{}' has {n} characters; it must have {bounds}", path.text),
                        ));
                    }
                }
            }
            Check::Conditional {
                when,
                when_text,
                then,
            } => {
                if when.matches(res) {
                    let start = out.len();
                    then.eval(res, ctx, out);
                    for v in &mut out[start..] {
                        v.message = format!("{} (because {when_text})", v.message);
                    }
                }
            }
            Check::Unique(path) => {
                let Some(oracle) = ctx.oracle else { return };
                let id = get_ci(res, "id").and_then(Value::as_str);
                for v in path.values(res) {
                    let Some(t) = as_text(v) else { continue };
                    if oracle.is_taken(&path.text, &t, id) {
                        out.push(self.violation(
                            &path.text,
                            format!("{} is already used by another resource", show(path, v)),
                        ));
                    }
                }
            }
            Check::MaxGroups { path, max } => {
                let n = path.values(res).len();
                if n > *max {
                    out.push(self.violation(
                        &path.text,
                        format!("the user is in {n} groups; at most {max} are allowed"),
                    ));
                }
            }
            Check::GroupMapping(gm) => {
                let GroupMap {
                    mappings,
                    deny_unmapped,
                    groups,
                    roles,
                    division,
                } = gm.as_ref();
                let mut names: Vec<Cow<'_, str>> = Vec::new();
                for g in groups.values(res) {
                    for k in ["display", "value"] {
                        if let Some(s) = get_ci(g, k).and_then(Value::as_str) {
                            names.push(lower(s));
                        }
                    }
                    if let Some(s) = g.as_str() {
                        names.push(lower(s));
                    }
                }
                let matched: Vec<&Mapping> = mappings
                    .iter()
                    .filter(|m| names.iter().any(|n| n.as_ref() == m.group))
                    .collect();
                for r in roles.values(res) {
                    let role = match r {
                        Value::String(s) => Some(s.as_str()),
                        other => get_ci(other, "value").and_then(Value::as_str),
                    };
                    let Some(role) = role else { continue };
                    let lr = lower(role);
                    if !matched
                        .iter()
                        .any(|m| m.roles.contains(lr.as_ref()) || m.roles.contains("*"))
                    {
                        out.push(self.violation_code(
                            "roles",
                            codes::ROLE_NOT_PERMITTED,
                            format!(
                                "role '{role}' is not granted by any of the user's mapped groups"
                            ),
                        ));
                    }
                }
                for d in division.values(res) {
                    let Some(dv) = d.as_str() else { continue };
                    let ld = lower(dv);
                    if !matched
                        .iter()
                        .any(|m| m.divisions.contains(ld.as_ref()) || m.divisions.contains("*"))
                    {
                        out.push(self.violation_code(
                            &division.text,
                            codes::DIVISION_NOT_PERMITTED,
                            format!("division '{dv}' is not permitted by any of the user's mapped groups"),
                        ));
                    }
                }
                if *deny_unmapped {
                    for g in groups.values(res) {
                        let label = get_ci(g, "display")
                            .or_else(|| get_ci(g, "value"))
                            .and_then(Value::as_str)
                            .or_else(|| g.as_str());
                        let Some(label) = label else { continue };
                        let mapped = ["display", "value"].iter().any(|k| {
                            get_ci(g, k)
                                .and_then(Value::as_str)
                                .is_some_and(|s| mappings.iter().any(|m| m.group == lower(s)))
                        }) || g
                            .as_str()
                            .is_some_and(|s| mappings.iter().any(|m| m.group == lower(s)));
                        if !mapped {
                            out.push(self.violation_code(
                                "groups",
                                codes::GROUP_NOT_MAPPED,
                                format!("group '{label}' is not in the policy's group mapping"),
                            ));
                        }
                    }
                }
            }
        }
    }
}
