//! List widths (shared/src/store/lists.rs, issue 22): a scope's lists start one
//! partition wide, so a page is one `Query`; when DynamoDB throttles a write to one
//! of them, the scope's width doubles a delay later, and every page, total, filter,
//! update and delete, by any process, still finds every entry exactly once.
//!
//! DynamoDB Local never throttles, so an SDK interceptor on an in-process App answers
//! the chosen transactions as DynamoDB answers a write to a partition over its limit
//! (`TransactionCanceledException`, `ThrottlingError` on that item), without letting
//! them write: DynamoDB Local is sent an empty transaction instead, which it refuses.
//! Everything else is the real stack: the pages, changes and deletes after the
//! widening go through the HTTP functions, whose processes read the widths themselves.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::config::interceptors::{BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::types::{AttributeValue, Select};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use clientele::app::App;
use clientele::store::Store;
use serde_json::{Value, json};

use crate::helpers::{Partner, app, unique, unique_email};
use crate::in_process::event_with_query as event;

/// Throttles every transaction that writes a partition key starting with the armed prefix.
#[derive(Debug, Clone, Default)]
struct Throttle(Arc<Mutex<Option<String>>>);

/// The answer a throttled transaction gets instead of DynamoDB Local's.
#[derive(Debug)]
struct Throttled(String);

impl Storable for Throttled {
    type Storer = StoreReplace<Self>;
}

impl Throttle {
    fn arm(&self, prefix: String) {
        *self.0.lock().unwrap() = Some(prefix);
    }

    fn disarm(&self) {
        *self.0.lock().unwrap() = None;
    }
}

/// The partition key of each item of a `TransactWriteItems` body.
fn transaction_pks(body: &Value) -> Vec<String> {
    let items = body["TransactItems"].as_array().cloned().unwrap_or_default();
    items
        .iter()
        .map(|it| {
            let pk = if it["Put"].is_object() { &it["Put"]["Item"]["pk"]["S"] } else { &it.as_object().and_then(|o| o.values().next()).cloned().unwrap_or_default()["Key"]["pk"]["S"] };
            pk.as_str().unwrap_or_default().to_owned()
        })
        .collect()
}

impl Intercept for Throttle {
    fn name(&self) -> &'static str {
        "throttle"
    }

    fn modify_before_transmit(&self, ctx: &mut BeforeTransmitInterceptorContextMut<'_>, _: &RuntimeComponents, cfg: &mut ConfigBag) -> Result<(), BoxError> {
        let Some(prefix) = self.0.lock().unwrap().clone() else { return Ok(()) };
        let req = ctx.request_mut();
        if req.headers().get("x-amz-target") != Some("DynamoDB_20120810.TransactWriteItems") {
            return Ok(());
        }
        let body: Value = serde_json::from_slice(req.body().bytes().unwrap_or_default())?;
        let pks = transaction_pks(&body);
        let Some(hit) = pks.iter().position(|pk| pk.starts_with(&prefix)) else { return Ok(()) };
        let reasons: Vec<Value> = (0..pks.len())
            .map(|i| {
                if i == hit {
                    json!({ "Code": "ThrottlingError", "Message": "Throughput exceeds the current capacity of your table or index." })
                } else {
                    json!({ "Code": "None" })
                }
            })
            .collect();
        let answer = json!({
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
            "CancellationReasons": reasons,
        });
        cfg.interceptor_state().store_put(Throttled(answer.to_string()));
        *req.body_mut() = SdkBody::from("{}");
        req.headers_mut().insert("content-length", "2");
        Ok(())
    }

    fn modify_before_deserialization(&self, ctx: &mut BeforeDeserializationInterceptorContextMut<'_>, _: &RuntimeComponents, cfg: &mut ConfigBag) -> Result<(), BoxError> {
        if let Some(Throttled(answer)) = cfg.load::<Throttled>() {
            let res = ctx.response_mut();
            *res.status_mut() = 400u16.try_into()?;
            res.headers_mut().insert("content-length", answer.len().to_string());
            *res.body_mut() = SdkBody::from(answer.clone());
        }
        Ok(())
    }
}

