//! `/login` and `/logout`. The same answer, in about the same time, for an unknown name and a
//! wrong password. Limits: per client address in this replica's memory, and per account name
//! (known or not) in Postgres for all replicas — after 5 failures within 15 minutes, each further
//! try waits longer (30 s, doubling, at most 15 minutes), with a clear "try again in N s".

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use governor::clock::Clock as _;
use serde::Deserialize;
use shellgate_shared::db::queries;
use time::OffsetDateTime;

use super::{anyone, not_configured, unavailable};
use crate::context::ApproverContext;
use crate::dashboard::{csrf, password, session, view};

/// Failures an account name may have before it must wait.
const FREE_FAILURES: i32 = 5;
/// How long failures are remembered.
const WINDOW: time::Duration = time::Duration::minutes(15);

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    csrf: String,
    /// Set (to anything): end every session of the user, on every device.
    everywhere: Option<String>,
}

fn form_page(
    ctx: &ApproverContext,
    status: StatusCode,
    username: &str,
    next: &str,
    error: Option<&str>,
) -> HttpResponse {
    let mut c = tera::Context::new();
    c.insert("username", username);
    c.insert("next", next);
    c.insert("error", &error);
    view::page(ctx, "login.html", c, status)
}

pub async fn form(ctx: web::Data<Arc<ApproverContext>>, query: web::Query<LoginQuery>) -> HttpResponse {
    if ctx.dashboard.keys.is_none() {
        return not_configured(&ctx);
    }
    match anyone(&ctx).await {
        Ok(false) => view::redirect("/setup"),
        Ok(true) => form_page(&ctx, StatusCode::OK, "", view::local_path(query.next.as_deref()), None),
        Err(_) => unavailable(&ctx),
    }
}

/// How long an account name must wait before its next try, given its recent failures.
fn wait_after(failures: i32, last: OffsetDateTime) -> Option<time::Duration> {
    let over = failures - FREE_FAILURES;
    if over < 0 {
        return None;
    }
    let wait = time::Duration::seconds(30 * (1_i64 << over.min(5))).min(WINDOW);
    let left = last + wait - OffsetDateTime::now_utc();
    left.is_positive().then_some(left)
}

fn try_again(ctx: &ApproverContext, username: &str, next: &str, secs: u64) -> HttpResponse {
    let error = format!("Too many attempts: try again in {secs} s.");
    let mut res = form_page(ctx, StatusCode::TOO_MANY_REQUESTS, username, next, Some(&error));
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&secs.to_string()) {
        res.headers_mut().insert(actix_web::http::header::RETRY_AFTER, v);
    }
    res
}

pub async fn submit(
    ctx: web::Data<Arc<ApproverContext>>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> HttpResponse {
    let Some(keys) = ctx.dashboard.keys.as_ref() else {
        return not_configured(&ctx);
    };
    if !csrf::same_origin(&req) {
        return view::refused(&ctx);
    }
    let form = form.into_inner();
    let next = view::local_path(form.next.as_deref()).to_string();
    let account: String = form.username.trim().to_lowercase().chars().take(64).collect();
    match limited(&ctx, &req, &account).await {
        Ok(None) => {}
        Ok(Some(secs)) => return try_again(&ctx, &account, &next, secs),
        Err(_) => return unavailable(&ctx),
    }
    let found = async {
        let mut conn = ctx.conn().await?;
        Ok::<_, crate::error::ApiError>(queries::users::find_user_by_name(&mut conn, &account).await?)
    };
    let Ok(user) = found.await else {
        return unavailable(&ctx);
    };
    let stored = user.as_ref().filter(|u| !u.disabled).map(|u| u.password_hash.clone());
    if !password::verify(form.password, stored).await {
        failed_try(&ctx, &req, &account, "login_failed").await;
        return form_page(
            &ctx,
            StatusCode::UNAUTHORIZED,
            &account,
            &next,
            Some("Wrong user name or password."),
        );
    }
    let Some(user) = user else {
        return unavailable(&ctx);
    };
    // With a second factor, the password opens only the way to the code page.
    let pending = user.has_totp();
    if !pending {
        succeeded(&ctx, &req, &account).await;
    }
    match session::start(&ctx, keys, &req, &user, pending).await {
        Ok(cookie) => {
            let then = if pending {
                let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
                format!("/login/code?next={next}")
            } else {
                next
            };
            let mut res = view::redirect(&then);
            let _ = res.add_cookie(&cookie);
            res
        }
        Err(_) => unavailable(&ctx),
    }
}

/// Whether this client address (in this replica) or account name (for every replica; known or
/// not) must wait before its next try: the seconds to wait.
pub(super) async fn limited(
    ctx: &ApproverContext,
    req: &HttpRequest,
    account: &str,
) -> Result<Option<u64>, crate::error::ApiError> {
    let limiter = &ctx.dashboard.logins;
    if let Some(ip) = view::client_ip(req).and_then(|ip| ip.parse().ok())
        && let Err(not_until) = limiter.check_key(&ip)
    {
        let wait = not_until.wait_time_from(limiter.clock().now());
        return Ok(Some(wait.as_secs() + 1));
    }
    let mut conn = ctx.conn().await?;
    let failures = queries::users::login_failures(&mut conn, account, WINDOW).await?;
    let Some(left) = failures.and_then(|(n, last)| wait_after(n, last)) else {
        return Ok(None);
    };
    view::audit(ctx, req, StatusCode::TOO_MANY_REQUESTS, Some("login_limited"), account);
    Ok(Some(u64::try_from(left.whole_seconds()).unwrap_or(0) + 1))
}

/// A wrong password or code: counted against the account name, and audited with `code`.
pub(super) async fn failed_try(ctx: &ApproverContext, req: &HttpRequest, account: &str, code: &'static str) {
    if let Ok(mut conn) = ctx.conn().await {
        let _ = queries::users::record_login_failure(&mut conn, account, WINDOW).await;
    }
    view::audit(ctx, req, StatusCode::UNAUTHORIZED, Some(code), account);
}

/// Signed in: the account's failures are forgotten, and the login audited.
pub(super) async fn succeeded(ctx: &ApproverContext, req: &HttpRequest, account: &str) {
    if let Ok(mut conn) = ctx.conn().await {
        let _ = queries::users::clear_login_failures(&mut conn, account).await;
    }
    view::audit(ctx, req, StatusCode::SEE_OTHER, None, account);
}

pub async fn logout(
    ctx: web::Data<Arc<ApproverContext>>,
    req: HttpRequest,
    form: web::Form<LogoutForm>,
) -> HttpResponse {
    let Some(keys) = ctx.dashboard.keys.as_ref() else {
        return not_configured(&ctx);
    };
    let session = match session::current(&ctx, keys, &req).await {
        Ok(Some(s)) => s,
        Ok(None) => return view::redirect("/login"),
        Err(_) => return unavailable(&ctx),
    };
    if !csrf::same_origin(&req) || !keys.csrf_matches(&session.id, &form.csrf) {
        return view::refused(&ctx);
    }
    if session::end(&ctx, &session, form.everywhere.is_some()).await.is_err() {
        return unavailable(&ctx);
    }
    view::audit(&ctx, &req, StatusCode::SEE_OTHER, None, &session.user.username);
    let mut res = view::redirect("/login");
    let _ = res.add_cookie(&session::cookie(&req, String::new()));
    res
}
