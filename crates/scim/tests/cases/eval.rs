//! Filter evaluation.

use gcprov_scim::eval::{CompiledFilter, matches};
use gcprov_scim::filter::parse;
use gcprov_scim::schema::defs::{group_resource, user_resource};
use gcprov_scim::{Resource, ScimType};
use serde_json::json;

use super::common::{alice, group, res};

fn m(filter: &str, r: &Resource) -> bool {
    matches(&parse(filter).unwrap(), user_resource(), r).unwrap_or_else(|e| panic!("{filter}: {e}"))
}

fn yes(filter: &str) {
    assert!(m(filter, &alice()), "expected a match: {filter}");
}

fn no(filter: &str) {
    assert!(!m(filter, &alice()), "expected no match: {filter}");
}

#[test]
fn eq_ne_case_exactness() {
    yes(r#"userName eq "alice.smith@acme.com""#); // userName is caseExact=false
    yes(r#"USERNAME EQ "ALICE.SMITH@ACME.COM""#);
    no(r#"userName eq "alice""#);
    yes(r#"id eq "2819c223-7f76-453a-919d-413861904646""#);
    no(r#"id eq "2819C223-7F76-453A-919D-413861904646""#); // id is caseExact
    yes(r#"externalId eq "bjensen""#);
    no(r#"externalId eq "BJensen""#); // externalId is caseExact
    yes(r#"userName ne "bob@acme.com""#);
    no(r#"userName ne "alice.smith@ACME.com""#);
    yes(r#"nickName ne "x""#); // absent attribute is "not equal"
}

#[test]
fn substring_operators() {
    yes(r#"userName co "SMITH@""#);
    yes(r#"userName sw "alice""#);
    yes(r#"userName ew ".COM""#);
    no(r#"userName sw "smith""#);
    no(r#"userName ew "acme""#);
    yes(r#"displayName co """#);
    // caseExact sub-attribute (routingSkills.name)
    yes(
        r#"urn:ietf:params:scim:schemas:extension:genesys:purecloud:2.0:User:routingSkills.name sw "Bill""#,
    );
    no(
        r#"urn:ietf:params:scim:schemas:extension:genesys:purecloud:2.0:User:routingSkills.name sw "bill""#,
    );
}

#[test]
fn ordering_operators_strings_numbers_times() {
    yes(r#"userName gt "alice""#);
    yes(r#"userName ge "ALICE.SMITH@ACME.COM""#);
    yes(r#"userName lt "bob""#);
    yes(r#"userName le "alice.smith@acme.com""#);
    no(r#"userName lt "alice""#);
    // numbers compare numerically (2 < 10 although "2" > "10")
    yes("routingSkills.proficiency lt 10");
    yes("routingSkills.proficiency ge 4.5");
    no("routingSkills.proficiency gt 4.5");
    yes("routingLanguages.proficiency eq 5.0");
    // dateTime compares as instants, across offsets
    yes(r#"meta.lastModified gt "2024-06-01T12:00:00Z""#);
    yes(r#"meta.lastModified lt "2024-06-01T14:00:00+01:00""#); // = 13:00Z
    no(r#"meta.lastModified gt "2024-06-01T14:00:00+01:00""#);
    yes(r#"meta.lastModified eq "2024-06-01T14:30:00+02:00""#);
    yes(r#"meta.created le "2024-01-10T08:00:00Z""#);
}

#[test]
fn booleans() {
    yes("active eq true");
    yes("active eq TRUE");
    no("active eq false");
    yes("active ne false");
    let entra_style = res(json!({"userName": "x", "active": "False"}));
    assert!(m("active eq false", &entra_style));
    for bad in ["active gt true", "active co \"t\"", "title gt true"] {
        let e = CompiledFilter::compile(&parse(bad).unwrap(), user_resource()).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter), "{bad}");
    }
    let e = CompiledFilter::compile(
        &parse(r#"meta.created gt "yesterday""#).unwrap(),
        user_resource(),
    )
    .unwrap_err();
    assert!(e.detail.contains("dateTime"), "{}", e.detail);
}

#[test]
fn presence_and_null() {
    yes("title pr");
    yes("emails pr");
    yes("name pr");
    yes("emails.type pr");
    no("nickName pr");
    let empty =
        res(json!({"userName": "x", "title": "", "emails": [], "name": {"givenName": null}}));
    for f in ["title pr", "emails pr", "name pr", "name.givenName pr"] {
        assert!(!m(f, &empty), "{f}");
    }
    yes("nickName eq null");
    no("title eq null");
    yes("title ne null");
}

#[test]
fn logical_operators_and_precedence() {
    yes(r#"title pr and userName sw "alice""#);
    no(r#"title pr and userName sw "bob""#);
    yes(r#"title eq "x" or userName sw "alice""#);
    yes(r#"not (title eq "x")"#);
    no(r#"not (title pr)"#);
    // a or b and c == a or (b and c): true or (false and false) = true
    yes(r#"title pr or nickName pr and userName eq "nobody""#);
    // (a or b) and c = (true or false) and false = false
    no(r#"(title pr or nickName pr) and userName eq "nobody""#);
    // not binds tighter than and: (not a) and b
    no(r#"not (nickName pr) and title eq "x""#);
}

#[test]
fn multi_valued_and_value_paths() {
    yes(r#"emails.value ew "@home.example""#);
    yes(r#"emails co "home.example""#); // complex without sub-attribute: compared on value
    yes(r#"emails[type eq "work" and value co "@acme.com"]"#);
    no(r#"emails[type eq "home" and value co "@acme.com"]"#); // conditions must hold on one element
    yes(r#"emails[type eq "work"].value eq "ALICE.SMITH@acme.com""#);
    no(r#"emails[type eq "work"].value eq "alice@home.example""#);
    yes(r#"emails[not (type eq "work")]"#);
    yes(r#"emails[primary eq true].type eq "work""#);
    yes(
        r#"urn:ietf:params:scim:schemas:extension:genesys:purecloud:2.0:User:externalIds[authority eq "x-pc:scimv2:v1" and value eq "abc"]"#,
    );
    no(
        r#"urn:ietf:params:scim:schemas:extension:genesys:purecloud:2.0:User:externalIds[authority eq "x-pc:scimv2:v1" and value eq "ABC"]"#,
    );
    yes(r#"name[givenName eq "alice"]"#);
}

#[test]
fn extensions_urns_and_short_names() {
    yes(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "support""#);
    yes(r#"URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:DEPARTMENT eq "support""#);
    yes(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "alice""#);
    // Genesys documents the enterprise attributes without URN
    yes("employeeNumber eq 701984");
    yes("division eq EMEA");
    yes(r#"manager eq "26118915-6090-4610-87e4-49d8ca9f808d""#);
    yes(r#"manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d""#);
    // unknown extension round-trips and is filterable schemaless
    yes("urn:example:custom:2.0:User:badge eq 42");
    no(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:userName pr"#);
}

#[test]
fn number_literal_against_string_attribute() {
    let u = res(json!({"userName": "x", "externalId": "167844"}));
    assert!(m("externalId eq 167844", &u));
    assert!(m("externalId sw 1678", &u));
}

#[test]
fn non_ascii_case_folding() {
    let u = res(json!({"userName": "ÉLODIE@exemple.fr", "displayName": "Zoë"}));
    assert!(m(r#"userName eq "élodie@EXEMPLE.fr""#, &u));
    assert!(m(r#"displayName co "OË""#, &u));
    assert!(m(r#"displayName sw "zo""#, &u));
    // KELVIN SIGN lower-cases to ASCII 'k': longer in bytes, still equal
    let k = res(json!({"userName": "\u{212A}elvin"}));
    assert!(m(r#"userName eq "kelvin""#, &k));
    assert!(!m(r#"userName eq "kelvinx""#, &k));
}

#[test]
fn groups_members() {
    let g = group();
    let f = |s: &str| matches(&parse(s).unwrap(), group_resource(), &g).unwrap();
    assert!(f(r#"members[value eq "u1091"]"#));
    assert!(f(r#"members eq "u1091""#));
    assert!(f(r#"displayName eq "tour guides""#));
    assert!(!f(r#"members[value eq "nobody"]"#));
}

#[test]
fn schemaless_compile() {
    let c = CompiledFilter::compile_without_schema(
        &parse(r#"userName eq "ALICE.smith@acme.com" and department eq "Support""#).unwrap(),
    )
    .unwrap();
    assert!(c.matches(&alice()));
    let c =
        CompiledFilter::compile_without_schema(&parse("routingSkills[proficiency gt 4]").unwrap())
            .unwrap();
    assert!(c.matches(&alice()));
}
