use std::sync::Arc;

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use shellgate_shared::db::queries;
use shellgate_shared::ids::{TargetId, TokenId};

use crate::auth::Admin;
use crate::context::ApproverContext;
use crate::error::{ApiError, parse_id};
use crate::events::announce_change;
use crate::views::PermissionResponse;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrantPermissionRequest {
    pub target_id: String,
}

/// `POST /api/tokens/{id}/permissions`: lets the token use a target (idempotent).
pub async fn grant_permission(
    _admin: Admin,
    ctx: web::Data<Arc<ApproverContext>>,
    path: web::Path<String>,
    body: web::Json<GrantPermissionRequest>,
) -> Result<HttpResponse, ApiError> {
    let view = grant(&ctx, parse_id(&path)?, parse_id(&body.target_id)?).await?;
    Ok(HttpResponse::Created().json(view))
}

/// Lets a token use a target (idempotent), for the API and the dashboard.
pub async fn grant(
    ctx: &ApproverContext,
    token_id: TokenId,
    target_id: TargetId,
) -> Result<PermissionResponse, ApiError> {
    let mut conn = ctx.conn().await?;
    queries::tokens::find_token(&mut conn, token_id)
        .await?
        .ok_or(ApiError::NotFound("token"))?;
    let target = queries::targets::find_target(&mut conn, target_id)
        .await?
        .ok_or(ApiError::NotFound("target"))?;
    let permission = queries::permissions::grant(&mut conn, token_id, target_id).await?;
    drop(conn);
    announce_change(ctx, Some(token_id)).await;
    Ok(PermissionResponse {
        target_id,
        slug: target.slug,
        name: target.name,
        granted_at: permission.created_at,
    })
}
