//! Teammates: Basic credentials, and the bearer tokens they exchange them for.

use base64::Engine as _;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{Resp, app, unique};

const PASSWORD: &str = "correct horse battery staple";

use crate::helpers::basic_auth as basic;

async fn with_auth(auth: &str, method: Method, path: &str) -> Resp {
    app().raw(method, path, &[("authorization", auth)], None).await
}

#[tokio::test]
async fn a_teammate_signs_in_with_basic_and_with_the_token_it_gets() {
    let app = app();
    let p = app.partner().await;
    let username = unique("ana");
    let res = app.create_teammate(&p.key, json!({ "username": username, "password": PASSWORD })).await;
    let t = res.expect(201);
    assert_eq!(t["username"], username.as_str());
    assert_eq!(t["partnerId"], p.id.as_str());
    assert_eq!(t["permissions"], json!(["clients:view", "clients:edit", "clients:create", "clients:remove"]));
    assert!(t.get("password").is_none() && !t.to_string().contains(PASSWORD));

    with_auth(&basic(&username, PASSWORD), Method::GET, "/v1/clients").await.expect(200);
    with_auth(&basic(&username, "wrong password!"), Method::GET, "/v1/clients").await.problem(401, "unauthenticated");
    with_auth(&basic(&unique("nobody"), PASSWORD), Method::GET, "/v1/clients").await.problem(401, "unauthenticated");

    let issued = with_auth(&basic(&username, PASSWORD), Method::POST, "/v1/auth/token").await;
    let token = issued.expect(200)["token"].as_str().unwrap().to_owned();
    let (header, claims) = {
        let parts: Vec<&str> = token.split('.').collect();
        let decode = |s: &str| -> serde_json::Value {
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).unwrap()).unwrap()
        };
        (decode(parts[0]), decode(parts[1]))
    };
    assert_eq!(header["alg"], "HS256");
    assert_eq!((claims["sub"].clone(), claims["partnerId"].clone()), (t["id"].clone(), json!(p.id)));
    assert_eq!(claims["permissions"], t["permissions"]);
    assert!(claims["exp"].as_i64().unwrap() > chrono::Utc::now().timestamp());
    let expires = chrono::DateTime::parse_from_rfc3339(issued.body["expiresAt"].as_str().unwrap()).unwrap();
    assert!(expires > chrono::Utc::now());
    let listed = with_auth(&format!("Bearer {token}"), Method::GET, "/v1/clients").await;
    listed.expect(200);
    // What the teammate creates is attributed to it.
    let created = app
        .raw(
            Method::POST,
            "/v1/clients",
            &[("authorization", &format!("Bearer {token}")), ("content-type", "application/json")],
            Some(json!({ "name": unique("c"), "email": format!("{}@example.com", unique("t")) }).to_string().into_bytes()),
        )
        .await;
    created.expect(201);
    let events = app.list_events(&p.key, "?type=client.created").await;
    assert_eq!(events.expect(200)["data"][0]["actor"], json!({ "kind": "teammate", "id": t["id"] }));
}

#[tokio::test]
async fn tokens_that_are_tampered_unsigned_or_expired_are_refused() {
    let app = app();
    let p = app.partner().await;
    let username = unique("bo");
    app.create_teammate(&p.key, json!({ "username": username, "password": PASSWORD })).await.expect(201);
    let token = with_auth(&basic(&username, PASSWORD), Method::POST, "/v1/auth/token").await.expect(200)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (header, rest) = token.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let mut claims: serde_json::Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["permissions"] = json!(["clients:view", "partners:create", "keys:create"]);
    let widened = format!("{header}.{}.{signature}", b64(&claims.to_string()));
    let unsigned = format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), b64(&claims.to_string()));
    let hs512 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(std::env::var("CLIENTELE_JWT_SECRET").unwrap().as_bytes()),
    )
    .unwrap();
    let mut old = claims.clone();
    old["exp"] = json!(chrono::Utc::now().timestamp() - 5);
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &old,
        &jsonwebtoken::EncodingKey::from_secret(std::env::var("CLIENTELE_JWT_SECRET").unwrap().as_bytes()),
    )
    .unwrap();
    for (case, t) in [("widened", widened), ("alg none", unsigned), ("HS512", hs512), ("expired", expired), ("garbage", "abc".into())] {
        let res = with_auth(&format!("Bearer {t}"), Method::GET, "/v1/clients").await;
        assert_eq!(res.status, 401, "{case}");
        res.problem(401, "unauthenticated");
    }
}

