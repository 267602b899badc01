//! Who is calling, and what they may do and see.
//!
//! Credentials resolve to a [`Principal`]: the platform admin, or a partner's
//! API key with its permissions. A partner sees its own subtree only; anything
//! outside it answers 404, exactly as if it did not exist. A suspended partner,
//! or any partner below a suspended one, cannot authenticate at all.

use std::future::Future;

use lambda_http::http::HeaderMap;
use lambda_http::request::RequestContext;
use serde::Serialize;

use crate::app::App;
use crate::domain::console_link::Minter;
use crate::domain::partner::Partner;
use crate::domain::scopes::{Scope, Scopes};
use crate::error::ApiError;
use crate::secrets;
use crate::store::ALL;
use crate::store::logins::{Claimed, LoginCounters};

/// What kind of credential made a request (recorded as the actor of changes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ActorKind {
    Admin,
    ApiKey,
    Teammate,
    /// A scheduled function (trial expiry).
    System,
    /// The holder of a license key (activation routes).
    LicenseKey,
    /// A console session a console link opened (API.md §5b); its id is the link's, whose
    /// `console_link.created` event names the credential that minted it.
    ConsoleLink,
}

/// The credential behind a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: String,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub actor: Actor,
    /// The caller's partner; `None` for the platform admin.
    pub partner: Option<Partner>,
    /// The caller's partner and its ancestors, root first, as authentication read them
    /// (empty for the admin): their current names need no read of their own.
    pub chain: Vec<Partner>,
    pub scopes: Scopes,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.partner.is_none()
    }

    /// # Errors
    /// `forbidden` naming the missing permission.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.has(scope) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!("This credential lacks the {} permission", scope.name())))
        }
    }

    /// The permissions for a key or teammate this caller creates: those asked for,
    /// or the default grant, never more than the caller holds.
    ///
    /// # Errors
    /// `forbidden` naming what the caller lacks.
    pub fn grant(&self, asked: Option<Scopes>, what: &str) -> Result<Scopes, ApiError> {
        match asked {
            Some(asked) if !self.scopes.contains_all(asked) => Err(ApiError::Forbidden(format!(
                "A {what} cannot get permissions its creator lacks: {}",
                self.scopes.missing(asked).join(", ")
            ))),
            Some(asked) => Ok(asked),
            None => Ok(Scopes::default_grant().intersect(self.scopes)),
        }
    }

    /// That this caller holds every permission `held` (a key's or teammate's it acts
    /// on): no credential acts above itself (API.md §1).
    ///
    /// # Errors
    /// `forbidden` naming what the caller lacks.
    pub fn covers(&self, held: Scopes, what: &str) -> Result<(), ApiError> {
        if self.scopes.contains_all(held) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "This credential cannot change or remove a {what} that holds permissions it lacks: {}",
                self.scopes.missing(held).join(", ")
            )))
        }
    }

    /// Whether something owned by a partner with this ancestor path is in the caller's tree.
    pub fn sees(&self, path: &[String]) -> bool {
        match &self.partner {
            None => true,
            Some(p) => path.contains(&p.id),
        }
    }

    /// The list scope of the caller's whole view: `ALL` or its partner id.
    pub fn scope(&self) -> &str {
        self.partner.as_ref().map_or(ALL, |p| p.id.as_str())
    }
}

/// Resolves the request's credential: `X-API-Key`, `Authorization: Bearer <JWT>`
/// or `Authorization: Basic` (a teammate).
///
/// # Errors
/// `unauthenticated` when there is none, it is unknown, revoked, expired or
/// badly signed, or its partner (or an ancestor of it) is suspended.
pub async fn authenticate(app: &App, headers: &HeaderMap, source: &Source) -> Result<Principal, ApiError> {
    authenticate_and(app, headers, source, |_| async { Ok(()) }).await.map(|(who, _)| who)
}

