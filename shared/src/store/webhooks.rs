//! Webhook endpoints, delivery state and the attempt log.
//!
//! - endpoint `WEBHOOK#<id>`, listed per scope on gsi1 (`WEBHOOKS#<scope>`); a scope's
//!   endpoint count `WEBHOOKCAP#<scope>` holds the cap of [`MAX_ENDPOINTS`];
//! - delivery `DELIVERY#<webhook>#<event>`: attempts so far, state, next attempt;
//!   once settled (delivered or failed), removed by DynamoDB's TTL after 30 days.
//!   While pending it sits in gsi3 under `DUE#<shard>` sorted by its next attempt
//!   (spread over [`QUEUE_SHARDS`](super::lists::QUEUE_SHARDS) partitions by a hash of its key: every delivery of
//!   the platform passes through the queue), so the retry function finds what is
//!   due with one `Query` of each shard, made at once;
//! - attempt log `ATTEMPTS#<webhook>` / `<attempt id>` (newest first);
//! - a stream record delivery could not process, `PARKED` / `EVENT#<id>`: why, how
//!   often it was tried, and when it was set aside (one partition, so an operator
//!   lists them all with one `Query`; there are few).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde::{Deserialize, Serialize};

use super::events::event_pk;
use super::lists::{Partition, add_counters, queue_shard_pk};
use super::tx::{Cond, Failed};
use super::{Guard, Item, Page, Store, Tx, Unreadable, key, n, parse_item, s, sdk_error, string_attr, to_item, took_place};
use crate::domain::webhook::Webhook;
use crate::error::ApiError;
use crate::events::Event;

const LIST: &str = "WEBHOOKS";
const DUE: &str = "DUE";

fn webhook_pk(id: &str) -> String {
    format!("WEBHOOK#{id}")
}

/// The most endpoints one partner (or the platform admin) may register (API.md §5a).
pub const MAX_ENDPOINTS: usize = 20;

/// The unsharded count of a scope's endpoints, which holds [`MAX_ENDPOINTS`].
fn cap_pk(scope: &str) -> String {
    format!("WEBHOOKCAP#{scope}")
}

fn delivery_pk(webhook_id: &str, event_id: &str) -> String {
    format!("DELIVERY#{webhook_id}#{event_id}")
}

/// The partition of stream records set aside because they cannot be processed.
pub const PARKED: &str = "PARKED";

/// One entry of the due queue, as its index holds it: enough to group by endpoint
/// before reading anything else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueEntry {
    /// The delivery's key.
    pub pk: String,
    /// When it is due (its place in the queue).
    pub due: String,
    pub webhook_id: String,
    pub event_id: String,
    /// Its endpoint's tenant ([`Delivery::tenant`]), if the delivery has one.
    pub tenant: Option<String>,
}

impl DueEntry {
    /// Whose share of a retry run it takes: its tenant's, or (a delivery written before
    /// deliveries named their tenant) its endpoint's own.
    pub fn tenant_key(&self) -> &str {
        self.tenant.as_deref().unwrap_or(&self.webhook_id)
    }
}

/// A page of the due queue and where the next one starts (`None`: at the end).
pub struct DuePage {
    pub entries: Vec<DueEntry>,
    pub next: Option<Item>,
}

/// Where one event stands with one endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub webhook_id: String,
    pub event_id: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    /// When the next attempt is due (while pending).
    pub next_attempt_at: Option<String>,
    /// A test event's delivery: its event is kept under [`test_event_pk`], which the
    /// stream never hands to delivery and redelivery never finds.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub test: bool,
    /// Whose endpoint it is: the root partner of its tree (`ALL` for the platform
    /// admin's), so that one tenant's failing endpoints hold only that tenant's share of
    /// a retry run ([`Delivery::for_endpoint`]). Deliveries written before it have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

/// The tenant of a delivery of `event` to `w`: `ALL` for the platform admin's endpoint;
/// else the root of the event's tree (the first of its scopes), which is the endpoint's,
/// since an endpoint hears its own tree's events only.
pub fn tenant_of(w: &Webhook, event: &Event) -> String {
    if w.scope == super::ALL { super::ALL.to_owned() } else { event.scopes.first().cloned().unwrap_or_else(|| w.scope.clone()) }
}

impl Delivery {
    /// Whose share of a retry run it takes, as [`DueEntry::tenant_key`] tells it.
    pub fn tenant_key(&self) -> &str {
        self.tenant.as_deref().unwrap_or(&self.webhook_id)
    }

