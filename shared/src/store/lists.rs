//! List entries, counters and newest-first pages, shared by every list.
//!
//! A record listed under a partner tree gets one entry per scope (`ALL` and each
//! ancestor). Counters are spread over [`COUNTER_SHARDS`] items per scope, each
//! write picking one at random, so that a busy partner's creates do not all
//! contend on one item; a total is one `BatchGetItem` of the shards.
//!
//! The busiest lists (clients and events: every change writes to the platform's
//! `ALL` lists and to each of its partners') can be spread over several partitions,
//! an entry's shard a hash of its record's id. How many is the scope's width
//! ([`Widths`]): one until DynamoDB throttles a write to them, then doubling. A page
//! of a list reads the page from every partition at once and merges them by sort
//! key: the same entries, order and cursors as one partition would give, at one
//! round trip and at most one page per partition (a `skip` of n reads at most about 2n
//! keys, a share of each partition at a time), while no partition key takes more than
//! its share of the writes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;
use rand::Rng;

use super::cursor::Page;
use super::tx::Tx;
use super::{Item, Store, key, s, sdk_error, string_attr};
use crate::error::ApiError;

/// How many items one scope's counters are spread over.
pub const COUNTER_SHARDS: u32 = 8;

/// How many partitions the webhook due queue is spread over (fixed: its poller reads
/// each one, and no list page does).
pub const QUEUE_SHARDS: u32 = 4;

/// The partition of the due queue that holds the entry of `id`: `<base>#<shard>`, the
/// shard an FNV-1a hash of the id, so every writer finds the same partition.
pub fn queue_shard_pk(base: &str, id: &str) -> String {
    format!("{base}#{}", fnv(id) % QUEUE_SHARDS)
}