/// [`authenticate`], running `also` beside its last round trip.
///
/// Authentication reads the credential (an API key's grant, a token's teammate), then
/// the partner chain, to refuse a suspended tree. What the request reads next rarely
/// depends on more than the caller's partner, so `also` starts as soon as the credential
/// is known to be real, with the caller's list scope (`ALL`, or its partner's id), and
/// runs beside the chain's read: a retrieve takes two sequential round trips, not three.
/// Nothing is read for a credential that is unknown, and what `also` found is only handed
/// back with a principal; its result is returned as it came, so that the handler decides
/// which error comes first (a missing permission before a bad filter, say).
///
/// # Errors
/// As [`authenticate`].
pub async fn authenticate_and<T, F, Fut>(app: &App, headers: &HeaderMap, source: &Source, also: F) -> Result<(Principal, Result<T, ApiError>), ApiError>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    one_credential(headers)?;
    if let Some(key) = headers.get("x-api-key") {
        let key = key.to_str().map_err(|_| ApiError::Unauthenticated("The API key is not valid"))?;
        return api_key(app, key.trim(), also).await;
    }
    match authorization(headers)? {
        Some(Credential::Bearer(token)) => bearer(app, &token, also).await,
        Some(Credential::Basic(username, password)) => {
            let (who, _) = basic_teammate(app, &username, &password, source).await?;
            let found = also(who.scope().to_owned()).await;
            Ok((who, found))
        }
        // (Basic is the slow path by design, an argon2 verification per request: one round
        // trip before it (the guessing windows' and the teammate's reads together), the
        // partner and its chain after, then the request's own read. Teammates sign in once
        // and use a bearer token.)
        None => Err(ApiError::Unauthenticated(
            "Send an API key in X-API-Key, a bearer token, or teammate credentials",
        )),
    }
}

/// A request carries one credential: an API key and an `Authorization` header at once
/// would leave which of them acts to a rule the caller cannot see, and one of them may be
/// bad (API.md §1: a bad credential is 401), so both are refused before either is read.
fn one_credential(headers: &HeaderMap) -> Result<(), ApiError> {
    if headers.contains_key("x-api-key") && headers.contains_key("authorization") {
        return Err(ApiError::Unauthenticated("Send one credential: an API key in X-API-Key or an Authorization header, not both"));
    }
    Ok(())
}

/// What an `Authorization` header carries.
pub enum Credential {
    Bearer(String),
    Basic(String, String),
}

/// Reads the `Authorization` header, if any.
///
/// # Errors
/// `unauthenticated` for a scheme other than Bearer or Basic, or a malformed value.
pub fn authorization(headers: &HeaderMap) -> Result<Option<Credential>, ApiError> {
    const BAD: &str = "The Authorization header is not a valid Bearer or Basic credential";
    let Some(value) = headers.get("authorization") else { return Ok(None) };
    let value = value.to_str().map_err(|_| ApiError::Unauthenticated(BAD))?.trim();
    let (scheme, rest) = value.split_once(' ').ok_or(ApiError::Unauthenticated(BAD))?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Ok(Some(Credential::Bearer(rest.to_owned())));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD.decode(rest).map_err(|_| ApiError::Unauthenticated(BAD))?;
        let text = String::from_utf8(decoded).map_err(|_| ApiError::Unauthenticated(BAD))?;
        let (user, pass) = text.split_once(':').ok_or(ApiError::Unauthenticated(BAD))?;
        return Ok(Some(Credential::Basic(user.to_owned(), pass.to_owned())));
    }
    Err(ApiError::Unauthenticated(BAD))
}

/// The claims of a bearer token.
#[derive(Debug, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Claims {
    pub sub: String,
    pub partner_id: String,
    pub permissions: Vec<String>,
    pub exp: i64,
    #[serde(default)]
    pub iat: i64,
    /// The teammate's password generation the token was issued under.
    #[serde(default)]
    pub pwg: u64,
    /// A console session's minting credential (its `sub` is then the link's id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<Minter>,
    /// A console session's link's minting time, to the millisecond: a suspension since
    /// then ended it (`iat` is in whole seconds, too coarse to tell a suspension in the
    /// same second before the session from one after).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minted: Option<String>,
}

