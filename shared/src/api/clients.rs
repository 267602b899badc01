//! `/v1/clients`: create, list, retrieve, change, delete and find clients.

use futures::StreamExt;
use serde_json::{Value, json};

use crate::auth::Principal;
use crate::domain::client::{
    CLIENT_KEY_PREFIX, ChangeKind, Client, ClientChange, DirectPartner, NewClient, PartnerRef, PartnerSelector, Status,
};
use crate::domain::fields::Fields;
use crate::domain::partner::Partner;
use crate::dialects::{Dialect, partner_api, portal};
use crate::domain::scopes::Scope;
use crate::domain::values::{Email, Name, Username};
use crate::domain::{is_id, now};
use crate::error::{ApiError, FieldError};
use crate::events::{Event, EventType, previous};
use crate::http::{Ctx, Reply, list};
use crate::secrets;
use crate::store::{ClientList, ClientQuery, Numbered, Page, Store};

use super::{MAX_ATTEMPTS, backoff};

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("Client {id}"))
}

/// The client a path names: `{clientId}` (its id) or, in the dialects whose ids are
/// integers, `{client_id}` (its `number`). Anything else cannot exist: 404.
///
/// # Errors
/// `not_found`, or the store's error.
pub(crate) fn client_id_param(cx: &Ctx) -> Result<String, ApiError> {
    client_id_in_path(cx).map_err(|e| as_addressed(cx, e))
}

/// A 404 told in the caller's words: the number or id the path named, never the id a
/// number stands for (a number of another tree's client must read exactly as one that
/// no client holds).
pub(crate) fn as_addressed(cx: &Ctx, e: ApiError) -> ApiError {
    match e {
        ApiError::NotFound(_) => {
            let named = cx.path_param("client_id").or_else(|| cx.path_param("clientId")).unwrap_or_default();
            not_found(&named)
        }
        other => other,
    }
}

fn client_id_in_path(cx: &Ctx) -> Result<String, ApiError> {
    let Some(raw) = cx.path_param("client_id") else { return cx.id_param("clientId", "Client") };
    let number = crate::domain::parse_number(&raw).ok_or_else(|| not_found(&raw))?;
    Ok(Numbered::Client.id(number))
}

/// The caller with `scope`, the id of the client the path names, and that client as
/// read beside the caller's partner chain ([`Ctx::principal_and`]: two sequential round
/// trips in all). Errors come in the order of a request's checks: credential,
/// permission, then the path.
///
/// # Errors
/// 401, 403, the path's 404 (told as addressed), or the store's error.
pub(crate) async fn caller_and_client(cx: &Ctx, scope: Scope) -> Result<(Principal, String, Option<Client>), ApiError> {
    let id = client_id_param(cx);
    // The client is read with the caller's partner chain, in one call for an API key.
    let pks = id.as_ref().map(|id| vec![crate::store::client_pk(id)]).unwrap_or_default();
    let (who, found) = cx.principal_with_items(pks).await?;
    // Errors in a request's order: the credential, the permission, then the path.
    who.require(scope)?;
    cx.dialect().admits(&who)?;
    let id = id?;
    let client = found?.into_iter().next().map(crate::store::from_item::<Client>).transpose()?;
    Ok((who, id, client))
}

/// A client the caller can see, with its partners' current names.
pub(crate) async fn visible(store: &Store, who: &Principal, id: &str) -> Result<Client, ApiError> {
    visible_as_read(store, who, id, store.client(id).await?).await
}

/// [`visible`], of a client read already (`None`: there is none).
pub(crate) async fn visible_as_read(store: &Store, who: &Principal, id: &str, found: Option<Client>) -> Result<Client, ApiError> {
    let found = found.filter(|c| who.sees(&c.ancestors)).ok_or_else(|| not_found(id))?;
    shown(store, who, found).await
}

/// A found client, with its partners' current names.
async fn shown(store: &Store, who: &Principal, c: Client) -> Result<Client, ApiError> {
    let mut one = [c];
    current_partner_names(store, who, &[], &mut one).await?;
    let [c] = one;
    Ok(c)
}

/// Puts the current names of their partners into clients.
///
/// A client record keeps `directPartner` and `partner` with the names they had when it
/// was written: a rename (`PATCH /v1/partners/{id}`) cannot rewrite a partner's possibly
/// millions of clients in one request. So reads put the current names in, with one
/// `BatchGetItem` of the partners not known already (none when the client's partners are
/// the caller's own or its ancestors, read by authentication: the common case), and the
/// client's next write stores them.
pub(crate) async fn current_partner_names(store: &Store, who: &Principal, read: &[Partner], clients: &mut [Client]) -> Result<(), ApiError> {
    let mut names: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for known in who.chain.iter().chain(read) {
        names.insert(known.id.clone(), known.name.as_str().to_owned());
    }
    let mut missing: Vec<String> = clients
        .iter()
        .flat_map(|c| [c.direct_partner.id.clone(), c.partner.id.clone()])
        .filter(|id| !names.contains_key(id))
        .collect();
    missing.sort();
    missing.dedup();
    if !missing.is_empty() {
        for p in store.partners(&missing).await? {
            names.insert(p.id, p.name.as_str().to_owned());
        }
    }
    for c in clients {
        for r in [&mut c.direct_partner, &mut c.partner] {
            if let Some(name) = names.get(&r.id) {
                r.name.clone_from(name);
            }
        }
    }
    Ok(())
}

