//! Webhooks: signed, retried, logged, redelivered, and surviving a restart of
//! the delivery process.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::app;
use crate::receiver::Receiver;

async fn endpoint(key: &str, url: &str, events: Value) -> Value {
    let res = app().call(Method::POST, "/v1/webhooks", key, Some(json!({ "url": url, "events": events }))).await;
    res.expect(201).clone()
}

fn of_type<'a>(kind: &'a str) -> impl Fn(&crate::receiver::Received) -> bool + 'a {
    move |r| r.json()["type"] == kind
}

#[tokio::test]
async fn every_change_arrives_once_per_endpoint_correctly_signed() {
    let app = app();
    let p = app.partner().await;
    let receiver = Receiver::start().await;
    let hook = endpoint(&p.key, &receiver.url, json!(["*"])).await;
    let secret = hook["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));

    let c = app.client(&p).await;
    let cid = c["id"].as_str().unwrap();
    app.update_client(&p.key, cid, json!({ "company": "Acme" })).await.expect(200);
    app.offer_trial(&p.key, cid, json!({ "days": 3 })).await.expect(200);
    app.make_live(&p.key, cid).await.expect(200);
    app.suspend_client(&p.key, cid, None).await.expect(200);
    app.unsuspend_client(&p.key, cid).await.expect(200);
    assert_eq!(app.delete_client(&p.key, cid).await.status, 204);

    let kinds = ["client.created", "client.updated", "client.trial_started", "client.made_live", "client.suspended", "client.unsuspended", "client.removed"];
    let got = receiver.wait_for(kinds.len(), 30, |_| true).await;
    let mut types: Vec<String> = got.iter().map(|r| r.json()["type"].as_str().unwrap().to_owned()).collect();
    types.sort();
    let mut want: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
    want.sort();
    assert_eq!(types, want, "each change once");
    for r in &got {
        assert!(r.signed_with(&secret), "a valid signature on {}", r.body);
        assert_eq!(r.headers.get("webhook-id").map(String::as_str), r.json()["id"].as_str(), "webhook-id is the event id");
        let ts: i64 = r.headers["webhook-timestamp"].parse().unwrap();
        assert!((chrono::Utc::now().timestamp() - ts).abs() < 120);
        assert_eq!(r.json()["data"]["object"]["id"], cid);
    }
    assert!(!got[0].signed_with("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
}

#[tokio::test]
async fn endpoints_get_only_the_types_they_asked_for_and_only_their_tree() {
    let app = app();
    let (p, other) = (app.partner().await, app.partner().await);
    let receiver = Receiver::start().await;
    // Witnesses: an endpoint of each tree that wants everything. Once they have heard
    // of every event, the filtered endpoint has had its chance at each of them too.
    let (witness, other_witness) = (Receiver::start().await, Receiver::start().await);
    endpoint(&p.key, &receiver.url, json!(["client.updated"])).await;
    endpoint(&p.key, &witness.url, json!(["*"])).await;
    endpoint(&other.key, &other_witness.url, json!(["*"])).await;
    let c = app.client(&p).await;
    app.client(&other).await;
    app.update_client(&p.key, c["id"].as_str().unwrap(), json!({ "company": "x" })).await.expect(200);
    assert_eq!(witness.wait_for(2, 60, |_| true).await.len(), 2, "the witness heard of the create and the update");
    assert_eq!(other_witness.wait_for(1, 60, of_type("client.created")).await.len(), 1, "the other tree's create was delivered");
    let got = receiver.wait_for(1, 20, |_| true).await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let all = receiver.received();
    assert_eq!(got.len(), 1);
    assert_eq!(all.len(), 1, "nothing else arrived: {:?}", all.iter().map(|r| r.json()["type"].clone()).collect::<Vec<_>>());
    assert_eq!(all[0].json()["type"], "client.updated");
}

/// When each attempt was made, from the deliveries log (oldest first).
async fn attempt_times(key: &str, hook_id: &str, count: u64) -> Vec<(Value, chrono::DateTime<chrono::Utc>)> {
    let mut log = Value::Null;
    for _ in 0..100 {
        log = app().call(Method::GET, &format!("/v1/webhooks/{hook_id}/deliveries?limit=100"), key, None).await.expect(200).clone();
        // The page and the total are two reads: an attempt logged between them (the
        // receiver has answered, its log write is still on its way) shows in one only.
        if log["total"] == count && log["data"].as_array().is_some_and(|d| d.len() as u64 == count) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(log["total"], count, "attempts logged: {log}");
    let mut attempts: Vec<(Value, chrono::DateTime<chrono::Utc>)> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a.clone(), chrono::DateTime::parse_from_rfc3339(a["at"].as_str().unwrap()).unwrap().with_timezone(&chrono::Utc)))
        .collect();
    attempts.reverse();
    attempts
}

fn gap_ms(a: &chrono::DateTime<chrono::Utc>, b: &chrono::DateTime<chrono::Utc>) -> i64 {
    (*b - *a).num_milliseconds()
}

#[tokio::test]
async fn a_failing_receiver_gets_the_event_on_a_retry_and_every_attempt_is_logged() {
    let app = app();
    let p = app.partner().await;
    let receiver = Receiver::start().await;
    // The test schedule waits 1 s before the second attempt and 1 s before the third;
    // the receiver's 429 asks for 6 s, which must be honoured.
    receiver.answer(&[(500, None), (429, Some("retry-after: 6"))]);
    let hook = endpoint(&p.key, &receiver.url, json!(["client.created"])).await;
    app.client(&p).await;
    let got = receiver.wait_for(3, 60, of_type("client.created")).await;
    assert_eq!(got.len(), 3, "two failures, then success");
    assert!(got.iter().all(|r| r.headers["webhook-id"] == got[0].headers["webhook-id"]), "one event, retried");

    let hid = hook["id"].as_str().unwrap();
    let attempts = attempt_times(&p.key, hid, 3).await;
    let summary: Vec<(u64, Value, bool)> = attempts
        .iter()
        .map(|(a, _)| (a["attempt"].as_u64().unwrap(), a["statusCode"].clone(), a["success"].as_bool().unwrap()))
        .collect();
    assert_eq!(summary, vec![(1, json!(500), false), (2, json!(429), false), (3, json!(200), true)]);
    assert!(attempts[2].0["latencyMs"].is_u64() && attempts[2].0["at"].is_string());
    assert_eq!(attempts[0].0["eventId"], got[0].headers["webhook-id"].as_str());
    // Only lower bounds: a busy machine makes attempts later, never earlier.
    let after_429 = gap_ms(&attempts[1].1, &attempts[2].1);
    assert!(after_429 >= 5_500, "Retry-After: 6 on a 429 is honoured over the schedule's 1 s: the next attempt came after {after_429} ms");
    // Delivered: off the due queue, and kept 30 days.
    let state = settled_state(hid, &got[0].headers["webhook-id"], "delivered").await;
    assert_eq!(state["state"].as_s().unwrap(), "delivered", "{state:?}");
    assert!(!state.contains_key("gsi3pk"), "off the queue of due deliveries: {state:?}");
    assert_kept_30_days(&state);
}

#[tokio::test]
async fn a_retry_after_on_503_is_honoured_too() {
    let app = app();
    let p = app.partner().await;
    let receiver = Receiver::start().await;
    receiver.answer(&[(503, Some("retry-after: 5"))]);
    let hook = endpoint(&p.key, &receiver.url, json!(["client.created"])).await;
    app.client(&p).await;
    assert_eq!(receiver.wait_for(2, 60, |_| true).await.len(), 2);
    let attempts = attempt_times(&p.key, hook["id"].as_str().unwrap(), 2).await;
    let gap = gap_ms(&attempts[0].1, &attempts[1].1);
    assert!(gap >= 4_500, "Retry-After: 5 on a 503 is honoured over the schedule's 1 s: {gap} ms");
}

/// The stored state of one event's delivery to one endpoint (not in the API).
async fn delivery_state(hook_id: &str, event_id: &str) -> std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
    app()
        .dynamodb()
        .await
        .get_item()
        .table_name("clientele")
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("DELIVERY#{hook_id}#{event_id}")))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("#".into()))
        .send()
        .await
        .expect("DynamoDB Local answers")
        .item
        .expect("a delivery record")
}

