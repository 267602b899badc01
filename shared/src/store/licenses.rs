//! Products and licenses.
//!
//! A license's key is a claim on its hash (`LICENSEKEY#<sha256>`), so activation
//! by key alone is one `GetItem`. The client's `licenseCount` (licenses not
//! revoked) and `domainCount` (distinct domains with an activation) move in the
//! same transaction as the license; a per client × domain reference count
//! (`CLIENTDOMAIN#<client>#<domain>`) tells whether a domain is new to the
//! client. Each of these writes bumps the client's version, so that a concurrent
//! profile change re-reads rather than writing stale counts back.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::events::add_event;
use super::lists::{Partition, add_counters};
use super::tx::{Cond, Failed};
use super::{Guard, Item, Numbered, Page, Store, Tx, claim_number, key, n, s, to_item};
use crate::domain::license::{License, Product};
use crate::error::{ApiError, Taken};
use crate::events::Event;

fn product_pk(id: &str) -> String {
    format!("PRODUCT#{id}")
}

fn license_pk(id: &str) -> String {
    format!("LICENSE#{id}")
}

fn key_claim(hash: &str) -> String {
    format!("LICENSEKEY#{hash}")
}

fn domain_ref(client_id: &str, domain: &str) -> String {
    format!("CLIENTDOMAIN#{client_id}#{domain}")
}

#[derive(Serialize, Deserialize)]
struct Claim {
    id: String,
}

/// Why a license write did not happen.
pub enum LicenseWrite {
    Done,
    /// The license or a reference count changed meanwhile: read again and retry.
    Raced,
}

fn outcome(result: Result<(), Failed<Guard>>) -> Result<LicenseWrite, ApiError> {
    match result {
        Ok(()) => Ok(LicenseWrite::Done),
        Err(Failed::Condition(Guard::Version | Guard::Record)) => Ok(LicenseWrite::Raced),
        Err(Failed::Condition(g)) => Err(ApiError::internal(format!("license guard {g:?} failed"))),
        Err(Failed::Error(e)) => Err(e),
    }
}

/// Adds to the client's counters (and version) in a transaction.
fn client_counts(tx: &mut Tx<Guard>, table: &str, client_id: &str, licenses: i64, domains: i64) {
    tx.update(
        table,
        key(format!("CLIENT#{client_id}"), "#"),
        "ADD licenseCount :l, domainCount :d, version :one".into(),
        Vec::new(),
        vec![(":l".into(), n(licenses)), (":d".into(), n(domains)), (":one".into(), n(1))],
        Some(Cond::new("attribute_exists(pk)")),
        Some(Guard::Record),
    );
}

/// The license written over its stored version.
fn put_license(tx: &mut Tx<Guard>, table: &str, l: &License, stored_version: u64) -> Result<(), ApiError> {
    let cond = Cond::new("version = :v").value(":v", n(stored_version as i64));
    tx.put(table, to_item(license_pk(&l.id), "#", l)?, Some(cond), Some(Guard::Version));
    Ok(())
}

impl Store {
    /// Stores a product, claiming its slug.
    ///
    /// # Errors
    /// `name_taken` (on the field `slug`) when the slug is in use.
    pub async fn create_product(&self, p: &Product) -> Result<(), ApiError> {
        let t = self.table();
        let mut tx = Tx::new();
        // The number first: a collision draws again (NumberTaken), and since the id is
        // made from the number, the record's own guard would fail too, naming it wrongly.
        claim_number(&mut tx, t, Numbered::Product, p.number, &p.id)?;
        tx.create(t, to_item(product_pk(&p.id), "#", p)?, Guard::Record);
        tx.create(t, to_item(format!("UNIQUE#PRODUCTSLUG#{}", p.slug.as_str()), "#", &Claim { id: p.id.clone() })?, Guard::Name);
        let mut entry = key("PRODUCTS".into(), &p.id);
        entry.insert("id".into(), s(p.id.clone()));
        tx.put(t, entry, None, None);
        add_counters(&mut tx, t, "PRODUCTS", "ALL", &[("total".into(), 1)]);
        self.commit(tx).await.map_err(|e| match e {
            Failed::Condition(Guard::Number) => ApiError::NumberTaken,
            Failed::Condition(_) => ApiError::Taken { what: Taken::Slug, value: p.slug.as_str().to_owned() },
            Failed::Error(e) => e,
        })
    }

