//! Where a session gives its second factor: `/login/code` after a right password (for a user
//! with TOTP), and `/step-up` when deciding approvals needs a fresh code. Either takes a TOTP
//! code never accepted before or an unused recovery code; wrong codes count against the account
//! name like wrong passwords (the login limits). A right code gives the session a new id.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::login::{failed_try, limited, succeeded};
use super::{not_configured, signed_in, unavailable};
use crate::context::ApproverContext;
use crate::dashboard::session::{self, Session, SessionKeys};
use crate::dashboard::{csrf, mfa, view};

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct CodeForm {
    csrf: String,
    code: String,
    next: Option<String>,
}

/// Which of the two: signing in, or stepping up.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Login,
    StepUp,
}

impl Purpose {
    fn action(self) -> &'static str {
        match self {
            Self::Login => "/login/code",
            Self::StepUp => "/step-up",
        }
    }
}

fn code_page(
    ctx: &ApproverContext,
    keys: &SessionKeys,
    s: &Session,
    purpose: Purpose,
    next: &str,
    status: StatusCode,
    error: Option<&str>,
) -> HttpResponse {
    let mut c = if purpose == Purpose::StepUp {
        super::context(ctx, s, "")
    } else {
        let mut c = tera::Context::new();
        c.insert("csrf", &keys.csrf_token(&s.id));
        c
    };
    c.insert("action", purpose.action());
    c.insert("step_up", &(purpose == Purpose::StepUp));
    c.insert("minutes", &ctx.dashboard.step_up.as_secs().div_ceil(60));
    c.insert("next", next);
    c.insert("error", &error);
    view::page(ctx, "code.html", c, status)
}

/// `GET /login/code`: the code a password-checked session still owes.
pub async fn login_form(
    ctx: web::Data<Arc<ApproverContext>>,
    req: HttpRequest,
    query: web::Query<NextQuery>,
) -> HttpResponse {
    let Some(keys) = ctx.dashboard.keys.as_ref() else {
        return not_configured(&ctx);
    };
    let next = view::local_path(query.next.as_deref());
    match session::awaiting_second_factor(&ctx, keys, &req).await {
        Ok(Some(s)) => code_page(&ctx, keys, &s, Purpose::Login, next, StatusCode::OK, None),
        Ok(None) => view::redirect("/login"),
        Err(_) => unavailable(&ctx),
    }
}

/// `POST /login/code`
pub async fn login_submit(
    ctx: web::Data<Arc<ApproverContext>>,
    req: HttpRequest,
    form: web::Form<CodeForm>,
) -> HttpResponse {
    let Some(keys) = ctx.dashboard.keys.as_ref() else {
        return not_configured(&ctx);
    };
    let s = match session::awaiting_second_factor(&ctx, keys, &req).await {
        Ok(Some(s)) => s,
        Ok(None) => return view::redirect("/login"),
        Err(_) => return unavailable(&ctx),
    };
    submit(&ctx, keys, &req, &s, Purpose::Login, &form).await
}

/// `GET /step-up`: a fresh code unlocks deciding approvals for a few minutes.
pub async fn step_up_form(
    ctx: web::Data<Arc<ApproverContext>>,
    req: HttpRequest,
    query: web::Query<NextQuery>,
) -> HttpResponse {
    let s = match signed_in(&ctx, &req).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let Some(keys) = ctx.dashboard.keys.as_ref() else {
        return not_configured(&ctx);
    };
    if !s.user.has_totp() {
        return no_second_factor(&ctx);
    }
    let next = view::local_path(query.next.as_deref());
    code_page(&ctx, keys, &s, Purpose::StepUp, next, StatusCode::OK, None)
}

/// `POST /step-up`
pub async fn step_up_submit(
    ctx: web::Data<Arc<ApproverContext>>,
    req: HttpRequest,
    form: web::Form<CodeForm>,
) -> HttpResponse {
    let s = match signed_in(&ctx, &req).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let Some(keys) = ctx.dashboard.keys.as_ref() else {
        return not_configured(&ctx);
    };
    if !s.user.has_totp() {
        return no_second_factor(&ctx);
    }
    submit(&ctx, keys, &req, &s, Purpose::StepUp, &form).await
}

/// The page for a user asked for a code they cannot give yet.
pub(super) fn no_second_factor(ctx: &ApproverContext) -> HttpResponse {
    view::message(
        ctx,
        StatusCode::FORBIDDEN,
        "Two-factor authentication needed",
        "Deciding approvals needs two-factor authentication here. Set it up under My account (your \
         name, top right), then come back.",
    )
}

async fn submit(
    ctx: &ApproverContext,
    keys: &SessionKeys,
    req: &HttpRequest,
    s: &Session,
    purpose: Purpose,
    form: &CodeForm,
) -> HttpResponse {
    if !csrf::same_origin(req) || !keys.csrf_matches(&s.id, &form.csrf) {
        return view::refused(ctx);
    }
    let next = view::local_path(form.next.as_deref()).to_string();
    let account = s.user.username.clone();
    match limited(ctx, req, &account).await {
        Ok(None) => {}
        Ok(Some(secs)) => {
            let error = format!("Too many attempts: try again in {secs} s.");
            return code_page(
                ctx,
                keys,
                s,
                purpose,
                &next,
                StatusCode::TOO_MANY_REQUESTS,
                Some(&error),
            );
        }
        Err(_) => return unavailable(ctx),
    }
    match mfa::accept(ctx, keys, &s.user, &form.code).await {
        Ok(true) => {}
        Ok(false) => {
            failed_try(ctx, req, &account, "second_factor_failed").await;
            let error = "That code is wrong, or was used already. Wait for the next one.";
            return code_page(ctx, keys, s, purpose, &next, StatusCode::UNAUTHORIZED, Some(error));
        }
        Err(_) => return unavailable(ctx),
    }
    match session::stepped_up(ctx, keys, req, s).await {
        Ok(Some(cookie)) => {
            succeeded(ctx, req, &account).await;
            let mut res = view::redirect(&next);
            let _ = res.add_cookie(&cookie);
            res
        }
        Ok(None) => view::redirect("/login"),
        Err(_) => unavailable(ctx),
    }
}
