//! The seed APIs served beside `/v1` (DIALECTS.md), written from the seed documents
//! in `../shared/seeds/`: the white-label clients API (000, `/v2/clients/...`) and the
//! hosting clients API (003, `/hosting/api/...`). Each is the same operations over
//! the same data: a client made in one is the same client in `/v1` and the others,
//! with the same events, tenancy and errors.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Partner, Resp, app, basic_auth, unique, unique_email};
use crate::receiver::Receiver;

async fn call(key: &str, method: Method, path: &str, body: Option<Value>) -> Resp {
    app().call(method, path, key, body).await
}

fn new_client() -> Value {
    json!({ "name": unique("seed"), "email": unique_email(), "username": unique("s") })
}

// 000: the white-label clients API.

#[tokio::test]
async fn the_white_label_api_runs_a_clients_whole_life_on_its_own_routes() {
    let app = app();
    let p = app.partner().await;
    let created = call(&p.key, Method::POST, "/v2/clients/create", Some(new_client())).await;
    let id = created.expect(201)["id"].as_str().unwrap().to_owned();
    assert_eq!(created.header("location"), Some(format!("/v2/clients/retrieve/{id}").as_str()));
    assert!(created.body["apiKey"].as_str().unwrap().starts_with("cli_live_"), "the client's key, this once");
    assert_eq!(created.body["status"], "demo");

    let read = call(&p.key, Method::GET, &format!("/v2/clients/retrieve/{id}"), None).await;
    assert_eq!(read.expect(200)["id"], id.as_str());
    assert_eq!(read.header("etag"), Some("\"0\""));
    let updated = call(&p.key, Method::POST, &format!("/v2/clients/update/{id}"), Some(json!({ "company": "White Label Ltd" }))).await;
    assert_eq!(updated.expect(200)["company"], "White Label Ltd");
    let stale = app.call_with(Method::POST, &format!("/v2/clients/update/{id}"), &p.key, Some(json!({ "company": "x" })), &[("if-match", "\"0\"")]).await;
    stale.problem(412, "version_mismatch");
    let trial = call(&p.key, Method::POST, &format!("/v2/clients/offer-trial/{id}"), Some(json!({ "days": 14 }))).await;
    assert_eq!(trial.expect(200)["status"], "trial");
    let live = call(&p.key, Method::POST, &format!("/v2/clients/make-live/{id}"), None).await;
    assert_eq!(live.expect(200)["status"], "live");
    call(&p.key, Method::POST, &format!("/v2/clients/offer-trial/{id}"), Some(json!({ "days": 14 }))).await.problem(409, "invalid_transition");

    let list = call(&p.key, Method::GET, "/v2/clients/list?limit=10", None).await;
    let list = list.expect(200);
    assert_eq!(list["total"], 1);
    assert_eq!(list["data"][0]["id"], id.as_str());
    assert!(list["nextCursor"].is_null());

    call(&p.key, Method::DELETE, &format!("/v2/clients/{id}"), None).await.expect(204);
    call(&p.key, Method::GET, &format!("/v2/clients/retrieve/{id}"), None).await.problem(404, "not_found");
    call(&p.key, Method::DELETE, &format!("/v2/clients/{id}"), None).await.problem(404, "not_found");
}

#[tokio::test]
async fn the_white_label_bulk_delete_reports_per_id() {
    let app = app();
    let p = app.partner().await;
    let (a, b) = (app.client(&p).await, app.client(&p).await);
    let missing = uuid::Uuid::now_v7().to_string();
    let body = json!({ "ids": [a["id"], b["id"], missing] });
    let done = call(&p.key, Method::POST, "/v2/clients/bulk/delete", Some(body)).await;
    let done = done.expect(200);
    assert_eq!(done["deleted"].as_array().unwrap().len(), 2);
    assert_eq!(done["notFound"], json!([missing]));
    call(&p.key, Method::POST, "/v2/clients/bulk/delete", Some(json!({ "ids": [] }))).await.problem(400, "validation_failed");
}

#[tokio::test]
async fn the_white_label_apis_webhooks_are_the_v1_events() {
    let app = app();
    let p = app.partner().await;
    let receiver = Receiver::start().await;
    let hook = json!({ "url": receiver.url, "events": ["client.created", "client.updated", "client.removed"] });
    app.call(Method::POST, "/v1/webhooks", &p.key, Some(hook)).await.expect(201);
    let created = call(&p.key, Method::POST, "/v2/clients/create", Some(new_client())).await;
    let id = created.expect(201)["id"].as_str().unwrap().to_owned();
    call(&p.key, Method::POST, &format!("/v2/clients/update/{id}"), Some(json!({ "company": "Hooked" }))).await.expect(200);
    call(&p.key, Method::DELETE, &format!("/v2/clients/{id}"), None).await.expect(204);
    let got = receiver.wait_for(3, 60, |_| true).await;
    let mut types: Vec<String> = got.iter().map(|r| r.json()["type"].as_str().unwrap().to_owned()).collect();
    types.sort();
    assert_eq!(types, ["client.created", "client.removed", "client.updated"]);
    assert!(got.iter().all(|r| r.json()["data"]["object"]["id"] == id.as_str()));
}

// 003: the hosting clients API.

