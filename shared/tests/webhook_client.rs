//! The webhook client's address checks at delivery time (API.md §5a): a name whose
//! DNS answer changes between the registration's check and the delivery (DNS rebinding)
//! is refused at delivery, and nothing connects to the private address it now names.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

mod common;

use clientele::webhooks::{Lookup, client, refused_address};
use common::listener;
use futures::FutureExt as _;

#[tokio::test]
async fn a_name_that_rebinds_to_a_private_address_at_delivery_is_refused_and_never_connected_to() {
    let (port, connections) = listener().await;
    // The name passed the registration's check with a public answer; at delivery time
    // its DNS answers this machine's address (a rebinding attacker's DNS). Each delivery
    // asks the resolver again and is judged on that answer.
    let lookups = Arc::new(AtomicUsize::new(0));
    let counted = lookups.clone();
    let rebinding: Lookup = Arc::new(move |_name| {
        counted.fetch_add(1, Ordering::SeqCst);
        async { Ok(vec![SocketAddr::from((Ipv4Addr::new(127, 0, 0, 1), 0))]) }.boxed()
    });
    let http = client(false, false, Some(rebinding));
    for attempt in 0..4 {
        let sent = http.post(format!("http://hooks.rebind.example:{port}/hook")).body("{}").send().await;
        let err = sent.expect_err("a private answer at delivery time is refused");
        assert!(refused_address(&err), "attempt {attempt}: refused as a private address, got {err:?}");
    }
    assert_eq!(lookups.load(Ordering::SeqCst), 4, "every delivery asked the resolver again");
    // Only private addresses: refused.
    let private: Lookup = Arc::new(|_name| async { Ok(vec![SocketAddr::from(([127, 0, 0, 1], 0)), SocketAddr::from(([10, 0, 0, 7], 0))]) }.boxed());
    let err = client(false, false, Some(private)).post(format!("http://private.example:{port}/")).send().await.expect_err("refused");
    assert!(refused_address(&err), "every address private: refused, got {err:?}");
    assert_eq!(connections.load(Ordering::SeqCst), 0, "nothing connected to the private address");
}

/// A public address (TEST-NET would count as private): the send to it is given a moment
/// and dropped, as only the resolver's verdict matters here, not whether it answers.
const PUBLIC: [u8; 4] = [1, 1, 1, 1];

/// Whether a send was let through to connecting (not refused by the resolver) within
/// 300 ms: still connecting then, or failed for another reason than a refusal.
async fn let_through(http: &reqwest::Client, url: String) -> bool {
    match tokio::time::timeout(std::time::Duration::from_millis(300), http.post(url).body("{}").send()).await {
        Err(_still_connecting) => true,
        Ok(Ok(_)) => true,
        Ok(Err(e)) => !refused_address(&e),
    }
}

#[tokio::test]
async fn a_name_whose_answer_changes_from_public_to_private_between_deliveries_is_refused_once_it_does() {
    let (port, connections) = listener().await;
    // One client, one name: the first delivery's answer is public, the next ones' is this
    // machine's address (the attacker's DNS changed its answer after a first check).
    let lookups = Arc::new(AtomicUsize::new(0));
    let counted = lookups.clone();
    let changing: Lookup = Arc::new(move |_name| {
        let first = counted.fetch_add(1, Ordering::SeqCst) == 0;
        async move { Ok(vec![SocketAddr::from((if first { PUBLIC } else { [127, 0, 0, 1] }, 0))]) }.boxed()
    });
    let http = client(false, false, Some(changing));
    let url = format!("http://hooks.changing.example:{port}/hook");
    assert!(let_through(&http, url.clone()).await, "the public answer is let through to connecting");
    for attempt in 0..3 {
        let err = http.post(url.clone()).body("{}").send().await.expect_err("the private answer is refused");
        assert!(refused_address(&err), "attempt {attempt}: refused as a private address, got {err:?}");
    }
    assert_eq!(lookups.load(Ordering::SeqCst), 4, "each delivery asked the resolver again (no cached answer)");
    // A public address beside a private one: only the public one is tried.
    let mixed: Lookup = Arc::new(|_name| async { Ok(vec![SocketAddr::from(([127, 0, 0, 1], 0)), SocketAddr::from((PUBLIC, 0))]) }.boxed());
    assert!(let_through(&client(false, false, Some(mixed)), format!("http://mixed.example:{port}/")).await, "the public address is tried");
    assert_eq!(connections.load(Ordering::SeqCst), 0, "nothing connected to the private address");
}

#[tokio::test]
async fn the_same_name_is_delivered_to_where_private_addresses_are_allowed() {
    // The control: with ALLOW_INSECURE_WEBHOOKS (local use) the same answers connect, so
    // the refusals above are the resolver's doing, not a dead listener's.
    let (port, connections) = listener().await;
    let local: Lookup = Arc::new(|_name| async { Ok(vec![SocketAddr::from(([127, 0, 0, 1], 0))]) }.boxed());
    let _ = client(true, false, Some(local)).post(format!("http://hooks.rebind.example:{port}/hook")).send().await;
    assert_eq!(connections.load(Ordering::SeqCst), 1, "connected once");
}
