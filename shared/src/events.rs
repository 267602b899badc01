//! Events: the outbox and audit log of every change.
//!
//! A change and its event are written in one `TransactWriteItems`, so there is
//! no event without its change and no change without its event. The table's
//! stream carries the event item on to webhook delivery.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::auth::Actor;
use crate::domain::{new_id, now};

/// The kinds of event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "client.created")]
    ClientCreated,
    #[serde(rename = "client.updated")]
    ClientUpdated,
    #[serde(rename = "client.removed")]
    ClientRemoved,
    #[serde(rename = "client.suspended")]
    ClientSuspended,
    #[serde(rename = "client.unsuspended")]
    ClientUnsuspended,
    #[serde(rename = "client.trial_started")]
    ClientTrialStarted,
    #[serde(rename = "client.trial_expired")]
    ClientTrialExpired,
    #[serde(rename = "client.made_live")]
    ClientMadeLive,
    #[serde(rename = "license.created")]
    LicenseCreated,
    #[serde(rename = "license.activated")]
    LicenseActivated,
    #[serde(rename = "license.deactivated")]
    LicenseDeactivated,
    #[serde(rename = "license.revoked")]
    LicenseRevoked,
    #[serde(rename = "partner.created")]
    PartnerCreated,
    #[serde(rename = "partner.updated")]
    PartnerUpdated,
    #[serde(rename = "partner.suspended")]
    PartnerSuspended,
    #[serde(rename = "partner.unsuspended")]
    PartnerUnsuspended,
    #[serde(rename = "key.created")]
    KeyCreated,
    #[serde(rename = "key.revoked")]
    KeyRevoked,
    #[serde(rename = "teammate.created")]
    TeammateCreated,
    #[serde(rename = "teammate.updated")]
    TeammateUpdated,
    #[serde(rename = "teammate.removed")]
    TeammateRemoved,
    #[serde(rename = "webhook.secret_rotated")]
    WebhookSecretRotated,
    #[serde(rename = "console_link.created")]
    ConsoleLinkCreated,
}

impl EventType {
    pub const ALL: [EventType; 23] = [
        Self::ClientCreated,
        Self::ClientUpdated,
        Self::ClientRemoved,
        Self::ClientSuspended,
        Self::ClientUnsuspended,
        Self::ClientTrialStarted,
        Self::ClientTrialExpired,
        Self::ClientMadeLive,
        Self::LicenseCreated,
        Self::LicenseActivated,
        Self::LicenseDeactivated,
        Self::LicenseRevoked,
        Self::PartnerCreated,
        Self::PartnerUpdated,
        Self::PartnerSuspended,
        Self::PartnerUnsuspended,
        Self::KeyCreated,
        Self::KeyRevoked,
        Self::TeammateCreated,
        Self::TeammateUpdated,
        Self::TeammateRemoved,
        Self::WebhookSecretRotated,
        Self::ConsoleLinkCreated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientCreated => "client.created",
            Self::ClientUpdated => "client.updated",
            Self::ClientRemoved => "client.removed",
            Self::ClientSuspended => "client.suspended",
            Self::ClientUnsuspended => "client.unsuspended",
            Self::ClientTrialStarted => "client.trial_started",
            Self::ClientTrialExpired => "client.trial_expired",
            Self::ClientMadeLive => "client.made_live",
            Self::LicenseCreated => "license.created",
            Self::LicenseActivated => "license.activated",
            Self::LicenseDeactivated => "license.deactivated",
            Self::LicenseRevoked => "license.revoked",
            Self::PartnerCreated => "partner.created",
            Self::PartnerUpdated => "partner.updated",
            Self::PartnerSuspended => "partner.suspended",
            Self::PartnerUnsuspended => "partner.unsuspended",
            Self::KeyCreated => "key.created",
            Self::KeyRevoked => "key.revoked",
            Self::TeammateCreated => "teammate.created",
            Self::TeammateUpdated => "teammate.updated",
            Self::TeammateRemoved => "teammate.removed",
            Self::WebhookSecretRotated => "webhook.secret_rotated",
            Self::ConsoleLinkCreated => "console_link.created",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// What changed: the object after the change and, on updates, the old values of
/// the fields that changed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventData {
    pub object: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Value>,
}

/// One event, as stored, listed and delivered.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub created_at: String,
    /// The partner the changed object belongs to (its direct partner).
    pub partner_id: Option<String>,
    pub actor: Actor,
    pub request_id: String,
    pub data: EventData,
    /// Ids from the root partner down to `partner_id`: whose trees see the event.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// A test event (`POST /v1/webhooks/{id}/test`): a sample, sent to one endpoint
    /// only, never listed and never fanned out (API.md §5b).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub test: bool,
}

impl Event {
    /// A new event about an object of the partner at the end of `path`.
    pub fn new(kind: EventType, path: &[String], actor: &Actor, request_id: &str, object: Value, previous: Option<Value>) -> Self {
        Self {
            id: new_id(),
            kind,
            created_at: now(),
            partner_id: path.last().cloned(),
            actor: actor.clone(),
            request_id: request_id.to_owned(),
            data: EventData { object, previous },
            scopes: path.to_vec(),
            test: false,
        }
    }

    /// The event as the API shows and delivers it.
    pub fn view(&self) -> Value {
        let mut view = json!({
            "id": self.id,
            "type": self.kind,
            "createdAt": self.created_at,
            "partnerId": self.partner_id,
            "actor": self.actor,
            "requestId": self.request_id,
            "data": self.data,
        });
        if self.test {
            view["test"] = json!(true);
        }
        view
    }
}

/// The old values of the top-level fields that differ between two views
/// (bookkeeping fields `version` and `modified` aside); `None` when nothing did.
pub fn previous(before: &Value, after: &Value) -> Option<Value> {
    let (Value::Object(b), Value::Object(a)) = (before, after) else { return None };
    let changed: Map<String, Value> = b
        .iter()
        .filter(|(k, v)| !matches!(k.as_str(), "version" | "modified") && a.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (!changed.is_empty()).then_some(Value::Object(changed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previous_holds_only_changed_fields_old_values() {
        let before = json!({"name": "A", "company": "X", "version": 1, "modified": "t1"});
        let after = json!({"name": "B", "company": "X", "version": 2, "modified": "t2"});
        assert_eq!(previous(&before, &after), Some(json!({"name": "A"})));
        assert_eq!(previous(&before, &before), None);
    }

    #[test]
    fn event_types_round_trip_through_their_names() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
    }
}