    pub async fn product(&self, id: &str) -> Result<Option<Product>, ApiError> {
        self.get(product_pk(id), "#").await
    }

    pub async fn list_products(&self, page: &Page) -> Result<(Vec<Product>, Option<String>, u64), ApiError> {
        let part = Partition::table("PRODUCTS".into());
        let (entries, total) = tokio::try_join!(self.page(&part, page), self.count("PRODUCTS", "ALL", "total"))?;
        let pks: Vec<String> = entries.strings("id").iter().map(|id| product_pk(id)).collect();
        let mut products: Vec<Product> = self.batch_get(&pks).await?;
        products.sort_by(|a, b| b.id.cmp(&a.id));
        Ok((products, entries.next_after, total))
    }

    /// The product holding this `number`.
    pub async fn product_by_number(&self, number: u64) -> Result<Option<Product>, ApiError> {
        self.product(&Numbered::Product.id(number)).await
    }

    /// The license holding this `number`.
    pub async fn license_by_number(&self, number: u64) -> Result<Option<License>, ApiError> {
        self.license(&Numbered::License.id(number)).await
    }

    pub async fn license(&self, id: &str) -> Result<Option<License>, ApiError> {
        self.get(license_pk(id), "#").await
    }

    /// Whether a license key (by its hash) is a license's: one `GetItem` of its claim.
    pub async fn license_key_known(&self, hash: &str) -> Result<bool, ApiError> {
        Ok(self.get_item(key_claim(hash), "#").await?.is_some())
    }

    pub async fn license_by_key_hash(&self, hash: &str) -> Result<Option<License>, ApiError> {
        match self.get::<Claim>(key_claim(hash), "#").await? {
            Some(c) => self.license(&c.id).await,
            None => Ok(None),
        }
    }

    /// Stores a license for a client, counting it on the client.
    ///
    /// # Errors
    /// `not_found` when the client was deleted meanwhile.
    pub async fn create_license(&self, l: &License, event: &Event) -> Result<(), ApiError> {
        let t = self.table();
        let mut tx = Tx::new();
        // The number first: a collision draws again (NumberTaken), and since the id is
        // made from the number, the record's own guard would fail too, naming it wrongly.
        claim_number(&mut tx, t, Numbered::License, l.number, &l.id)?;
        tx.create(t, to_item(license_pk(&l.id), "#", l)?, Guard::Secret);
        tx.create(t, to_item(key_claim(&l.key_hash), "#", &Claim { id: l.id.clone() })?, Guard::Secret);
        let mut entry = key(format!("CLIENTLICENSES#{}", l.client_id), &l.id);
        entry.insert("id".into(), s(l.id.clone()));
        tx.put(t, entry, None, None);
        client_counts(&mut tx, t, &l.client_id, 1, 0);
        add_event(&mut tx, t, event)?;
        match self.commit(tx).await {
            Ok(()) => Ok(()),
            Err(Failed::Condition(Guard::Record)) => Err(ApiError::NotFound(format!("Client {}", l.client_id))),
            Err(Failed::Condition(Guard::Number)) => Err(ApiError::NumberTaken),
            Err(Failed::Condition(g)) => Err(ApiError::internal(format!("license create guard {g:?} failed"))),
            Err(Failed::Error(e)) => Err(e),
        }
    }

    /// One page of a client's licenses, newest first, and their total.
    pub async fn client_licenses(&self, client_id: &str, page: &Page) -> Result<(Vec<License>, Option<String>), ApiError> {
        let part = Partition::table(format!("CLIENTLICENSES#{client_id}"));
        let entries = self.page(&part, page).await?;
        let pks: Vec<String> = entries.strings("id").iter().map(|id| license_pk(id)).collect();
        let mut licenses: Vec<License> = self.batch_get(&pks).await?;
        licenses.sort_by(|a, b| b.id.cmp(&a.id));
        Ok((licenses, entries.next_after))
    }

    /// How many licenses a client has had (revoked ones included, as its list shows them).
    /// A `Select=COUNT` Query: it reads the client's own entries only.
    pub async fn count_client_licenses(&self, client_id: &str) -> Result<u64, ApiError> {
        self.count_partition(&super::lists::Partition::table(format!("CLIENTLICENSES#{client_id}"))).await
    }