    /// A pending delivery of `event` to `w`, `attempts` made, due `at`.
    pub fn for_endpoint(w: &Webhook, event: &Event, attempts: u32, at: String) -> Self {
        let tenant = tenant_of(w, event);
        Self {
            webhook_id: w.id.clone(),
            event_id: event.id.clone(),
            attempts,
            state: "pending".into(),
            next_attempt_at: Some(at),
            test: event.test,
            tenant: Some(tenant),
        }
    }
}

/// Where a test event is kept (API.md §5b): not `EVENT#`, so no version of delivery,
/// old or new, ever fans it out from the stream, and no redelivery finds it.
pub(crate) fn test_event_pk(id: &str) -> String {
    format!("TESTEVENT#{id}")
}

/// The key of the event a delivery sends.
fn event_key(d: &Delivery) -> String {
    if d.test { test_event_pk(&d.event_id) } else { event_pk(&d.event_id) }
}

/// One delivery attempt, as `GET /v1/webhooks/{id}/deliveries` lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    pub id: String,
    pub event_id: String,
    pub event_type: String,
    pub attempt: u32,
    pub at: String,
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
    pub success: bool,
    /// Present (true) on an attempt of a test event, which cannot be redelivered.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub test: bool,
    /// What the attempt sent (none when it was refused before sending); its body is the
    /// event's view, so it is not kept twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent: Option<Sent>,
}

/// What one attempt sent besides its body: where, and its timestamp and signature
/// headers (a signature is no secret: it proves the body, it cannot make another).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sent {
    pub url: String,
    pub timestamp: i64,
    pub signature: String,
    /// The body's SHA-256: the body shown is rebuilt from the event, and shown only if it
    /// is still byte for byte the one sent.
    pub body_sha256: String,
}

impl Attempt {
    /// The attempt as a list shows it: without what it sent (its detail route shows that).
    pub fn view(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let serde_json::Value::Object(o) = &mut v {
            o.remove("sent");
        }
        v
    }
}

fn item_pk(item: &Item) -> String {
    string_attr(item, "pk").unwrap_or_default()
}

/// How long a settled delivery (delivered or failed) is kept before DynamoDB's TTL
/// removes it: as long as its attempts' log. It only guards against starting the
/// delivery again for a replayed stream record, and the stream keeps records 24 h.
pub const SETTLED_KEPT_SECS: i64 = 30 * 86_400;

fn delivery_item(d: &Delivery) -> Result<super::Item, ApiError> {
    let mut item = to_item(delivery_pk(&d.webhook_id, &d.event_id), "#", d)?;
    if d.state == "pending" {
        if let Some(at) = &d.next_attempt_at {
            item.insert("gsi3pk".into(), s(queue_shard_pk(DUE, &item_pk(&item))));
            // The tenant is in the queue's sort key (after what orders it), so a pass over
            // the queue groups by tenant before it reads anything else.
            let tenant = d.tenant.as_deref().map(|t| format!("#{t}")).unwrap_or_default();
            item.insert("gsi3sk".into(), s(format!("{at}#{}#{}{tenant}", d.webhook_id, d.event_id)));
        }
    } else {
        item.insert("expiresAt".into(), n(chrono::Utc::now().timestamp().saturating_add(SETTLED_KEPT_SECS)));
    }
    Ok(item)
}

impl Store {
    pub async fn create_webhook(&self, w: &Webhook) -> Result<(), ApiError> {
        let t = self.table();
        let mut item = to_item(webhook_pk(&w.id), "#", w)?;
        item.insert("gsi1pk".into(), s(format!("{LIST}#{}", w.scope)));
        item.insert("gsi1sk".into(), s(w.id.clone()));
        let mut tx = Tx::new();
        tx.create(t, item, Guard::Record);
        add_counters(&mut tx, t, LIST, &w.scope, &[("total".into(), 1)]);
        // The cap is held by one unsharded counter per scope, incremented only below it,
        // so racing creates cannot pass it (the sharded list counter cannot be conditioned).
        tx.update(
            t,
            key(cap_pk(&w.scope), "#"),
            "ADD endpoints :one".into(),
            Vec::new(),
            vec![(":one".into(), n(1))],
            Some(Cond::new("attribute_not_exists(endpoints) OR endpoints < :max").value(":max", n(MAX_ENDPOINTS as i64))),
            Some(Guard::Version),
        );
        self.commit(tx).await.map_err(|e| match e {
            Failed::Error(e) => e,
            Failed::Condition(Guard::Version) => ApiError::invalid(
                "partnerId",
                format!("this partner already has the most webhook endpoints allowed ({MAX_ENDPOINTS}); delete one first"),
            ),
            Failed::Condition(g) => ApiError::internal(format!("webhook create guard {g:?} failed")),
        })
    }

