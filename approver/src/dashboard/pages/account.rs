//! `/account`: my own account — change my password (ends my other sessions), two-factor
//! authentication (enrol with a QR code or the secret, confirm with a first code, see the ten
//! recovery codes once, regenerate them or turn TOTP off with a current code), and my sessions
//! ("log out everywhere" is the layout's logout form with `everywhere`).

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError as _, web};
use serde::Serialize;
use shellgate_shared::db::queries;

use super::{Form, change, context, failed, signed_in, unavailable, when};
use crate::context::ApproverContext;
use crate::dashboard::session::{self, Session, id_hash};
use crate::dashboard::{mfa, password, view};
use crate::error::ApiError;

/// Everyone may change their own account.
fn anyone(_: shellgate_shared::states::UserRole) -> bool {
    true
}

#[derive(Serialize)]
struct SessionRow {
    created_at: String,
    last_seen_at: String,
    client_ip: String,
    current: bool,
}

/// What the page says after an action: an error, a notice, or recovery codes to show once.
#[derive(Default)]
struct Said<'a> {
    error: Option<&'a str>,
    notice: Option<&'a str>,
    codes: Option<Vec<String>>,
}

async fn render(ctx: &ApproverContext, s: &Session, status: StatusCode, said: Said<'_>) -> HttpResponse {
    let Some(keys) = ctx.dashboard.keys.as_ref() else {
        return unavailable(ctx);
    };
    let loaded = async {
        let mut conn = ctx.conn().await?;
        // The stored user, not the session's copy: an enrolment may have just begun.
        let user = queries::users::find_user(&mut conn, s.user.id).await?;
        let left = queries::users::recovery_codes_left(&mut conn, s.user.id).await?;
        let sessions = queries::users::list_sessions(&mut conn, s.user.id).await?;
        Ok::<_, ApiError>((user, left, sessions))
    };
    let Ok((Some(user), left, sessions)) = loaded.await else {
        return unavailable(ctx);
    };
    let mine = id_hash(&s.id);
    let sessions: Vec<SessionRow> = sessions
        .into_iter()
        .map(|r| SessionRow {
            created_at: when(Some(r.created_at)),
            last_seen_at: when(Some(r.last_seen_at)),
            client_ip: r.client_ip.unwrap_or_default(),
            current: r.id_hash == mine,
        })
        .collect();
    let mut c = context(ctx, s, "account");
    c.insert("totp_on", &user.has_totp());
    c.insert("totp_since", &when(user.totp_enabled_at));
    c.insert("codes_left", &left);
    let enrolling = mfa::pending_enrolment(keys, &user);
    c.insert("enrolling", &enrolling.is_some());
    let (secret, url, qr) = enrolling
        .map(|e| (e.secret_base32, e.url, e.qr_svg))
        .unwrap_or_default();
    c.insert("totp_secret", &secret);
    c.insert("totp_url", &url);
    c.insert("totp_qr", &qr);
    c.insert("mfa_required", &ctx.dashboard.require_mfa);
    c.insert("sessions", &sessions);
    c.insert("error", &said.error);
    c.insert("notice", &said.notice);
    c.insert("recovery_codes", &said.codes.unwrap_or_default());
    c.insert("min_chars", &password::MIN_CHARS);
    view::page(ctx, "account.html", c, status)
}

/// `GET /account`
pub async fn page(ctx: web::Data<Arc<ApproverContext>>, req: HttpRequest) -> HttpResponse {
    match signed_in(&ctx, &req).await {
        Ok(s) => render(&ctx, &s, StatusCode::OK, Said::default()).await,
        Err(res) => res,
    }
}

/// A refused account action: audited, and the page again with why.
async fn refuse(ctx: &ApproverContext, req: &HttpRequest, s: &Session, e: ApiError, message: &str) -> HttpResponse {
    view::audit(ctx, req, e.status_code(), Some(e.code()), &s.user.username);
    let said = Said {
        error: Some(message),
        ..Said::default()
    };
    render(ctx, s, e.status_code(), said).await
}

