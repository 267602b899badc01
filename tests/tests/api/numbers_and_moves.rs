//! API.md §3: every client, partner, product and license has a `number` (a unique
//! positive integer, exact in any JSON parser, never changed), and a client moves to
//! another partner of the caller's tree through PATCH or PUT, in one transaction.

use std::collections::HashSet;

use futures::StreamExt as _;
use serde_json::{Value, json};

use crate::helpers::{Partner, app, unique, unique_email};

const MAX_NUMBER: u64 = (1 << 53) - 1;

#[track_caller]
fn number_of(record: &Value) -> u64 {
    let n = record["number"].as_u64().unwrap_or_else(|| panic!("an integer number: {record}"));
    assert!((1..=MAX_NUMBER).contains(&n), "1 <= number <= 2^53-1: {n}");
    n
}

/// A new product, and a license of it for the client.
async fn product_and_license(p: &Partner, client_id: &str) -> (Value, Value) {
    let product = app().product().await;
    let body = json!({ "productId": product["id"], "tier": "pro", "clientId": client_id, "maxActivations": 3 });
    (product.clone(), app().create_license(&p.key, body).await.expect(201).clone())
}

#[tokio::test]
async fn clients_partners_products_and_licenses_carry_a_unique_number_that_never_changes() {
    let app = app();
    let p = app.partner().await;
    let partner = app.get_partner(&p.key, &p.id).await.expect(200).clone();
    let client = app.client(&p).await;
    let cid = client["id"].as_str().unwrap();
    let (product, license) = product_and_license(&p, cid).await;
    let numbers = [number_of(&partner), number_of(&client), number_of(&license), number_of(&product)];
    assert_eq!(numbers.iter().collect::<HashSet<_>>().len(), 4, "no two records share a number: {numbers:?}");

    // Shown the same on every read, and no write changes it.
    assert_eq!(number_of(app.get_client(&p.key, cid).await.expect(200)), numbers[1]);
    let bad = app.update_client(&p.key, cid, json!({ "number": 7 })).await;
    bad.problem(400, "validation_failed");
    assert_eq!(bad.error_fields(), ["number"]);
    let changed = app.update_client(&p.key, cid, json!({ "company": "Numbered Ltd" })).await;
    assert_eq!(number_of(changed.expect(200)), numbers[1], "a change keeps the number");
    assert_eq!(number_of(app.get_license(&p.key, license["id"].as_str().unwrap()).await.expect(200)), numbers[2]);
}

#[tokio::test]
async fn racing_creates_each_get_a_number_of_their_own() {
    let app = app();
    let p = app.partner().await;
    let created: Vec<Value> = futures::stream::iter(0..40)
        .map(|_| app.create_client(&p.key, json!({ "name": unique("n"), "email": unique_email() })))
        .buffer_unordered(16)
        .map(|r| r.expect(201).clone())
        .collect()
        .await;
    let numbers: HashSet<u64> = created.iter().map(number_of).collect();
    assert_eq!(numbers.len(), 40, "40 creates, 40 numbers");
}

/// A root partner with two sub-partners, and a client of the first.
async fn tree() -> (Partner, Partner, Partner, Value) {
    let app = app();
    let root = app.partner().await;
    let (a, b) = (app.sub_partner(&root).await, app.sub_partner(&root).await);
    let client = app.client(&a).await;
    (root, a, b, client)
}

async fn total(key: &str, query: &str) -> u64 {
    app().list_clients(key, query).await.expect(200)["total"].as_u64().unwrap()
}

