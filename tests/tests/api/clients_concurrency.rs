//! Races: the guarantees hold with several instances per function.

use futures::future::join_all;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{app, unique, unique_email};

#[tokio::test]
async fn racing_creates_on_one_email_give_exactly_one_201() {
    let app = app();
    let p = app.partner().await;
    let email = unique_email();
    let attempts = (0..12).map(|i| {
        let key = p.key.clone();
        let email = email.clone();
        async move { app.create_client(&key, json!({ "name": format!("racer {i}"), "email": email })).await }
    });
    let results = join_all(attempts).await;
    let created = results.iter().filter(|r| r.status == 201).count();
    assert_eq!(created, 1, "statuses: {:?}", results.iter().map(|r| r.status).collect::<Vec<_>>());
    for r in results.iter().filter(|r| r.status != 201) {
        r.problem(409, "email_taken");
    }
    let listed = app.list_clients(&p.key, "?limit=100").await;
    assert_eq!(listed.expect(200)["total"], 1, "nothing half-made remains");
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 1);
    // The losers' names were not left claimed.
    for i in 0..12 {
        let name = format!("racer {i}");
        if listed.body["data"][0]["name"] != name.as_str() {
            app.create_client(&p.key, json!({ "name": name, "email": unique_email() })).await.expect(201);
        }
    }
}

#[tokio::test]
async fn racing_creates_on_one_name_within_a_partner_give_exactly_one_201() {
    let app = app();
    let p = app.partner().await;
    let name = unique("Same");
    let results = join_all((0..8).map(|_| {
        let key = p.key.clone();
        let name = name.clone();
        async move { app.create_client(&key, json!({ "name": name, "email": unique_email() })).await }
    }))
    .await;
    assert_eq!(results.iter().filter(|r| r.status == 201).count(), 1);
    for lost in results.iter().filter(|r| r.status != 201) {
        lost.problem(409, "name_taken");
    }
    assert_eq!(app.list_clients(&p.key, "").await.expect(200)["total"], 1);
}

#[tokio::test]
async fn concurrent_patches_without_if_match_are_all_applied_once() {
    let app = app();
    let p = app.partner().await;
    let c = app.client(&p).await;
    let id = c["id"].as_str().unwrap().to_owned();
    let n = 10;
    let results = join_all((0..n).map(|i| {
        let key = p.key.clone();
        let id = id.clone();
        async move { app.update_client(&key, &id, json!({ "metadata": { format!("k{i}"): "v" } })).await }
    }))
    .await;
    for r in &results {
        r.expect(200);
    }
    let now = app.get_client(&p.key, &id).await;
    let now = now.expect(200);
    assert_eq!(now["version"], n, "each change bumped the version exactly once");
    assert_eq!(now["metadata"].as_object().unwrap().len(), n, "no change was lost: {}", now["metadata"]);
}

#[tokio::test]
async fn concurrent_patches_carrying_one_etag_let_exactly_one_through() {
    let app = app();
    let p = app.partner().await;
    let c = app.client(&p).await;
    let path = format!("/v1/clients/{}", c["id"].as_str().unwrap());
    let results = join_all((0..8).map(|i| {
        let key = p.key.clone();
        let path = path.clone();
        async move {
            app.call_with(Method::PATCH, &path, &key, Some(json!({ "company": format!("co {i}") })), &[("if-match", "\"0\"")]).await
        }
    }))
    .await;
    assert_eq!(results.iter().filter(|r| r.status == 200).count(), 1);
    for r in results.iter().filter(|r| r.status != 200) {
        r.problem(412, "version_mismatch");
    }
    let now = app.get_client(&p.key, c["id"].as_str().unwrap()).await;
    assert_eq!(now.expect(200)["version"], 1);
}

#[tokio::test]
async fn concurrent_creates_keep_the_total_exact() {
    let app = app();
    let p = app.partner().await;
    let results = join_all((0..15).map(|_| {
        let key = p.key.clone();
        async move { app.create_client(&key, json!({ "name": unique("c"), "email": unique_email() })).await }
    }))
    .await;
    assert!(results.iter().all(|r| r.status == 201));
    let listed = app.list_clients(&p.key, "?limit=100").await;
    assert_eq!(listed.expect(200)["total"], 15);
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 15);
}
