//! Filter parser and printer.

use gcprov_scim::ScimType;
use gcprov_scim::filter::{AttrPath, CompValue, CompareOp, Filter, MAX_DEPTH, parse, parse_strict};

fn p(s: &str) -> Filter {
    parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn s(attr: &str, op: CompareOp, v: &str) -> Filter {
    Filter::compare(AttrPath::new(attr), op, CompValue::String(v.into()))
}

/// Every example filter of RFC 7644 3.4.2.2 parses and round-trips through its printed form.
#[test]
fn rfc_examples_parse_and_round_trip() {
    let examples = [
        r#"userName Eq "john""#,
        r#"Username eq "john""#,
        r#"userName eq "bjensen""#,
        r#"name.familyName co "O'Malley""#,
        r#"userName sw "J""#,
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
        "title pr",
        r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
        r#"title pr and userType eq "Employee""#,
        r#"title pr or userType eq "Intern""#,
        r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
        r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
        r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
        r#"userType eq "Employee" and (emails.type eq "work")"#,
        r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
        r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
    ];
    for e in examples {
        let f = p(e);
        let printed = f.to_string();
        assert_eq!(parse(&printed).unwrap(), f, "{e} -> {printed}");
        // canonical form is a fixed point
        assert_eq!(parse(&printed).unwrap().to_string(), printed);
    }
}

#[test]
fn each_operator() {
    let cases = [
        ("eq", CompareOp::Eq),
        ("ne", CompareOp::Ne),
        ("co", CompareOp::Co),
        ("sw", CompareOp::Sw),
        ("ew", CompareOp::Ew),
        ("gt", CompareOp::Gt),
        ("ge", CompareOp::Ge),
        ("lt", CompareOp::Lt),
        ("le", CompareOp::Le),
    ];
    for (word, op) in cases {
        for w in [
            word.to_string(),
            word.to_uppercase(),
            format!("{}{}", &word[..1].to_uppercase(), &word[1..]),
        ] {
            assert_eq!(p(&format!(r#"title {w} "x""#)), s("title", op, "x"));
        }
        assert_eq!(
            p(&format!(r#"title {word} "x""#)).to_string(),
            format!(r#"title {word} "x""#)
        );
    }
    assert_eq!(p("title pr"), Filter::Present(AttrPath::new("title")));
    assert_eq!(p("title PR"), Filter::Present(AttrPath::new("title")));
}

#[test]
fn literals() {
    let lit = |src: &str| match p(&format!("a eq {src}")) {
        Filter::Compare { value, .. } => value,
        other => panic!("{other:?}"),
    };
    assert_eq!(lit("true"), CompValue::Bool(true));
    assert_eq!(lit("FALSE"), CompValue::Bool(false));
    assert_eq!(lit("null"), CompValue::Null);
    assert_eq!(lit("42"), CompValue::Number(42.into()));
    assert_eq!(
        lit("-1.5"),
        CompValue::Number(serde_json::Number::from_f64(-1.5).unwrap())
    );
    assert_eq!(
        lit("1e3"),
        CompValue::Number(serde_json::Number::from_f64(1000.0).unwrap())
    );
    assert_eq!(
        lit(r#""with \"quotes\" and \\ \u00e9""#),
        CompValue::String("with \"quotes\" and \\ é".into())
    );
    assert_eq!(lit(r#""""#), CompValue::String(String::new()));
    // printed strings are JSON
    let f = p(r#"a eq "tab\there \"q\" \u0001""#);
    assert_eq!(f.to_string(), r#"a eq "tab\there \"q\" \u0001""#);
    assert_eq!(parse(&f.to_string()).unwrap(), f);
}

#[test]
fn precedence_not_and_or() {
    let (a, b, c) = (
        s("a", CompareOp::Eq, "1"),
        s("b", CompareOp::Eq, "2"),
        s("c", CompareOp::Eq, "3"),
    );
    // and binds tighter than or, on both sides
    assert_eq!(
        p(r#"a eq "1" or b eq "2" and c eq "3""#),
        Filter::or(a.clone(), Filter::and(b.clone(), c.clone()))
    );
    assert_eq!(
        p(r#"a eq "1" and b eq "2" or c eq "3""#),
        Filter::or(Filter::and(a.clone(), b.clone()), c.clone())
    );
    // left associative
    assert_eq!(
        p(r#"a eq "1" or b eq "2" or c eq "3""#),
        Filter::or(Filter::or(a.clone(), b.clone()), c.clone())
    );
    assert_eq!(
        p(r#"a eq "1" and b eq "2" and c eq "3""#),
        Filter::and(Filter::and(a.clone(), b.clone()), c.clone())
    );
    // not binds tighter than and
    assert_eq!(
        p(r#"not (a eq "1") and b eq "2""#),
        Filter::and(Filter::not(a.clone()), b.clone())
    );
    assert_eq!(
        p(r#"NOT(a eq "1") or b eq "2""#),
        Filter::or(Filter::not(a.clone()), b.clone())
    );
    // parentheses override
    assert_eq!(
        p(r#"a eq "1" and (b eq "2" or c eq "3")"#),
        Filter::and(a.clone(), Filter::or(b.clone(), c.clone()))
    );
    // printer keeps needed parentheses only
    assert_eq!(
        Filter::and(a.clone(), Filter::or(b.clone(), c.clone())).to_string(),
        r#"a eq "1" and (b eq "2" or c eq "3")"#
    );
    assert_eq!(
        Filter::or(a.clone(), Filter::or(b.clone(), c.clone())).to_string(),
        r#"a eq "1" or (b eq "2" or c eq "3")"#
    );
    assert_eq!(
        Filter::or(Filter::and(a.clone(), b.clone()), c.clone()).to_string(),
        r#"a eq "1" and b eq "2" or c eq "3""#
    );
    assert_eq!(p(r#"((a eq "1"))"#), a);
}

#[test]
fn paths() {
    let f =
        p(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m1""#);
    assert_eq!(
        f,
        Filter::compare(
            AttrPath {
                urn: Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".into()),
                attr: "manager".into(),
                sub_attr: Some("value".into())
            },
            CompareOp::Eq,
            CompValue::String("m1".into())
        )
    );
    assert_eq!(
        p(r#"members[$ref eq "x"]"#).to_string(),
        r#"members[$ref eq "x"]"#
    );
    let g = p(
        r#"urn:ietf:params:scim:schemas:extension:genesys:purecloud:2.0:User:externalIds[authority eq "matchAuthName" and value eq "k"]"#,
    );
    let Filter::ValuePath { path, filter } = &g else {
        panic!("{g:?}")
    };
    assert_eq!(path.attr, "externalIds");
    assert!(matches!(**filter, Filter::And(..)));
}

#[test]
fn value_path_sub_attribute_form_of_entra() {
    let f = p(r#"emails[type eq "work"].value eq "user@contoso.com""#);
    assert_eq!(
        f.to_string(),
        r#"emails[type eq "work" and value eq "user@contoso.com"]"#
    );
    let f = p(r#"emails[type eq "work"].value pr"#);
    assert_eq!(f.to_string(), r#"emails[type eq "work" and value pr]"#);
}

#[test]
fn unquoted_values_lenient_and_strict() {
    // Genesys documents these exact filters.
    assert_eq!(
        p("userName eq search@sample.org"),
        s("userName", CompareOp::Eq, "search@sample.org")
    );
    assert_eq!(
        p("id eq 857449b0-d9e7-4cd0-acbf-a6adfb9ef1e9"),
        s("id", CompareOp::Eq, "857449b0-d9e7-4cd0-acbf-a6adfb9ef1e9")
    );
    assert_eq!(
        p("displayname eq Sales"),
        s("displayname", CompareOp::Eq, "Sales")
    );
    assert_eq!(
        p("externalId eq jyoung"),
        s("externalId", CompareOp::Eq, "jyoung")
    );
    assert!(matches!(
        p("externalId eq 167844"),
        Filter::Compare {
            value: CompValue::Number(_),
            ..
        }
    ));
    assert!(matches!(
        p("active eq false"),
        Filter::Compare {
            value: CompValue::Bool(false),
            ..
        }
    ));
    assert_eq!(
        p("(displayName eq Sales)"),
        s("displayName", CompareOp::Eq, "Sales")
    );
    // printed canonically with quotes
    assert_eq!(
        p("userName eq search@sample.org").to_string(),
        r#"userName eq "search@sample.org""#
    );
    let e = parse_strict("userName eq search@sample.org").unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
    assert!(e.detail.contains("position 13"), "{}", e.detail);
}

#[test]
fn errors_are_invalid_filter_with_position() {
    let cases = [
        ("", 1, "filter expression"),
        ("userName", 9, "operator"),
        (r#"userName zz "a""#, 10, "operator"),
        (r#"userName eq"#, 12, "value"),
        (r#"userName eq "a" and"#, 20, "attribute path"),
        (r#"userName eq "a" xor b eq "c""#, 17, "'and', 'or'"),
        (r#"(userName eq "a""#, 17, "')'"),
        (r#"emails[type eq "work""#, 22, "']'"),
        (r#"emails[type eq "work"] eq "x""#, 24, "'and', 'or'"),
        (r#"emails[addr[x eq 1]]"#, 12, "nested"),
        (r#"name.given.family eq "a""#, 11, "sub-attribute"),
        (r#"1abc eq "a""#, 1, "attribute name"),
        (r#"a eq "unterminated"#, 6, "closing"),
        (r#"a eq "bad \x escape""#, 6, "JSON string"),
        (r#"not a eq "b""#, 5, "operator"),
        (r#"a eq "b")"#, 9, "'and', 'or'"),
        (r#"foo:bar eq "b""#, 1, "urn:"),
    ];
    for (input, pos, expected) in cases {
        let e = parse(input).expect_err(input);
        assert_eq!(e.status, 400);
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter), "{input}");
        assert!(
            e.detail.contains(&format!("position {pos}:")),
            "{input}: {}",
            e.detail
        );
        assert!(e.detail.contains(expected), "{input}: {}", e.detail);
        assert_eq!(e.to_body()["scimType"], "invalidFilter");
    }
}

#[test]
fn position_counts_characters_not_bytes() {
    let e = parse(r#"a eq "é" zz"#).unwrap_err();
    assert!(e.detail.contains("position 10"), "{}", e.detail);
}

#[test]
fn nesting_is_bounded() {
    let ok = format!("{}a eq 1{}", "(".repeat(50), ")".repeat(50));
    assert!(parse(&ok).is_ok());
    for depth in [MAX_DEPTH + 1, 100_000] {
        let parens = format!("{}a eq 1{}", "(".repeat(depth), ")".repeat(depth));
        let e = parse(&parens).unwrap_err();
        assert!(e.detail.contains("nested"), "{}", e.detail);
        let nots = format!("{}a eq 1{}", "not (".repeat(depth), ")".repeat(depth));
        assert!(parse(&nots).is_err());
    }
    let long_or = vec!["a eq 1"; 150].join(" or ");
    assert!(parse(&long_or).is_ok(), "IdP batches of 150 ids must parse");
    let too_long = vec!["a eq 1"; 100_000].join(" or ");
    assert!(parse(&too_long).is_err());
}

#[test]
fn whitespace_tolerance() {
    assert_eq!(
        p("  userName   eq\t\"x\"  "),
        s("userName", CompareOp::Eq, "x")
    );
    assert_eq!(
        p(r#"a eq "1" and(b eq "2")"#),
        p(r#"a eq "1" and (b eq "2")"#)
    );
}

#[test]
fn from_str_and_attr_path_parse() {
    let f: Filter = r#"userName eq "x""#.parse().unwrap();
    assert_eq!(f, s("userName", CompareOp::Eq, "x"));
    assert_eq!(
        AttrPath::parse("name.givenName").unwrap(),
        AttrPath::with_sub("name", "givenName")
    );
    assert!(AttrPath::parse("name[x eq 1]").is_err());
}

#[test]
fn visit_paths_and_simple_eq() {
    let f = p(r#"userName eq "a" and emails[type eq "work" and value pr] or not (title pr)"#);
    let mut seen = Vec::new();
    f.visit_paths(&mut |parent, path| {
        seen.push((parent.map(|p| p.attr.clone()), path.to_string()))
    });
    assert_eq!(
        seen,
        [
            (None, "userName".to_string()),
            (None, "emails".to_string()),
            (Some("emails".to_string()), "type".to_string()),
            (Some("emails".to_string()), "value".to_string()),
            (None, "title".to_string()),
        ]
    );
    let simple = p("externalId eq jyoung");
    let (path, value) = simple.as_simple_eq().unwrap();
    assert_eq!(
        (path.attr.as_str(), value),
        ("externalId", &CompValue::String("jyoung".into()))
    );
    assert!(f.as_simple_eq().is_none());
}
