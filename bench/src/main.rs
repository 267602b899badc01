//! `make bench`: measures Clientele on DynamoDB Local and writes BENCHMARKS.md.
//!
//! Every figure and every verdict in the report is computed from this run's
//! measurements against the goals in `goals.rs`; `bench/NOTES.md` (appended) only
//! explains the method. It reports, it never asserts on a goal: a goal not met says
//! so. A request that fails (non-2xx, or a DynamoDB error on a raw side) fails the run
//! before any report is written.
//!
//! `clientele-bench` alone runs everything; `clientele-bench --only <op> <n> <handler|raw>`
//! sets up, then makes n requests of one operation (what callgrind counts), and
//! `clientele-bench --warm-store` makes one call of each kind from a fresh process (so
//! DynamoDB Local's connection handling is warm before a cold start is timed);
//! `clientele-bench --seed <n>` seeds one tree of n clients and prints the rate;
//! `clientele-bench --depths` prints the depth of each request the calls table looks at;
//! `clientele-bench --rng-first` times aws-lc's first random bytes in a fresh process, and
//! `clientele-bench --tls-proxy` runs the TLS proxy of the cold starts over TLS alone.
//! `clientele-bench --load` is `make load` (load.rs: partition heat under a concurrent
//! mix, written to `docs/SCALE.md`), and `--scale-report` writes that report again from
//! its saved figures; the full bench ends with a short form of the load run.

mod callgrind;
mod cold;
mod cost;
mod goals;
mod load;
mod replay;
mod scale;
mod tls;
mod trace;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use clientele::app::App;
use clientele::config::Config;
use clientele::http::serve;
use clientele::store::Store;
use clientele::store::access::Heat;
use futures::StreamExt;
use serde_json::{Value, json};

use goals::{Verdicts, at_least, at_most};
use replay::{Fresh, Item, Plan, Req, Step};
use cold::Run;
use trace::{Call, Recorder};

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("bench failed: {msg}");
    std::process::exit(1);
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

/// The handlers the bench calls (their functions' handler paths in infra/routes.tsv).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handler {
    Get,
    Create,
    Update,
    Delete,
    List,
    ByUsername,
    Lookup,
    CreatePartner,
    CreateKey,
    SetQuotas,
    RecordUsage,
    CreateProduct,
    CreateLicense,
    Activate,
    Deactivate,
    ListEvents,
}

async fn call(app: &'static App, h: Handler, ev: &str) -> (u16, Value) {
    let res = answer(app, h, ev).await;
    let status = res.status().as_u16();
    let body = match res.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    (status, body)
}

/// A handler's answer to an API Gateway event, as the function would send it.
async fn answer(app: &'static App, h: Handler, ev: &str) -> lambda_http::Response<lambda_http::Body> {
    use clientele::api::{api_keys, clients, events, licenses, lifecycle, partners, usage};
    let req = lambda_http::request::from_str(ev).expect("a valid API Gateway event");
    match h {
        Handler::Get => serve(app, req, "bench", clients::get).await,
        Handler::Create => serve(app, req, "bench", clients::create).await,
        Handler::Update => serve(app, req, "bench", clients::update).await,
        Handler::Delete => serve(app, req, "bench", clients::delete).await,
        Handler::List => serve(app, req, "bench", clients::list_clients).await,
        Handler::ByUsername => serve(app, req, "bench", clients::by_username).await,
        Handler::Lookup => serve(app, req, "bench", clients::lookup).await,
        Handler::CreatePartner => serve(app, req, "bench", partners::create).await,
        Handler::CreateKey => serve(app, req, "bench", api_keys::create).await,
        Handler::SetQuotas => serve(app, req, "bench", lifecycle::set_quotas).await,
        Handler::RecordUsage => serve(app, req, "bench", usage::record).await,
        Handler::CreateProduct => serve(app, req, "bench", licenses::create_product).await,
        Handler::CreateLicense => serve(app, req, "bench", licenses::create).await,
        Handler::Activate => serve(app, req, "bench", licenses::activate).await,
        Handler::Deactivate => serve(app, req, "bench", licenses::deactivate).await,
        Handler::ListEvents => serve(app, req, "bench", events::list_events).await,
    }
}

/// Calls a handler and fails the run unless it answers 2xx, for the timed loops: only the
/// status is looked at, since parsing the body would be the bench's work counted as the
/// handler's (what an operation's answer holds is checked on the requests of the calls
/// table, [`answers_as_expected`]).
async fn succeeds(app: &'static App, h: Handler, ev: &str) {
    let res = answer(app, h, ev).await;
    if !res.status().is_success() {
        let text = match res.body() {
            lambda_http::Body::Text(t) => t.as_str(),
            _ => "",
        };
        fail(format!("{h:?} answered {}: {text}", res.status().as_u16()));
    }
}

/// Calls a handler and fails the run unless it answers 2xx.
async fn must(app: &'static App, h: Handler, ev: &str) -> Value {
    let (status, body) = call(app, h, ev).await;
    if !(200..300).contains(&status) {
        fail(format!("{h:?} answered {status}: {body}"));
    }
    body
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// The partner, key and clients the per-operation measurements use.
struct Fixture {
    key: String,
    client_id: String,
    client_number: u64,
    client_key: String,
    username: String,
    /// The request of each operation whose request is the same every time, made once: the
    /// timed loops hand it to the handler as the Runtime API would, so building its JSON
    /// (the bench's work, not the handler's) is not counted as the handler's.
    fixed: Vec<(Op, String)>,
}

async fn fixture(app: &'static App, admin: &str, list_size: usize) -> Fixture {
    let p = must(app, Handler::CreatePartner, &event("POST", "/v1/partners", "/v1/partners", &[], "", admin, Some(&json!({ "name": unique("bench") })))).await;
    let pid = p["id"].as_str().unwrap().to_owned();
    let all = ["clients:view", "clients:edit", "clients:create", "clients:remove", "partners:view", "keys:create"];
    let k = must(app, Handler::CreateKey, &event("POST", "/v1/api-keys", "/v1/api-keys", &[], "", admin, Some(&json!({ "partnerId": pid, "permissions": all })))).await;
    let key = k["key"].as_str().unwrap().to_owned();
    let username = format!("u{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
    let c = must(app, Handler::Create, &create_event(&key, Some(&username))).await;
    for _ in 0..list_size {
        must(app, Handler::Create, &create_event(&key, None)).await;
    }
    let mut f = Fixture {
        key,
        client_id: c["id"].as_str().unwrap().to_owned(),
        client_number: c["number"].as_u64().unwrap_or(0),
        client_key: c["apiKey"].as_str().unwrap_or_default().to_owned(),
        username,
        fixed: Vec::new(),
    };
    f.fixed = OPS.into_iter().filter(|op| !matches!(op, Op::Create | Op::Update)).map(|op| (op, op.event(&f))).collect();
    f
}

/// A create with a new (lowercase) name and email.
fn create_event(key: &str, username: Option<&str>) -> String {
    let mut body = json!({ "name": unique("c"), "email": format!("{}@example.com", unique("e")) });
    if let Some(u) = username {
        body["username"] = json!(u);
    }
    event("POST", "/v1/clients", "/v1/clients", &[], "", key, Some(&body))
}

/// One measured operation: its handler and how to make its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Retrieve,
    Create,
    Update,
    List,
    ByUsername,
    Lookup,
    Dialect,
}

const OPS: [Op; 7] = [Op::Retrieve, Op::Create, Op::Update, Op::List, Op::ByUsername, Op::Lookup, Op::Dialect];

impl Op {
    fn name(self) -> &'static str {
        match self {
            Self::Retrieve => "retrieve",
            Self::Create => "create",
            Self::Update => "update",
            Self::List => "list page",
            Self::ByUsername => "by-username",
            Self::Lookup => "lookup",
            Self::Dialect => "dialect retrieve",
        }
    }

    fn route(self) -> &'static str {
        match self {
            Self::Retrieve => "GET /v1/clients/{clientId}",
            Self::Create => "POST /v1/clients",
            Self::Update => "PATCH /v1/clients/{clientId}",
            Self::List => "GET /v1/clients?limit=10",
            Self::ByUsername => "GET /v1/clients/by-username/{username}",
            Self::Lookup => "POST /v1/clients/lookup",
            Self::Dialect => "GET /api/v1/clients/{client_id} (partner API)",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        OPS.into_iter().find(|o| o.name().replace(' ', "-") == s || o.name() == s)
    }

    fn handler(self) -> Handler {
        match self {
            Self::Retrieve | Self::Dialect => Handler::Get,
            Self::Create => Handler::Create,
            Self::Update => Handler::Update,
            Self::List => Handler::List,
            Self::ByUsername => Handler::ByUsername,
            Self::Lookup => Handler::Lookup,
        }
    }

    /// A request of this operation for a timed loop: the one made for the fixture when it is
    /// the same each time, else a new one (a create's and an update's are new each time).
    fn request(self, f: &Fixture) -> std::borrow::Cow<'_, str> {
        match f.fixed.iter().find(|(op, _)| *op == self) {
            Some((_, ev)) => std::borrow::Cow::Borrowed(ev.as_str()),
            None => std::borrow::Cow::Owned(self.event(f)),
        }
    }

    /// A request of this operation (a create and an update are new each time).
    fn event(self, f: &Fixture) -> String {
        let id = f.client_id.as_str();
        match self {
            Self::Retrieve => event("GET", "/v1/clients/{clientId}", &format!("/v1/clients/{id}"), &[("clientId", id)], "", &f.key, None),
            Self::Create => create_event(&f.key, None),
            Self::Update => event(
                "PATCH",
                "/v1/clients/{clientId}",
                &format!("/v1/clients/{id}"),
                &[("clientId", id)],
                "",
                &f.key,
                Some(&json!({ "company": unique("co") })),
            ),
            Self::List => event("GET", "/v1/clients", "/v1/clients", &[], "limit=10", &f.key, None),
            Self::ByUsername => {
                let u = f.username.as_str();
                event("GET", "/v1/clients/by-username/{username}", &format!("/v1/clients/by-username/{u}"), &[("username", u)], "", &f.key, None)
            }
            Self::Lookup => event("POST", "/v1/clients/lookup", "/v1/clients/lookup", &[], "", &f.key, Some(&json!({ "apiKey": f.client_key }))),
            Self::Dialect => {
                let n = f.client_number.to_string();
                event("GET", "/api/v1/clients/{client_id}", &format!("/api/v1/clients/{n}"), &[("client_id", &n)], "", &f.key, None)
            }
        }
    }
}

/// What the bench knows of one operation: the handler's recorded calls, and its two raw twins.
struct Measured {
    op: Op,
    calls: Vec<Call>,
    raw: Plan,
    floor: Plan,
    /// The depth of each request looked at (`calls` is the least deep).
    depths: Vec<usize>,
    /// What the handler answered to the request of `calls`.
    answer: Value,
    /// DynamoDB read and write units per request, as the store's capacity interceptor
    /// ([`Heat`]) charged them over the requests looked at.
    units: (f64, f64),
}

