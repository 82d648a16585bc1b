use std::sync::Arc;

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use shellgate_shared::db::models::TokenChangeset;
use shellgate_shared::db::queries;
use shellgate_shared::ids::TokenId;
use time::OffsetDateTime;

use crate::auth::Admin;
use crate::context::ApproverContext;
use crate::error::{ApiError, parse_id};
use crate::events::announce_change;
use crate::validate;
use crate::views::TokenResponse;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateTokenRequest {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    /// `null` removes the expiry.
    #[serde(default, deserialize_with = "validate::double_option_rfc3339")]
    pub expires_at: Option<Option<OffsetDateTime>>,
    /// `human` or `agent_confirm`.
    pub approval_policy: Option<String>,
    /// Replaces the token's capabilities.
    pub capabilities: Option<Vec<String>>,
    /// Replaces its source-address allow-list (`[]`: any address).
    pub allowed_cidrs: Option<Vec<String>>,
}

/// `PATCH /api/tokens/{id}`
pub async fn update_token(
    _admin: Admin,
    ctx: web::Data<Arc<ApproverContext>>,
    path: web::Path<String>,
    body: web::Json<UpdateTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(update(&ctx, parse_id(&path)?, body.into_inner()).await?))
}

/// Changes a token, for the API and the dashboard.
pub async fn update(ctx: &ApproverContext, id: TokenId, body: UpdateTokenRequest) -> Result<TokenResponse, ApiError> {
    let changes = TokenChangeset {
        name: body.name.as_deref().map(validate::name).transpose()?,
        enabled: body.enabled,
        expires_at: body.expires_at.map(validate::expiry).transpose()?,
        token_hash: None,
        updated_at: Some(OffsetDateTime::now_utc()),
        approval_policy: body
            .approval_policy
            .as_deref()
            .map(validate::approval_policy)
            .transpose()?,
        capabilities: body.capabilities.as_deref().map(validate::capabilities).transpose()?,
        allowed_cidrs: body.allowed_cidrs.as_deref().map(validate::allowed_cidrs).transpose()?,
    };
    let mut conn = ctx.conn().await?;
    let token = queries::tokens::update_token(&mut conn, id, &changes)
        .await?
        .ok_or(ApiError::NotFound("token"))?;
    drop(conn);
    announce_change(ctx, Some(id)).await;
    Ok(TokenResponse::from(token))
}
