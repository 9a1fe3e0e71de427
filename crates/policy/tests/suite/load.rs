//! Policy files: loading the demo, and errors with file, line and rule name.

use super::{demo, policy};
use gcprov_policy::{Mode, Policy, PolicyError, RULE_KINDS};

fn load_err(toml: &str) -> PolicyError {
    match Policy::from_toml(toml, "bad.toml") {
        Ok(_) => panic!("policy should be rejected"),
        Err(e) => e,
    }
}

#[test]
fn demo_policy_loads_and_uses_every_kind() {
    let p = demo();
    let kinds: std::collections::BTreeSet<&str> = p.rules().iter().map(|r| r.kind).collect();
    for k in RULE_KINDS {
        assert!(kinds.contains(k), "demo.toml does not exercise kind {k}");
    }
    let r = p.reference();
    assert_eq!(r.name, "acme-contact-centre");
    assert_eq!(r.version.as_deref(), Some("3"));
    let first = &p.rules()[0];
    assert_eq!(first.name, "username-required");
    assert_eq!(first.code, "SCIM_MISSING_USERNAME");
    assert!(first.line > 1);
    assert!(p.rules().iter().any(|r| r.mode == Mode::Off));
}

#[test]
fn bad_regex_names_file_line_and_rule() {
    let e = load_err(
        r#"
[[rule]]
name = "ok"
kind = "required"
path = "userName"

[[rule]]
name = "cost-centre"
kind = "regex"
path = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter"
pattern = '^CC-[0-9{4}$'
"#,
    );
    let s = e.to_string();
    assert_eq!(e.line(), Some(11), "{s}");
    assert_eq!(e.rule(), Some("cost-centre"));
    assert!(s.starts_with("bad.toml:11:"), "{s}");
    assert!(s.contains("rule \"cost-centre\""), "{s}");
    assert!(s.contains("invalid regex"), "{s}");
}

#[test]
fn unknown_attribute_path_names_file_line_and_rule() {
    let e = load_err(
        r#"[policy]
name = "x"

[[rule]]
name = "dept"
kind = "allowed_values"
path = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:departmnet"
values = ["Sales"]
"#,
    );
    let s = e.to_string();
    assert_eq!(e.line(), Some(7), "{s}");
    assert_eq!(e.rule(), Some("dept"));
    assert!(s.contains("departmnet"), "{s}");
}

#[test]
fn unknown_sub_attribute_and_unknown_schema_are_rejected() {
    let e = load_err("[[rule]]\nname = \"a\"\nkind = \"required\"\npath = \"name.givenNam\"\n");
    assert_eq!(e.line(), Some(4));
    assert!(e.to_string().contains("givenNam"), "{e}");
    let e = load_err(
        "[[rule]]\nname = \"b\"\nkind = \"required\"\npath = \"urn:example:nope:User:x\"\n",
    );
    assert!(e.to_string().contains("unknown schema"), "{e}");
    // A typo inside a value filter.
    let e = load_err(
        "[[rule]]\nname = \"c\"\nkind = \"required\"\npath = 'emails[typ eq \"work\"].value'\n",
    );
    assert!(e.to_string().contains("typ"), "{e}");
}

#[test]
fn unknown_rule_kind_names_file_line_and_rule() {
    let e = load_err(
        "[[rule]]\nname = \"weird\"\nmode = \"warn\"\nkind = \"telepathy\"\npath = \"userName\"\n",
    );
    let s = e.to_string();
    assert_eq!(e.line(), Some(4), "{s}");
    assert_eq!(e.rule(), Some("weird"));
    assert!(s.contains("unknown rule kind 'telepathy'"), "{s}");
    assert!(s.contains("email_domain"), "lists the known kinds: {s}");
}

