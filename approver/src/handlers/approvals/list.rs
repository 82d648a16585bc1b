use std::sync::Arc;

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use shellgate_shared::approval::{ApprovalStatus, ApprovalView};
use shellgate_shared::db::queries;
use shellgate_shared::ids::ApprovalId;

use crate::auth::Admin;
use crate::context::ApproverContext;
use crate::error::{ApiError, parse_id};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListApprovalsQuery {
    pub status: Option<String>,
    pub limit: Option<i64>,
}

/// `GET /api/approvals?status=pending`: newest first.
pub async fn list_approvals(
    _admin: Admin,
    ctx: web::Data<Arc<ApproverContext>>,
    query: web::Query<ListApprovalsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(ApprovalStatus::parse(s).ok_or_else(|| {
            ApiError::validation(
                "invalid_query",
                "status must be pending, approved, denied, expired or used",
            )
        })?),
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::validation(
            "invalid_query",
            "limit must be between 1 and 1000",
        ));
    }
    let mut conn = ctx.conn().await?;
    let rows = queries::approvals::list_approvals(&mut conn, status, limit).await?;
    let views: Vec<ApprovalView> = rows.into_iter().map(ApprovalView::from).collect();
    // A pending approval past its expiry shows as expired even before the sweeper ran.
    let views: Vec<ApprovalView> = match status {
        Some(s) => views.into_iter().filter(|v| v.status == s).collect(),
        None => views,
    };
    Ok(HttpResponse::Ok().json(views))
}

/// `GET /api/approvals/{id}`
pub async fn get_approval(
    _admin: Admin,
    ctx: web::Data<Arc<ApproverContext>>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: ApprovalId = parse_id(&path)?;
    let mut conn = ctx.conn().await?;
    let approval = queries::approvals::find_approval(&mut conn, id)
        .await?
        .ok_or(ApiError::NotFound("approval"))?;
    Ok(HttpResponse::Ok().json(ApprovalView::from(approval)))
}
