//! Security (API.md §1, §5a, §6): idempotency authenticates first and keeps each
//! principal's replays to itself; password guessing is stopped; hostile input never
//! reaches a key; and no secret the API hands out is at rest in plaintext anywhere
//! (table, stream, logs).

use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Partner, Resp, app, unique, unique_email};

use crate::helpers::basic_auth as basic;

async fn with_basic(auth: &str, method: Method, path: &str) -> Resp {
    app().raw(method, path, &[("authorization", auth)], None).await
}

/// A POST with an `Idempotency-Key`.
async fn post_once(key: &str, path: &str, body: Value, idempotency_key: &str) -> Resp {
    app().post_idempotent(key, path, Some(body), idempotency_key).await
}

async fn key_of(p: &Partner) -> (String, String) {
    let made = app().create_api_key(&p.key, json!({ "permissions": ["clients:create", "clients:view"] })).await;
    let made = made.expect(201);
    (made["id"].as_str().unwrap().to_owned(), made["key"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_revoked_key_repeating_an_idempotent_post_gets_401_not_the_stored_response() {
    let app = app();
    let p = app.partner().await;
    let (id, key) = key_of(&p).await;
    let idem = unique("idem");
    let body = json!({ "name": unique("client"), "email": unique_email() });
    post_once(&key, "/v1/clients", body.clone(), &idem).await.expect(201);
    let again = post_once(&key, "/v1/clients", body.clone(), &idem).await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"), "a live key gets its replay");

    app.revoke_api_key(&p.key, &id).await.expect(204);
    let replay = post_once(&key, "/v1/clients", body, &idem).await;
    replay.problem(401, "unauthenticated");
    assert!(replay.body.get("apiKey").is_none());
}

#[tokio::test]
async fn a_suspended_partners_key_repeating_an_idempotent_post_gets_401() {
    let app = app();
    let root = app.partner().await;
    let sub = app.sub_partner(&root).await;
    let idem = unique("idem");
    let body = json!({ "name": unique("client"), "email": unique_email() });
    post_once(&sub.key, "/v1/clients", body.clone(), &idem).await.expect(201);
    app.suspend_partner(&root.key, &sub.id).await.expect(200);
    post_once(&sub.key, "/v1/clients", body, &idem).await.problem(401, "unauthenticated");
}

#[tokio::test]
async fn two_principals_with_one_idempotency_key_never_see_each_others_responses() {
    let app = app();
    let p = app.partner().await;
    let other = app.partner().await;
    let (_, same_partner_key) = key_of(&p).await;
    let idem = unique("shared-idem");
    let mine = json!({ "name": unique("client"), "email": unique_email() });
    let first = post_once(&p.key, "/v1/clients", mine.clone(), &idem).await;
    let first = first.expect(201).clone();

    // Another key of the same partner, and a key of another partner: the same
    // Idempotency-Key with the same body is a request of their own.
    let theirs = post_once(&same_partner_key, "/v1/clients", mine.clone(), &idem).await;
    theirs.problem(409, "email_taken");
    assert_eq!(theirs.header("idempotent-replayed"), None);
    let foreign = json!({ "name": unique("client"), "email": unique_email() });
    let created = post_once(&other.key, "/v1/clients", foreign, &idem).await;
    assert_eq!(created.header("idempotent-replayed"), None);
    assert_ne!(created.expect(201)["id"], first["id"]);
    assert!(created.body.get("apiKey").is_some_and(|k| *k != first["apiKey"]));
}

#[tokio::test]
async fn anonymous_license_calls_with_one_idempotency_key_do_not_collide() {
    let app = app();
    let p = app.partner().await;
    let product = app.product().await;
    let mut keys = Vec::new();
    for _ in 0..2 {
        let c = app.client(&p).await;
        let l = app.create_license(&p.key, json!({ "productId": product["id"], "tier": "t", "clientId": c["id"] })).await;
        keys.push(l.expect(201)["licenseKey"].as_str().unwrap().to_owned());
    }
    let idem = unique("squat");
    let activate = |license_key: &str| {
        let body = json!({ "licenseKey": license_key, "domain": "shop.example.com" }).to_string().into_bytes();
        let headers = [("content-type", "application/json"), ("idempotency-key", idem.as_str())];
        async move { app.raw(Method::POST, "/v1/licenses/activate", &headers, Some(body)).await }
    };
    let a = activate(&keys[0]).await;
    let b = activate(&keys[1]).await;
    a.expect(200);
    b.expect(200);
    assert_eq!(b.header("idempotent-replayed"), None, "another license key's call is not a replay: {}", b.body);
    assert_ne!(a.body["id"], b.body["id"]);
    assert_eq!(activate(&keys[0]).await.header("idempotent-replayed"), Some("true"));
}

#[tokio::test]
async fn six_wrong_passwords_lock_the_username_for_the_window_even_for_the_right_password() {
    let app = app();
    let p = app.partner().await;
    let (victim, bystander) = (unique("victim"), unique("bystander"));
    let password = format!("pw-{}", unique("x"));
    for username in [&victim, &bystander] {
        app.create_teammate(&p.key, json!({ "username": username, "password": password })).await.expect(201);
    }
    for attempt in 1..=5 {
        let res = with_basic(&basic(&victim, "wrong password!"), Method::GET, "/v1/clients").await;
        assert_eq!(res.status, 401, "wrong password {attempt} is a plain 401: {}", res.body);
    }
    let sixth = with_basic(&basic(&victim, "wrong password!"), Method::GET, "/v1/clients").await;
    sixth.problem(429, "rate_limited");
    let right = with_basic(&basic(&victim, &password), Method::POST, "/v1/auth/token").await;
    right.problem(429, "rate_limited");
    let wait: i64 = right.header("retry-after").and_then(|v| v.parse().ok()).expect("Retry-After in seconds");
    assert!((1..=900).contains(&wait), "until the 15-minute window ends: {wait}");
    // Another username is not affected.
    with_basic(&basic(&bystander, &password), Method::GET, "/v1/clients").await.expect(200);
    // The window ends (moved 15 minutes back in DynamoDB Local): the right password works again.
    use aws_sdk_dynamodb::types::AttributeValue as V;
    // The window of the victim's username from the local gateway's address (127.0.0.1).
    let pk = clientele::store::logins::LoginCounters::new(&victim, "127.0.0.1").keys().0.to_owned();
    let ended = chrono::Utc::now().timestamp() - 15 * 60 - 1;
    let aged = app.dynamodb().await.update_item().table_name("clientele").key("pk", V::S(pk)).key("sk", V::S("#".into()))
        .update_expression("SET windowStart = :w").condition_expression("attribute_exists(pk)")
        .expression_attribute_values(":w", V::N(ended.to_string())).send().await;
    aged.expect("the window's record, where the store keeps it");
    with_basic(&basic(&victim, &password), Method::POST, "/v1/auth/token").await.expect(200);
}

#[tokio::test]
async fn an_unknown_username_is_limited_exactly_like_a_known_one() {
    let ghost = unique("ghost");
    for _ in 1..=5 {
        with_basic(&basic(&ghost, "guess"), Method::GET, "/v1/clients").await.problem(401, "unauthenticated");
    }
    with_basic(&basic(&ghost, "guess"), Method::GET, "/v1/clients").await.problem(429, "rate_limited");
}

#[tokio::test]
async fn oversized_or_malformed_basic_usernames_are_401_never_5xx() {
    for username in ["x".repeat(3000), "Ünïcode".to_owned(), String::new(), "a\u{200b}b".to_owned()] {
        let res = with_basic(&basic(&username, "whatever"), Method::GET, "/v1/clients").await;
        res.problem(401, "unauthenticated");
    }
}

/// Every item of the local table, as text (a test may Scan; the API never does).
async fn whole_table() -> String {
    let db = app().dynamodb().await;
    let mut text = String::new();
    let mut start = None;
    loop {
        let page = db.scan().table_name("clientele").set_exclusive_start_key(start).send().await.expect("scan");
        for item in page.items() {
            text.push_str(&format!("{item:?}\n"));
        }
        match page.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => break,
        }
    }
    text
}

/// Every record the table's stream holds (new and old images), as text.
async fn whole_stream() -> String {
    let config = app().sdk_config().await;
    let db = aws_sdk_dynamodb::Client::new(&config);
    let streams = aws_sdk_dynamodbstreams::Client::new(&config);
    let table = db.describe_table().table_name("clientele").send().await.expect("describe table");
    let arn = table.table.and_then(|t| t.latest_stream_arn).expect("the table has a stream");
    let shards = streams.describe_stream().stream_arn(&arn).send().await.expect("describe stream");
    let mut text = String::new();
    for shard in shards.stream_description.and_then(|d| d.shards).unwrap_or_default() {
        let iterator = streams
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(shard.shard_id.unwrap())
            .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("shard iterator");
        let mut next = iterator.shard_iterator;
        while let Some(it) = next.take() {
            let out = streams.get_records().shard_iterator(it).limit(1000).send().await.expect("records");
            let records = out.records.unwrap_or_default();
            if records.is_empty() {
                break;
            }
            for r in records {
                text.push_str(&format!("{:?}\n", r.dynamodb));
            }
            next = out.next_shard_iterator;
        }
    }
    text
}

/// The API's and the webhook poller's logs.
fn logs() -> String {
    let env = std::env::var("CLIENTELE_ENV_FILE").expect("CLIENTELE_ENV_FILE");
    let dir = std::path::Path::new(&env).parent().unwrap().to_owned();
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_else(|e| panic!("{f} beside the stack's env file: {e}"));
    let (api, poller) = (read("api.log"), read("poller.log"));
    assert!(!api.is_empty() && !poller.is_empty(), "the logs searched for secrets hold something");
    api + &poller
}

#[tokio::test]
async fn no_secret_the_api_hands_out_is_stored_streamed_or_logged_in_plaintext() {
    let app = app();
    let p = app.partner().await;
    let product = app.product().await;
    let mut secrets: Vec<(String, String)> = Vec::new();
    let mut mates: Vec<String> = Vec::new();
    for idem in [false, true] {
        // Each request its own Idempotency-Key (one key with two bodies would be a 422).
        let fresh = || idem.then(|| unique("idem"));
        let post = |path: &str, body: Value| {
            let (path, key, idem_key) = (path.to_owned(), p.key.clone(), fresh());
            async move {
                let extra: Vec<(&str, &str)> = idem_key.as_deref().map(|k| vec![("idempotency-key", k)]).unwrap_or_default();
                app.call_with(Method::POST, &path, &key, Some(body), &extra).await
            }
        };
        let label = if idem { "with Idempotency-Key" } else { "without" };

        let key = post("/v1/api-keys", json!({ "permissions": ["clients:view"] })).await;
        secrets.push((format!("API key {label}"), key.expect(201)["key"].as_str().unwrap().to_owned()));

        let client = post("/v1/clients", json!({ "name": unique("client"), "email": unique_email() })).await;
        let client = client.expect(201).clone();
        secrets.push((format!("client apiKey {label}"), client["apiKey"].as_str().unwrap().to_owned()));
        let cid = client["id"].as_str().unwrap();

        let rotated = post(&format!("/v1/clients/{cid}/rotate-api-key"), json!({})).await;
        secrets.push((format!("rotated client apiKey {label}"), rotated.expect(200)["apiKey"].as_str().unwrap().to_owned()));

        let license = post("/v1/licenses", json!({ "productId": product["id"], "tier": "t", "clientId": cid })).await;
        secrets.push((format!("license key {label}"), license.expect(201)["licenseKey"].as_str().unwrap().to_owned()));

        let hook = post("/v1/webhooks", json!({ "url": "http://127.0.0.1:9/hook", "events": ["*"] })).await;
        let hook = hook.expect(201).clone();
        secrets.push((format!("webhook secret {label}"), hook["secret"].as_str().unwrap().to_owned()));
        let hid = hook["id"].as_str().unwrap();
        let rotated = post(&format!("/v1/webhooks/{hid}/rotate-secret"), json!({})).await;
        secrets.push((format!("rotated webhook secret {label}"), rotated.expect(200)["secret"].as_str().unwrap().to_owned()));

        let (username, first_password) = (unique("mate"), format!("pw-{}", unique("secret")));
        let mate = post("/v1/teammates", json!({ "username": username, "password": first_password })).await;
        let mate_id = mate.expect(201)["id"].as_str().unwrap().to_owned();
        mates.push(mate_id.clone());
        secrets.push((format!("teammate password {label}"), first_password));
        let password = format!("pw-{}", unique("changed"));
        let changed = app.call(Method::PATCH, &format!("/v1/teammates/{mate_id}"), &p.key, Some(json!({ "password": password }))).await;
        changed.expect(200);
        secrets.push((format!("changed teammate password {label}"), password.clone()));

        let mut token_headers = vec![("authorization", basic(&username, &password))];
        if let Some(k) = fresh() {
            token_headers.push(("idempotency-key", k));
        }
        let token_headers: Vec<(&str, &str)> = token_headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let token = app.raw(Method::POST, "/v1/auth/token", &token_headers, None).await;
        secrets.push((format!("token {label}"), token.expect(200)["token"].as_str().unwrap().to_owned()));

        let link = post("/v1/console-links", json!({})).await;
        let url = link.expect(201)["url"].as_str().unwrap().to_owned();
        let link_token = url.split_once("#link=").unwrap().1.to_owned();
        secrets.push((format!("console link token {label}"), link_token.clone()));
        let mut exchange_headers = vec![("content-type", "application/json".to_owned())];
        if let Some(k) = fresh() {
            exchange_headers.push(("idempotency-key", k));
        }
        let exchange_headers: Vec<(&str, &str)> = exchange_headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let body = serde_json::to_vec(&json!({ "token": link_token })).unwrap();
        let session = app.raw(Method::POST, "/v1/console-links/exchange", &exchange_headers, Some(body)).await;
        secrets.push((format!("console session {label}"), session.expect(200)["token"].as_str().unwrap().to_owned()));
    }

    let places = [("the table", whole_table().await), ("the stream", whole_stream().await), ("the logs", logs())];
    // The search is only as good as what it searched: each place holds this test's
    // writes (the teammate's id is in the table, the stream, and the logs' request line of
    // its PATCH).
    let last_mate = mates.last().expect("a teammate was made");
    for (place, text) in &places {
        assert!(text.contains(last_mate.as_str()), "{place} was read whole: it holds teammate {last_mate}");
    }
    for (what, secret) in &secrets {
        for (form, needle) in disguises(secret) {
            for (place, text) in &places {
                assert!(!text.contains(&needle), "the {what} is in {place} ({form})");
            }
        }
    }
}

/// The forms a secret could be kept in by mistake: as given and without its prefix
/// (`ck_live_`, `whsec_`, ...), each plain, base64 (standard and URL-safe, padded or
/// not), hex in either case, and as raw bytes (a `Blob` in the table's text). A secret
/// whose body is base64 (a `whsec_` signing key) is also searched for as the key bytes it
/// decodes to, in each of those forms.
fn disguises(secret: &str) -> Vec<(String, String)> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let mut bodies = vec![("whole".to_owned(), secret.as_bytes().to_vec())];
    if let Some((_, rest)) = secret.rsplit_once('_')
        && rest.len() >= 24
    {
        bodies.push(("without its prefix".to_owned(), rest.as_bytes().to_vec()));
        let unpadded = rest.trim_end_matches('=');
        if let Ok(key) = STANDARD_NO_PAD.decode(unpadded).or_else(|_| URL_SAFE_NO_PAD.decode(unpadded)) {
            bodies.push(("its decoded key".to_owned(), key));
        }
    }
    let mut forms = Vec::new();
    for (which, bytes) in bodies {
        let bytes = bytes.as_slice();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let raw = bytes.iter().map(u8::to_string).collect::<Vec<_>>().join(", ");
        for (form, needle) in [
            ("plaintext", String::from_utf8_lossy(bytes).into_owned()),
            ("base64", STANDARD.encode(bytes)),
            ("URL-safe base64", URL_SAFE.encode(bytes)),
            ("URL-safe base64 without padding", URL_SAFE_NO_PAD.encode(bytes)),
            ("hex", hex.clone()),
            ("upper-case hex", hex.to_uppercase()),
            ("raw bytes", raw),
        ] {
            forms.push((format!("{which}, {form}"), needle));
        }
    }
    forms
}

#[test]
fn the_secret_scan_sees_each_disguise() {
    // The scan is only as good as its forms.
    let secret = "ck_live_0123456789abcdefghijklmnopqrstuv";
    let forms: Vec<String> = disguises(secret).into_iter().map(|(f, _)| f).collect();
    assert_eq!(forms.len(), 21, "7 forms of the whole secret, 7 without its prefix and 7 of the bytes it decodes to: {forms:?}");
    assert!(disguises(secret).iter().any(|(_, n)| n == "0123456789abcdefghijklmnopqrstuv"));
    assert!(disguises(secret).iter().any(|(_, n)| n.starts_with("99, 107, 95")), "raw bytes of 'ck_'");
    assert!(disguises(secret).iter().any(|(_, n)| n.starts_with("636b5f6c6976655f")), "hex");
    assert!(disguises(secret).iter().any(|(_, n)| n.starts_with("Y2tfbGl2ZV8")), "base64 of 'ck_live_'");
    // A webhook signing key: its 32 bytes, base64 after the prefix.
    let key: Vec<u8> = (0..32).collect();
    let whsec = format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(&key));
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    assert!(disguises(&whsec).iter().any(|(f, n)| f == "its decoded key, hex" && *n == hex), "the key bytes as hex");
    assert!(disguises(&whsec).iter().any(|(f, n)| f == "its decoded key, raw bytes" && n.starts_with("0, 1, 2, 3")), "the key bytes raw");
}

/// No page of another origin may read the API's answers or send it a preflighted
/// request: on AWS the HTTP API has no CORS configuration (infra/template.yaml) and the
/// console is served from the API's own origin; the local stack serves it the same way
/// (the emulator's default CORS would reflect any origin, with credentials allowed).
#[tokio::test]
async fn no_other_origin_is_let_in() {
    let app = app();
    let p = app.partner().await;
    let evil = "https://evil.example";
    let read = app.raw(Method::GET, "/v1/clients", &[("x-api-key", &p.key), ("origin", evil)], None).await;
    read.expect(200);
    assert_eq!(read.header("access-control-allow-origin"), None, "no origin may read the answer");
    assert_eq!(read.header("access-control-allow-credentials"), None);
    let preflight = [("origin", evil), ("access-control-request-method", "POST"), ("access-control-request-headers", "x-api-key, content-type")];
    let res = app.raw(Method::OPTIONS, "/v1/clients", &preflight, None).await;
    // As on AWS, where the HTTP API has no CORS and OPTIONS reaches `$default`: a 405.
    res.problem(405, "method_not_allowed");
    assert_eq!(res.header("access-control-allow-origin"), None);
    assert_eq!(res.header("access-control-allow-methods"), None);
}
