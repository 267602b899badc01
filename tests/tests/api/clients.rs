//! Clients: create, retrieve, change, delete, find; uniqueness and tenancy.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{app, unique, unique_email};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn create_client_returns_the_whole_client_with_its_api_key_once() {
    let app = app();
    let p = app.partner().await;
    let body = json!({
        "name": "Ana's Bakery", "email": unique_email(), "username": unique("ana"), "company": "Ana Ltd",
        "mid": "M-1", "billingId": "B-1", "location": "Lisbon",
        "contact": { "firstName": "Ana", "lastName": "Silva", "email": "ana@example.org", "phone": "+351 1" },
        "metadata": { "tier": "gold" }, "status": "live",
        "permissions": { "reports": ["view"], "campaigns": ["view", "edit"] },
        "quotas": { "apiCalls": { "limit": 10000, "period": "month" }, "domains": { "limit": 3 } }
    });
    let res = app.create_client(&p.key, body.clone()).await;
    let c = res.expect(201).clone();
    for field in ["name", "email", "username", "company", "mid", "billingId", "location", "contact", "metadata", "permissions", "quotas"] {
        assert_eq!(c[field], body[field], "{field} is stored as sent");
    }
    assert_eq!(c["status"], "live");
    assert_eq!(c["directPartner"], json!({ "id": p.id, "name": p.name }));
    assert_eq!(c["partner"], json!({ "id": p.id, "name": p.name }));
    assert_eq!((c["suspended"].clone(), c["isActive"].clone()), (json!(false), json!(true)));
    assert_eq!((c["licenseCount"].clone(), c["domainCount"].clone(), c["version"].clone()), (json!(0), json!(0), json!(0)));
    let key = c["apiKey"].as_str().unwrap();
    assert_eq!(c["apiKeyPrefix"], &key[..12]);
    assert_eq!(res.header("location").unwrap(), format!("/v1/clients/{}", id(&c)));
    assert_eq!(res.header("etag"), Some("\"0\""));

    let fetched = app.get_client(&p.key, &id(&c)).await;
    let fetched = fetched.expect(200);
    assert!(fetched.get("apiKey").is_none(), "the key is shown only once");
    let mut expected = c.clone();
    expected.as_object_mut().unwrap().remove("apiKey");
    assert_eq!(fetched, &expected);
}

#[tokio::test]
async fn new_clients_start_in_demo_with_empty_optional_fields() {
    let app = app();
    let p = app.partner().await;
    let c = app.create_client(&p.key, json!({ "name": unique("c"), "email": unique_email() })).await;
    let c = c.expect(201);
    assert_eq!(c["status"], "demo");
    assert_eq!(c["username"], Value::Null);
    assert_eq!(c["metadata"], json!({}));
    assert_eq!(c["trialEndsAt"], Value::Null);
}

#[tokio::test]
async fn emails_are_unique_platform_wide_ignoring_case() {
    let app = app();
    let (a, b) = (app.partner().await, app.partner().await);
    let email = unique_email();
    app.create_client(&a.key, json!({ "name": unique("c"), "email": email })).await.expect(201);
    let res = app.create_client(&b.key, json!({ "name": unique("c"), "email": email.to_uppercase() })).await;
    res.problem(409, "email_taken");
    assert_eq!(res.error_fields(), ["email"]);
}

#[tokio::test]
async fn names_are_unique_within_a_direct_partner_only() {
    let app = app();
    let (a, b) = (app.partner().await, app.partner().await);
    let name = unique("Shop");
    app.create_client(&a.key, json!({ "name": name, "email": unique_email() })).await.expect(201);
    app.create_client(&a.key, json!({ "name": name.to_lowercase(), "email": unique_email() }))
        .await
        .problem(409, "name_taken");
    app.create_client(&b.key, json!({ "name": name, "email": unique_email() })).await.expect(201);
}

#[tokio::test]
async fn usernames_are_unique_platform_wide() {
    let app = app();
    let (a, b) = (app.partner().await, app.partner().await);
    let username = unique("user");
    app.create_client(&a.key, json!({ "name": unique("c"), "email": unique_email(), "username": username })).await.expect(201);
    app.create_client(&b.key, json!({ "name": unique("c"), "email": unique_email(), "username": username }))
        .await
        .problem(409, "username_taken");
}

