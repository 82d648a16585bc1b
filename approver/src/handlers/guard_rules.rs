//! Guard rules an admin adds or overrides on top of the built-in pack, globally or per target
//! (format: docs/guard.md). A rule with a built-in rule's id overrides it (e.g. changes its
//! verdict or disables it). Every change is announced, so gateways and executors apply it at once.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use serde::Serialize;
use shellgate_shared::db::models::GuardRuleRow;
use shellgate_shared::db::queries;
use shellgate_shared::guard::{Guard, Rule};
use shellgate_shared::ids::TargetId;
use time::OffsetDateTime;

use crate::auth::Admin;
use crate::context::ApproverContext;
use crate::error::{ApiError, parse_id};
use crate::events::announce_change;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GuardRuleResponse {
    pub rule: serde_json::Value,
    pub target_id: Option<TargetId>,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<GuardRuleRow> for GuardRuleResponse {
    fn from(r: GuardRuleRow) -> Self {
        Self {
            rule: r.rule,
            target_id: r.target_id,
            updated_at: r.updated_at,
        }
    }
}

async fn existing_target(ctx: &ApproverContext, id: &str) -> Result<TargetId, ApiError> {
    let id: TargetId = parse_id(id)?;
    let mut conn = ctx.conn().await?;
    queries::targets::find_target(&mut conn, id)
        .await?
        .ok_or(ApiError::NotFound("target"))?;
    Ok(id)
}

async fn list(ctx: &ApproverContext, target: Option<TargetId>) -> Result<HttpResponse, ApiError> {
    let mut conn = ctx.conn().await?;
    let rows = queries::guard_rules::list_rules(&mut conn, target).await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(GuardRuleResponse::from).collect::<Vec<_>>()))
}

/// Checks a rule (it must compile with the built-in pack, and carry the id it is stored
/// under), for saving and for the dashboard's "try it".
pub fn parse_rule(rule_id: &str, body: serde_json::Value) -> Result<Rule, ApiError> {
    let mut body = body;
    // The id may be left out of the body: the path names the rule.
    if let Some(obj) = body.as_object_mut() {
        obj.entry("id")
            .or_insert_with(|| serde_json::Value::String(rule_id.to_string()));
    }
    let rule: Rule = serde_json::from_value(body)
        .map_err(|e| ApiError::validation("invalid_rule", format!("not a guard rule: {e}")))?;
    if rule.id != rule_id {
        return Err(ApiError::validation(
            "invalid_rule",
            "the rule's id must match the id in the path",
        ));
    }
    // Compile it with the built-in pack now, so a bad rule is refused here and never reaches a
    // gateway.
    Guard::with_rules(std::slice::from_ref(&rule)).map_err(|e| ApiError::validation("invalid_rule", e.to_string()))?;
    Ok(rule)
}

/// Adds or replaces a rule (globally, or for a target), for the API and the dashboard.
pub async fn put(
    ctx: &ApproverContext,
    target: Option<TargetId>,
    rule_id: &str,
    body: serde_json::Value,
) -> Result<GuardRuleResponse, ApiError> {
    let rule = parse_rule(rule_id, body)?;
    let value = serde_json::to_value(&rule).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut conn = ctx.conn().await?;
    let row = queries::guard_rules::upsert_rule(&mut conn, target, rule_id, &value).await?;
    drop(conn);
    announce_change(ctx, None).await;
    Ok(GuardRuleResponse::from(row))
}

/// Removes a rule, for the API and the dashboard.
pub async fn delete(ctx: &ApproverContext, target: Option<TargetId>, rule_id: &str) -> Result<(), ApiError> {
    let mut conn = ctx.conn().await?;
    if !queries::guard_rules::delete_rule(&mut conn, target, rule_id).await? {
        return Err(ApiError::NotFound("rule"));
    }
    drop(conn);
    announce_change(ctx, None).await;
    Ok(())
}

/// `GET /api/guard/builtin`: the built-in rule pack.
pub async fn list_builtin_rules(_admin: Admin) -> HttpResponse {
    HttpResponse::Ok().json(Guard::builtin_rules())
}

/// `GET /api/guard/rules`: global rules.
pub async fn list_global_rules(_admin: Admin, ctx: web::Data<Arc<ApproverContext>>) -> Result<HttpResponse, ApiError> {
    list(&ctx, None).await
}

/// `PUT /api/guard/rules/{ruleId}`
pub async fn put_global_rule(
    _admin: Admin,
    ctx: web::Data<Arc<ApproverContext>>,
    path: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(put(&ctx, None, &path, body.into_inner()).await?))
}

/// `DELETE /api/guard/rules/{ruleId}`
pub async fn delete_global_rule(
    _admin: Admin,
    ctx: web::Data<Arc<ApproverContext>>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    delete(&ctx, None, &path).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/targets/{id}/guard/rules`
pub async fn list_target_rules(
    _admin: Admin,
    ctx: web::Data<Arc<ApproverContext>>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let target = existing_target(&ctx, &path).await?;
    list(&ctx, Some(target)).await
}

/// `PUT /api/targets/{id}/guard/rules/{ruleId}`
pub async fn put_target_rule(
    _admin: Admin,
    ctx: web::Data<Arc<ApproverContext>>,
    path: web::Path<(String, String)>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let (target, rule_id) = path.into_inner();
    let target = existing_target(&ctx, &target).await?;
    Ok(HttpResponse::Ok().json(put(&ctx, Some(target), &rule_id, body.into_inner()).await?))
}

/// `DELETE /api/targets/{id}/guard/rules/{ruleId}`
pub async fn delete_target_rule(
    _admin: Admin,
    ctx: web::Data<Arc<ApproverContext>>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (target, rule_id) = path.into_inner();
    let target = existing_target(&ctx, &target).await?;
    delete(&ctx, Some(target), &rule_id).await?;
    Ok(HttpResponse::NoContent().finish())
}
