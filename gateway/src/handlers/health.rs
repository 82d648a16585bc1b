use std::sync::Arc;

use actix_web::{HttpResponse, web};
use shellgate_shared::health;

use crate::context::GatewayContext;

pub async fn get_health() -> HttpResponse {
    HttpResponse::Ok().json(health::ok())
}

pub async fn get_ready(ctx: web::Data<Arc<GatewayContext>>) -> HttpResponse {
    match health::readiness(&ctx.db, &ctx.bus).await {
        (true, body) => HttpResponse::Ok().json(body),
        (false, body) => HttpResponse::ServiceUnavailable().json(body),
    }
}

/// `GET /metrics`: Prometheus metrics of this process.
pub async fn get_metrics(ctx: web::Data<Arc<GatewayContext>>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(shellgate_shared::metrics::CONTENT_TYPE)
        .body(ctx.metrics.encode())
}

/// Any path no route has: a JSON 404 like every other answer.
pub async fn not_found() -> Result<HttpResponse, crate::error::ApiError> {
    Err(crate::error::ApiError::NotFound)
}
