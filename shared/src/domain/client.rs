//! Clients: the partner's customers, their profile and their state.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::fields::{Errors, Fields, FromJson, Patch, parse_with};
use super::values::{
    ClientPermissions, Contact, ContactPatch, Email, Metadata, MetadataPatch, Name, Quotas, Text, Username,
};
use crate::error::ApiError;

/// The secret prefix of a client's own API key.
pub const CLIENT_KEY_PREFIX: &str = "cli_live_";

/// Where a client stands commercially. Suspension is separate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Demo,
    Trial,
    Live,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Demo => "demo",
            Self::Trial => "trial",
            Self::Live => "live",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "demo" => Some(Self::Demo),
            "trial" => Some(Self::Trial),
            "live" => Some(Self::Live),
            _ => None,
        }
    }

    pub const ALL: [Status; 3] = [Status::Demo, Status::Trial, Status::Live];
}

/// The status a client may be created with.
struct InitialStatus(Status);

impl FromJson for InitialStatus {
    fn from_json(value: &Value, at: &str, errors: &mut Errors) -> Option<Self> {
        parse_with(value, at, errors, |v| match v.as_str() {
            Some("demo") => Ok(Self(Status::Demo)),
            Some("live") => Ok(Self(Status::Live)),
            _ => Err("must be \"demo\" or \"live\" (trials start with offer-trial)".into()),
        })
    }
}

/// A partner as a client shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerRef {
    pub id: String,
    pub name: String,
}

/// How a create names the owning partner: by id or by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartnerSelector {
    Id(String),
    /// The partner's `number` (an integer `id`, as the integer-id dialects send it).
    Number(u64),
    Name(Name),
}

/// `directPartner` in a client's body: the partner it picks, by id (or number) or by
/// name, and the name too when the body gives both (a client that read the client and
/// sends its `directPartner` back): it must then be that partner's, or the body names
/// two partners and is refused rather than read as one of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectPartner {
    pub pick: PartnerSelector,
    pub also_named: Option<Name>,
}

impl FromJson for DirectPartner {
    fn from_json(value: &Value, at: &str, errors: &mut Errors) -> Option<Self> {
        let mut f = Fields::nested(value, at, errors)?;
        // An integer id is the partner's number (seed 001 names partners so).
        let number = value.get("id").and_then(super::fields::whole).filter(|n| (1..=super::MAX_NUMBER).contains(n));
        let id: Option<String> = if number.is_some() { f.optional::<Value>("id").map(|_| String::new()) } else { f.optional("id") };
        let name: Option<Name> = f.optional("name");
        let selector = match (id, name) {
            (Some(_), name) if let Some(n) = number => Some(Self { pick: PartnerSelector::Number(n), also_named: name }),
            (Some(id), name) if super::is_id(&id) => Some(Self { pick: PartnerSelector::Id(id), also_named: name }),
            (Some(_), _) => {
                f.error("id", "must be a partner id");
                None
            }
            (None, Some(name)) => Some(Self { pick: PartnerSelector::Name(name), also_named: None }),
            (None, None) => {
                f.error("id", "give the partner's id or name");
                None
            }
        };
        let before = errors.len();
        f.close(errors);
        selector.filter(|_| errors.len() == before)
    }
}

/// A stored client.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Client {
    pub id: String,
    /// The client's integer id (API.md §3), given at creation, never changed.
    #[serde(default)]
    pub number: u64,
    pub name: Name,
    /// Required in `/v1`; a client made through seed 001, which has no email, has none.
    pub email: Option<Email>,
    pub username: Option<Username>,
    pub company: Option<Text<200>>,
    pub mid: Option<Text<100>>,
    pub billing_id: Option<Text<100>>,
    pub location: Option<Text<200>>,
    pub contact: Option<Contact>,
    pub metadata: Metadata,
    pub direct_partner: PartnerRef,
    pub partner: PartnerRef,
    /// The `number`s of `direct_partner` and `partner` (the integer-id dialects show them).
    #[serde(default)]
    pub direct_partner_number: u64,
    #[serde(default)]
    pub partner_number: u64,
    /// The caller's own reference for the contact (seed 001's `contact.id`).
    #[serde(default)]
    pub contact_ref: Option<u64>,
    /// Ids from the root partner down to the direct partner.
    pub ancestors: Vec<String>,
    pub status: Status,
    pub trial_ends_at: Option<String>,
    pub suspended: bool,
    pub suspended_reason: Option<String>,
    pub permissions: ClientPermissions,
    pub quotas: Quotas,
    pub license_count: u64,
    pub domain_count: u64,
    pub api_key_prefix: String,
    /// SHA-256 of the client's own API key (never shown).
    pub api_key_hash: String,
    pub created: String,
    pub modified: String,
    pub version: u64,
}

