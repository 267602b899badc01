//! Console links (API.md §5b): minted by a platform's back end for a partner of its
//! tree, exchanged once by the console for a session of that partner, which holds no
//! more than its minter and ends with the partner's suspension or the minter's revocation.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Partner, Resp, app, basic_auth, unique, unique_email};

/// A JSON request with a bearer token (a console session).
async fn session_call(token: &str, method: Method, path: &str, body: Option<Value>) -> Resp {
    let auth = format!("Bearer {token}");
    let mut headers = vec![("authorization", auth.as_str())];
    let body = body.map(|b| {
        headers.push(("content-type", "application/json"));
        serde_json::to_vec(&b).unwrap()
    });
    app().raw(method, path, &headers, body).await
}

async fn mint(key: &str, body: Value) -> Resp {
    app().call(Method::POST, "/v1/console-links", key, Some(body)).await
}

async fn exchange(token: &str) -> Resp {
    let body = serde_json::to_vec(&json!({ "token": token })).unwrap();
    app().raw(Method::POST, "/v1/console-links/exchange", &[("content-type", "application/json")], Some(body)).await
}

/// The token a minted link's URL carries in its fragment.
fn link_token(minted: &Value) -> String {
    let url = minted["url"].as_str().unwrap();
    url.split_once("#link=").expect("the token is in the URL's fragment").1.to_owned()
}

/// Mints a link to `partner` with `key` and exchanges it: the session's token.
async fn session(key: &str, partner: &Partner) -> String {
    let minted = mint(key, json!({ "partnerId": partner.id })).await;
    let opened = exchange(&link_token(minted.expect(201))).await;
    opened.expect(200)["token"].as_str().unwrap().to_owned()
}

fn seconds_from_now(time: &Value) -> i64 {
    let t = chrono::DateTime::parse_from_rfc3339(time.as_str().unwrap()).unwrap();
    t.timestamp() - chrono::Utc::now().timestamp()
}

