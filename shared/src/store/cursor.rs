//! Pages and signed cursors.
//!
//! A cursor is `base64url(json{after, query}) "." HMAC`, where `query` is a
//! fingerprint of who asked and with which filters. A cursor therefore cannot be
//! forged, nor replayed against another partner's list or other filters: both
//! answer 400. `after` is the sort key of the last item of the previous page.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, FieldError};
use crate::secrets;

/// The most entries `skip` may pass over.
pub const MAX_SKIP: usize = 10_000;

/// Which page of a list to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub limit: usize,
    /// Continue after this sort key (from a cursor).
    pub after: Option<String>,
    /// Entries to pass over first.
    pub skip: usize,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    after: String,
    query: String,
}

impl Page {
    /// Reads `limit`/`take`, `skip` and `cursor` from the query string.
    ///
    /// # Errors
    /// `validation_failed` naming each bad parameter; a cursor that is forged or
    /// belongs to another query is one of them.
    pub fn from_query(
        get: impl Fn(&str) -> Option<String>,
        secret: &[u8],
        fingerprint: &str,
    ) -> Result<Self, ApiError> {
        Self::parse(get, secret, Some(fingerprint), Vec::new())
    }

    /// Adds the problems of `limit`, `take` and `skip` to `errors` from other
    /// parameters, so one 400 names them all (the cursor is judged later, once
    /// the query it belongs to is known).
    pub fn with_errors(get: impl Fn(&str) -> Option<String>, errors: Vec<FieldError>) -> ApiError {
        match Self::parse(get, &[], None, errors) {
            Err(e) => e,
            Ok(_) => unreachable!("errors were given"),
        }
    }

    fn parse(
        get: impl Fn(&str) -> Option<String>,
        secret: &[u8],
        fingerprint: Option<&str>,
        mut errors: Vec<FieldError>,
    ) -> Result<Self, ApiError> {
        let mut number = |name: &str, range: std::ops::RangeInclusive<usize>| -> Option<usize> {
            let raw = get(name)?;
            match raw.parse::<usize>() {
                Ok(n) if range.contains(&n) => Some(n),
                _ => {
                    errors.push(FieldError::new(
                        name,
                        format!("must be a whole number from {} to {}", range.start(), range.end()),
                    ));
                    None
                }
            }
        };
        let limit = number("limit", 1..=100);
        let take = number("take", 1..=100);
        let skip = number("skip", 0..=MAX_SKIP).unwrap_or(0);
        if limit.is_some() && take.is_some() && limit != take {
            errors.push(FieldError::new("take", "is an alias of limit; give one of them"));
        }
        let after = match (get("cursor"), fingerprint) {
            (None, _) | (_, None) => None,
            (Some(c), Some(fingerprint)) => match decode(secret, fingerprint, &c) {
                Some(after) => Some(after),
                None => {
                    errors.push(FieldError::new("cursor", "is not a cursor this list issued; start again without it"));
                    None
                }
            },
        };
        if after.is_some() && skip > 0 {
            errors.push(FieldError::new("skip", "cannot be combined with cursor"));
        }
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        Ok(Self { limit: limit.or(take).unwrap_or(10), after, skip })
    }

    /// The cursor that continues after `after` for the same query.
    pub fn cursor(secret: &[u8], fingerprint: &str, after: &str) -> String {
        let payload = serde_json::to_vec(&Payload { after: after.into(), query: fingerprint.into() })
            .expect("strings serialize");
        let body = URL_SAFE_NO_PAD.encode(payload);
        let sig = secrets::sign(secret, body.as_bytes());
        format!("{body}.{sig}")
    }
}

fn decode(secret: &[u8], fingerprint: &str, cursor: &str) -> Option<String> {
    let (body, sig) = cursor.split_once('.')?;
    if !secrets::verify(secret, body.as_bytes(), sig) {
        return None;
    }
    let payload: Payload = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()?;
    (payload.query == fingerprint).then_some(payload.after)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn cursor_round_trips_for_the_same_query_only() {
        let c = Page::cursor(b"secret", "partner-a|status=live", "0193");
        let page = Page::from_query(query(&[("cursor", &c)]), b"secret", "partner-a|status=live").unwrap();
        assert_eq!(page.after.as_deref(), Some("0193"));
        assert!(Page::from_query(query(&[("cursor", &c)]), b"secret", "partner-b|status=live").is_err());
        assert!(Page::from_query(query(&[("cursor", &c)]), b"other", "partner-a|status=live").is_err());
        let forged = format!("{}x", c);
        assert!(Page::from_query(query(&[("cursor", &forged)]), b"secret", "partner-a|status=live").is_err());
    }

    #[test]
    fn limits_default_and_bounds_are_enforced() {
        assert_eq!(Page::from_query(query(&[]), b"s", "q").unwrap().limit, 10);
        assert_eq!(Page::from_query(query(&[("take", "5"), ("skip", "3")]), b"s", "q").unwrap(), Page { limit: 5, after: None, skip: 3 });
        for (k, v) in [("limit", "0"), ("limit", "101"), ("take", "x"), ("skip", "10001")] {
            assert!(Page::from_query(query(&[(k, v)]), b"s", "q").is_err(), "{k}={v}");
        }
    }
}
