//! The library side of `gcprov policy check`: JSON, NDJSON and CSV inputs and the report.

use super::demo;
use gcprov_policy::input::{InputFormat, check_files, check_records, detect_format, parse_records};
use gcprov_policy::{EvalContext, InputError};
use std::path::Path;

const ENT: &str = super::ENT;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    if let Err(e) = std::fs::write(&p, text) {
        panic!("{e}");
    }
    p
}

fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "gcprov-policy-test-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    if let Err(e) = std::fs::create_dir_all(&d) {
        panic!("{e}");
    }
    d
}

fn rand_suffix() -> u128 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst) as u128
}

const GOOD: &str = r#"{"userName":"ada.lovelace@acme.example","emails":[{"value":"ada.lovelace@acme.example","primary":true}]}"#;
const BAD: &str =
    r#"{"userName":"bob@evil.example","emails":[{"value":"bob@evil.example","primary":true}]}"#;

#[test]
fn json_single_array_and_list_response() {
    let p = demo();
    let ctx = EvalContext::default();
    let r = parse_records("one.json", GOOD, InputFormat::Json).unwrap_or_default_records();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].location, "one.json");
    let arr = format!("[{GOOD},{BAD}]");
    let r = parse_records("arr.json", &arr, InputFormat::Json).unwrap_or_default_records();
    assert_eq!(r[1].location, "arr.json[1]");
    let report = check_records(&p, &r, &ctx);
    assert_eq!(report.summary.records, 2);
    assert_eq!(report.summary.rejected, 1);
    assert!(report.has_rejections());
    let text = report.render_text();
    assert!(
        text.contains("arr.json[1] bob@evil.example: REJECTED"),
        "{text}"
    );
    assert!(text.contains("SCIM_INVALID_EMAIL_DOMAIN"), "{text}");
    assert!(
        !text.contains("arr.json[0]"),
        "accepted records are not listed: {text}"
    );
    let lr = format!(
        r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":2,"Resources":[{GOOD},{BAD}]}}"#
    );
    let r = parse_records("list.json", &lr, InputFormat::Json).unwrap_or_default_records();
    assert_eq!(r.len(), 2);
    assert_eq!(r[1].location, "list.json:Resources[1]");
    let json = serde_json::to_value(check_records(&p, &r, &ctx)).unwrap_or_default();
    assert_eq!(json["summary"]["rejected"], 1);
    assert_eq!(json["records"][1]["decision"], "REJECTED");
    assert_eq!(json["records"][1]["userName"], "bob@evil.example");
    assert_eq!(
        json["records"][1]["violations"][0]["code"],
        "SCIM_INVALID_EMAIL_DOMAIN"
    );
}

