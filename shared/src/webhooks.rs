//! Webhook delivery (the Standard Webhooks scheme): signing, sending, retrying.
//!
//! At least once: before the first attempt a delivery record is written with a
//! lease as its due time, so that if the process dies mid-attempt the retry job
//! finds it once the lease has passed; a replayed stream record finds the record
//! there and does not start the delivery twice. Receivers de-duplicate by
//! `webhook-id` (the event id).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine as _;
use chrono::Utc;
use futures::{FutureExt as _, StreamExt as _, TryStreamExt as _};
use serde_json::{Value, json};

use crate::app::App;
use crate::domain::webhook::{Webhook, is_public};
use crate::domain::{new_id, now, timestamp};
use crate::error::ApiError;
use crate::events::Event;
use crate::secrets;
use crate::store::webhooks::{Attempt, Delivery, DueEntry, PARKED, Sent};
use crate::store::{ALL, Item, QUEUE_SHARDS};

/// How long an attempt may take before the receiver counts as failed.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How long a started attempt holds its delivery before the retry job may take it over.
const LEASE: Duration = Duration::from_secs(60);
/// The longest a receiver's `Retry-After` may put its next attempt off (API.md §5a).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);
/// The most of a receiver's answer read (a 2xx with a longer body is a failed attempt:
/// nothing is ever read whole into memory).
pub const MAX_ANSWER: usize = 64 * 1024;

/// How long one run of the retry job claims attempts. It runs every minute on AWS
/// (`rate(1 minute)`, infra/routes.tsv) with a 300 s function timeout: claiming stops
/// after 40 s, and what is in flight then ends within an attempt's 10 s timeout and its
/// settling, so a run is over well before the timeout, and before the next run starts.
pub const RUN_BUDGET: Duration = Duration::from_secs(40);
/// Attempts one run (and one stream batch) has in flight at once.
pub const RUN_CONCURRENCY: usize = 32;
/// Attempts one run has in flight at once for any one endpoint: however much is due for
/// it, an endpoint holds at most these of the run's slots.
pub const PER_ENDPOINT: usize = 4;
/// Attempts one run has in flight at once for any one tenant (a root partner's tree, or
/// the platform admin), over all its endpoints: a tenant with many failing endpoints
/// (20 a partner, and a tree of partners) holds at most these of the run's slots, and
/// the others are left to every other tenant (API.md §5a).
pub const PER_TENANT: usize = 8;
/// Due-queue entries read per pass from each of its shards (one `Query` page each).
const DUE_PAGE: i32 = 64;
/// How soon a run looks at the due queue again when a pass found nothing to claim.
const TICK: Duration = Duration::from_millis(300);
/// Stream records taken at once (each a read of the event, of its endpoints, and a
/// write per delivery): a batch costs a few round trips, not a few per record.
const TAKE_CONCURRENCY: usize = 32;
/// How often a stream record that cannot be processed is tried before it is parked.
pub const POISON_TRIES: u32 = 3;

/// A delivery claimed or started, with its endpoint and event: an attempt to make.
pub type Ready = (Delivery, Webhook, Event);

/// The insert of an event as a stream record hands it over: the event's id and, when
/// the record carries it, the item as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Inserted {
    pub id: String,
    pub image: Option<Item>,
}

/// Why a stream record is handed back, to be tried again (the records after it wait).
#[derive(Debug, thiserror::Error)]
pub enum Held {
    /// The store failed: transient, so the record is retried and never parked.
    #[error(transparent)]
    Store(#[from] ApiError),
    /// The record cannot be processed and has not been tried [`POISON_TRIES`] times yet.
    #[error("the record cannot be processed (try {tries} of {POISON_TRIES})")]
    Poison { tries: u32 },
}

/// What a retry run has in flight: attempts per endpoint and per tenant.
#[derive(Debug, Default)]
struct Busy {
    endpoints: HashMap<String, usize>,
    tenants: HashMap<String, usize>,
}

impl Busy {
    fn add(&mut self, webhook: &str, tenant: &str) {
        *self.endpoints.entry(webhook.to_owned()).or_default() += 1;
        *self.tenants.entry(tenant.to_owned()).or_default() += 1;
    }

    fn remove(&mut self, webhook: &str, tenant: &str) {
        for (map, key) in [(&mut self.endpoints, webhook), (&mut self.tenants, tenant)] {
            if let Some(n) = map.get_mut(key) {
                *n = n.saturating_sub(1);
            }
        }
    }
}

/// Picks up to `free` of `entries` (soonest due first), round-robin across endpoints,
/// each endpoint at most [`PER_ENDPOINT`] and each tenant at most [`PER_TENANT`] minus
/// what it has in flight (`busy`). Endpoints come in the order they first appear, those
/// of the tenants with least in flight first: when a slot or two come free in a busy
/// run, a tenant with nothing in flight gets them before one with a backlog at its share.
fn fair_pick(entries: Vec<DueEntry>, busy: &Busy, free: usize) -> Vec<DueEntry> {
    let mut order: Vec<String> = Vec::new();
    let mut queues: HashMap<String, VecDeque<DueEntry>> = HashMap::new();
    let mut tenant_of: HashMap<String, String> = HashMap::new();
    for e in entries {
        tenant_of.entry(e.webhook_id.clone()).or_insert_with(|| e.tenant_key().to_owned());
        queues
            .entry(e.webhook_id.clone())
            .or_insert_with(|| {
                order.push(e.webhook_id.clone());
                VecDeque::new()
            })
            .push_back(e);
    }
    let in_flight = |w: &String| tenant_of.get(w).and_then(|t| busy.tenants.get(t)).copied().unwrap_or(0);
    order.sort_by_key(in_flight);
    let room = |map: &HashMap<String, usize>, key: &str, cap: usize| cap.saturating_sub(map.get(key).copied().unwrap_or(0));
    let mut endpoint_room: HashMap<String, usize> = order.iter().map(|w| (w.clone(), room(&busy.endpoints, w, PER_ENDPOINT))).collect();
    let mut tenant_room: HashMap<String, usize> = HashMap::new();
    let mut picked = Vec::new();
    loop {
        let before = picked.len();
        for w in &order {
            if picked.len() >= free {
                return picked;
            }
            let Some(left) = endpoint_room.get_mut(w).filter(|left| **left > 0) else { continue };
            let Some(queue) = queues.get_mut(w) else { continue };
            let Some(tenant) = queue.front().map(|e| e.tenant_key().to_owned()) else { continue };
            let tenant_left = tenant_room.entry(tenant.clone()).or_insert_with(|| room(&busy.tenants, &tenant, PER_TENANT));
            if *tenant_left == 0 {
                continue;
            }
            if let Some(e) = queue.pop_front() {
                *left -= 1;
                *tenant_left -= 1;
                picked.push(e);
            }
        }
        if picked.len() == before {
            return picked;
        }
    }
}

/// `at` + `wait`, saturating instead of overflowing (a wait from outside is clamped
/// before it gets here, but time arithmetic never panics).
fn later(at: chrono::DateTime<Utc>, wait: Duration) -> chrono::DateTime<Utc> {
    chrono::Duration::from_std(wait).ok().and_then(|d| at.checked_add_signed(d)).unwrap_or(chrono::DateTime::<Utc>::MAX_UTC)
}

/// A receiver's `Retry-After` (RFC 9110: delay-seconds or an HTTP-date), as a wait from
/// `now`, capped at [`MAX_RETRY_AFTER`]. Negative, past, fractional, huge or unreadable
/// values never panic: past or negative means no extra wait; fractions round up.
pub fn retry_after(value: &str, now: chrono::DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() || value.len() > 64 {
        return None;
    }
    let seconds = if let Ok(secs) = value.parse::<f64>() {
        if !secs.is_finite() {
            return None;
        }
        secs.max(0.0).ceil().min(MAX_RETRY_AFTER.as_secs_f64())
    } else {
        let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
        (at.with_timezone(&Utc) - now).num_seconds().max(0) as f64
    };
    Some(Duration::from_secs_f64(seconds).min(MAX_RETRY_AFTER))
}

/// The signing secret of an endpoint, derived from the deployment's webhook key,
/// the endpoint id and its nonce: shown once at creation (and at each rotation),
/// never stored.
pub fn secret(key: &[u8], w: &Webhook) -> String {
    secret_of(key, &w.id, &w.nonce)
}

fn secret_of(key: &[u8], webhook_id: &str, nonce: &str) -> String {
    let raw = secrets::hmac_sha256(key, format!("whsec:{webhook_id}:{nonce}").as_bytes());
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(raw))
}

