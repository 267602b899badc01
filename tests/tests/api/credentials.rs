//! Credentials and partners as a security review meets them (API.md §2, §5):
//! teammates listed, changed and removed (a removed teammate's password and tokens
//! fail on the next request), partners renamed, webhook secrets rotated (both sign
//! for 24 h), and every such change in the audit log with its actor and as a webhook.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Partner, Resp, app, unique};
use crate::receiver::Receiver;

const PASSWORD: &str = "correct horse battery staple";

use crate::helpers::basic_auth as basic;

async fn with_auth(auth: &str, method: Method, path: &str) -> Resp {
    app().raw(method, path, &[("authorization", auth)], None).await
}

async fn token(username: &str, password: &str) -> String {
    let issued = with_auth(&basic(username, password), Method::POST, "/v1/auth/token").await;
    format!("Bearer {}", issued.expect(200)["token"].as_str().unwrap())
}

async fn teammate(p: &Partner, body: Value) -> Value {
    app().call(Method::POST, "/v1/teammates", &p.key, Some(body)).await.expect(201).clone()
}

async fn patch_teammate(key: &str, id: &str, body: Value) -> Resp {
    app().call(Method::PATCH, &format!("/v1/teammates/{id}"), key, Some(body)).await
}

async fn remove_teammate(key: &str, id: &str) -> Resp {
    app().call(Method::DELETE, &format!("/v1/teammates/{id}"), key, None).await
}

async fn patch_partner(key: &str, id: &str, body: Value) -> Resp {
    app().call(Method::PATCH, &format!("/v1/partners/{id}"), key, Some(body)).await
}

#[tokio::test]
async fn teammates_are_listed_per_partner_without_their_password_hashes() {
    let app = app();
    let (p, other) = (app.partner().await, app.partner().await);
    let first = teammate(&p, json!({ "username": unique("ana"), "password": PASSWORD })).await;
    let second = teammate(&p, json!({ "username": unique("bo"), "password": PASSWORD, "permissions": ["clients:view"] })).await;
    teammate(&other, json!({ "username": unique("cy"), "password": PASSWORD })).await;

    let page = app.call(Method::GET, "/v1/teammates?limit=1", &p.key, None).await;
    let page = page.expect(200).clone();
    assert_eq!(page["total"], 2);
    assert_eq!(page["data"][0]["id"], second["id"], "newest first");
    assert_eq!(page["data"][0]["permissions"], json!(["clients:view"]));
    let cursor = page["nextCursor"].as_str().expect("a second page");
    let rest = app.call(Method::GET, &format!("/v1/teammates?limit=1&cursor={cursor}"), &p.key, None).await;
    assert_eq!(rest.expect(200)["data"][0]["id"], first["id"]);
    let text = page.to_string();
    assert!(!text.contains("argon2") && !text.contains("passwordHash") && !text.contains(PASSWORD), "{text}");

    // The admin names the partner; a partner outside the caller's tree is 404.
    let by_admin = app.call(Method::GET, &format!("/v1/teammates?partnerId={}", p.id), &app.admin, None).await;
    assert_eq!(by_admin.expect(200)["total"], 2);
    app.call(Method::GET, &format!("/v1/teammates?partnerId={}", p.id), &other.key, None).await.problem(404, "not_found");
    let no_view = app.create_api_key(&p.key, json!({ "permissions": ["clients:view"] })).await;
    let no_view = no_view.expect(201)["key"].as_str().unwrap().to_owned();
    app.call(Method::GET, "/v1/teammates", &no_view, None).await.problem(403, "forbidden");
}

#[tokio::test]
async fn a_removed_teammates_password_and_tokens_fail_on_the_next_request() {
    let app = app();
    let p = app.partner().await;
    let username = unique("dee");
    let t = teammate(&p, json!({ "username": username, "password": PASSWORD })).await;
    let id = t["id"].as_str().unwrap();
    let bearer = token(&username, PASSWORD).await;
    with_auth(&bearer, Method::GET, "/v1/clients").await.expect(200);

    let narrow = app.create_api_key(&p.key, json!({ "permissions": ["keys:view", "keys:create"] })).await;
    let narrow = narrow.expect(201)["key"].as_str().unwrap().to_owned();
    remove_teammate(&narrow, id).await.problem(403, "forbidden");
    remove_teammate(&p.key, id).await.expect(204);

    with_auth(&basic(&username, PASSWORD), Method::GET, "/v1/clients").await.problem(401, "unauthenticated");
    with_auth(&bearer, Method::GET, "/v1/clients").await.problem(401, "unauthenticated");
    remove_teammate(&p.key, id).await.problem(404, "not_found");
    patch_teammate(&p.key, id, json!({ "permissions": ["clients:view"] })).await.problem(404, "not_found");
    // The username is free again.
    teammate(&p, json!({ "username": username, "password": PASSWORD })).await;
}

