use std::sync::Arc;

use actix_web::{HttpResponse, web};
use diesel_async::AsyncConnection;
use secrecy::ExposeSecret;
use serde::Deserialize;
use shellgate_shared::crypto::{TOKEN_PREFIX, generate_secret, hash_secret};
use shellgate_shared::db::models::NewToken;
use shellgate_shared::db::queries;
use shellgate_shared::ids::{TargetId, TokenId};
use shellgate_shared::states::Capability;
use time::OffsetDateTime;

use crate::auth::Admin;
use crate::context::ApproverContext;
use crate::error::{ApiError, parse_id};
use crate::validate;
use crate::views::TokenResponse;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTokenRequest {
    pub name: String,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// Alternative to `expiresAt`.
    pub expires_in_seconds: Option<u32>,
    pub enabled: Option<bool>,
    /// Targets to grant right away.
    #[serde(default, alias = "permissions")]
    pub target_ids: Vec<String>,
    /// `human` (default): dangerous requests wait for a person. `agent_confirm`: the agent's
    /// `X-Shellgate-Approved: true` is honoured (it asked its human in chat).
    pub approval_policy: Option<String>,
    /// What the token may use; default `Capability::DEFAULT`.
    pub capabilities: Option<Vec<String>>,
    /// CIDR blocks its requests must come from; default: any address.
    #[serde(default)]
    pub allowed_cidrs: Vec<String>,
}

/// `POST /api/tokens`: the plaintext token is in this answer and never again.
pub async fn create_token(
    _admin: Admin,
    ctx: web::Data<Arc<ApproverContext>>,
    body: web::Json<CreateTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(create(&ctx, body.into_inner()).await?))
}

/// Creates a token (granting its targets); the answer holds the plaintext token, for the API and
/// the dashboard to show once.
pub async fn create(ctx: &ApproverContext, body: CreateTokenRequest) -> Result<TokenResponse, ApiError> {
    let name = validate::name(&body.name)?;
    let expires_at = match (body.expires_at, body.expires_in_seconds) {
        (Some(_), Some(_)) => {
            return Err(ApiError::validation(
                "invalid_expiry",
                "give expiresAt or expiresInSeconds, not both",
            ));
        }
        (at, None) => at,
        (None, Some(secs)) => Some(OffsetDateTime::now_utc() + time::Duration::seconds(i64::from(secs))),
    };
    let expires_at = validate::expiry(expires_at)?;
    let targets: Vec<TargetId> = body.target_ids.iter().map(|s| parse_id(s)).collect::<Result<_, _>>()?;
    let approval_policy = validate::approval_policy(body.approval_policy.as_deref().unwrap_or("human"))?;
    let capabilities = match &body.capabilities {
        Some(list) => validate::capabilities(list)?,
        None => Capability::DEFAULT.to_vec(),
    };
    let allowed_cidrs = validate::allowed_cidrs(&body.allowed_cidrs)?;
    let secret = generate_secret(TOKEN_PREFIX);
    let hash = hash_secret(secret.expose_secret());
    let mut conn = ctx.conn().await?;
    let token = conn
        .transaction(async |conn| {
            let token = queries::tokens::insert_token(
                conn,
                &NewToken {
                    id: TokenId::new(),
                    name: &name,
                    token_hash: &hash,
                    enabled: body.enabled.unwrap_or(true),
                    expires_at,
                    approval_policy,
                    capabilities: capabilities.clone(),
                    allowed_cidrs: allowed_cidrs.clone(),
                },
            )
            .await?;
            for target in &targets {
                if queries::targets::find_target(conn, *target).await?.is_none() {
                    return Err(ApiError::NotFound("target"));
                }
                queries::permissions::grant(conn, token.id, *target).await?;
            }
            Ok::<_, ApiError>(token)
        })
        .await?;
    let mut view = TokenResponse::from(token);
    view.token = Some(secret.expose_secret().to_string());
    Ok(view)
}
