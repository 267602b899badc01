//! Versions across every change of a client (API.md §1 "Versioned resources"): each
//! answer carries the ETag of the version it shows, `If-Match` guards every PUT, and
//! changes through different routes at once each count once, none lost.

use reqwest::Method;
use serde_json::json;

use crate::helpers::app;

#[tokio::test]
async fn every_change_answers_with_its_versions_etag_and_a_stale_if_match_changes_nothing() {
    let app = app();
    let p = app.partner().await;
    let c = app.client(&p).await;
    let cid = c["id"].as_str().unwrap();
    let read = app.get_client(&p.key, cid).await;
    assert_eq!(read.header("etag"), Some("\"0\""), "a retrieve carries its ETag");
    let live = app.make_live(&p.key, cid).await;
    assert_eq!((live.expect(200)["version"].clone(), live.header("etag")), (json!(1), Some("\"1\"")));
    let quotas = |limit: u64| json!({ "apiCalls": { "limit": limit, "period": "month" } });
    let path = |tail: &str| format!("/v1/clients/{cid}/{tail}");
    for (tail, body) in [("quotas", quotas(5)), ("permissions", json!({ "reports": ["view"] }))] {
        let stale = app.call_with(Method::PUT, &path(tail), &p.key, Some(body), &[("if-match", "\"0\"")]).await;
        stale.problem(412, "version_mismatch");
    }
    let unchanged = app.get_client(&p.key, cid).await;
    let unchanged = unchanged.expect(200);
    assert_eq!((unchanged["version"].clone(), unchanged["quotas"].clone(), unchanged["permissions"].clone()), (json!(1), c["quotas"].clone(), c["permissions"].clone()));
    let set = app.call_with(Method::PUT, &path("quotas"), &p.key, Some(quotas(7)), &[("if-match", "\"1\"")]).await;
    assert_eq!((set.expect(200)["quotas"]["apiCalls"]["limit"].clone(), set.header("etag")), (json!(7), Some("\"2\"")));
    let replaced = app.call(Method::PUT, &format!("/v1/clients/{cid}"), &p.key, Some(json!({ "name": c["name"], "email": c["email"] }))).await;
    assert_eq!(replaced.expect(200)["version"], 3);
    assert_eq!(replaced.header("etag"), Some("\"3\""));
}

#[tokio::test]
async fn changes_through_different_routes_at_once_each_count_once_and_none_is_lost() {
    let app = app();
    let p = app.partner().await;
    let c = app.client(&p).await;
    let cid = c["id"].as_str().unwrap().to_owned();
    let key = &p.key;
    let (patched, quotas, permissions, suspended, trial) = tokio::join!(
        app.update_client(key, &cid, json!({ "metadata": { "tier": "gold" } })),
        app.set_quotas(key, &cid, json!({ "exports": { "limit": 3, "period": "day" } })),
        app.set_permissions(key, &cid, json!({ "reports": ["view"] })),
        app.suspend_client(key, &cid, Some(json!({ "reason": "billing" }))),
        app.offer_trial(key, &cid, json!({ "days": 7 })),
    );
    for res in [&patched, &quotas, &permissions, &suspended, &trial] {
        res.expect(200);
    }
    let after = app.get_client(key, &cid).await;
    let after = after.expect(200);
    assert_eq!(after["version"], 5, "five changes, five versions: {after}");
    assert_eq!(after["metadata"]["tier"], "gold");
    assert_eq!(after["quotas"]["exports"]["limit"], 3);
    assert_eq!(after["permissions"]["reports"], json!(["view"]));
    assert_eq!((after["suspended"].clone(), after["suspendedReason"].clone()), (json!(true), json!("billing")));
    assert_eq!(after["status"], "trial");
}