#[tokio::test]
async fn a_client_moves_by_id_or_name_and_both_partners_lists_and_totals_follow_at_once() {
    let app = app();
    let (root, a, b, client) = tree().await;
    let cid = client["id"].as_str().unwrap();

    let moved = app.update_client(&root.key, cid, json!({ "directPartner": { "id": b.id } })).await;
    let moved = moved.expect(200);
    assert_eq!(moved["directPartner"], json!({ "id": b.id, "name": b.name }));
    assert_eq!(moved["partner"]["id"], root.id.as_str(), "the root of its new partner's tree");
    assert_eq!(moved["version"], 1);
    assert_eq!(total(&root.key, &format!("?partner={}", a.id)).await, 0, "gone from the partner it left");
    assert_eq!(total(&root.key, &format!("?partner={}", b.id)).await, 1, "listed under the partner it joined");
    assert_eq!(total(&root.key, "").await, 1, "the tree above both still counts it once");
    assert_eq!(total(&b.key, "?status=demo").await, 1, "the new partner's filtered lists follow too");
    app.get_client(&b.key, cid).await.expect(200);
    app.get_client(&a.key, cid).await.problem(404, "not_found");

    // The event carries where it came from; the partner it joined hears of it, the one
    // it left does not (it may not learn about a partner outside its own tree).
    let events = app.list_events(&b.key, "?type=client.updated").await;
    let event = &events.expect(200)["data"][0];
    assert_eq!(event["data"]["object"]["id"], cid);
    assert_eq!(event["data"]["previous"]["directPartner"], json!({ "id": a.id, "name": a.name }));
    assert_eq!(app.list_events(&a.key, "?type=client.updated").await.expect(200)["total"], 0);

    // A move that also suspends is still the client.updated a subscriber to moves waits for.
    let both = app.update_client(&root.key, cid, json!({ "directPartner": { "id": a.id }, "isActive": false })).await;
    assert_eq!(both.expect(200)["isActive"], false);
    let events = app.list_events(&a.key, "?type=client.updated").await;
    assert_eq!(events.expect(200)["data"][0]["data"]["previous"]["directPartner"]["id"], b.id.as_str());
    app.update_client(&root.key, cid, json!({ "directPartner": { "id": b.id }, "isActive": true })).await.expect(200);

    // By name, with PUT; naming the current partner again changes nothing.
    let body = json!({ "name": client["name"], "email": client["email"], "directPartner": { "name": a.name } });
    let back = app.replace_client(&root.key, cid, body).await;
    assert_eq!(back.expect(200)["directPartner"]["id"], a.id.as_str());
    let same = app.update_client(&root.key, cid, json!({ "directPartner": { "id": a.id } })).await;
    assert_eq!(same.expect(200)["directPartner"]["id"], a.id.as_str());
    assert_eq!(same.body["version"], back.body["version"], "naming the current partner again writes nothing");
    assert_eq!(total(&root.key, &format!("?partner={}", a.id)).await, 1);
    assert_eq!(total(&root.key, &format!("?partner={}", b.id)).await, 0);

    // By id and name at once (a client's directPartner sent back as read): the name must
    // be that partner's, in any case; a name of another partner, in the tree or not, is a
    // 400 and nothing moves.
    let upper = b.name.to_uppercase();
    let agreed = app.update_client(&root.key, cid, json!({ "directPartner": { "id": b.id, "name": upper } })).await;
    assert_eq!(agreed.expect(200)["directPartner"]["id"], b.id.as_str());
    let outsider = app.partner().await;
    for other in [a.name.as_str(), outsider.name.as_str(), "no-such-partner"] {
        let res = app.update_client(&root.key, cid, json!({ "directPartner": { "id": a.id, "name": other } })).await;
        if other == a.name {
            res.expect(200);
            app.update_client(&root.key, cid, json!({ "directPartner": { "id": b.id } })).await.expect(200);
            continue;
        }
        res.problem(400, "validation_failed");
        assert_eq!(res.body["errors"][0]["field"], "directPartner.name", "{other}");
        assert_eq!(app.get_client(&root.key, cid).await.expect(200)["directPartner"]["id"], b.id.as_str(), "nothing moved");
    }
    let body = json!({ "name": crate::helpers::unique("two"), "email": crate::helpers::unique_email(), "directPartner": { "id": a.id, "name": b.name } });
    app.create_client(&root.key, body).await.problem(400, "validation_failed");
}

/// A moved client's history as the partner it joined sees it: the events of its time
/// there (its move included), paged and counted alike, so `total` is what the pages hold;
/// the tree above both sees them all.
#[tokio::test]
async fn a_moved_clients_history_pages_and_counts_only_what_its_new_partner_sees() {
    let app = app();
    let (root, a, b, client) = tree().await;
    let cid = client["id"].as_str().unwrap();
    for i in 0..3 {
        app.update_client(&a.key, cid, json!({ "company": format!("Before {i}") })).await.expect(200);
    }
    app.update_client(&root.key, cid, json!({ "directPartner": { "id": b.id } })).await.expect(200);
    app.update_client(&b.key, cid, json!({ "company": "After" })).await.expect(200);

    let history = |key: String| async move {
        let (mut pages, mut path) = (Vec::new(), format!("?clientId={cid}&limit=1"));
        loop {
            let page = app.list_events(&key, &path).await.expect(200).clone();
            let next = page["nextCursor"].as_str().map(|c| format!("?clientId={cid}&limit=1&cursor={c}"));
            pages.push(page);
            match next {
                Some(next) => path = next,
                None => return pages,
            }
        }
    };
    let seen = history(b.key.clone()).await;
    let companies: Vec<&Value> = seen.iter().map(|p| &p["data"][0]["data"]["object"]["company"]).collect();
    assert_eq!(companies, [&json!("After"), &json!("Before 2")], "the update there, then the move (which carries the company it had)");
    assert!(seen.iter().all(|p| p["total"] == 2 && p["data"].as_array().unwrap().len() == 1), "no page empty, every total what the pages hold: {seen:?}");
    let all = history(root.key.clone()).await;
    assert_eq!(all.len(), 6, "created, 3 updates, the move, 1 update");
    assert!(all.iter().all(|p| p["total"] == 6));
}