    /// Every license of a client (for revoking them all when it is deleted).
    pub async fn all_client_licenses(&self, client_id: &str) -> Result<Vec<License>, ApiError> {
        let part = Partition::table(format!("CLIENTLICENSES#{client_id}"));
        let entries = self.all_with_prefix(&part, "").await?;
        let pks: Vec<String> = entries
            .iter()
            .filter_map(|e| super::string_attr(e, "id").map(|id| license_pk(&id)))
            .collect();
        self.batch_get(&pks).await
    }

    async fn domain_refs(&self, client_id: &str, domains: &[String]) -> Result<HashMap<String, i64>, ApiError> {
        let pks: Vec<String> = domains.iter().map(|d| domain_ref(client_id, d)).collect();
        let found: Vec<HashMap<String, serde_json::Value>> = self.batch_get(&pks).await?;
        Ok(found
            .into_iter()
            .filter_map(|m| Some((m.get("pk")?.as_str()?.to_owned(), m.get("refs")?.as_i64()?)))
            .collect())
    }

    /// Releases the client's reference to each domain, in `tx`; returns how many
    /// domains the client no longer has at all.
    async fn release_domains(&self, tx: &mut Tx<Guard>, client_id: &str, domains: &[String]) -> Result<i64, ApiError> {
        let t = self.table();
        let refs = self.domain_refs(client_id, domains).await?;
        let mut gone = 0;
        for d in domains {
            let pk = domain_ref(client_id, d);
            let count = refs.get(&pk).copied().unwrap_or(0);
            if count <= 1 {
                gone += 1;
                tx.delete(t, key(pk, "#"), Some(Cond::new("attribute_not_exists(pk) OR refs <= :one").value(":one", n(1))), Some(Guard::Record));
            } else {
                tx.update(
                    t,
                    key(pk, "#"),
                    "ADD refs :minus".into(),
                    Vec::new(),
                    vec![(":minus".into(), n(-1)), (":was".into(), n(count))],
                    Some(Cond::new("refs = :was")),
                    Some(Guard::Record),
                );
            }
        }
        Ok(gone)
    }

    /// Writes `after` (one more activated domain) over `before`.
    pub async fn activate_license(&self, before: &License, after: &License, domain: &str, event: &Event) -> Result<LicenseWrite, ApiError> {
        let t = self.table();
        let mut tx = Tx::new();
        put_license(&mut tx, t, after, before.version)?;
        let pk = domain_ref(&after.client_id, domain);
        let existing = self.domain_refs(&after.client_id, &[domain.to_owned()]).await?;
        match existing.get(&pk) {
            None => {
                let mut item: Item = key(pk, "#");
                item.insert("refs".into(), n(1));
                tx.put(t, item, Some(Cond::new("attribute_not_exists(pk)")), Some(Guard::Record));
                client_counts(&mut tx, t, &after.client_id, 0, 1);
            }
            Some(count) => {
                tx.update(
                    t,
                    key(pk, "#"),
                    "ADD refs :one".into(),
                    Vec::new(),
                    vec![(":one".into(), n(1)), (":was".into(), n(*count))],
                    Some(Cond::new("refs = :was")),
                    Some(Guard::Record),
                );
                client_counts(&mut tx, t, &after.client_id, 0, 0);
            }
        }
        add_event(&mut tx, t, event)?;
        outcome(self.commit(tx).await)
    }

    /// Writes `after` (one domain fewer) over `before`.
    pub async fn deactivate_license(&self, before: &License, after: &License, domain: &str, event: &Event) -> Result<LicenseWrite, ApiError> {
        let t = self.table();
        let mut tx = Tx::new();
        put_license(&mut tx, t, after, before.version)?;
        let gone = self.release_domains(&mut tx, &after.client_id, &[domain.to_owned()]).await?;
        client_counts(&mut tx, t, &after.client_id, 0, -gone);
        add_event(&mut tx, t, event)?;
        outcome(self.commit(tx).await)
    }

    /// Writes a revoked `after` over `before`, releasing its domains and its count.
    /// When the client is gone (deleted meanwhile) only the license is written.
    pub async fn revoke_license(&self, before: &License, after: &License, event: &Event) -> Result<LicenseWrite, ApiError> {
        let t = self.table();
        let mut tx = Tx::new();
        put_license(&mut tx, t, after, before.version)?;
        let domains: Vec<String> = before.activations.keys().cloned().collect();
        let gone = self.release_domains(&mut tx, &after.client_id, &domains).await?;
        client_counts(&mut tx, t, &after.client_id, -1, -gone);
        add_event(&mut tx, t, event)?;
        outcome(self.commit(tx).await)
    }
}
