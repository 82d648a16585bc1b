//! The pages, one module each, and what they share: who is signed in, the layout's context, the
//! forms pages send (checked for origin, CSRF token and role, and audited), and the pages that
//! say what went wrong.

pub mod account;
pub mod approvals;
pub mod audit;
pub mod connect;
pub mod guard;
pub mod home;
pub mod login;
pub mod notifiers;
pub mod second_factor;
pub mod setup;
pub mod targets;
pub mod tokens;
pub mod users;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError as _};
use shellgate_shared::states::UserRole;

use super::session::{self, Session};
use super::{csrf, view};
use crate::auth::Admin;
use crate::context::ApproverContext;
use crate::error::ApiError;

/// The page saying how to configure the session keys, when they are missing.
fn not_configured(ctx: &ApproverContext) -> HttpResponse {
    view::message(
        ctx,
        StatusCode::SERVICE_UNAVAILABLE,
        "The dashboard is not configured",
        "Set SHELLGATE_SESSION_SECRET (base64 of at least 32 random bytes, the same on every approver \
         replica; `shellgate keygen` prints one) and restart the approver. `shellgate up` keeps one in \
         its data directory.",
    )
}

/// Whether any user exists yet (none: every page leads to /setup).
async fn anyone(ctx: &ApproverContext) -> Result<bool, crate::error::ApiError> {
    let mut conn = ctx.conn().await?;
    Ok(shellgate_shared::db::queries::users::count_users(&mut conn).await? > 0)
}

/// A database failure, as a page.
fn unavailable(ctx: &ApproverContext) -> HttpResponse {
    view::message(
        ctx,
        StatusCode::SERVICE_UNAVAILABLE,
        "Temporarily unavailable",
        "The approver cannot reach its database right now. Try again in a moment.",
    )
}

/// The signed-in session, or the response to send instead (the login page, coming back here).
async fn signed_in(ctx: &ApproverContext, req: &HttpRequest) -> Result<Session, HttpResponse> {
    let Some(keys) = ctx.dashboard.keys.as_ref() else {
        return Err(not_configured(ctx));
    };
    match session::current(ctx, keys, req).await {
        Ok(Some(s)) => Ok(s),
        Ok(None) => {
            let back = match req.query_string() {
                "" => req.path().to_string(),
                q => format!("{}?{q}", req.path()),
            };
            let next: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
            Err(view::redirect(&format!("/login?next={next}")))
        }
        Err(_) => Err(unavailable(ctx)),
    }
}

/// What every signed-in page's template gets: who, their role, the nav entry, the CSRF token.
fn context(ctx: &ApproverContext, s: &Session, page: &str) -> tera::Context {
    let mut c = tera::Context::new();
    c.insert("user", &s.user.username);
    c.insert("role", s.user.role.as_str());
    c.insert("is_admin", &(s.user.role == UserRole::Admin));
    c.insert("page", page);
    if let Some(keys) = &ctx.dashboard.keys {
        c.insert("csrf", &keys.csrf_token(&s.id));
    }
    c
}