#[tokio::test]
async fn a_move_needs_the_name_free_there_and_a_partner_of_the_callers_tree() {
    let app = app();
    let (root, a, b, client) = tree().await;
    let cid = client["id"].as_str().unwrap();
    let name = client["name"].as_str().unwrap();
    app.create_client(&b.key, json!({ "name": name, "email": unique_email() })).await.expect(201);

    let taken = app.update_client(&root.key, cid, json!({ "directPartner": { "id": b.id } })).await;
    taken.problem(409, "name_taken");
    let unchanged = app.get_client(&root.key, cid).await;
    assert_eq!(unchanged.expect(200)["directPartner"]["id"], a.id.as_str(), "nothing moved");
    assert_eq!(unchanged.body["version"], 0);
    assert_eq!(total(&root.key, &format!("?partner={}", a.id)).await, 1);
    assert_eq!(total(&root.key, &format!("?partner={}", b.id)).await, 1);

    let stranger = app.partner().await;
    app.update_client(&root.key, cid, json!({ "directPartner": { "id": stranger.id } })).await.problem(404, "not_found");
    app.update_client(&root.key, cid, json!({ "directPartner": { "name": stranger.name } })).await.problem(404, "not_found");
    // A sub-partner cannot move its client up or sideways: the root is outside its tree.
    app.update_client(&a.key, cid, json!({ "directPartner": { "id": root.id } })).await.problem(404, "not_found");
    let cleared = app.update_client(&root.key, cid, json!({ "directPartner": null })).await;
    cleared.problem(400, "validation_failed");
    assert_eq!(cleared.error_fields(), ["directPartner"]);
    let empty = app.update_client(&root.key, cid, json!({ "directPartner": {} })).await;
    empty.problem(400, "validation_failed");
    assert_eq!(app.get_client(&root.key, cid).await.expect(200)["version"], 0, "no failed move wrote anything");
}

#[tokio::test]
async fn a_moved_clients_licenses_go_with_it() {
    let app = app();
    let (root, a, b, client) = tree().await;
    let cid = client["id"].as_str().unwrap();
    let (_, license) = product_and_license(&a, cid).await;
    let lid = license["id"].as_str().unwrap();
    app.update_client(&root.key, cid, json!({ "directPartner": { "id": b.id } })).await.expect(200);

    app.get_license(&b.key, lid).await.expect(200);
    app.get_license(&a.key, lid).await.problem(404, "not_found");
    app.revoke_license(&a.key, lid).await.problem(404, "not_found");
    let key = license["licenseKey"].as_str().unwrap();
    app.activate(key, "moved.example.com").await.expect(200);
    let events = app.list_events(&b.key, "?type=license.activated").await;
    assert_eq!(events.expect(200)["total"], 1, "the new partner hears of its client's license");
    let left = app.list_events(&a.key, "?type=license.activated").await;
    assert_eq!(left.expect(200)["total"], 0, "the partner it left does not");
    assert_eq!(app.revoke_license(&b.key, lid).await.expect(200)["status"], "revoked");
}

#[tokio::test]
async fn a_move_between_the_deepest_partners_of_two_trees_fits_one_write() {
    let app = app();
    // Two chains of 8 levels under the admin; the admin moves a client from the
    // bottom of one to the bottom of the other: every list of both changes at once.
    let mut ends = Vec::new();
    for _ in 0..2 {
        let mut p = app.partner().await;
        for _ in 1..8 {
            p = app.sub_partner(&p).await;
        }
        ends.push(p);
    }
    let client = app.client(&ends[0]).await;
    let cid = client["id"].as_str().unwrap();
    let moved = app.update_client(&app.admin, cid, json!({ "directPartner": { "id": ends[1].id } })).await;
    assert_eq!(moved.expect(200)["directPartner"]["id"], ends[1].id.as_str());
    assert_eq!(total(&ends[0].key, "").await, 0);
    assert_eq!(total(&ends[1].key, "").await, 1);
}

#[tokio::test]
async fn a_deleted_clients_licenses_stay_with_the_tree_it_was_in_last() {
    let app = app();
    let (root, a, b, client) = tree().await;
    let cid = client["id"].as_str().unwrap();
    let (_, license) = product_and_license(&a, cid).await;
    let lid = license["id"].as_str().unwrap();
    // Revoked while under A, then moved to B, then deleted there.
    app.revoke_license(&a.key, lid).await.expect(200);
    app.update_client(&root.key, cid, json!({ "directPartner": { "id": b.id } })).await.expect(200);
    app.delete_client(&b.key, cid).await.expect(204);
    assert_eq!(app.get_license(&b.key, lid).await.expect(200)["status"], "revoked");
    app.get_license(&a.key, lid).await.problem(404, "not_found");
    app.get_license(&root.key, lid).await.expect(200);
}