impl Client {
    /// The status as callers see it: a trial whose end has passed reads as demo.
    pub fn effective_status(&self, now: &str) -> Status {
        match (&self.status, &self.trial_ends_at) {
            (Status::Trial, Some(end)) if end.as_str() <= now => Status::Demo,
            (status, _) => *status,
        }
    }

    /// The full client as the API shows it.
    pub fn view(&self) -> Value {
        let now = super::now();
        let status = self.effective_status(&now);
        json!({
            "id": self.id,
            "number": self.number,
            "name": self.name,
            "email": self.email,
            "username": self.username,
            "company": self.company,
            "mid": self.mid,
            "billingId": self.billing_id,
            "location": self.location,
            "contact": self.contact,
            "metadata": self.metadata,
            "directPartner": self.direct_partner,
            "partner": self.partner,
            "status": status,
            "trialEndsAt": if status == Status::Trial { self.trial_ends_at.clone() } else { None },
            "suspended": self.suspended,
            "suspendedReason": self.suspended_reason,
            "isActive": !self.suspended,
            "permissions": self.permissions,
            "quotas": self.quotas,
            "licenseCount": self.license_count,
            "domainCount": self.domain_count,
            "apiKeyPrefix": self.api_key_prefix,
            "created": self.created,
            "modified": self.modified,
            "version": self.version,
        })
    }

    /// The list summary; `actual_call_count` is this period's `apiCalls` usage.
    pub fn summary(&self, actual_call_count: u64) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "username": self.username,
            "company": self.company,
            "status": self.effective_status(&super::now()),
            "isActive": !self.suspended,
            "directPartner": self.direct_partner,
            "partner": self.partner,
            "licenseCount": self.license_count,
            "domainCount": self.domain_count,
            "actualCallCount": actual_call_count,
            "created": self.created,
        })
    }
}

/// The body of `POST /v1/clients`.
#[derive(Debug)]
pub struct NewClient {
    pub profile: Profile,
    pub direct_partner: Option<DirectPartner>,
    pub status: Status,
    /// Created suspended (seed 001's `isActive: false`); never through `/v1`.
    pub suspended: bool,
    pub contact_ref: Option<u64>,
    pub permissions: ClientPermissions,
    pub quotas: Quotas,
}

/// The writable profile of a client.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: Name,
    pub email: Option<Email>,
    pub username: Option<Username>,
    pub company: Option<Text<200>>,
    pub mid: Option<Text<100>>,
    pub billing_id: Option<Text<100>>,
    pub location: Option<Text<200>>,
    pub contact: Option<Contact>,
    pub metadata: Metadata,
}

impl NewClient {
    /// # Errors
    /// `validation_failed` listing every bad or unknown field.
    pub fn from_body(body: Value) -> Result<Self, ApiError> {
        Self::parse(body, true)
    }

    /// A new client whose email may be left out (seed 001 has none).
    ///
    /// # Errors
    /// As [`NewClient::from_body`].
    pub fn without_email_required(body: Value) -> Result<Self, ApiError> {
        Self::parse(body, false)
    }

