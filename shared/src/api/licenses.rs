//! `/v1/products` and `/v1/licenses`: products, the licenses clients hold for
//! them, and activation per domain with the license key alone.

use std::collections::BTreeMap;

use serde_json::json;

use super::clients::{as_addressed, caller_and_client, visible, visible_as_read};
use crate::dialects::{Dialect, portal};
use crate::auth::{Actor, ActorKind, Principal};
use crate::domain::license::{Activation, LICENSE_KEY_PREFIX, License, LicenseStatus, NewLicense, NewProduct, Product};
use crate::domain::scopes::Scope;
use crate::domain::{is_id, now};
use crate::error::ApiError;
use crate::events::{Event, EventType, previous};
use crate::http::{Ctx, Reply, list};
use crate::secrets;
use crate::store::licenses::LicenseWrite;
use crate::store::Numbered;

/// How often a license change is re-applied after losing a race.
const MAX_ATTEMPTS: u32 = 32;

/// `POST /v1/products` `{ name, slug }` (admin only).
///
/// # Errors
/// 403 for anyone but the admin, 409 for a slug in use.
pub async fn create_product(cx: Ctx) -> Result<Reply, ApiError> {
    let who = cx.principal().await?;
    if !who.is_admin() {
        return Err(ApiError::Forbidden("Only the platform admin creates products".into()));
    }
    let new = NewProduct::from_body(cx.json()?)?;
    let mut product = Product { id: String::new(), number: 0, name: new.name, slug: new.slug, created: now() };
    let cx = &cx;
    let product = super::with_number(Numbered::Product, |number, id| {
        product.number = number;
        product.id = id;
        let product = product.clone();
        async move { cx.app.store.create_product(&product).await.map(|()| product) }
    })
    .await?;
    // No `Location`: a product has no URL of its own (the catalog is `GET /v1/products`).
    Ok(Reply::created_here(product.view()))
}

/// `GET /v1/products`: any authenticated caller.
///
/// # Errors
/// 400 for bad paging parameters.
pub async fn list_products(cx: Ctx) -> Result<Reply, ApiError> {
    cx.principal().await?;
    let page = cx.page("products")?;
    let (products, after, total) = cx.app.store.list_products(&page).await?;
    Ok(list(total, products.iter().map(Product::view).collect(), cx.cursor("products", after)))
}

/// `POST /v1/licenses`: a license of a visible client; `licenseKey` shown this once.
///
/// # Errors
/// 400 for a bad body, 404 for a client outside the tree or an unknown product.
pub async fn create(cx: Ctx) -> Result<Reply, ApiError> {
    let who = cx.principal().await?;
    who.require(Scope::LICENSES_CREATE)?;
    let dialect = cx.dialect();
    dialect.admits(&who)?;
    if dialect == Dialect::Portal {
        let (new, customer, product) = portal_license(&cx)?;
        // A 404 names the number the caller gave; another tree's client reads exactly
        // as a number no client holds.
        let hidden = |e| match e {
            ApiError::NotFound(m) if m.starts_with("Client") => ApiError::NotFound(format!("Client {customer}")),
            ApiError::NotFound(m) if m.starts_with("Product") => ApiError::NotFound(format!("Product {product}")),
            other => portal::error(other, portal::NEW_LICENSE),
        };
        let (license, secret) = create_license(&cx, &who, new).await.map_err(hidden)?;
        let location = format!("/api/v1/portal/clients/{}/licenses", license.client_number);
        return Ok(Reply::created(portal::license(&license, Some(&secret), &now()), location).no_store());
    }
    let new = NewLicense::from_body(cx.json()?)?;
    let (license, secret) = create_license(&cx, &who, new).await?;
    Ok(Reply::created(license.view(), format!("/v1/licenses/{}", license.id)).with_field("licenseKey", json!(secret)).no_store())
}

