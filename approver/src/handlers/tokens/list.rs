use std::sync::Arc;

use actix_web::{HttpResponse, web};
use shellgate_shared::db::queries;
use shellgate_shared::ids::TokenId;

use crate::auth::Admin;
use crate::context::ApproverContext;
use crate::error::{ApiError, parse_id};
use crate::views::TokenResponse;

/// `GET /api/tokens`
pub async fn list_tokens(_admin: Admin, ctx: web::Data<Arc<ApproverContext>>) -> Result<HttpResponse, ApiError> {
    let mut conn = ctx.conn().await?;
    let tokens = queries::tokens::list_tokens(&mut conn).await?;
    Ok(HttpResponse::Ok().json(tokens.into_iter().map(TokenResponse::from).collect::<Vec<_>>()))
}

/// `GET /api/tokens/{id}`
pub async fn get_token(
    _admin: Admin,
    ctx: web::Data<Arc<ApproverContext>>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: TokenId = parse_id(&path)?;
    let mut conn = ctx.conn().await?;
    let token = queries::tokens::find_token(&mut conn, id)
        .await?
        .ok_or(ApiError::NotFound("token"))?;
    Ok(HttpResponse::Ok().json(TokenResponse::from(token)))
}
