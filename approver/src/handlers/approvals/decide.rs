use std::sync::Arc;

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use shellgate_shared::approval::{ApprovalEvent, ApprovalEventKind, ApprovalStatus, ApprovalView};
use shellgate_shared::audit::{AuditEvent, Outcome};
use shellgate_shared::db::queries;
use shellgate_shared::ids::ApprovalId;

use crate::auth::Admin;
use crate::context::ApproverContext;
use crate::error::{ApiError, parse_id};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DecideApprovalRequest {
    pub comment: Option<String>,
}

/// What a human decides: the last segment of `POST /api/approvals/{id}/approve|deny`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Approve,
    Deny,
}

/// `POST /api/approvals/{id}/approve` and `POST /api/approvals/{id}/deny`
pub async fn decide_approval(
    admin: Admin,
    ctx: web::Data<Arc<ApproverContext>>,
    path: web::Path<(String, Decision)>,
    body: Option<web::Json<DecideApprovalRequest>>,
) -> Result<HttpResponse, ApiError> {
    if let Some((code, message)) = admin.may_not_decide {
        return Err(ApiError::Forbidden(code, message));
    }
    let (id, decision) = path.into_inner();
    let body = body.map(web::Json::into_inner).unwrap_or_default();
    decide(admin, &ctx, &id, body, matches!(decision, Decision::Approve)).await
}

/// Records the decision (only a pending, unexpired approval can be decided), then announces it:
/// the waiting agent and open dashboards learn of it over NATS at once.
async fn decide(
    admin: Admin,
    ctx: &ApproverContext,
    id: &str,
    body: DecideApprovalRequest,
    approve: bool,
) -> Result<HttpResponse, ApiError> {
    let id: ApprovalId = parse_id(id)?;
    let by = admin.by("admin-key");
    let view = record_decision(ctx, id, approve, &by, body.comment.as_deref()).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// A human's decision, from the API or the dashboard (`by` names who): stored, audited and
/// announced on NATS.
pub(crate) async fn record_decision(
    ctx: &ApproverContext,
    id: ApprovalId,
    approve: bool,
    by: &str,
    comment: Option<&str>,
) -> Result<ApprovalView, ApiError> {
    if comment.is_some_and(|c| c.chars().count() > 2000) {
        return Err(ApiError::validation(
            "invalid_comment",
            "comment is at most 2000 characters",
        ));
    }
    let comment = comment.map(str::trim).filter(|c| !c.is_empty());
    let mut conn = ctx.conn().await?;
    let Some(decided) = queries::approvals::decide_approval(&mut conn, id, approve, by, comment).await? else {
        let current = queries::approvals::find_approval(&mut conn, id)
            .await?
            .ok_or(ApiError::NotFound("approval"))?;
        let view = ApprovalView::from(current);
        let code = if view.status == ApprovalStatus::Expired {
            "approval_expired"
        } else {
            "approval_not_pending"
        };
        return Err(ApiError::Conflict(code, format!("the approval is {}", view.status)));
    };
    drop(conn);
    let view = ApprovalView::from(decided);
    if let Some(at) = view.decided_at {
        let waited = (at - view.created_at).as_seconds_f64().max(0.0);
        ctx.metrics.approver.approval_decision.observe(waited);
    }
    let (event, outcome) = if approve {
        (ApprovalEventKind::Approved, Outcome::Approved)
    } else {
        (ApprovalEventKind::Denied, Outcome::Denied)
    };
    ctx.audit.publish(AuditEvent::for_approval(&view, outcome, Some(by)));
    let announced = ApprovalEvent::new(event, view.clone());
    if let Err(e) = ctx.bus.publish_approval_event(&announced).await {
        // The decision stands (Postgres is the truth); waiting agents see it on their next poll.
        tracing::error!(error = %e, approval_id = %id, "cannot announce approval decision");
    }
    tracing::info!(approval_id = %id, decision = %event, by = %by, "approval decided");
    Ok(view)
}
