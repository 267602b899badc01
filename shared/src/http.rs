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
use crate::auth::{self, Principal, Source};
use crate::error::{ApiError, FieldError};
use crate::secrets;
use crate::store::Page;
use crate::store::idempotency::{IdempotencyClaim, StoredResponse};

/// The largest request body accepted.
pub const MAX_BODY: usize = 64 * 1024;

/// Every request answers within this (API.md §5a: 10 s), under Lambda's timeout.
pub const REQUEST_DEADLINE: std::time::Duration = std::time::Duration::from_secs(9);

/// The versions an `If-Match` header admits: one strong entity tag or a list of them
/// (RFC 9110 §13.1.1). A weak tag (`W/"1"`) or one that is no version matches none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfMatch(Vec<u64>);

impl IfMatch {
    /// `None` for `*` (any version goes). A header that names no version at all admits
    /// none: the change is then a 412, but only once the resource is found (another
    /// tenant's is a 404 whatever its `If-Match`).
    ///
    /// # Errors
    /// None today; the signature keeps room for a header that cannot be read at all.
    pub fn parse(raw: &str) -> Result<Option<Self>, ApiError> {
        let raw = raw.trim();
        if raw == "*" {
            return Ok(None);
        }
        let versions: Vec<u64> = raw
            .split(',')
            .map(str::trim)
            .filter(|tag| !tag.starts_with("W/"))
            .map(|tag| tag.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(tag))
            // A tag is the version as its ETag writes it, to the letter: `"3"`, never
            // `"+3"` or `"03"` (strong comparison is of the tags, not of numbers).
            .filter(|digits| digits.bytes().all(|b| b.is_ascii_digit()) && (*digits == "0" || !digits.starts_with('0')))
            .filter_map(|digits| digits.parse().ok())
            .collect();
        Ok(Some(Self(versions)))
    }

    /// Whether a resource at `version` meets the condition.
    pub fn admits(&self, version: u64) -> bool {
        self.0.contains(&version)
    }

    /// Meets the condition at `version`, or says why not.
    ///
    /// # Errors
    /// `version_mismatch` (412): naming the current version, or saying that the header
    /// names no version at all.
    pub fn check(&self, version: u64) -> Result<(), ApiError> {
        match (self.admits(version), self.0.is_empty()) {
            (true, _) => Ok(()),
            (false, true) => Err(ApiError::VersionMismatch { current: crate::error::NO_VERSION }),
            (false, false) => Err(ApiError::VersionMismatch { current: version }),
        }
    }
}

/// One request, with the function's shared state.
pub struct Ctx {
    pub app: &'static App,
    pub req: Request,
    pub request_id: String,
    /// The caller, when the idempotency layer has already authenticated it (so a
    /// Basic password is verified once per request, not twice).
    principal: Option<Principal>,
}

/// A successful response.
pub struct Reply {
    status: StatusCode,
    body: Option<Content>,
    headers: Vec<(&'static str, String)>,
}

/// What a reply carries: JSON, or a file compiled into the function (the console's).
enum Content {
    Json(Value),
    Static { content_type: &'static str, text: &'static str },
}

impl Reply {
    pub fn ok(body: Value) -> Self {
        Self { status: StatusCode::OK, body: Some(Content::Json(body)), headers: Vec::new() }
    }

    pub fn created(body: Value, location: String) -> Self {
        Self { status: StatusCode::CREATED, body: Some(Content::Json(body)), headers: vec![("location", location)] }
    }

    /// A 201 for something created that has no URL of its own (a console link, a product).
    pub fn created_here(body: Value) -> Self {
        Self { status: StatusCode::CREATED, body: Some(Content::Json(body)), headers: Vec::new() }
    }

    pub fn accepted(body: Value) -> Self {
        Self { status: StatusCode::ACCEPTED, body: Some(Content::Json(body)), headers: Vec::new() }
    }

    /// A 200 with a static text file of the given content type.
    pub fn file(content_type: &'static str, text: &'static str) -> Self {
        Self { status: StatusCode::OK, body: Some(Content::Static { content_type, text }), headers: Vec::new() }
    }

