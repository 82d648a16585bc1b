use std::sync::Arc;

use actix_web::{HttpResponse, web};
use shellgate_shared::credential::Credential;
use shellgate_shared::db::models::NewTargetCredential;
use shellgate_shared::db::queries;
use shellgate_shared::ids::TargetId;
use shellgate_shared::states::TargetKind;
use time::OffsetDateTime;

use crate::auth::Admin;
use crate::context::ApproverContext;
use crate::error::{ApiError, parse_id};
use crate::events::announce_change;
use crate::views::CredentialSummary;

/// Validates a credential for a target kind and seals it to the vault public key. The clear
/// value lives only in this call; what is stored cannot be opened by the approver.
pub fn seal_credential(
    ctx: &ApproverContext,
    target_id: TargetId,
    target_kind: TargetKind,
    credential: &Credential,
) -> Result<NewTargetCredential, ApiError> {
    if !credential.fits_target_kind(target_kind) {
        return Err(ApiError::validation(
            "invalid_credential",
            format!(
                "credential type {} is not valid for {target_kind} targets",
                credential.kind()
            ),
        ));
    }
    credential
        .validate()
        .map_err(|e| ApiError::validation("invalid_credential", e.to_string()))?;
    let plain = serde_json::to_vec(credential).map_err(|e| ApiError::Internal(e.to_string()))?;
    let sealed = ctx.vault.seal(&plain).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(NewTargetCredential {
        target_id,
        kind: credential.kind().to_string(),
        sealed,
        key_id: ctx.vault.key_id(),
        hint: credential.hint(),
        updated_at: OffsetDateTime::now_utc(),
    })
}

/// `PUT /api/targets/{id}/credential`: sets or replaces the credential.
pub async fn set_credential(
    _admin: Admin,
    ctx: web::Data<Arc<ApproverContext>>,
    path: web::Path<String>,
    body: web::Json<Credential>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(set(&ctx, parse_id(&path)?, &body).await?))
}

/// Sets or replaces a target's credential, for the API and the dashboard.
pub async fn set(ctx: &ApproverContext, id: TargetId, credential: &Credential) -> Result<CredentialSummary, ApiError> {
    let mut conn = ctx.conn().await?;
    let target = queries::targets::find_target(&mut conn, id)
        .await?
        .ok_or(ApiError::NotFound("target"))?;
    let sealed = seal_credential(ctx, id, target.kind, credential)?;
    let stored = queries::credentials::upsert_credential(&mut conn, &sealed).await?;
    drop(conn);
    announce_change(ctx, None).await;
    Ok(CredentialSummary::from(&stored))
}

/// `DELETE /api/targets/{id}/credential`
pub async fn delete_credential(
    _admin: Admin,
    ctx: web::Data<Arc<ApproverContext>>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    remove(&ctx, parse_id(&path)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Removes a target's credential, for the API and the dashboard.
pub async fn remove(ctx: &ApproverContext, id: TargetId) -> Result<(), ApiError> {
    let mut conn = ctx.conn().await?;
    if !queries::credentials::delete_credential(&mut conn, id).await? {
        return Err(ApiError::NotFound("credential"));
    }
    drop(conn);
    announce_change(ctx, None).await;
    Ok(())
}