/// The `webhook-signature` header of a delivery: one `v1,` signature per secret
/// that signs at `now`, space-separated (Standard Webhooks), so that a receiver
/// still holding the secret before a rotation verifies for 24 hours.
pub fn signatures(key: &[u8], w: &Webhook, now: &str, id: &str, timestamp: i64, body: &str) -> String {
    w.signing_nonces(now)
        .into_iter()
        .map(|nonce| signature(&secret_of(key, &w.id, nonce), id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` with the secret's bytes.
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    let key = secret.strip_prefix("whsec_").and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok());
    let key = key.unwrap_or_else(|| secret.as_bytes().to_vec());
    let mac = secrets::hmac_sha256(&key, format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac))
}

/// Sends events to endpoints; one per function instance.
pub struct Deliverer {
    pub app: &'static App,
    http: reqwest::Client,
}

/// What one attempt came to.
struct Outcome {
    status: Option<u16>,
    error: Option<String>,
    retry_after: Option<Duration>,
    latency: Duration,
    /// What was sent, when a request went out.
    sent: Option<Sent>,
}

impl Deliverer {
    pub fn new(app: &'static App) -> Self {
        let http = client(app.config.allow_insecure_webhooks, app.config.webhook_loopback_only, None);
        Self { app, http }
    }

    /// The event a stream record inserted, from the item the record carries (the
    /// table's stream has new images) or, without one, read from the table; `None`
    /// when it is gone, or when it was just parked.
    ///
    /// An event item that does not parse is a poison record: it would fail the same way
    /// forever. It is tried [`POISON_TRIES`] times (in case another version of the code
    /// is being deployed), then parked: logged, and kept as `PARKED` / `EVENT#<id>` with
    /// the reason. A parked record is taken (`Ok`), so the records after it flow on. A
    /// table item rather than a file or a queue: the same code parks on AWS and under
    /// `make run`, the record survives any restart, and an operator lists every parked
    /// record with one `Query` (the stream's own records expire after 24 h).
    ///
    /// # Errors
    /// [`Held`]: the record must be tried again, and the ones after it wait (a store
    /// failure, which is transient and never parks a record; or a poison record not
    /// yet tried enough).
    async fn event_of(&self, record: &Inserted) -> Result<Option<Event>, Held> {
        let stored = match &record.image {
            Some(image) => Some(crate::store::parse_item::<Event>(image.clone())),
            None => self.app.store.event_as_stored(&record.id).await?,
        };
        let unreadable = match stored {
            None => return Ok(None),
            Some(Ok(event)) => return Ok(Some(event)),
            Some(Err(unreadable)) => unreadable,
        };
        let record = format!("EVENT#{}", record.id);
        let tries = self.app.store.poison_try(&record, &unreadable.0, &now()).await?;
        if tries < POISON_TRIES {
            tracing::warn!(record, tries, error = %unreadable, "stream record cannot be processed; it is tried again before it is parked");
            return Err(Held::Poison { tries });
        }
        self.app.store.park(&record, &now()).await?;
        tracing::error!(record, tries, error = %unreadable, parked = %format!("{PARKED} / {record}"), "stream record parked: it cannot be processed; the records after it go on");
        Ok(None)
    }

    /// Takes a batch of stream records (`None` for a record that is no event's
    /// insert): writes a pending delivery for each endpoint that wants each event,
    /// unless one was written before (a replayed record), and returns the first
    /// attempts to make, per event. Once a record is taken its event is safe: if the
    /// first attempts never happen, the retry job makes them when the lease runs out.
    ///
    /// The batch costs a few round trips, not a few per record: the events come with
    /// their records, the endpoints of every scope the batch touches are read once,
    /// and the deliveries are written at once. Also says the position of the first
    /// record held back ([`event_of`](Self::event_of), or a store failure), if one
    /// was: it and the records after it must be handed over again (those after it
    /// that were taken are taken again without a second delivery).
    pub async fn take_records(&self, records: &[Option<Inserted>]) -> (Vec<Vec<Ready>>, Option<usize>) {
        let events: Vec<Result<Option<Event>, Held>> = futures::stream::iter(records)
            .map(|record| async move {
                match record {
                    Some(record) => self.event_of(record).await,
                    None => Ok(None),
                }
            })
            .buffered(TAKE_CONCURRENCY)
            .collect()
            .await;
        let mut held = events.iter().position(Result::is_err);
        if let Some(Err(e)) = held.map(|i| &events[i]) {
            tracing::warn!(error = %e, "stream record held back; it and the records after it are handed over again");
        }
        let taken: Vec<(usize, Event)> = events.into_iter().enumerate().filter_map(|(i, e)| Some((i, e.ok()??))).collect();
        let Some(first) = taken.first().map(|(i, _)| *i) else { return (Vec::new(), held) };
        // An endpoint hears of what happens in its scope from its registration on,
        // however late the stream hands an older event over.
        let mut scopes: Vec<String> = std::iter::once(ALL.to_owned()).chain(taken.iter().flat_map(|(_, e)| e.scopes.iter().cloned())).collect();
        scopes.sort();
        scopes.dedup();
        let endpoints = match self.app.store.webhooks_of(&scopes).await {
            Ok(endpoints) => endpoints,
            Err(e) => {
                tracing::warn!(error = %e, "the batch's endpoints could not be read; its records are handed over again");
                return (Vec::new(), Some(held.map_or(first, |h| h.min(first))));
            }
        };
        // A test event was given its one delivery when it was written: it fans out to no one.
        let wanted = taken.iter().filter(|(_, event)| !event.test).flat_map(|(i, event)| {
            endpoints
                .iter()
                .filter(|w| (w.scope == ALL || event.scopes.contains(&w.scope)) && w.wants(event.kind) && w.created <= event.created_at)
                .map(move |w| (*i, w, event))
        });
        let started: Vec<(usize, Result<Option<Ready>, ApiError>)> = futures::stream::iter(wanted)
            .map(|(i, w, event)| async move { (i, self.start_delivery(w, event).await) })
            .buffer_unordered(TAKE_CONCURRENCY)
            .collect()
            .await;
        let mut by_record: std::collections::BTreeMap<usize, Vec<Ready>> = std::collections::BTreeMap::new();
        for (i, result) in started {
            match result {
                Ok(Some(ready)) => by_record.entry(i).or_default().push(ready),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "a delivery could not be recorded; its record is handed over again");
                    held = Some(held.map_or(i, |h| h.min(i)));
                }
            }
        }
        (by_record.into_values().collect(), held)
    }

    /// Writes `event`'s pending delivery to `w`, unless one was written before: the
    /// attempt to make when this call wrote it.
    async fn start_delivery(&self, w: &Webhook, event: &Event) -> Result<Option<Ready>, ApiError> {
        let d = Delivery::for_endpoint(w, event, 0, timestamp(later(Utc::now(), LEASE)));
        Ok(self.app.store.start_delivery(&d).await?.then(|| (d, w.clone(), event.clone())))
    }

    /// Makes the given attempts concurrently.
    ///
    /// # Errors
    /// The first store failure (the others still ran).
    pub async fn attempt_all(&self, attempts: Vec<Ready>) -> Result<(), ApiError> {
        let results: Vec<Result<(), ApiError>> = futures::stream::iter(attempts)
            .map(|(d, w, e)| async move { self.attempt(d, &w, &e).await })
            .buffer_unordered(RUN_CONCURRENCY)
            .collect()
            .await;
        results.into_iter().collect()
    }

    /// One run of the retry job: makes what is due until nothing is, or until `budget`
    /// has passed (then it only lets what is in flight end); returns how many attempts
    /// it made.
    ///
    /// Fair per endpoint and per tenant: at most [`RUN_CONCURRENCY`] attempts are in
    /// flight, at most [`PER_ENDPOINT`] of them for any one endpoint and [`PER_TENANT`]
    /// for any one tenant (however many endpoints it has), and each pass over the due queue
    /// picks round-robin across endpoints. Passes page through the queue, each going on
    /// where the last stopped, so an endpoint with a backlog of due attempts (a dead
    /// one, or many redelivers) holds a few slots and never keeps another endpoint's
    /// retry beyond the run in which it is due.
    ///
    /// # Errors
    /// The first store failure while claiming (attempts already claimed still run; one
    /// that fails to settle is due again after its lease).
    pub async fn retry_due(&self, budget: Duration) -> Result<usize, ApiError> {
        use futures::stream::FuturesUnordered;
        let claim_until = Instant::now() + budget;
        let mut running = FuturesUnordered::new();
        let mut busy = Busy::default();
        let mut cursors: Vec<Option<Item>> = vec![None; QUEUE_SHARDS as usize];
        let (mut made, mut failure) = (0, None);
        let settle = |busy: &mut Busy, (webhook, tenant, settled): (String, String, Result<(), ApiError>)| {
            busy.remove(&webhook, &tenant);
            if let Err(e) = settled {
                tracing::warn!(webhook = %webhook, error = %e, "attempt not settled; it is due again after its lease");
            }
        };
        loop {
            // The attempts in flight go on between passes (a sweep over a long queue must
            // not hold them still until their timeouts have passed), and those that ended
            // give their endpoint's slot back.
            while let Some(Some(ended)) = running.next().now_or_never() {
                settle(&mut busy, ended);
            }
            let claiming = failure.is_none() && Instant::now() < claim_until;
            if claiming && running.len() < RUN_CONCURRENCY {
                match self.claim_pass(&busy, RUN_CONCURRENCY - running.len(), &mut cursors).await {
                    Ok(claimed) => {
                        // More to look at while the pass claimed something or the sweep goes on.
                        let more = !claimed.is_empty() || cursors.iter().any(Option::is_some);
                        for (d, w, e) in claimed {
                            let tenant = d.tenant_key().to_owned();
                            busy.add(&w.id, &tenant);
                            made += 1;
                            running.push(async move {
                                let settled = self.attempt(d, &w, &e).await;
                                (w.id, tenant, settled)
                            });
                        }
                        if more {
                            continue;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "retry run stops claiming: the store failed");
                        failure = Some(e);
                    }
                }
            }
            if running.is_empty() {
                break;
            }
            // An attempt ended (its endpoint may take another), or time to look again.
            tokio::select! {
                Some(ended) = running.next() => settle(&mut busy, ended),
                () = tokio::time::sleep(TICK), if claiming => {}
            }
        }
        failure.map_or(Ok(made), Err)
    }

    /// One pass over the due queue: reads a page of each shard at once, merges them
    /// soonest first, picks fairly ([`fair_pick`]) up to `free` deliveries, claims them
    /// (each for the length of a lease: only the worker that moves the due time makes
    /// the attempt) and reads their endpoints and events in one batch. A delivery whose
    /// endpoint is gone or disabled, or whose event is gone or unreadable, is failed.
    async fn claim_pass(&self, busy: &Busy, free: usize, cursors: &mut [Option<Item>]) -> Result<Vec<Ready>, ApiError> {
        let store = &self.app.store;
        let at = now();
        // A sweep reads every shard from its head, then each on from its cursor until
        // all are at their end; the next sweep starts at the heads again.
        let sweep_starts = cursors.iter().all(Option::is_none);
        let reads = cursors.iter_mut().enumerate().filter(|(_, cursor)| sweep_starts || cursor.is_some()).map(|(shard, cursor)| {
            let (at, after) = (&at, cursor.take());
            async move {
                let page = store.due_page(at, u32::try_from(shard).unwrap_or_default(), after, DUE_PAGE).await?;
                Ok::<_, ApiError>((shard, page))
            }
        });
        let pages = futures::future::try_join_all(reads).await?;
        let mut entries = Vec::new();
        for (shard, page) in pages {
            cursors[shard] = page.next;
            entries.extend(page.entries);
        }
        entries.sort_by(|a, b| a.due.cmp(&b.due));
        let picked = fair_pick(entries, busy, free);
        if picked.is_empty() {
            return Ok(Vec::new());
        }
        let due = store.due_deliveries(&picked, &at).await?;
        let claimed: Vec<Option<Delivery>> = futures::stream::iter(due)
            .map(|seen| async move {
                let mut claimed = seen.clone();
                claimed.next_attempt_at = Some(timestamp(later(Utc::now(), LEASE)));
                Ok::<_, ApiError>(store.move_delivery(&seen, &claimed).await?.then_some(claimed))
            })
            .buffer_unordered(16)
            .try_collect()
            .await?;
        let claimed: Vec<Delivery> = claimed.into_iter().flatten().collect();
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let (hooks, events) = store.endpoints_and_events(&claimed).await?;
        let mut ready = Vec::with_capacity(claimed.len());
        for d in claimed {
            match (hooks.get(&d.webhook_id), events.get(&d.event_id)) {
                (Some(w), Some(Ok(e))) if w.enabled => {
                    // A delivery written before deliveries named their tenant learns it
                    // here, and keeps it from its next write on.
                    let mut d = d;
                    if d.tenant.is_none() {
                        d.tenant = Some(crate::store::webhooks::tenant_of(w, e));
                    }
                    ready.push((d, w.clone(), e.clone()));
                }
                (_, event) => {
                    if let Some(Err(unreadable)) = event {
                        tracing::error!(event = %d.event_id, webhook = %d.webhook_id, error = %unreadable, "due delivery's event cannot be read; the delivery is failed");
                    }
                    let mut failed = d.clone();
                    failed.state = "failed".into();
                    failed.next_attempt_at = None;
                    store.move_delivery(&d, &failed).await?;
                }
            }
        }
        Ok(ready)
    }

    /// One attempt: send, log, and settle the delivery (delivered, due again, or failed).
    async fn attempt(&self, d: Delivery, w: &Webhook, event: &Event) -> Result<(), ApiError> {
        let outcome = self.send(w, event).await;
        let number = d.attempts + 1;
        let success = outcome.error.is_none() && outcome.status.is_some_and(|s| (200..300).contains(&s));
        let attempt = Attempt {
            id: new_id(),
            event_id: event.id.clone(),
            event_type: event.kind.as_str().to_owned(),
            attempt: number,
            at: now(),
            status_code: outcome.status,
            latency_ms: u64::try_from(outcome.latency.as_millis()).unwrap_or(u64::MAX),
            error: outcome.error.clone(),
            success,
            test: event.test,
            sent: outcome.sent.clone(),
        };
        self.app.store.log_attempt(&w.id, &attempt).await?;
        let mut next = d.clone();
        next.attempts = number;
        let schedule = &self.app.config.webhook_retry_schedule;
        if success {
            next.state = "delivered".into();
            next.next_attempt_at = None;
        } else if outcome.status == Some(410) {
            // Gone: the receiver asks us to stop.
            self.app.store.disable_webhook(&w.id, &now()).await?;
            next.state = "failed".into();
            next.next_attempt_at = None;
        } else if let Some(delay) = schedule.get(d.attempts as usize) {
            // The receiver's Retry-After is already capped; the schedule's delays are ours.
            let wait = outcome.retry_after.map_or(*delay, |r| r.max(*delay)).min(MAX_RETRY_AFTER);
            next.next_attempt_at = Some(timestamp(later(Utc::now(), wait)));
        } else {
            next.state = "failed".into();
            next.next_attempt_at = None;
        }
        self.app.store.move_delivery(&d, &next).await?;
        // How long after the change this attempt was made: the delivery lag operators watch.
        let age_ms = chrono::DateTime::parse_from_rfc3339(&event.created_at).map_or(-1, |at| (Utc::now() - at.with_timezone(&Utc)).num_milliseconds());
        tracing::info!(webhook = %w.id, event = %event.id, attempt = number, status = ?outcome.status, state = %next.state, age_ms, "webhook attempt");
        Ok(())
    }

    /// Sends `event` to `w` once, exactly as an attempt would (signed, through the
    /// address checks), and says what came of it: the receiver's status, or why there
    /// was none. Records nothing.
    pub async fn probe(&self, w: &Webhook, event: &Event) -> (Option<u16>, Option<String>) {
        let outcome = self.send(w, event).await;
        (outcome.status, outcome.error)
    }

    async fn send(&self, w: &Webhook, event: &Event) -> Outcome {
        let started = Instant::now();
        let failed = |error: String, sent: Option<Sent>| Outcome { status: None, error: Some(error), retry_after: None, latency: started.elapsed(), sent };
        // Names go through the resolver (PublicOnly); an address written in the URL itself
        // never does, so it is checked here.
        if let Some(ip) = url::Url::parse(&w.url).ok().and_then(|u| literal_ip(&u))
            && ((!self.app.config.allow_insecure_webhooks && !is_public(ip)) || (self.app.config.webhook_loopback_only && !ip.is_loopback()))
        {
            return failed(REFUSED.to_owned(), None);
        }
        let body = event.view().to_string();
        let ts = Utc::now().timestamp();
        let signed = signatures(&self.app.config.webhook_key, w, &now(), &event.id, ts, &body);
        let what = Sent { url: w.url.clone(), timestamp: ts, signature: signed.clone(), body_sha256: crate::secrets::sha256_hex(&body) };
        let sent = self
            .http
            .post(&w.url)
            .header("content-type", "application/json")
            .header("webhook-id", &event.id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signed)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(mut res) => {
                let status = res.status().as_u16();
                let retry_after = res
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .filter(|_| matches!(status, 429 | 503))
                    .and_then(|v| retry_after(v, Utc::now()));
                // A success is a whole answer within bounds (a failure's body is never read).
                let error = if (200..300).contains(&status) {
                    drain_capped(&mut res).await.err()
                } else {
                    Some(format!("receiver answered {status}"))
                };
                Outcome { status: Some(status), error, retry_after, latency: started.elapsed(), sent: Some(what) }
            }
            // A name that resolved to a private address was refused before anything was sent.
            Err(e) => failed(failure(&e), (!refused_address(&e)).then_some(what)),
        }
    }
}

