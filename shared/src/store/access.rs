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

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
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
            (Some(why), Mode::Enforce) => Err(format!("AccessDenied by the key policy: {why}").into()),
            _ => Ok(()),
        }
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
}
