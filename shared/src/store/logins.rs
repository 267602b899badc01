//! Wrong passwords, counted to stop online password guessing (API.md §5a), by two
//! counters per attempt:
//!
//! - `LOGINFAIL#U#<sha256 of username and source address>`: at most
//!   [`PAIR_LIMIT`] wrong passwords for one username from one address in
//!   [`PAIR_WINDOW`] seconds. Counted per address, so nobody can lock a teammate
//!   out from afar: the same username from another address is not affected.
//! - `LOGINFAIL#A#<sha256 of source address>`: at most [`ADDRESS_LIMIT`] wrong
//!   passwords from one address over any usernames in [`ADDRESS_WINDOW`] seconds.
//!
//! Each counter holds its window's `count` and `windowStart`; a window starts at
//! its first wrong password. Keys are hashes, so that neither an unknown username
//! (anything a stranger sends) nor an address reaches a key as text, and unknown
//! usernames are counted exactly like known ones.
//!
//! **Judged atomically.** A password is only verified once its attempt has claimed a
//! place in both windows ([`Store::claim_login_place`]): one transaction that adds one
//! to both counters, on condition that each is below its limit. However many guesses
//! race, right or wrong, at most the limit of them are verified; the others are
//! answered 429, which says nothing of the password. A wrong password keeps its place;
//! a right one gives it back ([`Store::give_back_login_place`]), so a teammate's own
//! sign-ins count nothing. Both windows are read first, beside the teammate
//! ([`Store::login_blocked_for`]), so that an attempt while they are full writes nothing.

use serde::Deserialize;

use super::tx::{Cond, Failed};
use super::{Guard, Store, Tx, key, n, to_item};
use crate::error::ApiError;
use crate::secrets;

/// Wrong passwords allowed per (username, source address) and window.
pub const PAIR_LIMIT: i64 = 5;
/// The (username, source address) window, in seconds.
pub const PAIR_WINDOW: i64 = 15 * 60;
/// Wrong passwords allowed per source address, over any usernames, and window.
pub const ADDRESS_LIMIT: i64 = 100;
/// The source address window, in seconds.
pub const ADDRESS_WINDOW: i64 = 3600;

/// The two counters one attempt is judged by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginCounters {
    pair: String,
    address: String,
}

impl LoginCounters {
    /// The counters of `username` (compared in lower case) tried from `source` (an
    /// address as [`crate::auth::Source`] normalizes it).
    pub fn new(username: &str, source: &str) -> Self {
        Self {
            pair: format!("LOGINFAIL#U#{}", secrets::sha256_hex(&format!("{}\n{source}", username.to_lowercase()))),
            address: format!("LOGINFAIL#A#{}", secrets::sha256_hex(source)),
        }
    }

    /// The partition keys, (username and address, address): what a test ages.
    pub fn keys(&self) -> (&str, &str) {
        (&self.pair, &self.address)
    }

    fn each(&self) -> [(&str, i64, i64); 2] {
        [(&self.pair, PAIR_LIMIT, PAIR_WINDOW), (&self.address, ADDRESS_LIMIT, ADDRESS_WINDOW)]
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Window {
    count: i64,
    window_start: i64,
}

impl Window {
    /// The seconds until this window ends, if it is full now.
    fn full_for(&self, limit: i64, window: i64, now: i64) -> Option<i64> {
        let ends = self.window_start.saturating_add(window);
        (self.count >= limit && now < ends).then(|| (ends - now).max(1))
    }

    fn ended(&self, window: i64, now: i64) -> bool {
        self.window_start <= now - window
    }
}

/// How a wrong password's claim came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claimed {
    /// Counted: the attempt may be answered as a wrong password.
    Counted,
    /// A window is full: answer 429, retry after this many seconds.
    Blocked { retry_after: i64 },
}

impl Store {
    async fn windows(&self, counters: &LoginCounters) -> Result<[Option<Window>; 2], ApiError> {
        let (pair, address) = tokio::try_join!(self.get::<Window>(counters.pair.clone(), "#"), self.get::<Window>(counters.address.clone(), "#"))?;
        Ok([pair, address])
    }

    /// When one of the attempt's windows is full: the seconds until the later of the
    /// full ones ends. `None` while it may still try.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn login_blocked_for(&self, counters: &LoginCounters, now: i64) -> Result<Option<i64>, ApiError> {
        let windows = self.windows(counters).await?;
        Ok(blocked_for(counters, &windows, now))
    }