/// The reseller portal's new license: its integer `product_id` and `customer_id` are
/// the product's and the client's numbers, given to the `/v1` operation as the ids
/// they stand for ([`Numbered::id`]); a number no record holds is that record's 404.
fn portal_license(cx: &Ctx) -> Result<(NewLicense, u64, u64), ApiError> {
    let mut body = portal::to_v1(cx.json()?, portal::NEW_LICENSE)?;
    let mut errors = Vec::new();
    let mut number = |v1: &str, seed: &str| match body.get(v1) {
        Some(v) => match crate::domain::fields::whole(v).filter(|n| (1..=crate::domain::MAX_NUMBER).contains(n)) {
            Some(n) => Some(n),
            None => {
                errors.push(crate::error::FieldError::new(seed, "must be the integer id of one of yours"));
                None
            }
        },
        None => None,
    };
    let (product, client) = (number("productId", "product_id"), number("clientId", "customer_id"));
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    for (v1, kind, n) in [("productId", Numbered::Product, product), ("clientId", Numbered::Client, client)] {
        if let Some(n) = n {
            body.insert(v1.to_owned(), json!(kind.id(n)));
        }
    }
    let new = NewLicense::from_body(serde_json::Value::Object(body)).map_err(|e| portal::error(e, portal::NEW_LICENSE))?;
    Ok((new, client.unwrap_or_default(), product.unwrap_or_default()))
}

/// Creates a license of a visible client with its event; returns it and its key (shown once).
async fn create_license(cx: &Ctx, who: &Principal, new: NewLicense) -> Result<(License, String), ApiError> {
    let missing_client = || ApiError::NotFound(format!("Client {}", new.client_id));
    if !is_id(&new.client_id) {
        return Err(missing_client());
    }
    let client = visible(&cx.app.store, who, &new.client_id).await?;
    let product = match is_id(&new.product_id) {
        true => cx.app.store.product(&new.product_id).await?,
        false => None,
    };
    let product = product.ok_or_else(|| ApiError::NotFound(format!("Product {}", new.product_id)))?;
    let secret = secrets::generate(LICENSE_KEY_PREFIX);
    let now = now();
    let mut license = License {
        id: String::new(),
        number: 0,
        product_id: product.id,
        product_name: product.name.as_str().to_owned(),
        product_slug: product.slug.as_str().to_owned(),
        product_number: product.number,
        client_number: client.number,
        tier: new.tier,
        client_id: client.id,
        partner_path: client.ancestors,
        revoked: false,
        expires_at: new.expires_at,
        max_activations: new.max_activations,
        activations: BTreeMap::new(),
        key_prefix: secrets::visible_prefix(&secret),
        key_hash: secrets::sha256_hex(&secret),
        created: now.clone(),
        modified: now,
        version: 0,
    };
    let license = super::with_number(Numbered::License, |number, id| {
        license.number = number;
        license.id = id;
        let license = license.clone();
        async move {
            let event = Event::new(EventType::LicenseCreated, &license.partner_path, &who.actor, &cx.request_id, license.view(), None);
            cx.app.store.create_license(&license, &event).await.map(|()| license)
        }
    })
    .await?;
    Ok((license, secret))
}

/// `GET /v1/clients/{clientId}/licenses`: product, tier, status, expiry, activations.
///
/// # Errors
/// 404 for a client outside the tree.
pub async fn client_licenses(cx: Ctx) -> Result<Reply, ApiError> {
    let (who, id, found) = caller_and_client(&cx, Scope::CLIENTS_VIEW).await?;
    let dialect = cx.dialect();
    visible_as_read(&cx.app.store, &who, &id, found).await.map_err(|e| as_addressed(&cx, e))?;
    if dialect == Dialect::Portal {
        // Every license of the client, as one array (capped like the whole client lists).
        let cap = cx.app.config.whole_list_cap;
        let total = cx.app.store.count_client_licenses(&id).await?;
        if total > cap {
            return Err(ApiError::invalid(
                "licenses",
                format!("this client has {total} licenses, more than the {cap} one answer carries: page through GET /v1/clients/{{clientId}}/licenses"),
            ));
        }
        let now = now();
        let all = cx.app.store.all_client_licenses(&id).await?;
        return Ok(Reply::ok(serde_json::Value::Array(all.iter().map(|l| portal::license(l, None, &now)).collect())));
    }
    let fingerprint = format!("licenses|{id}");
    let page = cx.page(&fingerprint)?;
    let ((licenses, after), total) =
        tokio::try_join!(cx.app.store.client_licenses(&id, &page), cx.app.store.count_client_licenses(&id))?;
    Ok(list(total, licenses.iter().map(License::view).collect(), cx.cursor(&fingerprint, after)))
}