#[tokio::test]
async fn a_teammates_new_permissions_and_password_take_effect_at_once() {
    let app = app();
    let p = app.partner().await;
    let username = unique("eve");
    let t = teammate(&p, json!({ "username": username, "password": PASSWORD })).await;
    let id = t["id"].as_str().unwrap();
    let bearer = token(&username, PASSWORD).await;

    let changed = patch_teammate(&p.key, id, json!({ "permissions": ["clients:create"] })).await;
    assert_eq!(changed.expect(200)["permissions"], json!(["clients:create"]));
    // The token was issued with clients:view; it holds it no longer.
    with_auth(&bearer, Method::GET, "/v1/clients").await.problem(403, "forbidden");
    with_auth(&basic(&username, PASSWORD), Method::GET, "/v1/clients").await.problem(403, "forbidden");

    let new_password = "a much newer passphrase";
    patch_teammate(&p.key, id, json!({ "password": new_password, "permissions": ["clients:view"] })).await.expect(200);
    with_auth(&bearer, Method::GET, "/v1/clients").await.problem(401, "unauthenticated");
    with_auth(&basic(&username, PASSWORD), Method::GET, "/v1/clients").await.problem(401, "unauthenticated");
    with_auth(&basic(&username, new_password), Method::GET, "/v1/clients").await.expect(200);
    let fresh = token(&username, new_password).await;
    with_auth(&fresh, Method::GET, "/v1/clients").await.expect(200);

    // Never more than the caller holds; bad and read-only fields named; other trees 404.
    let narrow = app.create_api_key(&p.key, json!({ "permissions": ["keys:create", "clients:view"] })).await;
    let narrow = narrow.expect(201)["key"].as_str().unwrap().to_owned();
    patch_teammate(&narrow, id, json!({ "permissions": ["clients:remove"] })).await.problem(403, "forbidden");
    let bad = patch_teammate(&p.key, id, json!({ "password": "short", "username": "x", "colour": 1 })).await;
    bad.problem(400, "validation_failed");
    assert_eq!(bad.error_fields(), ["password", "username", "colour"]);
    let other = app.partner().await;
    patch_teammate(&other.key, id, json!({ "permissions": [] })).await.problem(404, "not_found");
    remove_teammate(&other.key, id).await.problem(404, "not_found");
    patch_teammate(&p.key, &"9".repeat(3000), json!({})).await.problem(404, "not_found");
}

#[tokio::test]
async fn a_partner_can_be_renamed_and_retyped_and_its_old_name_is_free_at_once() {
    let app = app();
    let root = app.partner().await;
    let sub = app.sub_partner(&root).await;
    let before = app.client(&sub).await;
    let new_name = unique("renamed");
    let renamed = patch_partner(&root.key, &sub.id, json!({ "name": new_name, "type": "agency" })).await;
    let renamed = renamed.expect(200).clone();
    assert_eq!((renamed["name"].as_str(), renamed["type"].as_str()), (Some(new_name.as_str()), Some("agency")));
    assert_eq!(app.get_partner(&root.key, &sub.id).await.expect(200)["name"], new_name.as_str());
    // Its clients show the new name at once, read one by one or listed, by the partner
    // itself and from above.
    let cid = before["id"].as_str().unwrap();
    for key in [&root.key, &sub.key, &app.admin] {
        assert_eq!(app.get_client(key, cid).await.expect(200)["directPartner"]["name"], new_name.as_str());
        let listed = app.list_clients(key, &format!("?partner={}", sub.id)).await;
        assert_eq!(listed.expect(200)["data"][0]["directPartner"]["name"], new_name.as_str());
    }
    let renamed_root = unique("root2");
    patch_partner(&app.admin, &root.id, json!({ "name": renamed_root })).await.expect(200);
    assert_eq!(app.get_client(&sub.key, cid).await.expect(200)["partner"]["name"], renamed_root.as_str());
    // Found by its new name; the old one is free for another partner.
    let by_name = json!({ "name": unique("c"), "email": format!("{}@example.com", unique("m")), "directPartner": { "name": new_name } });
    app.create_client(&root.key, by_name).await.expect(201);
    app.create_partner(&app.admin, json!({ "name": sub.name })).await.expect(201);
    // Case only is the same name, and no error.
    patch_partner(&root.key, &sub.id, json!({ "name": new_name.to_uppercase() })).await.expect(200);

    patch_partner(&root.key, &sub.id, json!({ "name": renamed_root })).await.problem(409, "name_taken");
    let bad = patch_partner(&root.key, &sub.id, json!({ "type": "empire", "parentId": root.id, "x": 1 })).await;
    bad.problem(400, "validation_failed");
    assert_eq!(bad.error_fields(), ["type", "parentId", "x"]);
    let stranger = app.partner().await;
    patch_partner(&stranger.key, &sub.id, json!({ "name": unique("z") })).await.problem(404, "not_found");
    let no_edit = app.create_api_key(&root.key, json!({ "permissions": ["partners:view"] })).await;
    let no_edit = no_edit.expect(201)["key"].as_str().unwrap().to_owned();
    patch_partner(&no_edit, &sub.id, json!({ "name": unique("z") })).await.problem(403, "forbidden");
}

