//! The organisation's policy: a text an admin writes once (house rules, who to ask, what never to
//! do) that every agent receives with its bootstrap, after the policy Shellgate writes from the
//! token's own settings. Gateways read it on each bootstrap, so a change applies at once.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use shellgate_shared::db::queries;

use crate::auth::Admin;
use crate::context::ApproverContext;
use crate::error::ApiError;

/// Longest policy text, in characters (as the column's check counts them).
const MAX_CHARS: usize = 16 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRequest {
    /// The text; empty (or only whitespace) removes the policy.
    pub text: String,
}

/// `GET /api/policy` → `{text, updatedAt}` (both `null` when none is set).
pub async fn get_policy(_admin: Admin, ctx: web::Data<Arc<ApproverContext>>) -> Result<HttpResponse, ApiError> {
    let mut conn = ctx.conn().await?;
    Ok(match queries::org_policy::get_policy(&mut conn).await? {
        Some(policy) => HttpResponse::Ok().json(policy),
        None => HttpResponse::Ok().json(json!({"text": null, "updatedAt": null})),
    })
}

/// `PUT /api/policy` `{text}`: sets (or, with an empty text, removes) the policy.
pub async fn put_policy(
    _admin: Admin,
    ctx: web::Data<Arc<ApproverContext>>,
    body: web::Json<PolicyRequest>,
) -> Result<HttpResponse, ApiError> {
    let text = body.into_inner().text;
    let text = text.trim();
    if text.chars().count() > MAX_CHARS {
        return Err(ApiError::validation(
            "invalid_policy",
            format!("the policy may be at most {MAX_CHARS} characters"),
        ));
    }
    if text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(ApiError::validation(
            "invalid_policy",
            "the policy may not contain control characters other than newlines and tabs",
        ));
    }
    let mut conn = ctx.conn().await?;
    if text.is_empty() {
        queries::org_policy::clear_policy(&mut conn).await?;
        return Ok(HttpResponse::Ok().json(json!({"text": null, "updatedAt": null})));
    }
    let policy = queries::org_policy::set_policy(&mut conn, &text.replace("\r\n", "\n")).await?;
    Ok(HttpResponse::Ok().json(policy))
}
