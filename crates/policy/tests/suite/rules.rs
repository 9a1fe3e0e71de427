//! Every rule kind, modes, conditions, uniqueness, groups, determinism, PATCH results.

use super::{ENT, codes, demo, policy};
use gcprov_policy::{
    DecisionRecord, EvalContext, InMemoryOracle, Mode, Outcome, PolicyRef, ResourceKind, Subject,
};
use serde_json::{Value, json};

/// A user that satisfies the demo policy.
fn good_user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
        "id": "u-1",
        "userName": "ada.lovelace@acme.example",
        "externalId": "0a21f0f2",
        "active": true,
        "title": "Agent",
        "emails": [{"value": "ada.lovelace@acme.example", "type": "work", "primary": true}],
        "phoneNumbers": [{"value": "+441234567890", "type": "work"}],
        "roles": [{"value": "Agent"}],
        "groups": [{"value": "g-1", "display": "GC-Sales-Agents"}],
        ENT: {"department": "Sales", "costCenter": "CC-1234", "division": "Sales", "employeeNumber": "E1"}
    })
}

fn set(v: &mut Value, pointer: &str, x: Value) {
    match v.pointer_mut(pointer) {
        Some(slot) => *slot = x,
        None => panic!("no {pointer}"),
    }
}

fn ent_ptr(attr: &str) -> String {
    format!("/{}/{attr}", ENT.replace('/', "~1"))
}

#[test]
fn demo_accepts_a_good_user() {
    let d = demo().evaluate(&good_user());
    assert_eq!(d.outcome, Outcome::Accepted, "{:#?}", d);
}

#[test]
fn required_username_uses_the_base_code() {
    let p = policy("[[rule]]\nname = \"u\"\nkind = \"required\"\npath = \"userName\"\n");
    let d = p.evaluate(&json!({"displayName": "x"}));
    assert!(d.is_rejected());
    let v = &d.violations[0];
    assert_eq!(
        (v.code.as_str(), v.path.as_str(), v.rule.as_str(), v.mode),
        ("SCIM_MISSING_USERNAME", "userName", "u", Mode::Enforce)
    );
    // Empty strings are absent (RFC 7644 `pr`).
    assert!(p.evaluate(&json!({"userName": "  "})).is_rejected());
    // Attribute names are case-insensitive.
    assert!(!p.evaluate(&json!({"USERNAME": "ada"})).is_rejected());
    // Required on an extension attribute and a sub-attribute.
    let p = policy(&format!(
        "[[rule]]\nname = \"e\"\nkind = \"required\"\npath = \"{ENT}:employeeNumber\"\n[[rule]]\nname = \"g\"\nkind = \"required\"\npath = \"name.givenName\"\n"
    ));
    let d = p.evaluate(&json!({"name": {"familyName": "L"}}));
    assert_eq!(
        codes(&d),
        ["POLICY_MISSING_ATTRIBUTE", "POLICY_MISSING_ATTRIBUTE"]
    );
    assert!(
        !p.evaluate(&json!({"name": {"givenName": "A"}, ENT: {"employeeNumber": "1"}}))
            .is_rejected()
    );
}

#[test]
fn forbidden_never_echoes_a_password() {
    let p = policy("[[rule]]\nname = \"np\"\nkind = \"forbidden\"\npath = \"password\"\n");
    let d = p.evaluate(&json!({"userName": "a", "password": "Sup3rSecret!"}));
    assert_eq!(codes(&d), ["POLICY_FORBIDDEN_ATTRIBUTE"]);
    let text = serde_json::to_string(&d).unwrap_or_default();
    assert!(!text.contains("Sup3rSecret"), "{text}");
    // A regex on the password never shows the value either.
    let p = policy(
        "[[rule]]\nname = \"pw\"\nkind = \"regex\"\npath = \"password\"\npattern = '^.{20,}$'\n",
    );
    let d = p.evaluate(&json!({"password": "short-secret"}));
    assert!(d.is_rejected());
    assert!(
        !d.violations[0].message.contains("short-secret"),
        "{}",
        d.violations[0].message
    );
}

