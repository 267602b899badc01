//! `make load`: many concurrent callers through the real handlers for a bounded
//! time, with partition heat counted ([`clientele::store::access::Heat`]).
//!
//! Three phases, each measured on its own: every operation of the mix alone (its
//! units per request and handler duration); the mix, spread over many partners with
//! a few very large ones taking most of it; and creates only, into one large
//! partner. Their figures go to `docs/scale/latest.json`, and `scale::render` turns
//! them (and `docs/scale/before.json`, when there) into `docs/SCALE.md`. A request
//! that answers anything but 2xx fails the run before anything is written.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clientele::app::App;
use clientele::store::access::{self, Counts, HeatLog};
use futures::StreamExt;
use rand::Rng;
use rand::seq::SliceRandom;
use serde_json::{Value, json};

use crate::{Handler, Setup, call, event, fail, must, unique};

/// The size and length of a run, from `LOAD_*` (or the bench's short form).
#[derive(Debug, Clone)]
pub struct Params {
    /// How long the mix runs, s.
    pub seconds: f64,
    /// Concurrent callers.
    pub tasks: usize,
    pub partners: usize,
    /// How many of the partners are very large, and the share of the traffic they take.
    pub big: usize,
    pub big_share: f64,
    /// Sub-partners of each large partner; every `sub_every`th other partner has one.
    pub big_subs: usize,
    pub sub_every: usize,
    /// Requests of each operation alone.
    pub op_requests: usize,
    /// How long creates into one partner run, s.
    pub create_seconds: f64,
    /// The list width of the busy scopes (the platform's and each large partner's tree):
    /// what throttles widen them to at the target rates. DynamoDB Local never
    /// throttles, so the run sets it before any of their writes.
    pub width: u32,
}

fn env_f(name: &str, default: f64) -> f64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

impl Params {
    pub fn from_env() -> Self {
        Self {
            seconds: env_f("LOAD_SECONDS", 60.0),
            tasks: crate::env_num("LOAD_TASKS", 32),
            partners: crate::env_num("LOAD_PARTNERS", 200),
            big: crate::env_num("LOAD_BIG", 3),
            big_share: env_f("LOAD_BIG_SHARE", 0.5),
            big_subs: crate::env_num("LOAD_BIG_SUBS", 4),
            sub_every: crate::env_num("LOAD_SUB_EVERY", 10),
            op_requests: crate::env_num("LOAD_OP_REQUESTS", 200),
            create_seconds: env_f("LOAD_CREATE_SECONDS", 15.0),
            width: u32::try_from(crate::env_num("LOAD_WIDTH", 4)).unwrap_or(4),
        }
    }

    /// The short form `make bench` runs.
    pub fn short() -> Self {
        Self {
            seconds: env_f("BENCH_LOAD_SECONDS", 10.0),
            tasks: 16,
            partners: 20,
            big: 3,
            big_share: 0.5,
            big_subs: 2,
            sub_every: 5,
            op_requests: 30,
            create_seconds: 5.0,
            width: u32::try_from(crate::env_num("LOAD_WIDTH", 4)).unwrap_or(4),
        }
    }

    fn json(&self) -> Value {
        json!({
            "seconds": self.seconds, "tasks": self.tasks, "partners": self.partners, "big": self.big, "big_share": self.big_share,
            "big_subs": self.big_subs, "sub_every": self.sub_every, "op_requests": self.op_requests, "create_seconds": self.create_seconds,
            "width": self.width,
        })
    }
}

/// One operation of the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Op {
    /// Into the partner itself or one of its sub-partners, at random.
    Create,
    /// Into the partner itself (the creates-only phase).
    CreateOwn,
    Update,
    Get,
    ListOwn,
    ListAll,
    ListStatus,
    Usage,
    License,
    Events,
}

/// The mix: each operation and its weight (of 100).
const MIX: [(Op, u32); 9] = [
    (Op::Get, 30),
    (Op::Create, 12),
    (Op::Update, 12),
    (Op::ListOwn, 10),
    (Op::ListAll, 3),
    (Op::ListStatus, 5),
    (Op::Usage, 15),
    (Op::License, 8),
    (Op::Events, 5),
];