/// `POST /account/password`: the current password, and the new one twice.
pub async fn set_password(ctx: web::Data<Arc<ApproverContext>>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let form = Form::parse(&body);
    let s = match change(&ctx, &req, &form, anyone).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let new = form.raw("new").unwrap_or("").to_string();
    if form.raw("confirm") != Some(new.as_str()) {
        let e = ApiError::validation("password_mismatch", "the new passwords differ");
        return refuse(&ctx, &req, &s, e, "The two new passwords differ.").await;
    }
    if let Some(weak) = password::weakness(&new, &s.user.username) {
        return refuse(
            &ctx,
            &req,
            &s,
            ApiError::validation("weak_password", weak.clone()),
            &weak,
        )
        .await;
    }
    if let Err(res) = current_password(&ctx, &req, &s, &form).await {
        return res;
    }
    let Ok(hash) = password::hash(new).await else {
        return unavailable(&ctx);
    };
    let Some(keys) = ctx.dashboard.keys.as_ref() else {
        return unavailable(&ctx);
    };
    // Every session ends (other devices included); this one continues under a new id.
    let done = async {
        let mut conn = ctx.conn().await?;
        queries::users::set_password(&mut conn, &s.user.username, &hash).await?;
        drop(conn);
        session::start(&ctx, keys, &req, &s.user, false).await
    };
    match done.await {
        Ok(cookie) => {
            view::audit(&ctx, &req, StatusCode::OK, None, &s.user.username);
            let mut res = view::redirect("/account");
            let _ = res.add_cookie(&cookie);
            res
        }
        Err(e) => failed(&ctx, &req, &s, &e),
    }
}

/// Refused while the account must wait (the login limits: wrong passwords and codes count alike).
async fn within_limits(ctx: &ApproverContext, req: &HttpRequest, s: &Session) -> Result<(), HttpResponse> {
    match super::login::limited(ctx, req, &s.user.username).await {
        Ok(None) => Ok(()),
        Ok(Some(secs)) => {
            let e = ApiError::Forbidden("login_limited", "too many attempts".into());
            Err(refuse(ctx, req, s, e, &format!("Too many attempts: try again in {secs} s.")).await)
        }
        Err(_) => Err(unavailable(ctx)),
    }
}

/// The current password (field `current`), checked under the login limits; the page to answer
/// with instead when it is wrong (a stolen session alone cannot change the password or enrol an
/// authenticator of its own).
async fn current_password(
    ctx: &ApproverContext,
    req: &HttpRequest,
    s: &Session,
    form: &Form,
) -> Result<(), HttpResponse> {
    within_limits(ctx, req, s).await?;
    let current = form.raw("current").unwrap_or("").to_string();
    if password::verify(current, Some(s.user.password_hash.clone())).await {
        return Ok(());
    }
    super::login::failed_try(ctx, req, &s.user.username, "wrong_password").await;
    let said = Said {
        error: Some("The current password is wrong."),
        ..Said::default()
    };
    Err(render(ctx, s, StatusCode::BAD_REQUEST, said).await)
}

/// `POST /account/totp/start` (with the current password): a new secret, shown on the page until
/// a first code confirms it.
pub async fn start_totp(ctx: web::Data<Arc<ApproverContext>>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let form = Form::parse(&body);
    let s = match change(&ctx, &req, &form, anyone).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    if let Err(res) = current_password(&ctx, &req, &s, &form).await {
        return res;
    }
    let Some(keys) = ctx.dashboard.keys.as_ref() else {
        return unavailable(&ctx);
    };
    let started = async {
        let sealed = keys.seal_totp(s.user.id, &mfa::new_secret()?)?;
        let mut conn = ctx.conn().await?;
        if !queries::users::begin_totp(&mut conn, s.user.id, &sealed).await? {
            return Err(ApiError::Conflict(
                "totp_enabled",
                "two-factor authentication is on already".into(),
            ));
        }
        Ok("/account".to_string())
    };
    super::finish(&ctx, &req, &s, started.await)
}

