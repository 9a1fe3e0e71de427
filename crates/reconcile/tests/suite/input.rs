//! Desired-state readers: CSV (default headers, mapping), SCIM JSON and NDJSON, errors.

use std::io::Cursor;

use gcprov_reconcile::{DesiredReader, Format, parse_config};

fn read(
    text: &str,
    format: Format,
    cfg: &str,
) -> Vec<Result<gcprov_reconcile::DesiredUser, gcprov_reconcile::Error>> {
    let s = parse_config(cfg, "cfg.toml").expect("config");
    DesiredReader::from_reader(
        Box::new(Cursor::new(text.as_bytes().to_vec())),
        "in.file",
        format,
        &s.mapping,
    )
    .expect("open")
    .collect()
}

#[test]
fn csv_with_default_headers() {
    let rows = read(
        "externalId,userName,givenName,familyName,active,groups,skills\n\
         1,a@x.com,Ann,Lee,False,G1; G2,Sales:3;Billing:4.5\n",
        Format::Csv,
        "",
    );
    let d = rows[0].as_ref().unwrap();
    assert_eq!(d.line, 2);
    assert_eq!(d.active, Some(false));
    assert_eq!(d.effective_name(), "Ann Lee");
    assert_eq!(d.groups.as_deref().unwrap(), ["G1", "G2"]);
    assert_eq!(d.skills.as_ref().unwrap()[1].proficiency, 4.5);
}

#[test]
fn csv_with_a_column_mapping() {
    let rows = read(
        "Employee ID,Login,Job\n7,b@x.com,Clerk\n",
        Format::Csv,
        "[reconcile]\nmatch_order = [\"userName\"]\n[reconcile.columns]\nexternalId = \"Employee ID\"\nuserName = \"Login\"\ntitle = \"Job\"\n",
    );
    let d = rows[0].as_ref().unwrap();
    assert_eq!(d.external_id.as_deref(), Some("7"));
    assert_eq!(d.title.as_deref(), Some("Clerk"));
}

#[test]
fn bad_input_names_the_file_and_line() {
    let rows = read(
        "userName,active\na@x.com,true\nb@x.com,maybe\n",
        Format::Csv,
        "",
    );
    let e = rows[1].as_ref().unwrap_err().to_string();
    assert!(e.starts_with("in.file:3:"), "{e}");
    let rows = read("userName,skills\na@x.com,Sales\n", Format::Csv, "");
    assert!(
        rows[0]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("in.file:2:")
    );
    let rows = read("{\"userName\":\"a@x.com\"}\n\n{oops\n", Format::Ndjson, "");
    assert!(
        rows[1]
            .as_ref()
            .unwrap_err()
            .to_string()
            .starts_with("in.file:3:")
    );
    let e = DesiredReader::from_reader(
        Box::new(Cursor::new(b"name\nx\n".to_vec())),
        "f.csv",
        Format::Csv,
        &Default::default(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("f.csv:1:"), "{e}");
    assert!(
        parse_config("bogus = 1", "c.toml")
            .unwrap_err()
            .to_string()
            .contains("c.toml")
    );
}

#[test]
fn scim_json_and_ndjson() {
    let user = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"c@x.com","externalId":"9",
        "active":"False","name":{"givenName":"C","familyName":"D"},"emails":[{"value":"c@x.com","primary":true}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Ops"},
        "urn:ietf:params:scim:schemas:extension:genesys:purecloud:2.0:User":{"routingSkills":[{"name":"S","proficiency":2}]},
        "groups":[{"display":"G"}]}"#;
    let list = format!(r#"{{"Resources":[{user}]}}"#);
    for (text, f) in [
        (list.as_str(), Format::Json),
        (user.replace('\n', " ").as_str(), Format::Ndjson),
    ] {
        let rows = read(text, f, "");
        let d = rows[0].as_ref().unwrap();
        assert_eq!(d.external_id.as_deref(), Some("9"));
        assert_eq!(d.active, Some(false));
        assert_eq!(d.department.as_deref(), Some("Ops"));
        assert_eq!(d.skills.as_ref().unwrap()[0].name, "S");
        assert_eq!(d.groups.as_deref().unwrap(), ["G"]);
    }
}

#[test]
fn absent_name_and_active_are_not_managed() {
    // No name or active column: nothing to manage; a create would use the userName.
    let rows = read("userName,title\na@x.com,Clerk\n", Format::Csv, "");
    let d = rows[0].as_ref().unwrap();
    assert_eq!(d.active, None);
    assert_eq!(d.managed_name(), None);
    assert_eq!(d.effective_name(), "a@x.com");
    // Empty cells mean the same.
    let rows = read("userName,displayName,active\na@x.com,,\n", Format::Csv, "");
    let d = rows[0].as_ref().unwrap();
    assert_eq!((d.active, d.managed_name()), (None, None));
    // A family name alone is the name.
    let rows = read("userName,familyName\na@x.com,Lee\n", Format::Csv, "");
    assert_eq!(
        rows[0].as_ref().unwrap().managed_name().as_deref(),
        Some("Lee")
    );
    // SCIM: no `active`, `active: null`, no `name`/`displayName`.
    for line in [
        r#"{"userName":"a@x.com"}"#,
        r#"{"userName":"a@x.com","active":null,"name":{"givenName":""}}"#,
    ] {
        let rows = read(line, Format::Ndjson, "");
        let d = rows[0].as_ref().unwrap();
        assert_eq!((d.active, d.managed_name()), (None, None), "{line}");
        assert!(d.to_scim().get("active").is_none(), "{line}");
    }
}