impl Op {
    fn name(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::CreateOwn => "create, into the partner itself",
            Self::Update => "update",
            Self::Get => "retrieve",
            Self::ListOwn => "list page, own tree",
            Self::ListAll => "list page, admin (platform-wide)",
            Self::ListStatus => "list page, status filter",
            Self::Usage => "record usage",
            Self::License => "license activate / deactivate",
            Self::Events => "event list page",
        }
    }

    fn route(self) -> &'static str {
        match self {
            Self::Create | Self::CreateOwn => "POST /v1/clients",
            Self::Update => "PATCH /v1/clients/{clientId}",
            Self::Get => "GET /v1/clients/{clientId}",
            Self::ListOwn => "GET /v1/clients?limit=10",
            Self::ListAll => "GET /v1/clients?limit=10 (admin key)",
            Self::ListStatus => "GET /v1/clients?limit=10&status=demo",
            Self::Usage => "POST /v1/clients/{clientId}/usage",
            Self::License => "POST /v1/licenses/activate | deactivate",
            Self::Events => "GET /v1/events?limit=10",
        }
    }
}

/// A partner of the run: its key, its scopes (itself, then its sub-partners), its
/// clients (seeded ones carry a quota) and its licenses' keys.
struct Partner {
    key: String,
    scopes: Vec<String>,
    seeded: Vec<String>,
    clients: Mutex<Vec<String>>,
    licenses: Vec<String>,
}

struct State {
    app: &'static App,
    admin: String,
    /// The large partners first.
    partners: Vec<Partner>,
    big: usize,
    big_share: f64,
}

const PERMISSIONS: [&str; 9] = [
    "clients:view",
    "clients:edit",
    "clients:create",
    "clients:remove",
    "licenses:view",
    "licenses:create",
    "webhooks:view",
    "partners:view",
    "partners:create",
];

/// Domains a license is activated and deactivated on (at most its activations).
const DOMAINS: usize = 25;

fn create_body(scope: &str, root: &str) -> Value {
    let mut body = json!({ "name": unique("l"), "email": format!("{}@example.com", unique("e")) });
    if scope != root {
        body["directPartner"] = json!({ "id": scope });
    }
    body
}

fn post(route: &str, path: &str, params: &[(&str, &str)], key: &str, body: &Value) -> String {
    event("POST", route, path, params, "", key, Some(body))
}

/// One partner with its sub-partners, seeded clients (each with a quota) and licenses;
/// its tree's lists `width` partitions wide from before its first client, if given.
async fn partner(app: &'static App, admin: &str, product: &str, subs: usize, seed: usize, licenses: usize, width: Option<u32>) -> Partner {
    let p = must(app, Handler::CreatePartner, &post("/v1/partners", "/v1/partners", &[], admin, &json!({ "name": unique("load") }))).await;
    let root = p["id"].as_str().unwrap_or_default().to_owned();
    let k = must(app, Handler::CreateKey, &post("/v1/api-keys", "/v1/api-keys", &[], admin, &json!({ "partnerId": root, "permissions": PERMISSIONS }))).await;
    let key = k["key"].as_str().unwrap_or_default().to_owned();
    let mut scopes = vec![root.clone()];
    for _ in 0..subs {
        let s = must(app, Handler::CreatePartner, &post("/v1/partners", "/v1/partners", &[], admin, &json!({ "name": unique("sub"), "parentId": root }))).await;
        scopes.push(s["id"].as_str().unwrap_or_default().to_owned());
    }
    if let Some(width) = width {
        for scope in &scopes {
            app.store.widen_to(scope, width).await.unwrap_or_else(|e| fail(format!("widening {scope}'s lists: {e}")));
        }
    }
    let mut seeded = Vec::new();
    for scope in &scopes {
        for _ in 0..seed {
            let c = must(app, Handler::Create, &post("/v1/clients", "/v1/clients", &[], &key, &create_body(scope, &root))).await;
            let id = c["id"].as_str().unwrap_or_default().to_owned();
            let quotas = json!({ "apiCalls": { "limit": 1_000_000_000u64, "period": "month" } });
            let path = format!("/v1/clients/{id}/quotas");
            must(app, Handler::SetQuotas, &event("PUT", "/v1/clients/{clientId}/quotas", &path, &[("clientId", &id)], "", &key, Some(&quotas))).await;
            seeded.push(id);
        }
    }
    let mut keys = Vec::new();
    for client in seeded.iter().take(licenses) {
        let body = json!({ "productId": product, "tier": "pro", "clientId": client, "maxActivations": DOMAINS });
        let l = must(app, Handler::CreateLicense, &post("/v1/licenses", "/v1/licenses", &[], &key, &body)).await;
        keys.push(l["licenseKey"].as_str().unwrap_or_default().to_owned());
    }
    Partner { key, scopes, clients: Mutex::new(seeded.clone()), seeded, licenses: keys }
}