/// A form a page sent, parsed with `url`'s `application/x-www-form-urlencoded` parser; a name may
/// repeat (check boxes).
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn parse(body: &[u8]) -> Self {
        Self(url::form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of `name`, as sent.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, trimmed; `None` when absent or blank.
    pub fn text(&self, name: &str) -> Option<String> {
        self.raw(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    /// Every non-blank value of `name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_string())
            .collect()
    }

    /// Whether a check box was ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.raw(name).is_some()
    }
}

/// Only admins change targets, tokens and rules.
fn admins(role: UserRole) -> bool {
    role == UserRole::Admin
}

/// A change sent from a page: signed in, from this site with the session's CSRF token, and made
/// by a role `allowed` to make it (a refused role is audited).
async fn change(
    ctx: &ApproverContext,
    req: &HttpRequest,
    form: &Form,
    allowed: fn(UserRole) -> bool,
) -> Result<Session, HttpResponse> {
    let s = signed_in(ctx, req).await?;
    let token = form.raw("csrf").unwrap_or("");
    let keys = ctx.dashboard.keys.as_ref();
    if !csrf::same_origin(req) || !keys.is_some_and(|k| k.csrf_matches(&s.id, token)) {
        return Err(view::refused(ctx));
    }
    if !allowed(s.user.role) {
        view::audit(
            ctx,
            req,
            StatusCode::FORBIDDEN,
            Some("role_forbidden"),
            &s.user.username,
        );
        return Err(view::message(
            ctx,
            StatusCode::FORBIDDEN,
            "Not allowed",
            "Your role may look at this but not change it.",
        ));
    }
    Ok(s)
}

/// An admin's form about one thing (`what`, its id in the path): the form, the session and the
/// id, or the response to send instead.
async fn admin_post<T: std::str::FromStr>(
    ctx: &ApproverContext,
    req: &HttpRequest,
    body: &[u8],
    raw_id: &str,
    what: &str,
) -> Result<(Form, Session, T), HttpResponse> {
    let form = Form::parse(body);
    let s = change(ctx, req, &form, admins).await?;
    let id = path_id(ctx, raw_id, what).map_err(|res| *res)?;
    Ok((form, s, id))
}

/// The signed-in user as the management API's caller (for what the API's functions record).
fn acting(s: &Session) -> Admin {
    Admin {
        key_id: None,
        name: s.user.username.clone(),
        // Pages decide through their own handler, which asks for the step-up itself.
        may_not_decide: None,
    }
}

/// Finishes a page action: audited (`kind: admin`, with the user); done, the browser goes to
/// `then`; refused, a page says why.
fn finish(ctx: &ApproverContext, req: &HttpRequest, s: &Session, outcome: Result<String, ApiError>) -> HttpResponse {
    match outcome {
        Ok(then) => {
            view::audit(ctx, req, StatusCode::OK, None, &s.user.username);
            view::redirect(&then)
        }
        Err(e) => failed(ctx, req, s, &e),
    }
}

/// The page for a refused action (audited with its stable code).
fn failed(ctx: &ApproverContext, req: &HttpRequest, s: &Session, e: &ApiError) -> HttpResponse {
    let status = e.status_code();
    view::audit(ctx, req, status, Some(e.code()), &s.user.username);
    match e {
        ApiError::Unavailable | ApiError::Internal(_) => {
            if let ApiError::Internal(detail) = e {
                tracing::error!(detail = %detail, "a dashboard action failed");
            }
            unavailable(ctx)
        }
        ApiError::NotFound(what) => view::message(
            ctx,
            status,
            "Not found",
            &format!("That {what} does not exist (any more)."),
        ),
        other => view::message(ctx, status, "Not done", &other.to_string()),
    }
}

/// The error message for a form shown again, and its audit record.
fn form_error(ctx: &ApproverContext, req: &HttpRequest, s: &Session, e: &ApiError) -> String {
    view::audit(ctx, req, e.status_code(), Some(e.code()), &s.user.username);
    match e {
        ApiError::Internal(detail) => {
            tracing::error!(detail = %detail, "a dashboard action failed");
            "Something went wrong on our side; see the approver's log.".into()
        }
        other => other.to_string(),
    }
}

/// The id in a page's path, or the page saying there is no such `what`.
fn path_id<T: std::str::FromStr>(ctx: &ApproverContext, raw: &str, what: &str) -> Result<T, Box<HttpResponse>> {
    raw.parse().map_err(|_| {
        Box::new(view::message(
            ctx,
            StatusCode::NOT_FOUND,
            &format!("No such {what}"),
            &format!("That is not a {what}'s address."),
        ))
    })
}

/// A page showing a secret once (a generated password, a signing secret), then `back`.
fn shown_once(
    ctx: &ApproverContext,
    s: &Session,
    page: &str,
    title: &str,
    text: &str,
    secret: &str,
    back: &str,
) -> HttpResponse {
    let mut c = context(ctx, s, page);
    c.insert("title", title);
    c.insert("text", text);
    c.insert("secret", secret);
    c.insert("back", back);
    view::page(ctx, "shown_once.html", c, StatusCode::OK)
}

/// A time as the pages show it (RFC 3339, UTC), or empty.
fn when(t: Option<time::OffsetDateTime>) -> String {
    t.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}