#[tokio::test]
async fn the_hosting_api_creates_reads_updates_and_deletes_a_client() {
    let app = app();
    let p = app.partner().await;
    let created = call(&p.key, Method::POST, "/hosting/api/client", Some(new_client())).await;
    let client = created.expect(201).clone();
    let id = client["id"].as_str().unwrap();
    assert_eq!(created.header("location"), Some(format!("/hosting/api/client/{id}").as_str()));

    let missing = call(&p.key, Method::POST, "/hosting/api/client", Some(json!({ "company": "No Name" }))).await;
    missing.problem(400, "validation_failed");
    assert_eq!(missing.error_fields(), ["name", "email"], "invalid or missing properties, each named");

    assert_eq!(call(&p.key, Method::GET, &format!("/hosting/api/client/{id}"), None).await.expect(200)["name"], client["name"]);
    let unknown = uuid::Uuid::now_v7();
    call(&p.key, Method::GET, &format!("/hosting/api/client/{unknown}"), None).await.problem(404, "not_found");

    let replaced = json!({ "name": client["name"], "email": client["email"], "company": "Hosted GmbH" });
    let put = call(&p.key, Method::PUT, &format!("/hosting/api/client/{id}"), Some(replaced)).await;
    assert_eq!(put.expect(200)["company"], "Hosted GmbH");
    assert!(put.body["username"].is_null(), "PUT replaces: the username it left out is cleared");
    let bad = call(&p.key, Method::PUT, &format!("/hosting/api/client/{id}"), Some(json!({ "name": "" }))).await;
    bad.problem(400, "validation_failed");
    call(&p.key, Method::PUT, &format!("/hosting/api/client/{unknown}"), Some(new_client())).await.problem(404, "not_found");

    // The seed's PUT takes a Client, as its GET (or its list) shows it: read, change one
    // field, send it all back. What only shows the client is taken as it is; a shown
    // value that is not the client's (an old version, another status) is refused, named.
    let listed = call(&p.key, Method::GET, "/hosting/api/client", None).await;
    let mut read = listed.expect(200).as_array().unwrap().iter().find(|c| c["id"] == id).unwrap().clone();
    read["company"] = json!("Read Back AG");
    let put = call(&p.key, Method::PUT, &format!("/hosting/api/client/{id}"), Some(read.clone())).await;
    assert_eq!(put.expect(200)["company"], "Read Back AG");
    assert_eq!(put.body["version"], read["version"].as_u64().unwrap() + 1);
    for (field, value) in [("version", read["version"].clone()), ("status", json!("live"))] {
        let mut stale = put.body.clone();
        stale[field] = value;
        let res = call(&p.key, Method::PUT, &format!("/hosting/api/client/{id}"), Some(stale)).await;
        res.problem(400, "validation_failed");
        assert_eq!(res.error_fields(), [field]);
    }
    // Another tenant's client is never compared with (that would tell its values): its
    // shown members are refused whether they are right or wrong, and a plain body is a 404.
    let stranger = app.partner().await;
    let mut wrong = put.body.clone();
    wrong["version"] = json!(99);
    for body in [put.body.clone(), wrong] {
        let res = call(&stranger.key, Method::PUT, &format!("/hosting/api/client/{id}"), Some(body)).await;
        res.problem(400, "validation_failed");
        assert!(res.error_fields().contains(&"id".to_owned()), "{:?}", res.error_fields());
    }
    let plain = json!({ "name": put.body["name"], "email": put.body["email"] });
    call(&stranger.key, Method::PUT, &format!("/hosting/api/client/{id}"), Some(plain)).await.problem(404, "not_found");

    call(&p.key, Method::DELETE, &format!("/hosting/api/client/{id}"), None).await.expect(204);
    call(&p.key, Method::DELETE, &format!("/hosting/api/client/{id}"), None).await.problem(404, "not_found");
}

#[tokio::test]
async fn the_hosting_list_is_every_client_with_its_api_calls_and_activated_domains() {
    let app = app();
    let p = app.partner().await;
    let (plain, licensed) = (app.client(&p).await, app.client(&p).await);
    let licensed_id = licensed["id"].as_str().unwrap();
    app.set_quotas(&p.key, licensed_id, json!({ "apiCalls": { "limit": 100, "period": "month" } })).await.expect(200);
    app.record_usage(&p.key, licensed_id, json!({ "resource": "apiCalls", "amount": 7 })).await.expect(200);
    let product = app.product().await;
    let body = json!({ "productId": product["id"], "tier": "pro", "clientId": licensed_id, "maxActivations": 3 });
    let license = app.create_license(&p.key, body).await;
    let key = license.expect(201)["licenseKey"].as_str().unwrap().to_owned();
    for domain in ["b.example.com", "a.example.com"] {
        app.activate(&key, domain).await.expect(200);
    }

    let list = call(&p.key, Method::GET, "/hosting/api/client", None).await;
    let all = list.expect(200).as_array().expect("an array, as the seed shows").clone();
    assert_eq!(all.len(), 2);
    let by_id = |id: &Value| all.iter().find(|c| c["id"] == *id).unwrap().clone();
    let (l, q) = (by_id(&licensed["id"]), by_id(&plain["id"]));
    assert_eq!(l["actualCallCount"], 7);
    assert_eq!(l["domainCountData"], json!(["a.example.com", "b.example.com"]));
    assert_eq!(l["domainCount"], 2);
    assert_eq!((q["actualCallCount"].clone(), q["domainCountData"].clone()), (json!(0), json!([])));
    assert_eq!(q["email"], plain["email"], "each element is the whole client");

    // Another tenant's list holds none of these.
    let other = app.partner().await;
    let theirs = call(&other.key, Method::GET, "/hosting/api/client", None).await;
    assert_eq!(theirs.expect(200), &json!([]));
}