/// The partners of the run, `(id, role)` of each for the keys' labels, and the product.
async fn set_up(s: &Setup, p: &Params) -> (State, Vec<(String, String)>) {
    let app = s.app;
    let product = must(app, Handler::CreateProduct, &post("/v1/products", "/v1/products", &[], &s.admin, &json!({ "name": unique("load"), "slug": unique("load") }))).await;
    let product = product["id"].as_str().unwrap_or_default().to_owned();
    app.store.widen_to(clientele::store::ALL, p.width).await.unwrap_or_else(|e| fail(format!("widening the platform's lists: {e}")));
    let width = p.width;
    let jobs = (0..p.partners).map(|i| {
        let (admin, product) = (s.admin.clone(), product.clone());
        let big = i < p.big;
        let subs = if big { p.big_subs } else { usize::from(p.sub_every > 0 && i % p.sub_every == 0) };
        async move { partner(app, &admin, &product, subs, if big { 10 } else { 2 }, if big { 8 } else { 1 }, big.then_some(width)).await }
    });
    let partners: Vec<Partner> = futures::stream::iter(jobs).buffered(8).collect().await;
    let mut names = Vec::new();
    for (i, partner) in partners.iter().enumerate() {
        for (j, scope) in partner.scopes.iter().enumerate() {
            let role = match (i < p.big, j) {
                (true, 0) => format!("<big {}>", i + 1),
                (true, j) => format!("<big {} sub {j}>", i + 1),
                (false, 0) => "<partner>".to_owned(),
                (false, _) => "<sub-partner>".to_owned(),
            };
            names.push((scope.clone(), role));
        }
    }
    let state = State { app, admin: s.admin.clone(), partners, big: p.big, big_share: p.big_share };
    (state, names)
}

