//! Least privilege, checked where it can be: each function's IAM policy in
//! `infra/template.yaml` allows only the partition keys (`dynamodb:LeadingKeys`)
//! and indexes listed for it in `infra/access.tsv`. The same table is compiled in
//! here ([`POLICIES`]), and with `KEY_POLICY=enforce` (how `make run` and `make
//! test` run) every DynamoDB request a function makes is checked against it
//! before it is sent, so a key the policy forgot fails locally, in the tests, the
//! way AWS would fail it in production (`KEY_POLICY=report` only logs).
//!
//! The check reads the request as DynamoDB receives it (its JSON body), so it
//! covers every call the store makes, transactions and batches included.
//!
//! The same reading counts partition heat ([`Heat`], off until started: the load
//! run of `make load` switches it on in its own process): per partition key and
//! per second, the reads and writes each request makes there and the capacity
//! units DynamoDB would charge for them ([`charges`]), since one partition takes at
//! most about 1 000 write units and 3 000 read units a second, whatever the table's.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_sdk_dynamodb::config::interceptors::{AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use serde_json::Value;

pub use crate::access_policy::POLICIES;

/// What one function may touch (generated from `infra/access.tsv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub function: &'static str,
    /// Partition key patterns for `GetItem`, `BatchGetItem`, `Query`, `ConditionCheckItem`.
    pub reads: &'static [&'static str],
    /// Partition key patterns for `PutItem`, `UpdateItem`, `DeleteItem`.
    pub writes: &'static [&'static str],
    /// Global secondary indexes it may `Query`.
    pub indexes: &'static [&'static str],
}

impl Policy {
    /// The policy of `function`, if it has one.
    pub fn of(function: &str) -> Option<&'static Policy> {
        POLICIES.iter().find(|p| p.function == function)
    }

    /// Why `access` is outside this policy, if it is.
    pub fn denies(&self, access: &Access) -> Option<String> {
        let allowed = match (&access.index, access.write) {
            (Some(index), _) => self.indexes.contains(&index.as_str()),
            (None, false) => self.reads.iter().any(|p| matches(p, &access.key)),
            (None, true) => self.writes.iter().any(|p| matches(p, &access.key)),
        };
        (!allowed).then(|| match &access.index {
            Some(index) => format!("{} may not {} index {index}", self.function, access.action),
            None => format!("{} may not {} partition key {}", self.function, access.action, access.key),
        })
    }
}

/// An IAM `StringLike` pattern as the policies use them: exact, or a prefix and `*`.
fn matches(pattern: &str, key: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => key.starts_with(prefix),
        None => key == pattern,
    }
}

/// One item-level action of a request, as IAM authorizes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// The IAM action (`GetItem`, `PutItem`, `ConditionCheckItem`, `Query`, ...).
    pub action: &'static str,
    pub write: bool,
    /// The table partition key value (for an index query, the index's).
    pub key: String,
    pub index: Option<String>,
}

/// Every item-level action a DynamoDB request (`x-amz-target` operation, JSON
/// body) makes. An operation the policies never allow (`Scan`, table
/// administration) or a body it cannot read is an error.
///
/// # Errors
/// Names the operation or the part of the body that could not be read.
pub fn accesses(operation: &str, body: &Value) -> Result<Vec<Access>, String> {
    let pk = |item: &Value| -> Result<String, String> {
        item.pointer("/pk/S").and_then(Value::as_str).map(str::to_owned).ok_or_else(|| format!("{operation}: no string pk"))
    };
    let one = |action: &'static str, write: bool, item: &Value| -> Result<Access, String> {
        Ok(Access { action, write, key: pk(item)?, index: None })
    };
    let list = |pointer: &str| body.pointer(pointer).and_then(Value::as_array).cloned().unwrap_or_default();
    match operation {
        "GetItem" => Ok(vec![one("GetItem", false, &body["Key"])?]),
        "PutItem" => Ok(vec![one("PutItem", true, &body["Item"])?]),
        "UpdateItem" => Ok(vec![one("UpdateItem", true, &body["Key"])?]),
        "DeleteItem" => Ok(vec![one("DeleteItem", true, &body["Key"])?]),
        "Query" => query(body).map(|a| vec![a]),
        "BatchGetItem" => {
            let tables = body["RequestItems"].as_object().ok_or("BatchGetItem: no RequestItems")?;
            let keys = tables.values().flat_map(|t| t["Keys"].as_array().cloned().unwrap_or_default());
            keys.map(|k| one("BatchGetItem", false, &k)).collect()
        }
        "TransactGetItems" => list("/TransactItems").iter().map(|t| one("GetItem", false, &t["Get"]["Key"])).collect(),
        "TransactWriteItems" => list("/TransactItems")
            .iter()
            .map(|t| match t.as_object().and_then(|o| o.iter().next()) {
                Some((kind, op)) if kind == "Put" => one("PutItem", true, &op["Item"]),
                Some((kind, op)) if kind == "Update" => one("UpdateItem", true, &op["Key"]),
                Some((kind, op)) if kind == "Delete" => one("DeleteItem", true, &op["Key"]),
                Some((kind, op)) if kind == "ConditionCheck" => one("ConditionCheckItem", false, &op["Key"]),
                _ => Err("TransactWriteItems: an item of no known kind".to_owned()),
            })
            .collect(),
        other => Err(format!("{other} is allowed to no function")),
    }
}