#[tokio::test]
async fn the_hosting_list_past_its_cap_points_to_v1s_cursor_instead_of_cutting_off() {
    // `make test` runs the stack with WHOLE_LIST_CAP=25 (1000 by default).
    let app = app();
    let p = app.partner().await;
    let bodies: Vec<Value> = (0..26).map(|_| json!({ "name": unique("cap"), "email": unique_email() })).collect();
    let key = &p.key;
    futures::future::join_all(bodies.into_iter().map(|b| async move { app.create_client(key, b).await.expect(201).clone() })).await;
    let over = call(&p.key, Method::GET, "/hosting/api/client", None).await;
    over.problem(400, "validation_failed");
    assert_eq!(over.error_fields(), ["clients"]);
    assert!(over.body["errors"][0]["message"].as_str().unwrap().contains("/v1/clients"), "{}", over.body);
    // The same tree pages fine through /v1.
    assert_eq!(app.list_clients(&p.key, "?limit=100").await.expect(200)["total"], 26);
}

#[tokio::test]
async fn the_hosting_api_finds_a_client_by_username_by_api_key_and_by_the_deprecated_search() {
    let app = app();
    let p = app.partner().await;
    let created = app.create_client(&p.key, new_client()).await;
    let client = created.expect(201).clone();
    let (id, username, email) = (client["id"].clone(), client["username"].as_str().unwrap(), client["email"].as_str().unwrap());
    let api_key = client["apiKey"].as_str().unwrap();

    let found = call(&p.key, Method::GET, &format!("/hosting/api/client/by-username/{username}"), None).await;
    assert_eq!(found.expect(200)["id"], id);
    call(&p.key, Method::GET, "/hosting/api/client/by-username/nobody-here", None).await.problem(404, "not_found");

    let found = call(&p.key, Method::GET, &format!("/hosting/api/client/by-apiKey/{api_key}"), None).await;
    assert_eq!(found.expect(200)["id"], id);
    assert!(found.body.get("apiKey").is_none(), "the key is never shown again");
    call(&p.key, Method::GET, "/hosting/api/client/by-apiKey/cli_live_not_a_key", None).await.problem(404, "not_found");
    // A key sent to a route that does not take one (the wrong case, a missing segment) is
    // still never echoed nor logged.
    for path in [format!("/hosting/api/client/by-apikey/{api_key}"), format!("/hosting/api/client/{api_key}")] {
        let wrong = call(&p.key, Method::GET, &path, None).await;
        assert_eq!(wrong.status, 404, "{path}");
        assert!(!wrong.body.to_string().contains(api_key), "{path}: the key echoed: {}", wrong.body);
    }
    // The seed puts the key in the URL; our request log names the route, never the key.
    let env = std::env::var("CLIENTELE_ENV_FILE").expect("CLIENTELE_ENV_FILE");
    let log = std::fs::read_to_string(std::path::Path::new(&env).parent().unwrap().join("api.log")).unwrap_or_default();
    assert!(log.contains("/hosting/api/client/by-apiKey/{apiKey}"), "the lookup was logged by its route");
    assert!(!log.contains(api_key), "a client API key in the API log");

    for term in [username, email] {
        let found = call(&p.key, Method::GET, &format!("/hosting/api/clientgetid/{term}"), None).await;
        assert_eq!(found.expect(200)["id"], id, "{term}");
        assert_eq!(found.header("deprecation"), Some("true"));
        let link = found.header("link").unwrap_or_default();
        assert!(link.contains("</v1/clients/search>") && link.contains("rel=\"successor-version\""), "{link}");
    }
    let none = call(&p.key, Method::GET, "/hosting/api/clientgetid/nobody@example.com", None).await;
    none.problem(404, "not_found");
    assert_eq!(none.header("deprecation"), Some("true"), "a deprecated route says so on its errors too");
    // /v1's search answers without the deprecation.
    assert!(app.search_clients(&p.key, username).await.header("deprecation").is_none());
}

#[tokio::test]
async fn a_client_made_in_one_dialect_is_the_same_client_in_every_other_and_in_v1() {
    let app = app();
    let p = app.partner().await;
    let made = call(&p.key, Method::POST, "/hosting/api/client", Some(new_client())).await;
    let id = made.expect(201)["id"].as_str().unwrap().to_owned();
    call(&p.key, Method::POST, &format!("/v2/clients/update/{id}"), Some(json!({ "company": "Shared" }))).await.expect(200);
    let views = [
        call(&p.key, Method::GET, &format!("/v1/clients/{id}"), None).await,
        call(&p.key, Method::GET, &format!("/v2/clients/retrieve/{id}"), None).await,
        call(&p.key, Method::GET, &format!("/hosting/api/client/{id}"), None).await,
    ];
    for v in &views {
        assert_eq!(v.expect(200), views[0].expect(200), "one client, one representation of it here");
        assert_eq!(v.body["company"], "Shared");
        assert_eq!(v.body["version"], 1);
    }
}