/// Signs an HS256 token for a teammate.
///
/// # Errors
/// Only if signing fails.
pub fn issue_token(secret: &[u8], claims: &Claims) -> Result<String, ApiError> {
    jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), claims, &jsonwebtoken::EncodingKey::from_secret(secret))
        .map_err(ApiError::internal)
}

/// Verifies an HS256 token: signature, expiry and algorithm (`none` and any
/// other algorithm are refused).
///
/// # Errors
/// `unauthenticated` for any token that does not verify.
pub fn verify_token(secret: &[u8], token: &str) -> Result<Claims, ApiError> {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "sub"]);
    jsonwebtoken::decode::<Claims>(token, &jsonwebtoken::DecodingKey::from_secret(secret), &validation)
        .map(|d| d.claims)
        .map_err(|_| ApiError::Unauthenticated("The bearer token is not valid or has expired"))
}

async fn bearer<T, F, Fut>(app: &App, token: &str, also: F) -> Result<(Principal, Result<T, ApiError>), ApiError>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    const GONE: &str = "The bearer token's teammate was removed or changed its password";
    let claims = verify_token(&app.config.jwt_secret, token)?;
    let scopes: Option<Vec<Scope>> = claims.permissions.iter().map(|p| Scope::parse(p)).collect();
    let scopes = scopes.ok_or(ApiError::Unauthenticated("The bearer token names unknown permissions"))?;
    if !crate::domain::is_id(&claims.sub) || !crate::domain::is_id(&claims.partner_id) {
        return Err(ApiError::Unauthenticated("The bearer token is not valid or has expired"));
    }
    if let Some(minter) = &claims.link {
        return console_session(app, &claims, minter, Scopes::of(&scopes), also).await;
    }
    // The teammate and its partner at once: a token outlives neither its teammate's
    // removal nor a password change, and never carries more than the teammate now holds.
    // A token's signature is checked, so the request's own read may start beside them.
    let check = async {
        let (teammate, partner) = tokio::try_join!(app.store.teammate_by_id(&claims.sub), app.store.partner(&claims.partner_id))?;
        let teammate = teammate
            .filter(|t| t.partner_id == claims.partner_id && t.password_generation == claims.pwg)
            .ok_or(ApiError::Unauthenticated(GONE))?;
        let partner = partner.ok_or(ApiError::Unauthenticated("The bearer token's partner does not exist"))?;
        Ok::<_, ApiError>((teammate, active_chain(app, &partner.path).await?))
    };
    let (checked, found) = tokio::join!(check, also(claims.partner_id.clone()));
    let (teammate, chain) = checked?;
    let who = Principal {
        actor: Actor { kind: ActorKind::Teammate, id: claims.sub },
        partner: chain.last().cloned(),
        chain,
        scopes: Scopes::of(&scopes).intersect(teammate.permissions),
    };
    Ok((who, found))
}

/// A console session (API.md §5b): the partner's chain must be active and the minting
/// credential still live (a key not revoked, a teammate not removed and with the same
/// password, the same admin key), and the session holds no more than that credential now
/// holds. Both are read beside the request's own read.
async fn console_session<T, F, Fut>(app: &App, claims: &Claims, minter: &Minter, scopes: Scopes, also: F) -> Result<(Principal, Result<T, ApiError>), ApiError>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let check = async {
        let (held, chain) = tokio::try_join!(minter_scopes(app, minter), partner_chain(app, &claims.partner_id))?;
        Ok::<_, ApiError>((held, chain))
    };
    let (checked, found) = tokio::join!(check, also(claims.partner_id.clone()));
    let (held, chain) = checked?;
    let since = claims.minted.clone().unwrap_or_else(|| crate::domain::console_link::unix_time(claims.iat));
    ended_by_suspension(&chain, &since)?;
    let who = Principal {
        actor: Actor { kind: ActorKind::ConsoleLink, id: claims.sub.clone() },
        partner: chain.last().cloned(),
        chain,
        scopes: crate::domain::console_link::session_scopes(scopes, held),
    };
    Ok((who, found))
}