    pub async fn webhook(&self, id: &str) -> Result<Option<Webhook>, ApiError> {
        self.get(webhook_pk(id), "#").await
    }

    /// Writes `after` if the stored endpoint is still at `before.version`, with
    /// the change's event if it has one.
    ///
    /// # Errors
    /// `version_mismatch` when it changed meanwhile.
    pub async fn update_webhook(&self, before: &Webhook, after: &Webhook, event: Option<&Event>) -> Result<(), ApiError> {
        let t = self.table();
        let mut item = to_item(webhook_pk(&after.id), "#", after)?;
        item.insert("gsi1pk".into(), s(format!("{LIST}#{}", after.scope)));
        item.insert("gsi1sk".into(), s(after.id.clone()));
        let mut tx = Tx::new();
        tx.put(t, item, Some(Cond::new("version = :v").value(":v", n(before.version as i64))), Some(Guard::Version));
        if let Some(event) = event {
            super::events::add_event(&mut tx, t, event)?;
        }
        self.commit(tx).await.map_err(|e| match e {
            Failed::Condition(_) => ApiError::VersionMismatch { current: before.version },
            Failed::Error(e) => e,
        })
    }

    /// Deletes an endpoint as read (at `w.version`); false when it was gone or changed
    /// meanwhile.
    pub async fn delete_webhook(&self, w: &Webhook) -> Result<bool, ApiError> {
        let t = self.table();
        let mut tx = Tx::new();
        // Only the version read: a change made meanwhile is judged again by the caller.
        let read = Cond::new("attribute_exists(pk) AND version = :v").value(":v", n(w.version as i64));
        tx.delete(t, key(webhook_pk(&w.id), "#"), Some(read), Some(Guard::Record));
        add_counters(&mut tx, t, LIST, &w.scope, &[("total".into(), -1)]);
        tx.update(t, key(cap_pk(&w.scope), "#"), "ADD endpoints :minus".into(), Vec::new(), vec![(":minus".into(), n(-1))], None, None);
        match self.commit(tx).await {
            Ok(()) => Ok(true),
            Err(Failed::Condition(_)) => Ok(false),
            Err(Failed::Error(e)) => Err(e),
        }
    }

    /// One page of a scope's endpoints, newest first, and their total.
    pub async fn list_webhooks(&self, scope: &str, page: &Page) -> Result<(Vec<Webhook>, Option<String>, u64), ApiError> {
        let part = Partition::index("gsi1", "gsi1pk", "gsi1sk", format!("{LIST}#{scope}"));
        let (entries, total) = tokio::try_join!(self.page(&part, page), self.count(LIST, scope, "total"))?;
        let hooks = entries.entries.into_iter().map(super::from_item).collect::<Result<Vec<Webhook>, _>>()?;
        Ok((hooks, entries.next_after, total))
    }

    /// Every endpoint registered under any of `scopes`.
    pub async fn webhooks_of(&self, scopes: &[String]) -> Result<Vec<Webhook>, ApiError> {
        use futures::{StreamExt as _, TryStreamExt as _};
        let parts: Vec<Partition> = scopes.iter().map(|scope| Partition::index("gsi1", "gsi1pk", "gsi1sk", format!("{LIST}#{scope}"))).collect();
        let found: Vec<Vec<Item>> =
            futures::stream::iter(parts).map(|part| async move { self.all_with_prefix(&part, "").await }).buffer_unordered(16).try_collect().await?;
        found.into_iter().flatten().map(super::from_item::<Webhook>).collect()
    }

