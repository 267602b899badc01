//! The one error type of the API, and the one place that turns it into
//! RFC 9457 `application/problem+json`.
//!
//! Handlers return `Result<_, ApiError>`; `crate::http` calls [`ApiError::into_problem`]
//! once per failed request. 5xx bodies carry the request id only: their cause chain
//! goes to the log, never to the caller.

use serde::Serialize;
use serde_json::{Value, json};

/// One invalid field of a request, as listed in a problem's `errors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// The unique value a conflicting write collided with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    Name,
    Email,
    Username,
    /// A product's slug: its unique name (so `name_taken`), in the field `slug`.
    Slug,
}

impl Taken {
    /// The field whose value is taken.
    fn field(&self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Email => "email",
            Self::Username => "username",
            Self::Slug => "slug",
        }
    }
}

/// The `current` of a version mismatch whose `If-Match` names no version at all.
pub const NO_VERSION: u64 = u64::MAX;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("unauthenticated: {0}")]
    Unauthenticated(&'static str),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// The route exists; these methods are what it serves (the `Allow` header).
    #[error("method not allowed")]
    MethodNotAllowed(String),
    #[error("{what:?} already taken: {value}")]
    Taken { what: Taken, value: String },
    #[error("invalid transition: {0}")]
    InvalidTransition(String),
    #[error("idempotency conflict")]
    IdempotencyConflict,
    #[error("version mismatch")]
    VersionMismatch { current: u64 },
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("idempotency key reused")]
    IdempotencyKeyReused,
    #[error("quota exceeded: {0}")]
    QuotaExceeded(String),
    /// Too many wrong passwords for one username from one address, or from one address
    /// over any usernames (API.md §5a): retry after this many seconds.
    #[error("too many attempts")]
    RateLimited { retry_after: i64 },
    #[error("store unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A create drew a `number` another record holds (odds 1 in 4096 within one
    /// millisecond): the create draws again (`api::with_number`); shown, should it ever
    /// escape, as a 503 to retry.
    #[error("the drawn number is taken")]
    NumberTaken,
}

/// An error and every cause under it, for the log (`a: b: c`): a 5xx's log line must
/// say why, while its response says nothing.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        let next = c.to_string();
        // Some errors repeat their source's text in their own; say each thing once.
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = c.source();
    }
    text
}

