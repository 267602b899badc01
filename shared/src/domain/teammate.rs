//! Teammates: people of a partner, who sign in with a username and password.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::fields::{Errors, Fields, FromJson, parse_with};
use super::scopes::Scopes;
use super::values::{TextRule, Username};
use crate::error::ApiError;

/// A stored teammate; the password only as an argon2id hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Teammate {
    pub id: String,
    pub username: Username,
    pub partner_id: String,
    pub permissions: Scopes,
    pub password_hash: String,
    pub created: String,
    #[serde(default)]
    pub modified: Option<String>,
    /// How many times the password has changed. A token carries the generation it
    /// was issued under and authenticates only while it is still the current one:
    /// exact, where a time comparison would let a token issued in the same second as
    /// a change (or issued against the old password while the change commits) live on.
    #[serde(default)]
    pub password_generation: u64,
    /// 0 at creation, +1 per change (API.md §1): a change is written only over the
    /// version it was decided on, so none is lost or undone by a concurrent one.
    #[serde(default)]
    pub version: u64,
}

impl Teammate {
    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "username": self.username,
            "partnerId": self.partner_id,
            "permissions": self.permissions,
            "created": self.created,
            "modified": self.modified.as_deref().unwrap_or(&self.created),
            "version": self.version,
        })
    }
}

/// A password: 12 to 256 characters of text (API.md §5a): in Unicode NFC, so that one
/// typed two ways ("é" precomposed, or "e" and a combining accent) is one password, and
/// with no control or format character but tab and line feed.
pub struct Password(pub String);

impl FromJson for Password {
    fn from_json(value: &Value, at: &str, errors: &mut Errors) -> Option<Self> {
        parse_with(value, at, errors, |v| {
            let raw = v.as_str().ok_or_else(|| "must be a string".to_owned())?;
            let p = TextRule::Free.clean(raw)?;
            if (12..=256).contains(&p.chars().count()) { Ok(Password(p)) } else { Err("must be 12 to 256 characters".into()) }
        })
    }
}

/// `s` in Unicode NFC (a password as it is hashed and verified).
pub fn nfc(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    s.nfc().collect()
}

/// The body of `POST /v1/teammates`.
pub struct NewTeammate {
    pub username: Username,
    pub password: Password,
    pub partner_id: Option<String>,
    pub permissions: Option<Scopes>,
}

impl NewTeammate {
    /// # Errors
    /// `validation_failed` listing every bad or unknown field.
    pub fn from_body(body: Value) -> Result<Self, ApiError> {
        let mut f = Fields::from_body(body)?;
        let username = f.required("username");
        let password = f.required("password");
        let partner_id: Option<String> = f.optional("partnerId");
        let permissions = f.optional("permissions");
        if partner_id.as_deref().is_some_and(|p| !super::is_id(p)) {
            f.error("partnerId", "must be a partner id");
        }
        f.finish()?;
        Ok(Self {
            username: username.expect("checked by finish"),
            password: password.expect("checked by finish"),
            partner_id,
            permissions,
        })
    }
}

/// The body of `PATCH /v1/teammates/{teammateId}`.
pub struct TeammatePatch {
    pub password: Option<Password>,
    pub permissions: Option<Scopes>,
    /// What a teammate changing its own password sends beside the new one.
    pub current_password: Option<String>,
}

impl TeammatePatch {
    /// # Errors
    /// `validation_failed` listing every bad or unknown field (`username` and
    /// `partnerId` never change).
    pub fn from_body(body: Value) -> Result<Self, ApiError> {
        let mut f = Fields::from_body(body)?;
        let password = f.not_null("password");
        let permissions = f.not_null("permissions");
        let current_password: Option<String> = f.not_null::<String>("currentPassword").map(|p| nfc(&p));
        if current_password.as_ref().is_some_and(|p| p.chars().count() > 256) {
            f.error("currentPassword", "must be at most 256 characters");
        }
        for name in ["id", "username", "partnerId", "created", "modified", "version"] {
            f.read_only(name);
        }
        f.finish()?;
        Ok(Self { password, permissions, current_password })
    }
}
