//! Failed Basic logins per username, to stop online password guessing (API.md §5a):
//! `LOGINFAIL#<sha256 of the username>` counts the wrong passwords of the current
//! 15-minute window. The username is hashed so that neither its length nor its
//! text (an unknown username may be anything a stranger sends) reaches a key, and
//! unknown usernames are counted exactly like known ones.

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use serde::Deserialize;

use super::{Store, key, n, sdk_error};
use crate::error::ApiError;
use crate::secrets;

/// Wrong passwords allowed per username and window.
pub const MAX_FAILURES: i64 = 5;
/// The window, in seconds.
pub const WINDOW_SECONDS: i64 = 15 * 60;

fn pk(username: &str) -> String {
    format!("LOGINFAIL#{}", secrets::sha256_hex(&username.to_lowercase()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Failures {
    count: i64,
    window_start: i64,
}

impl Store {
    /// When the username has had its wrong passwords for this window: the seconds
    /// until the window ends. `None` while it may still try.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn login_blocked_for(&self, username: &str, now: i64) -> Result<Option<i64>, ApiError> {
        let Some(f) = self.get::<Failures>(pk(username), "#").await? else { return Ok(None) };
        let ends = f.window_start.saturating_add(WINDOW_SECONDS);
        Ok((f.count >= MAX_FAILURES && now < ends).then(|| (ends - now).max(1)))
    }

    /// Counts one wrong password: in the current window, or as the first of a new one.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn record_login_failure(&self, username: &str, now: i64) -> Result<(), ApiError> {
        let expires = now + WINDOW_SECONDS + 60;
        // Two racing failures both count: the increment is atomic, and the fresh window
        // is put only where no current one exists (else the increment runs again).
        for _ in 0..3 {
            let counted = self
                .db
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(pk(username), "#")))
                .update_expression("ADD #count :one")
                .condition_expression("attribute_exists(pk) AND windowStart > :cutoff")
                .expression_attribute_names("#count", "count")
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":cutoff", n(now - WINDOW_SECONDS))
                .send()
                .await;
            match counted {
                Ok(_) => return Ok(()),
                Err(e) if matches!(e.as_service_error(), Some(UpdateItemError::ConditionalCheckFailedException(_))) => {}
                Err(e) => return Err(sdk_error("UpdateItem", e)),
            }
            let fresh = self
                .db
                .put_item()
                .table_name(&self.table)
                .set_item(Some(super::to_item(
                    pk(username),
                    "#",
                    &serde_json::json!({ "count": 1, "windowStart": now, "expiresAt": expires }),
                )?))
                .condition_expression("attribute_not_exists(pk) OR windowStart <= :cutoff")
                .expression_attribute_values(":cutoff", n(now - WINDOW_SECONDS))
                .send()
                .await;
            match fresh {
                Ok(_) => return Ok(()),
                Err(e) if matches!(e.as_service_error(), Some(PutItemError::ConditionalCheckFailedException(_))) => {}
                Err(e) => return Err(sdk_error("PutItem", e)),
            }
        }
        Err(ApiError::Unavailable("login failure counter stayed contended".into()))
    }
}
