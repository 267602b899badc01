//! `Idempotency-Key` on every kind of POST, and its 24-hour window (API.md §1
//! "Concurrency and retries"). The window is proven by moving time forward: the
//! test ages the key's record in DynamoDB Local, as the trial tests age a trial,
//! so no other test's keys are touched.

use aws_sdk_dynamodb::types::AttributeValue;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Resp, app, unique, unique_email};

async fn post(key: &str, path: &str, body: Option<Value>, idem: &str) -> Resp {
    app().post_idempotent(key, path, body, idem).await
}

/// Sends the same POST twice with one key; the first must succeed as API.md says (201
/// for a creation, 202 for a redelivery, else 200) and the second must be its replay.
async fn twice(what: &str, key: &str, path: &str, body: Option<Value>) -> Resp {
    let idem = unique("idem");
    let first = post(key, path, body.clone(), &idem).await;
    let expected = if what.starts_with("create") { 201 } else if what == "redeliver" { 202 } else { 200 };
    assert_eq!(first.status, expected, "{what}: {}", first.body);
    assert_eq!(first.header("idempotent-replayed"), None, "{what}");
    let again = post(key, path, body, &idem).await;
    assert_eq!((again.status, again.header("idempotent-replayed")), (first.status, Some("true")), "{what}: {}", again.body);
    assert_eq!(again.body, first.body, "{what}: the first response again");
    first
}

#[tokio::test]
async fn every_kind_of_post_replays_its_first_response_and_does_nothing_again() {
    let app = app();
    let p = app.partner().await;
    let c = app.client(&p).await;
    let cid = c["id"].as_str().unwrap().to_owned();

    twice("create partner", &p.key, "/v1/partners", Some(json!({ "name": unique("sub") }))).await;
    assert_eq!(app.list_partners(&p.key, "").await.expect(200)["total"], 2, "one sub-partner made");

    twice("create API key", &p.key, "/v1/api-keys", Some(json!({ "permissions": ["clients:view"] }))).await;
    assert_eq!(app.list_api_keys(&p.key, "").await.expect(200)["total"], 2, "one key made");

    // Made twice, the username would be taken the second time.
    twice("create teammate", &p.key, "/v1/teammates", Some(json!({ "username": unique("mate"), "password": "a long enough password" }))).await;

    let slug = unique("prod").to_lowercase();
    let product = twice("create product", &app.admin, "/v1/products", Some(json!({ "name": slug, "slug": slug }))).await;

    let license = twice("create license", &p.key, "/v1/licenses", Some(json!({ "productId": product.body["id"], "tier": "t", "clientId": cid }))).await;
    assert_eq!(app.client_licenses(&p.key, &cid).await.expect(200)["total"], 1, "one license made");
    let lid = license.body["id"].as_str().unwrap();
    twice("revoke license", &p.key, &format!("/v1/licenses/{lid}/revoke"), None).await;

    twice("create webhook", &p.key, "/v1/webhooks", Some(json!({ "url": "http://127.0.0.1:9/hook", "events": ["*"] }))).await;
    assert_eq!(app.call(Method::GET, "/v1/webhooks", &p.key, None).await.expect(200)["total"], 1, "one endpoint made");

    let version = app.get_client(&p.key, &cid).await.expect(200)["version"].as_u64().unwrap();
    twice("offer trial", &p.key, &format!("/v1/clients/{cid}/offer-trial"), Some(json!({ "days": 5 }))).await;
    twice("suspend", &p.key, &format!("/v1/clients/{cid}/suspend"), Some(json!({ "reason": "r" }))).await;
    twice("unsuspend", &p.key, &format!("/v1/clients/{cid}/unsuspend"), None).await;
    twice("make live", &p.key, &format!("/v1/clients/{cid}/make-live"), None).await;
    let rotated = twice("rotate API key", &p.key, &format!("/v1/clients/{cid}/rotate-api-key"), None).await;
    // Rotated twice, the key first handed out would be dead already.
    let new_key = rotated.body["apiKey"].as_str().unwrap();
    app.lookup_client(&p.key, new_key).await.expect(200);
    assert_eq!(app.get_client(&p.key, &cid).await.expect(200)["version"], version + 5, "trial, suspend, unsuspend, live, rotate: once each");

    app.set_quotas(&p.key, &cid, json!({ "apiCalls": { "limit": 100 } })).await.expect(200);
    twice("record usage", &p.key, &format!("/v1/clients/{cid}/usage"), Some(json!({ "resource": "apiCalls", "amount": 7 }))).await;
    assert_eq!(app.get_usage(&p.key, &cid).await.expect(200)["apiCalls"]["used"], 7, "added once");

    twice("lookup", &p.key, "/v1/clients/lookup", Some(json!({ "apiKey": new_key }))).await;
    let event = app.list_events(&p.key, "?type=client.created").await.expect(200)["data"][0]["id"].clone();
    twice("redeliver", &p.key, &format!("/v1/events/{}/redeliver", event.as_str().unwrap()), None).await;

    let other = app.client(&p).await;
    let deleted = twice("bulk delete", &p.key, "/v1/clients/bulk-delete", Some(json!({ "ids": [other["id"]] }))).await;
    assert_eq!(deleted.body["deleted"], json!([other["id"]]), "run again, it would find nothing to delete");
    assert_eq!(app.list_events(&p.key, "?type=client.removed").await.expect(200)["total"], 1, "one removal");
}