fn fnv(id: &str) -> u32 {
    id.bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

/// The widest a scope's lists grow. 8 partitions take 8 000 write units a second, about
/// 4 000 creates a second into one scope (4 times `make load`'s target), while a page
/// stays at most 8 `Query`s (three times that for a union of three lists,
/// [`Partition::and`]: `suspended=` alone), and a `skip` holds at most about
/// twice as many keys as it passes ([`Skipper`]).
pub const MAX_WIDTH: u32 = 8;

/// How long a process trusts the widths it read (see [`Widths`]).
const WIDTHS_TTL: Duration = Duration::from_secs(20);

/// How far ahead of its recording a widening takes effect. It must exceed
/// [`WIDTHS_TTL`] plus the longest request (the functions' 15 s timeout) plus clock
/// skew, so that no process holding the widths from before it has minted, or will
/// mint, an id dated after it (see [`Widths`]).
pub const WIDEN_DELAY: Duration = Duration::from_secs(60);

/// The widths of one scope's lists over time: `(from, width)` pairs, `from` in Unix ms.
/// Before the first, a scope's lists are one partition wide.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Width(Vec<(i64, u32)>);

impl Width {
    /// The width in force at `ms`: the entries of records whose ids are dated then
    /// are spread over this many partitions.
    pub fn at(&self, ms: i64) -> u32 {
        self.0.iter().filter(|(from, _)| *from <= ms).map(|(_, w)| *w).max().unwrap_or(1)
    }

    /// The widest the lists have been or are about to be: every partition a reader must read.
    pub fn widest(&self) -> u32 {
        self.0.iter().map(|(_, w)| *w).max().unwrap_or(1)
    }

    /// When the last widening took effect (or takes effect).
    fn last_from(&self) -> i64 {
        self.0.iter().map(|(from, _)| *from).max().unwrap_or(i64::MIN)
    }

    fn from_item(item: &Item) -> Self {
        let mut steps = Vec::new();
        if let Some(AttributeValue::L(list)) = item.get("h") {
            for step in list {
                if let AttributeValue::S(s) = step
                    && let Some((from, w)) = s.split_once(':')
                    && let (Ok(from), Ok(w)) = (from.parse::<i64>(), w.parse::<u32>())
                {
                    steps.push((from, w.clamp(1, MAX_WIDTH)));
                }
            }
        }
        Self(steps)
    }
}

/// The time (Unix ms) an id is dated: a UUIDv7's timestamp (every id Clientele mints,
/// numbered ones included); 0 for anything else.
fn id_millis(id: &str) -> i64 {
    uuid::Uuid::parse_str(id)
        .ok()
        .and_then(|u| u.get_timestamp())
        .map(|t| {
            let (secs, nanos) = t.to_unix();
            i64::try_from(secs).unwrap_or(i64::MAX / 2_000) * 1_000 + i64::from(nanos / 1_000_000)
        })
        .unwrap_or(0)
}

/// The partition of `scope`'s list `base` (`CLIENTS#<scope>`, an index's
/// `CLIENTS#<scope>#st#live`, ...) that holds the entry of record `id`:
/// `<base>#<shard>`, the shard an FNV-1a hash of the id modulo the scope's width at
/// the id's date. Widths only grow and a widening takes effect [`WIDEN_DELAY`] after
/// it is recorded, so whoever writes, moves or deletes the entry, with widths read up
/// to [`WIDTHS_TTL`] ago, finds the same partition.
pub fn shard_pk(base: &str, id: &str, width: &Width) -> String {
    format!("{base}#{}", fnv(id) % width.at(id_millis(id)).max(1))
}

/// Each scope's list widths, as this process last read them (each for up to
/// [`WIDTHS_TTL`]).
///
/// A scope's lists (clients, events, and their indexes) start one partition wide, so a
/// page is one `Query`. When DynamoDB throttles a write to one of them (a partition
/// past its 1 000 write units a second), the scope's width doubles, up to
/// [`MAX_WIDTH`], [`WIDEN_DELAY`] after the throttle. An entry stays in the partition
/// its id's date and the width then put it in: nothing moves. A reader reads every
/// partition up to the widest width recorded; one holding widths up to
/// [`WIDTHS_TTL`] old misses only widenings not yet in effect, whose partitions
/// hold nothing yet.
#[derive(Clone, Default)]
pub struct Widths {
    /// Each scope's widths and when they were read (Unix ms: the wall clock, which goes on
    /// while Lambda freezes a process between invocations, where a monotonic clock may not).
    cache: Arc<Mutex<HashMap<String, (i64, Width)>>>,
    /// [`WIDEN_DELAY`], shorter only where one process alone uses the table (a test).
    delay: Option<Duration>,
}

impl Widths {
    /// Widths whose widenings take effect `delay` after a throttle.
    pub fn with_delay(delay: Duration) -> Self {
        Self { delay: Some(delay), ..Self::default() }
    }
}

/// Widths cached at most: past this the cache starts again (a process serving that
/// many scopes in 20 s reads them again).
const WIDTHS_CACHED: usize = 10_000;

/// The item holding a scope's widths.
fn width_pk(scope: &str) -> String {
    format!("WIDTH#{scope}")
}

/// The scope of a list partition key (`CLIENTS#<scope>#<shard>`, `EVENTS#<scope>#<shard>`).
pub fn list_scope(pk: &str) -> Option<&str> {
    let rest = pk.strip_prefix("CLIENTS#").or_else(|| pk.strip_prefix("EVENTS#"))?;
    let (scope, shard) = rest.split_once('#')?;
    shard.parse::<u32>().ok().map(|_| scope)
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
/// scope's sharded list there, whose partitions are `<pk>#0` .. `<pk>#<width - 1>`.
pub struct Partition {
    pub index: Option<&'static str>,
    pub pk_name: &'static str,
    pub sk_name: &'static str,
    pub pk: String,
    /// The scope whose width a sharded list has.
    pub sharded: Option<String>,
    /// Only the entries this scope sees: those whose `sc` (the scopes that see them)
    /// names it. An entry without `sc` passes, for its reader to judge.
    pub seen_by: Option<String>,
    /// More partitions of the same index whose entries belong to the list too, merged
    /// with `pk`'s by sort key (each sharded like it): a list that is the union of
    /// disjoint lists, such as one filter's entries under each status.
    pub also: Vec<String>,
}

/// The most a filtered read that came back short asks for next by growing alone
/// ([`Store::collect_one`], [`Skipper`], where a fair share may ask for more); a `Query`
/// stops at 1 MB read whatever its `Limit`.
const FILTERED_READ_MAX: usize = 1000;

impl Partition {
    /// A partition of the base table.
    pub fn table(pk: String) -> Self {
        Self { index: None, pk_name: "pk", sk_name: "sk", pk, sharded: None, seen_by: None, also: Vec::new() }
    }

    /// A partition of `gsiN`.
    pub fn index(index: &'static str, pk_name: &'static str, sk_name: &'static str, pk: String) -> Self {
        Self { index: Some(index), pk_name, sk_name, pk, sharded: None, seen_by: None, also: Vec::new() }
    }

    /// The same list of `scope`, spread over as many partitions as the scope's width
    /// (its entries written under [`shard_pk`]).
    #[must_use]
    pub fn sharded(self, scope: &str) -> Self {
        Self { sharded: Some(scope.to_owned()), ..self }
    }

    /// The union of this list and the lists of `pks` in the same index
    /// ([`Partition::also`]); their entries must be disjoint, their sort keys comparable.
    #[must_use]
    pub fn and(self, pks: Vec<String>) -> Self {
        Self { also: pks, ..self }
    }

    /// The same list as `scope` sees it ([`Partition::seen_by`]): its pages and its count.
    #[must_use]
    pub fn seen_by(self, scope: &str) -> Self {
        Self { seen_by: Some(scope.to_owned()), ..self }
    }

    /// Adds the [`Partition::seen_by`] filter to a `Query`.
    fn filter(&self, q: QueryFluentBuilder) -> QueryFluentBuilder {
        match &self.seen_by {
            Some(scope) => q
                .filter_expression("attribute_not_exists(#sc) OR contains(#sc, :sc)")
                .expression_attribute_names("#sc", "sc")
                .expression_attribute_values(":sc", s(scope)),
            None => q,
        }
    }

}

/// The first `want` entries of shards that are each newest first (descending sort key
/// `sk`), merged newest first: exactly what one partition holding them all would give.
/// With `once`, an entry found in two of them (its sort key twice) counts once. It merges
/// a page's worth of each (a `skip` goes through [`Skipper`] instead).
fn merge_newest_first(shards: Vec<Vec<Item>>, sk: &str, want: usize, once: bool) -> Vec<Item> {
    fn key<'a>(e: &'a Item, sk: &str) -> Option<&'a str> {
        match e.get(sk) {
            Some(AttributeValue::S(v)) => Some(v.as_str()),
            _ => None,
        }
    }
    let mut all: Vec<Item> = shards.into_iter().flatten().collect();
    all.sort_by(|a, b| key(b, sk).cmp(&key(a, sk)));
    if once {
        all.dedup_by(|a, b| key(a, sk) == key(b, sk));
    }
    all.truncate(want);
    all
}