/// Makes one request of `op` for partner `who`; Err names what answered non-2xx.
async fn perform(st: &State, op: Op, who: usize) -> Result<(), String> {
    let p = &st.partners[who];
    let root = p.scopes[0].as_str();
    // Every random choice before the first await (the thread's generator stays on its thread).
    let (scope, client, seeded, license, domain, activate) = {
        let mut rng = rand::thread_rng();
        let clients = p.clients.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        (
            p.scopes.choose(&mut rng).cloned().unwrap_or_default(),
            clients.choose(&mut rng).cloned().unwrap_or_default(),
            p.seeded.choose(&mut rng).cloned().unwrap_or_default(),
            p.licenses.choose(&mut rng).cloned().unwrap_or_default(),
            format!("d{}.example.com", rng.gen_range(0..DOMAINS)),
            rng.gen_bool(0.5),
        )
    };
    let list = |key: &str, query: &str| event("GET", "/v1/clients", "/v1/clients", &[], query, key, None);
    let (handler, ev) = match op {
        Op::Create => (Handler::Create, post("/v1/clients", "/v1/clients", &[], &p.key, &create_body(&scope, root))),
        Op::CreateOwn => (Handler::Create, post("/v1/clients", "/v1/clients", &[], &p.key, &create_body(root, root))),
        Op::Update => {
            let body = json!({ "company": unique("co") });
            (Handler::Update, event("PATCH", "/v1/clients/{clientId}", &format!("/v1/clients/{client}"), &[("clientId", &client)], "", &p.key, Some(&body)))
        }
        Op::Get => (Handler::Get, event("GET", "/v1/clients/{clientId}", &format!("/v1/clients/{client}"), &[("clientId", &client)], "", &p.key, None)),
        Op::ListOwn => (Handler::List, list(&p.key, "limit=10")),
        Op::ListAll => (Handler::List, list(&st.admin, "limit=10")),
        Op::ListStatus => (Handler::List, list(&p.key, "limit=10&status=demo")),
        Op::Usage => {
            let body = json!({ "resource": "apiCalls", "amount": 1 });
            (Handler::RecordUsage, post("/v1/clients/{clientId}/usage", &format!("/v1/clients/{seeded}/usage"), &[("clientId", &seeded)], &p.key, &body))
        }
        Op::License => {
            let (handler, path) = if activate { (Handler::Activate, "/v1/licenses/activate") } else { (Handler::Deactivate, "/v1/licenses/deactivate") };
            (handler, post(path, path, &[], "", &json!({ "licenseKey": license, "domain": domain })))
        }
        Op::Events => (Handler::ListEvents, event("GET", "/v1/events", "/v1/events", &[], "limit=10", &p.key, None)),
    };
    let (status, body) = call(st.app, handler, &ev).await;
    if !(200..300).contains(&status) {
        return Err(format!("{} answered {status}: {body}", op.name()));
    }
    if matches!(op, Op::Create | Op::CreateOwn)
        && let Some(id) = body["id"].as_str()
    {
        p.clients.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(id.to_owned());
    }
    Ok(())
}

/// What callers measured: requests and total ms per operation, and failures.
#[derive(Default)]
struct Tally {
    by_op: HashMap<Op, (usize, f64)>,
    failures: Vec<String>,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        for (op, (n, ms)) in other.by_op {
            let e = self.by_op.entry(op).or_default();
            e.0 += n;
            e.1 += ms;
        }
        self.failures.extend(other.failures);
    }

    fn requests(&self) -> usize {
        self.by_op.values().map(|(n, _)| n).sum()
    }
}

/// `tasks` callers, each making requests one after another until `seconds` pass;
/// each picks its next operation with `pick` (from the mix, or always one).
async fn callers(st: &Arc<State>, tasks: usize, seconds: f64, pick: fn(&State) -> (Op, usize)) -> Tally {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let st = Arc::clone(st);
            tokio::spawn(async move {
                let mut tally = Tally::default();
                while Instant::now() < deadline && tally.failures.is_empty() {
                    let (op, who) = pick(&st);
                    let started = Instant::now();
                    let result = perform(&st, op, who).await;
                    let e = tally.by_op.entry(op).or_default();
                    e.0 += 1;
                    e.1 += started.elapsed().as_secs_f64() * 1000.0;
                    if let Err(why) = result {
                        tally.failures.push(why);
                    }
                }
                tally
            })
        })
        .collect();
    let mut tally = Tally::default();
    for h in handles {
        tally.add(h.await.unwrap_or_else(|e| fail(format!("a caller panicked: {e}"))));
    }
    tally
}

/// An operation from the mix's weights, for a partner: a large one `big_share` of the time.
fn from_mix(st: &State) -> (Op, usize) {
    let mut rng = rand::thread_rng();
    let total: u32 = MIX.iter().map(|(_, w)| w).sum();
    let mut at = rng.gen_range(0..total);
    let op = MIX.iter().find(|(_, w)| if at < *w { true } else { at -= w; false }).map_or(Op::Get, |(op, _)| *op);
    let who = if st.big > 0 && rng.gen_bool(st.big_share) { rng.gen_range(0..st.big) } else { rng.gen_range(st.big.min(st.partners.len() - 1)..st.partners.len()) };
    (op, who)
}

/// Creates into the first large partner itself.
fn creates_only(_: &State) -> (Op, usize) {
    (Op::CreateOwn, 0)
}

