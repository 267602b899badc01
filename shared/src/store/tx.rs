//! Building and committing one `TransactWriteItems`.
//!
//! Each write is added with a label saying what its condition guards; when
//! DynamoDB cancels the transaction, the cancellation reasons (one per item, in
//! order) tell which condition failed, and the label becomes the API's answer
//! (`email_taken`, `version_mismatch`, ...). Transactions cancelled only by
//! another transaction touching the same items (hot counters) are retried here,
//! within a time budget; contention that outlasts it is a 503 the caller may retry.
//!
//! Each send carries a `ClientRequestToken`, so when the SDK retries a call whose
//! answer was lost (a timeout after DynamoDB applied it), DynamoDB recognises the
//! retry and does not apply the writes a second time (nor fail the retry on the
//! conditions the first run made false). When that retry finds the first still
//! running (`TransactionInProgressException`), it is asked again with the same
//! token; a new token is drawn only after a cancelled (so unapplied) transaction.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client as Dynamo;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{ConditionCheck, Delete, Put, TransactWriteItem, Update};
use rand::Rng;

use super::{Item, sdk_error};
use crate::error::ApiError;

/// The most items DynamoDB accepts in one transaction.
pub const MAX_ITEMS: usize = 100;
/// How long a transaction may keep retrying after contention before giving up with 503.
const CONTENTION_BUDGET: Duration = Duration::from_millis(3_000);

/// Why a transaction did not commit.
#[derive(Debug)]
pub enum Failed<L> {
    /// The condition of the item labelled `L` was false.
    Condition(L),
    /// Anything else.
    Error(ApiError),
}

impl<L> From<ApiError> for Failed<L> {
    fn from(e: ApiError) -> Self {
        Self::Error(e)
    }
}

/// The writes of one transaction, each with an optional label for its condition.
pub struct Tx<L> {
    items: Vec<(TransactWriteItem, Option<L>)>,
    /// Counter additions, merged by item (see [`Tx::add`]).
    counters: Vec<Counter>,
    /// List entries whose partitions wait for their scopes' widths (see [`Tx::put_listed`]).
    listed: Vec<Listed>,
}

/// How a list entry's partition keys end until its shard is known: `<list>#~`.
pub const UNPLACED: &str = "#~";

/// A list entry (unconditional put or delete) of record `id` under `scope`, whose
/// partition keys (`pk`, and each index's `gsi*pk`) end in [`UNPLACED`].
struct Listed {
    table: String,
    scope: String,
    id: String,
    item: Item,
    delete: bool,
}

/// The additions to one counter item: its table, the group that names it whatever its
/// shard, its key, and each attribute's delta.
struct Counter {
    table: String,
    group: String,
    key: Item,
    deltas: Vec<(String, i64)>,
}

impl<L: Copy> Default for Tx<L> {
    fn default() -> Self {
        Self { items: Vec::new(), counters: Vec::new(), listed: Vec::new() }
    }
}

/// One condition on an item: expression plus its placeholder values.
pub struct Cond {
    pub expression: &'static str,
    pub values: Vec<(&'static str, aws_sdk_dynamodb::types::AttributeValue)>,
}

impl Cond {
    pub fn new(expression: &'static str) -> Self {
        Self { expression, values: Vec::new() }
    }

