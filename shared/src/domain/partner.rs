//! Partners: the platform's resellers, agencies and their sub-partners, as a tree.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::fields::{Errors, Fields, FromJson, parse_with};
use super::values::Name;
use crate::error::ApiError;

/// What kind of business a partner is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartnerType {
    Partner,
    Reseller,
    Agency,
}

impl FromJson for PartnerType {
    fn from_json(value: &Value, at: &str, errors: &mut Errors) -> Option<Self> {
        parse_with(value, at, errors, |v| match v.as_str() {
            Some("partner") => Ok(Self::Partner),
            Some("reseller") => Ok(Self::Reseller),
            Some("agency") => Ok(Self::Agency),
            _ => Err("must be one of partner, reseller, agency".into()),
        })
    }
}

/// A stored partner.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Partner {
    pub id: String,
    /// The partner's integer id (API.md §3), given at creation, never changed.
    #[serde(default)]
    pub number: u64,
    pub name: Name,
    #[serde(rename = "type")]
    pub kind: PartnerType,
    pub parent_id: Option<String>,
    pub root_id: String,
    /// Ids from the root down to this partner, itself included.
    pub path: Vec<String>,
    pub suspended: bool,
    /// The origins whose pages may frame this partner's console, and its tree's
    /// (API.md §5b; up to [`MAX_CONSOLE_ORIGINS`]).
    #[serde(default)]
    pub console_origins: Vec<String>,
    pub created: String,
    pub modified: String,
    /// When it was last suspended, kept after it is reactivated: a console session or link
    /// (API.md §5b) from before then ended with the suspension, for good. Never shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended_at: Option<String>,
}

/// The most console origins one partner may name (API.md §5b).
pub const MAX_CONSOLE_ORIGINS: usize = 10;

/// A page origin that may frame the console: `https://host[:port]` and nothing more
/// (no path, query, fragment or credentials), as browsers serialize origins; with
/// `insecure` (local runs), also `http://` for a loopback host.
///
/// # Errors
/// A message saying what is wrong.
pub fn console_origin(raw: &str, insecure: bool) -> Result<String, String> {
    const WHAT: &str = "must be an origin such as https://dashboard.example.com (a scheme, a host and an optional port, nothing after it)";
    if raw.len() > 300 || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(WHAT.into());
    }
    let url = url::Url::parse(raw).map_err(|_| WHAT.to_owned())?;
    let bare = url.username().is_empty() && url.password().is_none() && url.query().is_none() && url.fragment().is_none() && url.path() == "/";
    let Some(host) = url.host() else { return Err(WHAT.into()) };
    if !bare {
        return Err(WHAT.into());
    }
    // A host name of letters, digits, dots and hyphens (IDNs come as punycode): a CSP
    // source never gains a wildcard or another token from one. DNS's own lengths, and no
    // empty label, which browsers would drop from the policy.
    if let url::Host::Domain(d) = host
        && (!d.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            || d.len() > 253
            || d.split('.').any(|label| label.is_empty() || label.len() > 63))
    {
        return Err(WHAT.into());
    }
    let loopback = match host {
        url::Host::Domain(d) => d == "localhost",
        url::Host::Ipv4(ip) => ip.is_loopback(),
        // CSP has no syntax for an IPv6 address.
        url::Host::Ipv6(_) => return Err("must name a host or an IPv4 address (CSP cannot name an IPv6 address)".into()),
    };
    match url.scheme() {
        "https" => {}
        "http" if insecure && loopback => {}
        _ => return Err("must be an https:// origin".into()),
    }
    Ok(url.origin().ascii_serialization())
}

impl Partner {
    /// The partner as the API shows it.
    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "number": self.number,
            "name": self.name,
            "type": self.kind,
            "parentId": self.parent_id,
            "rootId": self.root_id,
            "suspended": self.suspended,
            "consoleOrigins": self.console_origins,
            "created": self.created,
            "modified": self.modified,
        })
    }
}

/// The body of `POST /v1/partners`.
#[derive(Debug)]
pub struct NewPartner {
    pub name: Name,
    pub kind: PartnerType,
    pub parent_id: Option<String>,
}

impl NewPartner {
    /// # Errors
    /// `validation_failed` listing every bad or unknown field.
    pub fn from_body(body: Value) -> Result<Self, ApiError> {
        let mut f = Fields::from_body(body)?;
        let name = f.required::<Name>("name");
        let kind = f.optional::<PartnerType>("type").unwrap_or(PartnerType::Partner);
        let parent_id = f.optional::<String>("parentId");
        if parent_id.as_deref().is_some_and(|p| !super::is_id(p)) {
            f.error("parentId", "must be a partner id");
        }
        f.finish()?;
        Ok(Self { name: name.expect("checked by finish"), kind, parent_id })
    }
}

