//! `/v1/webhooks` and `/v1/events/{id}/redeliver`: the endpoints a partner's
//! tree's events go to, their delivery log, test events, and sending an event again.

use chrono::Utc;
use serde_json::{Value, json};

use crate::auth::Principal;
use crate::domain::scopes::Scope;
use crate::domain::webhook::{NewWebhook, Webhook, WebhookPatch};
use crate::domain::{new_id, now, timestamp};
use crate::error::ApiError;
use crate::events::{Event, EventType};
use crate::http::{Ctx, Reply, list};
use crate::store::ALL;
use crate::store::webhooks::{Attempt, Delivery};
use crate::webhooks::secret;

/// Whether the caller sees an endpoint: the admin sees all; a partner those of
/// its own tree.
async fn sees(cx: &Ctx, who: &Principal, w: &Webhook) -> Result<bool, ApiError> {
    if who.is_admin() {
        return Ok(true);
    }
    if w.scope == ALL {
        return Ok(false);
    }
    Ok(cx.app.store.partner(&w.scope).await?.is_some_and(|p| who.sees(&p.path)))
}

async fn visible(cx: &Ctx, who: &Principal) -> Result<Webhook, ApiError> {
    let id = cx.id_param("webhookId", "Webhook")?;
    let missing = || ApiError::NotFound(format!("Webhook {id}"));
    let w = cx.app.store.webhook(&id).await?.ok_or_else(missing)?;
    if sees(cx, who, &w).await? { Ok(w) } else { Err(missing()) }
}

/// `POST /v1/webhooks` `{ url, events, description?, partnerId? }`: the secret
/// (`whsec_...`) is in the response this once.
///
/// # Errors
/// 400 for a bad URL or event list, 404 for a partner outside the tree.
pub async fn create(cx: Ctx) -> Result<Reply, ApiError> {
    let who = cx.principal().await?;
    who.require(Scope::WEBHOOKS_CREATE)?;
    let new = NewWebhook::from_body(cx.json()?, cx.app.config.allow_insecure_webhooks)?;
    crate::webhooks::check_destination(cx.app, &new.url).await?;
    let scope = match (&new.partner_id, &who.partner) {
        (Some(id), _) => {
            let p = cx.app.store.partner(id).await?.filter(|p| who.sees(&p.path));
            p.ok_or_else(|| ApiError::NotFound(format!("Partner {id}")))?.id
        }
        (None, Some(own)) => own.id.clone(),
        (None, None) => ALL.to_owned(),
    };
    let now = now();
    let hook = Webhook {
        id: new_id(),
        scope,
        url: new.url,
        events: new.events,
        description: new.description,
        enabled: true,
        nonce: crate::secrets::generate(""),
        previous_nonce: None,
        previous_until: None,
        created: now.clone(),
        modified: now,
        version: 0,
    };
    cx.app.store.create_webhook(&hook).await?;
    let secret = secret(&cx.app.config.webhook_key, &hook);
    Ok(Reply::created(hook.view(), format!("/v1/webhooks/{}", hook.id)).etag(hook.version).with_field("secret", json!(secret)).no_store())
}

/// `GET /v1/webhooks[?partnerId=]`: the endpoints of the caller's partner (or one below it).
///
/// # Errors
/// 404 for a partner outside the tree.
pub async fn list_webhooks(cx: Ctx) -> Result<Reply, ApiError> {
    let who = cx.principal().await?;
    who.require(Scope::WEBHOOKS_VIEW)?;
    let scope = match cx.query("partnerId") {
        Some(id) => {
            let p = if crate::domain::is_id(&id) { cx.app.store.partner(&id).await? } else { None };
            p.filter(|p| who.sees(&p.path)).ok_or_else(|| ApiError::NotFound(format!("Partner {id}")))?.id
        }
        None => who.scope().to_owned(),
    };
    let fingerprint = format!("webhooks|{}|{scope}", who.scope());
    let page = cx.page(&fingerprint)?;
    let (hooks, after, total) = cx.app.store.list_webhooks(&scope, &page).await?;
    Ok(list(total, hooks.iter().map(Webhook::view).collect(), cx.cursor(&fingerprint, after)))
}

