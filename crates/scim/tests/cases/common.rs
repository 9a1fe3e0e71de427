//! Shared helpers.

use gcprov_scim::Resource;
use serde_json::{Value, json};

/// Loads a fixture's `body`.
pub fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let v: Value = serde_json::from_str(&text).unwrap();
    assert!(
        v["source"].as_str().is_some_and(|s| !s.is_empty()),
        "{name} must cite its source"
    );
    v["body"].clone()
}

pub fn res(v: Value) -> Resource {
    Resource::from_json(v).unwrap()
}

/// A typical provisioned user.
pub fn alice() -> Resource {
    res(json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "urn:ietf:params:scim:schemas:extension:genesys:purecloud:2.0:User"
        ],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "bjensen",
        "userName": "Alice.Smith@Acme.com",
        "name": {"givenName": "Alice", "familyName": "Smith", "formatted": "Alice Smith"},
        "displayName": "Alice Smith",
        "title": "Agent",
        "active": true,
        "emails": [
            {"value": "alice.smith@acme.com", "type": "work", "primary": true},
            {"value": "alice@home.example", "type": "home"}
        ],
        "phoneNumbers": [{"value": "+15551234567", "type": "work"}],
        "meta": {
            "resourceType": "User",
            "created": "2024-01-10T08:00:00Z",
            "lastModified": "2024-06-01T12:30:00Z",
            "version": "W/\"3\""
        },
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "701984",
            "department": "Support",
            "division": "EMEA",
            "costCenter": "4130",
            "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "Bob"}
        },
        "urn:ietf:params:scim:schemas:extension:genesys:purecloud:2.0:User": {
            "routingSkills": [{"name": "Billing", "proficiency": 4.5}, {"name": "French", "proficiency": 2}],
            "routingLanguages": [{"name": "English", "proficiency": 5}],
            "externalIds": [{"authority": "x-pc:scimv2:v1", "value": "abc"}]
        },
        "urn:example:custom:2.0:User": {"badge": 42}
    }))
}

pub fn group() -> Resource {
    res(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
        "displayName": "Tour Guides",
        "members": [
            {"value": "2819c223-7f76-453a-919d-413861904646", "type": "User", "display": "Alice"},
            {"value": "89bb1940-b905-4575-9e7f-6f887cfb368e", "type": "User"},
            {"value": "f648f8d5ea4e4cd38e9c", "type": "User"},
            {"value": "u1091", "type": "User"},
            {"value": "7f4bc1a3-285e-48ae-8202-5accb43efb0e", "type": "User"}
        ],
        "meta": {"resourceType": "Group", "version": "W/\"1\""}
    }))
}
