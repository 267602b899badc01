//! Sharded lists (a scope's clients and events spread over partitions by a hash of
//! their id once its lists are widened, `shared/src/store/lists.rs`): every page, total
//! and cursor is what one partition holding them all would give, and a cursor survives
//! a burst of creates. The scopes here are widened by hand before their first client;
//! widening.rs tests how a throttle widens them.

use std::collections::HashSet;

use aws_sdk_dynamodb::types::AttributeValue;
use futures::StreamExt as _;
use serde_json::{Value, json};

use crate::helpers::{Partner, app, unique, unique_email};

/// How many partitions the lists here are spread over.
const SHARDS: usize = 4;

/// Widens `scope`'s lists to [`SHARDS`] partitions, in effect for every id (as a
/// throttle long ago would have left them): before the scope has any client.
async fn widen(scope: &str) {
    let width = SHARDS.to_string();
    app()
        .dynamodb()
        .await
        .put_item()
        .table_name("clientele")
        .item("pk", AttributeValue::S(format!("WIDTH#{scope}")))
        .item("sk", AttributeValue::S("#".into()))
        .item("w", AttributeValue::N(width.clone()))
        .item("w_from", AttributeValue::N("0".into()))
        .item("h", AttributeValue::L(vec![AttributeValue::S(format!("0:{width}"))]))
        .send()
        .await
        .expect("DynamoDB Local answers");
}

/// A client as the model knows it.
#[derive(Clone)]
struct Made {
    id: String,
    in_sub: bool,
    live: bool,
    suspended: bool,
    named: bool,
}

/// `?` and the non-empty parts, joined with `&`.
fn query_of(parts: &[&str]) -> String {
    format!("?{}", parts.iter().filter(|p| !p.is_empty()).copied().collect::<Vec<_>>().join("&"))
}

