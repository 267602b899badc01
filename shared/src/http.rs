//! The HTTP edge every function shares: [`run`] starts the Lambda runtime with
//! one handler; [`Ctx`] reads a request (ids, path and query parameters, the
//! JSON body within its limits, `If-Match`, the credential); [`Reply`] builds
//! the response. Every response carries `x-request-id`; every error leaves as
//! problem+json through `ApiError::into_problem`.

use std::future::Future;
use std::time::Instant;

use lambda_http::http::{HeaderMap, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response, service_fn};
use serde_json::Value;

use crate::app::App;
use crate::auth::{self, Principal};
use crate::error::ApiError;
use crate::store::Page;

/// The largest request body accepted.
pub const MAX_BODY: usize = 64 * 1024;

/// One request, with the function's shared state.
pub struct Ctx {
    pub app: &'static App,
    pub req: Request,
    pub request_id: String,
}

/// A successful response.
pub struct Reply {
    status: StatusCode,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub fn ok(body: Value) -> Self {
        Self { status: StatusCode::OK, body: Some(body), headers: Vec::new() }
    }

    pub fn created(body: Value, location: String) -> Self {
        Self { status: StatusCode::CREATED, body: Some(body), headers: vec![("location", location)] }
    }

    pub fn accepted(body: Value) -> Self {
        Self { status: StatusCode::ACCEPTED, body: Some(body), headers: Vec::new() }
    }

    pub fn no_content() -> Self {
        Self { status: StatusCode::NO_CONTENT, body: None, headers: Vec::new() }
    }

    /// Adds the `ETag` of a versioned resource.
    pub fn etag(mut self, version: u64) -> Self {
        self.headers.push(("etag", etag(version)));
        self
    }
}

/// The ETag of a resource version.
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// A list response: `{ total, data, nextCursor }`.
pub fn list(total: u64, data: Vec<Value>, next_cursor: Option<String>) -> Reply {
    Reply::ok(serde_json::json!({ "total": total, "data": data, "nextCursor": next_cursor }))
}

fn sane_request_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?.trim();
    let ok = (1..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    ok.then(|| s.to_owned())
}

impl Ctx {
    pub fn headers(&self) -> &HeaderMap {
        self.req.headers()
    }

    pub fn method(&self) -> &Method {
        self.req.method()
    }

    /// An id from the path. Anything that is not an id cannot exist: 404.
    ///
    /// # Errors
    /// `not_found` naming `what`.
    pub fn id_param(&self, name: &str, what: &str) -> Result<String, ApiError> {
        let raw = self.path_param(name).unwrap_or_default();
        if crate::domain::is_id(&raw) { Ok(raw) } else { Err(ApiError::NotFound(format!("{what} {raw}"))) }
    }

    /// A path parameter as routed.
    pub fn path_param(&self, name: &str) -> Option<String> {
        self.req.path_parameters().first(name).map(str::to_owned)
    }

    /// A query-string parameter.
    pub fn query(&self, name: &str) -> Option<String> {
        self.req.query_string_parameters().first(name).map(str::to_owned)
    }

    /// Which page of a list is asked for; `fingerprint` ties cursors to this query.
    ///
    /// # Errors
    /// `validation_failed` for bad `limit`/`take`/`skip` or a foreign cursor.
    pub fn page(&self, fingerprint: &str) -> Result<Page, ApiError> {
        Page::from_query(|n| self.query(n), &self.app.config.cursor_secret, fingerprint)
    }

    /// The cursor that continues a list after `after`.
    pub fn cursor(&self, fingerprint: &str, after: Option<String>) -> Option<String> {
        after.map(|a| Page::cursor(&self.app.config.cursor_secret, fingerprint, &a))
    }

    fn body_bytes(&self) -> &[u8] {
        match self.req.body() {
            Body::Empty => &[],
            Body::Text(t) => t.as_bytes(),
            Body::Binary(b) => b,
            _ => &[],
        }
    }

