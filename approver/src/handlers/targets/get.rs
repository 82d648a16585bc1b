use std::sync::Arc;

use actix_web::{HttpResponse, web};
use shellgate_shared::db::queries;
use shellgate_shared::ids::TargetId;

use crate::auth::Admin;
use crate::context::ApproverContext;
use crate::error::{ApiError, parse_id};
use crate::views::TargetResponse;

/// `GET /api/targets/{id}`
pub async fn get_target(
    _admin: Admin,
    ctx: web::Data<Arc<ApproverContext>>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: TargetId = parse_id(&path)?;
    let mut conn = ctx.conn().await?;
    let (target, credential) = queries::credentials::find_target_with_credential(&mut conn, id)
        .await?
        .ok_or(ApiError::NotFound("target"))?;
    Ok(HttpResponse::Ok().json(TargetResponse::new(target, credential.as_ref())))
}