/// Passes over the first `skip` entries of partitions that are each newest first,
/// reading each a chunk of keys at a time: it finds the key [`merge_newest_first`] of
/// `skip` entries from every partition would end with, without holding `skip` keys of
/// each, nor reading them.
///
/// It passes keys newest first while every partition that may hold more has a key in
/// hand (the next newest is then among them), and asks for a chunk of each one that has
/// none, in one round trip with those running low. A chunk is a fair share of what is
/// left to pass, an eighth more for partitions that are not quite even (of one partition
/// alone, what is left), and never less than [`SKIP_READ_FLOOR`] or what is left,
/// whichever is less. A partition that passed more than half of what it held holds the
/// newest keys: it reads twice as many each time, the hot ones of a round sharing what is
/// left. So a `skip` holds, and reads, at most 1.6 times `skip` keys when the partitions
/// are even (little more than `skip` for a large one), and up to about 2.2 times when a
/// few hold the newest, in a few round trips (more when DynamoDB's 1 MB stops each read
/// of the one partition holding them). Reading each partition's first `skip` held 240 000
/// keys for a `skip` of 10 000 across the 24 partitions of a union at [`MAX_WIDTH`]. A
/// filtered read ([`Partition::seen_by`]: a `Query`'s `Limit` counts
/// the entries it reads before the filter drops any) that came back short asks four
/// times as many the next time, up to [`FILTERED_READ_MAX`]. With `once` (a union,
/// [`Partition::and`]) a key found in two partitions counts once, as in
/// [`merge_newest_first`].
struct Skipper {
    runs: Vec<Run>,
    skip: usize,
    passed: usize,
    last: Option<String>,
    once: bool,
    filtered: bool,
}

/// The fewest keys a [`Skipper`] asks of a partition while more than that are left to pass.
const SKIP_READ_FLOOR: usize = 16;

/// One partition of a [`Skipper`].
#[derive(Default)]
struct Run {
    /// Keys read and not yet passed, oldest first (the newest comes off the end).
    keys: Vec<String>,
    /// The partition holds nothing more to read.
    ended: bool,
    /// How many keys its last read asked for, and whether fewer came without its end.
    asked: usize,
    short: bool,
    /// How many keys it held once its last read came in (a filtered read's come after
    /// the filter, where `asked` counts before it).
    fed: usize,
}

impl Skipper {
    fn new(partitions: usize, skip: usize, once: bool, filtered: bool) -> Self {
        debug_assert!(skip > 0, "a skip passes over something");
        Self { runs: (0..partitions).map(|_| Run::default()).collect(), skip, passed: 0, last: None, once, filtered }
    }

    /// Passes over keys while it can. `Some` when done: the `skip`-th key, or `None`
    /// when the partitions hold fewer. `None` while a partition must be read first
    /// ([`Skipper::reads`]).
    fn pass(&mut self) -> Option<Option<String>> {
        loop {
            if self.runs.iter().any(|r| r.keys.is_empty() && !r.ended) {
                return None;
            }
            let newest = self.runs.iter_mut().filter(|r| !r.keys.is_empty()).max_by(|a, b| a.keys.last().cmp(&b.keys.last()));
            let Some(key) = newest.and_then(|r| r.keys.pop()) else { return Some(None) };
            if self.once && self.last.as_ref() == Some(&key) {
                continue;
            }
            self.passed += 1;
            if self.passed >= self.skip {
                return Some(Some(key));
            }
            self.last = Some(key);
        }
    }

    /// The partitions to read next, each with how many keys to ask for: every one that
    /// has no key in hand and may hold more, and with them those holding fewer than
    /// half a chunk.
    fn reads(&mut self) -> Vec<(usize, usize)> {
        let open = self.runs.iter().filter(|r| !r.ended).count().max(1);
        let left = self.skip - self.passed;
        let share = left.div_ceil(open);
        // No fewer than what is left, up to a small floor: near its end (or of a small
        // skip) one more read of a partition then finishes it, not a trickle of them.
        let share = if open == 1 { left } else { (share + share / 8 + 1).max(left.min(SKIP_READ_FLOOR)) };
        let filtered = self.filtered;
        // Those running low are read in the same round trip: they would be next. One that
        // has passed more than half of what it held after its last read holds the newest
        // keys: it reads twice as many each time, so a few partitions holding most of the
        // newest keys take a few round trips, not one per share. The hot ones of a round
        // share what is left between them (an eighth more each), so that when most are hot
        // (even partitions) the doubling does not read several times what is left.
        let low = share.div_ceil(2);
        let hot = |run: &Run| run.keys.len() < run.fed / 2;
        let wanted = |run: &Run| !run.ended && (run.keys.len() < low || hot(run));
        let hot_ones = self.runs.iter().filter(|r| wanted(r) && hot(r)).count().max(1);
        let hot_share = left.div_ceil(hot_ones);
        let hot_share = hot_share + hot_share / 8 + 1;
        self.runs
            .iter_mut()
            .enumerate()
            .filter(|(_, run)| wanted(run))
            .map(|(i, run)| {
                let mut n = share;
                if hot(run) {
                    n = n.max(run.asked.saturating_mul(2).min(hot_share).min(left));
                }
                if filtered && run.short {
                    n = n.max(run.asked.saturating_mul(4).min(FILTERED_READ_MAX));
                }
                run.asked = n;
                (i, n)
            })
            .collect()
    }

