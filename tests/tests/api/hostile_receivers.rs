//! Webhook receivers that are slow, huge, redirecting, resetting, lying or pushy with
//! `Retry-After` (API.md §5a): each is failed attempts of its own endpoint, the
//! delivery process lives through all of them, and another tenant's events arrive as
//! fast as ever.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Partner, app};
use crate::hostile::{Behaviour, Hostile};
use crate::receiver::Receiver;

/// Another tenant's event must arrive within this while the hostile receivers do their
/// worst: less than the 10 s one silent receiver's attempt takes, so a deliverer that
/// waited on any hostile attempt before serving the other tenant fails it.
const DEADLINE: u64 = 7;

async fn endpoint(p: &Partner, url: &str) -> String {
    let res = app().call(Method::POST, "/v1/webhooks", &p.key, Some(json!({ "url": url, "events": ["client.created"] }))).await;
    res.expect(201)["id"].as_str().unwrap().to_owned()
}

/// The endpoint's logged attempts, oldest first, once there are at least `count`
/// (waits up to `secs`: an attempt on a silent receiver takes its whole 10 s timeout).
async fn attempts(p: &Partner, hook: &str, count: usize, secs: u64) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let log = app().call(Method::GET, &format!("/v1/webhooks/{hook}/deliveries?limit=100"), &p.key, None).await;
        let mut data = log.expect(200)["data"].as_array().cloned().unwrap_or_default();
        if data.len() >= count {
            data.reverse();
            return data;
        }
        assert!(Instant::now() < deadline, "{count} attempts of {hook} logged within {secs} s; there are {}: {data:?}", data.len());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The webhook poller's process id (the local stack's stand-in for the stream's Lambda).
fn poller_pid() -> String {
    let file = std::env::var("CLIENTELE_POLLER_PID_FILE").expect("CLIENTELE_POLLER_PID_FILE: run with `make test`");
    std::fs::read_to_string(file).expect("the poller's pid file").trim().to_owned()
}

/// The most memory the process has held at once so far (`VmHWM`), in KiB.
fn peak_memory_kib(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the poller is running");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/<pid>/status")
}

/// Another tenant's next event arrives within [`DEADLINE`].
async fn another_tenant_is_served(other: &Partner, receiver: &Receiver) {
    let started = Instant::now();
    let client = app().client(other).await;
    let id = client["id"].clone();
    let got = receiver.wait_for(1, DEADLINE, |r| r.json()["data"]["object"]["id"] == id).await;
    assert_eq!(got.len(), 1, "another tenant's event arrives within {DEADLINE} s beside the hostile receivers (waited {:?})", started.elapsed());
}

#[tokio::test]
async fn hostile_receivers_are_failed_attempts_of_their_own_endpoints_and_harm_no_one() {
    let app = app();
    // The other tenant; while its receiver is open no test kills the poller.
    let other_receiver = Receiver::start().await;
    let other = app.partner().await;
    endpoint(&other, &other_receiver.url).await;
    let pid = poller_pid();
    let peak_before = peak_memory_kib(&pid);

    let cases: Vec<(&str, Behaviour, Option<u16>, &str)> = vec![
        ("never answers", Behaviour::NeverAnswers, None, "no answer within 10s"),
        ("answers 200 with 100 MB, declared", Behaviour::Huge { declared: true }, Some(200), "longer than 64 KiB"),
        ("answers 200 with 100 MB, until it closes", Behaviour::Huge { declared: false }, Some(200), "longer than 64 KiB"),
        ("redirects to another tenant's receiver", Behaviour::Redirects(other_receiver.url.clone()), Some(307), "receiver answered 307"),
        ("resets the connection", Behaviour::Resets, None, "connection reset"),
        ("answers with something that is not HTTP", Behaviour::NotHttp, None, "not an HTTP answer"),
    ];
    let mut hostile = Vec::new();
    for (name, behaviour, status, error) in cases {
        let p = app.partner().await;
        let receiver = Hostile::start(behaviour).await;
        let hook = endpoint(&p, &receiver.url).await;
        app.client(&p).await;
        hostile.push((name, receiver, p, hook, status, error));
    }
    for (name, receiver, ..) in &hostile {
        assert!(!receiver.wait_for(1, 30).await.is_empty(), "{name}: the first attempt reaches it");
    }

    // With every hostile receiver at work (the silent one holding its connection):
    another_tenant_is_served(&other, &other_receiver).await;

    for (name, _, p, hook, status, error) in &hostile {
        let log = attempts(p, hook, 1, 40).await;
        let first = log.first().unwrap_or_else(|| panic!("{name}: its attempt is logged"));
        assert_eq!(first["success"], false, "{name}: a failed attempt: {first}");
        assert_eq!(first["statusCode"], json!(status), "{name}: the status it answered, if any: {first}");
        let logged = first["error"].as_str().unwrap_or_default();
        assert!(logged.contains(error), "{name}: the log says why ({error}): {first}");
    }
    let stray: Vec<Value> = other_receiver.received().iter().map(|r| r.json()).filter(|e| e["partnerId"] != other.id.as_str()).collect();
    assert!(stray.is_empty(), "no redirect was followed to another tenant's receiver: {stray:?}");

    assert_eq!(poller_pid(), pid, "the delivery process never died");
    let grown = peak_memory_kib(&pid).saturating_sub(peak_before);
    assert!(grown < 32 * 1024, "a 100 MB answer is never held in memory: the poller's peak grew by {grown} KiB");
}

