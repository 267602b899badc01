//! The webhook client never goes through a proxy (API.md §5a; issue 20): a proxy named
//! in the environment would connect in our stead, to an address our checks never see.
//! Its own test binary, since it sets the process's proxy variables.

use std::sync::Arc;
use std::sync::atomic::Ordering;

mod common;

use clientele::webhooks::{Lookup, client};
use common::listener;
use futures::FutureExt as _;

#[tokio::test]
async fn proxy_variables_are_ignored() {
    let (proxy_port, through_proxy) = listener().await;
    let (port, direct) = listener().await;
    let proxy = format!("http://127.0.0.1:{proxy_port}");
    // SAFETY: this test binary has this one test; no other thread reads the environment.
    unsafe {
        for name in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"] {
            std::env::set_var(name, &proxy);
        }
        std::env::remove_var("NO_PROXY");
        std::env::remove_var("no_proxy");
    }
    let local: Lookup = Arc::new(|_name| async { Ok(vec![std::net::SocketAddr::from(([127, 0, 0, 1], 0))]) }.boxed());
    let _ = client(true, false, Some(local)).post(format!("http://receiver.example:{port}/hook")).body("{}").send().await;
    assert_eq!(through_proxy.load(Ordering::SeqCst), 0, "nothing went to the proxy");
    assert_eq!(direct.load(Ordering::SeqCst), 1, "the receiver was reached directly");
}
