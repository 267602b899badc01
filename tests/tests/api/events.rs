//! The event log: every change, with who made it, newest first, per tree.

use reqwest::Method;
use serde_json::{Value, json};

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
    assert_eq!(app.delete_client(&p.key, cid).await.status, 204);

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

/// `GET /v1/events?clientId=` (issue 19: a client's whole history in the console): every
/// event about the client, its own and its licenses', paged newest first to the last one,
/// and nothing else; for a client of the caller's tree only.
#[tokio::test]
async fn a_clients_events_page_through_its_whole_history_and_only_its_own() {
    let app = app();
    let root = app.partner().await;
    let sub = app.sub_partner(&root).await;
    let c = app.client(&sub).await;
    let cid = c["id"].as_str().unwrap().to_owned();
    let other = app.client(&sub).await;
    let oid = other["id"].as_str().unwrap();
    for i in 0..6 {
        app.update_client(&sub.key, &cid, json!({ "company": format!("Acme {i}") })).await.expect(200);
        app.update_client(&sub.key, oid, json!({ "company": format!("Other {i}") })).await.expect(200);
    }
    let product = app.product().await;
    let license = app.create_license(&sub.key, json!({ "productId": product["id"], "tier": "t", "clientId": cid })).await;
    license.expect(201);

    // Pages of 3, followed to the end: the client's 8 events (created, 6 updates, a license), newest first.
    let mut seen: Vec<Value> = Vec::new();
    let mut path = format!("?clientId={cid}&limit=3");
    loop {
        let page = app.list_events(&root.key, &path).await;
        let page = page.expect(200).clone();
        assert_eq!(page["total"], 8);
        seen.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["nextCursor"].as_str() {
            Some(next) => path = format!("?clientId={cid}&limit=3&cursor={next}"),
            None => break,
        }
    }
    let types: Vec<&str> = seen.iter().map(|e| e["type"].as_str().unwrap()).collect();
    let mut expected = vec!["license.created"];
    expected.extend(["client.updated"; 6]);
    expected.push("client.created");
    assert_eq!(types, expected);
    assert!(seen.iter().all(|e| e["data"]["object"]["id"] == json!(cid) || e["data"]["object"]["clientId"] == json!(cid)));
    let ids: Vec<&str> = seen.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first, each once");

    // Its own partner sees the same; another tree, or a bad id, finds no such client; not with type.
    assert_eq!(app.list_events(&sub.key, &format!("?clientId={cid}")).await.expect(200)["total"], 8);
    let stranger = app.partner().await;
    app.list_events(&stranger.key, &format!("?clientId={cid}")).await.problem(404, "not_found");
    // Without webhooks:view, 403 before anything is looked up.
    let narrow = app.create_api_key(&stranger.key, json!({ "permissions": ["clients:view"] })).await;
    let narrow = narrow.expect(201)["key"].as_str().unwrap().to_owned();
    app.list_events(&narrow, &format!("?clientId={cid}")).await.problem(403, "forbidden");
    app.list_events(&root.key, "?clientId=not-a-client").await.problem(404, "not_found");
    let both = app.list_events(&root.key, &format!("?clientId={cid}&type=client.updated")).await;
    both.problem(400, "validation_failed");
    assert_eq!(both.error_fields(), vec!["type"]);

    // Deleted, its history stays readable by the tree it was in, ending with its removal.
    assert_eq!(app.delete_client(&sub.key, &cid).await.status, 204);
    let gone = app.list_events(&sub.key, &format!("?clientId={cid}&limit=2")).await;
    let gone = gone.expect(200).clone();
    assert_eq!((gone["total"].as_u64(), gone["data"][0]["type"].as_str()), (Some(10), Some("client.removed")), "{gone}");
    app.list_events(&stranger.key, &format!("?clientId={cid}")).await.problem(404, "not_found");
}

