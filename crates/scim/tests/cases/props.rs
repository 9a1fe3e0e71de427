//! Property tests: printing round-trips, PATCH is all-or-nothing, malformed input never panics.

use gcprov_scim::Resource;
use gcprov_scim::eval::CompiledFilter;
use gcprov_scim::filter::{AttrPath, CompValue, CompareOp, Filter, parse};
use gcprov_scim::patch::{PatchPath, PatchRequest, apply_patch};
use gcprov_scim::schema::defs::user_resource;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::common::alice;

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z][a-zA-Z0-9_-]{0,6}",
        Just("userName".to_string()),
        Just("emails".to_string()),
        Just("$ref".to_string()),
        Just("and".to_string()),
        Just("not".to_string()),
        Just("or".to_string()),
        Just("pr".to_string()),
    ]
}

fn attr_path() -> impl Strategy<Value = AttrPath> {
    let urn = prop_oneof![
        4 => Just(None),
        1 => Just(Some("urn:ietf:params:scim:schemas:core:2.0:User".to_string())),
        1 => Just(Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".to_string())),
        1 => Just(Some("urn:x:Y".to_string())),
    ];
    (urn, name(), proptest::option::of(name())).prop_map(|(urn, attr, sub_attr)| AttrPath {
        urn,
        attr,
        sub_attr,
    })
}

fn comp_value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        Just(CompValue::Null),
        any::<bool>().prop_map(CompValue::Bool),
        any::<i64>().prop_map(|i| CompValue::Number(i.into())),
        any::<u64>().prop_map(|i| CompValue::Number(i.into())),
        any::<f64>()
            .prop_filter_map("finite", serde_json::Number::from_f64)
            .prop_map(CompValue::Number),
        any::<String>().prop_map(CompValue::String),
    ]
}

fn op() -> impl Strategy<Value = CompareOp> {
    proptest::sample::select(CompareOp::ALL.to_vec())
}

fn leaf() -> impl Strategy<Value = Filter> {
    prop_oneof![
        4 => (attr_path(), op(), comp_value()).prop_map(|(path, op, value)| Filter::Compare { path, op, value }),
        1 => attr_path().prop_map(Filter::Present),
    ]
}

fn logical(inner: BoxedStrategy<Filter>) -> BoxedStrategy<Filter> {
    prop_oneof![
        (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::and(a, b)),
        (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::or(a, b)),
        inner.prop_map(Filter::not),
    ]
    .boxed()
}

/// Filters without value paths (what may appear inside `[...]`).
fn plain_filter() -> BoxedStrategy<Filter> {
    leaf().boxed().prop_recursive(4, 24, 2, logical).boxed()
}

fn filter() -> BoxedStrategy<Filter> {
    let base = prop_oneof![
        3 => leaf(),
        1 => (attr_path(), plain_filter()).prop_map(|(path, f)| Filter::ValuePath { path, filter: Box::new(f) }),
    ];
    base.boxed().prop_recursive(4, 32, 2, logical).boxed()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn print_then_parse_is_identity(f in filter()) {
        let printed = f.to_string();
        let back = parse(&printed);
        prop_assert_eq!(back.as_ref(), Ok(&f), "printed: {}", printed);
        prop_assert_eq!(back.unwrap().to_string(), printed);
    }

    #[test]
    fn evaluation_never_panics(f in filter()) {
        let a = alice();
        if let Ok(c) = CompiledFilter::compile(&f, user_resource()) {
            let _ = c.matches(&a);
        }
        if let Ok(c) = CompiledFilter::compile_without_schema(&f) {
            let _ = c.matches(&a);
        }
    }

    #[test]
    fn parser_never_panics(s in any::<String>()) {
        let _ = parse(&s);
        let _ = PatchPath::parse(&s);
        let _ = AttrPath::parse(&s);
    }

    #[test]
    fn parser_never_panics_on_filter_like_text(s in r#"[a-z\[\]().:" ]{0,40}( (eq|and|or|not|pr) )?[a-z\[\]().:"0-9 ]{0,20}"#) {
        let _ = parse(&s);
        let _ = PatchPath::parse(&s);
    }
}

fn patch_path() -> impl Strategy<Value = String> {
    let fixed = proptest::sample::select(vec![
        "title",
        "nickName",
        "userName",
        "active",
        "id",
        "meta",
        "meta.version",
        "groups",
        "name",
        "name.givenName",
        "name.nope",
        "emails",
        "emails.value",
        "emails[type eq \"work\"]",
        "emails[type eq \"work\"].value",
        "emails[type eq \"fax\"].value",
        "emails[value co \"@\"]",
        "emails[primary eq true].primary",
        "phoneNumbers",
        "phoneNumbers[type eq \"work\"]",
        "addresses",
        "roles",
        "x509Certificates",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        "urn:ietf:params:scim:schemas:extension:genesys:purecloud:2.0:User:routingSkills",
        "urn:ietf:params:scim:schemas:extension:genesys:purecloud:2.0:User:routingSkills[name eq \"Billing\"].proficiency",
        "urn:x:y:z",
        "department",
        "unknownAttr",
        "emails[",
        "a.b.c",
    ]);
    fixed.prop_map(str::to_string)
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|i| json!(i)),
        proptest::sample::select(vec![
            "True",
            "false",
            "x",
            "",
            "2024-01-01T00:00:00Z",
            "work",
            "Billing",
            "3.5"
        ])
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            proptest::collection::vec(
                (
                    proptest::sample::select(vec![
                        "value",
                        "type",
                        "primary",
                        "display",
                        "givenName",
                        "name",
                        "proficiency",
                        "$ref",
                        "id",
                        "active",
                        "title",
                        "emails",
                        "name.familyName"
                    ]),
                    inner
                ),
                0..4
            )
            .prop_map(|kv| Value::Object(
                kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            )),
        ]
    })
}

fn operation() -> impl Strategy<Value = Value> {
    (
        proptest::sample::select(vec![
            "add", "Add", "replace", "Replace", "remove", "REMOVE", "copy",
        ]),
        proptest::option::of(patch_path()),
        proptest::option::of(json_value()),
    )
        .prop_map(|(op, path, value)| {
            let mut m = serde_json::Map::new();
            m.insert("op".into(), json!(op));
            if let Some(p) = path {
                m.insert("path".into(), json!(p));
            }
            if let Some(v) = value {
                m.insert("value".into(), v);
            }
            Value::Object(m)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn patch_is_all_or_nothing(ops in proptest::collection::vec(operation(), 1..5)) {
        let original = alice();
        let before = serde_json::to_vec(&original).unwrap();
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
        match apply_patch(&original, &body, user_resource()) {
            Ok(updated) => {
                // a successful result is itself a valid JSON object resource
                prop_assert!(Resource::from_json(updated.to_json()).is_ok());
                // failure of a later op on the result leaves it unchanged too
                let bad = json!({"Operations": [{"op": "replace", "path": "id", "value": "x"}]});
                let snapshot = serde_json::to_vec(&updated).unwrap();
                prop_assert!(apply_patch(&updated, &bad, user_resource()).is_err());
                prop_assert_eq!(serde_json::to_vec(&updated).unwrap(), snapshot);
            }
            Err(e) => {
                prop_assert_eq!(e.status, 400);
                prop_assert!(e.scim_type.is_some());
            }
        }
        prop_assert_eq!(serde_json::to_vec(&original).unwrap(), before);
    }

    #[test]
    fn patch_parser_never_panics(v in json_value()) {
        let _ = PatchRequest::from_json(&v);
        let _ = PatchRequest::from_json(&json!({"Operations": [v]}));
    }
}