#[test]
fn bad_condition_and_nested_rule_errors_point_at_their_lines() {
    let e = load_err(
        "[[rule]]\nname = \"cond\"\nkind = \"conditional\"\nwhen = 'department eq'\nthen = { kind = \"required\", path = \"title\" }\n",
    );
    assert_eq!(e.line(), Some(4), "{e}");
    assert_eq!(e.rule(), Some("cond"));
    let e = load_err(
        "[[rule]]\nname = \"cond\"\nkind = \"conditional\"\nwhen = 'department eq \"Sales\"'\n[rule.then]\nkind = \"regex\"\npath = \"costCenter\"\npattern = '('\n",
    );
    assert_eq!(e.line(), Some(8), "{e}");
    assert_eq!(e.rule(), Some("cond"));
    let e = load_err(
        "[[rule]]\nname = \"cond\"\nkind = \"conditional\"\nwhen = 'departmen eq \"Sales\"'\nthen = { kind = \"required\", path = \"title\" }\n",
    );
    assert!(e.to_string().contains("departmen"), "{e}");
}

#[test]
fn other_mistakes_are_reported_with_lines() {
    // Unknown key (typo of 'pattern').
    let e = load_err("[[rule]]\nname = \"r\"\nkind = \"regex\"\npath = \"title\"\npatern = 'x'\n");
    assert_eq!(e.line(), Some(5));
    assert!(e.to_string().contains("unknown key 'patern'"), "{e}");
    // Unknown mode.
    let e = load_err(
        "[[rule]]\nname = \"r\"\nkind = \"required\"\npath = \"title\"\nmode = \"strict\"\n",
    );
    assert_eq!(e.line(), Some(5));
    // Missing name.
    let e = load_err("[[rule]]\nkind = \"required\"\npath = \"title\"\n");
    assert!(e.to_string().contains("name"), "{e}");
    // Duplicate names.
    let e = load_err(
        "[[rule]]\nname = \"a\"\nkind = \"required\"\npath = \"title\"\n[[rule]]\nname = \"a\"\nkind = \"required\"\npath = \"userName\"\n",
    );
    assert_eq!(e.line(), Some(6));
    assert!(e.to_string().contains("duplicate"), "{e}");
    // Invalid TOML.
    let e = load_err("[[rule]]\nname = \"a\nkind = 1\n");
    assert_eq!(e.line(), Some(2), "{e}");
    // Bad domain, bad code, min > max, wrong type.
    assert!(
        load_err("[[rule]]\nname = \"d\"\nkind = \"email_domain\"\nallow = [\"exa mple.com\"]\n")
            .to_string()
            .contains("not a valid domain")
    );
    assert!(
        load_err(
            "[[rule]]\nname = \"c\"\nkind = \"required\"\npath = \"title\"\ncode = \"lower\"\n"
        )
        .to_string()
        .contains("UPPER_SNAKE_CASE")
    );
    assert!(
        load_err("[[rule]]\nname = \"l\"\nkind = \"length\"\npath = \"title\"\nmin = 5\nmax = 2\n")
            .to_string()
            .contains("greater")
    );
    assert!(
        load_err("[[rule]]\nname = \"g\"\nkind = \"max_groups\"\nmax = \"five\"\n")
            .to_string()
            .contains("integer")
    );
    // Unknown top-level key.
    assert!(
        load_err("[rules]\nx = 1\n")
            .to_string()
            .contains("unknown top-level key")
    );
}

#[test]
fn missing_file_is_an_io_error_naming_the_file() {
    let e = match Policy::load(std::path::Path::new("/nonexistent/policy.toml")) {
        Ok(_) => panic!("should fail"),
        Err(e) => e,
    };
    assert!(matches!(e, PolicyError::Io { .. }));
    assert!(e.to_string().contains("/nonexistent/policy.toml"));
}

#[test]
fn empty_policy_accepts_everything() {
    let p = policy("");
    assert!(p.rules().is_empty());
    assert!(!p.evaluate(&serde_json::json!({})).is_rejected());
}