/// Whether `body` is what `op` answers on the fixture: the timed loops look at a status
/// only, so what an answer holds is checked here, on the requests whose calls are kept.
fn answers_as_expected(op: Op, f: &Fixture, body: &Value) -> Result<(), String> {
    let ok = match op {
        Op::Retrieve | Op::Update | Op::ByUsername | Op::Lookup => body["id"] == f.client_id.as_str(),
        // Seed 001 names a client by its number.
        Op::Dialect => body["id"] == f.client_number,
        Op::Create => body["id"].as_str().is_some_and(|id| id != f.client_id),
        Op::List => body["data"].as_array().is_some_and(|d| d.len() == 10) && body["total"].as_u64().is_some_and(|t| t >= 10),
    };
    if ok { Ok(()) } else { Err("not the answer the fixture calls for".into()) }
}

/// Records the calls of one request of `op`, and builds its raw twins from them.
async fn measure_calls(app: &'static App, rec: &Recorder, heat: &Heat, db: &aws_sdk_dynamodb::Client, table: &str, f: &Fixture, op: Op) -> Measured {
    // Units are counted over every request made here.
    heat.start();
    // A few requests first: the calls looked at are those of a warm path.
    for _ in 0..DEPTH_REPEATS {
        must(app, op.handler(), &op.event(f)).await;
    }
    // Noise can only make calls look sequential (a call that needs another's answer can
    // never start before it ends), so the trace kept is the least deep of a few requests.
    let mut kept: Option<(Vec<Call>, Value)> = None;
    let mut depths = Vec::new();
    for _ in 0..DEPTH_REPEATS {
        let ev = op.event(f);
        rec.start(true);
        let body = must(app, op.handler(), &ev).await;
        let calls = rec.stop();
        if let Err(why) = answers_as_expected(op, f, &body) {
            fail(format!("{}: {why}: {body}", op.name()));
        }
        depths.push(trace::depth(&calls));
        if kept.as_ref().is_none_or(|(k, _)| trace::depth(&calls) < trace::depth(k)) {
            kept = Some((calls, body));
        }
    }
    let log = heat.stop();
    if let Some(why) = log.unreadable.first() {
        fail(format!("{}: the capacity count could not read a request: {why}", op.name()));
    }
    let counted = log.totals().values().fold(clientele::store::access::Counts::default(), |mut all, c| {
        all.add(c);
        all
    });
    let n = (2 * DEPTH_REPEATS) as f64;
    let units = (counted.read_units / n, counted.write_units / n);
    let (calls, body) = kept.expect("at least one request");
    if std::env::var_os("BENCH_TRACE").is_some() {
        let t0 = calls.iter().map(|c| c.start).min();
        for c in &calls {
            let at = |t: Instant| t0.map_or(0.0, |t0| (t - t0).as_secs_f64() * 1000.0);
            eprintln!("  {:<16} {:<20} {:8.3} .. {:8.3} ms", op.name(), c.op, at(c.start), at(c.end));
        }
    }
    let fresh = match op {
        Op::Create => create_fresh(&calls, &body),
        Op::Update => Fresh::Version { event_id: tx_pk(&calls, "EVENT#").unwrap_or_default() },
        _ => Fresh::None,
    };
    let raw = Plan::replay(db, &calls, fresh.clone());
    let floor = floor_plan(db, table, op, &calls, fresh);
    Measured { op, calls, raw, floor, depths, answer: body, units }
}

/// How many requests of each operation the calls table looks at.
const DEPTH_REPEATS: usize = 5;

/// How many functions the retrieve handler's callgrind table shows.
const TOP_FUNCTIONS: usize = 15;

/// The runs of one function over one transport (plain HTTP or TLS).
#[derive(Default)]
struct Series {
    runs: Vec<Run>,
    /// `--cold-raw` from a fresh process before each run, ms (Rust functions only).
    raws: Vec<f64>,
    /// TLS handshakes the proxy completed in each run (TLS runs only).
    handshakes: Vec<usize>,
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

impl Series {
    fn init(&self) -> f64 {
        median(self.runs.iter().map(|r| r.init).collect())
    }

    fn first(&self) -> f64 {
        median(self.runs.iter().map(|r| r.first).collect())
    }

    fn raw(&self) -> Option<f64> {
        (!self.raws.is_empty()).then(|| median(self.raws.clone()))
    }

    fn warm_p50(&self) -> f64 {
        median(self.runs.iter().flat_map(|r| r.warm.clone()).collect())
    }

    fn rss(&self) -> f64 {
        self.runs.iter().map(|r| r.rss).fold(0.0, f64::max)
    }

    /// The process's CPU per warm invocation over every run's window, s.
    fn warm_cpu_s(&self) -> Option<f64> {
        let windows: Vec<cold::WarmCpu> = self.runs.iter().filter_map(|r| r.cpu).collect();
        let n: usize = windows.iter().map(|w| w.invocations).sum();
        (n > 0).then(|| windows.iter().map(|w| w.per_invocation_s() * w.invocations as f64).sum::<f64>() / n as f64)
    }
}

/// One function's cold starts (both transports) and its warm CPU run.
struct Cold<'a> {
    name: &'a str,
    op: Op,
    peer: bool,
    plain: Series,
    tls: Series,
    cpu_run: Run,
}

impl Cold<'_> {
    /// The largest high-water mark of all its processes, MB.
    fn rss(&self) -> f64 {
        self.plain.rss().max(self.tls.rss()).max(self.cpu_run.rss)
    }

    /// Mean wall time of the warm CPU run's warm invocations, ms.
    fn warm_wall_ms(&self) -> f64 {
        let w = &self.cpu_run.warm;
        if w.is_empty() { f64::NAN } else { w.iter().sum::<f64>() / w.len() as f64 }
    }
}

/// The least depth a plan shows over DEPTH_REPEATS runs, and its calls then.
async fn plan_shape(rec: &Recorder, plan: &Plan) -> (usize, usize) {
    let mut best: Option<(usize, usize)> = None;
    for _ in 0..DEPTH_REPEATS {
        rec.start(false);
        if let Err(e) = plan.run().await {
            fail(e);
        }
        let c = rec.stop();
        let d = trace::depth(&c);
        if best.is_none_or(|(_, bd)| d < bd) {
            best = Some((c.len(), d));
        }
    }
    best.expect("at least one run")
}

/// The key after `prefix` of the first item of the recorded transaction whose pk starts with it.
fn tx_pk(calls: &[Call], prefix: &str) -> Option<String> {
    calls.iter().filter(|c| c.op == "TransactWriteItems").find_map(|c| {
        c.body["TransactItems"].as_array()?.iter().find_map(|t| {
            let op = t.as_object()?.values().next()?;
            let pk = op.pointer("/Item/pk/S").or_else(|| op.pointer("/Key/pk/S"))?.as_str()?;
            pk.strip_prefix(prefix).map(str::to_owned)
        })
    })
}

/// A create's transaction made new for each run: id, name, email, key hash, number and event id.
fn create_fresh(calls: &[Call], created: &Value) -> Fresh {
    let olds = (
        created["id"].as_str().unwrap_or_default().to_owned(),
        created["name"].as_str().unwrap_or_default().to_owned(),
        created["email"].as_str().unwrap_or_default().to_owned(),
        tx_pk(calls, "CLIENTKEY#").unwrap_or_default(),
        created["number"].as_u64().unwrap_or_default().to_string(),
        tx_pk(calls, "EVENT#").unwrap_or_default(),
    );
    Fresh::Values(Arc::new(move || {
        let (id, name, email, hash, number, event) = &olds;
        // A client's id is made from its number (what the create handler does).
        let new_number = clientele::domain::new_number();
        vec![
            (id.clone(), clientele::store::Numbered::Client.id(new_number)),
            (event.clone(), clientele::domain::new_id()),
            (name.clone(), unique("r")),
            (email.clone(), format!("{}@example.com", unique("r"))),
            (hash.clone(), clientele::secrets::sha256_hex(&unique("k"))),
            (number.clone(), new_number.to_string()),
        ]
    }))
}

/// The floor: the handler's reads (by key prefix) and its Query and transaction, in the
/// fewest sequential round trips the operation can need (goals::FLOORS).
fn floor_plan(db: &aws_sdk_dynamodb::Client, table: &str, op: Op, calls: &[Call], fresh: Fresh) -> Plan {
    let reads: Vec<Item> = calls.iter().flat_map(replay::point_reads).map(|(_, k)| k).collect();
    let mut placed = vec![false; reads.len()];
    let mut take = |prefixes: &[&str]| -> Vec<Item> {
        let mut out = Vec::new();
        for (i, k) in reads.iter().enumerate() {
            if !placed[i] && prefixes.iter().any(|p| replay::pk(k).starts_with(p)) {
                placed[i] = true;
                out.push(k.clone());
            }
        }
        out
    };
    let grant = take(&["KEYHASH#"]);
    let query = calls.iter().find(|c| c.op == "Query").map(|c| replay::request(db, c));
    let tx = calls.iter().find(|c| c.op == "TransactWriteItems").map(|c| replay::request(db, c));
    let mut steps = vec![Step { req: replay::read(db, table, grant), deps: vec![] }];
    let push = |req: Option<Req>, deps: Vec<usize>, steps: &mut Vec<Step>| -> usize {
        if let Some(req) = req {
            steps.push(Step { req, deps });
        }
        steps.len() - 1
    };
    let nonempty = |keys: Vec<Item>| (!keys.is_empty()).then(|| replay::read(db, table, keys));
    match op {
        Op::Retrieve | Op::Dialect => {
            push(nonempty(take(&["PARTNER#", "CLIENT#"])), vec![0], &mut steps);
        }
        Op::Update => {
            let s = push(nonempty(take(&["PARTNER#", "CLIENT#"])), vec![0], &mut steps);
            push(tx, vec![s], &mut steps);
        }
        Op::Create => {
            let s = push(nonempty(take(&["PARTNER#"])), vec![0], &mut steps);
            push(tx, vec![s], &mut steps);
        }
        Op::List => {
            push(nonempty(take(&["PARTNER#", "COUNT#"])), vec![0], &mut steps);
            let q = push(query, vec![0], &mut steps);
            push(nonempty(take(&["CLIENT#", "USAGE#"])), vec![q], &mut steps);
        }
        Op::ByUsername | Op::Lookup => {
            let s = push(nonempty(take(&["PARTNER#", "UNIQUE#USERNAME#", "CLIENTKEY#"])), vec![0], &mut steps);
            push(nonempty(take(&["CLIENT#"])), vec![s], &mut steps);
        }
    }
    let mut left_out: Vec<String> = reads
        .iter()
        .zip(&placed)
        .filter(|(_, p)| !**p)
        .map(|(k, _)| replay::pk(k).split('#').next().unwrap_or_default().to_owned() + "#…")
        .collect();
    left_out.sort();
    left_out.dedup();
    Plan { db: db.clone(), steps, fresh, left_out }
}

