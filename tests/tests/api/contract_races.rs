//! Races on the platform-wide unique values not covered elsewhere (API.md §2, §3):
//! exactly one of many racing creates wins, the rest are 409 with the matching
//! code, and nothing half-made remains.

use futures::future::join_all;
use serde_json::json;

use crate::helpers::{app, unique, unique_email};

#[tokio::test]
async fn racing_creates_on_one_username_give_exactly_one_201() {
    let app = app();
    let p = app.partner().await;
    let username = unique("racer").to_lowercase();
    let results = join_all((0..10).map(|i| {
        let (key, username) = (p.key.clone(), username.clone());
        async move { app.create_client(&key, json!({ "name": format!("racer {i}"), "email": unique_email(), "username": username })).await }
    }))
    .await;
    let winners: Vec<_> = results.iter().filter(|r| r.status == 201).collect();
    assert_eq!(winners.len(), 1, "statuses: {:?}", results.iter().map(|r| r.status).collect::<Vec<_>>());
    for r in results.iter().filter(|r| r.status != 201) {
        r.problem(409, "username_taken");
        assert_eq!(r.error_fields(), ["username"]);
    }
    let listed = app.list_clients(&p.key, "?limit=100").await;
    assert_eq!(listed.expect(200)["total"], 1, "nothing half-made remains");
    assert_eq!(app.find_client_by_username(&p.key, &username).await.expect(200)["id"], winners[0].body["id"]);
    // The losers' names and emails were not left claimed.
    let loser = results.iter().position(|r| r.status != 201).unwrap();
    app.create_client(&p.key, json!({ "name": format!("racer {loser}"), "email": unique_email() })).await.expect(201);
}

#[tokio::test]
async fn racing_creates_on_one_partner_name_give_exactly_one_201() {
    let app = app();
    let name = unique("RacingPartner");
    let results = join_all((0..10).map(|i| {
        // Differently cased: the name is unique ignoring case.
        let name = if i % 2 == 0 { name.clone() } else { name.to_uppercase() };
        async move { app.create_partner(&app.admin, json!({ "name": name })).await }
    }))
    .await;
    let winners: Vec<_> = results.iter().filter(|r| r.status == 201).collect();
    assert_eq!(winners.len(), 1, "statuses: {:?}", results.iter().map(|r| r.status).collect::<Vec<_>>());
    for r in results.iter().filter(|r| r.status != 201) {
        r.problem(409, "name_taken");
    }
    let id = winners[0].body["id"].as_str().unwrap();
    app.get_partner(&app.admin, id).await.expect(200);
    // The name stays claimed by the winner alone.
    app.create_partner(&app.admin, json!({ "name": name.to_lowercase() })).await.problem(409, "name_taken");
}