    pub fn value(mut self, name: &'static str, v: aws_sdk_dynamodb::types::AttributeValue) -> Self {
        self.values.push((name, v));
        self
    }
}

impl<L: Copy> Tx<L> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.items.len() + self.counters.len() + self.listed.len()
    }

    /// Puts list entry `item` of record `id` under `scope`, its partition keys ending in
    /// [`UNPLACED`]: [`Tx::place`] puts it in its shard once the scope's width is known.
    pub fn put_listed(&mut self, table: &str, scope: &str, id: &str, item: Item) {
        self.listed.push(Listed { table: table.to_owned(), scope: scope.to_owned(), id: id.to_owned(), item, delete: false });
    }

    /// Deletes the list entry of record `id` under `scope` (`key`'s `pk` ending in [`UNPLACED`]).
    pub fn delete_listed(&mut self, table: &str, scope: &str, id: &str, key: Item) {
        self.listed.push(Listed { table: table.to_owned(), scope: scope.to_owned(), id: id.to_owned(), item: key, delete: true });
    }

    /// The scopes whose widths [`Tx::place`] needs.
    pub fn listed_scopes(&self) -> Vec<String> {
        let mut scopes: Vec<String> = self.listed.iter().map(|l| l.scope.clone()).collect();
        scopes.sort();
        scopes.dedup();
        scopes
    }

    /// Puts each list entry in its shard of its scope's width (`widths`, by scope).
    ///
    /// # Errors
    /// When `widths` lacks an entry's scope, or an entry's `pk` is not [`UNPLACED`].
    pub fn place(&mut self, widths: &std::collections::HashMap<String, super::lists::Width>) -> Result<(), ApiError> {
        for mut l in std::mem::take(&mut self.listed) {
            let width = widths.get(&l.scope).ok_or_else(|| ApiError::internal(format!("no list width read for scope {}", l.scope)))?;
            if !matches!(l.item.get("pk"), Some(aws_sdk_dynamodb::types::AttributeValue::S(pk)) if pk.ends_with(UNPLACED)) {
                return Err(ApiError::internal("a list entry's partition key is not left to be placed"));
            }
            for (name, value) in &mut l.item {
                let partition_key = name == "pk" || (name.starts_with("gsi") && name.ends_with("pk"));
                if let (true, aws_sdk_dynamodb::types::AttributeValue::S(v)) = (partition_key, value)
                    && let Some(base) = v.strip_suffix(UNPLACED)
                {
                    *v = super::lists::shard_pk(base, &l.id, width);
                }
            }
            if l.delete {
                self.delete(&l.table, l.item, None, None);
            } else {
                self.put(&l.table, l.item, None, None);
            }
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds `deltas` to the counter item of `group` (an `ADD` update, unconditional).
    /// Additions to one group in one transaction go to one item, in one update: the
    /// first names the item (`key`, its shard drawn then), the later ones join it. So
    /// lists that count in the same item (a client's list and its event's, per scope)
    /// cost one write, and a transaction never names an item twice.
    pub fn add(&mut self, table: &str, group: String, key: impl FnOnce() -> Item, deltas: &[(String, i64)]) {
        let at = match self.counters.iter().position(|c| c.table == table && c.group == group) {
            Some(at) => at,
            None => {
                self.counters.push(Counter { table: table.to_owned(), group, key: key(), deltas: Vec::new() });
                self.counters.len() - 1
            }
        };
        let sums = &mut self.counters[at].deltas;
        for (field, delta) in deltas {
            match sums.iter_mut().find(|(f, _)| f == field) {
                Some(sum) => sum.1 += delta,
                None => sums.push((field.clone(), *delta)),
            }
        }
    }

    /// The counters' updates, each item once, its zero sums left out.
    fn counter_updates(&mut self) {
        for c in std::mem::take(&mut self.counters) {
            let deltas: Vec<(String, i64)> = c.deltas.into_iter().filter(|(_, d)| *d != 0).collect();
            if deltas.is_empty() {
                continue;
            }
            let mut names = Vec::new();
            let mut values = Vec::new();
            let mut parts = Vec::new();
            for (i, (field, delta)) in deltas.into_iter().enumerate() {
                names.push((format!("#c{i}"), field));
                values.push((format!(":c{i}"), super::n(delta)));
                parts.push(format!("#c{i} :c{i}"));
            }
            self.update(&c.table, c.key, format!("ADD {}", parts.join(", ")), names, values, None, None);
        }
    }

    /// A put that must not overwrite anything (`attribute_not_exists(pk)`).
    pub fn create(&mut self, table: &str, item: Item, label: L) {
        self.put(table, item, Some(Cond::new("attribute_not_exists(pk)")), Some(label));
    }

    /// A put, with an optional condition.
    pub fn put(&mut self, table: &str, item: Item, cond: Option<Cond>, label: Option<L>) {
        let mut b = Put::builder().table_name(table).set_item(Some(item));
        if let Some(c) = cond {
            b = b.condition_expression(c.expression);
            for (k, v) in c.values {
                b = b.expression_attribute_values(k, v);
            }
        }
        self.items.push((TransactWriteItem::builder().put(b.build().expect("table and item set")).build(), label));
    }

    /// A delete, with an optional condition.
    pub fn delete(&mut self, table: &str, key: Item, cond: Option<Cond>, label: Option<L>) {
        let mut b = Delete::builder().table_name(table).set_key(Some(key));
        if let Some(c) = cond {
            b = b.condition_expression(c.expression);
            for (k, v) in c.values {
                b = b.expression_attribute_values(k, v);
            }
        }
        self.items.push((TransactWriteItem::builder().delete(b.build().expect("table and key set")).build(), label));
    }

    /// An update expression, with optional condition; `names` fills `#n` placeholders.
    #[allow(clippy::too_many_arguments, reason = "the parts of one UpdateItem, each named at the call")]
    pub fn update(
        &mut self,
        table: &str,
        key: Item,
        expression: String,
        names: Vec<(String, String)>,
        values: Vec<(String, aws_sdk_dynamodb::types::AttributeValue)>,
        cond: Option<Cond>,
        label: Option<L>,
    ) {
        let mut b = Update::builder().table_name(table).set_key(Some(key)).update_expression(expression);
        for (k, v) in names {
            b = b.expression_attribute_names(k, v);
        }
        for (k, v) in values {
            b = b.expression_attribute_values(k, v);
        }
        if let Some(c) = cond {
            b = b.condition_expression(c.expression);
            for (k, v) in c.values {
                b = b.expression_attribute_values(k, v);
            }
        }
        self.items.push((TransactWriteItem::builder().update(b.build().expect("table, key, expression set")).build(), label));
    }

    /// A condition on an item the transaction does not write.
    pub fn check(&mut self, table: &str, key: Item, cond: Cond, label: L) {
        let mut b = ConditionCheck::builder()
            .table_name(table)
            .set_key(Some(key))
            .condition_expression(cond.expression);
        for (k, v) in cond.values {
            b = b.expression_attribute_values(k, v);
        }
        self.items.push((TransactWriteItem::builder().condition_check(b.build().expect("complete")).build(), Some(label)));
    }

    /// Sends the transaction (after [`Tx::place`]): its outcome, and the list entries
    /// DynamoDB throttled on the way, as `(scope, record id)` (whose lists should widen).
    pub(crate) async fn commit(mut self, db: &Dynamo) -> (Result<(), Failed<L>>, Vec<(String, String)>) {
        let mut throttled = Vec::new();
        let result = self.send(db, &mut throttled).await;
        throttled.sort();
        throttled.dedup();
        (result, throttled)
    }

    async fn send(&mut self, db: &Dynamo, throttled: &mut Vec<(String, String)>) -> Result<(), Failed<L>> {
        if !self.listed.is_empty() {
            return Err(Failed::Error(ApiError::internal("a transaction's list entries were not placed before its commit")));
        }
        self.counter_updates();
        if self.items.len() > MAX_ITEMS {
            return Err(Failed::Error(ApiError::internal(format!(
                "transaction of {} items exceeds DynamoDB's {MAX_ITEMS}",
                self.items.len()
            ))));
        }
        let (writes, labels): (Vec<_>, Vec<_>) = std::mem::take(&mut self.items).into_iter().unzip();
        let started = Instant::now();
        let mut attempt = 0u32;
        let mut token = uuid::Uuid::new_v4().to_string();
        loop {
            let result = db
                .transact_write_items()
                .set_transact_items(Some(writes.clone()))
                .client_request_token(&token)
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(()),
                Err(err) => err,
            };
            let reasons = match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(e)) => {
                    // Cancelled, so nothing was applied: the next try is a new transaction.
                    token = uuid::Uuid::new_v4().to_string();
                    e.cancellation_reasons().to_vec()
                }
                // The SDK's retry of a send whose answer was lost found the first still
                // running: asked again with the same token, DynamoDB answers for that
                // one (applied once) instead of applying the writes a second time.
                Some(TransactWriteItemsError::TransactionInProgressException(_)) => Vec::new(),
                _ => return Err(Failed::Error(sdk_error("TransactWriteItems", err))),
            };
            let codes: Vec<&str> = reasons.iter().map(|r| r.code().unwrap_or("None")).collect();
            for (i, _) in codes.iter().enumerate().filter(|(_, c)| matches!(**c, "ThrottlingError" | "ProvisionedThroughputExceeded")) {
                if let Some((pk, sk)) = writes.get(i).and_then(item_key)
                    && let Some(scope) = super::lists::list_scope(pk)
                {
                    throttled.push((scope.to_owned(), sk.to_owned()));
                }
            }
            if let Some(i) = codes.iter().position(|c| *c == "ConditionalCheckFailed") {
                if let Some(label) = labels[i] {
                    return Err(Failed::Condition(label));
                }
                return Err(Failed::Error(ApiError::internal(format!("unlabelled condition {i} failed"))));
            }
            let contended = codes.is_empty()
                || codes.iter().all(|c| matches!(*c, "None" | "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"));
            attempt += 1;
            if !contended {
                return Err(Failed::Error(sdk_error("TransactWriteItems", err)));
            }
            if attempt > 10 || started.elapsed() > CONTENTION_BUDGET {
                tracing::warn!(attempts = attempt, ?codes, "transaction still contended; answering 503");
                return Err(Failed::Error(ApiError::Unavailable(Box::new(err))));
            }
            // Full jitter, growing from ~20 ms: contending writers spread out.
            let cap = 20u64 << attempt.min(6);
            let wait = rand::thread_rng().gen_range(cap / 2..=cap);
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
    }
}