#[test]
fn personal_values_are_withheld_from_messages() {
    let p = policy(
        "[[rule]]\nname = \"t\"\nkind = \"denied_values\"\npath = \"title\"\nvalues = [\"Temp\"]\n\
         [[rule]]\nname = \"d\"\nkind = \"email_domain\"\nallow = [\"acme.example\"]\n",
    );
    let d = p.evaluate(&json!({"title": "Temp", "emails": [{"value": "jane.doe@evil.example"}]}));
    assert_eq!(d.violations.len(), 2);
    let text = serde_json::to_string(&d).unwrap_or_default();
    assert!(!text.contains("jane.doe"), "{text}");
    assert!(!text.contains("Temp"), "{text}");
    assert!(text.contains("evil.example"), "the domain is named: {text}");
}

#[test]
fn primary_email_required() {
    let p = policy("[[rule]]\nname = \"pe\"\nkind = \"primary_email\"\n");
    for bad in [
        json!({}),
        json!({"emails": []}),
        json!({"emails": [{"value": "a@b.example", "type": "work"}]}),
        json!({"emails": [{"value": "", "primary": true}]}),
        json!({"emails": [{"value": "a@b.example", "primary": "False"}]}),
    ] {
        let d = p.evaluate(&bad);
        assert_eq!(codes(&d), ["SCIM_MISSING_PRIMARY_EMAIL"], "{bad}");
    }
    assert!(
        !p.evaluate(&json!({"emails": [{"value": "a@b.example", "primary": true}]}))
            .is_rejected()
    );
    // Entra sends booleans as strings.
    assert!(
        !p.evaluate(&json!({"Emails": [{"Value": "a@b.example", "Primary": "True"}]}))
            .is_rejected()
    );
}

#[test]
fn email_domain_allowlist_is_case_insensitive_and_idna_normalised() {
    let p = policy(
        "[[rule]]\nname = \"dom\"\nkind = \"email_domain\"\nallow = [\"Acme.Example\", \"bücher.example\"]\n",
    );
    let ok = |e: &str| !p.evaluate(&json!({"emails": [{"value": e}]})).is_rejected();
    assert!(ok("ada@acme.example"));
    assert!(ok("ada@ACME.EXAMPLE"));
    assert!(ok("ada@acme.example."));
    assert!(ok("ada@BÜCHER.example"));
    assert!(ok("ada@xn--bcher-kva.example"));
    assert!(!ok("ada@evil.example"));
    assert!(
        !ok("ada@eu.acme.example"),
        "subdomains are not included unless configured"
    );
    assert!(!ok("not-an-email"));
    assert!(!ok("@acme.example"));
    let d = p.evaluate(&json!({"emails": [{"value": "ada@evil.example"}]}));
    assert_eq!(d.violations[0].code, "SCIM_INVALID_EMAIL_DOMAIN");
    assert_eq!(d.violations[0].path, "emails.value");
    assert!(d.violations[0].message.contains("evil.example"));
}

#[test]
fn email_domain_subdomains_and_denylist() {
    let p = policy(
        "[[rule]]\nname = \"dom\"\nkind = \"email_domain\"\nallow = [\"acme.example\"]\ndeny = [\"contractors.acme.example\"]\ninclude_subdomains = true\n",
    );
    let ok = |e: &str| !p.evaluate(&json!({"emails": [{"value": e}]})).is_rejected();
    assert!(ok("a@acme.example"));
    assert!(ok("a@eu.acme.example"));
    assert!(!ok("a@contractors.acme.example"), "deny wins over allow");
    assert!(!ok("a@x.contractors.acme.example"));
    assert!(
        !ok("a@notacme.example"),
        "suffix match is on label boundaries"
    );
    // Only the primary email.
    let p = policy(
        "[[rule]]\nname = \"dom\"\nkind = \"email_domain\"\npath = 'emails[primary eq true].value'\nallow = [\"acme.example\"]\n",
    );
    let u =
        json!({"emails": [{"value": "a@acme.example", "primary": true}, {"value": "a@gmail.com"}]});
    assert!(!p.evaluate(&u).is_rejected());
}

