//! Quotas and usage: atomic, never past the limit, per period.

use futures::future::join_all;
use serde_json::{Value, json};

use crate::helpers::app;

#[tokio::test]
async fn usage_is_added_within_the_limit_and_refused_beyond_it() {
    let app = app();
    let p = app.partner().await;
    let c = app.client(&p).await;
    let cid = c["id"].as_str().unwrap();
    let quotas = json!({ "apiCalls": { "limit": 10, "period": "month" }, "domains": { "limit": 3 } });
    assert_eq!(app.set_quotas(&p.key, cid, quotas.clone()).await.expect(200)["quotas"], quotas);

    // A monthly period resets at the start of next month, UTC (as of the request, which
    // the clock read just before or just after it dates).
    let next_month = || {
        use chrono::Datelike as _;
        let now = chrono::Utc::now();
        let (year, month) = if now.month() == 12 { (now.year() + 1, 1) } else { (now.year(), now.month() + 1) };
        format!("{year:04}-{month:02}-01T00:00:00.000Z")
    };
    let before = next_month();
    let res = app.record_usage(&p.key, cid, json!({ "resource": "apiCalls", "amount": 7 })).await;
    let after = next_month();
    let usage = res.expect(200);
    assert_eq!(usage["apiCalls"]["used"], 7);
    assert_eq!(usage["apiCalls"]["limit"], 10);
    assert_eq!(usage["apiCalls"]["period"], "month");
    let resets = usage["apiCalls"]["resetsAt"].as_str().unwrap();
    assert!(resets == before || resets == after, "resetsAt {resets}: the start of next month, {before}");

    let res = app.record_usage(&p.key, cid, json!({ "resource": "apiCalls", "amount": 4 })).await;
    res.problem(429, "quota_exceeded");
    app.record_usage(&p.key, cid, json!({ "resource": "apiCalls", "amount": 3 })).await.expect(200);
    app.record_usage(&p.key, cid, json!({ "resource": "apiCalls", "amount": 1 })).await.problem(429, "quota_exceeded");

    let read = app.get_usage(&p.key, cid).await;
    let read = read.expect(200);
    assert_eq!(read["apiCalls"]["used"], 10);
    assert_eq!(read["domains"], json!({ "used": 0, "limit": 3, "period": null, "resetsAt": null }));

    let listed = app.list_clients(&p.key, "").await;
    assert_eq!(listed.expect(200)["data"][0]["actualCallCount"], 10);
}

#[tokio::test]
async fn racing_usage_never_passes_the_limit() {
    let app = app();
    let p = app.partner().await;
    let c = app.client(&p).await;
    let cid = c["id"].as_str().unwrap().to_owned();
    app.set_quotas(&p.key, &cid, json!({ "exports": { "limit": 7, "period": "day" } })).await.expect(200);
    let results = join_all((0..20).map(|_| {
        let (key, cid) = (p.key.clone(), cid.clone());
        async move { app.record_usage(&key, &cid, json!({ "resource": "exports", "amount": 1 })).await }
    }))
    .await;
    assert_eq!(results.iter().filter(|r| r.status == 200).count(), 7);
    for r in results.iter().filter(|r| r.status != 200) {
        r.problem(429, "quota_exceeded");
    }
    assert_eq!(app.get_usage(&p.key, &cid).await.expect(200)["exports"]["used"], 7);
}

#[tokio::test]
async fn usage_needs_a_quota_a_positive_amount_and_a_visible_client() {
    let app = app();
    let (p, other) = (app.partner().await, app.partner().await);
    let c = app.client(&p).await;
    let cid = c["id"].as_str().unwrap();
    let res = app.record_usage(&p.key, cid, json!({ "resource": "apiCalls", "amount": 1 })).await;
    res.problem(400, "validation_failed");
    assert_eq!(res.error_fields(), ["resource"]);
    let res = app.record_usage(&p.key, cid, json!({ "resource": "apiCalls", "amount": 0 })).await;
    assert_eq!(res.error_fields(), ["amount"]);
    let res = app.record_usage(&p.key, cid, json!({ "amount": -2, "extra": true })).await;
    assert_eq!(res.error_fields(), ["resource", "amount", "extra"]);
    app.get_usage(&other.key, cid).await.problem(404, "not_found");
    app.record_usage(&other.key, cid, json!({ "resource": "apiCalls", "amount": 1 })).await.problem(404, "not_found");
    assert_eq!(app.get_usage(&p.key, cid).await.expect(200), &json!({}));
}

#[tokio::test]
async fn bad_quotas_are_named_and_change_nothing() {
    let app = app();
    let p = app.partner().await;
    let c = app.client(&p).await;
    let cid = c["id"].as_str().unwrap();
    let res = app.set_quotas(&p.key, cid, json!({ "apiCalls": { "limit": "many" }, "x": { "period": "week" } })).await;
    res.problem(400, "validation_failed");
    assert_eq!(res.error_fields(), ["apiCalls.limit", "x.limit", "x.period"]);
    let res = app.set_quotas(&p.key, cid, json!([1])).await;
    res.problem(400, "validation_failed");
    assert_eq!(app.get_client(&p.key, cid).await.expect(200)["quotas"], Value::Object(Default::default()));
}
