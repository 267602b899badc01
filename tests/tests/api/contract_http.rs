//! The conventions of API.md §1 on every route: 413 and 415 on every route that
//! takes JSON (from the route table infra/routes.tsv and the served OpenAPI
//! document), UUIDv7 ids and millisecond UTC timestamps in every answer.

use std::collections::HashMap;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{ALL_PERMISSIONS, app, basic_auth, unique, unique_email};

/// Every route of infra/routes.tsv: (function, method, path).
fn route_table() -> Vec<(String, String, String)> {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/routes.tsv");
    std::fs::read_to_string(file)
        .expect("infra/routes.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::to_owned).collect::<Vec<_>>())
        // Every HTTP route, the seed dialects' included (not the background functions).
        .filter(|f| f.len() >= 3 && f[2].starts_with('/'))
        .map(|f| (f[0].clone(), f[1].clone(), f[2].clone()))
        .collect()
}

/// (what, headers, body, status, errorCode)
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16, &'a str);

#[tokio::test]
async fn every_json_route_answers_400_for_broken_json_413_over_64_kib_and_415_without_a_json_content_type() {
    let app = app();
    let p = app.partner().await;
    let sub = app.sub_partner(&p).await;
    let c = app.client(&p).await;
    let product = app.product().await;
    let license = app.create_license(&p.key, json!({ "productId": product["id"], "tier": "t", "clientId": c["id"] })).await.expect(201).clone();
    let hook = app.call(Method::POST, "/v1/webhooks", &p.key, Some(json!({ "url": "http://127.0.0.1:9/h", "events": ["*"] }))).await.expect(201).clone();
    let key = app.create_api_key(&p.key, json!({})).await.expect(201).clone();
    let event = app.list_events(&p.key, "?limit=1").await.expect(200)["data"][0].clone();
    let reseller = app.create_partner(&app.admin, json!({ "name": unique("reseller"), "type": "reseller" })).await;
    let reseller = app.create_api_key(&app.admin, json!({ "partnerId": reseller.expect(201)["id"], "permissions": ALL_PERMISSIONS })).await;
    let reseller = reseller.expect(201)["key"].as_str().unwrap().to_owned();
    // Real ids, so that no route can answer 404 before it reads its body.
    let params: HashMap<&str, String> = HashMap::from([
        ("{partnerId}", sub.id.clone()),
        ("{clientId}", c["id"].as_str().unwrap().to_owned()),
        ("{licenseId}", license["id"].as_str().unwrap().to_owned()),
        ("{webhookId}", hook["id"].as_str().unwrap().to_owned()),
        ("{keyId}", key["id"].as_str().unwrap().to_owned()),
        ("{eventId}", event["id"].as_str().unwrap().to_owned()),
        ("{teammateId}", "0193a000-0000-7000-8000-000000000000".to_owned()),
        ("{username}", c["username"].as_str().unwrap().to_owned()),
        ("{client_id}", c["number"].to_string()),
    ]);
    let version = app.get_client(&p.key, c["id"].as_str().unwrap()).await.expect(200)["version"].clone();
    let doc = app.raw(Method::GET, "/v1/openapi.json", &[], None).await.expect(200).clone();
    let takes_json = |method: &str, path: &str| doc["paths"][path][method.to_lowercase()]["requestBody"]["content"].get("application/json").is_some();

    let big = format!("{{\"name\":\"{}\"}}", "a".repeat(65 * 1024)).into_bytes();
    let mut checked = Vec::new();
    for (function, method, template) in route_table() {
        if !takes_json(&method, &template) {
            continue;
        }
        let mut path = template.clone();
        for (name, value) in &params {
            path = path.replace(name, value);
        }
        assert!(!path.contains('{'), "{function}: a path parameter this test does not know: {template}");
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        // The reseller portal serves resellers and agencies only.
        let key = if template.starts_with("/api/v1/portal/") { reseller.as_str() } else { app.admin.as_str() };
        let cases: [Case; 5] = [
            ("not JSON", vec![("content-type", "application/json")], b"{\"name\": ".to_vec(), 400, "malformed_json"),
            ("over 64 KiB", vec![("content-type", "application/json")], big.clone(), 413, "payload_too_large"),
            ("no content type", vec![], b"{}".to_vec(), 415, "unsupported_media_type"),
            ("text/plain", vec![("content-type", "text/plain")], b"{}".to_vec(), 415, "unsupported_media_type"),
            ("form", vec![("content-type", "application/x-www-form-urlencoded")], b"a=b".to_vec(), 415, "unsupported_media_type"),
        ];
        for (case, extra, body, status, code) in cases {
            let mut headers = vec![("x-api-key", key)];
            headers.extend(extra);
            let res = app.raw(m.clone(), &path, &headers, Some(body)).await;
            assert_eq!(res.status, status, "{method} {template} ({function}), {case}: {}", res.body);
            if template.starts_with("/api/v1/clients") {
                // Seed 001's own error body.
                assert_eq!(res.body["errorCode"], 7000 + status, "{template}: {}", res.body);
                assert_eq!(res.body["uuid"].as_str(), res.header("x-request-id"));
            } else {
                res.problem(status, code);
            }
        }
        checked.push(format!("{method} {template}"));
    }
    for must in ["POST /v2/clients/create", "POST /api/v1/portal/licenses", "PATCH /api/v1/clients/{client_id}", "PUT /hosting/api/client/{clientId}", "POST /v1/clients", "PATCH /v1/clients/{clientId}", "PUT /v1/clients/{clientId}/quotas", "POST /v1/licenses/activate", "PATCH /v1/webhooks/{webhookId}"] {
        assert!(checked.iter().any(|c| c == must), "{must} was checked: {checked:?}");
    }
    // Nothing above changed the client.
    assert_eq!(app.get_client(&p.key, c["id"].as_str().unwrap()).await.expect(200)["version"], version);
}

/// Every id and timestamp in `v`, with where it was found.
fn walk(v: &Value, at: &str, ids: &mut Vec<(String, String)>, times: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) => {
            let actor_of_a_person = map.get("kind").and_then(Value::as_str).is_some_and(|k| k == "apiKey" || k == "teammate");
            for (k, x) in map {
                let here = format!("{at}.{k}");
                if let Value::String(s) = x {
                    let id_field = k == "id" || (k.ends_with("Id") && k != "requestId");
                    // An actor's id is an id when the actor is a key or a person.
                    let is_actor = map.contains_key("kind");
                    if id_field && (!is_actor || actor_of_a_person) {
                        ids.push((here.clone(), s.clone()));
                    }
                    if s.len() >= 11 && s.as_bytes()[..4].iter().all(u8::is_ascii_digit) && s.as_bytes()[4] == b'-' && s.as_bytes()[10] == b'T' {
                        times.push((here.clone(), s.clone()));
                    }
                }
                walk(x, &here, ids, times);
            }
        }
        Value::Array(items) => items.iter().enumerate().for_each(|(i, x)| walk(x, &format!("{at}[{i}]"), ids, times)),
        _ => {}
    }
}

