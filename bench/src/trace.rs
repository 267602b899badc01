//! Every DynamoDB call a request makes, with when it started (its operation's first
//! poll) and when it ended (its answer deserialized), recorded by an SDK interceptor:
//! calls by kind, and sequential depth (the longest chain of calls each of which
//! started only after the previous had ended).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use serde_json::Value;

/// One DynamoDB call (one attempt).
#[derive(Debug, Clone)]
pub struct Call {
    /// The operation (`GetItem`, `BatchGetItem`, `Query`, `TransactWriteItems`, ...).
    pub op: String,
    pub start: Instant,
    pub end: Instant,
    /// The request as DynamoDB received it (JSON), when bodies are kept.
    pub body: Value,
}

#[derive(Debug, Clone, Copy)]
struct CallId(usize);

impl Storable for CallId {
    type Storer = StoreReplace<Self>;
}

#[derive(Debug)]
struct Open {
    op: String,
    start: Instant,
    body: Value,
    end: Option<Instant>,
}

/// The interceptor: records calls while `on`, their bodies too when `bodies`.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    on: AtomicBool,
    bodies: AtomicBool,
    calls: Mutex<Vec<Open>>,
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "bench-call-recorder"
    }

    // A call starts when its operation starts (the first poll of `send()`), before it is
    // serialized, signed or given a connection: two calls the code sends together both
    // start before either can end, however fast the first answer comes back.
    fn read_before_execution(&self, _: &BeforeSerializationInterceptorContextRef<'_>, cfg: &mut ConfigBag) -> Result<(), BoxError> {
        if !self.inner.on.load(Ordering::Relaxed) {
            return Ok(());
        }
        let start = Instant::now();
        let mut calls = self.inner.calls.lock().unwrap();
        let id = calls.len();
        calls.push(Open { op: String::new(), start, body: Value::Null, end: None });
        cfg.interceptor_state().store_put(CallId(id));
        Ok(())
    }

    fn read_before_transmit(&self, ctx: &BeforeTransmitInterceptorContextRef<'_>, _: &RuntimeComponents, cfg: &mut ConfigBag) -> Result<(), BoxError> {
        let Some(CallId(id)) = cfg.load::<CallId>().copied() else { return Ok(()) };
        let target = ctx.request().headers().get("x-amz-target").unwrap_or("?");
        let op = target.rsplit('.').next().unwrap_or(target).to_owned();
        let body = if self.inner.bodies.load(Ordering::Relaxed) {
            serde_json::from_slice(ctx.request().body().bytes().unwrap_or_default()).unwrap_or(Value::Null)
        } else {
            Value::Null
        };
        if let Some(call) = self.inner.calls.lock().unwrap().get_mut(id) {
            call.op = op;
            call.body = body;
        }
        Ok(())
    }

    // It ends when its operation is over: the answer deserialized (after any retries).
    fn read_after_execution(&self, _: &FinalizerInterceptorContextRef<'_>, _: &RuntimeComponents, cfg: &mut ConfigBag) -> Result<(), BoxError> {
        let end = Instant::now();
        if let Some(CallId(id)) = cfg.load::<CallId>().copied()
            && let Some(call) = self.inner.calls.lock().unwrap().get_mut(id)
        {
            call.end.get_or_insert(end);
        }
        Ok(())
    }
}

impl Recorder {
    /// Starts recording (dropping anything recorded before); `bodies` keeps each request's JSON.
    pub fn start(&self, bodies: bool) {
        self.inner.calls.lock().unwrap().clear();
        self.inner.bodies.store(bodies, Ordering::Relaxed);
        self.inner.on.store(true, Ordering::Relaxed);
    }

    /// Stops recording and returns the calls, in the order they went out.
    pub fn stop(&self) -> Vec<Call> {
        self.inner.on.store(false, Ordering::Relaxed);
        let calls = std::mem::take(&mut *self.inner.calls.lock().unwrap());
        calls
            .into_iter()
            .map(|c| Call { end: c.end.unwrap_or(c.start), op: c.op, start: c.start, body: c.body })
            .collect()
    }
}

/// For each call, the length of the longest chain of non-overlapping calls ending with it
/// (1 for a call that started before any other ended).
pub fn levels(calls: &[Call]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..calls.len()).collect();
    order.sort_by_key(|&i| calls[i].start);
    let mut level = vec![0usize; calls.len()];
    for (n, &i) in order.iter().enumerate() {
        let before = order[..n].iter().filter(|&&j| calls[j].end <= calls[i].start).map(|&j| level[j]).max().unwrap_or(0);
        level[i] = before + 1;
    }
    level
}

/// The sequential depth of a request: its longest chain of non-overlapping calls.
pub fn depth(calls: &[Call]) -> usize {
    levels(calls).into_iter().max().unwrap_or(0)
}

/// For each call, the calls that had ended before it started (what it may have waited for).
pub fn ended_before(calls: &[Call]) -> Vec<Vec<usize>> {
    calls.iter().map(|c| (0..calls.len()).filter(|&j| calls[j].end <= c.start).collect()).collect()
}

/// Calls by kind, as `BatchGetItem 1, GetItem 2`.
pub fn by_kind(calls: &[Call]) -> String {
    let mut kinds: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for c in calls {
        *kinds.entry(c.op.as_str()).or_default() += 1;
    }
    kinds.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", ")
}

/// The stages of a request: for each depth level, its calls by kind, as `GetItem → BatchGetItem + GetItem`.
pub fn stages(calls: &[Call]) -> String {
    let level = levels(calls);
    let deepest = level.iter().copied().max().unwrap_or(0);
    (1..=deepest)
        .map(|l| {
            let mut ops: Vec<&str> = calls.iter().zip(&level).filter(|(_, x)| **x == l).map(|(c, _)| c.op.as_str()).collect();
            ops.sort_unstable();
            ops.join(" + ")
        })
        .collect::<Vec<_>>()
        .join(" → ")
}
