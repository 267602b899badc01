//! `/v1/events`: the event log of the caller's tree, which doubles as its audit log.

use crate::domain::scopes::Scope;
use crate::error::ApiError;
use crate::events::{Event, EventType};
use crate::http::{Ctx, Reply, list};

/// `GET /v1/events[?type=]`: newest first.
///
/// # Errors
/// 400 for an unknown type or bad paging parameters.
pub async fn list_events(cx: Ctx) -> Result<Reply, ApiError> {
    let who = cx.principal().await?;
    who.require(Scope::WEBHOOKS_VIEW)?;
    let kind = match cx.query("type") {
        None => None,
        Some(t) => Some(EventType::parse(&t).ok_or_else(|| ApiError::invalid("type", "is not an event type"))?),
    };
    let fingerprint = format!("events|{}|{:?}", who.scope(), kind);
    let page = cx.page(&fingerprint)?;
    let (events, after, total) = cx.app.store.list_events(who.scope(), kind, &page).await?;
    Ok(list(total, events.iter().map(Event::view).collect(), cx.cursor(&fingerprint, after)))
}
