//! Bad input: each case gets the right problem+json, and nothing is stored.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{app, unique, unique_email};

/// (what it is, content type, body, status, problem type, fields named).
type Case<'a> = (&'a str, Option<&'a str>, Vec<u8>, u16, &'a str, Vec<&'a str>);

#[tokio::test]
async fn bad_create_bodies_get_the_right_problem_and_store_nothing() {
    let app = app();
    let p = app.partner().await;
    let email = unique_email();
    let big = format!("{{\"name\":\"x\",\"email\":\"{email}\",\"company\":\"{}\"}}", "a".repeat(70 * 1024));
    // (case, content type, body, status, errorCode, fields named)
    let cases: Vec<Case> = vec![
        ("malformed JSON", Some("application/json"), b"{\"name\": ".to_vec(), 400, "malformed_json", vec![]),
        ("empty body", Some("application/json"), b"".to_vec(), 400, "malformed_json", vec![]),
        ("no content type", None, json!({"name": "x", "email": email}).to_string().into_bytes(), 415, "unsupported_media_type", vec![]),
        ("text content type", Some("text/plain"), json!({"name": "x", "email": email}).to_string().into_bytes(), 415, "unsupported_media_type", vec![]),
        ("over 64 KiB", Some("application/json"), big.into_bytes(), 413, "payload_too_large", vec![]),
        ("not an object", Some("application/json"), b"[1,2]".to_vec(), 400, "validation_failed", vec!["body"]),
        ("wrong types", Some("application/json"), json!({"name": 5, "email": true}).to_string().into_bytes(), 400, "validation_failed", vec!["name", "email"]),
        ("unknown field", Some("application/json"), json!({"name": "x", "email": email, "emial": "typo"}).to_string().into_bytes(), 400, "validation_failed", vec!["emial"]),
        ("invalid email", Some("application/json"), json!({"name": "x", "email": "not-an-email"}).to_string().into_bytes(), 400, "validation_failed", vec!["email"]),
        ("empty name", Some("application/json"), json!({"name": "  ", "email": email}).to_string().into_bytes(), 400, "validation_failed", vec!["name"]),
        ("missing both", Some("application/json"), b"{}".to_vec(), 400, "validation_failed", vec!["name", "email"]),
        ("name too long", Some("application/json"), json!({"name": "n".repeat(201), "email": email}).to_string().into_bytes(), 400, "validation_failed", vec!["name"]),
        ("bad username", Some("application/json"), json!({"name": "x", "email": email, "username": "No Spaces"}).to_string().into_bytes(), 400, "validation_failed", vec!["username"]),
        ("trial on create", Some("application/json"), json!({"name": "x", "email": email, "status": "trial"}).to_string().into_bytes(), 400, "validation_failed", vec!["status"]),
        ("bad nested contact", Some("application/json"), json!({"name": "x", "email": email, "contact": {"email": "no", "fax": "1"}}).to_string().into_bytes(), 400, "validation_failed", vec!["contact.email", "contact.fax"]),
        ("too much metadata", Some("application/json"), json!({"name": "x", "email": email, "metadata": (0..51).map(|i| (format!("k{i}"), json!("v"))).collect::<serde_json::Map<_, _>>()}).to_string().into_bytes(), 400, "validation_failed", vec!["metadata"]),
        ("bad permissions", Some("application/json"), json!({"name": "x", "email": email, "permissions": {"reports": ["fly"]}}).to_string().into_bytes(), 400, "validation_failed", vec!["permissions.reports"]),
        ("bad quotas", Some("application/json"), json!({"name": "x", "email": email, "quotas": {"apiCalls": {"limit": -1, "period": "year"}}}).to_string().into_bytes(), 400, "validation_failed", vec!["quotas.apiCalls.limit", "quotas.apiCalls.period"]),
    ];
    for (case, content_type, body, status, code, fields) in cases {
        let mut headers = vec![("x-api-key", p.key.as_str())];
        if let Some(ct) = content_type {
            headers.push(("content-type", ct));
        }
        let res = app.raw(Method::POST, "/v1/clients", &headers, Some(body)).await;
        assert_eq!(res.status, status, "{case}: {}", res.body);
        res.problem(status, code);
        if !fields.is_empty() {
            assert_eq!(res.error_fields(), fields, "{case}: fields named");
        }
    }
    let listed = app.list_clients(&p.key, "").await;
    assert_eq!(listed.expect(200)["total"], 0, "no bad request stored anything");
    // The email used by the rejected requests was never claimed.
    app.create_client(&p.key, json!({ "name": unique("ok"), "email": email })).await.expect(201);
}

#[tokio::test]
async fn bad_list_parameters_are_named() {
    let app = app();
    let p = app.partner().await;
    for (query, field) in [
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?take=abc", "take"),
        ("?skip=10001", "skip"),
        ("?status=gold", "status"),
        ("?suspended=maybe", "suspended"),
        ("?email=nope", "email"),
        ("?cursor=forged.cursor", "cursor"),
    ] {
        let res = app.list_clients(&p.key, query).await;
        res.problem(400, "validation_failed");
        assert_eq!(res.error_fields(), [field], "{query}");
    }
    let res = app.list_clients(&p.key, "?limit=0&status=gold").await;
    assert_eq!(res.error_fields(), ["status", "limit"], "every bad parameter is listed");
}

#[tokio::test]
async fn bad_patch_bodies_change_nothing() {
    let app = app();
    let p = app.partner().await;
    let c = app.client(&p).await;
    let cid = c["id"].as_str().unwrap();
    for (case, body, fields) in [
        ("clearing name", json!({"name": null}), vec!["name"]),
        ("invalid email", json!({"email": "bad", "company": "X"}), vec!["email"]),
        ("unknown field", json!({"compnay": "X"}), vec!["compnay"]),
        ("moving to no partner", json!({"directPartner": {"id": "not-an-id"}}), vec!["directPartner.id"]),
        ("isActive null", json!({"isActive": null}), vec!["isActive"]),
    ] {
        let res = app.update_client(&p.key, cid, body).await;
        res.problem(400, "validation_failed");
        assert_eq!(res.error_fields(), fields, "{case}");
    }
    let now = app.get_client(&p.key, cid).await;
    assert_eq!(now.expect(200)["version"], 0);
    assert_eq!(now.body["company"], serde_json::Value::Null);
}

#[tokio::test]
async fn ids_that_are_not_ids_are_simply_not_found() {
    let app = app();
    let p = app.partner().await;
    app.get_client(&p.key, "123").await.problem(404, "not_found");
    app.delete_client(&p.key, "..%2F..").await.problem(404, "not_found");
    app.find_client_by_username(&p.key, "A").await.problem(404, "not_found");
}
