//! `/api/notifiers`: approval notifiers an admin adds, changes and removes (generic webhook,
//! HMAC-signed; Slack-compatible incoming webhook). URLs and secrets are sealed at rest and never
//! shown again; a generated signing secret is in the answer that created it and nowhere else.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use diesel_async::AsyncConnection;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use shellgate_shared::crypto::{NotifierKey, generate_secret};
use shellgate_shared::db::models::{NotifierChangeset, NotifierRow};
use shellgate_shared::db::queries;
use shellgate_shared::ids::NotifierId;
use time::OffsetDateTime;

use crate::auth::Admin;
use crate::context::ApproverContext;
use crate::error::{ApiError, parse_id};
use crate::notify::delivery::CONFIGURED_NAMES;
use crate::notify::registry as notifiers;
use crate::validate;
use shellgate_shared::states::NotifierKind;

/// Prefix of the signing secrets the approver generates.
const SECRET_PREFIX: &str = "whsec_";

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotifierResponse {
    pub id: NotifierId,
    pub name: String,
    pub kind: NotifierKind,
    /// Scheme, host and port of the URL (the rest may hold a token and is not shown).
    pub url_hint: String,
    pub enabled: bool,
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// A signing secret the approver generated: only in the answer that generated it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<String>,
}

impl From<NotifierRow> for NotifierResponse {
    fn from(r: NotifierRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            kind: r.kind,
            url_hint: r.url_hint,
            enabled: r.enabled,
            created_by: r.created_by,
            created_at: r.created_at,
            updated_at: r.updated_at,
            signing_secret: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateNotifierRequest {
    pub name: String,
    /// `webhook` or `slack`.
    pub kind: String,
    pub url: String,
    /// Webhook only: the HMAC key; generated (and returned once) when left out.
    pub secret: Option<String>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateNotifierRequest {
    /// Accepted only when unchanged: dead letters and metrics name a notifier by it.
    pub name: Option<String>,
    pub url: Option<String>,
    pub secret: Option<String>,
    /// Webhook only: replace the signing secret with a generated one (returned once).
    #[serde(default)]
    pub regenerate_secret: bool,
    pub enabled: Option<bool>,
}

fn key(ctx: &ApproverContext) -> Result<&NotifierKey, ApiError> {
    ctx.notifier_key.as_ref().ok_or_else(|| {
        ApiError::Conflict(
            "notifier_key_missing",
            "the approver has no SHELLGATE_NOTIFIER_KEY, so it cannot keep notifiers".into(),
        )
    })
}

/// An absolute http(s) URL with a host; returns it with its hint.
fn url(s: &str) -> Result<(String, String), ApiError> {
    let bad = |why: &str| ApiError::validation("invalid_url", format!("url {why}"));
    if s.len() > 2048 {
        return Err(bad("is longer than 2048 characters"));
    }
    let parsed = url::Url::parse(s.trim()).map_err(|_| bad("is not an absolute URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("must be http(s) with a host"));
    }
    Ok((parsed.to_string(), notifiers::url_hint(&parsed)))
}

fn secret(s: &str) -> Result<String, ApiError> {
    if !(16..=256).contains(&s.len()) || s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ApiError::validation(
            "invalid_secret",
            "secret must be 16-256 characters without spaces or control characters",
        ));
    }
    Ok(s.to_string())
}

fn generated_secret() -> String {
    generate_secret(SECRET_PREFIX).expose_secret().to_string()
}

fn unavailable(what: &str, e: &anyhow::Error) -> ApiError {
    tracing::error!(error = %e, "{what}");
    ApiError::Unavailable
}

/// `POST /api/notifiers`
pub async fn create_notifier(
    admin: Admin,
    ctx: web::Data<Arc<ApproverContext>>,
    body: web::Json<CreateNotifierRequest>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(create(&ctx, &admin, body.into_inner()).await?))
}

/// Adds a notifier (from the API or the dashboard); its signing secret is in the answer when
/// one was generated (shown once).
pub async fn create(
    ctx: &ApproverContext,
    admin: &Admin,
    body: CreateNotifierRequest,
) -> Result<NotifierResponse, ApiError> {
    let key = key(ctx)?;
    let name = validate::slug(body.name.trim(), "invalid_name")?;
    if CONFIGURED_NAMES.contains(&name.as_str()) {
        return Err(ApiError::Conflict(
            "name_taken",
            format!("{name:?} is the name of a notifier the settings configure"),
        ));
    }
    let kind: NotifierKind = validate::one_of(&body.kind, "kind", "invalid_kind")?;
    let (url, url_hint) = url(&body.url)?;
    let (secret, generated) = match (kind, body.secret.as_deref()) {
        (NotifierKind::Slack, Some(_)) => {
            return Err(ApiError::validation(
                "invalid_secret",
                "slack notifiers take no secret (the URL is one)",
            ));
        }
        (NotifierKind::Slack, None) => (None, false),
        (_, Some(s)) => (Some(secret(s)?), false),
        (_, None) => (Some(generated_secret()), true),
    };
    let id = NotifierId::new();
    let now = OffsetDateTime::now_utc();
    let row = NotifierRow {
        id,
        name,
        kind,
        url_hint,
        sealed: notifiers::seal(key, id, &url, secret.as_deref()).map_err(|e| ApiError::Internal(e.to_string()))?,
        key_id: key.key_id().to_string(),
        enabled: body.enabled.unwrap_or(true),
        created_by: admin.name.clone(),
        created_at: now,
        updated_at: now,
    };
    let mut conn = ctx.conn().await?;
    let row = conn
        .transaction(async |conn| {
            let row = queries::notifications::insert_notifier(conn, &row)
                .await
                .map_err(|e| match e {
                    diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => {
                        ApiError::Conflict("name_taken", format!("a notifier named {:?} exists", row.name))
                    }
                    other => ApiError::from(other),
                })?;
            // Before the commit: once the answer is 201, no event is missed.
            if row.enabled {
                notifiers::create_consumer(ctx, id)
                    .await
                    .map_err(|e| unavailable("cannot create the notifier's consumer", &e))?;
            }
            Ok::<_, ApiError>(row)
        })
        .await?;
    drop(conn);
    notifiers::announce(ctx).await;
    tracing::info!(notifier = %row.name, kind = %row.kind, by = %admin.name, "notifier added");
    let mut view = NotifierResponse::from(row);
    view.signing_secret = secret.filter(|_| generated);
    Ok(view)
}

/// `GET /api/notifiers`: by name; the ones the settings configure are not listed.
pub async fn list_notifiers(_admin: Admin, ctx: web::Data<Arc<ApproverContext>>) -> Result<HttpResponse, ApiError> {
    let mut conn = ctx.conn().await?;
    let rows = queries::notifications::list_notifiers(&mut conn).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "notifiers": rows.into_iter().map(NotifierResponse::from).collect::<Vec<_>>(),
    })))
}

