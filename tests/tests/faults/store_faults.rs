//! The store faults DynamoDB Local never produces, injected between the functions and
//! it by the fault stack's proxy (`scripts/store_faults.py`): throttling, transactions
//! cancelled for contention, and a transaction reported in progress after it was
//! applied (an answer lost on the way back). API.md §5a: each is a 503 `unavailable`
//! with `Retry-After` and nothing half-written, or, where the store's own retry rides it
//! out, the one answer the request deserved, applied exactly once.

use reqwest::Method;
use serde_json::{Value, json};

use super::{Answer, DEADLINE, Figures, assert_counters_agree, assert_service_back, exists_whole, new_client_body, send};
use crate::helpers::{Partner, app};

/// The proxy's control endpoint.
struct Faults;

impl Faults {
    fn url() -> String {
        let base = std::env::var("CLIENTELE_STORE_FAULTS_URL").expect("CLIENTELE_STORE_FAULTS_URL: run with `make test`");
        format!("{base}/__faults")
    }

    /// Replaces the plan: each rule takes its operation's next `count` calls.
    async fn plan(rules: Value) {
        let res = reqwest::Client::new().put(Self::url()).body(rules.to_string()).send().await.expect("the fault proxy answers");
        assert_eq!(res.status(), 200);
    }

    /// Clears the plan; returns how many faults of each kind were injected under it.
    async fn clear() -> Value {
        let state: Value = reqwest::get(Self::url()).await.expect("the fault proxy answers").json().await.unwrap();
        let res = reqwest::Client::new().delete(Self::url()).send().await.expect("the fault proxy answers");
        assert_eq!(res.status(), 200);
        state["injected"].clone()
    }
}

/// Holds, at the proxy, the next call of `operation` whose body contains `contains`,
/// until `release` (or 20 s): its request stops there, at a known point of its work.
pub(super) async fn hold(operation: &str, contains: &str) {
    Faults::plan(json!([{ "operation": operation, "fault": "hold", "contains": contains, "count": 1 }])).await;
}

/// How many calls the proxy holds now.
pub(super) async fn held() -> u64 {
    let state: Value = reqwest::get(Faults::url()).await.expect("the fault proxy answers").json().await.unwrap();
    state["held"].as_u64().unwrap_or(0)
}