/// `POST /account/totp/confirm`: the first code turns TOTP on; the recovery codes are shown once.
pub async fn confirm_totp(ctx: web::Data<Arc<ApproverContext>>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let form = Form::parse(&body);
    let s = match change(&ctx, &req, &form, anyone).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let Some(keys) = ctx.dashboard.keys.as_ref() else {
        return unavailable(&ctx);
    };
    let user = {
        let Ok(mut conn) = ctx.conn().await else {
            return unavailable(&ctx);
        };
        match queries::users::find_user(&mut conn, s.user.id).await {
            Ok(Some(u)) => u,
            _ => return unavailable(&ctx),
        }
    };
    let code = form.raw("code").unwrap_or("");
    match mfa::confirm(&ctx, keys, &user, code).await {
        Ok(Some(codes)) => {
            view::audit(&ctx, &req, StatusCode::OK, None, &s.user.username);
            let said = Said {
                notice: Some("Two-factor authentication is on."),
                codes: Some(codes),
                ..Said::default()
            };
            render(&ctx, &s, StatusCode::OK, said).await
        }
        Ok(None) => {
            let e = ApiError::validation("wrong_code", "the code is wrong");
            let msg = "That code is not right (or was used already): check the app's clock and try the next one.";
            refuse(&ctx, &req, &s, e, msg).await
        }
        Err(e) => failed(&ctx, &req, &s, &e),
    }
}

/// A current code (TOTP or recovery) for an action on an enrolled account; the page to answer
/// with instead when it is not one.
async fn current_code(ctx: &ApproverContext, req: &HttpRequest, s: &Session, form: &Form) -> Result<(), HttpResponse> {
    let Some(keys) = ctx.dashboard.keys.as_ref() else {
        return Err(unavailable(ctx));
    };
    within_limits(ctx, req, s).await?;
    match mfa::accept(ctx, keys, &s.user, form.raw("code").unwrap_or("")).await {
        Ok(true) => Ok(()),
        Ok(false) => {
            super::login::failed_try(ctx, req, &s.user.username, "second_factor_failed").await;
            let said = Said {
                error: Some("That code is wrong, or was used already."),
                ..Said::default()
            };
            Err(render(ctx, s, StatusCode::UNAUTHORIZED, said).await)
        }
        Err(_) => Err(unavailable(ctx)),
    }
}

/// `POST /account/recovery-codes`: ten new recovery codes (the old ones stop working).
pub async fn new_recovery_codes(
    ctx: web::Data<Arc<ApproverContext>>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let form = Form::parse(&body);
    let s = match change(&ctx, &req, &form, anyone).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    if !s.user.has_totp() {
        return view::redirect("/account");
    }
    if let Err(res) = current_code(&ctx, &req, &s, &form).await {
        return res;
    }
    let replaced = async {
        let (codes, hashes) = mfa::new_recovery_codes()?;
        let mut conn = ctx.conn().await?;
        queries::users::replace_recovery_codes(&mut conn, s.user.id, &hashes).await?;
        Ok::<_, ApiError>(codes)
    };
    match replaced.await {
        Ok(codes) => {
            view::audit(&ctx, &req, StatusCode::OK, None, &s.user.username);
            let said = Said {
                notice: Some("New recovery codes: the old ones no longer work."),
                codes: Some(codes),
                ..Said::default()
            };
            render(&ctx, &s, StatusCode::OK, said).await
        }
        Err(e) => failed(&ctx, &req, &s, &e),
    }
}

/// `POST /account/totp/off`: with a current code, two-factor authentication off (every session
/// ends: log in again).
pub async fn turn_off_totp(ctx: web::Data<Arc<ApproverContext>>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let form = Form::parse(&body);
    let s = match change(&ctx, &req, &form, anyone).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    if s.user.has_totp()
        && let Err(res) = current_code(&ctx, &req, &s, &form).await
    {
        return res;
    }
    let off = async {
        let mut conn = ctx.conn().await?;
        queries::users::reset_mfa(&mut conn, s.user.id).await?;
        Ok("/login".to_string())
    };
    super::finish(&ctx, &req, &s, off.await)
}
