//! `/v1/teammates` and `/v1/auth/token`: people of a partner, and the short-lived
//! bearer tokens they exchange their password for.

use chrono::{Duration, Utc};
use serde_json::json;

use crate::auth::{self, Claims, Credential};
use crate::domain::scopes::Scope;
use crate::domain::teammate::{NewTeammate, Teammate};
use crate::domain::{new_id, now, timestamp};
use crate::error::ApiError;
use crate::http::{Ctx, Reply};

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
    };
    cx.app.store.create_teammate(&teammate).await?;
    Ok(Reply::created(teammate.view(), format!("/v1/teammates/{}", teammate.id)))
}

/// `POST /v1/auth/token` with Basic credentials: `{ token, expiresAt }`.
///
/// # Errors
/// 401 without Basic credentials or with wrong ones.
pub async fn token(cx: Ctx) -> Result<Reply, ApiError> {
    let Some(Credential::Basic(username, password)) = auth::authorization(cx.headers())? else {
        return Err(ApiError::Unauthenticated("Send teammate credentials with HTTP Basic"));
    };
    let who = auth::basic(cx.app, &username, &password).await?;
    let partner = who.partner.as_ref().ok_or(ApiError::Unauthenticated("Teammates belong to a partner"))?;
    let now = Utc::now();
    let expires = now + Duration::from_std(cx.app.config.token_ttl).map_err(ApiError::internal)?;
    let claims = Claims {
        sub: who.actor.id.clone(),
        partner_id: partner.id.clone(),
        permissions: who.scopes.names(),
        exp: expires.timestamp(),
        iat: now.timestamp(),
    };
    let token = auth::issue_token(&cx.app.config.jwt_secret, &claims)?;
    Ok(Reply::ok(json!({ "token": token, "expiresAt": timestamp(expires) })))
}
