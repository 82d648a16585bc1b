//! Admission: the one path every agent entry (`/gateway`, `/ssh`, and MCP tools) takes before
//! its request is judged — no protocol upgrade, a valid slug, a usable token, a target the token
//! may use, of the entry's kind, enabled. What it learns goes into the audit record as it goes, so
//! a refusal is recorded with as much as was known.

use std::sync::Arc;

use actix_web::HttpRequest;
use actix_web::http::header;
use shellgate_shared::ids::is_valid_slug;
use shellgate_shared::states::{Capability, TargetKind};

use crate::audit::AuditDraft;
use crate::auth::{Grant, Principal, bearer};
use crate::context::GatewayContext;
use crate::error::ApiError;

/// Admits a request for the target `slug` of `kind`: the token's principal and its grant. A
/// target that is missing, not granted, or of another kind is the same 404.
pub async fn admit(
    ctx: &GatewayContext,
    req: &HttpRequest,
    slug: &str,
    kind: TargetKind,
    draft: &mut AuditDraft,
) -> Result<(Arc<Principal>, Grant), ApiError> {
    // A protocol upgrade would hand the handler the raw connection: refused at once.
    if req.headers().contains_key(header::UPGRADE) {
        return Err(ApiError::UpgradeNotSupported);
    }
    if !is_valid_slug(slug) {
        return Err(ApiError::TargetNotFound);
    }
    draft.event.target_slug = Some(slug.to_string());
    let principal = ctx.auth.authenticate(&ctx.db, &ctx.bus, bearer(req)?).await?;
    draft.event.token_id = Some(principal.token_id());
    principal.check_address(draft.event.client_ip.as_deref())?;
    let grant = admit_principal(ctx, &principal, slug, kind, draft)?;
    Ok((principal, grant))
}

/// Admits an authenticated principal (an MCP caller, or `admit` above) to the target `slug` of
/// `kind`: its grant, or the same 404 for a target that is missing, not granted or of another
/// kind.
pub fn admit_principal(
    ctx: &GatewayContext,
    principal: &Principal,
    slug: &str,
    kind: TargetKind,
    draft: &mut AuditDraft,
) -> Result<Grant, ApiError> {
    draft.event.token_id = Some(principal.token_id());
    principal.require(Capability::for_target(kind))?;
    if !is_valid_slug(slug) {
        return Err(ApiError::TargetNotFound);
    }
    draft.event.target_slug = Some(slug.to_string());
    let grant = principal.grant(slug)?;
    if grant.kind != kind {
        return Err(ApiError::TargetNotFound);
    }
    draft.event.target_id = Some(grant.target_id);
    if !grant.enabled {
        return Err(ApiError::TargetDisabled);
    }
    ctx.auth.record_target_use(&ctx.db, grant.target_id);
    Ok(grant.clone())
}
