//! Usage counters against quotas: one item per client × resource × period
//! (`USAGE#<client>#<resource>#<period key>`), so a new period starts from zero
//! without any reset job, and an increment is one conditional write (a one-item
//! transaction, so a retried send applies once) that can never take usage past the
//! limit, however many requests race.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};

use super::tx::{Cond, Failed, Tx};
use super::{Guard, Store, key, n};
use crate::domain::timestamp;
use crate::domain::values::Period;
use crate::error::ApiError;

/// The current period of a quota: its key and when it ends (`None`: lifetime).
pub fn current_period(period: Option<Period>, now: DateTime<Utc>) -> (String, Option<DateTime<Utc>>) {
    match period {
        None => ("lifetime".into(), None),
        Some(Period::Day) => {
            let start = now.date_naive();
            (start.format("%Y-%m-%d").to_string(), Some(midnight(start + Duration::days(1))))
        }
        Some(Period::Month) => {
            let (y, m) = (now.year(), now.month());
            let next = if m == 12 { NaiveDate::from_ymd_opt(y + 1, 1, 1) } else { NaiveDate::from_ymd_opt(y, m + 1, 1) };
            (format!("{y:04}-{m:02}"), next.map(midnight))
        }
    }
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight exists"))
}

/// `resetsAt` as the API writes it.
pub fn resets_at(end: Option<DateTime<Utc>>) -> Option<String> {
    end.map(timestamp)
}

pub(crate) fn usage_pk(client_id: &str, resource: &str, period_key: &str) -> String {
    format!("USAGE#{client_id}#{resource}#{period_key}")
}

impl Store {
    /// Adds `amount` to a usage counter only if the result stays within `limit`.
    /// Returns the counter's total just after.
    ///
    /// The increment is a one-item transaction, not a plain `UpdateItem`: its
    /// `ClientRequestToken` makes the SDK's retry of a send whose answer was lost (an
    /// attempt timeout after DynamoDB applied it) apply nothing a second time, where an
    /// `ADD` would count the usage twice (or refuse it as past the limit). The total is
    /// then read back, strongly consistent.
    ///
    /// # Errors
    /// `quota_exceeded` when it would pass the limit (nothing is added).
    pub async fn add_usage(
        &self,
        client_id: &str,
        resource: &str,
        period: (&str, Option<DateTime<Utc>>),
        amount: u64,
        limit: u64,
    ) -> Result<u64, ApiError> {
        let exceeded = || ApiError::QuotaExceeded(format!("Adding {amount} {resource} would pass the limit of {limit}"));
        if amount > limit {
            return Err(exceeded());
        }
        // Kept a while after the period ends, then DynamoDB's TTL removes it.
        let expires = period.1.map_or(i64::MAX / 2, |end| (end + Duration::days(45)).timestamp());
        let pk = usage_pk(client_id, resource, period.0);
        let mut tx = Tx::new();
        tx.update(
            &self.table,
            key(pk.clone(), "#"),
            "ADD used :n SET expiresAt = :ttl".into(),
            Vec::new(),
            vec![(":n".into(), n(amount as i64)), (":ttl".into(), n(expires))],
            Some(Cond::new("attribute_not_exists(used) OR used <= :max").value(":max", n((limit - amount) as i64))),
            Some(Guard::Quota),
        );
        match self.commit(tx).await {
            Ok(()) => {}
            Err(Failed::Condition(_)) => return Err(exceeded()),
            Err(Failed::Error(e)) => return Err(e),
        }
        let used = self.get_item(pk, "#").await?.and_then(|item| match item.get("used") {
            Some(AttributeValue::N(n)) => n.parse().ok(),
            _ => None,
        });
        Ok(used.unwrap_or(amount))
    }

    /// Current usage of many counters, by usage key; missing ones are 0.
    pub async fn usage_of(&self, pks: &[String]) -> Result<HashMap<String, u64>, ApiError> {
        let items: Vec<HashMap<String, serde_json::Value>> = self.batch_get(pks).await?;
        Ok(items
            .into_iter()
            .filter_map(|m| Some((m.get("pk")?.as_str()?.to_owned(), m.get("used")?.as_u64()?)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_key_by_day_and_month_and_reset_at_the_next_boundary() {
        let t = Utc.with_ymd_and_hms(2026, 12, 31, 15, 4, 5).unwrap();
        let (k, end) = current_period(Some(Period::Month), t);
        assert_eq!((k.as_str(), resets_at(end).as_deref()), ("2026-12", Some("2027-01-01T00:00:00.000Z")));
        let (k, end) = current_period(Some(Period::Day), t);
        assert_eq!((k.as_str(), resets_at(end).as_deref()), ("2026-12-31", Some("2027-01-01T00:00:00.000Z")));
        assert_eq!(current_period(None, t), ("lifetime".to_owned(), None));
    }
}