    fn parse(body: Value, email_required: bool) -> Result<Self, ApiError> {
        let mut f = Fields::from_body(body)?;
        let name = f.required::<Name>("name");
        let email = if email_required { f.required::<Email>("email") } else { f.optional::<Email>("email") };
        let username = f.optional("username");
        let company = f.optional("company");
        let mid = f.optional("mid");
        let billing_id = f.optional("billingId");
        let location = f.optional("location");
        let contact = f.optional::<Contact>("contact");
        let metadata = f.optional::<Metadata>("metadata").unwrap_or_default();
        let direct_partner = f.optional("directPartner");
        let status = f.optional::<InitialStatus>("status").map_or(Status::Demo, |s| s.0);
        let permissions = f.optional("permissions").unwrap_or_default();
        let quotas = f.optional("quotas").unwrap_or_default();
        for read_only in READ_ONLY {
            f.read_only(read_only);
        }
        f.finish()?;
        Ok(Self {
            profile: Profile {
                name: name.expect("checked by finish"),
                email,
                username,
                company,
                mid,
                billing_id,
                location,
                contact: contact.filter(|c| *c != Contact::default()),
                metadata,
            },
            direct_partner,
            status,
            suspended: false,
            contact_ref: None,
            permissions,
            quotas,
        })
    }
}

/// Fields a client shows but no create, PATCH or PUT may write.
const READ_ONLY: [&str; 15] = [
    "id", "number", "created", "modified", "version", "apiKeyPrefix", "partner", "trialEndsAt", "suspended",
    "suspendedReason", "licenseCount", "domainCount", "actualCallCount", "apiKey", IS_ACTIVE,
];

/// The one read-only member a change (PATCH or PUT) writes: `false` suspends.
const IS_ACTIVE: &str = "isActive";

/// Members a client shows that only routes of their own change.
const SET_ELSEWHERE: [&str; 3] = ["status", "permissions", "quotas"];

/// Every member a client shows that a change (PATCH or PUT) refuses to set.
pub fn unchangeable() -> impl Iterator<Item = &'static str> {
    READ_ONLY.into_iter().filter(|n| *n != IS_ACTIVE).chain(SET_ELSEWHERE)
}

/// A change of a client through PATCH (merge patch) or PUT (replacement).
#[derive(Debug)]
pub struct ClientChange {
    name: Option<Name>,
    email: Option<Email>,
    username: Patch<Username>,
    company: Patch<Text<200>>,
    mid: Patch<Text<100>>,
    billing_id: Patch<Text<100>>,
    location: Patch<Text<200>>,
    contact: ContactChange,
    metadata: MetadataChange,
    /// `isActive`: `false` suspends, `true` unsuspends.
    pub is_active: Option<bool>,
    /// `directPartner`: the partner to move the client to (API.md §3, "Moving").
    pub direct_partner: Option<DirectPartner>,
}

#[derive(Debug)]
enum ContactChange {
    Keep,
    Replace(Option<Contact>),
    Merge(ContactPatch),
}

#[derive(Debug)]
enum MetadataChange {
    Keep,
    Replace(Metadata),
    Merge(MetadataPatch),
}

/// Whether a change merges into the client (PATCH) or replaces its profile (PUT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Patch,
    Replace,
}

