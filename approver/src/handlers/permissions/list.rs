use std::sync::Arc;

use actix_web::{HttpResponse, web};
use shellgate_shared::db::queries;
use shellgate_shared::ids::TokenId;

use crate::auth::Admin;
use crate::context::ApproverContext;
use crate::error::{ApiError, parse_id};
use crate::views::PermissionResponse;

/// `GET /api/tokens/{id}/permissions`
pub async fn list_permissions(
    _admin: Admin,
    ctx: web::Data<Arc<ApproverContext>>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: TokenId = parse_id(&path)?;
    let mut conn = ctx.conn().await?;
    queries::tokens::find_token(&mut conn, id)
        .await?
        .ok_or(ApiError::NotFound("token"))?;
    let rows = queries::permissions::targets_of_token(&mut conn, id).await?;
    let views: Vec<PermissionResponse> = rows
        .into_iter()
        .map(|(p, t)| PermissionResponse {
            target_id: t.id,
            slug: t.slug,
            name: t.name,
            granted_at: p.created_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}