/// Another tenant's client answers 404 on every dialect route that names it, exactly as
/// if it did not exist.
#[tokio::test]
async fn another_tenants_client_is_not_found_in_every_dialect() {
    let app = app();
    let (owner, stranger): (Partner, Partner) = (app.partner().await, app.partner().await);
    let created = app.create_client(&owner.key, new_client()).await;
    let client = created.expect(201).clone();
    let id = client["id"].as_str().unwrap();
    let (username, key) = (client["username"].as_str().unwrap(), client["apiKey"].as_str().unwrap());
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/v2/clients/retrieve/{id}"), None),
        (Method::POST, format!("/v2/clients/update/{id}"), Some(json!({ "company": "x" }))),
        (Method::POST, format!("/v2/clients/make-live/{id}"), None),
        (Method::POST, format!("/v2/clients/offer-trial/{id}"), Some(json!({ "days": 3 }))),
        (Method::DELETE, format!("/v2/clients/{id}"), None),
        (Method::GET, format!("/hosting/api/client/{id}"), None),
        (Method::PUT, format!("/hosting/api/client/{id}"), Some(new_client())),
        (Method::DELETE, format!("/hosting/api/client/{id}"), None),
        (Method::GET, format!("/hosting/api/client/by-username/{username}"), None),
        (Method::GET, format!("/hosting/api/client/by-apiKey/{key}"), None),
        (Method::GET, format!("/hosting/api/clientgetid/{username}"), None),
    ];
    for (method, path, body) in routes {
        let answer = call(&stranger.key, method.clone(), &path, body).await;
        assert_eq!(answer.status, 404, "{method} {path}: {}", answer.body);
        answer.problem(404, "not_found");
    }
    let bulk = call(&stranger.key, Method::POST, "/v2/clients/bulk/delete", Some(json!({ "ids": [id] }))).await;
    assert_eq!(bulk.expect(200)["notFound"], json!([id]));
    let list = call(&stranger.key, Method::GET, "/v2/clients/list", None).await;
    assert_eq!(list.expect(200)["total"], 0);
    // Nothing changed for the owner.
    let theirs = app.get_client(&owner.key, id).await;
    assert_eq!((theirs.expect(200)["version"].clone(), theirs.body["status"].clone()), (json!(0), json!("demo")));
}

// 002: the reseller portal's clients API.

async fn partner_of_type(kind: &str) -> Partner {
    app().partner_of_type(kind).await
}

#[tokio::test]
async fn the_portal_runs_the_seeds_typical_workflow_with_integer_ids_and_snake_case() {
    let app = app();
    let reseller = partner_of_type("reseller").await;
    let receiver = Receiver::start().await;
    let hook = json!({ "url": receiver.url, "events": ["license.activated"] });
    app.call(Method::POST, "/v1/webhooks", &reseller.key, Some(hook)).await.expect(201);

    // 1. Create a sub-client.
    let email = unique_email();
    let created = call(&reseller.key, Method::POST, "/api/v1/portal/clients", Some(json!({ "email": email, "name": "My Client" }))).await;
    let client = created.expect(201).clone();
    let client_id = client["id"].as_u64().expect("an integer id, as the seed shows");
    assert_eq!(client, json!({ "id": client_id, "email": email, "name": "My Client", "company": null, "license_count": 0 }));

    // 2. Create licenses for the client, by the products' and the client's integer ids.
    let mut keys = Vec::new();
    for tier in ["starter", "pro"] {
        let product = app.product().await;
        let body = json!({ "product_id": product["number"], "tier": tier, "customer_id": client_id, "max_activations": 2 });
        let license = call(&reseller.key, Method::POST, "/api/v1/portal/licenses", Some(body)).await;
        let license = license.expect(201).clone();
        assert!(license["id"].is_u64());
        assert_eq!(license["product"], json!({ "id": product["number"], "name": product["name"], "slug": product["slug"] }));
        assert_eq!((license["tier"].as_str(), license["status"].as_str()), (Some(tier), Some("active")));
        assert_eq!(license["activations"], json!([]));
        let key = license["license_key"].as_str().unwrap().to_owned();
        assert!(!key.ends_with("..."), "the whole key, this once");
        keys.push(key);
    }

    // 3. Check the client's licenses: keys as their prefix and "...", never whole.
    app.activate(&keys[0], "client-site.com").await.expect(200);
    let listed = call(&reseller.key, Method::GET, &format!("/api/v1/portal/clients/{client_id}/licenses"), None).await;
    let listed = listed.expect(200).as_array().expect("an array").clone();
    assert_eq!(listed.len(), 2);
    for l in &listed {
        let shown = l["license_key"].as_str().unwrap();
        assert!(shown.ends_with("...") && keys.iter().any(|k| k.starts_with(shown.trim_end_matches("..."))), "{shown}");
        assert!(keys.iter().all(|k| k != shown));
    }
    let active = listed.iter().find(|l| l["activations"].as_array().unwrap().len() == 1).expect("the activated license");
    assert_eq!(active["activations"][0]["domain"], "client-site.com");
    assert!(active["activations"][0]["activated_at"].is_string());

    // The list of all clients, with its license count.
    let all = call(&reseller.key, Method::GET, "/api/v1/portal/clients", None).await;
    assert_eq!(all.expect(200), &json!([{ "id": client_id, "email": email, "name": "My Client", "company": null, "license_count": 2 }]));

    // 4. The activation's webhook, as in /v1.
    let got = receiver.wait_for(1, 60, |_| true).await;
    assert_eq!(got[0].json()["type"], "license.activated");
    assert_eq!(got[0].json()["data"]["object"]["domain"], "client-site.com");

    // The same client in /v1, whose number is the portal's id.
    let v1 = app.search_clients(&reseller.key, &email).await;
    assert_eq!(v1.expect(200)["number"], client_id);

    // Delete: every license revoked and deactivated on every domain.
    call(&reseller.key, Method::DELETE, &format!("/api/v1/portal/clients/{client_id}"), None).await.expect(204);
    call(&reseller.key, Method::DELETE, &format!("/api/v1/portal/clients/{client_id}"), None).await.problem(404, "not_found");
    call(&reseller.key, Method::GET, &format!("/api/v1/portal/clients/{client_id}/licenses"), None).await.problem(404, "not_found");
    app.activate(&keys[0], "another-site.com").await.problem(409, "invalid_transition");
    assert_eq!(call(&reseller.key, Method::GET, "/api/v1/portal/clients", None).await.expect(200), &json!([]));
}