/// Reads an answer's body to its end and drops it, at most [`MAX_ANSWER`] bytes of it:
/// a declared length over that is refused unread, and chunks are counted as they come,
/// none kept. The client's timeout bounds the whole, so a trickling body fails too.
async fn drain_capped(res: &mut reqwest::Response) -> Result<(), String> {
    let too_long = || format!("receiver's answer is longer than {} KiB", MAX_ANSWER / 1024);
    if res.content_length().is_some_and(|n| n > MAX_ANSWER as u64) {
        return Err(too_long());
    }
    let mut read = 0usize;
    loop {
        match res.chunk().await {
            Ok(Some(chunk)) => {
                read = read.saturating_add(chunk.len());
                if read > MAX_ANSWER {
                    return Err(too_long());
                }
            }
            Ok(None) => return Ok(()),
            Err(e) => return Err(failure(&e)),
        }
    }
}

/// What an attempt's log says of a request that got no (whole) answer.
fn failure(e: &reqwest::Error) -> String {
    if refused_address(e) {
        REFUSED.to_owned()
    } else if e.is_timeout() {
        format!("no answer within {}s", TIMEOUT.as_secs())
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        "request failed (connection reset, or not an HTTP answer)".into()
    }
}

/// What an attempt says when the receiver's address is not a public one.
const REFUSED: &str = "refused: the host resolves to a private address";