#[test]
fn ndjson_locations_are_lines_and_errors_name_the_line() {
    let text = format!("{GOOD}\n\n{BAD}\n");
    let r = parse_records("u.ndjson", &text, InputFormat::Ndjson).unwrap_or_default_records();
    assert_eq!(r.len(), 2);
    assert_eq!(r[1].location, "u.ndjson:3");
    let err = parse_records(
        "u.ndjson",
        &format!("{GOOD}\n{{\"userName\": \n"),
        InputFormat::Ndjson,
    );
    match err {
        Err(InputError::Parse {
            file,
            line,
            message,
        }) => {
            assert_eq!((file.as_str(), line), ("u.ndjson", 2));
            assert!(message.contains("malformed JSON"), "{message}");
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
    // A .json file holding several objects is read as NDJSON.
    let r = parse_records("u.json", &format!("{GOOD}\n{BAD}\n"), InputFormat::Json)
        .unwrap_or_default_records();
    assert_eq!(r.len(), 2);
    // Malformed .json names file and line.
    let e = parse_records("u.json", "{\n \"a\": ,\n}", InputFormat::Json);
    assert!(matches!(e, Err(InputError::Parse { line: 2, .. })), "{e:?}");
}

#[test]
fn csv_convenient_headers_and_scim_paths() {
    let text = "userName,email,department,costCenter,title,groups,roles,emails[type eq \"other\"].value,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber,active\n\
ada.lovelace@acme.example,ada.lovelace@acme.example,Sales,CC-1234,Agent,GC-Sales-Agents,Agent,,E1,true\n\
bob@acme.example,bob@acme.example,Marketing,CC-9,,,,bob@gmail.com,E2,false\n";
    let r = parse_records("u.csv", text, InputFormat::Csv).unwrap_or_default_records();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].location, "u.csv:2");
    let ada = &r[0].value;
    assert_eq!(ada["emails"][0]["primary"], true);
    assert_eq!(ada["emails"][0]["type"], "work");
    assert_eq!(ada[ENT]["department"], "Sales");
    assert_eq!(ada[ENT]["employeeNumber"], "E1");
    assert_eq!(ada["groups"][0]["display"], "GC-Sales-Agents");
    assert_eq!(ada["roles"][0]["value"], "Agent");
    assert_eq!(ada["active"], true);
    let bob = &r[1].value;
    assert_eq!(bob["emails"][1]["type"], "other");
    assert_eq!(bob["emails"][1]["value"], "bob@gmail.com");
    let report = check_records(&demo(), &r, &EvalContext::default());
    assert_eq!(
        report.summary.accepted_with_warnings,
        1,
        "{}",
        report.render_text()
    );
    assert_eq!(report.summary.rejected, 1);
    let codes: Vec<&str> = report.records[1]
        .decision
        .all()
        .map(|v| v.code.as_str())
        .collect();
    assert!(codes.contains(&"POLICY_DEPARTMENT_DENIED"), "{codes:?}");
    assert!(codes.contains(&"POLICY_COST_CENTER_MISMATCH"), "{codes:?}");
}

#[test]
fn csv_errors_name_file_and_line() {
    let e = parse_records("u.csv", "userName,colour\na,b\n", InputFormat::Csv);
    match e {
        Err(InputError::Parse {
            line: 1, message, ..
        }) => assert!(message.contains("colour"), "{message}"),
        other => panic!("{other:?}"),
    }
    let e = parse_records("u.csv", "userName,title\na,b\nc,d,e\n", InputFormat::Csv);
    match e {
        Err(err @ InputError::Parse { line: 3, .. }) => {
            assert!(err.to_string().starts_with("u.csv:3:"), "{err}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn files_are_detected_by_extension_and_content() {
    let dir = tempdir();
    let a = write(&dir, "a.json", &format!("[{GOOD}]"));
    let b = write(&dir, "b.ndjson", &format!("{BAD}\n"));
    let c = write(
        &dir,
        "c.csv",
        "userName,email\ncarol@acme.example,carol@acme.example\n",
    );
    let d = write(&dir, "d.txt", GOOD);
    assert_eq!(detect_format(&d, GOOD), InputFormat::Json);
    assert_eq!(
        detect_format(Path::new("x"), "userName\n"),
        InputFormat::Csv
    );
    let report = match check_files(&demo(), &[a, b.clone(), c, d], &EvalContext::default()) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(report.summary.records, 4);
    assert_eq!(report.summary.rejected, 1);
    assert!(report.render_text().contains(&format!("{}:1", b.display())));
    let missing = check_files(
        &demo(),
        &[dir.join("missing.json")],
        &EvalContext::default(),
    );
    assert!(matches!(missing, Err(InputError::Io { .. })));
    let _ = std::fs::remove_dir_all(&dir);
}

trait OrPanic {
    fn unwrap_or_default_records(self) -> Vec<gcprov_policy::input::Record>;
}
impl OrPanic for Result<Vec<gcprov_policy::input::Record>, InputError> {
    fn unwrap_or_default_records(self) -> Vec<gcprov_policy::input::Record> {
        match self {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }
}