/// One side of a timed comparison.
#[derive(Clone, Copy)]
enum Side<'a> {
    Handler(Op, &'a Fixture),
    Plan(&'a Plan),
}

async fn run_side(app: &'static App, side: Side<'_>) {
    match side {
        Side::Handler(op, f) => {
            succeeds(app, op.handler(), &op.request(f)).await;
        }
        Side::Plan(p) => {
            if let Err(e) = p.run().await {
                fail(e);
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Timing {
    p50: f64,
    p99: f64,
}

fn summarize(mut samples: Vec<Duration>) -> Timing {
    samples.sort();
    let at = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1000.0;
    Timing { p50: at(0.5), p99: at(0.99) }
}

/// Times the sides sample by sample, rotating which goes first, after a warm-up.
async fn interleaved(app: &'static App, n: usize, sides: &[Side<'_>]) -> Vec<Timing> {
    for _ in 0..n.min(20) {
        for s in sides {
            run_side(app, *s).await;
        }
    }
    let mut samples = vec![Vec::with_capacity(n); sides.len()];
    for i in 0..n {
        for j in 0..sides.len() {
            let k = (i + j) % sides.len();
            let t = Instant::now();
            run_side(app, sides[k]).await;
            samples[k].push(t.elapsed());
        }
    }
    samples.into_iter().map(summarize).collect()
}

/// User and system CPU time of this process so far, µs.
pub(crate) fn cpu_us() -> (f64, f64) {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    (tv(u.ru_utime), tv(u.ru_stime))
}

/// CPU µs per request of one side: user and system apart.
#[derive(Debug, Clone, Copy, Default)]
struct CpuSplit {
    user: f64,
    system: f64,
}

impl CpuSplit {
    fn total(self) -> f64 {
        self.user + self.system
    }
}

/// CPU µs per request of each side, measured in alternating blocks of `n / 4` requests.
async fn cpu_per_request(app: &'static App, n: usize, sides: &[Side<'_>]) -> Vec<CpuSplit> {
    let block = (n / 4).max(1);
    let mut spent = vec![CpuSplit::default(); sides.len()];
    for _ in 0..4 {
        for (k, s) in sides.iter().enumerate() {
            let before = cpu_us();
            for _ in 0..block {
                run_side(app, *s).await;
            }
            let after = cpu_us();
            spent[k].user += after.0 - before.0;
            spent[k].system += after.1 - before.1;
        }
    }
    let n = (4 * block) as f64;
    spent.into_iter().map(|s| CpuSplit { user: s.user / n, system: s.system / n }).collect()
}

struct Setup {
    app: &'static App,
    rec: Recorder,
    /// Partition heat (the load run's); counts nothing until started.
    heat: Heat,
    db: aws_sdk_dynamodb::Client,
    table: String,
    admin: String,
}

async fn setup() -> Setup {
    let admin = std::env::var("BENCH_ADMIN_KEY").unwrap_or_else(|_| fail("BENCH_ADMIN_KEY (make bench sets it)"));
    let rec = Recorder::default();
    let heat = Heat::default();
    let sdk = clientele::store::sdk_config();
    let db = aws_sdk_dynamodb::Client::from_conf(aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(rec.clone()).interceptor(heat.clone()).build());
    let config = Config::from_env().expect("the stack's environment");
    let table = config.table_name.clone();
    // Widenings take effect at once (`load::Params::width`): this process alone writes the table.
    let app: &'static App = Box::leak(Box::new(App { store: Store::new(db.clone(), table.clone()).with_widen_delay(std::time::Duration::ZERO), config }));
    Setup { app, rec, heat, db, table, admin }
}

/// `--only <op> <n> <handler|raw>`: one operation, n times (for callgrind: instructions
/// of n2 runs minus those of n1 runs, over n2 - n1, leave the set-up out).
async fn only(op: &str, n: usize, side: &str) {
    let s = setup().await;
    let op = Op::parse(op).unwrap_or_else(|| fail(format!("no operation {op}")));
    let f = fixture(s.app, &s.admin, if op == Op::List { 11 } else { 0 }).await;
    let m = measure_calls(s.app, &s.rec, &s.heat, &s.db, &s.table, &f, op).await;
    let side = if side == "raw" { Side::Plan(&m.raw) } else { Side::Handler(op, &f) };
    for _ in 0..n {
        run_side(s.app, side).await;
    }
}

/// `--warm-store`: one call of each kind DynamoDB Local will see, from a process of its own.
async fn warm_store() {
    let sdk = clientele::store::sdk_config();
    let db = aws_sdk_dynamodb::Client::new(&sdk);
    let table = std::env::var("TABLE_NAME").unwrap_or_else(|_| "clientele".into());
    let key = |pk: &str| -> Item { [("pk".to_owned(), AttributeValue::S(pk.into())), ("sk".to_owned(), AttributeValue::S("#".into()))].into() };
    let mut put = key(&format!("WARM#{}", uuid::Uuid::new_v4()));
    put.insert("n".into(), AttributeValue::N("1".into()));
    let r = async {
        db.get_item().table_name(&table).set_key(Some(key("WARM#none"))).consistent_read(true).send().await.map_err(|e| e.to_string())?;
        let ka = aws_sdk_dynamodb::types::KeysAndAttributes::builder().keys(key("WARM#a")).keys(key("WARM#b")).consistent_read(true).build().map_err(|e| e.to_string())?;
        db.batch_get_item().request_items(&table, ka).send().await.map_err(|e| e.to_string())?;
        db.query()
            .table_name(&table)
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", AttributeValue::S("WARM#a".into()))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let w = aws_sdk_dynamodb::types::TransactWriteItem::builder()
            .put(aws_sdk_dynamodb::types::Put::builder().table_name(&table).set_item(Some(put)).build().map_err(|e| e.to_string())?)
            .build();
        db.transact_write_items().transact_items(w).send().await.map_err(|e| e.to_string())?;
        Ok::<_, String>(())
    };
    if let Err(e) = r.await {
        fail(format!("warming the store: {e}"));
    }
}

/// The functions run a current-thread runtime (infra/routes.py's `main`), so the handlers
/// are measured in one too (the load run's concurrent callers as well: they wait on
/// DynamoDB Local, not on this process's CPU).
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
    runtime.unwrap_or_else(|e| fail(format!("the Tokio runtime: {e}"))).block_on(run(args));
}

async fn run(args: Vec<String>) {
    match args.get(1).map(String::as_str) {
        Some("--only") if args.len() == 5 => return only(&args[2], args[3].parse().unwrap_or(1), &args[4]).await,
        Some("--warm-store") => return warm_store().await,
        Some("--load") => return load::main(&setup().await).await,
        Some("--scale-report") => return load::report(&std::env::var("BENCH_ROOT").unwrap_or_else(|_| ".".into())),
        Some("--cold-raw") if args.len() == 3 => return cold_raw(&args[2]).await,
        // From a fresh process: µs for aws-lc's first random bytes, then for the next ones.
        Some("--rng-first") => {
            let rng = tokio_rustls::rustls::crypto::aws_lc_rs::default_provider().secure_random;
            let mut buf = [0u8; 32];
            let mut took = Vec::new();
            for _ in 0..2 {
                let t = Instant::now();
                rng.fill(&mut buf).unwrap_or_else(|e| fail(format!("aws-lc's random bytes: {e:?}")));
                took.push(t.elapsed().as_secs_f64() * 1e6);
            }
            println!("{:.1} {:.1}", took[0], took[1]);
            return;
        }
        // The TLS proxy alone, in front of AWS_ENDPOINT_URL_DYNAMODB, until killed: prints its
        // endpoint and trust-store file (to look at a TLS run by hand), then each second's counts.
        Some("--tls-proxy") => {
            let upstream = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").ok().and_then(|u| u.strip_prefix("http://").map(str::to_owned)).unwrap_or_else(|| fail("AWS_ENDPOINT_URL_DYNAMODB (http://)"));
            let proxy = tls::start(upstream).await.unwrap_or_else(|e| fail(e));
            println!("{} {}", proxy.endpoint(), proxy.bundle.display());
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                eprintln!("{:?} {:?}", proxy.counts(), proxy.negotiated());
            }
        }
        // The depth of each of DEPTH_REPEATS requests of every operation, after a warm-up.
        Some("--depths") => {
            let s = setup().await;
            let f = fixture(s.app, &s.admin, 20).await;
            for op in OPS {
                let m = measure_calls(s.app, &s.rec, &s.heat, &s.db, &s.table, &f, op).await;
                println!("{:<16} {:?}", op.name(), m.depths);
            }
            return;
        }
        // Seeds one tree and says how fast (to size BENCH_SEED_CONCURRENCY for a machine).
        Some("--seed") if args.len() == 3 => {
            let s = setup().await;
            let (_, seeded) = tree(&s, args[2].parse().unwrap_or(1000), env_num("BENCH_SEED_CONCURRENCY", 8)).await;
            let n: f64 = args[2].parse().unwrap_or(1000.0);
            println!("{n} clients in {:.1} s: {:.0}/s, {} retried", seeded.secs, n / seeded.secs, seeded.retried);
            return;
        }
        Some(other) => fail(format!("unknown arguments: {other} (see bench/src/main.rs)")),
        None => {}
    }
    full().await;
}

/// Parameters of a run, each from the environment.
struct Params {
    samples: usize,
    big: usize,
    cpu_n: usize,
    cg: (usize, usize),
    cold_runs: usize,
    warm_invokes: usize,
    /// Warm invocations of the one process per function whose CPU is read.
    cpu_invokes: usize,
    seed_concurrency: usize,
}

impl Params {
    fn from_env() -> Self {
        Self {
            samples: env_num("BENCH_SAMPLES", 300),
            big: env_num("BENCH_LIST_BIG", 100_000),
            cpu_n: env_num("BENCH_CPU_REQUESTS", 400),
            cg: (env_num("BENCH_CALLGRIND_N1", 20), env_num("BENCH_CALLGRIND_N2", 120)),
            cold_runs: env_num("BENCH_COLD_RUNS", 5),
            warm_invokes: env_num("BENCH_WARM_INVOKES", 30),
            cpu_invokes: env_num("BENCH_CPU_INVOKES", 1000),
            seed_concurrency: env_num("BENCH_SEED_CONCURRENCY", 8),
        }
    }
}

async fn full() {
    let p = Params::from_env();
    let root = std::env::var("BENCH_ROOT").unwrap_or_else(|_| ".".into());
    let s = setup().await;
    let (app, rec) = (s.app, &s.rec);
    let mut verdicts = Verdicts::default();
    let mut md = String::new();
    let now = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned()))
        .unwrap_or_default();
    let commit = commit(&root);

    eprintln!("fixtures...");
    let f = fixture(app, &s.admin, 20).await;

    // 1. Calls and sequential depth of each operation, and the raw twins built from them.
    eprintln!("calls and depth...");
    let mut measured = Vec::new();
    for op in OPS {
        measured.push(measure_calls(app, rec, &s.heat, &s.db, &s.table, &f, op).await);
    }
    let mut calls_md = String::from(
        "| operation | route | calls | by kind | stages (measured) | depth (deepest) | floor | depth goal | raw twin: calls / depth | floor twin: calls / depth |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for m in &measured {
        let depth = trace::depth(&m.calls);
        let floor = goals::floor(m.op.name());
        let mut twins = Vec::new();
        for plan in [&m.raw, &m.floor] {
            let (calls, depth) = plan_shape(rec, plan).await;
            twins.push(format!("{calls} / {depth}"));
        }
        let deepest = m.depths.iter().max().copied().unwrap_or(depth);
        let verdict = at_most(depth as f64, floor as f64);
        calls_md.push_str(&format!(
            "| {} | `{}` | {} | {} | {} | {depth} ({deepest}) | {floor} | {verdict} | {} | {} |\n",
            m.op.name(),
            m.op.route(),
            m.calls.len(),
            trace::by_kind(&m.calls),
            trace::stages(&m.calls),
            twins[0],
            twins[1]
        ));
        verdicts.add(format!("{}: sequential round trips ≤ {floor}", m.op.name()), depth.to_string(), verdict);
    }
    let calls_of = |op: Op| measured.iter().find(|m| m.op == op).map_or(0, |m| m.calls.len());
    let (dialect, twin) = (calls_of(Op::Dialect), calls_of(Op::Retrieve));
    verdicts.add("dialect retrieve: calls ≤ its /v1 twin's", format!("{dialect} vs {twin}"), at_most(dialect as f64, twin as f64));
    verdicts.add(format!("retrieve: DynamoDB calls ≤ {}", goals::RETRIEVE_CALLS), twin.to_string(), at_most(twin as f64, goals::RETRIEVE_CALLS));
    verdicts.add(create_units_goal_line(), create_units_measured(), create_units_verdict());
    let mut floors_md = String::new();
    for (op, n, why) in goals::FLOORS {
        let left: Vec<String> = measured.iter().filter(|m| m.op.name() == *op).flat_map(|m| m.floor.left_out.clone()).collect();
        let left = if left.is_empty() { String::new() } else { format!(" (leaves out the handler's read of {})", left.join(", ")) };
        floors_md.push_str(&format!("- **{op}**: {n}: {why}{left}.\n"));
    }

    // 2. Warm latency: handler, raw (same calls), floor, interleaved.
    eprintln!("warm latency ({} samples per side)...", p.samples);
    let mut lat_md = String::from(
        "| operation | handler p50 | raw p50 | floor p50 | handler/raw p50 | handler p99 | raw p99 | floor p99 | handler/raw p99 | handler/floor p50 |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut warm: Vec<(Op, Timing, Timing)> = Vec::new();
    for m in &measured {
        let t = interleaved(app, p.samples, &[Side::Handler(m.op, &f), Side::Plan(&m.raw), Side::Plan(&m.floor)]).await;
        let (h, r, fl) = (t[0], t[1], t[2]);
        lat_md.push_str(&format!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |\n",
            m.op.name(),
            h.p50,
            r.p50,
            fl.p50,
            h.p50 / r.p50,
            h.p99,
            r.p99,
            fl.p99,
            h.p99 / r.p99,
            h.p50 / fl.p50
        ));
        verdicts.add(format!("{}: handler p50 ≤ {}x raw", m.op.name(), goals::P50_VS_RAW), format!("{:.2}x", h.p50 / r.p50), at_most(h.p50 / r.p50, goals::P50_VS_RAW));
        verdicts.add(format!("{}: handler p99 ≤ {}x raw", m.op.name(), goals::P99_VS_RAW), format!("{:.2}x", h.p99 / r.p99), at_most(h.p99 / r.p99, goals::P99_VS_RAW));
        warm.push((m.op, h, r));
    }

    // 3. CPU per request (getrusage) and instructions per request (callgrind).
    eprintln!("CPU per request ({} requests per side)...", p.cpu_n);
    let main3 = [Op::Retrieve, Op::Create, Op::List];
    let mut release_retrieve_ins: Option<f64> = None;
    let mut cpu_md = String::from(
        "| operation | handler CPU µs/request | handler user | handler system | raw CPU µs/request | raw user | raw system | handler − raw (CPU µs) | handler instructions/request (release build) | raw instructions/request (release build) | handler − raw |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let exe = std::env::current_exe().expect("the bench's own path");
    let valgrind = which("valgrind");
    for op in main3 {
        let m = measured.iter().find(|m| m.op == op).unwrap();
        let c = cpu_per_request(app, p.cpu_n, &[Side::Handler(op, &f), Side::Plan(&m.raw)]).await;
        let mut ins = Vec::new();
        for side in ["handler", "raw"] {
            ins.push(match &valgrind {
                Some(v) => {
                    eprintln!("  callgrind: {} {side} ({} and {} requests)...", op.name(), p.cg.0, p.cg.1);
                    instructions(v, &exe, op, side, p.cg).await
                }
                None => None,
            });
        }
        let fmt = |v: Option<f64>| v.map_or("not measured (no valgrind)".to_owned(), |v| format!("{v:.0}"));
        let diff = match (ins[0], ins[1]) {
            (Some(a), Some(b)) => format!("{:.0}", a - b),
            _ => "-".into(),
        };
        cpu_md.push_str(&format!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {} | {diff} |\n",
            op.name(),
            c[0].total(),
            c[0].user,
            c[0].system,
            c[1].total(),
            c[1].user,
            c[1].system,
            c[0].total() - c[1].total(),
            fmt(ins[0]),
            fmt(ins[1])
        ));
        if op == Op::Retrieve {
            verdicts.add(
                format!("retrieve: handler CPU ≤ {} µs per request", goals::RETRIEVE_CPU_US),
                format!("{:.0} µs", c[0].total()),
                at_most(c[0].total(), goals::RETRIEVE_CPU_US),
            );
            release_retrieve_ins = ins[0];
            verdicts.add(
                format!("retrieve: handler instructions ≤ {} M per request", goals::RETRIEVE_MILLION_INSTRUCTIONS),
                ins[0].map_or_else(|| "not measured".to_owned(), |i| format!("{:.2} M", i / 1e6)),
                ins[0].map_or_else(|| "not measured".to_owned(), |i| at_most(i / 1e6, goals::RETRIEVE_MILLION_INSTRUCTIONS)),
            );
        }
    }
    // The retrieve handler's top functions, from the profiling build (symbols and line tables).
    let top_md = match (&valgrind, std::env::var("BENCH_PROFILING_BIN").ok().filter(|b| Path::new(b).is_file())) {
        (None, _) => "Not measured: valgrind is not installed.\n".to_owned(),
        (Some(_), None) => "Not measured: no profiling build (BENCH_PROFILING_BIN names none; `make bench` builds `--profile profiling`).\n".to_owned(),
        (Some(v), Some(bin)) => {
            eprintln!("  callgrind: retrieve handler, profiling build, top functions...");
            match callgrind::top(v, Path::new(&bin), &Op::Retrieve.name().replace(' ', "-"), "handler", p.cg, TOP_FUNCTIONS).await {
                Ok(t) => callgrind::table(&t, release_retrieve_ins, p.cg),
                Err(e) => fail(format!("callgrind of the profiling build: {e}")),
            }
        }
    };

    // 4. List scaling.
    let scaling_md = scaling(&s, &p, &mut verdicts).await;

    // 5. Partition heat: the load run's short form (`make load` runs it whole). Before the
    // cold starts: the Python peer writes platform-wide list entries of its own shape
    // (random ids, no partner names), which the admin's list page of the run would read.
    let lp = load::Params::short();
    eprintln!("partition heat (the load run, {} s)...", lp.seconds);
    let figures = load::run(&s, &lp).await;
    let mut heat_md = format!(
        "\n## Partition heat (a short load run)\n\n`make load`'s run in short ({} partners, {} of them large and taking {:.0} % of the traffic; {} callers; {:.0} s of the mix, then {:.0} s of creates into one large partner; the platform's and the large partners' lists {} partitions wide, as throttles widen them): the hottest partition key's units per request, scaled to the targets, as a share of what one partition takes ({:.0} write units, {:.0} read units a second). `make load` runs it whole and writes `docs/SCALE.md`.\n\n| scenario | hottest key | share of its limit | verdict |\n|---|---|---|---|\n",
        lp.partners, lp.big, lp.big_share * 100.0, lp.tasks, lp.seconds, lp.create_seconds, lp.width, scale::WRITE_LIMIT, scale::READ_LIMIT
    );
    for (scenario, rate, what) in [
        ("mix", scale::TARGET_RPS, format!("the mix at {} requests/s", scale::TARGET_RPS)),
        ("creates", scale::TARGET_CREATES, format!("{} creates/s into one partner", scale::TARGET_CREATES)),
    ] {
        let (key, share) = scale::hottest(&figures, scenario, rate).unwrap_or_else(|| fail("the load run counted no partition"));
        let verdict = at_most(share, goals::PARTITION_SHARE);
        heat_md.push_str(&format!("| {what} | `{key}` | {:.1} % | {verdict} |\n", share * 100.0));
        verdicts.add(format!("hottest partition key, {what}: ≤ 100 % of its limit"), format!("`{key}` {:.0} %", share * 100.0), verdict);
    }

    // 6. Cold start over plain HTTP and over TLS, warm invocations, the function process's
    // own CPU over them, memory, and the Python peer.
    eprintln!("cold starts (plain HTTP and over TLS) and warm CPU...");
    let upstream = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .ok()
        .and_then(|u| u.strip_prefix("http://").map(|h| h.trim_end_matches('/').to_owned()))
        .unwrap_or_else(|| fail("AWS_ENDPOINT_URL_DYNAMODB is not a plain http:// endpoint (make bench sets it)"));
    let proxy = tls::start(upstream).await.unwrap_or_else(|e| fail(format!("the TLS proxy: {e}")));
    let bundle = proxy.bundle.display().to_string();
    // Every run gets the same trust store, a single file (the system bundle and the proxy's
    // root), and no certificate directory: the SDK loads it at init over plain HTTP too.
    let plain_env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| !k.starts_with("AWS_LAMBDA") && !k.starts_with("BENCH") && !matches!(k.as_str(), "SSL_CERT_FILE" | "SSL_CERT_DIR" | "AWS_CA_BUNDLE"))
        .chain([("SSL_CERT_FILE".to_owned(), bundle.clone())])
        .collect();
    // Over TLS: DynamoDB at https://localhost:<the proxy>, the same file for boto3 too.
    let tls_env: Vec<(String, String)> = plain_env
        .iter()
        .filter(|(k, _)| k != "AWS_ENDPOINT_URL_DYNAMODB")
        .cloned()
        .chain([("AWS_ENDPOINT_URL_DYNAMODB".to_owned(), proxy.endpoint()), ("AWS_CA_BUNDLE".to_owned(), bundle.clone())])
        .collect();
    let release = Path::new(&root).join("target/release");
    let python = Path::new(&root).join(".tools/venv/bin/python").display().to_string();
    let peer = Path::new(&root).join("bench/peer/clients.py").display().to_string();
    let functions: Vec<(&str, Op, Vec<String>)> = vec![
        ("get-client", Op::Retrieve, vec![release.join("get-client").display().to_string()]),
        ("get-client (Python peer)", Op::Retrieve, vec![python.clone(), peer.clone()]),
        ("create-client", Op::Create, vec![release.join("create-client").display().to_string()]),
        ("create-client (Python peer)", Op::Create, vec![python.clone(), peer.clone()]),
        ("list-clients", Op::List, vec![release.join("list-clients").display().to_string()]),
        ("list-clients (Python peer)", Op::List, vec![python, peer]),
    ];
    // The peer's clients are not the handlers' shape: it gets a partner of its own.
    let peer_fixture = fixture(app, &s.admin, 20).await;
    let mut cold: Vec<Cold> = Vec::new();
    for (name, op, cmd) in &functions {
        let is_peer = name.contains("Python");
        let f = if is_peer { &peer_fixture } else { &f };
        let file = (!is_peer).then(|| raw_file(measured.iter().find(|m| m.op == *op).expect("measured")));
        let (mut plain, mut over_tls) = (Series::default(), Series::default());
        for i in 0..p.cold_runs {
            // Plain and TLS alternate, the first of each pair rotating, so drift touches both alike.
            let order = if i % 2 == 0 { [false, true] } else { [true, false] };
            for tls_run in order {
                let (env, series) = if tls_run { (&tls_env, &mut over_tls) } else { (&plain_env, &mut plain) };
                if let Some(file) = &file {
                    warm_store_process(&exe, env).await;
                    series.raws.push(cold_raw_process(&exe, env, file).await);
                }
                warm_store_process(&exe, env).await;
                let events: Vec<String> = (0..p.warm_invokes.max(1)).map(|_| op.event(f)).collect();
                let before = proxy.counts();
                let run = match cold::run(cmd, env, events).await {
                    Ok(Run { failed: Some(body), .. }) => fail(format!("{name}: a response was not 2xx: {body}")),
                    Ok(r) => r,
                    Err(e) => fail(format!("{name}: {e}")),
                };
                let after = proxy.counts();
                if tls_run {
                    // A TLS figure that went over plain HTTP would be a lie: the proxy must have
                    // completed a handshake with this process, and refused none.
                    if after.handshakes == before.handshakes {
                        fail(format!("{name}: a TLS run made no TLS connection through the proxy"));
                    }
                    if after.failed > before.failed {
                        fail(format!("{name}: {} TLS handshakes with the proxy failed", after.failed - before.failed));
                    }
                    series.handshakes.push(after.handshakes - before.handshakes);
                } else if after.accepted != before.accepted {
                    fail(format!("{name}: a plain-HTTP run connected to the TLS proxy"));
                }
                if std::env::var_os("BENCH_TRACE").is_some() {
                    eprintln!(
                        "  {name} {}: init {:.1} ms, first response {:.1} ms, raw {}",
                        if tls_run { "TLS" } else { "plain" },
                        run.init,
                        run.first,
                        series.raws.last().map_or("-".to_owned(), |r| format!("{r:.1} ms"))
                    );
                }
                series.runs.push(run);
            }
        }
        // The warm CPU: one process over plain HTTP, its first invocation, then BENCH_CPU_INVOKES
        // warm ones, its CPU read after the first response and after the last.
        warm_store_process(&exe, &plain_env).await;
        let events: Vec<String> = (0..=p.cpu_invokes.max(1)).map(|_| op.event(f)).collect();
        let cpu_run = match cold::run(cmd, &plain_env, events).await {
            Ok(Run { failed: Some(body), .. }) => fail(format!("{name}: a response was not 2xx: {body}")),
            Ok(r) => r,
            Err(e) => fail(format!("{name}: {e}")),
        };
        if let Some(file) = &file {
            let _ = std::fs::remove_file(file);
        }
        cold.push(Cold { name, op: *op, peer: is_peer, plain, tls: over_tls, cpu_run });
    }
    let (tls_counts, negotiated) = (proxy.counts(), proxy.negotiated());
    // A control: get-client over TLS with a trust store that lacks the proxy's root must be
    // refused (no handshake completed, at least one failed) and answer an error; else the
    // TLS runs would show nothing about the certificate checks.
    let control = {
        let system_only = match &proxy.system_bundle {
            Some(b) => b.clone(),
            None => {
                let empty = std::env::temp_dir().join(format!("clientele-bench-empty-{}.pem", std::process::id()));
                std::fs::write(&empty, "").unwrap_or_else(|e| fail(format!("{}: {e}", empty.display())));
                empty.display().to_string()
            }
        };
        let untrusting: Vec<(String, String)> = tls_env
            .iter()
            .map(|(k, v)| if k == "SSL_CERT_FILE" || k == "AWS_CA_BUNDLE" { (k.clone(), system_only.clone()) } else { (k.clone(), v.clone()) })
            .collect();
        warm_store_process(&exe, &tls_env).await;
        let before = proxy.counts();
        let r = cold::run(&functions[0].2, &untrusting, vec![Op::Retrieve.event(&f)]).await;
        let after = proxy.counts();
        let refused = after.failed - before.failed;
        match r {
            Ok(Run { failed: Some(body), .. }) if after.handshakes == before.handshakes && refused > 0 => format!(
                "Control: get-client over TLS with a trust store lacking the proxy's root (the system bundle alone) was refused: {refused} failed handshakes, none completed, and it answered {}.",
                serde_json::from_str::<Value>(&body).ok().and_then(|v| v["statusCode"].as_u64()).map_or("an error".to_owned(), |c| format!("status {c}"))
            ),
            Ok(_) => fail(format!(
                "get-client over TLS without the proxy's root in its trust store did not fail ({} handshakes completed, {refused} failed): the TLS runs would not show certificate checks",
                after.handshakes - before.handshakes
            )),
            Err(e) => fail(format!("the TLS control run: {e}")),
        }
    };
    // What a TLS client's first handshake needs before its hello: random bytes from aws-lc,
    // whose generator seeds itself on first use. From fresh processes, first and next call.
    let mut rng_first = Vec::new();
    let mut rng_next = Vec::new();
    for _ in 0..p.cold_runs.max(1) {
        let out = tokio::process::Command::new(&exe).arg("--rng-first").env_clear().envs(plain_env.iter().cloned()).output().await;
        let text = out.ok().filter(|o| o.status.success()).map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
        let mut v = text.split_whitespace().filter_map(|x| x.parse::<f64>().ok());
        match (v.next(), v.next()) {
            (Some(a), Some(b)) => {
                rng_first.push(a);
                rng_next.push(b);
            }
            _ => fail("clientele-bench --rng-first failed"),
        }
    }
    let rng_note = format!(
        "In a fresh process (`clientele-bench --rng-first`, median of {}), aws-lc's first random bytes (a TLS client needs some for its first hello) took {:.1} ms (its generator seeding itself); the next ones {:.0} µs.",
        rng_first.len(),
        median(rng_first) / 1000.0,
        median(rng_next)
    );
    let mut cold_md = String::from(
        "| function | init ms (median) | first response ms (median) | its calls from a fresh process, SDK alone (ms, median) | first response − those | warm ms p50 | peak RSS MB (max of all its processes, TLS and warm CPU runs included) |\n|---|---|---|---|---|---|---|\n",
    );
    let mut tls_md = String::from(
        "| function | init ms, plain / TLS (median) | first response ms, plain HTTP (median) | first response ms, TLS (median) | TLS − plain | its calls from a fresh process over TLS, SDK alone (ms, median) | first response over TLS − those | warm ms p50, plain / TLS | warm CPU µs per invocation, plain / TLS (cold runs' windows) | TLS handshakes per run (proxy's count) |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut warm_cpu_md = String::from(
        "| function | warm invocations | wall ms per warm invocation (mean) | CPU µs per warm invocation | user µs (stat) | system µs (stat) | utime + stime µs (stat) | stat's resolution (µs per invocation, each of user and system) | CPU figure from |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    let ms1 = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
    for c in &cold {
        let (plain, t) = (&c.plain, &c.tls);
        cold_md.push_str(&format!(
            "| {} | {:.1} | {:.1} | {} | {} | {:.2} | {:.1} |\n",
            c.name,
            plain.init(),
            plain.first(),
            ms1(plain.raw()),
            ms1(plain.raw().map(|r| plain.first() - r)),
            plain.warm_p50(),
            c.rss()
        ));
        let cpu_us = |s: &Series| s.warm_cpu_s().map_or("not measured".to_owned(), |v| format!("{:.0}", v * 1e6));
        tls_md.push_str(&format!(
            "| {} | {:.1} / {:.1} | {:.1} | {:.1} | {:+.1} | {} | {} | {:.2} / {:.2} | {} / {} | {} |\n",
            c.name,
            plain.init(),
            t.init(),
            plain.first(),
            t.first(),
            t.first() - plain.first(),
            ms1(t.raw()),
            ms1(t.raw().map(|r| t.first() - r)),
            plain.warm_p50(),
            t.warm_p50(),
            cpu_us(plain),
            cpu_us(t),
            t.handshakes.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        ));
        match c.cpu_run.cpu {
            Some(w) => {
                let per = |v: f64| v * 1e6 / w.invocations as f64;
                warm_cpu_md.push_str(&format!(
                    "| {} | {} | {:.2} | {:.0} | {:.0} | {:.0} | {:.0} | ±{:.0} | {} |\n",
                    c.name,
                    w.invocations,
                    c.warm_wall_ms(),
                    w.per_invocation_s() * 1e6,
                    per(w.user_s),
                    per(w.system_s),
                    per(w.user_s + w.system_s),
                    per(w.tick_s),
                    if w.exact_s.is_some() { "the scheduler's runtime of its threads (schedstat)" } else { "utime + stime (a thread ended in the window)" }
                ));
            }
            None => warm_cpu_md.push_str(&format!("| {} | 0 | - | not measured (no warm invocation) | - | - | - | - | - |\n", c.name)),
        }
    }
    let tls_note = format!(
        "TLS: the proxy listened on 127.0.0.1{} port {}; trust store `SSL_CERT_FILE` (and `AWS_CA_BUNDLE` for boto3) of {} certificates ({} and the proxy's root); over the runs above (the store warming and `--cold-raw` processes' included) it accepted {} connections and completed {} handshakes ({} failed); negotiated (protocol, cipher suite, key exchange): {}.",
        if proxy.v6 { " and ::1," } else { "," },
        proxy.port,
        proxy.certificates,
        proxy.system_bundle.as_deref().map_or("no system bundle found".to_owned(), |b| format!("`{b}`")),
        tls_counts.accepted,
        tls_counts.handshakes,
        tls_counts.failed,
        negotiated.join("; ")
    );
    for c in cold.iter().filter(|c| !c.peer) {
        let name = c.name;
        let peer = cold.iter().find(|p| p.peer && p.op == c.op);
        let (init, first, rss) = (c.plain.init(), c.plain.first(), c.rss());
        verdicts.add(format!("{name}: init ≤ {} ms", goals::INIT_MS), format!("{init:.1} ms"), at_most(init, goals::INIT_MS));
        verdicts.add(format!("{name}: first response ≤ {} ms", goals::FIRST_RESPONSE_MS), format!("{first:.1} ms"), at_most(first, goals::FIRST_RESPONSE_MS));
        if c.op == Op::Retrieve {
            let tls_first = c.tls.first();
            verdicts.add(
                format!("{name}: first response over TLS ≤ {} ms", goals::TLS_FIRST_RESPONSE_MS),
                format!("{tls_first:.1} ms"),
                at_most(tls_first, goals::TLS_FIRST_RESPONSE_MS),
            );
        }
        if let Some(pf) = peer.map(|p| p.plain.first()) {
            verdicts.add(
                format!("{name}: first response ≥ {}x faster than the Python peer", goals::PEER_SPEEDUP),
                format!("{:.1}x", pf / first),
                at_least(pf / first, goals::PEER_SPEEDUP),
            );
        }
        if c.op == Op::Retrieve {
            let ours = c.cpu_run.cpu.map(|w| w.per_invocation_s());
            let theirs = peer.and_then(|p| p.cpu_run.cpu).map(|w| w.per_invocation_s());
            let ratio = match (ours, theirs) {
                (Some(o), Some(t)) if o > 0.0 => t / o,
                _ => f64::NAN,
            };
            verdicts.add(
                format!("{name}: warm invocation's CPU (the process's, per warm invocation) ≥ {}x less than the Python peer's", goals::WARM_CPU_VS_PEER),
                match (ours, theirs) {
                    (Some(o), Some(t)) => format!("{ratio:.1}x ({:.0} µs vs {:.0} µs)", o * 1e6, t * 1e6),
                    _ => "not measured".to_owned(),
                },
                at_least(ratio, goals::WARM_CPU_VS_PEER),
            );
        }
        // No reading of the process's high-water mark is no figure (0 would read as met).
        let rss = if rss > 0.0 { rss } else { f64::NAN };
        let measured = if rss.is_nan() { "not measured".to_owned() } else { format!("{rss:.1} MB") };
        verdicts.add(format!("{name}: peak RSS ≤ {} MB", goals::PEAK_RSS_MB), measured, at_most(rss, goals::PEAK_RSS_MB));
    }

    // 7. Binary sizes.
    let mut size_md = String::from("| function | size (MB) |\n|---|---|\n");
    for name in ["get-client", "create-client", "list-clients", "deliver-webhooks"] {
        match std::fs::metadata(release.join(name)) {
            Ok(m) => {
                let mb = m.len() as f64 / 1_048_576.0;
                size_md.push_str(&format!("| {name} | {mb:.2} |\n"));
                verdicts.add(format!("{name}: release binary ≤ {} MB", goals::BINARY_MB), format!("{mb:.2} MB"), at_most(mb, goals::BINARY_MB));
            }
            Err(e) => fail(format!("{name}: {e} (make bench builds it)")),
        }
    }

    // 8. What a request costs on AWS, and the MemorySize of each function (cost.rs).
    let mut choices: Vec<cost::Choice> = Vec::new();
    for c in &cold {
        let base = c.name.split(' ').next().unwrap_or(c.name);
        let Some(goal) = goals::memory_latency_goal(base) else { continue };
        let cold_goal = if c.op == Op::Retrieve { goals::TLS_FIRST_RESPONSE_MS } else { goals::FIRST_RESPONSE_MS };
        let Some(w) = c.cpu_run.cpu else { continue };
        let model = cost::Model { wall_ms: c.warm_wall_ms(), cpu_ms: w.per_invocation_s() * 1000.0, rss_mb: c.rss(), cold_first_ms: c.tls.first() };
        choices.push(cost::choose(c.name, goal, cold_goal, model));
    }
    for ch in choices.iter().filter(|ch| !ch.function.contains("Python")) {
        verdicts.add(
            format!("{}: modelled warm duration at its chosen MemorySize ({:.0} MB) ≤ {} ms", ch.function, ch.chosen.memory_mb, ch.goal_ms),
            format!("{:.2} ms", ch.chosen.modelled_ms),
            at_most(ch.chosen.modelled_ms, ch.goal_ms),
        );
    }
    let ours: Vec<cost::Choice> = choices.iter().filter(|ch| !ch.function.contains("Python")).cloned().collect();
    let memory_file = Path::new(&root).join("bench/memory.json");
    let memory_text = serde_json::to_string_pretty(&cost::memory_json(&ours)).expect("sizes serialize") + "\n";
    std::fs::write(&memory_file, &memory_text).unwrap_or_else(|e| fail(format!("{}: {e}", memory_file.display())));
    let choice_of = |name: &str| choices.iter().find(|ch| ch.function == name).cloned();
    let units_of = |op: Op| measured.iter().find(|m| m.op == op).map(|m| m.units);
    let measured_here = format!("this run ({} requests, the store's capacity count)", 2 * DEPTH_REPEATS);
    let mut rows: Vec<cost::Row> = Vec::new();
    for op in OPS {
        let function = match op {
            Op::Retrieve => Some("get-client"),
            Op::Create => Some("create-client"),
            Op::List => Some("list-clients"),
            _ => None,
        };
        let no_lambda = match op {
            Op::Dialect => "get-client (its process was run with /v1 events only)".to_owned(),
            _ => "its function's process is not run by the bench".to_owned(),
        };
        rows.push(cost::Row { operation: op.name().to_owned(), lambda: function.and_then(choice_of), mix: None, no_lambda: no_lambda.clone(), units: units_of(op), units_from: measured_here.clone() });
        if let Some(function) = function {
            rows.push(cost::Row {
                operation: format!("{} (Python peer)", op.name()),
                lambda: choice_of(&format!("{function} (Python peer)")),
                mix: None,
                no_lambda,
                units: units_of(op),
                units_from: "assumed: the handler's (the peer's own requests, which differ, were not counted)".to_owned(),
            });
        }
    }
    let mix_units = |f: &Value| -> Option<(f64, f64)> { Some((f["mix"]["read_units"].as_f64()?, f["mix"]["write_units"].as_f64()?)) };
    // A mix's Lambda is modelled from its load run's in-process figures; the Python peer
    // serves only retrieve, create and a list page, so its mix is not priced.
    let mix_row = |operation: String, f: &Value, units_from: String| {
        let mix = cost::mix_lambda(f, &ours);
        let no_lambda = mix.as_ref().err().map_or_else(String::new, |why| format!("not modelled: {why}"));
        cost::Row { operation, lambda: None, mix: mix.ok(), no_lambda, units: mix_units(f), units_from }
    };
    let peer_mix_row = |operation: String| cost::Row {
        operation,
        lambda: None,
        mix: None,
        no_lambda: "not measured: the Python peer serves only retrieve, create and a list page of the mix's nine operations".to_owned(),
        units: None,
        units_from: "-".to_owned(),
    };
    rows.push(mix_row("the load mix".to_owned(), &figures, format!("this run's short load run ({} requests of the mix)", figures["mix"]["requests"])));
    rows.push(peer_mix_row("the load mix (Python peer)".to_owned()));
    let latest_path = Path::new(&root).join("docs/scale/latest.json");
    let latest: Option<Value> = std::fs::read_to_string(&latest_path).ok().and_then(|t| serde_json::from_str(&t).ok());
    let latest_note = match &latest {
        Some(l) => {
            rows.push(mix_row(
                "the load mix (`make load`)".to_owned(),
                l,
                format!(
                    "`docs/scale/latest.json`: `make load` of {} at commit `{}` ({} requests), not this run",
                    l["generated"].as_str().unwrap_or("?"),
                    l["commit"].as_str().unwrap_or("?"),
                    l["mix"]["requests"]
                ),
            ));
            rows.push(peer_mix_row("the load mix (`make load`, Python peer)".to_owned()));
            String::new()
        }
        None => " `docs/scale/latest.json` is missing (or unreadable): `make load`'s mix is not priced here.".to_owned(),
    };

    // The report.
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    md.push_str(&format!(
        "# Benchmarks\n\nRun by `make bench` on {now} at commit `{commit}`; {cores} cores ({cpu}); DynamoDB Local (in memory) on the same machine.\n\n\
         Parameters: BENCH_SAMPLES={} (per side, per operation), BENCH_LIST_BIG={}, BENCH_CPU_REQUESTS={}, BENCH_CALLGRIND_N1={}, BENCH_CALLGRIND_N2={}, BENCH_COLD_RUNS={}, BENCH_WARM_INVOKES={}, BENCH_CPU_INVOKES={}, BENCH_SEED_CONCURRENCY={}.\n\n",
        p.samples, p.big, p.cpu_n, p.cg.0, p.cg.1, p.cold_runs, p.warm_invokes, p.cpu_invokes, p.seed_concurrency
    ));
    md.push_str("## Goals and verdicts\n\nEach goal is declared in `bench/src/goals.rs`; each verdict is this run's measurement against it (the ratio is measured / goal).\n\n");
    md.push_str(&verdicts.table());
    md.push_str(&format!("\n## DynamoDB calls and sequential depth per request\n\nMeasured: an SDK interceptor records when each call started (its operation's first poll) and ended (its answer deserialized); depth is the longest chain of calls each of which started after the previous one ended. Each operation is looked at over {DEPTH_REPEATS} requests: the table shows the least deep (timing can only add apparent depth, never remove it) and, in brackets, the deepest seen. Stages list each depth level's calls. The raw and floor twins' columns are measured the same way.\n\n"));
    md.push_str(&calls_md);
    md.push_str("\nFloors (the fewest sequential round trips each operation can need):\n\n");
    md.push_str(&floors_md);
    md.push_str("\n## Warm latency, in process (ms)\n\n\"raw\" replays the handler's own DynamoDB requests with the SDK alone, with the same dependencies between them; \"floor\" reads the same items in the floor's round trips. The three sides alternate sample by sample.\n\n");
    md.push_str(&lat_md);
    md.push_str("\n## Handler cost per request\n\nCPU: user and system time of the bench process (getrusage) over alternating blocks of requests, divided by their number (DynamoDB Local is another process); the total is the scheduler's exact runtime, its split between user and system the kernel's, sampled at its tick, so over blocks this short the split is approximate. Instructions: `valgrind --tool=callgrind` of `clientele-bench --only <op> <n> <side>` at two request counts, (I(N2) − I(N1)) / (N2 − N1), so set-up cancels out; these are of the release build (the bench's own binary, as stripped as the functions'). The handler side is handed each request as the Runtime API hands it, as JSON text, and parses it as `lambda_http` does; the text of an operation whose request is the same every time (all but create and update) is made once, before the loops, so its making is not counted (reports of commits before `9a66613` counted it: about 60 000 of a retrieve's instructions). The timed and counted requests check only each answer's status, so the bench's own parse of a body is not counted as the handler's (the reports of `822ec92` and before counted it: about 44 000 of a retrieve's instructions, 234 000 of a list page's); not counted, though the runtime's on AWS: the serialization of the answer into Lambda's response.\n\n");
    md.push_str(&cpu_md);
    md.push_str("\n### Where a retrieve's instructions go (the handler side)\n\n");
    md.push_str(&top_md);
    md.push_str(&scaling_md);
    md.push_str("\n## Cold start, warm invocations and memory under a local Lambda Runtime API\n\nBefore each fresh process a separate process (`clientele-bench --warm-store`) makes one call of each kind, so DynamoDB Local's own first-call costs are not the function's. Init: exec to the first `GET .../invocation/next`; first response: exec to the first response; warm: each later invocation, event handed over to response; peak RSS: the process's high-water mark after the last. Beside the first response: the handler's own DynamoDB requests (as recorded in the calls table) made once by a fresh process with the SDK alone (`clientele-bench --cold-raw`, exec to answers in, after the same store warming), and the difference, which is what the function itself adds to a cold start. Plain HTTP to DynamoDB Local; every process is given one trust-store file (`SSL_CERT_FILE`: the system bundle and the TLS proxy's root, no certificate directory), which the SDK loads at init whatever the endpoint's scheme.\n\n");
    md.push_str(&cold_md);
    md.push_str("\nThe Python/boto3 peer (`bench/peer/clients.py`, one function for the three routes) makes the handlers' DynamoDB requests (the same keys; items of similar shape and size) one after another, as most teams would write them.\n");
    md.push_str(&format!(
        "\n## Cold start over TLS\n\nOn AWS every call is HTTPS. Here the same processes are given DynamoDB at `https://localhost:<port>`, the bench's TLS-terminating proxy in front of DynamoDB Local (`bench/src/tls.rs`: a chain made at start, RSA 2048 leaf for localhost and 127.0.0.1 under an RSA 2048 intermediate and root, the shape of DynamoDB's own; the server sends leaf and intermediate), so the first request pays a TCP connect, a TLS handshake and the chain's checks against the trust store. Plain and TLS runs alternate ({} of each per function), the same warming before each; the `--cold-raw` column is the same SDK-alone replay, over TLS. Each TLS run must show the proxy completing at least one handshake, and no failed one, or the run fails (a TLS figure that went over plain HTTP would be a lie); each plain run must not touch the proxy. Warm CPU here: the function process's CPU over the warm invocations of these short runs (as in the next section), pooled over the runs of each transport. The proxy adds a loopback hop to every call over TLS.\n\n",
        p.cold_runs
    ));
    md.push_str(&tls_md);
    md.push_str(&format!("\n{tls_note} {control} {rng_note}\n"));
    md.push_str(&format!(
        "\n## Warm CPU in the function process\n\nOne more fresh process per function, over plain HTTP: its first invocation, then {} warm ones. The Runtime API reads the process's CPU from /proc when the first response comes in and when the last does (each time while the process waits for the answer to its response, so it stands still): the difference over the warm invocations is what one warm invocation costs the CPU, the runtime's own polling included. The CPU figure is the scheduler's exact runtime of the process's threads (`/proc/<pid>/task/*/schedstat`, ns) when every thread lived through the window, else utime + stime. User and system apart come from `/proc/<pid>/stat` (utime, stime), which counts in clock ticks: each is exact to one tick over the window, the resolution column. Wall: the mean warm invocation, event handed over to response. CPU time as this machine's cores spend it (not Graviton's).\n\n",
        p.cpu_invokes
    ));
    md.push_str(&warm_cpu_md);
    md.push_str("\n## Release binary sizes\n\n");
    md.push_str(&size_md);
    md.push_str(&format!(
        "\n## MemorySize\n\nA function's duration at M MB, modelled: its waiting time (warm wall − warm CPU, per invocation, from the warm CPU section; at least 0) plus its CPU time × 1769 / M (below 1 769 MB Lambda gives a function M / 1769 of one vCPU), billed rounded up to 1 ms. For each function the cheapest of {} MB that is at least its peak RSS and whose modelled warm duration meets its latency goal (`goals::MEMORY_LATENCY_GOALS_MS`) is chosen; if none meets it, the fastest. The cold first response is scaled the same way with all of it taken as CPU, the worst case (how much of init and the first request is CPU is not measured): it is shown beside each size and set against the function's first-response goal (get-client's over TLS, {} ms; the others' plain one, {} ms), and does not take part in the choice. The waiting is DynamoDB Local's on this machine, not DynamoDB's. The Python peer is modelled by the same rules, against the goal of the function it stands beside. The chosen sizes are written to `bench/memory.json`: `{}`.\n\n",
        goals::MEMORY_SIZES_MB.iter().map(|m| format!("{m:.0}")).collect::<Vec<_>>().join(", "),
        goals::TLS_FIRST_RESPONSE_MS,
        goals::FIRST_RESPONSE_MS,
        serde_json::to_string(&cost::memory_json(&ours)).unwrap_or_default()
    ));
    md.push_str(&cost::model_table(&choices));
    md.push('\n');
    md.push_str(&cost::memory_table(&choices));
    md.push_str(&format!(
        "\n## Cost per million requests\n\nEach operation's requests priced at list prices as stated here, us-east-1: Lambda arm64 ${} per GB-second (GB = 1 024 MB) and ${:.2} per million requests, at the function's chosen MemorySize and its modelled warm duration billed (no cold starts); API Gateway HTTP API ${:.2} per million requests (the first 300 million's price); DynamoDB on demand ${} per million write request units and ${} per million read request units. No free tier, no data transfer, no logs. DynamoDB units per request are what the store's capacity interceptor (`clientele::store::access::Heat`, DynamoDB's documented rules: 1 write unit per KB, 2 in a transaction; 1 read unit per 4 KB, strongly consistent) charged for the requests of the calls table, measured in this run. The Python peer's DynamoDB units are not measured: its rows assume the handler's (its own requests differ: its retrieve makes three sequential calls, its create writes a transaction of its own design), so only its Lambda figures (modelled by the same rules) are its own; API Gateway is the same price.{latest_note}\n\n",
        goals::PRICE_GB_SECOND,
        goals::PRICE_PER_MILLION_REQUESTS,
        scale::PRICE_HTTP_API_PER_MILLION,
        scale::PRICE_WRITE_UNITS_PER_MILLION,
        scale::PRICE_READ_UNITS_PER_MILLION
    ));
    md.push_str(&cost::cost_table(&rows));
    md.push_str(&heat_md);
    let out = Path::new(&root).join("BENCHMARKS.md");
    let notes = std::fs::read_to_string(Path::new(&root).join("bench/NOTES.md")).unwrap_or_default();
    std::fs::write(&out, format!("{md}\n{notes}")).expect("BENCHMARKS.md is writable");
    println!("{md}");
}

