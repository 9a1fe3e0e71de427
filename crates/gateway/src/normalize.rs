//! Step 1 of the write pipeline: normalise what IdPs send before policy and mapping.
//!
//! - every string: Unicode NFC (and trimmed when `trim` is on);
//! - `userName` and email values lower-cased when configured;
//! - `"True"`/`"False"` for `active` and `primary`, and numeric strings for `proficiency`,
//!   coerced to their types.

use serde_json::{Map, Value};
use unicode_normalization::UnicodeNormalization;

use crate::config::NormalizeConfig;

/// Normalises a User or Group body in place.
pub fn normalize(v: &mut Value, cfg: &NormalizeConfig) {
    strings(v, cfg);
    if let Value::Object(m) = v {
        if cfg.lowercase_user_name {
            for (k, val) in m.iter_mut() {
                if k.eq_ignore_ascii_case("userName")
                    && let Value::String(s) = val
                {
                    *s = s.to_lowercase();
                }
            }
        }
        if cfg.lowercase_emails {
            for (k, val) in m.iter_mut() {
                if k.eq_ignore_ascii_case("emails")
                    && let Value::Array(items) = val
                {
                    for item in items {
                        lower_value(item);
                    }
                }
            }
        }
        if cfg.coerce_types {
            coerce(m);
        }
    }
}

fn lower_value(item: &mut Value) {
    if let Value::Object(e) = item {
        for (k, val) in e.iter_mut() {
            if k.eq_ignore_ascii_case("value")
                && let Value::String(s) = val
            {
                *s = s.to_lowercase();
            }
        }
    }
}

fn strings(v: &mut Value, cfg: &NormalizeConfig) {
    match v {
        Value::String(s) => {
            // Most strings are already NFC (all ASCII ones are): keep them without re-collecting.
            let mut out: String = if cfg.unicode_nfc && !unicode_normalization::is_nfc(s) {
                s.nfc().collect()
            } else {
                std::mem::take(s)
            };
            if cfg.trim {
                let t = out.trim();
                if t.len() != out.len() {
                    out = t.to_string();
                }
            }
            *s = out;
        }
        Value::Array(a) => a.iter_mut().for_each(|x| strings(x, cfg)),
        Value::Object(m) => m.values_mut().for_each(|x| strings(x, cfg)),
        _ => {}
    }
}

const BOOLS: &[&str] = &["active", "primary"];
const NUMBERS: &[&str] = &["proficiency"];

fn coerce(m: &mut Map<String, Value>) {
    for (k, val) in m.iter_mut() {
        if BOOLS.iter().any(|b| k.eq_ignore_ascii_case(b))
            && let Value::String(s) = val
        {
            if s.eq_ignore_ascii_case("true") {
                *val = Value::Bool(true);
            } else if s.eq_ignore_ascii_case("false") {
                *val = Value::Bool(false);
            }
            continue;
        }
        if NUMBERS.iter().any(|b| k.eq_ignore_ascii_case(b))
            && let Value::String(s) = val
            && let Ok(n) = s.trim().parse::<f64>()
            && let Some(num) = serde_json::Number::from_f64(n)
        {
            *val = Value::Number(num);
            continue;
        }
        match val {
            Value::Object(inner) => coerce(inner),
            Value::Array(items) => {
                for i in items {
                    if let Value::Object(inner) = i {
                        coerce(inner);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Normalises the `value` of PATCH operations (the patch engine itself coerces booleans).
pub fn normalize_patch(body: &mut Value, cfg: &NormalizeConfig) {
    strings(body, cfg);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn normalises_what_idps_get_wrong() {
        let mut v = json!({"userName": " Ada@Example.COM ", "active": "False",
            "emails": [{"value": "ADA@example.com", "primary": "True"}],
            "urn:ietf:params:scim:schemas:extension:genesys:purecloud:2.0:User": {"routingSkills": [{"name": "Sales", "proficiency": "3.5"}]},
            "displayName": "Cafe\u{301}"});
        normalize(&mut v, &NormalizeConfig::default());
        assert_eq!(v["userName"], "ada@example.com");
        assert_eq!(v["active"], false);
        assert_eq!(v["emails"][0]["value"], "ada@example.com");
        assert_eq!(v["emails"][0]["primary"], true);
        assert_eq!(v["displayName"], "Caf\u{e9}");
        assert_eq!(
            v["urn:ietf:params:scim:schemas:extension:genesys:purecloud:2.0:User"]["routingSkills"]
                [0]["proficiency"],
            3.5
        );
    }
}
