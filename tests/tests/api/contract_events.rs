//! Events and their delivery (API.md §4, §5): license events, no event without its
//! change, `domainCount` across licenses, delivery up a partner tree and never to
//! a disabled endpoint, and the 10-second receiver timeout.
//!
//! "Nothing arrives" is only worth saying once the event has been processed: each
//! such test has a witness endpoint that wants everything, and waits until the
//! witness has the event before it looks (and a few seconds more).

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Partner, app, unique_email};
use crate::receiver::{Received, Receiver};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

async fn endpoint(key: &str, url: &str, events: Value) -> Value {
    app().call(Method::POST, "/v1/webhooks", key, Some(json!({ "url": url, "events": events }))).await.expect(201).clone()
}

async fn count(p: &Partner, kind: &str) -> u64 {
    app().list_events(&p.key, &format!("?type={kind}")).await.expect(200)["total"].as_u64().unwrap()
}

fn object_ids(got: &[Received]) -> Vec<String> {
    got.iter().map(|r| r.json()["data"]["object"]["id"].as_str().unwrap_or_default().to_owned()).collect()
}

#[tokio::test]
async fn creating_a_license_and_deactivating_a_domain_are_events() {
    let app = app();
    let p = app.partner().await;
    let product = app.product().await;
    let c = app.client(&p).await;
    let made = app.create_license(&p.key, json!({ "productId": product["id"], "tier": "pro", "clientId": c["id"], "maxActivations": 2 })).await;
    let license = made.expect(201).clone();
    let key = license["licenseKey"].as_str().unwrap();

    let created = app.list_events(&p.key, "?type=license.created").await;
    let created = created.expect(200);
    assert_eq!(created["total"], 1);
    let object = &created["data"][0]["data"]["object"];
    assert_eq!((object["id"].clone(), object["clientId"].clone(), object["tier"].clone()), (license["id"].clone(), c["id"].clone(), json!("pro")));
    assert!(!created.to_string().contains(key), "the license key is never in an event");
    assert_eq!(created["data"][0]["actor"]["kind"], "apiKey");

    app.activate(key, "a.example.com").await.expect(200);
    assert_eq!(count(&p, "license.deactivated").await, 0);
    app.deactivate(key, "a.example.com").await.expect(200);
    let off = app.list_events(&p.key, "?type=license.deactivated").await;
    let off = off.expect(200);
    assert_eq!(off["total"], 1);
    assert_eq!(off["data"][0]["data"]["object"]["domain"], "a.example.com");
    assert_eq!(off["data"][0]["data"]["object"]["licenseId"].as_str().or(off["data"][0]["data"]["object"]["id"].as_str()), license["id"].as_str());
    assert!(!off.to_string().contains(key));
    // Deactivating a domain that is not active changes nothing, so it is no event.
    app.deactivate(key, "a.example.com").await.expect(200);
    assert_eq!(count(&p, "license.deactivated").await, 1);
}

#[tokio::test]
async fn a_change_that_fails_writes_no_event() {
    let app = app();
    let p = app.partner().await;
    let c = app.client(&p).await;
    let cid = id(&c);
    let (created, updated) = (count(&p, "client.created").await, count(&p, "client.updated").await);

    app.create_client(&p.key, json!({ "name": "dup email", "email": c["email"] })).await.problem(409, "email_taken");
    app.create_client(&p.key, json!({ "name": c["name"], "email": unique_email() })).await.problem(409, "name_taken");
    app.create_client(&p.key, json!({ "name": "", "email": "x" })).await.problem(400, "validation_failed");
    assert_eq!(count(&p, "client.created").await, created, "no client.created for failed creates");

    let stale = app.call_with(Method::PATCH, &format!("/v1/clients/{cid}"), &p.key, Some(json!({ "company": "x" })), &[("if-match", "\"7\"")]).await;
    stale.problem(412, "version_mismatch");
    let other = app.client(&p).await;
    app.update_client(&p.key, &cid, json!({ "email": other["email"] })).await.problem(409, "email_taken");
    assert_eq!(count(&p, "client.updated").await, updated, "no client.updated for failed updates");

    app.offer_trial(&p.key, &cid, json!({ "days": 0 })).await.problem(400, "validation_failed");
    assert_eq!(count(&p, "client.trial_started").await, 0);
    app.make_live(&p.key, &cid).await.expect(200);
    app.make_live(&p.key, &cid).await.problem(409, "invalid_transition");
    app.offer_trial(&p.key, &cid, json!({ "days": 3 })).await.problem(409, "invalid_transition");
    assert_eq!(count(&p, "client.made_live").await, 1, "one made_live, for the one change");
    assert_eq!(count(&p, "client.trial_started").await, 0);

    let product = app.product().await;
    let l = app.create_license(&p.key, json!({ "productId": product["id"], "tier": "t", "clientId": cid })).await;
    let key = l.expect(201)["licenseKey"].as_str().unwrap().to_owned();
    app.activate(&key, "one.example.com").await.expect(200);
    app.activate(&key, "two.example.com").await.problem(409, "invalid_transition");
    assert_eq!(count(&p, "license.activated").await, 1, "no event for the refused activation");
    app.revoke_license(&p.key, l.body["id"].as_str().unwrap()).await.expect(200);
    app.activate(&key, "one.example.com").await.problem(409, "invalid_transition");
    assert_eq!((count(&p, "license.activated").await, count(&p, "license.revoked").await), (1, 1));

    app.delete_client(&p.key, &cid).await.expect(204);
    app.delete_client(&p.key, &cid).await.problem(404, "not_found");
    assert_eq!(count(&p, "client.removed").await, 1, "deleting again is no second event");
}

