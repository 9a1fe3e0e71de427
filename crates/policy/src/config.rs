//! Loading a policy file: TOML parsed with spans (`toml::de::DeTable`), every rule compiled and
//! validated, every error reported with file, line, column and rule name.

use crate::decision::{Mode, PolicyRef};
use crate::error::PolicyError;
use crate::path::{CompiledPath, Cond, ENTERPRISE_USER};
use crate::rules::{Check, DomainSet, GroupMap, Mapping, Rule, codes, normalise_domain};
use crate::schema::ResourceKind;
use std::collections::HashSet;
use std::ops::Range;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// Every rule kind a policy file may use.
pub const RULE_KINDS: &[&str] = &[
    "required",
    "forbidden",
    "primary_email",
    "email_domain",
    "allowed_values",
    "denied_values",
    "regex",
    "length",
    "conditional",
    "unique",
    "max_groups",
    "group_mapping",
];

/// Keys every top-level rule may have, in addition to its kind's keys.
const COMMON_KEYS: &[&str] = &[
    "name",
    "kind",
    "mode",
    "code",
    "message",
    "applies_to",
    "description",
];
/// Keys a nested (`then`) rule may have in addition to its kind's keys.
const NESTED_KEYS: &[&str] = &["kind", "code", "message", "description"];

fn kind_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "required" | "forbidden" | "unique" => &["path"],
        "primary_email" => &[],
        "email_domain" => &["path", "allow", "deny", "include_subdomains"],
        "allowed_values" | "denied_values" => &["path", "values", "case_sensitive"],
        "regex" => &["path", "pattern"],
        "length" => &["path", "min", "max"],
        "conditional" => &["when", "then"],
        "max_groups" => &["path", "max"],
        "group_mapping" => &["mapping", "unmapped_groups"],
        _ => &[],
    }
}

type Val<'i> = Spanned<DeValue<'i>>;
/// A list of strings with each item's span, and the span of the whole list.
type StrList = Option<(Vec<(String, Range<usize>)>, Range<usize>)>;

pub(crate) struct Loader<'a> {
    file: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> Loader<'a> {
    pub(crate) fn new(file: &'a str, text: &str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Loader { file, line_starts }
    }

    fn pos(&self, offset: usize) -> (usize, usize) {
        let idx = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.line_starts.get(idx).copied().unwrap_or(0);
        (idx + 1, offset.saturating_sub(start) + 1)
    }

    pub(crate) fn err(
        &self,
        span: Range<usize>,
        rule: Option<&str>,
        message: impl Into<String>,
    ) -> PolicyError {
        let (line, column) = self.pos(span.start);
        PolicyError::Invalid {
            file: self.file.to_string(),
            line,
            column,
            rule: rule.map(str::to_string),
            message: message.into(),
        }
    }
}

/// The result of loading: metadata and compiled rules.
pub(crate) struct Loaded {
    pub(crate) meta: PolicyRef,
    pub(crate) rules: Vec<Rule>,
}

pub(crate) fn load(file: &str, text: &str) -> Result<Loaded, PolicyError> {
    let ld = Loader::new(file, text);
    let doc = DeTable::parse(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        ld.err(span, None, format!("invalid TOML: {}", e.message()))
    })?;
    let mut meta = PolicyRef {
        name: file.to_string(),
        version: None,
    };
    let mut rules = Vec::new();
    let mut names = HashSet::new();
    for (k, v) in doc.get_ref().iter() {
        match k.get_ref().as_ref() {
            "policy" => {
                let t = v
                    .get_ref()
                    .as_table()
                    .ok_or_else(|| ld.err(v.span(), None, "'policy' must be a table"))?;
                for (pk, pv) in t.iter() {
                    match pk.get_ref().as_ref() {
                        "name" => meta.name = str_of(&ld, None, "name", pv)?,
                        "version" => {
                            meta.version = Some(match pv.get_ref() {
                                DeValue::Integer(i) => i.as_str().to_string(),
                                DeValue::String(s) => s.to_string(),
                                _ => {
                                    return Err(ld.err(
                                        pv.span(),
                                        None,
                                        "'policy.version' must be a string or an integer",
                                    ));
                                }
                            })
                        }
                        "description" => {
                            str_of(&ld, None, "description", pv)?;
                        }
                        other => {
                            return Err(ld.err(
                                pk.span(),
                                None,
                                format!("unknown key 'policy.{other}' (allowed: name, version, description)"),
                            ));
                        }
                    }
                }
            }
            "rule" => {
                let arr = v.get_ref().as_array().ok_or_else(|| {
                    ld.err(
                        v.span(),
                        None,
                        "'rule' must be an array of tables: write [[rule]]",
                    )
                })?;
                for (i, item) in arr.iter().enumerate() {
                    let t = item.get_ref().as_table().ok_or_else(|| {
                        ld.err(
                            item.span(),
                            None,
                            "each rule must be a table: write [[rule]]",
                        )
                    })?;
                    let rule = compile_rule(&ld, t, item.span(), i + 1, None)?;
                    if !names.insert(rule.name.clone()) {
                        return Err(ld.err(
                            key_span(t, "name").unwrap_or(item.span()),
                            Some(&rule.name),
                            "duplicate rule name (rule names must be unique: they appear in audit entries)",
                        ));
                    }
                    rules.push(rule);
                }
            }
            other => {
                return Err(ld.err(
                    k.span(),
                    None,
                    format!("unknown top-level key '{other}' (allowed: [policy], [[rule]])"),
                ));
            }
        }
    }
    Ok(Loaded { meta, rules })
}

