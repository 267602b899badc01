//! API keys: the key record (listed per partner on `gsi1`) and its hash item,
//! which authentication reads with one `GetItem`.

use serde::{Deserialize, Serialize};

use super::events::add_event;
use super::lists::{Partition, add_counters};
use super::tx::Failed;
use super::{Guard, Page, Store, Tx, key, s, to_item};
use crate::domain::api_key::ApiKey;
use crate::domain::scopes::Scopes;
use crate::error::ApiError;
use crate::events::Event;

const LIST: &str = "APIKEYS";

fn key_pk(id: &str) -> String {
    format!("APIKEY#{id}")
}

fn hash_pk(hash: &str) -> String {
    format!("KEYHASH#{hash}")
}

/// What authentication needs to know of a presented API key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyGrant {
    pub key_id: String,
    pub partner_id: String,
    /// Ids from the root partner down to the key's partner (trees never move).
    pub partner_path: Vec<String>,
    pub permissions: Scopes,
}

impl Store {
    /// The grant of the API key whose secret hashes to `hash`, if it is live.
    pub async fn key_grant(&self, hash: &str) -> Result<Option<KeyGrant>, ApiError> {
        self.get(hash_pk(hash), "#").await
    }

    /// An API key by id.
    pub async fn api_key(&self, id: &str) -> Result<Option<ApiKey>, ApiError> {
        self.get(key_pk(id), "#").await
    }

    /// Stores a new key and its hash, with its `key.created` event.
    pub async fn create_api_key(&self, k: &ApiKey, partner_path: &[String], event: &Event) -> Result<(), ApiError> {
        let t = self.table();
        let mut record = to_item(key_pk(&k.id), "#", k)?;
        record.insert("gsi1pk".into(), s(format!("{LIST}#{}", k.partner_id)));
        record.insert("gsi1sk".into(), s(k.id.clone()));
        let grant = KeyGrant {
            key_id: k.id.clone(),
            partner_id: k.partner_id.clone(),
            partner_path: partner_path.to_vec(),
            permissions: k.permissions,
        };
        let mut tx = Tx::new();
        tx.create(t, record, Guard::Record);
        tx.create(t, to_item(hash_pk(&k.hash), "#", &grant)?, Guard::Secret);
        add_counters(&mut tx, t, LIST, &k.partner_id, &[("total".into(), 1)]);
        add_event(&mut tx, t, event)?;
        self.commit(tx).await.map_err(|e| match e {
            Failed::Error(e) => e,
            Failed::Condition(g) => ApiError::internal(format!("api key create guard {g:?} failed")),
        })
    }

    /// Deletes a key and its hash, with its `key.revoked` event: the secret stops
    /// authenticating at once. Returns false when it was already gone.
    pub async fn revoke_api_key(&self, k: &ApiKey, event: &Event) -> Result<bool, ApiError> {
        let t = self.table();
        let mut tx = Tx::new();
        tx.delete(t, key(key_pk(&k.id), "#"), Some(super::tx::Cond::new("attribute_exists(pk)")), Some(Guard::Record));
        tx.delete(t, key(hash_pk(&k.hash), "#"), None, None);
        add_counters(&mut tx, t, LIST, &k.partner_id, &[("total".into(), -1)]);
        add_event(&mut tx, t, event)?;
        match self.commit(tx).await {
            Ok(()) => Ok(true),
            Err(Failed::Condition(Guard::Record)) => Ok(false),
            Err(Failed::Condition(g)) => Err(ApiError::internal(format!("api key revoke guard {g:?} failed"))),
            Err(Failed::Error(e)) => Err(e),
        }
    }

    /// One page of a partner's keys, newest first, and their total.
    pub async fn list_api_keys(&self, partner_id: &str, page: &Page) -> Result<(Vec<ApiKey>, Option<String>, u64), ApiError> {
        let part = Partition::index("gsi1", "gsi1pk", "gsi1sk", format!("{LIST}#{partner_id}"));
        let (entries, total) = tokio::try_join!(self.page(&part, page), self.count(LIST, partner_id, "total"))?;
        let keys = entries
            .entries
            .into_iter()
            .map(super::from_item::<ApiKey>)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((keys, entries.next_after, total))
    }
}
