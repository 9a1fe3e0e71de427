//! No input may panic the loader, the evaluator or the input readers (bounded property tests).

use super::demo;
use gcprov_policy::Policy;
use gcprov_policy::input::{InputFormat, parse_records};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Arbitrary JSON values a few levels deep, with SCIM-looking keys.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-zA-Z@.\\-_ üß]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop_oneof![
            Just("userName".to_string()),
            Just("emails".to_string()),
            Just("value".to_string()),
            Just("primary".to_string()),
            Just("type".to_string()),
            Just("groups".to_string()),
            Just("roles".to_string()),
            Just("display".to_string()),
            Just("password".to_string()),
            Just("active".to_string()),
            Just(super::ENT.to_string()),
            Just("department".to_string()),
            Just("costCenter".to_string()),
            "[a-zA-Z]{1,8}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key, inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn evaluation_never_panics_and_is_deterministic(v in arb_json()) {
        let p = demo();
        let a = p.evaluate(&v);
        let b = p.evaluate(&v);
        prop_assert_eq!(a, b);
    }

    #[test]
    fn loading_arbitrary_text_never_panics(s in "(\\[\\[rule\\]\\]\n|name = \"[a-z]{1,3}\"\n|kind = \"[a-z_]{1,14}\"\n|path = '[a-zA-Z\\[\\]. \"=:]{0,20}'\n|pattern = '[\\[\\](){}*+?a-z0-9^$]{0,10}'\n|when = '[a-z \"()]{0,20}'\n|[ -~]{0,20}\n){0,12}") {
        let _ = Policy::from_toml(&s, "fuzz.toml");
    }

    #[test]
    fn input_readers_never_panic(s in "[ -~\n\"{}\\[\\],:]{0,200}") {
        for f in [InputFormat::Json, InputFormat::Ndjson, InputFormat::Csv] {
            let _ = parse_records("fuzz", &s, f);
        }
    }
}