    /// Hands over the keys read from partition `i` (newest first, all older than those
    /// it holds), and whether it has nothing more.
    fn feed(&mut self, i: usize, mut keys: Vec<String>, ended: bool) {
        let run = &mut self.runs[i];
        run.short = !ended && keys.len() < run.asked;
        keys.reverse();
        keys.append(&mut run.keys);
        run.fed = keys.len();
        run.keys = keys;
        run.ended = ended;
    }
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
    /// The partition keys of `part` to read (`pk` and its [`Partition::also`]): of a
    /// sharded list, one per partition up to its scope's widest width.
    async fn partition_keys(&self, part: &Partition) -> Result<Vec<String>, ApiError> {
        let lists = std::iter::once(&part.pk).chain(&part.also);
        let Some(scope) = &part.sharded else { return Ok(lists.cloned().collect()) };
        let width = self.widths(std::slice::from_ref(scope)).await?.remove(scope).unwrap_or_default();
        Ok(lists.flat_map(|pk| (0..width.widest()).map(move |i| format!("{pk}#{i}"))).collect())
    }

    /// The list widths of `scopes`, each from this process's cache when read less than
    /// [`WIDTHS_TTL`] ago, the others in one `BatchGetItem`.
    pub(crate) async fn widths(&self, scopes: &[String]) -> Result<HashMap<String, Width>, ApiError> {
        let mut found = HashMap::with_capacity(scopes.len());
        let mut missing = Vec::new();
        let now = chrono::Utc::now().timestamp_millis();
        let ttl = i64::try_from(WIDTHS_TTL.as_millis()).unwrap_or(0);
        {
            let cache = self.widths.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for scope in scopes {
                match cache.get(scope) {
                    // Fresh, and the clock has not gone back since.
                    Some((read, w)) if (*read..*read + ttl).contains(&now) => {
                        found.insert(scope.clone(), w.clone());
                    }
                    _ => missing.push(width_pk(scope)),
                }
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        missing.sort();
        missing.dedup();
        let read = now;
        let items = self.batch_get_items(&missing).await?;
        let mut cache = self.widths.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() + missing.len() > WIDTHS_CACHED {
            cache.clear();
        }
        for pk in &missing {
            let scope = pk.trim_start_matches("WIDTH#");
            let width = items.iter().find(|i| string_attr(i, "pk").as_deref() == Some(pk)).map(Width::from_item).unwrap_or_default();
            cache.insert(scope.to_owned(), (read, width.clone()));
            found.insert(scope.to_owned(), width);
        }
        Ok(found)
    }

    /// Doubles the width of `scope`'s lists (DynamoDB throttled a write to the entry of
    /// record `id` in one of them), taking effect [`WIDEN_DELAY`] from now: unless it is
    /// at [`MAX_WIDTH`] already, or its last widening has not taken effect yet (one
    /// doubling per delay, however many writes were throttled meanwhile), or the entry
    /// was placed under an earlier width (a change to an older record: it stays where it
    /// is, so no widening would spread it).
    pub(crate) async fn widen(&self, scope: &str, id: &str) -> Result<(), ApiError> {
        let current = self.widths(&[scope.to_owned()]).await?.remove(scope).unwrap_or_default();
        if id_millis(id) < current.last_from() {
            return Ok(());
        }
        self.widen_to(scope, current.widest().saturating_mul(2)).await
    }

    /// Widens `scope`'s lists to `width` partitions (at most [`MAX_WIDTH`]) from
    /// [`WIDEN_DELAY`] on, as throttles would, for a scope about to be busy (a load
    /// run's); nothing when they are that wide already or a widening is pending.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn widen_to(&self, scope: &str, width: u32) -> Result<(), ApiError> {
        let current = self.widths(&[scope.to_owned()]).await?.remove(scope).unwrap_or_default();
        let now = chrono::Utc::now().timestamp_millis();
        let next = width.min(MAX_WIDTH);
        if next <= current.widest() || current.last_from() > now {
            return Ok(());
        }
        let delay = i64::try_from(self.widths.delay.unwrap_or(WIDEN_DELAY).as_millis()).unwrap_or(i64::MAX);
        let from = now.saturating_add(delay);
        let result = self
            .db
            .update_item()
            .table_name(&self.table)
            .set_key(Some(super::key(width_pk(scope), "#")))
            .update_expression("SET w = :w, w_from = :from, h = list_append(if_not_exists(h, :none), :step)")
            .condition_expression("attribute_not_exists(w) OR (w < :w AND w_from <= :now)")
            .expression_attribute_values(":w", super::n(i64::from(next)))
            .expression_attribute_values(":from", super::n(from))
            .expression_attribute_values(":now", super::n(now))
            .expression_attribute_values(":none", AttributeValue::L(Vec::new()))
            .expression_attribute_values(":step", AttributeValue::L(vec![s(format!("{from}:{next}"))]))
            .send()
            .await;
        self.widths.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(scope);
        match result {
            Ok(_) => {
                tracing::warn!(scope, width = next, from, "a list partition was throttled: the scope's lists widen");
                Ok(())
            }
            Err(e) if e.as_service_error().is_some_and(aws_sdk_dynamodb::operation::update_item::UpdateItemError::is_conditional_check_failed_exception) => Ok(()),
            Err(e) => Err(sdk_error("UpdateItem", e)),
        }
    }

    /// The sum of counter `field` over the shards of `list` in `scope`.
    pub(crate) async fn count(&self, list: &str, scope: &str, field: &str) -> Result<u64, ApiError> {
        Ok(sum_counter(&self.batch_get_items(&counter_pks(list, scope)).await?, list, field))
    }

    /// One page of `partition`, newest first, after `page.after` and past `page.skip` entries.
    pub(crate) async fn page(&self, part: &Partition, page: &Page) -> Result<EntryPage, ApiError> {
        let mut after = page.after.clone();
        if page.skip > 0 {
            match self.skip_past(part, after.as_deref(), page.skip).await? {
                Some(key) => after = Some(key),
                None => return Ok(EntryPage { entries: Vec::new(), next_after: None }),
            }
        }
        let mut entries = self.collect(part, after.as_deref(), page.limit + 1).await?;
        let more = entries.len() > page.limit;
        entries.truncate(page.limit);
        let next_after = if more { entries.last().and_then(|e| string_attr(e, part.sk_name)) } else { None };
        Ok(EntryPage { entries, next_after })
    }

    /// The sort key of the `skip`-th entry of `part` after `after`, newest first (`None`
    /// when it holds fewer), read a chunk of keys per partition at a time
    /// ([`Skipper`]): up to about twice `skip` keys held and read, at any width.
    async fn skip_past(&self, part: &Partition, after: Option<&str>, skip: usize) -> Result<Option<String>, ApiError> {
        let keys = self.partition_keys(part).await?;
        let mut skipper = Skipper::new(keys.len(), skip, !part.also.is_empty(), part.seen_by.is_some());
        let mut starts: Vec<Option<Item>> = vec![None; keys.len()];
        loop {
            if let Some(found) = skipper.pass() {
                return Ok(found);
            }
            let reads = skipper.reads();
            let chunks = futures::future::try_join_all(reads.iter().map(|&(i, n)| self.read_keys(part, &keys[i], after, n, starts[i].take()))).await?;
            for ((i, _), (chunk, next)) in reads.into_iter().zip(chunks) {
                skipper.feed(i, chunk, next.is_none());
                starts[i] = next;
            }
        }
    }

    /// A `Query` of up to `n` entries of partition `pk` of `part` after `after` (from
    /// `start`, where the last one stopped), newest first, as `part` sees them.
    fn newest_first(&self, part: &Partition, pk: &str, after: Option<&str>, n: usize, start: Option<Item>) -> QueryFluentBuilder {
        let mut q = self
            .db
            .query()
            .table_name(&self.table)
            .set_index_name(part.index.map(str::to_owned))
            .key_condition_expression(if after.is_some() { "#p = :p AND #s < :a" } else { "#p = :p" })
            .expression_attribute_names("#p", part.pk_name)
            .expression_attribute_values(":p", s(pk))
            .scan_index_forward(false)
            .limit(i32::try_from(n).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start);
        if let Some(a) = after {
            q = q.expression_attribute_names("#s", part.sk_name).expression_attribute_values(":a", s(a));
        }
        if part.index.is_none() {
            q = q.consistent_read(true);
        }
        part.filter(q)
    }

    /// One `Query` of up to `n` sort keys of partition `pk` of `part` after `after`
    /// (from `start`, where the last one stopped), newest first, and where the next
    /// starts (`None`: the partition has no more).
    async fn read_keys(&self, part: &Partition, pk: &str, after: Option<&str>, n: usize, start: Option<Item>) -> Result<(Vec<String>, Option<Item>), ApiError> {
        let q = self.newest_first(part, pk, after, n, start).expression_attribute_names("#s", part.sk_name).projection_expression("#s");
        let out = q.send().await.map_err(|e| sdk_error("Query", e))?;
        let keys = out.items.unwrap_or_default().iter().filter_map(|e| string_attr(e, part.sk_name)).collect();
        Ok((keys, out.last_evaluated_key))
    }

    /// Up to `want` entries of `part` after `after`, newest first: of a sharded list,
    /// up to `want` from each shard at once, merged.
    ///
    /// The lists of a union ([`Partition::and`]) are an index's: a change that moves an
    /// entry from one to another (a client's status) reaches the index a moment later, so
    /// for that moment both may hold it. It is shown once. The page stays as full, and its
    /// end as true, as one list's: each list's first `want` are distinct entries, so when
    /// one list has that many the union does too, and every entry of the union's first
    /// `want` is among its own list's first `want`.
    async fn collect(&self, part: &Partition, after: Option<&str>, want: usize) -> Result<Vec<Item>, ApiError> {
        let keys = self.partition_keys(part).await?;
        let shards = futures::future::try_join_all(keys.iter().map(|pk| self.collect_one(part, pk, after, want))).await?;
        Ok(merge_newest_first(shards, part.sk_name, want, !part.also.is_empty()))
    }

    /// Up to `want` entries of partition `pk` of `part` after `after`, newest first.
    ///
    /// A `Query`'s `Limit` counts the items it reads, before a filter
    /// ([`Partition::seen_by`]) drops any: a filtered read that comes back short reads
    /// four times as many the next time (up to [`FILTERED_READ_MAX`]), so a long run of
    /// entries the reader does not see costs a few round trips, not one per page's worth.
    async fn collect_one(&self, part: &Partition, pk: &str, after: Option<&str>, want: usize) -> Result<Vec<Item>, ApiError> {
        let mut items = Vec::with_capacity(want.min(1000));
        let mut start: Option<Item> = None;
        // What a filtered read asks for beyond what is still wanted (none unfiltered).
        let mut read = if part.seen_by.is_some() { want } else { 0 };
        loop {
            let q = self.newest_first(part, pk, after, read.max(want - items.len()), start.take());
            let out = q.send().await.map_err(|e| sdk_error("Query", e))?;
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if items.len() >= want || start.is_none() {
                items.truncate(want);
                return Ok(items);
            }
            if part.seen_by.is_some() {
                read = (read * 4).min(FILTERED_READ_MAX);
            }
        }
    }

    /// How many items partition `pk` of the base table holds: a `Query` that counts, so
    /// it costs in proportion to them (for lists without a counter, such as one client's
    /// events).
    pub(crate) async fn count_partition(&self, part: &Partition) -> Result<u64, ApiError> {
        debug_assert!(part.also.is_empty() && part.sharded.is_none(), "counts one partition");
        let mut total = 0u64;
        let mut start: Option<Item> = None;
        loop {
            let q = self
                .db
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :p")
                .expression_attribute_values(":p", s(&part.pk))
                .select(aws_sdk_dynamodb::types::Select::Count)
                .consistent_read(true)
                .set_exclusive_start_key(start.take());
            let out = part.filter(q).send().await.map_err(|e| sdk_error("Query", e))?;
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
        debug_assert!(part.also.is_empty() && part.sharded.is_none(), "reads one partition");
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
        let keys = self.partition_keys(part).await?;
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
        assert_eq!(sks(&merge_newest_first(shards.clone(), "sk", 4, false)), ["09", "08", "07", "06"]);
        assert_eq!(sks(&merge_newest_first(shards, "sk", 100, false)), ["09", "08", "07", "06", "05", "02", "01"]);
    }

    /// An entry in two lists of a union (a status change not yet in the index) counts
    /// once, and the page is still as full as it can be.
    #[test]
    fn a_union_shows_an_entry_found_in_two_of_its_lists_once() {
        let lists = vec![entries(&["09", "06", "03"]), entries(&["08", "06", "02"]), entries(&["07", "03"])];
        assert_eq!(sks(&merge_newest_first(lists.clone(), "sk", 5, true)), ["09", "08", "07", "06", "03"]);
        assert_eq!(sks(&merge_newest_first(lists.clone(), "sk", 100, true)), ["09", "08", "07", "06", "03", "02"]);
        // Without `once` (shards of one list, whose entries never repeat), nothing is dropped.
        assert_eq!(merge_newest_first(lists, "sk", 100, false).len(), 8);
    }

    /// What a [`Skipper`] driven over in-memory partitions found, and what it cost.
    struct Driven {
        found: Option<String>,
        most_held: usize,
        read: usize,
        rounds: usize,
    }

    /// Drives a [`Skipper`] over `parts` (each newest first) as [`Store::skip_past`]
    /// drives it over `Query`s: a read of `n` goes through `through(n)` entries (fewer
    /// than `n` where DynamoDB's 1 MB stops a `Query`), returns those `keep` lets through,
    /// and ends a partition only when it stopped short of `n` at its end (DynamoDB answers
    /// a read that fills its `Limit` with a key to go on from, even at the end).
    fn drive(parts: &[Vec<String>], skip: usize, once: bool, keep: Option<&dyn Fn(&str) -> bool>, through: &mut dyn FnMut(usize) -> usize) -> Driven {
        let mut skipper = Skipper::new(parts.len(), skip, once, keep.is_some());
        let mut at = vec![0; parts.len()];
        let (mut most_held, mut read, mut rounds) = (0, 0, 0);
        loop {
            if let Some(found) = skipper.pass() {
                return Driven { found, most_held, read, rounds };
            }
            rounds += 1;
            assert!(rounds < 10_000, "the skip ends");
            for (i, n) in skipper.reads() {
                let end = (at[i] + through(n).min(n)).min(parts[i].len());
                let chunk: Vec<String> = parts[i][at[i]..end].iter().filter(|k| keep.is_none_or(|f| f(k))).cloned().collect();
                let ended = end == parts[i].len() && end - at[i] < n;
                at[i] = end;
                read += chunk.len();
                skipper.feed(i, chunk, ended);
            }
            most_held = most_held.max(skipper.runs.iter().map(|r| r.keys.len()).sum());
        }
    }

    /// The `skip`-th key of `parts` merged, as [`merge_newest_first`] finds it.
    fn merged(parts: &[Vec<String>], skip: usize, once: bool, keep: Option<&dyn Fn(&str) -> bool>) -> Option<String> {
        let shards = parts.iter().map(|p| entries(&p.iter().filter(|k| keep.is_none_or(|f| f(k))).map(String::as_str).collect::<Vec<_>>())).collect();
        let page = merge_newest_first(shards, "sk", skip, once);
        if page.len() < skip { None } else { page.last().and_then(|e| string_attr(e, "sk")) }
    }

    /// Partitions of `sizes` distinct keys drawn from `pool` at random, each newest first.
    fn partitions(sizes: &[usize], pool: &mut Vec<String>) -> Vec<Vec<String>> {
        sizes
            .iter()
            .map(|&n| {
                let mut p: Vec<String> = pool.drain(..n.min(pool.len())).collect();
                p.sort_by(|a, b| b.cmp(a));
                p
            })
            .collect()
    }

    fn key_pool(n: usize, rng: &mut impl Rng) -> Vec<String> {
        let mut pool: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        while pool.len() < n {
            pool.insert(format!("{:08}", rng.gen_range(0..100_000_000)));
        }
        let mut pool: Vec<String> = pool.into_iter().collect();
        rand::seq::SliceRandom::shuffle(pool.as_mut_slice(), rng);
        pool
    }

    /// A generator of its own for each seed, so that a failure names what repeats it.
    fn seeded(seed: u64) -> rand::rngs::StdRng {
        rand::SeedableRng::seed_from_u64(seed)
    }

    /// A `skip` read a chunk at a time lands on the key a merge of every partition's
    /// first `skip` would: over any number of partitions, uneven, filtered, short reads,
    /// a union's repeated keys, and skips past the end.
    #[test]
    fn a_skip_read_in_chunks_lands_where_the_whole_merge_does() {
        let mut rng = seeded(22);
        let odd = |k: &str| k.ends_with(['1', '3', '5']);
        for case in 0..600 {
            let count = rng.gen_range(1..=24);
            let sizes: Vec<usize> = (0..count).map(|_| if rng.gen_bool(0.2) { 0 } else { rng.gen_range(1..80) }).collect();
            let mut pool = key_pool(sizes.iter().sum(), &mut rng);
            let mut parts = partitions(&sizes, &mut pool);
            let once = case % 2 == 0;
            if once && parts.len() > 1 {
                // A union's lists may briefly share an entry (a status change on its way).
                for _ in 0..rng.gen_range(1..6) {
                    let (from, to) = (rng.gen_range(0..parts.len()), rng.gen_range(0..parts.len()));
                    if from != to && !parts[from].is_empty() {
                        let k = parts[from][rng.gen_range(0..parts[from].len())].clone();
                        if !parts[to].contains(&k) {
                            parts[to].push(k);
                            parts[to].sort_by(|a, b| b.cmp(a));
                        }
                    }
                }
            }
            let keep: Option<&dyn Fn(&str) -> bool> = if case % 3 == 0 { Some(&odd) } else { None };
            let total: usize = parts.iter().map(Vec::len).sum();
            for skip in [1, 2, rng.gen_range(1..=total + 3), total.max(1), total + 1] {
                // A quarter of the reads stop short, anywhere, some with nothing.
                let mut through = |n| if rng.gen_bool(0.25) { rng.gen_range(0..=n) } else { n };
                let got = drive(&parts, skip, once, keep, &mut through);
                assert_eq!(got.found, merged(&parts, skip, once, keep), "case {case}: skip {skip} over {sizes:?}");
            }
        }
    }

    /// `count` partitions of which the first `hot` hold the newest `newest` keys between
    /// them (spread at random) and the others `older` keys each, all older.
    fn hot_partitions(count: usize, hot: usize, newest: usize, older: usize, rng: &mut impl Rng) -> Vec<Vec<String>> {
        let mut pool = key_pool(newest + (count - hot) * older, rng);
        pool.sort_by(|a, b| b.cmp(a));
        let mut parts = vec![Vec::new(); count];
        for (i, k) in pool.into_iter().enumerate() {
            let at = if i < newest { rng.gen_range(0..hot) } else { hot + (i - newest) % (count - hot) };
            parts[at].push(k);
        }
        parts
    }

    /// A `skip` over the 24 partitions of a union at width 8 holds, and reads, at most
    /// about twice what it passes (at most 1.6 times when the partitions are even), in a
    /// few round trips, however few of them hold the newest keys (reviews found a
    /// partition holding them all cost 91 round trips before the doubling, and even
    /// partitions read 3.5 times the skip with a doubling unshared); one partition alone is
    /// read on as DynamoDB's 1 MB allows (about 3 000 list entries a `Query`, as every
    /// read here).
    #[test]
    fn a_deep_skip_holds_and_reads_about_what_it_passes() {
        let kept = |k: &str| !k.ends_with(['0', '1', '2', '3', '4', '5', '6']);
        for (seed, skip) in [(0, 1_000), (1, 1_000), (0, 3_000), (1, 3_000), (0, 10_000)] {
            let rng = &mut seeded(seed);
            let hot = |n, rng: &mut rand::rngs::StdRng| hot_partitions(24, n, 2 * skip, skip / 2, rng);
            // What, the partitions, filtered or not, the most keys held and read per key
            // passed, the most round trips.
            type Shape<'a> = (&'a str, Vec<Vec<String>>, bool, f64, usize);
            let shapes: Vec<Shape> = vec![
                ("24 even", partitions(&[skip / 5; 24], &mut key_pool(24 * skip / 5, rng)), false, 1.6, 3),
                ("16 even", partitions(&[skip / 4; 16], &mut key_pool(4 * skip, rng)), false, 1.6, 3),
                ("8 big, 16 small", partitions(&[[skip * 3 / 5; 8].as_slice(), &[skip / 200; 16]].concat(), &mut key_pool(skip * 24 / 5 + skip / 200 * 16, rng)), false, 1.6, 3),
                ("8 hold the newest", hot(8, rng), false, 2.2, 7),
                ("3 hold the newest", hot(3, rng), false, 2.2, 7),
                ("1 holds the newest", hot(1, rng), false, 2.2, 7),
                ("23 end early", partitions(&[[skip / 21; 23].as_slice(), &[2 * skip]].concat(), &mut key_pool(23 * (skip / 21) + 2 * skip, rng)), false, 2.2, 6),
                ("1 of 24 holds the newest, filtered", hot(1, rng), true, 2.3, 12),
            ];
            for (what, parts, filtered, most, rounds) in shapes {
                let keep: Option<&dyn Fn(&str) -> bool> = if filtered { Some(&kept) } else { None };
                let got = drive(&parts, skip, true, keep, &mut |n| n.min(3_000));
                assert_eq!(got.found, merged(&parts, skip, true, keep), "seed {seed}, skip {skip}: {what}");
                #[allow(clippy::cast_precision_loss, reason = "counts of keys far below 2^52")]
                let (held, read) = (got.most_held as f64 / skip as f64, got.read as f64 / skip as f64);
                assert!(
                    held <= most && read <= most && got.rounds <= rounds,
                    "seed {seed}, skip {skip}: {what}: held {held:.2} and read {read:.2} keys per key passed, in {} round trips",
                    got.rounds
                );
            }
            // One partition alone: DynamoDB's 1 MB stops a Query after about 3 000 list entries.
            let one = partitions(&[skip + 2_000], &mut key_pool(skip + 2_000, rng));
            let got = drive(&one, skip, false, None, &mut |n| n.min(3_000));
            assert_eq!(got.found, merged(&one, skip, false, None));
            assert!(got.read <= skip && got.rounds <= skip.div_ceil(3_000), "seed {seed}: {} keys in {} round trips", got.read, got.rounds);
        }
    }

    /// An id dated `ms` (Unix ms), as Clientele mints them.
    fn id_at(ms: u64) -> String {
        let rest: [u8; 10] = rand::random();
        uuid::Builder::from_unix_timestamp_millis(ms, &rest).into_uuid().to_string()
    }

    fn shard_of(pk: &str) -> u32 {
        pk.rsplit('#').next().and_then(|s| s.parse().ok()).expect("a shard")
    }

    #[test]
    fn a_scope_is_one_partition_wide_until_widened_and_a_width_applies_from_its_date_on() {
        let w = Width(vec![(2_000, 2), (5_000, 4)]);
        assert_eq!((Width::default().at(9_999), Width::default().widest()), (1, 1));
        assert_eq!([w.at(0), w.at(1_999), w.at(2_000), w.at(4_999), w.at(5_000), w.at(i64::MAX)], [1, 1, 2, 2, 4, 4]);
        assert_eq!(w.widest(), 4, "a reader reads every partition ever used");
        assert_eq!(id_millis(&id_at(1_234_567)), 1_234_567);
        assert_eq!(id_millis("not-a-uuid"), 0);
    }

    #[test]
    fn an_entry_stays_in_the_partition_its_ids_date_put_it_in_and_new_ids_spread() {
        let before = Width::default();
        let after = Width(vec![(1_000_000, 4)]);
        for _ in 0..100 {
            let old = id_at(999_999);
            assert_eq!(shard_pk("CLIENTS#p", &old, &before), "CLIENTS#p#0");
            assert_eq!(shard_pk("CLIENTS#p", &old, &after), "CLIENTS#p#0", "the widening does not move an older entry");
            let new = id_at(1_000_000);
            assert_eq!(shard_pk("CLIENTS#p", &new, &after), shard_pk("CLIENTS#p", &new, &after), "the same everywhere");
        }
        let used: std::collections::HashSet<u32> = (0..200).map(|_| shard_of(&shard_pk("EVENTS#ALL", &id_at(2_000_000), &after))).collect();
        assert_eq!(used, (0..4).collect(), "200 new ids land in every partition");
    }

    #[test]
    fn a_width_reads_back_from_its_item_and_bad_steps_are_left_out() {
        let item = Item::from([(
            "h".to_owned(),
            AttributeValue::L(vec![s("100:2"), s("junk"), s("300:4"), s("400:1000")]),
        )]);
        assert_eq!(Width::from_item(&item), Width(vec![(100, 2), (300, 4), (400, MAX_WIDTH)]));
        assert_eq!(Width::from_item(&Item::new()), Width::default());
    }

    #[test]
    fn a_list_partition_names_its_scope() {
        assert_eq!(list_scope("CLIENTS#ALL#3"), Some("ALL"));
        assert_eq!(list_scope("EVENTS#0190-aa#0"), Some("0190-aa"));
        assert_eq!(list_scope("CLIENTS#ALL#name"), None, "an index key is not a base-table partition");
        assert_eq!(list_scope("COUNT#EVENTS#ALL#1"), None);
        assert_eq!(list_scope("CLIENT#x"), None);
    }

    #[test]
    fn the_due_queue_spreads_over_its_fixed_partitions() {
        let used: std::collections::HashSet<u32> = (0..200).map(|_| shard_of(&queue_shard_pk("DUE", &crate::domain::new_id()))).collect();
        assert_eq!(used.len(), QUEUE_SHARDS as usize);
    }
}
