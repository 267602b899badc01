//! Every list route (API.md §1 "Lists"): `skip` stops at 10 000, and a cursor is
//! signed for one list of one caller: forged, tampered, another caller's or
//! another list's cursor is a 400 naming `cursor`.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Partner, Resp, app};
use crate::receiver::Receiver;

/// The same list route for two callers: (route, path for `a`, path for `b`).
type ListRoute = (&'static str, String, String);

/// Gives `p` at least two entries in every list and returns the paths of its lists.
async fn lists_of(p: &Partner, receiver: Option<&Receiver>) -> Vec<(&'static str, String)> {
    let app = app();
    app.sub_partner(p).await;
    app.create_api_key(&p.key, json!({ "name": "second" })).await.expect(201);
    let url = receiver.map_or_else(|| "http://127.0.0.1:9/hook".to_owned(), |r| r.url.clone());
    let hook = app.call(Method::POST, "/v1/webhooks", &p.key, Some(json!({ "url": url, "events": ["client.created"] }))).await;
    let hook_id = hook.expect(201)["id"].as_str().unwrap().to_owned();
    app.call(Method::POST, "/v1/webhooks", &p.key, Some(json!({ "url": "http://127.0.0.1:9/other", "events": ["license.created"] })))
        .await
        .expect(201);
    let c = app.client(p).await;
    app.client(p).await;
    let product = app.product().await;
    for _ in 0..2 {
        app.create_license(&p.key, json!({ "productId": product["id"], "tier": "t", "clientId": c["id"] })).await.expect(201);
    }
    vec![
        ("partners", "/v1/partners".to_owned()),
        ("api-keys", "/v1/api-keys".to_owned()),
        ("clients", "/v1/clients".to_owned()),
        ("events", "/v1/events".to_owned()),
        ("products", "/v1/products".to_owned()),
        ("client licenses", format!("/v1/clients/{}/licenses", c["id"].as_str().unwrap())),
        ("webhooks", "/v1/webhooks".to_owned()),
        ("deliveries", format!("/v1/webhooks/{hook_id}/deliveries")),
    ]
}

async fn get(key: &str, path: &str, query: &str) -> Resp {
    app().call(Method::GET, &format!("{path}?{query}"), key, None).await
}

#[track_caller]
fn bad_cursor(res: &Resp, what: &str) {
    assert_eq!(res.status, 400, "{what}: {}", res.body);
    res.problem(400, "validation_failed");
    assert_eq!(res.error_fields(), ["cursor"], "{what}");
}

#[tokio::test]
async fn every_list_refuses_forged_tampered_foreign_and_other_lists_cursors() {
    let app = app();
    let (a, b) = (app.partner().await, app.partner().await);
    let receiver = Receiver::start().await;
    let (mine, theirs) = (lists_of(&a, Some(&receiver)).await, lists_of(&b, None).await);
    // Two deliveries logged, so that list has a second page too.
    assert_eq!(receiver.wait_for(2, 60, |_| true).await.len(), 2);
    let routes: Vec<ListRoute> = mine.into_iter().zip(theirs).map(|((name, pa), (_, pb))| (name, pa, pb)).collect();

    let mut cursors = Vec::new();
    for (name, path, _) in &routes {
        let mut first = get(&a.key, path, "limit=1").await;
        // Only a list still filling up (the second delivery's log entry lands after the
        // receiver has answered) is read again; any other answer fails below at once.
        for _ in 0..50 {
            if first.status != 200 || first.body["nextCursor"].is_string() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            first = get(&a.key, path, "limit=1").await;
        }
        let cursor = first.expect(200)["nextCursor"].as_str().unwrap_or_else(|| panic!("{name}: a second page: {}", first.body)).to_owned();
        let next = get(&a.key, path, &format!("limit=1&cursor={cursor}")).await;
        assert_ne!(next.expect(200)["data"][0], first.body["data"][0], "{name}: the cursor pages on");
        cursors.push(cursor);
    }
    for (i, (name, path, their_path)) in routes.iter().enumerate() {
        let cursor = &cursors[i];
        bad_cursor(&get(&a.key, path, "limit=1&cursor=forged.cursor").await, &format!("{name}: forged"));
        bad_cursor(&get(&a.key, path, &format!("limit=1&cursor={cursor}A")).await, &format!("{name}: tampered"));
        let (payload, _) = cursor.split_once('.').unwrap();
        bad_cursor(&get(&a.key, path, &format!("limit=1&cursor={payload}.AAAA")).await, &format!("{name}: re-signed"));
        if *name != "products" {
            // Products are one list for everybody; every other list is the caller's own.
            bad_cursor(&get(&b.key, their_path, &format!("limit=1&cursor={cursor}")).await, &format!("{name}: another partner's"));
        }
        let (other_name, other_path, _) = &routes[(i + 1) % routes.len()];
        bad_cursor(&get(&a.key, other_path, &format!("limit=1&cursor={cursor}")).await, &format!("{name}'s cursor on {other_name}"));
    }
}

#[tokio::test]
async fn every_list_takes_skip_up_to_10000_and_no_further() {
    let app = app();
    let p = app.partner().await;
    for (name, path) in lists_of(&p, None).await {
        let at_cap = get(&p.key, &path, "skip=10000").await;
        assert_eq!(at_cap.status, 200, "{name}: skip=10000 is allowed: {}", at_cap.body);
        assert_eq!(at_cap.body["data"], json!([]), "{name}");
        for query in ["skip=10001", "take=1&skip=50000"] {
            let res = get(&p.key, &path, query).await;
            assert_eq!(res.status, 400, "{name}: {query}: {}", res.body);
            res.problem(400, "validation_failed");
            assert_eq!(res.error_fields(), ["skip"], "{name}: {query}");
        }
        let res = get(&p.key, &path, "take=2&skip=1").await;
        let got = res.expect(200)["data"].as_array().unwrap().len();
        // (The deliveries log may still be empty here.)
        assert!(name == "deliveries" || (1..=2).contains(&got), "{name}: take and skip page: {}", res.body);
    }
}

#[tokio::test]
async fn every_list_refuses_a_limit_outside_1_to_100_and_a_page_is_10_by_default() {
    let app = app();
    let p = app.partner().await;
    for (name, path) in lists_of(&p, None).await {
        for bad in ["0", "101", "ten", "-1", "5.5"] {
            let res = get(&p.key, &path, &format!("limit={bad}")).await;
            res.problem(400, "validation_failed");
            assert_eq!(res.error_fields(), ["limit"], "{name}, limit={bad}: {}", res.body);
        }
        for good in ["1", "100"] {
            get(&p.key, &path, &format!("limit={good}")).await.expect(200);
        }
    }
    // With no limit, 10 of 12 clients, and a cursor to the other two.
    let q = app.partner().await;
    for _ in 0..12 {
        app.client(&q).await;
    }
    let page = get(&q.key, "/v1/clients", "").await;
    let page = page.expect(200);
    assert_eq!((page["data"].as_array().unwrap().len(), page["total"].clone()), (10, json!(12)));
    let rest = get(&q.key, "/v1/clients", &format!("cursor={}", page["nextCursor"].as_str().expect("a next cursor"))).await;
    assert_eq!(rest.expect(200)["data"].as_array().unwrap().len(), 2);
    assert!(rest.body["nextCursor"].is_null(), "the last page has no next cursor: {}", rest.body);
}