#[tokio::test]
async fn the_portal_answers_its_seeds_errors() {
    let app = app();
    let agency = partner_of_type("agency").await;
    let taken = app.client(&app.partner().await).await;
    let dup = call(&agency.key, Method::POST, "/api/v1/portal/clients", Some(json!({ "email": taken["email"], "name": "Dup" }))).await;
    dup.problem(400, "validation_failed");
    assert_eq!(dup.error_fields(), ["email"], "an email in use anywhere is the seed's 400");
    let bad = call(&agency.key, Method::POST, "/api/v1/portal/clients", Some(json!({ "email": "nope", "colour": "red" }))).await;
    bad.problem(400, "validation_failed");
    assert_eq!(bad.error_fields(), ["colour"], "unknown fields first, in the seed's names");
    let missing = call(&agency.key, Method::POST, "/api/v1/portal/clients", Some(json!({ "email": "nope" }))).await;
    missing.problem(400, "validation_failed");
    assert_eq!(missing.error_fields(), ["name", "email"]);

    let mine = call(&agency.key, Method::POST, "/api/v1/portal/clients", Some(json!({ "email": unique_email(), "name": "Mine" }))).await;
    let mine = mine.expect(201)["id"].clone();
    let product = app.product().await;
    let wrong_types = json!({ "product_id": "one", "tier": "t", "customer_id": -4 });
    let wrong = call(&agency.key, Method::POST, "/api/v1/portal/licenses", Some(wrong_types)).await;
    wrong.problem(400, "validation_failed");
    assert_eq!(wrong.error_fields(), ["product_id", "customer_id"]);
    let too_many = json!({ "product_id": product["number"], "tier": "t", "customer_id": mine, "max_activations": 26 });
    let too_many = call(&agency.key, Method::POST, "/api/v1/portal/licenses", Some(too_many)).await;
    too_many.problem(400, "validation_failed");
    assert_eq!(too_many.error_fields(), ["max_activations"]);
    let foreign = json!({ "product_id": product["number"], "tier": "t", "customer_id": taken["number"] });
    call(&agency.key, Method::POST, "/api/v1/portal/licenses", Some(foreign)).await.problem(404, "not_found");
    let foreign = call(&agency.key, Method::DELETE, &format!("/api/v1/portal/clients/{}", taken["number"]), None).await;
    foreign.problem(404, "not_found");
    assert_eq!(foreign.body["detail"], format!("Client {} was not found.", taken["number"]), "told in the caller's words, no id");
    let none = call(&agency.key, Method::DELETE, "/api/v1/portal/clients/4242", None).await;
    assert_eq!(none.body["detail"], "Client 4242 was not found.", "exactly as a number no client holds");
    call(&agency.key, Method::GET, &format!("/api/v1/portal/clients/{}/licenses", taken["number"]), None).await.problem(404, "not_found");
    call(&agency.key, Method::DELETE, "/api/v1/portal/clients/not-a-number", None).await.problem(404, "not_found");
}

#[tokio::test]
async fn the_portal_serves_resellers_and_agencies_only() {
    let app = app();
    let plain = app.partner().await;
    let c = app.client(&plain).await;
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/api/v1/portal/clients".into(), None),
        (Method::POST, "/api/v1/portal/clients".into(), Some(json!({ "email": unique_email(), "name": "No" }))),
        (Method::DELETE, format!("/api/v1/portal/clients/{}", c["number"]), None),
        (Method::GET, format!("/api/v1/portal/clients/{}/licenses", c["number"]), None),
        (Method::POST, "/api/v1/portal/licenses".into(), Some(json!({ "product_id": 1, "tier": "t", "customer_id": c["number"] }))),
    ];
    for key in [&plain.key, &app.admin] {
        for (method, path, body) in &routes {
            let answer = call(key, method.clone(), path, body.clone()).await;
            assert_eq!(answer.status, 403, "{method} {path}: {}", answer.body);
            answer.problem(403, "forbidden");
        }
    }
    assert_eq!(app.get_client(&plain.key, c["id"].as_str().unwrap()).await.expect(200)["version"], 0, "nothing happened");
}

// 001: the partner (tokenization) clients API.

/// Seed 001's error body: `{ uuid, errorCode: 7000 + status, message }`, as JSON.
#[track_caller]
fn seed_001_error(r: &Resp, status: u16) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.body["errorCode"], 7000 + status, "{}", r.body);
    assert_eq!(r.body["uuid"].as_str(), r.header("x-request-id"), "uuid is the request id");
    assert!(r.body["message"].is_string());
    let mut keys: Vec<&str> = r.body.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["errorCode", "message", "uuid"], "the seed's members only");
}

async fn partner_number(p: &Partner) -> u64 {
    app().get_partner(&p.key, &p.id).await.expect(200)["number"].as_u64().unwrap()
}

async fn basic(auth: &str, method: Method, path: &str, body: Option<Value>) -> Resp {
    let mut headers = vec![("authorization", auth)];
    let bytes = body.map(|b| {
        headers.push(("content-type", "application/json"));
        serde_json::to_vec(&b).unwrap()
    });
    app().raw(method, path, &headers, bytes).await
}