impl ClientChange {
    /// # Errors
    /// `validation_failed` listing every bad, unknown or read-only field.
    pub fn from_body(body: Value, kind: ChangeKind) -> Result<Self, ApiError> {
        let mut f = Fields::from_body(body)?;
        let replace = kind == ChangeKind::Replace;
        // A PUT names every field it keeps: what it leaves out is cleared.
        fn opt<T>(replace: bool, p: Patch<T>) -> Patch<T> {
            if replace && matches!(p, Patch::Keep) { Patch::Clear } else { p }
        }
        let (name, email) = if replace {
            (f.required("name"), f.required("email"))
        } else {
            let name = match f.patch::<Name>("name") {
                Patch::Clear => {
                    f.error("name", "cannot be cleared");
                    None
                }
                Patch::Set(n) => Some(n),
                Patch::Keep => None,
            };
            let email = match f.patch::<Email>("email") {
                Patch::Clear => {
                    f.error("email", "cannot be cleared");
                    None
                }
                Patch::Set(e) => Some(e),
                Patch::Keep => None,
            };
            (name, email)
        };
        let username = opt(replace, f.patch("username"));
        let company = opt(replace, f.patch("company"));
        let mid = opt(replace, f.patch("mid"));
        let billing_id = opt(replace, f.patch("billingId"));
        let location = opt(replace, f.patch("location"));
        let contact = if replace {
            ContactChange::Replace(f.optional::<Contact>("contact").filter(|c| *c != Contact::default()))
        } else {
            match f.patch::<ContactPatch>("contact") {
                Patch::Keep => ContactChange::Keep,
                Patch::Clear => ContactChange::Replace(None),
                Patch::Set(p) => ContactChange::Merge(p),
            }
        };
        let metadata = if replace {
            MetadataChange::Replace(f.optional::<Metadata>("metadata").unwrap_or_default())
        } else {
            match f.patch::<MetadataPatch>("metadata") {
                Patch::Keep => MetadataChange::Keep,
                Patch::Clear => MetadataChange::Replace(Metadata::default()),
                Patch::Set(p) => MetadataChange::Merge(p),
            }
        };
        let is_active = match f.patch::<bool>(IS_ACTIVE) {
            Patch::Clear => {
                f.error(IS_ACTIVE, "must be true or false");
                None
            }
            Patch::Set(b) => Some(b),
            Patch::Keep => None,
        };
        // Named, it moves the client; left out of a PUT, the client stays where it is.
        let direct_partner = match f.patch::<DirectPartner>("directPartner") {
            Patch::Clear => {
                f.error("directPartner", "cannot be cleared; name the partner to move the client to");
                None
            }
            Patch::Set(p) => Some(p),
            Patch::Keep => None,
        };
        for read_only in READ_ONLY.iter().filter(|n| **n != IS_ACTIVE) {
            f.read_only(read_only);
        }
        for fixed in SET_ELSEWHERE {
            if f.patch::<Value>(fixed) != Patch::Keep {
                let how = match fixed {
                    "status" => "changes through offer-trial and make-live",
                    "permissions" => "is set with PUT /v1/clients/{clientId}/permissions",
                    _ => "is set with PUT /v1/clients/{clientId}/quotas",
                };
                f.error(fixed, how);
            }
        }
        f.finish()?;
        Ok(Self { name, email, username, company, mid, billing_id, location, contact, metadata, is_active, direct_partner })
    }

    /// Whether this change names a partner to move to and nothing else.
    pub fn only_moves(&self) -> bool {
        self.direct_partner.is_some()
            && self.name.is_none()
            && self.email.is_none()
            && self.username.is_keep()
            && self.company.is_keep()
            && self.mid.is_keep()
            && self.billing_id.is_keep()
            && self.location.is_keep()
            && matches!(self.contact, ContactChange::Keep)
            && matches!(self.metadata, MetadataChange::Keep)
            && self.is_active.is_none()
    }

    /// The profile after this change.
    ///
    /// # Errors
    /// `validation_failed` when merged metadata exceeds its limits.
    pub fn apply(&self, current: &Client) -> Result<Profile, ApiError> {
        fn patched<T: Clone>(cur: &Option<T>, p: &Patch<T>) -> Option<T> {
            match p {
                Patch::Keep => cur.clone(),
                Patch::Clear => None,
                Patch::Set(v) => Some(v.clone()),
            }
        }
        let mut errors = Vec::new();
        let metadata = match &self.metadata {
            MetadataChange::Keep => Some(current.metadata.clone()),
            MetadataChange::Replace(m) => Some(m.clone()),
            MetadataChange::Merge(p) => current.metadata.merged(p, "metadata", &mut errors),
        };
        let contact = match &self.contact {
            ContactChange::Keep => current.contact.clone(),
            ContactChange::Replace(c) => c.clone(),
            ContactChange::Merge(p) => p.applied_to(current.contact.as_ref()),
        };
        let Some(metadata) = metadata else { return Err(ApiError::Validation(errors)) };
        Ok(Profile {
            name: self.name.clone().unwrap_or_else(|| current.name.clone()),
            email: self.email.clone().or_else(|| current.email.clone()),
            username: patched(&current.username, &self.username),
            company: patched(&current.company, &self.company),
            mid: patched(&current.mid, &self.mid),
            billing_id: patched(&current.billing_id, &self.billing_id),
            location: patched(&current.location, &self.location),
            contact,
            metadata,
        })
    }
}

impl FromJson for Value {
    fn from_json(value: &Value, _at: &str, _errors: &mut Errors) -> Option<Self> {
        Some(value.clone())
    }
}

