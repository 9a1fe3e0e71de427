//! Projection, sorting, paging, ListResponse.

use gcprov_scim::filter::AttrPath;
use gcprov_scim::query::{
    ListResponse, Paging, PagingConfig, Projection, SortOrder, list_response, sort_resources,
};
use gcprov_scim::schema::defs::{group_resource, user_resource};
use gcprov_scim::{Resource, ScimType};
use serde_json::json;

use super::common::{alice, group, res};

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn with_password() -> Resource {
    let mut a = alice();
    a.set("password", json!("secret"));
    a
}

#[test]
fn default_projection_hides_never() {
    let v = Projection::default().apply(&with_password(), user_resource());
    assert!(v.get("password").is_none(), "returned: never");
    assert_eq!(v["userName"], "Alice.Smith@Acme.com");
    assert!(v.get(ENT).is_some());
    assert!(
        v.get("urn:example:custom:2.0:User").is_some(),
        "unknown extensions are returned by default"
    );
}

#[test]
fn attributes_parameter() {
    let p = Projection::new(Some("userName,name.givenName,emails.value"), None).unwrap();
    let v = p.apply(&with_password(), user_resource());
    assert_eq!(
        v["id"], "2819c223-7f76-453a-919d-413861904646",
        "returned: always"
    );
    assert!(v.get("schemas").is_some());
    assert_eq!(v["userName"], "Alice.Smith@Acme.com");
    assert_eq!(v["name"], json!({"givenName": "Alice"}));
    assert_eq!(
        v["emails"],
        json!([{"value": "alice.smith@acme.com"}, {"value": "alice@home.example"}])
    );
    assert!(v.get("title").is_none());
    assert!(v.get(ENT).is_none());
    assert!(
        v.get("password").is_none(),
        "never returned, even when asked"
    );
    let p = Projection::new(Some(&format!("{ENT}:department,password")), None).unwrap();
    let v = p.apply(&with_password(), user_resource());
    assert_eq!(v[ENT], json!({"department": "Support"}));
    assert!(v.get("password").is_none());
    // a whole extension by URN, and URN-qualified core names
    let p = Projection::new(
        Some(&format!(
            "{ENT},urn:ietf:params:scim:schemas:core:2.0:User:title"
        )),
        None,
    )
    .unwrap();
    let v = p.apply(&alice(), user_resource());
    assert_eq!(v[ENT]["division"], "EMEA");
    assert_eq!(v["title"], "Agent");
    assert!(v.get("displayName").is_none());
}

#[test]
fn excluded_attributes_parameter() {
    let p = Projection::new(None, Some("emails,name.formatted,id")).unwrap();
    let v = p.apply(&alice(), user_resource());
    assert!(v.get("emails").is_none());
    assert_eq!(
        v["name"],
        json!({"givenName": "Alice", "familyName": "Smith"})
    );
    assert!(v.get("id").is_some(), "returned: always cannot be excluded");
    // Entra: GET /Groups?excludedAttributes=members
    let p = Projection::new(None, Some("members")).unwrap();
    let g = p.apply(&group(), group_resource());
    assert!(g.get("members").is_none());
    assert_eq!(g["displayName"], "Tour Guides");
    let p = Projection::new(None, Some(ENT)).unwrap();
    assert!(p.apply(&alice(), user_resource()).get(ENT).is_none());
    assert_eq!(
        Projection::new(Some("bad["), None).unwrap_err().scim_type,
        Some(ScimType::InvalidValue)
    );
}

fn users() -> Vec<Resource> {
    vec![
        res(
            json!({"id": "1", "userName": "bob", "meta": {"lastModified": "2024-01-02T00:00:00Z"}, "emails": [{"value": "z@x", "primary": true}], "urn:ietf:params:scim:schemas:extension:genesys:purecloud:2.0:User": {"routingSkills": [{"name": "a", "proficiency": 10}]}}),
        ),
        res(
            json!({"id": "2", "userName": "Alice", "meta": {"lastModified": "2024-01-01T23:00:00-05:00"}, "emails": [{"value": "b@x"}, {"value": "a@x", "primary": true}]}),
        ),
        res(
            json!({"id": "3", "userName": "carol", "meta": {"lastModified": "2023-12-31T00:00:00Z"}, "urn:ietf:params:scim:schemas:extension:genesys:purecloud:2.0:User": {"routingSkills": [{"name": "a", "proficiency": 9}]}}),
        ),
        res(json!({"id": "4", "meta": {}})),
    ]
}

fn ids(v: &[Resource]) -> Vec<&str> {
    v.iter().map(|r| r.id().unwrap()).collect()
}