/// API.md §5b: the event catalog lists every type of §5, each with a description and
/// the JSON Schema of its `data.object`; and the objects of real events fit those
/// schemas (every field they carry is declared, every required field is there).
#[tokio::test]
async fn the_event_catalog_describes_every_type_and_real_events_fit_its_schemas() {
    let app = app();
    app.raw(Method::GET, "/v1/event-types", &[], None).await.problem(401, "unauthenticated");
    let p = app.partner().await;
    // Paged like every list: 10 by default, then by cursor; or 100 at once.
    let first = app.call(Method::GET, "/v1/event-types", &p.key, None).await;
    assert_eq!(first.expect(200)["data"].as_array().unwrap().len(), 10);
    let mut paged: Vec<Value> = first.body["data"].as_array().unwrap().clone();
    let mut cursor = first.body["nextCursor"].as_str().map(str::to_owned);
    while let Some(c) = cursor.take() {
        let next = app.call(Method::GET, &format!("/v1/event-types?cursor={c}"), &p.key, None).await;
        paged.extend(next.expect(200)["data"].as_array().unwrap().iter().cloned());
        cursor = next.body["nextCursor"].as_str().map(str::to_owned);
    }
    app.call(Method::GET, "/v1/event-types?limit=101", &p.key, None).await.problem(400, "validation_failed");
    let catalog = app.call(Method::GET, "/v1/event-types?limit=100", &p.key, None).await;
    let catalog = catalog.expect(200).clone();
    assert_eq!(catalog["nextCursor"], Value::Null);
    let entries = catalog["data"].as_array().unwrap();
    assert_eq!(&paged, entries, "the pages are the whole catalog, in order");
    let types: Vec<&str> = entries.iter().map(|e| e["type"].as_str().unwrap()).collect();
    let expected = [
        "client.created", "client.updated", "client.removed", "client.suspended", "client.unsuspended", "client.trial_started",
        "client.trial_expired", "client.made_live", "license.created", "license.activated", "license.deactivated", "license.revoked",
        "partner.created", "partner.updated", "partner.suspended", "partner.unsuspended", "key.created", "key.revoked",
        "teammate.created", "teammate.updated", "teammate.removed", "webhook.secret_rotated", "console_link.created",
    ];
    assert_eq!(types, expected);
    assert_eq!(catalog["total"], expected.len());
    for e in entries {
        assert!(e["description"].as_str().is_some_and(|d| d.len() > 10), "{}: described", e["type"]);
        assert_eq!(e["schema"]["type"], "object", "{}", e["type"]);
        assert_eq!(e["example"]["type"], e["type"], "each type's example is an event of that type");
    }

    // Real events of most kinds, in this partner's tree.
    let c = app.client(&p).await;
    let cid = c["id"].as_str().unwrap();
    app.update_client(&p.key, cid, json!({ "company": "Acme" })).await.expect(200);
    app.suspend_client(&p.key, cid, None).await.expect(200);
    let product = app.product().await;
    let license = app.create_license(&p.key, json!({ "productId": product["id"], "tier": "t", "clientId": cid, "maxActivations": 2 })).await;
    let license_key = license.expect(201)["licenseKey"].as_str().unwrap().to_owned();
    app.activate(&license_key, "shop.example.com").await.expect(200);
    app.deactivate(&license_key, "shop.example.com").await.expect(200);
    let sub = app.sub_partner(&p).await;
    app.call(Method::PATCH, &format!("/v1/partners/{}", sub.id), &p.key, Some(json!({ "type": "agency" }))).await.expect(200);
    let key = app.create_api_key(&p.key, json!({ "permissions": ["clients:view"] })).await;
    assert_eq!(app.revoke_api_key(&p.key, key.expect(201)["id"].as_str().unwrap()).await.status, 204);
    let mate = app.call(Method::POST, "/v1/teammates", &p.key, Some(json!({ "username": crate::helpers::unique("cat"), "password": "a long enough password" }))).await;
    let mate_id = mate.expect(201)["id"].as_str().unwrap().to_owned();
    let changed = app.call(Method::PATCH, &format!("/v1/teammates/{mate_id}"), &p.key, Some(json!({ "password": "another long password" }))).await;
    changed.expect(200);
    let hook = app.call(Method::POST, "/v1/webhooks", &p.key, Some(json!({ "url": "http://127.0.0.1:9/hook", "events": ["*"] }))).await;
    let hid = hook.expect(201)["id"].as_str().unwrap().to_owned();
    app.call(Method::POST, &format!("/v1/webhooks/{hid}/rotate-secret"), &p.key, None).await.expect(200);
    app.call(Method::POST, "/v1/console-links", &p.key, Some(json!({ "partnerId": sub.id }))).await.expect(201);
    assert_eq!(app.delete_client(&p.key, cid).await.status, 204);

    let log = app.list_events(&p.key, "?limit=100").await;
    let events = log.expect(200)["data"].as_array().unwrap().clone();
    let mut seen = std::collections::BTreeSet::new();
    for event in &events {
        let kind = event["type"].as_str().unwrap();
        let entry = entries.iter().find(|e| e["type"] == kind).unwrap_or_else(|| panic!("{kind} is in the catalog"));
        let schema = &entry["schema"];
        let object = event["data"]["object"].as_object().unwrap_or_else(|| panic!("{kind}: an object"));
        let declared = schema["properties"].as_object().unwrap();
        for field in object.keys() {
            assert!(declared.contains_key(field), "{kind}: {field} is carried but not in the catalog's schema");
        }
        for field in schema["required"].as_array().unwrap() {
            assert!(object.contains_key(field.as_str().unwrap()), "{kind}: required {field} is missing from a real event");
        }
        seen.insert(kind.to_owned());
    }
    for kind in ["client.created", "client.updated", "client.suspended", "client.removed", "license.created", "license.activated",
        "license.deactivated", "partner.created", "partner.updated", "key.created", "key.revoked", "teammate.created", "teammate.updated",
        "webhook.secret_rotated", "console_link.created"] {
        assert!(seen.contains(kind), "{kind} was checked against its schema: {seen:?}");
    }
}

/// API.md §5: "Events are kept at least 30 days": no event item carries a TTL sooner
/// (DynamoDB's TTL removes an item once its `expiresAt` has passed).
#[tokio::test]
async fn an_event_is_kept_at_least_30_days() {
    let app = app();
    let p = app.partner().await;
    app.client(&p).await;
    let id = app.list_events(&p.key, "?type=client.created&limit=1").await.expect(200)["data"][0]["id"].as_str().unwrap().to_owned();
    let item = app
        .dynamodb()
        .await
        .get_item()
        .table_name("clientele")
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("EVENT#{id}")))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("#".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("DynamoDB Local answers")
        .item
        .expect("the event's item");
    if let Some(expires) = item.get("expiresAt") {
        let at: i64 = expires.as_n().ok().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("a TTL is a number: {expires:?}"));
        let days = (at - chrono::Utc::now().timestamp()) as f64 / 86_400.0;
        assert!(days >= 30.0, "the event expires in {days:.1} days");
    }
}