#[tokio::test]
async fn the_partner_api_creates_lists_gets_moves_and_deletes_with_basic_and_integer_ids() {
    let app = app();
    let root = app.partner().await;
    let (a, b) = (app.sub_partner(&root).await, app.sub_partner(&root).await);
    let (a_number, b_number, root_number) = (partner_number(&a).await, partner_number(&b).await, partner_number(&root).await);
    let username = unique("ops").to_lowercase();
    let teammate = json!({ "username": username, "password": "a long enough passphrase" });
    app.call(Method::POST, "/v1/teammates", &root.key, Some(teammate)).await.expect(201);
    let auth = basic_auth(&username, "a long enough passphrase");

    // Create: the id is an integer; the seed's body, directPartner by id and name.
    let body = json!({
        "name": "Test Client 2", "isActive": false,
        "directPartner": { "id": a_number, "name": a.name },
        "contact": { "id": 2666, "firstName": "WATERFORD", "lastName": "Example", "email": "waterford@example.com" },
        "mid": "merchantId123", "billingId": "cba321", "location": 12,
    });
    let created = basic(&auth, Method::POST, "/api/v1/clients", Some(body)).await;
    let id = created.expect(201)["id"].as_u64().expect("an integer id");
    assert_eq!(created.body, json!({ "id": id }));

    // List: by partner (id or name), take and skip; the seed's summary, exactly.
    let summary = json!({
        "id": id, "name": "Test Client 2", "mid": "merchantId123", "isActive": false, "version": 0,
        "partner": { "id": root_number, "name": root.name }, "directPartner": { "id": a_number, "name": a.name },
        "contact": { "id": 2666 }, "billingId": "cba321",
    });
    for partner in [a_number.to_string(), a.name.clone()] {
        let list = basic(&auth, Method::GET, &format!("/api/v1/clients?partner={partner}&take=10&skip=0"), None).await;
        assert_eq!(list.expect(200), &json!({ "total": 1, "data": [summary] }), "partner={partner}");
    }
    let skipped = basic(&auth, Method::GET, &format!("/api/v1/clients?partner={a_number}&skip=1"), None).await;
    assert_eq!(skipped.expect(200), &json!({ "total": 1, "data": [] }));
    seed_001_error(&basic(&auth, Method::GET, "/api/v1/clients", None).await, 400);

    // Get: the summary with its times, the whole contact and the location id.
    let got = basic(&auth, Method::GET, &format!("/api/v1/clients/{id}"), None).await;
    let got = got.expect(200).clone();
    assert_eq!(got["contact"], json!({ "id": 2666, "firstName": "WATERFORD", "lastName": "Example", "email": "waterford@example.com" }));
    assert_eq!(got["location"], 12);
    assert!(got["created"].is_string() && got["modified"].is_string());
    // The same client in /v1: no email (this seed has none), suspended.
    let v1 = app.list_clients(&root.key, &format!("?partner={}", a.id)).await;
    let v1 = v1.expect(200)["data"][0].clone();
    assert_eq!((v1["email"].clone(), v1["isActive"].clone()), (Value::Null, json!(false)));

    // Update: partial; directPartner moves the client; the answer is its id.
    let patch = json!({ "name": "Updated Test Client 2", "isActive": true, "directPartner": { "id": b_number } });
    let updated = basic(&auth, Method::PATCH, &format!("/api/v1/clients/{id}"), Some(patch)).await;
    assert_eq!(updated.expect(200), &json!({ "id": id }));
    let got = basic(&auth, Method::GET, &format!("/api/v1/clients/{id}"), None).await;
    let got = got.expect(200);
    assert_eq!((got["name"].as_str(), got["isActive"].as_bool(), got["version"].as_u64()), (Some("Updated Test Client 2"), Some(true), Some(1)));
    assert_eq!(got["directPartner"], json!({ "id": b_number, "name": b.name }));
    assert_eq!(got["contact"]["id"], 2666, "untouched");
    // A contact of null clears it all, the caller's contact id with it.
    basic(&auth, Method::PATCH, &format!("/api/v1/clients/{id}"), Some(json!({ "contact": null }))).await.expect(200);
    let got = basic(&auth, Method::GET, &format!("/api/v1/clients/{id}"), None).await;
    assert_eq!(got.expect(200)["contact"], json!({ "id": null, "firstName": null, "lastName": null, "email": null }));

    // Delete: 200, then the seed's 404 body.
    basic(&auth, Method::DELETE, &format!("/api/v1/clients/{id}"), None).await.expect(200);
    let gone = basic(&auth, Method::DELETE, &format!("/api/v1/clients/{id}"), None).await;
    seed_001_error(&gone, 404);
    assert_eq!(gone.body["message"], "Requested resource cannot be found.");
}

