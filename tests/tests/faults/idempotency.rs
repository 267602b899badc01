//! A repeat of an `Idempotency-Key` while its first request is still running is
//! 409 `idempotency_conflict` (API.md §1). Made certain rather than likely: the
//! function's instances are stepped with SIGSTOP/SIGCONT until the table shows the
//! first request claimed and not finished, then the instance running it stays
//! frozen while another instance serves the repeat. The instances are this test's
//! alone: this suite runs one test at a time, and no other test calls the function.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::{app, unique};

/// The function that this test freezes: no other test of this suite calls it, so
/// its instances are this test's alone.
const FUNCTION: &str = "create-product";

/// The processes of this stack's instances of `function` (an instance's
/// environment names this stack's store; another stack's processes do not).
fn instances(function: &str) -> Vec<String> {
    // The functions' own store address (the fault proxy's, on this stack), from their env file.
    let env = std::fs::read_to_string(std::env::var("CLIENTELE_ENV_FILE").unwrap()).unwrap();
    let mine = env.lines().find(|l| l.starts_with("AWS_ENDPOINT_URL_DYNAMODB=")).expect("the env file names the store").to_owned();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = entry.file_name().to_string_lossy().to_string();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() != function {
            continue;
        }
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        if environ.split(|b| *b == 0).any(|v| v == mine.as_bytes()) {
            pids.push(pid);
        }
    }
    pids
}

fn signal(sig: &str, pid: &str) {
    assert!(std::process::Command::new("kill").args([sig, pid]).status().unwrap().success(), "kill {sig} {pid}");
}

/// Frozen instances, resumed when dropped, whatever happens to the test.
struct Frozen(Vec<String>);

impl Frozen {
    fn all(pids: &[String]) -> Self {
        pids.iter().for_each(|p| signal("-STOP", p));
        Self(pids.to_vec())
    }

    /// Resumes every instance but `keep`.
    fn only(mut self, keep: &str) -> Self {
        for p in self.0.iter().filter(|p| *p != keep) {
            signal("-CONT", p);
        }
        self.0.retain(|p| p == keep);
        self
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::process::Command::new("kill").args(["-CONT", p]).status();
        }
    }
}

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
    assert!(instances(FUNCTION).is_empty(), "{FUNCTION} has run before in this stack: its instances would not be this test's alone");
    // Warm instances, idle: the emulator starts a few at the first request.
    let warm = unique("warm").to_lowercase();
    app.create_product(&app.admin, json!({ "name": warm, "slug": warm })).await.expect(201);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!instances(FUNCTION).is_empty(), "an instance of {FUNCTION} runs");

    for round in 0..40 {
        let (slug, idem) = (unique("slow").to_lowercase(), unique("idem"));
        let first = tokio::spawn({
            let (slug, idem) = (slug.clone(), idem.clone());
            async move { create_product(&slug, &idem).await }
        });
        // Step the instances forward a little at a time, all frozen while we look,
        // until the table shows the request claimed and not finished.
        let mut caught = None;
        for _ in 0..3000 {
            // (The request may have started an instance of its own: look each time.)
            let pids = instances(FUNCTION);
            let frozen = Frozen::all(&pids);
            match record_state(&idem).await {
                Some(false) => {
                    caught = Some((frozen, pids));
                    break;
                }
                Some(true) => break,
                None => {}
            }
            drop(frozen);
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let Some((frozen, pids)) = caught else {
            first.await.unwrap().expect(201);
            eprintln!("round {round}: the first request finished between two looks");
            continue;
        };
        // Which instance runs it is not known: keep one frozen (a different one each
        // round), let the others go, and see whether the first request still runs.
        let candidate = &pids[round % pids.len()];
        let frozen = frozen.only(candidate);
        tokio::time::sleep(Duration::from_secs(1)).await;
        if record_state(&idem).await != Some(false) {
            drop(frozen);
            first.await.unwrap().expect(201);
            eprintln!("round {round}: the first request ran elsewhere than instance {candidate}");
            continue;
        }

        // The first request is frozen mid-flight. The repeat, served by another instance:
        let repeat = create_product(&slug, &idem).await;
        let still_running = record_state(&idem).await == Some(false);
        drop(frozen);
        let first = first.await.unwrap();
        first.expect(201);
        if repeat.header("idempotent-replayed").is_some() && !still_running {
            // The first finished before the repeat was claimed: no overlap this round.
            eprintln!("round {round}: the first request finished before the repeat");
            continue;
        }
        repeat.problem(409, "idempotency_conflict");
        assert_eq!(repeat.header("idempotent-replayed"), None);
        assert!(still_running, "the first request was still running when the repeat was answered");

        let replay = create_product(&slug, &idem).await;
        assert_eq!((replay.status, replay.header("idempotent-replayed")), (201, Some("true")));
        assert_eq!(replay.body, first.body, "once it finished, the repeat is its replay");
        let products = app.call(Method::GET, "/v1/products?limit=100", &app.admin, None).await;
        let made = products.expect(200)["data"].as_array().unwrap().iter().filter(|p| p["slug"] == slug.as_str()).count();
        assert_eq!(made, 1, "the request ran once");
        return;
    }
    panic!("the first request was never caught mid-flight in 40 rounds");
}
