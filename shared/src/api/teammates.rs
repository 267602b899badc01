//! `/v1/teammates` and `/v1/auth/token`: people of a partner, and the short-lived
//! bearer tokens they exchange their password for.

use chrono::{Duration, Utc};
use serde_json::json;

use crate::auth::{self, ActorKind, Claims, Credential, Principal};
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
        version: 0,
    };
    let event = Event::new(EventType::TeammateCreated, &partner.path, &who.actor, &cx.request_id, teammate.view(), None);
    cx.app.store.create_teammate(&teammate, &event).await?;
    Ok(Reply::created(teammate.view(), format!("/v1/teammates/{}", teammate.id)).etag(teammate.version))
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

impl super::Versioned for Teammate {
    fn version(&self) -> u64 {
        self.version
    }
}

impl super::Versioned for (Teammate, Vec<String>) {
    fn version(&self) -> u64 {
        self.0.version
    }
}

/// Whether `who` is the teammate `t` itself.
fn is_self(who: &Principal, t: &Teammate) -> bool {
    who.actor.kind == ActorKind::Teammate && who.actor.id == t.id
}

/// What changing `current` as `patch` says needs (API.md §1: no credential acts
/// above itself): `keys:create` and every permission the teammate holds now, unless
/// it is a teammate setting its own password only (which proves itself with
/// `currentPassword` instead). What it is given after is checked by [`Principal::grant`].
fn may_change(who: &Principal, current: &Teammate, patch: &TeammatePatch) -> Result<(), ApiError> {
    if is_self(who, current) && patch.permissions.is_none() {
        return Ok(());
    }
    who.require(Scope::KEYS_CREATE)?;
    who.covers(current.permissions, "teammate")
}

/// `PATCH /v1/teammates/{teammateId}` `{ permissions?, password?, currentPassword? }`,
/// honouring `If-Match`.
///
/// Changing another teammate needs `keys:create` and every permission it holds before
/// and after the change; a new password ends the tokens issued before it. A teammate
/// changing its own password sends `currentPassword` too (a guess like a Basic one,
/// under the same limits). Without `If-Match` a concurrent change makes this one run
/// again on the newer teammate, its checks included, so no change is lost or undone:
/// a self-change whose proven password was replaced meanwhile is refused (403).
///
/// # Errors
/// 400 for a bad body or a missing `currentPassword`, 403 for what the caller may not
/// do (a wrong `currentPassword` included), 404 outside its tree, 412 for a stale
/// `If-Match`, 429 while the guessing limits hold.
pub async fn update(cx: Ctx) -> Result<Reply, ApiError> {
    let who = cx.principal().await?;
    let patch = TeammatePatch::from_body(cx.json()?)?;
    let expected = cx.if_match()?;
    let (first, path) = visible(&cx, &who).await?;
    may_change(&who, &first, &patch)?;
    let own = is_self(&who, &first);
    match (&patch.current_password, own && patch.password.is_some()) {
        (None, true) => return Err(ApiError::invalid("currentPassword", "is required to change your own password")),
        (Some(_), false) => {
            return Err(ApiError::invalid("currentPassword", "is sent only by a teammate changing its own password"));
        }
        (Some(current), true) => {
            let right = auth::current_password_is(cx.app, first.username.as_str(), current, &first.password_hash, &cx.source()).await?;
            if !right {
                return Err(ApiError::Forbidden("currentPassword is not this teammate's password".into()));
            }
        }
        (None, false) => {}
    }
    // The password `currentPassword` proved: a self-change run again on a newer teammate
    // (below) writes only while it is still the stored one, so a reset made meanwhile by
    // someone above the teammate is never undone by a proof of the password it replaced.
    let proven = (own && patch.password.is_some()).then(|| first.password_hash.clone());
    // Hashed once (argon2 is slow on purpose), after the checks that could refuse it.
    let new_hash = patch.password.as_ref().map(|p| auth::hash_password(&p.0)).transpose()?;
    let mut first = Some(first);
    let read = || {
        let found = first.take();
        let cx = &cx;
        let who = &who;
        async move {
            match found {
                Some(t) => Ok(t),
                None => visible(cx, who).await.map(|(t, _)| t),
            }
        }
    };
    let change = |current: &Teammate| -> Result<Option<Teammate>, ApiError> {
        // Checked again on what is stored now: a permission given meanwhile is not
        // taken away (or a password set) by someone who could not have touched it.
        may_change(&who, current, &patch)?;
        if proven.as_ref().is_some_and(|hash| *hash != current.password_hash) {
            return Err(ApiError::Forbidden("The password was changed meanwhile; send currentPassword again".into()));
        }
        let mut next = current.clone();
        if let Some(asked) = patch.permissions {
            next.permissions = who.grant(Some(asked), "teammate")?;
        }
        // A change that changes nothing (`{}`, the permissions it holds) is no change:
        // the teammate as it is, no new version, no event. A password sent is always
        // one (even the same: it ends the tokens issued before it).
        if next.permissions == current.permissions && new_hash.is_none() {
            return Ok(None);
        }
        if let Some(hash) = &new_hash {
            next.password_hash.clone_from(hash);
            next.password_generation += 1;
        }
        next.version = current.version + 1;
        next.modified = Some(now());
        Ok(Some(next))
    };
    let write = |current: Teammate, next: Teammate| {
        let (cx, who, path, changed_password) = (&cx, &who, &path, new_hash.is_some());
        async move {
            let mut object = next.view();
            if changed_password {
                // Which changed, never to what.
                object["passwordChanged"] = json!(true);
            }
            let event = Event::new(EventType::TeammateUpdated, path, &who.actor, &cx.request_id, object, previous(&current.view(), &next.view()));
            cx.app.store.update_teammate(&current, &next, &event).await.map(|()| next)
        }
    };
    let next = super::versioned(expected, "teammate", read, change, write).await?;
    Ok(Reply::ok(next.view()).etag(next.version))
}

