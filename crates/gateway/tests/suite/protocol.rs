//! Protocol features: filters, sorting, paging, projection, .search, /Bulk, discovery,
//! lower-case paths, SCIM error bodies.

use serde_json::json;

use super::support::*;

#[tokio::test]
async fn list_search_bulk_and_discovery() {
    let env = start(Opts::default()).await;
    for (n, t) in [("carol", "Tester"), ("bob", "Tester"), ("alice", "Lead")] {
        let r = env.post("/Users", json!({"userName": format!("{n}@acme.example"), "displayName": n, "title": t, "active": true})).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    // Any RFC filter, sorted and paged.
    let r = env
        .get(&format!(
            "/Users?filter={}&sortBy=userName&sortOrder=descending&startIndex=1&count=2",
            enc("title eq \"Tester\" or userName sw \"al\"")
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["totalResults"], 3);
    assert_eq!(r.body["itemsPerPage"], 2);
    assert_eq!(r.body["Resources"][0]["userName"], "carol@acme.example");
    assert_eq!(r.body["Resources"][1]["userName"], "bob@acme.example");
    // attributes / excludedAttributes.
    let r = env.get("/users?attributes=userName&count=1").await;
    assert_eq!(r.status, 200, "lower-case path");
    let u = &r.body["Resources"][0];
    assert!(
        u.get("userName").is_some() && u.get("id").is_some() && u.get("title").is_none(),
        "{u}"
    );
    let r = env
        .get("/Users?excludedAttributes=emails,title&count=1")
        .await;
    assert!(r.body["Resources"][0].get("emails").is_none());
    // Invalid filter -> 400 invalidFilter.
    let r = env
        .get(&format!("/Users?filter={}", enc("userName eq")))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["scimType"], "invalidFilter");
    // POST /.search on a resource type and at the root.
    let r = env.post("/Users/.search", json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "userName eq \"bob@acme.example\"", "attributes": ["displayName"]})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["totalResults"], 1);
    assert_eq!(r.body["Resources"][0]["displayName"], "bob");
    let r = env.post("/.search", json!({"filter": "displayName eq \"Sales Agents\" or userName eq \"bob@acme.example\""})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["totalResults"], 2);

    // Bulk with a bulkId reference.
    let r = env.post("/Bulk", json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "failOnErrors": 1, "Operations": [
        {"method": "POST", "path": "/Users", "bulkId": "u1", "data": {"userName": "bulk.one@acme.example", "displayName": "Bulk One"}},
        {"method": "POST", "path": "/Groups", "bulkId": "g1", "data": {"displayName": "Bulk Group", "members": [{"value": "bulkId:u1"}]}}
    ]})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["Operations"][0]["status"], "201", "{}", r.body);
    assert_eq!(r.body["Operations"][1]["status"], "201", "{}", r.body);
    let gid = env.group_id("Bulk Group").await;
    let uid = env
        .get(&format!(
            "/Users?filter={}",
            enc("userName eq \"bulk.one@acme.example\"")
        ))
        .await
        .body["Resources"][0]["id"]
        .as_str()
        .expect("uid")
        .to_string();
    assert_eq!(env.group_members(&gid).await, vec![uid]);
    // failOnErrors stops after the first error.
    let r = env
        .post(
            "/Bulk",
            json!({"failOnErrors": 1, "Operations": [
                {"method": "POST", "path": "/Users", "data": {"userName": "bulk.one@acme.example"}},
                {"method": "POST", "path": "/Users", "data": {"userName": "bulk.two@acme.example"}}
            ]}),
        )
        .await;
    assert_eq!(r.body["Operations"].as_array().map(Vec::len), Some(1));
    assert_eq!(r.body["Operations"][0]["status"], "409");

    // Discovery tells the truth.
    let r = env
        .call(
            "GET",
            "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User",
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 200);
    let names: Vec<&str> = r.body["attributes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert!(names.contains(&"userName") && names.contains(&"emails"));
    assert!(
        !names.contains(&"name") && !names.contains(&"addresses"),
        "{names:?}"
    );
    let r = env
        .call("GET", "/ServiceProviderConfig", None, None, &[])
        .await;
    assert_eq!(r.body["bulk"]["supported"], true);
    assert_eq!(r.body["bulk"]["maxOperations"], 100);
    assert_eq!(r.body["patch"]["supported"], true);
    let r = env
        .call(
            "POST",
            "/ServiceProviderConfig",
            Some(PROVISIONER),
            Some(json!({})),
            &[],
        )
        .await;
    assert_eq!(r.status, 405);
    let r = env.get("/ResourceTypes/User").await;
    assert_eq!(r.body["endpoint"], "/Users");
    let r = env.get("/8f3b9c1e-unknown").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["status"], "404");
    let r = env.get("/Users/010101001010101011001010101011").await;
    assert_eq!(r.status, 404);
    assert!(r.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    env.shutdown().await;
}
