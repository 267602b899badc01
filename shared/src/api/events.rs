//! `/v1/events`: the event log of the caller's tree, which doubles as its audit log;
//! `/v1/event-types`: the catalog of what each event carries (API.md §5b).

use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use crate::domain::scopes::Scope;
use crate::error::ApiError;
use crate::events::{Event, EventType};
use crate::http::{Ctx, Reply, list};

/// `GET /v1/events[?type=|?clientId=]`: newest first; with `clientId`, every event about
/// that client (its own and its licenses'), which must be in the caller's tree (or have
/// been, when it was deleted).
///
/// # Errors
/// 400 for an unknown type, both filters at once, or bad paging parameters; 404 for a
/// client that is not in the caller's tree.
pub async fn list_events(cx: Ctx) -> Result<Reply, ApiError> {
    let kind = match cx.query("type") {
        None => Ok(None),
        Some(t) => EventType::parse(&t).map(Some).ok_or_else(|| ApiError::invalid("type", "is not an event type")),
    };
    let client = cx.query("clientId");
    let kind = match (kind, &client) {
        (Ok(Some(_)), Some(_)) => Err(ApiError::invalid("type", "cannot be combined with clientId")),
        (kind, _) => kind,
    };
    if let Some(client) = client {
        // Permission, then the client's tree, then its events: nothing is counted for a
        // caller that may not see them.
        let who = cx.principal().await?;
        who.require(Scope::WEBHOOKS_VIEW)?;
        kind?;
        let (events, cursor, total) = client_events(&cx, who.scope(), &client).await?;
        return Ok(list(total, events.iter().map(Event::view).collect(), cursor));
    }
    let cx = &cx;
    // The page is read beside the caller's partner chain ([`Ctx::principal_and`]).
    let read = |scope: String| async move {
        let kind = kind?;
        let fingerprint = format!("events|{scope}|{kind:?}");
        let page = cx.page(&fingerprint)?;
        let (events, after, total) = cx.app.store.list_events(&scope, kind, &page).await?;
        Ok((events, cx.cursor(&fingerprint, after), total))
    };
    let (who, found) = cx.principal_and(read).await?;
    who.require(Scope::WEBHOOKS_VIEW)?;
    let (events, cursor, total) = found?;
    Ok(list(total, events.iter().map(Event::view).collect(), cursor))
}

/// A page of the events about one client of the caller's tree (`scope`).
async fn client_events(cx: &Ctx, scope: &str, client: &str) -> Result<(Vec<Event>, Option<String>, u64), ApiError> {
    let not_found = || ApiError::NotFound(format!("Client {client}"));
    if !crate::domain::is_id(client) {
        return Err(not_found());
    }
    let fingerprint = format!("events|{scope}|client|{client}");
    let page = cx.page(&fingerprint)?;
    // A deleted client's history stays readable by the tree it was in last.
    let tree = match cx.app.store.client(client).await? {
        Some(c) => Some(c.ancestors),
        None => cx.app.store.deleted_client_tree(client).await?,
    };
    tree.filter(|t| scope == crate::store::ALL || t.iter().any(|a| a == scope)).ok_or_else(not_found)?;
    let (events, after, total) = cx.app.store.list_client_events(client, scope, &page).await?;
    Ok((events, cx.cursor(&fingerprint, after), total))
}

/// `GET /v1/event-types`: every event type with a one-line description and the JSON
/// Schema of its `data.object`, for any principal; paged like every list (API.md §1),
/// in the order of §5.
///
/// # Errors
/// 401 without a credential that works; 400 for bad paging parameters.
pub async fn event_types(cx: Ctx) -> Result<Reply, ApiError> {
    cx.principal().await?;
    let page = cx.page("event-types")?;
    let all = catalog();
    // A cursor names the last type of its page (signed, so it is one of ours).
    let start = match &page.after {
        Some(after) => all.iter().position(|e| e["type"] == after.as_str()).map_or(all.len(), |i| i + 1),
        None => 0,
    }
    .saturating_add(page.skip)
    .min(all.len());
    let end = start.saturating_add(page.limit).min(all.len());
    let data = all[start..end].to_vec();
    let after = (end < all.len()).then(|| data.last().and_then(|e| e["type"].as_str()).map(str::to_owned)).flatten();
    Ok(list(all.len() as u64, data, cx.cursor("event-types", after)))
}

/// The catalog, made once from the OpenAPI document's schemas: the schemas the API's
/// own answers are checked against (`make test` fuzzes every route with them), so an
/// event's object and the record a route returns are described by one definition.
pub(crate) fn catalog() -> &'static Vec<Value> {
    static CATALOG: OnceLock<Vec<Value>> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let schemas = &super::openapi::parsed()["components"]["schemas"];
        EventType::ALL
            .iter()
            .map(|&kind| {
                let (component, description) = about(kind);
                let mut schema = standalone(schemas, component);
                match kind {
                    // A key event names the key, never its secret or the secret's prefix.
                    EventType::KeyCreated | EventType::KeyRevoked => without(&mut schema, "prefix"),
                    // An activation names the domain it was about beside the license.
                    EventType::LicenseActivated | EventType::LicenseDeactivated => with_domain(&mut schema),
                    // A password change says so (never what the password is).
                    EventType::TeammateUpdated => with_password_changed(&mut schema),
                    _ => {}
                }
                // (A sample record that no longer reads as its type is a unit test's failure.)
                let example = crate::samples::example(kind).unwrap_or_else(|_| json!({}));
                json!({ "type": kind.as_str(), "description": description, "schema": schema, "example": example })
            })
            .collect()
    })
}

