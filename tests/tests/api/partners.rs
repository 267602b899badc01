//! Partners: create, list, retrieve, suspend; names, trees and tenancy.

use serde_json::json;

use crate::helpers::{app, unique};

#[tokio::test]
async fn admin_creates_a_root_partner_with_every_documented_field() {
    let app = app();
    let name = unique("Acme");
    let res = app.create_partner(&app.admin, json!({ "name": name, "type": "reseller" })).await;
    let p = res.expect(201);
    assert_eq!(p["name"], name);
    assert_eq!(p["type"], "reseller");
    assert_eq!(p["parentId"], serde_json::Value::Null);
    assert_eq!(p["rootId"], p["id"]);
    assert_eq!(p["suspended"], false);
    assert!(p["created"].as_str().unwrap().ends_with('Z') && p["created"].as_str().unwrap().len() == 24);
    assert_eq!(res.header("location").unwrap(), format!("/v1/partners/{}", p["id"].as_str().unwrap()));
    let fetched = app.get_partner(&app.admin, p["id"].as_str().unwrap()).await;
    assert_eq!(fetched.expect(200), p);
}

#[tokio::test]
async fn partner_type_defaults_to_partner() {
    let app = app();
    let res = app.create_partner(&app.admin, json!({ "name": unique("plain") })).await;
    assert_eq!(res.expect(201)["type"], "partner");
}

#[tokio::test]
async fn partner_names_are_unique_platform_wide_ignoring_case() {
    let app = app();
    let name = unique("Dup");
    app.create_partner(&app.admin, json!({ "name": name })).await.expect(201);
    let res = app.create_partner(&app.admin, json!({ "name": name.to_uppercase() })).await;
    res.problem(409, "name_taken");
    assert_eq!(res.error_fields(), ["name"]);
}

#[tokio::test]
async fn a_partner_creates_sub_partners_under_itself_by_default_and_deeper_by_parent_id() {
    let app = app();
    let root = app.partner().await;
    let child = app.create_partner(&root.key, json!({ "name": unique("child"), "type": "agency" })).await;
    let child = child.expect(201);
    assert_eq!(child["parentId"], root.id.as_str());
    assert_eq!(child["rootId"], root.id.as_str());
    let grandchild = app
        .create_partner(&root.key, json!({ "name": unique("grandchild"), "parentId": child["id"] }))
        .await;
    let grandchild = grandchild.expect(201);
    assert_eq!(grandchild["parentId"], child["id"]);
    assert_eq!(grandchild["rootId"], root.id.as_str());
}

#[tokio::test]
async fn a_partner_cannot_create_under_a_parent_outside_its_tree() {
    let app = app();
    let (a, b) = (app.partner().await, app.partner().await);
    let res = app.create_partner(&a.key, json!({ "name": unique("x"), "parentId": b.id })).await;
    res.problem(404, "not_found");
}

#[tokio::test]
async fn partner_trees_are_bounded_to_eight_levels() {
    let app = app();
    let mut parent = app.partner().await;
    for _ in 1..8 {
        parent = app.sub_partner(&parent).await;
    }
    let res = app.create_partner(&parent.key, json!({ "name": unique("too-deep") })).await;
    res.problem(400, "validation_failed");
    assert_eq!(res.error_fields(), ["parentId"]);
}

#[tokio::test]
async fn partners_see_only_their_own_subtree() {
    let app = app();
    let root = app.partner().await;
    let child = app.sub_partner(&root).await;
    let other = app.partner().await;

    let listed = app.list_partners(&root.key, "?limit=100").await;
    let listed = listed.expect(200);
    let ids: Vec<&str> = listed["data"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [child.id.as_str(), root.id.as_str()], "newest first, the partner itself included");
    assert_eq!(listed["total"], 2);

    app.get_partner(&child.key, &root.id).await.problem(404, "not_found");
    app.get_partner(&root.key, &other.id).await.problem(404, "not_found");
    app.get_partner(&root.key, &child.id).await.expect(200);
    app.get_partner(&root.key, "not-an-id").await.problem(404, "not_found");
}

#[tokio::test]
async fn creating_partners_needs_the_partners_create_permission() {
    let app = app();
    let root = app.partner().await;
    let key = app
        .create_api_key(&root.key, json!({ "permissions": ["clients:view"] }))
        .await;
    let limited = key.expect(201)["key"].as_str().unwrap().to_owned();
    app.create_partner(&limited, json!({ "name": unique("nope") })).await.problem(403, "forbidden");
    app.list_partners(&limited, "").await.problem(403, "forbidden");
}

#[tokio::test]
async fn suspending_a_partner_locks_out_its_keys_and_its_subtree_until_unsuspended() {
    let app = app();
    let root = app.partner().await;
    let child = app.sub_partner(&root).await;
    let grandchild = app.sub_partner(&child).await;

    let res = app.suspend_partner(&root.key, &child.id).await;
    assert_eq!(res.expect(200)["suspended"], true);
    app.list_clients(&child.key, "").await.problem(401, "unauthenticated");
    app.list_clients(&grandchild.key, "").await.problem(401, "unauthenticated");
    app.list_clients(&root.key, "").await.expect(200);

    app.unsuspend_partner(&root.key, &child.id).await.expect(200);
    app.list_clients(&child.key, "").await.expect(200);
    app.list_clients(&grandchild.key, "").await.expect(200);
}

