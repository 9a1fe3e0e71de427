//! Schema definitions and discovery bodies.

use gcprov_scim::Resource;
use gcprov_scim::filter::AttrPath;
use gcprov_scim::schema::defs::{self, user_resource};
use gcprov_scim::schema::{
    AttrType, Mutability, Returned, ServiceProviderConfig, Uniqueness, resource_types_body,
    schemas_body,
};
use serde_json::Value;

#[test]
fn user_schema_characteristics() {
    let u = defs::user();
    let user_name = u.attribute("USERNAME").unwrap();
    assert!(user_name.required);
    assert_eq!(user_name.uniqueness, Uniqueness::Server);
    assert!(!user_name.case_exact);
    let pw = u.attribute("password").unwrap();
    assert_eq!(
        (pw.mutability, pw.returned),
        (Mutability::WriteOnly, Returned::Never)
    );
    let emails = u.attribute("emails").unwrap();
    assert!(emails.multi_valued);
    assert_eq!(
        emails.sub_attribute("type").unwrap().canonical_values,
        ["work", "home", "other"]
    );
    let groups = u.attribute("groups").unwrap();
    assert_eq!(groups.mutability, Mutability::ReadOnly);
    assert_eq!(
        groups.sub_attribute("$ref").unwrap().reference_types,
        ["User", "Group"]
    );
    let g = defs::genesys_user();
    assert_eq!(
        g.id,
        "urn:ietf:params:scim:schemas:extension:genesys:purecloud:2.0:User"
    );
    let skills = g.attribute("routingSkills").unwrap();
    assert!(skills.multi_valued);
    assert_eq!(
        skills.sub_attribute("proficiency").unwrap().attr_type,
        AttrType::Decimal
    );
    assert!(skills.sub_attribute("name").unwrap().case_exact);
    assert!(
        g.attribute("externalIds")
            .unwrap()
            .sub_attribute("authority")
            .unwrap()
            .required
    );
    assert!(g.attribute("routingLanguages").is_some());
}

#[test]
fn resolution_is_case_insensitive_and_urn_aware() {
    let rs = user_resource();
    let r = rs
        .resolve(
            &AttrPath::parse("urn:ietf:params:scim:schemas:core:2.0:user:EMAILS.Value").unwrap(),
        )
        .unwrap();
    assert_eq!(
        (
            r.attribute.name.as_str(),
            r.sub_attribute.unwrap().name.as_str()
        ),
        ("emails", "value")
    );
    let r = rs
        .resolve(&AttrPath::parse("manager.value").unwrap())
        .unwrap();
    assert_eq!(r.extension, Some(defs::ENTERPRISE_USER));
    assert!(
        rs.resolve(&AttrPath::parse("id").unwrap())
            .unwrap()
            .attribute
            .case_exact
    );
    assert!(rs.resolve(&AttrPath::parse("nope").unwrap()).is_none());
    assert!(
        rs.resolve(&AttrPath::parse("urn:other:Thing:userName").unwrap())
            .is_none()
    );
}

#[test]
fn schemas_body_is_generated() {
    let all: Vec<_> = defs::all().into_iter().cloned().collect();
    let body = schemas_body(&all, "https://gw.example/scim/v2");
    assert_eq!(body["totalResults"], 7);
    let names: Vec<&str> = body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    for n in [
        "User",
        "Group",
        "EnterpriseUser",
        "GenesysUser",
        "ResourceType",
        "Schema",
        "Service Provider Configuration",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    let user = &body["Resources"][0];
    assert_eq!(
        user["meta"]["location"],
        "https://gw.example/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User"
    );
    let un = &user["attributes"][0];
    assert_eq!(un["name"], "userName");
    assert_eq!(un["type"], "string");
    assert_eq!(un["uniqueness"], "server");
    assert_eq!(un["mutability"], "readWrite");
    // Entra: no nulls anywhere in /Schemas
    fn no_nulls(v: &Value) -> bool {
        match v {
            Value::Null => false,
            Value::Array(a) => a.iter().all(no_nulls),
            Value::Object(m) => m.values().all(no_nulls),
            _ => true,
        }
    }
    assert!(no_nulls(&body));
}

#[test]
fn advertise_a_subset() {
    let rs = user_resource();
    let kept = rs.advertised(|urn, path| {
        urn != defs::ENTERPRISE_USER
            && matches!(
                path,
                "userName"
                    | "emails"
                    | "emails.value"
                    | "emails.type"
                    | "routingSkills"
                    | "routingSkills.name"
            )
    });
    assert_eq!(
        kept[0]
            .attributes
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>(),
        ["userName", "emails"]
    );
    assert_eq!(kept[0].attributes[1].sub_attributes.len(), 2);
    assert!(kept[1].attributes.is_empty());
    assert_eq!(kept[2].attributes[0].sub_attributes.len(), 1);
}

#[test]
fn resource_types_and_spc() {
    let body = resource_types_body(
        &[
            user_resource().resource_type.clone(),
            defs::group_resource().resource_type.clone(),
        ],
        "http://h/scim",
    );
    let user = &body["Resources"][0];
    assert_eq!(user["endpoint"], "/Users");
    assert_eq!(user["schema"], defs::USER);
    assert_eq!(user["schemaExtensions"][0]["schema"], defs::ENTERPRISE_USER);
    assert_eq!(user["schemaExtensions"][1]["required"], false);
    assert!(body["Resources"][1].get("schemaExtensions").is_none());
    let spc = ServiceProviderConfig::default().to_json("http://h/scim");
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(spc["filter"]["maxResults"], 200);
    assert_eq!(spc["authenticationSchemes"][0]["type"], "oauthbearertoken");
}

#[test]
fn resource_accessors() {
    let a = super::common::alice();
    assert_eq!(a.user_name(), Some("Alice.Smith@Acme.com"));
    assert_eq!(a.get_str("USERNAME"), Some("Alice.Smith@Acme.com"));
    assert_eq!(
        a.get_str("urn:ietf:params:scim:schemas:core:2.0:User:userName"),
        Some("Alice.Smith@Acme.com")
    );
    assert_eq!(a.get_str("name.GIVENNAME"), Some("Alice"));
    assert_eq!(
        a.get_str("urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:department"),
        Some("Support")
    );
    assert_eq!(a.get_str("costCenter"), Some("4130"));
    assert_eq!(a.get_all("emails.value").len(), 2);
    assert_eq!(a.primary_email().as_deref(), Some("alice.smith@acme.com"));
    assert_eq!(a.manager_id(), Some("26118915-6090-4610-87e4-49d8ca9f808d"));
    assert_eq!(a.division(), Some("EMEA"));
    assert_eq!(a.routing_skills().len(), 2);
    assert_eq!(a.routing_languages()[0].proficiency, Some(5.0));
    assert_eq!(a.genesys_external_ids()[0].authority, "x-pc:scimv2:v1");
    assert!(a.has_schema("URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER"));
    // unknown extension attributes round-trip byte for byte
    let text = serde_json::to_string(&a).unwrap();
    let back: Resource = serde_json::from_str(&text).unwrap();
    assert_eq!(serde_json::to_string(&back).unwrap(), text);
    assert_eq!(
        back.get("urn:example:custom:2.0:User:badge"),
        Some(&serde_json::json!(42))
    );
}