#[tokio::test]
async fn direct_partner_is_chosen_by_id_or_name_within_the_callers_tree() {
    let app = app();
    let root = app.partner().await;
    let child = app.sub_partner(&root).await;
    let other = app.partner().await;

    let by_id = app
        .create_client(&root.key, json!({ "name": unique("c"), "email": unique_email(), "directPartner": { "id": child.id } }))
        .await;
    assert_eq!(by_id.expect(201)["directPartner"]["id"], child.id.as_str());
    assert_eq!(by_id.body["partner"], json!({ "id": root.id, "name": root.name }), "partner is the tree's root");

    let by_name = app
        .create_client(&root.key, json!({ "name": unique("c"), "email": unique_email(), "directPartner": { "name": child.name.to_uppercase() } }))
        .await;
    assert_eq!(by_name.expect(201)["directPartner"]["id"], child.id.as_str());

    app.create_client(&root.key, json!({ "name": unique("c"), "email": unique_email(), "directPartner": { "id": other.id } }))
        .await
        .problem(404, "not_found");
    app.create_client(&child.key, json!({ "name": unique("c"), "email": unique_email(), "directPartner": { "id": root.id } }))
        .await
        .problem(404, "not_found");
}

#[tokio::test]
async fn the_admin_must_name_the_direct_partner() {
    let app = app();
    let p = app.partner().await;
    let res = app.create_client(&app.admin, json!({ "name": unique("c"), "email": unique_email() })).await;
    res.problem(400, "validation_failed");
    assert_eq!(res.error_fields(), ["directPartner"]);
    let ok = app
        .create_client(&app.admin, json!({ "name": unique("c"), "email": unique_email(), "directPartner": { "id": p.id } }))
        .await;
    ok.expect(201);
}

#[tokio::test]
async fn patch_merges_nested_objects_and_null_clears() {
    let app = app();
    let p = app.partner().await;
    let c = app
        .create_client(&p.key, json!({
            "name": unique("c"), "email": unique_email(), "company": "Old Co",
            "contact": { "firstName": "Ana", "phone": "1" }, "metadata": { "a": "1", "b": "2" }
        }))
        .await;
    let c = c.expect(201).clone();
    let res = app
        .update_client(&p.key, &id(&c), json!({
            "company": null, "location": "Porto", "contact": { "phone": null, "lastName": "Silva" },
            "metadata": { "a": null, "c": "3" }
        }))
        .await;
    let u = res.expect(200);
    assert_eq!(u["company"], Value::Null);
    assert_eq!(u["location"], "Porto");
    assert_eq!(u["contact"], json!({ "firstName": "Ana", "lastName": "Silva", "email": null, "phone": null }));
    assert_eq!(u["metadata"], json!({ "b": "2", "c": "3" }));
    assert_eq!(u["name"], c["name"], "fields not given are kept");
    assert_eq!(u["version"], 1);
    assert_eq!(res.header("etag"), Some("\"1\""));
    assert!(u["modified"].as_str().unwrap() >= c["modified"].as_str().unwrap());
}

#[tokio::test]
async fn put_replaces_every_writable_field_and_clears_the_rest() {
    let app = app();
    let p = app.partner().await;
    let c = app
        .create_client(&p.key, json!({ "name": unique("c"), "email": unique_email(), "company": "Co", "username": unique("u"), "metadata": { "a": "1" } }))
        .await;
    let c = c.expect(201).clone();
    let email = unique_email();
    let res = app.replace_client(&p.key, &id(&c), json!({ "name": "Renamed", "email": email })).await;
    let r = res.expect(200);
    assert_eq!((r["name"].as_str(), r["email"].as_str()), (Some("Renamed"), Some(email.as_str())));
    assert_eq!((r["company"].clone(), r["username"].clone(), r["metadata"].clone()), (Value::Null, Value::Null, json!({})));
    // The old username and email are free again; the new email is claimed.
    app.create_client(&p.key, json!({ "name": unique("c"), "email": c["email"], "username": c["username"] })).await.expect(201);
    app.create_client(&p.key, json!({ "name": unique("c"), "email": email })).await.problem(409, "email_taken");
    let res = app.replace_client(&p.key, &id(&c), json!({ "name": "Only name" })).await;
    res.problem(400, "validation_failed");
    assert_eq!(res.error_fields(), ["email"]);
}

