use std::sync::Arc;

use actix_web::{HttpResponse, web};
use shellgate_shared::db::queries;
use shellgate_shared::ids::TokenId;

use crate::auth::Admin;
use crate::context::ApproverContext;
use crate::error::{ApiError, parse_id};
use crate::events::announce_change;
use crate::views::TokenResponse;

/// `DELETE /api/tokens/{id}`: revokes (the record stays for the audit trail). Every gateway
/// drops the token from its cache on the announcement sent before this answers.
pub async fn revoke_token(
    admin: Admin,
    ctx: web::Data<Arc<ApproverContext>>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(revoke(&ctx, &admin, parse_id(&path)?).await?))
}

/// Revokes a token, for the API and the dashboard: every gateway drops it from its cache on the
/// announcement sent before this returns.
pub async fn revoke(ctx: &ApproverContext, admin: &Admin, id: TokenId) -> Result<TokenResponse, ApiError> {
    let mut conn = ctx.conn().await?;
    let token = queries::tokens::revoke_token(&mut conn, id)
        .await?
        .ok_or(ApiError::NotFound("token"))?;
    drop(conn);
    announce_change(ctx, Some(id)).await;
    tracing::info!(token_id = %id, admin = %admin.name, "token revoked");
    Ok(TokenResponse::from(token))
}
