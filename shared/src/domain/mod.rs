//! Domain types: validated values (parsed once, at the edge) and the records the
//! API stores and shows.

pub mod api_key;
pub mod client;
pub mod fields;
pub mod license;
pub mod partner;
pub mod scopes;
pub mod teammate;
pub mod values;
pub mod webhook;

use chrono::{DateTime, SecondsFormat, Utc};

/// Current time as the API writes it: ISO 8601 UTC with milliseconds.
pub fn now() -> String {
    timestamp(Utc::now())
}

/// Formats a time as the API writes it.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A new time-ordered id.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Whether `s` is a UUID as the API writes ids (any version, hyphenated lowercase).
pub fn is_id(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok_and(|u| u.hyphenated().to_string() == s)
}
