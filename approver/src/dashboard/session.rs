//! Sessions: the cookie carries a random 32-byte id and its HMAC under a key derived from
//! `SHELLGATE_SESSION_SECRET` (the same on every replica); Postgres keeps only the id's SHA-256,
//! the user and the times that decide idle and absolute expiry. A new id is issued at every
//! login; logging out deletes the row.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::rand::{SecureRandom as _, SystemRandom};
use ring::{aead, hmac};
use sha2::{Digest as _, Sha256};
use shellgate_shared::db::models::User;
use shellgate_shared::db::queries;
use shellgate_shared::ids::UserId;

use crate::context::ApproverContext;
use crate::error::ApiError;

/// The keys derived from the session secret: one signs session cookies, one makes CSRF tokens,
/// one seals TOTP secrets at rest.
pub struct SessionKeys {
    cookie: hmac::Key,
    csrf: hmac::Key,
    /// Always present: 32 bytes of HMAC output are an AES-256 key (`None` is never built).
    totp: Option<aead::LessSafeKey>,
}

/// A signed-in request: the user, the session's id (for its CSRF token and logging out), and
/// when it last gave a fresh second-factor code.
pub struct Session {
    pub user: User,
    pub id: [u8; 32],
    pub stepped_up_at: Option<time::OffsetDateTime>,
}

/// How long a password-checked session may take to give its second factor.
const SECOND_FACTOR_WINDOW: time::Duration = time::Duration::minutes(5);

impl SessionKeys {
    pub fn from_secret(secret: &[u8]) -> Self {
        let root = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let derive = |label: &[u8]| hmac::Key::new(hmac::HMAC_SHA256, hmac::sign(&root, label).as_ref());
        let totp = hmac::sign(&root, b"shellgate dashboard totp secret");
        let totp = aead::UnboundKey::new(&aead::AES_256_GCM, totp.as_ref()).ok();
        Self {
            cookie: derive(b"shellgate dashboard session cookie"),
            csrf: derive(b"shellgate dashboard csrf token"),
            totp: totp.map(aead::LessSafeKey::new),
        }
    }

    /// Seals a user's TOTP secret for storing (a random nonce, then the ciphertext; bound to the
    /// user, so a sealed secret moved to another row does not open).
    pub fn seal_totp(&self, user: UserId, secret: &[u8]) -> Result<Vec<u8>, ApiError> {
        let mut nonce = [0u8; aead::NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| ApiError::Internal("no randomness for a nonce".into()))?;
        let key = self
            .totp
            .as_ref()
            .ok_or_else(|| ApiError::Internal("no TOTP sealing key".into()))?;
        let mut sealed = secret.to_vec();
        key.seal_in_place_append_tag(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(user.to_string().as_bytes()),
            &mut sealed,
        )
        .map_err(|_| ApiError::Internal("cannot seal a TOTP secret".into()))?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    /// Opens what `seal_totp` sealed for this user (`None`: not ours, e.g. the session secret
    /// changed — the user then enrols again after `shellgate user reset-mfa`).
    pub fn open_totp(&self, user: UserId, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < aead::NONCE_LEN {
            return None;
        }
        let (nonce, rest) = sealed.split_at(aead::NONCE_LEN);
        let nonce = aead::Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut rest = rest.to_vec();
        let open = self
            .totp
            .as_ref()?
            .open_in_place(nonce, aead::Aad::from(user.to_string().as_bytes()), &mut rest)
            .ok()?;
        Some(open.to_vec())
    }

    /// A new session id and the cookie value carrying it.
    pub fn issue(&self) -> Result<([u8; 32], String), ApiError> {
        let mut id = [0u8; 32];
        SystemRandom::new()
            .fill(&mut id)
            .map_err(|_| ApiError::Internal("no randomness for a session id".into()))?;
        let tag = hmac::sign(&self.cookie, &id);
        Ok((id, format!("{}.{}", B64.encode(id), B64.encode(tag.as_ref()))))
    }

    /// The id a cookie value carries, when its signature is ours.
    pub fn open(&self, value: &str) -> Option<[u8; 32]> {
        let (id, tag) = value.split_once('.')?;
        let id: [u8; 32] = B64.decode(id).ok()?.try_into().ok()?;
        let tag = B64.decode(tag).ok()?;
        hmac::verify(&self.cookie, &id, &tag).ok()?;
        Some(id)
    }

    /// The CSRF token of a session (every form and htmx request carries it).
    pub fn csrf_token(&self, id: &[u8; 32]) -> String {
        B64.encode(hmac::sign(&self.csrf, id).as_ref())
    }

    /// Whether `token` is this session's CSRF token (compared in constant time).
    pub fn csrf_matches(&self, id: &[u8; 32], token: &str) -> bool {
        B64.decode(token.trim())
            .is_ok_and(|tag| hmac::verify(&self.csrf, id, &tag).is_ok())
    }
}

pub fn id_hash(id: &[u8; 32]) -> Vec<u8> {
    Sha256::digest(id).to_vec()
}

/// Served over HTTPS (directly or behind a trusted proxy)?
fn https(req: &HttpRequest) -> bool {
    req.connection_info().scheme() == "https"
}

/// `__Host-` cookies must be `Secure`, so over plain HTTP (a laptop) the name has no prefix.
fn cookie_name(req: &HttpRequest) -> &'static str {
    if https(req) { "__Host-sg_session" } else { "sg_session" }
}

