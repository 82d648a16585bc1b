//! `/users` (admins only): the people who use the dashboard. Create one (a generated password,
//! shown once), change a role, disable or enable (ends their sessions), set a new password
//! (shown once; ends their sessions) or turn their two-factor authentication off. The last
//! enabled admin cannot be demoted or disabled.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use shellgate_shared::db::models::NewUser;
use shellgate_shared::db::queries;
use shellgate_shared::db::queries::users::UserChange;
use shellgate_shared::ids::UserId;
use shellgate_shared::states::UserRole;

use super::{Form, admin_post, admins, change, context, failed, finish, signed_in, unavailable, when};
use crate::context::ApproverContext;
use crate::dashboard::session::Session;
use crate::dashboard::{password, view};
use crate::error::ApiError;

#[derive(Serialize)]
struct Row {
    id: String,
    username: String,
    role: String,
    disabled: bool,
    totp: bool,
    created_at: String,
}

async fn list_page(ctx: &ApproverContext, s: &Session, status: StatusCode, error: Option<&str>) -> HttpResponse {
    let listed = async {
        let mut conn = ctx.conn().await?;
        Ok::<_, ApiError>(queries::users::list_users(&mut conn).await?)
    };
    let Ok(users) = listed.await else {
        return unavailable(ctx);
    };
    let rows: Vec<Row> = users
        .into_iter()
        .map(|u| Row {
            id: u.id.to_string(),
            totp: u.has_totp(),
            username: u.username,
            role: u.role.as_str().to_string(),
            disabled: u.disabled,
            created_at: when(Some(u.created_at)),
        })
        .collect();
    let mut c = context(ctx, s, "users");
    c.insert("users", &rows);
    c.insert("roles", &["admin", "approver", "viewer"]);
    c.insert("error", &error);
    view::page(ctx, "users.html", c, status)
}

/// `GET /users`
pub async fn list(ctx: web::Data<Arc<ApproverContext>>, req: HttpRequest) -> HttpResponse {
    let s = match signed_in(&ctx, &req).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    if !admins(s.user.role) {
        return view::message(&ctx, StatusCode::FORBIDDEN, "Not allowed", "Only admins manage users.");
    }
    list_page(&ctx, &s, StatusCode::OK, None).await
}

/// The page showing a new password once.
fn password_page(ctx: &ApproverContext, s: &Session, username: &str, password: &str, created: bool) -> HttpResponse {
    let (title, text) = if created {
        (
            format!("User {username} added"),
            "Give it to them: they can change it under My account.",
        )
    } else {
        (
            format!("New password for {username}"),
            "Give it to them: their sessions have ended, and they can change it under My account.",
        )
    };
    super::shown_once(ctx, s, "users", &title, text, password, "/users")
}

/// `POST /users/new`: name and role; the password is generated and shown once.
pub async fn create(ctx: web::Data<Arc<ApproverContext>>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let form = Form::parse(&body);
    let s = match change(&ctx, &req, &form, admins).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let name = form.text("username").unwrap_or_default();
    let Some(name) = super::setup::username(&name) else {
        let e = ApiError::validation("invalid_username", "invalid user name");
        let msg = "A user name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.";
        return refuse(&ctx, &req, &s, &e, msg).await;
    };
    let Some(role) = form.raw("role").and_then(UserRole::parse) else {
        let e = ApiError::validation("invalid_role", "invalid role");
        return refuse(&ctx, &req, &s, &e, "Choose admin, approver or viewer.").await;
    };
    let Ok((secret, hash)) = password::generated().await else {
        return unavailable(&ctx);
    };
    let created = async {
        let mut conn = ctx.conn().await?;
        if queries::users::find_user_by_name(&mut conn, &name).await?.is_some() {
            return Err(ApiError::Conflict(
                "username_taken",
                format!("there is a user {name:?} already"),
            ));
        }
        let new = NewUser {
            id: UserId::new(),
            username: &name,
            password_hash: &hash,
            role,
        };
        queries::users::insert_user(&mut conn, &new).await?;
        Ok(())
    };
    match created.await {
        Ok(()) => {
            view::audit(&ctx, &req, StatusCode::OK, None, &s.user.username);
            password_page(&ctx, &s, &name, &secret, true)
        }
        Err(e @ ApiError::Conflict(..)) => {
            let msg = e.to_string();
            refuse(&ctx, &req, &s, &e, &msg).await
        }
        Err(e) => failed(&ctx, &req, &s, &e),
    }
}

