//! DynamoDB: the one table, its key layout, and every read and write the API makes.
//!
//! # Key layout
//!
//! Every item has a string partition key `pk` and sort key `sk`. Four overloaded
//! global secondary indexes (`gsi1`..`gsi4`, keys `gsiNpk`/`gsiNsk`) serve the
//! filtered lists. `#` is the sort key of items that stand alone.
//!
//! | item                         | pk                                   | sk            | indexes |
//! |------------------------------|--------------------------------------|---------------|---------|
//! | partner                      | `PARTNER#<id>`                       | `#`           | |
//! | partner list entry           | `PARTNERS#<scope>`                   | `<partnerId>` | |
//! | client                       | `CLIENT#<id>`                        | `#`           | gsi2 while in trial: `TRIALS` / `<trialEndsAt>#<id>` |
//! | client list entry            | `CLIENTS#<scope>#<shard>`            | `<clientId>`  | gsi1 by status, gsi3 by status and suspension (suspension alone: the three statuses' merged), gsi4 by name (for `q`), each `...#<shard>`; names its client's partners (`dp`, `rp`) |
//! | list counters (8 shards a scope) | `COUNT#<list>#<scope>#<shard>`; a scope's client counters (`c.*`) live in its event counters' items (`COUNT#EVENTS#...`) | `#` | |
//! | unique claim                 | `UNIQUE#<KIND>#<value>`              | `#`           | |
//! | `number` claim (kept after a delete: never reused) | `NUMBER#<CLIENT\|PARTNER\|PRODUCT\|LICENSE>#<n>` | `#` | |
//! | API key                      | `APIKEY#<id>`                        | `#`           | gsi1: `APIKEYS#<partnerId>` / `<id>` |
//! | API key by hash              | `KEYHASH#<sha256>`                   | `#`           | |
//! | product / its list entry     | `PRODUCT#<id>` / `PRODUCTS`          | `#` / `<id>`  | |
//! | license                      | `LICENSE#<id>`                       | `#`           | |
//! | a client's license entry     | `CLIENTLICENSES#<client>`            | `<licenseId>` | |
//! | a deleted client's last tree | `CLIENTGONE#<client>`                | `#`           | |
//! | license key / domain ref     | `LICENSEKEY#<sha256>` / `CLIENTDOMAIN#<client>#<domain>` | `#` | |
//! | webhook endpoint             | `WEBHOOK#<id>`                       | `#`           | gsi1: `WEBHOOKS#<scope>` / `<id>` |
//! | a scope's endpoint count (cap) | `WEBHOOKCAP#<scope>`               | `#`           | |
//! | wrong passwords (guessing limits) | `LOGINFAIL#U#<sha256 of username, address>` / `LOGINFAIL#A#<sha256 of address>` | `#` | |
//! | delivery state               | `DELIVERY#<webhook>#<event>`         | `#`           | gsi3 while pending: `DUE#<shard>` / `<due>#<webhook>#<event>#<tenant>` |
//! | delivery attempt log         | `ATTEMPTS#<webhook>`                 | `<attemptId>` | |
//! | parked stream record         | `PARKED`                             | `EVENT#<id>`  | |
//! | teammate                     | `TEAMMATE#<username>`                | `#`           | |
//! | idempotency record           | `IDEM#<caller hash>#<key hash>`      | `#`           | |
//! | usage counter                | `USAGE#<client>#<resource>#<period>` | `#`           | |
//! | event                        | `EVENT#<id>`                         | `#`           | |
//! | event list entry             | `EVENTS#<scope>#<shard>`             | `<eventId>`   | gsi1: `EVENTS#<scope>#<type>#<shard>` / `<eventId>` |
//! | a scope's list widths        | `WIDTH#<scope>`                      | `#`           | |
//!
//! A list entry's `<shard>` is a hash of its record's id modulo its scope's list width
//! at the id's date (`lists.rs`): `0` until DynamoDB has throttled the scope's lists.
//!
//! `<scope>` is `ALL` (the platform admin's view) or the id of a partner: a client
//! or partner has one list entry per ancestor partner (its whole path from the
//! root, itself included for partners) plus one under `ALL`. Any subtree's list
//! is then one `Query` on its own partition, newest first because ids are UUIDv7,
//! so a page costs the same whatever the size of the partner. Trees are bounded
//! to [`MAX_DEPTH`] levels, which bounds a write's transaction.
//!
//! Unique values (partner names, client emails, usernames, client names within a
//! partner, key hashes) are claim items written with `attribute_not_exists(pk)` in
//! the same `TransactWriteItems` as the record, so racing writers get exactly one
//! winner and a failed write leaves nothing behind. Counters (`total` per list,
//! and per status / suspended filter) are `ADD`ed in that same transaction.

