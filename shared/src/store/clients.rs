//! Clients: the record, its unique claims, its list entries and counters.
//!
//! Every write is one transaction over the record, the claims it gains or
//! loses, its list entries (one per scope) and the counters those lists total.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::lists::{self, Partition, add_counters, scopes};
use super::tx::UNPLACED;
use super::events::add_event;
use super::tx::{Cond, Failed};
use crate::events::Event;
use super::{Guard, Item, Numbered, Page, Store, Tx, claim_number, key, n, s, string_attr, to_item};
use crate::domain::client::{Client, Status};
use crate::domain::partner::Partner;
use crate::domain::values::Email;
use crate::error::{ApiError, Taken};

const LIST: &str = "CLIENTS";

pub(crate) fn client_pk(id: &str) -> String {
    format!("CLIENT#{id}")
}

/// What a deleted client leaves: the tree it was in last.
fn gone_pk(id: &str) -> String {
    format!("CLIENTGONE#{id}")
}

fn email_claim(c: &Client) -> Option<String> {
    c.email.as_ref().map(email_claim_of)
}

fn email_claim_of(e: &Email) -> String {
    format!("UNIQUE#EMAIL#{}", e.key())
}

fn name_claim(c: &Client) -> String {
    format!("UNIQUE#CLIENTNAME#{}#{}", c.direct_partner.id, c.name.key())
}

fn username_claim(u: &str) -> String {
    format!("UNIQUE#USERNAME#{u}")
}

fn key_claim(hash: &str) -> String {
    format!("CLIENTKEY#{hash}")
}

#[derive(Serialize, Deserialize)]
struct Claim {
    id: String,
}

/// The client record, indexed by trial end (for expiry) while it is in trial.
fn client_item(c: &Client) -> Result<Item, ApiError> {
    let mut item = to_item(client_pk(&c.id), "#", c)?;
    if let (Status::Trial, Some(end)) = (c.status, &c.trial_ends_at) {
        item.insert("gsi2pk".into(), s(TRIALS));
        item.insert("gsi2sk".into(), s(format!("{end}#{}", c.id)));
    }
    Ok(item)
}

/// The partition of the trial index.
const TRIALS: &str = "TRIALS";

/// A claim on a unique value, naming the client that holds it.
fn claim_item(pk: String, id: &str) -> Result<Item, ApiError> {
    to_item(pk, "#", &Claim { id: id.to_owned() })
}

/// Which clients to list.
#[derive(Debug, Clone)]
pub struct ClientQuery {
    /// `ALL` or a partner id: that partner's whole subtree.
    pub scope: String,
    pub status: Option<Status>,
    pub suspended: Option<bool>,
    /// Case-insensitive name prefix.
    pub q: Option<String>,
    pub email: Option<Email>,
}

/// A page of clients.
pub struct ClientList {
    pub clients: Vec<Client>,
    pub next_after: Option<String>,
    pub total: u64,
    /// Partners of the page's clients, read with them (see [`Store::list_clients`]).
    pub partners: Vec<Partner>,
}

/// The counter fields a client in this state counts towards.
fn counter_fields(c: &Client) -> Vec<String> {
    let st = c.status.as_str();
    let su = c.suspended;
    vec!["total".into(), format!("st_{st}"), format!("su_{su}"), format!("st_{st}_su_{su}")]
}

fn counter_deltas(before: Option<&Client>, after: Option<&Client>) -> Vec<(String, i64)> {
    let mut deltas: Vec<(String, i64)> = Vec::new();
    for (c, d) in [(before, -1), (after, 1)] {
        for f in c.map(counter_fields).unwrap_or_default() {
            match deltas.iter_mut().find(|(name, _)| *name == f) {
                Some(entry) => entry.1 += d,
                None => deltas.push((f, d)),
            }
        }
    }
    deltas.retain(|(_, d)| *d != 0);
    deltas
}

/// The key of the list entry of client `id` under `scope` (its shard placed at commit).
fn entry_key(scope: &str, id: &str) -> Item {
    key(format!("{LIST}#{scope}{UNPLACED}"), id)
}

