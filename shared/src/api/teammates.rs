//! `/v1/teammates` and `/v1/auth/token`: people of a partner, and the short-lived
//! bearer tokens they exchange their password for.

use chrono::{Duration, Utc};
use serde_json::json;

use crate::auth::{self, Claims, Credential, Principal};
use crate::domain::scopes::Scope;
use crate::domain::teammate::{NewTeammate, Teammate, TeammatePatch};
use crate::domain::{is_id, new_id, now, timestamp};
use crate::error::ApiError;
use crate::events::{Event, EventType, previous};
use crate::http::{Ctx, Reply, list};

/// `POST /v1/teammates` `{ username, password, partnerId?, permissions? }`.
///
/// # Errors
/// 403 when asking for permissions the caller lacks, 404 for a partner outside
/// its tree, 409 `username_taken`.
pub async fn create(cx: Ctx) -> Result<Reply, ApiError> {
    let who = cx.principal().await?;
    who.require(Scope::KEYS_CREATE)?;
    let new = NewTeammate::from_body(cx.json()?)?;
    let partner = super::api_keys::target_partner(&cx, &who, new.partner_id.as_deref()).await?;
    let permissions = who.grant(new.permissions, "teammate")?;
    let teammate = Teammate {
        id: new_id(),
        username: new.username,
        partner_id: partner.id,
        permissions,
        password_hash: auth::hash_password(&new.password.0)?,
        created: now(),
        modified: None,
        password_generation: 0,
    };
    let event = Event::new(EventType::TeammateCreated, &partner.path, &who.actor, &cx.request_id, teammate.view(), None);
    cx.app.store.create_teammate(&teammate, &event).await?;
    Ok(Reply::created(teammate.view(), format!("/v1/teammates/{}", teammate.id)))
}

/// `GET /v1/teammates[?partnerId=]`: a partner's teammates, never their password hashes.
///
/// # Errors
/// 400 when the admin names no partner; 404 for a partner outside the caller's tree.
pub async fn list_teammates(cx: Ctx) -> Result<Reply, ApiError> {
    let who = cx.principal().await?;
    who.require(Scope::KEYS_VIEW)?;
    let partner_id = cx.query("partnerId");
    if let Some(id) = partner_id.as_deref().filter(|p| !is_id(p)) {
        return Err(ApiError::NotFound(format!("Partner {id}")));
    }
    let partner = super::api_keys::target_partner(&cx, &who, partner_id.as_deref()).await?;
    let fingerprint = format!("teammates|{}|{}", who.scope(), partner.id);
    let page = cx.page(&fingerprint)?;
    let (teammates, after, total) = cx.app.store.list_teammates(&partner.id, &page).await?;
    Ok(list(total, teammates.iter().map(Teammate::view).collect(), cx.cursor(&fingerprint, after)))
}

/// A teammate of the caller's tree, with its partner's path (for its events).
async fn visible(cx: &Ctx, who: &Principal) -> Result<(Teammate, Vec<String>), ApiError> {
    let id = cx.id_param("teammateId", "Teammate")?;
    let not_found = || ApiError::NotFound(format!("Teammate {id}"));
    let teammate = cx.app.store.teammate_by_id(&id).await?.ok_or_else(not_found)?;
    let partner = cx.app.store.partner(&teammate.partner_id).await?.ok_or_else(not_found)?;
    if who.sees(&partner.path) { Ok((teammate, partner.path)) } else { Err(not_found()) }
}

/// `PATCH /v1/teammates/{teammateId}` `{ permissions?, password? }`. A new
/// password ends the tokens issued before it.
///
/// # Errors
/// 400 for a bad body, 403 for permissions the caller lacks, 404 outside its tree.
pub async fn update(cx: Ctx) -> Result<Reply, ApiError> {
    let who = cx.principal().await?;
    who.require(Scope::KEYS_CREATE)?;
    let patch = TeammatePatch::from_body(cx.json()?)?;
    let (current, path) = visible(&cx, &who).await?;
    let mut next = current.clone();
    if let Some(asked) = patch.permissions {
        next.permissions = who.grant(Some(asked), "teammate")?;
    }
    if let Some(password) = &patch.password {
        next.password_hash = auth::hash_password(&password.0)?;
        next.password_generation += 1;
    }
    next.modified = Some(now());
    let mut object = next.view();
    if patch.password.is_some() {
        // Which changed, never to what.
        object["passwordChanged"] = json!(true);
    }
    let event = Event::new(EventType::TeammateUpdated, &path, &who.actor, &cx.request_id, object, previous(&current.view(), &next.view()));
    if cx.app.store.update_teammate(&next, &event).await? {
        Ok(Reply::ok(next.view()))
    } else {
        Err(ApiError::NotFound(format!("Teammate {}", current.id)))
    }
}

/// `DELETE /v1/teammates/{teammateId}`: their password and tokens stop working
/// from the next request on.
///
/// # Errors
/// 404 for a teammate that does not exist or is outside the caller's tree.
pub async fn remove(cx: Ctx) -> Result<Reply, ApiError> {
    let who = cx.principal().await?;
    who.require(Scope::KEYS_REMOVE)?;
    let (teammate, path) = visible(&cx, &who).await?;
    let event = Event::new(EventType::TeammateRemoved, &path, &who.actor, &cx.request_id, teammate.view(), None);
    if cx.app.store.remove_teammate(&teammate, &event).await? {
        Ok(Reply::no_content())
    } else {
        Err(ApiError::NotFound(format!("Teammate {}", teammate.id)))
    }
}

/// `POST /v1/auth/token` with Basic credentials: `{ token, expiresAt }`.
///
/// # Errors
/// 401 without Basic credentials or with wrong ones.
pub async fn token(cx: Ctx) -> Result<Reply, ApiError> {
    let Some(Credential::Basic(username, password)) = auth::authorization(cx.headers())? else {
        return Err(ApiError::Unauthenticated("Send teammate credentials with HTTP Basic"));
    };
    let (who, password_generation) = auth::basic_teammate(cx.app, &username, &password).await?;
    let partner = who.partner.as_ref().ok_or(ApiError::Unauthenticated("Teammates belong to a partner"))?;
    let now = Utc::now();
    let expires = now + Duration::from_std(cx.app.config.token_ttl).map_err(ApiError::internal)?;
    let claims = Claims {
        sub: who.actor.id.clone(),
        partner_id: partner.id.clone(),
        permissions: who.scopes.names(),
        exp: expires.timestamp(),
        iat: now.timestamp(),
        pwg: password_generation,
    };
    let token = auth::issue_token(&cx.app.config.jwt_secret, &claims)?;
    Ok(Reply::ok(json!({ "token": token, "expiresAt": timestamp(expires) })))
}