/// The stored state of a delivery once it is `want` (or after 10 s, as it is then).
async fn settled_state(hook_id: &str, event_id: &str, want: &str) -> std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
    let mut state = delivery_state(hook_id, event_id).await;
    for _ in 0..50 {
        if state.get("state").and_then(|s| s.as_s().ok()).map(String::as_str) == Some(want) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        state = delivery_state(hook_id, event_id).await;
    }
    state
}

/// A settled delivery is removed by DynamoDB's TTL 30 days after it settled.
fn assert_kept_30_days(state: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>) {
    let expires: i64 = state.get("expiresAt").and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("a settled delivery expires: {state:?}"));
    let days = (expires - chrono::Utc::now().timestamp()) as f64 / 86_400.0;
    assert!((29.9..=30.0).contains(&days), "kept 30 days after it settled: {days} days from now");
}

#[tokio::test]
async fn a_receiver_that_always_fails_is_marked_failed_after_the_schedule_and_410_disables() {
    let app = app();
    let p = app.partner().await;
    let failing = Receiver::start().await;
    failing.answer(&[(500, None); 10]);
    let hook = endpoint(&p.key, &failing.url, json!(["client.created"])).await;
    let hid = hook["id"].as_str().unwrap();
    app.client(&p).await;
    // Between attempts the delivery is pending: on the due queue, with no expiry.
    let first = failing.wait_for(1, 20, |_| true).await;
    let pending = delivery_state(hid, &first[0].headers["webhook-id"]).await;
    assert_eq!(pending["state"].as_s().unwrap(), "pending", "{pending:?}");
    assert!(!pending.contains_key("expiresAt"), "a pending delivery never expires: {pending:?}");
    // The test schedule is 1s,1s,2s: the first attempt and three retries.
    let got = failing.wait_for(4, 60, |_| true).await;
    assert_eq!(got.len(), 4);
    let event_id = got[0].headers["webhook-id"].clone();
    let state = settled_state(hid, &event_id, "failed").await;
    assert_eq!(state["state"].as_s().unwrap(), "failed", "marked failed once the schedule is spent: {state:?}");
    assert_eq!(state["attempts"].as_n().unwrap(), "4");
    assert!(state.get("nextAttemptAt").is_none_or(|v| v.is_null()), "nothing more is due: {state:?}");
    assert!(!state.contains_key("gsi3pk"), "off the queue of due deliveries: {state:?}");
    assert_kept_30_days(&state);

    // Spaced by the schedule (lower bounds only: a busy machine is late, never early).
    let attempts = attempt_times(&p.key, hid, 4).await;
    let gaps: Vec<i64> = attempts.windows(2).map(|w| gap_ms(&w[0].1, &w[1].1)).collect();
    for (gap, want) in gaps.iter().zip([1_000, 1_000, 2_000]) {
        assert!(*gap >= want - 100, "attempts follow the schedule 1s,1s,2s: gaps {gaps:?} ms");
    }
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    assert_eq!(failing.received().len(), 4, "no attempt after the schedule ends");

    let gone = Receiver::start().await;
    gone.answer(&[(410, None)]);
    let hook = endpoint(&p.key, &gone.url, json!(["client.created"])).await;
    app.client(&p).await;
    gone.wait_for(1, 20, |_| true).await;
    let mut enabled = Value::Bool(true);
    for _ in 0..50 {
        enabled = app.call(Method::GET, &format!("/v1/webhooks/{}", hook["id"].as_str().unwrap()), &p.key, None).await.expect(200)["enabled"].clone();
        if enabled == false {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(enabled, false, "410 Gone disables the endpoint");
}

#[tokio::test]
async fn an_event_can_be_redelivered() {
    let app = app();
    let p = app.partner().await;
    let receiver = Receiver::start().await;
    endpoint(&p.key, &receiver.url, json!(["client.created"])).await;
    app.client(&p).await;
    let first = receiver.wait_for(1, 20, |_| true).await;
    let event_id = first[0].headers["webhook-id"].clone();
    let res = app.call(Method::POST, &format!("/v1/events/{event_id}/redeliver"), &p.key, None).await;
    assert_eq!(res.expect(202)["eventId"], event_id.as_str());
    let both = receiver.wait_for(2, 20, |_| true).await;
    assert_eq!(both.len(), 2);
    assert_eq!(both[1].headers["webhook-id"], event_id);
    let other = app.partner().await;
    app.call(Method::POST, &format!("/v1/events/{event_id}/redeliver"), &other.key, None).await.problem(404, "not_found");
}

#[tokio::test]
async fn killing_the_delivery_process_mid_delivery_loses_nothing() {
    let app = app();
    let p = app.partner().await;
    let _sole = crate::receiver::poller_exclusive().await;
    let receiver = Receiver::start_unguarded().await;
    endpoint(&p.key, &receiver.url, json!(["client.created"])).await;
    let pid_file = std::env::var("CLIENTELE_POLLER_PID_FILE").expect("CLIENTELE_POLLER_PID_FILE: run with `make test`");
    let pid = std::fs::read_to_string(&pid_file).unwrap().trim().to_owned();
    // The receiver takes deliveries in and does not answer: the poller is caught in the
    // middle of its batch, its stream position not yet checkpointed past these events.
    receiver.hold();
    let mut made = Vec::new();
    for _ in 0..5 {
        made.push(app.client(&p).await["id"].as_str().unwrap().to_owned());
    }
    let in_flight = receiver.wait_for(1, 30, |_| true).await;
    assert!(!in_flight.is_empty(), "the poller started delivering within 30 s");
    let caught: Vec<String> = in_flight.iter().map(|r| r.json()["data"]["object"]["id"].as_str().unwrap().to_owned()).collect();
    assert!(std::process::Command::new("kill").args(["-9", &pid]).status().unwrap().success());
    receiver.release();
    // The supervisor restarts the poller, which resumes from its checkpoint: the events
    // of the killed batch are delivered again, and the rest once at least.
    let arrived_for = |id: &str| receiver.received().iter().filter(|r| r.json()["data"]["object"]["id"] == id).count();
    // A killed batch's events come back through the retry job once their 60 s delivery
    // lease ends, so the wait is longer than that.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(150);
    while std::time::Instant::now() < deadline
        && !(made.iter().all(|id| arrived_for(id) >= 1) && caught.iter().all(|id| arrived_for(id) >= 2))
    {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    for id in &made {
        assert!(arrived_for(id) >= 1, "the event of client {id} arrived");
    }
    for id in &caught {
        assert!(arrived_for(id) >= 2, "the event of client {id}, in flight when the poller was killed, was delivered again");
    }
    assert_ne!(std::fs::read_to_string(&pid_file).unwrap().trim(), pid, "a new poller runs");
}

#[tokio::test]
async fn endpoints_are_managed_within_the_tree() {
    let app = app();
    let (p, other) = (app.partner().await, app.partner().await);
    let hook = endpoint(&p.key, "http://127.0.0.1:9/hook", json!(["client.created", "client.removed"])).await;
    let hid = hook["id"].as_str().unwrap();
    assert_eq!(hook["events"], json!(["client.created", "client.removed"]));
    assert_eq!(hook["enabled"], true);

    let listed = app.call(Method::GET, "/v1/webhooks", &p.key, None).await;
    assert_eq!(listed.expect(200)["total"], 1);
    assert!(listed.body.to_string().find("whsec_").is_none(), "the secret is shown once");
    let got = app.call(Method::GET, &format!("/v1/webhooks/{hid}"), &p.key, None).await;
    assert!(got.expect(200).get("secret").is_none());

    let patched = app.call(Method::PATCH, &format!("/v1/webhooks/{hid}"), &p.key, Some(json!({ "enabled": false, "events": ["*"] }))).await;
    assert_eq!((patched.expect(200)["enabled"].clone(), patched.body["events"].clone()), (json!(false), json!(["*"])));

    app.call(Method::GET, &format!("/v1/webhooks/{hid}"), &other.key, None).await.problem(404, "not_found");
    app.call(Method::PATCH, &format!("/v1/webhooks/{hid}"), &other.key, Some(json!({ "enabled": true }))).await.problem(404, "not_found");
    app.call(Method::DELETE, &format!("/v1/webhooks/{hid}"), &other.key, None).await.problem(404, "not_found");

    for (body, field) in [
        (json!({ "url": "ftp://x.example.com", "events": ["*"] }), "url"),
        (json!({ "url": "not a url", "events": ["*"] }), "url"),
        (json!({ "url": "https://x.example.com", "events": ["client.exploded"] }), "events"),
        (json!({ "url": "https://x.example.com", "events": [] }), "events"),
        (json!({ "url": "https://x.example.com", "events": ["*", "client.created"] }), "events"),
        (json!({ "url": "https://x.example.com", "events": ["*"], "secret": "mine" }), "secret"),
    ] {
        let res = app.call(Method::POST, "/v1/webhooks", &p.key, Some(body)).await;
        res.problem(400, "validation_failed");
        assert_eq!(res.error_fields(), [field]);
    }
    // A PATCH may change url, events and enabled, never clear them (null is no "keep").
    for field in ["url", "events", "enabled"] {
        let res = app.call(Method::PATCH, &format!("/v1/webhooks/{hid}"), &p.key, Some(json!({ field: null }))).await;
        res.problem(400, "validation_failed");
        assert_eq!(res.error_fields(), [field]);
    }
    assert_eq!(app.call(Method::DELETE, &format!("/v1/webhooks/{hid}"), &p.key, None).await.status, 204);
    app.call(Method::GET, &format!("/v1/webhooks/{hid}"), &p.key, None).await.problem(404, "not_found");
}

/// The webhook poller, stopped (SIGSTOP) until dropped.
struct PollerStopped(String);

impl PollerStopped {
    fn stop() -> Self {
        let file = std::env::var("CLIENTELE_POLLER_PID_FILE").expect("CLIENTELE_POLLER_PID_FILE: run with `make test`");
        let pid = std::fs::read_to_string(file).unwrap().trim().to_owned();
        assert!(std::process::Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());
        Self(pid)
    }
}

impl Drop for PollerStopped {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill").args(["-CONT", &self.0]).status();
    }
}

#[tokio::test]
async fn the_retry_job_makes_the_attempts_that_are_due() {
    // Locally the poller makes the retries; the job is what AWS runs every minute. With
    // the poller stopped, a due delivery is made by the job or by nobody.
    let app = app();
    let p = app.partner().await;
    let _sole = crate::receiver::poller_exclusive().await;
    let receiver = Receiver::start_unguarded().await;
    let hook = endpoint(&p.key, &receiver.url, json!(["client.created"])).await;
    app.client(&p).await;
    let first = receiver.wait_for(1, 30, |_| true).await;
    assert_eq!(first.len(), 1);
    let event_id = first[0].headers["webhook-id"].clone();

    let stopped = PollerStopped::stop();
    // Redelivery makes the delivery due now; nothing sends it but the job.
    app.call(Method::POST, &format!("/v1/events/{event_id}/redeliver"), &p.key, None).await.expect(202);
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(receiver.received().len(), 1, "nobody made the attempt while the poller is stopped");
    let report = app.invoke("retry-webhooks").await;
    assert!(report["attempts"].as_u64().is_some_and(|n| n >= 1), "the job made the due attempt: {report}");
    let again = receiver.wait_for(2, 10, |_| true).await;
    assert_eq!(again.len(), 2, "the job delivered the event again");
    assert_eq!(again[1].headers["webhook-id"], event_id);
    drop(stopped);
    let attempts = attempt_times(&p.key, hook["id"].as_str().unwrap(), 2).await;
    assert_eq!(attempts[1].0["success"], true);
}

#[tokio::test]
async fn the_local_stack_delivers_webhooks_to_this_machine_only() {
    // `make run` and `make test` set WEBHOOK_LOOPBACK_ONLY: no URL off this machine is
    // taken (so no delivery, nor a fuzzer's random URL, ever leaves it).
    let app = app();
    let p = app.partner().await;
    for url in ["http://10.0.0.1/hook", "https://hooks.example.com/x", "http://8.8.8.8/"] {
        let res = app.call(Method::POST, "/v1/webhooks", &p.key, Some(json!({ "url": url, "events": ["*"] }))).await;
        res.problem(400, "validation_failed");
        assert_eq!(res.error_fields(), ["url"], "{url}");
    }
    let hook = endpoint(&p.key, "http://127.0.0.1:9/hook", json!(["*"])).await;
    let id = hook["id"].as_str().unwrap();
    let moved = app.call(Method::PATCH, &format!("/v1/webhooks/{id}"), &p.key, Some(json!({ "url": "http://192.168.1.1/" }))).await;
    moved.problem(400, "validation_failed");
    endpoint(&p.key, "http://localhost:9/hook", json!(["*"])).await;
}

#[tokio::test]
async fn a_test_event_goes_signed_to_its_one_endpoint_is_logged_and_changes_nothing() {
    let app = app();
    let p = app.partner().await;
    let (receiver, bystander) = (Receiver::start().await, Receiver::start().await);
    // The endpoint wants another type: a test event is sent whatever it subscribed to.
    let hook = endpoint(&p.key, &receiver.url, json!(["client.created"])).await;
    endpoint(&p.key, &bystander.url, json!(["*"])).await;
    let (hook_id, secret) = (hook["id"].as_str().unwrap(), hook["secret"].as_str().unwrap());
    let test = format!("/v1/webhooks/{hook_id}/test");

    // No body: a client.updated sample.
    let first = app.call(Method::POST, &test, &p.key, None).await.expect(202)["eventId"].as_str().unwrap().to_owned();
    let chosen = app.call(Method::POST, &test, &p.key, Some(json!({ "type": "license.activated" }))).await;
    let second = chosen.expect(202)["eventId"].as_str().unwrap().to_owned();
    let got = receiver.wait_for(2, 30, |_| true).await;
    assert_eq!(got.len(), 2, "both test events arrived");
    let by_id = |id: &str| got.iter().find(|r| r.headers["webhook-id"] == id).unwrap_or_else(|| panic!("event {id} arrived"));
    let (updated, activated) = (by_id(&first), by_id(&second));
    for r in [updated, activated] {
        assert!(r.signed_with(secret), "signed with the endpoint's secret: {}", r.body);
        assert_eq!(r.json()["test"], true, "marked as a test: {}", r.body);
        assert_eq!(r.json()["partnerId"], p.id.as_str());
        assert_eq!(r.json()["id"], r.headers["webhook-id"].as_str());
    }
    assert_eq!(updated.json()["type"], "client.updated");
    assert_eq!(updated.json()["data"]["object"]["directPartner"]["id"], p.id.as_str(), "a sample client of the endpoint's partner");
    assert!(updated.json()["data"]["previous"].is_object(), "an update's sample carries previous, as a real one does: {}", updated.body);
    assert!(activated.json()["data"].get("previous").is_none(), "and only an update's");
    assert_eq!(activated.json()["type"], "license.activated");
    assert!(activated.json()["data"]["object"]["domain"].is_string(), "an activation names its domain: {}", activated.body);

    // Logged in the endpoint's deliveries.
    let log = attempt_times(&p.key, hook_id, 2).await;
    let mut logged: Vec<(String, String)> =
        log.iter().map(|(a, _)| (a["eventId"].as_str().unwrap().to_owned(), a["eventType"].as_str().unwrap().to_owned())).collect();
    logged.sort();
    let mut want = vec![(first.clone(), "client.updated".to_owned()), (second.clone(), "license.activated".to_owned())];
    want.sort();
    assert_eq!(logged, want);
    assert!(log.iter().all(|(a, _)| a["success"] == true && a["test"] == true), "each attempt marked as a test: {log:?}");

    // Each attempt opens to what it sent: the URL, the headers (signature included) and
    // the body, exactly as the receiver got them; not from another tree.
    for (a, _) in &log {
        assert!(a.get("request").is_none() && a.get("sent").is_none(), "the list stays small: {a}");
        let path = format!("/v1/webhooks/{hook_id}/deliveries/{}", a["id"].as_str().unwrap());
        let detail = app.call(Method::GET, &path, &p.key, None).await;
        let detail = detail.expect(200).clone();
        let heard = by_id(a["eventId"].as_str().unwrap());
        assert_eq!(detail["request"]["url"], json!(receiver.url));
        assert_eq!(detail["request"]["body"], json!(heard.body), "the body, byte for byte");
        for header in ["webhook-id", "webhook-timestamp", "webhook-signature", "content-type"] {
            assert_eq!(detail["request"]["headers"][header], json!(heard.headers[header]), "{header}");
        }
        assert_eq!((detail["statusCode"].as_u64(), detail["success"].as_bool()), (Some(200), Some(true)), "{detail}");
        let other = app.partner().await;
        app.call(Method::GET, &path, &other.key, None).await.problem(404, "not_found");
    }
    let missing = format!("/v1/webhooks/{hook_id}/deliveries/{}", uuid::Uuid::now_v7());
    app.call(Method::GET, &missing, &p.key, None).await.problem(404, "not_found");

    // To that endpoint only: a real change reaches the bystander, which wants everything,
    // and it is all the bystander ever got.
    app.client(&p).await;
    assert_eq!(bystander.wait_for(1, 60, of_type("client.created")).await.len(), 1);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let heard: Vec<Value> = bystander.received().iter().map(|r| r.json()["type"].clone()).collect();
    assert_eq!(heard, vec![json!("client.created")], "the bystander heard of no test event");
    // Nothing is written that a tenant sees: the events are not listed, nor redelivered.
    let events = app.list_events(&p.key, "?limit=100").await;
    let listed = events.expect(200)["data"].as_array().unwrap().iter().map(|e| e["id"].clone()).collect::<Vec<_>>();
    assert!(!listed.contains(&json!(first)) && !listed.contains(&json!(second)), "test events are not listed: {listed:?}");
    for kind in ["client.updated", "license.activated"] {
        let of_kind = app.list_events(&p.key, &format!("?type={kind}")).await;
        assert_eq!(of_kind.expect(200)["total"], 0, "no {kind} is counted in the tree's events");
    }
    app.call(Method::POST, &format!("/v1/events/{first}/redeliver"), &p.key, None).await.problem(404, "not_found");

    // Last, as the key it makes is a change the bystander hears of: a signed request could be
    // sent again, so it needs what a redelivery needs.
    let viewer = app.create_api_key(&p.key, json!({ "permissions": ["webhooks:view"] })).await;
    let viewer = viewer.expect(201)["key"].as_str().unwrap().to_owned();
    let one = format!("/v1/webhooks/{hook_id}/deliveries/{}", log[0].0["id"].as_str().unwrap());
    app.call(Method::GET, &one, &viewer, None).await.problem(403, "forbidden");
}

#[tokio::test]
async fn a_test_event_is_refused_for_an_unknown_type_another_tree_a_narrow_key_or_a_disabled_endpoint() {
    let app = app();
    let (p, other) = (app.partner().await, app.partner().await);
    let receiver = Receiver::start().await;
    // A type none of the test's own changes (a key's create) is of.
    let hook = endpoint(&p.key, &receiver.url, json!(["partner.suspended"])).await;
    let hook_id = hook["id"].as_str().unwrap();
    let test = format!("/v1/webhooks/{hook_id}/test");
    let bad = app.call(Method::POST, &test, &p.key, Some(json!({ "type": "client.exploded" }))).await;
    bad.problem(400, "validation_failed");
    assert_eq!(bad.error_fields(), vec!["type"]);
    let null = app.call(Method::POST, &test, &p.key, Some(json!({ "type": null }))).await;
    null.problem(400, "validation_failed");
    assert_eq!(null.error_fields(), vec!["type"]);
    let extra = app.call(Method::POST, &test, &p.key, Some(json!({ "kind": "client.updated" }))).await;
    extra.problem(400, "validation_failed");
    assert_eq!(extra.error_fields(), vec!["kind"]);
    app.call(Method::POST, &test, &other.key, None).await.problem(404, "not_found");
    let narrow = app.create_api_key(&p.key, json!({ "permissions": ["webhooks:view"] })).await;
    let narrow = narrow.expect(201)["key"].as_str().unwrap().to_owned();
    app.call(Method::POST, &test, &narrow, None).await.problem(403, "forbidden");
    app.call(Method::PATCH, &format!("/v1/webhooks/{hook_id}"), &p.key, Some(json!({ "enabled": false }))).await.expect(200);
    app.call(Method::POST, &test, &p.key, None).await.problem(409, "invalid_transition");
    // None of these sent anything.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(receiver.received().is_empty(), "nothing was sent: {:?}", receiver.received().iter().map(|r| r.body.clone()).collect::<Vec<_>>());
    let log = app.call(Method::GET, &format!("/v1/webhooks/{hook_id}/deliveries"), &p.key, None).await;
    assert_eq!(log.expect(200)["total"], 0);
}

/// An endpoint is versioned (API.md §1): its body carries `version` beside its `ETag`,
/// and a change that changes nothing (`{}`, the values it has) keeps both.
#[tokio::test]
async fn an_endpoint_shows_its_version_and_a_change_of_nothing_keeps_it() {
    let app = app();
    let p = app.partner().await;
    let made = endpoint(&p.key, "http://127.0.0.1:9/same", json!(["*"])).await;
    assert_eq!(made["version"], 0);
    let path = format!("/v1/webhooks/{}", made["id"].as_str().unwrap());
    let read = app.call(Method::GET, &path, &p.key, None).await;
    assert_eq!((read.expect(200)["version"].clone(), read.header("etag")), (json!(0), Some("\"0\"")));
    for same in [json!({}), json!({ "enabled": true }), json!({ "url": "http://127.0.0.1:9/same", "events": ["*"] })] {
        let res = app.call(Method::PATCH, &path, &p.key, Some(same.clone())).await;
        assert_eq!((res.expect(200)["version"].clone(), res.header("etag")), (json!(0), Some("\"0\"")), "{same}");
        assert_eq!(res.body["modified"], made["modified"], "{same}");
    }
    let res = app.call(Method::PATCH, &path, &p.key, Some(json!({ "enabled": false }))).await;
    assert_eq!((res.expect(200)["version"].clone(), res.header("etag")), (json!(1), Some("\"1\"")));
}
