use std::sync::Arc;

use actix_web::{HttpResponse, web};
use diesel_async::AsyncConnection;
use serde::Deserialize;
use shellgate_shared::credential::Credential;
use shellgate_shared::db::models::NewTarget;
use shellgate_shared::db::queries;
use shellgate_shared::http_path::validate_base_url;
use shellgate_shared::ids::TargetId;
use shellgate_shared::states::TargetKind;

use crate::auth::Admin;
use crate::context::ApproverContext;
use crate::error::ApiError;
use crate::handlers::targets::credential::seal_credential;
use crate::validate;
use crate::views::TargetResponse;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTargetRequest {
    pub name: String,
    /// Defaults to one derived from the name; never changes afterwards.
    pub slug: Option<String>,
    /// `http` (default) or `ssh`.
    #[serde(default, alias = "type")]
    pub kind: Option<String>,
    #[serde(alias = "url")]
    pub base_url: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub username: Option<String>,
    pub pool: Option<String>,
    pub enabled: Option<bool>,
    pub description: Option<String>,
    pub credential: Option<Credential>,
    /// `sql` or `graphql`: the guard inspects queries in JSON bodies.
    pub query_api: Option<String>,
}

pub fn description(s: Option<String>) -> Result<Option<String>, ApiError> {
    match s {
        Some(d) if d.chars().count() > 2000 => Err(ApiError::validation(
            "invalid_description",
            "description is at most 2000 characters",
        )),
        other => Ok(other),
    }
}

pub fn base_url(s: &str) -> Result<String, ApiError> {
    validate_base_url(s).map_err(|e| ApiError::validation("invalid_base_url", e.to_string()))
}

fn new_target(body: &CreateTargetRequest) -> Result<NewTarget, ApiError> {
    let name = validate::name(&body.name)?;
    let slug = match &body.slug {
        Some(s) => validate::slug(s, "invalid_slug")?,
        None => validate::slug(&validate::slug_from_name(&name), "invalid_slug")
            .map_err(|_| ApiError::validation("invalid_slug", "cannot derive a slug from the name; give one"))?,
    };
    let pool = validate::slug(body.pool.as_deref().unwrap_or("default"), "invalid_pool")?;
    let kind = match body.kind.as_deref() {
        Some(k) => validate::one_of(k, "kind", "invalid_kind")?,
        None => TargetKind::Http,
    };
    let mut target = NewTarget {
        id: TargetId::new(),
        slug,
        name,
        kind,
        base_url: None,
        ssh_host: None,
        ssh_port: None,
        ssh_username: None,
        pool,
        enabled: body.enabled.unwrap_or(true),
        description: description(body.description.clone())?.unwrap_or_default(),
        query_api: body.query_api.as_deref().map(validate::query_api).transpose()?,
    };
    match kind {
        TargetKind::Http => {
            let url = body
                .base_url
                .as_deref()
                .ok_or_else(|| ApiError::validation("invalid_base_url", "http targets need baseUrl"))?;
            target.base_url = Some(base_url(url)?);
        }
        TargetKind::Ssh => {
            let (Some(host), Some(user)) = (body.host.as_deref(), body.username.as_deref()) else {
                return Err(ApiError::validation(
                    "invalid_ssh_target",
                    "ssh targets need host and username",
                ));
            };
            target.ssh_host = Some(validate::ssh_host(host)?);
            target.ssh_username = Some(validate::ssh_username(user)?);
            target.ssh_port = Some(validate::ssh_port(body.port.unwrap_or(22))?);
        }
    }
    Ok(target)
}

/// `POST /api/targets`
pub async fn create_target(
    _admin: Admin,
    ctx: web::Data<Arc<ApproverContext>>,
    body: web::Json<CreateTargetRequest>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(create(&ctx, body.into_inner()).await?))
}

/// Creates a target (and stores its credential, sealed), for the API and the dashboard.
pub async fn create(ctx: &ApproverContext, body: CreateTargetRequest) -> Result<TargetResponse, ApiError> {
    let new = new_target(&body)?;
    let sealed = body
        .credential
        .as_ref()
        .map(|c| seal_credential(ctx, new.id, new.kind, c))
        .transpose()?;
    let mut conn = ctx.conn().await?;
    let (target, credential) = conn
        .transaction(async |conn| {
            let target = queries::targets::insert_target(conn, &new).await.map_err(|e| match e {
                diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => {
                    ApiError::Conflict("slug_taken", format!("a target with slug {:?} exists", new.slug))
                }
                other => ApiError::from(other),
            })?;
            let credential = match &sealed {
                Some(s) => Some(queries::credentials::upsert_credential(conn, s).await?),
                None => None,
            };
            Ok::<_, ApiError>((target, credential))
        })
        .await?;
    Ok(TargetResponse::new(target, credential.as_ref()))
}
