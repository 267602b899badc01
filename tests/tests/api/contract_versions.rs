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

/// API.md §1 "Concurrency": `If-Match` guards every change that takes it, and is never
/// ignored. A webhook endpoint is versioned: a stale `If-Match` on its DELETE is 412 and
/// the endpoint stays. A partner and an API key carry no version: an `If-Match` naming
/// one cannot match (412, nothing changed), `*` can. A weak tag never matches (If-Match
/// compares strongly); a list of tags matches when one of its strong tags is current.
#[tokio::test]
async fn if_match_is_honoured_on_every_change_never_ignored() {
    let app = app();
    let p = app.partner().await;
    let hook = app.call(Method::POST, "/v1/webhooks", &p.key, Some(json!({ "url": "http://127.0.0.1:9/hook", "events": ["*"] }))).await;
    let hid = hook.expect(201)["id"].as_str().unwrap().to_owned();
    let hook_path = format!("/v1/webhooks/{hid}");
    let etag = app.call(Method::GET, &hook_path, &p.key, None).await.header("etag").map(str::to_owned);
    assert_eq!(etag.as_deref(), hook.header("etag"), "created and read, an endpoint carries its version's ETag");
    let version: u64 = etag.expect("an ETag").trim_matches('"').parse().unwrap();
    for stale in [format!("\"{}\"", version + 1), format!("W/\"{version}\"")] {
        let res = app.call_with(Method::DELETE, &hook_path, &p.key, None, &[("if-match", &stale)]).await;
        res.problem(412, "version_mismatch");
        app.call(Method::GET, &hook_path, &p.key, None).await.expect(200);
    }
    let current = format!("\"{version}\"");
    assert_eq!(app.call_with(Method::DELETE, &hook_path, &p.key, None, &[("if-match", &current)]).await.status, 204);
    app.call(Method::GET, &hook_path, &p.key, None).await.problem(404, "not_found");

    let sub = app.sub_partner(&p).await;
    let partner_path = format!("/v1/partners/{}", sub.id);
    let renamed = crate::helpers::unique("renamed");
    let res = app.call_with(Method::PATCH, &partner_path, &p.key, Some(json!({ "name": renamed })), &[("if-match", "\"0\"")]).await;
    res.problem(412, "version_mismatch");
    assert_eq!(app.get_partner(&p.key, &sub.id).await.expect(200)["name"], sub.name.as_str(), "nothing changed");
    let res = app.call_with(Method::PATCH, &partner_path, &p.key, Some(json!({ "name": renamed })), &[("if-match", "*")]).await;
    assert_eq!(res.expect(200)["name"], renamed.as_str());

    let key = app.create_api_key(&p.key, json!({ "name": "k" })).await;
    let (kid, secret) = (key.expect(201)["id"].as_str().unwrap().to_owned(), key.body["key"].as_str().unwrap().to_owned());
    let key_path = format!("/v1/api-keys/{kid}");
    app.call_with(Method::DELETE, &key_path, &p.key, None, &[("if-match", "\"0\"")]).await.problem(412, "version_mismatch");
    app.list_clients(&secret, "").await.expect(200);
    assert_eq!(app.call_with(Method::DELETE, &key_path, &p.key, None, &[("if-match", "*")]).await.status, 204);
    app.list_clients(&secret, "").await.problem(401, "unauthenticated");

    let c = app.client(&p).await;
    let client_path = format!("/v1/clients/{}", c["id"].as_str().unwrap());
    let weak = app.call_with(Method::PATCH, &client_path, &p.key, Some(json!({ "company": "W" })), &[("if-match", "W/\"0\"")]).await;
    weak.problem(412, "version_mismatch");
    let strong = app.call_with(Method::PATCH, &client_path, &p.key, Some(json!({ "company": "S" })), &[("if-match", "\"0\"")]).await;
    assert_eq!(strong.expect(200)["version"], 1, "the weak one changed nothing");
    // A list of tags (RFC 9110 §13.1.1) admits the change when one of them is current.
    let listed = app.call_with(Method::PATCH, &client_path, &p.key, Some(json!({ "company": "L" })), &[("if-match", "\"5\", W/\"1\"")]).await;
    listed.problem(412, "version_mismatch");
    let listed = app.call_with(Method::PATCH, &client_path, &p.key, Some(json!({ "company": "L" })), &[("if-match", "\"5\", \"1\"")]).await;
    assert_eq!(listed.expect(200)["version"], 2, "a list naming the current version is met");
}

/// A change that changes nothing (a PATCH of the values the client has, `{}`, a PUT of
/// what it holds, the same permissions again) is no change: 200 with the client as it
/// is, its version and ETag unchanged, and no event (API.md §1: every *change* bumps
/// `version` once; §5: an event says what changed).
#[tokio::test]
async fn a_change_that_changes_nothing_bumps_no_version_and_writes_no_event() {
    let app = app();
    let p = app.partner().await;
    let (name, email) = (crate::helpers::unique("same"), crate::helpers::unique_email());
    let c = app.create_client(&p.key, json!({ "name": name, "email": email, "company": "Same" })).await;
    let cid = c.expect(201)["id"].as_str().unwrap().to_owned();
    app.update_client(&p.key, &cid, json!({ "company": "Other" })).await.expect(200);
    app.set_permissions(&p.key, &cid, json!({ "reports": ["view"] })).await.expect(200);
    let (key, query) = (p.key.as_str(), format!("?clientId={cid}"));
    let history = || async { app.list_events(key, &query).await.expect(200)["total"].clone() };
    assert_eq!(history().await, 3, "created, updated, permissions");
    for (what, res) in [
        ("an empty PATCH", app.update_client(&p.key, &cid, json!({})).await),
        ("a PATCH of the value it has", app.update_client(&p.key, &cid, json!({ "company": "Other" })).await),
        ("a PUT of what it holds", app.replace_client(&p.key, &cid, json!({ "name": name, "email": email, "company": "Other" })).await),
        ("the same permissions", app.set_permissions(&p.key, &cid, json!({ "reports": ["view"] })).await),
    ] {
        assert_eq!((res.expect(200)["version"].clone(), res.header("etag")), (json!(2), Some("\"2\"")), "{what}");
    }
    assert_eq!(history().await, 3, "no event for a change of nothing");
    let changed = app.update_client(&p.key, &cid, json!({ "company": "Third" })).await;
    assert_eq!(changed.expect(200)["version"], 3, "a real change still counts");
}