    /// The JSON body, which this route requires.
    ///
    /// # Errors
    /// 413 over 64 KiB, 415 without a JSON content type, 400 when it is not JSON.
    pub fn json(&self) -> Result<Value, ApiError> {
        let bytes = self.body_bytes();
        if bytes.len() > MAX_BODY {
            return Err(ApiError::PayloadTooLarge);
        }
        if !self.is_json() {
            return Err(ApiError::UnsupportedMediaType);
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::MalformedJson("the body is empty".into()));
        }
        serde_json::from_slice(bytes).map_err(|e| ApiError::MalformedJson(e.to_string()))
    }

    /// The JSON body of a route where it may be left out (`{}` then).
    ///
    /// # Errors
    /// As [`Ctx::json`] when a body is sent.
    pub fn optional_json(&self) -> Result<Value, ApiError> {
        if self.body_bytes().iter().all(u8::is_ascii_whitespace) {
            Ok(Value::Object(Default::default()))
        } else {
            self.json()
        }
    }

    fn is_json(&self) -> bool {
        let Some(ct) = self.headers().get("content-type").and_then(|v| v.to_str().ok()) else { return false };
        let mime = ct.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
    }

    /// The version `If-Match` requires, if any (`*` requires none).
    ///
    /// # Errors
    /// `version_mismatch` for an ETag no version of the resource can have.
    pub fn if_match(&self) -> Result<Option<u64>, ApiError> {
        let Some(raw) = self.headers().get("if-match") else { return Ok(None) };
        let raw = raw.to_str().unwrap_or_default().trim();
        if raw == "*" {
            return Ok(None);
        }
        let tag = raw.strip_prefix("W/").unwrap_or(raw).trim_matches('"');
        tag.parse::<u64>().map(Some).map_err(|_| ApiError::VersionMismatch { current: u64::MAX })
    }

    /// Authenticates the caller.
    ///
    /// # Errors
    /// `unauthenticated` when the credential is missing, bad or revoked.
    pub async fn principal(&self) -> Result<Principal, ApiError> {
        auth::authenticate(self.app, self.headers()).await
    }
}

fn respond(request_id: &str, result: Result<Reply, ApiError>) -> Response<Body> {
    let (status, body, headers, content_type) = match result {
        Ok(reply) => (reply.status, reply.body, reply.headers, "application/json"),
        Err(err) => {
            let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            if status.is_server_error() {
                tracing::error!(request_id, error = %err, "request failed");
            }
            let mut headers = Vec::new();
            if matches!(err, ApiError::Unavailable(_)) {
                headers.push(("retry-after", "1".to_owned()));
            }
            if matches!(err, ApiError::Unauthenticated(_)) {
                headers.push(("www-authenticate", "ApiKey".to_owned()));
            }
            (status, Some(err.into_problem(request_id)), headers, "application/problem+json")
        }
    };
    let mut builder = Response::builder().status(status).header("x-request-id", request_id);
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    let body = match body {
        Some(v) => {
            builder = builder.header("content-type", content_type);
            Body::Text(v.to_string())
        }
        None => Body::Empty,
    };
    builder.body(body).expect("static header names and checked values")
}

/// Sets up logging: JSON lines, level from `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_ansi(false)
        .without_time()
        .try_init();
}

/// Runs one API operation as a Lambda function: builds [`App`] once, then
/// serves every invocation with `handler`.
///
/// # Errors
/// When the configuration is invalid or the runtime fails.
pub async fn run<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(Ctx) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Result<Reply, ApiError>> + Send,
{
    init_tracing();
    let app: &'static App = Box::leak(Box::new(App::from_env().await?));
    lambda_http::run(service_fn(move |req: Request| async move {
        let started = Instant::now();
        let request_id = req
            .headers()
            .get("x-request-id")
            .and_then(sane_request_id)
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        let method = req.method().to_string();
        let path = req.uri().path().to_owned();
        let result = handler(Ctx { app, req, request_id: request_id.clone() }).await;
        let response = respond(&request_id, result);
        tracing::info!(
            request_id,
            method,
            path,
            status = response.status().as_u16(),
            latency_ms = started.elapsed().as_millis() as u64,
            "request"
        );
        Ok::<_, std::convert::Infallible>(response)
    }))
    .await
}
