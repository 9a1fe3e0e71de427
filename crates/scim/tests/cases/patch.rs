//! PATCH engine (RFC 7644 3.5.2), PUT and POST helpers.

use gcprov_scim::patch::{
    PatchOpKind, PatchPath, PatchRequest, apply_patch, prepare_create, replace_resource,
};
use gcprov_scim::schema::defs::{group_resource, user_resource};
use gcprov_scim::{Resource, ScimError, ScimType};
use serde_json::{Value, json};

use super::common::{alice, group, res};

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const GEN: &str = "urn:ietf:params:scim:schemas:extension:genesys:purecloud:2.0:User";

fn ops(ops: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
}

fn patch(r: &Resource, o: Value) -> Resource {
    apply_patch(r, &ops(o.clone()), user_resource()).unwrap_or_else(|e| panic!("{o}: {e}"))
}

fn patch_err(r: &Resource, o: Value) -> ScimError {
    let before = r.clone();
    let e = apply_patch(r, &ops(o.clone()), user_resource()).expect_err(&o.to_string());
    assert_eq!(r, &before);
    e
}

#[test]
fn parse_request_shapes() {
    let r = PatchRequest::from_json(
        &json!({"Operations": [{"op": "Replace", "path": "active", "value": false}]}),
    )
    .unwrap();
    assert_eq!(r.operations[0].op, PatchOpKind::Replace);
    let r = PatchRequest::from_json(&json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "operations": [{"OP": "ADD", "path": "title", "value": "x"}]})).unwrap();
    assert_eq!(r.operations[0].op, PatchOpKind::Add);
    let bad = [
        (json!([]), ScimType::InvalidSyntax),
        (
            json!({"schemas": ["urn:wrong"], "Operations": [{"op": "add", "path": "a", "value": 1}]}),
            ScimType::InvalidSyntax,
        ),
        (json!({"Operations": []}), ScimType::InvalidSyntax),
        (
            json!({"Operations": [{"op": "move", "path": "a"}]}),
            ScimType::InvalidSyntax,
        ),
        (
            json!({"Operations": [{"op": "remove"}]}),
            ScimType::NoTarget,
        ),
        (
            json!({"Operations": [{"op": "add", "path": "title"}]}),
            ScimType::InvalidValue,
        ),
        (
            json!({"Operations": [{"op": "add", "path": "emails[type eq", "value": 1}]}),
            ScimType::InvalidPath,
        ),
        (
            json!({"Operations": [{"op": "add", "path": 5, "value": 1}]}),
            ScimType::InvalidPath,
        ),
    ];
    for (body, t) in bad {
        let e = PatchRequest::from_json(&body).expect_err(&body.to_string());
        assert_eq!(e.scim_type, Some(t), "{body}: {e}");
    }
    assert!(PatchRequest::from_slice(b"{not json").is_err());
}

