//! List entries, counters and newest-first pages, shared by every list.
//!
//! A record listed under a partner tree gets one entry per scope (`ALL` and each
//! ancestor). Counters are spread over [`COUNTER_SHARDS`] items per scope, each
//! write picking one at random, so that a busy partner's creates do not all
//! contend on one item; a total is one `BatchGetItem` of the shards.
//!
//! The busiest lists (clients and events: every change writes to the platform's
//! `ALL` lists and to each of its partners') are spread the same way over
//! [`LIST_SHARDS`] partitions, an entry's shard a hash of its record's id (so its
//! updates and its delete find it). A page of a sharded list reads the page from
//! every shard at once and merges them by sort key: the same entries, order and
//! cursors as one partition would give, at one round trip and at most one page per
//! shard (a `skip` of n reads up to n keys of each), while no partition key takes
//! more than its share of the writes.

use rand::Rng;

use super::cursor::Page;
use super::tx::Tx;
use super::{Item, Store, key, s, sdk_error, string_attr};
use crate::error::ApiError;

/// How many items one scope's counters are spread over.
pub const COUNTER_SHARDS: u32 = 8;

/// How many partitions a sharded list (clients, events) is spread over. Four: at 1 000
/// creates a second into one partner, its list entries (2 write units each, in a
/// transaction) take 500 units a second of each partition, half of one partition's limit
/// (`make load`, docs/SCALE.md); every page reads each partition once, so each one more is
/// one more Query on every list page (8 were 12 calls a page, 4 are 7).
pub const LIST_SHARDS: u32 = 4;

/// The partition of sharded list `base` that holds the entry of record `id`:
/// `<base>#<shard>`, the shard an FNV-1a hash of the id (stable everywhere, so
/// whoever writes, moves or deletes the entry finds the same partition).
pub fn shard_pk(base: &str, id: &str) -> String {
    let hash = id.bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    format!("{base}#{}", hash % LIST_SHARDS)
}

/// The scope every record is listed under, for the platform admin.
pub const ALL: &str = "ALL";

/// The scopes a record with this ancestor path is listed under.
pub fn scopes(path: &[String]) -> Vec<String> {
    std::iter::once(ALL.to_owned()).chain(path.iter().cloned()).collect()
}

/// Where the counters of `list` live: the counter items' list and the prefix of their
/// attributes. A client's list counts in its scope's event counters (`c.<field>`): every
/// client change writes an event to the same scopes in the same transaction, so the two
/// cost one counter write a scope instead of two.
fn counter_home(list: &str) -> (&str, &'static str) {
    if list == CLIENTS_LIST { ("EVENTS", "c.") } else { (list, "") }
}

/// The list whose counters live in the event counters' items.
const CLIENTS_LIST: &str = "CLIENTS";

/// Adds `deltas` to counters of `list` (e.g. `CLIENTS`) in `scope`, in the transaction:
/// one of the scope's [`COUNTER_SHARDS`] items, drawn at random (or the one this
/// transaction already adds to).
pub fn add_counters<L: Copy>(tx: &mut Tx<L>, table: &str, list: &str, scope: &str, deltas: &[(String, i64)]) {
    if deltas.is_empty() {
        return;
    }
    let (home, prefix) = counter_home(list);
    let group = format!("COUNT#{home}#{scope}");
    let fields: Vec<(String, i64)> = deltas.iter().map(|(field, d)| (format!("{prefix}{field}"), *d)).collect();
    let item = || key(format!("{group}#{}", rand::thread_rng().gen_range(0..COUNTER_SHARDS)), "#");
    tx.add(table, group.clone(), item, &fields);
}

/// A partition to page through, newest first: the base table or one index; or a
/// sharded list there, whose partitions are `<pk>#0` .. `<pk>#<LIST_SHARDS - 1>`.
pub struct Partition {
    pub index: Option<&'static str>,
    pub pk_name: &'static str,
    pub sk_name: &'static str,
    pub pk: String,
    pub sharded: bool,
}

impl Partition {
    /// A partition of the base table.
    pub fn table(pk: String) -> Self {
        Self { index: None, pk_name: "pk", sk_name: "sk", pk, sharded: false }
    }

    /// A partition of `gsiN`.
    pub fn index(index: &'static str, pk_name: &'static str, sk_name: &'static str, pk: String) -> Self {
        Self { index: Some(index), pk_name, sk_name, pk, sharded: false }
    }

    /// The same list spread over [`LIST_SHARDS`] partitions (its entries written under
    /// [`shard_pk`]).
    #[must_use]
    pub fn sharded(self) -> Self {
        Self { sharded: true, ..self }
    }

