//! API keys: machine credentials of a partner.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::fields::Fields;
use super::scopes::Scopes;
use super::values::Text;
use crate::error::ApiError;

/// The secret's prefix, which tells an API key from other secrets.
pub const KEY_PREFIX: &str = "ck_live_";

/// A stored API key (its secret is kept only as a hash, elsewhere).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    pub id: String,
    pub name: Option<Text<100>>,
    pub partner_id: String,
    pub permissions: Scopes,
    /// The first characters of the secret, to recognise it.
    pub prefix: String,
    pub created: String,
    pub hash: String,
}

impl ApiKey {
    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "partnerId": self.partner_id,
            "permissions": self.permissions,
            "prefix": self.prefix,
            "created": self.created,
        })
    }

    /// What an event says of the key: who it is and what it may do, nothing of its secret.
    pub fn event_view(&self) -> Value {
        json!({ "id": self.id, "name": self.name, "partnerId": self.partner_id, "permissions": self.permissions, "created": self.created })
    }
}

/// The body of `POST /v1/api-keys`.
#[derive(Debug)]
pub struct NewApiKey {
    pub name: Option<Text<100>>,
    pub partner_id: Option<String>,
    pub permissions: Option<Scopes>,
}

impl NewApiKey {
    /// # Errors
    /// `validation_failed` listing every bad or unknown field.
    pub fn from_body(body: Value) -> Result<Self, ApiError> {
        let mut f = Fields::from_body(body)?;
        let key = Self {
            name: f.optional("name"),
            partner_id: f.optional("partnerId"),
            permissions: f.optional("permissions"),
        };
        if key.partner_id.as_deref().is_some_and(|p| !super::is_id(p)) {
            f.error("partnerId", "must be a partner id");
        }
        f.finish()?;
        Ok(key)
    }
}