/// The short id of the checkout's HEAD.
/// The commit measured, and whether the tree held changes beside it (the report files a
/// run writes itself aside: BENCHMARKS.md, docs/SCALE.md, docs/scale/, bench/memory.json).
fn commit(root: &str) -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let (Some(hash), Some(status)) = (git(&["rev-parse", "--short", "HEAD"]), git(&["status", "--porcelain"])) else {
        return "unknown (git could not say), tree state unknown".to_owned();
    };
    // What the runs write themselves: `make bench` BENCHMARKS.md and bench/memory.json,
    // `make load` docs/SCALE.md and docs/scale/latest.json (which `make bench` reads too:
    // a bench run says which `make load` run, and at which commit, its two lines come from).
    let reports = ["BENCHMARKS.md", "docs/SCALE.md", "docs/scale/latest.json", "bench/memory.json"];
    let changed = status.lines().any(|l| !reports.iter().any(|r| l.get(3..).is_some_and(|path| path == *r)));
    if changed { format!("{hash}, with uncommitted changes") } else { format!("{hash}, clean tree") }
}

fn which(cmd: &str) -> Option<String> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths).map(|p| p.join(cmd)).find(|p| p.is_file()).map(|p| p.display().to_string())
    })
}

/// Instructions per request of one side of one operation, from two callgrind runs.
async fn instructions(valgrind: &str, exe: &Path, op: Op, side: &str, (n1, n2): (usize, usize)) -> Option<f64> {
    let mut counts = Vec::new();
    for n in [n1, n2] {
        let out = tokio::process::Command::new(valgrind)
            .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
            .arg(exe)
            .args(["--only", &op.name().replace(' ', "-"), &n.to_string(), side])
            .output()
            .await
            .ok()?;
        if !out.status.success() {
            fail(format!("callgrind of {} {side} failed: {}", op.name(), String::from_utf8_lossy(&out.stderr)));
        }
        let err = String::from_utf8_lossy(&out.stderr);
        let collected = err.lines().find_map(|l| l.split("Collected :").nth(1)).and_then(|v| v.trim().parse::<f64>().ok())?;
        counts.push(collected);
    }
    Some((counts[1] - counts[0]) / (n2 - n1) as f64)
}

