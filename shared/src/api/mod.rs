//! The operations of the API, one `pub async fn` per route, each the whole body
//! of one Lambda function (`functions/<operation>`).

pub mod api_keys;
pub mod clients;
pub mod console;
pub mod console_links;
pub mod events;
pub mod licenses;
pub mod lifecycle;
pub mod openapi;
pub mod partners;
pub mod teammates;
pub mod usage;
pub mod webhooks;

use std::future::Future;
use std::time::Duration;

use rand::Rng;

use crate::error::ApiError;
use crate::http::{Ctx, Reply};
use crate::store::Numbered;

/// How often a change without `If-Match` is re-applied when another change won the race.
pub(crate) const MAX_ATTEMPTS: u32 = 64;

/// A record whose every change bumps its `version` (API.md §1, "Concurrency"): a
/// client, a teammate.
pub(crate) trait Versioned {
    fn version(&self) -> u64;
}

/// The one read-change-write loop of a versioned record, as one versioned step.
///
/// `read` reads the record as it is now (404 when it is gone or outside the caller's
/// tree); `change` decides on it what to write (`None`: nothing to change, and the
/// record is the answer), or refuses (its error ends the loop); `write` writes that
/// change on condition that the stored record is still at the version read, answering
/// `version_mismatch` when it is not. With `If-Match` (`expected`), a stale version is
/// a 412 and nothing changes; without it, a concurrent writer makes the change run
/// again on the newer record, read afresh and checked afresh by `change`, so no change
/// is lost or undone and each bumps `version` exactly once.
///
/// # Errors
/// 404, 412, 503 when the record stays contended, or whatever `read`, `change` or
/// `write` return.
pub(crate) async fn versioned<T, N, R, RFut, C, W, WFut>(expected: Option<crate::http::IfMatch>, what: &str, mut read: R, change: C, write: W) -> Result<T, ApiError>
where
    T: Versioned,
    R: FnMut() -> RFut,
    RFut: Future<Output = Result<T, ApiError>>,
    C: Fn(&T) -> Result<Option<N>, ApiError>,
    W: Fn(T, N) -> WFut,
    WFut: Future<Output = Result<T, ApiError>>,
{
    for attempt in 0..MAX_ATTEMPTS {
        let current = read().await?;
        if let Some(m) = &expected {
            m.check(current.version())?;
        }
        let Some(next) = change(&current)? else { return Ok(current) };
        match write(current, next).await {
            Err(ApiError::VersionMismatch { .. }) if expected.is_none() => backoff(attempt).await,
            Err(ApiError::VersionMismatch { .. }) => {
                let latest = read().await?;
                return Err(ApiError::VersionMismatch { current: latest.version() });
            }
            other => return other,
        }
    }
    Err(ApiError::Unavailable(format!("too much contention on one {what}").into()))
}

/// A short, growing, jittered wait before a change runs again on a newer version.
pub(crate) async fn backoff(attempt: u32) {
    let cap = 5u64 << attempt.min(5);
    let wait = rand::thread_rng().gen_range(1..=cap);
    tokio::time::sleep(Duration::from_millis(wait)).await;
}

/// Runs a create with a freshly drawn `number` and the id that goes with it
/// ([`Numbered::id`]), drawing again when the claim in its transaction finds the number
/// taken (rare: see `domain::new_number`).
///
/// # Errors
/// Whatever the create returns; 503 should four draws in a row collide.
pub(crate) async fn with_number<T, F, Fut>(kind: Numbered, mut create: F) -> Result<T, ApiError>
where
    F: FnMut(u64, String) -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    for _ in 0..4 {
        let number = crate::domain::new_number();
        match create(number, kind.id(number)).await {
            Err(ApiError::NumberTaken) => continue,
            other => return other,
        }
    }
    Err(ApiError::NumberTaken)
}

/// The methods the route matching `path` serves, as an `Allow` header value.
fn allowed_methods(path: &str) -> String {
    // A path is matched as it came: `/v1/clients/` is no route (API Gateway routes it to
    // `$default` as well), so it is a 404, not a 405 naming the method it was sent with.
    crate::routes::ROUTES
        .iter()
        .find(|(template, _)| crate::http::route_matches(template, path))
        .map(|(_, methods)| methods.join(", "))
        .unwrap_or_default()
}

/// Answers every request no route takes (on AWS, the HTTP API's one `$default` route):
/// a path that a route serves with other methods is a 405 naming them in `Allow`, any
/// other path a 404.
///
/// # Errors
/// Always `method_not_allowed` or `not_found`.
pub async fn route_not_found(cx: Ctx) -> Result<Reply, ApiError> {
    let path = cx.req.uri().path();
    match allowed_methods(path) {
        allowed if allowed.is_empty() => Err(ApiError::NotFound(format!("Route {path}"))),
        allowed => Err(ApiError::MethodNotAllowed(allowed)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn allow_lists_the_methods_of_the_matching_route() {
        assert_eq!(super::allowed_methods("/v1/partners"), "GET, POST");
        assert_eq!(super::allowed_methods("/v1/clients/abc"), "DELETE, GET, PATCH, PUT");
        assert_eq!(super::allowed_methods("/v1/clients/search"), "GET");
        for unrouted in ["/v1/clients/", "/v1/partners/", "/v1/clients//", "/v1/clients/abc/", "/v1/clients/by-username/"] {
            assert_eq!(super::allowed_methods(unrouted), "", "{unrouted}");
        }
    }
}
