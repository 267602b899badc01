//! Products and the licenses a client holds for them, activated per domain.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::fields::{Errors, Fields, FromJson, parse_with};
use super::values::{Name, Text};
use crate::error::ApiError;

/// The secret prefix of a license key.
pub const LICENSE_KEY_PREFIX: &str = "lic_";

/// A product's slug: 1-64 of `a-z 0-9 -`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Slug(String);

impl Slug {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromJson for Slug {
    fn from_json(value: &Value, at: &str, errors: &mut Errors) -> Option<Self> {
        parse_with(value, at, errors, |v| match v.as_str() {
            Some(s) if (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') => {
                Ok(Slug(s.to_owned()))
            }
            _ => Err("must be 1-64 characters of a-z, 0-9 and '-'".into()),
        })
    }
}

/// A product licenses are sold for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub id: String,
    /// The product's integer id (API.md §3), given at creation, never changed.
    #[serde(default)]
    pub number: u64,
    pub name: Name,
    pub slug: Slug,
    pub created: String,
}

impl Product {
    pub fn view(&self) -> Value {
        json!({ "id": self.id, "number": self.number, "name": self.name, "slug": self.slug, "created": self.created })
    }
}

/// The body of `POST /v1/products`.
pub struct NewProduct {
    pub name: Name,
    pub slug: Slug,
}

impl NewProduct {
    /// # Errors
    /// `validation_failed` listing every bad or unknown field.
    pub fn from_body(body: Value) -> Result<Self, ApiError> {
        let mut f = Fields::from_body(body)?;
        let (name, slug) = (f.required("name"), f.required("slug"));
        f.finish()?;
        Ok(Self { name: name.expect("checked by finish"), slug: slug.expect("checked by finish") })
    }
}

/// A domain a license is activated on: a lowercase host name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Domain(String);

impl Domain {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let d = raw.trim().trim_end_matches('.').to_ascii_lowercase();
        let labels: Vec<&str> = d.split('.').collect();
        let ok = d.len() <= 253
            && labels.len() >= 2
            && labels.iter().all(|l| {
                (1..=63).contains(&l.len())
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if ok { Ok(Self(d)) } else { Err("must be a domain name like shop.example.com (an internationalized one in its xn-- form)".into()) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromJson for Domain {
    fn from_json(value: &Value, at: &str, errors: &mut Errors) -> Option<Self> {
        parse_with(value, at, errors, |v| Self::parse(v.as_str().ok_or("must be a string")?))
    }
}

/// Where a license stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LicenseStatus {
    Active,
    Expired,
    Revoked,
}

/// A license of a client for a product.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct License {
    pub id: String,
    /// The license's integer id (API.md §3), given at creation, never changed.
    #[serde(default)]
    pub number: u64,
    pub product_id: String,
    pub product_name: String,
    /// The product's slug (records written before it was kept read as empty).
    #[serde(default)]
    pub product_slug: String,
    /// The product's and the client's `number`, for the dialects that show integer ids.
    #[serde(default)]
    pub product_number: u64,
    #[serde(default)]
    pub client_number: u64,
    pub tier: Text<64>,
    pub client_id: String,
    /// The client's partner path: whose trees see the license.
    pub partner_path: Vec<String>,
    pub revoked: bool,
    pub expires_at: Option<String>,
    pub max_activations: u32,
    /// Activated domain → when.
    pub activations: BTreeMap<String, String>,
    pub key_prefix: String,
    pub key_hash: String,
    pub created: String,
    pub modified: String,
    pub version: u64,
}

impl License {
    /// Revoked, expired (its `expiresAt` has passed) or active.
    pub fn status(&self, now: &str) -> LicenseStatus {
        if self.revoked {
            LicenseStatus::Revoked
        } else if self.expires_at.as_deref().is_some_and(|e| e <= now) {
            LicenseStatus::Expired
        } else {
            LicenseStatus::Active
        }
    }

    pub fn view(&self) -> Value {
        let activations: Vec<Value> =
            self.activations.iter().map(|(d, at)| json!({ "domain": d, "activatedAt": at })).collect();
        json!({
            "id": self.id,
            "number": self.number,
            "product": { "id": self.product_id, "name": self.product_name, "slug": self.product_slug },
            "tier": self.tier,
            "clientId": self.client_id,
            "status": self.status(&super::now()),
            "expiresAt": self.expires_at,
            "maxActivations": self.max_activations,
            "activations": activations,
            "keyPrefix": self.key_prefix,
            "created": self.created,
            "modified": self.modified,
        })
    }
}

/// A timestamp in the future (ISO 8601).
struct Future(String);

impl FromJson for Future {
    fn from_json(value: &Value, at: &str, errors: &mut Errors) -> Option<Self> {
        parse_with(value, at, errors, |v| {
            let t = v.as_str().and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok()).ok_or("must be an ISO 8601 time")?;
            let t = t.with_timezone(&chrono::Utc);
            // chrono reads "23:59:60" as a leap second, which would be written back as
            // such: a time most parsers refuse (JavaScript's Date, Python's datetime).
            if chrono::Timelike::nanosecond(&t) >= 1_000_000_000 {
                return Err("must be an ISO 8601 time without a leap second (:60)".into());
            }
            if t <= chrono::Utc::now() {
                return Err("must be in the future".into());
            }
            Ok(Future(super::timestamp(t)))
        })
    }
}

/// The most domains one license may be active on: a revoke (or its client's delete)
/// releases every activation in one transaction, so this bounds that write (API.md §5a).
pub const MAX_ACTIVATIONS: u32 = 25;

struct MaxActivations(u32);

impl FromJson for MaxActivations {
    fn from_json(value: &Value, at: &str, errors: &mut Errors) -> Option<Self> {
        parse_with(value, at, errors, |v| {
            super::fields::whole(v)
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| (1..=MAX_ACTIVATIONS).contains(n))
                .map(MaxActivations)
                .ok_or_else(|| format!("must be a whole number from 1 to {MAX_ACTIVATIONS}"))
        })
    }
}