/// Writes what `--cold-raw` needs to replay a handler's calls: each call's request and
/// the calls it waited for, and the handler's answer (a create's old values).
fn raw_file(m: &Measured) -> std::path::PathBuf {
    let deps = trace::ended_before(&m.calls);
    let calls: Vec<Value> = m.calls.iter().zip(deps).map(|(c, d)| json!({ "op": c.op, "body": c.body, "deps": d })).collect();
    let path = std::env::temp_dir().join(format!("clientele-bench-raw-{}-{}.json", m.op.name().replace(' ', "-"), std::process::id()));
    std::fs::write(&path, json!({ "op": m.op.name(), "calls": calls, "answer": m.answer }).to_string()).expect("the temp dir is writable");
    path
}

/// `--cold-raw <file>`: from a fresh process, the handler's calls with the SDK alone, once
/// (what a cold function's first response cannot do without); prints `done` when they are in.
async fn cold_raw(file: &str) {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap_or_else(|e| fail(e))).unwrap_or_else(|e| fail(e));
    let db = aws_sdk_dynamodb::Client::new(&clientele::store::sdk_config());
    let now = Instant::now();
    let calls: Vec<Call> = v["calls"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| Call { op: c["op"].as_str().unwrap_or_default().to_owned(), start: now, end: now, body: c["body"].clone() })
        .collect();
    let deps: Vec<Vec<usize>> = v["calls"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["deps"].as_array().into_iter().flatten().filter_map(|d| d.as_u64().map(|d| d as usize)).collect())
        .collect();
    let fresh = if v["op"] == "create" { create_fresh(&calls, &v["answer"]) } else { Fresh::None };
    let steps = calls.iter().zip(deps).map(|(c, deps)| Step { req: replay::request(&db, c), deps }).collect();
    let plan = Plan { db, steps, fresh, left_out: Vec::new() };
    if let Err(e) = plan.run().await {
        fail(e);
    }
    println!("done");
}