fn is_millisecond_utc(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 24
        && chrono::DateTime::parse_from_rfc3339(s).is_ok()
        && b[19] == b'.'
        && b[20..23].iter().all(u8::is_ascii_digit)
        && b[23] == b'Z'
}

#[tokio::test]
async fn every_id_is_a_uuid_v7_and_every_timestamp_is_utc_with_milliseconds() {
    let app = app();
    let p = app.partner().await;
    let receiver = crate::receiver::Receiver::start().await;
    let mut answers: Vec<(String, Value)> = Vec::new();
    let mut keep = |what: &str, v: &Value| answers.push((what.to_owned(), v.clone()));

    keep("partner", &app.get_partner(&p.key, &p.id).await.expect(200).clone());
    keep("sub-partner", &app.create_partner(&p.key, json!({ "name": unique("sub") })).await.expect(201).clone());
    keep("api key", &app.create_api_key(&p.key, json!({ "name": "k" })).await.expect(201).clone());
    keep("api keys", &app.list_api_keys(&p.key, "").await.expect(200).clone());
    let hook = app.call(Method::POST, "/v1/webhooks", &p.key, Some(json!({ "url": receiver.url, "events": ["*"] }))).await.expect(201).clone();
    keep("webhook", &hook);
    let c = app.client(&p).await;
    keep("client", &c);
    let cid = c["id"].as_str().unwrap();
    keep("trial", &app.offer_trial(&p.key, cid, json!({ "days": 3 })).await.expect(200).clone());
    keep("quotas", &app.set_quotas(&p.key, cid, json!({ "apiCalls": { "limit": 9, "period": "month" } })).await.expect(200).clone());
    keep("usage", &app.record_usage(&p.key, cid, json!({ "resource": "apiCalls", "amount": 1 })).await.expect(200).clone());
    keep("suspended", &app.suspend_client(&p.key, cid, None).await.expect(200).clone());
    keep("clients", &app.list_clients(&p.key, "").await.expect(200).clone());
    let product = app.product().await;
    keep("product", &product);
    let expires = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let license = app.create_license(&p.key, json!({ "productId": product["id"], "tier": "t", "clientId": cid, "expiresAt": expires })).await.expect(201).clone();
    keep("license", &license);
    keep("activation", &app.activate(license["licenseKey"].as_str().unwrap(), "x.example.com").await.expect(200).clone());
    keep("licenses", &app.client_licenses(&p.key, cid).await.expect(200).clone());
    let (username, password) = (unique("mate"), "a long enough password");
    keep("teammate", &app.create_teammate(&p.key, json!({ "username": username, "password": password })).await.expect(201).clone());
    let basic = basic_auth(&username, password);
    keep("token", &app.raw(Method::POST, "/v1/auth/token", &[("authorization", &basic)], None).await.expect(200).clone());
    keep("events", &app.list_events(&p.key, "?limit=100").await.expect(200).clone());
    assert!(receiver.wait_for(2, 60, |_| true).await.len() >= 2, "the endpoint received two deliveries within 60 s");
    let deliveries = app.call(Method::GET, &format!("/v1/webhooks/{}/deliveries", hook["id"].as_str().unwrap()), &p.key, None).await;
    keep("deliveries", &deliveries.expect(200).clone());
    keep("delivered event", &receiver.received()[0].json());
    let problem = app.get_client(&p.key, "0193a000-0000-7000-8000-000000000000").await;
    keep("problem", &problem.body);

    let (mut ids, mut times) = (Vec::new(), Vec::new());
    for (what, v) in &answers {
        walk(v, what, &mut ids, &mut times);
    }
    // (The unknown client's id is the test's own, not the API's.)
    ids.retain(|(_, id)| id != "0193a000-0000-7000-8000-000000000000");
    for (at, id) in &ids {
        let parsed = uuid::Uuid::parse_str(id).unwrap_or_else(|_| panic!("{at} is not a UUID: {id}"));
        assert_eq!(parsed.get_version_num(), 7, "{at} is a UUIDv7: {id}");
    }
    for (at, t) in &times {
        assert!(is_millisecond_utc(t), "{at} is ISO 8601 UTC with milliseconds: {t}");
    }
    for must in ["trial.trialEndsAt", "license.expiresAt", "token.expiresAt", "usage.apiCalls.resetsAt", "events.data[0].createdAt", "deliveries.data[0].at"] {
        assert!(times.iter().any(|(at, _)| at == must), "{must} was checked: {:?}", times.iter().map(|t| &t.0).collect::<Vec<_>>());
    }
    for must in ["client.id", "license.id", "webhook.id", "teammate.id", "product.id", "api key.id", "events.data[0].id", "deliveries.data[0].id", "deliveries.data[0].eventId"] {
        assert!(ids.iter().any(|(at, _)| at == must), "{must} was checked");
    }
    // The x-request-id of an answer is a UUID too (v4 or v7: the contract says UUID).
    assert!(uuid::Uuid::parse_str(problem.header("x-request-id").unwrap()).is_ok());
}