#[tokio::test]
async fn tokens_are_issued_for_basic_credentials_only() {
    let app = app();
    let p = app.partner().await;
    let res = app.call(Method::POST, "/v1/auth/token", &p.key, None).await;
    res.problem(401, "unauthenticated");
}

#[tokio::test]
async fn teammates_get_no_more_than_their_creator_and_unique_usernames() {
    let app = app();
    let p = app.partner().await;
    let narrow = app.create_api_key(&p.key, json!({ "permissions": ["keys:create", "clients:view"] })).await;
    let narrow = narrow.expect(201)["key"].as_str().unwrap().to_owned();
    app.create_teammate(&narrow, json!({ "username": unique("x"), "password": PASSWORD, "permissions": ["clients:edit"] }))
        .await
        .problem(403, "forbidden");
    let username = unique("dup");
    let ok = app.create_teammate(&narrow, json!({ "username": username, "password": PASSWORD })).await;
    assert_eq!(ok.expect(201)["permissions"], json!(["clients:view"]));
    app.create_teammate(&p.key, json!({ "username": username, "password": PASSWORD })).await.problem(409, "username_taken");
    let res = app.create_teammate(&p.key, json!({ "username": "A B", "password": "short" })).await;
    res.problem(400, "validation_failed");
    assert_eq!(res.error_fields(), ["username", "password"]);
}

#[tokio::test]
async fn a_suspended_partners_teammates_and_tokens_stop_working() {
    let app = app();
    let root = app.partner().await;
    let child = app.sub_partner(&root).await;
    let username = unique("cy");
    app.create_teammate(&child.key, json!({ "username": username, "password": PASSWORD })).await.expect(201);
    let token = with_auth(&basic(&username, PASSWORD), Method::POST, "/v1/auth/token").await.expect(200)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.suspend_partner(&root.key, &child.id).await.expect(200);
    with_auth(&format!("Bearer {token}"), Method::GET, "/v1/clients").await.problem(401, "unauthenticated");
    with_auth(&basic(&username, PASSWORD), Method::GET, "/v1/clients").await.problem(401, "unauthenticated");
    with_auth(&basic(&username, PASSWORD), Method::POST, "/v1/auth/token").await.problem(401, "unauthenticated");
}