/// The tree a license belongs to: its client's tree as it is now (a client that
/// moves to another partner takes its licenses along), or, once the client is
/// deleted, the tree the client was in last.
async fn license_tree(store: &crate::store::Store, l: &License) -> Result<Vec<String>, ApiError> {
    if let Some(c) = store.client(&l.client_id).await? {
        return Ok(c.ancestors);
    }
    Ok(store.deleted_client_tree(&l.client_id).await?.unwrap_or_else(|| l.partner_path.clone()))
}

/// A license with its `partner_path` set to its tree as it is now, so its events
/// reach that tree and its next write stores it.
async fn in_its_tree(store: &crate::store::Store, mut l: License) -> Result<License, ApiError> {
    l.partner_path = license_tree(store, &l).await?;
    Ok(l)
}

async fn visible_license(cx: &Ctx, who: &Principal) -> Result<License, ApiError> {
    let id = cx.id_param("licenseId", "License")?;
    let found = cx.app.store.license(&id).await?.ok_or_else(|| ApiError::NotFound(format!("License {id}")))?;
    Some(in_its_tree(&cx.app.store, found).await?)
        .filter(|l| who.sees(&l.partner_path))
        .ok_or_else(|| ApiError::NotFound(format!("License {id}")))
}

/// `GET /v1/licenses/{licenseId}`.
///
/// # Errors
/// 404 outside the caller's tree.
pub async fn get(cx: Ctx) -> Result<Reply, ApiError> {
    let store = &cx.app.store;
    let allowed = |who: &Principal| who.require(Scope::LICENSES_VIEW);
    let (who, id, found) = cx.caller_and_record(allowed, cx.id_param("licenseId", "License"), |id| async move { store.license(&id).await }).await?;
    let missing = || ApiError::NotFound(format!("License {id}"));
    let found = in_its_tree(store, found.ok_or_else(missing)?).await?;
    if who.sees(&found.partner_path) { Ok(Reply::ok(found.view())) } else { Err(missing()) }
}

/// A license change, re-read and re-applied when it races another.
async fn change_license<F, Fut>(cx: &Ctx, mut license: License, mut apply: F) -> Result<License, ApiError>
where
    F: FnMut(License) -> Fut,
    Fut: std::future::Future<Output = Result<(Option<License>, LicenseWrite), ApiError>>,
{
    for _ in 0..MAX_ATTEMPTS {
        let id = license.id.clone();
        match apply(license).await? {
            (Some(done), LicenseWrite::Done) => return Ok(done),
            (None, _) => return cx.app.store.license(&id).await?.ok_or_else(|| ApiError::NotFound(format!("License {id}"))),
            (Some(_), LicenseWrite::Raced) => {
                license = cx.app.store.license(&id).await?.ok_or_else(|| ApiError::NotFound(format!("License {id}")))?;
            }
        }
    }
    Err(ApiError::Unavailable("too much contention on one license".into()))
}

/// Revokes a license (no-op when it is revoked already), releasing its domains.
///
/// `license.partner_path` is taken as its tree (see [`in_its_tree`]).
pub(crate) async fn revoke_license(cx: &Ctx, actor: &Actor, license: License) -> Result<License, ApiError> {
    let tree = &license.partner_path.clone();
    change_license(cx, license, |current| async move {
        if current.revoked {
            return Ok((None, LicenseWrite::Done));
        }
        let mut next = current.clone();
        next.partner_path.clone_from(tree);
        next.revoked = true;
        // Deactivated on every domain (DIALECTS.md 002's delete): its domains are released
        // below, and the event's `previous` keeps where it was active.
        next.activations.clear();
        next.version += 1;
        next.modified = now();
        let event = Event::new(EventType::LicenseRevoked, &next.partner_path, actor, &cx.request_id, next.view(), previous(&current.view(), &next.view()));
        let written = cx.app.store.revoke_license(&current, &next, &event).await?;
        Ok((Some(next), written))
    })
    .await
}