/// A refused change: audited, and the list again with why.
async fn refuse(ctx: &ApproverContext, req: &HttpRequest, s: &Session, e: &ApiError, msg: &str) -> HttpResponse {
    use actix_web::ResponseError as _;
    view::audit(ctx, req, e.status_code(), Some(e.code()), &s.user.username);
    list_page(ctx, s, e.status_code(), Some(msg)).await
}

/// `POST /users/{id}`: role and whether disabled (ticked `disabled`).
pub async fn edit(
    ctx: web::Data<Arc<ApproverContext>>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (form, s, id) = match admin_post::<UserId>(&ctx, &req, &body, &path, "user").await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let Some(role) = form.raw("role").and_then(UserRole::parse) else {
        let e = ApiError::validation("invalid_role", "invalid role");
        return refuse(&ctx, &req, &s, &e, "Choose admin, approver or viewer.").await;
    };
    let changed = async {
        let mut conn = ctx.conn().await?;
        Ok::<_, ApiError>(queries::users::change_user(&mut conn, id, role, form.checked("disabled")).await?)
    };
    match changed.await {
        Ok(UserChange::Done) => finish(&ctx, &req, &s, Ok("/users".into())),
        Ok(UserChange::NoSuchUser) => failed(&ctx, &req, &s, &ApiError::NotFound("user")),
        Ok(UserChange::LastAdmin) => {
            let e = ApiError::Conflict("last_admin", "the last enabled admin".into());
            let msg = "That would leave no enabled admin: make someone else an admin first.";
            refuse(&ctx, &req, &s, &e, msg).await
        }
        Err(e) => failed(&ctx, &req, &s, &e),
    }
}

async fn find(ctx: &ApproverContext, id: UserId) -> Result<shellgate_shared::db::models::User, ApiError> {
    let mut conn = ctx.conn().await?;
    queries::users::find_user(&mut conn, id)
        .await?
        .ok_or(ApiError::NotFound("user"))
}

/// `POST /users/{id}/reset-password`: a new generated password, shown once; their sessions end.
pub async fn reset_password(
    ctx: web::Data<Arc<ApproverContext>>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (_, s, id) = match admin_post::<UserId>(&ctx, &req, &body, &path, "user").await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let Ok((secret, hash)) = password::generated().await else {
        return unavailable(&ctx);
    };
    let reset = async {
        let user = find(&ctx, id).await?;
        let mut conn = ctx.conn().await?;
        queries::users::set_password(&mut conn, &user.username, &hash).await?;
        Ok::<_, ApiError>(user.username)
    };
    match reset.await {
        Ok(name) => {
            view::audit(&ctx, &req, StatusCode::OK, None, &s.user.username);
            password_page(&ctx, &s, &name, &secret, false)
        }
        Err(e) => failed(&ctx, &req, &s, &e),
    }
}

/// `POST /users/{id}/reset-mfa`: their two-factor authentication off; their sessions end.
pub async fn reset_mfa(
    ctx: web::Data<Arc<ApproverContext>>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (_, s, id) = match admin_post::<UserId>(&ctx, &req, &body, &path, "user").await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let reset = async {
        let mut conn = ctx.conn().await?;
        if !queries::users::reset_mfa(&mut conn, id).await? {
            return Err(ApiError::NotFound("user"));
        }
        Ok("/users".to_string())
    };
    finish(&ctx, &req, &s, reset.await)
}
