//! Events: the event item (which the stream carries to delivery) and its list
//! entries, one per scope, with a per-type index (`gsi1`) and counters.

use aws_sdk_dynamodb::types::AttributeValue;

use super::lists::{Partition, add_counters, scopes};
use super::tx::UNPLACED;
use super::{Guard, Page, Store, Tx, Unreadable, key, parse_item, s, to_item};
use crate::error::ApiError;
use crate::events::{Event, EventType};

const LIST: &str = "EVENTS";

/// One client's events: an entry per event that is about the client (its `client.*`
/// events, and its licenses' `license.*`), so that its history pages by itself.
fn client_events_pk(client_id: &str) -> String {
    format!("CLIENTEVENTS#{client_id}")
}

/// The client an event is about, if any.
fn client_of(e: &Event) -> Option<&str> {
    let object = &e.data.object;
    let field = match e.kind.as_str().split_once('.') {
        Some(("client", _)) => "id",
        Some(("license", _)) => "clientId",
        _ => return None,
    };
    object.get(field).and_then(serde_json::Value::as_str)
}

pub(crate) fn event_pk(id: &str) -> String {
    format!("EVENT#{id}")
}

/// Adds `e` to a transaction: the event and its list entries and counters.
///
/// # Errors
/// When the event cannot be serialized.
pub(crate) fn add_event(tx: &mut Tx<Guard>, table: &str, e: &Event) -> Result<(), ApiError> {
    tx.put(table, to_item(event_pk(&e.id), "#", e)?, None, None);
    let kind = e.kind.as_str();
    for scope in scopes(&e.scopes) {
        let mut entry = key(format!("{LIST}#{scope}{UNPLACED}"), &e.id);
        entry.insert("id".into(), s(e.id.clone()));
        entry.insert("gsi1pk".into(), s(format!("{LIST}#{scope}#{kind}{UNPLACED}")));
        entry.insert("gsi1sk".into(), s(e.id.clone()));
        tx.put_listed(table, &scope, &e.id, entry);
        add_counters(tx, table, LIST, &scope, &[("total".into(), 1), (format!("type_{kind}"), 1)]);
    }
    if let Some(client) = client_of(e) {
        let mut entry = key(client_events_pk(client), &e.id);
        entry.insert("id".into(), s(e.id.clone()));
        // Whose trees see it (the event's scopes): a client moved to another partner
        // keeps its earlier events where they were, and its history pages and counts
        // only what the reader sees.
        entry.insert("sc".into(), AttributeValue::L(e.scopes.iter().cloned().map(s).collect()));
        tx.put(table, entry, None, None);
    }
    Ok(())
}

impl Store {
    /// An event by id.
    pub async fn event(&self, id: &str) -> Result<Option<Event>, ApiError> {
        self.get(event_pk(id), "#").await
    }

    /// An event by id as stored: `Some(Err(_))` when its item is there but is no event
    /// (webhook delivery sets such a stream record aside rather than retrying it forever).
    ///
    /// # Errors
    /// When the store fails (transient: try again).
    pub async fn event_as_stored(&self, id: &str) -> Result<Option<Result<Event, Unreadable>>, ApiError> {
        Ok(self.get_item(event_pk(id), "#").await?.map(parse_item))
    }

    /// One page of the events of `scope`, newest first, optionally of one type, and the total.
    pub async fn list_events(&self, scope: &str, kind: Option<EventType>, page: &Page) -> Result<(Vec<Event>, Option<String>, u64), ApiError> {
        let (part, field) = match kind {
            None => (Partition::table(format!("{LIST}#{scope}")).sharded(scope), "total".to_owned()),
            Some(k) => (
                Partition::index("gsi1", "gsi1pk", "gsi1sk", format!("{LIST}#{scope}#{}", k.as_str())).sharded(scope),
                format!("type_{}", k.as_str()),
            ),
        };
        let (entries, total) = tokio::try_join!(self.page(&part, page), self.count(LIST, scope, &field))?;
        let ids = entries.strings("id");
        let pks: Vec<String> = ids.iter().map(|id| event_pk(id)).collect();
        let mut events: Vec<Event> = self.batch_get(&pks).await?;
        events.sort_by(|a, b| b.id.cmp(&a.id));
        Ok((events, entries.next_after, total))
    }

    /// One page of the events about client `client_id`, newest first, and their number
    /// (counted: it costs in proportion to them). Only those seen by `scope` (`ALL`, or
    /// a partner of their tree) are paged, returned and counted: a client moved across
    /// the tree keeps its earlier events where they were.
    pub async fn list_client_events(&self, client_id: &str, scope: &str, page: &Page) -> Result<(Vec<Event>, Option<String>, u64), ApiError> {
        let mut part = Partition::table(client_events_pk(client_id));
        if scope != super::ALL {
            part = part.seen_by(scope);
        }
        let (entries, total) = tokio::try_join!(self.page(&part, page), self.count_partition(&part))?;
        let pks: Vec<String> = entries.strings("id").iter().map(|id| event_pk(id)).collect();
        let mut events: Vec<Event> = self.batch_get(&pks).await?;
        events.retain(|e| scope == super::ALL || e.scopes.iter().any(|s| s == scope));
        events.sort_by(|a, b| b.id.cmp(&a.id));
        Ok((events, entries.next_after, total))
    }

    /// Writes an event on its own (for changes whose record is written elsewhere).
    pub async fn record_event(&self, e: &Event) -> Result<(), ApiError> {
        let mut tx = Tx::new();
        add_event(&mut tx, self.table(), e)?;
        self.commit(tx).await.map_err(|f| match f {
            super::Failed::Error(e) => e,
            super::Failed::Condition(g) => ApiError::internal(format!("event guard {g:?} failed")),
        })
    }
}