pub mod access;
mod api_keys;
mod lists;
pub mod logins;
mod clients;
mod console_links;
pub mod cursor;
mod events;
pub mod idempotency;
pub mod licenses;
mod partners;
mod teammates;
mod tx;
pub mod usage;
pub mod webhooks;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client as Dynamo;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub use api_keys::KeyGrant;
pub use clients::{ClientList, ClientQuery};
pub(crate) use clients::client_pk;
pub(crate) use partners::{name_claim as partner_name_claim, partner_pk};
pub use lists::{ALL, MAX_WIDTH, QUEUE_SHARDS, WIDEN_DELAY};
pub use cursor::Page;
pub use tx::{Failed, Tx};

/// What a transaction's condition guards, reported when it fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// The record must not exist yet (a fresh id), or must still exist.
    Record,
    /// The record must still be at the version that was read.
    Version,
    Name,
    Email,
    Username,
    /// A secret's hash must be unique.
    Secret,
    /// A record's `number` must be unique (drawn again when it is not).
    Number,
    /// A usage counter must stay within its quota's limit.
    Quota,
}

/// What a `number` identifies; its claims are `NUMBER#<kind>#<n>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Numbered {
    Client,
    Partner,
    Product,
    License,
}

impl Numbered {
    /// The id of the record of this kind holding `number` ([`crate::domain::numbered_id`]).
    pub fn id(self, number: u64) -> String {
        crate::domain::numbered_id(self.as_str(), number)
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Client => "CLIENT",
            Self::Partner => "PARTNER",
            Self::Product => "PRODUCT",
            Self::License => "LICENSE",
        }
    }
}

/// The claim on a `number`: it names the record's id, and stays when the record is
/// deleted, so a number (an id in the integer-id dialects) never points at another.
pub(crate) fn number_claim(kind: Numbered, number: u64) -> String {
    format!("NUMBER#{}#{number}", kind.as_str())
}

/// Adds the claim on `number` for record `id` to a create's transaction.
pub(crate) fn claim_number(tx: &mut Tx<Guard>, table: &str, kind: Numbered, number: u64, id: &str) -> Result<(), ApiError> {
    #[derive(Serialize)]
    struct NumberClaim<'a> {
        id: &'a str,
    }
    tx.create(table, to_item(number_claim(kind, number), "#", &NumberClaim { id })?, Guard::Number);
    Ok(())
}

/// The deepest a partner tree may grow (root = level 1).
pub const MAX_DEPTH: usize = 8;

/// A raw DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// Handle on the table; cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Dynamo,
    table: String,
    /// The list widths this process has read (shared by its clones).
    widths: lists::Widths,
}

/// Whether an SDK failure is the store being unreachable, slow or overloaded (a
/// 503 the caller may retry) rather than a fault of the request or of our code.
fn store_unavailable<E, R>(err: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    match err {
        // No answer in time, no connection, or a connection that broke mid-answer.
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(e) => matches!(
            e.err().code(),
            Some(
                "ProvisionedThroughputExceededException"
                    | "ThrottlingException"
                    | "RequestLimitExceeded"
                    | "InternalServerError"
                    | "ServiceUnavailable"
                    | "TransactionConflictException"
                    | "TransactionInProgressException"
            )
        ),
        _ => false,
    }
}

/// Maps an SDK failure to the API's error: throttling, timeouts and unreachable
/// stores are a 503 the caller may retry, anything else a 500. The full cause is
/// logged here. A request the local key policy refused (the stand-in for IAM,
/// `KEY_POLICY=enforce`) is a policy line missing from `infra/access.tsv`, which on AWS
/// would fail every time: a 500 and an `access_denied` log line (which fails the
/// test run), never a 503 that looks like an outage.
pub(crate) fn sdk_error<E, R>(op: &'static str, err: SdkError<E, R>) -> ApiError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if let Some(denied) = access::denial(&err) {
        tracing::error!(op, error_code = "access_denied", denied = %denied.0, "access_denied: the key policy (infra/access.tsv) refused a DynamoDB request");
        return ApiError::Internal(Box::new(err));
    }
    let unavailable = store_unavailable(&err);
    if unavailable {
        tracing::warn!(op, error = %DisplayErrorContext(&err), "dynamodb unavailable");
        ApiError::Unavailable(Box::new(err))
    } else {
        tracing::error!(op, error = %DisplayErrorContext(&err), "dynamodb call failed");
        ApiError::Internal(Box::new(err))
    }
}

