//! The operations of the API, one `pub async fn` per route, each the whole body
//! of one Lambda function (`functions/<operation>`).

pub mod api_keys;
pub mod clients;
pub mod events;
pub mod licenses;
pub mod lifecycle;
pub mod openapi;
pub mod partners;
pub mod teammates;
pub mod usage;
pub mod webhooks;

use crate::error::ApiError;
use crate::http::{Ctx, Reply};

/// Answers a route that exists with a method it does not support.
///
/// # Errors
/// Always `method_not_allowed`.
pub async fn method_not_allowed(_cx: Ctx) -> Result<Reply, ApiError> {
    Err(ApiError::MethodNotAllowed)
}

/// Answers a path no route serves.
///
/// # Errors
/// Always `not_found`.
pub async fn route_not_found(cx: Ctx) -> Result<Reply, ApiError> {
    Err(ApiError::NotFound(format!("Route {}", cx.req.uri().path())))
}