/// The list entry of `c` under `scope`, carrying the keys of every filtered index,
/// each list in the client's shard (placed at commit, [`Tx::place`]). No index of its
/// own for suspension alone: a `suspended=` page merges the status-and-suspension lists
/// of the three statuses ([`suspended_alone`]), a write unit less a scope on every write.
fn entry(c: &Client, scope: &str) -> Item {
    let base = format!("{LIST}#{scope}");
    let st = c.status.as_str();
    let su = c.suspended;
    let mut e = entry_key(scope, &c.id);
    e.insert("id".into(), s(c.id.clone()));
    // The client's partners, so that a page reads their current names with its clients.
    e.insert("dp".into(), s(c.direct_partner.id.clone()));
    e.insert("rp".into(), s(c.partner.id.clone()));
    e.insert("status".into(), s(st));
    e.insert("suspended".into(), AttributeValue::Bool(su));
    let sharded = |list: String| s(format!("{list}{UNPLACED}"));
    e.insert("gsi1pk".into(), sharded(format!("{base}#st#{st}")));
    e.insert("gsi1sk".into(), s(c.id.clone()));
    e.insert("gsi3pk".into(), sharded(format!("{base}#st#{st}#su#{su}")));
    e.insert("gsi3sk".into(), s(c.id.clone()));
    e.insert("gsi4pk".into(), sharded(format!("{base}#name")));
    e.insert("gsi4sk".into(), s(format!("{}#{}", c.name.key(), c.id)));
    e
}

/// The clients of list `base` by suspension alone: its status-and-suspension lists
/// (gsi3) of every status, merged newest first. A page reads a page of each (in one
/// round trip), so it costs the same at any size, as one list would.
fn suspended_alone(base: &str, su: bool) -> Partition {
    let [first, rest @ ..] = Status::ALL.map(|st| format!("{base}#st#{}#su#{su}", st.as_str()));
    Partition::index("gsi3", "gsi3pk", "gsi3sk", first).and(rest.to_vec())
}

fn failed(e: Failed<Guard>, c: &Client) -> ApiError {
    match e {
        Failed::Condition(Guard::Email) => {
            ApiError::Taken { what: Taken::Email, value: c.email.as_ref().map(|e| e.as_str().to_owned()).unwrap_or_default() }
        }
        Failed::Condition(Guard::Name) => ApiError::Taken { what: Taken::Name, value: c.name.as_str().into() },
        Failed::Condition(Guard::Username) => ApiError::Taken {
            what: Taken::Username,
            value: c.username.as_ref().map(|u| u.as_str().to_owned()).unwrap_or_default(),
        },
        Failed::Condition(Guard::Version) => ApiError::VersionMismatch { current: c.version },
        Failed::Condition(Guard::Record) => ApiError::NotFound(format!("Client {}", c.id)),
        Failed::Condition(Guard::Secret) => ApiError::internal("client key hash collided"),
        Failed::Condition(Guard::Number) => ApiError::NumberTaken,
        // A client write deletes usage counters unconditionally; it never guards a quota.
        Failed::Condition(Guard::Quota) => ApiError::internal("a quota guard on a client write"),
        Failed::Error(e) => e,
    }
}

impl Store {
    /// A client by id.
    pub async fn client(&self, id: &str) -> Result<Option<Client>, ApiError> {
        self.get(client_pk(id), "#").await
    }

    async fn claimed(&self, pk: String) -> Result<Option<Client>, ApiError> {
        match self.get::<Claim>(pk, "#").await? {
            Some(claim) => self.client(&claim.id).await,
            None => Ok(None),
        }
    }

    /// The tree a deleted client was in last, if it was deleted.
    pub async fn deleted_client_tree(&self, id: &str) -> Result<Option<Vec<String>>, ApiError> {
        #[derive(Deserialize)]
        struct Gone {
            ancestors: Vec<String>,
        }
        Ok(self.get::<Gone>(gone_pk(id), "#").await?.map(|g| g.ancestors))
    }

    /// The client holding this `number`.
    pub async fn client_by_number(&self, number: u64) -> Result<Option<Client>, ApiError> {
        self.client(&Numbered::Client.id(number)).await
    }

    /// The client with this username.
    pub async fn client_by_username(&self, username: &str) -> Result<Option<Client>, ApiError> {
        self.claimed(username_claim(username)).await
    }

    /// The client with this email (case-insensitive).
    pub async fn client_by_email(&self, email: &Email) -> Result<Option<Client>, ApiError> {
        self.claimed(email_claim_of(email)).await
    }