/// `GET /v1/webhooks/{webhookId}`.
///
/// # Errors
/// 404 outside the caller's tree.
pub async fn get(cx: Ctx) -> Result<Reply, ApiError> {
    let store = &cx.app.store;
    let allowed = |who: &Principal| who.require(Scope::WEBHOOKS_VIEW);
    let (who, id, found) = cx.caller_and_record(allowed, cx.id_param("webhookId", "Webhook"), |id| async move { store.webhook(&id).await }).await?;
    let missing = || ApiError::NotFound(format!("Webhook {id}"));
    let w = found.ok_or_else(missing)?;
    if sees(&cx, &who, &w).await? { Ok(Reply::ok(w.view()).etag(w.version)) } else { Err(missing()) }
}

/// `PATCH /v1/webhooks/{webhookId}`: url, events, enabled, description.
///
/// # Errors
/// 400 for bad fields, 404 outside the tree, 412 for a stale `If-Match`.
pub async fn update(cx: Ctx) -> Result<Reply, ApiError> {
    let who = cx.principal().await?;
    who.require(Scope::WEBHOOKS_EDIT)?;
    let patch = WebhookPatch::from_body(cx.json()?, cx.app.config.allow_insecure_webhooks)?;
    if let Some(url) = &patch.url {
        crate::webhooks::check_destination(cx.app, url).await?;
    }
    let expected = cx.if_match()?;
    for _ in 0..16 {
        let current = visible(&cx, &who).await?;
        if let Some(m) = &expected {
            m.check(current.version)?;
        }
        let mut next = patch.apply(&current);
        // A change that changes nothing (`{}`, the values it has) is no change: the
        // endpoint as it is, its version and ETag kept.
        let same = next.url == current.url
            && next.events == current.events
            && next.description.as_ref().map(|d| d.as_str()) == current.description.as_ref().map(|d| d.as_str())
            && next.enabled == current.enabled;
        if same {
            return Ok(Reply::ok(current.view()).etag(current.version));
        }
        next.version = current.version + 1;
        next.modified = now();
        match cx.app.store.update_webhook(&current, &next, None).await {
            Err(ApiError::VersionMismatch { .. }) if expected.is_none() => continue,
            other => return other.map(|()| Reply::ok(next.view()).etag(next.version)),
        }
    }
    Err(ApiError::Unavailable("too much contention on one webhook".into()))
}

/// How long the secret before a rotation still signs deliveries.
const ROTATION_OVERLAP: chrono::Duration = chrono::Duration::hours(24);

/// `POST /v1/webhooks/{webhookId}/rotate-secret`: a new secret, shown this once;
/// for 24 h deliveries carry signatures by both the new and the previous one.
///
/// # Errors
/// 404 outside the tree.
pub async fn rotate_secret(cx: Ctx) -> Result<Reply, ApiError> {
    let who = cx.principal().await?;
    who.require(Scope::WEBHOOKS_EDIT)?;
    cx.no_fields()?;
    for _ in 0..16 {
        let current = visible(&cx, &who).await?;
        let path = if current.scope == ALL {
            Vec::new()
        } else {
            cx.app.store.partner(&current.scope).await?.map(|p| p.path).unwrap_or_default()
        };
        let mut next = current.clone();
        next.previous_nonce = Some(current.nonce.clone());
        next.previous_until = Some(timestamp(Utc::now() + ROTATION_OVERLAP));
        next.nonce = crate::secrets::generate("");
        next.version = current.version + 1;
        next.modified = now();
        let event = Event::new(
            EventType::WebhookSecretRotated,
            &path,
            &who.actor,
            &cx.request_id,
            next.view(),
            None,
        );
        match cx.app.store.update_webhook(&current, &next, Some(&event)).await {
            Err(ApiError::VersionMismatch { .. }) => continue,
            other => {
                other?;
                let secret = secret(&cx.app.config.webhook_key, &next);
                return Ok(Reply::ok(next.view()).etag(next.version).with_field("secret", json!(secret)).no_store());
            }
        }
    }
    Err(ApiError::Unavailable("too much contention on one webhook".into()))
}

