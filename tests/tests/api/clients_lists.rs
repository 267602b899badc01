//! Client lists: pages, cursors, totals and filters.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::helpers::{app, unique, unique_email};

fn ids(page: &Value) -> Vec<String> {
    page["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn cursor_pages_cover_every_client_exactly_once_newest_first() {
    let app = app();
    let p = app.partner().await;
    let mut created = Vec::new();
    for _ in 0..23 {
        created.push(app.client(&p).await["id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut query = "?limit=5".to_owned();
    let mut pages = 0;
    loop {
        let res = app.list_clients(&p.key, &query).await;
        let page = res.expect(200);
        assert_eq!(page["total"], 23);
        assert!(page["data"].as_array().unwrap().len() <= 5);
        seen.extend(ids(page));
        pages += 1;
        match page["nextCursor"].as_str() {
            Some(c) => query = format!("?limit=5&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(pages, 5);
    created.reverse();
    assert_eq!(seen, created, "every client once, newest first");
}

/// `suspended=` alone is the union of the status-and-suspension lists of every status
/// (no index of its own): trial clients as much as demo and live ones, newest first
/// across the lists, each once over its cursor pages, with the total.
#[tokio::test]
async fn suspended_alone_pages_clients_of_every_status_newest_first() {
    let app = app();
    let p = app.partner().await;
    let mut made: Vec<(String, bool)> = Vec::new();
    let kinds = [("live", true), ("demo", false), ("trial", true), ("demo", true), ("live", false), ("trial", false), ("trial", true), ("live", true), ("demo", true)];
    for (status, suspended) in kinds {
        let body = json!({ "name": unique("Susp"), "email": unique_email(), "status": if status == "live" { "live" } else { "demo" } });
        let id = app.create_client(&p.key, body).await.expect(201)["id"].as_str().unwrap().to_owned();
        if status == "trial" {
            assert_eq!(app.offer_trial(&p.key, &id, json!({ "days": 7 })).await.expect(200)["status"], "trial");
        }
        if suspended {
            app.update_client(&p.key, &id, json!({ "isActive": false })).await.expect(200);
        }
        made.push((id, suspended));
    }
    made.reverse();
    for su in [true, false] {
        let want: Vec<String> = made.iter().filter(|(_, s)| *s == su).map(|(id, _)| id.clone()).collect();
        for limit in [1, 2, 100] {
            let (mut seen, mut query) = (Vec::new(), format!("?suspended={su}&limit={limit}"));
            loop {
                let res = app.list_clients(&p.key, &query).await;
                let page = res.expect(200);
                assert_eq!(page["total"], want.len(), "suspended={su} by {limit}: total");
                seen.extend(ids(page));
                match page["nextCursor"].as_str() {
                    Some(c) => query = format!("?suspended={su}&limit={limit}&cursor={c}"),
                    None => break,
                }
                assert!(seen.len() <= want.len(), "suspended={su} by {limit}: more pages than clients");
            }
            assert_eq!(seen, want, "suspended={su} by {limit}: each once, newest first");
        }
    }
}

#[tokio::test]
async fn summaries_hold_the_documented_fields() {
    let app = app();
    let p = app.partner().await;
    let c = app.client(&p).await;
    let res = app.list_clients(&p.key, "").await;
    let s = &res.expect(200)["data"][0];
    let mut keys: Vec<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        ["actualCallCount", "company", "created", "directPartner", "domainCount", "email", "id", "isActive", "licenseCount", "name", "partner", "status", "username"]
    );
    assert_eq!(s["id"], c["id"]);
    assert_eq!(res.body["nextCursor"], Value::Null);
}

#[tokio::test]
async fn take_and_skip_page_like_limit_and_offset() {
    let app = app();
    let p = app.partner().await;
    for _ in 0..6 {
        app.client(&p).await;
    }
    let all = ids(app.list_clients(&p.key, "?limit=100").await.expect(200));
    let page = app.list_clients(&p.key, "?take=2&skip=3").await;
    assert_eq!(ids(page.expect(200)), all[3..5].to_vec());
    let past_end = app.list_clients(&p.key, "?take=2&skip=50").await;
    assert_eq!(ids(past_end.expect(200)).len(), 0);
    assert_eq!(past_end.body["total"], 6);
}

#[tokio::test]
async fn a_cursor_from_another_partners_list_or_filter_is_rejected() {
    let app = app();
    let (a, b) = (app.partner().await, app.partner().await);
    for _ in 0..3 {
        app.client(&a).await;
        app.client(&b).await;
    }
    let page = app.list_clients(&a.key, "?limit=1").await;
    let cursor = page.expect(200)["nextCursor"].as_str().unwrap().to_owned();
    let res = app.list_clients(&b.key, &format!("?limit=1&cursor={cursor}")).await;
    res.problem(400, "validation_failed");
    assert_eq!(res.error_fields(), ["cursor"]);
    let res = app.list_clients(&a.key, &format!("?limit=1&status=live&cursor={cursor}")).await;
    res.problem(400, "validation_failed");
    let tampered = format!("{}A", &cursor);
    app.list_clients(&a.key, &format!("?limit=1&cursor={tampered}")).await.problem(400, "validation_failed");
}

#[tokio::test]
async fn filters_combine_and_total_counts_what_they_match() {
    let app = app();
    let root = app.partner().await;
    let child = app.sub_partner(&root).await;
    let prefix = unique("Zeta");
    let mk = |key: String, name: String, status: &'static str| async move {
        app.create_client(&key, json!({ "name": name, "email": unique_email(), "status": status })).await.expect(201).clone()
    };
    let a = mk(root.key.clone(), format!("{prefix} one"), "demo").await;
    let b = mk(root.key.clone(), format!("{prefix} two"), "live").await;
    let c = mk(child.key.clone(), format!("{prefix} three"), "live").await;
    let d = mk(child.key.clone(), unique("Other"), "demo").await;
    app.update_client(&root.key, b["id"].as_str().unwrap(), json!({ "isActive": false })).await.expect(200);

    let check = |query: String, expected: Vec<&Value>| {
        let root_key = root.key.clone();
        let want: Vec<String> = expected.iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect();
        async move {
            let res = app.list_clients(&root_key, &query).await;
            let page = res.expect(200);
            assert_eq!(ids(page), want, "{query}");
            assert_eq!(page["total"], want.len(), "{query}: total");
        }
    };
    check("".into(), vec![&d, &c, &b, &a]).await;
    check("?status=live".into(), vec![&c, &b]).await;
    check("?suspended=true".into(), vec![&b]).await;
    check("?status=live&suspended=false".into(), vec![&c]).await;
    check(format!("?q={}", prefix.to_lowercase()), vec![&c, &b, &a]).await;
    check(format!("?q={prefix}&status=demo"), vec![&a]).await;
    check(format!("?partner={}", child.id), vec![&d, &c]).await;
    check(format!("?partner={}&status=demo", child.name), vec![&d]).await;
    check(format!("?email={}", c["email"].as_str().unwrap().to_uppercase()), vec![&c]).await;

    // Unsuspended, it leaves the suspended lists and joins the others again.
    app.update_client(&root.key, b["id"].as_str().unwrap(), json!({ "isActive": true })).await.expect(200);
    check("?suspended=true".into(), vec![]).await;
    check("?status=live&suspended=true".into(), vec![]).await;
    check("?suspended=false".into(), vec![&d, &c, &b, &a]).await;
    check("?status=live&suspended=false".into(), vec![&c, &b]).await;

    let other = app.partner().await;
    app.list_clients(&root.key, &format!("?partner={}", other.id)).await.problem(404, "not_found");
    // The child sees only its own part of the tree.
    let res = app.list_clients(&child.key, "").await;
    assert_eq!(res.expect(200)["total"], 2);
    // A filter naming the caller's own partner or one above it (both read with the
    // caller's chain), or a partner by number.
    check(format!("?partner={}", root.id), vec![&d, &c, &b, &a]).await;
    let number = app.get_partner(&root.key, &child.id).await.expect(200)["number"].to_string();
    check(format!("?partner={number}&status=live"), vec![&c]).await;
    assert_eq!(app.list_clients(&child.key, &format!("?partner={}", child.id)).await.expect(200)["total"], 2);
    app.list_clients(&child.key, &format!("?partner={}", root.id)).await.problem(404, "not_found");
    app.list_clients(&child.key, &format!("?partner={}", other.id)).await.problem(404, "not_found");
    // By name too: the caller's own, one below it, one above it, another tree's, none.
    check(format!("?partner={}", root.name.to_uppercase()), vec![&d, &c, &b, &a]).await;
    check(format!("?partner={}&status=live", child.name), vec![&c]).await;
    assert_eq!(app.list_clients(&child.key, &format!("?partner={}", child.name)).await.expect(200)["total"], 2);
    let nobody = unique("nobody");
    for (key, name) in [(&child.key, &root.name), (&root.key, &other.name), (&root.key, &nobody)] {
        app.list_clients(key, &format!("?partner={name}")).await.problem(404, "not_found");
        // A partner the caller cannot see is not found before any paging parameter is
        // looked at: a bad one tells nothing of whether the partner exists elsewhere.
        app.list_clients(key, &format!("?partner={name}&limit=0")).await.problem(404, "not_found");
        app.list_clients(key, &format!("?partner={name}&cursor=forged.cursor")).await.problem(404, "not_found");
    }
    for filter in [&other.id, &root.id] {
        app.list_clients(&child.key, &format!("?partner={filter}&limit=0")).await.problem(404, "not_found");
    }
    // One the caller sees, with a bad paging parameter: 400 naming it.
    for (key, filter) in [(&root.key, &child.name), (&root.key, &root.name), (&child.key, &child.id), (&root.key, &child.id)] {
        let bad = app.list_clients(key, &format!("?partner={filter}&limit=0")).await;
        bad.problem(400, "validation_failed");
        assert_eq!(bad.error_fields(), ["limit"], "{filter}");
    }
    // A teammate's bearer token (its items read beside its chain, not in one call).
    let (_, username, password) = app.teammate_with(&root, &["clients:view"]).await;
    let issued = app.token_from("192.0.2.7", &username, &password).await;
    let bearer = format!("Bearer {}", issued.expect(200)["token"].as_str().unwrap());
    let bearer = bearer.as_str();
    let listed = |query: String| async move { app.raw(reqwest::Method::GET, &format!("/v1/clients{query}"), &[("authorization", bearer)], None).await };
    assert_eq!(listed(format!("?partner={}", child.name)).await.expect(200)["total"], 2);
    assert_eq!(listed(format!("?partner={}", child.id)).await.expect(200)["total"], 2);
    for filter in [&other.name, &other.id, &nobody] {
        listed(format!("?partner={filter}")).await.problem(404, "not_found");
    }
}

#[tokio::test]
async fn name_prefix_pages_are_complete_too() {
    let app = app();
    let p = app.partner().await;
    let prefix = unique("Pre");
    let mut made = HashSet::new();
    for i in 0..7 {
        let c = app.create_client(&p.key, json!({ "name": format!("{prefix}-{i}"), "email": unique_email() })).await;
        made.insert(c.expect(201)["id"].as_str().unwrap().to_owned());
    }
    app.client(&p).await;
    let mut seen = Vec::new();
    let mut query = format!("?q={prefix}&limit=3");
    loop {
        let res = app.list_clients(&p.key, &query).await;
        let page = res.expect(200);
        assert_eq!(page["total"], 7);
        seen.extend(ids(page));
        match page["nextCursor"].as_str() {
            Some(c) => query = format!("?q={prefix}&limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), made);
}