/// API.md §1: a route that takes no body refuses one it cannot read, rather than
/// ignoring it and acting: malformed JSON 400, another media type 415, a member 400
/// naming it; and nothing changes. No body, or `{}`, is what it takes.
#[tokio::test]
async fn a_route_that_takes_no_body_refuses_a_bad_one_and_changes_nothing() {
    let app = app();
    let p = app.partner().await;
    let sub = app.sub_partner(&p).await;
    let product = app.product().await;
    let c = app.client(&p).await;
    let license = app.create_license(&p.key, json!({ "productId": product["id"], "tier": "t", "clientId": c["id"] })).await;
    let lid = license.expect(201)["id"].as_str().unwrap().to_owned();
    let hook = app.call(Method::POST, "/v1/webhooks", &p.key, Some(json!({ "url": "http://127.0.0.1:9/hook", "events": ["*"] }))).await;
    let hid = hook.expect(201)["id"].as_str().unwrap().to_owned();
    let event = app.list_events(&p.key, "?limit=1").await.expect(200)["data"][0]["id"].as_str().unwrap().to_owned();
    let kept_key = app.create_api_key(&p.key, json!({ "permissions": ["clients:view"] })).await;
    let kept_key = kept_key.expect(201)["id"].as_str().unwrap().to_owned();
    let (mate, username, password) = app.teammate_with(&p, &["clients:view"]).await;
    let json_type = ("content-type", "application/json");
    let key = ("x-api-key", p.key.as_str());
    let teammate = basic_auth(&username, &password);
    let teammate = ("authorization", teammate.as_str());
    for (method, path, auth) in [
        (Method::POST, format!("/v1/partners/{}/suspend", sub.id), key),
        (Method::POST, format!("/v1/licenses/{lid}/revoke"), key),
        (Method::POST, format!("/v1/webhooks/{hid}/rotate-secret"), key),
        (Method::POST, format!("/v1/events/{event}/redeliver"), key),
        (Method::POST, "/v1/auth/token".to_owned(), teammate),
        (Method::DELETE, format!("/v1/clients/{}", c["id"].as_str().unwrap()), key),
        (Method::DELETE, format!("/v1/webhooks/{hid}"), key),
        (Method::DELETE, format!("/v1/api-keys/{kept_key}"), key),
        (Method::DELETE, format!("/v1/teammates/{mate}"), key),
    ] {
        let malformed = app.raw(method.clone(), &path, &[auth, json_type], Some(b"{bad".to_vec())).await;
        malformed.problem(400, "malformed_json");
        let member = app.raw(method.clone(), &path, &[auth, json_type], Some(br#"{"foo":1}"#.to_vec())).await;
        member.problem(400, "validation_failed");
        assert_eq!(member.error_fields(), ["foo"], "{method} {path}");
        let text = app.raw(method.clone(), &path, &[auth, ("content-type", "text/plain")], Some(b"hello".to_vec())).await;
        text.problem(415, "unsupported_media_type");
    }
    app.get_client(&p.key, c["id"].as_str().unwrap()).await.expect(200);
    let keys = app.list_api_keys(&p.key, "?limit=100").await;
    assert!(keys.expect(200)["data"].as_array().unwrap().iter().any(|k| k["id"] == kept_key.as_str()), "not revoked by a refused request");
    app.raw(Method::GET, "/v1/clients", &[teammate], None).await.expect(200);
    assert_eq!(app.get_partner(&p.key, &sub.id).await.expect(200)["suspended"], false, "not suspended by a refused request");
    let licenses = app.client_licenses(&p.key, c["id"].as_str().unwrap()).await;
    assert_eq!(licenses.expect(200)["data"][0]["status"], "active", "not revoked by a refused request");
    let hook = app.call(Method::GET, &format!("/v1/webhooks/{hid}"), &p.key, None).await;
    assert_eq!(hook.header("etag"), Some("\"0\""), "no secret rotated by a refused request");
    // What they do take: no body, or an empty object.
    let empty = app.raw(Method::POST, &format!("/v1/partners/{}/suspend", sub.id), &[("x-api-key", &p.key), json_type], Some(b"{}".to_vec())).await;
    assert_eq!(empty.expect(200)["suspended"], true);
    let none = app.raw(Method::POST, &format!("/v1/partners/{}/unsuspend", sub.id), &[("x-api-key", &p.key)], None).await;
    assert_eq!(none.expect(200)["suspended"], false);
}

/// API.md §1 "No credential, or a bad one: 401": a request carrying an API key and an
/// `Authorization` header at once is refused, whichever of them is good, rather than
/// answered as one of them.
#[tokio::test]
async fn a_request_with_two_credentials_is_401_whichever_is_good() {
    let app = app();
    let (p, other) = (app.partner().await, app.partner().await);
    let (_, username, password) = app.teammate_with(&other, &["clients:view"]).await;
    let basic = basic_auth(&username, &password);
    for authorization in ["Bearer garbage.token.here", basic.as_str()] {
        let res = app.raw(Method::GET, "/v1/clients", &[("x-api-key", &p.key), ("authorization", authorization)], None).await;
        res.problem(401, "unauthenticated");
    }
    app.raw(Method::GET, "/v1/clients", &[("x-api-key", &p.key)], None).await.expect(200);
    app.raw(Method::GET, "/v1/clients", &[("authorization", &basic)], None).await.expect(200);
}

/// A `/v1` route takes the query parameters its OpenAPI operation declares, each once
/// (as an unknown body member is refused, API.md §1): a misspelt or repeated filter is a
/// 400 naming it, never a list that only looks filtered. The dialects keep their seeds'
/// leniency.
#[tokio::test]
async fn an_unknown_or_repeated_query_parameter_is_refused_by_name() {
    let app = app();
    let p = app.partner().await;
    let c = app.client(&p).await;
    let id = c["id"].as_str().unwrap();
    for (path, named) in [
        ("/v1/clients?staus=live".to_owned(), vec!["staus"]),
        ("/v1/clients?status=demo&status=live".to_owned(), vec!["status"]),
        ("/v1/clients?limit=1&limit=2&Status=live".to_owned(), vec!["Status", "limit"]),
        (format!("/v1/clients/search?term={}&exact=1", c["username"].as_str().unwrap()), vec!["exact"]),
        (format!("/v1/clients/{id}?expand=licenses"), vec!["expand"]),
        ("/v1/events?type=client.created&partner=x".to_owned(), vec!["partner"]),
    ] {
        let res = app.call(Method::GET, &path, &p.key, None).await;
        res.problem(400, "validation_failed");
        let mut fields = res.error_fields();
        fields.sort();
        assert_eq!(fields, named, "{path}");
    }
    let status = app.call(Method::GET, "/v1/clients?status=demo&limit=5", &p.key, None).await;
    assert_eq!(status.expect(200)["total"], 1, "the declared ones, once each, are taken");
    app.call(Method::GET, &format!("/v1/clients/search?term={}", c["username"].as_str().unwrap()), &p.key, None).await.expect(200);
    // A change refuses one too, and changes nothing.
    let res = app.call(Method::DELETE, &format!("/v1/clients/{id}?force=true"), &p.key, None).await;
    res.problem(400, "validation_failed");
    app.get_client(&p.key, id).await.expect(200);
    // The credential is judged first: a bad one is a 401 whatever the query.
    app.call(Method::GET, "/v1/clients?staus=live", "ck_live_notAKeyAtAll", None).await.problem(401, "unauthenticated");
    // The public routes and seed 001's list, verbatim, are left as they were.
    let cache_buster = app.raw(Method::GET, "/v1/openapi.json?_=1", &[], None).await;
    assert_eq!(cache_buster.status, 200);
    let number = app.get_partner(&p.key, &p.id).await.expect(200)["number"].clone();
    app.call(Method::GET, &format!("/api/v1/clients?partner={number}&foo=1"), &p.key, None).await.expect(200);
}

/// A 201's `Location` names the created resource's own route: a GET of it answers the
/// resource (or, for a key or teammate, which are never shown alone, 405 with the methods
/// that route does serve); something with no route of its own (a product) has none.
#[tokio::test]
async fn a_201_location_names_the_route_of_what_was_created() {
    let app = app();
    let p = app.partner().await;
    let c = app.client(&p).await;
    let product = app.create_product(&app.admin, json!({ "name": unique("Loc"), "slug": unique("loc").to_lowercase() })).await;
    assert!(product.expect(201).get("id").is_some());
    assert_eq!(product.header("location"), None, "a product has no URL of its own");
    let creates = [
        app.create_partner(&p.key, json!({ "name": unique("loc-sub") })).await,
        app.create_client(&p.key, json!({ "name": unique("Loc"), "email": unique_email() })).await,
        app.create_license(&p.key, json!({ "productId": product.body["id"], "tier": "t", "clientId": c["id"] })).await,
        app.call(Method::POST, "/v1/webhooks", &p.key, Some(json!({ "url": "http://127.0.0.1:9/loc", "events": ["*"] }))).await,
        app.create_api_key(&p.key, json!({ "permissions": ["clients:view"] })).await,
        app.create_teammate(&p.key, json!({ "username": unique("loc").to_lowercase(), "password": "a long enough password" })).await,
    ];
    for created in &creates {
        let location = created.header("location").unwrap_or_else(|| panic!("a 201 with a URL of its own says it: {}", created.body));
        assert!(location.ends_with(created.expect(201)["id"].as_str().unwrap()), "{location}");
        let read = app.call(Method::GET, location, &p.key, None).await;
        match read.status {
            200 => assert_eq!(read.body["id"], created.body["id"], "{location}"),
            405 => assert!(read.header("allow").is_some_and(|a| a.contains("DELETE")), "{location}: {:?}", read.header("allow")),
            other => panic!("{location} answered {other}: {}", read.body),
        }
    }
}
