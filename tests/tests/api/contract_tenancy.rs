//! Tenancy and permissions route by route (API.md §1 "Tenancy", "Permissions"):
//! another tree's id answers 404 exactly as if it did not exist, and changes
//! nothing; a credential without the route's permission answers 403.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{ALL_PERMISSIONS, Partner, app};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn another_trees_client_is_404_on_every_lifecycle_route_and_stays_untouched() {
    let app = app();
    let (owner, stranger) = (app.partner().await, app.partner().await);
    let c = app.client(&owner).await;
    let cid = id(&c);
    let k = &stranger.key;
    let cases = [
        ("make-live", app.make_live(k, &cid).await),
        ("offer-trial", app.offer_trial(k, &cid, json!({ "days": 7 })).await),
        ("suspend", app.suspend_client(k, &cid, Some(json!({ "reason": "x" }))).await),
        ("unsuspend", app.unsuspend_client(k, &cid).await),
        ("permissions", app.set_permissions(k, &cid, json!({ "reports": ["view"] })).await),
        ("quotas", app.set_quotas(k, &cid, json!({ "apiCalls": { "limit": 5 } })).await),
        ("rotate-api-key", app.rotate_client_key(k, &cid).await),
        ("record usage", app.record_usage(k, &cid, json!({ "resource": "apiCalls", "amount": 1 })).await),
        ("read usage", app.get_usage(k, &cid).await),
        ("licenses", app.client_licenses(k, &cid).await),
    ];
    for (route, res) in &cases {
        assert_eq!(res.status, 404, "{route}: {}", res.body);
        res.problem(404, "not_found");
    }
    // The same 404 as an id that does not exist at all.
    let unknown = app.make_live(k, "0193a000-0000-7000-8000-000000000000").await;
    assert_eq!(unknown.body["title"], cases[0].1.body["title"]);
    let mine = app.get_client(&owner.key, &cid).await;
    let mine = mine.expect(200);
    assert_eq!((mine["version"].clone(), mine["status"].clone(), mine["suspended"].clone()), (json!(0), json!("demo"), json!(false)));
    assert_eq!((mine["permissions"].clone(), mine["quotas"].clone()), (c["permissions"].clone(), c["quotas"].clone()));
    // The client's own key was not rotated away.
    assert_eq!(app.lookup_client(&owner.key, c["apiKey"].as_str().unwrap()).await.expect(200)["id"], cid.as_str());
}

#[tokio::test]
async fn another_trees_partner_cannot_be_unsuspended() {
    let app = app();
    let (a, b) = (app.partner().await, app.partner().await);
    let b_child = app.sub_partner(&b).await;
    app.suspend_partner(&b.key, &b_child.id).await.expect(200);
    app.unsuspend_partner(&a.key, &b_child.id).await.problem(404, "not_found");
    app.unsuspend_partner(&a.key, &b.id).await.problem(404, "not_found");
    assert_eq!(app.get_partner(&b.key, &b_child.id).await.expect(200)["suspended"], true, "still suspended");
    app.list_clients(&b_child.key, "").await.problem(401, "unauthenticated");
}