/// A query's one partition: the value its key condition sets the partition key to.
fn query(body: &Value) -> Result<Access, String> {
    let index = body["IndexName"].as_str().map(str::to_owned);
    let partition_key = index.as_deref().map_or_else(|| "pk".to_owned(), |i| format!("{i}pk"));
    let condition = body["KeyConditionExpression"].as_str().ok_or("Query: no KeyConditionExpression")?;
    let name = |n: &str| body["ExpressionAttributeNames"][n].as_str().map_or_else(|| n.to_owned(), str::to_owned);
    let key = condition
        .split(" AND ")
        .filter_map(|clause| clause.split_once('='))
        .find(|(left, _)| name(left.trim()) == partition_key)
        .and_then(|(_, right)| body["ExpressionAttributeValues"][right.trim()]["S"].as_str())
        .ok_or_else(|| format!("Query: no equality on {partition_key} in {condition:?}"))?;
    Ok(Access { action: "Query", write: false, key: key.to_owned(), index })
}

/// A request the key policy refused (`KEY_POLICY=enforce`): what AWS would answer
/// `AccessDeniedException`. Never sent, so never a store outage: the store maps it to
/// a 500 and a loud `access_denied` log line (`super::sdk_error`), never a 503 the
/// caller would retry and a test might forgive.
pub struct PolicyDenied(pub String);

impl std::fmt::Display for PolicyDenied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AccessDenied by the key policy: {}", self.0)
    }
}

impl std::fmt::Debug for PolicyDenied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for PolicyDenied {}

/// The key policy's refusal somewhere in an error's causes, if there is one.
pub fn denial<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a PolicyDenied> {
    let mut cause = Some(err);
    while let Some(e) = cause {
        if let Some(denied) = e.downcast_ref::<PolicyDenied>() {
            return Some(denied);
        }
        cause = e.source();
    }
    None
}

/// Whether a denial fails the request or is only logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Enforce,
    Report,
}

/// The SDK interceptor that checks each request against one function's policy.
#[derive(Debug, Clone)]
pub struct KeyPolicy {
    pub policy: &'static Policy,
    pub mode: Mode,
}

impl KeyPolicy {
    /// The check for this process, from `KEY_POLICY` (`enforce` or `report`) and
    /// the name of the running function (its executable, as built and served
    /// locally). None when unset, or for a binary that is no function.
    pub fn from_env() -> Option<Self> {
        let mode = match std::env::var("KEY_POLICY").ok()?.as_str() {
            "enforce" => Mode::Enforce,
            "report" => Mode::Report,
            _ => return None,
        };
        let exe = std::env::current_exe().ok()?;
        let function = exe.file_stem()?.to_str()?;
        Policy::of(function).map(|policy| Self { policy, mode })
    }

    /// Every reason the request is outside the policy (none when it is within).
    fn check(&self, operation: &str, body: &[u8]) -> Vec<String> {
        let accesses = serde_json::from_slice(body)
            .map_err(|e| format!("{operation}: unreadable body: {e}"))
            .and_then(|body: Value| accesses(operation, &body));
        match accesses {
            Ok(accesses) => accesses.iter().filter_map(|a| self.policy.denies(a)).collect(),
            Err(why) => vec![why],
        }
    }
}