#[test]
fn value_allowlist_and_denylist() {
    let p = policy(&format!(
        "[[rule]]\nname = \"dept\"\nkind = \"allowed_values\"\npath = \"{ENT}:department\"\nvalues = [\"Sales\", \"Support\"]\n\
         [[rule]]\nname = \"titles\"\nkind = \"denied_values\"\npath = \"title\"\nvalues = [\"Temp\"]\n"
    ));
    let d = p.evaluate(&json!({ENT: {"department": "Marketing"}, "title": "temp"}));
    assert_eq!(
        codes(&d),
        ["POLICY_DEPARTMENT_DENIED", "POLICY_VALUE_DENIED"]
    );
    assert_eq!(d.violations[0].path, format!("{ENT}:department"));
    assert!(d.violations[0].message.contains("Marketing"));
    assert!(
        !p.evaluate(&json!({ENT: {"department": "sales"}, "title": "Agent"}))
            .is_rejected()
    );
    // Short extension names resolve through the schema.
    let p = policy(
        "[[rule]]\nname = \"d\"\nkind = \"allowed_values\"\npath = \"department\"\nvalues = [\"Sales\"]\ncase_sensitive = true\n",
    );
    assert!(
        p.evaluate(&json!({ENT: {"department": "sales"}}))
            .is_rejected()
    );
    assert!(
        !p.evaluate(&json!({ENT: {"department": "Sales"}}))
            .is_rejected()
    );
    // Multi-valued sub-attributes: every value is checked.
    let p = policy(
        "[[rule]]\nname = \"r\"\nkind = \"allowed_values\"\npath = \"roles.value\"\nvalues = [\"Agent\"]\n",
    );
    let d = p.evaluate(&json!({"roles": [{"value": "Agent"}, {"value": "Admin"}]}));
    assert_eq!(codes(&d), ["POLICY_VALUE_NOT_ALLOWED"]);
}

#[test]
fn regex_cost_centre() {
    let p = policy(&format!(
        "[[rule]]\nname = \"cc\"\nkind = \"regex\"\npath = \"{ENT}:costCenter\"\npattern = '^CC-[0-9]{{4}}$'\n"
    ));
    assert!(
        !p.evaluate(&json!({ENT: {"costCenter": "CC-1234"}}))
            .is_rejected()
    );
    let d = p.evaluate(&json!({ENT: {"costCenter": "CC-12"}}));
    assert_eq!(codes(&d), ["POLICY_COST_CENTER_MISMATCH"]);
    assert!(d.violations[0].message.contains("CC-12"));
    // Absent values are not checked by regex rules.
    assert!(!p.evaluate(&json!({})).is_rejected());
    // Custom code and message.
    let p = policy(
        "[[rule]]\nname = \"t\"\nkind = \"regex\"\npath = \"title\"\npattern = '^[A-Z]'\ncode = \"POLICY_TITLE_CASE\"\nmessage = \"Titles start upper-case\"\n",
    );
    let d = p.evaluate(&json!({"title": "agent"}));
    assert_eq!(d.violations[0].code, "POLICY_TITLE_CASE");
    assert!(
        d.violations[0]
            .message
            .starts_with("Titles start upper-case")
    );
}