/// The App a function builds, over a DynamoDB client that throttles when armed, widening
/// lists `delay` after a throttle: shorter than the processes' 20 s cache allows, which is
/// safe here because no other process reads the test's scope before its widenings are in
/// effect (the HTTP functions first touch it after them).
async fn throttled_app(throttle: &Throttle, delay: Duration) -> &'static App {
    let config = crate::in_process::stack_config();
    let plain = app().dynamodb().await;
    let db = aws_sdk_dynamodb::Client::from_conf(plain.config().to_builder().interceptor(throttle.clone()).build());
    Box::leak(Box::new(App { store: Store::new(db, config.table_name.clone()).with_widen_delay(delay), config }))
}

/// How many entries each of the first `n` partitions of list `list` holds.
pub(crate) async fn per_partition(list: &str, n: usize) -> Vec<i32> {
    let db = app().dynamodb().await;
    let mut counts = Vec::new();
    for shard in 0..n {
        let out = db
            .query()
            .table_name("clientele")
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", AttributeValue::S(format!("{list}#{shard}")))
            .select(Select::Count)
            .consistent_read(true)
            .send()
            .await
            .expect("DynamoDB Local answers");
        counts.push(out.count);
    }
    counts
}

/// The width recorded for `scope`, and when it takes effect (Unix ms).
async fn recorded_width(scope: &str) -> Option<(u32, i64)> {
    let db = app().dynamodb().await;
    let out = db
        .get_item()
        .table_name("clientele")
        .key("pk", AttributeValue::S(format!("WIDTH#{scope}")))
        .key("sk", AttributeValue::S("#".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("DynamoDB Local answers");
    let item = out.item?;
    let num = |k: &str| item.get(k).and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<i64>().ok());
    Some((u32::try_from(num("w")?).ok()?, num("w_from")?))
}

/// Creates a client of `p` in process; its status and body.
async fn create_in_process(lambda: &'static App, p: &Partner) -> (u16, Value, Option<String>) {
    let body = json!({ "name": unique("wide"), "email": unique_email() });
    let res = clientele::http::serve(lambda, event("POST", "/v1/clients", &[], "", &p.key, Some(body)), "widening", clientele::api::clients::create).await;
    let status = res.status().as_u16();
    let retry = res.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body: Value = serde_json::from_slice(res.body()).unwrap_or(Value::Null);
    (status, body, retry)
}

/// Every page of `query` by `limit`, walked by cursor through the HTTP stack: the ids and the totals seen.
async fn walk(key: &str, query: &str, limit: usize) -> (Vec<String>, HashSet<u64>) {
    let (mut ids, mut totals) = (Vec::new(), HashSet::new());
    let mut next = format!("?{query}&limit={limit}");
    loop {
        let res = app().list_clients(key, &next).await;
        let page = res.expect(200);
        totals.insert(page["total"].as_u64().unwrap());
        ids.extend(page["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()));
        match page["nextCursor"].as_str() {
            Some(c) => next = format!("?{query}&limit={limit}&cursor={c}"),
            None => return (ids, totals),
        }
        assert!(ids.len() <= 200, "{query}: the cursor pages past the end");
    }
}

#[tokio::test]
async fn a_throttled_list_widens_and_every_page_change_and_delete_still_finds_its_entries() {
    let root = app().partner().await;
    let list = format!("CLIENTS#{}", root.id);
    let throttle = Throttle::default();
    let delay = Duration::from_secs(5);
    let lambda = throttled_app(&throttle, delay).await;

    // One partition wide to start with: a page is one Query.
    let mut made = Vec::new();
    for _ in 0..5 {
        let (status, body, _) = create_in_process(lambda, &root).await;
        assert_eq!(status, 201, "{body}");
        made.push(body["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(recorded_width(&root.id).await, None, "no width recorded: one partition");
    assert_eq!(per_partition(&list, 2).await, [5, 0], "every entry in partition 0");

    // DynamoDB throttles the root's list: the create is a 503 with Retry-After and
    // leaves nothing; the width doubles, from `delay` on.
    throttle.arm(format!("{list}#"));
    let before = chrono::Utc::now().timestamp_millis();
    let (status, body, retry) = create_in_process(lambda, &root).await;
    throttle.disarm();
    assert_eq!((status, body["errorCode"].as_str()), (503, Some("unavailable")), "{body}");
    assert!(retry.is_some(), "a throttled write says when to try again");
    assert_eq!(per_partition(&list, 2).await, [5, 0], "the throttled create wrote nothing");
    let (width, from) = recorded_width(&root.id).await.expect("the width is recorded");
    assert_eq!(width, 2);
    let delay_ms = i64::try_from(delay.as_millis()).unwrap();
    assert!(from >= before + delay_ms && from <= chrono::Utc::now().timestamp_millis() + delay_ms, "in effect {delay:?} after the throttle");

    // Throttled again before that takes effect: no second doubling.
    throttle.arm(format!("{list}#"));
    assert_eq!(create_in_process(lambda, &root).await.0, 503);
    throttle.disarm();
    assert_eq!(recorded_width(&root.id).await.map(|w| w.0), Some(2), "one doubling per delay");

    // Once in effect, the next throttle doubles it again.
    tokio::time::sleep(delay + Duration::from_millis(200)).await;
    throttle.arm(format!("{list}#"));
    assert_eq!(create_in_process(lambda, &root).await.0, 503);
    throttle.disarm();
    assert_eq!(recorded_width(&root.id).await.map(|w| w.0), Some(4));
    tokio::time::sleep(delay + Duration::from_millis(200)).await;

    // A throttle on an entry placed under an earlier width (a change to an older client,
    // whose entry stays in partition 0) widens nothing: no width would spread it.
    let early = made[0].clone();
    throttle.arm(format!("{list}#0"));
    let path = format!("/v1/clients/{early}");
    let res = clientele::http::serve(lambda, event("PATCH", &path, &[("clientId", &early)], "", &root.key, Some(json!({ "isActive": false }))), "widening", clientele::api::clients::update).await;
    throttle.disarm();
    assert_eq!(res.status().as_u16(), 503);
    assert_eq!(recorded_width(&root.id).await.map(|w| w.0), Some(4), "an older entry's throttle leaves the width");
    assert_eq!(recorded_width("ALL").await, None, "the platform's lists were never throttled: one partition");

    // Four wide: new entries spread over every partition; the old ones stay in 0.
    for _ in 0..40 {
        let (status, body, _) = create_in_process(lambda, &root).await;
        assert_eq!(status, 201, "{body}");
        made.push(body["id"].as_str().unwrap().to_owned());
    }
    let counts = per_partition(&list, 5).await;
    assert!(counts[..4].iter().all(|n| *n > 0) && counts[4] == 0, "40 new ids over 4 partitions: {counts:?}");
    assert_eq!(counts.iter().sum::<i32>(), 45);

    // The HTTP functions (other processes) page over every partition: each client once,
    // newest first, the same total on every page.
    made.sort_by(|a, b| b.cmp(a));
    let (seen, totals) = walk(&root.key, "", 7).await;
    assert_eq!(seen, made, "every client once, newest first");
    assert_eq!(totals, HashSet::from([45]));

    // Changes and deletes find the entries where they were written: the five from
    // before the widening (partition 0) and one from after.
    let changed: Vec<String> = std::iter::once(made[0].clone()).chain(made[made.len() - 5..].iter().cloned()).collect();
    for id in &changed {
        app().update_client(&root.key, id, json!({ "isActive": false })).await.expect(200);
    }
    let (suspended, totals) = walk(&root.key, "suspended=true", 4).await;
    assert_eq!(suspended, changed, "the suspended filter: each changed client once, newest first");
    assert_eq!(totals, HashSet::from([6]));
    let (seen, _) = walk(&root.key, "", 10).await;
    assert_eq!(seen, made, "a change moves no client out of, or twice into, the whole list");
    for id in &changed {
        app().delete_client(&root.key, id).await.expect(204);
    }
    made.retain(|id| !changed.contains(id));
    let (seen, totals) = walk(&root.key, "", 10).await;
    assert_eq!(seen, made, "a deleted client is gone from the list");
    assert_eq!(totals, HashSet::from([39]));
    assert_eq!(per_partition(&list, 5).await.iter().sum::<i32>(), 39, "their entries went with them: nothing left over in any partition");
    assert_eq!(walk(&root.key, "suspended=true", 3).await.0, Vec::<String>::new());

    // The root's events spread the same way, and list whole.
    let events = app().list_events(&root.key, "?type=client.created&limit=100").await;
    let created: HashSet<String> = events.expect(200)["data"].as_array().unwrap().iter().map(|e| e["data"]["object"]["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(created.len(), 45, "one client.created per create that was not throttled");
    assert!(changed.iter().all(|id| created.contains(id)));
    assert!(made.iter().all(|id| created.contains(id)));
}