pub(crate) fn reply(c: &Client) -> Reply {
    Reply::ok(c.view()).etag(c.version)
}

/// Reads, changes and writes back one client, as one versioned step with its event
/// ([`super::versioned`]).
///
/// `change` gets the current client and returns the new one with the type of
/// its event, `None` when there is nothing to change, or an error, which ends
/// the attempt. A new one alike in every stored field is nothing to change either. With `If-Match`, a stale version is a 412; without it, a
/// concurrent writer makes the change run again on the newer client, so no
/// change is lost and each bumps `version` exactly once.
///
/// `found` is the client as read with the caller ([`caller_and_client`]); the first
/// attempt works on it, and each attempt after reads the client again.
///
/// # Errors
/// 404, 412, or whatever `change` or the store return.
pub async fn modify(
    cx: &Ctx,
    who: &Principal,
    id: &str,
    found: Option<Client>,
    change: impl Fn(&Client) -> Result<Option<(Client, EventType)>, ApiError>,
) -> Result<Client, ApiError> {
    let store = &cx.app.store;
    let mut found = Some(found);
    let read = || {
        let first = found.take();
        async move {
            match first {
                Some(first) => visible_as_read(store, who, id, first).await,
                None => visible(store, who, id).await,
            }
        }
    };
    let write = |current: Client, (mut next, kind): (Client, EventType)| async move {
        next.version = current.version + 1;
        next.modified = now();
        let (before, after) = (current.view(), next.view());
        // Heard in the client's tree as it is now: a move's event goes to the partners it
        // joined (the ones it left may not learn where it went: another tree is unseen).
        let event = Event::new(kind, &next.ancestors, &who.actor, &cx.request_id, after.clone(), previous(&before, &after));
        store.update_client(&current, &next, &event).await.map(|()| next)
    };
    // A change that leaves the record as it is (a PATCH of the values it has, `{}`, the
    // same permissions again) changes nothing: no write, no version, no event.
    let change = |c: &Client| Ok(change(c)?.filter(|(next, _)| !same_record(c, next)));
    super::versioned(cx.if_match()?, "client", read, change, write).await
}