    /// The client whose own API key hashes to `hash`.
    pub async fn client_by_key_hash(&self, hash: &str) -> Result<Option<Client>, ApiError> {
        self.claimed(key_claim(hash)).await
    }

    /// Stores a new client with its claims, list entries and counters.
    ///
    /// # Errors
    /// `name_taken`, `email_taken` or `username_taken` when a claim is held.
    pub async fn create_client(&self, c: &Client, event: &Event) -> Result<(), ApiError> {
        let t = self.table();
        let mut tx = Tx::new();
        // The number first: a collision draws again (NumberTaken), and since the id is
        // made from the number, the record's own guard would fail too, naming it wrongly.
        claim_number(&mut tx, t, Numbered::Client, c.number, &c.id)?;
        tx.create(t, client_item(c)?, Guard::Record);
        let with_pk = |pk: String| claim_item(pk, &c.id);
        if let Some(pk) = email_claim(c) {
            tx.create(t, with_pk(pk)?, Guard::Email);
        }
        tx.create(t, with_pk(name_claim(c))?, Guard::Name);
        if let Some(u) = &c.username {
            tx.create(t, with_pk(username_claim(u.as_str()))?, Guard::Username);
        }
        tx.create(t, with_pk(key_claim(&c.api_key_hash))?, Guard::Secret);
        let deltas = counter_deltas(None, Some(c));
        for scope in scopes(&c.ancestors) {
            tx.put_listed(t, &scope, &c.id, entry(c, &scope));
            add_counters(&mut tx, t, LIST, &scope, &deltas);
        }
        add_event(&mut tx, t, event)?;
        self.commit(tx).await.map_err(|e| failed(e, c))
    }

    /// Writes `after` over `before` if the stored client is still at `before.version`,
    /// moving claims, entries and counters with it. `after.version` must be `before.version + 1`.
    ///
    /// # Errors
    /// `version_mismatch` when the client changed since it was read; `*_taken`
    /// when a new unique value is held by another client.
    pub async fn update_client(&self, before: &Client, after: &Client, event: &Event) -> Result<(), ApiError> {
        let t = self.table();
        let mut tx = Tx::new();
        let version = Cond::new("version = :v").value(":v", n(before.version as i64));
        tx.put(t, client_item(after)?, Some(version), Some(Guard::Version));
        let claim = |pk: String| claim_item(pk, &after.id);
        if email_claim(before) != email_claim(after) {
            if let Some(pk) = email_claim(before) {
                tx.delete(t, key(pk, "#"), None, None);
            }
            if let Some(pk) = email_claim(after) {
                tx.create(t, claim(pk)?, Guard::Email);
            }
        }
        if name_claim(before) != name_claim(after) {
            tx.delete(t, key(name_claim(before), "#"), None, None);
            tx.create(t, claim(name_claim(after))?, Guard::Name);
        }
        if before.username != after.username {
            if let Some(u) = &before.username {
                tx.delete(t, key(username_claim(u.as_str()), "#"), None, None);
            }
            if let Some(u) = &after.username {
                tx.create(t, claim(username_claim(u.as_str()))?, Guard::Username);
            }
        }
        if before.api_key_hash != after.api_key_hash {
            tx.delete(t, key(key_claim(&before.api_key_hash), "#"), None, None);
            tx.create(t, claim(key_claim(&after.api_key_hash))?, Guard::Secret);
        }
        let moved = before.ancestors != after.ancestors;
        let listed_differently = moved
            || before.name.key() != after.name.key()
            || before.status != after.status
            || before.suspended != after.suspended;
        if listed_differently {
            // A move leaves the lists of the partners it left and joins those of the
            // partners it moved under; the lists above both (a common ancestor, ALL)
            // only see the entry change. At most 2 × 9 scopes: within one transaction.
            let (left, joined) = (scopes(&before.ancestors), scopes(&after.ancestors));
            for scope in &joined {
                let deltas = counter_deltas(left.contains(scope).then_some(before), Some(after));
                tx.put_listed(t, scope, &after.id, entry(after, scope));
                add_counters(&mut tx, t, LIST, scope, &deltas);
            }
            for scope in left.iter().filter(|s| !joined.contains(s)) {
                tx.delete_listed(t, scope, &before.id, entry_key(scope, &before.id));
                add_counters(&mut tx, t, LIST, scope, &counter_deltas(Some(before), None));
            }
        }
        add_event(&mut tx, t, event)?;
        self.commit(tx).await.map_err(|e| failed(e, after))
    }