async fn existing(ctx: &ApproverContext, id: &str) -> Result<NotifierRow, ApiError> {
    let id: NotifierId = parse_id(id)?;
    let mut conn = ctx.conn().await?;
    queries::notifications::find_notifier(&mut conn, id)
        .await?
        .ok_or(ApiError::NotFound("notifier"))
}

/// `GET /api/notifiers/{id}`
pub async fn get_notifier(
    _admin: Admin,
    ctx: web::Data<Arc<ApproverContext>>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(NotifierResponse::from(existing(&ctx, &path).await?)))
}

/// `PATCH /api/notifiers/{id}`: a new URL or secret is sealed anew; disabling drops the events
/// waiting for the notifier, and enabling starts it with new events.
pub async fn update_notifier(
    admin: Admin,
    ctx: web::Data<Arc<ApproverContext>>,
    path: web::Path<String>,
    body: web::Json<UpdateNotifierRequest>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(update(&ctx, &admin, &path, body.into_inner()).await?))
}

/// Changes a notifier (from the API or the dashboard); a regenerated secret is in the answer.
pub async fn update(
    ctx: &ApproverContext,
    admin: &Admin,
    id: &str,
    body: UpdateNotifierRequest,
) -> Result<NotifierResponse, ApiError> {
    let current = existing(ctx, id).await?;
    if body.name.as_ref().is_some_and(|n| n.trim() != current.name) {
        return Err(ApiError::validation(
            "name_immutable",
            "a notifier's name cannot change",
        ));
    }
    let is_slack = current.kind == NotifierKind::Slack;
    if is_slack && (body.secret.is_some() || body.regenerate_secret) {
        return Err(ApiError::validation(
            "invalid_secret",
            "slack notifiers take no secret (the URL is one)",
        ));
    }
    if body.secret.is_some() && body.regenerate_secret {
        return Err(ApiError::validation(
            "invalid_secret",
            "give secret or regenerateSecret, not both",
        ));
    }
    let mut changes = NotifierChangeset {
        enabled: body.enabled,
        ..Default::default()
    };
    let mut generated = None;
    if body.url.is_some() || body.secret.is_some() || body.regenerate_secret {
        let key = key(ctx)?;
        let (old_url, old_secret) = notifiers::open(key, &current).map_err(|e| {
            ApiError::Conflict(
                "notifier_unreadable",
                format!("the notifier was sealed with another key ({e}); delete it and add it again"),
            )
        })?;
        let (url, hint) = match body.url.as_deref() {
            Some(u) => url(u)?,
            None => (old_url, current.url_hint.clone()),
        };
        let secret = if body.regenerate_secret {
            let s = generated_secret();
            generated = Some(s.clone());
            Some(s)
        } else {
            body.secret.as_deref().map(secret).transpose()?.or(old_secret)
        };
        changes.sealed = Some(
            notifiers::seal(key, current.id, &url, secret.as_deref()).map_err(|e| ApiError::Internal(e.to_string()))?,
        );
        changes.key_id = Some(key.key_id().to_string());
        changes.url_hint = Some(hint);
    }
    let enabling = body.enabled == Some(true) && !current.enabled;
    let disabling = body.enabled == Some(false) && current.enabled;
    let mut conn = ctx.conn().await?;
    let row = conn
        .transaction(async |conn| {
            let row = queries::notifications::update_notifier(conn, current.id, &changes)
                .await?
                .ok_or(ApiError::NotFound("notifier"))?;
            if enabling {
                notifiers::create_consumer(ctx, current.id)
                    .await
                    .map_err(|e| unavailable("cannot create the notifier's consumer", &e))?;
            }
            Ok::<_, ApiError>(row)
        })
        .await?;
    drop(conn);
    if disabling && let Err(e) = notifiers::delete_consumer(ctx, current.id).await {
        // The replicas delete it too when they stop the notifier.
        tracing::warn!(error = %e, "consumer of a disabled notifier left for the replicas to delete");
    }
    notifiers::announce(ctx).await;
    tracing::info!(notifier = %row.name, by = %admin.name, "notifier changed");
    let mut view = NotifierResponse::from(row);
    view.signing_secret = generated;
    Ok(view)
}

/// `DELETE /api/notifiers/{id}`: events waiting for it are dropped; its dead letters stay.
pub async fn delete_notifier(
    admin: Admin,
    ctx: web::Data<Arc<ApproverContext>>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    delete(&ctx, &admin, &path).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Deletes a notifier (from the API or the dashboard).
pub async fn delete(ctx: &ApproverContext, admin: &Admin, id: &str) -> Result<(), ApiError> {
    let id: NotifierId = parse_id(id)?;
    let mut conn = ctx.conn().await?;
    if !queries::notifications::delete_notifier(&mut conn, id).await? {
        return Err(ApiError::NotFound("notifier"));
    }
    drop(conn);
    if let Err(e) = notifiers::delete_consumer(ctx, id).await {
        tracing::warn!(error = %e, "consumer of a deleted notifier left for the replicas to delete");
    }
    notifiers::announce(ctx).await;
    tracing::info!(notifier_id = %id, by = %admin.name, "notifier deleted");
    Ok(())
}
