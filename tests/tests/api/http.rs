//! The HTTP edge: request ids, unknown routes and methods.

use reqwest::Method;

use crate::helpers::app;

#[tokio::test]
async fn every_response_carries_a_request_id_echoing_a_sane_one() {
    let app = app();
    let p = app.partner().await;
    let res = app.raw(Method::GET, "/v1/clients", &[("x-api-key", &p.key), ("x-request-id", "trace-123")], None).await;
    assert_eq!(res.header("x-request-id"), Some("trace-123"));
    let res = app.raw(Method::GET, "/v1/clients", &[("x-api-key", &p.key), ("x-request-id", "bad id with spaces")], None).await;
    let id = res.header("x-request-id").unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "a fresh UUID replaces an insane id: {id}");
    let res = app.raw(Method::GET, "/v1/clients", &[("x-request-id", "err-1")], None).await;
    assert_eq!(res.problem(401, "unauthenticated")["requestId"], "err-1");
}

#[tokio::test]
async fn a_known_route_with_another_method_is_405() {
    let app = app();
    let p = app.partner().await;
    let res = app.call(Method::PATCH, "/v1/partners", &p.key, None).await;
    res.problem(405, "method_not_allowed");
    assert_eq!(res.header("allow"), Some("GET, POST"));
    app.call(Method::POST, "/v1/clients/0193a000-0000-7000-8000-000000000000", &p.key, None)
        .await
        .problem(405, "method_not_allowed");
}

#[tokio::test]
async fn an_unknown_path_is_a_problem_404() {
    let app = app();
    let p = app.partner().await;
    app.call(Method::GET, "/v1/nothing-here", &p.key, None).await.problem(404, "not_found");
}

#[tokio::test]
async fn an_unknown_route_with_an_idempotency_key_is_still_404_or_405() {
    // The catch-all function may not read the table: it answers without the idempotency
    // layer, which would look the credential up there (a 500 by the key policy).
    let app = app();
    let p = app.partner().await;
    let idem = [("idempotency-key", "unknown-route-1")];
    app.call_with(Method::POST, "/v1/nothing-here", &p.key, Some(serde_json::json!({})), &idem).await.problem(404, "not_found");
    app.call_with(Method::POST, "/v1/clients/0193a000-0000-7000-8000-000000000000", &p.key, None, &idem)
        .await
        .problem(405, "method_not_allowed");
    let basic = crate::helpers::basic_auth("someone", "a password");
    let res = app.raw(Method::POST, "/v1/nothing-here", &[("authorization", &basic), ("idempotency-key", "unknown-route-2")], None).await;
    res.problem(404, "not_found");
}

#[tokio::test]
async fn the_openapi_document_is_public_and_names_every_route() {
    let app = app();
    let res = app.raw(Method::GET, "/v1/openapi.json", &[], None).await;
    let doc = res.expect(200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/clients", "post"),
        ("/v1/clients/{clientId}", "patch"),
        ("/v1/clients/bulk-delete", "post"),
        ("/v1/licenses/activate", "post"),
        ("/v1/webhooks/{webhookId}/deliveries", "get"),
        ("/v1/events/{eventId}/redeliver", "post"),
        ("/v1/auth/token", "post"),
    ] {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} is documented");
    }
    assert!(doc["components"]["schemas"]["Problem"]["required"].as_array().unwrap().iter().any(|f| f == "errorCode"));
}