#[test]
fn path_grammar() {
    let p = PatchPath::parse(r#"emails[type eq "work"].value"#).unwrap();
    assert_eq!(p.attr.attr, "emails");
    assert!(p.filter.is_some());
    assert_eq!(p.value_sub_attr.as_deref(), Some("value"));
    assert_eq!(p.to_string(), r#"emails[type eq "work"].value"#);
    let p = PatchPath::parse(r#"members[value eq "2819c223"]"#).unwrap();
    assert_eq!(p.value_sub_attr, None);
    let p = PatchPath::parse(
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
    )
    .unwrap();
    assert_eq!(p.attr.urn.as_deref(), Some(ENT));
    for bad in [
        "",
        "emails[",
        "emails[type eq \"w\"].",
        "a.b.c",
        "name.x[y eq 1]",
        "emails[type eq \"w\"] extra",
    ] {
        let e = PatchPath::parse(bad).expect_err(bad);
        assert_eq!(e.scim_type, Some(ScimType::InvalidPath), "{bad}");
        assert!(e.detail.contains("position"), "{bad}: {}", e.detail);
    }
}

#[test]
fn add_single_valued_and_complex() {
    let r = patch(
        &alice(),
        json!([{"op": "add", "path": "nickName", "value": "Ali"}]),
    );
    assert_eq!(r.get_str("nickName"), Some("Ali"));
    // add on an existing single value replaces it
    let r = patch(
        &alice(),
        json!([{"op": "add", "path": "title", "value": "Lead"}]),
    );
    assert_eq!(r.title(), Some("Lead"));
    // add on a complex attribute merges sub-attributes
    let r = patch(
        &alice(),
        json!([{"op": "add", "path": "name", "value": {"middleName": "J"}}]),
    );
    let n = r.name().unwrap();
    assert_eq!(
        (n.given_name.as_deref(), n.middle_name.as_deref()),
        (Some("Alice"), Some("J"))
    );
    let r = patch(
        &alice(),
        json!([{"op": "add", "path": "name.honorificPrefix", "value": "Dr"}]),
    );
    assert_eq!(r.name().unwrap().honorific_prefix.as_deref(), Some("Dr"));
}

#[test]
fn add_multi_valued_appends_dedups_and_keeps_one_primary() {
    let r = patch(
        &alice(),
        json!([{"op": "add", "path": "emails", "value": [{"value": "a2@acme.com", "type": "other", "primary": true}]}]),
    );
    let emails = r.emails();
    assert_eq!(emails.len(), 3);
    assert_eq!(emails.iter().filter(|e| e.primary).count(), 1);
    assert_eq!(r.primary_email().as_deref(), Some("a2@acme.com"));
    // adding an existing value is a no-op
    let r2 = patch(
        &alice(),
        json!([{"op": "add", "path": "emails", "value": [{"value": "alice@home.example", "type": "home"}]}]),
    );
    assert_eq!(r2.emails().len(), 2);
    // a single object for a multi-valued attribute is wrapped
    let r3 = patch(
        &alice(),
        json!([{"op": "add", "path": "phoneNumbers", "value": {"value": "+1555", "type": "mobile"}}]),
    );
    assert_eq!(r3.multi_values("phoneNumbers").len(), 2);
}

#[test]
fn replace_semantics() {
    let r = patch(
        &alice(),
        json!([{"op": "replace", "path": "emails", "value": [{"value": "only@acme.com", "type": "work"}]}]),
    );
    assert_eq!(r.emails().len(), 1);
    let r = patch(
        &alice(),
        json!([{"op": "replace", "path": "name", "value": {"givenName": "Alicia"}}]),
    );
    assert_eq!(
        r.name().unwrap().family_name.as_deref(),
        Some("Smith"),
        "replace on complex keeps unspecified sub-attributes"
    );
    assert_eq!(r.name().unwrap().given_name.as_deref(), Some("Alicia"));
    let r = patch(
        &alice(),
        json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "new@acme.com"}]),
    );
    assert_eq!(r.email_of_type("work").as_deref(), Some("new@acme.com"));
    assert_eq!(
        r.email_of_type("home").as_deref(),
        Some("alice@home.example")
    );
    let r = patch(
        &alice(),
        json!([{"op": "replace", "path": "emails[type eq \"home\"]", "value": {"value": "h2@home.example"}}]),
    );
    assert_eq!(r.email_of_type("home").as_deref(), Some("h2@home.example"));
    // replace with null unassigns
    let r = patch(
        &alice(),
        json!([{"op": "replace", "path": "title", "value": null}]),
    );
    assert_eq!(r.title(), None);
    // replacing a missing attribute adds it
    let r = patch(
        &alice(),
        json!([{"op": "replace", "path": "locale", "value": "fr-FR"}]),
    );
    assert_eq!(r.get_str("locale"), Some("fr-FR"));
}

#[test]
fn replace_value_filter_without_match() {
    // Entra: replace emails[type eq "work"].value on a user without a work email creates it.
    let u =
        res(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "x"}));
    let r = patch(
        &u,
        json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "w@x.com"}]),
    );
    assert_eq!(
        r.get("emails"),
        Some(&json!([{"type": "work", "value": "w@x.com"}]))
    );
    // a filter that is not a conjunction of eq has no target
    let e = patch_err(
        &u,
        json!([{"op": "replace", "path": "emails[value co \"x\"].type", "value": "work"}]),
    );
    assert_eq!(e.scim_type, Some(ScimType::NoTarget));
    let e = patch_err(
        &alice(),
        json!([{"op": "replace", "path": "emails[type sw \"zz\"]", "value": {"value": "a@b"}}]),
    );
    assert_eq!(e.scim_type, Some(ScimType::NoTarget));
}