    /// Starts the delivery of an event to an endpoint, unless it was started
    /// before (a replayed stream record): true when this call started it.
    pub async fn start_delivery(&self, d: &Delivery) -> Result<bool, ApiError> {
        let out = self
            .db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(delivery_item(d)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        took_place("PutItem", out)
    }

    /// Writes a test event and its one delivery, due now (API.md §5b): the event alone,
    /// under [`test_event_pk`], with none of the list entries or counters a real one has,
    /// so it is never listed, fanned out or redelivered. DynamoDB's TTL removes it after
    /// `keep` (longer than its delivery can take).
    pub async fn send_test_event(&self, event: &Event, d: &Delivery, keep: std::time::Duration) -> Result<(), ApiError> {
        let t = self.table();
        let mut item = to_item(test_event_pk(&event.id), "#", event)?;
        let keep = i64::try_from(keep.as_secs()).unwrap_or(i64::MAX);
        item.insert("expiresAt".into(), n(chrono::Utc::now().timestamp().saturating_add(keep)));
        let mut tx = Tx::new();
        tx.put(t, item, Some(Cond::new("attribute_not_exists(pk)")), Some(Guard::Record));
        tx.put(t, delivery_item(d)?, None, None);
        self.commit(tx).await.map_err(|f| match f {
            Failed::Error(e) => e,
            Failed::Condition(g) => ApiError::internal(format!("test event guard {g:?} failed")),
        })
    }

    /// Starts a delivery again from its first attempt (redelivery), whatever its state.
    pub async fn restart_delivery(&self, d: &Delivery) -> Result<(), ApiError> {
        self.db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(delivery_item(d)?))
            .send()
            .await
            .map_err(|e| sdk_error("PutItem", e))?;
        Ok(())
    }