#[tokio::test]
async fn changing_to_a_taken_email_is_409_and_changes_nothing() {
    let app = app();
    let p = app.partner().await;
    let (a, b) = (app.client(&p).await, app.client(&p).await);
    app.update_client(&p.key, &id(&a), json!({ "email": b["email"], "company": "X" }))
        .await
        .problem(409, "email_taken");
    let after = app.get_client(&p.key, &id(&a)).await;
    assert_eq!(after.expect(200)["company"], Value::Null);
    assert_eq!(after.body["version"], 0);
}

#[tokio::test]
async fn read_only_fields_cannot_be_written() {
    let app = app();
    let p = app.partner().await;
    let c = app.client(&p).await;
    let res = app
        .update_client(&p.key, &id(&c), json!({ "id": "x", "version": 9, "status": "live", "apiKeyPrefix": "x", "created": "x" }))
        .await;
    res.problem(400, "validation_failed");
    let mut fields = res.error_fields();
    fields.sort();
    assert_eq!(fields, ["apiKeyPrefix", "created", "id", "status", "version"]);
}

#[tokio::test]
async fn is_active_false_suspends_and_true_unsuspends() {
    let app = app();
    let p = app.partner().await;
    let c = app.client(&p).await;
    let res = app.update_client(&p.key, &id(&c), json!({ "isActive": false })).await;
    assert_eq!((res.expect(200)["suspended"].clone(), res.body["isActive"].clone()), (json!(true), json!(false)));
    let res = app.update_client(&p.key, &id(&c), json!({ "isActive": true })).await;
    assert_eq!((res.expect(200)["suspended"].clone(), res.body["isActive"].clone()), (json!(false), json!(true)));
}

#[tokio::test]
async fn if_match_with_a_stale_etag_is_412_and_changes_nothing() {
    let app = app();
    let p = app.partner().await;
    let c = app.client(&p).await;
    let path = format!("/v1/clients/{}", id(&c));
    let ok = app.call_with(Method::PATCH, &path, &p.key, Some(json!({ "company": "A" })), &[("if-match", "\"0\"")]).await;
    assert_eq!(ok.expect(200)["version"], 1);
    let stale = app.call_with(Method::PATCH, &path, &p.key, Some(json!({ "company": "B" })), &[("if-match", "\"0\"")]).await;
    stale.problem(412, "version_mismatch");
    let stale_put = app
        .call_with(Method::PUT, &path, &p.key, Some(json!({ "name": "n", "email": unique_email() })), &[("if-match", "\"0\"")])
        .await;
    stale_put.problem(412, "version_mismatch");
    let stale_delete = app.call_with(Method::DELETE, &path, &p.key, None, &[("if-match", "\"0\"")]).await;
    stale_delete.problem(412, "version_mismatch");
    let garbage = app.call_with(Method::PATCH, &path, &p.key, Some(json!({ "company": "C" })), &[("if-match", "\"not-a-version\"")]).await;
    assert!(garbage.problem(412, "version_mismatch")["detail"].as_str().unwrap().contains("does not name a version"));
    let now = app.get_client(&p.key, &id(&c)).await;
    assert_eq!((now.expect(200)["company"].clone(), now.body["version"].clone()), (json!("A"), json!(1)));
    let delete = app.call_with(Method::DELETE, &path, &p.key, None, &[("if-match", "\"1\"")]).await;
    assert_eq!(delete.status, 204);
}

#[tokio::test]
async fn delete_frees_the_unique_values_at_once_and_deleting_again_is_404() {
    let app = app();
    let p = app.partner().await;
    let c = app.client(&p).await;
    let res = app.delete_client(&p.key, &id(&c)).await;
    assert_eq!(res.status, 204);
    app.get_client(&p.key, &id(&c)).await.problem(404, "not_found");
    app.delete_client(&p.key, &id(&c)).await.problem(404, "not_found");
    app.lookup_client(&p.key, c["apiKey"].as_str().unwrap()).await.problem(404, "not_found");
    let again = app
        .create_client(&p.key, json!({ "name": c["name"], "email": c["email"], "username": c["username"] }))
        .await;
    again.expect(201);
    let listed = app.list_clients(&p.key, "").await;
    assert_eq!(listed.expect(200)["total"], 1);
}