#[test]
fn length_bounds_count_characters() {
    let p = policy(
        "[[rule]]\nname = \"len\"\nkind = \"length\"\npath = \"displayName\"\nmin = 2\nmax = 5\n",
    );
    assert!(p.evaluate(&json!({"displayName": "A"})).is_rejected());
    assert!(p.evaluate(&json!({"displayName": "Abcdef"})).is_rejected());
    assert!(!p.evaluate(&json!({"displayName": "Zoë"})).is_rejected());
    assert!(
        !p.evaluate(&json!({"displayName": "ÄÖÜßé"})).is_rejected(),
        "5 characters, 10 bytes"
    );
    assert_eq!(
        codes(&p.evaluate(&json!({"displayName": "A"}))),
        ["POLICY_LENGTH_OUT_OF_BOUNDS"]
    );
}

#[test]
fn conditional_rules_only_apply_when_the_filter_matches() {
    let p = policy(&format!(
        "[[rule]]\nname = \"sales-cc\"\nkind = \"conditional\"\nwhen = '{ENT}:department eq \"Sales\"'\n[rule.then]\nkind = \"regex\"\npath = \"{ENT}:costCenter\"\npattern = '^CC-1[0-9]{{3}}$'\n"
    ));
    // Not Sales: anything goes.
    assert!(
        !p.evaluate(&json!({ENT: {"department": "Support", "costCenter": "X"}}))
            .is_rejected()
    );
    // Sales (case-insensitive compare): must match.
    let d = p.evaluate(&json!({ENT: {"department": "sales", "costCenter": "CC-2000"}}));
    assert_eq!(codes(&d), ["POLICY_COST_CENTER_MISMATCH"]);
    assert_eq!(d.violations[0].rule, "sales-cc");
    assert!(
        d.violations[0].message.contains("because"),
        "{}",
        d.violations[0].message
    );
    assert!(
        !p.evaluate(&json!({ENT: {"department": "Sales", "costCenter": "CC-1000"}}))
            .is_rejected()
    );
    // Sales without a cost centre: the nested regex ignores absent values; nest `required` for that.
    let p = policy(
        "[[rule]]\nname = \"c\"\nkind = \"conditional\"\nmode = \"warn\"\nwhen = 'active eq true and (roles[value eq \"Agent\"] or title sw \"Agent\")'\nthen = { kind = \"required\", path = 'phoneNumbers[type eq \"work\"].value' }\n",
    );
    let d = p.evaluate(&json!({"active": true, "title": "Agent L2", "phoneNumbers": [{"type": "home", "value": "1"}]}));
    assert_eq!(d.outcome, Outcome::AcceptedWithWarnings);
    assert_eq!(d.warnings[0].code, "POLICY_MISSING_ATTRIBUTE");
    assert_eq!(d.warnings[0].mode, Mode::Warn);
    assert_eq!(
        p.evaluate(&json!({"active": "False", "title": "Agent"}))
            .outcome,
        Outcome::Accepted
    );
    assert_eq!(
        p.evaluate(&json!({"active": true, "roles": [{"value": "agent"}], "phoneNumbers": [{"type": "work", "value": "1"}]})).outcome,
        Outcome::Accepted
    );
    // Nested conditions.
    let p = policy(&format!(
        "[[rule]]\nname = \"n\"\nkind = \"conditional\"\nwhen = 'active eq true'\n[rule.then]\nkind = \"conditional\"\nwhen = '{ENT}:department pr'\nthen = {{ kind = \"required\", path = \"{ENT}:costCenter\" }}\n"
    ));
    assert!(
        p.evaluate(&json!({"active": true, ENT: {"department": "X"}}))
            .is_rejected()
    );
    assert!(
        !p.evaluate(&json!({"active": false, ENT: {"department": "X"}}))
            .is_rejected()
    );
    assert!(!p.evaluate(&json!({"active": true})).is_rejected());
}

