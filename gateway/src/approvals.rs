//! The gateway's side of approvals: creating one when the guard asks for a human, letting the
//! agent wait for the decision (NATS-driven, not by polling Postgres), and consuming an approved
//! one — atomically, once, only for the same token and the exact same request.

use std::time::Duration;

use futures_util::StreamExt;
use shellgate_shared::approval::{
    ApprovalEvent, ApprovalEventKind, ApprovalStatus, ApprovalView, UseRefusal, use_refusal,
};
use shellgate_shared::db::models::NewApproval;
use shellgate_shared::db::queries;
use shellgate_shared::error::Code;
use shellgate_shared::ids::{ApprovalId, TargetId, TokenId};
use time::OffsetDateTime;

use crate::context::GatewayContext;
use crate::error::ApiError;
use crate::gate::Bound;

/// What the guard said, as an approval records it.
pub struct Ruling {
    pub rule: Option<String>,
    pub reason: String,
    pub matched: Option<String>,
}

fn db_unavailable(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "approval storage unavailable");
    ApiError::Unavailable(Code::ApprovalsUnavailable)
}

/// Creates a pending approval and announces it (dashboards, notifiers).
pub async fn create_approval(
    ctx: &GatewayContext,
    token_id: TokenId,
    target_id: TargetId,
    bound: Bound,
    ruling: Ruling,
) -> Result<ApprovalView, ApiError> {
    let Bound {
        kind,
        request,
        hash: request_hash,
        excerpt: body_excerpt,
    } = bound;
    let new = NewApproval {
        id: ApprovalId::new(),
        token_id,
        target_id,
        kind,
        request,
        request_hash,
        rule: ruling.rule,
        reason: ruling.reason,
        matched: ruling.matched,
        expires_at: OffsetDateTime::now_utc() + ctx.approval_ttl,
        body_excerpt,
    };
    let row = {
        let mut conn = ctx.db.get().await.map_err(db_unavailable)?;
        queries::approvals::insert_approval(&mut conn, &new)
            .await
            .map_err(db_unavailable)?
    };
    let view = ApprovalView::from(row);
    let event = ApprovalEvent::new(ApprovalEventKind::Requested, view.clone());
    if let Err(e) = ctx.bus.publish_approval_event(&event).await {
        // The approval exists in Postgres; the dashboard lists it even if this announcement is lost.
        tracing::error!(error = %e, approval_id = %view.id, "cannot announce approval request");
    }
    Ok(view)
}

/// The approval, if it exists and belongs to this token (another token's looks missing).
pub async fn find_for_token(ctx: &GatewayContext, id: ApprovalId, token: TokenId) -> Result<ApprovalView, ApiError> {
    let row = {
        let mut conn = ctx.db.get().await.map_err(db_unavailable)?;
        queries::approvals::find_approval(&mut conn, id)
            .await
            .map_err(db_unavailable)?
    };
    match row {
        Some(a) if a.token_id == token => Ok(ApprovalView::from(a)),
        _ => Err(ApiError::Approval(
            UseRefusal::NotFound.code(),
            UseRefusal::NotFound.message(),
        )),
    }
}

/// Waits up to `wait` for a decision on a pending approval, woken by its NATS events.
pub async fn wait_for_decision(
    ctx: &GatewayContext,
    id: ApprovalId,
    token: TokenId,
    wait: Duration,
) -> Result<ApprovalView, ApiError> {
    if wait.is_zero() {
        return find_for_token(ctx, id, token).await;
    }
    // Subscribe before reading, so a decision between the read and the wait is not missed.
    let mut sub = ctx
        .bus
        .client
        .subscribe(ctx.bus.subjects.approval_events_of(&id.to_string()))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot subscribe to approval events");
            ApiError::Unavailable(Code::BusUnavailable)
        })?;
    let view = find_for_token(ctx, id, token).await?;
    if view.status != ApprovalStatus::Pending {
        return Ok(view);
    }
    let deadline = tokio::time::Instant::now() + wait.min(view_remaining(&view));
    loop {
        match tokio::time::timeout_at(deadline, sub.next()).await {
            Ok(Some(msg)) => {
                if let Ok(ev) = serde_json::from_slice::<ApprovalEvent>(&msg.payload)
                    && ev.approval.status != ApprovalStatus::Pending
                {
                    return Ok(ev.approval);
                }
            }
            Ok(None) | Err(_) => return find_for_token(ctx, id, token).await,
        }
    }
}

fn view_remaining(view: &ApprovalView) -> Duration {
    let left = view.expires_at - OffsetDateTime::now_utc();
    Duration::from_millis(u64::try_from(left.whole_milliseconds()).unwrap_or(0)) + Duration::from_millis(200)
}

/// Consumes an approved approval for exactly this token, target and request hash (the hash binds
/// the target's address too), or says precisely why it cannot be used (403 with `approval_pending`, `approval_denied`, `approval_expired`,
/// `approval_used`, `approval_mismatch`).
pub async fn consume(
    ctx: &GatewayContext,
    id: ApprovalId,
    token: TokenId,
    target: TargetId,
    hash: &str,
) -> Result<ApprovalView, ApiError> {
    let mut conn = ctx.db.get().await.map_err(db_unavailable)?;
    if let Some(row) = queries::approvals::consume_approval(&mut conn, id, token, target, hash)
        .await
        .map_err(db_unavailable)?
    {
        drop(conn);
        let view = ApprovalView::from(row);
        let event = ApprovalEvent::new(ApprovalEventKind::Used, view.clone());
        if let Err(e) = ctx.bus.publish_approval_event(&event).await {
            tracing::warn!(error = %e, "cannot announce approval use");
        }
        return Ok(view);
    }
    let row = queries::approvals::find_approval(&mut conn, id)
        .await
        .map_err(db_unavailable)?;
    drop(conn);
    let refusal = use_refusal(row.as_ref(), token, target, hash, OffsetDateTime::now_utc())
        // Usable now yet not consumed a moment ago: a race with another use or an expiry.
        .unwrap_or(UseRefusal::Used);
    if refusal == UseRefusal::Denied {
        return Err(denied(row.as_ref().and_then(|r| r.decision_comment.as_deref())));
    }
    Err(ApiError::Approval(refusal.code(), refusal.message()))
}

/// `approval_denied`, with the human's comment when they left one (so the agent can tell its
/// user why).
pub(crate) fn denied(comment: Option<&str>) -> ApiError {
    match comment.map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => ApiError::Invalid(Code::ApprovalDenied, format!("a human denied this request: {c}")),
        None => ApiError::Approval(Code::ApprovalDenied, "a human denied this request"),
    }
}
