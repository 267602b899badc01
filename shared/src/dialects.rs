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
    /// 001, the partner (tokenization) clients API: `/api/v1/clients...`.
    PartnerApi,
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
        } else if path == "/api/v1/clients" || path.starts_with("/api/v1/clients/") {
            Self::PartnerApi
        } else {
            Self::V1
        }
    }

    /// Where a client created through this dialect is read back (`Location`).
    pub fn client_location(self, c: &Client) -> String {
        let id = &c.id;
        match self {
            Self::V1 => format!("/v1/clients/{id}"),
            Self::WhiteLabel => format!("/v2/clients/retrieve/{id}"),
            Self::Hosting => format!("/hosting/api/client/{id}"),
            Self::Portal => "/api/v1/portal/clients".to_owned(),
            Self::PartnerApi => format!("/api/v1/clients/{}", c.number),
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

/// The hosting API (003): its `PUT` takes the seed's "Payload: Client", the very shape
/// its `GET` answers, so a client read, changed and sent back is a good request.
pub mod hosting {
    use super::*;

    /// What the hosting list adds to each client it shows.
    const LISTED: [&str; 2] = ["actualCallCount", "domainCountData"];

    /// `body` without the members that only show the client (`current`, as read) the
    /// way it is: those the list adds (`actualCallCount`, `domainCountData`), and each
    /// other one whose value is the one shown. One that differs is left in, for `/v1`'s
    /// reading to refuse as read-only: a `version` or `status` sent otherwise than it is
    /// asks for what a `PUT` cannot do.
    pub fn read_back(body: Value, current: &Value) -> Value {
        let Value::Object(mut o) = body else { return body };
        for field in crate::domain::client::unchangeable().chain(LISTED) {
            let derived = LISTED.contains(&field);
            // The root partner by its id: its name is read as it is now, the record's may
            // be older.
            let same = |v: &Value| match field {
                "partner" => v.get("id").is_some() && v.get("id") == current[field].get("id"),
                _ => current.get(field) == Some(v),
            };
            if o.get(field).is_some_and(|v| derived || same(v)) {
                o.remove(field);
            }
        }
        Value::Object(o)
    }
}

/// The partner API (001): integer ids, its own client shapes and error body.
pub mod partner_api {
    use super::*;

    /// What a 001 body carries beyond `/v1`'s client: the caller's `contact.id` (set,
    /// cleared with `null`, or untouched) and, on create, `isActive`.
    pub struct Extras {
        pub contact_ref: Option<Option<u64>>,
        pub is_active: Option<bool>,
    }

    /// A 001 body as `/v1`'s: `contact.id` taken out (the caller's reference, kept
    /// beside the contact; a `contact` of `null` clears it too), a `location` given as an
    /// integer (a location id) kept as text, and on create `isActive` taken out (`false` creates
    /// the client suspended). What is malformed among these is taken out of the body and
    /// named in the errors returned, for [`merged`] to list beside `/v1`'s own.
    ///
    /// # Errors
    /// `validation_failed` for a body that is not an object.
    pub fn request(body: Value, create: bool) -> Result<(Value, Extras, Vec<FieldError>), ApiError> {
        let Value::Object(mut o) = body else {
            return Err(ApiError::invalid("body", "must be a JSON object"));
        };
        let mut errors = Vec::new();
        let mut contact_ref = None;
        match o.get_mut("contact") {
            Some(Value::Null) => contact_ref = Some(None),
            Some(Value::Object(contact)) => {
                if let Some(id) = contact.remove("id") {
                    contact_ref = match (&id, crate::domain::fields::whole(&id)) {
                        (Value::Null, _) => Some(None),
                        (_, Some(n)) => Some(Some(n)),
                        _ => {
                            errors.push(FieldError::new("contact.id", "must be an integer"));
                            None
                        }
                    };
                }
            }
            _ => {}
        }
        // The seed's location is an integer id; text is taken too, as /v1 writes it and
        // as this dialect then shows it (so a client read here can be sent back).
        match o.get("location") {
            None | Some(Value::Null | Value::String(_)) => {}
            Some(location) => match crate::domain::fields::whole(location) {
                Some(n) => {
                    o.insert("location".into(), json!(n.to_string()));
                }
                None => {
                    o.remove("location");
                    errors.push(FieldError::new("location", "must be a location id (a whole number of 0 or more) or text"));
                }
            },
        }
        let is_active = match (create, o.remove("isActive")) {
            (false, Some(v)) => {
                o.insert("isActive".into(), v);
                None
            }
            (_, None) => None,
            (true, Some(Value::Bool(b))) => Some(b),
            (true, Some(_)) => {
                errors.push(FieldError::new("isActive", "must be true or false"));
                None
            }
        };
        Ok((Value::Object(o), Extras { contact_ref, is_active }, errors))
    }

    /// `/v1`'s reading of a 001 body with the errors [`request`] found beside its own,
    /// so that one answer names every bad field.
    ///
    /// # Errors
    /// `validation_failed` naming all of them; any other error of `parsed` as it is.
    pub fn merged<T>(parsed: Result<T, ApiError>, mut errors: Vec<FieldError>) -> Result<T, ApiError> {
        match parsed {
            Ok(v) if errors.is_empty() => Ok(v),
            Ok(_) => Err(ApiError::Validation(errors)),
            Err(ApiError::Validation(mut theirs)) => {
                theirs.append(&mut errors);
                Err(ApiError::Validation(theirs))
            }
            Err(other) => Err(other),
        }
    }

    /// A `location` as 001 shows it: a location id is an integer.
    fn location(c: &Client) -> Value {
        match c.location.as_ref().map(|l| l.as_str()) {
            Some(l) => l.parse::<u64>().map_or_else(|_| json!(l), |n| json!(n)),
            None => Value::Null,
        }
    }

    /// A client in a 001 list.
    pub fn summary(c: &Client) -> Value {
        json!({
            "id": c.number,
            "name": c.name,
            "mid": c.mid,
            "isActive": !c.suspended,
            "version": c.version,
            "partner": { "id": c.partner_number, "name": c.partner.name },
            "directPartner": { "id": c.direct_partner_number, "name": c.direct_partner.name },
            "contact": { "id": c.contact_ref },
            "billingId": c.billing_id,
        })
    }

    /// A client as 001's get shows it: the summary, its times, the whole contact and location.
    pub fn client(c: &Client) -> Value {
        let mut v = summary(c);
        let contact = c.contact.clone().unwrap_or_default();
        v["created"] = json!(c.created);
        v["modified"] = json!(c.modified);
        v["contact"] = json!({
            "id": c.contact_ref,
            "firstName": contact.first_name,
            "lastName": contact.last_name,
            "email": contact.email,
        });
        v["location"] = location(c);
        v
    }

    /// 001's error body for a problem+json one: `{ uuid, errorCode, message }`, with
    /// `errorCode` 7000 + the status, and the seed's words for a 404.
    pub fn error(problem: &Value) -> Value {
        let status = problem["status"].as_u64().unwrap_or(500);
        let message = match status {
            404 => "Requested resource cannot be found.".to_owned(),
            _ => {
                let detail = problem["detail"].as_str().unwrap_or_default().to_owned();
                let fields: Vec<String> = problem["errors"]
                    .as_array()
                    .map(|errors| {
                        errors.iter().map(|e| format!("{}: {}", e["field"].as_str().unwrap_or(""), e["message"].as_str().unwrap_or(""))).collect()
                    })
                    .unwrap_or_default();
                if fields.is_empty() { detail } else { format!("{detail} {}", fields.join("; ")) }
            }
        };
        json!({ "uuid": problem["requestId"], "errorCode": 7000 + status, "message": message })
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
/// because its seed does), else the path with anything shaped like a secret masked
/// (a key sent to the wrong route, or in the wrong case, is no less a secret).
pub fn loggable_path(path: &str) -> String {
    const SECRET_IN_PATH: &str = "/hosting/api/client/by-apiKey/";
    if path.starts_with(SECRET_IN_PATH) { format!("{SECRET_IN_PATH}{{apiKey}}") } else { redact(path) }
}

/// The successor of a deprecated route, if `path` is one: the hosting API's
/// `GET /hosting/api/clientgetid/{searchTerm}` (deprecated in its seed) is
/// `GET /v1/clients/search`.
pub fn deprecated(path: &str) -> Option<&'static str> {
    path.starts_with("/hosting/api/clientgetid/").then_some("/v1/clients/search")
}

/// The prefixes of the secrets Clientele hands out (API keys, client keys, license
/// keys, webhook secrets).
const SECRET_PREFIXES: [&str; 4] = ["ck_live_", "cli_live_", "lic_", "whsec_"];

/// `text` with every word that starts like a secret (in any case) replaced by
/// `{secret}`: for logs and for messages that echo what a caller sent.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let lower = rest.to_ascii_lowercase();
        let at = SECRET_PREFIXES.iter().filter_map(|p| lower.find(p)).min();
        let Some(at) = at.filter(|&i| rest.is_char_boundary(i)) else {
            out.push_str(rest);
            break;
        };
        out.push_str(&rest[..at]);
        let end = rest[at..].find(|c: char| c == '/' || c == '?' || c == '&' || c.is_whitespace()).map_or(rest.len(), |e| at + e);
        out.push_str("{secret}");
        rest = &rest[end..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hosting_put_of_the_client_as_read_drops_what_only_shows_it_as_it_is() {
        let current = json!({ "id": "c", "version": 3, "status": "demo", "name": "A", "licenseCount": 0 });
        let sent = json!({ "id": "c", "version": 3, "status": "demo", "name": "B", "licenseCount": 0, "actualCallCount": 9, "domainCountData": [] });
        assert_eq!(hosting::read_back(sent, &current), json!({ "name": "B" }));
        let stale = json!({ "id": "c", "version": 2, "status": "live", "name": "B" });
        assert_eq!(hosting::read_back(stale, &current), json!({ "version": 2, "status": "live", "name": "B" }), "what differs is left to be refused");
    }

    #[test]
    fn the_path_tells_the_dialect() {
        assert_eq!(Dialect::of("/v1/clients"), Dialect::V1);
        assert_eq!(Dialect::of("/v2/clients/list"), Dialect::WhiteLabel);
        assert_eq!(Dialect::of("/hosting/api/client"), Dialect::Hosting);
        assert_eq!(Dialect::of("/api/v1/portal/clients"), Dialect::Portal);
        assert_eq!(Dialect::of("/api/v1/clients/17"), Dialect::PartnerApi);
        assert_eq!(Dialect::of("/api/v1/clientsx"), Dialect::V1);
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
    fn a_partner_api_location_id_may_be_written_12_or_12_point_0() {
        for location in [json!(12), json!(12.0)] {
            let (body, _, errors) = partner_api::request(json!({ "name": "A", "location": location }), true).unwrap();
            assert!(errors.is_empty());
            assert_eq!(body["location"], "12");
        }
    }

    #[test]
    fn partner_api_errors_are_the_seeds_body() {
        let problem = ApiError::NotFound("Client 9".into()).into_problem("req-1");
        assert_eq!(
            partner_api::error(&problem),
            json!({ "uuid": "req-1", "errorCode": 7404, "message": "Requested resource cannot be found." })
        );
        let bad = ApiError::invalid("name", "must not be empty").into_problem("r");
        let body = partner_api::error(&bad);
        assert_eq!(body["errorCode"], 7400);
        assert!(body["message"].as_str().unwrap().contains("name: must not be empty"), "{body}");
    }

    #[test]
    fn a_key_in_the_path_is_never_logged() {
        let logged = loggable_path("/hosting/api/client/by-apiKey/cli_live_s3cr3t");
        assert!(!logged.contains("s3cr3t"), "{logged}");
        assert_eq!(loggable_path("/v1/clients/x"), "/v1/clients/x");
        for path in ["/hosting/api/client/by-apikey/CLI_LIVE_s3cr3t", "/hosting/api/client/cli_live_s3cr3t?x=1", "/x/ck_live_s3cr3t/y"] {
            let logged = loggable_path(path);
            assert!(!logged.contains("s3cr3t") && logged.contains("{secret}"), "{path} -> {logged}");
        }
        assert_eq!(redact("Client with username ana"), "Client with username ana");
        assert_eq!(redact("Route /a/lic_abc was"), "Route /a/{secret} was");
    }
}