    /// Writes `next` if the delivery is still as `seen` (same attempts and due time):
    /// the way one worker claims or settles an attempt. False when another moved it.
    pub async fn move_delivery(&self, seen: &Delivery, next: &Delivery) -> Result<bool, ApiError> {
        let mut req = self
            .db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(delivery_item(next)?))
            .expression_attribute_values(":a", n(i64::from(seen.attempts)));
        req = match &seen.next_attempt_at {
            Some(at) => req
                .condition_expression("attempts = :a AND nextAttemptAt = :t")
                .expression_attribute_values(":t", s(at.clone())),
            None => req.condition_expression("attempts = :a"),
        };
        took_place("PutItem", req.send().await)
    }

    /// One page of shard `shard` (of [`QUEUE_SHARDS`](super::lists::QUEUE_SHARDS)) of the due queue: up to `limit`
    /// entries due by `now`, soonest first, from `after` (a [`DuePage::next`] of an
    /// earlier page of that shard) or from the head. Entries are the index's
    /// (eventually consistent, possibly stale); [`Store::due_deliveries`] reads the
    /// deliveries themselves.
    pub async fn due_page(&self, now: &str, shard: u32, after: Option<Item>, limit: i32) -> Result<DuePage, ApiError> {
        // Sort keys are `<due>#<webhook>#<event>`: everything due by `now` sorts below `now~`.
        let out = self
            .db
            .query()
            .table_name(&self.table)
            .index_name("gsi3")
            .key_condition_expression("gsi3pk = :p AND gsi3sk < :before")
            .expression_attribute_values(":p", s(format!("{DUE}#{shard}")))
            .expression_attribute_values(":before", s(format!("{now}~")))
            .set_exclusive_start_key(after)
            .limit(limit)
            .send()
            .await
            .map_err(|e| sdk_error("Query", e))?;
        let entries = out
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|i| {
                let pk = string_attr(i, "pk")?;
                let sort = string_attr(i, "gsi3sk")?;
                let mut parts = sort.splitn(4, '#');
                let due = parts.next()?.to_owned();
                let (webhook_id, event_id) = (parts.next()?.to_owned(), parts.next()?.to_owned());
                let tenant = parts.next().map(str::to_owned);
                Some(DueEntry { pk, due, webhook_id, event_id, tenant })
            })
            .collect();
        Ok(DuePage { entries, next: out.last_evaluated_key.filter(|k| !k.is_empty()) })
    }

    /// The deliveries of `entries` that are still pending and due by `now` (read
    /// consistently in batches: the index may be behind).
    pub async fn due_deliveries(&self, entries: &[DueEntry], now: &str) -> Result<Vec<Delivery>, ApiError> {
        let pks: Vec<String> = entries.iter().map(|e| e.pk.clone()).collect();
        let mut found: Vec<Delivery> = self.batch_get(&pks).await?;
        found.retain(|d| d.state == "pending" && d.next_attempt_at.as_deref().is_some_and(|t| t <= now));
        Ok(found)
    }

    /// The endpoints and events named, in one batched read: an endpoint or event that
    /// is gone is absent; an event item that does not parse is there as `Err`.
    pub async fn endpoints_and_events(
        &self,
        deliveries: &[Delivery],
    ) -> Result<(HashMap<String, Webhook>, HashMap<String, Result<Event, Unreadable>>), ApiError> {
        let mut pks: Vec<String> = deliveries.iter().map(|d| webhook_pk(&d.webhook_id)).collect();
        pks.extend(deliveries.iter().map(event_key));
        pks.sort();
        pks.dedup();
        let (mut hooks, mut events) = (HashMap::new(), HashMap::new());
        for item in self.batch_get_items(&pks).await? {
            let pk = string_attr(&item, "pk").unwrap_or_default();
            if let Some(id) = pk.strip_prefix("WEBHOOK#") {
                // Endpoints are written only through the API, from a parsed value.
                hooks.insert(id.to_owned(), super::from_item(item)?);
            } else if let Some(id) = pk.strip_prefix("EVENT#").or_else(|| pk.strip_prefix("TESTEVENT#")) {
                events.insert(id.to_owned(), parse_item(item));
            }
        }
        Ok((hooks, events))
    }

    /// Counts one more try of a stream record that cannot be processed (`record`, e.g.
    /// `EVENT#<id>`), noting why; returns the tries so far. The item is kept in the
    /// `PARKED` partition for inspection (30 days, then DynamoDB's TTL removes it).
    pub async fn poison_try(&self, record: &str, reason: &str, now: &str) -> Result<u32, ApiError> {
        let out = self
            .db
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(PARKED.to_owned(), record)))
            .update_expression("SET reason = :r, lastTry = :now, firstTry = if_not_exists(firstTry, :now), expiresAt = :exp ADD tries :one")
            .expression_attribute_values(":r", s(reason))
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":exp", n(chrono::Utc::now().timestamp() + 30 * 86_400))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| sdk_error("UpdateItem", e))?;
        let tries = out.attributes.as_ref().and_then(|a| a.get("tries")).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok());
        Ok(tries.unwrap_or(1))
    }

    /// Marks a poison record as set aside for good (delivery moves past it).
    pub async fn park(&self, record: &str, now: &str) -> Result<(), ApiError> {
        self.db
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(PARKED.to_owned(), record)))
            .update_expression("SET parkedAt = if_not_exists(parkedAt, :now)")
            .expression_attribute_values(":now", s(now))
            .send()
            .await
            .map_err(|e| sdk_error("UpdateItem", e))?;
        Ok(())
    }

    /// Logs one attempt, counting it for the log's total.
    pub async fn log_attempt(&self, webhook_id: &str, a: &Attempt) -> Result<(), ApiError> {
        let t = self.table();
        let mut item = to_item(format!("ATTEMPTS#{webhook_id}"), &a.id, a)?;
        // Kept 30 days; DynamoDB's TTL removes them after.
        item.insert("expiresAt".into(), n(chrono::Utc::now().timestamp() + SETTLED_KEPT_SECS));
        let mut tx = Tx::new();
        tx.put(t, item, None, None);
        add_counters(&mut tx, t, "ATTEMPTS", webhook_id, &[("total".into(), 1)]);
        self.commit(tx).await.map_err(|e| match e {
            Failed::Error(e) => e,
            Failed::Condition(g) => ApiError::internal(format!("attempt log guard {g:?} failed")),
        })
    }

    /// One page of an endpoint's attempts, newest first.
    pub async fn attempts(&self, webhook_id: &str, page: &Page) -> Result<(Vec<Attempt>, Option<String>, u64), ApiError> {
        let part = Partition::table(format!("ATTEMPTS#{webhook_id}"));
        let (entries, total) = tokio::try_join!(self.page(&part, page), self.count("ATTEMPTS", webhook_id, "total"))?;
        let attempts = entries.entries.into_iter().map(super::from_item).collect::<Result<Vec<Attempt>, _>>()?;
        Ok((attempts, entries.next_after, total))
    }

    /// One attempt of an endpoint, and the event it sent (gone when a test event's time ran out).
    pub async fn attempt_and_event(&self, webhook_id: &str, attempt_id: &str) -> Result<Option<(Attempt, Option<Event>)>, ApiError> {
        let Some(a) = self.get::<Attempt>(format!("ATTEMPTS#{webhook_id}"), attempt_id).await? else { return Ok(None) };
        let pk = if a.test { test_event_pk(&a.event_id) } else { event_pk(&a.event_id) };
        let event = self.get_item(pk, "#").await?.map(parse_item).and_then(Result::ok);
        Ok(Some((a, event)))
    }

    /// Turns an endpoint off (it answered 410 Gone).
    pub async fn disable_webhook(&self, id: &str, now: &str) -> Result<(), ApiError> {
        let out = self
            .db
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(webhook_pk(id), "#")))
            .update_expression("SET enabled = :f, modified = :now ADD version :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":f", AttributeValue::Bool(false))
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        // Gone meanwhile (deleted): nothing left to turn off.
        took_place("UpdateItem", out).map(drop)
    }
}