fn get<'t, 'i>(t: &'t DeTable<'i>, key: &str) -> Option<&'t Val<'i>> {
    t.iter()
        .find(|(k, _)| k.get_ref().as_ref() == key)
        .map(|(_, v)| v)
}

fn key_span(t: &DeTable<'_>, key: &str) -> Option<Range<usize>> {
    t.iter()
        .find(|(k, _)| k.get_ref().as_ref() == key)
        .map(|(k, _)| k.span())
}

fn str_of(
    ld: &Loader<'_>,
    rule: Option<&str>,
    key: &str,
    v: &Val<'_>,
) -> Result<String, PolicyError> {
    match v.get_ref() {
        DeValue::String(s) => Ok(s.to_string()),
        other => Err(ld.err(
            v.span(),
            rule,
            format!("'{key}' must be a string, not {}", other.type_str()),
        )),
    }
}

/// Field access on one rule table, with errors that name the rule.
struct Fields<'t, 'i, 'l> {
    ld: &'l Loader<'l>,
    t: &'t DeTable<'i>,
    span: Range<usize>,
    rule: String,
}

impl Fields<'_, '_, '_> {
    fn err(&self, span: Range<usize>, msg: impl Into<String>) -> PolicyError {
        self.ld.err(span, Some(&self.rule), msg)
    }
    fn opt_str(&self, key: &str) -> Result<Option<(String, Range<usize>)>, PolicyError> {
        match get(self.t, key) {
            None => Ok(None),
            Some(v) => Ok(Some((str_of(self.ld, Some(&self.rule), key, v)?, v.span()))),
        }
    }
    fn req_str(&self, key: &str) -> Result<(String, Range<usize>), PolicyError> {
        self.opt_str(key)?
            .ok_or_else(|| self.err(self.span.clone(), format!("missing required key '{key}'")))
    }
    fn opt_bool(&self, key: &str) -> Result<Option<bool>, PolicyError> {
        match get(self.t, key) {
            None => Ok(None),
            Some(v) => match v.get_ref() {
                DeValue::Boolean(b) => Ok(Some(*b)),
                other => Err(self.err(
                    v.span(),
                    format!("'{key}' must be true or false, not {}", other.type_str()),
                )),
            },
        }
    }
    fn opt_usize(&self, key: &str) -> Result<Option<usize>, PolicyError> {
        match get(self.t, key) {
            None => Ok(None),
            Some(v) => match v.get_ref() {
                DeValue::Integer(i) => {
                    let s = i.as_str().replace('_', "");
                    let n = if i.radix() == 10 {
                        s.parse::<usize>().ok()
                    } else {
                        usize::from_str_radix(&s, i.radix()).ok()
                    };
                    n.map(Some).ok_or_else(|| {
                        self.err(v.span(), format!("'{key}' must be a non-negative integer"))
                    })
                }
                other => Err(self.err(
                    v.span(),
                    format!("'{key}' must be an integer, not {}", other.type_str()),
                )),
            },
        }
    }
    fn opt_str_list(&self, key: &str) -> Result<StrList, PolicyError> {
        let Some(v) = get(self.t, key) else {
            return Ok(None);
        };
        let arr = match v.get_ref() {
            DeValue::Array(a) => a,
            other => {
                return Err(self.err(
                    v.span(),
                    format!(
                        "'{key}' must be an array of strings, not {}",
                        other.type_str()
                    ),
                ));
            }
        };
        let mut out = Vec::new();
        for item in arr.iter() {
            out.push((str_of(self.ld, Some(&self.rule), key, item)?, item.span()));
        }
        Ok(Some((out, v.span())))
    }
    fn path(
        &self,
        key: &str,
        kind: ResourceKind,
        default: Option<&str>,
    ) -> Result<CompiledPath, PolicyError> {
        let (text, span) = match self.opt_str(key)? {
            Some(x) => x,
            None => match default {
                Some(d) => (d.to_string(), self.span.clone()),
                None => {
                    return Err(
                        self.err(self.span.clone(), format!("missing required key '{key}'"))
                    );
                }
            },
        };
        compile_path(self.ld, &self.rule, &text, span, kind)
    }
}

