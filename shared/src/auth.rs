//! Who is calling, and what they may do and see.
//!
//! Credentials resolve to a [`Principal`]: the platform admin, or a partner's
//! API key with its permissions. A partner sees its own subtree only; anything
//! outside it answers 404, exactly as if it did not exist. A suspended partner,
//! or any partner below a suspended one, cannot authenticate at all.

use lambda_http::http::HeaderMap;
use serde::Serialize;

use crate::app::App;
use crate::domain::partner::Partner;
use crate::domain::scopes::{Scope, Scopes};
use crate::error::ApiError;
use crate::secrets;
use crate::store::ALL;

/// What kind of credential made a request (recorded as the actor of changes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ActorKind {
    Admin,
    ApiKey,
    Teammate,
}

/// The credential behind a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: String,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub actor: Actor,
    /// The caller's partner; `None` for the platform admin.
    pub partner: Option<Partner>,
    pub scopes: Scopes,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.partner.is_none()
    }

    /// # Errors
    /// `forbidden` naming the missing permission.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.has(scope) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!("This credential lacks the {} permission", scope.name())))
        }
    }

    /// Whether something owned by a partner with this ancestor path is in the caller's tree.
    pub fn sees(&self, path: &[String]) -> bool {
        match &self.partner {
            None => true,
            Some(p) => path.contains(&p.id),
        }
    }

    /// The list scope of the caller's whole view: `ALL` or its partner id.
    pub fn scope(&self) -> &str {
        self.partner.as_ref().map_or(ALL, |p| p.id.as_str())
    }
}

/// Resolves the request's credential.
///
/// # Errors
/// `unauthenticated` when there is none, it is unknown or revoked, or its partner
/// (or an ancestor of it) is suspended.
pub async fn authenticate(app: &App, headers: &HeaderMap) -> Result<Principal, ApiError> {
    if let Some(key) = headers.get("x-api-key") {
        let key = key.to_str().map_err(|_| ApiError::Unauthenticated("The API key is not valid"))?;
        return api_key(app, key.trim()).await;
    }
    if headers.contains_key("authorization") {
        return Err(ApiError::Unauthenticated("The Authorization credential is not valid"));
    }
    Err(ApiError::Unauthenticated("Send an API key in X-API-Key"))
}

async fn api_key(app: &App, key: &str) -> Result<Principal, ApiError> {
    const BAD: &str = "The API key is not valid or has been revoked";
    let hash = secrets::sha256_hex(key);
    if secrets::equal(hash.as_bytes(), app.config.admin_key_sha256.as_bytes()) {
        return Ok(Principal {
            actor: Actor { kind: ActorKind::Admin, id: "admin".into() },
            partner: None,
            scopes: Scopes::ALL,
        });
    }
    let grant = app.store.key_grant(&hash).await?.ok_or(ApiError::Unauthenticated(BAD))?;
    let partner = active_partner(app, &grant.partner_path).await?;
    Ok(Principal {
        actor: Actor { kind: ActorKind::ApiKey, id: grant.key_id },
        partner: Some(partner),
        scopes: grant.permissions,
    })
}

/// The last partner of `path`, provided neither it nor any ancestor is suspended.
async fn active_partner(app: &App, path: &[String]) -> Result<Partner, ApiError> {
    let chain = app.store.partners(path).await?;
    if chain.len() != path.len() || chain.iter().any(|p| p.suspended) {
        return Err(ApiError::Unauthenticated("This credential's partner is suspended"));
    }
    chain.into_iter().last().ok_or(ApiError::Unauthenticated("This credential has no partner"))
}