/// Refuses a console session or link (issued or minted at `since`) when its partner, or
/// one above it, has been suspended since: the session ended then, and stays ended after
/// the partner is reactivated (API.md §5b).
///
/// # Errors
/// `unauthenticated` when so.
pub fn ended_by_suspension(chain: &[Partner], since: &str) -> Result<(), ApiError> {
    if chain.iter().any(|p| p.suspended_at.as_deref().is_some_and(|at| at >= since)) {
        return Err(ApiError::Unauthenticated("This console session ended when its partner was suspended"));
    }
    Ok(())
}

/// What the credential that minted a console link holds now.
///
/// # Errors
/// `unauthenticated` when it no longer works: a revoked key, a removed teammate or one
/// whose password changed, an admin key since replaced.
pub async fn minter_scopes(app: &App, minter: &Minter) -> Result<Scopes, ApiError> {
    const GONE: &str = "The credential that opened this console session was revoked";
    match minter.kind {
        ActorKind::ApiKey => Ok(app.store.api_key(&minter.id).await?.ok_or(ApiError::Unauthenticated(GONE))?.permissions),
        ActorKind::Teammate => Ok(app
            .store
            .teammate_by_id(&minter.id)
            .await?
            .filter(|t| t.password_generation == minter.pwg)
            .ok_or(ApiError::Unauthenticated(GONE))?
            .permissions),
        ActorKind::Admin if minter.admin.as_deref() == Some(admin_digest(app).as_str()) => Ok(Scopes::ALL),
        _ => Err(ApiError::Unauthenticated(GONE)),
    }
}

/// A digest of the admin key in force: what a console link the admin mints records, so
/// that replacing the admin key ends its sessions. It tells nothing of the key.
pub fn admin_digest(app: &App) -> String {
    secrets::sha256_hex(&format!("console session of {}", &*app.config.admin_key_sha256))[..32].to_owned()
}

/// A partner and its ancestors, root first, provided it exists and none is suspended.
///
/// # Errors
/// `unauthenticated` when it does not exist or its tree is suspended.
pub async fn partner_chain(app: &App, partner_id: &str) -> Result<Vec<Partner>, ApiError> {
    let partner = app.store.partner(partner_id).await?.ok_or(ApiError::Unauthenticated("This credential's partner does not exist"))?;
    active_chain(app, &partner.path).await
}

/// Where a request came from: the source address API Gateway saw (its
/// `requestContext`: `http.sourceIp` for an HTTP API, `identity.sourceIp` for a REST
/// API), never a header the caller sets. The guessing limits count by it (API.md
/// §5a). An IPv4-mapped IPv6 address is its IPv4 address; other IPv6 addresses count
/// by their /64, the block one subscriber holds, so that walking through one's own
/// 2^64 addresses gains no guesses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source(String);

impl Source {
    /// The source of a request with this context (`unknown` without one: every such
    /// request shares one count).
    pub fn from_context(context: Option<&RequestContext>) -> Self {
        #[allow(unreachable_patterns, reason = "the variants depend on lambda_http's features")]
        let raw = match context {
            Some(RequestContext::ApiGatewayV2(c)) => c.http.source_ip.as_deref(),
            Some(RequestContext::ApiGatewayV1(c)) => c.identity.source_ip.as_deref(),
            _ => None,
        };
        Self::parse(raw)
    }