impl Intercept for KeyPolicy {
    fn name(&self) -> &'static str {
        "key-policy"
    }

    fn read_before_transmit(&self, ctx: &BeforeTransmitInterceptorContextRef<'_>, _: &RuntimeComponents, _: &mut ConfigBag) -> Result<(), BoxError> {
        let target = ctx.request().headers().get("x-amz-target").unwrap_or("?");
        let operation = target.rsplit('.').next().unwrap_or(target);
        let denied = self.check(operation, ctx.request().body().bytes().unwrap_or_default());
        for why in &denied {
            tracing::error!(denied = %why, "AccessDenied by the key policy (infra/access.tsv)");
        }
        match (denied.first(), self.mode) {
            (Some(why), Mode::Enforce) => Err(Box::new(PolicyDenied(why.clone()))),
            _ => Ok(()),
        }
    }
}

/// What one request costs one partition, as DynamoDB would charge it ([`charges`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Charge {
    /// The table's partition key value, or `<index>:<value>` for a partition of an index.
    pub partition: String,
    pub write: bool,
    /// Write units (1 KB each) or read units (4 KB each, strongly consistent).
    pub units: f64,
    /// The size DynamoDB charges by: the item (or index entry) written, the key and
    /// values of an update or delete, the item read.
    pub bytes: usize,
}

/// The global secondary indexes and the attributes each projects besides the
/// table's and its own keys (None: all of them), as `infra/template.yaml` defines them.
const INDEXES: [(&str, Option<&[&str]>); 4] = [
    ("gsi1", None),
    ("gsi2", Some(&["id", "dp", "rp"])),
    ("gsi3", Some(&["id", "dp", "rp"])),
    ("gsi4", Some(&["id", "status", "suspended", "dp", "rp"])),
];

/// An item's size as DynamoDB bills it: each attribute's name and value in bytes
/// (strings as UTF-8, numbers about one byte per two digits, binaries decoded,
/// maps and lists 3 bytes plus 1 per element), not the JSON the request carries.
pub fn item_size(item: &Value) -> usize {
    item.as_object().map_or(0, |o| o.iter().map(|(name, v)| name.len() + value_size(v)).sum())
}

fn value_size(v: &Value) -> usize {
    let Some((kind, inner)) = v.as_object().and_then(|o| o.iter().next()) else { return 0 };
    let text = |t: &Value| t.as_str().map_or(0, str::len);
    let number = |t: &Value| t.as_str().map_or(0, |n| n.bytes().filter(u8::is_ascii_digit).count().div_ceil(2) + 1);
    let binary = |t: &Value| text(t) * 3 / 4;
    let each = |f: &dyn Fn(&Value) -> usize| inner.as_array().map_or(0, |a| a.iter().map(f).sum());
    match kind.as_str() {
        "S" => text(inner),
        "N" => number(inner),
        "B" => binary(inner),
        "SS" => each(&text),
        "NS" => each(&number),
        "BS" => each(&binary),
        "M" => 3 + inner.as_object().map_or(0, |o| o.iter().map(|(k, v)| k.len() + value_size(v) + 1).sum()),
        "L" => 3 + each(&|v| value_size(v) + 1),
        _ => 1, // BOOL, NULL
    }
}

/// The index entries a put of `item` writes: each index whose keys it carries, as
/// `<index>:<partition key value>`, with the size of what that index projects.
pub fn index_entries(item: &Value) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for (index, projected) in INDEXES {
        let Some(value) = item[format!("{index}pk")]["S"].as_str() else { continue };
        let size = match projected {
            None => item_size(item),
            Some(attrs) => {
                let keys = ["pk".to_owned(), "sk".to_owned(), format!("{index}pk"), format!("{index}sk")];
                item.as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(name, _)| keys.contains(name) || attrs.contains(&name.as_str()))
                    .map(|(name, v)| name.len() + value_size(v))
                    .sum()
            }
        };
        out.push((format!("{index}:{value}"), size));
    }
    out
}

fn write_units(bytes: usize) -> f64 {
    bytes.max(1).div_ceil(1024) as f64
}

