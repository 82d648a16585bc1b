//! `/setup`: the first admin, created only with the one-time setup code. Reaching the page
//! first gives nothing; once a user exists the page is gone (it leads to `/login`).

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use shellgate_shared::db::models::NewUser;
use shellgate_shared::db::queries;
use shellgate_shared::ids::UserId;
use shellgate_shared::states::UserRole;

use super::{anyone, not_configured, unavailable};
use crate::context::ApproverContext;
use crate::dashboard::{csrf, password, session, setup_code, view};

#[derive(Debug, Deserialize)]
pub struct SetupForm {
    code: String,
    username: String,
    password: String,
    password_again: String,
}

fn form_page(ctx: &ApproverContext, status: StatusCode, username: &str, error: Option<&str>) -> HttpResponse {
    let mut c = tera::Context::new();
    c.insert("username", username);
    c.insert("error", &error);
    c.insert("min_chars", &password::MIN_CHARS);
    view::page(ctx, "setup.html", c, status)
}

/// A user name: 1–64 of `a-z 0-9 . _ -`, starting with a letter or digit (stored lower-case).
pub fn username(raw: &str) -> Option<String> {
    let name = raw.trim().to_lowercase();
    let ok = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    ok.then_some(name)
}

pub async fn form(ctx: web::Data<Arc<ApproverContext>>) -> HttpResponse {
    if ctx.dashboard.keys.is_none() {
        return not_configured(&ctx);
    }
    match anyone(&ctx).await {
        Ok(true) => view::redirect("/login"),
        Ok(false) => form_page(&ctx, StatusCode::OK, "", None),
        Err(_) => unavailable(&ctx),
    }
}

pub async fn submit(
    ctx: web::Data<Arc<ApproverContext>>,
    req: HttpRequest,
    form: web::Form<SetupForm>,
) -> HttpResponse {
    let Some(keys) = ctx.dashboard.keys.as_ref() else {
        return not_configured(&ctx);
    };
    if !csrf::same_origin(&req) {
        return view::refused(&ctx);
    }
    let form = form.into_inner();
    let Some(name) = username(&form.username) else {
        let error = "A user name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.";
        return form_page(&ctx, StatusCode::BAD_REQUEST, &form.username, Some(error));
    };
    if form.password != form.password_again {
        return form_page(&ctx, StatusCode::BAD_REQUEST, &name, Some("The two passwords differ."));
    }
    if let Some(weak) = password::weakness(&form.password, &name) {
        return form_page(&ctx, StatusCode::BAD_REQUEST, &name, Some(&weak));
    }
    let Ok(hash) = password::hash(form.password).await else {
        return unavailable(&ctx);
    };
    let new = NewUser {
        id: UserId::new(),
        username: &name,
        password_hash: &hash,
        role: UserRole::Admin,
    };
    let created = async {
        let mut conn = ctx.conn().await?;
        Ok::<_, crate::error::ApiError>(
            queries::users::create_first_user(&mut conn, &setup_code::hash(&form.code), &new).await?,
        )
    };
    let user = match created.await {
        Ok(Some(user)) => user,
        Ok(None) => {
            view::audit(&ctx, &req, StatusCode::FORBIDDEN, Some("invalid_setup_code"), &name);
            let error = "That setup code is not valid (or has expired, or setup is already done). \
                         Run shellgate setup-code for a new one.";
            return form_page(&ctx, StatusCode::FORBIDDEN, &name, Some(error));
        }
        Err(_) => return unavailable(&ctx),
    };
    view::audit(&ctx, &req, StatusCode::SEE_OTHER, None, &user.username);
    match session::start(&ctx, keys, &req, &user, false).await {
        Ok(cookie) => {
            let mut res = view::redirect("/");
            let _ = res.add_cookie(&cookie);
            res
        }
        Err(_) => unavailable(&ctx),
    }
}