/// The OpenAPI component an event type's object is, and what the event means.
fn about(kind: EventType) -> (&'static str, &'static str) {
    match kind {
        EventType::ClientCreated => ("ClientRecord", "A client was created."),
        EventType::ClientUpdated => ("ClientRecord", "A client's fields, quotas, permissions or partner changed; `previous` holds the old values."),
        EventType::ClientRemoved => ("ClientRecord", "A client was deleted (alone or in a bulk delete); the object is the client as it was."),
        EventType::ClientSuspended => ("ClientRecord", "A client was suspended."),
        EventType::ClientUnsuspended => ("ClientRecord", "A suspended client was reactivated."),
        EventType::ClientTrialStarted => ("ClientRecord", "A client was offered a trial, or its trial was given a new end."),
        EventType::ClientTrialExpired => ("ClientRecord", "A client's trial ended without it going live."),
        EventType::ClientMadeLive => ("ClientRecord", "A client went live."),
        EventType::LicenseCreated => ("License", "A license was issued to a client."),
        EventType::LicenseActivated => ("License", "A license was activated on a domain (`domain`)."),
        EventType::LicenseDeactivated => ("License", "A license was deactivated on a domain (`domain`)."),
        EventType::LicenseRevoked => ("License", "A license was revoked (or its client deleted)."),
        EventType::PartnerCreated => ("Partner", "A partner was created."),
        EventType::PartnerUpdated => ("Partner", "A partner was renamed or its type changed; `previous` holds the old values."),
        EventType::PartnerSuspended => ("Partner", "A partner and its tree were suspended."),
        EventType::PartnerUnsuspended => ("Partner", "A partner was reactivated."),
        EventType::KeyCreated => ("ApiKey", "An API key was created (its id, name and permissions; never its secret)."),
        EventType::KeyRevoked => ("ApiKey", "An API key was revoked."),
        EventType::TeammateCreated => ("Teammate", "A teammate was added."),
        EventType::TeammateUpdated => ("Teammate", "A teammate's permissions or password changed (never the password itself)."),
        EventType::TeammateRemoved => ("Teammate", "A teammate was removed."),
        EventType::WebhookSecretRotated => ("Webhook", "A webhook endpoint's signing secret was rotated (never the secret itself)."),
        EventType::ConsoleLinkCreated => ("ConsoleLink", "A console link was minted for a partner (its id, permissions and expiry; never its token). Changes made in the session it opens carry the actor `consoleLink` with this id."),
    }
}

/// `name`'s schema on its own: what it refers to is copied into `$defs`, and its
/// references point there.
fn standalone(schemas: &Value, name: &str) -> Value {
    let mut defs = Map::new();
    let mut pending = vec![name.to_owned()];
    while let Some(next) = pending.pop() {
        if defs.contains_key(&next) {
            continue;
        }
        let mut schema = schemas[&next].clone();
        repoint(&mut schema, &mut pending);
        defs.insert(next, schema);
    }
    let mut root = defs.remove(name).unwrap_or_else(|| json!({ "type": "object" }));
    if let Value::Object(o) = &mut root {
        o.insert("$schema".into(), json!("https://json-schema.org/draft/2020-12/schema"));
        if !defs.is_empty() {
            o.insert("$defs".into(), Value::Object(defs));
        }
    }
    root
}

/// Points `#/components/schemas/X` references at `#/$defs/X`, noting each X.
fn repoint(schema: &mut Value, found: &mut Vec<String>) {
    match schema {
        Value::Object(o) => {
            if let Some(Value::String(r)) = o.get_mut("$ref")
                && let Some(target) = r.strip_prefix("#/components/schemas/").map(str::to_owned)
            {
                *r = format!("#/$defs/{target}");
                found.push(target);
            }
            o.values_mut().for_each(|v| repoint(v, found));
        }
        Value::Array(a) => a.iter_mut().for_each(|v| repoint(v, found)),
        _ => {}
    }
}

fn without(schema: &mut Value, field: &str) {
    if let Some(props) = schema["properties"].as_object_mut() {
        props.remove(field);
    }
    if let Some(required) = schema["required"].as_array_mut() {
        required.retain(|r| r != field);
    }
}

fn with_password_changed(schema: &mut Value) {
    if let Some(props) = schema["properties"].as_object_mut() {
        props.insert("passwordChanged".into(), json!({ "const": true, "description": "Present when the teammate's password was changed" }));
    }
}

fn with_domain(schema: &mut Value) {
    if let Some(props) = schema["properties"].as_object_mut() {
        props.insert("domain".into(), json!({ "type": "string", "description": "The domain activated or deactivated" }));
    }
    if let Some(required) = schema["required"].as_array_mut() {
        required.push(json!("domain"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_has_a_standalone_object_schema() {
        let all = catalog();
        assert_eq!(all.len(), EventType::ALL.len());
        for entry in all {
            let schema = &entry["schema"];
            assert_eq!(schema["type"], "object", "{}", entry["type"]);
            assert!(schema["properties"]["id"].is_object(), "{}: an object with an id", entry["type"]);
            let text = schema.to_string();
            assert!(!text.contains("#/components/"), "{}: every reference resolves inside the schema", entry["type"]);
            for r in text.split("\"#/$defs/").skip(1) {
                let name = &r[..r.find('"').unwrap()];
                assert!(schema["$defs"][name].is_object(), "{}: $defs holds {name}", entry["type"]);
            }
        }
        let key = all.iter().find(|e| e["type"] == "key.created").unwrap();
        assert!(key["schema"]["properties"].get("prefix").is_none(), "a key event names no part of the secret");
    }
}