    /// The source of an address as text.
    pub fn parse(raw: Option<&str>) -> Self {
        use std::net::IpAddr;
        match raw.and_then(|r| r.trim().parse::<IpAddr>().ok()) {
            Some(IpAddr::V4(v4)) => Self(v4.to_string()),
            Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(v4.to_string()),
                None => {
                    let s = v6.segments();
                    Self(format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3]))
                }
            },
            None => Self("unknown".into()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Authenticates a teammate by username and password (HTTP Basic).
///
/// # Errors
/// `unauthenticated` for an unknown username or a wrong password (alike, and in
/// about the same time), or a suspended partner; `rate_limited` while a guessing
/// window of the username and `source` is full ([`judge_password`]).
pub async fn basic(app: &App, username: &str, password: &str, source: &Source) -> Result<Principal, ApiError> {
    basic_teammate(app, username, password, source).await.map(|(who, _)| who)
}

/// [`basic`], with the teammate's password generation (what a token issued now carries).
///
/// # Errors
/// As [`basic`].
pub async fn basic_teammate(app: &App, username: &str, password: &str, source: &Source) -> Result<(Principal, u64), ApiError> {
    const BAD: &str = "The username or password is wrong";
    // Only a username a teammate can have reaches the store (a stranger's 3000-byte
    // "username" is no key); its shape is no secret, so refusing it early leaks nothing.
    let username = crate::domain::values::Username::parse(username).map_err(|_| ApiError::Unauthenticated(BAD))?;
    let username = username.as_str();
    let counters = LoginCounters::new(username, source.as_str());
    let now = chrono::Utc::now().timestamp();
    let (blocked, teammate) = tokio::try_join!(app.store.login_blocked_for(&counters, now), app.store.teammate(username))?;
    // Unknown usernames are verified (against a dummy hash) and counted exactly like known ones.
    let hash = teammate.as_ref().map_or(dummy_hash(), |t| t.password_hash.as_str());
    let right = judge_password(app, &counters, blocked, password, hash, now).await?;
    let teammate = teammate.filter(|_| right).ok_or(ApiError::Unauthenticated(BAD))?;
    let owner = app.store.partner(&teammate.partner_id).await?.ok_or(ApiError::Unauthenticated(BAD))?;
    let chain = active_chain(app, &owner.path).await?;
    let who = Principal {
        actor: Actor { kind: ActorKind::Teammate, id: teammate.id },
        partner: chain.last().cloned(),
        chain,
        scopes: teammate.permissions,
    };
    Ok((who, teammate.password_generation))
}

/// Whether `password` is a teammate's current password, judged as a guess (API.md
/// §5a) like a Basic attempt from `source`: what a teammate changing its own password
/// sends as `currentPassword` is no less a guess if its token was stolen.
///
/// # Errors
/// `rate_limited` while a guessing window is full; the store's.
pub async fn current_password_is(app: &App, username: &str, password: &str, hash: &str, source: &Source) -> Result<bool, ApiError> {
    let counters = LoginCounters::new(username, source.as_str());
    let now = chrono::Utc::now().timestamp();
    let blocked = app.store.login_blocked_for(&counters, now).await?;
    judge_password(app, &counters, blocked, password, hash, now).await
}

/// Judges one password guess (API.md §5a). While a window of its username and
/// address, or of its address, is full (`blocked`, as read beside the teammate), it
/// is 429 whatever the password. Otherwise the guess first claims its place in both
/// windows, atomically, and only then is the password verified: however many guesses
/// race, right or wrong, no more than the limit are judged, the rest are 429 (without
/// an argon2 verification). A right password gives its place back, so a teammate's
/// own sign-ins count nothing.
async fn judge_password(app: &App, counters: &LoginCounters, blocked: Option<i64>, password: &str, hash: &str, now: i64) -> Result<bool, ApiError> {
    if let Some(retry_after) = blocked {
        return Err(ApiError::RateLimited { retry_after });
    }
    if let Claimed::Blocked { retry_after } = app.store.claim_login_place(counters, now).await? {
        return Err(ApiError::RateLimited { retry_after });
    }
    if !verify_password(password, hash) {
        return Ok(false);
    }
    // Not given back (the store failing): the window counts one wrong password too many,
    // never one too few; the teammate is still signed in.
    if let Err(e) = app.store.give_back_login_place(counters).await {
        tracing::warn!(error = %e, "a right password's place in the guessing windows was not given back");
    }
    Ok(true)
}

/// A hash of a random password, verified against when the username is unknown
/// so that both failures cost the same.
pub fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password(&secrets::generate("")).unwrap_or_default())
}

/// Hashes a password with argon2id and a random salt.
///
/// # Errors
/// Only if hashing fails.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    let salt = SaltString::generate(&mut OsRng);
    let password = crate::domain::teammate::nfc(password);
    argon2::Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| ApiError::internal(e.to_string()))
}