/// The table's record of one `Idempotency-Key`: its keys and the whole item.
async fn record_of(idem: &str) -> (AttributeValue, AttributeValue, std::collections::HashMap<String, AttributeValue>) {
    let item = app().idempotency_record(idem).await.unwrap_or_else(|| panic!("no record of idempotency key {idem}"));
    (item["pk"].clone(), item["sk"].clone(), item)
}

/// Moves the record's expiry to `at` (Unix seconds), as if it had been made earlier.
async fn age(pk: &AttributeValue, sk: &AttributeValue, at: i64) {
    app()
        .dynamodb()
        .await
        .update_item()
        .table_name("clientele")
        .key("pk", pk.clone())
        .key("sk", sk.clone())
        .update_expression("SET expiresAt = :at")
        .expression_attribute_values(":at", AttributeValue::N(at.to_string()))
        .send()
        .await
        .expect("DynamoDB Local answers");
}

#[tokio::test]
async fn a_key_is_remembered_for_24_hours_and_then_free_again() {
    let app = app();
    let p = app.partner().await;
    let idem = unique("idem");
    let body = json!({ "name": unique("c"), "email": unique_email() });
    let before = chrono::Utc::now().timestamp();
    let first = post(&p.key, "/v1/clients", Some(body.clone()), &idem).await;
    first.expect(201);
    let after = chrono::Utc::now().timestamp();

    let (pk, sk, record) = record_of(&idem).await;
    let expires: i64 = record["expiresAt"].as_n().expect("a numeric expiry (the table's TTL attribute)").parse().unwrap();
    let day = 24 * 3600;
    assert!((before + day - 5..=after + day + 5).contains(&expires), "kept for 24 h: expires {} s after the request", expires - before);

    // 23 h 58 min later: still a replay.
    age(&pk, &sk, chrono::Utc::now().timestamp() + 120).await;
    let replay = post(&p.key, "/v1/clients", Some(body.clone()), &idem).await;
    assert_eq!((replay.status, replay.header("idempotent-replayed")), (201, Some("true")));
    assert_eq!(replay.body, first.body);
    let other_body = json!({ "name": unique("c"), "email": unique_email() });
    post(&p.key, "/v1/clients", Some(other_body.clone()), &idem).await.problem(422, "idempotency_key_reused");

    // Just past 24 h: the key is forgotten, so the same request runs again (and finds
    // its email taken) and another body is a new request of its own.
    age(&pk, &sk, chrono::Utc::now().timestamp() - 1).await;
    let rerun = post(&p.key, "/v1/clients", Some(body), &idem).await;
    assert_eq!(rerun.header("idempotent-replayed"), None, "no replay after 24 h: {}", rerun.body);
    rerun.problem(409, "email_taken");
    age(&pk, &sk, chrono::Utc::now().timestamp() - 1).await;
    let fresh = post(&p.key, "/v1/clients", Some(other_body), &idem).await;
    assert_eq!((fresh.status, fresh.header("idempotent-replayed")), (201, None), "{}", fresh.body);
    assert_eq!(app.list_clients(&p.key, "").await.expect(200)["total"], 2);
}