/// Whether two clients are the same record, every stored field alike (the API key's hash
/// and the other fields no view shows included).
fn same_record(a: &Client, b: &Client) -> bool {
    match (serde_json::to_value(a), serde_json::to_value(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

impl super::Versioned for Client {
    fn version(&self) -> u64 {
        self.version
    }
}

/// The partner a request names by `{ id }` or `{ name }`, if the caller sees it.
async fn named_partner(cx: &Ctx, who: &Principal, sel: &PartnerSelector) -> Result<Partner, ApiError> {
    let (found, label) = match sel {
        PartnerSelector::Id(id) => (cx.app.store.partner(id).await?, id.clone()),
        PartnerSelector::Number(n) => (cx.app.store.partner_by_number(*n).await?, n.to_string()),
        PartnerSelector::Name(name) => (cx.app.store.partner_by_name(name).await?, name.as_str().to_owned()),
    };
    found.filter(|p| who.sees(&p.path)).ok_or_else(|| ApiError::NotFound(format!("Partner {label}")))
}

/// The partner a client body's `directPartner` picks, in the caller's tree (else 404),
/// whose name is the one the body gives beside its id, if it gives one (else 400).
async fn direct_partner(cx: &Ctx, who: &Principal, named: &DirectPartner) -> Result<Partner, ApiError> {
    let partner = named_partner(cx, who, &named.pick).await?;
    match &named.also_named {
        Some(name) if name.key() != partner.name.key() => {
            Err(ApiError::invalid("directPartner.name", "is not the name of the partner that directPartner.id names"))
        }
        _ => Ok(partner),
    }
}

/// The root of a partner's tree (the client's `partner`).
async fn root_of(cx: &Ctx, direct: &Partner) -> Result<Partner, ApiError> {
    if direct.path.len() == 1 {
        return Ok(direct.clone());
    }
    cx.app.store.partner(&direct.root_id).await?.ok_or_else(|| ApiError::internal("root partner missing"))
}

/// `POST /v1/clients`: the client, with its own API key shown this once.
///
/// # Errors
/// 400 for a bad body, 404 for a partner outside the caller's tree, 409 for a
/// name, email or username in use.
pub async fn create(cx: Ctx) -> Result<Reply, ApiError> {
    let who = cx.principal().await?;
    who.require(Scope::CLIENTS_CREATE)?;
    let dialect = cx.dialect();
    dialect.admits(&who)?;
    if dialect == Dialect::Portal {
        let body = portal::to_v1(cx.json()?, portal::NEW_CLIENT)?;
        let new = NewClient::from_body(Value::Object(body)).map_err(|e| portal::error(e, portal::NEW_CLIENT))?;
        let (client, _secret) = create_client(&cx, &who, new).await.map_err(|e| portal::error(e, portal::NEW_CLIENT))?;
        return Ok(Reply::created(portal::client(&client), dialect.client_location(&client)));
    }
    if dialect == Dialect::PartnerApi {
        let (body, extras, errors) = partner_api::request(cx.json()?, true)?;
        let mut new = partner_api::merged(NewClient::without_email_required(body), errors)?;
        new.suspended = extras.is_active == Some(false);
        new.contact_ref = extras.contact_ref.flatten();
        let (client, _secret) = create_client(&cx, &who, new).await?;
        return Ok(Reply::created(json!({ "id": client.number }), dialect.client_location(&client)));
    }
    let new = NewClient::from_body(cx.json()?)?;
    let (client, secret) = create_client(&cx, &who, new).await?;
    let mut body = client.view();
    body["apiKey"] = json!(secret);
    Ok(Reply::created(body, dialect.client_location(&client)).etag(client.version).no_store())
}

/// Creates a client with its event; returns it and its own API key (shown once).
async fn create_client(cx: &Ctx, who: &Principal, new: NewClient) -> Result<(Client, String), ApiError> {
    let direct = match (&new.direct_partner, &who.partner) {
        (Some(named), _) => direct_partner(cx, who, named).await?,
        (None, Some(own)) => own.clone(),
        (None, None) => return Err(ApiError::invalid("directPartner", "is required for the platform admin")),
    };
    let root = root_of(cx, &direct).await?;
    let secret = secrets::generate(CLIENT_KEY_PREFIX);
    let now = now();
    let p = new.profile;
    let mut client = Client {
        id: String::new(),
        number: 0,
        name: p.name,
        email: p.email,
        username: p.username,
        company: p.company,
        mid: p.mid,
        billing_id: p.billing_id,
        location: p.location,
        contact: p.contact,
        metadata: p.metadata,
        direct_partner: PartnerRef { id: direct.id.clone(), name: direct.name.as_str().to_owned() },
        partner: PartnerRef { id: root.id.clone(), name: root.name.as_str().to_owned() },
        direct_partner_number: direct.number,
        partner_number: root.number,
        contact_ref: new.contact_ref,
        ancestors: direct.path.clone(),
        status: new.status,
        trial_ends_at: None,
        suspended: new.suspended,
        suspended_reason: None,
        permissions: new.permissions,
        quotas: new.quotas,
        license_count: 0,
        domain_count: 0,
        api_key_prefix: secrets::visible_prefix(&secret),
        api_key_hash: secrets::sha256_hex(&secret),
        created: now.clone(),
        modified: now,
        version: 0,
    };
    let client = super::with_number(Numbered::Client, |number, id| {
        client.number = number;
        client.id = id;
        let client = client.clone();
        async move {
            let event = Event::new(EventType::ClientCreated, &client.ancestors, &who.actor, &cx.request_id, client.view(), None);
            cx.app.store.create_client(&client, &event).await.map(|()| client)
        }
    })
    .await?;
    Ok((client, secret))
}

/// `GET /v1/clients`: summaries, newest first, filtered by `partner`, `status`,
/// `suspended`, `q` (name prefix) and `email`.
///
/// # Errors
/// 400 naming each bad filter or paging parameter; 404 for a partner outside the tree.
pub async fn list_clients(cx: Ctx) -> Result<Reply, ApiError> {
    let filters = list_filters(&cx);
    let dialect = cx.dialect();
    let whole = matches!(dialect, Dialect::Hosting | Dialect::Portal);
    // A page is read beside authentication, with the caller's scope: one sequential
    // round trip fewer. A `partner` filter naming an id or a number is read with the
    // caller's partner chain (one `BatchGetItem` for an API key) while its page is read
    // beside them; the page is only kept if that partner is in the caller's tree. A filter
    // naming a partner by name reads the name's claim with the chain, then the partner
    // (unless it is of the chain) beside its page. Anything else, or a partner not found
    // or outside the tree, takes the path below, which tells why.
    let named = match filters.as_ref().ok().and_then(|f| f.partner.as_deref()) {
        Some(p) if !whole && is_id(p) => Some(PartnerSelector::Id(p.to_owned())),
        Some(p) if !whole => match crate::domain::parse_number(p) {
            Some(n) => Some(PartnerSelector::Id(Numbered::Partner.id(n))),
            None => Name::parse(p).ok().map(PartnerSelector::Name),
        },
        _ => None,
    };
    let extra = match &named {
        Some(PartnerSelector::Id(id)) => vec![crate::store::partner_pk(id)],
        Some(PartnerSelector::Name(name)) => vec![crate::store::partner_name_claim(name)],
        _ => Vec::new(),
    };
    let (store, cx_ref, filters_ref, named_ref) = (&cx.app.store, &cx, &filters, &named);
    let early = |scope: String| async move {
        let (cx, Ok(f)) = (cx_ref, filters_ref) else { return Ok(None) };
        let target = match (&f.partner, named_ref) {
            _ if whole => return Ok(None),
            (None, _) => scope.clone(),
            (Some(_), Some(PartnerSelector::Id(id))) => id.clone(),
            (Some(_), _) => return Ok(None),
        };
        let query = f.query(target);
        let page = cx.page(&fingerprint(&scope, &query))?;
        // (The caller's ancestors are not known yet: a root's name may be read.)
        let found = store.list_clients(&query, &page, |id| id == scope).await?;
        Ok(Some((query, found)))
    };
    let (who, items, early) = cx.principal_with_items_and(extra, early).await?;
    who.require(Scope::CLIENTS_VIEW)?;
    dialect.admits(&who)?;
    let filters = filters?;
    let of_chain = |id: &str| who.chain.iter().find(|p| p.id == id).cloned();
    // A filter's partner the caller cannot see is a 404 before any paging parameter is
    // looked at, as if it did not exist (API.md: tenancy): a bad one tells nothing.
    let early = match (early, &named) {
        (early, Some(PartnerSelector::Id(id))) => {
            // The filter's partner: read beside the chain, or one of the chain itself. One
            // not seen takes the path below (a number may still be a partner's name).
            let read_beside = items?.into_iter().next().map(crate::store::from_item::<Partner>).transpose()?;
            let partner = read_beside.or_else(|| of_chain(id));
            if partner.is_some_and(|p| p.id == *id && who.sees(&p.path)) { early? } else { None }
        }
        (early, None) if filters.partner.is_none() => early?,
        (early, Some(PartnerSelector::Name(name))) => {
            early?;
            Some(named_page(&cx, &who, &filters, name, &items?).await?)
        }
        (early, _) => {
            early?;
            None
        }
    };
    let (query, mut found) = match early {
        Some(read) => read,
        None => {
            let scope = match &filters.partner {
                None => who.scope().to_owned(),
                Some(p) => filter_partner(&cx, &who, p).await?,
            };
            let query = filters.query(scope);
            if whole {
                return whole_list(&cx, &who, &query).await;
            }
            let page = cx.page(&fingerprint(who.scope(), &query))?;
            let found = store.list_clients(&query, &page, |id| who.chain.iter().any(|p| p.id == id)).await?;
            (query, found)
        }
    };
    let read = found.clients.clone();
    let (calls, ()) = tokio::try_join!(super::usage::api_calls(store, &read), current_partner_names(store, &who, &found.partners, &mut found.clients))?;
    if dialect == Dialect::PartnerApi {
        // Seed 001 pages with take and skip: `{ total, data }`.
        let data: Vec<Value> = found.clients.iter().map(partner_api::summary).collect();
        return Ok(Reply::ok(json!({ "total": found.total, "data": data })));
    }
    let data: Vec<Value> = found.clients.iter().zip(calls).map(|(c, n)| c.summary(n)).collect();
    Ok(list(found.total, data, cx.cursor(&fingerprint(who.scope(), &query), found.next_after)))
}

/// The page of a list filtered by a partner's name, from the name's claim read with the
/// caller's chain (`claim`: none when no partner holds the name): the partner (unless it
/// is of the caller's chain) is read beside its page.
///
/// # Errors
/// 404 for a name no partner holds or one outside the caller's tree, before any paging
/// parameter is looked at, as if it did not exist (API.md: tenancy); then 400 for a bad
/// paging parameter; or the store's error.
async fn named_page(cx: &Ctx, who: &Principal, filters: &ListFilters, name: &Name, claim: &[crate::store::Item]) -> Result<(ClientQuery, ClientList), ApiError> {
    let store = &cx.app.store;
    let outside = || ApiError::NotFound(format!("Partner {}", name.as_str()));
    let id = claim.first().and_then(|c| crate::store::string_attr(c, "id")).ok_or_else(outside)?;
    let query = filters.query(id.clone());
    let known = |x: &str| who.chain.iter().any(|p| p.id == x);
    let page = cx.page(&fingerprint(who.scope(), &query));
    if let Some(p) = who.chain.iter().find(|p| p.id == id) {
        // The caller's own partner or an ancestor: no read, the tree check alone.
        if !who.sees(&p.path) {
            return Err(outside());
        }
        let found = store.list_clients(&query, &page?, known).await?;
        return Ok((query, found));
    }
    let seen = |p: Option<Partner>| p.is_some_and(|p| p.id == id && who.sees(&p.path));
    match page {
        Ok(page) => {
            let (partner, found) = tokio::try_join!(store.partner(&id), store.list_clients(&query, &page, known))?;
            if seen(partner) { Ok((query, found)) } else { Err(outside()) }
        }
        // Bad paging parameters: the partner alone decides between 404 and 400.
        Err(bad) => Err(if seen(store.partner(&id).await?) { bad } else { outside() }),
    }
}

/// A client list's filters, checked: all of them, each bad one named.
struct ListFilters {
    status: Option<Status>,
    suspended: Option<bool>,
    q: Option<String>,
    email: Option<Email>,
    partner: Option<String>,
}

impl ListFilters {
    fn query(&self, scope: String) -> ClientQuery {
        ClientQuery { scope, status: self.status, suspended: self.suspended, q: self.q.clone(), email: self.email.clone() }
    }
}

/// What a cursor of this list is bound to: the caller's view and every filter.
fn fingerprint(view: &str, query: &ClientQuery) -> String {
    format!(
        "clients|{view}|{}|{:?}|{:?}|{:?}|{:?}",
        query.scope,
        query.status,
        query.suspended,
        query.q,
        query.email.as_ref().map(Email::key)
    )
}

/// The filters of `GET /v1/clients`: `status`, `suspended`, `q` (name prefix), `email`
/// and `partner`.
///
/// # Errors
/// 400 naming each bad filter (and paging parameter).
fn list_filters(cx: &Ctx) -> Result<ListFilters, ApiError> {
    let mut errors = Vec::new();
    let status = cx.query("status").and_then(|s| {
        Status::parse(&s).or_else(|| {
            errors.push(FieldError::new("status", "must be demo, trial or live"));
            None
        })
    });
    let suspended = cx.query("suspended").and_then(|s| match s.as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => {
            errors.push(FieldError::new("suspended", "must be true or false"));
            None
        }
    });
    let q = cx.query("q").and_then(|q| {
        // Compared with names as they are stored: NFC (and bounded before normalizing).
        let trimmed = if q.len() > 4 * Name::MAX { q } else { crate::domain::values::normalized(&q) };
        if trimmed.is_empty() || trimmed.chars().count() > Name::MAX {
            errors.push(FieldError::new("q", "must be 1-200 characters"));
            None
        } else {
            Some(trimmed)
        }
    });
    let email = cx.query("email").and_then(|e| {
        Email::parse(&e).map_err(|m| errors.push(FieldError::new("email", m))).ok()
    });
    let partner = cx.query("partner");
    if cx.dialect() == Dialect::PartnerApi && partner.is_none() {
        errors.push(FieldError::new("partner", "is required: a partner's id or name"));
    }
    if !errors.is_empty() {
        return Err(Page::with_errors(|n| cx.query(n), errors));
    }
    Ok(ListFilters { status, suspended, q, email, partner })
}

/// The partner a list's `partner` filter names (its id, number or name), if the caller
/// sees it: the list's scope.
async fn filter_partner(cx: &Ctx, who: &Principal, p: &str) -> Result<String, ApiError> {
    let by_name = || Name::parse(p).map(PartnerSelector::Name).map_err(|m| ApiError::invalid("partner", m));
    if is_id(p) {
        return Ok(named_partner(cx, who, &PartnerSelector::Id(p.to_owned())).await?.id);
    }
    if let Some(n) = crate::domain::parse_number(p) {
        // A partner's number (seed 001 names partners by integer id), else a partner
        // whose name is all digits.
        return match named_partner(cx, who, &PartnerSelector::Number(n)).await {
            Err(ApiError::NotFound(_)) => Ok(named_partner(cx, who, &by_name()?).await?.id),
            other => Ok(other?.id),
        };
    }
    Ok(named_partner(cx, who, &by_name()?).await?.id)
}

/// `GET /hosting/api/client` and `GET /api/v1/portal/clients`: every client of the query
/// as one array, read page by page: the hosting API's each whole with `actualCallCount`
/// and `domainCountData` (its activated domains), the portal's as its summary.
/// A tree of more than `WHOLE_LIST_CAP` clients is a 400 pointing to `/v1`'s cursor,
/// so the answer stays within the 10 s limit (DIALECTS.md 003).
async fn whole_list(cx: &Ctx, who: &Principal, query: &ClientQuery) -> Result<Reply, ApiError> {
    let store = &cx.app.store;
    let mut page = Page { limit: 100, after: None, skip: 0 };
    let mut data = Vec::new();
    loop {
        let mut found = store.list_clients(query, &page, |id| who.chain.iter().any(|p| p.id == id)).await?;
        let cap = cx.app.config.whole_list_cap;
        if found.total > cap {
            return Err(ApiError::invalid(
                "clients",
                format!(
                    "this list holds {} clients, more than the {cap} one answer carries: page through GET /v1/clients with its cursor",
                    found.total
                ),
            ));
        }
        if cx.dialect() == Dialect::Portal {
            data.extend(found.clients.iter().map(portal::client));
        } else {
            let read = found.clients.clone();
            let (calls, (), domains) = tokio::try_join!(
                super::usage::api_calls(store, &read),
                current_partner_names(store, who, &found.partners, &mut found.clients),
                activated_domains(store, &read)
            )?;
            for ((c, n), domains) in found.clients.iter().zip(calls).zip(domains) {
                let mut v = c.view();
                v["actualCallCount"] = json!(n);
                v["domainCountData"] = json!(domains);
                data.push(v);
            }
        }
        match found.next_after {
            Some(after) => page.after = Some(after),
            None => break,
        }
    }
    Ok(Reply::ok(Value::Array(data)))
}

/// Each client's activated domains, sorted: read only for clients that have any.
async fn activated_domains(store: &Store, clients: &[Client]) -> Result<Vec<Vec<String>>, ApiError> {
    let wanted: Vec<(String, u64)> = clients.iter().map(|c| (c.id.clone(), c.domain_count)).collect();
    futures::stream::iter(wanted)
        .map(|(id, count)| async move {
            if count == 0 {
                return Ok(Vec::new());
            }
            let mut domains: Vec<String> = store
                .all_client_licenses(&id)
                .await?
                .into_iter()
                .filter(|l| !l.revoked)
                .flat_map(|l| l.activations.into_keys())
                .collect();
            domains.sort();
            domains.dedup();
            Ok(domains)
        })
        .buffered(16)
        .collect::<Vec<Result<Vec<String>, ApiError>>>()
        .await
        .into_iter()
        .collect()
}

/// `GET /v1/clients/{clientId}`.
///
/// # Errors
/// 404 when missing or outside the caller's tree.
pub async fn get(cx: Ctx) -> Result<Reply, ApiError> {
    let (who, id, found) = caller_and_client(&cx, Scope::CLIENTS_VIEW).await?;
    let client = visible_as_read(&cx.app.store, &who, &id, found).await.map_err(|e| as_addressed(&cx, e))?;
    if cx.dialect() == Dialect::PartnerApi {
        return Ok(Reply::ok(partner_api::client(&client)).etag(client.version));
    }
    Ok(reply(&client))
}

async fn change(cx: Ctx, kind: ChangeKind) -> Result<Reply, ApiError> {
    let (who, id, found) = caller_and_client(&cx, Scope::CLIENTS_EDIT).await?;
    let dialect = cx.dialect();
    let change = match dialect {
        Dialect::PartnerApi => {
            let (body, extras, errors) = partner_api::request(cx.json()?, false)?;
            (partner_api::merged(ClientChange::from_body(body, kind), errors)?, extras.contact_ref)
        }
        Dialect::Hosting => {
            // Only a client the caller sees is compared with: anyone else's is a 404 below,
            // whatever the body says of it.
            let body = match found.as_ref().filter(|c| who.sees(&c.ancestors)) {
                Some(c) => crate::dialects::hosting::read_back(cx.json()?, &c.view()),
                None => cx.json()?,
            };
            (ClientChange::from_body(body, kind)?, None)
        }
        _ => (ClientChange::from_body(cx.json()?, kind)?, None),
    };
    let (change, contact_ref) = change;
    let destination = match &change.direct_partner {
        Some(named) => {
            let direct = direct_partner(&cx, &who, named).await?;
            let root = root_of(&cx, &direct).await?;
            Some((direct, root))
        }
        None => None,
    };
    let updated = modify(&cx, &who, &id, found, |c| {
        let mut next = c.with_profile(change.apply(c)?);
        if let Some(r) = contact_ref {
            next.contact_ref = r;
        }
        // Naming the current partner again (with nothing else to change) changes nothing.
        if let Some((direct, _)) = &destination
            && direct.id == c.direct_partner.id
            && change.only_moves()
        {
            return Ok(None);
        }
        if let Some((direct, root)) = &destination
            && direct.id != c.direct_partner.id
        {
            next.direct_partner = PartnerRef { id: direct.id.clone(), name: direct.name.as_str().to_owned() };
            next.partner = PartnerRef { id: root.id.clone(), name: root.name.as_str().to_owned() };
            next.direct_partner_number = direct.number;
            next.partner_number = root.number;
            next.ancestors.clone_from(&direct.path);
        }
        let mut event = EventType::ClientUpdated;
        let moved = next.ancestors != c.ancestors;
        if let Some(active) = change.is_active
            && active == next.suspended
        {
            next.suspended = !active;
            next.suspended_reason = None;
            // A move is always a client.updated (its `previous` shows the suspension too).
            if !moved {
                event = if active { EventType::ClientUnsuspended } else { EventType::ClientSuspended };
            }
        }
        Ok(Some((next, event)))
    })
    .await
    .map_err(|e| as_addressed(&cx, e))?;
    if dialect == Dialect::PartnerApi {
        return Ok(Reply::ok(json!({ "id": updated.number })));
    }
    Ok(reply(&updated))
}

/// `PATCH /v1/clients/{clientId}`: JSON Merge Patch of the profile;
/// `isActive: false` suspends, `true` unsuspends.
///
/// # Errors
/// 400, 404, 409 (taken values), 412 (stale `If-Match`).
pub async fn update(cx: Ctx) -> Result<Reply, ApiError> {
    change(cx, ChangeKind::Patch).await
}

/// `PUT /v1/clients/{clientId}`: replaces every writable field.
///
/// # Errors
/// As [`update`].
pub async fn replace(cx: Ctx) -> Result<Reply, ApiError> {
    change(cx, ChangeKind::Replace).await
}

/// `DELETE /v1/clients/{clientId}`: removes the client and frees its unique values.
///
/// # Errors
/// 404 (also when deleted already), 412 (stale `If-Match`).
pub async fn delete(cx: Ctx) -> Result<Reply, ApiError> {
    let (who, id, found) = caller_and_client(&cx, Scope::CLIENTS_REMOVE).await?;
    // `/v1` takes no body on a DELETE; the dialects' deletes stay as their seeds were.
    if cx.dialect() == Dialect::V1 {
        cx.no_fields()?;
    }
    remove(&cx, &who, &id, Some(found), cx.if_match()?).await.map_err(|e| as_addressed(&cx, e))?;
    if cx.dialect() == Dialect::PartnerApi {
        // Seed 001: "200 - Client has been deleted successfully".
        return Ok(Reply::empty(200));
    }
    Ok(Reply::no_content())
}

/// Deletes one visible client with its `client.removed` event, re-reading it
/// when a concurrent change moved its version (unless `expected` pins one).
///
/// Its licenses are revoked first, each with its event. The delete is guarded by
/// the version read with no license left, and a license created meanwhile moves
/// that version, so the delete then fails, its license is revoked, and the delete
/// runs again: no license stays active on a deleted client.
/// `found`, when given, is the client as read with the caller: the first attempt's.
async fn remove(cx: &Ctx, who: &Principal, id: &str, mut found: Option<Option<Client>>, expected: Option<crate::http::IfMatch>) -> Result<(), ApiError> {
    // If-Match speaks of the client as the caller saw it; once revoking moved the
    // version, the guard is the version this loop read.
    let mut pinned = expected;
    for attempt in 0..MAX_ATTEMPTS {
        let current = match found.take() {
            Some(first) => visible_as_read(&cx.app.store, who, id, first).await?,
            None => visible(&cx.app.store, who, id).await?,
        };
        if let Some(m) = &pinned {
            m.check(current.version)?;
        }
        if current.license_count > 0 {
            for mut license in cx.app.store.all_client_licenses(id).await? {
                if !license.revoked {
                    license.partner_path.clone_from(&current.ancestors);
                    super::licenses::revoke_license(cx, &who.actor, license).await?;
                }
            }
            pinned = None;
            continue;
        }
        let event = Event::new(EventType::ClientRemoved, &current.ancestors, &who.actor, &cx.request_id, current.view(), None);
        match cx.app.store.delete_client(&current, &event).await {
            Err(ApiError::VersionMismatch { .. }) => backoff(attempt).await,
            other => return other,
        }
    }
    Err(ApiError::Unavailable("too much contention on one client".into()))
}

/// `POST /v1/clients/bulk-delete` `{ "ids": [...] }` (1-100): deletes each client
/// as a single delete would; ids that do not exist (or are not visible) are listed
/// as not found.
///
/// # Errors
/// 400 for a bad body.
pub async fn bulk_delete(cx: Ctx) -> Result<Reply, ApiError> {
    let who = cx.principal().await?;
    who.require(Scope::CLIENTS_REMOVE)?;
    let mut f = Fields::from_body(cx.json()?)?;
    let ids: Option<Vec<String>> = f.required("ids");
    if ids.as_ref().is_some_and(|ids| !(1..=100).contains(&ids.len())) {
        f.error("ids", "must hold 1 to 100 ids");
    }
    f.finish()?;
    let mut ids = ids.unwrap_or_default();
    let mut seen = std::collections::HashSet::new();
    ids.retain(|id| seen.insert(id.clone()));
    let (cx, who) = (&cx, &who);
    // Each id is its own delete (one transaction each): one that fails (a stalled or
    // throttled store) is reported beside the others, so the caller knows exactly
    // which ids are gone and retries only the rest.
    let outcomes: Vec<Result<bool, ApiError>> = futures::stream::iter(ids.clone())
        .map(|id| async move {
            if !is_id(&id) {
                return Ok(false);
            }
            match remove(cx, who, &id, None, None).await {
                Ok(()) => Ok(true),
                Err(ApiError::NotFound(_)) => Ok(false),
                Err(e) => Err(e),
            }
        })
        .buffered(8)
        .collect()
        .await;
    let (mut deleted, mut not_found, mut failed) = (Vec::new(), Vec::new(), Vec::new());
    for (id, outcome) in ids.into_iter().zip(outcomes) {
        match outcome {
            Ok(true) => deleted.push(id),
            Ok(false) => not_found.push(id),
            Err(e) => {
                if e.status() >= 500 {
                    tracing::warn!(request_id = %cx.request_id, client = %id, error = %e, "bulk delete: one id failed");
                }
                failed.push(json!({ "id": id, "status": e.status(), "errorCode": e.code() }));
            }
        }
    }
    Ok(Reply::ok(json!({ "deleted": deleted, "notFound": not_found, "failed": failed })))
}

/// `GET /v1/clients/by-username/{username}`.
///
/// # Errors
/// 404 when no visible client has it.
pub async fn by_username(cx: Ctx) -> Result<Reply, ApiError> {
    let raw = cx.path_param("username").unwrap_or_default();
    let username = Username::parse(&raw).ok();
    let store = &cx.app.store;
    let read = |_| async {
        match &username {
            Some(u) => store.client_by_username(u.as_str()).await,
            None => Ok(None),
        }
    };
    let (who, found) = cx.principal_and(read).await?;
    who.require(Scope::CLIENTS_VIEW)?;
    let missing = || ApiError::NotFound(format!("Client with username {raw}"));
    let found = found?.filter(|c| who.sees(&c.ancestors)).ok_or_else(missing)?;
    Ok(reply(&shown(&cx.app.store, &who, found).await?))
}

/// `POST /v1/clients/lookup` `{ "apiKey" }`: the client a client API key belongs to.
/// The key travels in the body so that it never lands in URL logs.
///
/// # Errors
/// 400 for a bad body, 404 when no visible client has the key.
pub async fn lookup(cx: Ctx) -> Result<Reply, ApiError> {
    let key = if cx.dialect() == Dialect::Hosting {
        // `GET /hosting/api/client/by-apiKey/{apiKey}`: its seed puts the key in the
        // path; the request log shows the route instead (dialects::loggable_path).
        Ok(cx.path_param("apiKey").unwrap_or_default())
    } else {
        cx.json().and_then(Fields::from_body).and_then(|mut f| {
            let key: Option<String> = f.required("apiKey");
            f.finish().map(|()| key.unwrap_or_default())
        })
    };
    let store = &cx.app.store;
    let read = |_| async {
        match &key {
            Ok(key) => store.client_by_key_hash(&secrets::sha256_hex(key.trim())).await,
            Err(_) => Ok(None),
        }
    };
    let (who, found) = cx.principal_and(read).await?;
    who.require(Scope::CLIENTS_VIEW)?;
    key?;
    let found = found?.filter(|c| who.sees(&c.ancestors)).ok_or_else(|| ApiError::NotFound("Client with this API key".into()))?;
    Ok(reply(&shown(&cx.app.store, &who, found).await?))
}

/// `GET /v1/clients/search?term=`: the client whose username or email is exactly `term`.
///
/// # Errors
/// 400 without a term, 404 when no visible client matches.
pub async fn search(cx: Ctx) -> Result<Reply, ApiError> {
    let who = cx.principal().await?;
    who.require(Scope::CLIENTS_VIEW)?;
    // The hosting API's deprecated `GET /hosting/api/clientgetid/{searchTerm}` is this
    // search, with the term in its path and its successor named.
    let deprecated = cx.dialect() == Dialect::Hosting;
    let (field, term) = if deprecated { ("searchTerm", cx.path_param("searchTerm")) } else { ("term", cx.query("term")) };
    let term = term.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    let term = term.ok_or_else(|| ApiError::invalid(field, "is required: an exact username or email"))?;
    let missing = || ApiError::NotFound(format!("Client matching {term}"));
    let found = if term.contains('@') {
        match Email::parse(&term) {
            Ok(email) => cx.app.store.client_by_email(&email).await?,
            Err(_) => None,
        }
    } else {
        match Username::parse(&term) {
            Ok(u) => cx.app.store.client_by_username(u.as_str()).await?,
            Err(_) => None,
        }
    };
    let found = found.filter(|c| who.sees(&c.ancestors)).ok_or_else(missing)?;
    // (The deprecated route's Deprecation and Link headers are set on every answer of
    // it, errors included: see `dialects::deprecated`.)
    Ok(reply(&shown(&cx.app.store, &who, found).await?))
}
