//! Clientele's shared library: everything the per-operation Lambda functions
//! do, so that each function's `main` is one line of wiring.
//!
//! # Layout
//!
//! - [`config`]: typed settings, read once per cold start.
//! - [`live_secrets`]: the deployment's secrets from Secrets Manager, kept fresh.
//! - [`app`]: the state a function builds once (config, DynamoDB store).
//! - [`http`]: the runner, request reading (body limits, JSON, paging), responses.
//! - [`error`]: the one error type and its RFC 9457 problem+json form.
//! - [`auth`]: credentials → principal, permissions, tenancy.
//! - [`secrets`]: generating, hashing and signing secrets.
//! - [`domain`]: validated values and the records (partners, keys, clients).
//! - [`store`]: the DynamoDB table: key layout, transactions, lists, cursors.
//! - [`dialects`]: the seed APIs served beside `/v1` (representations of the same operations).
//! - [`api`]: one function per route; [`routes`]: the route table (generated).
//! - [`access_policy`]: the keys each function may touch (generated; see [`store::access`]).

pub mod access_policy;
pub mod api;
pub mod app;
pub mod auth;
pub mod config;
pub mod dialects;
pub mod domain;
pub mod error;
pub mod events;
pub mod http;
pub mod jobs;
pub mod live_secrets;
pub mod routes;
pub mod samples;
pub mod secrets;
pub mod store;
pub mod webhooks;

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, Ordering};

pub use error::ApiError;
pub use http::{run, run_stateless};
pub use lambda_http::Error;
pub use lambda_runtime;

/// Every function's allocator (declared once here, so every binary that links the
/// library gets it): mimalloc, which spends about half the instructions of glibc's malloc
/// per request (BENCHMARKS.md, "Where a retrieve's instructions go").
#[global_allocator]
static ALLOCATOR: Allocator = Allocator;

/// mimalloc in a process without transparent huge pages. Where the kernel gives them to
/// every aligned region (`always`), mimalloc's arenas fill 2 MiB pages: a function's
/// peak RSS went from 9 MB to 17 MB for a heap of a few MB. The first allocation Rust asks
/// for (before `main`) turns them off for the process (and the processes it starts): the
/// kernel checks the setting at each page fault, so every arena is covered from then on.
struct Allocator;

static HUGE_PAGES_OFF: AtomicBool = AtomicBool::new(false);

fn huge_pages_off() {
    if !HUGE_PAGES_OFF.load(Ordering::Relaxed) && !HUGE_PAGES_OFF.swap(true, Ordering::Relaxed) {
        // SAFETY: PR_SET_THP_DISABLE takes integer arguments only and touches no memory of ours.
        #[cfg(target_os = "linux")]
        unsafe {
            libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        }
    }
}

// SAFETY: every call is mimalloc's own, unchanged; only a prctl comes before the first.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        huge_pages_off();
        // SAFETY: the caller's contract, passed on.
        unsafe { mimalloc::MiMalloc.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        huge_pages_off();
        // SAFETY: the caller's contract, passed on.
        unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// The allocator turned transparent huge pages off for this (test) process before
    /// anything else ran: what keeps a function's peak RSS near 10 MB, not 17.
    #[test]
    fn the_allocator_turns_huge_pages_off_for_the_process() {
        // SAFETY: PR_GET_THP_DISABLE reads a flag and takes integer arguments only.
        let off = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        assert_eq!(off, 1, "transparent huge pages are still on");
    }
}