#[tokio::test]
async fn domain_count_counts_distinct_domains_across_all_licenses() {
    let app = app();
    let p = app.partner().await;
    let product = app.product().await;
    let c = app.client(&p).await;
    let cid = id(&c);
    let mut keys = Vec::new();
    for _ in 0..2 {
        let l = app.create_license(&p.key, json!({ "productId": product["id"], "tier": "t", "clientId": cid, "maxActivations": 3 })).await;
        keys.push(l.expect(201)["licenseKey"].as_str().unwrap().to_owned());
    }
    let domains = || async { app.get_client(&p.key, &cid).await.expect(200)["domainCount"].clone() };
    app.activate(&keys[0], "shared.example.com").await.expect(200);
    app.activate(&keys[1], "SHARED.example.com").await.expect(200);
    assert_eq!(domains().await, 1, "one domain on two licenses is one domain");
    app.activate(&keys[1], "own.example.com").await.expect(200);
    assert_eq!(domains().await, 2);
    let summary = app.list_clients(&p.key, "").await;
    assert_eq!(summary.expect(200)["data"][0]["domainCount"], 2, "the list summary agrees");
    app.deactivate(&keys[0], "shared.example.com").await.expect(200);
    assert_eq!(domains().await, 2, "still active on the other license");
    app.deactivate(&keys[1], "shared.example.com").await.expect(200);
    assert_eq!(domains().await, 1);
    app.activate(&keys[0], "shared.example.com").await.expect(200);
    assert_eq!(domains().await, 2, "a domain freed everywhere counts again once active again");
    // Each license now holds one domain of its own (the first shared, the second own):
    // revoking either leaves exactly the other's.
    app.revoke_license(&p.key, app.client_licenses(&p.key, &cid).await.expect(200)["data"][0]["id"].as_str().unwrap()).await.expect(200);
    assert_eq!(domains().await, 1, "revoking drops what only that license held");
}