    /// Deletes a client that is still at `c.version`, with its claims, entries
    /// and counters, so its unique values can be used again at once.
    ///
    /// # Errors
    /// `version_mismatch` when it changed since it was read.
    pub async fn delete_client(&self, c: &Client, event: &Event) -> Result<(), ApiError> {
        let t = self.table();
        let mut tx = Tx::new();
        let version = Cond::new("version = :v").value(":v", n(c.version as i64));
        tx.delete(t, key(client_pk(&c.id), "#"), Some(version), Some(Guard::Version));
        if let Some(pk) = email_claim(c) {
            tx.delete(t, key(pk, "#"), None, None);
        }
        tx.delete(t, key(name_claim(c), "#"), None, None);
        if let Some(u) = &c.username {
            tx.delete(t, key(username_claim(u.as_str()), "#"), None, None);
        }
        tx.delete(t, key(key_claim(&c.api_key_hash), "#"), None, None);
        let now = chrono::Utc::now();
        for (resource, quota) in &c.quotas.0 {
            let (period, _) = super::usage::current_period(quota.period, now);
            tx.delete(t, key(super::usage::usage_pk(&c.id, resource, &period), "#"), None, None);
        }
        // What stays of it: the tree it was in last, whose partners alone may still read
        // its (revoked) licenses, wherever those were made.
        let mut gone = key(gone_pk(&c.id), "#");
        gone.insert("ancestors".into(), AttributeValue::L(c.ancestors.iter().cloned().map(AttributeValue::S).collect()));
        tx.put(t, gone, None, None);
        let deltas = counter_deltas(Some(c), None);
        for scope in scopes(&c.ancestors) {
            tx.delete_listed(t, &scope, &c.id, entry_key(&scope, &c.id));
            add_counters(&mut tx, t, LIST, &scope, &deltas);
        }
        add_event(&mut tx, t, event)?;
        self.commit(tx).await.map_err(|e| failed(e, c))
    }

    /// Ids of clients whose trial ended before `now`, oldest first, at most `limit`.
    pub async fn ended_trials(&self, now: &str, limit: i32) -> Result<Vec<String>, ApiError> {
        let queue = Partition::index("gsi2", "gsi2pk", "gsi2sk", TRIALS.to_owned());
        let items = self.oldest_before(&queue, now, limit).await?;
        Ok(items.iter().filter_map(|i| string_attr(i, "id")).collect())
    }

    /// One page of clients matching `q`, newest first, with the total that match.
    /// A page of clients, with its total. `known` says which partners the caller knows
    /// already (its own chain): the others that the page's clients name are read with
    /// the clients, for their current names.
    pub async fn list_clients(&self, q: &ClientQuery, page: &Page, known: impl Fn(&str) -> bool) -> Result<ClientList, ApiError> {
        if let Some(email) = &q.email {
            return self.list_by_email(q, email, page).await;
        }
        if let Some(prefix) = &q.q {
            return self.list_by_name_prefix(q, &prefix.to_lowercase(), page).await;
        }
        let base = format!("{LIST}#{}", q.scope);
        let (part, field) = match (q.status, q.suspended) {
            (None, None) => (Partition::table(base).sharded(&q.scope), "total".to_owned()),
            (Some(st), None) => (
                Partition::index("gsi1", "gsi1pk", "gsi1sk", format!("{base}#st#{}", st.as_str())).sharded(&q.scope),
                format!("st_{}", st.as_str()),
            ),
            (None, Some(su)) => (suspended_alone(&base, su).sharded(&q.scope), format!("su_{su}")),
            (Some(st), Some(su)) => (
                Partition::index("gsi3", "gsi3pk", "gsi3sk", format!("{base}#st#{}#su#{su}", st.as_str())).sharded(&q.scope),
                format!("st_{}_su_{su}", st.as_str()),
            ),
        };
        // The page's clients are read as soon as the page is in; with them, in the
        // same batch, the partners their entries name that the caller does not know
        // already (`known`), and the scope's counters (the total): one call for all three.
        let entries = self.page(&part, page).await?;
        let mut partners: Vec<String> = entries.strings("dp").into_iter().chain(entries.strings("rp")).filter(|id| !known(id)).collect();
        partners.sort();
        partners.dedup();
        let (clients, partners, counters) = self.clients_partners_and_counters(&entries.strings("id"), &partners, &lists::counter_pks(LIST, &q.scope)).await?;
        let total = lists::sum_counter(&counters, LIST, &field);
        Ok(ClientList { clients, next_after: entries.next_after, total, partners })
    }