/// The key (`pk`, `sk`) of a put's item or of a delete's or update's key.
fn item_key(w: &TransactWriteItem) -> Option<(&str, &str)> {
    let key = w.put().map(Put::item).or_else(|| w.delete().map(Delete::key)).or_else(|| w.update().map(Update::key))?;
    match (key.get("pk"), key.get("sk")) {
        (Some(aws_sdk_dynamodb::types::AttributeValue::S(pk)), Some(aws_sdk_dynamodb::types::AttributeValue::S(sk))) => Some((pk, sk)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;

    fn key(pk: &str) -> Item {
        Item::from([("pk".to_owned(), super::super::s(pk)), ("sk".to_owned(), super::super::s("#"))])
    }

    #[test]
    fn counters_of_one_group_are_one_update_and_zero_sums_are_left_out() {
        let mut tx: Tx<()> = Tx::new();
        tx.add("t", "COUNT#EVENTS#ALL".into(), || key("COUNT#EVENTS#ALL#3"), &[("total".into(), 1), ("type_client.created".into(), 1)]);
        // The second list of the same group joins the first one's item, whatever key it would draw.
        tx.add("t", "COUNT#EVENTS#ALL".into(), || key("COUNT#EVENTS#ALL#5"), &[("c.total".into(), 1), ("total".into(), 1)]);
        tx.add("t", "COUNT#EVENTS#p1".into(), || key("COUNT#EVENTS#p1#0"), &[("c.su_true".into(), 1), ("c.su_false".into(), -1)]);
        tx.add("t", "COUNT#EVENTS#p1".into(), || key("COUNT#EVENTS#p1#1"), &[("c.su_true".into(), -1), ("c.su_false".into(), 1)]);
        assert_eq!(tx.len(), 2);
        tx.counter_updates();
        assert_eq!(tx.items.len(), 1, "the group whose sums are all zero writes nothing");
        let update = tx.items[0].0.update().expect("an update");
        assert_eq!(update.key()["pk"], super::super::s("COUNT#EVENTS#ALL#3"));
        assert_eq!(update.update_expression(), "ADD #c0 :c0, #c1 :c1, #c2 :c2");
        let names = update.expression_attribute_names().expect("names");
        let values = update.expression_attribute_values().expect("values");
        let by_name: Vec<(&str, &AttributeValue)> =
            (0..3).map(|i| (names[&format!("#c{i}")].as_str(), &values[&format!(":c{i}")])).collect();
        assert_eq!(by_name, vec![
            ("total", &AttributeValue::N("2".into())),
            ("type_client.created", &AttributeValue::N("1".into())),
            ("c.total", &AttributeValue::N("1".into())),
        ]);
    }

    #[test]
    fn list_entries_are_placed_in_their_shard_of_their_scopes_width_before_the_commit() {
        use std::collections::HashMap;
        let id = "0190aaaa-0000-7000-8000-000000000000";
        let listed = || {
            let mut tx: Tx<()> = Tx::new();
            let mut item = key(&format!("CLIENTS#p1{UNPLACED}"));
            item.insert("gsi1pk".into(), super::super::s(format!("CLIENTS#p1#st#live{UNPLACED}")));
            item.insert("name".into(), super::super::s(format!("odd{UNPLACED}")));
            tx.put_listed("t", "p1", id, item);
            tx.delete_listed("t", "ALL", id, key(&format!("CLIENTS#ALL{UNPLACED}")));
            tx
        };
        let mut tx = listed();
        assert_eq!(tx.listed_scopes(), ["ALL", "p1"]);
        let wide = super::super::lists::Width::default();
        assert!(tx.place(&HashMap::from([("p1".to_owned(), wide.clone())])).is_err(), "a scope without its width read is refused");
        let mut tx = listed();
        tx.place(&HashMap::from([("p1".to_owned(), wide.clone()), ("ALL".to_owned(), wide)])).expect("placed");
        assert_eq!(tx.items.len(), 2);
        let put = tx.items[0].0.put().expect("a put").item();
        let shard = super::super::lists::shard_pk("CLIENTS#p1", id, &super::super::lists::Width::default());
        assert_eq!(put["pk"], super::super::s(shard.clone()));
        assert_eq!(put["gsi1pk"], super::super::s(format!("CLIENTS#p1#st#live#{}", shard.rsplit('#').next().unwrap())));
        assert_eq!(put["name"], super::super::s(format!("odd{UNPLACED}")), "only partition keys are placed");
        assert_eq!(tx.items[1].0.delete().expect("a delete").key()["pk"], super::super::s("CLIENTS#ALL#0"), "a scope never widened is one partition");
    }

    #[tokio::test]
    async fn a_transaction_with_unplaced_list_entries_is_refused_before_any_call() {
        // A client whose every call would fail to connect: the refusal comes first.
        let conf = aws_sdk_dynamodb::Config::builder()
            .behavior_version_latest()
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:9")
            .build();
        let mut tx: Tx<()> = Tx::new();
        tx.put("t", key("CLIENT#c1"), None, None);
        tx.put_listed("t", "p1", "0190aaaa-0000-7000-8000-000000000000", key(&format!("CLIENTS#p1{UNPLACED}")));
        let (result, throttled) = tx.commit(&Dynamo::from_conf(conf)).await;
        match result {
            Err(Failed::Error(e)) => assert!(format!("{e:?}").contains("were not placed"), "{e:?}"),
            _ => panic!("an unplaced transaction was not refused"),
        }
        assert!(throttled.is_empty());
    }
}