/// Whether `password` matches an argon2 hash (constant time in the hash comparison).
/// Passwords are hashed in Unicode NFC, so the same password typed another way ("é"
/// precomposed, or "e" and a combining accent) matches too. A password sent not in NFC
/// is also tried as sent, for a hash made before passwords were normalized (its
/// teammate keeps signing in as before); that costs a second hash for such input
/// whatever the username, known or unknown, so both still cost the same.
pub fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    let Ok(h) = PasswordHash::new(hash) else { return false };
    let matches = |p: &str| argon2::Argon2::default().verify_password(p.as_bytes(), &h).is_ok();
    let normal = crate::domain::teammate::nfc(password);
    matches(&normal) || (normal != password && matches(password))
}

/// Whose an API key is: the platform admin's, or a partner key's grant.
enum KeyHolder {
    Admin,
    Key(crate::store::KeyGrant),
}

async fn key_holder(app: &App, key: &str) -> Result<KeyHolder, ApiError> {
    const BAD: &str = "The API key is not valid or has been revoked";
    let hash = secrets::sha256_hex(key);
    if secrets::equal(hash.as_bytes(), app.config.admin_key_sha256.as_bytes()) {
        return Ok(KeyHolder::Admin);
    }
    let grant = app.store.key_grant(&hash).await?.ok_or(ApiError::Unauthenticated(BAD))?;
    if grant.partner_path.is_empty() {
        return Err(ApiError::Unauthenticated("This credential has no partner"));
    }
    Ok(KeyHolder::Key(grant))
}

fn admin() -> Principal {
    Principal { actor: Actor { kind: ActorKind::Admin, id: "admin".into() }, partner: None, chain: Vec::new(), scopes: Scopes::ALL }
}

fn key_principal(grant: crate::store::KeyGrant, chain: Vec<Partner>) -> Principal {
    Principal { actor: Actor { kind: ActorKind::ApiKey, id: grant.key_id }, partner: chain.last().cloned(), chain, scopes: grant.permissions }
}

async fn api_key<T, F, Fut>(app: &App, key: &str, also: F) -> Result<(Principal, Result<T, ApiError>), ApiError>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let grant = match key_holder(app, key).await? {
        KeyHolder::Admin => return Ok((admin(), also(ALL.to_owned()).await)),
        KeyHolder::Key(grant) => grant,
    };
    let own = grant.partner_path.last().cloned().unwrap_or_default();
    let (chain, found) = tokio::join!(active_chain(app, &grant.partner_path), also(own));
    Ok((key_principal(grant, chain?), found))
}

/// [`authenticate`], with the raw items of `extra` (keys with sort key `#`: the record a
/// request reads by id). For an API key they are read in the same `BatchGetItem` as its
/// partner chain, so a retrieve makes two calls, the grant and that one (issue 22); any
/// other credential reads them beside its last round trip ([`authenticate_and`]).
///
/// # Errors
/// As [`authenticate`]; a store failure of the shared read fails both.
pub async fn authenticate_with_items(app: &App, headers: &HeaderMap, source: &Source, extra: Vec<String>) -> Result<(Principal, Result<Vec<crate::store::Item>, ApiError>), ApiError> {
    let (who, items, _) = authenticate_with_items_and(app, headers, source, extra, |_| async { Ok(()) }).await?;
    Ok((who, items))
}

