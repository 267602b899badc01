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

use libmimalloc_sys as ffi;
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
///
/// Most of Rust's allocations ask for an alignment of 8 or less, which every block of
/// mimalloc has (its block sizes are whole words; its 8-byte blocks are only that
/// aligned): those take `mi_malloc`, `mi_zalloc` and
/// `mi_realloc`, whose fast paths skip the alignment checks of the `_aligned` calls the
/// `mimalloc` crate makes for every layout (measured by callgrind: 39 000 fewer
/// instructions a retrieve, 152 000 a list page). A wider alignment still takes the
/// `_aligned` calls.
struct Allocator;

/// The alignment every mimalloc block has, whatever its size (`MI_INTPTR_SIZE`: its block
/// sizes are whole words, and an 8-byte block is not 16-aligned).
const BLOCK_ALIGN: usize = std::mem::size_of::<usize>();

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

// SAFETY: every call is mimalloc's own; a block from `mi_malloc` is aligned to
// BLOCK_ALIGN, so it serves any layout of that alignment or less, and `mi_free` and
// `mi_realloc` take blocks of either kind. Only a prctl comes before the first call.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        huge_pages_off();
        // SAFETY: the caller's contract (a non-zero size), passed on.
        unsafe {
            if layout.align() <= BLOCK_ALIGN {
                ffi::mi_malloc(layout.size()).cast()
            } else {
                ffi::mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        huge_pages_off();
        // SAFETY: as `alloc`.
        unsafe {
            if layout.align() <= BLOCK_ALIGN {
                ffi::mi_zalloc(layout.size()).cast()
            } else {
                ffi::mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator (the caller's contract): mimalloc's.
        unsafe { ffi::mi_free(ptr.cast()) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract; the block keeps the layout's alignment.
        unsafe {
            if layout.align() <= BLOCK_ALIGN {
                ffi::mi_realloc(ptr.cast(), new_size).cast()
            } else {
                ffi::mi_realloc_aligned(ptr.cast(), new_size, layout.align()).cast()
            }
        }
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

    /// Every block has its layout's alignment, whichever of mimalloc's calls served it:
    /// an 8-byte block is only 8-aligned, so a 16-aligned layout must not take `mi_malloc`;
    /// a reallocation keeps the alignment and the bytes.
    #[test]
    fn every_block_has_its_layouts_alignment() {
        use std::alloc::{GlobalAlloc, Layout};
        let a = super::Allocator;
        for align in [1, 2, 4, 8, 16, 32, 64, 4096] {
            for size in (1..=200).chain([1000, 4096, 5000, 70_000, 300_000]) {
                let layout = Layout::from_size_align(size, align).expect("a layout");
                // SAFETY: non-zero sizes; every block is freed with its own layout.
                unsafe {
                    let p = a.alloc(layout);
                    let z = a.alloc_zeroed(layout);
                    assert!(!p.is_null() && !z.is_null());
                    assert_eq!(p as usize % align, 0, "alloc of {size} bytes at {align}");
                    assert_eq!(z as usize % align, 0, "alloc_zeroed of {size} bytes at {align}");
                    assert!(std::slice::from_raw_parts(z, size).iter().all(|b| *b == 0));
                    p.write_bytes(0xa5, size);
                    let r = a.realloc(p, layout, size * 3);
                    assert_eq!(r as usize % align, 0, "realloc of {size} bytes at {align}");
                    assert!(std::slice::from_raw_parts(r, size).iter().all(|b| *b == 0xa5));
                    a.dealloc(r, Layout::from_size_align(size * 3, align).expect("a layout"));
                    a.dealloc(z, layout);
                }
            }
        }
    }
}
