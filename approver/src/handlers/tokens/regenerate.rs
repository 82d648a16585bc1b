use std::sync::Arc;

use actix_web::{HttpResponse, web};
use secrecy::ExposeSecret;
use shellgate_shared::crypto::{TOKEN_PREFIX, generate_secret, hash_secret};
use shellgate_shared::db::models::TokenChangeset;
use shellgate_shared::db::queries;
use shellgate_shared::ids::TokenId;
use time::OffsetDateTime;

use crate::auth::Admin;
use crate::context::ApproverContext;
use crate::error::{ApiError, parse_id};
use crate::events::announce_change;
use crate::views::TokenResponse;

/// `POST /api/tokens/{id}/regenerate`: a new secret for the same token (same id, permissions
/// and audit history); the old secret stops working at once.
pub async fn regenerate_token(
    _admin: Admin,
    ctx: web::Data<Arc<ApproverContext>>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(regenerate(&ctx, parse_id(&path)?).await?))
}

/// A new secret for a token, shown once, for the API and the dashboard.
pub async fn regenerate(ctx: &ApproverContext, id: TokenId) -> Result<TokenResponse, ApiError> {
    let mut conn = ctx.conn().await?;
    let existing = queries::tokens::find_token(&mut conn, id)
        .await?
        .ok_or(ApiError::NotFound("token"))?;
    if existing.revoked_at.is_some() {
        return Err(ApiError::Conflict(
            "token_revoked",
            "a revoked token cannot be regenerated".into(),
        ));
    }
    let secret = generate_secret(TOKEN_PREFIX);
    let changes = TokenChangeset {
        token_hash: Some(hash_secret(secret.expose_secret())),
        updated_at: Some(OffsetDateTime::now_utc()),
        ..TokenChangeset::default()
    };
    let token = queries::tokens::update_token(&mut conn, id, &changes)
        .await?
        .ok_or(ApiError::NotFound("token"))?;
    drop(conn);
    announce_change(ctx, Some(id)).await;
    let mut view = TokenResponse::from(token);
    view.token = Some(secret.expose_secret().to_string());
    Ok(view)
}