#[tokio::test]
async fn a_console_link_opens_one_session_of_its_partner_holding_no_more_than_its_minter() {
    let app = app();
    let root = app.partner().await;
    let sub = app.sub_partner(&root).await;
    let asked = ["clients:view", "clients:create", "webhooks:view"];
    let minted = mint(&root.key, json!({ "partnerId": sub.id, "permissions": asked, "expiresIn": 120 })).await;
    let link = minted.expect(201).clone();
    assert_eq!(minted.header("cache-control"), Some("no-store"));
    let url = link["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/console?partner={}#link=cl_", app.base, sub.id)), "{url}");
    assert!((115..=121).contains(&seconds_from_now(&link["expiresAt"])), "{link}");

    // Minting is in the audit log, with the link's partner, permissions and expiry, never its token.
    let token = link_token(&link);
    let events = app.list_events(&root.key, "?type=console_link.created").await;
    let event = events.expect(200)["data"].as_array().unwrap().iter().find(|e| e["data"]["object"]["id"] == link["id"]).cloned().expect("the event");
    assert_eq!(event["data"]["object"]["partnerId"], json!(sub.id));
    assert_eq!(event["data"]["object"]["permissions"], json!(asked));
    assert_eq!(event["data"]["object"]["expiresAt"], link["expiresAt"]);
    assert_eq!(event["actor"]["kind"], json!("apiKey"));
    assert!(!event.to_string().contains(&token));

    // The first exchange wins; every later one is 401.
    let opened = exchange(&token).await;
    let s = opened.expect(200).clone();
    assert_eq!(opened.header("cache-control"), Some("no-store"));
    assert_eq!((s["partnerId"].as_str(), s["partnerName"].as_str()), (Some(sub.id.as_str()), Some(sub.name.as_str())));
    assert_eq!(s["permissions"], json!(asked));
    assert!((3595..=3601).contains(&seconds_from_now(&s["expiresAt"])), "{s}");
    exchange(&token).await.problem(401, "unauthenticated");
    let racers = futures::future::join_all((0..2).map(|_| async {
        let minted = mint(&root.key, json!({ "partnerId": sub.id })).await;
        link_token(minted.expect(201))
    }))
    .await;
    for racer in &racers {
        let tries = futures::future::join_all((0..3).map(|_| exchange(racer))).await;
        assert_eq!(tries.iter().filter(|r| r.status == 200).count(), 1, "one of three concurrent exchanges wins");
        assert!(tries.iter().all(|r| r.status == 200 || r.status == 401));
    }

    // The session is the partner's, with the permissions the link gave.
    let token = s["token"].as_str().unwrap();
    let client = json!({ "name": unique("console client"), "email": unique_email() });
    let created = session_call(token, Method::POST, "/v1/clients", Some(client)).await;
    let client_id = created.expect(201)["id"].as_str().unwrap().to_owned();
    assert_eq!(app.get_client(&sub.key, &client_id).await.expect(200)["directPartner"]["id"], json!(sub.id));
    let made = app.list_events(&root.key, "?type=client.created").await;
    let made = made.expect(200)["data"].as_array().unwrap().iter().find(|e| e["data"]["object"]["id"] == json!(client_id)).cloned().unwrap();
    assert_eq!(made["actor"], json!({ "kind": "consoleLink", "id": link["id"] }), "a session's changes name its link");
    session_call(token, Method::DELETE, &format!("/v1/clients/{client_id}"), None).await.problem(403, "forbidden");
    session_call(token, Method::GET, "/v1/webhooks", None).await.expect(200);
    // A session sees its partner's tree only; and cannot mint a link (it would outlive its hour).
    let everything = session(&root.key, &sub).await;
    session_call(&everything, Method::GET, &format!("/v1/partners/{}", sub.id), None).await.expect(200);
    session_call(&everything, Method::GET, &format!("/v1/partners/{}", root.id), None).await.problem(404, "not_found");
    let again = session_call(&everything, Method::POST, "/v1/console-links", Some(json!({}))).await;
    again.problem(403, "forbidden");
    // Nor make any other credential that would outlive its hour or its minter: a session
    // never holds keys:create, though its minter does.
    let mate = app.create_teammate(&sub.key, json!({ "username": unique("held"), "password": "correct horse battery staple" })).await;
    let mate_id = mate.expect(201)["id"].as_str().unwrap().to_owned();
    for (method, path, body) in [
        (Method::POST, "/v1/api-keys".to_owned(), json!({ "permissions": ["clients:view"] })),
        (Method::POST, "/v1/teammates".to_owned(), json!({ "username": unique("made"), "password": "correct horse battery staple" })),
        (Method::PATCH, format!("/v1/teammates/{mate_id}"), json!({ "password": "a password the session chose" })),
    ] {
        let res = session_call(&everything, method, &path, Some(body)).await;
        assert!(res.problem(403, "forbidden")["detail"].as_str().unwrap().contains("keys:create"), "{path}");
    }
    session_call(&everything, Method::GET, "/v1/api-keys", None).await.expect(200);
    // The session's token itself says an hour at most.
    use base64::Engine as _;
    let claims = everything.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
    assert!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap() <= 3600, "{claims}");
    assert!(!claims["permissions"].as_array().unwrap().contains(&json!("keys:create")), "{claims}");

    // Never wider than the minter: a narrow key cannot grant what it lacks, nor mint without keys:create.
    let narrow = app.create_api_key(&root.key, json!({ "permissions": ["clients:view", "keys:create"] })).await;
    let narrow = narrow.expect(201)["key"].as_str().unwrap().to_owned();
    let wider = mint(&narrow, json!({ "partnerId": sub.id, "permissions": ["clients:view", "clients:remove"] })).await;
    assert!(wider.problem(403, "forbidden")["detail"].as_str().unwrap().contains("clients:remove"));
    let by_default = mint(&narrow, json!({ "partnerId": sub.id })).await;
    let narrow_session = exchange(&link_token(by_default.expect(201))).await;
    assert_eq!(narrow_session.expect(200)["permissions"], json!(["clients:view"]), "never keys:create (below)");
    let viewer = app.create_api_key(&root.key, json!({ "permissions": ["clients:view"] })).await;
    let viewer = viewer.expect(201)["key"].as_str().unwrap().to_owned();
    mint(&viewer, json!({})).await.problem(403, "forbidden");

    // Another tree's partner is not found; bad input names its field; a made-up token is 401.
    let other = app.partner().await;
    mint(&root.key, json!({ "partnerId": other.id })).await.problem(404, "not_found");
    mint(&app.admin, json!({})).await.problem(400, "validation_failed");
    for (body, field) in [
        (json!({ "expiresIn": 29 }), "expiresIn"),
        (json!({ "expiresIn": 3601 }), "expiresIn"),
        (json!({ "permissions": ["clients:fly"] }), "permissions[0]"),
        (json!({ "partnerId": "nope" }), "partnerId"),
        (json!({ "url": "https://x.example" }), "url"),
    ] {
        let res = mint(&root.key, body.clone()).await;
        res.problem(400, "validation_failed");
        assert_eq!(res.error_fields(), vec![field], "{body}");
    }
    exchange("cl_madeUpTokenThatNoLinkHas0000000").await.problem(401, "unauthenticated");
    // An exchange keeps no idempotency record, whatever credential rides along: a repeat is 401.
    // API.md §5b's defaults: the caller's own partner, for 300 s.
    let minted = mint(&root.key, json!({})).await;
    let expires = chrono::DateTime::parse_from_rfc3339(minted.expect(201)["expiresAt"].as_str().unwrap()).unwrap();
    let lasts = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds();
    assert!((270..=300).contains(&lasts), "a link lasts 300 s by default: {lasts} s left");
    let token = link_token(minted.expect(201));
    let headers = [("x-api-key", root.key.as_str()), ("idempotency-key", "exchange-once"), ("content-type", "application/json")];
    let body = serde_json::to_vec(&json!({ "token": token })).unwrap();
    let entered = app.raw(Method::POST, "/v1/console-links/exchange", &headers, Some(body.clone())).await;
    assert_eq!(entered.expect(200)["partnerId"], root.id.as_str(), "the caller's own partner by default");
    app.raw(Method::POST, "/v1/console-links/exchange", &headers, Some(body)).await.problem(401, "unauthenticated");
    // The admin names the partner, and its link works like any.
    let by_admin = mint(&app.admin, json!({ "partnerId": sub.id, "permissions": ["clients:view"] })).await;
    let admin_session = exchange(&link_token(by_admin.expect(201))).await;
    let admin_session = admin_session.expect(200)["token"].as_str().unwrap().to_owned();
    session_call(&admin_session, Method::GET, "/v1/clients", None).await.expect(200);
    exchange("ck_live_notALinkAtAll").await.problem(401, "unauthenticated");
    let empty = app.raw(Method::POST, "/v1/console-links/exchange", &[("content-type", "application/json")], Some(b"{}".to_vec())).await;
    empty.problem(400, "validation_failed");
}