fn ids(page: &Value) -> Vec<String> {
    page["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect()
}

/// How many of `list`'s shards (`<list>#0..3` of the base table) hold an entry.
async fn shards_used(list: &str) -> usize {
    crate::widening::per_partition(list, SHARDS).await.iter().filter(|n| **n > 0).count()
}

/// Every page of `query` (which holds no cursor) with `limit`, walked by cursor.
async fn walk(key: &str, query: &str, limit: usize, total: usize) -> Vec<String> {
    let mut seen = Vec::new();
    let mut next = query_of(&[query, &format!("limit={limit}")]);
    loop {
        let res = app().list_clients(key, &next).await;
        let page = res.expect(200);
        assert_eq!(page["total"], total, "{next}: total");
        let got = ids(page);
        assert!(got.len() <= limit, "{next}: at most a page");
        seen.extend(got);
        match page["nextCursor"].as_str() {
            Some(c) => next = query_of(&[query, &format!("limit={limit}&cursor={c}")]),
            None => return seen,
        }
        assert!(seen.len() <= total, "{query}: the cursor pages past the end");
    }
}

/// Makes `count` clients, 8 at a time: in `root` or its `sub`, demo or live, a third
/// of them suspended, half named with `prefix`.
async fn make(root: &Partner, sub: &Partner, prefix: &str, count: usize, from: usize) -> Vec<Made> {
    futures::stream::iter(from..from + count)
        .map(|i| async move {
            let (in_sub, live, named) = (i % 3 == 0, i % 2 == 0, i % 4 < 2);
            let owner = if in_sub { sub } else { root };
            let name = if named { format!("{prefix} {i}") } else { unique("other") };
            let body = json!({ "name": name, "email": unique_email(), "status": if live { "live" } else { "demo" } });
            let id = app().create_client(&owner.key, body).await.expect(201)["id"].as_str().unwrap().to_owned();
            let suspended = i % 3 == 1;
            if suspended {
                app().update_client(&owner.key, &id, json!({ "isActive": false })).await.expect(200);
            }
            Made { id, in_sub, live, suspended, named }
        })
        .buffer_unordered(8)
        .collect()
        .await
}

/// A partner and its sub-partner, both with their lists widened to [`SHARDS`].
async fn widened_tree() -> (Partner, Partner) {
    let root = app().partner().await;
    widen(&root.id).await;
    let sub = app().sub_partner(&root).await;
    widen(&sub.id).await;
    (root, sub)
}

/// The ids of the clients of `made` (newest first) that `keep` keeps: what one
/// partition holding them all would list.
fn newest(made: &[Made], keep: &dyn Fn(&Made) -> bool) -> Vec<String> {
    made.iter().filter(|m| keep(m)).map(|m| m.id.clone()).collect()
}

#[tokio::test]
async fn a_sharded_list_pages_totals_and_cursors_exactly_as_one_partition_would() {
    let app = app();
    let (root, sub) = widened_tree().await;
    let prefix = unique("Shard");
    // Enough clients that every shard of the root's list holds some (more until it does).
    let mut made = make(&root, &sub, &prefix, 48, 0).await;
    while shards_used(&format!("CLIENTS#{}", root.id)).await < SHARDS {
        let more = make(&root, &sub, &prefix, 8, made.len()).await;
        made.extend(more);
        assert!(made.len() < 200, "ids spread over every shard");
    }
    made.sort_by(|a, b| b.id.cmp(&a.id));

    // What one partition would give: the model's clients, newest first.
    let expect = |keep: &dyn Fn(&Made) -> bool| newest(&made, keep);
    let lower = prefix.to_lowercase();
    let cases: Vec<(&Partner, String, Vec<String>)> = vec![
        (&root, String::new(), expect(&|_| true)),
        (&root, "status=live".into(), expect(&|m| m.live)),
        (&root, "status=demo".into(), expect(&|m| !m.live)),
        (&root, "suspended=true".into(), expect(&|m| m.suspended)),
        (&root, "status=live&suspended=false".into(), expect(&|m| m.live && !m.suspended)),
        (&root, "suspended=false".into(), expect(&|m| !m.suspended)),
        (&root, "status=demo&suspended=true".into(), expect(&|m| !m.live && m.suspended)),
        (&root, format!("partner={}", sub.id), expect(&|m| m.in_sub)),
        (&root, format!("partner={}&status=demo", sub.id), expect(&|m| m.in_sub && !m.live)),
        (&root, format!("q={lower}"), expect(&|m| m.named)),
        (&root, format!("q={lower}&status=live"), expect(&|m| m.named && m.live)),
        (&sub, String::new(), expect(&|m| m.in_sub)),
        (&sub, "suspended=false".into(), expect(&|m| m.in_sub && !m.suspended)),
    ];
    for (who, query, want) in &cases {
        for limit in [7, 100] {
            assert_eq!(&walk(&who.key, query, limit, want.len()).await, want, "{query} by {limit}: every client once, newest first");
        }
        // skip passes over exactly as many, across shards.
        let res = app.list_clients(&who.key, &query_of(&[query, "limit=5&skip=11"])).await;
        let page = res.expect(200);
        assert_eq!(ids(page), want.iter().skip(11).take(5).cloned().collect::<Vec<_>>(), "{query}: skip=11");
        assert_eq!(page["total"], want.len(), "{query}: total with skip");
    }
    // The admin's view of the root's tree, through its partner filter.
    let admin_view = walk(&app.admin, &format!("partner={}", root.id), 9, made.len()).await;
    assert_eq!(admin_view, expect(&|_| true), "the admin pages the root's tree the same");

    // The events of the tree: each create once, newest first, by any page size.
    let root_key = &root.key;
    let events = |limit: usize| async move {
        let (mut seen, mut next) = (Vec::new(), format!("/v1/events?type=client.created&limit={limit}"));
        loop {
            let res = app.call(reqwest::Method::GET, &next, root_key, None).await;
            let page = res.expect(200).clone();
            seen.extend(page["data"].as_array().unwrap().iter().map(|e| (e["id"].as_str().unwrap().to_owned(), e["data"]["object"]["id"].as_str().unwrap().to_owned())));
            match page["nextCursor"].as_str() {
                Some(c) => next = format!("/v1/events?type=client.created&limit={limit}&cursor={c}"),
                None => return (seen, page["total"].clone()),
            }
        }
    };
    let ((by_6, total_6), (by_100, total_100)) = (events(6).await, events(100).await);
    assert_eq!(by_6, by_100, "the same events by any page size");
    assert_eq!((total_6, total_100), (json!(made.len()), json!(made.len())));
    let mut newest_first = by_6.clone();
    newest_first.sort_by(|a, b| b.0.cmp(&a.0));
    assert_eq!(by_6, newest_first, "events newest first");
    let objects: HashSet<String> = by_6.into_iter().map(|(_, client)| client).collect();
    assert_eq!(objects, made.iter().map(|m| m.id.clone()).collect::<HashSet<_>>(), "one client.created per client");
}

/// A `skip` is read a share of each partition at a time, more where one runs short
/// (`Skipper`, shared/src/store/lists.rs): wherever it ends, it lands on the client one
/// partition holding them all would, alone or in a union of lists (`suspended=`), and
/// past the end it finds nothing.
#[tokio::test]
async fn a_skip_lands_on_the_same_client_as_one_partition_would_at_every_depth() {
    let app = app();
    let (root, sub) = widened_tree().await;
    let mut made = make(&root, &sub, &unique("Skip"), 160, 0).await;
    made.sort_by(|a, b| b.id.cmp(&a.id));
    let expect = |keep: &dyn Fn(&Made) -> bool| newest(&made, keep);
    let cases = [
        (String::new(), expect(&|_| true)),
        ("status=live".to_owned(), expect(&|m| m.live)),
        ("suspended=false".to_owned(), expect(&|m| !m.suspended)),
        ("suspended=true".to_owned(), expect(&|m| m.suspended)),
        (format!("partner={}", sub.id), expect(&|m| m.in_sub)),
    ];
    for (query, want) in &cases {
        let n = want.len();
        let skips: Vec<usize> = (1..n).step_by(7).chain([n - 1, n, n + 1, 10_000]).collect();
        for skip in skips {
            let res = app.list_clients(&root.key, &query_of(&[query, &format!("limit=3&skip={skip}")])).await;
            let page = res.expect(200);
            assert_eq!(ids(page), want.iter().skip(skip).take(3).cloned().collect::<Vec<_>>(), "{query}: skip={skip} of {n}");
            assert_eq!(page["total"], n, "{query}: total with skip={skip}");
            assert_eq!(page["nextCursor"].is_string(), skip + 3 < n, "{query}: skip={skip}: a cursor while more follow");
        }
    }
}

#[tokio::test]
async fn a_cursor_taken_before_a_burst_of_creates_pages_on_without_skipping_or_repeating() {
    let app = app();
    let root = app.partner().await;
    widen(&root.id).await;
    let sub = app.sub_partner(&root).await;
    let prefix = unique("Burst");
    let mut before = make(&root, &sub, &prefix, 30, 0).await;
    before.sort_by(|a, b| b.id.cmp(&a.id));
    for (round, query) in ["", "status=live"].into_iter().enumerate() {
        let want: Vec<String> = before.iter().filter(|m| query.is_empty() || m.live).map(|m| m.id.clone()).collect();
        let first = app.list_clients(&root.key, &query_of(&[query, "limit=10"])).await;
        let page = first.expect(200);
        let mut seen = ids(page);
        let mut cursor = page["nextCursor"].as_str().map(str::to_owned);
        // A burst of creates, newer than every client the cursor has still to page over.
        let burst = make(&root, &sub, &prefix, 16, 100 * (round + 1)).await;
        while let Some(c) = cursor {
            let res = app.list_clients(&root.key, &query_of(&[query, &format!("limit=10&cursor={c}")])).await;
            let page = res.expect(200);
            seen.extend(ids(page));
            cursor = page["nextCursor"].as_str().map(str::to_owned);
        }
        assert_eq!(seen, want, "{query}: the pages after the cursor are the clients before the burst, once each, newest first");
        assert!(burst.iter().all(|m| !seen.contains(&m.id)));
        before.extend(burst);
        before.sort_by(|a, b| b.id.cmp(&a.id));
    }
}