/// Each partition's counts of a log over `requests`, the busiest second's units beside
/// them, the hottest [`crate::scale::KEPT`] at `rate`, labelled.
fn keys(log: &HeatLog, requests: f64, rate: f64, names: &[(String, String)]) -> (Vec<Value>, Counts) {
    let totals = log.totals();
    let all = sum(&totals);
    let mut rows: Vec<(f64, Value)> = totals
        .iter()
        .map(|(key, c)| {
            let peak = |f: fn(&Counts) -> f64| log.seconds.iter().filter_map(|s| s.get(key)).map(f).fold(0.0, f64::max);
            let (r, w) = crate::scale::share(c.read_units / requests, c.write_units / requests, rate);
            let row = json!({
                "key": key, "label": crate::scale::label(key, names),
                "reads": c.reads as f64 / requests, "writes": c.writes as f64 / requests,
                "read_units": c.read_units / requests, "write_units": c.write_units / requests,
                "peak_read_units_per_second": peak(|c| c.read_units), "peak_write_units_per_second": peak(|c| c.write_units),
            });
            (r.max(w), row)
        })
        .collect();
    rows.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1["key"].as_str().cmp(&b.1["key"].as_str())));
    (rows.into_iter().take(crate::scale::KEPT).map(|(_, row)| row).collect(), all)
}

/// Every partition's counts added up.
fn sum(totals: &HashMap<String, Counts>) -> Counts {
    let mut all = Counts::default();
    for c in totals.values() {
        all.add(c);
    }
    all
}

/// One phase of callers with heat counted: what they measured, the heat, its seconds.
/// A failed request, or one the count could not read, fails the run.
async fn phase(s: &Setup, st: &Arc<State>, what: &str, tasks: usize, seconds: f64, pick: fn(&State) -> (Op, usize)) -> (Tally, HeatLog, f64) {
    s.heat.start();
    let started = Instant::now();
    let tally = callers(st, tasks, seconds, pick).await;
    let took = started.elapsed().as_secs_f64();
    let log = s.heat.stop();
    refuse_failures(what, &tally, &log);
    (tally, log, took)
}

fn refuse_failures(phase: &str, tally: &Tally, log: &HeatLog) {
    if let Some(first) = tally.failures.first() {
        fail(format!("{phase}: {} requests failed; the first: {first}", tally.failures.len()));
    }
    if let Some(why) = log.unreadable.first() {
        fail(format!("{phase}: the heat count could not read {} requests; the first: {why}", log.unreadable.len()));
    }
}

/// Bytes a create stores, and its items (index entries included), each with
/// DynamoDB's per-item overhead: from the puts of `n` creates' transactions.
async fn stored_per_create(st: &State, s: &Setup, n: usize) -> (f64, f64) {
    s.rec.start(true);
    for _ in 0..n {
        if let Err(why) = perform(st, Op::CreateOwn, 0).await {
            fail(why);
        }
    }
    let calls = s.rec.stop();
    let (mut bytes, mut items) = (0.0, 0.0);
    for c in calls.iter().filter(|c| c.op == "TransactWriteItems") {
        for t in c.body["TransactItems"].as_array().into_iter().flatten() {
            let Some(item) = t.pointer("/Put/Item") else { continue };
            let entries = access::index_entries(item);
            items += 1.0 + entries.len() as f64;
            bytes += access::item_size(item) as f64 + entries.iter().map(|(_, size)| *size as f64).sum::<f64>();
        }
    }
    ((bytes + items * crate::scale::ITEM_OVERHEAD_BYTES) / n as f64, items / n as f64)
}

/// How many of each write the item-by-item table is measured over.
const WRITES_SAMPLE: usize = 20;