/// A password is text (API.md §5a): Unicode NFC, so the same password typed as "é" or as
/// "e" + a combining accent signs in either way; no control or format character (a NUL,
/// an escape, a zero-width space) but tab and line feed. A teammate `PATCH` that changes
/// nothing (`{}`, the permissions it holds) keeps its version and writes no event, and a
/// `null` for a member that cannot be cleared is a 400, not "no change".
#[tokio::test]
async fn passwords_are_nfc_text_and_a_teammate_change_of_nothing_is_no_change() {
    let app = app();
    let p = app.partner().await;
    for bad in ["abc\u{0}defghijklm", "escape\u{1b}[31m-red", "zero\u{200b}width-space", "\u{feff}byte-order-mark"] {
        let res = app.create_teammate(&p.key, json!({ "username": unique("cc"), "password": bad })).await;
        res.problem(400, "validation_failed");
        assert_eq!(res.body["errors"][0]["field"], "password", "{bad:?}");
    }
    let username = unique("nfc");
    let (nfc, nfd) = ("caf\u{e9} au lait, s'il vous pla\u{ee}t", "cafe\u{301} au lait, s'il vous plai\u{302}t");
    let t = app.create_teammate(&p.key, json!({ "username": username, "password": nfd })).await;
    let tid = t.expect(201)["id"].as_str().unwrap().to_owned();
    for typed in [nfc, nfd] {
        with_auth(&basic(&username, typed), Method::GET, "/v1/clients").await.expect(200);
    }

    let path = format!("/v1/teammates/{tid}");
    let updates = || async { app.list_events(&p.key, "?type=teammate.updated").await.expect(200)["total"].clone() };
    let version = t.body["version"].clone();
    for same in [json!({}), json!({ "permissions": t.body["permissions"] })] {
        let res = app.call(Method::PATCH, &path, &p.key, Some(same.clone())).await;
        assert_eq!(res.expect(200)["version"], version, "{same}: no new version");
        assert_eq!(res.header("etag"), Some(format!("\"{version}\"").as_str()));
    }
    assert_eq!(updates().await, 0, "no event for no change");
    for null in ["permissions", "password", "currentPassword"] {
        let res = app.call(Method::PATCH, &path, &p.key, Some(json!({ null: null }))).await;
        res.problem(400, "validation_failed");
        assert_eq!(res.body["errors"][0]["field"], null);
    }
    let res = app.call(Method::PATCH, &path, &p.key, Some(json!({ "permissions": ["clients:view"] }))).await;
    assert_eq!(res.expect(200)["version"], version.as_u64().unwrap() + 1);
    assert_eq!(updates().await, 1);
    for null in ["name", "type"] {
        let res = app.call(Method::PATCH, &format!("/v1/partners/{}", p.id), &p.key, Some(json!({ null: null }))).await;
        res.problem(400, "validation_failed");
        assert_eq!(res.body["errors"][0]["field"], null);
    }
}

/// A repeat of `POST /v1/auth/token` with its `Idempotency-Key` replays the token while
/// it works; once it has ended (the teammate's password changed), a repeat with the new
/// password is given a new token that works, never the dead one (API.md §5a: a replay
/// never hands out what no longer authenticates).
#[tokio::test]
async fn a_token_replayed_is_never_one_that_has_ended() {
    let app = app();
    let p = app.partner().await;
    let username = unique("replay");
    let t = app.create_teammate(&p.key, json!({ "username": username, "password": PASSWORD })).await;
    let tid = t.expect(201)["id"].as_str().unwrap().to_owned();
    let idem = unique("token-key");
    let issue = |password: &'static str| {
        let (auth, idem) = (basic(&username, password), idem.clone());
        async move { app.raw(Method::POST, "/v1/auth/token", &[("authorization", &auth), ("idempotency-key", &idem)], None).await }
    };
    let first = issue(PASSWORD).await;
    let token = first.expect(200)["token"].as_str().unwrap().to_owned();
    let again = issue(PASSWORD).await;
    assert_eq!((again.expect(200)["token"].as_str(), again.header("idempotent-replayed")), (Some(token.as_str()), Some("true")));

    const NEW: &str = "another long enough passphrase";
    app.call(Method::PATCH, &format!("/v1/teammates/{tid}"), &p.key, Some(json!({ "password": NEW }))).await.expect(200);
    with_auth(&format!("Bearer {token}"), Method::GET, "/v1/clients").await.problem(401, "unauthenticated");
    let after = issue(NEW).await;
    let fresh = after.expect(200)["token"].as_str().unwrap().to_owned();
    assert_ne!(fresh, token, "not the ended token");
    assert_eq!(after.header("idempotent-replayed"), None, "issued anew");
    with_auth(&format!("Bearer {fresh}"), Method::GET, "/v1/clients").await.expect(200);
    let replayed = issue(NEW).await;
    assert_eq!((replayed.expect(200)["token"].as_str(), replayed.header("idempotent-replayed")), (Some(fresh.as_str()), Some("true")));
}
