//! The caps of API.md §5a, proven at the cap with the deepest partner tree: however
//! far a tenant grows a resource, its revoke or delete still fits one transaction.

use futures::StreamExt as _;
use serde_json::{Value, json};

use crate::helpers::{Partner, app, unique, unique_email};

/// A partner at the deepest level a tree may have (root = level 1, this = level 8),
/// so that every write fans out to the most ancestor lists and counters.
async fn deepest_partner() -> Partner {
    let app = app();
    let mut p = app.partner().await;
    for _ in 2..=8 {
        p = app.sub_partner(&p).await;
    }
    p
}

async fn license(p: &Partner, client: &Value, max_activations: u64) -> Value {
    let product = app().product().await;
    app()
        .create_license(&p.key, json!({ "productId": product["id"], "tier": "pro", "clientId": client["id"], "maxActivations": max_activations }))
        .await
        .expect(201)
        .clone()
}

/// Activates `n` distinct domains of a license, a few at a time; each must succeed.
async fn activate_domains(license_key: &str, n: usize) {
    let results: Vec<u16> = futures::stream::iter(0..n)
        .map(|i| async move { app().activate(license_key, &format!("site-{i}.example.com")).await.status })
        .buffer_unordered(5)
        .collect()
        .await;
    assert!(results.iter().all(|s| *s == 200), "every activation up to the cap succeeds: {results:?}");
}

#[tokio::test]
async fn a_license_at_25_activations_at_depth_8_can_be_revoked_and_its_client_deleted() {
    let app = app();
    let p = deepest_partner().await;
    let client = app.client(&p).await;
    let full = license(&p, &client, 25).await;
    let key = full["licenseKey"].as_str().unwrap();
    activate_domains(key, 25).await;
    app.activate(key, "one-too-many.example.com").await.problem(409, "invalid_transition");

    let revoked = app.revoke_license(&p.key, full["id"].as_str().unwrap()).await;
    assert_eq!(revoked.expect(200)["status"], "revoked");
    app.activate(key, "site-0.example.com").await.problem(409, "invalid_transition");

    // A second full license, left active: the client's delete revokes it too.
    let other = license(&p, &client, 25).await;
    activate_domains(other["licenseKey"].as_str().unwrap(), 25).await;
    let id = client["id"].as_str().unwrap();
    assert_eq!(app.get_client(&p.key, id).await.expect(200)["domainCount"], 25);
    app.delete_client(&p.key, id).await.expect(204);
    app.get_client(&p.key, id).await.problem(404, "not_found");
    let gone = app.get_license(&p.key, other["id"].as_str().unwrap()).await;
    assert_eq!(gone.expect(200)["status"], "revoked");
}

#[tokio::test]
async fn a_client_with_20_quotas_in_use_at_depth_8_can_be_deleted_and_its_claims_reused() {
    let app = app();
    let p = deepest_partner().await;
    let (name, email, username) = (unique("client"), unique_email(), unique("u"));
    let body = json!({ "name": name, "email": email, "username": username });
    let client = app.create_client(&p.key, body.clone()).await.expect(201).clone();
    let id = client["id"].as_str().unwrap();
    let quotas: serde_json::Map<String, Value> =
        (0..20).map(|i| (format!("res{i}"), json!({ "limit": 100, "period": if i % 2 == 0 { "month" } else { "day" } }))).collect();
    app.set_quotas(&p.key, id, Value::Object(quotas)).await.expect(200);
    for i in 0..20 {
        app.record_usage(&p.key, id, json!({ "resource": format!("res{i}"), "amount": 1 })).await.expect(200);
    }

    app.delete_client(&p.key, id).await.expect(204);
    app.get_client(&p.key, id).await.problem(404, "not_found");
    // Nothing of it is left behind: its name, email and username are free at once.
    app.create_client(&p.key, body).await.expect(201);
}

#[tokio::test]
async fn bulk_delete_of_clients_at_the_caps_reports_every_id() {
    let app = app();
    let p = deepest_partner().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let c = app.client(&p).await;
        let l = license(&p, &c, 25).await;
        activate_domains(l["licenseKey"].as_str().unwrap(), 25).await;
        ids.push(c["id"].as_str().unwrap().to_owned());
    }
    let res = app.bulk_delete(&p.key, json!({ "ids": ids })).await;
    let body = res.expect(200);
    assert_eq!(body["deleted"], json!(ids));
    assert_eq!(body["notFound"], json!([]));
    assert_eq!(body["failed"], json!([]));
}

#[tokio::test]
async fn writes_past_the_caps_are_refused_naming_the_field() {
    let app = app();
    let p = app.partner().await;
    let client = app.client(&p).await;
    let product = app.product().await;
    let res = app
        .create_license(&p.key, json!({ "productId": product["id"], "tier": "pro", "clientId": client["id"], "maxActivations": 26 }))
        .await;
    res.problem(400, "validation_failed");
    assert_eq!(res.error_fields(), ["maxActivations"]);

    let quotas: serde_json::Map<String, Value> = (0..21).map(|i| (format!("res{i}"), json!({ "limit": 1 }))).collect();
    let res = app.set_quotas(&p.key, client["id"].as_str().unwrap(), Value::Object(quotas)).await;
    res.problem(400, "validation_failed");
    assert_eq!(res.error_fields(), ["quotas"]);
}

#[tokio::test]
async fn a_partner_has_at_most_20_webhook_endpoints_even_when_creates_race() {
    let app = app();
    let p = app.partner().await;
    let create = |i: usize| {
        let key = p.key.clone();
        async move {
            let body = json!({ "url": format!("http://127.0.0.1:9/hook-{i}"), "events": ["*"] });
            crate::helpers::app().call(reqwest::Method::POST, "/v1/webhooks", &key, Some(body)).await
        }
    };
    // 24 creates racing for 20 places: exactly 20 win.
    let answers: Vec<_> = futures::stream::iter(0..24).map(create).buffer_unordered(24).collect().await;
    let won: Vec<&Value> = answers.iter().filter(|a| a.status == 201).map(|a| &a.body).collect();
    assert_eq!(won.len(), 20, "statuses: {:?}", answers.iter().map(|a| a.status).collect::<Vec<_>>());
    for lost in answers.iter().filter(|a| a.status != 201) {
        lost.problem(400, "validation_failed");
        assert_eq!(lost.error_fields(), ["partnerId"]);
    }
    let listed = app.call(reqwest::Method::GET, "/v1/webhooks?limit=100", &p.key, None).await;
    assert_eq!(listed.expect(200)["total"], 20);
    // A deleted endpoint frees its place.
    let id = won[0]["id"].as_str().unwrap();
    app.call(reqwest::Method::DELETE, &format!("/v1/webhooks/{id}"), &p.key, None).await.expect(204);
    create(99).await.expect(201);
    create(100).await.problem(400, "validation_failed");
}
