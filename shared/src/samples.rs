//! The sample `data.object` a test event carries (`POST /v1/webhooks/{id}/test`, API.md
//! §5b): of each event type, the object a real event of that type carries, made by the
//! same views from a stored record of sample values. So a receiver's code that handles
//! a test event handles the real one, and the catalog's schema (`GET /v1/event-types`)
//! describes both.

use serde_json::{Value, json};

use crate::domain::partner::Partner;
use crate::domain::webhook::Webhook;
use crate::error::ApiError;
use crate::events::EventType;

/// The ids of the sample records (fixed, so a receiver can tell them from real ones
/// besides the event's `"test": true`).
const CLIENT: &str = "00000000-0000-7000-8000-000000000001";
const LICENSE: &str = "00000000-0000-7000-8000-000000000002";
const PRODUCT: &str = "00000000-0000-7000-8000-000000000003";
const KEY: &str = "00000000-0000-7000-8000-000000000004";
const TEAMMATE: &str = "00000000-0000-7000-8000-000000000005";
const PARTNER: &str = "00000000-0000-7000-8000-000000000006";
const LINK: &str = "00000000-0000-7000-8000-000000000008";
const ENDPOINT: &str = "00000000-0000-7000-8000-000000000007";
const EVENT: &str = "00000000-0000-7000-8000-000000000009";
const REQUEST: &str = "00000000-0000-7000-8000-00000000000a";
const SAMPLE_TIME: &str = "2026-01-01T00:00:00.000Z";

/// A sample object of `kind` for a test event to `endpoint`, whose partner is `partner`
/// (`None` for the platform admin's endpoints: a sample partner then).
///
/// # Errors
/// Only if a sample record no longer reads as its type (a unit test keeps them in step).
pub fn object(kind: EventType, partner: Option<&Partner>, endpoint: &Webhook) -> Result<Value, ApiError> {
    let partner = match partner {
        Some(p) => p.clone(),
        None => sample_partner()?,
    };
    Ok(match kind {
        EventType::ClientCreated
        | EventType::ClientUpdated
        | EventType::ClientRemoved
        | EventType::ClientSuspended
        | EventType::ClientUnsuspended
        | EventType::ClientTrialStarted
        | EventType::ClientTrialExpired
        | EventType::ClientMadeLive => client(kind, &partner)?,
        EventType::LicenseCreated | EventType::LicenseRevoked => license(kind, &partner)?,
        EventType::LicenseActivated | EventType::LicenseDeactivated => {
            let mut object = license(kind, &partner)?;
            object["domain"] = json!("example.com");
            object
        }
        EventType::PartnerCreated | EventType::PartnerUpdated | EventType::PartnerSuspended | EventType::PartnerUnsuspended => {
            let mut sample = partner.clone();
            sample.suspended = kind == EventType::PartnerSuspended;
            sample.view()
        }
        EventType::KeyCreated | EventType::KeyRevoked => read::<crate::domain::api_key::ApiKey>(json!({
            "id": KEY, "name": "Sample key", "partnerId": partner.id, "permissions": ["clients:view", "clients:edit"],
            "prefix": "ck_live_AAAA", "created": SAMPLE_TIME, "hash": "",
        }))?
        .event_view(),
        EventType::TeammateCreated | EventType::TeammateUpdated | EventType::TeammateRemoved => {
            let mut object = read::<crate::domain::teammate::Teammate>(json!({
                "id": TEAMMATE, "username": "sample.teammate", "partnerId": partner.id, "permissions": ["clients:view"],
                "passwordHash": "", "created": SAMPLE_TIME, "modified": SAMPLE_TIME, "version": 1,
            }))?
            .view();
            if kind == EventType::TeammateUpdated {
                object["passwordChanged"] = json!(true);
            }
            object
        }
        // The endpoint's own view: what a rotation of its secret would carry.
        EventType::WebhookSecretRotated => endpoint.view(),
        EventType::ConsoleLinkCreated => read::<crate::domain::console_link::ConsoleLink>(json!({
            "id": LINK, "partnerId": partner.id, "permissions": ["clients:view", "clients:edit", "webhooks:view"],
            "expiresAt": 1_767_225_900, "created": SAMPLE_TIME, "minter": { "kind": "apiKey", "id": KEY },
        }))?
        .view(),
    })
}

