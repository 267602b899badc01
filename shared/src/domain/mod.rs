//! Domain types: validated values (parsed once, at the edge) and the records the
//! API stores and shows.

pub mod api_key;
pub mod client;
pub mod console_link;
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

/// Milliseconds from the Unix epoch to 2025-01-01T00:00:00Z, where `number`s start.
const NUMBER_EPOCH_MS: i64 = 1_735_689_600_000;

/// The largest `number`: 2^53 − 1, the largest integer every JSON parser keeps exact.
pub const MAX_NUMBER: u64 = (1 << 53) - 1;

/// A new `number` (API.md §3): the milliseconds since 2025 in the high 41 bits and 12
/// random bits below. Numbers so grow with time, stay positive and within
/// [`MAX_NUMBER`] until 2094, and need no counter (no hot key, no extra round trip).
/// Two creates in one millisecond draw the same number with odds of 1 in 4096; the
/// claim written in the create's transaction catches that, and the create draws again.
pub fn new_number() -> u64 {
    use rand::Rng;
    let ms = (chrono::Utc::now().timestamp_millis() - NUMBER_EPOCH_MS).max(1) as u64;
    let high = ms.min((1 << 41) - 1) << 12;
    (high | rand::thread_rng().gen_range(0..4096u64)).clamp(1, MAX_NUMBER)
}

/// The id of the record of `kind` (`"CLIENT"`, `"PARTNER"`, ...) that holds `number`.
///
/// A record with a `number` takes this id at creation, so the integer-id dialects read
/// a record named by its number straight away, with no lookup first (no round trip more
/// than `/v1`). It is a UUIDv7 like any other id: the number's time part (ms since 2025)
/// as its timestamp, its 12 random bits as `rand_a`, and the rest from a hash of kind and
/// number, so ids stay time-ordered and two kinds' records never share an id. Ids are
/// names, not secrets: the caller's tree decides what it may see.
pub fn numbered_id(kind: &str, number: u64) -> String {
    use sha2::Digest as _;
    let millis = (NUMBER_EPOCH_MS as u64).saturating_add(number >> 12);
    let digest = sha2::Sha256::new().chain_update(kind.as_bytes()).chain_update(number.to_be_bytes()).finalize();
    let mut rest = [0u8; 10];
    rest[0] = ((number >> 8) & 0x0f) as u8;
    rest[1] = (number & 0xff) as u8;
    rest[2..].copy_from_slice(&digest[..8]);
    uuid::Builder::from_unix_timestamp_millis(millis, &rest).into_uuid().to_string()
}

/// A `number` as a path gives it: digits only, 1..=MAX_NUMBER.
pub fn parse_number(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 16 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u64>().ok().filter(|n| (1..=MAX_NUMBER).contains(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_positive_exact_in_json_and_grow_with_time() {
        let a = new_number();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_number();
        assert!(a >= 1 && b <= MAX_NUMBER);
        assert!(b >> 12 > a >> 12, "a later number has a later time part: {a} {b}");
        assert_eq!(serde_json::from_str::<f64>(&b.to_string()).unwrap() as u64, b, "a float parser keeps it exact");
    }

    #[test]
    fn a_numbered_id_is_a_time_ordered_id_of_its_kind_and_number() {
        let (a, b) = (new_number(), new_number() + 4096);
        let id = numbered_id("CLIENT", a);
        assert!(is_id(&id), "{id}");
        assert_eq!(id, numbered_id("CLIENT", a), "the same number gives the same id");
        assert_ne!(id, numbered_id("PARTNER", a), "kinds never share an id");
        assert_ne!(id, numbered_id("CLIENT", a ^ 1), "the random bits are in the id");
        assert!(numbered_id("CLIENT", b) > id, "a later number sorts later");
        let uuid = uuid::Uuid::parse_str(&id).unwrap();
        assert_eq!(uuid.get_version_num(), 7);
        let (secs, nanos) = uuid.get_timestamp().unwrap().to_unix();
        assert_eq!(secs * 1000 + u64::from(nanos) / 1_000_000, NUMBER_EPOCH_MS as u64 + (a >> 12));
    }

    #[test]
    fn only_digits_within_range_parse_as_numbers() {
        assert_eq!(parse_number("42"), Some(42));
        for bad in ["", "0", "-1", "1e3", "+5", "9007199254740992", "12345678901234567890", " 1"] {
            assert_eq!(parse_number(bad), None, "{bad:?}");
        }
    }
}
