//! `make bench`: measures Clientele on DynamoDB Local and writes BENCHMARKS.md.
//!
//! - warm latency of the retrieve, create and list-page handlers, run in process
//!   through the same code path Lambda uses (`clientele::http::serve` on a request
//!   parsed from an API Gateway event), beside the DynamoDB calls each must make;
//! - DynamoDB calls per operation, counted by an SDK interceptor;
//! - a list page at 100 and at many clients in one partner;
//! - cold start and peak memory of the release binaries under a minimal local
//!   Lambda Runtime API, beside a Python/boto3 version of retrieve;
//! - release binary sizes.
//!
//! It is a benchmark, not a test: it asserts nothing, it reports.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::types::AttributeValue;
use futures::StreamExt;
use clientele::app::App;
use clientele::config::Config;
use clientele::http::serve;
use clientele::store::Store;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Counts DynamoDB requests by operation (`x-amz-target`).
#[derive(Debug, Clone, Default)]
struct Counter(Arc<Mutex<HashMap<String, u64>>>);

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "call-counter"
    }

    fn read_before_transmit(&self, ctx: &BeforeTransmitInterceptorContextRef<'_>, _: &RuntimeComponents, _: &mut ConfigBag) -> Result<(), BoxError> {
        let target = ctx.request().headers().get("x-amz-target").unwrap_or("?");
        let op = target.rsplit('.').next().unwrap_or(target).to_owned();
        *self.0.lock().unwrap().entry(op).or_default() += 1;
        Ok(())
    }
}

impl Counter {
    fn take(&self) -> HashMap<String, u64> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// An API Gateway (HTTP API, payload 2.0) event, as Lambda hands it to a function.
fn event(method: &str, route: &str, path: &str, params: &[(&str, &str)], query: &str, key: &str, body: Option<&Value>) -> String {
    let params: serde_json::Map<String, Value> = params.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    let mut headers = json!({ "x-api-key": key, "content-type": "application/json" });
    if body.is_none() {
        headers.as_object_mut().unwrap().remove("content-type");
    }
    json!({
        "version": "2.0", "routeKey": format!("{method} {route}"), "rawPath": path, "rawQueryString": query,
        "headers": headers, "pathParameters": params, "isBase64Encoded": false,
        "queryStringParameters": query.split('&').filter(|p| !p.is_empty()).filter_map(|p| p.split_once('=')).map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "body": body.map(Value::to_string),
        "requestContext": {
            "accountId": "1", "apiId": "bench", "domainName": "localhost", "domainPrefix": "localhost",
            "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench" },
            "requestId": "bench", "routeKey": format!("{method} {route}"), "stage": "$default", "time": "23/Nov/2026:00:00:00 +0000", "timeEpoch": 0
        }
    })
    .to_string()
}

async fn call<F, Fut>(app: &'static App, ev: &str, handler: F) -> (u16, Value)
where
    F: Fn(clientele::http::Ctx) -> Fut,
    Fut: std::future::Future<Output = Result<clientele::http::Reply, clientele::ApiError>>,
{
    let req = lambda_http::request::from_str(ev).expect("a valid API Gateway event");
    let res = serve(app, req, "bench", handler).await;
    let status = res.status().as_u16();
    let body = match res.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    (status, body)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

struct Timing {
    p50: f64,
    p99: f64,
}

async fn time<F, Fut>(n: usize, mut f: F) -> Timing
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for i in 0..20 {
        f(i).await;
    }
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        f(20 + i).await;
        samples.push(t.elapsed());
    }
    summarize(samples)
}

