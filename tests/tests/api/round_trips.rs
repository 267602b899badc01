//! How many DynamoDB round trips a request waits for, one after another: the
//! credential's read, then the partner chain beside the request's own read (issue 12);
//! and how many calls a retrieve makes (the same two) and a list page (four: issue 22).
//! Counted by an SDK interceptor on an in-process App, so the figures are the
//! handler's own; `make bench` reports them beside their floors.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_sdk_dynamodb::config::interceptors::{BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use clientele::app::App;
use clientele::http::{Ctx, Reply};
use clientele::store::Store;
use serde_json::json;

use crate::helpers::{app, unique, unique_email};
use crate::in_process::event_with_query as event;

/// Each DynamoDB call's start and end.
#[derive(Debug, Clone, Default)]
struct Calls(Arc<Mutex<Vec<(Instant, Instant)>>>);

#[derive(Debug)]
struct Started(Instant);

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

impl Intercept for Calls {
    fn name(&self) -> &'static str {
        "round-trips"
    }

    fn read_before_transmit(&self, _: &BeforeTransmitInterceptorContextRef<'_>, _: &RuntimeComponents, cfg: &mut ConfigBag) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(Started(Instant::now()));
        Ok(())
    }

    fn read_before_deserialization(&self, _: &BeforeDeserializationInterceptorContextRef<'_>, _: &RuntimeComponents, cfg: &mut ConfigBag) -> Result<(), BoxError> {
        if let Some(Started(at)) = cfg.load::<Started>() {
            self.0.lock().unwrap().push((*at, Instant::now()));
        }
        Ok(())
    }
}

impl Calls {
    /// The calls made since the last take, and the longest chain of them that ran
    /// one after another (each starting once the one before had answered).
    fn take(&self) -> (usize, usize) {
        let mut calls = std::mem::take(&mut *self.0.lock().unwrap());
        calls.sort_by_key(|c| c.0);
        let mut depth = vec![0usize; calls.len()];
        for i in 0..calls.len() {
            depth[i] = 1 + (0..i).filter(|&j| calls[j].1 <= calls[i].0).map(|j| depth[j]).max().unwrap_or(0);
        }
        (calls.len(), depth.into_iter().max().unwrap_or(0))
    }
}

/// The App a function builds, over a DynamoDB client that records its calls.
async fn counted_app(calls: &Calls) -> &'static App {
    let config = crate::in_process::stack_config();
    let plain = app().dynamodb().await;
    let db = aws_sdk_dynamodb::Client::from_conf(plain.config().to_builder().interceptor(calls.clone()).build());
    Box::leak(Box::new(App { store: Store::new(db, config.table_name.clone()), config }))
}