    /// A status without a body.
    pub fn empty(status: u16) -> Self {
        Self { status: StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body: None, headers: Vec::new() }
    }

    pub fn no_content() -> Self {
        Self { status: StatusCode::NO_CONTENT, body: None, headers: Vec::new() }
    }

    /// Adds a member to the JSON body (e.g. a secret shown once).
    pub fn with_field(mut self, name: &str, value: Value) -> Self {
        if let Some(Content::Json(Value::Object(body))) = &mut self.body {
            body.insert(name.to_owned(), value);
        }
        self
    }

    /// Adds a response header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Adds the `ETag` of a versioned resource.
    pub fn etag(mut self, version: u64) -> Self {
        self.headers.push(("etag", etag(version)));
        self
    }

    /// Marks a reply that shows a secret (a key, a token, a signing secret shown once):
    /// `Cache-Control: no-store`, so that no cache on the way keeps it (API.md §5a).
    pub fn no_store(mut self) -> Self {
        self.headers.push(("cache-control", "no-store".into()));
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

    /// Where the request came from, as API Gateway saw it ([`Source`]): never a header.
    pub fn source(&self) -> Source {
        Source::from_context(self.req.request_context_ref())
    }

    /// An id from the path. Anything that is not an id cannot exist: 404.
    ///
    /// # Errors
    /// `not_found` naming `what`.
    pub fn id_param(&self, name: &str, what: &str) -> Result<String, ApiError> {
        let raw = self.path_param(name).unwrap_or_default();
        if crate::domain::is_id(&raw) { Ok(raw) } else { Err(ApiError::NotFound(format!("{what} {raw}"))) }
    }

    /// The API this request speaks (`/v1` or a seed dialect), told by its path.
    pub fn dialect(&self) -> crate::dialects::Dialect {
        crate::dialects::Dialect::of(self.req.uri().path())
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
        body_of(&self.req)
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

    /// For a route that takes no fields: no body, or a JSON object without members.
    /// Anything else is refused as a body of any route is (malformed JSON 400, another
    /// media type 415, a member 400 naming it), rather than ignored.
    ///
    /// # Errors
    /// As [`Ctx::json`]; `validation_failed` naming every member sent.
    pub fn no_fields(&self) -> Result<(), ApiError> {
        crate::domain::fields::Fields::from_body(self.optional_json()?)?.finish()
    }

    fn is_json(&self) -> bool {
        let Some(ct) = self.headers().get("content-type").and_then(|v| v.to_str().ok()) else { return false };
        let mime = ct.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
    }

    /// The versions `If-Match` admits, if it names any (`*` requires none).
    ///
    /// # Errors
    /// `version_mismatch` for an `If-Match` that names no version the resource can have.
    pub fn if_match(&self) -> Result<Option<IfMatch>, ApiError> {
        let Some(raw) = self.headers().get("if-match") else { return Ok(None) };
        IfMatch::parse(raw.to_str().unwrap_or_default())
    }

    /// For a change of a resource that carries no version (a partner, an API key): an
    /// `If-Match` other than `*` names a version it cannot have, so its condition is
    /// false (RFC 9110 §13.1.1) and nothing changes, rather than the header being ignored.
    ///
    /// # Errors
    /// `version_mismatch` (412) for an `If-Match` naming any version.
    pub fn unversioned(&self) -> Result<(), ApiError> {
        match self.if_match()? {
            Some(_) => Err(ApiError::VersionMismatch { current: crate::error::NO_VERSION }),
            None => Ok(()),
        }
    }

    /// Authenticates the caller.
    ///
    /// # Errors
    /// `unauthenticated` when the credential is missing, bad or revoked.
    pub async fn principal(&self) -> Result<Principal, ApiError> {
        let who = match &self.principal {
            Some(p) => p.clone(),
            None => auth::authenticate(self.app, self.headers(), &self.source()).await?,
        };
        declared_query(&self.req)?;
        Ok(who)
    }

    /// Authenticates the caller while `also` reads what the request needs, given the
    /// caller's list scope ([`auth::authenticate_and`]: one sequential round trip fewer).
    ///
    /// # Errors
    /// As [`Ctx::principal`]; what `also` returned comes back as it came.
    pub async fn principal_and<T, F, Fut>(&self, also: F) -> Result<(Principal, Result<T, ApiError>), ApiError>
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let (who, found) = match &self.principal {
            Some(p) => {
                let found = also(p.scope().to_owned()).await;
                (p.clone(), found)
            }
            None => auth::authenticate_and(self.app, self.headers(), &self.source(), also).await?,
        };
        declared_query(&self.req)?;
        Ok((who, found))
    }

    /// The caller and the raw items of `extra` (keys with sort key `#`), read with its
    /// partner chain in one call where the credential allows ([`auth::authenticate_with_items`]).
    ///
    /// # Errors
    /// As [`Ctx::principal`]; the items' read comes back as it came.
    pub async fn principal_with_items(&self, extra: Vec<String>) -> Result<(Principal, Result<Vec<crate::store::Item>, ApiError>), ApiError> {
        let (who, items) = match &self.principal {
            Some(p) => (p.clone(), self.app.store.batch_get_items(&extra).await),
            None => auth::authenticate_with_items(self.app, self.headers(), &self.source(), extra).await?,
        };
        declared_query(&self.req)?;
        Ok((who, items))
    }

    /// [`Ctx::principal_with_items`] and [`Ctx::principal_and`] at once
    /// ([`auth::authenticate_with_items_and`]).
    ///
    /// # Errors
    /// As [`Ctx::principal`]; the items' read and `also` come back as they came.
    pub async fn principal_with_items_and<T, F, Fut>(
        &self,
        extra: Vec<String>,
        also: F,
    ) -> Result<(Principal, Result<Vec<crate::store::Item>, ApiError>, Result<T, ApiError>), ApiError>
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let (who, items, found) = match &self.principal {
            Some(p) => {
                let (items, found) = tokio::join!(self.app.store.batch_get_items(&extra), also(p.scope().to_owned()));
                (p.clone(), items, found)
            }
            None => auth::authenticate_with_items_and(self.app, self.headers(), &self.source(), extra, also).await?,
        };
        declared_query(&self.req)?;
        Ok((who, items, found))
    }

