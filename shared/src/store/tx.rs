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
        Self { items: Vec::new(), counters: Vec::new() }
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
        self.items.len() + self.counters.len()
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

    pub(crate) async fn commit(mut self, db: &Dynamo) -> Result<(), Failed<L>> {
        self.counter_updates();
        if self.items.len() > MAX_ITEMS {
            return Err(Failed::Error(ApiError::internal(format!(
                "transaction of {} items exceeds DynamoDB's {MAX_ITEMS}",
                self.items.len()
            ))));
        }
        let (writes, labels): (Vec<_>, Vec<_>) = self.items.into_iter().unzip();
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
}