    /// The partition keys to read.
    fn keys(&self) -> Vec<String> {
        if self.sharded { (0..LIST_SHARDS).map(|i| format!("{}#{i}", self.pk)).collect() } else { vec![self.pk.clone()] }
    }
}

/// The first `want` entries of shards that are each newest first (descending sort key
/// `sk`), merged newest first: exactly what one partition holding them all would give.
fn merge_newest_first(shards: Vec<Vec<Item>>, sk: &str, want: usize) -> Vec<Item> {
    let mut all: Vec<Item> = shards.into_iter().flatten().collect();
    all.sort_by_key(|e| std::cmp::Reverse(string_attr(e, sk)));
    all.truncate(want);
    all
}

/// One page of entries and, when more follow, the sort key to continue after.
pub struct EntryPage {
    pub entries: Vec<Item>,
    pub next_after: Option<String>,
}

impl EntryPage {
    /// The value of string attribute `name` of each entry.
    pub fn strings(&self, name: &str) -> Vec<String> {
        self.entries.iter().filter_map(|e| string_attr(e, name)).collect()
    }
}

/// The keys of the counter items of `list` in `scope` (to read in a batch of one's own).
pub fn counter_pks(list: &str, scope: &str) -> Vec<String> {
    let (home, _) = counter_home(list);
    (0..COUNTER_SHARDS).map(|i| format!("COUNT#{home}#{scope}#{i}")).collect()
}

/// Whether `pk` is the key of a counter item.
pub fn is_counter_pk(pk: &str) -> bool {
    pk.starts_with("COUNT#")
}

/// The sum of counter `field` of `list` over counter items read by [`counter_pks`].
pub fn sum_counter(items: &[Item], list: &str, field: &str) -> u64 {
    let (_, prefix) = counter_home(list);
    let field = format!("{prefix}{field}");
    let total: i64 = items
        .iter()
        .filter_map(|item| match item.get(&field) {
            Some(aws_sdk_dynamodb::types::AttributeValue::N(n)) => n.parse::<i64>().ok(),
            _ => None,
        })
        .sum();
    total.max(0) as u64
}

impl Store {
    /// The sum of counter `field` over the shards of `list` in `scope`.
    pub(crate) async fn count(&self, list: &str, scope: &str, field: &str) -> Result<u64, ApiError> {
        Ok(sum_counter(&self.batch_get_items(&counter_pks(list, scope)).await?, list, field))
    }

    /// One page of `partition`, newest first, after `page.after` and past `page.skip` entries.
    pub(crate) async fn page(&self, part: &Partition, page: &Page) -> Result<EntryPage, ApiError> {
        let mut after = page.after.clone();
        if page.skip > 0 {
            let skipped = self.collect(part, after.as_deref(), page.skip, true).await?;
            if skipped.len() < page.skip {
                return Ok(EntryPage { entries: Vec::new(), next_after: None });
            }
            after = skipped.last().and_then(|e| string_attr(e, part.sk_name));
        }
        let mut entries = self.collect(part, after.as_deref(), page.limit + 1, false).await?;
        let more = entries.len() > page.limit;
        entries.truncate(page.limit);
        let next_after = if more { entries.last().and_then(|e| string_attr(e, part.sk_name)) } else { None };
        Ok(EntryPage { entries, next_after })
    }

    /// Up to `want` entries of `part` after `after`, newest first: of a sharded list,
    /// up to `want` from each shard at once, merged.
    async fn collect(&self, part: &Partition, after: Option<&str>, want: usize, keys_only: bool) -> Result<Vec<Item>, ApiError> {
        let keys = part.keys();
        let shards = futures::future::try_join_all(keys.iter().map(|pk| self.collect_one(part, pk, after, want, keys_only))).await?;
        Ok(merge_newest_first(shards, part.sk_name, want))
    }

