//! The exact request bodies identity providers send (tests/fixtures, each citing its source).

use gcprov_scim::patch::{apply_patch, prepare_create, replace_resource};
use gcprov_scim::schema::defs::{group_resource, user_resource};
use gcprov_scim::{Resource, ScimType};
use serde_json::json;

use super::common::{alice, fixture, group, res};

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn patch_user(name: &str, r: &Resource) -> Resource {
    apply_patch(r, &fixture(name), user_resource()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn patch_group(name: &str, r: &Resource) -> Resource {
    apply_patch(r, &fixture(name), group_resource()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn entra_e1_create_user_ignores_meta() {
    let r = prepare_create(fixture("entra_e1_create_user.json"), user_resource()).unwrap();
    assert!(r.get("meta").is_none());
    assert_eq!(
        r.user_name(),
        Some("Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee")
    );
    assert_eq!(
        r.primary_email().as_deref(),
        Some("Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com")
    );
    assert_eq!(r.active(), Some(true));
    assert_eq!(r.get("roles"), Some(&json!([])));
}

#[test]
fn entra_e1_patch_user_multi_valued() {
    let r = patch_user("entra_e1_patch_user_multi.json", &alice());
    assert_eq!(
        r.email_of_type("work").as_deref(),
        Some("updatedEmail@microsoft.com")
    );
    assert_eq!(
        r.name().unwrap().family_name.as_deref(),
        Some("updatedFamilyName")
    );
    assert_eq!(r.emails().len(), 2);
}

#[test]
fn entra_e1_patch_username_and_disable() {
    let r = patch_user("entra_e1_patch_username.json", &alice());
    assert_eq!(
        r.user_name(),
        Some("5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com")
    );
    let r = patch_user("entra_e1_disable_user.json", &alice());
    assert_eq!(r.get("active"), Some(&json!(false)));
}

#[test]
fn entra_e1_manager_as_array() {
    let r = patch_user("entra_e1_manager_array.json", &alice());
    assert_eq!(r.manager_id(), Some("00aa00aa-bb11-cc22-dd33-44ee44ee44ee"));
    let mgr = r.extension(ENT).unwrap().get("manager").unwrap();
    assert!(
        mgr.is_object(),
        "single-valued manager stored as an object: {mgr}"
    );
    assert_eq!(
        mgr["$ref"],
        "http://example.com/scim/Users/00aa00aa-bb11-cc22-dd33-44ee44ee44ee"
    );
}

#[test]
fn entra_e1_groups() {
    let r = patch_group("entra_e1_group_replace_displayname.json", &group());
    assert_eq!(
        r.display_name(),
        Some("1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName")
    );
    let empty = res(
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": "g", "displayName": "G"}),
    );
    let r = patch_group("entra_e1_group_add_member.json", &empty);
    assert_eq!(
        r.get("members"),
        Some(&json!([{"value": "f648f8d5ea4e4cd38e9c"}])),
        "$ref: null is dropped"
    );
    let r = patch_group("entra_e1_group_remove_member.json", &group());
    let members: Vec<String> = r.members().into_iter().map(|m| m.value).collect();
    assert_eq!(
        members.len(),
        4,
        "only the listed member is removed, not all"
    );
    assert!(!members.contains(&"f648f8d5ea4e4cd38e9c".to_string()));
}

#[test]
fn entra_e2_legacy_shapes() {
    let r = patch_user("entra_e2_disable_string_false.json", &alice());
    assert_eq!(
        r.get("active"),
        Some(&json!(false)),
        "\"False\" coerced to a boolean"
    );
    let r = patch_user("entra_e2_add_nickname.json", &alice());
    assert_eq!(r.get_str("nickName"), Some("Babs"));
    let r = patch_user("entra_e2_replace_multiple_legacy.json", &alice());
    assert_eq!(r.display_name(), Some("Pvsh"));
    assert_eq!(r.email_of_type("work").as_deref(), Some("Aksl@contoso.com"));
    assert_eq!(r.name().unwrap().given_name.as_deref(), Some("Kkom"));
    assert_eq!(r.name().unwrap().family_name.as_deref(), Some("Unua"));
    assert_eq!(r.external_id(), Some("Eqpj"));
    assert_eq!(r.employee_number(), Some("Ffna"));
    let r = patch_group("entra_e2_remove_member_legacy.json", &group());
    assert_eq!(r.members().len(), 4);
    assert!(r.members().iter().all(|m| m.value != "u1091"));
}

#[test]
fn entra_e2_compliant_shapes() {
    let r = patch_user("entra_e2_disable_compliant.json", &alice());
    assert_eq!(r.active(), Some(false));
    let r = patch_user("entra_e2_replace_multiple_compliant.json", &alice());
    assert_eq!(r.email_of_type("work").as_deref(), Some("Aksl@contoso.com"));
    assert_eq!(r.display_name(), Some("Bjfe"));
    assert_eq!(r.name().unwrap().given_name.as_deref(), Some("Kkom"));
    assert_eq!(r.name().unwrap().family_name.as_deref(), Some("Unua"));
    assert_eq!(r.employee_number(), Some("Aklq"));
    let r = patch_group("entra_e2_remove_member_compliant.json", &group());
    assert_eq!(r.members().len(), 4);
    assert!(
        r.members()
            .iter()
            .all(|m| m.value != "7f4bc1a3-285e-48ae-8202-5accb43efb0e")
    );
}

#[test]
fn okta_o1_create_and_put() {
    let created = prepare_create(fixture("okta_o1_create_user.json"), user_resource()).unwrap();
    assert!(
        created.get("groups").is_none(),
        "read-only groups ignored on create"
    );
    assert_eq!(created.get_str("password"), Some("1mz050nq"));
    let mut existing = created.clone();
    existing.set("id", json!("23a35c27-23d3-4c03-b4c5-6443c09e7173"));
    existing.set(
        "meta",
        json!({"resourceType": "User", "version": "W/\"1\""}),
    );
    let r = replace_resource(&existing, fixture("okta_o1_put_user.json"), user_resource()).unwrap();
    assert_eq!(r.name().unwrap().given_name.as_deref(), Some("Another"));
    assert_eq!(r.name().unwrap().middle_name.as_deref(), Some("Excited"));
    assert_eq!(
        r.display_name(),
        None,
        "PUT clears attributes the body omits"
    );
    assert_eq!(r.version(), Some("W/\"1\""), "client meta ignored");
    assert_eq!(
        r.get_str("password"),
        Some("1mz050nq"),
        "writeOnly kept when omitted"
    );
    assert_eq!(
        r.emails()[0].display.as_deref(),
        Some("test.user@okta.local")
    );
}

#[test]
fn okta_o1_patches() {
    let r = patch_user("okta_o1_deactivate.json", &alice());
    assert_eq!(r.get("active"), Some(&json!(false)));
    let r = patch_group("okta_o1_group_rename.json", &group());
    assert_eq!(r.display_name(), Some("Test SCIMv2"));
    assert_eq!(
        r.id(),
        group().id(),
        "read-only id in value is ignored, not rejected"
    );
    let r = patch_group("okta_o1_group_membership_delta.json", &group());
    let ids: Vec<String> = r.members().into_iter().map(|m| m.value).collect();
    assert!(!ids.contains(&"89bb1940-b905-4575-9e7f-6f887cfb368e".to_string()));
    assert_eq!(
        ids.iter()
            .filter(|i| *i == "23a35c27-23d3-4c03-b4c5-6443c09e7173")
            .count(),
        1
    );
    let r = patch_group("okta_o1_group_full_push.json", &group());
    let ids: Vec<String> = r.members().into_iter().map(|m| m.value).collect();
    assert_eq!(
        ids,
        [
            "23a35c27-23d3-4c03-b4c5-6443c09e7173",
            "89bb1940-b905-4575-9e7f-6f887cfb368e"
        ]
    );
}

#[test]
fn idp_bodies_are_idempotent() {
    // IdPs retry: applying the same PATCH twice gives the same result.
    for name in [
        "entra_e1_patch_user_multi.json",
        "entra_e2_replace_multiple_compliant.json",
        "okta_o1_deactivate.json",
    ] {
        let once = patch_user(name, &alice());
        assert_eq!(patch_user(name, &once), once, "{name}");
    }
    for name in [
        "entra_e1_group_add_member.json",
        "entra_e1_group_remove_member.json",
        "okta_o1_group_membership_delta.json",
    ] {
        let once = patch_group(name, &group());
        assert_eq!(patch_group(name, &once), once, "{name}");
    }
}

#[test]
fn unknown_non_urn_group_schema_tolerated() {
    // Entra's POST /Groups lists a non-URN schema; it must not be rejected.
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": "displayName", "meta": {"resourceType": "Group"}
    });
    let r = prepare_create(body, group_resource()).unwrap();
    assert_eq!(r.display_name(), Some("displayName"));
    assert_eq!(r.schemas().len(), 2);
    let _ = ScimType::InvalidValue;
}

#[test]
fn entra_e1_example2_nulls_and_typo_schema() {
    // [E1] Example 2: explicit nulls and a typo'd enterprise schema URN in schemas.
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"],
        "userName": "Test_User_a@testuser.com", "active": true,
        "addresses": null, "phoneNumbers": null, "preferredLanguage": null, "title": null,
        "department": null, "manager": null
    });
    let r = prepare_create(body, user_resource()).unwrap();
    assert_eq!(r.user_name(), Some("Test_User_a@testuser.com"));
    for k in [
        "addresses",
        "phoneNumbers",
        "preferredLanguage",
        "title",
        "department",
        "manager",
    ] {
        assert!(r.get(k).is_none(), "{k}");
    }
    // Genesys' enterprise dateHire is accepted
    let r = apply_patch(&alice(), &json!({"Operations": [{"op": "add", "path": format!("{ENT}:dateHire"), "value": "2024-02-01"}]}), user_resource()).unwrap();
    assert_eq!(r.get_str(&format!("{ENT}:dateHire")), Some("2024-02-01"));
}
