use std::sync::Arc;

use actix_web::{HttpResponse, web};
use shellgate_shared::db::queries;
use shellgate_shared::ids::{TargetId, TokenId};

use crate::auth::Admin;
use crate::context::ApproverContext;
use crate::error::{ApiError, parse_id};
use crate::events::announce_change;

/// `DELETE /api/tokens/{id}/permissions/{targetId}`
pub async fn revoke_permission(
    _admin: Admin,
    ctx: web::Data<Arc<ApproverContext>>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (token, target) = path.into_inner();
    revoke(&ctx, parse_id(&token)?, parse_id(&target)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Stops a token from using a target, for the API and the dashboard.
pub async fn revoke(ctx: &ApproverContext, token_id: TokenId, target_id: TargetId) -> Result<(), ApiError> {
    let mut conn = ctx.conn().await?;
    if !queries::permissions::revoke(&mut conn, token_id, target_id).await? {
        return Err(ApiError::NotFound("permission"));
    }
    drop(conn);
    announce_change(ctx, Some(token_id)).await;
    Ok(())
}