#[test]
fn remove_semantics() {
    let r = patch(&alice(), json!([{"op": "remove", "path": "title"}]));
    assert_eq!(r.title(), None);
    let r = patch(
        &alice(),
        json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]),
    );
    assert_eq!(r.emails().len(), 1);
    let r = patch(
        &alice(),
        json!([{"op": "remove", "path": "emails[type eq \"home\"].type"}]),
    );
    assert_eq!(r.emails()[1].kind, None);
    let r = patch(
        &alice(),
        json!([{"op": "remove", "path": "name.formatted"}]),
    );
    assert_eq!(r.name().unwrap().formatted, None);
    let r = patch(&alice(), json!([{"op": "remove", "path": "emails"}]));
    assert!(r.get("emails").is_none());
    // removing the last element removes the attribute
    let r = patch(
        &alice(),
        json!([{"op": "remove", "path": "phoneNumbers[type eq \"work\"]"}]),
    );
    assert!(r.get("phoneNumbers").is_none());
    // absent attribute / no matching element: no change, no error
    assert_eq!(
        patch(&alice(), json!([{"op": "remove", "path": "nickName"}])),
        alice()
    );
    assert_eq!(
        patch(
            &alice(),
            json!([{"op": "remove", "path": "emails[type eq \"fax\"]"}])
        ),
        alice()
    );
    // removing every extension attribute drops the extension object
    let r = patch(
        &alice(),
        json!([{"op": "remove", "path": format!("{GEN}:routingSkills")}, {"op": "remove", "path": format!("{GEN}:routingLanguages")}, {"op": "remove", "path": format!("{GEN}:externalIds")}]),
    );
    assert!(r.extension(GEN).is_none());
}

#[test]
fn extension_paths() {
    let r = patch(
        &alice(),
        json!([{"op": "replace", "path": format!("{ENT}:department"), "value": "Sales"}]),
    );
    assert_eq!(r.department(), Some("Sales"));
    let r = patch(
        &alice(),
        json!([{"op": "replace", "path": format!("{ENT}:manager.value"), "value": "m2"}]),
    );
    assert_eq!(r.manager_id(), Some("m2"));
    // an extension attribute on a user without the extension creates it and lists the schema
    let u =
        res(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "x"}));
    let r = patch(
        &u,
        json!([{"op": "add", "path": format!("{GEN}:routingSkills"), "value": [{"name": "Sales", "proficiency": "3.5"}]}]),
    );
    assert!(r.has_schema(GEN));
    assert_eq!(r.routing_skills()[0].proficiency, Some(3.5));
    // path naming a whole extension
    let r = patch(
        &u,
        json!([{"op": "add", "path": ENT, "value": {"costCenter": "77"}}]),
    );
    assert_eq!(r.cost_center(), Some("77"));
    // short name of an extension attribute resolves too
    let r = patch(
        &alice(),
        json!([{"op": "replace", "path": "department", "value": "Ops"}]),
    );
    assert_eq!(r.department(), Some("Ops"));
    // unknown extensions are stored schemalessly
    let r = patch(
        &u,
        json!([{"op": "add", "path": "urn:example:x:1.0:User:color", "value": "blue"}]),
    );
    assert_eq!(r.get_str("urn:example:x:1.0:User:color"), Some("blue"));
}

#[test]
fn pathless_operations() {
    let r = patch(
        &alice(),
        json!([{"op": "replace", "value": {"displayName": "A S", "name.givenName": "Al", (format!("{ENT}:employeeNumber")): "9", "id": "ignored", "meta": {"version": "x"}}}]),
    );
    assert_eq!(r.display_name(), Some("A S"));
    assert_eq!(r.name().unwrap().given_name.as_deref(), Some("Al"));
    assert_eq!(r.employee_number(), Some("9"));
    assert_eq!(r.id(), alice().id());
    assert_eq!(r.version(), alice().version());
    let r = patch(
        &alice(),
        json!([{"op": "add", "value": {(ENT): {"department": "Legal"}, "emails": [{"value": "z@z.z", "type": "other"}]}}]),
    );
    assert_eq!(r.department(), Some("Legal"));
    assert_eq!(r.emails().len(), 3);
    let e = patch_err(
        &alice(),
        json!([{"op": "replace", "value": "not an object"}]),
    );
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
}

#[test]
fn errors() {
    let cases = [
        (
            json!([{"op": "replace", "path": "id", "value": "x"}]),
            ScimType::Mutability,
        ),
        (
            json!([{"op": "replace", "path": "meta.version", "value": "x"}]),
            ScimType::Mutability,
        ),
        (
            json!([{"op": "add", "path": "groups", "value": [{"value": "g"}]}]),
            ScimType::Mutability,
        ),
        (
            json!([{"op": "remove", "path": "groups"}]),
            ScimType::Mutability,
        ),
        (
            json!([{"op": "replace", "path": "notAnAttribute", "value": "x"}]),
            ScimType::InvalidPath,
        ),
        (
            json!([{"op": "replace", "path": "name.notASub", "value": "x"}]),
            ScimType::InvalidPath,
        ),
        (
            json!([{"op": "replace", "path": "title[value eq \"x\"]", "value": {}}]),
            ScimType::InvalidPath,
        ),
        (
            json!([{"op": "replace", "path": "emails[type eq \"work\"].nope", "value": "x"}]),
            ScimType::InvalidPath,
        ),
        (
            json!([{"op": "replace", "path": "active", "value": "maybe"}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "replace", "path": "active", "value": 1}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "replace", "path": "userName", "value": true}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "replace", "path": "title", "value": ["a", "b"]}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "remove", "path": "userName"}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "replace", "path": "emails", "value": [["nested"]]}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "replace", "path": "name", "value": "plain"}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "add", "path": format!("{GEN}:routingSkills"), "value": [{"proficiency": 1}]}]),
            ScimType::InvalidValue,
        ),
    ];
    for (o, t) in cases {
        let e = patch_err(&alice(), o.clone());
        assert_eq!(e.scim_type, Some(t), "{o}: {e}");
        assert_eq!(e.status, 400);
        assert!(
            e.detail.starts_with("operation 1:") || e.detail.starts_with("after all operations:"),
            "{}",
            e.detail
        );
    }
}