impl Client {
    /// This client with `profile` written over its own.
    pub fn with_profile(&self, p: Profile) -> Client {
        Client {
            name: p.name,
            email: p.email,
            username: p.username,
            company: p.company,
            mid: p.mid,
            billing_id: p.billing_id,
            location: p.location,
            contact: p.contact,
            metadata: p.metadata,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn create_reports_every_bad_field_at_once() {
        let Err(ApiError::Validation(errors)) =
            NewClient::from_body(json!({"name": "", "email": "nope", "username": "A", "colour": "red"}))
        else {
            panic!("must fail")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "email", "username", "colour"]);
    }

    #[test]
    fn create_rejects_trial_status_and_read_only_fields() {
        let Err(ApiError::Validation(errors)) =
            NewClient::from_body(json!({"name": "A", "email": "a@b.co", "status": "trial", "id": "x"}))
        else {
            panic!("must fail")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["status", "id"]);
    }

    #[test]
    fn put_clears_what_it_leaves_out_and_patch_keeps_it() {
        let created = NewClient::from_body(json!({"name": "A", "email": "a@b.co", "company": "Acme", "metadata": {"k": "v"}})).unwrap();
        let client = Client {
            id: "c".into(),
            number: 1,
            name: created.profile.name.clone(),
            email: created.profile.email.clone(),
            username: None,
            company: created.profile.company.clone(),
            mid: None,
            billing_id: None,
            location: None,
            contact: None,
            metadata: created.profile.metadata.clone(),
            direct_partner: PartnerRef { id: "p".into(), name: "P".into() },
            partner: PartnerRef { id: "p".into(), name: "P".into() },
            direct_partner_number: 1,
            partner_number: 1,
            contact_ref: None,
            ancestors: vec!["p".into()],
            status: Status::Demo,
            trial_ends_at: None,
            suspended: false,
            suspended_reason: None,
            permissions: Default::default(),
            quotas: Default::default(),
            license_count: 0,
            domain_count: 0,
            api_key_prefix: "cli_live_abc".into(),
            api_key_hash: "h".into(),
            created: "t".into(),
            modified: "t".into(),
            version: 0,
        };
        let put = ClientChange::from_body(json!({"name": "B", "email": "b@b.co"}), ChangeKind::Replace).unwrap();
        let p = put.apply(&client).unwrap();
        assert_eq!((p.name.as_str(), p.company.is_none(), p.metadata.is_empty()), ("B", true, true));
        let patch = ClientChange::from_body(json!({"name": "C", "metadata": {"x": "y"}}), ChangeKind::Patch).unwrap();
        let p = patch.apply(&client).unwrap();
        assert_eq!(p.company.unwrap().as_str(), "Acme");
        assert_eq!(serde_json::to_value(&p.metadata).unwrap(), json!({"k": "v", "x": "y"}));
    }

    #[test]
    fn patch_cannot_clear_required_fields_or_write_status() {
        let Err(ApiError::Validation(errors)) =
            ClientChange::from_body(json!({"name": null, "status": "live", "version": 3}), ChangeKind::Patch)
        else {
            panic!("must fail")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "version", "status"]);
    }

    #[test]
    fn expired_trial_reads_as_demo() {
        let mut c: Client = serde_json::from_value(json!({
            "id": "c", "name": "A", "email": "a@b.co", "username": null, "company": null, "mid": null,
            "billingId": null, "location": null, "contact": null, "metadata": {},
            "directPartner": {"id": "p", "name": "P"}, "partner": {"id": "p", "name": "P"}, "ancestors": ["p"],
            "status": "trial", "trialEndsAt": "2026-01-01T00:00:00.000Z", "suspended": false,
            "suspendedReason": null, "permissions": {}, "quotas": {}, "licenseCount": 0, "domainCount": 0,
            "apiKeyPrefix": "x", "apiKeyHash": "h", "created": "t", "modified": "t", "version": 0
        })).unwrap();
        assert_eq!(c.effective_status("2026-02-01T00:00:00.000Z"), Status::Demo);
        assert_eq!(c.effective_status("2025-12-01T00:00:00.000Z"), Status::Trial);
        c.status = Status::Live;
        assert_eq!(c.effective_status("2026-02-01T00:00:00.000Z"), Status::Live);
    }
}
