use std::sync::Arc;

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use shellgate_shared::credential::Credential;
use shellgate_shared::db::models::TargetChangeset;
use shellgate_shared::db::queries;
use shellgate_shared::ids::TargetId;
use shellgate_shared::states::TargetKind;
use time::OffsetDateTime;

use crate::auth::Admin;
use crate::context::ApproverContext;
use crate::error::{ApiError, parse_id};
use crate::events::announce_change;
use crate::handlers::targets::create::{base_url, description};
use crate::handlers::targets::credential::seal_credential;
use crate::validate;
use crate::views::TargetResponse;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateTargetRequest {
    pub name: Option<String>,
    /// Accepted only when unchanged: a slug never changes.
    pub slug: Option<String>,
    #[serde(alias = "url")]
    pub base_url: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub username: Option<String>,
    pub pool: Option<String>,
    pub enabled: Option<bool>,
    pub description: Option<String>,
    pub credential: Option<Credential>,
    /// `sql`, `graphql`, or null to unmark.
    #[serde(default, deserialize_with = "validate::double_option_string")]
    pub query_api: Option<Option<String>>,
}

/// `PATCH /api/targets/{id}`
pub async fn update_target(
    _admin: Admin,
    ctx: web::Data<Arc<ApproverContext>>,
    path: web::Path<String>,
    body: web::Json<UpdateTargetRequest>,
) -> Result<HttpResponse, ApiError> {
    let id: TargetId = parse_id(&path)?;
    Ok(HttpResponse::Ok().json(update(&ctx, id, body.into_inner()).await?))
}

/// Changes a target, for the API and the dashboard.
pub async fn update(
    ctx: &ApproverContext,
    id: TargetId,
    body: UpdateTargetRequest,
) -> Result<TargetResponse, ApiError> {
    let mut conn = ctx.conn().await?;
    let current = queries::targets::find_target(&mut conn, id)
        .await?
        .ok_or(ApiError::NotFound("target"))?;
    if body.slug.as_ref().is_some_and(|s| *s != current.slug) {
        return Err(ApiError::validation("slug_immutable", "a target's slug cannot change"));
    }
    let is_http = current.kind == TargetKind::Http;
    if is_http && (body.host.is_some() || body.port.is_some() || body.username.is_some()) {
        return Err(ApiError::validation(
            "invalid_field",
            "host, port and username are for ssh targets",
        ));
    }
    if !is_http && body.base_url.is_some() {
        return Err(ApiError::validation("invalid_field", "baseUrl is for http targets"));
    }
    let changes = TargetChangeset {
        name: body.name.as_deref().map(validate::name).transpose()?,
        base_url: body.base_url.as_deref().map(base_url).transpose()?,
        ssh_host: body.host.as_deref().map(validate::ssh_host).transpose()?,
        ssh_port: body.port.map(validate::ssh_port).transpose()?,
        ssh_username: body.username.as_deref().map(validate::ssh_username).transpose()?,
        pool: body
            .pool
            .as_deref()
            .map(|p| validate::slug(p, "invalid_pool"))
            .transpose()?,
        enabled: body.enabled,
        description: description(body.description)?,
        updated_at: Some(OffsetDateTime::now_utc()),
        query_api: match body.query_api {
            Some(Some(q)) => Some(Some(validate::query_api(&q)?)),
            Some(None) => Some(None),
            None => None,
        },
    };
    let sealed = body
        .credential
        .as_ref()
        .map(|c| seal_credential(ctx, id, current.kind, c))
        .transpose()?;
    let target = queries::targets::update_target(&mut conn, id, &changes)
        .await?
        .ok_or(ApiError::NotFound("target"))?;
    if let Some(s) = &sealed {
        queries::credentials::upsert_credential(&mut conn, s).await?;
    }
    let credential = queries::credentials::find_credential(&mut conn, id).await?;
    drop(conn);
    announce_change(ctx, None).await;
    Ok(TargetResponse::new(target, credential.as_ref()))
}