#[test]
fn atomic_all_or_nothing() {
    let before = alice();
    let body = ops(json!([
        {"op": "replace", "path": "title", "value": "Changed"},
        {"op": "add", "path": "emails", "value": [{"value": "new@x", "type": "other"}]},
        {"op": "replace", "path": "id", "value": "boom"}
    ]));
    let e = apply_patch(&before, &body, user_resource()).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::Mutability));
    assert!(e.detail.starts_with("operation 3:"), "{}", e.detail);
    assert_eq!(before, alice());
    assert_eq!(
        serde_json::to_string(&before).unwrap(),
        serde_json::to_string(&alice()).unwrap()
    );
}

#[test]
fn immutable_members_value() {
    // members[].value is immutable: a member element can be added and removed but not edited
    let g = group();
    let e = apply_patch(
        &g,
        &ops(
            json!([{"op": "replace", "path": "members[value eq \"u1091\"].value", "value": "u2"}]),
        ),
        group_resource(),
    )
    .unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::Mutability));
}

#[test]
fn put_replaces_and_protects_read_only() {
    let existing = alice();
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "someone-else",
        "userName": "alice.smith@acme.com",
        "active": "False",
        "groups": [{"value": "g1"}],
        "meta": {"version": "W/\"999\""},
        "name": {"givenName": "Alice", "familyName": "Smith", "middleName": null}
    });
    let r = replace_resource(&existing, body, user_resource()).unwrap();
    assert_eq!(r.id(), existing.id());
    assert_eq!(r.version(), existing.version());
    assert_eq!(r.active(), Some(false));
    assert_eq!(r.get("active"), Some(&json!(false)));
    assert!(r.get("groups").is_none());
    assert_eq!(r.title(), None, "omitted attributes are cleared");
    assert!(r.name().unwrap().middle_name.is_none());
    let e = replace_resource(
        &existing,
        json!({"schemas": [], "displayName": "no userName"}),
        user_resource(),
    )
    .unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    // password (writeOnly) is kept when omitted
    let with_pw = res(
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "1", "userName": "u", "password": "s3cret"}),
    );
    let r = replace_resource(&with_pw, json!({"userName": "u"}), user_resource()).unwrap();
    assert_eq!(r.get_str("password"), Some("s3cret"));
}

#[test]
fn create_strips_read_only_and_nulls() {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
        "userName": "n@x", "id": "client-id", "meta": {"resourceType": "User"},
        "title": null, "addresses": null,
        (ENT): {"manager": null, "department": "D"},
        "urn:unknown:ext": {"k": 1}
    });
    let r = prepare_create(body, user_resource()).unwrap();
    assert_eq!(r.id(), None);
    assert!(r.get("meta").is_none());
    assert!(r.as_map().get("title").is_none());
    assert_eq!(r.department(), Some("D"));
    assert_eq!(r.get("urn:unknown:ext"), Some(&json!({"k": 1})));
    let e = prepare_create(json!({"displayName": "x"}), user_resource()).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    assert!(e.detail.contains("userName"));
    let e = prepare_create(json!({"displayName": true}), group_resource()).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
}

#[test]
fn bare_values_for_complex_attributes() {
    // Entra (SCIM-SDK#416/#541): manager as a plain string; role names as strings.
    let r = patch(
        &alice(),
        json!([{"op": "replace", "path": "manager", "value": "m-42"}]),
    );
    assert_eq!(r.manager_id(), Some("m-42"));
    let r = patch(
        &alice(),
        json!([{"op": "add", "path": "roles", "value": ["Agent", "Supervisor"]}]),
    );
    assert_eq!(
        r.get("roles"),
        Some(&json!([{"value": "Agent"}, {"value": "Supervisor"}]))
    );
}
