//! Notifications that could not be delivered.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use shellgate_shared::db::queries;

use crate::auth::Admin;
use crate::context::ApproverContext;
use crate::error::ApiError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterQuery {
    pub limit: Option<i64>,
}

/// `GET /api/notifications/dead-letters?limit=`: newest first (default 100, at most 1000).
pub async fn list_dead_letters(
    _admin: Admin,
    ctx: web::Data<Arc<ApproverContext>>,
    query: web::Query<DeadLetterQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::validation(
            "invalid_limit",
            "limit must be between 1 and 1000",
        ));
    }
    let mut conn = ctx.conn().await?;
    let letters = queries::notifications::list_dead_letters(&mut conn, limit).await?;
    Ok(HttpResponse::Ok().json(json!({ "deadLetters": letters })))
}
