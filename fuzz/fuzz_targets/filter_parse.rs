//! Filter parser fuzz target: arbitrary text must never panic; whatever parses must print to
//! canonical text that parses back to the same filter, and must compile and evaluate.
#![no_main]

use std::sync::LazyLock;

use gcprov_scim::Resource;
use gcprov_scim::eval::CompiledFilter;
use gcprov_scim::filter::{parse, parse_strict};
use gcprov_scim::patch::PatchPath;
use gcprov_scim::schema::defs::user_resource;
use libfuzzer_sys::fuzz_target;

static USER: LazyLock<Resource> = LazyLock::new(|| {
    let v = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "id": "2819c223", "userName": "Alice@Acme.com", "active": true, "title": "Agent",
        "name": {"givenName": "Alice", "familyName": "Smith"},
        "emails": [{"value": "alice@acme.com", "type": "work", "primary": true}, {"value": "a@h.net", "type": "home"}],
        "meta": {"lastModified": "2024-06-01T12:30:00Z", "version": "W/\"3\""},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "m"}, "department": "Support"}
    });
    Resource::from_json(v).unwrap_or_default()
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = parse_strict(text);
    let _ = PatchPath::parse(text);
    if let Ok(f) = parse(text) {
        let printed = f.to_string();
        let back = parse(&printed);
        assert_eq!(back.as_ref(), Ok(&f), "round trip failed for {printed:?}");
        if let Ok(c) = CompiledFilter::compile(&f, user_resource()) {
            let _ = c.matches(&USER);
        }
        if let Ok(c) = CompiledFilter::compile_without_schema(&f) {
            let _ = c.matches(&USER);
        }
    }
});
