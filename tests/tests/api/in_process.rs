//! Handlers run in process, through the same `serve` path Lambda uses, against
//! the stack's DynamoDB Local: what a Lambda invocation does, minus the HTTP hop.

use std::collections::HashMap;

use clientele::app::App;
use clientele::config::Config;
use clientele::store::Store;
use serde_json::{Value, json};

use crate::helpers::{app, unique, unique_email};

/// The App a function would build, from the stack's environment file. One per
/// test: each #[tokio::test] has its own runtime, and an SDK client's pooled
/// connections must not outlive the runtime that opened them.
async fn lambda_app() -> &'static App {
    let config = stack_config();
    let db = app().dynamodb().await;
    Box::leak(Box::new(App { store: Store::new(db, config.table_name.clone()), config }))
}

/// The functions' configuration, from the stack's environment file.
pub(crate) fn stack_config() -> Config {
    let path = std::env::var("CLIENTELE_ENV_FILE").expect("CLIENTELE_ENV_FILE: run with `make test`");
    let vars: HashMap<String, String> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    Config::from_lookup(|k| vars.get(k).cloned()).expect("the stack's configuration")
}

/// An API Gateway (HTTP API 2.0) event, as Lambda delivers it.
fn event(method: &str, path: &str, params: &[(&str, &str)], key: &str, body: Option<Value>) -> lambda_http::Request {
    event_with_query(method, path, params, "", key, body)
}

/// [`event`], with a query string (`a=1&b=2`).
pub(crate) fn event_with_query(method: &str, path: &str, params: &[(&str, &str)], query: &str, key: &str, body: Option<Value>) -> lambda_http::Request {
    event_with_headers(method, path, params, query, json!({ "x-api-key": key }), body, "127.0.0.1")
}

/// [`event_with_query`], with these request headers (a credential among them), from
/// this source address.
fn event_with_headers(method: &str, path: &str, params: &[(&str, &str)], query: &str, mut headers: Value, body: Option<Value>, source: &str) -> lambda_http::Request {
    let params: serde_json::Map<String, Value> = params.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    if body.is_some() {
        headers["content-type"] = json!("application/json");
    }
    let raw = json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query, "headers": headers,
        "queryStringParameters": query.split('&').filter_map(|p| p.split_once('=')).map(|(k, v)| (k.to_owned(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "pathParameters": params, "isBase64Encoded": false, "body": body.map(|b| b.to_string()),
        "requestContext": {
            "accountId": "1", "apiId": "t", "domainName": "localhost", "domainPrefix": "localhost", "requestId": "t",
            "routeKey": "$default", "stage": "$default", "time": "23/Nov/2026:00:00:00 +0000", "timeEpoch": 0,
            "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": source, "userAgent": "t" }
        }
    });
    lambda_http::request::from_str(&raw.to_string()).expect("a valid event")
}

pub(crate) fn body(res: &lambda_http::Response<lambda_http::Body>) -> Value {
    match res.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap(),
        _ => Value::Null,
    }
}

#[tokio::test]
async fn create_and_retrieve_run_in_process_like_in_lambda() {
    let lambda = lambda_app().await;
    let p = app().partner().await;
    let created = clientele::http::serve(
        lambda,
        event("POST", "/v1/clients", &[], &p.key, Some(json!({ "name": unique("ip"), "email": unique_email() }))),
        "req-in-process",
        clientele::api::clients::create,
    )
    .await;
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["x-request-id"], "req-in-process");
    let c = body(&created);
    let id = c["id"].as_str().unwrap();
    let fetched = clientele::http::serve(lambda, event("GET", &format!("/v1/clients/{id}"), &[("clientId", id)], &p.key, None), "r2", clientele::api::clients::get).await;
    assert_eq!(fetched.status(), 200);
    assert_eq!(body(&fetched)["email"], c["email"]);
    // What the handler wrote is what the deployed API reads.
    assert_eq!(app().get_client(&p.key, id).await.expect(200)["name"], c["name"]);
}

