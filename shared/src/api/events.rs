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
    let kind = match cx.query("type") {
        None => Ok(None),
        Some(t) => EventType::parse(&t).map(Some).ok_or_else(|| ApiError::invalid("type", "is not an event type")),
    };
    let cx = &cx;
    // The page is read beside the caller's partner chain ([`Ctx::principal_and`]).
    let read = |scope: String| async move {
        let kind = kind?;
        let fingerprint = format!("events|{scope}|{kind:?}");
        let page = cx.page(&fingerprint)?;
        let (events, after, total) = cx.app.store.list_events(&scope, kind, &page).await?;
        Ok((events, cx.cursor(&fingerprint, after), total))
    };
    let (who, found) = cx.principal_and(read).await?;
    who.require(Scope::WEBHOOKS_VIEW)?;
    let (events, cursor, total) = found?;
    Ok(list(total, events.iter().map(Event::view).collect(), cursor))
}