#[tokio::test]
async fn webhooks_of_another_tree_are_invisible_in_lists_and_deliveries() {
    let app = app();
    let (a, b) = (app.partner().await, app.partner().await);
    let hook = |p: &Partner| {
        let key = p.key.clone();
        async move { app.call(Method::POST, "/v1/webhooks", &key, Some(json!({ "url": "http://127.0.0.1:9/hook", "events": ["*"] }))).await.expect(201).clone() }
    };
    let (mine, theirs) = (hook(&a).await, hook(&b).await);
    let listed = app.call(Method::GET, "/v1/webhooks?limit=100", &a.key, None).await;
    let ids: Vec<String> = listed.expect(200)["data"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(ids, [id(&mine)], "only the caller's own endpoints");
    assert_eq!(listed.body["total"], 1);
    app.call(Method::GET, &format!("/v1/webhooks?partnerId={}", b.id), &a.key, None).await.problem(404, "not_found");
    app.call(Method::GET, &format!("/v1/webhooks/{}/deliveries", id(&theirs)), &a.key, None).await.problem(404, "not_found");
    app.call(Method::GET, &format!("/v1/webhooks/{}/deliveries", id(&mine)), &a.key, None).await.expect(200);
    // The admin sees both.
    let all = app.call(Method::GET, &format!("/v1/webhooks?partnerId={}", b.id), &app.admin, None).await;
    assert_eq!(all.expect(200)["data"][0]["id"], theirs["id"]);
}

/// A key of `p` holding every permission but `missing`.
async fn key_without(p: &Partner, missing: &str) -> String {
    let permissions: Vec<&str> = ALL_PERMISSIONS.iter().copied().filter(|x| *x != missing).collect();
    let made = app().create_api_key(&p.key, json!({ "permissions": permissions })).await;
    made.expect(201)["key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn each_license_permission_is_needed_for_its_route() {
    let app = app();
    let p = app.partner().await;
    let product = app.product().await;
    let c = app.client(&p).await;
    let body = json!({ "productId": product["id"], "tier": "t", "clientId": c["id"] });
    let license = app.create_license(&p.key, body.clone()).await.expect(201).clone();
    let lid = id(&license);

    let no_create = key_without(&p, "licenses:create").await;
    app.create_license(&no_create, body.clone()).await.problem(403, "forbidden");
    let no_view = key_without(&p, "licenses:view").await;
    app.get_license(&no_view, &lid).await.problem(403, "forbidden");
    let no_remove = key_without(&p, "licenses:remove").await;
    app.revoke_license(&no_remove, &lid).await.problem(403, "forbidden");

    assert_eq!(app.client_licenses(&p.key, &id(&c)).await.expect(200)["total"], 1, "no license was made");
    assert_eq!(app.get_license(&p.key, &lid).await.expect(200)["status"], "active", "nothing was revoked");
    // With the permission, each works.
    app.get_license(&no_create, &lid).await.expect(200);
    app.create_license(&no_view, body).await.expect(201);
    app.revoke_license(&no_view, &lid).await.expect(200);
}

#[tokio::test]
async fn each_webhook_permission_is_needed_for_its_routes() {
    let app = app();
    let p = app.partner().await;
    let made = app.call(Method::POST, "/v1/webhooks", &p.key, Some(json!({ "url": "http://127.0.0.1:9/a", "events": ["*"] }))).await;
    let hid = id(made.expect(201));
    let modified = made.body["modified"].clone();
    let event = app.list_events(&p.key, "?limit=1").await.expect(200)["data"][0].clone();
    let eid = id(&event);

    let no_view = key_without(&p, "webhooks:view").await;
    for path in ["/v1/webhooks".to_owned(), format!("/v1/webhooks/{hid}"), format!("/v1/webhooks/{hid}/deliveries"), "/v1/events".to_owned()] {
        let res = app.call(Method::GET, &path, &no_view, None).await;
        assert_eq!(res.status, 403, "GET {path} needs webhooks:view: {}", res.body);
        res.problem(403, "forbidden");
    }
    let no_create = key_without(&p, "webhooks:create").await;
    app.call(Method::POST, "/v1/webhooks", &no_create, Some(json!({ "url": "http://127.0.0.1:9/b", "events": ["*"] })))
        .await
        .problem(403, "forbidden");
    let no_edit = key_without(&p, "webhooks:edit").await;
    app.call(Method::PATCH, &format!("/v1/webhooks/{hid}"), &no_edit, Some(json!({ "enabled": false }))).await.problem(403, "forbidden");
    app.call(Method::POST, &format!("/v1/events/{eid}/redeliver"), &no_edit, None).await.problem(403, "forbidden");
    let no_remove = key_without(&p, "webhooks:remove").await;
    app.call(Method::DELETE, &format!("/v1/webhooks/{hid}"), &no_remove, None).await.problem(403, "forbidden");

    let now = app.call(Method::GET, &format!("/v1/webhooks/{hid}"), &p.key, None).await;
    assert_eq!((now.expect(200)["enabled"].clone(), now.body["modified"].clone()), (json!(true), modified), "unchanged");
    assert_eq!(app.call(Method::GET, "/v1/webhooks", &p.key, None).await.expect(200)["total"], 1, "none made, none deleted");
    app.call(Method::GET, &format!("/v1/webhooks/{hid}"), &no_create, None).await.expect(200);
}

#[tokio::test]
async fn revoking_a_key_needs_keys_remove() {
    let app = app();
    let p = app.partner().await;
    let victim = app.create_api_key(&p.key, json!({ "permissions": ["clients:view"] })).await.expect(201).clone();
    let no_remove = key_without(&p, "keys:remove").await;
    app.revoke_api_key(&no_remove, &id(&victim)).await.problem(403, "forbidden");
    app.list_clients(victim["key"].as_str().unwrap(), "").await.expect(200);
    app.revoke_api_key(&p.key, &id(&victim)).await.expect(204);
}

#[tokio::test]
async fn suspending_a_sub_partner_needs_partners_edit() {
    let app = app();
    let root = app.partner().await;
    let child = app.sub_partner(&root).await;
    let no_edit = key_without(&root, "partners:edit").await;
    app.suspend_partner(&no_edit, &child.id).await.problem(403, "forbidden");
    app.list_clients(&child.key, "").await.expect(200);
    app.suspend_partner(&root.key, &child.id).await.expect(200);
    app.unsuspend_partner(&no_edit, &child.id).await.problem(403, "forbidden");
    app.list_clients(&child.key, "").await.problem(401, "unauthenticated");
}

/// A request: method, path and body.
type Request = (Method, String, Option<Value>);

/// Every route of §2 and §3 with the permission its "Needs" column names: a key that
/// holds every permission but that one gets 403, and nothing changes.
#[tokio::test]
async fn each_route_answers_403_without_its_permission_and_changes_nothing() {
    let app = app();
    let p = app.partner().await;
    let c = app.client(&p).await;
    let cid = id(&c);
    let (username, client_key) = (c["username"].as_str().unwrap().to_owned(), c["apiKey"].as_str().unwrap().to_owned());
    let mate = app.create_teammate(&p.key, json!({ "username": crate::helpers::unique("mate"), "password": "correct horse battery staple" })).await;
    let mate = id(mate.expect(201));
    let client = |m: Method, tail: &str, body: Option<Value>| (m, format!("/v1/clients/{cid}{tail}"), body);
    let routes: Vec<(&str, Request)> = vec![
        ("clients:edit", client(Method::PUT, "", Some(json!({ "name": "Renamed", "email": crate::helpers::unique_email() })))),
        ("clients:edit", client(Method::POST, "/make-live", None)),
        ("clients:edit", client(Method::POST, "/offer-trial", Some(json!({ "days": 7 })))),
        ("clients:edit", client(Method::POST, "/suspend", Some(json!({ "reason": "x" })))),
        ("clients:edit", client(Method::POST, "/unsuspend", None)),
        ("clients:edit", client(Method::PUT, "/permissions", Some(json!({ "reports": ["view"] })))),
        ("clients:edit", client(Method::PUT, "/quotas", Some(json!({ "apiCalls": { "limit": 5 } })))),
        ("clients:edit", client(Method::POST, "/usage", Some(json!({ "resource": "apiCalls", "amount": 1 })))),
        ("clients:edit", client(Method::POST, "/rotate-api-key", None)),
        ("clients:remove", (Method::POST, "/v1/clients/bulk-delete".into(), Some(json!({ "ids": [cid] })))),
        ("clients:view", client(Method::GET, "", None)),
        ("clients:view", (Method::GET, format!("/v1/clients/by-username/{username}"), None)),
        ("clients:view", (Method::POST, "/v1/clients/lookup".into(), Some(json!({ "apiKey": client_key })))),
        ("clients:view", (Method::GET, format!("/v1/clients/search?term={username}"), None)),
        ("clients:view", client(Method::GET, "/usage", None)),
        ("clients:view", client(Method::GET, "/licenses", None)),
        ("keys:create", (Method::POST, "/v1/api-keys".into(), Some(json!({ "name": "k" })))),
        ("keys:create", (Method::POST, "/v1/teammates".into(), Some(json!({ "username": crate::helpers::unique("t"), "password": "correct horse battery staple" })))),
        ("keys:create", (Method::PATCH, format!("/v1/teammates/{mate}"), Some(json!({ "permissions": ["clients:view"] })))),
        ("keys:view", (Method::GET, "/v1/api-keys".into(), None)),
        ("partners:view", (Method::GET, format!("/v1/partners/{}", p.id), None)),
    ];
    let mut keys = std::collections::HashMap::new();
    for (permission, (method, path, body)) in routes {
        if !keys.contains_key(permission) {
            keys.insert(permission, key_without(&p, permission).await);
        }
        let res = app.call(method.clone(), &path, &keys[permission], body).await;
        assert_eq!(res.status, 403, "{method} {path} without {permission}: {}", res.body);
        res.problem(403, "forbidden");
        assert!(res.body["detail"].as_str().unwrap().contains(permission), "names {permission}: {}", res.body);
    }
    let after = app.get_client(&p.key, &cid).await;
    let after = after.expect(200);
    assert_eq!((after["version"].clone(), after["name"].clone(), after["status"].clone()), (json!(0), c["name"].clone(), json!("demo")));
    assert_eq!(app.lookup_client(&p.key, &client_key).await.expect(200)["id"], cid.as_str(), "its key was not rotated");
    let keys_now = app.call(Method::GET, "/v1/api-keys?limit=100", &p.key, None).await;
    assert_eq!(keys_now.expect(200)["total"], 1 + keys.len(), "no key was created: the partner's own and the test's");
}

/// API.md §2: removing a teammate needs `keys:remove`, even for a key that holds every
/// permission the teammate has (so it is not "acting above itself" that refuses it).
#[tokio::test]
async fn removing_a_teammate_needs_keys_remove() {
    let app = app();
    let p = app.partner().await;
    let (id, username, password) = app.teammate_with(&p, &["clients:view"]).await;
    let without = key_without(&p, "keys:remove").await;
    let path = format!("/v1/teammates/{id}");
    app.call(Method::DELETE, &path, &without, None).await.problem(403, "forbidden");
    // Still there: the teammate signs in.
    let signed_in = app.raw(Method::GET, "/v1/clients", &[("authorization", &crate::helpers::basic_auth(&username, &password))], None).await;
    signed_in.expect(200);
    app.call(Method::DELETE, &path, &app.key_with(&p, &["keys:remove", "clients:view"]).await, None).await.expect(204);
}
