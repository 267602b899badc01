//! The seed APIs served beside `/v1` (`../shared/DIALECTS.md`): which one a request
//! speaks, and what differs in how it is spoken.
//!
//! A dialect is a representation only (API.md "Beside /v1"; STYLE.md §11): the
//! operation a route reaches is the same function, rules, store and events as its
//! `/v1` twin; the matched route tells the operation which shape to read and write.
//! The white-label API (000) speaks `/v1`'s shapes under its own paths; the hosting
//! API (003) does too, with arrays for lists, the client's API key or a search term
//! in the path, and the deprecated search marked as such. The reseller portal (002)
//! speaks snake_case with integer ids (each record's `number`), for resellers and
//! agencies only.

use serde_json::{Map, Value, json};

use crate::auth::Principal;
use crate::domain::client::Client;
use crate::domain::license::License;
use crate::domain::partner::PartnerType;
use crate::error::{ApiError, FieldError, Taken};

/// The API a request speaks, told by its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `/v1`: this contract.
    V1,
    /// 000, the white-label clients API: `/v2/clients/...`.
    WhiteLabel,
    /// 003, the hosting clients API: `/hosting/api/...`.
    Hosting,
    /// 002, the reseller portal's clients API: `/api/v1/portal/...`.
    Portal,
}

impl Dialect {
    /// The dialect of a request path.
    pub fn of(path: &str) -> Self {
        if path.starts_with("/v2/") {
            Self::WhiteLabel
        } else if path.starts_with("/hosting/api/") {
            Self::Hosting
        } else if path.starts_with("/api/v1/portal/") {
            Self::Portal
        } else {
            Self::V1
        }
    }

    /// Where a client created through this dialect is read back (`Location`).
    pub fn client_location(self, id: &str) -> String {
        match self {
            Self::V1 => format!("/v1/clients/{id}"),
            Self::WhiteLabel => format!("/v2/clients/retrieve/{id}"),
            Self::Hosting => format!("/hosting/api/client/{id}"),
            Self::Portal => "/api/v1/portal/clients".to_owned(),
        }
    }

    /// Whether `who` may speak this dialect at all: the reseller portal serves
    /// resellers and agencies only (403 otherwise, the platform admin included).
    ///
    /// # Errors
    /// `forbidden` for any other caller of the portal.
    pub fn admits(self, who: &Principal) -> Result<(), ApiError> {
        let reseller = who.partner.as_ref().is_some_and(|p| matches!(p.kind, PartnerType::Reseller | PartnerType::Agency));
        if self == Self::Portal && !reseller {
            return Err(ApiError::Forbidden("The reseller portal API serves reseller and agency partners only".into()));
        }
        Ok(())
    }
}

/// The reseller portal (002): its request names, and its shapes of a client and a license.
pub mod portal {
    use super::*;

    /// The seed's field names of a new client, and `/v1`'s.
    pub const NEW_CLIENT: &[(&str, &str)] = &[("email", "email"), ("name", "name"), ("company", "company")];
    /// The seed's field names of a new license, and `/v1`'s (the two ids are numbers).
    pub const NEW_LICENSE: &[(&str, &str)] = &[
        ("product_id", "productId"),
        ("tier", "tier"),
        ("customer_id", "clientId"),
        ("expires_at", "expiresAt"),
        ("max_activations", "maxActivations"),
    ];

    /// A portal body as `/v1`'s: each name the seed documents renamed, any other
    /// refused (400 naming it, as `/v1` refuses unknown fields).
    ///
    /// # Errors
    /// `validation_failed` for a body that is no object or holds an unknown field.
    pub fn to_v1(body: Value, names: &[(&str, &str)]) -> Result<Map<String, Value>, ApiError> {
        let Value::Object(object) = body else {
            return Err(ApiError::invalid("body", "must be a JSON object"));
        };
        let mut out = Map::new();
        let mut unknown = Vec::new();
        for (name, value) in object {
            match names.iter().find(|(seed, _)| *seed == name) {
                Some((_, v1)) => {
                    out.insert((*v1).to_owned(), value);
                }
                None => unknown.push(FieldError::new(name, "is not a field of this request")),
            }
        }
        if unknown.is_empty() { Ok(out) } else { Err(ApiError::Validation(unknown)) }
    }

