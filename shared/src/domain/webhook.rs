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
    /// The nonce of the secret before the last rotation, which still signs
    /// deliveries until `previous_until` (API.md §5: both secrets sign for 24 h).
    #[serde(default)]
    pub previous_nonce: Option<String>,
    #[serde(default)]
    pub previous_until: Option<String>,
    pub created: String,
    pub modified: String,
    pub version: u64,
}

impl Webhook {
    /// The nonces whose secrets sign a delivery made at `now`: the current one,
    /// and the one before it while its 24 hours last.
    pub fn signing_nonces(&self, now: &str) -> Vec<&str> {
        let mut nonces = vec![self.nonce.as_str()];
        if let (Some(previous), Some(until)) = (&self.previous_nonce, &self.previous_until)
            && now < until.as_str()
        {
            nonces.push(previous);
        }
        nonces
    }

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
            "version": self.version,
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

/// Whether an address is reachable on the public internet. Refused: loopback,
/// private, link-local, CGNAT (100.64/10), benchmarking (198.18/15), IETF protocol
/// assignments (192.0.0/24), documentation, multicast, broadcast, reserved and
/// unspecified IPv4; and IPv6 loopback, unspecified, unique-local, link- and
/// site-local, multicast, documentation, discard-only, Teredo, 6to4, NAT64
/// (64:ff9b::/96, 64:ff9b:1::/48), IPv4-mapped, IPv4-translated (::ffff:0:0:0/96) and
/// IPv4-compatible addresses: every
/// form that can reach a private IPv4 address through translation (API.md §5a).
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
                || (o[0] == 198 && (o[1] == 18 || o[1] == 19))
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 192 && o[1] == 88 && o[2] == 99)
                || o[0] >= 224)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let translated = s[0] == 0x0064 && s[1] == 0xff9b && (s[2..6] == [0, 0, 0, 0] || s[2] == 1)
                || s[0] == 0x2002
                || (s[0] == 0x2001 && s[1] == 0)
                || s[..5] == [0, 0, 0, 0, 0] && (s[5] == 0 || s[5] == 0xffff)
                // IPv4-translated (RFC 2765 / SIIT), the whole ::ffff:0:0:0/96.
                || s[..6] == [0, 0, 0, 0, 0xffff, 0];
            !(translated
                || v6.is_loopback()
                || v6.is_unspecified()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0
                || (s[0] & 0xff00) == 0xff00
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]))
        }
    }
}

fn events_list(f: &mut Fields, value: Option<Vec<String>>) -> Option<Vec<String>> {
    let mut list = value?;
    list.sort();
    list.dedup();
    // Every type (`["*"]`, alone) or some types: never both, which would read as either.
    let ok = list == ["*"] || (!list.is_empty() && list.len() <= 20 && list.iter().all(|e| EventType::parse(e).is_some()));
    if ok {
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
    pub url: Option<String>,
    events: Option<Vec<String>>,
    enabled: Option<bool>,
    description: Patch<Text<500>>,
}

impl WebhookPatch {
    /// # Errors
    /// `validation_failed` listing every bad or unknown field.
    pub fn from_body(body: Value, insecure: bool) -> Result<Self, ApiError> {
        let mut f = Fields::from_body(body)?;
        let url: Option<String> = f.settable("url");
        let events = f.settable::<Vec<String>>("events");
        let events = events_list(&mut f, events);
        let enabled = f.settable("enabled");
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

    #[test]
    fn events_are_every_type_or_some_types_never_both_and_never_cleared() {
        let patch = |body: Value| WebhookPatch::from_body(body, true).map(|p| p.events).map_err(|e| format!("{e:?}"));
        assert_eq!(patch(serde_json::json!({ "events": ["*", "*"] })).unwrap(), Some(vec!["*".to_owned()]));
        let two = patch(serde_json::json!({ "events": ["client.updated", "client.created", "client.created"] })).unwrap();
        assert_eq!(two, Some(vec!["client.created".to_owned(), "client.updated".to_owned()]));
        for bad in [
            serde_json::json!({ "events": ["*", "client.created"] }),
            serde_json::json!({ "events": [] }),
            serde_json::json!({ "events": null }),
            serde_json::json!({ "url": null }),
            serde_json::json!({ "enabled": null }),
        ] {
            let err = patch(bad.clone()).expect_err(&bad.to_string());
            let field = bad.as_object().unwrap().keys().next().unwrap().clone();
            assert!(err.contains(&format!("\"{field}\"")), "{bad}: {err}");
        }
        assert!(patch(serde_json::json!({ "description": null })).is_ok(), "a description can be cleared");
    }

    #[test]
    fn only_public_addresses_are_public() {
        let refused = [
            "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0", "0.1.2.3",
            "100.64.0.1", "100.127.255.254", "198.18.0.1", "198.19.255.255", "192.0.0.8", "192.0.2.1",
            "198.51.100.1", "203.0.113.1", "192.88.99.1", "224.0.0.1", "240.0.0.1", "255.255.255.255",
            "::1", "::", "fc00::1", "fd12:3456::1", "fe80::1", "fec0::1", "ff02::1", "2001:db8::1", "100::1",
            "::ffff:127.0.0.1", "::ffff:8.8.8.8", "::127.0.0.1", "::10.0.0.1", "64:ff9b::7f00:1", "64:ff9b::808:808",
            "64:ff9b:1::a00:1", "2002:7f00:1::1", "2002:a00:1::", "2001:0:4136:e378::1",
            "::ffff:0:7f00:1", "::ffff:0:a00:1", "::ffff:0:808:808", "::ffff:0:0:0", "::ffff:0:ffff:ffff",
        ];
        for ip in refused {
            assert!(!is_public(ip.parse().unwrap()), "{ip} must be refused");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "100.63.255.255", "100.128.0.1", "198.20.0.1", "2606:4700:4700::1111", "2a00:1450:4001::1"] {
            assert!(is_public(ip.parse().unwrap()), "{ip} is public");
        }
    }
}
