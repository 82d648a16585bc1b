//! The pages, one module each.

pub mod approvals;
pub mod home;
pub mod login;
pub mod setup;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;

use super::view;
use crate::context::ApproverContext;

/// The page saying how to configure the session keys, when they are missing.
fn not_configured(ctx: &ApproverContext) -> HttpResponse {
    view::message(
        ctx,
        StatusCode::SERVICE_UNAVAILABLE,
        "The dashboard is not configured",
        "Set SHELLGATE_SESSION_SECRET (base64 of at least 32 random bytes, the same on every approver \
         replica; `shellgate keygen` prints one) and restart the approver. `shellgate up` keeps one in \
         its data directory.",
    )
}

/// Whether any user exists yet (none: every page leads to /setup).
async fn anyone(ctx: &ApproverContext) -> Result<bool, crate::error::ApiError> {
    let mut conn = ctx.conn().await?;
    Ok(shellgate_shared::db::queries::users::count_users(&mut conn).await? > 0)
}

/// A database failure, as a page.
fn unavailable(ctx: &ApproverContext) -> HttpResponse {
    view::message(
        ctx,
        StatusCode::SERVICE_UNAVAILABLE,
        "Temporarily unavailable",
        "The approver cannot reach its database right now. Try again in a moment.",
    )
}