    /// Claims a place for one password guess in both windows, or says how long they
    /// are full. Only a guess that holds a place may be verified.
    ///
    /// # Errors
    /// When the store fails, or (503) when the counters stay contended.
    pub async fn claim_login_place(&self, counters: &LoginCounters, now: i64) -> Result<Claimed, ApiError> {
        let t = self.table();
        for _ in 0..5 {
            let mut tx = Tx::new();
            for (pk, limit, window) in counters.each() {
                // A counter that does not exist yet starts its window now; one whose window
                // ended is started again below, never counted on.
                tx.update(
                    t,
                    key(pk.to_owned(), "#"),
                    "SET windowStart = if_not_exists(windowStart, :now), expiresAt = if_not_exists(expiresAt, :expires) ADD #count :one".into(),
                    vec![("#count".into(), "count".into())],
                    vec![(":now".into(), n(now)), (":expires".into(), n(now + window + 60)), (":one".into(), n(1))],
                    Some(
                        Cond::new("attribute_not_exists(pk) OR (windowStart > :cutoff AND #count < :limit)")
                            .value(":cutoff", n(now - window))
                            .value(":limit", n(limit)),
                    ),
                    Some(Guard::Quota),
                );
            }
            match self.commit(tx).await {
                Ok(()) => return Ok(Claimed::Counted),
                Err(Failed::Error(e)) => return Err(e),
                Err(Failed::Condition(_)) => {}
            }
            // A window is full, or ended: read both to tell which.
            let windows = self.windows(counters).await?;
            if let Some(retry_after) = blocked_for(counters, &windows, now) {
                return Ok(Claimed::Blocked { retry_after });
            }
            for ((pk, _, window), found) in counters.each().into_iter().zip(&windows) {
                if found.as_ref().is_some_and(|w| w.ended(window, now)) {
                    self.restart_window(pk, window, now).await?;
                }
            }
        }
        Err(ApiError::Unavailable("the login failure counters stayed contended".into()))
    }

    /// Gives a right password's place back to both windows. A window that was started
    /// again meanwhile (its count 0) is left alone, and then so is the other: a place
    /// not given back counts one wrong password too many, never one too few.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn give_back_login_place(&self, counters: &LoginCounters) -> Result<(), ApiError> {
        let mut tx = Tx::new();
        for (pk, _, _) in counters.each() {
            tx.update(
                self.table(),
                key(pk.to_owned(), "#"),
                "ADD #count :minus".into(),
                vec![("#count".into(), "count".into())],
                vec![(":minus".into(), n(-1))],
                Some(Cond::new("#count > :zero").value(":zero", n(0))),
                Some(Guard::Quota),
            );
        }
        match self.commit(tx).await {
            Ok(()) | Err(Failed::Condition(_)) => Ok(()),
            Err(Failed::Error(e)) => Err(e),
        }
    }

    /// Starts an ended window again, empty. Of racing restarts one wins; the others'
    /// conditions fail, which is as good.
    async fn restart_window(&self, pk: &str, window: i64, now: i64) -> Result<(), ApiError> {
        let mut tx = Tx::new();
        let fresh = serde_json::json!({ "count": 0, "windowStart": now, "expiresAt": now + window + 60 });
        tx.put(
            self.table(),
            to_item(pk.to_owned(), "#", &fresh)?,
            Some(Cond::new("windowStart <= :cutoff").value(":cutoff", n(now - window))),
            Some(Guard::Record),
        );
        match self.commit(tx).await {
            Ok(()) | Err(Failed::Condition(_)) => Ok(()),
            Err(Failed::Error(e)) => Err(e),
        }
    }
}

fn blocked_for(counters: &LoginCounters, windows: &[Option<Window>; 2], now: i64) -> Option<i64> {
    counters
        .each()
        .into_iter()
        .zip(windows)
        .filter_map(|((_, limit, window), found)| found.as_ref()?.full_for(limit, window, now))
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_is_full_at_its_limit_until_it_ends() {
        let w = Window { count: PAIR_LIMIT, window_start: 1000 };
        assert_eq!(w.full_for(PAIR_LIMIT, PAIR_WINDOW, 1000), Some(PAIR_WINDOW));
        assert_eq!(w.full_for(PAIR_LIMIT, PAIR_WINDOW, 1000 + PAIR_WINDOW - 1), Some(1));
        assert_eq!(w.full_for(PAIR_LIMIT, PAIR_WINDOW, 1000 + PAIR_WINDOW), None);
        assert_eq!(Window { count: PAIR_LIMIT - 1, window_start: 1000 }.full_for(PAIR_LIMIT, PAIR_WINDOW, 1001), None);
        assert!(w.ended(PAIR_WINDOW, 1000 + PAIR_WINDOW));
    }

    #[test]
    fn counters_are_per_username_and_address_and_per_address() {
        let a = LoginCounters::new("Ana", "203.0.113.7");
        assert_eq!(a, LoginCounters::new("ana", "203.0.113.7"), "usernames compare in lower case");
        let b = LoginCounters::new("ana", "203.0.113.8");
        assert_ne!(a.pair, b.pair);
        assert_ne!(a.address, b.address);
        assert_eq!(a.address, LoginCounters::new("bo", "203.0.113.7").address, "one address, any username");
        assert!(a.pair.starts_with("LOGINFAIL#") && a.address.starts_with("LOGINFAIL#"), "within the policy's LOGINFAIL#*");
    }
}
