//! Lifecycle and governance: trial, live, suspension, permissions, key rotation, bulk delete.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::helpers::{app, unique_email};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn demo_goes_to_trial_then_live_and_never_back() {
    let app = app();
    let p = app.partner().await;
    let c = app.client(&p).await;
    let cid = id(&c);

    let trial = app.offer_trial(&p.key, &cid, json!({ "days": 14 })).await;
    let trial = trial.expect(200).clone();
    assert_eq!(trial["status"], "trial");
    let ends = chrono::DateTime::parse_from_rfc3339(trial["trialEndsAt"].as_str().unwrap()).unwrap();
    let expected = Utc::now() + Duration::days(14);
    assert!((ends.with_timezone(&Utc) - expected).num_seconds().abs() < 60, "ends in 14 days: {ends}");
    assert_eq!(trial["version"], 1);

    let again = app.offer_trial(&p.key, &cid, json!({ "days": 30 })).await;
    assert!(again.expect(200)["trialEndsAt"].as_str().unwrap() > trial["trialEndsAt"].as_str().unwrap(), "a new end");

    let live = app.make_live(&p.key, &cid).await;
    assert_eq!((live.expect(200)["status"].clone(), live.body["trialEndsAt"].clone()), (json!("live"), Value::Null));

    app.make_live(&p.key, &cid).await.problem(409, "invalid_transition");
    app.offer_trial(&p.key, &cid, json!({ "days": 5 })).await.problem(409, "invalid_transition");
    assert_eq!(app.get_client(&p.key, &cid).await.expect(200)["status"], "live");
}

#[tokio::test]
async fn demo_goes_live_directly() {
    let app = app();
    let p = app.partner().await;
    let c = app.client(&p).await;
    assert_eq!(app.make_live(&p.key, &id(&c)).await.expect(200)["status"], "live");
}

#[tokio::test]
async fn trial_length_must_be_1_to_90_days() {
    let app = app();
    let p = app.partner().await;
    let cid = id(&app.client(&p).await);
    for days in [json!(0), json!(91), json!("7"), json!(2.5), Value::Null] {
        let res = app.offer_trial(&p.key, &cid, json!({ "days": days })).await;
        res.problem(400, "validation_failed");
        assert_eq!(res.error_fields(), ["days"], "days = {days}");
    }
    assert_eq!(app.get_client(&p.key, &cid).await.expect(200)["status"], "demo");
}