fn compile_path(
    ld: &Loader<'_>,
    rule: &str,
    text: &str,
    span: Range<usize>,
    kind: ResourceKind,
) -> Result<CompiledPath, PolicyError> {
    CompiledPath::parse(text, kind).map_err(|e| {
        ld.err(
            span,
            Some(rule),
            format!("unknown or invalid attribute path '{text}': {e}"),
        )
    })
}

/// Lower-cased attribute name of a path, for choosing a default code.
fn is_attr(p: &CompiledPath, attr: &str) -> bool {
    p.attr.eq_ignore_ascii_case(attr) && p.sub.is_none()
}

fn compile_rule(
    ld: &Loader<'_>,
    t: &DeTable<'_>,
    span: Range<usize>,
    index: usize,
    parent: Option<(&str, Mode, ResourceKind)>,
) -> Result<Rule, PolicyError> {
    let nested = parent.is_some();
    // The name first, so that every later error can carry it.
    let name = match parent {
        Some((n, _, _)) => n.to_string(),
        None => match get(t, "name") {
            Some(v) => {
                let n = str_of(ld, None, "name", v)?;
                if n.trim().is_empty() {
                    return Err(ld.err(
                        v.span(),
                        None,
                        format!("rule #{index} has an empty 'name'"),
                    ));
                }
                n
            }
            None => {
                return Err(ld.err(
                    span,
                    Some(&format!("#{index}")),
                    "missing required key 'name'",
                ));
            }
        },
    };
    let f = Fields {
        ld,
        t,
        span: span.clone(),
        rule: name.clone(),
    };
    let (kind, kind_span) = f.req_str("kind")?;
    let Some(kind) = RULE_KINDS.iter().copied().find(|k| *k == kind) else {
        return Err(f.err(
            kind_span,
            format!(
                "unknown rule kind '{kind}' (known kinds: {})",
                RULE_KINDS.join(", ")
            ),
        ));
    };
    let allowed: Vec<&str> = if nested { NESTED_KEYS } else { COMMON_KEYS }
        .iter()
        .chain(kind_keys(kind))
        .copied()
        .collect();
    for (k, _) in t.iter() {
        let key = k.get_ref().as_ref();
        if !allowed.contains(&key) {
            let hint = if nested && COMMON_KEYS.contains(&key) {
                " (a nested 'then' rule inherits name, mode and applies_to from its parent)"
                    .to_string()
            } else {
                String::new()
            };
            return Err(f.err(
                k.span(),
                format!(
                    "unknown key '{key}' for a rule of kind '{kind}' (allowed: {}){hint}",
                    allowed.join(", ")
                ),
            ));
        }
    }
    let mode = match parent {
        Some((_, m, _)) => m,
        None => match f.opt_str("mode")? {
            None => Mode::Enforce,
            Some((m, sp)) => match m.as_str() {
                "enforce" => Mode::Enforce,
                "warn" => Mode::Warn,
                "off" => Mode::Off,
                _ => {
                    return Err(f.err(sp, format!("unknown mode '{m}' (use enforce, warn or off)")));
                }
            },
        },
    };
    let applies_to = match parent {
        Some((_, _, k)) => k,
        None => match f.opt_str("applies_to")? {
            None => ResourceKind::User,
            Some((a, sp)) => match a.as_str() {
                "user" => ResourceKind::User,
                "group" => ResourceKind::Group,
                _ => {
                    return Err(f.err(
                        sp,
                        format!("unknown 'applies_to' value '{a}' (use user or group)"),
                    ));
                }
            },
        },
    };
    let custom_code = match f.opt_str("code")? {
        None => None,
        Some((c, sp)) => {
            let ok = c.starts_with(|ch: char| ch.is_ascii_uppercase())
                && c.chars()
                    .all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit() || ch == '_');
            if !ok {
                return Err(f.err(
                    sp,
                    format!("code '{c}' must be UPPER_SNAKE_CASE (e.g. POLICY_TITLE_REQUIRED)"),
                ));
            }
            Some(c)
        }
    };
    let message = f.opt_str("message")?.map(|(m, _)| m);
    f.opt_str("description")?;
    let k = applies_to;

    let (check, default_code): (Check, &str) = match kind {
        "required" => {
            let p = f.path("path", k, None)?;
            let code = if is_attr(&p, "userName") {
                codes::MISSING_USERNAME
            } else {
                codes::MISSING_ATTRIBUTE
            };
            (Check::Required(p), code)
        }
        "forbidden" => (
            Check::Forbidden(f.path("path", k, None)?),
            codes::FORBIDDEN_ATTRIBUTE,
        ),
        "primary_email" => {
            if k != ResourceKind::User {
                return Err(f.err(span, "'primary_email' applies to users only"));
            }
            (Check::PrimaryEmail, codes::MISSING_PRIMARY_EMAIL)
        }
        "email_domain" => {
            let path = f.path("path", k, Some("emails.value"))?;
            let domains = |key: &str| -> Result<Option<DomainSet>, PolicyError> {
                let Some((list, _)) = f.opt_str_list(key)? else {
                    return Ok(None);
                };
                let mut set = HashSet::new();
                for (d, sp) in list {
                    let n = normalise_domain(d.trim_start_matches('@')).ok_or_else(|| {
                        f.err(sp, format!("'{d}' is not a valid domain name (IDNA)"))
                    })?;
                    set.insert(n.into_owned());
                }
                Ok(Some(DomainSet { domains: set }))
            };
            let allow = domains("allow")?;
            let deny = domains("deny")?;
            if allow.is_none() && deny.is_none() {
                return Err(f.err(span, "an 'email_domain' rule needs 'allow', 'deny' or both"));
            }
            let include_subdomains = f.opt_bool("include_subdomains")?.unwrap_or(false);
            (
                Check::EmailDomain {
                    path,
                    allow,
                    deny: deny.unwrap_or(DomainSet {
                        domains: HashSet::new(),
                    }),
                    include_subdomains,
                },
                codes::INVALID_EMAIL_DOMAIN,
            )
        }
        "allowed_values" | "denied_values" => {
            let allow = kind == "allowed_values";
            let path = f.path("path", k, None)?;
            let case_sensitive = f.opt_bool("case_sensitive")?.unwrap_or(false);
            let (list, _) = f
                .opt_str_list("values")?
                .ok_or_else(|| f.err(span.clone(), "missing required key 'values'"))?;
            let values = list
                .into_iter()
                .map(|(v, _)| if case_sensitive { v } else { v.to_lowercase() })
                .collect();
            let code = if is_attr(&path, "department") {
                codes::DEPARTMENT_DENIED
            } else if allow {
                codes::VALUE_NOT_ALLOWED
            } else {
                codes::VALUE_DENIED
            };
            (
                Check::Values {
                    path,
                    values,
                    case_sensitive,
                    allow,
                },
                code,
            )
        }
        "regex" => {
            let path = f.path("path", k, None)?;
            let (pat, sp) = f.req_str("pattern")?;
            let re = regex::RegexBuilder::new(&pat)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| {
                    f.err(
                        sp,
                        format!("invalid regex '{pat}': {}", first_line(&e.to_string())),
                    )
                })?;
            let code = if is_attr(&path, "costCenter") {
                codes::COST_CENTER_MISMATCH
            } else {
                codes::PATTERN_MISMATCH
            };
            (Check::Regex { path, re }, code)
        }
        "length" => {
            let path = f.path("path", k, None)?;
            let min = f.opt_usize("min")?;
            let max = f.opt_usize("max")?;
            match (min, max) {
                (None, None) => {
                    return Err(f.err(span, "a 'length' rule needs 'min', 'max' or both"));
                }
                (Some(a), Some(b)) if a > b => {
                    return Err(f.err(span, format!("'min' ({a}) is greater than 'max' ({b})")));
                }
                _ => {}
            }
            (
                Check::Length { path, min, max },
                codes::LENGTH_OUT_OF_BOUNDS,
            )
        }
        "conditional" => {
            let (when_text, sp) = f.req_str("when")?;
            let when = Cond::compile(&when_text, k).map_err(|e| {
                f.err(
                    sp.clone(),
                    format!("invalid 'when' filter '{when_text}': {e}"),
                )
            })?;
            let then_v = get(t, "then").ok_or_else(|| {
                f.err(
                    span.clone(),
                    "missing required key 'then' (the rule that must hold)",
                )
            })?;
            let then_t = then_v.get_ref().as_table().ok_or_else(|| {
                f.err(
                    then_v.span(),
                    "'then' must be a table: write [rule.then] or then = { kind = ... }",
                )
            })?;
            let then = compile_rule(ld, then_t, then_v.span(), index, Some((&name, mode, k)))?;
            let code = then.code.clone();
            let mut rule_then = then;
            if let Some(c) = &custom_code {
                rule_then.code = c.clone();
            }
            let check = Check::Conditional {
                when,
                when_text,
                then: Box::new(rule_then),
            };
            // A conditional's violations carry the nested rule's code; keep it for listing.
            return Ok(Rule {
                name,
                kind,
                code: custom_code.unwrap_or(code),
                mode,
                message,
                applies_to,
                check,
                line: ld.pos(span.start).0,
            });
        }
        "unique" => (Check::Unique(f.path("path", k, None)?), codes::NOT_UNIQUE),
        "max_groups" => {
            let path = f.path("path", k, Some("groups"))?;
            let max = f
                .opt_usize("max")?
                .ok_or_else(|| f.err(span.clone(), "missing required key 'max'"))?;
            (Check::MaxGroups { path, max }, codes::TOO_MANY_GROUPS)
        }
        "group_mapping" => {
            if k != ResourceKind::User {
                return Err(f.err(span, "'group_mapping' applies to users only"));
            }
            let deny_unmapped = match f.opt_str("unmapped_groups")? {
                None => false,
                Some((s, sp)) => match s.as_str() {
                    "allow" => false,
                    "deny" => true,
                    _ => {
                        return Err(f.err(
                            sp,
                            format!("unknown 'unmapped_groups' value '{s}' (use allow or deny)"),
                        ));
                    }
                },
            };
            let mv = get(t, "mapping").ok_or_else(|| {
                f.err(
                    span.clone(),
                    "missing required key 'mapping' (write [[rule.mapping]])",
                )
            })?;
            let arr = mv.get_ref().as_array().ok_or_else(|| {
                f.err(
                    mv.span(),
                    "'mapping' must be an array of tables: write [[rule.mapping]]",
                )
            })?;
            let mut mappings = Vec::new();
            for m in arr.iter() {
                let mt = m
                    .get_ref()
                    .as_table()
                    .ok_or_else(|| f.err(m.span(), "each mapping must be a table"))?;
                let mf = Fields {
                    ld,
                    t: mt,
                    span: m.span(),
                    rule: name.clone(),
                };
                for (mk, _) in mt.iter() {
                    let key = mk.get_ref().as_ref();
                    if !["group", "roles", "divisions"].contains(&key) {
                        return Err(mf.err(mk.span(), format!("unknown key '{key}' in a mapping (allowed: group, roles, divisions)")));
                    }
                }
                let (group, _) = mf.req_str("group")?;
                let lower = |l: StrList| -> HashSet<String> {
                    l.map(|(v, _)| v.into_iter().map(|(s, _)| s.to_lowercase()).collect())
                        .unwrap_or_default()
                };
                mappings.push(Mapping {
                    group: group.to_lowercase(),
                    roles: lower(mf.opt_str_list("roles")?),
                    divisions: lower(mf.opt_str_list("divisions")?),
                });
            }
            let p = |s: &str| compile_path(ld, &name, s, span.clone(), k);
            (
                Check::GroupMapping(Box::new(GroupMap {
                    mappings,
                    deny_unmapped,
                    groups: p("groups")?,
                    roles: p("roles")?,
                    division: p(&format!("{ENTERPRISE_USER}:division"))?,
                })),
                "",
            )
        }
        _ => return Err(f.err(kind_span, format!("unknown rule kind '{kind}'"))),
    };
    Ok(Rule {
        name,
        kind,
        code: custom_code.unwrap_or_else(|| default_code.to_string()),
        mode,
        message,
        applies_to,
        check,
        line: ld.pos(span.start).0,
    })
}

fn first_line(s: &str) -> String {
    // regex errors are multi-line with a caret diagram; keep them readable in one line.
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}