#[tokio::test]
async fn a_receivers_retry_after_is_honoured_capped_at_a_day_and_never_crashes_delivery() {
    let app = app();
    let other_receiver = Receiver::start().await;
    let other = app.partner().await;
    endpoint(&other, &other_receiver.url).await;
    let pid = poller_pid();

    let (huge, negative, fraction, date) = (
        Hostile::start(Behaviour::TooMany("10000000000000")).await,
        Hostile::start(Behaviour::TooMany("-5")).await,
        Hostile::start(Behaviour::TooMany("1.5")).await,
        Hostile::start(Behaviour::TooManyUntil(Duration::from_secs(6))).await,
    );
    let mut hooks = Vec::new();
    for receiver in [&huge, &negative, &fraction, &date] {
        let p = app.partner().await;
        let hook = endpoint(&p, &receiver.url).await;
        app.client(&p).await;
        hooks.push((p, hook));
    }

    // Each 429 is a failed attempt of its own endpoint, and the next attempt waits as
    // asked: a negative wait is no wait (the schedule's 1 s), 1.5 s is 2 s, a date is
    // read as one (the test schedule alone would retry after 1 s). Later retries may
    // have come too by the time we look; the first gap is the one asked for.
    let negative_arrivals = negative.wait_for(2, 30).await;
    assert!(negative_arrivals.len() >= 2, "Retry-After: -5 is retried on the schedule");
    let fraction_arrivals = fraction.wait_for(2, 30).await;
    assert!(fraction_arrivals.len() >= 2, "Retry-After: 1.5 is retried");
    assert!(fraction_arrivals[1] - fraction_arrivals[0] >= Duration::from_millis(1900), "Retry-After: 1.5 waits 2 s (rounded up)");
    let date_arrivals = date.wait_for(2, 40).await;
    assert!(date_arrivals.len() >= 2, "Retry-After as an HTTP date is retried");
    assert!(date_arrivals[1] - date_arrivals[0] >= Duration::from_secs(3), "Retry-After as a date 6 s ahead waits for it");

    // A wait of 317 000 years is one day: not retried meanwhile (the other cases took
    // seconds), the delivery due again in 24 h, and the process that read it the one that
    // started (it once panicked on the arithmetic).
    assert_eq!(huge.arrivals().len(), 1, "Retry-After: 10000000000000 is not retried within seconds");
    let (p, hook) = &hooks[0];
    let log = attempts(p, hook, 1, 30).await;
    let first = &log[0];
    assert_eq!((first["statusCode"].clone(), first["success"].clone()), (json!(429), json!(false)), "{first}");
    let at = chrono::DateTime::parse_from_rfc3339(first["at"].as_str().unwrap()).unwrap();
    let event = first["eventId"].as_str().unwrap();
    let mut due = None;
    for _ in 0..40 {
        let item = app
            .dynamodb()
            .await
            .get_item()
            .table_name("clientele")
            .key("pk", AttributeValue::S(format!("DELIVERY#{hook}#{event}")))
            .key("sk", AttributeValue::S("#".into()))
            .consistent_read(true)
            .send()
            .await
            .expect("DynamoDB Local answers")
            .item
            .expect("the delivery");
        if item.get("attempts").and_then(|v| v.as_n().ok()).is_some_and(|n| n == "1") {
            due = item.get("nextAttemptAt").and_then(|v| v.as_s().ok()).cloned();
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let due = chrono::DateTime::parse_from_rfc3339(&due.expect("the delivery is pending after its first attempt")).unwrap();
    let wait = due - at;
    assert!(
        wait > chrono::Duration::hours(24) - chrono::Duration::minutes(1) && wait <= chrono::Duration::hours(24) + chrono::Duration::minutes(1),
        "Retry-After: 10000000000000 puts the next attempt off by a day, no more: {wait}"
    );

    another_tenant_is_served(&other, &other_receiver).await;
    assert_eq!(poller_pid(), pid, "the delivery process never died");
}