/// The HTTP client that delivers webhooks: no redirects, no proxy, and every name
/// resolved by [`PublicOnly`] (through `lookup`, or the system's resolver when `None`).
/// `allow_private` and `loopback_only` are `ALLOW_INSECURE_WEBHOOKS` and
/// `WEBHOOK_LOOPBACK_ONLY`.
#[must_use]
pub fn client(allow_private: bool, loopback_only: bool, lookup: Option<Lookup>) -> reqwest::Client {
    use_aws_lc();
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        // Never through a proxy (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY in the environment):
        // a proxy would connect in our stead, to an address the checks below never see.
        .no_proxy()
        // Every name is resolved by this resolver, which drops private addresses: the
        // address connected to is the address checked (no DNS rebinding in between).
        .dns_resolver(std::sync::Arc::new(PublicOnly { allow_private, loopback_only, lookup }))
        .user_agent("Clientele-Webhooks/1")
        .build()
        .expect("a TLS client builds")
}

/// A name's addresses, as a DNS resolver answers them (the port is ignored).
pub type Lookup = std::sync::Arc<
    dyn Fn(String) -> futures::future::BoxFuture<'static, std::io::Result<Vec<std::net::SocketAddr>>> + Send + Sync,
>;

/// The webhook client's DNS resolver: resolves a name and keeps only its public
/// addresses (all of them where `ALLOW_INSECURE_WEBHOOKS` allows loopback). reqwest
/// connects only to what this returns, so a name that answers the check with a public
/// address and the connection with a private one (DNS rebinding) gets nowhere.
struct PublicOnly {
    allow_private: bool,
    /// Keep loopback addresses only (`WEBHOOK_LOOPBACK_ONLY`).
    loopback_only: bool,
    /// The resolver asked (the system's when `None`).
    lookup: Option<Lookup>,
}

