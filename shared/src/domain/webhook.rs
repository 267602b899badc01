//! Webhook endpoints: where a partner's tree's events are POSTed.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::fields::{Fields, Patch};
use super::values::Text;
use crate::error::ApiError;
use crate::events::EventType;

/// A stored endpoint. Its signing secret is derived, never stored (see `webhooks::secret`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub id: String,
    /// `ALL` for the platform admin, else the owning partner's id.
    pub scope: String,
    pub url: String,
    /// Event types, or `["*"]` for all.
    pub events: Vec<String>,
    pub description: Option<Text<500>>,
    pub enabled: bool,
    /// Random input of the secret's derivation.
    pub nonce: String,
    pub created: String,
    pub modified: String,
    pub version: u64,
}

impl Webhook {
    pub fn wants(&self, kind: EventType) -> bool {
        self.enabled && self.events.iter().any(|e| e == "*" || e == kind.as_str())
    }

    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "partnerId": if self.scope == "ALL" { None } else { Some(&self.scope) },
            "url": self.url,
            "events": self.events,
            "description": self.description,
            "enabled": self.enabled,
            "created": self.created,
            "modified": self.modified,
        })
    }
}

/// Checks an endpoint URL: `https://` to a public host, or (when `insecure`
/// is allowed, for local use) also `http://` and loopback or private hosts.
///
/// # Errors
/// A message saying what is wrong.
pub fn check_url(raw: &str, insecure: bool) -> Result<String, String> {
    let url = url::Url::parse(raw).map_err(|_| "must be an absolute URL".to_owned())?;
    match url.scheme() {
        "https" => {}
        "http" if insecure => {}
        "http" => return Err("must use https://".into()),
        _ => return Err("must be an https:// URL".into()),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials".into());
    }
    let host = url.host_str().ok_or("must name a host")?.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    if !insecure {
        let private = match host.parse::<IpAddr>() {
            Ok(ip) => !is_public(ip),
            Err(_) => host == "localhost" || host.ends_with(".localhost") || host.ends_with(".local") || host.ends_with(".internal") || !host.contains('.'),
        };
        if private {
            return Err("must point at a public host".into());
        }
    }
    if raw.len() > 2000 {
        return Err("must be at most 2000 characters".into());
    }
    Ok(url.to_string())
}

/// Whether an address is reachable on the public internet (not loopback,
/// private, link-local, shared, documentation or unspecified).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || o[0] >= 224)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback() || v6.is_unspecified() || (s[0] & 0xfe00) == 0xfc00 || (s[0] & 0xffc0) == 0xfe80 || v6.is_multicast())
        }
    }
}

fn events_list(f: &mut Fields, value: Option<Vec<String>>) -> Option<Vec<String>> {
    let list = value?;
    let ok = !list.is_empty()
        && list.len() <= 20
        && list.iter().all(|e| e == "*" || EventType::parse(e).is_some());
    if ok {
        let mut list = list;
        list.sort();
        list.dedup();
        Some(list)
    } else {
        f.error("events", "must be [\"*\"] or a non-empty list of event types such as client.created");
        None
    }
}

/// The body of `POST /v1/webhooks`.
pub struct NewWebhook {
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<Text<500>>,
    pub partner_id: Option<String>,
}

impl NewWebhook {
    /// # Errors
    /// `validation_failed` listing every bad or unknown field.
    pub fn from_body(body: Value, insecure: bool) -> Result<Self, ApiError> {
        let mut f = Fields::from_body(body)?;
        let url: Option<String> = f.required("url");
        let events = f.required::<Vec<String>>("events");
        let events = events_list(&mut f, events);
        let description = f.optional("description");
        let partner_id: Option<String> = f.optional("partnerId");
        if partner_id.as_deref().is_some_and(|p| !super::is_id(p)) {
            // Checked before it can become part of a key (a 3000-byte "id" is no key).
            f.error("partnerId", "must be a partner id");
        }
        let url = url.and_then(|u| check_url(&u, insecure).map_err(|m| f.error("url", m)).ok());
        f.finish()?;
        Ok(Self { url: url.unwrap_or_default(), events: events.unwrap_or_default(), description, partner_id })
    }
}

/// The body of `PATCH /v1/webhooks/{id}`: url, events, enabled, description.
pub struct WebhookPatch {
    url: Option<String>,
    events: Option<Vec<String>>,
    enabled: Option<bool>,
    description: Patch<Text<500>>,
}

impl WebhookPatch {
    /// # Errors
    /// `validation_failed` listing every bad or unknown field.
    pub fn from_body(body: Value, insecure: bool) -> Result<Self, ApiError> {
        let mut f = Fields::from_body(body)?;
        let url: Option<String> = f.optional("url");
        let events = f.optional::<Vec<String>>("events");
        let events = events_list(&mut f, events);
        let enabled = f.optional("enabled");
        let description = f.patch("description");
        let url = url.and_then(|u| check_url(&u, insecure).map_err(|m| f.error("url", m)).ok());
        f.finish()?;
        Ok(Self { url, events, enabled, description })
    }

    pub fn apply(&self, w: &Webhook) -> Webhook {
        let mut next = w.clone();
        if let Some(u) = &self.url {
            next.url = u.clone();
        }
        if let Some(e) = &self.events {
            next.events = e.clone();
        }
        if let Some(en) = self.enabled {
            next.enabled = en;
        }
        match &self.description {
            Patch::Keep => {}
            Patch::Clear => next.description = None,
            Patch::Set(d) => next.description = Some(d.clone()),
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_urls_must_be_https_to_public_hosts() {
        assert!(check_url("https://hooks.example.com/x", false).is_ok());
        for bad in ["http://hooks.example.com", "https://localhost/x", "https://127.0.0.1/x", "https://10.1.2.3/", "https://[::1]/", "https://169.254.169.254/", "ftp://x.com", "https://user:pw@x.com/", "not a url", "https://intranet/"] {
            assert!(check_url(bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn local_use_allows_http_and_loopback() {
        assert!(check_url("http://127.0.0.1:8080/hook", true).is_ok());
        assert!(check_url("ftp://127.0.0.1/", true).is_err());
    }
}