/// Runs `--cold-raw` in a fresh process: ms from exec to its calls being answered.
async fn cold_raw_process(exe: &Path, env: &[(String, String)], file: &Path) -> f64 {
    use tokio::io::AsyncBufReadExt;
    let started = Instant::now();
    let mut child = tokio::process::Command::new(exe)
        .arg("--cold-raw")
        .arg(file)
        .env_clear()
        .envs(env.iter().cloned())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| fail(format!("clientele-bench --cold-raw: {e}")));
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("piped")).lines();
    let line = lines.next_line().await.ok().flatten();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if line.as_deref() != Some("done") || !child.wait().await.is_ok_and(|s| s.success()) {
        fail("clientele-bench --cold-raw failed");
    }
    ms
}

async fn warm_store_process(exe: &Path, env: &[(String, String)]) {
    let status = tokio::process::Command::new(exe).arg("--warm-store").env_clear().envs(env.iter().cloned()).status().await;
    if !status.is_ok_and(|s| s.success()) {
        fail("clientele-bench --warm-store failed");
    }
}

/// A root partner with 10 sub-partners holding `size` clients between them (a fifth live),
/// seeded through the store's create transaction, `concurrency` at a time.
struct Tree {
    /// A key of the root partner.
    key: String,
    root: String,
    sub: String,
}