/// An endpoint of `p` on `receiver` for `client.created`, its secret rotated once:
/// (its id, the secret before, the secret now).
async fn rotated_endpoint(p: &Partner, receiver: &Receiver) -> (String, String, String) {
    let app = app();
    let hook = app.call(Method::POST, "/v1/webhooks", &p.key, Some(json!({ "url": receiver.url, "events": ["client.created"] }))).await;
    let hook = hook.expect(201).clone();
    let (id, old) = (hook["id"].as_str().unwrap().to_owned(), hook["secret"].as_str().unwrap().to_owned());
    let rotated = app.call(Method::POST, &format!("/v1/webhooks/{id}/rotate-secret"), &p.key, None).await;
    let new = rotated.expect(200)["secret"].as_str().unwrap().to_owned();
    (id, old, new)
}

#[tokio::test]
async fn a_rotated_webhook_secret_is_shown_once_and_both_secrets_sign_for_a_day() {
    let app = app();
    let p = app.partner().await;
    let receiver = Receiver::start().await;
    let (id, old, new) = rotated_endpoint(&p, &receiver).await;
    let id = id.as_str();
    assert!(new.starts_with("whsec_") && new != old);
    let shown = app.call(Method::GET, &format!("/v1/webhooks/{id}"), &p.key, None).await;
    assert!(shown.expect(200).get("secret").is_none(), "the secret is shown only by create and rotate");

    let c = app.client(&p).await;
    let got = receiver.wait_for(1, 30, |r| r.json()["data"]["object"]["id"] == c["id"]).await;
    assert_eq!(got.len(), 1, "the delivery after the rotation");
    assert!(got[0].signed_with(&new), "signed with the new secret: {:?}", got[0].headers);
    assert!(got[0].signed_with(&old), "and, for 24 h, with the old one");

    let stranger = app.partner().await;
    app.call(Method::POST, &format!("/v1/webhooks/{id}/rotate-secret"), &stranger.key, None).await.problem(404, "not_found");
    let no_edit = app.create_api_key(&p.key, json!({ "permissions": ["webhooks:view"] })).await;
    let no_edit = no_edit.expect(201)["key"].as_str().unwrap().to_owned();
    app.call(Method::POST, &format!("/v1/webhooks/{id}/rotate-secret"), &no_edit, None).await.problem(403, "forbidden");
}

/// API.md §5: the old secret signs "for 24 h" after a rotation, and then no more. The
/// rotation's day is made to have passed (its end moved into the past in the table).
#[tokio::test]
async fn a_rotated_webhook_secret_stops_signing_when_its_day_is_over() {
    let app = app();
    let p = app.partner().await;
    let receiver = Receiver::start().await;
    let (id, old, new) = rotated_endpoint(&p, &receiver).await;

    let ended = (chrono::Utc::now() - chrono::Duration::seconds(1)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let db = app.dynamodb().await;
    db.update_item()
        .table_name("clientele")
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("WEBHOOK#{id}")))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("#".into()))
        .update_expression("SET previousUntil = :ended")
        .condition_expression("attribute_exists(previousNonce)")
        .expression_attribute_values(":ended", aws_sdk_dynamodb::types::AttributeValue::S(ended))
        .send()
        .await
        .expect("the rotated endpoint keeps its previous secret's nonce and end");

    let c = app.client(&p).await;
    let got = receiver.wait_for(1, 30, |r| r.json()["data"]["object"]["id"] == c["id"]).await;
    assert_eq!(got.len(), 1, "the delivery after the day");
    assert!(got[0].signed_with(&new), "signed with the new secret: {:?}", got[0].headers);
    assert!(!got[0].signed_with(&old), "and no longer with the old one: {:?}", got[0].headers);
}