/// Every item each kind of write stores, measured (docs/SCALE.md, "Write units item by
/// item"): `n` creates, updates, deletes and usage records, one kind at a time, through
/// the real handlers, for clients at depth 2 (under a sub-partner of a large partner).
/// Each write request the store sent is charged item by item as DynamoDB would
/// ([`access::charges`]), and the items are grouped by the shape of their key.
async fn writes_by_item(st: &State, s: &Setup, n: usize) -> Value {
    let p = st.partners.iter().find(|p| p.scopes.len() > 1).unwrap_or_else(|| fail("no partner with a sub-partner"));
    let (root, sub) = (p.scopes[0].clone(), p.scopes[1].clone());
    let seeded = p.seeded.first().cloned().unwrap_or_else(|| fail("no seeded client"));
    let mut made: Vec<String> = Vec::new();
    let mut kinds = Vec::new();
    for kind in ["create", "update", "delete", "record usage"] {
        s.rec.start(true);
        for i in 0..n {
            let (handler, ev) = match kind {
                "create" => (Handler::Create, post("/v1/clients", "/v1/clients", &[], &p.key, &create_body(&sub, &root))),
                "update" => {
                    let (id, body) = (&made[i], json!({ "company": unique("co") }));
                    (Handler::Update, event("PATCH", "/v1/clients/{clientId}", &format!("/v1/clients/{id}"), &[("clientId", id)], "", &p.key, Some(&body)))
                }
                "delete" => {
                    let id = &made[i];
                    (Handler::Delete, event("DELETE", "/v1/clients/{clientId}", &format!("/v1/clients/{id}"), &[("clientId", id)], "", &p.key, None))
                }
                _ => {
                    let body = json!({ "resource": "apiCalls", "amount": 1 });
                    (Handler::RecordUsage, post("/v1/clients/{clientId}/usage", &format!("/v1/clients/{seeded}/usage"), &[("clientId", &seeded)], &p.key, &body))
                }
            };
            let (status, body) = call(st.app, handler, &ev).await;
            if !(200..300).contains(&status) {
                fail(format!("writes item by item, {kind}: {status} {body}"));
            }
            if kind == "create" {
                made.push(body["id"].as_str().unwrap_or_else(|| fail("a create without id")).to_owned());
            }
        }
        let calls = s.rec.stop();
        let (items, total) = item_rows(&calls, n);
        kinds.push(json!({ "kind": kind, "requests": n, "items": items, "write_units": total }));
    }
    Value::Array(kinds)
}

/// The write requests among `calls`, charged item by item and grouped by key shape:
/// per request, how many writes of that shape, their mean size and their units.
fn item_rows(calls: &[crate::trace::Call], n: usize) -> (Vec<Value>, f64) {
    const WRITES: [&str; 5] = ["TransactWriteItems", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"];
    let mut rows: Vec<(String, bool, u64, usize, f64)> = Vec::new();
    for c in calls.iter().filter(|c| WRITES.contains(&c.op.as_str())) {
        let charged = access::charges(&c.op, &c.body, None).unwrap_or_else(|why| fail(format!("writes item by item: {why}")));
        let transaction = c.op == "TransactWriteItems";
        for ch in charged.iter().filter(|ch| ch.write) {
            let shape = key_shape(&ch.partition);
            match rows.iter_mut().find(|r| r.0 == shape && r.1 == transaction) {
                Some(r) => {
                    r.2 += 1;
                    r.3 += ch.bytes;
                    r.4 += ch.units;
                }
                None => rows.push((shape, transaction, 1, ch.bytes, ch.units)),
            }
        }
    }
    let n = n as f64;
    let total = rows.iter().map(|r| r.4).sum::<f64>() / n;
    let rows = rows
        .into_iter()
        .map(|(key, transaction, writes, bytes, units)| {
            json!({ "key": key, "transaction": transaction, "writes": writes as f64 / n, "bytes": bytes as f64 / writes as f64, "write_units": units / n })
        })
        .collect();
    (rows, total)
}

/// A partition key with what varies left out: ids, hashes, numbers, unique values,
/// periods and shards (`CLIENTS#<id>#<shard>`); an index's partition keeps its name.
fn key_shape(partition: &str) -> String {
    let (index, key) = match partition.split_once(':') {
        Some((i, k)) if i.starts_with("gsi") => (Some(i), k),
        _ => (None, partition),
    };
    let parts: Vec<&str> = key.split('#').collect();
    let sharded = matches!(parts[0], "CLIENTS" | "EVENTS" | "COUNT");
    let last = parts.len() - 1;
    let shaped: Vec<String> = parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            let uuid = part.len() == 36 && part.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
            let hash = part.len() == 64 && part.chars().all(|c| c.is_ascii_hexdigit());
            let digits = !part.is_empty() && part.chars().all(|c| c.is_ascii_digit());
            let period = part.len() >= 7 && part.as_bytes()[4] == b'-' && part[..4].chars().all(|c| c.is_ascii_digit());
            if uuid {
                "<id>".into()
            } else if hash {
                "<sha256>".into()
            } else if digits && sharded && i == last {
                "<shard>".into()
            } else if digits {
                "<n>".into()
            } else if period {
                "<period>".into()
            } else if parts[0] == "UNIQUE" && i >= 2 {
                "<value>".into()
            } else {
                (*part).to_owned()
            }
        })
        .collect();
    let mut shape = shaped.join("#");
    // A unique value may hold `#` itself: one `<value>` for all of it.
    while shape.contains("<value>#<value>") {
        shape = shape.replace("<value>#<value>", "<value>");
    }
    match index {
        Some(i) => format!("{i}:{shape}"),
        None => shape,
    }
}