/// The body of `POST /v1/licenses`.
pub struct NewLicense {
    pub product_id: String,
    pub tier: Text<64>,
    pub client_id: String,
    pub expires_at: Option<String>,
    pub max_activations: u32,
}

impl NewLicense {
    /// # Errors
    /// `validation_failed` listing every bad or unknown field.
    pub fn from_body(body: Value) -> Result<Self, ApiError> {
        let mut f = Fields::from_body(body)?;
        let product_id: Option<String> = f.required("productId");
        let tier: Option<Text<64>> = f.required("tier");
        let client_id: Option<String> = f.required("clientId");
        let expires_at: Option<Future> = f.optional("expiresAt");
        let max: Option<MaxActivations> = f.optional("maxActivations");
        if tier.as_ref().is_some_and(|t| t.as_str().is_empty()) {
            f.error("tier", "must not be empty");
        }
        // Ids are checked before they can become part of a key.
        if product_id.as_deref().is_some_and(|p| !super::is_id(p)) {
            f.error("productId", "must be a product id");
        }
        if client_id.as_deref().is_some_and(|c| !super::is_id(c)) {
            f.error("clientId", "must be a client id");
        }
        f.finish()?;
        Ok(Self {
            product_id: product_id.expect("checked by finish"),
            tier: tier.expect("checked by finish"),
            client_id: client_id.expect("checked by finish"),
            expires_at: expires_at.map(|e| e.0),
            max_activations: max.map_or(1, |m| m.0),
        })
    }
}

/// The body of activate / deactivate: `{ licenseKey, domain }`.
pub struct Activation {
    pub license_key: String,
    pub domain: Domain,
}

impl Activation {
    /// # Errors
    /// `validation_failed` listing every bad or unknown field.
    pub fn from_body(body: Value) -> Result<Self, ApiError> {
        let mut f = Fields::from_body(body)?;
        let (key, domain): (Option<String>, _) = (f.required("licenseKey"), f.required("domain"));
        // As the OpenAPI document states it: no license key is empty or this long.
        match key.as_deref().map(|k| k.trim().chars().count()) {
            Some(0) => f.error("licenseKey", "must not be empty"),
            Some(n) if n > 200 => f.error("licenseKey", "must be at most 200 characters"),
            _ => {}
        }
        f.finish()?;
        Ok(Self { license_key: key.expect("checked by finish"), domain: domain.expect("checked by finish") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_lowercased_host_names() {
        assert_eq!(Domain::parse("Shop.Example.COM.").unwrap().as_str(), "shop.example.com");
        for bad in ["localhost", "a..b", "-a.com", "a b.com", "x"] {
            assert!(Domain::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_expiry_is_a_future_time_written_back_as_iso_8601_with_milliseconds() {
        let body = |expires: &str| json!({ "productId": crate::domain::new_id(), "tier": "pro", "clientId": crate::domain::new_id(), "expiresAt": expires });
        let ok = NewLicense::from_body(body("2030-06-30T23:59:59+02:00")).ok().unwrap();
        assert_eq!(ok.expires_at.as_deref(), Some("2030-06-30T21:59:59.000Z"));
        for bad in ["2030-06-30T23:59:60Z", "2020-01-01T00:00:00Z", "tomorrow"] {
            let Err(ApiError::Validation(errors)) = NewLicense::from_body(body(bad)) else { panic!("{bad} must be refused") };
            assert_eq!(errors[0].field, "expiresAt", "{bad}");
        }
    }
}
