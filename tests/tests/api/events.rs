//! The event log: every change, with who made it, newest first, per tree.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{app, unique_email};

#[tokio::test]
async fn every_client_change_is_in_the_log_with_actor_request_and_previous_values() {
    let app = app();
    let p = app.partner().await;
    let res = app
        .call_with(Method::POST, "/v1/clients", &p.key, Some(json!({ "name": "Logged", "email": unique_email() })), &[("x-request-id", "req-create-1")])
        .await;
    let c = res.expect(201).clone();
    let cid = c["id"].as_str().unwrap();
    app.update_client(&p.key, cid, json!({ "company": "Acme" })).await.expect(200);
    app.suspend_client(&p.key, cid, None).await.expect(200);
    app.delete_client(&p.key, cid).await;

    let log = app.list_events(&p.key, "?limit=10").await;
    let log = log.expect(200);
    let types: Vec<&str> = log["data"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    // The fixture's partner and its API key came first; both are changes of the tree too.
    assert_eq!(types, ["client.removed", "client.suspended", "client.updated", "client.created", "key.created", "partner.created"]);
    let created = &log["data"][3];
    assert_eq!(created["requestId"], "req-create-1");
    assert_eq!(created["partnerId"], p.id.as_str());
    assert_eq!(created["actor"]["kind"], "apiKey");
    assert_eq!(created["data"]["object"]["id"], cid);
    assert!(created["data"]["object"].get("apiKey").is_none(), "secrets stay out of events");
    let updated = &log["data"][2];
    assert_eq!(updated["data"]["previous"], json!({ "company": null }));
    assert_eq!(updated["data"]["object"]["company"], "Acme");
    assert_eq!(log["total"], 6);

    let only = app.list_events(&p.key, "?type=client.updated").await;
    assert_eq!(only.expect(200)["total"], 1);
    app.list_events(&p.key, "?type=client.exploded").await.problem(400, "validation_failed");
}

#[tokio::test]
async fn a_partner_sees_the_events_of_its_tree_only() {
    let app = app();
    let root = app.partner().await;
    let child = app.sub_partner(&root).await;
    let other = app.partner().await;
    app.client(&child).await;
    app.client(&other).await;
    let root_log = app.list_events(&root.key, "?type=client.created").await;
    assert_eq!(root_log.expect(200)["total"], 1, "the child's client, not the other tree's");
    let partner_created = app.list_events(&root.key, "?type=partner.created").await;
    assert_eq!(partner_created.expect(200)["data"][0]["data"]["object"]["id"], child.id.as_str());
    assert_eq!(app.list_events(&child.key, "?type=partner.created").await.expect(200)["total"], 1);
}