/// `POST /v1/licenses/{licenseId}/revoke`: the license stops activating and is
/// deactivated on every domain (its domains are released).
///
/// # Errors
/// 404 outside the caller's tree.
pub async fn revoke(cx: Ctx) -> Result<Reply, ApiError> {
    let who = cx.principal().await?;
    who.require(Scope::LICENSES_REMOVE)?;
    cx.no_fields()?;
    let license = visible_license(&cx, &who).await?;
    Ok(Reply::ok(revoke_license(&cx, &who.actor, license).await?.view()))
}

async fn by_key(cx: &Ctx) -> Result<(License, Activation), ApiError> {
    let body = Activation::from_body(cx.json()?)?;
    let hash = secrets::sha256_hex(body.license_key.trim());
    let license = cx.app.store.license_by_key_hash(&hash).await?.ok_or_else(|| ApiError::NotFound("License with this key".into()))?;
    Ok((in_its_tree(&cx.app.store, license).await?, body))
}

/// `POST /v1/licenses/activate` `{ licenseKey, domain }` (the key is the credential).
/// Activating an active domain again changes nothing.
///
/// # Errors
/// 404 for an unknown key; 409 `invalid_transition` for a revoked or expired
/// license, or one at its activation limit.
pub async fn activate(cx: Ctx) -> Result<Reply, ApiError> {
    let (license, body) = by_key(&cx).await?;
    let actor = Actor { kind: ActorKind::LicenseKey, id: license.id.clone() };
    let domain = body.domain.as_str().to_owned();
    let tree = license.partner_path.clone();
    let (actor, domain, cx_ref, tree) = (&actor, &domain, &cx, &tree);
    let done = change_license(&cx, license, |current| async move {
        match current.status(&now()) {
            LicenseStatus::Revoked => return Err(ApiError::InvalidTransition("The license is revoked".into())),
            LicenseStatus::Expired => return Err(ApiError::InvalidTransition("The license has expired".into())),
            LicenseStatus::Active => {}
        }
        if current.activations.contains_key(domain) {
            return Ok((None, LicenseWrite::Done));
        }
        if current.activations.len() >= current.max_activations as usize {
            return Err(ApiError::InvalidTransition(format!(
                "The license is active on {} of {} domains; deactivate one first",
                current.activations.len(),
                current.max_activations
            )));
        }
        let mut next = current.clone();
        next.partner_path.clone_from(tree);
        next.activations.insert(domain.clone(), now());
        next.version += 1;
        next.modified = now();
        let mut object = next.view();
        object["domain"] = json!(domain);
        let event = Event::new(EventType::LicenseActivated, &next.partner_path, actor, &cx_ref.request_id, object, None);
        let written = cx_ref.app.store.activate_license(&current, &next, domain, &event).await?;
        Ok((Some(next), written))
    })
    .await?;
    Ok(Reply::ok(done.view()))
}

/// `POST /v1/licenses/deactivate` `{ licenseKey, domain }`: frees the domain.
/// Deactivating a domain that is not active changes nothing.
///
/// # Errors
/// 404 for an unknown key; 409 for a revoked license.
pub async fn deactivate(cx: Ctx) -> Result<Reply, ApiError> {
    let (license, body) = by_key(&cx).await?;
    let actor = Actor { kind: ActorKind::LicenseKey, id: license.id.clone() };
    let domain = body.domain.as_str().to_owned();
    let tree = license.partner_path.clone();
    let (actor, domain, cx_ref, tree) = (&actor, &domain, &cx, &tree);
    let done = change_license(&cx, license, |current| async move {
        if current.revoked {
            return Err(ApiError::InvalidTransition("The license is revoked".into()));
        }
        if !current.activations.contains_key(domain) {
            return Ok((None, LicenseWrite::Done));
        }
        let mut next = current.clone();
        next.partner_path.clone_from(tree);
        next.activations.remove(domain);
        next.version += 1;
        next.modified = now();
        let mut object = next.view();
        object["domain"] = json!(domain);
        let event = Event::new(EventType::LicenseDeactivated, &next.partner_path, actor, &cx_ref.request_id, object, None);
        let written = cx_ref.app.store.deactivate_license(&current, &next, domain, &event).await?;
        Ok((Some(next), written))
    })
    .await?;
    Ok(Reply::ok(done.view()))
}
