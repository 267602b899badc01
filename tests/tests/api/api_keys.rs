//! API keys: shown once, stored as hashes, bounded by their creator, revocable.

use serde_json::json;

use crate::helpers::{ALL_PERMISSIONS, app};

#[tokio::test]
async fn a_new_key_is_shown_once_and_gets_the_client_permissions_by_default() {
    let app = app();
    let p = app.partner().await;
    let res = app.create_api_key(&p.key, json!({ "name": "ci" })).await;
    let key = res.expect(201).clone();
    let secret = key["key"].as_str().unwrap();
    assert!(secret.starts_with("ck_live_"));
    assert_eq!(key["prefix"], &secret[..12]);
    assert_eq!(key["partnerId"], p.id.as_str());
    assert_eq!(key["permissions"], json!(["clients:view", "clients:edit", "clients:create", "clients:remove"]));

    let listed = app.list_api_keys(&p.key, "?limit=100").await;
    let listed = listed.expect(200);
    assert_eq!(listed["total"], 2);
    let text = listed.to_string();
    assert!(!text.contains(secret), "lists never show secrets");
    assert!(listed["data"].as_array().unwrap().iter().all(|k| k.get("key").is_none()));
    assert_eq!(listed["data"][0]["id"], key["id"], "newest first");

    app.list_clients(secret, "").await.expect(200);
}

#[tokio::test]
async fn a_key_can_never_get_more_than_its_creator_holds() {
    let app = app();
    let p = app.partner().await;
    let narrow = app
        .create_api_key(&p.key, json!({ "permissions": ["keys:create", "clients:view"] }))
        .await;
    let narrow = narrow.expect(201)["key"].as_str().unwrap().to_owned();
    let res = app.create_api_key(&narrow, json!({ "permissions": ["clients:view", "clients:remove"] })).await;
    res.problem(403, "forbidden");
    assert!(res.body["detail"].as_str().unwrap().contains("clients:remove"));
    // Defaults are cut down to what the creator holds.
    let res = app.create_api_key(&narrow, json!({})).await;
    assert_eq!(res.expect(201)["permissions"], json!(["clients:view"]));
}

#[tokio::test]
async fn a_revoked_key_stops_working_on_the_next_request() {
    let app = app();
    let p = app.partner().await;
    let created = app.create_api_key(&p.key, json!({ "permissions": ALL_PERMISSIONS })).await;
    let (id, secret) = {
        let b = created.expect(201);
        (b["id"].as_str().unwrap().to_owned(), b["key"].as_str().unwrap().to_owned())
    };
    app.list_clients(&secret, "").await.expect(200);
    let res = app.revoke_api_key(&p.key, &id).await;
    assert_eq!(res.status, 204);
    assert_eq!(res.body, serde_json::Value::Null);
    app.list_clients(&secret, "").await.problem(401, "unauthenticated");
    app.revoke_api_key(&p.key, &id).await.problem(404, "not_found");
}

#[tokio::test]
async fn keys_of_other_trees_cannot_be_listed_or_revoked() {
    let app = app();
    let (a, b) = (app.partner().await, app.partner().await);
    let b_key = app.create_api_key(&b.key, json!({})).await;
    let b_key_id = b_key.expect(201)["id"].as_str().unwrap().to_owned();
    app.revoke_api_key(&a.key, &b_key_id).await.problem(404, "not_found");
    app.list_api_keys(&a.key, &format!("?partnerId={}", b.id)).await.problem(404, "not_found");
}

#[tokio::test]
async fn a_parent_creates_and_lists_keys_of_its_sub_partner() {
    let app = app();
    let root = app.partner().await;
    let child = app.sub_partner(&root).await;
    let res = app.list_api_keys(&root.key, &format!("?partnerId={}", child.id)).await;
    assert_eq!(res.expect(200)["total"], 1);
    assert_eq!(res.body["data"][0]["partnerId"], child.id.as_str());
}

#[tokio::test]
async fn the_admin_must_name_the_partner_of_a_new_key() {
    let app = app();
    let res = app.create_api_key(&app.admin, json!({ "name": "x" })).await;
    res.problem(400, "validation_failed");
    assert_eq!(res.error_fields(), ["partnerId"]);
}

#[tokio::test]
async fn unknown_permissions_are_rejected_by_name() {
    let app = app();
    let p = app.partner().await;
    let res = app.create_api_key(&p.key, json!({ "permissions": ["clients:view", "clients:fly"] })).await;
    res.problem(400, "validation_failed");
    assert_eq!(res.error_fields(), ["permissions[1]"]);
}

#[tokio::test]
async fn missing_or_unknown_credentials_get_401() {
    let app = app();
    let res = app.raw(reqwest::Method::GET, "/v1/clients", &[], None).await;
    res.problem(401, "unauthenticated");
    app.list_clients("ck_live_not_a_real_key_at_all_000000000", "").await.problem(401, "unauthenticated");
}