fn read_units(bytes: usize) -> f64 {
    bytes.max(1).div_ceil(4096) as f64
}

/// What each partition a DynamoDB request (`x-amz-target` operation, JSON body)
/// touches would be charged, given its answer (None when it failed or could not be
/// read). The estimate, per DynamoDB's documented rules:
/// - a write: 1 unit per KB of the item (rounded up), 2 in a transaction, on its
///   partition; a put carrying an index's keys also writes that index's partition,
///   1 unit per KB of what the index projects. An update or a delete is sized by
///   its key and the values it sets (the stored item is not known here: at least 1
///   unit); a transaction's condition check costs its partition 2 write units.
/// - a read: 1 unit per 4 KB (rounded up) of what the answer holds, per item for
///   `GetItem`/`BatchGetItem`, per call for `Query` (scaled up by the items it read
///   over those it returned), half for an eventually consistent read (every index
///   query), twice in a transaction; a read with no answer costs the minimum.
///
/// # Errors
/// Names the operation or the part of the body that could not be read.
pub fn charges(operation: &str, request: &Value, answer: Option<&Value>) -> Result<Vec<Charge>, String> {
    let pk = |item: &Value| -> Result<String, String> {
        item.pointer("/pk/S").and_then(Value::as_str).map(str::to_owned).ok_or_else(|| format!("{operation}: no string pk"))
    };
    let write = |partition: String, factor: f64, bytes: usize| Charge { partition, write: true, units: factor * write_units(bytes), bytes };
    let read = |partition: String, factor: f64, bytes: usize| Charge { partition, write: false, units: factor * read_units(bytes), bytes };
    let put = |item: &Value, factor: f64| -> Result<Vec<Charge>, String> {
        let mut out = vec![write(pk(item)?, factor, item_size(item))];
        out.extend(index_entries(item).into_iter().map(|(partition, size)| write(partition, 1.0, size)));
        Ok(out)
    };
    let keyed = |op: &Value, factor: f64| -> Result<Charge, String> {
        let values: usize = op["ExpressionAttributeValues"].as_object().map_or(0, |v| v.values().map(value_size).sum());
        Ok(write(pk(&op["Key"])?, factor, item_size(&op["Key"]) + values))
    };
    let consistency = |body: &Value| if body["ConsistentRead"].as_bool() == Some(true) && body["IndexName"].is_null() { 1.0 } else { 0.5 };
    let same_key = |a: &Value, b: &Value| a["pk"] == b["pk"] && a["sk"] == b["sk"];
    match operation {
        "PutItem" => put(&request["Item"], 1.0),
        "UpdateItem" | "DeleteItem" => Ok(vec![keyed(request, 1.0)?]),
        "TransactWriteItems" => {
            let items = request["TransactItems"].as_array().ok_or("TransactWriteItems: no TransactItems")?;
            let mut out = Vec::new();
            for t in items {
                match t.as_object().and_then(|o| o.iter().next()) {
                    Some((kind, op)) if kind == "Put" => out.extend(put(&op["Item"], 2.0)?),
                    Some((kind, op)) if kind == "Update" || kind == "Delete" => out.push(keyed(op, 2.0)?),
                    Some((kind, op)) if kind == "ConditionCheck" => out.push(write(pk(&op["Key"])?, 2.0, item_size(&op["Key"]))),
                    _ => return Err("TransactWriteItems: an item of no known kind".to_owned()),
                }
            }
            Ok(out)
        }
        "GetItem" => {
            let size = answer.map_or(0, |a| item_size(&a["Item"]));
            Ok(vec![read(pk(&request["Key"])?, consistency(request), size)])
        }
        "BatchGetItem" => {
            let tables = request["RequestItems"].as_object().ok_or("BatchGetItem: no RequestItems")?;
            let found: Vec<&Value> = answer
                .and_then(|a| a["Responses"].as_object())
                .into_iter()
                .flat_map(|r| r.values().filter_map(Value::as_array).flatten())
                .collect();
            let unprocessed: Vec<&Value> = answer
                .and_then(|a| a["UnprocessedKeys"].as_object())
                .into_iter()
                .flat_map(|u| u.values().filter_map(|t| t["Keys"].as_array()).flatten())
                .collect();
            let mut out = Vec::new();
            for table in tables.values() {
                for k in table["Keys"].as_array().into_iter().flatten() {
                    if unprocessed.iter().any(|u| same_key(u, k)) {
                        continue;
                    }
                    let size = found.iter().find(|item| same_key(item, k)).map_or(0, |item| item_size(item));
                    out.push(read(pk(k)?, consistency(table), size));
                }
            }
            Ok(out)
        }
        "TransactGetItems" => {
            let items = request["TransactItems"].as_array().ok_or("TransactGetItems: no TransactItems")?;
            let answers = answer.and_then(|a| a["Responses"].as_array());
            let mut out = Vec::new();
            for (i, t) in items.iter().enumerate() {
                let size = answers.and_then(|r| r.get(i)).map_or(0, |r| item_size(&r["Item"]));
                out.push(read(pk(&t["Get"]["Key"])?, 2.0, size));
            }
            Ok(out)
        }
        "Query" => {
            let access = query(request)?;
            let partition = access.index.map_or_else(|| access.key.clone(), |index| format!("{index}:{}", access.key));
            let returned: usize = answer.and_then(|a| a["Items"].as_array()).map_or(0, |items| items.iter().map(item_size).sum());
            let count = answer.and_then(|a| a["Count"].as_u64()).unwrap_or(0);
            let scanned = answer.and_then(|a| a["ScannedCount"].as_u64()).unwrap_or(count);
            // A filter's dropped items were read and are charged too: take them as the size of those kept.
            let bytes = if count > 0 { returned * scanned as usize / count as usize } else { 0 };
            Ok(vec![read(partition, consistency(request), bytes)])
        }
        other => Err(format!("{other}: no capacity rule")),
    }
}