#[test]
fn modes_enforce_warn_off() {
    let p = policy(
        "[[rule]]\nname = \"e\"\nkind = \"required\"\npath = \"userName\"\n\
         [[rule]]\nname = \"w\"\nkind = \"required\"\npath = \"title\"\nmode = \"warn\"\n\
         [[rule]]\nname = \"o\"\nkind = \"required\"\npath = \"displayName\"\nmode = \"off\"\n",
    );
    let d = p.evaluate(&json!({}));
    assert_eq!(d.outcome, Outcome::Rejected);
    assert_eq!(d.violations.len(), 1);
    assert_eq!(d.warnings.len(), 1);
    assert_eq!(d.warnings[0].rule, "w");
    let d = p.evaluate(&json!({"userName": "a"}));
    assert_eq!(d.outcome, Outcome::AcceptedWithWarnings);
    let d = p.evaluate(&json!({"userName": "a", "title": "t"}));
    assert_eq!(d.outcome, Outcome::Accepted);
    let text = serde_json::to_value(&d).unwrap_or_default();
    assert_eq!(text["decision"], "ACCEPTED");
}

#[test]
fn uniqueness_uses_the_oracle_and_excludes_the_resource_itself() {
    let p = policy("[[rule]]\nname = \"uniq\"\nkind = \"unique\"\npath = \"externalId\"\n");
    let mut oracle = InMemoryOracle::new();
    oracle.insert("externalId", "EXT-1", "u-1");
    let ctx = EvalContext {
        kind: None,
        oracle: Some(&oracle),
    };
    let d = p.evaluate_with(&json!({"id": "u-2", "externalId": "ext-1"}), &ctx);
    assert_eq!(codes(&d), ["POLICY_NOT_UNIQUE"]);
    assert!(
        !p.evaluate_with(&json!({"id": "u-1", "externalId": "EXT-1"}), &ctx)
            .is_rejected()
    );
    assert!(
        !p.evaluate_with(&json!({"externalId": "EXT-2"}), &ctx)
            .is_rejected()
    );
    // Without an oracle the rule is skipped.
    assert!(
        !p.evaluate(&json!({"id": "u-2", "externalId": "EXT-1"}))
            .is_rejected()
    );
}

#[test]
fn group_rules_max_groups_and_mapping() {
    let p = policy(
        "[[rule]]\nname = \"max\"\nkind = \"max_groups\"\nmax = 2\n\
         [[rule]]\nname = \"map\"\nkind = \"group_mapping\"\nunmapped_groups = \"deny\"\n\
         [[rule.mapping]]\ngroup = \"GC-Sales\"\nroles = [\"Agent\"]\ndivisions = [\"Sales\"]\n\
         [[rule.mapping]]\ngroup = \"GC-Sup\"\nroles = [\"Supervisor\"]\ndivisions = [\"*\"]\n",
    );
    let user = |groups: Value, roles: Value, division: &str| json!({"groups": groups, "roles": roles, ENT: {"division": division}});
    let ok = user(
        json!([{"display": "gc-sales"}]),
        json!([{"value": "Agent"}]),
        "Sales",
    );
    assert_eq!(
        p.evaluate(&ok).outcome,
        Outcome::Accepted,
        "{:?}",
        p.evaluate(&ok)
    );
    let d = p.evaluate(&user(
        json!([{"display": "GC-Sales"}]),
        json!([{"value": "Supervisor"}]),
        "Support",
    ));
    assert_eq!(
        codes(&d),
        ["POLICY_ROLE_NOT_PERMITTED", "POLICY_DIVISION_NOT_PERMITTED"]
    );
    let d = p.evaluate(&user(
        json!([{"display": "GC-Sup"}, {"value": "GC-Sales"}]),
        json!([{"value": "Supervisor"}, {"value": "Agent"}]),
        "Anything",
    ));
    assert_eq!(d.outcome, Outcome::Accepted, "{d:?}");
    let d = p.evaluate(&user(
        json!([{"display": "GC-Sales"}, {"display": "Random"}, {"display": "Other"}]),
        json!([]),
        "Sales",
    ));
    assert_eq!(
        codes(&d),
        [
            "POLICY_TOO_MANY_GROUPS",
            "POLICY_GROUP_NOT_MAPPED",
            "POLICY_GROUP_NOT_MAPPED"
        ]
    );
    // The reconciler's question: may this group grant this role in this division?
    assert!(
        !p.check_grant("GC-Sales", "Agent", Some("Sales"))
            .is_rejected()
    );
    assert!(
        p.check_grant("GC-Sales", "Admin", Some("Sales"))
            .is_rejected()
    );
    assert!(
        p.check_grant("GC-Sales", "Agent", Some("Home"))
            .is_rejected()
    );
}