#[tokio::test]
async fn errors_in_process_are_problem_json_with_the_request_id() {
    let lambda = lambda_app().await;
    let p = app().partner().await;
    let res = clientele::http::serve(
        lambda,
        event("POST", "/v1/clients", &[], &p.key, Some(json!({ "name": "", "email": "nope", "x": 1 }))),
        "req-bad",
        clientele::api::clients::create,
    )
    .await;
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let problem = body(&res);
    assert_eq!((problem["errorCode"].as_str(), problem["requestId"].as_str()), (Some("validation_failed"), Some("req-bad")));
    let fields: Vec<&str> = problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["name", "email", "x"]);
    let res = clientele::http::serve(lambda, event("GET", "/v1/clients/x", &[("clientId", "x")], "ck_live_wrong", None), "r", clientele::api::clients::get).await;
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn a_request_outside_the_functions_key_policy_never_reaches_the_table() {
    use aws_sdk_dynamodb::types::AttributeValue as V;
    use clientele::store::access::{KeyPolicy, Mode, Policy};

    let plain = app().dynamodb().await;
    let policy = Policy::of("get-client").expect("get-client has a policy");
    let checked = aws_sdk_dynamodb::Client::from_conf(plain.config().to_builder().interceptor(KeyPolicy { policy, mode: Mode::Enforce }).build());
    let table = lambda_app().await.config.table_name.clone();
    let pk = format!("CLIENT#{}", unique("policy"));
    let key = |pk: &str| HashMap::from([("pk".to_owned(), V::S(pk.to_owned())), ("sk".to_owned(), V::S("#".into()))]);

    let read = checked.get_item().table_name(&table).set_key(Some(key(&pk))).send().await;
    assert!(read.is_ok(), "get-client reads clients: {read:?}");
    let write = checked.put_item().table_name(&table).set_item(Some(key(&pk))).send().await;
    let denied = format!("{:?}", write.expect_err("get-client writes nothing"));
    assert!(denied.contains("AccessDenied by the key policy: get-client may not PutItem partition key CLIENT#"), "{denied}");
    let stored = plain.get_item().table_name(&table).set_key(Some(key(&pk))).consistent_read(true).send().await.unwrap();
    assert!(stored.item.is_none(), "the refused write was never sent");

    let other = checked.get_item().table_name(&table).set_key(Some(key("WEBHOOK#x"))).send().await;
    assert!(format!("{:?}", other.expect_err("not its keys")).contains("may not GetItem partition key WEBHOOK#x"));
    let scan = checked.scan().table_name(&table).limit(1).send().await;
    assert!(format!("{:?}", scan.expect_err("never a scan")).contains("Scan is allowed to no function"));
}

/// The App as a production deployment builds it: webhook URLs must be public, and
/// nothing restricts them to loopback (which would refuse every URL here whatever the
/// check of public addresses said).
async fn production_app() -> &'static App {
    let local = lambda_app().await;
    let mut config = local.config.clone();
    config.allow_insecure_webhooks = false;
    config.webhook_loopback_only = false;
    Box::leak(Box::new(App { store: local.store.clone(), config }))
}

#[tokio::test]
async fn in_production_a_webhook_url_reaching_a_private_address_is_refused_at_registration() {
    let lambda = production_app().await;
    let p = app().partner().await;
    for url in [
        "https://localhost/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[::127.0.0.1]/hook",
        "https://[64:ff9b::7f00:1]/hook",
        "https://[2002:7f00:1::1]/hook",
        "https://198.18.0.1/hook",
        "https://192.0.0.8/hook",
        "https://100.64.0.1/hook",
        "https://169.254.169.254/latest/meta-data",
    ] {
        let res = clientele::http::serve(
            lambda,
            event("POST", "/v1/webhooks", &[], &p.key, Some(json!({ "url": url, "events": ["*"] }))),
            "r",
            clientele::api::webhooks::create,
        )
        .await;
        assert_eq!(res.status(), 400, "{url} must be refused: {}", body(&res));
        assert_eq!(body(&res)["errors"][0]["field"], "url", "{url}");
        let why = body(&res)["errors"][0]["message"].as_str().unwrap_or_default().to_owned();
        assert!(!why.contains("loopback"), "{url}: refused by the public-address check, not the local stack's loopback rule: {why}");
    }
}