#[tokio::test]
async fn an_idempotency_key_on_a_public_license_route_without_a_license_key_is_a_client_error() {
    // Found by schemathesis: the layer looked the API key up, which the activation
    // functions may not read, and answered 503.
    let app = app();
    let p = app.partner().await;
    for path in ["/v1/licenses/activate", "/v1/licenses/deactivate"] {
        let bare = app.raw(Method::POST, path, &[("x-api-key", &p.key), ("idempotency-key", &unique("idem"))], None).await;
        bare.problem(415, "unsupported_media_type");
        let no_key = app.call_with(Method::POST, path, &p.key, Some(json!({ "domain": "a.example.com" })), &[("idempotency-key", &unique("idem"))]).await;
        no_key.problem(400, "validation_failed");
        assert_eq!(no_key.error_fields(), ["licenseKey"], "{path}");
    }
}

/// API.md §5a: a request whose function died after claiming its key leaves an
/// "in progress" marker; a repeat is 409 while the marker's lock holds, and once it has
/// passed the repeat takes the key over and runs (then replays as usual). Here the
/// marker is made from a finished request's record, as a function that died before
/// storing its answer would have left it.
#[tokio::test]
async fn a_key_whose_function_died_is_taken_over_once_its_lock_has_passed() {
    let app = app();
    let p = app.partner().await;
    let idem = unique("idem");
    let body = json!({ "permissions": ["clients:view"] });
    let first = app.post_idempotent(&p.key, "/v1/api-keys", Some(body.clone()), &idem).await;
    let first_id = first.expect(201)["id"].as_str().unwrap().to_owned();

    let record = app.idempotency_record(&idem).await.expect("the key's record");
    let key: std::collections::HashMap<_, _> = [("pk", record["pk"].clone()), ("sk", record["sk"].clone())]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    let db = app.dynamodb().await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let mark = |locked_until: i64| {
        db.update_item()
            .table_name("clientele")
            .set_key(Some(key.clone()))
            .update_expression("REMOVE #response SET lockedUntil = :until")
            .expression_attribute_names("#response", "response")
            .expression_attribute_values(":until", AttributeValue::N(locked_until.to_string()))
            .send()
    };

    // The function still holds its lock: the repeat must not run beside it.
    mark(now + 600).await.expect("mark in progress");
    let held = app.post_idempotent(&p.key, "/v1/api-keys", Some(body.clone()), &idem).await;
    held.problem(409, "idempotency_conflict");

    // Its lock has passed: the function is dead, and the repeat takes the key over.
    mark(now - 1).await.expect("let the lock pass");
    let taken = app.post_idempotent(&p.key, "/v1/api-keys", Some(body.clone()), &idem).await;
    let taken_id = taken.expect(201)["id"].as_str().unwrap().to_owned();
    assert_ne!(taken_id, first_id, "the repeat ran again (the dead request's answer was never stored)");
    let replay = app.post_idempotent(&p.key, "/v1/api-keys", Some(body), &idem).await;
    assert_eq!(replay.expect(201)["id"], taken_id.as_str(), "and its answer is the key's from now on");
}
