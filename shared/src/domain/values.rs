//! Validated values: each newtype can only hold what the contract allows, so
//! code that has one never checks it again.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fields::{Errors, Fields, FromJson, Patch, json_type, parse_with};

fn string(v: &Value) -> Result<&str, String> {
    v.as_str().ok_or_else(|| format!("must be a string, not {}", json_type(v)))
}

/// The path of member `name` inside `at` (`at` is empty for a whole body).
pub fn member(at: &str, name: &str) -> String {
    if at.is_empty() { name.to_owned() } else { format!("{at}.{name}") }
}

/// The text rules (API.md §5a), the one place every text field of every
/// representation is checked: text is Unicode NFC (so one name typed two ways, a
/// precomposed "é" or "e" + a combining accent, is one name), and holds no control
/// (`Cc`) or format (`Cf`) character, invisible or disruptive as they are (zero-width
/// spaces and joiners, bidi overrides, soft hyphens, BEL, NUL...): "Acme" and "Acme" +
/// U+200B would look like one name and be two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextRule {
    /// Names, usernames and `metadata` keys: none at all.
    Strict,
    /// Every other text field (free text, `metadata` values): none but tab and line feed.
    Free,
}

impl TextRule {
    fn refuses(self, c: char) -> bool {
        use unicode_properties::{GeneralCategory, UnicodeGeneralCategory as _};
        let hidden = matches!(c.general_category(), GeneralCategory::Control | GeneralCategory::Format);
        hidden && !(self == Self::Free && matches!(c, '\t' | '\n'))
    }

    /// `raw` in NFC, if it keeps this rule; else what is wrong with it.
    pub fn clean(self, raw: &str) -> Result<String, String> {
        use unicode_normalization::UnicodeNormalization as _;
        let text: String = raw.nfc().collect();
        match text.chars().find(|c| self.refuses(*c)) {
            None => Ok(text),
            Some(c) => Err(match self {
                Self::Strict => format!("must not contain control or invisible format characters (found U+{:04X})", u32::from(c)),
                Self::Free => format!(
                    "must not contain control or invisible format characters other than tab and line feed (found U+{:04X})",
                    u32::from(c)
                ),
            }),
        }
    }
}

/// `s` trimmed and in Unicode NFC, so that one name typed two ways (a precomposed "é"
/// or "e" + a combining accent) is one name.
pub fn normalized(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    s.trim().nfc().collect()
}

/// `raw` without the spaces around it; a control character (a tab, a line feed) is not a
/// space to trim but a character the strict rule refuses (API.md §5a), wherever it is.
fn trim_spaces(raw: &str) -> &str {
    raw.trim_matches(|c: char| c.is_whitespace() && !c.is_control())
}

/// A display name (client or partner): 1–200 characters, trimmed, no control characters.
/// Names compare case-insensitively through [`Name::key`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Name(String);

