//! Sessions: the cookie carries a random 32-byte id and its HMAC under a key derived from
//! `SHELLGATE_SESSION_SECRET` (the same on every replica); Postgres keeps only the id's SHA-256,
//! the user and the times that decide idle and absolute expiry. A new id is issued at every
//! login; logging out deletes the row.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::hmac;
use ring::rand::{SecureRandom as _, SystemRandom};
use sha2::{Digest as _, Sha256};
use shellgate_shared::db::models::User;
use shellgate_shared::db::queries;

use crate::context::ApproverContext;
use crate::error::ApiError;

/// The keys derived from the session secret: one signs session cookies, one makes CSRF tokens.
pub struct SessionKeys {
    cookie: hmac::Key,
    csrf: hmac::Key,
}

/// A signed-in request: the user, and the session's id (for its CSRF token and logging out).
pub struct Session {
    pub user: User,
    pub id: [u8; 32],
}

impl SessionKeys {
    pub fn from_secret(secret: &[u8]) -> Self {
        let root = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let derive = |label: &[u8]| hmac::Key::new(hmac::HMAC_SHA256, hmac::sign(&root, label).as_ref());
        Self {
            cookie: derive(b"shellgate dashboard session cookie"),
            csrf: derive(b"shellgate dashboard csrf token"),
        }
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
    let user = queries::users::session_user(&mut conn, &id_hash(&id), idle, absolute).await?;
    Ok(user.map(|user| Session { user, id }))
}

/// Starts a session for `user` (a new id every time): the cookie to set.
pub async fn start(
    ctx: &ApproverContext,
    keys: &SessionKeys,
    req: &HttpRequest,
    user: &User,
) -> Result<Cookie<'static>, ApiError> {
    let (id, value) = keys.issue()?;
    let client = crate::dashboard::view::client_ip(req);
    let mut conn = ctx.conn().await?;
    queries::users::insert_session(&mut conn, &id_hash(&id), user.id, client.as_deref()).await?;
    Ok(cookie(req, value))
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
}
