//! `/v1/api-keys`: create, list and revoke partners' API keys.

use serde_json::json;

use crate::auth::Principal;
use crate::domain::api_key::{ApiKey, KEY_PREFIX, NewApiKey};
use crate::domain::partner::Partner;
use crate::domain::scopes::Scope;
use crate::domain::{is_id, new_id, now};
use crate::error::ApiError;
use crate::events::{Event, EventType};
use crate::http::{Ctx, Reply, list};
use crate::secrets;

/// The partner a key operation is about: `partner_id` if given (in the caller's
/// tree), else the caller's own.
pub(crate) async fn target_partner(cx: &Ctx, who: &Principal, partner_id: Option<&str>) -> Result<Partner, ApiError> {
    match (partner_id, &who.partner) {
        (Some(id), _) => cx
            .app
            .store
            .partner(id)
            .await?
            .filter(|p| who.sees(&p.path))
            .ok_or_else(|| ApiError::NotFound(format!("Partner {id}"))),
        (None, Some(own)) => Ok(own.clone()),
        (None, None) => Err(ApiError::invalid("partnerId", "is required for the platform admin")),
    }
}

/// `POST /v1/api-keys`: a new key for the caller's partner or one below it; the
/// secret is in the response once and stored only as a hash.
///
/// # Errors
/// 403 when asking for permissions the caller lacks; 404 for a partner outside its tree.
pub async fn create(cx: Ctx) -> Result<Reply, ApiError> {
    let who = cx.principal().await?;
    who.require(Scope::KEYS_CREATE)?;
    let new = NewApiKey::from_body(cx.json()?)?;
    let partner = target_partner(&cx, &who, new.partner_id.as_deref()).await?;
    let permissions = who.grant(new.permissions, "key")?;
    let secret = secrets::generate(KEY_PREFIX);
    let key = ApiKey {
        id: new_id(),
        name: new.name,
        partner_id: partner.id.clone(),
        permissions,
        prefix: secrets::visible_prefix(&secret),
        created: now(),
        hash: secrets::sha256_hex(&secret),
    };
    let event = Event::new(EventType::KeyCreated, &partner.path, &who.actor, &cx.request_id, key.event_view(), None);
    cx.app.store.create_api_key(&key, &partner.path, &event).await?;
    let mut body = key.view();
    body["key"] = json!(secret);
    Ok(Reply::created(body, format!("/v1/api-keys/{}", key.id)).no_store())
}

/// `GET /v1/api-keys[?partnerId=]`: a partner's keys, never their secrets.
///
/// # Errors
/// 400 when the admin names no partner; 404 for a partner outside the caller's tree.
pub async fn list_keys(cx: Ctx) -> Result<Reply, ApiError> {
    let who = cx.principal().await?;
    who.require(Scope::KEYS_VIEW)?;
    let partner_id = cx.query("partnerId");
    if partner_id.as_deref().is_some_and(|p| !is_id(p)) {
        return Err(ApiError::NotFound(format!("Partner {}", partner_id.unwrap_or_default())));
    }
    let partner = target_partner(&cx, &who, partner_id.as_deref()).await?;
    let fingerprint = format!("keys|{}|{}", who.scope(), partner.id);
    let page = cx.page(&fingerprint)?;
    let (keys, after, total) = cx.app.store.list_api_keys(&partner.id, &page).await?;
    Ok(list(total, keys.iter().map(ApiKey::view).collect(), cx.cursor(&fingerprint, after)))
}

/// `DELETE /v1/api-keys/{keyId}`: the key stops working from the next request. Needs
/// `keys:remove` and every permission the key holds.
///
/// # Errors
/// 403 for a key that holds more than the caller; 404 for a key that does not exist,
/// was revoked, or is outside the caller's tree; 412 for an `If-Match` naming a version
/// (a key has none).
pub async fn revoke(cx: Ctx) -> Result<Reply, ApiError> {
    let who = cx.principal().await?;
    who.require(Scope::KEYS_REMOVE)?;
    cx.no_fields()?;
    let id = cx.id_param("keyId", "API key")?;
    let not_found = || ApiError::NotFound(format!("API key {id}"));
    let key = cx.app.store.api_key(&id).await?.ok_or_else(not_found)?;
    let partner = cx.app.store.partner(&key.partner_id).await?.ok_or_else(not_found)?;
    if !who.sees(&partner.path) {
        return Err(not_found());
    }
    // No credential acts above itself (API.md §1). A key never changes, so what it holds
    // now is what the revoke removes.
    who.covers(key.permissions, "key")?;
    cx.unversioned()?;
    let event = Event::new(EventType::KeyRevoked, &partner.path, &who.actor, &cx.request_id, key.event_view(), None);
    if cx.app.store.revoke_api_key(&key, &event).await? { Ok(Reply::no_content()) } else { Err(not_found()) }
}