#[test]
fn genesys_extension_paths_work() {
    let p = policy(
        "[[rule]]\nname = \"skills\"\nkind = \"allowed_values\"\npath = \"urn:ietf:params:scim:schemas:extension:genesys:purecloud:2.0:User:routingSkills.name\"\nvalues = [\"Billing\"]\ncase_sensitive = true\n",
    );
    let g = "urn:ietf:params:scim:schemas:extension:genesys:purecloud:2.0:User";
    assert!(
        !p.evaluate(&json!({g: {"routingSkills": [{"name": "Billing", "proficiency": 3}]}}))
            .is_rejected()
    );
    let d = p.evaluate(&json!({g: {"routingSkills": [{"name": "billing"}, {"name": "Billing"}]}}));
    assert_eq!(d.violations.len(), 1);
}

#[test]
fn group_resources_get_group_rules_only() {
    let p = demo();
    let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Sales agents"});
    let d = p.evaluate(&group);
    assert_eq!(codes(&d), ["POLICY_PATTERN_MISMATCH"]);
    assert!(!p.evaluate(&json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "GC-Sales"})).is_rejected());
    // Forcing the kind.
    let ctx = EvalContext {
        kind: Some(ResourceKind::Group),
        oracle: None,
    };
    assert_eq!(
        codes(&p.evaluate_with(&json!({"displayName": "x"}), &ctx)),
        ["POLICY_PATTERN_MISMATCH"]
    );
}

#[test]
fn evaluation_is_deterministic_and_ordered_by_rule() {
    let p = demo();
    let mut u = good_user();
    set(&mut u, "/userName", json!("ab"));
    set(&mut u, &ent_ptr("department"), json!("Sales"));
    set(&mut u, &ent_ptr("costCenter"), json!("CC-99"));
    set(
        &mut u,
        "/emails",
        json!([{"value": "x@gmail.com", "type": "work"}]),
    );
    u["password"] = json!("hunter2");
    let d1 = p.evaluate(&u);
    let d2 = p.evaluate(&u);
    assert_eq!(d1, d2);
    assert_eq!(
        codes(&d1),
        [
            "SCIM_MISSING_PRIMARY_EMAIL",
            "SCIM_INVALID_EMAIL_DOMAIN",
            "POLICY_LENGTH_OUT_OF_BOUNDS",
            "POLICY_FORBIDDEN_ATTRIBUTE",
            "POLICY_COST_CENTER_MISMATCH",
            "POLICY_SALES_COST_CENTER",
            "SCIM_INVALID_EMAIL_DOMAIN",
        ]
    );
    assert_eq!(
        d1.warnings.len(),
        1,
        "personal mailbox is a warning: {d1:#?}"
    );
}

#[test]
fn malformed_resources_never_panic() {
    let p = demo();
    for v in [
        json!(null),
        json!(42),
        json!("user"),
        json!([]),
        json!({"emails": "a@b"}),
        json!({"emails": [1, null, "x", {"value": 5, "primary": 1}]}),
        json!({"groups": {"display": 1}, "roles": "Agent", ENT: "Sales"}),
        json!({ENT: {"department": ["Sales", null], "costCenter": {"x": 1}}}),
    ] {
        let _ = p.evaluate(&v);
    }
}