/// Whether a conditional write took place: `Ok(false)` when DynamoDB refused it because its
/// condition did not hold (another writer got there first, or the item is gone), the store's
/// error ([`sdk_error`]) for any other failure.
pub(crate) fn took_place<T, E, R>(op: &'static str, out: Result<T, SdkError<E, R>>) -> Result<bool, ApiError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match out {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().and_then(ProvideErrorMetadata::code) == Some("ConditionalCheckFailedException") => Ok(false),
        Err(e) => Err(sdk_error(op, e)),
    }
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Serializes a record and adds its keys.
pub(crate) fn to_item<T: Serialize>(pk: String, sk: &str, value: &T) -> Result<Item, ApiError> {
    let mut item: Item = serde_dynamo::aws_sdk_dynamodb_1::to_item(value).map_err(ApiError::internal)?;
    item.insert("pk".into(), s(pk));
    item.insert("sk".into(), s(sk));
    Ok(item)
}

pub(crate) fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, ApiError> {
    serde_dynamo::aws_sdk_dynamodb_1::from_item(item).map_err(ApiError::internal)
}

/// An item that is there but does not parse as the record its key names (written by
/// hand, by a bug, or by another version of the code). Not a store failure: reading
/// it again gives the same answer, so whoever meets it sets it aside instead of retrying.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the stored item does not parse: {0}")]
pub struct Unreadable(pub String);

/// Parses an item, telling an unreadable one apart from a store failure.
pub(crate) fn parse_item<T: DeserializeOwned>(item: Item) -> Result<T, Unreadable> {
    serde_dynamo::aws_sdk_dynamodb_1::from_item(item).map_err(|e| Unreadable(e.to_string()))
}

/// The value of a string attribute, if the item has one by that name.
pub(crate) fn string_attr(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}

pub(crate) fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("pk".into(), s(pk)), ("sk".into(), s(sk))])
}

/// How long a connection to DynamoDB may take to open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(1_000);
/// How long one attempt of a DynamoDB call may take (DynamoDB answers in
/// milliseconds; a stalled store must not hold a request).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(2_000);
/// How long one DynamoDB call may take, its retries included.
pub const OPERATION_TIMEOUT: Duration = Duration::from_millis(4_500);

/// The AWS SDK's configuration from the environment as Lambda sets it: region
/// from `AWS_REGION`, credentials from `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/
/// `AWS_SESSION_TOKEN`, and `AWS_ENDPOINT_URL_DYNAMODB` (DynamoDB Local, which
/// serves its streams on the same address). Only these, not the SDK's whole
/// default chain (profiles, SSO, STS, instance metadata): a smaller binary and a
/// faster cold start.
pub fn sdk_config() -> aws_config::SdkConfig {
    let region = std::env::var("AWS_REGION").or_else(|_| std::env::var("AWS_DEFAULT_REGION")).unwrap_or_else(|_| "us-east-1".into());
    let credentials = aws_config::environment::EnvironmentVariableCredentialsProvider::new();
    let mut sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region))
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(credentials))
        // Every call has a deadline (a stalled store yields 503, not a hung request) and a
        // bounded number of attempts with the SDK's jittered backoff (throttling, timeouts).
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
        // The attempt and operation timeouts above already bound every call, body included;
        // the SDK's own stalled-stream watch would only add work to each one.
        .stalled_stream_protection(aws_config::stalled_stream_protection::StalledStreamProtectionConfig::disabled());
    if let Ok(url) = std::env::var("AWS_ENDPOINT_URL_DYNAMODB") {
        sdk = sdk.endpoint_url(url);
    }
    sdk.build()
}

impl Store {
    pub fn new(db: Dynamo, table: impl Into<String>) -> Self {
        Self { db, table: table.into(), widths: lists::Widths::default() }
    }

