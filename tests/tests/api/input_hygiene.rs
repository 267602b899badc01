//! Input that would reach a key is checked first (API.md §5a): oversized or malformed
//! ids, names and emails are 400/404, never a 5xx; text is NFC, and invisible
//! characters cannot make two names that look alike.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{app, unique, unique_email};

#[tokio::test]
async fn a_name_with_an_invisible_character_is_refused_naming_the_field() {
    let app = app();
    let p = app.partner().await;
    let name = unique("Acme");
    app.create_client(&p.key, json!({ "name": name, "email": unique_email() })).await.expect(201);
    for invisible in ["\u{200b}", "\u{202e}", "\u{feff}", "\u{ad}", "\u{7}"] {
        let res = app.create_client(&p.key, json!({ "name": format!("{name}{invisible}"), "email": unique_email() })).await;
        res.problem(400, "validation_failed");
        assert_eq!(res.error_fields(), ["name"], "{invisible:?}");
        let res = app.create_partner(&app.admin, json!({ "name": format!("{name}{invisible}") })).await;
        res.problem(400, "validation_failed");
        assert_eq!(res.error_fields(), ["name"], "{invisible:?}");
    }
    // A control character at either end is refused too, not trimmed away; spaces are trimmed.
    for edged in [format!("{name}\n"), format!("\t{name}"), format!("{name}\r\n")] {
        let res = app.create_client(&p.key, json!({ "name": edged, "email": unique_email() })).await;
        res.problem(400, "validation_failed");
        assert_eq!(res.error_fields(), ["name"], "{edged:?}");
    }
    let spaced = app.create_client(&p.key, json!({ "name": format!("  {name} 2 "), "email": unique_email() })).await;
    assert_eq!(spaced.expect(201)["name"], format!("{name} 2").as_str());
}

#[tokio::test]
async fn one_name_typed_in_two_unicode_forms_is_one_name() {
    let app = app();
    let p = app.partner().await;
    let base = unique("cafe");
    let composed = format!("{base} Caf\u{e9}");
    let decomposed = format!("{base} Cafe\u{301}");
    let first = app.create_client(&p.key, json!({ "name": decomposed, "email": unique_email() })).await;
    assert_eq!(first.expect(201)["name"], composed.as_str(), "stored in NFC");
    app.create_client(&p.key, json!({ "name": composed, "email": unique_email() })).await.problem(409, "name_taken");
    let partner = app.create_partner(&app.admin, json!({ "name": decomposed })).await;
    assert_eq!(partner.expect(201)["name"], composed.as_str());
    app.create_partner(&app.admin, json!({ "name": composed })).await.problem(409, "name_taken");
}

#[tokio::test]
async fn oversized_values_bound_for_keys_are_client_errors_never_5xx() {
    let app = app();
    let p = app.partner().await;
    let huge = "x".repeat(3000);
    let client = app.client(&p).await;
    let cid = client["id"].as_str().unwrap();
    let product = app.product().await;

    let res = app.call(Method::POST, "/v1/webhooks", &app.admin, Some(json!({ "url": "http://127.0.0.1:9/h", "events": ["*"], "partnerId": huge }))).await;
    res.problem(400, "validation_failed");
    assert_eq!(res.error_fields(), ["partnerId"]);
    let res = app.create_license(&p.key, json!({ "productId": huge, "tier": "t", "clientId": huge })).await;
    res.problem(400, "validation_failed");
    assert_eq!(res.error_fields(), ["productId", "clientId"]);
    let res = app.create_license(&p.key, json!({ "productId": product["id"], "tier": "t", "clientId": cid, "maxActivations": 1 })).await;
    res.expect(201);

    let res = app.create_client(&p.key, json!({ "name": huge, "email": format!("{huge}@example.com"), "username": huge })).await;
    res.problem(400, "validation_failed");
    assert_eq!(res.error_fields(), ["name", "email", "username"]);
    app.create_partner(&app.admin, json!({ "name": huge })).await.problem(400, "validation_failed");
    app.create_api_key(&app.admin, json!({ "partnerId": huge })).await.problem(400, "validation_failed");
    app.create_teammate(&p.key, json!({ "username": huge, "password": "long enough password" })).await.problem(400, "validation_failed");

    for path in [
        format!("/v1/clients/{huge}"),
        format!("/v1/partners/{huge}"),
        format!("/v1/licenses/{huge}"),
        format!("/v1/webhooks/{huge}"),
        format!("/v1/clients/by-username/{huge}"),
        format!("/v1/clients/{huge}/usage"),
    ] {
        app.call(Method::GET, &path, &p.key, None).await.problem(404, "not_found");
    }
    app.list_clients(&p.key, &format!("?partner={huge}")).await.problem(400, "validation_failed");
    app.list_clients(&p.key, &format!("?q={huge}")).await.problem(400, "validation_failed");
    app.search_clients(&p.key, &huge).await.problem(404, "not_found");
    app.call(Method::GET, &format!("/v1/api-keys?partnerId={huge}"), &app.admin, None).await.problem(404, "not_found");
    app.activate(&huge, &huge).await.problem(400, "validation_failed");
}