#[tokio::test]
async fn a_sub_partners_events_reach_its_parents_endpoint_and_never_the_reverse() {
    let app = app();
    let root = app.partner().await;
    let child = app.sub_partner(&root).await;
    let (up, down) = (Receiver::start().await, Receiver::start().await);
    endpoint(&root.key, &up.url, json!(["client.created"])).await;
    endpoint(&child.key, &down.url, json!(["client.created"])).await;

    let theirs = app.client(&child).await;
    let mine = app.client(&root).await;
    let got = up.wait_for(2, 60, |_| true).await;
    let mut ids = object_ids(&got);
    ids.sort();
    let mut want = vec![id(&theirs), id(&mine)];
    want.sort();
    assert_eq!(ids, want, "the root's endpoint hears of its sub-partner's client and its own");
    let sub = down.wait_for(1, 30, |_| true).await;
    assert_eq!(object_ids(&sub), [id(&theirs)]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(object_ids(&down.received()), [id(&theirs)], "the child's endpoint never hears of its parent's own client");
}

#[tokio::test]
async fn a_disabled_endpoint_receives_nothing_until_enabled_again() {
    let app = app();
    let p = app.partner().await;
    let (off, witness) = (Receiver::start().await, Receiver::start().await);
    let hook = endpoint(&p.key, &off.url, json!(["*"])).await;
    endpoint(&p.key, &witness.url, json!(["client.created"])).await;
    let path = format!("/v1/webhooks/{}", id(&hook));
    app.call(Method::PATCH, &path, &p.key, Some(json!({ "enabled": false }))).await.expect(200);

    let quiet = app.client(&p).await;
    assert_eq!(object_ids(&witness.wait_for(1, 60, |_| true).await), [id(&quiet)]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(off.received().len(), 0, "a disabled endpoint gets nothing");

    app.call(Method::PATCH, &path, &p.key, Some(json!({ "enabled": true }))).await.expect(200);
    let heard = app.client(&p).await;
    let got = off.wait_for(1, 60, |_| true).await;
    assert_eq!(object_ids(&got), [id(&heard)], "enabled again, it hears of what happens from then on");
}

/// A receiver that answers its n-th request after `delays[n]` (200), or never
/// (`None`: it holds the connection open for a minute).
struct SlowReceiver {
    url: String,
    arrived: std::sync::Arc<std::sync::Mutex<usize>>,
}

impl SlowReceiver {
    async fn start(delays: Vec<Option<Duration>>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/slow", listener.local_addr().unwrap());
        let arrived = std::sync::Arc::new(std::sync::Mutex::new(0usize));
        let seen = arrived.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let n = {
                    let mut a = seen.lock().unwrap();
                    *a += 1;
                    *a - 1
                };
                let delay = delays.get(n).copied().unwrap_or(Some(Duration::ZERO));
                tokio::spawn(async move {
                    let mut buf = [0u8; 65536];
                    let _ = sock.read(&mut buf).await;
                    tokio::time::sleep(delay.unwrap_or(Duration::from_secs(60))).await;
                    let _ = sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").await;
                });
            }
        });
        Self { url, arrived }
    }
}

async fn attempts(p: &Partner, hook: &Value, n: u64) -> Vec<Value> {
    let path = format!("/v1/webhooks/{}/deliveries?limit=100", id(hook));
    for _ in 0..300 {
        let log = app().call(Method::GET, &path, &p.key, None).await.expect(200).clone();
        if log["total"].as_u64().unwrap() >= n {
            let mut data = log["data"].as_array().unwrap().clone();
            data.reverse();
            return data;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{n} attempts were not logged in 60 s");
}

#[tokio::test]
async fn a_receiver_silent_for_10_seconds_is_a_failed_attempt_and_a_slow_2xx_is_success() {
    let app = app();
    let p = app.partner().await;
    // Open receivers keep the poller from being killed under an attempt (see receiver.rs).
    let _guard = Receiver::start().await;
    let silent = SlowReceiver::start(vec![None, Some(Duration::ZERO)]).await;
    let slow = SlowReceiver::start(vec![Some(Duration::from_secs(4))]).await;
    let (silent_hook, slow_hook) = (endpoint(&p.key, &silent.url, json!(["client.created"])).await, endpoint(&p.key, &slow.url, json!(["client.created"])).await);
    app.client(&p).await;

    let log = attempts(&p, &silent_hook, 2).await;
    let first = &log[0];
    assert_eq!((first["success"].clone(), first["statusCode"].clone()), (json!(false), Value::Null), "{first}");
    let waited = first["latencyMs"].as_u64().unwrap();
    assert!((10_000..=11_000).contains(&waited), "given up after the 10 s timeout (and not much later), not after the receiver's 60: {waited} ms");
    assert!(first["error"].as_str().is_some_and(|e| !e.is_empty()), "the attempt names why: {first}");
    // Then retried on the schedule until delivered: the receiver answers every later
    // request at once, though on a loaded machine a retry may itself fail (it is then
    // retried again), so the success is looked for among the schedule's attempts.
    let mut delivered = false;
    for n in 2..=4 {
        let log = attempts(&p, &silent_hook, n).await;
        if log.iter().skip(1).any(|a| a["success"] == true) {
            delivered = true;
            break;
        }
    }
    assert!(delivered, "retried and delivered");
    assert!(*silent.arrived.lock().unwrap() >= 2);

    let log = attempts(&p, &slow_hook, 1).await;
    assert_eq!(log.len(), 1, "a 2xx after 4 s is within the 10 s: no retry");
    assert_eq!(log[0]["success"], true);
    assert!(log[0]["latencyMs"].as_u64().unwrap() >= 3_900);
}
