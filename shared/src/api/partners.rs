//! `/v1/partners`: create, list, retrieve, suspend and unsuspend partners.

use crate::domain::partner::{NewPartner, Partner, PartnerPatch};
use crate::domain::scopes::Scope;
use crate::domain::now;
use crate::store::Numbered;
use crate::error::ApiError;
use crate::events::{Event, EventType, previous};
use crate::http::{Ctx, Reply, list};
use crate::store::MAX_DEPTH;

/// `POST /v1/partners`: a root partner (admin) or a sub-partner in the caller's tree.
///
/// # Errors
/// 400 for a bad body or a tree deeper than allowed, 404 for a parent outside
/// the caller's tree, 409 `name_taken`.
pub async fn create(cx: Ctx) -> Result<Reply, ApiError> {
    let who = cx.principal().await?;
    who.require(Scope::PARTNERS_CREATE)?;
    let new = NewPartner::from_body(cx.json()?)?;
    let parent = match (&new.parent_id, &who.partner) {
        (None, None) => None,
        (None, Some(own)) => Some(own.clone()),
        (Some(id), _) => {
            let parent = cx.app.store.partner(id).await?.filter(|p| who.sees(&p.path));
            Some(parent.ok_or_else(|| ApiError::NotFound(format!("Partner {id}")))?)
        }
    };
    if parent.as_ref().is_some_and(|p| p.path.len() >= MAX_DEPTH) {
        return Err(ApiError::invalid("parentId", format!("partner trees are at most {MAX_DEPTH} levels deep")));
    }
    let id = String::new(); // given with the number, below
    let now = now();
    let mut path = parent.as_ref().map(|p| p.path.clone()).unwrap_or_default();
    path.push(id.clone());
    let mut partner = Partner {
        root_id: path[0].clone(),
        id,
        number: 0,
        name: new.name,
        kind: new.kind,
        parent_id: parent.map(|p| p.id),
        path,
        suspended: false,
        console_origins: Vec::new(),
        created: now.clone(),
        modified: now,
        suspended_at: None,
    };
    let (cx, who) = (&cx, &who);
    let partner = super::with_number(Numbered::Partner, |number, id| {
        partner.number = number;
        if let Some(own) = partner.path.last_mut() {
            own.clone_from(&id);
        }
        if partner.path.len() == 1 {
            partner.root_id.clone_from(&id);
        }
        partner.id = id;
        let partner = partner.clone();
        async move {
            let event = Event::new(EventType::PartnerCreated, &partner.path, &who.actor, &cx.request_id, partner.view(), None);
            cx.app.store.create_partner(&partner, &event).await.map(|()| partner)
        }
    })
    .await?;
    Ok(Reply::created(partner.view(), format!("/v1/partners/{}", partner.id)))
}

/// `GET /v1/partners`: the caller's subtree (itself included), newest first.
///
/// # Errors
/// 400 for bad paging parameters.
pub async fn list_partners(cx: Ctx) -> Result<Reply, ApiError> {
    let cx = &cx;
    // The page is read beside the caller's partner chain ([`Ctx::principal_and`]).
    let read = |scope: String| async move {
        let fingerprint = format!("partners|{scope}");
        let page = cx.page(&fingerprint)?;
        let (partners, after, total) = cx.app.store.list_partners(&scope, &page).await?;
        Ok((partners, cx.cursor(&fingerprint, after), total))
    };
    let (who, found) = cx.principal_and(read).await?;
    who.require(Scope::PARTNERS_VIEW)?;
    let (partners, cursor, total) = found?;
    Ok(list(total, partners.iter().map(Partner::view).collect(), cursor))
}

/// Loads a partner the caller can see.
async fn visible(cx: &Ctx, who: &crate::auth::Principal) -> Result<Partner, ApiError> {
    let id = cx.id_param("partnerId", "Partner")?;
    cx.app
        .store
        .partner(&id)
        .await?
        .filter(|p| who.sees(&p.path))
        .ok_or_else(|| ApiError::NotFound(format!("Partner {id}")))
}

/// `GET /v1/partners/{partnerId}`.
///
/// # Errors
/// 404 outside the caller's tree.
pub async fn get(cx: Ctx) -> Result<Reply, ApiError> {
    let store = &cx.app.store;
    let allowed = |who: &crate::auth::Principal| who.require(Scope::PARTNERS_VIEW);
    let (who, id, found) = cx.caller_and_record(allowed, cx.id_param("partnerId", "Partner"), |id| async move { store.partner(&id).await }).await?;
    let partner = found.filter(|p| who.sees(&p.path)).ok_or_else(|| ApiError::NotFound(format!("Partner {id}")))?;
    Ok(Reply::ok(partner.view()))
}

