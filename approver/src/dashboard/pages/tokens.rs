//! `/tokens`: the `sg_` tokens agents work with. Creating one (name, targets, expiry, approval
//! policy, capabilities, source addresses) shows it once, with a copy button; a token's page
//! renames, enables or disables it, changes what it may do and use, regenerates its secret
//! (shown once) and revokes it. Every change goes through the same functions as the management
//! API, so gateways drop what changed from their caches at once.

use std::collections::HashSet;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use shellgate_shared::db::queries;
use shellgate_shared::ids::{TargetId, TokenId};
use shellgate_shared::states::{ApprovalPolicy, Capability};
use time::OffsetDateTime;

use super::{Form, acting, admin_post, admins, change, context, finish, form_error, signed_in, unavailable};
use crate::context::ApproverContext;
use crate::dashboard::session::Session;
use crate::dashboard::view;
use crate::error::ApiError;
use crate::handlers::permissions::{grant, revoke as unpermit};
use crate::handlers::tokens::create::CreateTokenRequest;
use crate::handlers::tokens::update::UpdateTokenRequest;
use crate::handlers::tokens::{create, regenerate as regen, revoke as rev, update};
use crate::views::TokenResponse;

/// Expiries a form offers, in days (0: never).
const EXPIRY_DAYS: &[(u32, &str)] = &[
    (0, "never"),
    (1, "in a day"),
    (7, "in a week"),
    (30, "in 30 days"),
    (90, "in 90 days"),
    (365, "in a year"),
];

/// A target as a token's forms offer it.
#[derive(Debug, Serialize)]
struct Choice {
    id: TargetId,
    slug: String,
    name: String,
    kind: String,
    granted: bool,
}

/// What every token form offers: capabilities, policies, expiries, targets.
fn offers(c: &mut tera::Context, targets: &[Choice]) {
    let caps: Vec<(&str, bool)> = Capability::ALL
        .iter()
        .map(|cap| (cap.as_str(), Capability::DEFAULT.contains(cap)))
        .collect();
    c.insert("capabilities", &caps);
    let policies: Vec<&str> = ApprovalPolicy::ALL.iter().map(|p| p.as_str()).collect();
    c.insert("policies", &policies);
    c.insert("expiries", EXPIRY_DAYS);
    c.insert("choices", targets);
}

async fn choices(ctx: &ApproverContext, granted: &HashSet<TargetId>) -> Result<Vec<Choice>, ApiError> {
    let mut conn = ctx.conn().await?;
    Ok(queries::targets::list_targets(&mut conn)
        .await?
        .into_iter()
        .map(|t| Choice {
            granted: granted.contains(&t.id),
            id: t.id,
            slug: t.slug,
            name: t.name,
            kind: t.kind.as_str().to_string(),
        })
        .collect())
}

async fn list_page(ctx: &ApproverContext, s: &Session, error: Option<&str>) -> HttpResponse {
    let listed = async {
        let mut conn = ctx.conn().await?;
        let tokens: Vec<TokenResponse> = queries::tokens::list_tokens(&mut conn)
            .await?
            .into_iter()
            .map(TokenResponse::from)
            .collect();
        drop(conn);
        Ok::<_, ApiError>((tokens, choices(ctx, &HashSet::new()).await?))
    };
    let Ok((tokens, targets)) = listed.await else {
        return unavailable(ctx);
    };
    let mut c = context(ctx, s, "tokens");
    c.insert("tokens", &tokens);
    c.insert("error", &error);
    offers(&mut c, &targets);
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    view::page(ctx, "tokens.html", c, status)
}

/// `GET /tokens`: the list and the form for a new one.
pub async fn list(ctx: web::Data<Arc<ApproverContext>>, req: HttpRequest) -> HttpResponse {
    match signed_in(&ctx, &req).await {
        Ok(s) => list_page(&ctx, &s, None).await,
        Err(res) => res,
    }
}

fn days(form: &Form, field: &str) -> Result<Option<u32>, ApiError> {
    form.text(field)
        .map(|d| {
            d.parse::<u32>()
                .ok()
                .filter(|d| EXPIRY_DAYS.iter().any(|(days, _)| days == d))
                .ok_or_else(|| ApiError::validation("invalid_expiry", "choose one of the expiries offered"))
        })
        .transpose()
}

