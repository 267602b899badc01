//! `/v1/console-links` (API.md §5b): a platform's back end mints a link into the console
//! for one partner of its tree; the console exchanges it, once, for a session.

use chrono::Utc;
use serde_json::json;

use super::api_keys::target_partner;
use crate::auth::{self, Actor, ActorKind, Claims, Principal};
use crate::domain::console_link::{self, ConsoleLink, LINK_PREFIX, Minter, NewConsoleLink, SESSION_LIFETIME, unix_time};
use crate::domain::scopes::Scope;
use crate::domain::{new_id, now};
use crate::error::ApiError;
use crate::events::{Event, EventType};
use crate::http::{Ctx, Reply};
use crate::secrets;

/// `POST /v1/console-links` `{ partnerId?, permissions?, expiresIn? }`: 201 `{ id, url,
/// expiresAt }`. The token is in the URL's fragment (never sent to a server by a
/// browser, so never in a log), shown once and stored only as a hash.
///
/// # Errors
/// 403 without `keys:create`, for permissions the caller lacks, or from a console
/// session (a session cannot prolong itself); 404 for a partner outside the tree.
pub async fn create(cx: Ctx) -> Result<Reply, ApiError> {
    let who = cx.principal().await?;
    who.require(Scope::KEYS_CREATE)?;
    if who.actor.kind == ActorKind::ConsoleLink {
        return Err(ApiError::Forbidden("A console session cannot mint console links".into()));
    }
    let new = NewConsoleLink::from_body(cx.json()?)?;
    let base = public_base(&cx)?;
    let partner = target_partner(&cx, &who, new.partner_id.as_deref()).await?;
    let permissions = match new.permissions {
        Some(asked) => who.grant(Some(asked), "console link")?,
        None => who.scopes,
    };
    let minter = minter(&cx, &who).await?;
    let token = secrets::generate(LINK_PREFIX);
    let link = ConsoleLink {
        id: new_id(),
        partner_id: partner.id.clone(),
        permissions,
        expires_at: Utc::now().timestamp() + i64::try_from(new.expires_in).map_err(ApiError::internal)?,
        created: now(),
        minter,
    };
    let event = Event::new(EventType::ConsoleLinkCreated, &partner.path, &who.actor, &cx.request_id, link.view(), None);
    cx.app.store.create_console_link(&link, &secrets::sha256_hex(&token), &event).await?;
    let url = format!("{base}/console?partner={}#link={token}", partner.id);
    Ok(Reply::created_here(json!({ "id": link.id, "url": url, "expiresAt": unix_time(link.expires_at) })).no_store())
}

/// The credential a link's session will stand on.
async fn minter(cx: &Ctx, who: &Principal) -> Result<Minter, ApiError> {
    let Actor { kind, id } = who.actor.clone();
    let (pwg, admin) = match kind {
        ActorKind::ApiKey => (0, None),
        ActorKind::Admin => (0, Some(auth::admin_digest(cx.app))),
        // A teammate's session ends with its password (as its own tokens do).
        ActorKind::Teammate => {
            let teammate = cx.app.store.teammate_by_id(&id).await?;
            (teammate.ok_or(ApiError::Unauthenticated("This teammate was removed"))?.password_generation, None)
        }
        _ => return Err(ApiError::Forbidden("Only an API key, a teammate or the admin mints console links".into())),
    };
    Ok(Minter { kind, id, pwg, admin })
}

/// Where the console is served, as the caller reached the API: `https://` and the
/// `Host` it called (API Gateway's domain, or the platform's custom one), or `http://`
/// for a loopback host (a local stack).
fn public_base(cx: &Ctx) -> Result<String, ApiError> {
    let host = cx.headers().get("host").and_then(|h| h.to_str().ok()).unwrap_or_default().trim();
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') || name.ends_with(']') => (name, Some(port)),
        _ => (host, None),
    };
    let name_ok = !name.is_empty() && name.len() <= 253 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        || name == "[::1]";
    if !name_ok || port.is_some_and(|p| p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit())) {
        return Err(ApiError::invalid("Host", "the request's Host header must name the API's host, where the console is served"));
    }
    let loopback = matches!(name, "localhost" | "[::1]") || name.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback());
    Ok(format!("{}://{}", if loopback { "http" } else { "https" }, host.to_ascii_lowercase()))
}

/// `POST /v1/console-links/exchange` `{ token }`: 200 `{ token, expiresAt, partnerId,
/// partnerName, permissions }`, a session for the link's partner of at most an hour,
/// holding the link's permissions that its minter still holds but `keys:create`
/// ([`console_link::session_scopes`]).
/// The first exchange takes the link; any later one, or one after it expired, is 401.
///
/// # Errors
/// 401 for an unknown, used or expired link, a suspended partner (or one above it), or
/// a minting credential that no longer works; 400 for a body that is not `{ token }`.
pub async fn exchange(cx: Ctx) -> Result<Reply, ApiError> {
    const BAD: &str = "This console link is unknown, was used already or has expired";
    let token = console_link::exchanged_token(cx.json()?)?.ok_or(ApiError::Unauthenticated(BAD))?;
    let hash = secrets::sha256_hex(&token);
    let link = cx.app.store.console_link(&hash).await?.ok_or(ApiError::Unauthenticated(BAD))?;
    let now = Utc::now().timestamp();
    if link.expires_at <= now {
        return Err(ApiError::Unauthenticated(BAD));
    }
    let (held, chain) = tokio::try_join!(auth::minter_scopes(cx.app, &link.minter), auth::partner_chain(cx.app, &link.partner_id))?;
    auth::ended_by_suspension(&chain, &link.created)?;
    let partner = chain.last().ok_or(ApiError::Unauthenticated(BAD))?;
    let permissions = console_link::session_scopes(link.permissions, held);
    // Taken last, once every check has passed: a store that fails before this leaves the
    // link usable (503, try again); of racing exchanges, the one whose take succeeds wins.
    if !cx.app.store.take_console_link(&hash).await? {
        return Err(ApiError::Unauthenticated(BAD));
    }
    let expires = now + SESSION_LIFETIME;
    let claims = Claims {
        sub: link.id,
        partner_id: link.partner_id,
        permissions: permissions.names(),
        exp: expires,
        iat: now,
        pwg: 0,
        link: Some(link.minter),
        minted: Some(link.created),
    };
    let session = auth::issue_token(&cx.app.config.jwt_secret, &claims)?;
    Ok(Reply::ok(json!({
        "token": session,
        "expiresAt": unix_time(expires),
        "partnerId": claims.partner_id,
        "partnerName": partner.name,
        "permissions": permissions,
    }))
    .no_store())
}