/// The whole run: set-up, each operation alone, the mix, creates into one partner.
/// Returns the figures (what `docs/scale/latest.json` holds).
pub async fn run(s: &Setup, p: &Params) -> Value {
    eprintln!("load: setting up {} partners...", p.partners);
    let (state, names) = set_up(s, p).await;
    let st = Arc::new(state);

    eprintln!("load: each operation alone, {} requests each...", p.op_requests);
    let mut ops = Vec::new();
    for (op, _) in MIX {
        // Units, with the capacity count on; then time and CPU in a second pass with it
        // off (the count parses every request and answer, work no deployed function does).
        s.heat.start();
        for _ in 0..p.op_requests {
            if let Err(why) = perform(&st, op, 0).await {
                fail(format!("{} alone: {why}", op.name()));
            }
        }
        let log = s.heat.stop();
        let started = Instant::now();
        let cpu_before = crate::cpu_us();
        for _ in 0..p.op_requests {
            if let Err(why) = perform(&st, op, 0).await {
                fail(format!("{} alone: {why}", op.name()));
            }
        }
        let cpu_after = crate::cpu_us();
        let ms = started.elapsed().as_secs_f64() * 1000.0 / p.op_requests as f64;
        // This process's CPU (user and system) per request: the handler's, and the caller's
        // own small share (DynamoDB Local is another process).
        let cpu_ms = (cpu_after.0 + cpu_after.1 - cpu_before.0 - cpu_before.1) / 1000.0 / p.op_requests as f64;
        refuse_failures(op.name(), &Tally::default(), &log);
        let all = sum(&log.totals());
        let n = p.op_requests as f64;
        ops.push(json!({ "op": op.name(), "route": op.route(), "requests": p.op_requests, "read_units": all.read_units / n, "write_units": all.write_units / n, "mean_ms": ms, "cpu_ms": cpu_ms }));
    }

    eprintln!("load: the mix, {} callers for {} s...", p.tasks, p.seconds);
    let (tally, log, seconds) = phase(s, &st, "the mix", p.tasks, p.seconds, from_mix).await;
    let requests = tally.requests() as f64;
    let (mix_keys, mix_all) = keys(&log, requests, crate::scale::TARGET_RPS, &names);
    let by_op: Vec<Value> = MIX
        .iter()
        .map(|(op, _)| {
            let (n, ms) = tally.by_op.get(op).copied().unwrap_or_default();
            json!({ "op": op.name(), "requests": n, "mean_ms_under_load": if n > 0 { ms / n as f64 } else { 0.0 } })
        })
        .collect();

    eprintln!("load: creates into one partner, {} callers for {} s...", p.tasks, p.create_seconds);
    let (created, log, create_secs) = phase(s, &st, "the creates", p.tasks, p.create_seconds, creates_only).await;
    let n = created.requests() as f64;
    let (create_keys, create_all) = keys(&log, n, crate::scale::TARGET_CREATES, &names);
    let (bytes, items) = stored_per_create(&st, s, 20).await;
    eprintln!("load: each kind of write, item by item, {WRITES_SAMPLE} of each...");
    let writes = writes_by_item(&st, s, WRITES_SAMPLE).await;

    let root = std::env::var("BENCH_ROOT").unwrap_or_else(|_| ".".into());
    json!({
        "generated": chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        "commit": crate::commit(&root),
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "params": p.json(),
        "ops": ops,
        "mix": {
            "requests": tally.requests(), "seconds": seconds, "by_op": by_op,
            "read_units": mix_all.read_units / requests, "write_units": mix_all.write_units / requests, "keys": mix_keys,
        },
        "creates": {
            "requests": created.requests(), "seconds": create_secs,
            "read_units": create_all.read_units / n, "write_units": create_all.write_units / n, "keys": create_keys,
            "bytes_per_client": bytes, "items_per_client": items,
        },
        "writes": writes,
    })
}