/// `DELETE /v1/teammates/{teammateId}`, honouring `If-Match`: their password and
/// tokens stop working from the next request on. Needs `keys:remove` and every
/// permission the teammate holds.
///
/// # Errors
/// 403 for a teammate that holds more than the caller; 404 for one that does not
/// exist or is outside the caller's tree; 412 for a stale `If-Match`.
pub async fn remove(cx: Ctx) -> Result<Reply, ApiError> {
    let who = cx.principal().await?;
    who.require(Scope::KEYS_REMOVE)?;
    cx.no_fields()?;
    let expected = cx.if_match()?;
    let (cx, who) = (&cx, &who);
    let read = || async move { visible(cx, who).await };
    let change = |(current, _): &(Teammate, Vec<String>)| who.covers(current.permissions, "teammate").map(|()| Some(()));
    let write = |(current, path): (Teammate, Vec<String>), ()| async move {
        let event = Event::new(EventType::TeammateRemoved, &path, &who.actor, &cx.request_id, current.view(), None);
        cx.app.store.remove_teammate(&current, &event).await.map(|()| (current, path))
    };
    super::versioned(expected, "teammate", read, change, write).await?;
    Ok(Reply::no_content())
}

/// `POST /v1/auth/token` with Basic credentials: `{ token, expiresAt }`.
///
/// # Errors
/// 401 without Basic credentials or with wrong ones.
pub async fn token(cx: Ctx) -> Result<Reply, ApiError> {
    let Some(Credential::Basic(username, password)) = auth::authorization(cx.headers())? else {
        return Err(ApiError::Unauthenticated("Send teammate credentials with HTTP Basic"));
    };
    // The idempotency layer keeps a request's answer for the principal it authenticated,
    // and an API key comes first there: a token issued to these Basic credentials would
    // be kept for the key, and replayed to whoever holds it. A token is issued only to a
    // request that carries nothing but the teammate's credentials.
    if cx.headers().contains_key("x-api-key") {
        return Err(ApiError::Unauthenticated("Send teammate credentials with HTTP Basic alone, without an API key"));
    }
    let (who, password_generation) = auth::basic_teammate(cx.app, &username, &password, &cx.source()).await?;
    // It takes no fields (API.md §1): a body is refused once the credentials are judged.
    cx.no_fields()?;
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
        link: None,
        minted: None,
    };
    let token = auth::issue_token(&cx.app.config.jwt_secret, &claims)?;
    Ok(Reply::ok(json!({ "token": token, "expiresAt": timestamp(expires) })).no_store())
}
