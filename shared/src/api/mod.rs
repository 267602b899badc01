//! The operations of the API, one `pub async fn` per route, each the whole body
//! of one Lambda function (`functions/<operation>`).

pub mod api_keys;
pub mod clients;
pub mod console;
pub mod events;
pub mod licenses;
pub mod lifecycle;
pub mod openapi;
pub mod partners;
pub mod teammates;
pub mod usage;
pub mod webhooks;

use std::future::Future;

use crate::error::ApiError;
use crate::http::{Ctx, Reply};
use crate::store::Numbered;

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

/// Answers a route that exists with a method it does not support.
///
/// # Errors
/// Always `method_not_allowed`.
pub async fn method_not_allowed(cx: Ctx) -> Result<Reply, ApiError> {
    Err(ApiError::MethodNotAllowed(allowed_methods(cx.req.uri().path())))
}

/// The methods the route matching `path` serves, as an `Allow` header value.
fn allowed_methods(path: &str) -> String {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    crate::routes::ROUTES
        .iter()
        .find(|(template, _)| {
            let parts: Vec<&str> = template.split('/').collect();
            parts.len() == segments.len()
                && parts.iter().zip(&segments).all(|(t, s)| (t.starts_with('{') && !s.is_empty()) || t == s)
        })
        .map(|(_, methods)| methods.join(", "))
        .unwrap_or_default()
}

/// Answers a path no route serves.
///
/// # Errors
/// Always `not_found`.
pub async fn route_not_found(cx: Ctx) -> Result<Reply, ApiError> {
    Err(ApiError::NotFound(format!("Route {}", cx.req.uri().path())))
}

#[cfg(test)]
mod tests {
    #[test]
    fn allow_lists_the_methods_of_the_matching_route() {
        assert_eq!(super::allowed_methods("/v1/partners"), "GET, POST");
        assert_eq!(super::allowed_methods("/v1/clients/abc"), "DELETE, GET, PATCH, PUT");
        assert_eq!(super::allowed_methods("/v1/clients/search"), "GET");
    }
}