/// Accesses and units of one partition, in one second or over a whole log.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    pub reads: u64,
    pub writes: u64,
    pub read_units: f64,
    pub write_units: f64,
}

impl Counts {
    fn charge(&mut self, c: &Charge) {
        if c.write {
            self.writes += 1;
            self.write_units += c.units;
        } else {
            self.reads += 1;
            self.read_units += c.units;
        }
    }

    /// Adds another count to this one.
    pub fn add(&mut self, other: &Counts) {
        self.reads += other.reads;
        self.writes += other.writes;
        self.read_units += other.read_units;
        self.write_units += other.write_units;
    }
}

/// What [`Heat`] counted between its start and its stop.
#[derive(Debug, Clone, Default)]
pub struct HeatLog {
    started: Option<Instant>,
    /// For each second since the start, each partition's counts in it.
    pub seconds: Vec<HashMap<String, Counts>>,
    /// Requests that could not be read (none, when the counting works).
    pub unreadable: Vec<String>,
}

impl HeatLog {
    /// Each partition's counts over the whole log.
    pub fn totals(&self) -> HashMap<String, Counts> {
        let mut totals: HashMap<String, Counts> = HashMap::new();
        for second in &self.seconds {
            for (partition, counts) in second {
                totals.entry(partition.clone()).or_default().add(counts);
            }
        }
        totals
    }
}

/// The SDK interceptor that counts partition heat while started; when stopped (as
/// it starts) it costs a request one atomic load per hook.
#[derive(Debug, Clone, Default)]
pub struct Heat {
    inner: Arc<HeatInner>,
}

#[derive(Debug, Default)]
struct HeatInner {
    on: AtomicBool,
    log: Mutex<HeatLog>,
}

/// A request as it went out, kept in the operation's config bag for its answer.
#[derive(Debug, Clone)]
struct Sent {
    operation: String,
    body: Value,
}

impl Storable for Sent {
    type Storer = StoreReplace<Self>;
}

impl Heat {
    /// Starts counting afresh (what was counted before is dropped).
    pub fn start(&self) {
        *self.inner.log.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = HeatLog { started: Some(Instant::now()), ..HeatLog::default() };
        self.inner.on.store(true, Ordering::Relaxed);
    }