#[tokio::test]
async fn an_ended_trial_reads_as_demo_at_once_and_the_scheduled_job_writes_it() {
    let app = app();
    let p = app.partner().await;
    let cid = id(&app.client(&p).await);
    app.offer_trial(&p.key, &cid, json!({ "days": 1 })).await.expect(200);

    // Move time forward: the trial ended a minute ago.
    let ended = (Utc::now() - Duration::minutes(1)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    app.dynamodb()
        .await
        .update_item()
        .table_name("clientele")
        .key("pk", AttributeValue::S(format!("CLIENT#{cid}")))
        .key("sk", AttributeValue::S("#".into()))
        .update_expression("SET trialEndsAt = :e, gsi2sk = :s")
        .expression_attribute_values(":e", AttributeValue::S(ended.clone()))
        .expression_attribute_values(":s", AttributeValue::S(format!("{ended}#{cid}")))
        .send()
        .await
        .expect("DynamoDB Local answers");

    let read = app.get_client(&p.key, &cid).await;
    assert_eq!((read.expect(200)["status"].clone(), read.body["trialEndsAt"].clone()), (json!("demo"), Value::Null));

    let report = app.invoke("expire-trials").await;
    assert!(report["expired"].as_u64().unwrap() >= 1, "report: {report}");

    let demo = app.list_clients(&p.key, "?status=demo").await;
    assert_eq!(demo.expect(200)["total"], 1, "the status index agrees now");
    assert_eq!(app.list_clients(&p.key, "?status=trial").await.expect(200)["total"], 0);
    let events = app.list_events(&p.key, "?type=client.trial_expired").await;
    let events = events.expect(200);
    assert_eq!(events["total"], 1);
    assert_eq!(events["data"][0]["data"]["object"]["id"], cid.as_str());
    assert_eq!(events["data"][0]["data"]["previous"]["status"], "trial");
    assert_eq!(events["data"][0]["actor"]["kind"], "system");
    // A trial can be offered again after it ended.
    assert_eq!(app.offer_trial(&p.key, &cid, json!({ "days": 3 })).await.expect(200)["status"], "trial");
}

#[tokio::test]
async fn suspension_keeps_the_data_refuses_usage_and_shows_in_lookup() {
    let app = app();
    let p = app.partner().await;
    let c = app.client(&p).await;
    let cid = id(&c);
    app.set_quotas(&p.key, &cid, json!({ "apiCalls": { "limit": 10, "period": "day" } })).await.expect(200);

    let res = app.suspend_client(&p.key, &cid, Some(json!({ "reason": "unpaid invoice" }))).await;
    let s = res.expect(200);
    assert_eq!((s["suspended"].clone(), s["isActive"].clone(), s["suspendedReason"].clone()), (json!(true), json!(false), json!("unpaid invoice")));
    assert_eq!(s["email"], c["email"], "data is kept");

    let looked_up = app.lookup_client(&p.key, c["apiKey"].as_str().unwrap()).await;
    assert_eq!(looked_up.expect(200)["suspended"], true);
    app.record_usage(&p.key, &cid, json!({ "resource": "apiCalls", "amount": 1 })).await.problem(403, "forbidden");

    let res = app.unsuspend_client(&p.key, &cid).await;
    assert_eq!((res.expect(200)["suspended"].clone(), res.body["suspendedReason"].clone()), (json!(false), Value::Null));
    app.record_usage(&p.key, &cid, json!({ "resource": "apiCalls", "amount": 1 })).await.expect(200);
}

#[tokio::test]
async fn suspending_twice_or_unsuspending_an_active_client_changes_nothing() {
    let app = app();
    let p = app.partner().await;
    let cid = id(&app.client(&p).await);
    assert_eq!(app.unsuspend_client(&p.key, &cid).await.expect(200)["version"], 0);
    assert_eq!(app.suspend_client(&p.key, &cid, None).await.expect(200)["version"], 1);
    assert_eq!(app.suspend_client(&p.key, &cid, None).await.expect(200)["version"], 1);
}

#[tokio::test]
async fn permissions_are_replaced_as_a_whole_and_validated() {
    let app = app();
    let p = app.partner().await;
    let cid = id(&app.client(&p).await);
    let res = app.set_permissions(&p.key, &cid, json!({ "reports": ["view"], "campaigns": ["view", "edit"] })).await;
    assert_eq!(res.expect(200)["permissions"], json!({ "reports": ["view"], "campaigns": ["view", "edit"] }));
    let res = app.set_permissions(&p.key, &cid, json!({ "billing": ["remove"] })).await;
    assert_eq!(res.expect(200)["permissions"], json!({ "billing": ["remove"] }));
    let res = app.set_permissions(&p.key, &cid, json!({ "Bad Name": ["view"], "reports": ["fly"] })).await;
    res.problem(400, "validation_failed");
    assert_eq!(res.error_fields(), ["Bad Name", "reports"]);
    let too_many: serde_json::Map<String, Value> = (0..101).map(|i| (format!("r{i}"), json!(["view"]))).collect();
    app.set_permissions(&p.key, &cid, Value::Object(too_many)).await.problem(400, "validation_failed");
    assert_eq!(app.get_client(&p.key, &cid).await.expect(200)["permissions"], json!({ "billing": ["remove"] }));
}

#[tokio::test]
async fn rotating_the_client_key_retires_the_old_one_at_once() {
    let app = app();
    let p = app.partner().await;
    let c = app.client(&p).await;
    let old = c["apiKey"].as_str().unwrap().to_owned();
    let res = app.rotate_client_key(&p.key, &id(&c)).await;
    let rotated = res.expect(200).clone();
    let new = rotated["apiKey"].as_str().unwrap();
    assert_ne!(new, old);
    assert_eq!(rotated["apiKeyPrefix"], &new[..12]);
    assert_eq!(rotated["version"], 1);
    app.lookup_client(&p.key, &old).await.problem(404, "not_found");
    assert_eq!(app.lookup_client(&p.key, new).await.expect(200)["id"], c["id"]);
    assert!(app.get_client(&p.key, &id(&c)).await.expect(200).get("apiKey").is_none());
}

#[tokio::test]
async fn bulk_delete_reports_each_id_and_cleans_up_like_single_delete() {
    let app = app();
    let (p, other) = (app.partner().await, app.partner().await);
    let mine: Vec<Value> = futures::future::join_all((0..3).map(|_| app.client(&p))).await;
    let theirs = app.client(&other).await;
    let unknown = "0193a000-0000-7000-8000-000000000000";
    let mut ids: Vec<String> = mine.iter().map(id).collect();
    ids.extend([id(&theirs), unknown.to_owned(), "garbage".to_owned(), ids[0].clone()]);
    let res = app.bulk_delete(&p.key, json!({ "ids": ids })).await;
    let body = res.expect(200);
    let deleted: Vec<String> = mine.iter().map(id).collect();
    assert_eq!(body["deleted"], json!(deleted));
    assert_eq!(body["notFound"], json!([id(&theirs), unknown, "garbage"]));
    assert_eq!(app.list_clients(&p.key, "").await.expect(200)["total"], 0);
    app.get_client(&other.key, &id(&theirs)).await.expect(200);
    // Their emails are free again.
    app.create_client(&p.key, json!({ "name": "again", "email": mine[0]["email"] })).await.expect(201);
    let removed = app.list_events(&p.key, "?type=client.removed").await;
    assert_eq!(removed.expect(200)["total"], 3);
}

#[tokio::test]
async fn bulk_delete_takes_1_to_100_ids() {
    let app = app();
    let p = app.partner().await;
    let many: Vec<String> = (0..101).map(|_| unique_email()).collect();
    for body in [json!({ "ids": [] }), json!({ "ids": many }), json!({ "ids": "x" }), json!({})] {
        let res = app.bulk_delete(&p.key, body).await;
        res.problem(400, "validation_failed");
        assert_eq!(res.error_fields(), ["ids"]);
    }
}
