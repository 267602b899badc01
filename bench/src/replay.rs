//! The raw baselines: DynamoDB calls made with the SDK alone (no `clientele::store`).
//!
//! A [`Plan`] is a set of calls, each sent once the calls it depends on have answered.
//! The "same calls" baseline is built from a handler's recorded calls: the same
//! requests (operation, table, keys, expressions, items) with the same dependencies
//! (each call waits for every call that had answered before the handler sent it), so it
//! has the handler's calls and depth by construction. A write's transaction is the
//! handler's own, with fresh ids and unique values for each create, and the current
//! version for each update. The "floor" baseline reads the same items in the fewest
//! sequential round trips the operation can possibly need.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, KeysAndAttributes, Put, TransactWriteItem, Update};
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use serde_json::Value;

use crate::trace::{Call, ended_before};

pub type Item = HashMap<String, AttributeValue>;

/// A DynamoDB JSON attribute value as the SDK's.
pub fn av(v: &Value) -> AttributeValue {
    let (kind, inner) = v.as_object().and_then(|o| o.iter().next()).expect("an attribute value is a one-key object");
    match kind.as_str() {
        "S" => AttributeValue::S(inner.as_str().unwrap_or_default().to_owned()),
        "N" => AttributeValue::N(inner.as_str().unwrap_or_default().to_owned()),
        "BOOL" => AttributeValue::Bool(inner.as_bool().unwrap_or_default()),
        "NULL" => AttributeValue::Null(true),
        "L" => AttributeValue::L(inner.as_array().map(|a| a.iter().map(av).collect()).unwrap_or_default()),
        "M" => AttributeValue::M(item(inner)),
        "SS" => AttributeValue::Ss(strings(inner)),
        "NS" => AttributeValue::Ns(strings(inner)),
        other => panic!("attribute type {other} is not replayed"),
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

pub fn item(v: &Value) -> Item {
    v.as_object().map(|o| o.iter().map(|(k, v)| (k.clone(), av(v))).collect()).unwrap_or_default()
}

fn opt_item(v: &Value) -> Option<Item> {
    v.is_object().then(|| item(v))
}

fn names(v: &Value) -> Option<HashMap<String, String>> {
    v.as_object().map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect())
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

/// One write of a transaction, as recorded.
#[derive(Debug, Clone)]
pub struct TxItem {
    kind: String,
    table: String,
    /// The item of a Put, else the key.
    item: Item,
    condition: Option<String>,
    update: Option<String>,
    names: Option<HashMap<String, String>>,
    values: Option<Item>,
}

impl TxItem {
    fn parse(v: &Value) -> Self {
        let (kind, op) = v.as_object().and_then(|o| o.iter().next()).expect("a transaction item");
        Self {
            kind: kind.clone(),
            table: text(&op["TableName"]).unwrap_or_default(),
            item: item(if kind == "Put" { &op["Item"] } else { &op["Key"] }),
            condition: text(&op["ConditionExpression"]),
            update: text(&op["UpdateExpression"]),
            names: names(&op["ExpressionAttributeNames"]),
            values: opt_item(&op["ExpressionAttributeValues"]),
        }
    }

    fn build(self) -> TransactWriteItem {
        let b = TransactWriteItem::builder();
        match self.kind.as_str() {
            "Put" => b.put(
                Put::builder()
                    .table_name(self.table)
                    .set_item(Some(self.item))
                    .set_condition_expression(self.condition)
                    .set_expression_attribute_names(self.names)
                    .set_expression_attribute_values(self.values)
                    .build()
                    .expect("a complete put"),
            ),
            "Update" => b.update(
                Update::builder()
                    .table_name(self.table)
                    .set_key(Some(self.item))
                    .set_update_expression(self.update)
                    .set_condition_expression(self.condition)
                    .set_expression_attribute_names(self.names)
                    .set_expression_attribute_values(self.values)
                    .build()
                    .expect("a complete update"),
            ),
            "Delete" => b.delete(
                Delete::builder()
                    .table_name(self.table)
                    .set_key(Some(self.item))
                    .set_condition_expression(self.condition)
                    .set_expression_attribute_names(self.names)
                    .set_expression_attribute_values(self.values)
                    .build()
                    .expect("a complete delete"),
            ),
            _ => b.condition_check(
                ConditionCheck::builder()
                    .table_name(self.table)
                    .set_key(Some(self.item))
                    .set_condition_expression(self.condition)
                    .set_expression_attribute_names(self.names)
                    .set_expression_attribute_values(self.values)
                    .build()
                    .expect("a complete condition check"),
            ),
        }
        .build()
    }
}

/// What makes each run's transaction new.
#[derive(Clone)]
pub enum Fresh {
    /// Nothing (reads only).
    None,
    /// A create: each run replaces these values of the recorded transaction with new ones.
    Values(Arc<dyn Fn() -> Vec<(String, String)> + Send + Sync>),
    /// An update: the record is written at the version the run read, plus one; the
    /// event gets a new id.
    Version { event_id: String },
}

/// One call of a plan (built once, cloned for each run).
#[derive(Clone)]
#[allow(clippy::large_enum_variant, reason = "a handful per plan, built once")]
pub enum Req {
    Get(aws_sdk_dynamodb::operation::get_item::builders::GetItemFluentBuilder),
    Batch(aws_sdk_dynamodb::operation::batch_get_item::builders::BatchGetItemFluentBuilder),
    Query(aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder),
    Tx(Arc<Vec<TxItem>>),
}

#[derive(Clone)]
pub struct Step {
    pub req: Req,
    /// Indexes of the steps it waits for (all earlier in the plan).
    pub deps: Vec<usize>,
}

/// Calls and their dependencies.
#[derive(Clone)]
pub struct Plan {
    pub db: Client,
    pub steps: Vec<Step>,
    pub fresh: Fresh,
    /// What the plan leaves out of the handler's reads (floors), for the report.
    pub left_out: Vec<String>,
}

struct RunState {
    fresh: Vec<(String, String)>,
    version: Mutex<Option<u64>>,
}

type Done = Shared<BoxFuture<'static, Result<(), String>>>;

fn version_of(item: &Item) -> Option<u64> {
    let pk = item.get("pk")?.as_s().ok()?;
    if !pk.starts_with("CLIENT#") {
        return None;
    }
    item.get("version")?.as_n().ok()?.parse().ok()
}

fn substitute(v: &mut AttributeValue, fresh: &[(String, String)]) {
    match v {
        AttributeValue::S(s) => {
            for (old, new) in fresh {
                if s.contains(old.as_str()) {
                    *s = s.replace(old.as_str(), new);
                }
            }
        }
        AttributeValue::N(n) => {
            if let Some((_, new)) = fresh.iter().find(|(old, _)| old == n) {
                n.clone_from(new);
            }
        }
        AttributeValue::L(l) => l.iter_mut().for_each(|v| substitute(v, fresh)),
        AttributeValue::M(m) => m.values_mut().for_each(|v| substitute(v, fresh)),
        _ => {}
    }
}

impl Plan {
    /// The handler's recorded calls, replayed with the SDK alone, with the same dependencies.
    pub fn replay(db: &Client, calls: &[Call], fresh: Fresh) -> Self {
        let steps = calls.iter().zip(ended_before(calls)).map(|(c, deps)| Step { req: request(db, c), deps }).collect();
        Self { db: db.clone(), steps, fresh, left_out: Vec::new() }
    }

    /// Sends every call, each once its dependencies answered; an error of any fails the run.
    pub async fn run(&self) -> Result<(), String> {
        let fresh = match &self.fresh {
            Fresh::Values(f) => f(),
            Fresh::Version { event_id } => vec![(event_id.clone(), clientele::domain::new_id())],
            Fresh::None => Vec::new(),
        };
        let state = Arc::new(RunState { fresh, version: Mutex::new(None) });
        let versioned = matches!(self.fresh, Fresh::Version { .. });
        let mut done: Vec<Done> = Vec::with_capacity(self.steps.len());
        for step in &self.steps {
            let deps: Vec<Done> = step.deps.iter().map(|&d| done[d].clone()).collect();
            let (req, db, state) = (step.req.clone(), self.db.clone(), state.clone());
            let fut = async move {
                for d in deps {
                    d.await?;
                }
                send(req, &db, &state, versioned).await
            };
            done.push(fut.boxed().shared());
        }
        for r in futures::future::join_all(done).await {
            r?;
        }
        Ok(())
    }
}

async fn send(req: Req, db: &Client, state: &RunState, versioned: bool) -> Result<(), String> {
    let keep = |item: &Item| {
        if versioned && let Some(v) = version_of(item) {
            *state.version.lock().unwrap() = Some(v);
        }
    };
    match req {
        Req::Get(b) => {
            let out = b.send().await.map_err(|e| format!("GetItem: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
            if let Some(i) = out.item() {
                keep(i);
            }
        }
        Req::Batch(b) => {
            let out = b.send().await.map_err(|e| format!("BatchGetItem: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
            for items in out.responses().map(|r| r.values()).into_iter().flatten() {
                items.iter().for_each(keep);
            }
        }
        Req::Query(b) => {
            b.send().await.map_err(|e| format!("Query: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        }
        Req::Tx(items) => {
            let version = *state.version.lock().unwrap();
            let writes: Vec<TransactWriteItem> = items
                .iter()
                .cloned()
                .map(|mut t| {
                    t.item.values_mut().for_each(|v| substitute(v, &state.fresh));
                    if let Some(values) = &mut t.values {
                        values.values_mut().for_each(|v| substitute(v, &state.fresh));
                    }
                    if versioned
                        && let Some(cur) = version
                        && t.kind == "Put"
                        && version_of(&t.item).is_some()
                    {
                        t.item.insert("version".into(), AttributeValue::N((cur + 1).to_string()));
                        if let Some(values) = &mut t.values {
                            values.insert(":v".into(), AttributeValue::N(cur.to_string()));
                        }
                    }
                    t.build()
                })
                .collect();
            db.transact_write_items()
                .set_transact_items(Some(writes))
                .client_request_token(uuid::Uuid::new_v4().to_string())
                .send()
                .await
                .map_err(|e| format!("TransactWriteItems: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        }
    }
    Ok(())
}

/// A recorded call as an SDK request.
pub fn request(db: &Client, c: &Call) -> Req {
    let b = &c.body;
    match c.op.as_str() {
        "GetItem" => Req::Get(
            db.get_item()
                .set_table_name(text(&b["TableName"]))
                .set_key(opt_item(&b["Key"]))
                .set_consistent_read(b["ConsistentRead"].as_bool())
                .set_projection_expression(text(&b["ProjectionExpression"]))
                .set_expression_attribute_names(names(&b["ExpressionAttributeNames"])),
        ),
        "BatchGetItem" => {
            let mut req = db.batch_get_item();
            for (table, ka) in b["RequestItems"].as_object().into_iter().flatten() {
                let keys: Vec<Item> = ka["Keys"].as_array().map(|a| a.iter().map(item).collect()).unwrap_or_default();
                let ka = KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .set_consistent_read(ka["ConsistentRead"].as_bool())
                    .set_projection_expression(text(&ka["ProjectionExpression"]))
                    .set_expression_attribute_names(names(&ka["ExpressionAttributeNames"]))
                    .build()
                    .expect("keys set");
                req = req.request_items(table, ka);
            }
            Req::Batch(req)
        }
        "Query" => Req::Query(
            db.query()
                .set_table_name(text(&b["TableName"]))
                .set_index_name(text(&b["IndexName"]))
                .set_key_condition_expression(text(&b["KeyConditionExpression"]))
                .set_filter_expression(text(&b["FilterExpression"]))
                .set_projection_expression(text(&b["ProjectionExpression"]))
                .set_expression_attribute_names(names(&b["ExpressionAttributeNames"]))
                .set_expression_attribute_values(opt_item(&b["ExpressionAttributeValues"]))
                .set_scan_index_forward(b["ScanIndexForward"].as_bool())
                .set_consistent_read(b["ConsistentRead"].as_bool())
                .set_limit(b["Limit"].as_i64().map(|l| l as i32))
                .set_exclusive_start_key(opt_item(&b["ExclusiveStartKey"])),
        ),
        "TransactWriteItems" => Req::Tx(Arc::new(b["TransactItems"].as_array().map(|a| a.iter().map(TxItem::parse).collect()).unwrap_or_default())),
        other => panic!("the bench does not replay {other}; teach bench/src/replay.rs"),
    }
}

/// Every item a recorded call reads by key (`GetItem`, `BatchGetItem`), as (table, key).
pub fn point_reads(c: &Call) -> Vec<(String, Item)> {
    let b = &c.body;
    match c.op.as_str() {
        "GetItem" => vec![(text(&b["TableName"]).unwrap_or_default(), item(&b["Key"]))],
        "BatchGetItem" => b["RequestItems"]
            .as_object()
            .into_iter()
            .flatten()
            .flat_map(|(t, ka)| ka["Keys"].as_array().into_iter().flatten().map(move |k| (t.clone(), item(k))))
            .collect(),
        _ => Vec::new(),
    }
}

pub fn pk(key: &Item) -> String {
    key.get("pk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default()
}

/// One read of these keys: a `GetItem` for one, else one `BatchGetItem` (duplicates dropped).
pub fn read(db: &Client, table: &str, mut keys: Vec<Item>) -> Req {
    let mut seen = std::collections::HashSet::new();
    keys.retain(|k| seen.insert(format!("{}|{:?}", pk(k), k.get("sk"))));
    if keys.len() == 1 {
        return Req::Get(db.get_item().table_name(table).set_key(keys.pop()).consistent_read(true));
    }
    let ka = KeysAndAttributes::builder().set_keys(Some(keys)).consistent_read(true).build().expect("keys set");
    Req::Batch(db.batch_get_item().request_items(table, ka))
}