#[tokio::test]
async fn a_partner_cannot_suspend_itself_or_partners_outside_its_tree() {
    let app = app();
    let (a, b) = (app.partner().await, app.partner().await);
    app.suspend_partner(&a.key, &a.id).await.problem(403, "forbidden");
    app.suspend_partner(&a.key, &b.id).await.problem(404, "not_found");
}

/// The `frame-ancestors` of the console page at `query`.
async fn console_framed_by(query: &str) -> String {
    let res = app().raw(reqwest::Method::GET, &format!("/console{query}"), &[], None).await;
    assert_eq!(res.status, 200);
    let policy = res.header("content-security-policy").expect("a policy").to_owned();
    let ancestors = policy.split(';').map(str::trim).find_map(|d| d.strip_prefix("frame-ancestors ")).expect("frame-ancestors");
    assert!(policy.trim_end().ends_with(ancestors), "frame-ancestors ends the policy: {policy}");
    ancestors.to_owned()
}

#[tokio::test]
async fn a_partners_console_origins_and_only_they_may_frame_its_trees_console() {
    let app = app();
    let root = app.partner().await;
    let sub = app.sub_partner(&root).await;
    let path = |p: &crate::helpers::Partner| format!("/v1/partners/{}", p.id);
    let patch = |key: &str, p: &crate::helpers::Partner, origins: serde_json::Value| {
        let (key, path) = (key.to_owned(), path(p));
        async move { app.call(reqwest::Method::PATCH, &path, &key, Some(json!({ "consoleOrigins": origins }))).await }
    };
    assert_eq!(app.get_partner(&root.key, &root.id).await.expect(200)["consoleOrigins"], json!([]));
    assert_eq!(console_framed_by(&format!("?partner={}", root.id)).await, "'none'", "no origins: no page frames it");

    // Set by the partner's parent or the platform admin, never by the partner itself.
    let own = patch(&root.key, &root, json!(["https://evil.example"])).await;
    own.problem(403, "forbidden");
    let set = patch(&app.admin, &root, json!(["https://Dash.Example.com/", "https://admin.example.com:8443"])).await;
    assert_eq!(set.expect(200)["consoleOrigins"], json!(["https://dash.example.com", "https://admin.example.com:8443"]));
    patch(&sub.key, &sub, json!(["https://evil.example"])).await.problem(403, "forbidden");
    patch(&root.key, &sub, json!(["https://agency.example.net"])).await.expect(200);
    // Its own, unchanged, is no change.
    patch(&root.key, &root, json!(["https://dash.example.com", "https://admin.example.com:8443"])).await.expect(200);
    assert_eq!(console_framed_by(&format!("?partner={}", root.id)).await, "https://admin.example.com:8443 https://dash.example.com");
    assert_eq!(
        console_framed_by(&format!("?partner={}", sub.id)).await,
        "https://admin.example.com:8443 https://agency.example.net https://dash.example.com",
        "a sub-partner's console: its own origins and those above it"
    );
    for query in ["", "?partner=not-an-id", "?partner=00000000-0000-7000-8000-000000000000"] {
        assert_eq!(console_framed_by(query).await, "'none'", "the console at {query:?}");
    }
    let script = app.raw(reqwest::Method::GET, &format!("/console/app.js?partner={}", root.id), &[], None).await;
    assert!(script.header("content-security-policy").unwrap().ends_with("frame-ancestors 'none'"), "only the page may be framed");

    // Bad lists change nothing, each refused naming the field.
    let eleven: Vec<String> = (0..11).map(|i| format!("https://d{i}.example.com")).collect();
    for bad in [
        json!(["http://dash.example.com"]),
        json!(["https://dash.example.com/app"]),
        json!(["https://*.example.com"]),
        json!(["https://[2001:db8::1]"]),
        json!("https://dash.example.com"),
        json!(eleven),
    ] {
        let res = patch(&root.key, &sub, bad.clone()).await;
        res.problem(400, "validation_failed");
        assert_eq!(res.error_fields(), vec!["consoleOrigins"], "{bad}");
    }
    assert_eq!(app.get_partner(&root.key, &sub.id).await.expect(200)["consoleOrigins"], json!(["https://agency.example.net"]));
    // Another tree cannot name them.
    let other = app.partner().await;
    patch(&other.key, &sub, json!(["https://evil.example"])).await.problem(404, "not_found");

    // A suspended partner's console, and its tree's, may be framed by no page.
    app.suspend_partner(&root.key, &sub.id).await.expect(200);
    assert_eq!(console_framed_by(&format!("?partner={}", sub.id)).await, "'none'");
    assert_eq!(console_framed_by(&format!("?partner={}", root.id)).await, "https://admin.example.com:8443 https://dash.example.com");
    app.unsuspend_partner(&root.key, &sub.id).await.expect(200);
    app.suspend_partner(&app.admin, &root.id).await.expect(200);
    assert_eq!(console_framed_by(&format!("?partner={}", sub.id)).await, "'none'", "a partner above it is suspended");
    app.unsuspend_partner(&app.admin, &root.id).await.expect(200);
    // Cleared with an empty list.
    patch(&app.admin, &root, json!([])).await.expect(200);
    assert_eq!(console_framed_by(&format!("?partner={}", root.id)).await, "'none'");
}