#[tokio::test]
async fn in_production_delivery_never_connects_to_a_name_that_resolves_to_a_private_address() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    // A receiver on loopback that counts the connections it gets.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            connections.fetch_add(1, Ordering::SeqCst);
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            // Read the whole request (headers, then content-length bytes), then answer.
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = sock.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).to_lowercase();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0)))
                        .unwrap_or(0);
                    if got.len() >= end + 4 + length {
                        break;
                    }
                }
            }
            let _ = sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
        }
    });
    // Registered where loopback is allowed (the local stack), for an event type that never
    // fires, so only this test's own sends reach it. `localhost` is a name (the resolver
    // decides), not an address in the URL.
    let p = app().partner().await;
    let url = format!("http://localhost:{port}/hook");
    let hook = app().call(reqwest::Method::POST, "/v1/webhooks", &p.key, Some(json!({ "url": url, "events": ["license.revoked"] }))).await;
    let hook_id = hook.expect(201)["id"].as_str().unwrap().to_owned();
    app().client(&p).await;
    let events = app().list_events(&p.key, "?limit=1").await;
    let event_id = events.expect(200)["data"][0]["id"].as_str().unwrap().to_owned();

    let local = lambda_app().await;
    let w = local.store.webhook(&hook_id).await.unwrap().expect("the webhook");
    let e = local.store.event(&event_id).await.unwrap().expect("the event");
    let production = clientele::webhooks::Deliverer::new(production_app().await);
    let (status, error) = production.probe(&w, &e).await;
    assert_eq!(status, None);
    assert!(error.as_deref().is_some_and(|m| m.contains("private address")), "{error:?}");
    assert_eq!(connections.load(Ordering::SeqCst), 0, "no connection was made");
    // The same send where loopback is allowed does connect: the refusal above is the check's.
    let (status, error) = clientele::webhooks::Deliverer::new(local).probe(&w, &e).await;
    assert_eq!(status, Some(200), "{error:?}");
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_number_drawn_twice_is_drawn_again_never_the_holders_404() {
    use clientele::domain::values::{Email, Name};
    use clientele::events::{Event, EventType};

    let lambda = lambda_app().await;
    let p = app().partner().await;
    let held = app().client(&p).await;
    let holder = lambda.store.client(held["id"].as_str().unwrap()).await.unwrap().expect("the client");
    // Another client that drew the same number (1 in 4096 within one millisecond): the
    // same id, since ids are made from numbers, and values of its own.
    let mut twin = holder.clone();
    twin.name = Name::parse(&unique("twin")).unwrap();
    twin.email = Some(Email::parse(&unique_email()).unwrap());
    twin.username = None;
    twin.api_key_hash = unique("hash");
    let actor = clientele::auth::Actor { kind: clientele::auth::ActorKind::System, id: "test".into() };
    let event = Event::new(EventType::ClientCreated, &twin.ancestors, &actor, "r", json!({}), None);
    let refused = lambda.store.create_client(&twin, &event).await;
    assert!(matches!(refused, Err(clientele::ApiError::NumberTaken)), "the create draws again: {refused:?}");
    assert_eq!(app().get_client(&p.key, &holder.id).await.expect(200)["name"], held["name"], "the holder is untouched");
}