/// Runs a request three times and gives its calls and its least sequential depth (a
/// slow scheduler can only make concurrent calls look sequential, never the reverse).
async fn measure<F, Fut>(lambda: &'static App, calls: &Calls, request: impl Fn() -> lambda_http::Request, handler: F) -> (usize, usize)
where
    F: Fn(Ctx) -> Fut + Copy,
    Fut: Future<Output = Result<Reply, clientele::ApiError>>,
{
    let mut best = (usize::MAX, usize::MAX);
    for _ in 0..3 {
        calls.take();
        let res = clientele::http::serve(lambda, request(), "round-trips", handler).await;
        assert!(res.status().is_success(), "{:?}", res.body());
        let (n, depth) = calls.take();
        best = (best.0.min(n), best.1.min(depth));
    }
    best
}

#[tokio::test]
async fn a_read_waits_for_two_round_trips_and_a_change_for_three() {
    use clientele::api::clients;
    let calls = Calls::default();
    let lambda = counted_app(&calls).await;
    let p = app().partner().await;
    let c = app().client(&p).await;
    let (id, number, username) = (c["id"].as_str().unwrap(), c["number"].to_string(), c["username"].as_str().unwrap().to_owned());
    let key = c["apiKey"].as_str().unwrap().to_owned();

    let path = format!("/v1/clients/{id}");
    let retrieve = measure(lambda, &calls, || event("GET", &path, &[("clientId", id)], "", &p.key, None), clients::get).await;
    assert_eq!(retrieve, (2, 2), "retrieve: the key's grant, then the partner chain and the client in one BatchGetItem (calls, depth)");

    // A sub-partner's client: its root's current name comes with the caller's chain.
    let sub = app().sub_partner(&p).await;
    let theirs = app().client(&sub).await;
    let sub_path = format!("/v1/clients/{}", theirs["id"].as_str().unwrap());
    let sub_id = theirs["id"].as_str().unwrap();
    let below = measure(lambda, &calls, || event("GET", &sub_path, &[("clientId", sub_id)], "", &sub.key, None), clients::get).await;
    assert_eq!(below, (2, 2), "a sub-partner's retrieve: no read of its root's name (calls, depth)");

    let seed = format!("/api/v1/clients/{number}");
    let dialect = measure(lambda, &calls, || event("GET", &seed, &[("client_id", &number)], "", &p.key, None), clients::get).await;
    assert_eq!(dialect, retrieve, "an integer-id route reads exactly what its /v1 twin reads");

    // The root's page holds the sub-partner's client: its partner's name is read with it.
    for (whose, key) in [("the root's", &p.key), ("the sub-partner's", &sub.key)] {
        let list = measure(lambda, &calls, || event("GET", "/v1/clients", &[], "limit=5", key, None), clients::list_clients).await;
        assert_eq!(list.1, 3, "{whose} list page: grant, then chain, page and total together, then the page's clients and partners ({list:?})");
        assert_eq!(list.0, 4, "{whose} list page, its lists one partition wide: grant, chain, one Query, one batch read ({list:?})");
    }
    // A partner filter by id or number: that partner is read with the caller's chain,
    // beside its page.
    let sub_number = app().get_partner(&sub.key, &sub.id).await.expect(200)["number"].to_string();
    for filter in [format!("partner={}", sub.id), format!("partner={sub_number}"), format!("partner={}", p.id)] {
        let list = measure(lambda, &calls, || event("GET", "/v1/clients", &[], &filter, &p.key, None), clients::list_clients).await;
        assert_eq!(list.1, 3, "{filter}: grant, then chain, the partner, its page and total together, then its clients ({list:?})");
        assert_eq!(list.0, 4, "{filter}: grant, the chain with the filter's partner, one Query, one batch read ({list:?})");
    }

    // By name: the name's claim with the chain, then the partner beside its page (not read
    // again when it is of the caller's chain).
    for (filter, made) in [(format!("partner={}", sub.name), 5), (format!("partner={}", p.name), 4)] {
        let list = measure(lambda, &calls, || event("GET", "/v1/clients", &[], &filter, &p.key, None), clients::list_clients).await;
        assert_eq!(list, (made, 4), "{filter}: grant, the chain with the name's claim, the partner and its page, its clients ({list:?})");
    }

    let by_name = format!("/v1/clients/by-username/{username}");
    let found = measure(lambda, &calls, || event("GET", &by_name, &[("username", &username)], "", &p.key, None), clients::by_username).await;
    assert_eq!(found.1, 3, "by username: grant, then chain and the username's claim, then the client ({found:?})");
    let lookup = measure(lambda, &calls, || event("POST", "/v1/clients/lookup", &[], "", &p.key, Some(json!({ "apiKey": key }))), clients::lookup).await;
    assert_eq!(lookup.1, 3, "lookup: grant, then chain and the key's claim, then the client ({lookup:?})");

    let patch = measure(lambda, &calls, || event("PATCH", &path, &[("clientId", id)], "", &p.key, Some(json!({ "company": unique("co") }))), clients::update).await;
    assert_eq!(patch.1, 3, "a change: grant, then chain and the client, then its transaction ({patch:?})");
    let create = measure(lambda, &calls, || event("POST", "/v1/clients", &[], "", &p.key, Some(json!({ "name": unique("rt"), "email": unique_email() }))), clients::create).await;
    assert_eq!(create.1, 3, "a create: grant, then chain, then its transaction ({create:?})");
}

/// A moved client's history as the partner it joined reads it (`GET /v1/events?clientId=`):
/// the entries of its time under the partner it left are read past in a few round trips
/// (each filtered read asks for four times more than the last), not one per page's worth.
#[tokio::test]
async fn a_moved_clients_history_reads_past_what_the_reader_cannot_see_in_a_few_calls() {
    let calls = Calls::default();
    let lambda = counted_app(&calls).await;
    let root = app().partner().await;
    let (a, b) = (app().sub_partner(&root).await, app().sub_partner(&root).await);
    let c = app().client(&a).await;
    let cid = c["id"].as_str().unwrap().to_owned();
    for i in 0..60 {
        app().update_client(&a.key, &cid, json!({ "company": format!("Before {i}") })).await.expect(200);
    }
    app().update_client(&root.key, &cid, json!({ "directPartner": { "id": b.id } })).await.expect(200);
    app().update_client(&b.key, &cid, json!({ "company": "After" })).await.expect(200);
    // The first page (the update there) and the second, behind it: the move, then 61
    // entries B does not see, to the end of the history.
    let first = app().list_events(&b.key, &format!("?clientId={cid}&limit=1")).await;
    let cursor = first.expect(200)["nextCursor"].as_str().expect("a second page").to_owned();
    let query = format!("clientId={cid}&limit=1&cursor={cursor}");
    let (made, _) = measure(lambda, &calls, || event("GET", "/v1/events", &[], &query, &b.key, None), clientele::api::events::list_events).await;
    // Grant, chain, the client, 4 filtered reads (2, 8, 32, then to the end), the count, the
    // page's events: 9. One read per page's worth would be about 35.
    assert!(made <= 10, "grant, chain, the client, the history's few filtered reads and its count, the page's events: {made} calls");
    let second = app().list_events(&b.key, &format!("?{query}")).await;
    let second = second.expect(200);
    assert_eq!((second["total"].as_u64(), second["data"][0]["data"]["object"]["company"].as_str()), (Some(2), Some("Before 59")));
    assert!(second["nextCursor"].is_null(), "nothing after the move is B's: {second}");
}