    /// An error of the `/v1` operation, told in the seed's names: field errors name the
    /// seed's fields, and an email in use is the seed's 400 ("already exists").
    pub fn error(err: ApiError, names: &[(&str, &str)]) -> ApiError {
        let seed = |field: &str| names.iter().find(|(_, v1)| *v1 == field).map_or(field, |(s, _)| s).to_owned();
        match err {
            ApiError::Validation(errors) => {
                ApiError::Validation(errors.into_iter().map(|e| FieldError::new(seed(&e.field), e.message)).collect())
            }
            ApiError::Taken { what: Taken::Email, .. } => ApiError::invalid("email", "already exists in the system"),
            other => other,
        }
    }

    /// A client as the portal shows it.
    pub fn client(c: &Client) -> Value {
        json!({ "id": c.number, "email": c.email, "name": c.name, "company": c.company, "license_count": c.license_count })
    }

    /// A license as the portal shows it: the whole key only when it was just made,
    /// else its prefix and `...` (the key is never stored whole).
    pub fn license(l: &License, key: Option<&str>, now: &str) -> Value {
        let activations: Vec<Value> =
            l.activations.iter().map(|(d, at)| json!({ "domain": d, "activated_at": at })).collect();
        json!({
            "id": l.number,
            "license_key": key.map_or_else(|| format!("{}...", l.key_prefix), str::to_owned),
            "product": { "id": l.product_number, "name": l.product_name, "slug": l.product_slug },
            "tier": l.tier,
            "status": l.status(now),
            "expires_at": l.expires_at,
            "activations": activations,
        })
    }
}

/// The most clients one whole-list answer of a dialect carries (the hosting API's
/// `GET /hosting/api/client` answers every client of the caller's tree at once):
/// read page by page within the 10 s answer limit. A tree with more is told to page
/// through `GET /v1/clients` with its cursor (400), never given a cut-off list.
pub const WHOLE_LIST_CAP: u64 = 1000;

/// A request path as it may be logged: the route template where the path carries a
/// secret (the hosting API's client lookup by API key puts the key in the path,
/// because its seed does), else the path itself.
pub fn loggable_path(path: &str) -> String {
    const SECRET_IN_PATH: &str = "/hosting/api/client/by-apiKey/";
    if path.starts_with(SECRET_IN_PATH) { format!("{SECRET_IN_PATH}{{apiKey}}") } else { path.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_tells_the_dialect() {
        assert_eq!(Dialect::of("/v1/clients"), Dialect::V1);
        assert_eq!(Dialect::of("/v2/clients/list"), Dialect::WhiteLabel);
        assert_eq!(Dialect::of("/hosting/api/client"), Dialect::Hosting);
        assert_eq!(Dialect::of("/api/v1/portal/clients"), Dialect::Portal);
    }

    #[test]
    fn portal_bodies_are_renamed_and_unknown_fields_named_in_the_seeds_words() {
        let body = json!({ "product_id": 1, "customer_id": 2, "tier": "t", "colour": "red" });
        let Err(ApiError::Validation(errors)) = portal::to_v1(body, portal::NEW_LICENSE) else { panic!("must fail") };
        assert_eq!(errors[0].field, "colour");
        let ok = portal::to_v1(json!({ "max_activations": 3 }), portal::NEW_LICENSE).unwrap();
        assert_eq!(ok["maxActivations"], 3);
        let err = portal::error(ApiError::invalid("maxActivations", "too many"), portal::NEW_LICENSE);
        let ApiError::Validation(errors) = err else { panic!() };
        assert_eq!(errors[0].field, "max_activations");
    }

    #[test]
    fn a_key_in_the_path_is_never_logged() {
        let logged = loggable_path("/hosting/api/client/by-apiKey/cli_live_secret");
        assert!(!logged.contains("secret"), "{logged}");
        assert_eq!(loggable_path("/v1/clients/x"), "/v1/clients/x");
    }
}