#[tokio::test]
async fn the_partner_api_answers_every_error_in_its_seeds_shape() {
    let app = app();
    let p = app.partner().await;
    let stranger = app.partner().await;
    let made = call(&p.key, Method::POST, "/api/v1/clients", Some(json!({ "name": "Once" }))).await;
    let id = made.expect(201)["id"].as_u64().unwrap();

    seed_001_error(&app.raw(Method::GET, &format!("/api/v1/clients/{id}"), &[], None).await, 401);
    let viewer = app.create_api_key(&p.key, json!({ "permissions": ["clients:view"] })).await;
    let viewer = viewer.expect(201)["key"].as_str().unwrap().to_owned();
    seed_001_error(&call(&viewer, Method::POST, "/api/v1/clients", Some(json!({ "name": "No" }))).await, 403);
    // Every bad field in one answer: the seed's own (contact.id, isActive, an integer
    // location) beside those it shares with /v1.
    let body = json!({ "name": "", "colour": 1, "contact": { "id": "x" }, "isActive": "yes", "location": -3 });
    let bad = call(&p.key, Method::POST, "/api/v1/clients", Some(body)).await;
    seed_001_error(&bad, 400);
    let message = bad.body["message"].as_str().unwrap();
    for field in ["name:", "colour:", "contact.id:", "isActive:", "location:"] {
        assert!(message.contains(field), "{field} in {message}");
    }
    let bad = call(&p.key, Method::PATCH, &format!("/api/v1/clients/{id}"), Some(json!({ "name": "", "location": 1.5 }))).await;
    seed_001_error(&bad, 400);
    let message = bad.body["message"].as_str().unwrap();
    assert!(message.contains("name:") && message.contains("location:"), "{message}");
    seed_001_error(&call(&p.key, Method::POST, "/api/v1/clients", Some(json!({ "name": "Once" }))).await, 409);
    seed_001_error(&call(&p.key, Method::POST, "/api/v1/clients", Some(json!({ "name": "X", "directPartner": { "id": 1 } }))).await, 404);
    let stale = app.call_with(Method::PATCH, &format!("/api/v1/clients/{id}"), &p.key, Some(json!({ "mid": "m" })), &[("if-match", "\"7\"")]).await;
    seed_001_error(&stale, 412);
    seed_001_error(&app.raw(Method::POST, "/api/v1/clients", &[("x-api-key", &p.key)], Some(b"{}".to_vec())).await, 415);
    seed_001_error(&call(&p.key, Method::PUT, &format!("/api/v1/clients/{id}"), Some(json!({}))).await, 405);

    // Another tenant's client: 404 on every route that names it; its list is its own.
    for (method, body) in [(Method::GET, None), (Method::PATCH, Some(json!({ "mid": "x" }))), (Method::DELETE, None)] {
        seed_001_error(&call(&stranger.key, method, &format!("/api/v1/clients/{id}"), body).await, 404);
    }
    seed_001_error(&call(&stranger.key, Method::GET, &format!("/api/v1/clients?partner={}", p.id), None).await, 404);
    seed_001_error(&call(&stranger.key, Method::GET, "/api/v1/clients/not-a-number", None).await, 404);
    let mine = call(&p.key, Method::GET, &format!("/api/v1/clients/{id}"), None).await;
    assert_eq!(mine.expect(200)["version"], 0, "nothing above changed the client");
}

#[tokio::test]
async fn the_partner_apis_changes_are_the_v1_webhooks() {
    let app = app();
    let p = app.partner().await;
    let receiver = Receiver::start().await;
    let hook = json!({ "url": receiver.url, "events": ["client.created", "client.updated", "client.removed"] });
    app.call(Method::POST, "/v1/webhooks", &p.key, Some(hook)).await.expect(201);
    let made = call(&p.key, Method::POST, "/api/v1/clients", Some(json!({ "name": unique("hooked") }))).await;
    let id = made.expect(201)["id"].as_u64().unwrap();
    call(&p.key, Method::PATCH, &format!("/api/v1/clients/{id}"), Some(json!({ "billingId": "b-1" }))).await.expect(200);
    call(&p.key, Method::DELETE, &format!("/api/v1/clients/{id}"), None).await.expect(200);
    let got = receiver.wait_for(3, 60, |_| true).await;
    let mut types: Vec<String> = got.iter().map(|r| r.json()["type"].as_str().unwrap().to_owned()).collect();
    types.sort();
    assert_eq!(types, ["client.created", "client.removed", "client.updated"]);
    assert!(got.iter().all(|r| r.json()["data"]["object"]["number"] == id));
}

#[tokio::test]
async fn a_client_made_through_the_portal_is_the_same_client_in_every_dialect_and_in_v1() {
    let app = app();
    let reseller = partner_of_type("reseller").await;
    let email = unique_email();
    let made = call(&reseller.key, Method::POST, "/api/v1/portal/clients", Some(json!({ "email": email, "name": "Everywhere" }))).await;
    let number = made.expect(201)["id"].as_u64().unwrap();
    let v1 = app.search_clients(&reseller.key, &email).await;
    let id = v1.expect(200)["id"].as_str().unwrap().to_owned();
    assert_eq!(v1.body["number"], number);
    let partner_api = call(&reseller.key, Method::GET, &format!("/api/v1/clients/{number}"), None).await;
    assert_eq!((partner_api.expect(200)["id"].as_u64(), partner_api.body["name"].as_str()), (Some(number), Some("Everywhere")));
    for path in [format!("/v2/clients/retrieve/{id}"), format!("/hosting/api/client/{id}")] {
        let seen = call(&reseller.key, Method::GET, &path, None).await;
        assert_eq!(seen.expect(200), v1.expect(200), "{path}");
    }
    let portal = call(&reseller.key, Method::GET, "/api/v1/portal/clients", None).await;
    assert_eq!(portal.expect(200)[0]["id"], number);
}

#[tokio::test]
async fn the_portals_licenses_of_one_client_past_the_cap_point_to_v1() {
    // `make test` runs the stack with WHOLE_LIST_CAP=25 (1000 by default).
    let app = app();
    let reseller = partner_of_type("reseller").await;
    let made = call(&reseller.key, Method::POST, "/api/v1/portal/clients", Some(json!({ "email": unique_email(), "name": "Many" }))).await;
    let number = made.expect(201)["id"].as_u64().unwrap();
    let product = app.product().await;
    let body = json!({ "product_id": product["number"], "tier": "t", "customer_id": number });
    let (key, body) = (&reseller.key, &body);
    let creates = (0..26).map(|_| async move { call(key, Method::POST, "/api/v1/portal/licenses", Some(body.clone())).await.expect(201).clone() });
    futures::future::join_all(creates).await;
    let over = call(&reseller.key, Method::GET, &format!("/api/v1/portal/clients/{number}/licenses"), None).await;
    over.problem(400, "validation_failed");
    assert_eq!(over.error_fields(), ["licenses"]);
    assert!(over.body["errors"][0]["message"].as_str().unwrap().contains("/v1/clients/"), "{}", over.body);
}

