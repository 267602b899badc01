//! `/v1/clients/{clientId}/usage`: record usage against a quota, and read it.

use chrono::Utc;
use serde_json::{Map, Value, json};

use super::clients::{caller_and_client, visible_as_read};
use crate::domain::client::Client;
use crate::domain::fields::{Errors, Fields, FromJson, parse_with};
use crate::domain::scopes::Scope;
use crate::error::ApiError;
use crate::http::{Ctx, Reply};
use crate::store::Store;
use crate::store::usage::{current_period, resets_at, usage_pk};

/// An amount of usage: a whole number of at least 1.
struct Amount(u64);

impl FromJson for Amount {
    fn from_json(value: &Value, at: &str, errors: &mut Errors) -> Option<Self> {
        parse_with(value, at, errors, |v| {
            crate::domain::fields::whole(v).filter(|n| *n >= 1 && *n <= 1_000_000_000).map(Amount).ok_or_else(|| "must be a whole number from 1 to 1000000000".into())
        })
    }
}

/// One resource's usage entry.
fn entry(used: u64, limit: u64, period: Option<crate::domain::values::Period>, ends: Option<chrono::DateTime<Utc>>) -> Value {
    json!({ "used": used, "limit": limit, "period": period, "resetsAt": resets_at(ends) })
}

/// Usage of every quota of `c` in its current period.
async fn usage(store: &Store, c: &Client) -> Result<Value, ApiError> {
    let now = Utc::now();
    let periods: Vec<_> = c.quotas.0.iter().map(|(r, q)| (r, q, current_period(q.period, now))).collect();
    let pks: Vec<String> = periods.iter().map(|(r, _, (key, _))| usage_pk(&c.id, r, key)).collect();
    let used = store.usage_of(&pks).await?;
    let mut out = Map::new();
    for ((resource, quota, (_, ends)), pk) in periods.into_iter().zip(pks) {
        out.insert(resource.clone(), entry(used.get(&pk).copied().unwrap_or(0), quota.limit, quota.period, ends));
    }
    Ok(Value::Object(out))
}

/// This period's `apiCalls` usage of each client (0 without such a quota), in one batch read.
pub(crate) async fn api_calls(store: &Store, clients: &[Client]) -> Result<Vec<u64>, ApiError> {
    let now = Utc::now();
    let pks: Vec<Option<String>> = clients
        .iter()
        .map(|c| c.quotas.0.get("apiCalls").map(|q| usage_pk(&c.id, "apiCalls", &current_period(q.period, now).0)))
        .collect();
    let wanted: Vec<String> = pks.iter().flatten().cloned().collect();
    let used = if wanted.is_empty() { Default::default() } else { store.usage_of(&wanted).await? };
    Ok(pks.iter().map(|pk| pk.as_ref().and_then(|k| used.get(k).copied()).unwrap_or(0)).collect())
}

/// `POST /v1/clients/{clientId}/usage` `{ "resource", "amount" }`: adds usage
/// atomically, only within the quota's limit.
///
/// # Errors
/// 400 when the resource has no quota, 403 for a suspended client, 429
/// `quota_exceeded` when the limit would be passed (nothing is added).
pub async fn record(cx: Ctx) -> Result<Reply, ApiError> {
    let (who, id, found) = caller_and_client(&cx, Scope::CLIENTS_EDIT).await?;
    let mut f = Fields::from_body(cx.json()?)?;
    let resource: Option<String> = f.required("resource");
    let amount: Option<Amount> = f.required("amount");
    f.finish()?;
    let (resource, amount) = (resource.unwrap_or_default(), amount.map_or(1, |a| a.0));
    let client = visible_as_read(&cx.app.store, &who, &id, found).await?;
    if client.suspended {
        return Err(ApiError::Forbidden("The client is suspended; its usage is not accepted".into()));
    }
    let Some(quota) = client.quotas.0.get(&resource) else {
        return Err(ApiError::invalid("resource", format!("has no quota on this client; set one with PUT /v1/clients/{id}/quotas")));
    };
    let (key, ends) = current_period(quota.period, Utc::now());
    let used = cx.app.store.add_usage(&client.id, &resource, (&key, ends), amount, quota.limit).await?;
    Ok(Reply::ok(json!({ resource: entry(used, quota.limit, quota.period, ends) })))
}

/// `GET /v1/clients/{clientId}/usage`: each quota's use this period.
///
/// # Errors
/// 404 outside the caller's tree.
pub async fn read(cx: Ctx) -> Result<Reply, ApiError> {
    let (who, id, found) = caller_and_client(&cx, Scope::CLIENTS_VIEW).await?;
    let client = visible_as_read(&cx.app.store, &who, &id, found).await?;
    Ok(Reply::ok(usage(&cx.app.store, &client).await?))
}
