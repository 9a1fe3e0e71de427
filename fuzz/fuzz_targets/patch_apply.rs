//! PATCH engine fuzz target: arbitrary bytes as a PatchOp body applied to a user and a group.
//! Must never panic; a failed PATCH must leave the resource byte-for-byte unchanged.
#![no_main]

use std::sync::LazyLock;

use gcprov_scim::Resource;
use gcprov_scim::patch::{PatchRequest, prepare_create, replace_resource};
use gcprov_scim::schema::defs::{group_resource, user_resource};
use libfuzzer_sys::fuzz_target;

static USER: LazyLock<Resource> = LazyLock::new(|| {
    let v = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
                    "urn:ietf:params:scim:schemas:extension:genesys:purecloud:2.0:User"],
        "id": "2819c223", "externalId": "bjensen", "userName": "Alice@Acme.com", "active": true, "title": "Agent",
        "name": {"givenName": "Alice", "familyName": "Smith", "formatted": "Alice Smith"},
        "emails": [{"value": "alice@acme.com", "type": "work", "primary": true}, {"value": "a@h.net", "type": "home"}],
        "phoneNumbers": [{"value": "+1555", "type": "work"}],
        "meta": {"resourceType": "User", "lastModified": "2024-06-01T12:30:00Z", "version": "W/\"3\""},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "m"}, "department": "Support"},
        "urn:ietf:params:scim:schemas:extension:genesys:purecloud:2.0:User": {"routingSkills": [{"name": "Billing", "proficiency": 4.5}]}
    });
    Resource::from_json(v).unwrap_or_default()
});

static GROUP: LazyLock<Resource> = LazyLock::new(|| {
    let v = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": "g1", "displayName": "Sales",
        "members": [{"value": "u1", "type": "User"}, {"value": "u2", "type": "User", "display": "Bob"}]
    });
    Resource::from_json(v).unwrap_or_default()
});

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    if let Ok(req) = PatchRequest::from_json(&body) {
        for (res, schema) in [(&*USER, user_resource()), (&*GROUP, group_resource())] {
            let before = serde_json::to_vec(res).unwrap_or_default();
            let result = req.apply(res, schema);
            assert_eq!(serde_json::to_vec(res).unwrap_or_default(), before, "input resource modified");
            if let Ok(updated) = result {
                // applying the same PATCH again must not panic either (IdP retries)
                let _ = req.apply(&updated, schema);
            }
        }
    }
    let _ = prepare_create(body.clone(), user_resource());
    let _ = replace_resource(&USER, body, user_resource());
});
