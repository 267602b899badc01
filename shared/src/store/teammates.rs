//! Teammates. Each is stored twice, in one transaction: under its (platform-wide
//! unique) username, so that Basic authentication is one `GetItem`, and under its
//! id, so that a bearer token (whose `sub` is the id) is checked against the live
//! record with one `GetItem` too, and so that the id routes find it. The username
//! item carries the partner's list entry (`gsi1`, `TEAMMATES#<partner>`).

use super::events::add_event;
use super::lists::{Partition, add_counters};
use super::tx::{Cond, Failed};
use super::{Guard, Page, Store, Tx, key, n, s, to_item};
use crate::domain::teammate::Teammate;
use crate::error::{ApiError, Taken};
use crate::events::Event;

const LIST: &str = "TEAMMATES";

fn pk(username: &str) -> String {
    format!("TEAMMATE#{username}")
}

fn id_pk(id: &str) -> String {
    format!("TEAMMATEID#{id}")
}

impl Store {
    /// A teammate by username.
    pub async fn teammate(&self, username: &str) -> Result<Option<Teammate>, ApiError> {
        self.get(pk(username), "#").await
    }

    /// A teammate by id.
    pub async fn teammate_by_id(&self, id: &str) -> Result<Option<Teammate>, ApiError> {
        self.get(id_pk(id), "#").await
    }

    /// Both items of a teammate, the username one listed under its partner, each
    /// written on the condition `cond` makes.
    fn put_teammate(tx: &mut Tx<Guard>, table: &str, t: &Teammate, cond: impl Fn() -> Cond, label: Guard) -> Result<(), ApiError> {
        let mut by_name = to_item(pk(t.username.as_str()), "#", t)?;
        by_name.insert("gsi1pk".into(), s(format!("{LIST}#{}", t.partner_id)));
        by_name.insert("gsi1sk".into(), s(t.id.clone()));
        tx.put(table, by_name, Some(cond()), Some(label));
        tx.put(table, to_item(id_pk(&t.id), "#", t)?, Some(cond()), Some(Guard::Version));
        Ok(())
    }

    /// The condition that a teammate's items are still at `version` (a teammate
    /// stored before versions were kept has none, and is at version 0).
    fn at_version(version: u64) -> Cond {
        let expression = if version == 0 { "attribute_exists(pk) AND (attribute_not_exists(version) OR version = :v)" } else { "version = :v" };
        Cond::new(expression).value(":v", n(version as i64))
    }

    /// Stores a new teammate with its `teammate.created` event.
    ///
    /// # Errors
    /// `username_taken` when the username is in use.
    pub async fn create_teammate(&self, t: &Teammate, event: &Event) -> Result<(), ApiError> {
        let table = self.table();
        let mut tx = Tx::new();
        Self::put_teammate(&mut tx, table, t, || Cond::new("attribute_not_exists(pk)"), Guard::Username)?;
        add_counters(&mut tx, table, LIST, &t.partner_id, &[("total".into(), 1)]);
        add_event(&mut tx, table, event)?;
        self.commit(tx).await.map_err(|e| match e {
            Failed::Condition(Guard::Username) => ApiError::Taken { what: Taken::Username, value: t.username.as_str().to_owned() },
            Failed::Condition(g) => ApiError::internal(format!("teammate create guard {g:?} failed")),
            Failed::Error(e) => e,
        })
    }

    /// Writes `after` (both items) with its event, on condition that the teammate is
    /// still at `before.version`. `after.version` must be `before.version + 1`.
    ///
    /// # Errors
    /// `version_mismatch` when it changed, or was removed, since it was read.
    pub async fn update_teammate(&self, before: &Teammate, after: &Teammate, event: &Event) -> Result<(), ApiError> {
        let table = self.table();
        let mut tx = Tx::new();
        Self::put_teammate(&mut tx, table, after, || Self::at_version(before.version), Guard::Version)?;
        add_event(&mut tx, table, event)?;
        self.commit(tx).await.map_err(|e| match e {
            Failed::Condition(_) => ApiError::VersionMismatch { current: before.version },
            Failed::Error(e) => e,
        })
    }

    /// Deletes a teammate (both items) that is still at `t.version`, with its event:
    /// its password and its tokens stop authenticating at once.
    ///
    /// # Errors
    /// `version_mismatch` when it changed, or was removed, since it was read.
    pub async fn remove_teammate(&self, t: &Teammate, event: &Event) -> Result<(), ApiError> {
        let table = self.table();
        let mut tx = Tx::new();
        tx.delete(table, key(pk(t.username.as_str()), "#"), Some(Self::at_version(t.version)), Some(Guard::Version));
        tx.delete(table, key(id_pk(&t.id), "#"), Some(Self::at_version(t.version)), Some(Guard::Version));
        add_counters(&mut tx, table, LIST, &t.partner_id, &[("total".into(), -1)]);
        add_event(&mut tx, table, event)?;
        self.commit(tx).await.map_err(|e| match e {
            Failed::Condition(_) => ApiError::VersionMismatch { current: t.version },
            Failed::Error(e) => e,
        })
    }

    /// One page of a partner's teammates, newest first, and their total.
    pub async fn list_teammates(&self, partner_id: &str, page: &Page) -> Result<(Vec<Teammate>, Option<String>, u64), ApiError> {
        let part = Partition::index("gsi1", "gsi1pk", "gsi1sk", format!("{LIST}#{partner_id}"));
        let (entries, total) = tokio::try_join!(self.page(&part, page), self.count(LIST, partner_id, "total"))?;
        let teammates = entries.entries.into_iter().map(super::from_item::<Teammate>).collect::<Result<Vec<_>, _>>()?;
        Ok((teammates, entries.next_after, total))
    }
}