/// Times two operations alternately, sample by sample, so both see the same conditions.
async fn time_pair<A, FA, B, FB>(n: usize, mut a: A, mut b: B) -> (Timing, Timing)
where
    A: FnMut() -> FA,
    FA: std::future::Future<Output = ()>,
    B: FnMut() -> FB,
    FB: std::future::Future<Output = ()>,
{
    for _ in 0..20 {
        a().await;
        b().await;
    }
    let (mut sa, mut sb) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        // Alternate which goes first, too.
        if i % 2 == 0 {
            let t = Instant::now();
            a().await;
            sa.push(t.elapsed());
            let t = Instant::now();
            b().await;
            sb.push(t.elapsed());
        } else {
            let t = Instant::now();
            b().await;
            sb.push(t.elapsed());
            let t = Instant::now();
            a().await;
            sa.push(t.elapsed());
        }
    }
    (summarize(sa), summarize(sb))
}

fn summarize(mut samples: Vec<Duration>) -> Timing {
    samples.sort();
    Timing { p50: percentile(&samples, 0.5), p99: percentile(&samples, 0.99) }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

#[tokio::main]
async fn main() {
    let admin = std::env::var("BENCH_ADMIN_KEY").expect("BENCH_ADMIN_KEY (make bench sets it)");
    let root = std::env::var("BENCH_ROOT").unwrap_or_else(|_| ".".into());
    let big: usize = std::env::var("BENCH_LIST_BIG").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let counter = Counter::default();
    let sdk = aws_config::load_from_env().await;
    let db = aws_sdk_dynamodb::Client::from_conf(aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(counter.clone()).build());
    let config = Config::from_env().expect("the stack's environment");
    let table = config.table_name.clone();
    let app: &'static App = Box::leak(Box::new(App { store: Store::new(db.clone(), table.clone()), config }));
    let mut md = String::new();
    let now = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|c| c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())).unwrap_or_default();
    md.push_str(&format!("# Benchmarks\n\nRun by `make bench` on {now}; {} cores ({cpu}); DynamoDB Local (in memory) on the same machine.\n\n", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)));

    // Fixtures: a partner with an all-permission key, and a client.
    let (_, p) = call(app, &event("POST", "/v1/partners", "/v1/partners", &[], "", &admin, Some(&json!({ "name": unique("bench") }))), clientele::api::partners::create).await;
    let pid = p["id"].as_str().unwrap().to_owned();
    let all: Vec<&str> = vec!["clients:view", "clients:edit", "clients:create", "clients:remove", "partners:view", "keys:create"];
    let (_, k) = call(app, &event("POST", "/v1/api-keys", "/v1/api-keys", &[], "", &admin, Some(&json!({ "partnerId": pid, "permissions": all }))), clientele::api::api_keys::create).await;
    let key = k["key"].as_str().unwrap().to_owned();
    let key_hash = clientele::secrets::sha256_hex(&key);
    let (_, c) = call(app, &event("POST", "/v1/clients", "/v1/clients", &[], "", &key, Some(&json!({ "name": unique("c"), "email": format!("{}@example.com", unique("e")) }))), clientele::api::clients::create).await;
    let cid = c["id"].as_str().unwrap().to_owned();
    for _ in 0..99 {
        call(app, &event("POST", "/v1/clients", "/v1/clients", &[], "", &key, Some(&json!({ "name": unique("c"), "email": format!("{}@example.com", unique("e")) }))), clientele::api::clients::create).await;
    }
    counter.take();

    // Raw calls, as the SDK alone would make them.
    let get_raw = |pk: String| {
        let (db, table) = (db.clone(), table.clone());
        async move {
            db.get_item().table_name(table).key("pk", AttributeValue::S(pk)).key("sk", AttributeValue::S("#".into())).consistent_read(true).send().await.unwrap();
        }
    };
    let auth_raw = || async {
        get_raw(format!("KEYHASH#{key_hash}")).await;
        let keys = aws_sdk_dynamodb::types::KeysAndAttributes::builder()
            .keys(HashMap::from([("pk".to_owned(), AttributeValue::S(format!("PARTNER#{pid}"))), ("sk".to_owned(), AttributeValue::S("#".into()))]))
            .consistent_read(true)
            .build()
            .unwrap();
        db.batch_get_item().request_items(&table, keys).send().await.unwrap();
    };

    let n = 300;
    let get_ev = event("GET", "/v1/clients/{clientId}", &format!("/v1/clients/{cid}"), &[("clientId", &cid)], "", &key, None);
    let (get_handler, get_raw_t) = time_pair(
        n,
        || async { assert_eq!(call(app, &get_ev, clientele::api::clients::get).await.0, 200) },
        || async {
            auth_raw().await;
            get_raw(format!("CLIENT#{cid}")).await;
        },
    )
    .await;
    let get_one = time(n, |_| async { get_raw(format!("CLIENT#{cid}")).await }).await;

    // The raw side writes the same transaction through the store (no HTTP, no validation, no JSON).
    let template = app.store.client(&cid).await.unwrap().unwrap();
    let actor = clientele::auth::Actor { kind: clientele::auth::ActorKind::ApiKey, id: "bench".into() };
    let (create_handler, create_raw) = time_pair(n, || async {
        let body = json!({ "name": unique("c"), "email": format!("{}@example.com", unique("e")) });
        let ev = event("POST", "/v1/clients", "/v1/clients", &[], "", &key, Some(&body));
        assert_eq!(call(app, &ev, clientele::api::clients::create).await.0, 201);
    }, || {
        let (template, actor) = (template.clone(), actor.clone());
        async move {
            auth_raw().await;
            let mut c = template;
            c.id = clientele::domain::new_id();
            c.email = Some(clientele::domain::values::Email::parse(&format!("{}@example.com", unique("r"))).unwrap());
            c.name = clientele::domain::values::Name::parse(&unique("r")).unwrap();
            c.api_key_hash = unique("h");
            c.username = None;
            let e = clientele::events::Event::new(clientele::events::EventType::ClientCreated, &c.ancestors, &actor, "bench", c.view(), None);
            app.store.create_client(&c, &e).await.unwrap();
        }
    })
    .await;

    let list_ev = event("GET", "/v1/clients", "/v1/clients", &[], "limit=10", &key, None);

    // A page needs its entries (Query), the clients on it and the total (counter shards).
    let batch_get = |pks: Vec<String>| {
        let (db, table) = (db.clone(), table.clone());
        async move {
            let keys: Vec<HashMap<String, AttributeValue>> = pks
                .into_iter()
                .map(|pk| HashMap::from([("pk".to_owned(), AttributeValue::S(pk)), ("sk".to_owned(), AttributeValue::S("#".into()))]))
                .collect();
            let keys = aws_sdk_dynamodb::types::KeysAndAttributes::builder().set_keys(Some(keys)).consistent_read(true).build().unwrap();
            db.batch_get_item().request_items(table, keys).send().await.unwrap();
        }
    };
    let (list_handler, list_raw) = time_pair(n, || async { assert_eq!(call(app, &list_ev, clientele::api::clients::list_clients).await.0, 200) }, || async {
        auth_raw().await;
        let page = async {
            let out = db
                .query()
                .table_name(&table)
                .key_condition_expression("pk = :p")
                .expression_attribute_values(":p", AttributeValue::S(format!("CLIENTS#{pid}")))
                .scan_index_forward(false)
                .consistent_read(true)
                .limit(11)
                .send()
                .await
                .unwrap();
            let pks: Vec<String> = out.items().iter().take(10).filter_map(|i| i.get("sk")?.as_s().ok().map(|id| format!("CLIENT#{id}"))).collect();
            batch_get(pks).await;
        };
        let total = batch_get((0..8).map(|i| format!("COUNT#CLIENTS#{pid}#{i}")).collect());
        tokio::join!(page, total);
    })
    .await;

    md.push_str("## Warm latency, in process (ms)\n\nEach handler runs through `clientele::http::serve` on a request parsed from an API Gateway event, exactly as in Lambda; \"raw\" makes the DynamoDB calls the operation cannot do without (authentication: key grant and partner chain; then the read; the create transaction; or the page's Query, its clients and its total) with the SDK alone. The two sides alternate sample by sample, so drift in DynamoDB Local (a JVM sharing the cores) touches both alike.\n\n");
    md.push_str("| operation | handler p50 | raw p50 | ratio p50 | handler p99 | raw p99 | ratio p99 |\n|---|---|---|---|---|---|---|\n");
    for (name, h, r) in [("retrieve client", &get_handler, &get_raw_t), ("create client", &create_handler, &create_raw), ("list page (10)", &list_handler, &list_raw)] {
        md.push_str(&format!("| {name} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |\n", h.p50, r.p50, h.p50 / r.p50, h.p99, r.p99, h.p99 / r.p99));
    }
    md.push_str(&format!("\nFor scale: one `GetItem` alone takes p50 {:.2} ms, p99 {:.2} ms here.\n\n", get_one.p50, get_one.p99));

    // DynamoDB calls per operation.
    md.push_str("## DynamoDB calls per operation\n\n| operation | calls | by kind | minimum |\n|---|---|---|---|\n");
    counter.take();
    let ops: Vec<(&str, String, &str)> = vec![
        ("retrieve client", get_ev.clone(), "3: key grant, partner chain, client"),
        ("create client", event("POST", "/v1/clients", "/v1/clients", &[], "", &key, Some(&json!({ "name": unique("c"), "email": format!("{}@example.com", unique("e")) }))), "3: key grant, partner chain, one transaction"),
        ("list page", list_ev.clone(), "5: key grant, partner chain, Query, clients, total"),
    ];
    for (name, ev, min) in ops {
        let status = match name {
            "retrieve client" => call(app, &ev, clientele::api::clients::get).await.0,
            "create client" => call(app, &ev, clientele::api::clients::create).await.0,
            _ => call(app, &ev, clientele::api::clients::list_clients).await.0,
        };
        assert!(status < 300);
        let calls = counter.take();
        let total: u64 = calls.values().sum();
        let mut kinds: Vec<String> = calls.iter().map(|(k, v)| format!("{k} {v}")).collect();
        kinds.sort();
        md.push_str(&format!("| {name} | {total} | {} | {min} |\n", kinds.join(", ")));
    }
    md.push_str("\nThe list page reads its total from the counter shards (one `BatchGetItem`, in parallel with the Query).\n\n");

    // A page at 100 and at `big` clients.
    eprintln!("seeding {big} clients in one partner (this takes a while)...");
    let (_, bp) = call(app, &event("POST", "/v1/partners", "/v1/partners", &[], "", &admin, Some(&json!({ "name": unique("big") }))), clientele::api::partners::create).await;
    let bpid = bp["id"].as_str().unwrap().to_owned();
    let (_, bk) = call(app, &event("POST", "/v1/api-keys", "/v1/api-keys", &[], "", &admin, Some(&json!({ "partnerId": bpid }))), clientele::api::api_keys::create).await;
    let bkey = bk["key"].as_str().unwrap().to_owned();
    let big_partner = app.store.partner(&bpid).await.unwrap().unwrap();
    let seeded = std::sync::atomic::AtomicUsize::new(0);
    let started = Instant::now();
    let mut pending = Vec::new();
    for chunk in 0..big.div_ceil(1000) {
        pending.clear();
        for i in 0..1000.min(big - chunk * 1000) {
            let mut c = template.clone();
            c.id = clientele::domain::new_id();
            c.email = Some(clientele::domain::values::Email::parse(&format!("big{chunk}x{i}@{}.example.com", &bpid[..8])).unwrap());
            c.name = clientele::domain::values::Name::parse(&format!("big {chunk} {i}")).unwrap();
            c.api_key_hash = unique("h");
            c.username = None;
            c.direct_partner = clientele::domain::client::PartnerRef { id: bpid.clone(), name: big_partner.name.as_str().to_owned() };
            c.partner = c.direct_partner.clone();
            c.ancestors = big_partner.path.clone();
            pending.push(c);
        }
        let batch = std::mem::take(&mut pending);
        let futs = batch.into_iter().map(|c| {
            let actor = actor.clone();
            let seeded = &seeded;
            async move {
                let e = clientele::events::Event::new(clientele::events::EventType::ClientCreated, &c.ancestors, &actor, "bench", json!({}), None);
                app.store.create_client(&c, &e).await.unwrap();
                seeded.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
        futures::stream::iter(futs).buffer_unordered(16).collect::<Vec<()>>().await;
        if chunk % 10 == 9 {
            eprintln!("  {} clients, {:.0}/s", seeded.load(std::sync::atomic::Ordering::Relaxed), seeded.load(std::sync::atomic::Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64());
        }
    }
    let small_page = event("GET", "/v1/clients", "/v1/clients", &[], "limit=10", &key, None);
    let big_page = event("GET", "/v1/clients", "/v1/clients", &[], "limit=10", &bkey, None);
    let small_t = time(n, |_| async { call(app, &small_page, clientele::api::clients::list_clients).await; }).await;
    let big_t = time(n, |_| async { call(app, &big_page, clientele::api::clients::list_clients).await; }).await;
    let (_, check) = call(app, &big_page, clientele::api::clients::list_clients).await;
    md.push_str(&format!(
        "## A list page as the partner grows\n\n| clients in the partner | page p50 (ms) | page p99 (ms) |\n|---|---|---|\n| 100 | {:.2} | {:.2} |\n| {} | {:.2} | {:.2} |\n\nRatio p50 {:.2}, p99 {:.2} (goal: within 1.2). Seeding {} clients through the store's create transaction took {:.0} s.\n\n",
        small_t.p50, small_t.p99, check["total"], big_t.p50, big_t.p99, big_t.p50 / small_t.p50, big_t.p99 / small_t.p99, big, started.elapsed().as_secs_f64()
    ));

    // Cold start and memory of the release binaries, and of the Python peer.
    md.push_str("## Cold start and memory under a local Lambda Runtime API\n\nEach figure is the median of 5 fresh processes: from `exec` to the first `GET .../invocation/next` (init), and to the first response; peak RSS is the process's high-water mark after that response.\n\n| function | init (ms) | first response (ms) | peak RSS (MB) |\n|---|---|---|---|\n");
    let env: Vec<(String, String)> = std::env::vars().filter(|(k, _)| !k.starts_with("AWS_LAMBDA") && !k.starts_with("BENCH")).collect();
    let release = Path::new(&root).join("target/release");
    let runs: Vec<(&str, Vec<String>, String)> = vec![
        ("get-client (Rust)", vec![release.join("get-client").display().to_string()], get_ev.clone()),
        ("create-client (Rust)", vec![release.join("create-client").display().to_string()], event("POST", "/v1/clients", "/v1/clients", &[], "", &key, Some(&json!({ "name": unique("cold"), "email": "cold@example.com" })))),
        ("list-clients (Rust)", vec![release.join("list-clients").display().to_string()], list_ev.clone()),
        ("get-client (Python + boto3)", vec![Path::new(&root).join(".tools/venv/bin/python").display().to_string(), Path::new(&root).join("bench/peer/get_client.py").display().to_string()], get_ev.clone()),
    ];
    for (name, cmd, ev) in runs {
        let mut results = Vec::new();
        for i in 0..5 {
            let ev = if name.starts_with("create") { ev.replace("cold@example.com", &format!("cold{i}{}@example.com", unique("x"))) } else { ev.clone() };
            match cold_start(&cmd, &env, &ev).await {
                Ok(r) => results.push(r),
                Err(e) => eprintln!("{name}: {e}"),
            }
        }
        if results.is_empty() {
            md.push_str(&format!("| {name} | - | - | - |\n"));
            continue;
        }
        let med = |f: fn(&(f64, f64, f64)) -> f64| {
            let mut v: Vec<f64> = results.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        md.push_str(&format!("| {name} | {:.1} | {:.1} | {:.1} |\n", med(|r| r.0), med(|r| r.1), med(|r| r.2)));
    }

    md.push_str("\n## Release binary sizes\n\n| function | size (MB) |\n|---|---|\n");
    for f in ["get-client", "create-client", "list-clients", "deliver-webhooks"] {
        if let Ok(m) = std::fs::metadata(release.join(f)) {
            md.push_str(&format!("| {f} | {:.2} |\n", m.len() as f64 / 1_048_576.0));
        }
    }
    md.push_str("\nGoals (issue 5): handler p50 within 1.15x of raw, p99 within 1.3x; init <= 10 ms, first response <= 20 ms; peak RSS <= 16 MB; binary <= 8 MB; list page at 100 000 within 1.2x of 100.\n");
    let out = Path::new(&root).join("BENCHMARKS.md");
    let notes = std::fs::read_to_string(Path::new(&root).join("bench/NOTES.md")).unwrap_or_default();
    std::fs::write(&out, format!("{md}\n{notes}")).expect("BENCHMARKS.md is writable");
    println!("{md}");
}

/// Starts `cmd` against a one-shot Lambda Runtime API serving `event`; returns
/// (ms to the first `next`, ms to the response, peak RSS in MB).
async fn cold_start(cmd: &[String], env: &[(String, String)], event: &str) -> Result<(f64, f64, f64), String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let addr = listener.local_addr().unwrap().to_string();
    let started = Instant::now();
    let mut child = tokio::process::Command::new(&cmd[0])
        .args(&cmd[1..])
        .env_clear()
        .envs(env.iter().cloned())
        .env("AWS_LAMBDA_RUNTIME_API", &addr)
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{}: {e}", cmd[0]))?;
    let pid = child.id().unwrap_or(0);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(&'static str, Duration)>();
    let event = event.to_owned();
    let server = tokio::spawn(async move {
        let mut served = false;
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            let (tx, event) = (tx.clone(), event.clone());
            let first = !served;
            served = true;
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 65536];
                let mut answered_next = !first;
                loop {
                    let Ok(n) = sock.read(&mut chunk).await else { return };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_string();
                        let len: usize = head.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0))).unwrap_or(0);
                        if buf.len() < end + 4 + len {
                            break;
                        }
                        buf.drain(..end + 4 + len);
                        if head.starts_with("GET") && head.contains("/invocation/next") {
                            if answered_next {
                                // The function is ready for another event: it gets none.
                                continue;
                            }
                            answered_next = true;
                            let _ = tx.send(("next", started.elapsed()));
                            let resp = format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nlambda-runtime-aws-request-id: r1\r\nlambda-runtime-deadline-ms: {}\r\nlambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:1:function:bench\r\ncontent-length: {}\r\n\r\n{}",
                                chrono::Utc::now().timestamp_millis() + 30_000,
                                event.len(),
                                event
                            );
                            let _ = sock.write_all(resp.as_bytes()).await;
                        } else if head.starts_with("POST") {
                            let _ = tx.send(("response", started.elapsed()));
                            let _ = sock.write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n").await;
                        }
                    }
                }
            });
        }
    });
    let mut next = None;
    let mut response = None;
    let deadline = tokio::time::sleep(Duration::from_secs(20));
    tokio::pin!(deadline);
    while response.is_none() {
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(("next", t)) => next = next.or(Some(t)),
                Some((_, t)) => response = Some(t),
                None => break,
            },
            () = &mut deadline => break,
        }
    }
    let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0);
    let _ = child.kill().await;
    server.abort();
    match (next, response) {
        (Some(n), Some(r)) => Ok((n.as_secs_f64() * 1000.0, r.as_secs_f64() * 1000.0, rss)),
        _ => Err("no response within 20 s".into()),
    }
}