/// A sample `data.previous` of an update (API.md §5: the changed fields' old values), so
/// that a receiver tried with a sample meets the member it will meet.
pub fn previous(kind: EventType) -> Option<Value> {
    match kind {
        EventType::ClientUpdated => Some(json!({ "company": "Example Old Company Ltd" })),
        EventType::PartnerUpdated => Some(json!({ "name": "Example Old Partner Name" })),
        EventType::TeammateUpdated => Some(json!({ "permissions": ["clients:view"] })),
        _ => None,
    }
}

/// A whole sample event of `kind`, as a webhook receives it (the catalog's example): a
/// sample partner's, made by a sample API key.
///
/// # Errors
/// As [`object`].
pub fn example(kind: EventType) -> Result<Value, ApiError> {
    let partner = sample_partner()?;
    let object = object(kind, Some(&partner), &sample_endpoint()?)?;
    let actor = crate::auth::Actor { kind: crate::auth::ActorKind::ApiKey, id: KEY.into() };
    let mut event = crate::events::Event::new(kind, &partner.path, &actor, REQUEST, object, previous(kind));
    event.id = EVENT.into();
    event.created_at = SAMPLE_TIME.into();
    Ok(event.view())
}

fn sample_endpoint() -> Result<Webhook, ApiError> {
    read(json!({
        "id": ENDPOINT, "scope": PARTNER, "url": "https://example.com/hook", "events": ["*"],
        "description": null, "enabled": true, "nonce": "n", "created": SAMPLE_TIME, "modified": SAMPLE_TIME, "version": 0,
    }))
}

fn read<T: serde::de::DeserializeOwned>(stored: Value) -> Result<T, ApiError> {
    serde_json::from_value(stored).map_err(|e| ApiError::internal(format!("a sample record does not read: {e}")))
}

fn sample_partner() -> Result<Partner, ApiError> {
    read(json!({
        "id": PARTNER, "number": 1, "name": "Sample partner", "type": "partner", "parentId": null, "rootId": PARTNER,
        "path": [PARTNER], "suspended": false, "created": SAMPLE_TIME, "modified": SAMPLE_TIME,
    }))
}

fn client(kind: EventType, partner: &Partner) -> Result<Value, ApiError> {
    let (status, trial_ends_at) = match kind {
        EventType::ClientTrialStarted => ("trial", Some("2999-01-01T00:00:00.000Z")),
        EventType::ClientMadeLive => ("live", None),
        _ => ("demo", None),
    };
    let suspended = kind == EventType::ClientSuspended;
    let at = json!({ "id": partner.id, "name": partner.name });
    let c: crate::domain::client::Client = read(json!({
        "id": CLIENT, "number": 1, "name": "Sample client", "email": "client@example.com", "username": "sample-client",
        "company": "Example Ltd", "mid": null, "billingId": null, "location": null,
        "contact": { "firstName": "Sam", "lastName": "Ple", "email": "sam@example.com", "phone": null },
        "metadata": { "plan": "gold" }, "directPartner": at, "partner": at,
        "directPartnerNumber": partner.number, "partnerNumber": partner.number, "ancestors": partner.path,
        "status": status, "trialEndsAt": trial_ends_at, "suspended": suspended,
        "suspendedReason": if suspended { Some("sample") } else { None },
        "permissions": { "reports": ["view"] }, "quotas": { "apiCalls": { "limit": 1000, "period": "month" } },
        "licenseCount": 1, "domainCount": 1, "apiKeyPrefix": crate::secrets::visible_prefix(&format!("{}{}", crate::domain::client::CLIENT_KEY_PREFIX, "A".repeat(32))), "apiKeyHash": "",
        "created": SAMPLE_TIME, "modified": SAMPLE_TIME, "version": 1,
    }))?;
    Ok(c.view())
}