/// The body of `PATCH /v1/partners/{partnerId}`: a new name, a new type, the console's
/// origins, or any of them.
#[derive(Debug)]
pub struct PartnerPatch {
    pub name: Option<Name>,
    pub kind: Option<PartnerType>,
    pub console_origins: Option<Vec<String>>,
}

impl PartnerPatch {
    /// # Errors
    /// `validation_failed` listing every bad or unknown field; the tree's shape
    /// (`parentId`, `rootId`) and `suspended` (its own routes) are read-only.
    /// `insecure` (local runs) also takes `http://` loopback console origins.
    pub fn from_body(body: Value, insecure: bool) -> Result<Self, ApiError> {
        let mut f = Fields::from_body(body)?;
        let name = f.not_null::<Name>("name");
        let kind = f.not_null::<PartnerType>("type");
        let console_origins = f.not_null::<Value>("consoleOrigins").and_then(|v| match origins(&v, insecure) {
            Ok(list) => Some(list),
            Err(why) => {
                f.error("consoleOrigins", why);
                None
            }
        });
        for field in ["id", "parentId", "rootId", "suspended", "created", "modified"] {
            f.read_only(field);
        }
        f.finish()?;
        Ok(Self { name, kind, console_origins })
    }

    /// The partner with the patch applied.
    pub fn apply(&self, p: &Partner) -> Partner {
        let mut next = p.clone();
        if let Some(name) = &self.name {
            next.name = name.clone();
        }
        if let Some(kind) = self.kind {
            next.kind = kind;
        }
        if let Some(origins) = &self.console_origins {
            next.console_origins.clone_from(origins);
        }
        next
    }
}

/// The `consoleOrigins` of a patch: a list of up to [`MAX_CONSOLE_ORIGINS`] origins,
/// each as [`console_origin`] serializes it, once each, in the order given.
fn origins(value: &Value, insecure: bool) -> Result<Vec<String>, String> {
    let Value::Array(items) = value else { return Err("must be a list of origins".into()) };
    if items.len() > MAX_CONSOLE_ORIGINS {
        return Err(format!("may name at most {MAX_CONSOLE_ORIGINS} origins"));
    }
    let mut list: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let origin = item.as_str().ok_or_else(|| format!("item {i} must be a string")).and_then(|raw| console_origin(raw, insecure).map_err(|e| format!("item {i} {e}")))?;
        if !list.contains(&origin) {
            list.push(origin);
        }
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_console_origin_is_a_scheme_a_host_and_a_port_and_nothing_else() {
        assert_eq!(console_origin("https://Dash.Example.com", false).unwrap(), "https://dash.example.com");
        assert_eq!(console_origin("https://dash.example.com/", false).unwrap(), "https://dash.example.com");
        assert_eq!(console_origin("https://dash.example.com:8443", false).unwrap(), "https://dash.example.com:8443");
        assert_eq!(console_origin("https://dash.example.com:443", false).unwrap(), "https://dash.example.com");
        for bad in [
            "http://dash.example.com",
            "https://dash.example.com/app",
            "https://dash.example.com?x=1",
            "https://dash.example.com#top",
            "https://user@dash.example.com",
            "https://*.example.com",
            "dash.example.com",
            "https://dash.example.com 'unsafe-inline'",
            "https://dash.example.com;script-src *",
            "https://[2001:db8::1]",
            "https://dash.example.com.",
            "https://dash..example.com",
            "javascript:alert(1)",
            "",
        ] {
            assert!(console_origin(bad, false).is_err(), "{bad} is refused");
        }
        assert!(console_origin(&format!("https://{}.example.com", "a".repeat(64)), false).is_err(), "a label over 63");
        assert!(console_origin(&format!("https://{}.example.com", "a".repeat(63)), false).is_ok());
        assert!(console_origin("http://127.0.0.1:5173", false).is_err());
        assert_eq!(console_origin("http://127.0.0.1:5173", true).unwrap(), "http://127.0.0.1:5173");
        assert!(console_origin("http://dash.example.com", true).is_err(), "only a loopback host over http, locally");
    }

    #[test]
    fn a_patch_takes_up_to_ten_origins_once_each() {
        let p = PartnerPatch::from_body(serde_json::json!({ "consoleOrigins": ["https://a.example", "https://A.example/"] }), false).unwrap();
        assert_eq!(p.console_origins.unwrap(), vec!["https://a.example"]);
        let eleven: Vec<String> = (0..11).map(|i| format!("https://d{i}.example")).collect();
        assert!(PartnerPatch::from_body(serde_json::json!({ "consoleOrigins": eleven }), false).is_err());
        assert!(PartnerPatch::from_body(serde_json::json!({ "consoleOrigins": "https://a.example" }), false).is_err());
        assert_eq!(PartnerPatch::from_body(serde_json::json!({ "consoleOrigins": [] }), false).unwrap().console_origins.unwrap(), Vec::<String>::new());
    }
}
