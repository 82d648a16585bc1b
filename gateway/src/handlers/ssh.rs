use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};

use crate::context::GatewayContext;
use crate::error::ApiError;

/// `POST /ssh/{target}/exec`: run a command on an SSH target (JSON, or SSE with
/// `Accept: text/event-stream`).
pub async fn exec_command(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    ctx: web::Data<Arc<GatewayContext>>,
) -> Result<HttpResponse, ApiError> {
    crate::ssh::exec(ctx.get_ref().clone(), req, path.into_inner(), payload).await
}
