//! SSH host keys of a target: what servers presented (pending), what an admin accepted, and
//! pinning a key ahead of the first connection.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use shellgate_shared::db::models::{SshHostKey, Target};
use shellgate_shared::db::queries;
use shellgate_shared::db::queries::host_keys::PresentedKey;
use shellgate_shared::ids::TargetId;
use shellgate_shared::ssh::{describe_host_key, parse_public_key};
use shellgate_shared::states::TargetKind;

use crate::auth::Admin;
use crate::context::ApproverContext;
use crate::error::{ApiError, parse_id};
use crate::events::announce_change;

async fn ssh_target(ctx: &ApproverContext, id: TargetId) -> Result<Target, ApiError> {
    let mut conn = ctx.conn().await?;
    let target = queries::targets::find_target(&mut conn, id)
        .await?
        .ok_or(ApiError::NotFound("target"))?;
    if target.kind != TargetKind::Ssh {
        return Err(ApiError::validation(
            "not_ssh_target",
            "host keys belong to ssh targets",
        ));
    }
    Ok(target)
}

/// `GET /api/targets/{id}/host-keys`
pub async fn list_host_keys(
    _admin: Admin,
    ctx: web::Data<Arc<ApproverContext>>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: TargetId = parse_id(&path)?;
    ssh_target(&ctx, id).await?;
    let mut conn = ctx.conn().await?;
    let keys = queries::host_keys::list_for_target(&mut conn, id).await?;
    Ok(HttpResponse::Ok().json(json!({ "hostKeys": keys })))
}

/// Accept a recorded key by its fingerprint, or pin a key given in OpenSSH form.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AcceptHostKey {
    pub fingerprint: Option<String>,
    pub public_key: Option<String>,
}

/// `POST /api/targets/{id}/host-keys`
pub async fn accept_host_key(
    admin: Admin,
    ctx: web::Data<Arc<ApproverContext>>,
    path: web::Path<String>,
    body: web::Json<AcceptHostKey>,
) -> Result<HttpResponse, ApiError> {
    let key = accept(&ctx, parse_id(&path)?, &admin.by("admin"), &body).await?;
    Ok(HttpResponse::Ok().json(key))
}

/// Accepts a recorded host key or pins one, for the API and the dashboard.
pub async fn accept(
    ctx: &ApproverContext,
    id: TargetId,
    by: &str,
    body: &AcceptHostKey,
) -> Result<SshHostKey, ApiError> {
    ssh_target(ctx, id).await?;
    let mut conn = ctx.conn().await?;
    let key = match (&body.fingerprint, &body.public_key) {
        (Some(fp), None) => queries::host_keys::accept_fingerprint(&mut conn, id, fp.trim(), by)
            .await?
            .ok_or(ApiError::NotFound("host key"))?,
        (None, Some(text)) => {
            let parsed = parse_public_key(text).ok_or_else(|| {
                ApiError::validation(
                    "invalid_public_key",
                    "publicKey must be an OpenSSH public key (\"ssh-ed25519 AAAA…\")",
                )
            })?;
            let info = describe_host_key(&parsed);
            let presented = PresentedKey {
                algorithm: &info.algorithm,
                fingerprint: &info.fingerprint,
                public_key: &info.public_key,
            };
            queries::host_keys::pin(&mut conn, id, &presented, by).await?
        }
        _ => {
            return Err(ApiError::validation(
                "invalid_host_key",
                "give exactly one of fingerprint (to accept a recorded key) or publicKey (to pin one)",
            ));
        }
    };
    drop(conn);
    tracing::info!(target_id = %id, fingerprint = %key.fingerprint, by = %by, "SSH host key accepted");
    announce_change(ctx, None).await;
    Ok(key)
}

/// `DELETE /api/targets/{id}/host-keys/{key_id}`: unpins (or forgets) a key.
pub async fn delete_host_key(
    _admin: Admin,
    ctx: web::Data<Arc<ApproverContext>>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, key_id) = path.into_inner();
    remove(&ctx, parse_id(&id)?, parse_id(&key_id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Unpins (or forgets) a host key, for the API and the dashboard.
pub async fn remove(ctx: &ApproverContext, id: TargetId, key_id: uuid::Uuid) -> Result<(), ApiError> {
    let mut conn = ctx.conn().await?;
    if !queries::host_keys::delete(&mut conn, id, key_id).await? {
        return Err(ApiError::NotFound("host key"));
    }
    drop(conn);
    announce_change(ctx, None).await;
    Ok(())
}