    /// Up to `want` entries of partition `pk` of `part` after `after`, newest first.
    async fn collect_one(&self, part: &Partition, pk: &str, after: Option<&str>, want: usize, keys_only: bool) -> Result<Vec<Item>, ApiError> {
        let mut items = Vec::with_capacity(want.min(1000));
        let mut start: Option<Item> = None;
        loop {
            let mut q = self
                .db
                .query()
                .table_name(&self.table)
                .set_index_name(part.index.map(str::to_owned))
                .key_condition_expression(if after.is_some() { "#p = :p AND #s < :a" } else { "#p = :p" })
                .expression_attribute_names("#p", part.pk_name)
                .expression_attribute_values(":p", s(pk))
                .scan_index_forward(false)
                .limit(i32::try_from(want - items.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take());
            if let Some(a) = after {
                q = q.expression_attribute_values(":a", s(a));
            }
            if after.is_some() || keys_only {
                q = q.expression_attribute_names("#s", part.sk_name);
            }
            if keys_only {
                q = q.projection_expression("#s");
            }
            if part.index.is_none() {
                q = q.consistent_read(true);
            }
            let out = q.send().await.map_err(|e| sdk_error("Query", e))?;
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if items.len() >= want || start.is_none() {
                return Ok(items);
            }
        }
    }

    /// How many items partition `pk` of the base table holds: a `Query` that counts, so
    /// it costs in proportion to them (for lists without a counter, such as one client's
    /// events).
    pub(crate) async fn count_partition(&self, pk: &str) -> Result<u64, ApiError> {
        let mut total = 0u64;
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .db
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :p")
                .expression_attribute_values(":p", s(pk))
                .select(aws_sdk_dynamodb::types::Select::Count)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error("Query", e))?;
            total += u64::try_from(out.count).unwrap_or(0);
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(total);
            }
        }
    }

    /// Up to `limit` entries of a time-keyed queue (an index partition whose sort
    /// keys start with a timestamp), oldest first, whose sort key is below `before`.
    pub(crate) async fn oldest_before(&self, part: &Partition, before: &str, limit: i32) -> Result<Vec<Item>, ApiError> {
        let out = self
            .db
            .query()
            .table_name(&self.table)
            .set_index_name(part.index.map(str::to_owned))
            .key_condition_expression("#p = :p AND #s < :before")
            .expression_attribute_names("#p", part.pk_name)
            .expression_attribute_names("#s", part.sk_name)
            .expression_attribute_values(":p", s(part.pk.clone()))
            .expression_attribute_values(":before", s(before))
            .limit(limit)
            .send()
            .await
            .map_err(|e| sdk_error("Query", e))?;
        Ok(out.items.unwrap_or_default())
    }

    /// Every entry of `part` whose sort key begins with `prefix` (for filters that
    /// may cost in proportion to their matches), of every shard of a sharded list, in no
    /// particular order.
    pub(crate) async fn all_with_prefix(&self, part: &Partition, prefix: &str) -> Result<Vec<Item>, ApiError> {
        let keys = part.keys();
        let shards = futures::future::try_join_all(keys.iter().map(|pk| self.all_with_prefix_one(part, pk, prefix))).await?;
        Ok(shards.into_iter().flatten().collect())
    }

    async fn all_with_prefix_one(&self, part: &Partition, pk: &str, prefix: &str) -> Result<Vec<Item>, ApiError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut q = self
                .db
                .query()
                .table_name(&self.table)
                .set_index_name(part.index.map(str::to_owned))
                .expression_attribute_names("#p", part.pk_name)
                .expression_attribute_values(":p", s(pk))
                .set_exclusive_start_key(start.take());
            // An empty prefix means the whole partition (a sort key is never empty).
            q = if prefix.is_empty() {
                q.key_condition_expression("#p = :p")
            } else {
                q.key_condition_expression("#p = :p AND begins_with(#s, :prefix)")
                    .expression_attribute_names("#s", part.sk_name)
                    .expression_attribute_values(":prefix", s(prefix))
            };
            let out = q.send().await.map_err(|e| sdk_error("Query", e))?;
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn entries(sks: &[&str]) -> Vec<Item> {
        sks.iter().map(|sk| HashMap::from([("sk".to_owned(), s(*sk))])).collect()
    }

    fn sks(items: &[Item]) -> Vec<String> {
        items.iter().filter_map(|i| string_attr(i, "sk")).collect()
    }

    #[test]
    fn shards_merge_into_the_order_one_partition_would_give() {
        let shards = vec![entries(&["09", "05", "01"]), entries(&["08", "07"]), Vec::new(), entries(&["06", "02"])];
        assert_eq!(sks(&merge_newest_first(shards.clone(), "sk", 4)), ["09", "08", "07", "06"]);
        assert_eq!(sks(&merge_newest_first(shards, "sk", 100)), ["09", "08", "07", "06", "05", "02", "01"]);
    }

    #[test]
    fn an_entrys_shard_is_its_ids_everywhere_and_ids_spread_over_every_shard() {
        let id = "01a237a5-7c86-727a-8d91-468d176b8daf";
        assert_eq!(shard_pk("CLIENTS#ALL", id), shard_pk("CLIENTS#ALL", id));
        let used: std::collections::HashSet<String> = (0..200)
            .map(|_| shard_pk("CLIENTS#ALL", &crate::domain::new_id()))
            .map(|pk| pk.rsplit('#').next().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(used.len(), LIST_SHARDS as usize, "200 new ids land in every shard: {used:?}");
    }
}