/// `--load`: the run, its figures in `docs/scale/latest.json`, the report in `docs/SCALE.md`.
pub async fn main(s: &Setup) {
    let figures = run(s, &Params::from_env()).await;
    let root = std::env::var("BENCH_ROOT").unwrap_or_else(|_| ".".into());
    let dir = Path::new(&root).join("docs/scale");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| fail(format!("{}: {e}", dir.display())));
    let pretty = serde_json::to_string_pretty(&figures).expect("figures serialize");
    std::fs::write(dir.join("latest.json"), pretty + "\n").unwrap_or_else(|e| fail(format!("latest.json: {e}")));
    report(&root);
}

/// `--scale-report`: `docs/SCALE.md` again from `docs/scale/latest.json` and `before.json`.
pub fn report(root: &str) {
    let read = |name: &str| -> Option<Value> {
        let text = std::fs::read_to_string(Path::new(root).join("docs/scale").join(name)).ok()?;
        Some(serde_json::from_str(&text).unwrap_or_else(|e| fail(format!("docs/scale/{name}: {e}"))))
    };
    let now = read("latest.json").unwrap_or_else(|| fail("docs/scale/latest.json is missing: run make load"));
    let md = crate::scale::render(&now, read("before.json").as_ref());
    std::fs::write(Path::new(root).join("docs/SCALE.md"), &md).unwrap_or_else(|e| fail(format!("docs/SCALE.md: {e}")));
    println!("{md}");
}

#[cfg(test)]
mod tests {
    use super::key_shape;

    #[test]
    fn a_key_shape_leaves_out_only_what_varies() {
        let id = "01a24d16-ff7b-75c5-a241-490147147e86";
        assert_eq!(key_shape(&format!("CLIENTS#{id}#3")), "CLIENTS#<id>#<shard>");
        assert_eq!(key_shape("CLIENTS#ALL#0"), "CLIENTS#ALL#<shard>");
        assert_eq!(key_shape(&format!("gsi1:CLIENTS#{id}#st#demo#7")), "gsi1:CLIENTS#<id>#st#demo#<shard>");
        assert_eq!(key_shape(&format!("COUNT#EVENTS#{id}#5")), "COUNT#EVENTS#<id>#<shard>");
        assert_eq!(key_shape("NUMBER#CLIENT#123456"), "NUMBER#CLIENT#<n>");
        assert_eq!(key_shape(&format!("CLIENTKEY#{}", "a1".repeat(32))), "CLIENTKEY#<sha256>");
        assert_eq!(key_shape("UNIQUE#EMAIL#x@example.com"), "UNIQUE#EMAIL#<value>");
        assert_eq!(key_shape(&format!("UNIQUE#CLIENTNAME#{id}#acme#co")), "UNIQUE#CLIENTNAME#<id>#<value>");
        assert_eq!(key_shape(&format!("USAGE#{id}#apiCalls#2026-12")), "USAGE#<id>#apiCalls#<period>");
    }
}