/// API.md §1 and §2: a teammate's password set by someone above it is never undone by a
/// concurrent change of the teammate's own (which proves `currentPassword`). Teammates
/// keep setting their own password to the one they know, again and again, four at once,
/// while the partner's key sets another: every self-change still in flight when the
/// reset lands (its `currentPassword` checked against the old password, its write after
/// the reset) must be refused, and the stored password is the reset's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_password_reset_is_never_undone_by_a_self_change_in_flight() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Instant;

    let lambda = lambda_app().await;
    let p = app().partner().await;
    let (username, old, reset) = (unique("selfchange"), "the old password 1", "the reset password 2");
    let created = app().create_teammate(&p.key, json!({ "username": username, "password": old })).await;
    created.expect(201);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let patch = move |headers: Value, body: Value| {
        // From an address of its own: the old password, wrong after the reset, counts in
        // that address's guessing window, not in the one the rest of the suite shares.
        let event = event_with_headers("PATCH", &format!("/v1/teammates/{id}"), &[("teammateId", &id)], "", headers, Some(body), "192.0.2.77");
        clientele::http::serve(lambda, event, "selfchange", clientele::api::teammates::update)
    };
    let stop = Arc::new(AtomicBool::new(false));
    let mut loops = Vec::new();
    for _ in 0..4 {
        let (stop, basic, patch) = (stop.clone(), crate::helpers::basic_auth(&username, old), patch.clone());
        loops.push(async move {
            // (started, ended, status) of each self-change.
            let mut spans = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let res = patch(json!({ "authorization": basic }), json!({ "password": old, "currentPassword": old })).await;
                spans.push((started, Instant::now(), res.status().as_u16()));
            }
            spans
        });
    }
    let attack = futures::future::join_all(loops.into_iter().map(tokio::spawn));
    let reset_then_stop = async {
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        let sent = Instant::now();
        let res = patch(json!({ "x-api-key": p.key }), json!({ "password": reset })).await;
        let landed = Instant::now();
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        stop.store(true, Ordering::Relaxed);
        (res.status().as_u16(), sent, landed)
    };
    let (spans, (status, sent, landed)) = tokio::join!(attack, reset_then_stop);
    assert_eq!(status, 200, "the partner's key resets the password");
    let spans: Vec<_> = spans.into_iter().flat_map(Result::unwrap).collect();
    // Self-changes that had proven the old password (not 401 or 429) and ran while the
    // reset did: the ones that could undo it.
    let across = spans.iter().filter(|(started, ended, status)| *started < landed && *ended > sent && *status != 401 && *status != 429).count();
    assert!(across > 0, "a self-change ran beside the reset (else this test proves nothing): {spans:?}");
    let stored = lambda.store.teammate(&username).await.unwrap().unwrap();
    assert!(
        clientele::auth::verify_password(reset, &stored.password_hash),
        "the reset's password is the stored one: no self-change undid it ({across} were in flight across it)"
    );
    assert!(!clientele::auth::verify_password(old, &stored.password_hash));
}

/// API.md §5 "no event without its change": requests racing to suspend one partner (and
/// then to unsuspend it), all in flight at once in one process, so that each reads the
/// partner before any of them writes: one makes the change and writes its one event, the
/// others find it made. (Through the local gateway, whose few instances run requests
/// nearly one after another, such a race is rarely caught.)
#[tokio::test]
async fn racing_suspends_in_one_process_make_one_change_and_one_event() {
    let lambda = lambda_app().await;
    let app = app();
    let p = app.partner().await;
    let sub = app.sub_partner(&p).await;
    for (action, kind, suspended) in [("suspend", "partner.suspended", true), ("unsuspend", "partner.unsuspended", false)] {
        let path = format!("/v1/partners/{}/{action}", sub.id);
        let calls = (0..16).map(|i| {
            let request = event("POST", &path, &[("partnerId", sub.id.as_str())], &p.key, None);
            async move {
                let id = format!("race-{action}-{i}");
                match action {
                    "suspend" => clientele::http::serve(lambda, request, &id, clientele::api::partners::suspend).await,
                    _ => clientele::http::serve(lambda, request, &id, clientele::api::partners::unsuspend).await,
                }
            }
        });
        for res in futures::future::join_all(calls).await {
            assert_eq!(res.status(), 200, "{action}: {}", body(&res));
            assert_eq!(body(&res)["suspended"], suspended, "{action}: every racer sees it done");
        }
        let page = app.list_events(&app.admin, &format!("?type={kind}&limit=100")).await;
        let events = page.expect(200)["data"].as_array().unwrap().iter().filter(|e| e["data"]["object"]["id"] == sub.id.as_str()).count();
        assert_eq!(events, 1, "{action}: one change, one {kind} event");
    }
}
