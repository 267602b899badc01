//! Clientele's shared library: everything the per-operation Lambda functions
//! do, so that each function's `main` is one line of wiring.
//!
//! # Layout
//!
//! - [`config`]: typed settings, read once per cold start.
//! - [`live_secrets`]: the deployment's secrets from Secrets Manager, kept fresh.
//! - [`app`]: the state a function builds once (config, DynamoDB store).
//! - [`http`]: the runner, request reading (body limits, JSON, paging), responses.
//! - [`error`]: the one error type and its RFC 9457 problem+json form.
//! - [`auth`]: credentials → principal, permissions, tenancy.
//! - [`secrets`]: generating, hashing and signing secrets.
//! - [`domain`]: validated values and the records (partners, keys, clients).
//! - [`store`]: the DynamoDB table: key layout, transactions, lists, cursors.
//! - [`dialects`]: the seed APIs served beside `/v1` (representations of the same operations).
//! - [`api`]: one function per route; [`routes`]: the route table (generated).
//! - [`access_policy`]: the keys each function may touch (generated; see [`store::access`]).

pub mod access_policy;
pub mod api;
pub mod app;
pub mod auth;
pub mod config;
pub mod dialects;
pub mod domain;
pub mod error;
pub mod events;
pub mod http;
pub mod jobs;
pub mod live_secrets;
pub mod routes;
pub mod samples;
pub mod secrets;
pub mod store;
pub mod webhooks;

pub use error::ApiError;
pub use http::{run, run_stateless};
pub use lambda_http::Error;
pub use lambda_runtime;

/// Every function's allocator (declared once here, so every binary that links the
/// library gets it): mimalloc spends about half the instructions of glibc's malloc per
/// request (BENCHMARKS.md, "Where a retrieve's instructions go").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
