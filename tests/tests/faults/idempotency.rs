//! A repeat of an `Idempotency-Key` while its first request is still running is
//! 409 `idempotency_conflict` (API.md §1). Made certain rather than likely: the fault
//! proxy holds the first request's product write, which comes after its idempotency
//! claim, so the first request stays claimed and unfinished while the repeat is
//! answered. No process is frozen, so it does not matter which of the emulator's
//! instances runs which request.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::store_faults;
use crate::helpers::{app, unique};

/// Where the idempotency record of `idem` stands: None (not claimed yet),
/// Some(false) (claimed, running), Some(true) (finished, response kept).
async fn record_state(idem: &str) -> Option<bool> {
    app().idempotency_record(idem).await.map(|item| item.contains_key("response"))
}

async fn create_product(slug: &str, idem: &str) -> crate::helpers::Resp {
    let body = json!({ "name": slug, "slug": slug });
    app().call_with(Method::POST, "/v1/products", &app().admin, Some(body), &[("idempotency-key", idem)]).await
}

#[tokio::test]
async fn a_repeat_while_the_first_request_still_runs_is_409_idempotency_conflict() {
    let app = app();
    // Instances started and idle, so that the repeat need not wait for one to start: the
    // held write must go on within the store client's 2 s attempt timeout.
    let warm: Vec<String> = (0..2).map(|_| unique("warm").to_lowercase()).collect();
    let warming = warm.iter().map(|s| app.create_product(&app.admin, json!({ "name": s, "slug": s })));
    for made in futures::future::join_all(warming).await {
        made.expect(201);
    }
    for round in 0..5 {
        let (slug, idem) = (unique("slow").to_lowercase(), unique("idem"));
        store_faults::hold("TransactWriteItems", &slug).await;
        let first = tokio::spawn({
            let (slug, idem) = (slug.clone(), idem.clone());
            async move { create_product(&slug, &idem).await }
        });
        store_faults::until_held("the first request's product write").await;
        // At once: the store client waits 2 s for the held write before it retries (the
        // retry is not held), so the first request is unfinished for about that long.
        let repeat = create_product(&slug, &idem).await;
        store_faults::release().await;
        let first = first.await.unwrap();
        first.expect(201);
        if repeat.status == 201 && repeat.header("idempotent-replayed") == Some("true") {
            // The repeat came after those 2 s: the first request's retry had finished it.
            eprintln!("round {round}: the first request finished before the repeat");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        // Anything else than that replay or a 409 (the repeat run as a request of its own:
        // a second product, or its name taken) fails here.
        repeat.problem(409, "idempotency_conflict");
        assert_eq!(repeat.header("idempotent-replayed"), None);
        assert_eq!(record_state(&idem).await, Some(true), "the first request finished and its answer is kept");

        let replay = create_product(&slug, &idem).await;
        assert_eq!((replay.status, replay.header("idempotent-replayed")), (201, Some("true")));
        assert_eq!(replay.body, first.body, "once it finished, the repeat is its replay");
        let products = app.call(Method::GET, "/v1/products?limit=100", &app.admin, None).await;
        let made = products.expect(200)["data"].as_array().unwrap().iter().filter(|p| p["slug"] == slug.as_str()).count();
        assert_eq!(made, 1, "the request ran once");
        return;
    }
    panic!("in 5 rounds the repeat was never answered while the first request ran");
}