/// A PATCH is judged on the resource it would produce, applied by the scim crate's engine.
#[test]
fn scim_patch_is_judged_on_the_resulting_resource() {
    let p = demo();
    let current = good_user();
    // Entra-style: capitalised op, value-path with sub-attribute, enterprise URN path.
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "ada@gmail.com"},
        {"op": "Replace", "path": format!("{ENT}:department"), "value": "Marketing"}
    ]});
    let (patched, d) = match p.evaluate_scim_patch(&current, &patch, &EvalContext::default()) {
        Ok(x) => x,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(patched["emails"][0]["value"], "ada@gmail.com");
    assert_eq!(
        codes(&d),
        [
            "SCIM_INVALID_EMAIL_DOMAIN",
            "POLICY_DEPARTMENT_DENIED",
            "SCIM_INVALID_EMAIL_DOMAIN"
        ]
    );
    assert_eq!(
        d.warnings.len(),
        1,
        "the personal-mailbox rule is warn-only"
    );
    // A harmless PATCH on a good user stays accepted, even though the PATCH body alone has no userName.
    let ok = json!({"Operations": [{"op": "replace", "path": "title", "value": "Senior Agent"}]});
    let (patched, d) = match p.evaluate_scim_patch(&current, &ok, &EvalContext::default()) {
        Ok(x) => x,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(patched["title"], "Senior Agent");
    assert_eq!(d.outcome, Outcome::Accepted, "{d:?}");
    // A PATCH the engine rejects is an error, not a decision; the current resource is untouched.
    let bad = json!({"Operations": [{"op": "remove"}]});
    assert!(
        p.evaluate_scim_patch(&current, &bad, &EvalContext::default())
            .is_err()
    );
}

/// The engine-agnostic form: any `apply` function (here a hand-written one).
#[test]
fn patch_is_judged_on_the_resulting_resource_hand_applied() {
    let p = demo();
    let current = good_user();
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Add", "path": format!("{ENT}:department"), "value": "Marketing"}]});
    // The PATCH document itself has no userName or emails: judging it would be wrong.
    assert!(p.evaluate(&patch).is_rejected());
    let apply = |cur: &Value| -> Result<Value, String> {
        let mut next = cur.clone();
        next[ENT]["department"] = json!("Marketing");
        Ok(next)
    };
    let (patched, d) = match p.evaluate_patch(&current, apply, &EvalContext::default()) {
        Ok(x) => x,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(patched[ENT]["department"], "Marketing");
    assert_eq!(codes(&d), ["POLICY_DEPARTMENT_DENIED"]);
    // An engine error is passed through.
    let r = p.evaluate_patch(
        &current,
        |_| Err::<Value, _>("noTarget"),
        &EvalContext::default(),
    );
    assert!(matches!(r, Err("noTarget")));
}

#[test]
fn decision_record_carries_identifiers_not_secrets() {
    let p = demo();
    let mut u = good_user();
    u["password"] = json!("Sup3rSecret!");
    let d = p.evaluate(&u);
    let rec = DecisionRecord::new(
        p.reference(),
        &d,
        &u,
        "scim",
        Some("entra-client".into()),
        time::OffsetDateTime::UNIX_EPOCH,
    );
    assert_eq!(rec.evaluated_at, "1970-01-01T00:00:00Z");
    assert_eq!(rec.decision, Outcome::Rejected);
    assert_eq!(
        rec.subject,
        Subject {
            id: Some("u-1".into()),
            user_name: Some("ada.lovelace@acme.example".into()),
            external_id: Some("0a21f0f2".into()),
            display_name: None
        }
    );
    assert_eq!(
        rec.policy,
        PolicyRef {
            name: "acme-contact-centre".into(),
            version: Some("3".into())
        }
    );
    let text = serde_json::to_string(&rec).unwrap_or_default();
    assert!(!text.contains("Sup3rSecret"), "{text}");
    assert!(text.contains("\"decision\":\"REJECTED\""), "{text}");
    assert!(text.contains("POLICY_FORBIDDEN_ATTRIBUTE"));
}
