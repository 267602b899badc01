//! Console links (API.md §5b): a platform's back end mints one for a partner of its
//! tree; the console exchanges it, once, for a session of that partner.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::fields::{Fields, parse_with, whole};
use super::scopes::Scopes;
use crate::auth::ActorKind;
use crate::error::ApiError;

/// A link token's prefix, which tells it from other secrets.
pub const LINK_PREFIX: &str = "cl_";

/// How long a link may live before it is used, in seconds, and by default.
pub const LINK_LIFETIME: std::ops::RangeInclusive<u64> = 30..=3600;
pub const DEFAULT_LINK_LIFETIME: u64 = 300;

/// How long the session a link opens lasts at most, in seconds.
pub const SESSION_LIFETIME: i64 = 3600;

/// What a console session holds: the link's permissions that its minter still holds,
/// never `keys:create`. Every use of that permission makes a credential that would outlive
/// the session's hour and its minter's revocation (a key, a teammate's password, another
/// link), or takes over the teammate that minted it; a session is for its hour only.
pub fn session_scopes(link: Scopes, minter_holds: Scopes) -> Scopes {
    link.intersect(minter_holds).without(super::scopes::Scope::KEYS_CREATE)
}

/// The credential that minted a link: its session lasts only as long as that
/// credential works, and never holds more than it now holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Minter {
    pub kind: ActorKind,
    pub id: String,
    /// A teammate's password generation when it minted (a password change ends the session).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pwg: u64,
    /// For the platform admin: a digest of the admin key then in force (a new admin key
    /// ends the sessions the old one opened).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<String>,
}

#[allow(clippy::trivially_copy_pass_by_ref, reason = "serde's skip_serializing_if passes a reference")]
fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A minted link, as stored under the hash of its token until it is used or expires.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsoleLink {
    pub id: String,
    pub partner_id: String,
    pub permissions: Scopes,
    /// Unix seconds; also the table's time-to-live attribute, so an unused link is swept.
    pub expires_at: i64,
    pub created: String,
    pub minter: Minter,
}

impl ConsoleLink {
    /// What the `console_link.created` event says of it: never its token.
    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "partnerId": self.partner_id,
            "permissions": self.permissions,
            "expiresAt": unix_time(self.expires_at),
            "created": self.created,
        })
    }
}

/// Unix seconds as the API writes times.
pub fn unix_time(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0).map(super::timestamp).unwrap_or_default()
}

/// The body of `POST /v1/console-links`.
#[derive(Debug)]
pub struct NewConsoleLink {
    pub partner_id: Option<String>,
    pub permissions: Option<Scopes>,
    pub expires_in: u64,
}

impl NewConsoleLink {
    /// # Errors
    /// `validation_failed` listing every bad or unknown field.
    pub fn from_body(body: Value) -> Result<Self, ApiError> {
        let mut f = Fields::from_body(body)?;
        let partner_id: Option<String> = f.optional("partnerId");
        let permissions = f.optional("permissions");
        let expires_in = f.optional::<Lifetime>("expiresIn").map_or(DEFAULT_LINK_LIFETIME, |l| l.0);
        if partner_id.as_deref().is_some_and(|p| !super::is_id(p)) {
            f.error("partnerId", "must be a partner id");
        }
        f.finish()?;
        Ok(Self { partner_id, permissions, expires_in })
    }
}

/// A link's `expiresIn`: whole seconds within [`LINK_LIFETIME`].
struct Lifetime(u64);

impl super::fields::FromJson for Lifetime {
    fn from_json(value: &Value, at: &str, errors: &mut super::fields::Errors) -> Option<Self> {
        parse_with(value, at, errors, |v| {
            whole(v)
                .filter(|n| LINK_LIFETIME.contains(n))
                .map(Lifetime)
                .ok_or_else(|| format!("must be a whole number of seconds from {} to {}", LINK_LIFETIME.start(), LINK_LIFETIME.end()))
        })
    }
}

/// The body of `POST /v1/console-links/exchange`: the link's token, if it looks like one
/// (anything else is refused as an unknown link would be, 401, without a read).
///
/// # Errors
/// `validation_failed` for a body that is not `{ "token": string }`.
pub fn exchanged_token(body: Value) -> Result<Option<String>, ApiError> {
    let mut f = Fields::from_body(body)?;
    let token: Option<String> = f.required("token");
    f.finish()?;
    Ok(token.filter(|t| t.len() <= 100 && t.starts_with(LINK_PREFIX) && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_lives_30_to_3600_seconds_and_300_by_default() {
        assert_eq!(NewConsoleLink::from_body(json!({})).unwrap().expires_in, 300);
        assert_eq!(NewConsoleLink::from_body(json!({ "expiresIn": 30 })).unwrap().expires_in, 30);
        assert_eq!(NewConsoleLink::from_body(json!({ "expiresIn": 3600.0 })).unwrap().expires_in, 3600);
        for bad in [json!(29), json!(3601), json!(-5), json!(30.5), json!("60")] {
            assert!(NewConsoleLink::from_body(json!({ "expiresIn": bad })).is_err(), "{bad}");
        }
        assert!(NewConsoleLink::from_body(json!({ "partnerId": "p1" })).is_err());
        assert!(NewConsoleLink::from_body(json!({ "url": "x" })).is_err());
    }

    #[test]
    fn a_session_holds_what_both_its_link_and_its_minter_hold_but_keys_create() {
        use crate::domain::scopes::Scope;
        let of = |names: &[&str]| Scopes::of(&names.iter().map(|n| Scope::parse(n).unwrap()).collect::<Vec<_>>());
        let link = of(&["clients:view", "clients:edit", "keys:create", "keys:view"]);
        let minter = of(&["clients:view", "keys:create", "keys:view", "webhooks:view"]);
        assert_eq!(session_scopes(link, minter).names(), vec!["clients:view", "keys:view"]);
    }

    #[test]
    fn only_a_token_shaped_like_a_link_is_looked_up() {
        assert_eq!(exchanged_token(json!({ "token": "cl_abc123" })).unwrap().as_deref(), Some("cl_abc123"));
        assert_eq!(exchanged_token(json!({ "token": "ck_live_abc" })).unwrap(), None);
        assert_eq!(exchanged_token(json!({ "token": format!("cl_{}", "a".repeat(200)) })).unwrap(), None);
        assert!(exchanged_token(json!({})).is_err());
        assert!(exchanged_token(json!({ "token": 5 })).is_err());
    }
}