    /// The caller, if `allowed` (its permission), the id its path names (`id`, as parsed), and the
    /// record of that id, which `read` reads beside the caller's partner chain
    /// ([`Ctx::principal_and`]). Errors come in the order of a request's checks: the
    /// credential, the permission, then the path.
    ///
    /// # Errors
    /// 401, 403, the path's error, or the store's.
    pub async fn caller_and_record<T, F, Fut>(
        &self,
        allowed: impl FnOnce(&Principal) -> Result<(), ApiError>,
        id: Result<String, ApiError>,
        read: F,
    ) -> Result<(Principal, String, Option<T>), ApiError>
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<Option<T>, ApiError>>,
    {
        let wanted = id.as_ref().ok().cloned();
        let (who, found) = self
            .principal_and(|_| async move {
                match wanted {
                    Some(id) => read(id).await,
                    None => Ok(None),
                }
            })
            .await?;
        allowed(&who)?;
        Ok((who, id?, found?))
    }
}

/// A JSON value as text, written straight into its buffer: `Value`'s `Display` goes through
/// a formatter, a call per piece (measured: 15 000 more instructions for a client's answer,
/// 117 000 for a page of ten).
fn json_text(v: &Value) -> String {
    // Writing a `Value` cannot fail (its keys are strings); `Display` is the same text.
    serde_json::to_string(v).unwrap_or_else(|_| v.to_string())
}

fn respond(request_id: &str, result: Result<Reply, ApiError>) -> Response<Body> {
    let (status, body, headers) = match result {
        Ok(reply) => {
            let body = reply.body.map(|content| match content {
                Content::Json(v) => ("application/json", json_text(&v)),
                Content::Static { content_type, text } => (content_type, text.to_owned()),
            });
            (reply.status, body, reply.headers)
        }
        Err(err) => {
            let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            if status.is_server_error() {
                tracing::error!(request_id, status = status.as_u16(), error = %crate::error::chain(&err), "request failed");
            }
            let mut headers = Vec::new();
            if matches!(err, ApiError::Unavailable(_) | ApiError::NumberTaken) {
                headers.push(("retry-after", "1".to_owned()));
            }
            if let ApiError::RateLimited { retry_after } = &err {
                headers.push(("retry-after", retry_after.to_string()));
            }
            if let ApiError::MethodNotAllowed(allowed) = &err {
                headers.push(("allow", allowed.clone()));
            }
            if matches!(err, ApiError::Unauthenticated(_)) {
                headers.push(("www-authenticate", "ApiKey".to_owned()));
            }
            (status, Some(("application/problem+json", json_text(&err.into_problem(request_id)))), headers)
        }
    };
    let mut builder = Response::builder().status(status).header("x-request-id", request_id);
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    let body = match body {
        Some((content_type, text)) => {
            builder = builder.header("content-type", content_type);
            Body::Text(text)
        }
        None => Body::Empty,
    };
    builder.body(body).expect("static header names and checked values")
}

/// Seed 001 speaks its own error body (`dialects::partner_api::error`), as JSON: a
/// problem+json answer is rewritten so, status and headers kept.
fn partner_api_error(response: Response<Body>) -> Response<Body> {
    let is_problem = response.headers().get("content-type").is_some_and(|v| v.as_bytes() == b"application/problem+json");
    if !is_problem {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let problem: Value = match &body {
        Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::Null),
        Body::Binary(b) => serde_json::from_slice(b).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    parts.headers.insert("content-type", HeaderValue::from_static("application/json"));
    Response::from_parts(parts, Body::Text(crate::dialects::partner_api::error(&problem).to_string()))
}

/// Sets up logging: JSON lines, level from `RUST_LOG` (default `info`).
pub fn init_tracing() {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    // `RUST_LOG` as `level` or `target=level,...`; `Targets` parses it without the
    // regex engine `EnvFilter` would link into every function.
    let filter: tracing_subscriber::filter::Targets =
        std::env::var("RUST_LOG").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| "info".parse().expect("a level"));
    let format = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(false)
        .with_ansi(false)
        .without_time();
    let _ = tracing_subscriber::registry().with(filter).with(format).try_init();
}

/// Runs one API operation as a Lambda function: builds [`App`] once, then
/// serves every invocation with `handler`, through the idempotency layer ([`serve`]).
///
/// # Errors
/// When the configuration is invalid or the runtime fails.
pub async fn run<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(Ctx) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Result<Reply, ApiError>> + Send,
{
    run_with(handler, Layer::Idempotent).await
}

/// [`run`] for a function that keeps no state and may not read the table (the
/// catch-all route, the OpenAPI document, the console's files): no idempotency layer,
/// which would look the caller's credential up in a table it may not read; a repeat
/// of its answer is the same answer anyway.
///
/// # Errors
/// As [`run`].
pub async fn run_stateless<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(Ctx) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Result<Reply, ApiError>> + Send,
{
    run_with(handler, Layer::Stateless).await
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Layer {
    Idempotent,
    Stateless,
}

async fn run_with<F, Fut>(handler: F, layer: Layer) -> Result<(), lambda_http::Error>
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
        let dialect = crate::dialects::Dialect::of(req.uri().path());
        let deprecated = crate::dialects::deprecated(req.uri().path());
        // Never a secret in a log line: a path that carries one is logged as its route.
        let path = crate::dialects::loggable_path(req.uri().path());
        // A request answers within its deadline whatever the store does: past it, a 503
        // the caller may retry (each DynamoDB call has its own timeouts too; this bounds
        // a request that makes several). A write in flight is one transaction: applied
        // whole or not at all.
        let served = async {
            match layer {
                Layer::Idempotent => serve(app, req, &request_id, handler).await,
                Layer::Stateless if body_of(&req).len() > MAX_BODY => respond(&request_id, Err(ApiError::PayloadTooLarge)),
                Layer::Stateless => respond(&request_id, handler(Ctx { app, req, request_id: request_id.clone(), principal: None }).await),
            }
        };
        let response = match tokio::time::timeout(REQUEST_DEADLINE, served).await {
            Ok(response) => response,
            Err(_) => respond(&request_id, Err(ApiError::Unavailable("the request outlasted its deadline".into()))),
        };
        let mut response = if dialect == crate::dialects::Dialect::PartnerApi { partner_api_error(response) } else { response };
        harden(&mut response);
        // A deprecated route says so, and names its successor, on every answer (errors too).
        if let Some(successor) = deprecated {
            response.headers_mut().insert("deprecation", HeaderValue::from_static("true"));
            if let Ok(link) = HeaderValue::from_str(&format!("<{successor}>; rel=\"successor-version\"")) {
                response.headers_mut().insert("link", link);
            }
        }
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

/// Headers every response carries (API.md §5a): no content sniffing, and HTTPS only
/// from the first answer on (the API is served over HTTPS on AWS; browsers ignore
/// the header over plain HTTP, as on a local stack).
pub fn harden(response: &mut Response<Body>) {
    let headers = response.headers_mut();
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("strict-transport-security", HeaderValue::from_static("max-age=31536000; includeSubDomains"));
}

/// One request: through the idempotency layer when it is a POST carrying an
/// `Idempotency-Key`, else straight to the handler.
///
/// A body over [`MAX_BODY`] is refused first, before anything reads it, whatever the
/// request's headers say. The idempotency layer then authenticates: a credential that
/// no longer works (a revoked key, a suspended partner, a removed teammate) gets 401,
/// never a replay; a request without a credential claims no record at all; on the
/// public license routes the credential is the license key in the body, taken as the
/// record's owner only once it is known to be a license's. Records are per principal,
/// so nobody sees another's responses; and what is kept is sealed, since a first
/// response may carry a secret shown once.
pub async fn serve<F, Fut>(app: &'static App, req: Request, request_id: &str, handler: F) -> Response<Body>
where
    F: Fn(Ctx) -> Fut,
    Fut: Future<Output = Result<Reply, ApiError>>,
{
    // Boxed: the handler's future is deep already, and callers that run many handlers
    // in one task (the load run) would otherwise reach the compiler's layout depth limit.
    let mut response = Box::pin(serve_once(app, req, request_id, handler)).await;
    harden(&mut response);
    response
}

/// Whether `path`, as it came, is one the route `template` (`/v1/clients/{clientId}`) serves:
/// segment by segment, a `{name}` taking any non-empty one. `/v1/clients/` is no route (API
/// Gateway sends it to `$default` too).
pub(crate) fn route_matches(template: &str, path: &str) -> bool {
    let (mut parts, mut segments) = (template.split('/'), path.split('/'));
    loop {
        match (parts.next(), segments.next()) {
            (None, None) => return true,
            (Some(t), Some(s)) if t == s || (t.starts_with('{') && !s.is_empty()) => {}
            _ => return false,
        }
    }
}

/// A `/v1` route takes the query parameters its OpenAPI operation declares
/// ([`crate::routes::QUERY`]), each once: as an unknown body member is (API.md §1), a
/// misspelt filter (`?staus=live`) or a repeated one is refused rather than ignored, so a
/// list that looks filtered always is. Checked once the caller is authenticated (a bad
/// credential is a 401 first), on every route that takes a credential; the public ones
/// and the dialects' routes are left as they were.
///
/// # Errors
/// `validation_failed` naming each parameter the route does not take or got twice.
fn declared_query(req: &Request) -> Result<(), ApiError> {
    let params = req.query_string_parameters();
    if params.is_empty() {
        return Ok(());
    }
    // Kept small (plain loops, no sorting): every function binary links it.
    let (method, path) = (req.method().as_str(), req.uri().path());
    let routes = || crate::routes::QUERY.iter().filter(|(m, template, _)| *m == method && route_matches(template, path));
    // The most literal templates that match (`/v1/clients/search` before
    // `/v1/clients/{clientId}`); of equally literal ones (`/v1/clients/by-username/licenses`
    // is two), a parameter any of them takes is taken.
    let Some(fewest) = routes().map(|(_, template, _)| template.matches('{').count()).min() else {
        return Ok(());
    };
    let literal = || routes().filter(|(_, template, _)| template.matches('{').count() == fewest);
    let mut errors: Vec<FieldError> = Vec::new();
    for (i, (name, _)) in params.iter().enumerate() {
        if params.iter().take(i).any(|(seen, _)| seen == name) {
            continue;
        }
        if !literal().any(|(_, _, takes)| takes.contains(&name)) {
            errors.push(FieldError::new(name, "is not a query parameter of this route (GET /v1/openapi.json lists each route's)"));
        } else if params.all(name).is_some_and(|values| values.len() > 1) {
            errors.push(FieldError::new(name, "is given more than once; give it once"));
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(ApiError::Validation(errors)) }
}

async fn serve_once<F, Fut>(app: &'static App, req: Request, request_id: &str, handler: F) -> Response<Body>
where
    F: Fn(Ctx) -> Fut,
    Fut: Future<Output = Result<Reply, ApiError>>,
{
    let ctx = |req, principal| Ctx { app, req, request_id: request_id.to_owned(), principal };
    if body_of(&req).len() > MAX_BODY {
        return respond(request_id, Err(ApiError::PayloadTooLarge));
    }
    // A console link's exchange keeps no record: its token is its credential and works once
    // (API.md §5b), so a repeat is 401, whatever other credential the request carries.
    let key = match idempotency_key(&req) {
        Ok(Some(_)) if req.uri().path() == CONSOLE_LINK_EXCHANGE => return respond(request_id, handler(ctx(req, None)).await),
        Ok(Some(key)) => key,
        Ok(None) => return respond(request_id, handler(ctx(req, None)).await),
        Err(e) => return respond(request_id, Err(e)),
    };
    let (owner, principal) = if PUBLIC_LICENSE_ROUTES.contains(&req.uri().path()) {
        // The public license routes: the license key in the body is the credential, and
        // only a key that is a license's owns a record. Any other request (no key, an
        // unknown one, a body that does not parse) goes to its handler, which refuses
        // it; nothing is remembered. An API key sent along is not looked up: these
        // functions may not read API keys at all.
        let Some(license_key) = body_license_key(&req) else {
            return respond(request_id, handler(ctx(req, None)).await);
        };
        let hash = secrets::sha256_hex(&license_key);
        match app.store.license_key_known(&hash).await {
            Ok(true) => (format!("LicenseKey:{hash}"), None),
            Ok(false) => return respond(request_id, handler(ctx(req, None)).await),
            Err(e) => return respond(request_id, Err(e)),
        }
    } else if has_credential(&req) {
        match auth::authenticate(app, req.headers(), &Source::from_context(req.request_context_ref())).await {
            Ok(p) => (format!("{:?}:{}", p.actor.kind, p.actor.id), Some(p)),
            Err(e) => return respond(request_id, Err(e)),
        }
    } else {
        // No credential at all: the handler refuses it; nothing to remember.
        return respond(request_id, handler(ctx(req, None)).await);
    };
    let idem = Idempotent::new(app, &owner, &key, &req);
    let now = chrono::Utc::now().timestamp();
    let mut claim = app.store.claim_idempotent(&idem.scope, &idem.fingerprint, now).await;
    // A stored response is replayed if it opens and may still be (a token: while it
    // works). One that may not is forgotten, only while it is still the one read (a
    // concurrent repeat may have replaced it), and the record is read again: twice at
    // most, then a repeat still finding one is told to try again (409).
    for _ in 0..2 {
        let Ok(IdempotencyClaim::Replay(sealed)) = &claim else { break };
        let released = match idem.open(sealed) {
            Some(stored) if still_good(app, req.uri().path(), &stored).await => return replay(request_id, stored),
            // A token issued first and ended since (its teammate's password changed):
            // replaying it would hand out a dead credential.
            Some(_) => app.store.release_replay(&idem.scope, sealed).await,
            // Sealed under a secret since rotated: unreadable, so it is as if forgotten.
            None => {
                tracing::warn!(request_id, "an idempotency record does not open with its key; running the request again");
                app.store.release_replay(&idem.scope, sealed).await
            }
        };
        claim = match released {
            Ok(_) => app.store.claim_idempotent(&idem.scope, &idem.fingerprint, now).await,
            Err(e) => Err(e),
        };
    }
    match claim {
        Err(e) => respond(request_id, Err(e)),
        Ok(IdempotencyClaim::Mismatch) => respond(request_id, Err(ApiError::IdempotencyKeyReused)),
        Ok(IdempotencyClaim::InProgress | IdempotencyClaim::Replay(_)) => respond(request_id, Err(ApiError::IdempotencyConflict)),
        Ok(IdempotencyClaim::Fresh) => {
            let response = respond(request_id, handler(ctx(req, principal)).await);
            // A failure on our side is not remembered: the caller's retry runs again.
            let kept = if response.status().is_server_error() {
                app.store.release_idempotent(&idem.scope).await
            } else {
                match idem.seal(&stored(&response)) {
                    Ok(sealed) => app.store.finish_idempotent(&idem.scope, &idem.fingerprint, now, sealed).await,
                    Err(e) => Err(e),
                }
            };
            if let Err(e) = kept {
                tracing::error!(request_id, error = %crate::error::chain(&e), "could not record the idempotent response");
            }
            response
        }
    }
}

/// Whether a stored response may be replayed as it is: a token `POST /v1/auth/token`
/// issued must still authenticate (nothing else a replay shows is a credential that can
/// end: an API key shown once is the key as created, revoked or not).
async fn still_good(app: &App, path: &str, stored: &StoredResponse) -> bool {
    if path != TOKEN_ROUTE || stored.status != 200 {
        return true;
    }
    let token = stored.body.as_deref().and_then(|b| serde_json::from_str::<Value>(b).ok()).and_then(|v| v["token"].as_str().map(str::to_owned));
    let Some(header) = token.and_then(|t| HeaderValue::from_str(&format!("Bearer {t}")).ok()) else { return false };
    let mut headers = HeaderMap::new();
    headers.insert("authorization", header);
    // A bearer token is checked without the guessing limits: its source does not count.
    auth::authenticate(app, &headers, &Source::parse(None)).await.is_ok()
}

const TOKEN_ROUTE: &str = "/v1/auth/token";

/// The routes whose credential is the license key in the body.
const CONSOLE_LINK_EXCHANGE: &str = "/v1/console-links/exchange";
const PUBLIC_LICENSE_ROUTES: [&str; 2] = ["/v1/licenses/activate", "/v1/licenses/deactivate"];

/// One idempotent request's record key, fingerprint and sealing key.
struct Idempotent {
    /// `<principal hash>#<key hash>`: the record's key.
    scope: String,
    /// A keyed hash of the request (method, path, body): a plain hash of a body that
    /// holds a password could be guessed offline from the table.
    fingerprint: String,
    /// Seals the stored response: derived from a deployment secret, the principal and
    /// the raw `Idempotency-Key`, the last two never stored as such.
    seal_key: [u8; 32],
}

impl Idempotent {
    fn new(app: &App, owner: &str, key: &str, req: &Request) -> Self {
        let seal_key = secrets::derive_key(&app.config.jwt_secret, &[b"clientele idempotency v1", owner.as_bytes(), key.as_bytes()]);
        let mut request = format!("{} {}\n", req.method(), req.uri().path()).into_bytes();
        request.extend_from_slice(body_of(req));
        let fingerprint = hex::encode(secrets::hmac_sha256(&seal_key, &request));
        Self { scope: format!("{}#{}", secrets::sha256_hex(owner), secrets::sha256_hex(key)), fingerprint, seal_key }
    }

    fn seal(&self, response: &StoredResponse) -> Result<String, ApiError> {
        secrets::seal(&self.seal_key, &serde_json::to_vec(response).map_err(ApiError::internal)?)
    }

    fn open(&self, sealed: &str) -> Option<StoredResponse> {
        serde_json::from_slice(&secrets::open(&self.seal_key, sealed)?).ok()
    }
}

fn has_credential(req: &Request) -> bool {
    req.headers().contains_key("x-api-key") || req.headers().contains_key("authorization")
}

/// A request's body as it came, whatever its content type says.
fn body_of(req: &Request) -> &[u8] {
    match req.body() {
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    }
}

/// The `licenseKey` of a public license route's JSON body, trimmed as the route reads
/// it, if it has one (the body is within [`MAX_BODY`] by now).
fn body_license_key(req: &Request) -> Option<String> {
    let value: Value = serde_json::from_slice(body_of(req)).ok()?;
    value.get("licenseKey")?.as_str().map(str::trim).filter(|k| !k.is_empty()).map(str::to_owned)
}

/// The `Idempotency-Key` of a POST, if it carries one.
fn idempotency_key(req: &Request) -> Result<Option<String>, ApiError> {
    if req.method() != Method::POST {
        return Ok(None);
    }
    let Some(key) = req.headers().get("idempotency-key") else { return Ok(None) };
    let key = key.to_str().unwrap_or_default();
    if !(1..=255).contains(&key.len()) || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::invalid("Idempotency-Key", "must be 1-255 visible ASCII characters"));
    }
    Ok(Some(key.to_owned()))
}
/// What is kept of a response for replay.
fn stored(response: &Response<Body>) -> StoredResponse {
    let headers = response
        .headers()
        .iter()
        .filter(|(name, _)| matches!(name.as_str(), "content-type" | "location" | "etag" | "retry-after" | "cache-control"))
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
        .collect();
    let body = match response.body() {
        Body::Text(t) => Some(t.clone()),
        _ => None,
    };
    StoredResponse { status: response.status().as_u16(), headers, body }
}

/// The first response again, marked as a replay.
fn replay(request_id: &str, stored: StoredResponse) -> Response<Body> {
    let mut builder = Response::builder()
        .status(stored.status)
        .header("x-request-id", request_id)
        .header("idempotent-replayed", "true");
    for (name, value) in &stored.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let body = stored.body.map_or(Body::Empty, Body::Text);
    builder.body(body).unwrap_or_else(|_| respond(request_id, Err(ApiError::internal("stored response unreadable"))))
}

#[cfg(test)]
mod tests {
    use super::{IfMatch, route_matches};

    #[test]
    fn a_path_matches_a_route_segment_by_segment() {
        assert!(route_matches("/v1/clients/{clientId}", "/v1/clients/abc"));
        assert!(route_matches("/v1/clients/search", "/v1/clients/search"));
        for path in ["/v1/clients/", "/v1/clients", "/v1/clients/abc/licenses", "/v1/partners/abc"] {
            assert!(!route_matches("/v1/clients/{clientId}", path), "{path}");
        }
    }

    #[test]
    fn if_match_admits_the_versions_its_strong_tags_name() {
        assert_eq!(IfMatch::parse("*").unwrap(), None);
        let one = IfMatch::parse(" \"3\" ").unwrap().unwrap();
        assert!(one.admits(3) && !one.admits(4));
        assert!(IfMatch::parse("\"0\"").unwrap().unwrap().admits(0));
        let list = IfMatch::parse("\"5\", W/\"3\", \"7\"").unwrap().unwrap();
        assert!(list.admits(5) && list.admits(7) && !list.admits(3), "a weak tag in a list matches nothing");
        for none in ["W/\"3\"", "\"x\"", "", "\"3\"\"4\"", "\"+3\"", "\"03\"", "\" 3\""] {
            let admits_none = IfMatch::parse(none).unwrap().unwrap();
            assert!(!admits_none.admits(3) && !admits_none.admits(0), "{none:?} names no version");
        }
    }
}