#[tokio::test]
async fn a_session_ends_with_its_partners_suspension_or_its_minters_revocation_and_a_link_expires() {
    let app = app();
    let root = app.partner().await;
    let sub = app.sub_partner(&root).await;
    // A link left unused past its 30 seconds (checked last, to wait as little as possible).
    let short = mint(&root.key, json!({ "partnerId": sub.id, "expiresIn": 30 })).await;
    let short = link_token(short.expect(201));
    let minted_at = std::time::Instant::now();

    // The minting key revoked: its sessions and its unused links stop working.
    let minter = app.create_api_key(&root.key, json!({ "permissions": crate::helpers::ALL_PERMISSIONS })).await;
    let minter = minter.expect(201).clone();
    let minter_key = minter["key"].as_str().unwrap();
    let live = session(minter_key, &sub).await;
    let unused = link_token(mint(minter_key, json!({ "partnerId": sub.id })).await.expect(201));
    session_call(&live, Method::GET, "/v1/clients", None).await.expect(200);
    app.revoke_api_key(&root.key, minter["id"].as_str().unwrap()).await.expect(204);
    session_call(&live, Method::GET, "/v1/clients", None).await.problem(401, "unauthenticated");
    exchange(&unused).await.problem(401, "unauthenticated");

    // The partner suspended (here, the one above it): its sessions and links are 401.
    let live = session(&root.key, &sub).await;
    let unused = link_token(mint(&root.key, json!({ "partnerId": sub.id })).await.expect(201));
    session_call(&live, Method::GET, "/v1/clients", None).await.expect(200);
    app.suspend_partner(&app.admin, &root.id).await.expect(200);
    session_call(&live, Method::GET, "/v1/clients", None).await.problem(401, "unauthenticated");
    exchange(&unused).await.problem(401, "unauthenticated");
    app.unsuspend_partner(&app.admin, &root.id).await.expect(200);
    // The partner itself suspended, likewise; and they stay ended once it is reactivated.
    let live = session(&root.key, &sub).await;
    let unused = link_token(mint(&root.key, json!({ "partnerId": sub.id })).await.expect(201));
    app.suspend_partner(&root.key, &sub.id).await.expect(200);
    session_call(&live, Method::GET, "/v1/clients", None).await.problem(401, "unauthenticated");
    app.unsuspend_partner(&root.key, &sub.id).await.expect(200);
    session_call(&live, Method::GET, "/v1/clients", None).await.problem(401, "unauthenticated");
    exchange(&unused).await.problem(401, "unauthenticated");
    // A link minted after the reactivation works, even within the same second.
    let after = session(&root.key, &sub).await;
    session_call(&after, Method::GET, "/v1/clients", None).await.expect(200);

    // A teammate's link: its session ends when the teammate's password changes.
    let username = unique("console.minter");
    let password = "correct horse battery staple";
    let made = app.create_teammate(&root.key, json!({ "username": username, "password": password, "permissions": ["clients:view", "keys:create"] })).await;
    let teammate_id = made.expect(201)["id"].as_str().unwrap().to_owned();
    let basic = basic_auth(&username, password);
    let body = serde_json::to_vec(&json!({ "partnerId": sub.id })).unwrap();
    let minted = app
        .raw(Method::POST, "/v1/console-links", &[("authorization", basic.as_str()), ("content-type", "application/json")], Some(body))
        .await;
    let opened = exchange(&link_token(minted.expect(201))).await;
    let by_teammate = opened.expect(200)["token"].as_str().unwrap().to_owned();
    session_call(&by_teammate, Method::GET, "/v1/clients", None).await.expect(200);
    // Checked on every request: the minter narrowed, the session holds no more than it now does.
    let narrowed = app.call(Method::PATCH, &format!("/v1/teammates/{teammate_id}"), &root.key, Some(json!({ "permissions": ["keys:create", "webhooks:view"] }))).await;
    narrowed.expect(200);
    session_call(&by_teammate, Method::GET, "/v1/clients", None).await.problem(403, "forbidden");
    let changed = app.call(Method::PATCH, &format!("/v1/teammates/{teammate_id}"), &root.key, Some(json!({ "password": "another horse battery staple" }))).await;
    changed.expect(200);
    session_call(&by_teammate, Method::GET, "/v1/clients", None).await.problem(401, "unauthenticated");

    // Expiry: the 30-second link, never used, is refused once its time is up.
    let left = std::time::Duration::from_secs(31).saturating_sub(minted_at.elapsed());
    tokio::time::sleep(left).await;
    exchange(&short).await.problem(401, "unauthenticated");
}