/// `DELETE /v1/webhooks/{webhookId}`, honouring `If-Match`.
///
/// # Errors
/// 404 outside the tree or when deleted already; 412 for a stale `If-Match`.
pub async fn delete(cx: Ctx) -> Result<Reply, ApiError> {
    let who = cx.principal().await?;
    who.require(Scope::WEBHOOKS_REMOVE)?;
    cx.no_fields()?;
    let expected = cx.if_match()?;
    for _ in 0..16 {
        // Gone meanwhile: 404. Changed meanwhile: judged again on what is stored now.
        let w = visible(&cx, &who).await?;
        if let Some(m) = &expected {
            m.check(w.version)?;
        }
        if cx.app.store.delete_webhook(&w).await? {
            return Ok(Reply::no_content());
        }
    }
    Err(ApiError::Unavailable("too much contention on one webhook".into()))
}

/// `GET /v1/webhooks/{webhookId}/deliveries`: every attempt, newest first.
///
/// # Errors
/// 404 outside the tree.
pub async fn deliveries(cx: Ctx) -> Result<Reply, ApiError> {
    let who = cx.principal().await?;
    who.require(Scope::WEBHOOKS_VIEW)?;
    let w = visible(&cx, &who).await?;
    let fingerprint = format!("deliveries|{}", w.id);
    let page = cx.page(&fingerprint)?;
    let (attempts, after, total) = cx.app.store.attempts(&w.id, &page).await?;
    let data = attempts.iter().map(Attempt::view).collect::<Vec<_>>();
    Ok(list(total, data, cx.cursor(&fingerprint, after)))
}

/// `GET /v1/webhooks/{webhookId}/deliveries/{attemptId}`: one attempt with what it sent:
/// the URL, the request headers (signature included) and the body, byte for byte, so a
/// receiver's developer can check its signature code against it; `request` is null for
/// an attempt refused before sending (or made before requests were kept), and its `body`
/// null once a test event is gone. Needs `webhooks:edit`, as a redelivery does: a signed
/// request could be sent to the receiver again within its tolerance window.
///
/// # Errors
/// 403 without `webhooks:edit`; 404 for an endpoint outside the caller's tree or an
/// attempt not of it.
pub async fn delivery(cx: Ctx) -> Result<Reply, ApiError> {
    let who = cx.principal().await?;
    // A signed request could be sent again to the receiver within its tolerance window:
    // as much as a redelivery does, so it needs what a redelivery needs.
    who.require(Scope::WEBHOOKS_EDIT)?;
    let attempt_id = cx.id_param("attemptId", "Delivery attempt")?;
    let w = visible(&cx, &who).await?;
    let (attempt, event) = cx
        .app
        .store
        .attempt_and_event(&w.id, &attempt_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("Delivery attempt {attempt_id}")))?;
    let mut body = attempt.view();
    body["request"] = match &attempt.sent {
        None => Value::Null,
        Some(sent) => json!({
            "url": sent.url,
            "headers": {
                "content-type": "application/json",
                "webhook-id": attempt.event_id,
                "webhook-timestamp": sent.timestamp.to_string(),
                "webhook-signature": sent.signature,
            },
            "body": event.map(|e| e.view().to_string()).filter(|b| crate::secrets::sha256_hex(b) == sent.body_sha256),
        }),
    };
    Ok(Reply::ok(body))
}

/// A delivery of `event` to `w` from its first attempt, due now (the retry job sends it).
fn due_now(w: &Webhook, event: &Event) -> Delivery {
    Delivery::for_endpoint(w, event, 0, timestamp(Utc::now()))
}

/// How long a test event is kept: longer than its delivery can last, each wait of the
/// retry schedule as long as a receiver's `Retry-After` may make it, and a day more.
fn test_event_lifetime(schedule: &[std::time::Duration]) -> std::time::Duration {
    let day = std::time::Duration::from_secs(24 * 3600);
    schedule.iter().map(|step| (*step).max(crate::webhooks::MAX_RETRY_AFTER)).fold(day, |sum, step| sum.saturating_add(step))
}