    /// The same store, widening lists `delay` after a throttle instead of
    /// [`WIDEN_DELAY`](lists::WIDEN_DELAY): only where this process alone writes the
    /// table (a test), since others may hold widths for up to 20 s.
    #[must_use]
    pub fn with_widen_delay(self, delay: std::time::Duration) -> Self {
        Self { widths: lists::Widths::with_delay(delay), ..self }
    }

    /// The client for the function's table, configured by [`sdk_config`].
    pub async fn from_env(table: impl Into<String>) -> Self {
        let mut conf = aws_sdk_dynamodb::config::Builder::from(&sdk_config());
        if let Some(check) = access::KeyPolicy::from_env() {
            tracing::info!(function = check.policy.function, mode = ?check.mode, "checking every request against the key policy");
            conf = conf.interceptor(check);
        }
        Self::new(Dynamo::from_conf(conf.build()), table)
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// One item by key, strongly consistent.
    pub(crate) async fn get<T: DeserializeOwned>(&self, pk: String, sk: &str) -> Result<Option<T>, ApiError> {
        self.get_item(pk, sk).await?.map(from_item).transpose()
    }

    /// One raw item by key, strongly consistent.
    pub(crate) async fn get_item(&self, pk: String, sk: &str) -> Result<Option<Item>, ApiError> {
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        Ok(out.item)
    }

    /// Many items by `pk` (all with sort key `#`), in any order, missing ones skipped.
    pub(crate) async fn batch_get<T: DeserializeOwned>(&self, pks: &[String]) -> Result<Vec<T>, ApiError> {
        self.batch_get_items(pks).await?.into_iter().map(from_item).collect()
    }

    /// Many raw items by `pk` (all with sort key `#`), in any order, missing ones skipped:
    /// for reads of several kinds at once, each parsed by its caller.
    pub(crate) async fn batch_get_items(&self, pks: &[String]) -> Result<Vec<Item>, ApiError> {
        // DynamoDB takes 100 keys a call: more are read in calls at once, not one by one.
        let chunks = futures::future::try_join_all(pks.chunks(100).map(|chunk| self.batch_get_chunk(chunk))).await?;
        Ok(chunks.into_iter().flatten().collect())
    }

    /// Up to 100 raw items by `pk`, retrying the keys DynamoDB leaves unprocessed.
    async fn batch_get_chunk(&self, chunk: &[String]) -> Result<Vec<Item>, ApiError> {
        let mut found = Vec::with_capacity(chunk.len());
        let mut pending: Vec<Item> = chunk.iter().map(|pk| key(pk.clone(), "#")).collect();
        pending.dedup();
        let mut attempts = 0;
        while !pending.is_empty() {
            let keys = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .consistent_read(true)
                .build()
                .map_err(ApiError::internal)?;
            let out = self
                .db
                .batch_get_item()
                .request_items(&self.table, keys)
                .send()
                .await
                .map_err(|e| sdk_error("BatchGetItem", e))?;
            if let Some(mut items) = out.responses {
                found.extend(items.remove(&self.table).unwrap_or_default());
            }
            if let Some(mut left) = out.unprocessed_keys
                && let Some(k) = left.remove(&self.table)
            {
                pending = k.keys;
            }
            attempts += 1;
            if !pending.is_empty() {
                if attempts > 5 {
                    return Err(ApiError::Unavailable("BatchGetItem left keys unprocessed".into()));
                }
                tokio::time::sleep(std::time::Duration::from_millis(20 << attempts)).await;
            }
        }
        Ok(found)
    }

    /// Runs a transaction; see [`Tx`] for how failed conditions are reported.
    /// Its list entries go to their shards of their scopes' widths ([`lists::Widths`]);
    /// when DynamoDB throttled one of those partitions, its scope's lists widen.
    pub(crate) async fn commit(&self, mut tx: Tx<Guard>) -> Result<(), tx::Failed<Guard>> {
        let scopes = tx.listed_scopes();
        if !scopes.is_empty() {
            tx.place(&self.widths(&scopes).await?)?;
        }
        let (result, throttled) = tx.commit(&self.db).await;
        for (scope, id) in throttled {
            // The write's own answer stands (a 503 when the throttle outlasted the retries);
            // a widening that fails is tried again at the next throttle.
            if let Err(e) = self.widen(&scope, &id).await {
                tracing::warn!(scope, error = %e, "could not widen a throttled list");
            }
        }
        result
    }
}