impl Name {
    pub const MAX: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, String> {
        // Length is checked on the raw text first, so nothing unbounded is normalized.
        if raw.len() > Self::MAX * 4 + 64 {
            return Err(format!("must be at most {} characters", Self::MAX));
        }
        let name = TextRule::Strict.clean(trim_spaces(raw))?;
        let len = name.chars().count();
        if len == 0 {
            Err("must not be empty".into())
        } else if len > Self::MAX {
            Err(format!("must be at most {} characters", Self::MAX))
        } else {
            Ok(Self(name))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded form uniqueness is decided on.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl FromJson for Name {
    fn from_json(value: &Value, at: &str, errors: &mut Errors) -> Option<Self> {
        parse_with(value, at, errors, |v| Self::parse(string(v)?))
    }
}

/// An email address: `local@domain.tld`, at most 254 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        const BAD: &str = "must be a valid email address like name@example.com";
        if raw.len() > 1024 {
            return Err(BAD.into());
        }
        let s = TextRule::Strict.clean(trim_spaces(raw)).map_err(|_| BAD.to_owned())?;
        let s = s.as_str();
        if s.len() > 254 || s.chars().any(char::is_whitespace) {
            return Err(BAD.into());
        }
        let Some((local, domain)) = s.split_once('@') else { return Err(BAD.into()) };
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local.chars().all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            })
            && labels.last().is_some_and(|tld| tld.len() >= 2 && tld.chars().all(char::is_alphabetic));
        if local_ok && domain_ok { Ok(Self(s.to_owned())) } else { Err(BAD.into()) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded form uniqueness is decided on.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl FromJson for Email {
    fn from_json(value: &Value, at: &str, errors: &mut Errors) -> Option<Self> {
        parse_with(value, at, errors, |v| Self::parse(string(v)?))
    }
}

/// A client's login name: 3–64 of `a-z 0-9 . _ -`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = (3..=64).contains(&raw.len())
            && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err("must be 3-64 characters of a-z, 0-9, '.', '_' and '-'".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromJson for Username {
    fn from_json(value: &Value, at: &str, errors: &mut Errors) -> Option<Self> {
        parse_with(value, at, errors, |v| Self::parse(string(v)?))
    }
}

/// Free text of at most `MAX` characters, trimmed, under the free-text rule
/// ([`TextRule::Free`]): company, merchant id, billing id, location, contact names,
/// phone, a license's tier, descriptions and reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Text<const MAX: usize>(String);

impl<const MAX: usize> Text<MAX> {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.len() > MAX * 4 + 64 {
            return Err(format!("must be at most {MAX} characters"));
        }
        let s = TextRule::Free.clean(raw.trim())?;
        if s.chars().count() > MAX { Err(format!("must be at most {MAX} characters")) } else { Ok(Self(s)) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const MAX: usize> FromJson for Text<MAX> {
    fn from_json(value: &Value, at: &str, errors: &mut Errors) -> Option<Self> {
        parse_with(value, at, errors, |v| Self::parse(string(v)?))
    }
}

/// A resource name in client permissions and quotas: `[a-z0-9_.-]{1,64}`.
fn resource_name_ok(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
}

/// A quota's resource name: like a permission resource, but camelCase is allowed
/// (`apiCalls`, as the contract's own example writes it).
fn quota_name_ok(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// Free-form string metadata: at most 50 keys of 1–100 characters, values of at most 500.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Metadata(BTreeMap<String, String>);

impl Metadata {
    pub const MAX_KEYS: usize = 50;

    /// Applies a merge patch: `null` members remove keys, others set them.
    /// The result is checked against the key limit at `at`.
    pub fn merged(&self, patch: &MetadataPatch, at: &str, errors: &mut Errors) -> Option<Self> {
        let mut map = self.0.clone();
        for (k, v) in &patch.0 {
            match v {
                Some(v) => map.insert(k.clone(), v.clone()),
                None => map.remove(k),
            };
        }
        if map.len() > Self::MAX_KEYS {
            errors.push(crate::error::FieldError::new(at, format!("must have at most {} keys", Self::MAX_KEYS)));
            return None;
        }
        Some(Self(map))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The members of a metadata object as a merge patch (`null` removes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataPatch(BTreeMap<String, Option<String>>);

impl FromJson for MetadataPatch {
    fn from_json(value: &Value, at: &str, errors: &mut Errors) -> Option<Self> {
        let Value::Object(members) = value else {
            errors.push(crate::error::FieldError::new(at, format!("must be an object, not {}", json_type(value))));
            return None;
        };
        let before = errors.len();
        if members.len() > Metadata::MAX_KEYS {
            errors.push(crate::error::FieldError::new(at, format!("must have at most {} keys", Metadata::MAX_KEYS)));
        }
        let mut map = BTreeMap::new();
        for (k, v) in members {
            let here = member(at, k);
            // Keys are names (no control or format character at all), values free text.
            let key = match TextRule::Strict.clean(k) {
                Ok(key) if (1..=100).contains(&key.chars().count()) => key,
                Ok(_) => {
                    errors.push(crate::error::FieldError::new(&here, "keys must be 1-100 characters"));
                    continue;
                }
                Err(why) => {
                    errors.push(crate::error::FieldError::new(&here, format!("keys {why}")));
                    continue;
                }
            };
            if map.contains_key(&key) {
                errors.push(crate::error::FieldError::new(&here, "is the same key as another once in Unicode NFC"));
                continue;
            }
            match v {
                Value::Null => {
                    map.insert(key, None);
                }
                // Counted once in NFC, as every text field is (the body's 64 KiB bounds the work).
                Value::String(s) => match TextRule::Free.clean(s) {
                    Ok(value) if value.chars().count() <= 500 => {
                        map.insert(key, Some(value));
                    }
                    Ok(_) => errors.push(crate::error::FieldError::new(&here, "must be at most 500 characters")),
                    Err(why) => errors.push(crate::error::FieldError::new(&here, why)),
                },
                other => errors.push(crate::error::FieldError::new(
                    &here,
                    format!("must be a string, not {}", json_type(other)),
                )),
            }
        }
        (errors.len() == before).then_some(Self(map))
    }
}

impl FromJson for Metadata {
    fn from_json(value: &Value, at: &str, errors: &mut Errors) -> Option<Self> {
        let patch = MetadataPatch::from_json(value, at, errors)?;
        Some(Self(patch.0.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect()))
    }
}

/// A client's contact person. Every member is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    pub first_name: Option<Text<100>>,
    pub last_name: Option<Text<100>>,
    pub email: Option<Email>,
    pub phone: Option<Text<40>>,
}

/// A merge patch of [`Contact`].
#[derive(Debug, Clone, PartialEq)]
pub struct ContactPatch {
    first_name: Patch<Text<100>>,
    last_name: Patch<Text<100>>,
    email: Patch<Email>,
    phone: Patch<Text<40>>,
}

impl FromJson for ContactPatch {
    fn from_json(value: &Value, at: &str, errors: &mut Errors) -> Option<Self> {
        let mut f = Fields::nested(value, at, errors)?;
        let patch = Self {
            first_name: f.patch("firstName"),
            last_name: f.patch("lastName"),
            email: f.patch("email"),
            phone: f.patch("phone"),
        };
        let before = errors.len();
        f.close(errors);
        (errors.len() == before).then_some(patch)
    }
}

fn apply<T: Clone>(current: &Option<T>, patch: &Patch<T>) -> Option<T> {
    match patch {
        Patch::Keep => current.clone(),
        Patch::Clear => None,
        Patch::Set(v) => Some(v.clone()),
    }
}

impl ContactPatch {
    /// The contact after this patch; `None` when nothing is left in it.
    pub fn applied_to(&self, current: Option<&Contact>) -> Option<Contact> {
        let base = current.cloned().unwrap_or_default();
        let next = Contact {
            first_name: apply(&base.first_name, &self.first_name),
            last_name: apply(&base.last_name, &self.last_name),
            email: apply(&base.email, &self.email),
            phone: apply(&base.phone, &self.phone),
        };
        (next != Contact::default()).then_some(next)
    }
}

impl FromJson for Contact {
    fn from_json(value: &Value, at: &str, errors: &mut Errors) -> Option<Self> {
        ContactPatch::from_json(value, at, errors).map(|p| p.applied_to(None).unwrap_or_default())
    }
}

/// An action a client may be allowed on a platform resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    View,
    Edit,
    Create,
    Remove,
}

impl Action {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "view" => Some(Self::View),
            "edit" => Some(Self::Edit),
            "create" => Some(Self::Create),
            "remove" => Some(Self::Remove),
            _ => None,
        }
    }
}

/// What a client may do on the platform: resource → actions, at most 100 resources.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientPermissions(BTreeMap<String, BTreeSet<Action>>);

impl FromJson for ClientPermissions {
    fn from_json(value: &Value, at: &str, errors: &mut Errors) -> Option<Self> {
        let Value::Object(members) = value else {
            errors.push(crate::error::FieldError::new(at, format!("must be an object, not {}", json_type(value))));
            return None;
        };
        let before = errors.len();
        if members.len() > 100 {
            let field = if at.is_empty() { "permissions" } else { at };
            errors.push(crate::error::FieldError::new(field, "must have at most 100 resources"));
        }
        let mut map = BTreeMap::new();
        for (resource, actions) in members {
            let here = member(at, resource);
            if !resource_name_ok(resource) {
                errors.push(crate::error::FieldError::new(&here, "resource names must be 1-64 of a-z, 0-9, '_', '.', '-'"));
                continue;
            }
            let parsed = actions.as_array().and_then(|list| {
                list.iter().map(|a| a.as_str().and_then(Action::parse)).collect::<Option<BTreeSet<_>>>()
            });
            match parsed {
                Some(set) => {
                    map.insert(resource.clone(), set);
                }
                None => errors.push(crate::error::FieldError::new(
                    &here,
                    "must be an array of actions from view, edit, create, remove",
                )),
            }
        }
        (errors.len() == before).then_some(Self(map))
    }
}

/// How often a quota's usage starts again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Day,
    Month,
}

/// One quota: a limit, per period or for the client's lifetime (no period).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    pub limit: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
}

/// The most quota resources a client may have: a client's delete removes one usage
/// counter per resource in its transaction, so this bounds that write (API.md §5a).
pub const MAX_QUOTAS: usize = 20;

/// A client's quotas: resource → quota, at most [`MAX_QUOTAS`] resources.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Quotas(pub BTreeMap<String, Quota>);

impl FromJson for Quotas {
    fn from_json(value: &Value, at: &str, errors: &mut Errors) -> Option<Self> {
        let Value::Object(members) = value else {
            errors.push(crate::error::FieldError::new(at, format!("must be an object, not {}", json_type(value))));
            return None;
        };
        let before = errors.len();
        if members.len() > MAX_QUOTAS {
            // The whole body of PUT .../quotas is the quotas: name them so.
            let field = if at.is_empty() { "quotas" } else { at };
            errors.push(crate::error::FieldError::new(field, format!("must have at most {MAX_QUOTAS} resources")));
        }
        let mut map = BTreeMap::new();
        for (resource, quota) in members {
            let here = member(at, resource);
            if !quota_name_ok(resource) {
                errors.push(crate::error::FieldError::new(&here, "resource names must be 1-64 of A-Z, a-z, 0-9, '_', '.', '-'"));
                continue;
            }
            let Some(mut f) = Fields::nested(quota, &here, errors) else { continue };
            let limit = f.required::<Limit>("limit");
            let period = f.optional::<PeriodField>("period");
            f.close(errors);
            if let Some(Limit(limit)) = limit {
                map.insert(resource.clone(), Quota { limit, period: period.map(|p| p.0) });
            }
        }
        (errors.len() == before).then_some(Self(map))
    }
}

struct Limit(u64);

impl FromJson for Limit {
    fn from_json(value: &Value, at: &str, errors: &mut Errors) -> Option<Self> {
        parse_with(value, at, errors, |v| {
            super::fields::whole(v)
                .filter(|n| *n <= 1_000_000_000_000)
                .map(Limit)
                .ok_or_else(|| "must be a whole number from 0 to 1000000000000".to_owned())
        })
    }
}

struct PeriodField(Period);

impl FromJson for PeriodField {
    fn from_json(value: &Value, at: &str, errors: &mut Errors) -> Option<Self> {
        parse_with(value, at, errors, |v| match v.as_str() {
            Some("day") => Ok(PeriodField(Period::Day)),
            Some("month") => Ok(PeriodField(Period::Month)),
            _ => Err("must be \"day\" or \"month\" (omit it for a lifetime quota)".into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn emails_are_checked_by_shape() {
        for good in ["ana@example.com", "A.B+tag@sub.example.co", "x@y.io"] {
            assert!(Email::parse(good).is_ok(), "{good} should be valid");
        }
        for bad in ["", "ana", "ana@", "@example.com", "ana@example", "ana@@example.com", "a b@example.com", "ana@-x.com", "ana..b@example.com"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn names_are_trimmed_bounded_and_case_folded_for_uniqueness() {
        assert_eq!(Name::parse("Cafe\u{301}").unwrap(), Name::parse("Caf\u{e9}").unwrap(), "NFC: one name typed two ways");
        for invisible in ["Acme\u{200b}", "\u{202e}Acme", "Ac\u{ad}me", "Acme\u{0}", "Acme\u{feff}"] {
            assert!(Name::parse(invisible).is_err(), "{invisible:?} must be refused");
        }
        assert!(Name::parse(&"x".repeat(100_000)).is_err());
        assert_eq!(Name::parse("  Acme\u{a0}").unwrap().as_str(), "Acme");
        for edged in ["Acme\n", "\tAcme", "Acme\r\n"] {
            assert!(Name::parse(edged).is_err(), "{edged:?}: a control character at the edge is refused, not trimmed");
        }
        assert!(Email::parse("ana@example.com\n").is_err(), "likewise in an email");
        assert_eq!(Email::parse(" ana@example.com ").unwrap().as_str(), "ana@example.com");
        assert_eq!(Name::parse("AcMe").unwrap().key(), "acme");
        assert!(Name::parse("   ").is_err());
        assert!(Name::parse(&"x".repeat(201)).is_err());
        assert!(Name::parse(&"é".repeat(200)).is_ok());
    }

    #[test]
    fn text_is_nfc_and_free_text_keeps_only_tab_and_line_feed() {
        assert_eq!(Text::<50>::parse("Cafe\u{301} Ltd").unwrap().as_str(), "Caf\u{e9} Ltd");
        assert_eq!(Text::<50>::parse("line one\nline\ttwo").unwrap().as_str(), "line one\nline\ttwo");
        for bad in ["bell\u{7}", "c\rr", "zero\u{200b}width", "\u{202e}bidi", "nul\u{0}", "soft\u{ad}hyphen"] {
            assert!(Text::<50>::parse(bad).is_err(), "{bad:?} must be refused");
        }
        for bad in ["tab\tname", "line\nname"] {
            assert!(Name::parse(bad).is_err(), "{bad:?}: names take no control character at all");
        }
    }

    #[test]
    fn metadata_keys_are_strict_and_values_free_text() {
        let mut errors = Vec::new();
        let ok = Metadata::from_json(&json!({"note": "a\tb\nc", "caf\u{65}\u{301}": "e\u{301}"}), "metadata", &mut errors).unwrap();
        assert!(errors.is_empty());
        assert_eq!(serde_json::to_value(&ok).unwrap(), json!({"note": "a\tb\nc", "caf\u{e9}": "\u{e9}"}), "NFC keys and values");
        for bad in [json!({"k": "ring\u{7}"}), json!({"zero\u{200b}width": "v"}), json!({"tab\tkey": "v"}), json!({"k": "\u{feff}"})] {
            let mut errors = Vec::new();
            assert!(Metadata::from_json(&bad, "metadata", &mut errors).is_none(), "{bad} must be refused");
            assert!(errors[0].field.starts_with("metadata."), "{errors:?}");
        }
        let mut errors = Vec::new();
        assert!(Metadata::from_json(&json!({"caf\u{e9}": "1", "cafe\u{301}": "2"}), "metadata", &mut errors).is_none(), "one key typed two ways");
        // A value's 500 characters are counted in NFC, as every text field's are: 500 "é"
        // typed as "e" + a combining accent (1 000 code points) fit, 501 do not.
        for (n, fits) in [(500, true), (501, false)] {
            let mut errors = Vec::new();
            let value = "e\u{301}".repeat(n);
            let parsed = Metadata::from_json(&json!({ "k": value }), "metadata", &mut errors);
            assert_eq!(parsed.is_some(), fits, "{n}: {errors:?}");
        }
    }

    #[test]
    fn usernames_allow_only_the_documented_alphabet() {
        assert!(Username::parse("ana.b_c-1").is_ok());
        for bad in ["ab", "Ana", "ana b", &"a".repeat(65)] {
            assert!(Username::parse(bad).is_err(), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn permissions_reject_unknown_actions_and_bad_names() {
        let mut errors = Vec::new();
        let ok = ClientPermissions::from_json(&json!({"reports": ["view"], "campaigns": ["view", "edit"]}), "permissions", &mut errors);
        assert!(ok.is_some() && errors.is_empty());
        let bad = ClientPermissions::from_json(&json!({"Reports": ["view"], "x": ["fly"]}), "permissions", &mut errors);
        assert!(bad.is_none());
        assert_eq!(errors.len(), 2);
    }

    #[test]
    fn quotas_need_a_limit_and_a_known_period() {
        let mut errors = Vec::new();
        let q = Quotas::from_json(&json!({"apiCalls": {"limit": 10, "period": "month"}, "domains": {"limit": 3}}), "quotas", &mut errors).unwrap();
        assert_eq!(q.0["domains"].period, None);
        let mut errors = Vec::new();
        assert!(Quotas::from_json(&json!({"apiCalls": {"limit": -1, "period": "year", "x": 1}}), "quotas", &mut errors).is_none());
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["quotas.apiCalls.limit", "quotas.apiCalls.period", "quotas.apiCalls.x"]);
    }

    #[test]
    fn metadata_merge_removes_null_keys_and_bounds_size() {
        let mut errors = Vec::new();
        let base = Metadata::from_json(&json!({"a": "1", "b": "2"}), "metadata", &mut errors).unwrap();
        let patch = MetadataPatch::from_json(&json!({"a": null, "c": "3"}), "metadata", &mut errors).unwrap();
        let merged = base.merged(&patch, "metadata", &mut errors).unwrap();
        assert_eq!(serde_json::to_value(&merged).unwrap(), json!({"b": "2", "c": "3"}));
        assert!(MetadataPatch::from_json(&json!({"a": 1}), "metadata", &mut errors).is_none());
    }
}