/// The resolver found no public address for a receiver's name.
#[derive(Debug, thiserror::Error)]
#[error("{REFUSED}")]
struct PrivateAddress;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let (allow_private, loopback_only) = (self.allow_private, self.loopback_only);
        let host = name.as_str().to_owned();
        let lookup = self.lookup.clone();
        Box::pin(async move {
            let answer = async {
                match lookup {
                    Some(lookup) => lookup(host).await,
                    None => tokio::net::lookup_host((host.as_str(), 0)).await.map(Iterator::collect),
                }
            };
            let found = tokio::time::timeout(Duration::from_secs(5), answer)
                .await
                .map_err(|_| Box::new(std::io::Error::new(std::io::ErrorKind::TimedOut, "DNS lookup timed out")) as BoxError)?
                .map_err(|e| Box::new(e) as BoxError)?;
            let kept: Vec<std::net::SocketAddr> =
                found.into_iter().filter(|a| (allow_private || is_public(a.ip())) && (!loopback_only || a.ip().is_loopback())).collect();
            if kept.is_empty() {
                return Err(Box::new(PrivateAddress) as BoxError);
            }
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where a webhook may point in this deployment: a public host in production, and
/// a loopback one where `WEBHOOK_LOOPBACK_ONLY` keeps deliveries on this machine.
///
/// # Errors
/// `validation_failed` naming `url`.
pub async fn check_destination(app: &App, raw: &str) -> Result<(), ApiError> {
    if app.config.webhook_loopback_only && !loopback_url(raw) {
        return Err(ApiError::invalid("url", "must point at this machine (a loopback host): this deployment delivers webhooks nowhere else"));
    }
    if !resolves_publicly(app, raw).await {
        return Err(ApiError::invalid("url", "must point at a public host (it resolves to no public address)"));
    }
    Ok(())
}

/// Whether a URL names a loopback host (`localhost`, 127.0.0.0/8, `::1`).
fn loopback_url(raw: &str) -> bool {
    let Ok(url) = url::Url::parse(raw) else { return false };
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost") || d.to_ascii_lowercase().ends_with(".localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Whether a webhook URL's host resolves to at least one public address (always true
/// where `ALLOW_INSECURE_WEBHOOKS` allows loopback): checked at registration, so a
/// name that points inside the network is refused up front. Delivery checks again,
/// through [`PublicOnly`], since DNS can change after registration.
pub async fn resolves_publicly(app: &App, raw: &str) -> bool {
    if app.config.allow_insecure_webhooks {
        return true;
    }
    let Ok(url) = url::Url::parse(raw) else { return false };
    if let Some(ip) = literal_ip(&url) {
        return is_public(ip);
    }
    let Some(host) = url.host_str() else { return false };
    let resolver = PublicOnly { allow_private: false, loopback_only: false, lookup: None };
    let name: Result<reqwest::dns::Name, _> = host.parse();
    match name {
        Ok(name) => reqwest::dns::Resolve::resolve(&resolver, name).await.is_ok(),
        Err(_) => false,
    }
}

/// The address a URL names literally (`https://10.0.0.1/`, `https://[::1]/`), if any.
fn literal_ip(url: &url::Url) -> Option<std::net::IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(ip.into()),
        url::Host::Ipv6(ip) => Some(ip.into()),
        url::Host::Domain(_) => None,
    }
}

/// Whether a send failed because the resolver refused every address of the name.
#[must_use]
pub fn refused_address(err: &reqwest::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(c) = cause {
        if c.downcast_ref::<PrivateAddress>().is_some() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// The event inserts of a DynamoDB stream batch as Lambda hands it over, each with
/// its record's sequence number (to report a failed one back to Lambda).
pub fn inserted_events(batch: &Value) -> Vec<(Inserted, String)> {
    batch["Records"]
        .as_array()
        .map(|records| {
            records
                .iter()
                .filter(|r| r["eventName"] == "INSERT")
                .filter_map(|r| {
                    let pk = r["dynamodb"]["Keys"]["pk"]["S"].as_str()?;
                    let id = pk.strip_prefix("EVENT#")?.to_owned();
                    let image = r["dynamodb"]["NewImage"].as_object().and_then(item_from_json);
                    let seq = r["dynamodb"]["SequenceNumber"].as_str().unwrap_or_default();
                    Some((Inserted { id, image }, seq.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// An item in DynamoDB's JSON (a stream image as Lambda hands it over); `None` if any
/// value is not DynamoDB JSON (the event is then read from the table).
fn item_from_json(item: &serde_json::Map<String, Value>) -> Option<Item> {
    item.iter().map(|(name, v)| Some((name.clone(), attribute_from_json(v)?))).collect()
}

fn attribute_from_json(v: &Value) -> Option<AttributeValue> {
    let strings = |v: &Value| v.as_array()?.iter().map(|s| s.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>();
    let blob = |v: &Value| base64::engine::general_purpose::STANDARD.decode(v.as_str()?).ok().map(aws_sdk_dynamodb::primitives::Blob::new);
    let (kind, inner) = v.as_object().filter(|o| o.len() == 1)?.iter().next()?;
    Some(match kind.as_str() {
        "S" => AttributeValue::S(inner.as_str()?.to_owned()),
        "N" => AttributeValue::N(inner.as_str()?.to_owned()),
        "BOOL" => AttributeValue::Bool(inner.as_bool()?),
        "NULL" => AttributeValue::Null(inner.as_bool()?),
        "SS" => AttributeValue::Ss(strings(inner)?),
        "NS" => AttributeValue::Ns(strings(inner)?),
        "B" => AttributeValue::B(blob(inner)?),
        "BS" => AttributeValue::Bs(inner.as_array()?.iter().map(blob).collect::<Option<_>>()?),
        "L" => AttributeValue::L(inner.as_array()?.iter().map(attribute_from_json).collect::<Option<_>>()?),
        "M" => AttributeValue::M(item_from_json(inner.as_object()?)?),
        _ => return None,
    })
}

/// The Lambda answer for a stream batch: the records to hand back.
pub fn batch_failures(failed: &[String]) -> Value {
    json!({ "batchItemFailures": failed.iter().map(|s| json!({ "itemIdentifier": s })).collect::<Vec<_>>() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_standard_webhooks() {
        // Test vector of the Standard Webhooks specification.
        let sig = signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn retry_after_is_read_in_seconds_or_as_a_date_and_capped_without_panicking() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-24T12:00:00Z").unwrap().with_timezone(&Utc);
        let cases: [(&str, Option<u64>); 12] = [
            ("7", Some(7)),
            (" 7 ", Some(7)),
            ("1.2", Some(2)),
            ("-5", Some(0)),
            ("0", Some(0)),
            ("10000000000000", Some(86_400)),
            ("1e308", Some(86_400)),
            ("NaN", None),
            ("soon", None),
            ("Tue, 24 Nov 2026 12:00:30 GMT", Some(30)),
            ("Tue, 24 Nov 2026 11:00:00 GMT", Some(0)),
            ("Fri, 31 Dec 9999 23:59:59 GMT", Some(86_400)),
        ];
        for (header, expected) in cases {
            assert_eq!(retry_after(header, now).map(|d| d.as_secs()), expected, "Retry-After: {header}");
        }
    }

    #[test]
    fn time_arithmetic_saturates_instead_of_overflowing() {
        let far = later(chrono::DateTime::<Utc>::MAX_UTC, Duration::from_secs(60));
        assert_eq!(far, chrono::DateTime::<Utc>::MAX_UTC);
        let now = Utc::now();
        assert_eq!(later(now, Duration::from_secs(5)), now + chrono::Duration::seconds(5));
    }

    fn due(webhook: &str, event: usize) -> DueEntry {
        DueEntry { pk: format!("DELIVERY#{webhook}#{event}"), due: format!("{event:05}"), webhook_id: webhook.into(), event_id: event.to_string(), tenant: None }
    }

    fn due_of(tenant: &str, webhook: &str, event: usize) -> DueEntry {
        DueEntry { tenant: Some(tenant.into()), ..due(webhook, event) }
    }

    #[test]
    fn a_tenants_many_endpoints_hold_only_its_share_of_a_run() {
        // A tenant's 20 dead endpoints, 40 due each, all sooner than another tenant's retry.
        let mut queue: Vec<DueEntry> = (0..40).flat_map(|i| (0..20).map(move |w| due_of("dead", &format!("dead{w}"), i))).collect();
        queue.push(due_of("other", "other", 0));
        let picked = fair_pick(queue.clone(), &Busy::default(), RUN_CONCURRENCY);
        assert!(picked.contains(&due_of("other", "other", 0)), "the other tenant's retry is in the first pass");
        assert_eq!(picked.iter().filter(|e| e.tenant_key() == "dead").count(), PER_TENANT, "the tenant gets its share only");
        let mut full = Busy::default();
        for w in 0..PER_TENANT {
            full.add(&format!("dead{w}"), "dead");
        }
        assert_eq!(fair_pick(queue, &full, RUN_CONCURRENCY), vec![due_of("other", "other", 0)], "in flight on any of its endpoints counts");
        // A delivery written before deliveries named their tenant is its endpoint's own.
        assert_eq!(due("w", 0).tenant_key(), "w");
        // Four tenants at their share fill the run; when one attempt ends, the slot goes
        // to a tenant with nothing in flight, not back to the backlog due soonest.
        let mut busy = Busy::default();
        for t in 0..4 {
            for w in 0..PER_TENANT {
                busy.add(&format!("t{t}-{w}"), &format!("t{t}"));
            }
        }
        busy.remove("t0-0", "t0");
        let mut queue: Vec<DueEntry> = (0..10).flat_map(|i| (0..PER_TENANT).map(move |w| due_of("t0", &format!("t0-{w}"), i))).collect();
        queue.push(due_of("fresh", "fresh", 0));
        assert_eq!(fair_pick(queue, &busy, 1), vec![due_of("fresh", "fresh", 0)]);
    }

    #[test]
    fn a_pass_picks_round_robin_so_one_endpoints_backlog_holds_only_its_share() {
        // 500 due for a dead endpoint, all sooner than another endpoint's first retry.
        let mut queue: Vec<DueEntry> = (0..500).map(|i| due("dead", i)).collect();
        queue.push(due("other", 0));

        let picked = fair_pick(queue.clone(), &Busy::default(), RUN_CONCURRENCY);
        assert!(picked.contains(&due("other", 0)), "the other endpoint's retry is in the first pass");
        assert_eq!(picked.iter().filter(|e| e.webhook_id == "dead").count(), PER_ENDPOINT, "the backlog gets its share only");

        let mut dead_busy = Busy::default();
        for _ in 0..PER_ENDPOINT {
            dead_busy.add("dead", "dead");
        }
        assert_eq!(fair_pick(queue, &dead_busy, RUN_CONCURRENCY), vec![due("other", 0)], "in-flight attempts count against the share");

        let mixed = vec![due("a", 0), due("a", 1), due("b", 0), due("b", 1), due("c", 0)];
        assert_eq!(fair_pick(mixed.clone(), &Busy::default(), 3), vec![due("a", 0), due("b", 0), due("c", 0)], "free slots bound a pass");
        assert_eq!(fair_pick(mixed.clone(), &Busy::default(), 10), vec![due("a", 0), due("b", 0), due("c", 0), due("a", 1), due("b", 1)]);
    }

    #[test]
    fn only_event_inserts_are_picked_from_a_stream_batch() {
        let batch = json!({ "Records": [
            { "eventName": "INSERT", "dynamodb": { "Keys": { "pk": { "S": "EVENT#e1" } }, "SequenceNumber": "1" } },
            { "eventName": "MODIFY", "dynamodb": { "Keys": { "pk": { "S": "EVENT#e2" } }, "SequenceNumber": "2" } },
            { "eventName": "INSERT", "dynamodb": { "Keys": { "pk": { "S": "CLIENT#c" } }, "SequenceNumber": "3" } }
        ]});
        let insert = Inserted { id: "e1".into(), image: None };
        assert_eq!(inserted_events(&batch), vec![(insert, "1".to_owned())]);
    }

    #[test]
    fn a_records_new_image_is_the_item_as_written_or_none_when_it_is_not_dynamodb_json() {
        let image = json!({
            "pk": { "S": "EVENT#e1" }, "n": { "N": "3" }, "tags": { "SS": ["a", "b"] }, "blob": { "B": "aGk=" },
            "data": { "M": { "list": { "L": [{ "BOOL": true }, { "NULL": true }, { "NS": ["1"] }] } } }
        });
        let batch = json!({ "Records": [
            { "eventName": "INSERT", "dynamodb": { "Keys": { "pk": { "S": "EVENT#e1" } }, "NewImage": image, "SequenceNumber": "1" } },
            { "eventName": "INSERT", "dynamodb": { "Keys": { "pk": { "S": "EVENT#e2" } }, "NewImage": { "pk": { "S": 2 } }, "SequenceNumber": "2" } }
        ]});
        let taken = inserted_events(&batch);
        let s = |v: &str| AttributeValue::S(v.to_owned());
        let expected: Item = HashMap::from([
            ("pk".to_owned(), s("EVENT#e1")),
            ("n".to_owned(), AttributeValue::N("3".into())),
            ("tags".to_owned(), AttributeValue::Ss(vec!["a".into(), "b".into()])),
            ("blob".to_owned(), AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(b"hi".to_vec()))),
            (
                "data".to_owned(),
                AttributeValue::M(HashMap::from([(
                    "list".to_owned(),
                    AttributeValue::L(vec![AttributeValue::Bool(true), AttributeValue::Null(true), AttributeValue::Ns(vec!["1".into()])]),
                )])),
            ),
        ]);
        assert_eq!(taken[0].0.image, Some(expected));
        assert_eq!((taken[1].0.id.as_str(), &taken[1].0.image), ("e2", &None), "read from the table instead");
    }
}

/// Makes aws-lc-rs, the crypto the AWS SDK links anyway, the process's rustls
/// provider, so outbound HTTPS (webhooks) needs no second TLS stack. Call before
/// building a `reqwest` client; later calls do nothing.
pub fn use_aws_lc() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// The deliverer of this function instance.
fn deliverer(app: &'static App) -> &'static Deliverer {
    static D: std::sync::OnceLock<Deliverer> = std::sync::OnceLock::new();
    D.get_or_init(|| Deliverer::new(app))
}

/// The `retry-webhooks` job: one run of [`Deliverer::retry_due`] within [`RUN_BUDGET`].
///
/// # Errors
/// When the store fails.
pub async fn retry_webhooks(app: &'static App) -> Result<Value, ApiError> {
    // Boxed: the whole retry future is deep enough to strain the compiler's layout
    // query when the job runner nests it again; one allocation per run is nothing.
    let made = Box::pin(deliverer(app).retry_due(RUN_BUDGET)).await?;
    Ok(json!({ "attempts": made }))
}

/// The `deliver-webhooks` function. On AWS it consumes the table's stream through
/// its event source mapping; with `LOCAL_STREAM_POLL=1` (under `make run`) it
/// polls DynamoDB Local's stream itself and runs the same delivery code, plus the
/// retry job every second.
///
/// # Errors
/// When the configuration is invalid or the runtime fails.
pub async fn run_delivery() -> Result<(), lambda_runtime::Error> {
    crate::http::init_tracing();
    let app: &'static App = Box::leak(Box::new(App::from_env().await?));
    if std::env::var("LOCAL_STREAM_POLL").is_ok_and(|v| v == "1") {
        return local::poll(app).await;
    }
    // The event source mapping (infra/template.yaml) takes these per-record failures
    // (ReportBatchItemFailures), bisects, retries a bounded number of times and hands
    // what it gives up on to an SQS queue; a poison record is parked here before that.
    lambda_runtime::run(lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<Value>| async move {
        let records = inserted_events(&event.payload);
        let inserts: Vec<Option<Inserted>> = records.iter().map(|(insert, _)| Some(insert.clone())).collect();
        let (started, held) = deliverer(app).take_records(&inserts).await;
        let started: Vec<Ready> = started.into_iter().flatten().collect();
        // The first record held back and all after it go back to Lambda, in order.
        let failed: Vec<String> = held.map(|i| records[i..].iter().map(|(_, seq)| seq.clone()).collect()).unwrap_or_default();
        // Every recorded delivery is safe, so the first attempts of the whole batch run
        // at once (a slow receiver holds up no other event); any that fail to settle
        // are the retry job's after their lease.
        if let Err(e) = deliverer(app).attempt_all(started).await {
            tracing::warn!(error = %e, "first attempts failed; the retry job takes over");
        }
        Ok::<_, lambda_runtime::Error>(batch_failures(&failed))
    }))
    .await
}

mod local {
    //! A local stand-in for Lambda's stream event source mapping and the retry
    //! schedule: reads DynamoDB Local's stream shard by shard and checkpoints each
    //! batch of records once their deliveries are recorded, so a killed poller
    //! resumes where it stopped (at least once); claims due retries beside it.

    use std::collections::HashMap;
    use std::path::PathBuf;
    use std::time::Duration;

    use aws_sdk_dynamodbstreams::types::ShardIteratorType;

    use aws_sdk_dynamodb::types::AttributeValue;
    use aws_sdk_dynamodbstreams::types::AttributeValue as StreamValue;

    use super::{Inserted, deliverer};
    use crate::store::Item;

    /// A stream record's image as a table item; `None` if it holds a kind of value
    /// this SDK does not know (the event is then read from the table).
    fn item(image: HashMap<String, StreamValue>) -> Option<Item> {
        image.into_iter().map(|(name, v)| Some((name, value(v)?))).collect()
    }

    fn value(v: StreamValue) -> Option<AttributeValue> {
        Some(match v {
            StreamValue::S(s) => AttributeValue::S(s),
            StreamValue::N(n) => AttributeValue::N(n),
            StreamValue::Bool(b) => AttributeValue::Bool(b),
            StreamValue::Null(b) => AttributeValue::Null(b),
            StreamValue::Ss(v) => AttributeValue::Ss(v),
            StreamValue::Ns(v) => AttributeValue::Ns(v),
            StreamValue::B(b) => AttributeValue::B(b),
            StreamValue::Bs(v) => AttributeValue::Bs(v),
            StreamValue::L(l) => AttributeValue::L(l.into_iter().map(value).collect::<Option<_>>()?),
            StreamValue::M(m) => AttributeValue::M(item(m)?),
            _ => return None,
        })
    }
    use crate::app::App;

    fn checkpoint_path() -> PathBuf {
        std::env::var("LOCAL_STREAM_CHECKPOINT").map_or_else(|_| PathBuf::from(".run/stream-checkpoint.json"), PathBuf::from)
    }

    fn load() -> HashMap<String, String> {
        std::fs::read(checkpoint_path()).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    }

    fn save(marks: &HashMap<String, String>) {
        let path = checkpoint_path();
        let tmp = path.with_extension("tmp");
        if std::fs::write(&tmp, serde_json::to_vec(marks).unwrap_or_default()).is_ok() {
            let _ = std::fs::rename(tmp, path);
        }
    }

    pub async fn poll(app: &'static App) -> Result<(), lambda_runtime::Error> {
        let sdk = crate::store::sdk_config();
        let db = aws_sdk_dynamodb::Client::new(&sdk);
        let streams = aws_sdk_dynamodbstreams::Client::new(&sdk);
        let table = db.describe_table().table_name(app.store.table()).send().await?;
        let arn = table.table.and_then(|t| t.latest_stream_arn).ok_or("the table has no stream")?;
        let mut marks = load();
        tracing::info!(stream = %arn, "polling the local stream");
        // Retries run in a loop of their own, as `retry-webhooks` runs on its own
        // schedule on AWS: a backlog on the stream never holds them up.
        tokio::spawn(retries(app));
        loop {
            if let Err(e) = round(app, &streams, &arn, &mut marks).await {
                tracing::warn!(error = %e, "stream round failed; trying again");
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// The retry job's runs, back to back (300 ms apart when nothing is due): on AWS
    /// one run starts every minute, here the next starts as soon as one has drained
    /// the queue, so tests can watch retry schedules of seconds. A run is the same
    /// code with an hour's budget, as fair as on AWS.
    async fn retries(app: &'static App) {
        loop {
            if let Err(e) = deliverer(app).retry_due(Duration::from_secs(3600)).await {
                tracing::warn!(error = %e, "retry run failed");
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    async fn round(
        app: &'static App,
        streams: &aws_sdk_dynamodbstreams::Client,
        arn: &str,
        marks: &mut HashMap<String, String>,
    ) -> Result<(), lambda_runtime::Error> {
        let mut shards = Vec::new();
        let mut start: Option<String> = None;
        loop {
            let out = streams.describe_stream().stream_arn(arn).set_exclusive_start_shard_id(start.take()).send().await?;
            let desc = out.stream_description.ok_or("no stream description")?;
            shards.extend(desc.shards.unwrap_or_default());
            match desc.last_evaluated_shard_id {
                Some(last) => start = Some(last),
                None => break,
            }
        }
        for shard in shards {
            let Some(id) = shard.shard_id else { continue };
            if marks.get(&id).is_some_and(|m| m == "done") {
                continue;
            }
            let req = streams.get_shard_iterator().stream_arn(arn).shard_id(&id);
            let req = match marks.get(&id) {
                Some(seq) => req.shard_iterator_type(ShardIteratorType::AfterSequenceNumber).sequence_number(seq),
                None => req.shard_iterator_type(ShardIteratorType::TrimHorizon),
            };
            let mut iterator = req.send().await?.shard_iterator;
            while let Some(it) = iterator.take() {
                let t0 = std::time::Instant::now();
                let out = streams.get_records().shard_iterator(it).limit(1000).send().await?;
                let get_ms = t0.elapsed().as_millis();
                let records = out.records.unwrap_or_default();
                let empty = records.is_empty();
                // Each record's sequence number, and the event it inserted, if it did.
                let mut taken: Vec<(String, Option<Inserted>)> = Vec::new();
                for r in records {
                    let inserted = r.event_name.as_ref().is_some_and(|n| n.as_str() == "INSERT");
                    let Some(data) = r.dynamodb else { continue };
                    let pk = data.keys.as_ref().and_then(|k| k.get("pk")).and_then(|v| v.as_s().ok());
                    let id = pk.and_then(|p| p.strip_prefix("EVENT#")).filter(|_| inserted).map(str::to_owned);
                    let event = id.map(|id| Inserted { id, image: data.new_image.and_then(item) });
                    if let Some(seq) = data.sequence_number {
                        taken.push((seq, event));
                    }
                }
                // The batch's records are taken concurrently (each delivery recorded at most
                // once), then checkpointed up to the first one held back: the shard goes on
                // from there next round (a store failure, or a poison record not yet parked),
                // the other shards go on now. The attempts run on their own (a lost one is
                // retried after its lease).
                let events: Vec<Option<Inserted>> = taken.iter().map(|(_, e)| e.clone()).collect();
                let (started, held) = deliverer(app).take_records(&events).await;
                if !taken.is_empty() {
                    let took = t0.elapsed().as_millis() - get_ms;
                    tracing::debug!(records = taken.len(), events = events.iter().flatten().count(), get_ms, take_ms = took, "stream batch");
                }
                // Each event's first attempts on their own: a silent receiver holds up
                // no other event.
                for batch in started {
                    tokio::spawn(async move {
                        if let Err(e) = deliverer(app).attempt_all(batch).await {
                            tracing::warn!(error = %e, "first attempts failed; the retry job takes over");
                        }
                    });
                }
                let last = match held {
                    Some(i) => i.checked_sub(1).map(|i| taken[i].0.clone()),
                    None => taken.last().map(|(seq, _)| seq.clone()),
                };
                if let Some(seq) = last {
                    marks.insert(id.clone(), seq);
                    save(marks);
                }
                if let Some(i) = held {
                    tracing::warn!(shard = %id, record = %taken[i].0, "stream record held back; this shard resumes from it next round");
                    break;
                }
                match out.next_shard_iterator {
                    Some(next) if !empty => iterator = Some(next),
                    Some(_) => break,
                    None => {
                        marks.insert(id.clone(), "done".into());
                        save(marks);
                    }
                }
            }
        }
        Ok(())
    }
}
