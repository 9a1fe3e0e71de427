//! ETag helpers.

use gcprov_scim::etag::{Comparison, ETag, ETagCondition, if_match, if_none_match};
use serde_json::json;

#[test]
fn parse_and_print() {
    assert_eq!(ETag::parse("W/\"3\"").unwrap(), ETag::weak("3"));
    assert_eq!(ETag::parse("\"abc\"").unwrap(), ETag::strong("abc"));
    assert_eq!(ETag::weak("3").to_string(), "W/\"3\"");
    assert!(ETag::parse("abc").is_err());
    assert!(ETag::parse("W/abc").is_err());
    assert_eq!(ETagCondition::parse(" * ").unwrap(), ETagCondition::Any);
    assert_eq!(
        ETagCondition::parse("\"a\", W/\"b\"").unwrap(),
        ETagCondition::Tags(vec![ETag::strong("a"), ETag::weak("b")])
    );
    assert!(ETagCondition::parse("\"a\" \"b\"").is_err());
    assert!(ETagCondition::parse("").is_err());
}

#[test]
fn if_match_evaluation() {
    let cur = ETag::weak("3");
    assert!(if_match("W/\"3\"", Some(&cur), Comparison::Weak).unwrap());
    assert!(
        !if_match("W/\"3\"", Some(&cur), Comparison::Strong).unwrap(),
        "weak tags never match strongly"
    );
    assert!(if_match("\"1\", W/\"3\"", Some(&cur), Comparison::Weak).unwrap());
    assert!(!if_match("W/\"2\"", Some(&cur), Comparison::Weak).unwrap());
    assert!(if_match("*", Some(&cur), Comparison::Strong).unwrap());
    assert!(
        !if_match("*", None, Comparison::Weak).unwrap(),
        "* fails when the resource does not exist"
    );
    let strong = ETag::strong("x");
    assert!(if_match("\"x\"", Some(&strong), Comparison::Strong).unwrap());
}

#[test]
fn if_none_match_evaluation() {
    let cur = ETag::weak("3");
    assert!(
        !if_none_match("\"3\"", Some(&cur)).unwrap(),
        "weak comparison"
    );
    assert!(if_none_match("W/\"4\"", Some(&cur)).unwrap());
    assert!(!if_none_match("*", Some(&cur)).unwrap());
    assert!(if_none_match("*", None).unwrap());
}

#[test]
fn content_tags() {
    let a = ETag::weak_from_content(&json!({"a": 1}));
    assert_eq!(a, ETag::weak_from_content(&json!({"a": 1})));
    assert_ne!(a, ETag::weak_from_content(&json!({"a": 2})));
    assert!(a.weak);
}