/// How seeding went: its time, and how many transactions were tried again after contention.
struct Seeded {
    secs: f64,
    retried: usize,
}

async fn tree(s: &Setup, size: usize, concurrency: usize) -> (Tree, Seeded) {
    let app = s.app;
    let root = must(app, Handler::CreatePartner, &event("POST", "/v1/partners", "/v1/partners", &[], "", &s.admin, Some(&json!({ "name": unique("tree") })))).await;
    let rid = root["id"].as_str().unwrap().to_owned();
    let k = must(app, Handler::CreateKey, &event("POST", "/v1/api-keys", "/v1/api-keys", &[], "", &s.admin, Some(&json!({ "partnerId": rid })))).await;
    let mut subs = Vec::new();
    for i in 0..10 {
        let p = must(app, Handler::CreatePartner, &event("POST", "/v1/partners", "/v1/partners", &[], "", &s.admin, Some(&json!({ "name": unique(&format!("sub{i}")), "parentId": rid })))).await;
        subs.push(app.store.partner(p["id"].as_str().unwrap()).await.ok().flatten().unwrap_or_else(|| fail("a sub-partner just created")));
    }
    let root_p = app.store.partner(&rid).await.ok().flatten().unwrap_or_else(|| fail("the root just created"));
    // A template client made by the handler, copied for each seeded one.
    let t = must(app, Handler::Create, &event("POST", "/v1/clients", "/v1/clients", &[], "", &s.admin, Some(&json!({ "name": unique("tpl"), "email": format!("{}@example.com", unique("tpl")), "directPartner": { "id": subs[0].id } })))).await;
    let template = app.store.client(t["id"].as_str().unwrap()).await.ok().flatten().unwrap_or_else(|| fail("the template client"));
    // The template is one of the size: seed the rest.
    let actor = clientele::auth::Actor { kind: clientele::auth::ActorKind::ApiKey, id: "bench-seed".into() };
    let started = Instant::now();
    let done = std::sync::atomic::AtomicUsize::new(1);
    let retried = std::sync::atomic::AtomicUsize::new(0);
    let jobs = (1..size).map(|i| {
        let (template, actor, subs, root_p, done, retried) = (&template, &actor, &subs, &root_p, &done, &retried);
        async move {
            let sub = &subs[i % 10];
            let mut c = template.clone();
            let tag = uuid::Uuid::new_v4().simple().to_string();
            c.email = Some(clientele::domain::values::Email::parse(&format!("s{i}-{tag}@example.com")).unwrap());
            c.name = clientele::domain::values::Name::parse(&format!("seed {i} {tag}")).unwrap();
            c.api_key_hash = clientele::secrets::sha256_hex(&tag);
            c.username = None;
            c.direct_partner = clientele::domain::client::PartnerRef { id: sub.id.clone(), name: sub.name.as_str().to_owned() };
            c.partner = clientele::domain::client::PartnerRef { id: root_p.id.clone(), name: root_p.name.as_str().to_owned() };
            c.direct_partner_number = sub.number;
            c.partner_number = root_p.number;
            c.ancestors = sub.path.clone();
            c.status = if i % 5 == 0 { clientele::domain::client::Status::Live } else { clientele::domain::client::Status::Demo };
            // A number drawn twice is drawn again; a transaction that stayed contended (the
            // counters many seeders add to at once) or timed out is tried again, and counted.
            let mut attempt = 0;
            loop {
                c.number = clientele::domain::new_number();
                c.id = clientele::store::Numbered::Client.id(c.number);
                let e = clientele::events::Event::new(clientele::events::EventType::ClientCreated, &c.ancestors, actor, "bench-seed", json!({}), None);
                match app.store.create_client(&c, &e).await {
                    Ok(()) => break,
                    Err(clientele::ApiError::NumberTaken) if attempt < 20 => {}
                    // An earlier attempt that timed out had been applied after all: its
                    // claims (this client's email and name) are taken by itself.
                    Err(clientele::ApiError::NotFound(_) | clientele::ApiError::Taken { .. }) if attempt > 0 => break,
                    Err(clientele::ApiError::Unavailable(_)) if attempt < 20 => {
                        retried.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(10 << attempt.min(6))).await;
                    }
                    Err(e) => fail(format!("seeding: {e}")),
                }
                attempt += 1;
            }
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if n % 5000 == 0 {
                eprintln!("  {n} clients, {:.0}/s", n as f64 / started.elapsed().as_secs_f64());
            }
        }
    });
    futures::stream::iter(jobs).buffer_unordered(concurrency.max(1)).collect::<Vec<()>>().await;
    let secs = started.elapsed().as_secs_f64();
    let retried = retried.load(std::sync::atomic::Ordering::Relaxed);
    (Tree { key: k["key"].as_str().unwrap().to_owned(), root: rid, sub: subs[1].id.clone() }, Seeded { secs, retried })
}