fn license(kind: EventType, partner: &Partner) -> Result<Value, ApiError> {
    let activations = match kind {
        EventType::LicenseActivated => json!({ "example.com": SAMPLE_TIME }),
        _ => json!({}),
    };
    let l: crate::domain::license::License = read(json!({
        "id": LICENSE, "number": 1, "productId": PRODUCT, "productName": "Sample product", "productSlug": "sample-product",
        "productNumber": 1, "clientNumber": 1, "tier": "pro", "clientId": CLIENT, "partnerPath": partner.path,
        "revoked": kind == EventType::LicenseRevoked, "expiresAt": null, "maxActivations": 3, "activations": activations,
        "keyPrefix": crate::secrets::visible_prefix(&format!("{}{}", crate::domain::license::LICENSE_KEY_PREFIX, "A".repeat(32))), "keyHash": "", "created": SAMPLE_TIME, "modified": SAMPLE_TIME, "version": 1,
    }))?;
    Ok(l.view())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> Webhook {
        sample_endpoint().unwrap()
    }

    /// Each sample has every field its type's catalog schema requires and none it does
    /// not describe, each of the JSON type the schema names (a top-level check: nested
    /// values come from the same views the API's answers do, which the fuzzing checks).
    #[test]
    fn every_sample_fits_its_catalog_schema() {
        let w = endpoint();
        for kind in EventType::ALL {
            let object = object(kind, None, &w).unwrap();
            let entry = crate::api::events::catalog().iter().find(|e| e["type"] == kind.as_str()).unwrap();
            // The catalog's example is a whole event of the type, carrying such a sample.
            let example = &entry["example"];
            assert_eq!((example["type"].as_str(), example["data"]["object"]["id"].as_str()), (Some(kind.as_str()), object["id"].as_str()), "{kind:?}");
            assert!(example["actor"]["kind"].is_string() && example["id"].is_string() && example.get("test").is_none(), "{example}");
            let schema = &entry["schema"];
            let props = schema["properties"].as_object().unwrap();
            let fields = object.as_object().unwrap();
            for r in schema["required"].as_array().into_iter().flatten() {
                assert!(fields.contains_key(r.as_str().unwrap()), "{kind:?}: the sample has {r}: {object}");
            }
            for (name, value) in fields {
                let described = props.get(name).unwrap_or_else(|| panic!("{kind:?}: {name} is not in the schema"));
                let types: Vec<&str> = match &described["type"] {
                    Value::String(t) => vec![t.as_str()],
                    Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                    _ => continue,
                };
                let actual = match value {
                    Value::Null => "null",
                    Value::Bool(_) => "boolean",
                    Value::Number(n) if n.is_u64() || n.is_i64() => "integer",
                    Value::Number(_) => "number",
                    Value::String(_) => "string",
                    Value::Array(_) => "array",
                    Value::Object(_) => "object",
                };
                assert!(types.contains(&actual) || (actual == "integer" && types.contains(&"number")), "{kind:?}: {name} is {actual}, the schema says {types:?}");
            }
        }
    }

    #[test]
    fn a_sample_is_of_the_endpoints_partner_and_says_what_its_type_is_about() {
        let w = endpoint();
        let p = sample_partner().unwrap();
        let live = object(EventType::ClientMadeLive, Some(&p), &w).unwrap();
        assert_eq!(live["status"], "live");
        assert_eq!(live["directPartner"]["id"], PARTNER);
        assert_eq!(object(EventType::ClientSuspended, Some(&p), &w).unwrap()["suspended"], true);
        assert_eq!(object(EventType::LicenseActivated, Some(&p), &w).unwrap()["domain"], "example.com");
        assert_eq!(object(EventType::WebhookSecretRotated, Some(&p), &w).unwrap()["id"], w.id);
        let key = object(EventType::KeyCreated, Some(&p), &w).unwrap();
        assert!(key.get("prefix").is_none(), "a key event names no part of a secret: {key}");
    }
}