/// `POST /v1/webhooks/{webhookId}/test` `{ "type"? }`: a signed sample event of the
/// chosen type (default `client.updated`), marked `"test": true`, to this endpoint only,
/// logged in its deliveries (API.md §5b). It changes nothing: the event is never listed,
/// never fanned out to other endpoints and never redelivered. 202: the retry job sends
/// it on its next run (within the minute on AWS, at once locally), and retries it on the
/// endpoint's schedule like any delivery.
///
/// # Errors
/// 400 for an unknown type or another field, 404 outside the tree, 409 for a disabled
/// endpoint (it would get nothing).
pub async fn send_test(cx: Ctx) -> Result<Reply, ApiError> {
    let who = cx.principal().await?;
    who.require(Scope::WEBHOOKS_EDIT)?;
    let body = cx.optional_json()?;
    let null_type = body.get("type").is_some_and(serde_json::Value::is_null);
    let mut f = crate::domain::fields::Fields::from_body(body)?;
    if null_type {
        f.error("type", "must be an event type of GET /v1/event-types (leave it out for client.updated)");
    }
    let kind = match f.optional::<serde_json::Value>("type") {
        None => Some(EventType::ClientUpdated),
        Some(t) => {
            let kind = t.as_str().and_then(EventType::parse);
            if kind.is_none() {
                f.error("type", "must be an event type of GET /v1/event-types");
            }
            kind
        }
    };
    f.finish()?;
    let kind = kind.unwrap_or(EventType::ClientUpdated);
    let w = visible(&cx, &who).await?;
    if !w.enabled {
        return Err(ApiError::InvalidTransition(format!("Webhook {} is disabled; enable it to send it a test event", w.id)));
    }
    let partner = if w.scope == ALL { None } else { cx.app.store.partner(&w.scope).await? };
    let path = partner.as_ref().map(|p| p.path.clone()).unwrap_or_default();
    let object = crate::samples::object(kind, partner.as_ref(), &w)?;
    let mut event = Event::new(kind, &path, &who.actor, &cx.request_id, object, crate::samples::previous(kind));
    event.test = true;
    let keep = test_event_lifetime(&cx.app.config.webhook_retry_schedule);
    cx.app.store.send_test_event(&event, &due_now(&w, &event), keep).await?;
    Ok(Reply::accepted(json!({ "eventId": event.id })))
}

/// `POST /v1/events/{eventId}/redeliver`: sends the event again to every endpoint
/// of the caller's view that wants it (202: the retry job sends it right away).
///
/// # Errors
/// 404 for an event outside the caller's tree.
pub async fn redeliver(cx: Ctx) -> Result<Reply, ApiError> {
    let who = cx.principal().await?;
    who.require(Scope::WEBHOOKS_EDIT)?;
    cx.no_fields()?;
    let id = cx.id_param("eventId", "Event")?;
    let missing = || ApiError::NotFound(format!("Event {id}"));
    let event = cx.app.store.event(&id).await?.ok_or_else(missing)?;
    // A test event is no event of the tree's: it went to its one endpoint (send it again
    // with another test).
    if event.test || !who.sees(&event.scopes) {
        return Err(missing());
    }
    let mut scopes = vec![ALL.to_owned()];
    scopes.extend(event.scopes.iter().cloned());
    let mut queued = Vec::new();
    for w in cx.app.store.webhooks_of(&scopes).await? {
        if !w.wants(event.kind) || !sees(&cx, &who, &w).await? {
            continue;
        }
        cx.app.store.restart_delivery(&due_now(&w, &event)).await?;
        queued.push(w.id);
    }
    Ok(Reply::accepted(json!({ "eventId": event.id, "webhooks": queued })))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::test_event_lifetime;

    #[test]
    fn a_test_event_outlives_every_wait_its_delivery_can_have() {
        let hours = |h: u64| Duration::from_secs(h * 3600);
        // The default schedule's seven waits, each as long as a day's Retry-After, and a day.
        let default = [Duration::from_secs(5), Duration::from_secs(300), hours(1) / 2, hours(2), hours(5), hours(10), hours(10)];
        assert_eq!(test_event_lifetime(&default), hours(24 * 8));
        assert_eq!(test_event_lifetime(&[hours(72), hours(1)]), hours(24 + 72 + 24));
        assert_eq!(test_event_lifetime(&[]), hours(24));
    }
}