impl ApiError {
    /// A 400 for a single field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    /// A 500 from any cause; the cause is logged, never shown.
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(cause.into())
    }

    pub fn status(&self) -> u16 {
        match self {
            Self::Validation(_) | Self::MalformedJson(_) => 400,
            Self::Unauthenticated(_) => 401,
            Self::Forbidden(_) => 403,
            Self::NotFound(_) => 404,
            Self::MethodNotAllowed(_) => 405,
            Self::Taken { .. }
            | Self::InvalidTransition(_)
            | Self::IdempotencyConflict => 409,
            Self::VersionMismatch { .. } => 412,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::IdempotencyKeyReused => 422,
            Self::QuotaExceeded(_) | Self::RateLimited { .. } => 429,
            Self::Internal(_) => 500,
            Self::Unavailable(_) | Self::NumberTaken => 503,
        }
    }

    /// The stable `errorCode`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation(_) => "validation_failed",
            Self::MalformedJson(_) => "malformed_json",
            Self::Unauthenticated(_) => "unauthenticated",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::Taken { what: Taken::Name | Taken::Slug, .. } => "name_taken",
            Self::Taken { what: Taken::Email, .. } => "email_taken",
            Self::Taken { what: Taken::Username, .. } => "username_taken",
            Self::InvalidTransition(_) => "invalid_transition",
            Self::IdempotencyConflict => "idempotency_conflict",
            Self::VersionMismatch { .. } => "version_mismatch",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::QuotaExceeded(_) => "quota_exceeded",
            Self::RateLimited { .. } => "rate_limited",
            Self::Internal(_) => "internal",
            Self::Unavailable(_) | Self::NumberTaken => "unavailable",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::Validation(_) => "Request validation failed",
            Self::MalformedJson(_) => "Malformed JSON",
            Self::Unauthenticated(_) => "Authentication required",
            Self::Forbidden(_) => "Permission denied",
            Self::NotFound(_) => "Not found",
            Self::MethodNotAllowed(_) => "Method not allowed",
            Self::Taken { what: Taken::Name, .. } => "Name already in use",
            Self::Taken { what: Taken::Email, .. } => "Email already in use",
            Self::Taken { what: Taken::Username, .. } => "Username already in use",
            Self::Taken { what: Taken::Slug, .. } => "Slug already in use",
            Self::InvalidTransition(_) => "Invalid status transition",
            Self::IdempotencyConflict => "Request with this idempotency key is still in progress",
            Self::VersionMismatch { .. } => "Version mismatch",
            Self::PayloadTooLarge => "Payload too large",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::IdempotencyKeyReused => "Idempotency key reused with a different request",
            Self::QuotaExceeded(_) => "Quota exceeded",
            Self::RateLimited { .. } => "Too many attempts",
            Self::Internal(_) => "Internal error",
            Self::Unavailable(_) | Self::NumberTaken => "Service unavailable",
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::Validation(errors) => {
                let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
                format!("Invalid fields: {}.", fields.join(", "))
            }
            Self::MalformedJson(why) => format!("The request body is not valid JSON: {why}."),
            Self::Unauthenticated(why) => format!("{why}."),
            Self::Forbidden(why) => format!("{why}."),
            // What was not found may echo the caller's input: never a secret, even sent by mistake.
            Self::NotFound(what) => format!("{} was not found.", crate::dialects::redact(what)),
            Self::MethodNotAllowed(allowed) => format!("This route serves {allowed}."),
            Self::Taken { what, value } => format!("A record with {} {value} already exists.", what.field()),
            Self::InvalidTransition(why) | Self::QuotaExceeded(why) => {
                format!("{why}.")
            }
            Self::IdempotencyConflict => {
                "A request with this Idempotency-Key is still being processed; retry later.".into()
            }
            Self::VersionMismatch { current: NO_VERSION } => "If-Match does not name a version of this resource.".into(),
            Self::VersionMismatch { current } => {
                format!("If-Match does not match the current version (ETag \"{current}\").")
            }
            Self::PayloadTooLarge => "Request bodies are limited to 64 KiB.".into(),
            Self::RateLimited { retry_after } => {
                format!("Too many wrong passwords for this username or from this address; try again in {retry_after} seconds.")
            }
            Self::UnsupportedMediaType => {
                "Send request bodies as JSON with Content-Type: application/json.".into()
            }
            Self::IdempotencyKeyReused => {
                "This Idempotency-Key was used with a different request body.".into()
            }
            Self::Internal(_) => "Something went wrong on our side; quote the requestId.".into(),
            Self::Unavailable(_) | Self::NumberTaken => "The service is temporarily unavailable; retry shortly.".into(),
        }
    }

    /// The problem+json body for this error.
    pub fn into_problem(&self, request_id: &str) -> Value {
        let code = self.code();
        let mut body = json!({
            "type": format!("https://clientele.dev/errors/{code}"),
            "title": self.title(),
            "status": self.status(),
            "detail": self.detail(),
            "errorCode": code,
            "requestId": request_id,
        });
        let errors = match self {
            Self::Validation(errors) => Some(errors.clone()),
            Self::Taken { what, .. } => Some(vec![FieldError::new(what.field(), "is already in use")]),
            _ => None,
        };
        if let Some(errors) = errors {
            body["errors"] = json!(errors);
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_problem_lists_every_field() {
        let err = ApiError::Validation(vec![
            FieldError::new("email", "is not a valid email address"),
            FieldError::new("name", "must not be empty"),
        ]);
        let body = err.into_problem("req-1");
        assert_eq!(body["status"], 400);
        assert_eq!(body["errorCode"], "validation_failed");
        assert_eq!(body["requestId"], "req-1");
        assert_eq!(body["errors"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn the_logged_chain_names_every_cause() {
        let io = std::io::Error::other("connection reset by peer");
        let err = ApiError::Unavailable(Box::new(io));
        assert_eq!(chain(&err), "store unavailable: connection reset by peer");
    }

    #[test]
    fn internal_problem_hides_its_cause() {
        let err = ApiError::internal("table clientele-secret exploded");
        let text = err.into_problem("r").to_string();
        assert!(!text.contains("exploded"), "{text}");
        assert!(text.contains("\"internal\""));
    }
}