fn cidrs(form: &Form) -> Vec<String> {
    form.raw("allowed_cidrs")
        .unwrap_or_default()
        .split([',', ' ', '\n', '\r'])
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

/// The page that shows a token's secret, once (never cached).
fn secret_page(
    ctx: &ApproverContext,
    req: &HttpRequest,
    s: &Session,
    token: &TokenResponse,
    created: bool,
) -> HttpResponse {
    let mut c = context(ctx, s, "tokens");
    c.insert("token", token);
    c.insert("created", &created);
    c.insert("gateway", &super::connect::gateway_url(ctx, req));
    view::page(ctx, "token_secret.html", c, StatusCode::OK)
}

/// `POST /tokens/new`: creates the token and shows it, once.
pub async fn create(ctx: web::Data<Arc<ApproverContext>>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let form = Form::parse(&body);
    let s = match change(&ctx, &req, &form, admins).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let created = async {
        let expiry = days(&form, "expires_in_days")?.filter(|d| *d > 0);
        let request = CreateTokenRequest {
            name: form.text("name").unwrap_or_default(),
            expires_at: None,
            expires_in_seconds: expiry.map(|d| d * 86_400),
            enabled: Some(true),
            target_ids: form.all("target"),
            approval_policy: form.text("approval_policy"),
            capabilities: Some(form.all("capability")),
            allowed_cidrs: cidrs(&form),
        };
        create::create(&ctx, request).await
    };
    match created.await {
        Ok(token) => {
            view::audit(&ctx, &req, StatusCode::CREATED, None, &s.user.username);
            secret_page(&ctx, &req, &s, &token, true)
        }
        Err(e) => {
            let message = form_error(&ctx, &req, &s, &e);
            list_page(&ctx, &s, Some(&message)).await
        }
    }
}

/// `GET /tokens/{id}`
pub async fn detail(ctx: web::Data<Arc<ApproverContext>>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let s = match signed_in(&ctx, &req).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let id: TokenId = match super::path_id(&ctx, &path, "token") {
        Ok(id) => id,
        Err(res) => return *res,
    };
    let found = async {
        let mut conn = ctx.conn().await?;
        let Some(token) = queries::tokens::find_token(&mut conn, id).await? else {
            return Ok(None);
        };
        let granted: HashSet<TargetId> = queries::permissions::targets_of_token(&mut conn, id)
            .await?
            .into_iter()
            .map(|(_, t)| t.id)
            .collect();
        drop(conn);
        Ok::<_, ApiError>(Some((TokenResponse::from(token), choices(&ctx, &granted).await?)))
    };
    let (token, targets) = match found.await {
        Ok(Some(found)) => found,
        Ok(None) => {
            return view::message(
                &ctx,
                StatusCode::NOT_FOUND,
                "No such token",
                "It may have been removed.",
            );
        }
        Err(_) => return unavailable(&ctx),
    };
    let mut c = context(&ctx, &s, "tokens");
    offers(&mut c, &targets);
    let held: Vec<&str> = token.capabilities.iter().map(|c| c.as_str()).collect();
    c.insert("held", &held);
    c.insert("token", &token);
    view::page(&ctx, "token.html", c, StatusCode::OK)
}

/// `POST /tokens/{id}`: name, enabled, policy, capabilities, addresses, expiry.
pub async fn edit(
    ctx: web::Data<Arc<ApproverContext>>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (form, s, id) = match admin_post(&ctx, &req, &body, &path, "token").await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let outcome = async {
        let expires_at = match form.text("expiry").as_deref() {
            None | Some("keep") => None,
            Some(_) => Some(
                days(&form, "expiry")?
                    .filter(|d| *d > 0)
                    .map(|d| OffsetDateTime::now_utc() + time::Duration::days(i64::from(d))),
            ),
        };
        let changes = UpdateTokenRequest {
            name: form.text("name"),
            enabled: Some(form.checked("enabled")),
            expires_at,
            approval_policy: form.text("approval_policy"),
            capabilities: Some(form.all("capability")),
            allowed_cidrs: Some(cidrs(&form)),
        };
        update::update(&ctx, id, changes).await?;
        Ok(format!("/tokens/{id}"))
    };
    finish(&ctx, &req, &s, outcome.await)
}

/// `POST /tokens/{id}/permissions`: the targets ticked are granted, the others revoked.
pub async fn permissions(
    ctx: web::Data<Arc<ApproverContext>>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (form, s, id) = match admin_post(&ctx, &req, &body, &path, "token").await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let outcome = async {
        let wanted: HashSet<TargetId> = form
            .all("target")
            .iter()
            .map(|t| t.parse().map_err(|_| ApiError::InvalidId))
            .collect::<Result<_, _>>()?;
        let granted: HashSet<TargetId> = {
            let mut conn = ctx.conn().await?;
            queries::tokens::find_token(&mut conn, id)
                .await?
                .ok_or(ApiError::NotFound("token"))?;
            queries::permissions::targets_of_token(&mut conn, id)
                .await?
                .into_iter()
                .map(|(_, t)| t.id)
                .collect()
        };
        for target in wanted.difference(&granted) {
            grant::grant(&ctx, id, *target).await?;
        }
        for target in granted.difference(&wanted) {
            unpermit::revoke(&ctx, id, *target).await?;
        }
        Ok(format!("/tokens/{id}"))
    };
    finish(&ctx, &req, &s, outcome.await)
}

/// `POST /tokens/{id}/regenerate`: a new secret, shown once; the old one stops working.
pub async fn regenerate(
    ctx: web::Data<Arc<ApproverContext>>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (_, s, id) = match admin_post(&ctx, &req, &body, &path, "token").await {
        Ok(v) => v,
        Err(res) => return res,
    };
    match regen::regenerate(&ctx, id).await {
        Ok(token) => {
            view::audit(&ctx, &req, StatusCode::OK, None, &s.user.username);
            secret_page(&ctx, &req, &s, &token, false)
        }
        Err(e) => finish(&ctx, &req, &s, Err(e)),
    }
}

/// `POST /tokens/{id}/revoke`: for good (the record stays for the audit trail).
pub async fn revoke(
    ctx: web::Data<Arc<ApproverContext>>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (_, s, id) = match admin_post(&ctx, &req, &body, &path, "token").await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let outcome = rev::revoke(&ctx, &acting(&s), id)
        .await
        .map(|_| format!("/tokens/{id}"));
    finish(&ctx, &req, &s, outcome)
}