async fn set_suspended(cx: Ctx, suspended: bool) -> Result<Reply, ApiError> {
    let who = cx.principal().await?;
    who.require(Scope::PARTNERS_EDIT)?;
    cx.no_fields()?;
    // Read again when a racing request turned the flag between the read and the write:
    // of any number making the one change, one writes it and its event, and the others
    // find it made.
    for _ in 0..5 {
        let partner = visible(&cx, &who).await?;
        if who.partner.as_ref().is_some_and(|own| own.id == partner.id) {
            return Err(ApiError::Forbidden("A partner cannot suspend or unsuspend itself".into()));
        }
        if partner.suspended == suspended {
            // Already so: nothing changes, and no event says it did.
            return Ok(Reply::ok(partner.view()));
        }
        let kind = if suspended { EventType::PartnerSuspended } else { EventType::PartnerUnsuspended };
        let mut next = partner.clone();
        next.suspended = suspended;
        next.modified = now();
        let event = Event::new(kind, &partner.path, &who.actor, &cx.request_id, next.view(), previous(&partner.view(), &next.view()));
        if let Some(partner) = cx.app.store.set_partner_suspended(&partner, suspended, &next.modified, &event).await? {
            return Ok(Reply::ok(partner.view()));
        }
    }
    Err(ApiError::Unavailable("too much contention on one partner".into()))
}

/// `PATCH /v1/partners/{partnerId}` `{ name?, type? }`: the admin, or a partner
/// with `partners:edit` on itself (its name only) or any partner of its tree.
///
/// # Errors
/// 400 for a bad body, 403 for a partner changing its own type, 404 outside the
/// caller's tree, 409 `name_taken`, 412 for an `If-Match` naming a version (a partner
/// has none).
pub async fn update(cx: Ctx) -> Result<Reply, ApiError> {
    let who = cx.principal().await?;
    who.require(Scope::PARTNERS_EDIT)?;
    let patch = PartnerPatch::from_body(cx.json()?, cx.app.config.allow_insecure_webhooks)?;
    // A concurrent rename makes the write's condition fail: read again and re-apply.
    for _ in 0..5 {
        let current = visible(&cx, &who).await?;
        cx.unversioned()?;
        // A partner's own credentials may rename it, but its type is its parent's or the
        // admin's to change (API.md §2): a partner never promotes itself (to a reseller,
        // whom the portal serves).
        let own = who.partner.as_ref().is_some_and(|p| p.id == current.id);
        if own && patch.kind.is_some_and(|kind| kind != current.kind) {
            return Err(ApiError::Forbidden("A partner's type is changed by its parent or the platform admin, not by the partner itself".into()));
        }
        // Likewise the pages that may frame its console (API.md §5b): a partner cannot
        // let a page of its own choosing frame the console that its parent's people, who
        // also see its tree, may sign in to.
        if own && patch.console_origins.as_ref().is_some_and(|o| *o != current.console_origins) {
            return Err(ApiError::Forbidden(
                "A partner's consoleOrigins are set by its parent or the platform admin, not by the partner itself".into(),
            ));
        }
        let mut next = patch.apply(&current);
        if next.name.as_str() == current.name.as_str() && next.kind == current.kind && next.console_origins == current.console_origins {
            return Ok(Reply::ok(current.view()));
        }
        next.modified = now();
        let event = Event::new(EventType::PartnerUpdated, &next.path, &who.actor, &cx.request_id, next.view(), previous(&current.view(), &next.view()));
        match cx.app.store.update_partner(&current, &next, &event).await {
            Err(ApiError::VersionMismatch { .. }) => continue,
            other => return other.map(|()| Reply::ok(next.view())),
        }
    }
    Err(ApiError::Unavailable("too much contention on one partner".into()))
}

/// `POST /v1/partners/{partnerId}/suspend`: every credential of the partner and
/// its subtree stops authenticating from the next request on.
///
/// # Errors
/// 403 on the caller's own partner, 404 outside its tree.
pub async fn suspend(cx: Ctx) -> Result<Reply, ApiError> {
    set_suspended(cx, true).await
}

/// `POST /v1/partners/{partnerId}/unsuspend`.
///
/// # Errors
/// As [`suspend`].
pub async fn unsuspend(cx: Ctx) -> Result<Reply, ApiError> {
    set_suspended(cx, false).await
}
