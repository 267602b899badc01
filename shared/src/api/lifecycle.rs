//! Client lifecycle and governance: trial and live, suspension, permissions,
//! quotas and the client's own API key. Each is one versioned change with its event.

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use super::clients::{caller_and_client, modify, reply};
use crate::domain::client::{CLIENT_KEY_PREFIX, Client, Status};
use crate::domain::fields::{Errors, Fields, FromJson, parse_with};
use crate::domain::scopes::Scope;
use crate::domain::values::{ClientPermissions, Quotas, Text};
use crate::domain::{now, timestamp};
use crate::error::ApiError;
use crate::events::EventType;
use crate::http::{Ctx, Reply};
use crate::secrets;

/// Trial length in days: 1 to 90.
struct Days(i64);

impl FromJson for Days {
    fn from_json(value: &Value, at: &str, errors: &mut Errors) -> Option<Self> {
        parse_with(value, at, errors, |v| {
            crate::domain::fields::whole(v).and_then(|d| i64::try_from(d).ok()).filter(|d| (1..=90).contains(d)).map(Days).ok_or_else(|| "must be a whole number of days from 1 to 90".into())
        })
    }
}

/// Runs one change of a client the caller may edit, and answers with the client.
async fn edit(
    cx: Ctx,
    change: impl Fn(&Client) -> Result<Option<(Client, EventType)>, ApiError>,
) -> Result<Reply, ApiError> {
    let (who, id, found) = caller_and_client(&cx, Scope::CLIENTS_EDIT).await?;
    let updated = modify(&cx, &who, &id, found, change).await?;
    Ok(reply(&updated))
}

/// `POST /v1/clients/{clientId}/offer-trial` `{ "days": 1..90 }`: demo → trial;
/// again while in trial sets a new end.
///
/// # Errors
/// 409 `invalid_transition` for a live client.
pub async fn offer_trial(cx: Ctx) -> Result<Reply, ApiError> {
    let mut f = Fields::from_body(cx.json()?)?;
    let days: Option<Days> = f.required("days");
    f.finish()?;
    let days = days.map_or(1, |d| d.0);
    edit(cx, move |c| {
        if c.effective_status(&now()) == Status::Live {
            return Err(ApiError::InvalidTransition("A live client cannot go back to a trial".into()));
        }
        let mut next = c.clone();
        next.status = Status::Trial;
        next.trial_ends_at = Some(timestamp(Utc::now() + Duration::days(days)));
        Ok(Some((next, EventType::ClientTrialStarted)))
    })
    .await
}

/// `POST /v1/clients/{clientId}/make-live`: demo or trial → live, for good.
///
/// # Errors
/// 409 `invalid_transition` when it is live already.
pub async fn make_live(cx: Ctx) -> Result<Reply, ApiError> {
    Fields::from_body(cx.optional_json()?)?.finish()?;
    edit(cx, |c| {
        if c.effective_status(&now()) == Status::Live {
            return Err(ApiError::InvalidTransition("The client is live already".into()));
        }
        let mut next = c.clone();
        next.status = Status::Live;
        next.trial_ends_at = None;
        Ok(Some((next, EventType::ClientMadeLive)))
    })
    .await
}

/// `POST /v1/clients/{clientId}/suspend` `{ "reason"? }`: keeps the data, stops
/// the client's usage. Suspending a suspended client only updates the reason.
///
/// # Errors
/// 400 for a bad body.
pub async fn suspend(cx: Ctx) -> Result<Reply, ApiError> {
    let mut f = Fields::from_body(cx.optional_json()?)?;
    let reason: Option<Text<500>> = f.optional("reason");
    f.finish()?;
    let reason = reason.map(|r| r.as_str().to_owned()).filter(|r| !r.is_empty());
    edit(cx, move |c| {
        if c.suspended && c.suspended_reason == reason {
            return Ok(None);
        }
        let mut next = c.clone();
        next.suspended = true;
        next.suspended_reason = reason.clone();
        let kind = if c.suspended { EventType::ClientUpdated } else { EventType::ClientSuspended };
        Ok(Some((next, kind)))
    })
    .await
}

/// `POST /v1/clients/{clientId}/unsuspend`. Unsuspending an active client changes nothing.
///
/// # Errors
/// 404 outside the caller's tree.
pub async fn unsuspend(cx: Ctx) -> Result<Reply, ApiError> {
    Fields::from_body(cx.optional_json()?)?.finish()?;
    edit(cx, |c| {
        if !c.suspended {
            return Ok(None);
        }
        let mut next = c.clone();
        next.suspended = false;
        next.suspended_reason = None;
        Ok(Some((next, EventType::ClientUnsuspended)))
    })
    .await
}

/// Parses a whole body as one domain value (permissions, quotas).
fn whole_body<T: FromJson>(body: &Value) -> Result<T, ApiError> {
    let mut errors = Vec::new();
    if !body.is_object() {
        return Err(ApiError::invalid("body", "must be a JSON object"));
    }
    T::from_json(body, "", &mut errors).ok_or(ApiError::Validation(errors))
}

/// `PUT /v1/clients/{clientId}/permissions` `{ "reports": ["view"], ... }`: replaces them.
///
/// # Errors
/// 400 naming each bad resource.
pub async fn set_permissions(cx: Ctx) -> Result<Reply, ApiError> {
    let permissions: ClientPermissions = whole_body(&cx.json()?)?;
    edit(cx, move |c| {
        let mut next = c.clone();
        next.permissions = permissions.clone();
        Ok(Some((next, EventType::ClientUpdated)))
    })
    .await
}

/// `PUT /v1/clients/{clientId}/quotas` `{ "apiCalls": { "limit", "period"? }, ... }`: replaces them.
///
/// # Errors
/// 400 naming each bad quota.
pub async fn set_quotas(cx: Ctx) -> Result<Reply, ApiError> {
    let quotas: Quotas = whole_body(&cx.json()?)?;
    edit(cx, move |c| {
        let mut next = c.clone();
        next.quotas = quotas.clone();
        Ok(Some((next, EventType::ClientUpdated)))
    })
    .await
}

/// `POST /v1/clients/{clientId}/rotate-api-key`: a new key, shown this once;
/// the old one stops working in the same write.
///
/// # Errors
/// 404 outside the caller's tree, 412 for a stale `If-Match`.
pub async fn rotate_api_key(cx: Ctx) -> Result<Reply, ApiError> {
    Fields::from_body(cx.optional_json()?)?.finish()?;
    let secret = secrets::generate(CLIENT_KEY_PREFIX);
    let (prefix, hash) = (secrets::visible_prefix(&secret), secrets::sha256_hex(&secret));
    let response = edit(cx, move |c| {
        let mut next = c.clone();
        next.api_key_prefix = prefix.clone();
        next.api_key_hash = hash.clone();
        Ok(Some((next, EventType::ClientUpdated)))
    })
    .await?;
    Ok(response.with_field("apiKey", json!(secret)).no_store())
}