    /// Clients by id, in the order given (ones deleted meanwhile left out), partners by
    /// id, and the counter items `counters` (raw), in one batch read.
    async fn clients_partners_and_counters(
        &self,
        ids: &[String],
        partners: &[String],
        counters: &[String],
    ) -> Result<(Vec<Client>, Vec<Partner>, Vec<Item>), ApiError> {
        let pks: Vec<String> = ids
            .iter()
            .map(|id| client_pk(id))
            .chain(partners.iter().map(|id| super::partners::partner_pk(id)))
            .chain(counters.iter().cloned())
            .collect();
        let (mut clients, mut found, mut counted) = (Vec::new(), Vec::new(), Vec::new());
        for item in self.batch_get_items(&pks).await? {
            match string_attr(&item, "pk") {
                Some(pk) if pk.starts_with("CLIENT#") => clients.push(super::from_item::<Client>(item)?),
                Some(pk) if lists::is_counter_pk(&pk) => counted.push(item),
                _ => found.push(super::from_item::<Partner>(item)?),
            }
        }
        clients.sort_by_key(|c: &Client| ids.iter().position(|id| *id == c.id));
        Ok((clients, found, counted))
    }

    /// Clients by id, in the order given; ones deleted meanwhile are left out.
    async fn clients_in_order(&self, ids: &[String]) -> Result<Vec<Client>, ApiError> {
        let pks: Vec<String> = ids.iter().map(|id| client_pk(id)).collect();
        let mut found: Vec<Client> = self.batch_get(&pks).await?;
        found.sort_by_key(|c| ids.iter().position(|id| *id == c.id));
        Ok(found)
    }

    fn matches(q: &ClientQuery, c: &Client) -> bool {
        (q.scope == super::lists::ALL || c.ancestors.contains(&q.scope))
            && q.status.is_none_or(|st| st == c.status)
            && q.suspended.is_none_or(|su| su == c.suspended)
            && q.q.as_ref().is_none_or(|p| c.name.key().starts_with(&p.to_lowercase()))
    }

    async fn list_by_email(&self, q: &ClientQuery, email: &Email, page: &Page) -> Result<ClientList, ApiError> {
        let found: Vec<Client> = self.client_by_email(email).await?.into_iter().filter(|c| Self::matches(q, c)).collect();
        let total = found.len() as u64;
        let clients = found
            .into_iter()
            .filter(|c| page.after.as_ref().is_none_or(|a| c.id < *a))
            .skip(page.skip)
            .take(page.limit)
            .collect();
        Ok(ClientList { clients, next_after: None, total, partners: Vec::new() })
    }

    /// Name-prefix search: reads every entry whose name starts with the prefix
    /// (cost in proportion to the matches), then pages newest first.
    async fn list_by_name_prefix(&self, q: &ClientQuery, prefix: &str, page: &Page) -> Result<ClientList, ApiError> {
        let part = Partition::index("gsi4", "gsi4pk", "gsi4sk", format!("{LIST}#{}#name", q.scope)).sharded(&q.scope);
        let entries = self.all_with_prefix(&part, prefix).await?;
        let attr = |e: &Item, name: &str| e.get(name).cloned();
        let mut ids: Vec<String> = entries
            .iter()
            .filter(|e| {
                q.status.is_none_or(|st| attr(e, "status") == Some(s(st.as_str())))
                    && q.suspended.is_none_or(|su| attr(e, "suspended") == Some(AttributeValue::Bool(su)))
            })
            .filter_map(|e| string_attr(e, "id"))
            .collect();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        let total = ids.len() as u64;
        let rest: Vec<String> = ids
            .into_iter()
            .filter(|id| page.after.as_ref().is_none_or(|a| id < a))
            .skip(page.skip)
            .take(page.limit + 1)
            .collect();
        let more = rest.len() > page.limit;
        let page_ids = &rest[..rest.len().min(page.limit)];
        let next_after = if more { page_ids.last().cloned() } else { None };
        let clients = self.clients_in_order(page_ids).await?;
        Ok(ClientList { clients, next_after, total, partners: Vec::new() })
    }
}
