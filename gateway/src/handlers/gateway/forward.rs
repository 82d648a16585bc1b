use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};

use crate::context::GatewayContext;
use crate::error::ApiError;
use crate::http;

/// `ANY /gateway/{target}/{path…}`: the agent HTTP path.
pub async fn forward_request(
    req: HttpRequest,
    payload: web::Payload,
    ctx: web::Data<Arc<GatewayContext>>,
) -> Result<HttpResponse, ApiError> {
    http::forward(ctx.get_ref().clone(), req, payload).await
}