    /// Stops counting and returns what was counted since the start.
    pub fn stop(&self) -> HeatLog {
        self.inner.on.store(false, Ordering::Relaxed);
        std::mem::take(&mut *self.inner.log.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    fn record(&self, charged: Result<Vec<Charge>, String>) {
        let mut log = self.inner.log.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match charged {
            Ok(charges) => {
                let second = log.started.map_or(0, |s| s.elapsed().as_secs() as usize);
                if log.seconds.len() <= second {
                    log.seconds.resize_with(second + 1, HashMap::new);
                }
                for c in &charges {
                    log.seconds[second].entry(c.partition.clone()).or_default().charge(c);
                }
            }
            Err(why) => log.unreadable.push(why),
        }
    }
}

impl Intercept for Heat {
    fn name(&self) -> &'static str {
        "partition-heat"
    }

    fn read_before_transmit(&self, ctx: &BeforeTransmitInterceptorContextRef<'_>, _: &RuntimeComponents, cfg: &mut ConfigBag) -> Result<(), BoxError> {
        if !self.inner.on.load(Ordering::Relaxed) {
            return Ok(());
        }
        let target = ctx.request().headers().get("x-amz-target").unwrap_or("?");
        let operation = target.rsplit('.').next().unwrap_or(target).to_owned();
        let body = serde_json::from_slice(ctx.request().body().bytes().unwrap_or_default()).unwrap_or(Value::Null);
        cfg.interceptor_state().store_put(Sent { operation, body });
        Ok(())
    }

    // Each attempt is charged once its answer is in (the body is read by then), so a
    // retried request is charged as often as DynamoDB would charge it.
    fn read_after_deserialization(&self, ctx: &AfterDeserializationInterceptorContextRef<'_>, _: &RuntimeComponents, cfg: &mut ConfigBag) -> Result<(), BoxError> {
        if !self.inner.on.load(Ordering::Relaxed) {
            return Ok(());
        }
        let Some(sent) = cfg.load::<Sent>() else { return Ok(()) };
        let response = ctx.response();
        let answer: Option<Value> = response.status().is_success().then(|| response.body().bytes().and_then(|b| serde_json::from_slice(b).ok())).flatten();
        self.record(charges(&sent.operation, &sent.body, answer.as_ref()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const P: Policy = Policy { function: "f", reads: &["CLIENT#*", "PRODUCTS"], writes: &["CLIENT#*"], indexes: &["gsi1"] };

    fn access(operation: &str, body: Value) -> Vec<Access> {
        accesses(operation, &body).unwrap()
    }

    #[test]
    fn every_item_of_a_transaction_is_checked_as_its_own_action() {
        let got = access(
            "TransactWriteItems",
            json!({ "TransactItems": [
                { "Put": { "Item": { "pk": { "S": "CLIENT#1" }, "sk": { "S": "#" } } } },
                { "ConditionCheck": { "Key": { "pk": { "S": "PARTNER#2" } } } },
                { "Update": { "Key": { "pk": { "S": "COUNT#CLIENTS#ALL#3" } } } },
            ] }),
        );
        assert_eq!(got.iter().map(|a| (a.action, a.key.as_str())).collect::<Vec<_>>(), vec![
            ("PutItem", "CLIENT#1"),
            ("ConditionCheckItem", "PARTNER#2"),
            ("UpdateItem", "COUNT#CLIENTS#ALL#3")
        ]);
        assert_eq!(P.denies(&got[0]), None);
        assert_eq!(P.denies(&got[1]).unwrap(), "f may not ConditionCheckItem partition key PARTNER#2");
        assert!(P.denies(&got[2]).is_some());
    }

    #[test]
    fn a_query_is_checked_by_its_partition_or_its_index() {
        let table = access(
            "Query",
            json!({ "KeyConditionExpression": "#p = :p AND #s < :before", "ExpressionAttributeNames": { "#p": "pk", "#s": "sk" },
                    "ExpressionAttributeValues": { ":p": { "S": "PRODUCTS" }, ":before": { "S": "x" } } }),
        );
        assert_eq!((table[0].key.as_str(), P.denies(&table[0])), ("PRODUCTS", None));
        let clients = access("Query", json!({ "KeyConditionExpression": "#p = :p", "ExpressionAttributeNames": { "#p": "pk" },
            "ExpressionAttributeValues": { ":p": { "S": "CLIENTS#ALL" } } }));
        assert!(P.denies(&clients[0]).is_some(), "CLIENT#* does not cover CLIENTS#");
        let index = |name: &str| access("Query", json!({ "IndexName": name, "KeyConditionExpression": "gsi1pk = :p",
            "ExpressionAttributeValues": { ":p": { "S": "EVENTS#ALL" } } }));
        assert_eq!(P.denies(&index("gsi1")[0]), None);
        assert!(accesses("Query", &json!({ "IndexName": "gsi2", "KeyConditionExpression": "gsi1pk = :p",
            "ExpressionAttributeValues": { ":p": { "S": "x" } } })).is_err(), "the key condition must name the index's partition key");
    }

    #[test]
    fn scans_and_unreadable_requests_are_refused() {
        assert!(accesses("Scan", &json!({ "TableName": "t" })).is_err());
        assert!(accesses("GetItem", &json!({ "Key": { "pk": { "N": "1" } } })).is_err());
        let reads = access("BatchGetItem", json!({ "RequestItems": { "t": { "Keys": [{ "pk": { "S": "CLIENT#1" } }, { "pk": { "S": "TEAMMATE#x" } }] } } }));
        assert_eq!(reads.iter().filter(|a| P.denies(a).is_some()).count(), 1);
    }

    /// A create's transaction as the store sends it: the client, its list entry
    /// under `ALL` (with the four indexes' keys), a counter, a claim check.
    fn create_transaction() -> Value {
        json!({ "TransactItems": [
            { "Put": { "Item": { "pk": { "S": "CLIENT#c1" }, "sk": { "S": "#" }, "name": { "S": "x".repeat(1500) } } } },
            { "Put": { "Item": {
                "pk": { "S": "CLIENTS#ALL" }, "sk": { "S": "c1" }, "id": { "S": "c1" }, "dp": { "S": "p1" }, "rp": { "S": "p1" },
                "status": { "S": "demo" }, "suspended": { "BOOL": false },
                "gsi1pk": { "S": "CLIENTS#ALL#st#demo" }, "gsi1sk": { "S": "c1" },
                "gsi2pk": { "S": "CLIENTS#ALL#su#false" }, "gsi2sk": { "S": "c1" },
                "gsi3pk": { "S": "CLIENTS#ALL#st#demo#su#false" }, "gsi3sk": { "S": "c1" },
                "gsi4pk": { "S": "CLIENTS#ALL#name" }, "gsi4sk": { "S": "ana#c1" } } } },
            { "Update": { "Key": { "pk": { "S": "COUNT#CLIENTS#ALL#3" }, "sk": { "S": "#" } }, "UpdateExpression": "ADD #c0 :c0",
                          "ExpressionAttributeValues": { ":c0": { "N": "1" } } } },
            { "ConditionCheck": { "Key": { "pk": { "S": "PARTNER#p1" }, "sk": { "S": "#" } } } },
        ] })
    }

    #[test]
    fn a_transaction_charges_each_item_twice_and_each_index_a_put_carries_once() {
        let got = charges("TransactWriteItems", &create_transaction(), None).unwrap();
        let by: Vec<(&str, bool, f64)> = got.iter().map(|c| (c.partition.as_str(), c.write, c.units)).collect();
        assert_eq!(by, vec![
            ("CLIENT#c1", true, 4.0), // 1 500 bytes: 2 KB, twice in a transaction
            ("CLIENTS#ALL", true, 2.0),
            ("gsi1:CLIENTS#ALL#st#demo", true, 1.0),
            ("gsi2:CLIENTS#ALL#su#false", true, 1.0),
            ("gsi3:CLIENTS#ALL#st#demo#su#false", true, 1.0),
            ("gsi4:CLIENTS#ALL#name", true, 1.0),
            ("COUNT#CLIENTS#ALL#3", true, 2.0),
            ("PARTNER#p1", true, 2.0),
        ]);
    }

    #[test]
    fn the_heat_interceptor_counts_what_charges_finds_per_partition() {
        let heat = Heat::default();
        heat.start();
        heat.record(charges("TransactWriteItems", &create_transaction(), None));
        heat.record(charges("TransactWriteItems", &create_transaction(), None));
        heat.record(charges("Scan", &json!({}), None));
        let log = heat.stop();
        let totals = log.totals();
        assert_eq!(totals["CLIENTS#ALL"], Counts { reads: 0, writes: 2, read_units: 0.0, write_units: 4.0 });
        assert_eq!(totals["gsi4:CLIENTS#ALL#name"].writes, 2);
        assert_eq!(totals.len(), 8);
        assert_eq!(log.unreadable, vec!["Scan: no capacity rule".to_owned()]);
    }

    #[test]
    fn reads_are_charged_by_the_size_of_their_answer() {
        let big = |id: &str| json!({ "pk": { "S": format!("CLIENT#{id}") }, "sk": { "S": "#" }, "blob": { "S": "y".repeat(5000) } });
        let get = charges("GetItem", &json!({ "Key": { "pk": { "S": "CLIENT#a" }, "sk": { "S": "#" } }, "ConsistentRead": true }), Some(&json!({ "Item": big("a") }))).unwrap();
        assert_eq!((get[0].partition.as_str(), get[0].write, get[0].units), ("CLIENT#a", false, 2.0));
        let missing = charges("GetItem", &json!({ "Key": { "pk": { "S": "CLIENT#b" }, "sk": { "S": "#" } } }), Some(&json!({}))).unwrap();
        assert_eq!(missing[0].units, 0.5, "an eventually consistent miss costs the minimum");
        let batch = charges(
            "BatchGetItem",
            &json!({ "RequestItems": { "t": { "ConsistentRead": true, "Keys": [
                { "pk": { "S": "CLIENT#a" }, "sk": { "S": "#" } }, { "pk": { "S": "CLIENT#b" }, "sk": { "S": "#" } }, { "pk": { "S": "CLIENT#c" }, "sk": { "S": "#" } }] } } }),
            Some(&json!({ "Responses": { "t": [big("a")] }, "UnprocessedKeys": { "t": { "Keys": [{ "pk": { "S": "CLIENT#c" }, "sk": { "S": "#" } }] } } })),
        )
        .unwrap();
        assert_eq!(batch.iter().map(|c| (c.partition.as_str(), c.units)).collect::<Vec<_>>(), vec![("CLIENT#a", 2.0), ("CLIENT#b", 1.0)]);
        let items: Vec<Value> = (0..10).map(|i| big(&i.to_string())).collect();
        let query = charges(
            "Query",
            &json!({ "IndexName": "gsi1", "KeyConditionExpression": "gsi1pk = :p", "ExpressionAttributeValues": { ":p": { "S": "EVENTS#ALL#client.created" } } }),
            Some(&json!({ "Items": items, "Count": 10, "ScannedCount": 20 })),
        )
        .unwrap();
        // 20 items of about 5 KB read: 25 read units of 4 KB, halved (an index is read eventually consistent).
        assert_eq!((query[0].partition.as_str(), query[0].units), ("gsi1:EVENTS#ALL#client.created", 12.5));
    }

    #[test]
    fn item_sizes_follow_dynamodbs_rules_not_the_json() {
        assert_eq!(item_size(&json!({ "pk": { "S": "ab" } })), 4);
        assert_eq!(item_size(&json!({ "n": { "N": "12345" } })), 1 + 4);
        assert_eq!(item_size(&json!({ "m": { "M": { "a": { "BOOL": true } } } })), 1 + 3 + 1 + 1 + 1);
        assert_eq!(item_size(&json!({ "l": { "L": [{ "S": "xy" }, { "NULL": true }] } })), 1 + 3 + 3 + 2);
    }

    #[test]
    fn the_projections_counted_are_the_templates() {
        let template = include_str!("../../../infra/template.yaml");
        for (index, projected) in INDEXES {
            let at = template.find(&format!("IndexName: {index}")).unwrap_or_else(|| panic!("{index} is in the template"));
            let rest = &template[at..];
            let projection = &rest[rest.find("Projection").expect("a projection")..];
            let projection = &projection[..projection.find("- IndexName").or_else(|| projection.find("StreamSpecification")).unwrap_or(projection.len())];
            match projected {
                None => assert!(projection.contains("ProjectionType: ALL"), "{index} projects all"),
                Some(attrs) => assert!(projection.contains(&format!("NonKeyAttributes: [{}]", attrs.join(", "))), "{index}: {projection}"),
            }
        }
    }
}