/// Each credential and partner change, by its response's request id: the event of
/// that request must be in the audit log with the caller as its actor, and arrive
/// at the partner's endpoint.
#[tokio::test]
async fn every_credential_and_partner_change_is_in_the_audit_log_and_arrives_as_a_webhook() {
    let app = app();
    let root = app.partner().await;
    let receiver = Receiver::start().await;
    let hook = app.call(Method::POST, "/v1/webhooks", &root.key, Some(json!({ "url": receiver.url, "events": ["*"] }))).await;
    let hook_id = hook.expect(201)["id"].as_str().unwrap().to_owned();
    let sub = app.create_partner(&root.key, json!({ "name": unique("sub") })).await;
    let sub_id = sub.expect(201)["id"].as_str().unwrap().to_owned();

    let mut changes: Vec<(&str, Resp)> = Vec::new();
    changes.push(("partner.updated", patch_partner(&root.key, &sub_id, json!({ "name": unique("sub2") })).await));
    changes.push(("partner.suspended", app.suspend_partner(&root.key, &sub_id).await));
    changes.push(("partner.unsuspended", app.unsuspend_partner(&root.key, &sub_id).await));
    let key = app.create_api_key(&root.key, json!({ "name": "ci", "permissions": ["clients:view"] })).await;
    let (key_id, key_secret) = (key.body["id"].as_str().unwrap().to_owned(), key.body["key"].as_str().unwrap().to_owned());
    changes.push(("key.created", key));
    changes.push(("key.revoked", app.revoke_api_key(&root.key, &key_id).await));
    let mate = app.call(Method::POST, "/v1/teammates", &root.key, Some(json!({ "username": unique("fay"), "password": PASSWORD }))).await;
    let mate_id = mate.body["id"].as_str().unwrap().to_owned();
    changes.push(("teammate.created", mate));
    changes.push(("teammate.updated", patch_teammate(&root.key, &mate_id, json!({ "permissions": ["clients:view"] })).await));
    changes.push(("teammate.removed", remove_teammate(&root.key, &mate_id).await));
    changes.push(("webhook.secret_rotated", app.call(Method::POST, &format!("/v1/webhooks/{hook_id}/rotate-secret"), &root.key, None).await));

    let actor = app.list_events(&root.key, "?type=partner.created&limit=1").await.expect(200)["data"][0]["actor"].clone();
    assert_eq!(actor["kind"], "apiKey");
    for (kind, res) in &changes {
        assert!(res.status < 300, "{kind}: {} {}", res.status, res.body);
        let request_id = res.header("x-request-id").unwrap();
        let listed = app.list_events(&root.key, &format!("?type={kind}&limit=100")).await;
        let listed = listed.expect(200).clone();
        let event = listed["data"].as_array().unwrap().iter().find(|e| e["requestId"] == request_id);
        let event = event.unwrap_or_else(|| panic!("no {kind} event of request {request_id}: {listed}"));
        assert_eq!(event["actor"], actor, "{kind}: the caller is the actor");
        let text = event.to_string();
        assert!(!text.contains(&key_secret) && !text.contains(PASSWORD) && !text.contains("whsec_"), "{kind} holds a secret: {text}");
        let delivered = receiver.wait_for(1, 30, |r| r.json()["requestId"] == request_id).await;
        assert_eq!(delivered.len(), 1, "{kind} arrives as a webhook");
        assert_eq!(delivered[0].json()["type"], *kind);
    }
    let updated = app.list_events(&root.key, "?type=partner.updated").await.expect(200)["data"][0].clone();
    assert!(updated["data"]["previous"]["name"].is_string(), "the old name in previous: {updated}");
    // Suspending a partner that is suspended already changes nothing and says nothing.
    app.suspend_partner(&root.key, &sub_id).await.expect(200);
    let before = app.list_events(&root.key, "?type=partner.suspended").await.expect(200)["total"].clone();
    app.suspend_partner(&root.key, &sub_id).await.expect(200);
    assert_eq!(app.list_events(&root.key, "?type=partner.suspended").await.expect(200)["total"], before);
}