#[tokio::test]
async fn clients_are_found_by_username_api_key_and_search_term() {
    let app = app();
    let p = app.partner().await;
    let c = app.client(&p).await;
    let username = c["username"].as_str().unwrap();
    assert_eq!(app.find_client_by_username(&p.key, username).await.expect(200)["id"], c["id"]);
    assert_eq!(app.lookup_client(&p.key, c["apiKey"].as_str().unwrap()).await.expect(200)["id"], c["id"]);
    assert_eq!(app.search_clients(&p.key, username).await.expect(200)["id"], c["id"]);
    let upper_email = c["email"].as_str().unwrap().to_uppercase();
    assert_eq!(app.search_clients(&p.key, &upper_email).await.expect(200)["id"], c["id"]);

    app.find_client_by_username(&p.key, "nobody-here").await.problem(404, "not_found");
    app.lookup_client(&p.key, "cli_live_unknown").await.problem(404, "not_found");
    app.search_clients(&p.key, "nobody@example.com").await.problem(404, "not_found");
    // API.md §3: the exact username or email, never a part of one.
    let email = c["email"].as_str().unwrap();
    for part in [&username[..username.len() - 1], &email[..email.find('@').unwrap()], &email[1..]] {
        app.search_clients(&p.key, part).await.problem(404, "not_found");
    }
    app.find_client_by_username(&p.key, &username[..username.len() - 1]).await.problem(404, "not_found");
    app.call(Method::GET, "/v1/clients/search", &p.key, None).await.problem(400, "validation_failed");
}

#[tokio::test]
async fn another_partners_client_answers_404_on_every_route() {
    let app = app();
    let (owner, stranger) = (app.partner().await, app.partner().await);
    let c = app.client(&owner).await;
    let cid = id(&c);
    let k = &stranger.key;
    app.get_client(k, &cid).await.problem(404, "not_found");
    app.update_client(k, &cid, json!({ "company": "x" })).await.problem(404, "not_found");
    app.replace_client(k, &cid, json!({ "name": "x", "email": unique_email() })).await.problem(404, "not_found");
    app.delete_client(k, &cid).await.problem(404, "not_found");
    app.find_client_by_username(k, c["username"].as_str().unwrap()).await.problem(404, "not_found");
    app.lookup_client(k, c["apiKey"].as_str().unwrap()).await.problem(404, "not_found");
    app.search_clients(k, c["email"].as_str().unwrap()).await.problem(404, "not_found");
    let listed = app.list_clients(k, &format!("?email={}", c["email"].as_str().unwrap())).await;
    assert_eq!(listed.expect(200)["total"], 0);
    // Untouched for its owner.
    let mine = app.get_client(&owner.key, &cid).await;
    assert_eq!(mine.expect(200)["version"], 0);
}

#[tokio::test]
async fn a_parent_sees_its_sub_partners_clients_but_not_the_reverse() {
    let app = app();
    let root = app.partner().await;
    let child = app.sub_partner(&root).await;
    let mine = app.client(&root).await;
    let theirs = app.client(&child).await;
    app.get_client(&root.key, &id(&theirs)).await.expect(200);
    app.update_client(&root.key, &id(&theirs), json!({ "company": "by parent" })).await.expect(200);
    app.get_client(&child.key, &id(&mine)).await.problem(404, "not_found");
}

#[tokio::test]
async fn client_routes_enforce_their_permissions() {
    let app = app();
    let p = app.partner().await;
    let c = app.client(&p).await;
    let view_only = app.create_api_key(&p.key, json!({ "permissions": ["clients:view"] })).await;
    let view_only = view_only.expect(201)["key"].as_str().unwrap().to_owned();
    app.get_client(&view_only, &id(&c)).await.expect(200);
    app.create_client(&view_only, json!({ "name": unique("c"), "email": unique_email() })).await.problem(403, "forbidden");
    app.update_client(&view_only, &id(&c), json!({ "company": "x" })).await.problem(403, "forbidden");
    app.delete_client(&view_only, &id(&c)).await.problem(403, "forbidden");
}