// Every dialect keeps /v1's guarantees (DIALECTS.md): idempotency keys, uniqueness under
// races, and each of its documented credentials.

#[tokio::test]
async fn the_dialects_keep_idempotency_keys_and_uniqueness_under_races() {
    let app = app();
    let p = app.partner().await;
    let idem = unique("idem");
    let body = new_client();
    let send = |body: Value| {
        let (key, idem) = (p.key.clone(), idem.clone());
        async move { app.call_with(Method::POST, "/v2/clients/create", &key, Some(body), &[("idempotency-key", &idem)]).await }
    };
    let first = send(body.clone()).await;
    let again = send(body).await;
    assert_eq!((first.status, again.status), (201, 201), "{}", again.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body["id"], first.body["id"], "the first response again");
    assert_eq!(app.list_clients(&p.key, "").await.expect(200)["total"], 1, "one client made");

    // Seed 001: the key reused with another body is its 422, in its own error shape.
    let other = json!({ "name": unique("other"), "directPartner": { "id": p.id } });
    let reused = app.call_with(Method::POST, "/api/v1/clients", &p.key, Some(other), &[("idempotency-key", &idem)]).await;
    seed_001_error(&reused, 422);

    // Seed 002: eight creates with one email at once, one client.
    let reseller = partner_of_type("reseller").await;
    let email = unique_email();
    let racing = (0..8).map(|i| {
        let (key, email) = (reseller.key.clone(), email.clone());
        async move { call(&key, Method::POST, "/api/v1/portal/clients", Some(json!({ "email": email, "name": format!("Racer {i}") }))).await }
    });
    let answers = futures::future::join_all(racing).await;
    let made = answers.iter().filter(|r| r.status == 201).count();
    assert_eq!(made, 1, "{:?}", answers.iter().map(|r| r.status).collect::<Vec<_>>());
    for r in answers.iter().filter(|r| r.status != 201) {
        r.problem(400, "validation_failed");
        assert_eq!(r.error_fields(), ["email"]);
    }
    let listed = call(&reseller.key, Method::GET, "/api/v1/portal/clients", None).await;
    assert_eq!(listed.expect(200).as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_portal_takes_a_resellers_bearer_token_and_refuses_a_plain_partners() {
    let app = app();
    let token_of = |p: Partner| async move {
        let username = unique("mate").to_lowercase();
        let mate = json!({ "username": username, "password": "a long enough passphrase" });
        app.call(Method::POST, "/v1/teammates", &p.key, Some(mate)).await.expect(201);
        let basic = basic_auth(&username, "a long enough passphrase");
        let issued = app.raw(Method::POST, "/v1/auth/token", &[("authorization", &basic)], None).await;
        format!("Bearer {}", issued.expect(200)["token"].as_str().unwrap())
    };
    let reseller = partner_of_type("reseller").await;
    call(&reseller.key, Method::POST, "/api/v1/portal/clients", Some(json!({ "email": unique_email(), "name": "Mine" }))).await.expect(201);
    let mine = basic(&token_of(reseller).await, Method::GET, "/api/v1/portal/clients", None).await;
    assert_eq!(mine.expect(200).as_array().unwrap().len(), 1);
    let plain = basic(&token_of(app.partner().await).await, Method::GET, "/api/v1/portal/clients", None).await;
    plain.problem(403, "forbidden");
}

#[tokio::test]
async fn a_portal_delete_revokes_every_license_and_deactivates_it_on_every_domain() {
    let app = app();
    let reseller = partner_of_type("reseller").await;
    let made = call(&reseller.key, Method::POST, "/api/v1/portal/clients", Some(json!({ "email": unique_email(), "name": "Leaving" }))).await;
    let number = made.expect(201)["id"].as_u64().unwrap();
    let product = app.product().await;
    let body = json!({ "product_id": product["number"], "tier": "pro", "customer_id": number, "max_activations": 3 });
    let license = call(&reseller.key, Method::POST, "/api/v1/portal/licenses", Some(body)).await;
    let key = license.expect(201)["license_key"].as_str().unwrap().to_owned();
    for domain in ["a.example.com", "b.example.com"] {
        app.activate(&key, domain).await.expect(200);
    }
    call(&reseller.key, Method::DELETE, &format!("/api/v1/portal/clients/{number}"), None).await.expect(204);
    let listed = app.call(Method::GET, "/v1/events?type=license.revoked&limit=5", &reseller.key, None).await;
    let revoked = &listed.expect(200)["data"][0]["data"]["object"];
    assert_eq!((revoked["status"].clone(), revoked["activations"].clone()), (json!("revoked"), json!([])), "{revoked}");
    let stored = app.call(Method::GET, &format!("/v1/licenses/{}", revoked["id"].as_str().unwrap()), &reseller.key, None).await;
    assert_eq!((stored.expect(200)["status"].clone(), stored.body["activations"].clone()), (json!("revoked"), json!([])));
    app.deactivate("lic_not_a_key_anyone_holds", "a.example.com").await.problem(404, "not_found");
}
