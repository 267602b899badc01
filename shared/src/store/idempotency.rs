//! Idempotency records: `IDEM#<principal hash>#<key hash>` holds a request's
//! fingerprint (a keyed hash) and, once it finished, its response, for 24 hours.
//! The response is kept sealed (AES-256-GCM under a key derived from a deployment
//! secret and the raw `Idempotency-Key`, neither of which is stored), because it
//! can hold a secret shown once: the table, its stream and its backups never see
//! it in plaintext. Sealing is the HTTP layer's (`crate::http`); this module keeps
//! what it is given.
//!
//! The first request puts an "in progress" marker with a conditional write, so
//! of two racing requests with one key exactly one runs; the other sees the
//! marker (409) or, later, the stored response (a replay). A marker whose
//! function died is taken over once its lock (longer than any function runs)
//! has passed. Expiry is checked at read time too, as DynamoDB's TTL is lazy.

use serde::{Deserialize, Serialize};

use super::{Store, key, sdk_error, to_item, took_place};
use crate::error::ApiError;

/// How long a key is remembered.
pub const KEEP_SECONDS: i64 = 24 * 3600;
/// How long an in-progress marker holds (beyond the longest function run).
const LOCK_SECONDS: i64 = 60;

/// A response kept for replay.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    fingerprint: String,
    locked_until: i64,
    expires_at: i64,
    /// The finished response, sealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    response: Option<String>,
}

/// What the store says about a request carrying an idempotency key.
pub enum IdempotencyClaim {
    /// First of its key: run it, then [`Store::finish_idempotent`].
    Fresh,
    /// Done before with the same request: answer this (sealed) response again.
    Replay(String),
    /// The first request with this key is still running.
    InProgress,
    /// The key was used with a different request.
    Mismatch,
}

fn pk(scope: &str) -> String {
    format!("IDEM#{scope}")
}

impl Store {
    /// Claims `scope` (caller + key) for a request with this fingerprint.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn claim_idempotent(&self, scope: &str, fingerprint: &str, now: i64) -> Result<IdempotencyClaim, ApiError> {
        let marker = Record {
            fingerprint: fingerprint.to_owned(),
            locked_until: now + LOCK_SECONDS,
            expires_at: now + KEEP_SECONDS,
            response: None,
        };
        let put = self
            .db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(pk(scope), "#", &marker)?))
            .condition_expression(
                "attribute_not_exists(pk) OR expiresAt < :now OR (attribute_not_exists(#response) AND lockedUntil < :now AND fingerprint = :fp)",
            )
            .expression_attribute_names("#response", "response")
            .expression_attribute_values(":now", super::n(now))
            .expression_attribute_values(":fp", super::s(fingerprint))
            .send()
            .await;
        if took_place("PutItem", put)? {
            return Ok(IdempotencyClaim::Fresh);
        }
        let Some(existing) = self.get::<Record>(pk(scope), "#").await? else {
            // Removed meanwhile (its request failed): the caller may simply retry.
            return Ok(IdempotencyClaim::InProgress);
        };
        Ok(if existing.fingerprint != fingerprint {
            IdempotencyClaim::Mismatch
        } else {
            match existing.response {
                Some(r) => IdempotencyClaim::Replay(r),
                None => IdempotencyClaim::InProgress,
            }
        })
    }

    /// Stores the response of a request that ran under a claim.
    pub async fn finish_idempotent(&self, scope: &str, fingerprint: &str, now: i64, sealed: String) -> Result<(), ApiError> {
        let record = Record {
            fingerprint: fingerprint.to_owned(),
            locked_until: now,
            expires_at: now + KEEP_SECONDS,
            response: Some(sealed),
        };
        self.db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(pk(scope), "#", &record)?))
            .send()
            .await
            .map_err(|e| sdk_error("PutItem", e))?;
        Ok(())
    }

    /// Forgets a finished record only while it still holds `sealed` (the response a
    /// caller read and found it may not replay): false when another request has
    /// replaced or removed it meanwhile, which the caller then reads afresh.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn release_replay(&self, scope: &str, sealed: &str) -> Result<bool, ApiError> {
        let out = self
            .db
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk(scope), "#")))
            .condition_expression("#response = :sealed")
            .expression_attribute_names("#response", "response")
            .expression_attribute_values(":sealed", super::s(sealed))
            .send()
            .await;
        took_place("DeleteItem", out)
    }

    /// Forgets a claim whose request failed on our side, so a retry runs again.
    pub async fn release_idempotent(&self, scope: &str) -> Result<(), ApiError> {
        self.db
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk(scope), "#")))
            .send()
            .await
            .map_err(|e| sdk_error("DeleteItem", e))?;
        Ok(())
    }
}