/// Waits (20 s at most) until the proxy holds a call.
pub(super) async fn until_held(what: &str) {
    let start = std::time::Instant::now();
    while held().await == 0 {
        assert!(start.elapsed() < std::time::Duration::from_secs(20), "the proxy never held {what}");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// Lets every held call go on and clears the plan.
pub(super) async fn release() {
    Faults::clear().await;
}

/// How many calls of `operation` the proxy has passed on to the store and not yet had
/// answered: with the store paused, the calls it holds mid-way.
pub(super) async fn in_flight(operation: &str) -> u64 {
    let state: Value = reqwest::get(Faults::url()).await.expect("the fault proxy answers").json().await.unwrap();
    state["in_flight"][operation].as_u64().unwrap_or(0)
}

/// Waits (5 s at most) until a call of `operation` is in flight past the proxy.
pub(super) async fn until_in_flight(operation: &str) {
    let start = std::time::Instant::now();
    while in_flight(operation).await == 0 {
        assert!(start.elapsed() < std::time::Duration::from_secs(5), "no {operation} went on to the store");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// Every line of the stack's API log that names `request_id`.
fn log_lines(request_id: &str) -> Vec<String> {
    let env = std::env::var("CLIENTELE_ENV_FILE").expect("CLIENTELE_ENV_FILE");
    let log = std::path::Path::new(&env).with_file_name("api.log");
    std::fs::read_to_string(log).unwrap_or_default().lines().filter(|l| l.contains(request_id)).map(str::to_owned).collect()
}

/// The 503's request id is in the log beside the store's own error code: every 5xx is
/// logged with its cause chain and the request id (API.md §5a).
#[track_caller]
fn logged_with_cause(answer: &Answer, cause: &str) {
    let id = answer.body["requestId"].as_str().expect("a problem+json carries its requestId");
    let lines = log_lines(id);
    assert!(
        lines.iter().any(|l| l.contains(cause) && l.contains("\"status\":503")),
        "the 503 of request {id} is logged with its cause ({cause}); its lines: {lines:#?}"
    );
}

async fn create(p: &Partner, body: &Value) -> Answer {
    send(Method::POST, "/v1/clients", &p.key, Some(body.clone())).await
}

#[tokio::test]
async fn a_throttling_store_gives_503_with_retry_after_and_writes_nothing() {
    let app = app();
    let mut figures = Figures::new("store throttling every call (injected)");
    let p = app.partner().await;
    let existing = app.client(&p).await;
    let id = existing["id"].as_str().unwrap().to_owned();
    let body = new_client_body();
    let calls = [
        ("get client", Method::GET, format!("/v1/clients/{id}"), None),
        ("list clients", Method::GET, "/v1/clients".to_owned(), None),
        ("create client", Method::POST, "/v1/clients".to_owned(), Some(body.clone())),
        ("update client", Method::PATCH, format!("/v1/clients/{id}"), Some(json!({ "company": "Throttled Inc" }))),
    ];
    for (what, method, path, sent) in calls {
        // More throttles than the SDK's three attempts of every call the request makes.
        Faults::plan(json!([
            { "operation": "GetItem", "fault": "throttle", "count": 1000 },
            { "operation": "BatchGetItem", "fault": "throttle", "count": 1000 },
            { "operation": "Query", "fault": "throttle", "count": 1000 },
            { "operation": "TransactWriteItems", "fault": "throttle", "count": 1000 },
        ]))
        .await;
        let answer = send(method, &path, &p.key, sent).await;
        let injected = Faults::clear().await;
        figures.faults += injected["throttle"].as_u64().unwrap_or(0);
        figures.count(&answer);
        answer.unavailable(what);
        assert!(injected["throttle"].as_u64().unwrap_or(0) >= 3, "{what}: the store was really throttled: {injected}");
        logged_with_cause(&answer, "ThrottlingException");
        assert_service_back(&p, &mut figures).await;
    }
    let now = app.get_client(&p.key, &id).await;
    assert_eq!(now.expect(200)["version"], existing["version"], "the throttled update changed nothing");
    assert!(!exists_whole(&p, body["email"].as_str().unwrap()).await, "the throttled create left nothing");
    app.create_client(&p.key, body).await.expect(201);
    assert_eq!(assert_counters_agree(&p).await, 2);
    figures.write();
}

#[tokio::test]
async fn contention_is_ridden_out_when_brief_and_a_503_with_nothing_half_written_when_not() {
    let app = app();
    let mut figures = Figures::new("transactions cancelled for contention (injected)");
    let p = app.partner().await;

    // Brief: two cancellations, then the transaction goes through, once.
    let brief = new_client_body();
    Faults::plan(json!([{ "operation": "TransactWriteItems", "fault": "conflict", "count": 2 }])).await;
    let answer = create(&p, &brief).await;
    let injected = Faults::clear().await;
    figures.faults += injected["conflict"].as_u64().unwrap_or(0);
    figures.count(&answer);
    assert_eq!(injected["conflict"], 2, "both cancellations were injected");
    assert_eq!(answer.status, 201, "contention within the budget is retried: {}", answer.body);
    figures.acknowledged += 1;
    assert!(exists_whole(&p, brief["email"].as_str().unwrap()).await);

    // Lasting: every try cancelled until the contention budget is spent.
    let lasting = new_client_body();
    Faults::plan(json!([{ "operation": "TransactWriteItems", "fault": "conflict", "count": 1000 }])).await;
    let answer = create(&p, &lasting).await;
    let injected = Faults::clear().await;
    figures.faults += injected["conflict"].as_u64().unwrap_or(0);
    figures.count(&answer);
    answer.unavailable("a create contended past its budget");
    assert!(injected["conflict"].as_u64().unwrap_or(0) >= 3, "it retried before giving up: {injected}");
    logged_with_cause(&answer, "TransactionCanceledException");
    assert!(!exists_whole(&p, lasting["email"].as_str().unwrap()).await, "nothing of the refused create was written");
    // Its name, email and username are free: nothing half-made holds them.
    app.create_client(&p.key, lasting).await.expect(201);
    figures.acknowledged += 1;
    assert_eq!(assert_counters_agree(&p).await, 2, "the totals count the two creates once each");
    let events = app.list_events(&p.key, "?type=client.created&limit=10").await;
    assert_eq!(events.expect(200)["total"], 2, "one event per create");
    assert_service_back(&p, &mut figures).await;
    figures.write();
}

#[tokio::test]
async fn a_transaction_applied_but_reported_in_progress_is_applied_exactly_once() {
    let app = app();
    let mut figures = Figures::new("transaction applied, answer lost, reported in progress (injected)");
    let p = app.partner().await;

    // Not applied and reported in progress: asked again, it is applied once.
    let first = new_client_body();
    Faults::plan(json!([{ "operation": "TransactWriteItems", "fault": "in_progress", "count": 1 }])).await;
    let answer = create(&p, &first).await;
    let injected = Faults::clear().await;
    figures.faults += injected["in_progress"].as_u64().unwrap_or(0);
    figures.count(&answer);
    assert_eq!(injected["in_progress"], 1);
    assert_eq!(answer.status, 201, "{}", answer.body);
    figures.acknowledged += 1;

    // Applied, its answer lost: asked again with the same ClientRequestToken, DynamoDB
    // answers for the first run. With a new token the create would fail on its own
    // claims (a 409 for a client that was just made) or apply twice.
    let second = new_client_body();
    Faults::plan(json!([{ "operation": "TransactWriteItems", "fault": "applied_in_progress", "count": 1 }])).await;
    let answer = create(&p, &second).await;
    let injected = Faults::clear().await;
    figures.faults += injected["applied_in_progress"].as_u64().unwrap_or(0);
    figures.count(&answer);
    assert_eq!(injected["applied_in_progress"], 1);
    assert_eq!(answer.status, 201, "the applied create is acknowledged, not refused by its own claims: {}", answer.body);
    figures.acknowledged += 1;
    assert!(exists_whole(&p, second["email"].as_str().unwrap()).await);

    // The same for a usage increment, which is billed: counted once.
    let client = app.client(&p).await;
    let id = client["id"].as_str().unwrap().to_owned();
    app.set_quotas(&p.key, &id, json!({ "apiCalls": { "limit": 10, "period": "month" } })).await.expect(200);
    Faults::plan(json!([{ "operation": "TransactWriteItems", "fault": "applied_in_progress", "count": 1 }])).await;
    let answer = send(Method::POST, &format!("/v1/clients/{id}/usage"), &p.key, Some(json!({ "resource": "apiCalls", "amount": 7 }))).await;
    let injected = Faults::clear().await;
    figures.faults += injected["applied_in_progress"].as_u64().unwrap_or(0);
    figures.count(&answer);
    assert_eq!(injected["applied_in_progress"], 1);
    assert_eq!((answer.status, &answer.body["apiCalls"]["used"]), (200, &json!(7)), "{}", answer.body);
    figures.acknowledged += 1;
    let stored = app.get_usage(&p.key, &id).await;
    assert_eq!(stored.expect(200)["apiCalls"]["used"], 7, "counted once");

    assert_eq!(assert_counters_agree(&p).await, 3, "three clients, each counted once");
    let events = app.list_events(&p.key, "?type=client.created&limit=10").await;
    assert_eq!(events.expect(200)["total"], 3, "one client.created event per create");
    assert!(figures.slowest < DEADLINE);
    figures.write();
}
