//! Partners: records, name claims, subtree lists.

use super::lists::{Partition, add_counters, scopes};
use super::events::add_event;
use super::tx::{Cond, Failed};
use aws_sdk_dynamodb::types::AttributeValue;
use crate::events::Event;
use super::{Guard, Numbered, Page, Store, Tx, claim_number, key, s, to_item};
use crate::domain::partner::Partner;
use crate::domain::values::Name;
use crate::error::{ApiError, Taken};

const LIST: &str = "PARTNERS";

pub(crate) fn partner_pk(id: &str) -> String {
    format!("PARTNER#{id}")
}

/// The claim of a partner's name (its `id` attribute names the partner).
pub(crate) fn name_claim(name: &Name) -> String {
    format!("UNIQUE#PARTNERNAME#{}", name.key())
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Claim {
    id: String,
}

impl Store {
    /// A partner by id.
    pub async fn partner(&self, id: &str) -> Result<Option<Partner>, ApiError> {
        self.get(partner_pk(id), "#").await
    }

    /// Partners by id, in the order of `ids`; missing ones are left out.
    pub async fn partners(&self, ids: &[String]) -> Result<Vec<Partner>, ApiError> {
        let pks: Vec<String> = ids.iter().map(|id| partner_pk(id)).collect();
        let mut found: Vec<Partner> = self.batch_get(&pks).await?;
        found.sort_by_key(|p| ids.iter().position(|id| *id == p.id));
        Ok(found)
    }

    /// The partners of `path` (in its order, missing ones skipped) and the raw items of
    /// `extra` (keys with sort key `#`), in one `BatchGetItem`: an API key's partner chain
    /// and the record its request reads, in one call (issue 22).
    pub async fn partners_and_items(&self, path: &[String], extra: &[String]) -> Result<(Vec<Partner>, Vec<super::Item>), ApiError> {
        let chain: std::collections::HashSet<String> = path.iter().map(|id| partner_pk(id)).collect();
        let mut pks: Vec<String> = path.iter().map(|id| partner_pk(id)).collect();
        pks.extend(extra.iter().filter(|pk| !chain.contains(*pk)).cloned());
        let (mut partners, mut others) = (Vec::new(), Vec::new());
        for item in self.batch_get_items(&pks).await? {
            if super::string_attr(&item, "pk").is_some_and(|pk| chain.contains(&pk)) {
                partners.push(super::from_item::<Partner>(item)?);
            } else {
                others.push(item);
            }
        }
        partners.sort_by_key(|p| path.iter().position(|id| *id == p.id));
        Ok((partners, others))
    }

    /// The partner holding this `number`.
    pub async fn partner_by_number(&self, number: u64) -> Result<Option<Partner>, ApiError> {
        self.partner(&Numbered::Partner.id(number)).await
    }

    /// A partner by its (case-insensitive) name.
    pub async fn partner_by_name(&self, name: &Name) -> Result<Option<Partner>, ApiError> {
        match self.get::<Claim>(name_claim(name), "#").await? {
            Some(claim) => self.partner(&claim.id).await,
            None => Ok(None),
        }
    }

    /// Stores a new partner, claiming its name and listing it under every ancestor.
    ///
    /// # Errors
    /// `name_taken` when another partner has the name.
    pub async fn create_partner(&self, p: &Partner, event: &Event) -> Result<(), ApiError> {
        let t = self.table();
        let mut tx = Tx::new();
        // The number first: a collision draws again (NumberTaken), and since the id is
        // made from the number, the record's own guard would fail too, naming it wrongly.
        claim_number(&mut tx, t, Numbered::Partner, p.number, &p.id)?;
        tx.create(t, to_item(partner_pk(&p.id), "#", p)?, Guard::Record);
        tx.create(t, to_item(name_claim(&p.name), "#", &Claim { id: p.id.clone() })?, Guard::Name);
        for scope in scopes(&p.path) {
            let mut entry = key(format!("{LIST}#{scope}"), &p.id);
            entry.insert("id".into(), s(p.id.clone()));
            tx.put(t, entry, None, None);
            add_counters(&mut tx, t, LIST, &scope, &[("total".into(), 1)]);
        }
        add_event(&mut tx, t, event)?;
        match self.commit(tx).await {
            Ok(()) => Ok(()),
            Err(Failed::Condition(Guard::Name)) => {
                Err(ApiError::Taken { what: Taken::Name, value: p.name.as_str().to_owned() })
            }
            Err(Failed::Condition(Guard::Number)) => Err(ApiError::NumberTaken),
            Err(Failed::Condition(g)) => Err(ApiError::internal(format!("partner create guard {g:?} failed"))),
            Err(Failed::Error(e)) => Err(e),
        }
    }

    /// Sets a partner's `suspended` flag, with its event, if the flag is still as read
    /// (`p`): `None` when another request turned it meanwhile, so of any number racing
    /// to make the one change, one writes it and its one event. Only the flag and
    /// `modified` are written, so a concurrent rename is never undone.
    ///
    /// # Errors
    /// 404 when the partner is gone.
    pub async fn set_partner_suspended(&self, p: &Partner, suspended: bool, now: &str, event: &Event) -> Result<Option<Partner>, ApiError> {
        let t = self.table();
        let mut tx = Tx::new();
        tx.update(
            t,
            key(partner_pk(&p.id), "#"),
            if suspended { "SET suspended = :s, modified = :m, suspendedAt = :m" } else { "SET suspended = :s, modified = :m" }.into(),
            Vec::new(),
            vec![(":s".into(), AttributeValue::Bool(suspended)), (":m".into(), s(now))],
            Some(Cond::new("attribute_exists(pk) AND suspended = :was").value(":was", AttributeValue::Bool(p.suspended))),
            Some(Guard::Record),
        );
        add_event(&mut tx, t, event)?;
        match self.commit(tx).await {
            Ok(()) => {}
            Err(Failed::Error(e)) => return Err(e),
            Err(Failed::Condition(_)) if self.partner(&p.id).await?.is_some() => return Ok(None),
            Err(Failed::Condition(_)) => return Err(ApiError::NotFound(format!("Partner {}", p.id))),
        }
        let mut next = p.clone();
        next.suspended = suspended;
        next.modified = now.to_owned();
        if suspended {
            next.suspended_at = Some(now.to_owned());
        }
        Ok(Some(next))
    }

    /// Writes a partner's new name and type, moving its name claim when the name
    /// changed, with its `partner.updated` event; all in one transaction, and only
    /// if the partner still has the name and type it was read with (a rename racing a
    /// change of type never writes the old type back).
    ///
    /// # Errors
    /// `name_taken` when another partner has the new name; `version_mismatch`
    /// (to retry on a fresh read) when the partner was renamed or retyped meanwhile.
    pub async fn update_partner(&self, before: &Partner, after: &Partner, event: &Event) -> Result<(), ApiError> {
        let t = self.table();
        let mut tx = Tx::new();
        tx.update(
            t,
            key(partner_pk(&after.id), "#"),
            "SET #name = :name, #type = :type, consoleOrigins = :origins, modified = :m".into(),
            vec![("#name".into(), "name".into()), ("#type".into(), "type".into())],
            vec![
                (":name".into(), s(after.name.as_str())),
                (":type".into(), serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(after.kind).map_err(ApiError::internal)?),
                (":origins".into(), AttributeValue::L(after.console_origins.iter().map(|o| s(o.clone())).collect())),
                (":m".into(), s(after.modified.clone())),
            ],
            // As it was read: every change of a partner's record writes `modified`.
            Some(
                Cond::new("#name = :before AND #type = :beforeType AND modified = :beforeModified")
                    .value(":before", s(before.name.as_str()))
                    .value(":beforeType", serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(before.kind).map_err(ApiError::internal)?)
                    .value(":beforeModified", s(before.modified.clone())),
            ),
            Some(Guard::Version),
        );
        if before.name.key() != after.name.key() {
            tx.delete(t, key(name_claim(&before.name), "#"), None, None);
            tx.create(t, to_item(name_claim(&after.name), "#", &Claim { id: after.id.clone() })?, Guard::Name);
        }
        add_event(&mut tx, t, event)?;
        match self.commit(tx).await {
            Ok(()) => Ok(()),
            Err(Failed::Condition(Guard::Name)) => Err(ApiError::Taken { what: Taken::Name, value: after.name.as_str().to_owned() }),
            Err(Failed::Condition(_)) => Err(ApiError::VersionMismatch { current: crate::error::NO_VERSION }),
            Err(Failed::Error(e)) => Err(e),
        }
    }

    /// One page of the partners listed under `scope`, newest first, and the total.
    pub async fn list_partners(&self, scope: &str, page: &Page) -> Result<(Vec<Partner>, Option<String>, u64), ApiError> {
        let part = Partition::table(format!("{LIST}#{scope}"));
        let (entries, total) = tokio::try_join!(self.page(&part, page), self.count(LIST, scope, "total"))?;
        let partners = self.partners(&entries.strings("id")).await?;
        Ok((partners, entries.next_after, total))
    }
}