/// [`authenticate_with_items`] and [`authenticate_and`] at once: the items of `extra` in
/// the partner chain's `BatchGetItem` (for an API key), and `also` (given the caller's
/// scope) beside that read. A filtered list page reads its filter's partner with the
/// chain and its page beside them: four calls in all (issue 22).
///
/// # Errors
/// As [`authenticate`]; the items' read and `also` come back as they came (a store
/// failure of the shared read fails the credential's too).
pub async fn authenticate_with_items_and<T, F, Fut>(
    app: &App,
    headers: &HeaderMap,
    source: &Source,
    extra: Vec<String>,
    also: F,
) -> Result<(Principal, Result<Vec<crate::store::Item>, ApiError>, Result<T, ApiError>), ApiError>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    one_credential(headers)?;
    let Some(key) = headers.get("x-api-key") else {
        let extra = &extra;
        let beside = |scope: String| async move { Ok(tokio::join!(app.store.batch_get_items(extra), also(scope))) };
        // (Boxed: the nesting of these futures otherwise overflows the compiler's layout
        // depth in the functions that use it.)
        let (who, both) = Box::pin(authenticate_and(app, headers, source, beside)).await?;
        let (items, found) = both?;
        return Ok((who, items, found));
    };
    let key = key.to_str().map_err(|_| ApiError::Unauthenticated("The API key is not valid"))?;
    match key_holder(app, key.trim()).await? {
        KeyHolder::Admin => {
            let (items, found) = tokio::join!(app.store.batch_get_items(&extra), also(ALL.to_owned()));
            Ok((admin(), items, found))
        }
        KeyHolder::Key(grant) => {
            let own = grant.partner_path.last().cloned().unwrap_or_default();
            let (read, found) = tokio::join!(app.store.partners_and_items(&grant.partner_path, &extra), also(own));
            let (chain, items) = read?;
            let chain = active(&grant.partner_path, chain)?;
            Ok((key_principal(grant, chain), Ok(items), found))
        }
    }
}

/// The partners of `path` (a credential's partner and its ancestors), provided none
/// is suspended.
async fn active_chain(app: &App, path: &[String]) -> Result<Vec<Partner>, ApiError> {
    if path.is_empty() {
        return Err(ApiError::Unauthenticated("This credential has no partner"));
    }
    active(path, app.store.partners(path).await?)
}

/// The chain of `path` as read, provided it is whole and none of it is suspended.
fn active(path: &[String], chain: Vec<Partner>) -> Result<Vec<Partner>, ApiError> {
    if path.is_empty() {
        return Err(ApiError::Unauthenticated("This credential has no partner"));
    }
    if chain.len() != path.len() || chain.iter().any(|p| p.suspended) {
        return Err(ApiError::Unauthenticated("This credential's partner is suspended"));
    }
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn claims(exp: i64) -> Claims {
        Claims { sub: "t".into(), partner_id: "p".into(), permissions: vec!["clients:view".into()], exp, iat: 0, pwg: 0, link: None, minted: None }
    }

    #[test]
    fn tokens_verify_with_their_secret_only_and_not_after_expiry() {
        let later = chrono::Utc::now().timestamp() + 60;
        let token = issue_token(SECRET, &claims(later)).unwrap();
        assert_eq!(verify_token(SECRET, &token).unwrap().sub, "t");
        assert!(verify_token(b"another-secret-another-secret-xx", &token).is_err());
        let expired = issue_token(SECRET, &claims(chrono::Utc::now().timestamp() - 1)).unwrap();
        assert!(verify_token(SECRET, &expired).is_err());
    }

    #[test]
    fn unsigned_tokens_are_refused() {
        use base64::Engine as _;
        let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let exp = chrono::Utc::now().timestamp() + 60;
        let body = format!(r#"{{"sub":"t","partnerId":"p","permissions":[],"exp":{exp}}}"#);
        let none = format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), b64(&body));
        assert!(verify_token(SECRET, &none).is_err());
    }

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("wrong horse battery", &hash));
        assert!(!verify_password("anything", dummy_hash()));
        assert!(dummy_hash().starts_with("$argon2id$"));
        // One password typed two ways (NFC and NFD) is one password.
        let hash = hash_password("caf\u{e9} au lait, please").unwrap();
        assert!(verify_password("cafe\u{301} au lait, please", &hash));
        // A hash made of a password as sent (before passwords were normalized) still
        // takes that password.
        use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
        let raw = "cafe\u{301} au lait, please";
        let old = argon2::Argon2::default().hash_password(raw.as_bytes(), &SaltString::generate(&mut OsRng)).unwrap().to_string();
        assert!(verify_password(raw, &old));
        assert!(!verify_password("cafe\u{301} au lait, merci", &old));
    }
}