#[test]
fn sorting_is_typed() {
    let mut v = users();
    sort_resources(
        &mut v,
        &AttrPath::new("userName"),
        SortOrder::Ascending,
        user_resource(),
    );
    assert_eq!(
        ids(&v),
        ["2", "1", "3", "4"],
        "case-insensitive, missing last"
    );
    sort_resources(
        &mut v,
        &AttrPath::new("userName"),
        SortOrder::Descending,
        user_resource(),
    );
    assert_eq!(ids(&v), ["4", "3", "1", "2"]);
    sort_resources(
        &mut v,
        &AttrPath::with_sub("meta", "lastModified"),
        SortOrder::Ascending,
        user_resource(),
    );
    assert_eq!(
        ids(&v),
        ["3", "1", "2", "4"],
        "2024-01-01T23:00-05:00 is after 2024-01-02T00:00Z"
    );
    sort_resources(
        &mut v,
        &AttrPath::new("emails"),
        SortOrder::Ascending,
        user_resource(),
    );
    assert_eq!(
        ids(&v),
        ["2", "1", "3", "4"],
        "multi-valued sorts by the primary value"
    );
    sort_resources(
        &mut v,
        &AttrPath::with_sub("routingSkills", "proficiency"),
        SortOrder::Ascending,
        user_resource(),
    );
    assert_eq!(
        ids(&v)[..2],
        ["3", "1"],
        "numbers sort numerically (9 < 10)"
    );
    assert_eq!(
        SortOrder::parse(Some("DESCENDING")).unwrap(),
        SortOrder::Descending
    );
    assert_eq!(SortOrder::parse(None).unwrap(), SortOrder::Ascending);
    assert!(SortOrder::parse(Some("up")).is_err());
}

#[test]
fn paging_edge_cases() {
    let cfg = PagingConfig {
        default_count: 2,
        max_count: 3,
    };
    assert_eq!(
        Paging::new(None, None, cfg),
        Paging {
            start_index: 1,
            count: 2
        }
    );
    assert_eq!(
        Paging::new(Some(0), Some(1), cfg).start_index,
        1,
        "startIndex < 1 means 1"
    );
    assert_eq!(Paging::new(Some(-5), Some(1), cfg).start_index, 1);
    assert_eq!(
        Paging::new(None, Some(-1), cfg).count,
        0,
        "negative count means 0"
    );
    assert_eq!(
        Paging::new(None, Some(1000), cfg).count,
        3,
        "count clamped to the maximum"
    );
    let p = Paging::new(Some(2), Some(2), cfg);
    assert_eq!(p.page(vec![1, 2, 3, 4]), vec![2, 3]);
    assert_eq!(
        Paging::new(Some(10), Some(2), cfg).page(vec![1, 2, 3]),
        Vec::<i32>::new()
    );
    assert_eq!(
        Paging::new(Some(i64::MAX), Some(i64::MAX), cfg).page(vec![1]),
        Vec::<i32>::new()
    );
    assert!(Paging::parse(Some("x"), None, cfg).is_err());
    assert_eq!(
        Paging::parse(Some(" 3 "), Some("0"), cfg).unwrap(),
        Paging {
            start_index: 3,
            count: 0
        }
    );
}

#[test]
fn list_response_bodies() {
    let cfg = PagingConfig::default();
    let lr = list_response(
        users(),
        Some((&AttrPath::new("userName"), SortOrder::Ascending)),
        Paging::new(Some(2), Some(2), cfg),
        &Projection::new(Some("userName"), None).unwrap(),
        user_resource(),
    );
    let body = lr.to_json();
    assert_eq!(
        body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
    );
    assert_eq!(body["totalResults"], 4);
    assert_eq!(body["startIndex"], 2);
    assert_eq!(body["itemsPerPage"], 2);
    assert_eq!(
        body["Resources"],
        json!([{"id": "1", "userName": "bob"}, {"id": "3", "userName": "carol"}])
    );
    // count=0: only totalResults
    let lr = list_response(
        users(),
        None,
        Paging::new(None, Some(0), cfg),
        &Projection::default(),
        user_resource(),
    );
    assert_eq!((lr.total_results, lr.resources.len()), (4, 0));
    // Entra test connection: an empty ListResponse
    let empty = ListResponse {
        total_results: 0,
        start_index: 1,
        resources: vec![],
    }
    .to_json();
    assert_eq!(
        empty,
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 0, "startIndex": 1, "itemsPerPage": 0, "Resources": []})
    );
}

#[test]
fn error_body() {
    let e = gcprov_scim::ScimError::bad_request(ScimType::Uniqueness, "userName taken");
    assert_eq!(
        e.to_body(),
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "400", "scimType": "uniqueness", "detail": "userName taken"})
    );
    let e = gcprov_scim::ScimError::not_found("no such user");
    assert_eq!(e.to_body()["status"], "404");
    assert!(e.to_body().get("scimType").is_none());
}
