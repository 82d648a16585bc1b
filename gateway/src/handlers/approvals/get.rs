use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use shellgate_shared::error::Code;
use shellgate_shared::ids::ApprovalId;

use crate::approvals::wait_for_decision;
use crate::auth::authenticate_request;
use crate::context::GatewayContext;
use crate::error::ApiError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetApprovalQuery {
    /// Long-poll: seconds to wait for a decision.
    pub wait: Option<u64>,
}

/// `GET /approvals/{id}?wait=N`: the agent's view of its approval; returns as soon as a decision
/// is published, or after N seconds (capped).
pub async fn get_approval(
    req: HttpRequest,
    ctx: web::Data<Arc<GatewayContext>>,
    path: web::Path<String>,
    query: web::Query<GetApprovalQuery>,
) -> Result<HttpResponse, ApiError> {
    let principal = authenticate_request(&ctx, &req).await?;
    let id: ApprovalId = path
        .parse()
        .map_err(|_| ApiError::BadRequest(Code::InvalidId, "malformed approval id"))?;
    let wait = Duration::from_secs(query.wait.unwrap_or(0)).min(ctx.max_approval_wait);
    let view = wait_for_decision(&ctx, id, principal.token_id(), wait).await?;
    Ok(HttpResponse::Ok().json(view))
}