/// The session cookie for `value` (an empty value with max-age 0 removes it).
pub fn cookie(req: &HttpRequest, value: String) -> Cookie<'static> {
    let mut c = Cookie::build(cookie_name(req), value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(https(req))
        .finish();
    if c.value().is_empty() {
        c.make_removal();
    }
    c
}

/// The request's session, if it carries a valid one.
pub async fn current(
    ctx: &ApproverContext,
    keys: &SessionKeys,
    req: &HttpRequest,
) -> Result<Option<Session>, ApiError> {
    let Some(id) = req.cookie(cookie_name(req)).and_then(|c| keys.open(c.value())) else {
        return Ok(None);
    };
    let d = &ctx.dashboard;
    let idle = time::Duration::try_from(d.idle).unwrap_or(time::Duration::MAX);
    let absolute = time::Duration::try_from(d.absolute).unwrap_or(time::Duration::MAX);
    let mut conn = ctx.conn().await?;
    let found = queries::users::session_user(&mut conn, &id_hash(&id), idle, absolute).await?;
    Ok(found.map(|f| Session {
        user: f.user,
        id,
        stepped_up_at: f.stepped_up_at,
    }))
}

/// The request's session that has checked a password but still waits for its second factor.
pub async fn awaiting_second_factor(
    ctx: &ApproverContext,
    keys: &SessionKeys,
    req: &HttpRequest,
) -> Result<Option<Session>, ApiError> {
    let Some(id) = req.cookie(cookie_name(req)).and_then(|c| keys.open(c.value())) else {
        return Ok(None);
    };
    let mut conn = ctx.conn().await?;
    let user = queries::users::pending_session_user(&mut conn, &id_hash(&id), SECOND_FACTOR_WINDOW).await?;
    Ok(user.map(|user| Session {
        user,
        id,
        stepped_up_at: None,
    }))
}

/// Starts a session for `user` (a new id every time): the cookie to set. With
/// `second_factor_pending`, the session signs nobody in until `stepped_up` is called for it.
pub async fn start(
    ctx: &ApproverContext,
    keys: &SessionKeys,
    req: &HttpRequest,
    user: &User,
    second_factor_pending: bool,
) -> Result<Cookie<'static>, ApiError> {
    let (id, value) = keys.issue()?;
    let client = crate::dashboard::view::client_ip(req);
    let mut conn = ctx.conn().await?;
    queries::users::insert_session(
        &mut conn,
        &id_hash(&id),
        user.id,
        client.as_deref(),
        second_factor_pending,
    )
    .await?;
    Ok(cookie(req, value))
}

/// The session gave a fresh second-factor code: it gets a new id (a privilege change) and may
/// decide approvals for the step-up window. The cookie to set; `None` when the session is gone.
pub async fn stepped_up(
    ctx: &ApproverContext,
    keys: &SessionKeys,
    req: &HttpRequest,
    session: &Session,
) -> Result<Option<Cookie<'static>>, ApiError> {
    let (id, value) = keys.issue()?;
    let mut conn = ctx.conn().await?;
    let kept = queries::users::step_up_session(&mut conn, &id_hash(&session.id), &id_hash(&id)).await?;
    Ok(kept.then(|| cookie(req, value)))
}

/// Ends a session, or with `everywhere` every session of its user.
pub async fn end(ctx: &ApproverContext, session: &Session, everywhere: bool) -> Result<(), ApiError> {
    let mut conn = ctx.conn().await?;
    if everywhere {
        queries::users::delete_user_sessions(&mut conn, session.user.id).await?;
    } else {
        queries::users::delete_session(&mut conn, &id_hash(&session.id)).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_and_csrf_tokens_are_bound_to_the_secret_and_the_session() {
        let keys = SessionKeys::from_secret(&[7; 32]);
        let (id, value) = keys.issue().unwrap();
        assert_eq!(keys.open(&value), Some(id));
        let other = SessionKeys::from_secret(&[8; 32]);
        assert_eq!(other.open(&value), None, "another secret's cookie");
        let (id2, _) = keys.issue().unwrap();
        assert_ne!(id, id2);
        let forged = format!("{}.{}", B64.encode(id2), value.split_once('.').unwrap().1);
        assert_eq!(keys.open(&forged), None, "a signature moved to another id");
        for bad in ["", ".", "x.y", &value[..value.len() - 2]] {
            assert_eq!(keys.open(bad), None, "{bad:?}");
        }
        let token = keys.csrf_token(&id);
        assert!(keys.csrf_matches(&id, &token));
        assert!(!keys.csrf_matches(&id2, &token), "another session's token");
        assert!(!other.csrf_matches(&id, &token));
        assert!(!keys.csrf_matches(&id, ""));
    }

    #[test]
    fn totp_secrets_open_only_for_their_user_and_secret() {
        let keys = SessionKeys::from_secret(&[7; 32]);
        let (alice, bob) = (UserId::new(), UserId::new());
        let sealed = keys.seal_totp(alice, b"twenty bytes secret!").unwrap();
        assert!(
            !sealed.windows(20).any(|w| w == b"twenty bytes secret!"),
            "sealed, not stored plain"
        );
        assert_eq!(
            keys.open_totp(alice, &sealed).as_deref(),
            Some(&b"twenty bytes secret!"[..])
        );
        assert_eq!(keys.open_totp(bob, &sealed), None, "moved to another user");
        assert_eq!(SessionKeys::from_secret(&[8; 32]).open_totp(alice, &sealed), None);
        assert_eq!(keys.open_totp(alice, &sealed[..5]), None);
        assert_ne!(
            sealed,
            keys.seal_totp(alice, b"twenty bytes secret!").unwrap(),
            "fresh nonce"
        );
    }
}
