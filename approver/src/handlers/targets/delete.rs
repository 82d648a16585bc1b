use std::sync::Arc;

use actix_web::{HttpResponse, web};
use shellgate_shared::db::queries;
use shellgate_shared::ids::TargetId;

use crate::auth::Admin;
use crate::context::ApproverContext;
use crate::error::{ApiError, parse_id};
use crate::events::announce_change;

/// `DELETE /api/targets/{id}`: removes the target, its credential and its permissions.
pub async fn delete_target(
    _admin: Admin,
    ctx: web::Data<Arc<ApproverContext>>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    delete(&ctx, parse_id(&path)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Removes a target with its credential and permissions, for the API and the dashboard.
pub async fn delete(ctx: &ApproverContext, id: TargetId) -> Result<(), ApiError> {
    let mut conn = ctx.conn().await?;
    if !queries::targets::delete_target(&mut conn, id).await? {
        return Err(ApiError::NotFound("target"));
    }
    drop(conn);
    announce_change(ctx, None).await;
    Ok(())
}