/// The list shapes at 100 clients and at BENCH_LIST_BIG, interleaved sample by sample.
async fn scaling(s: &Setup, p: &Params, verdicts: &mut Verdicts) -> String {
    eprintln!("seeding a tree of 100 clients and one of {}...", p.big);
    let (small, _) = tree(s, 100, p.seed_concurrency).await;
    let (big, seeded) = tree(s, p.big, p.seed_concurrency).await;
    let seed_secs = seeded.secs;
    let app = s.app;
    let list = |key: &str, query: &str| event("GET", "/v1/clients", "/v1/clients", &[], query, key, None);
    // Page 50 by cursor (limit 2, so the tree of 100 has a page 50): follow 49 cursors.
    let page50 = |key: String| async move {
        let mut cursor = String::new();
        for _ in 0..49 {
            let q = if cursor.is_empty() { "limit=2".to_owned() } else { format!("limit=2&cursor={cursor}") };
            let page = must(app, Handler::List, &list(&key, &q)).await;
            cursor = page["nextCursor"].as_str().unwrap_or_else(|| fail("a tree of 100 has 50 pages of 2")).to_owned();
        }
        format!("limit=2&cursor={cursor}")
    };
    let (small50, big50) = (page50(small.key.clone()).await, page50(big.key.clone()).await);
    // Each shape with the size of its pages: every shape's are full at both sizes.
    let shapes: Vec<(&str, usize, String, String)> = vec![
        ("page 1 (limit 10)", 10, list(&small.key, "limit=10"), list(&big.key, "limit=10")),
        ("the root's subtree (partner filter naming the root)", 10, list(&small.key, &format!("limit=10&partner={}", small.root)), list(&big.key, &format!("limit=10&partner={}", big.root))),
        ("one sub-partner's subtree (partner filter)", 10, list(&small.key, &format!("limit=10&partner={}", small.sub)), list(&big.key, &format!("limit=10&partner={}", big.sub))),
        ("status=live", 10, list(&small.key, "limit=10&status=live"), list(&big.key, "limit=10&status=live")),
        ("page 50 by cursor (limit 2)", 2, list(&small.key, &small50), list(&big.key, &big50)),
    ];
    let mut md = format!(
        "\n## A list page as the tree grows\n\nTwo trees: a root partner with 10 sub-partners holding 100 clients between them, and one holding {}; a fifth of each are live. Seeding the {} through the store's create transaction, {} at a time, took {seed_secs:.0} s ({:.0} clients/s; {} transactions tried again after contention). Both sizes are timed alternately, sample by sample, with the root's key; calls / depth are measured as in the calls table (the root's key sees clients of its sub-partners).\n\n| shape | total at 100 | total at {} | calls / depth at 100 | calls / depth at {} | p50 at 100 (ms) | p50 at {} (ms) | ratio p50 | p99 at 100 | p99 at {} | ratio p99 |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
        p.big,
        p.big,
        p.seed_concurrency,
        p.big as f64 / seed_secs,
        seeded.retried,
        p.big,
        p.big,
        p.big,
        p.big
    );
    for (name, size, small_ev, big_ev) in &shapes {
        let totals = (must(app, Handler::List, small_ev).await["total"].clone(), must(app, Handler::List, big_ev).await["total"].clone());
        // Calls and depth of this shape at each size (the least deep of a few requests).
        let mut shape = Vec::new();
        for ev in [small_ev, big_ev] {
            let mut best: Option<(usize, usize)> = None;
            for _ in 0..DEPTH_REPEATS {
                s.rec.start(false);
                let page = must(app, Handler::List, ev).await;
                let c = s.rec.stop();
                // The timed loop below looks at the status only: each shape's page is a
                // full one.
                if page["data"].as_array().is_none_or(|d| d.len() != *size) {
                    fail(format!("list {name}: not a page of {size}: {page}"));
                }
                let d = trace::depth(&c);
                if best.is_none_or(|(_, bd)| d < bd) {
                    best = Some((c.len(), d));
                    if std::env::var_os("BENCH_TRACE").is_some() {
                        eprintln!("  {name}: {}", trace::stages(&c));
                    }
                }
            }
            shape.push(best.expect("at least one request"));
        }
        let floor = goals::floor("list page");
        let depth = shape[0].1.max(shape[1].1);
        verdicts.add(format!("list {name}: sequential round trips ≤ {floor}"), depth.to_string(), at_most(depth as f64, floor as f64));
        let most = shape[0].0.max(shape[1].0);
        verdicts.add(
            format!("list {name}: DynamoDB calls ≤ {} at 100 and at {}", goals::LIST_PAGE_CALLS, p.big),
            format!("{} / {}", shape[0].0, shape[1].0),
            at_most(most as f64, goals::LIST_PAGE_CALLS),
        );
        let t = interleaved_events(app, p.samples, small_ev, big_ev).await;
        let (r50, r99) = (t.1.p50 / t.0.p50, t.1.p99 / t.0.p99);
        md.push_str(&format!(
            "| {name} | {} | {} | {} / {} | {} / {} | {:.2} | {:.2} | {r50:.2} | {:.2} | {:.2} | {r99:.2} |\n",
            totals.0, totals.1, shape[0].0, shape[0].1, shape[1].0, shape[1].1, t.0.p50, t.1.p50, t.0.p99, t.1.p99
        ));
        verdicts.add(format!("list {name}: p50 at {} ≤ {}x at 100", p.big, goals::SCALING), format!("{r50:.2}x"), at_most(r50, goals::SCALING));
        verdicts.add(format!("list {name}: p99 at {} ≤ {}x at 100", p.big, goals::SCALING), format!("{r99:.2}x"), at_most(r99, goals::SCALING));
    }
    md
}

async fn interleaved_events(app: &'static App, n: usize, a: &str, b: &str) -> (Timing, Timing) {
    for _ in 0..n.min(20) {
        succeeds(app, Handler::List, a).await;
        succeeds(app, Handler::List, b).await;
    }
    let (mut sa, mut sb) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        let order = if i % 2 == 0 { [(a, 0), (b, 1)] } else { [(b, 1), (a, 0)] };
        for (ev, which) in order {
            let t = Instant::now();
            succeeds(app, Handler::List, ev).await;
            if which == 0 { sa.push(t.elapsed()) } else { sb.push(t.elapsed()) }
        }
    }
    (summarize(sa), summarize(sb))
}

/// The create's write units at depth 2 as `make load` measured them (docs/scale/latest.json,
/// "Write units item by item" in docs/SCALE.md), with that run's commit.
fn create_units_at_depth_2() -> Option<(f64, String)> {
    let root = std::env::var("BENCH_ROOT").unwrap_or_else(|_| ".".into());
    let text = std::fs::read_to_string(Path::new(&root).join("docs/scale/latest.json")).ok()?;
    let figures: Value = serde_json::from_str(&text).ok()?;
    let create = figures["writes"].as_array()?.iter().find(|k| k["kind"] == "create")?;
    Some((create["write_units"].as_f64()?, figures["commit"].as_str().unwrap_or("?").to_owned()))
}

fn create_units_goal_line() -> String {
    format!("create at depth 2: write units ≤ {} (`make load`, docs/SCALE.md)", goals::CREATE_WRITE_UNITS)
}

fn create_units_measured() -> String {
    create_units_at_depth_2().map_or_else(|| "not measured (no `writes` in docs/scale/latest.json)".to_owned(), |(u, commit)| format!("{u:.1} (at `{commit}`)"))
}

fn create_units_verdict() -> String {
    create_units_at_depth_2().map_or_else(|| "not measured".to_owned(), |(u, _)| at_most(u, goals::CREATE_WRITE_UNITS))
}
