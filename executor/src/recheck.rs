//! Defence in depth: an executor judges every request again with the same guard. A `block`
//! never runs, and an `approve` runs only with an approval that was consumed for exactly this
//! token and request on this target at the address the executor is about to use (or on the
//! agent's confirmation where the token's policy allows it) — so a compromised or buggy gateway
//! cannot make a dangerous request run, nor one approved elsewhere.

use bytes::Bytes;
use shellgate_shared::approval::{ApprovalStatus, TargetBinding, canonical_http, canonical_ssh, target_address};
use shellgate_shared::bus::messages::{BodyMode, HttpExecRequest, SshExecRequest, StreamFailure};
use shellgate_shared::db::models::Target;
use shellgate_shared::db::queries;
use shellgate_shared::error::Code;
use shellgate_shared::guard::{HttpRequestView, QueryApi, Verdict};
use shellgate_shared::ids::{ApprovalId, RequestId, TargetId, TokenId};
use shellgate_shared::ssh::remote_script;
use shellgate_shared::states::ApprovalPolicy;

use crate::context::ExecutorContext;

/// The request's target as this executor resolved it, for binding.
fn binding<'a>(target: &'a Target, address: &'a str) -> TargetBinding<'a> {
    TargetBinding {
        id: target.id,
        kind: target.kind,
        address,
    }
}

pub async fn recheck_http(
    ctx: &ExecutorContext,
    req: &HttpExecRequest,
    inline: &Bytes,
    target: &Target,
) -> Result<(), StreamFailure> {
    let query_api = target.query_api.map(QueryApi::from);
    let body = (req.body == BodyMode::Inline).then_some(&inline[..]);
    let view = HttpRequestView {
        method: &req.method,
        path: &req.path,
        query: req.query.as_deref(),
        headers: &req.headers,
        body,
        query_api,
    };
    let guard = ctx
        .guard_cache
        .for_target(&ctx.db, req.target_id)
        .await
        .map_err(|_| StreamFailure::new(Code::GuardUnavailable, "the executor cannot load the guard rules"))?;
    let decision = guard.check_http(&view);
    match decision.verdict {
        Verdict::Allow => Ok(()),
        Verdict::Reject => Err(StreamFailure::new(Code::UnsafePath, "the path is not allowed")),
        Verdict::Block => {
            tracing::warn!(rule = ?decision.rule, "executor refused a blocked request");
            Err(StreamFailure::new(Code::Blocked, &decision.reason))
        }
        Verdict::Approve => {
            // Approved requests always travel inline (their body is bound by its hash).
            let address = target_address(target);
            let hash = body.map(|b| {
                let bound = binding(target, &address);
                canonical_http(bound, &req.method, &req.path, req.query.as_deref(), &req.headers, b).1
            });
            approved(ctx, &Binding::of_http(req), hash).await
        }
    }
}

/// The same for an SSH command: the guard judges the exact script the server will run.
pub async fn recheck_ssh(ctx: &ExecutorContext, req: &SshExecRequest, target: &Target) -> Result<(), StreamFailure> {
    let guard = ctx
        .guard_cache
        .for_target(&ctx.db, req.target_id)
        .await
        .map_err(|_| StreamFailure::new(Code::GuardUnavailable, "the executor cannot load the guard rules"))?;
    let decision = guard.check_ssh(&remote_script(&req.command, &req.env), req.stdin.as_deref());
    match decision.verdict {
        Verdict::Allow => Ok(()),
        Verdict::Reject | Verdict::Block => {
            tracing::warn!(rule = ?decision.rule, "executor refused a blocked command");
            Err(StreamFailure::new(Code::Blocked, &decision.reason))
        }
        Verdict::Approve => {
            let address = target_address(target);
            let bound = binding(target, &address);
            let (_, hash) = canonical_ssh(bound, &req.command, &req.env, req.stdin.as_deref());
            let binding = Binding {
                request_id: req.request_id,
                token_id: req.token_id,
                target_id: req.target_id,
                approval_id: req.approval_id,
                agent_confirmed: req.agent_confirmed,
            };
            approved(ctx, &binding, Some(hash)).await
        }
    }
}

/// What ties a request to the approval (or confirmation) the gateway says it has.
struct Binding {
    request_id: RequestId,
    token_id: TokenId,
    target_id: TargetId,
    approval_id: Option<ApprovalId>,
    agent_confirmed: bool,
}

impl Binding {
    fn of_http(req: &HttpExecRequest) -> Self {
        Self {
            request_id: req.request_id,
            token_id: req.token_id,
            target_id: req.target_id,
            approval_id: req.approval_id,
            agent_confirmed: req.agent_confirmed,
        }
    }
}

async fn approved(ctx: &ExecutorContext, req: &Binding, hash: Option<String>) -> Result<(), StreamFailure> {
    let missing = || {
        tracing::warn!(request_id = %req.request_id, "executor refused an unapproved request");
        StreamFailure::new(Code::ApprovalRequired, "this request needs a human's approval")
    };
    let unavailable = |_| StreamFailure::new(Code::ExecutorDbUnavailable, "the executor cannot reach its database");
    let Some(hash) = hash else {
        return Err(missing());
    };
    let mut conn = ctx
        .db
        .get()
        .await
        .map_err(|_| StreamFailure::new(Code::ExecutorDbUnavailable, "database unavailable"))?;
    if let Some(id) = req.approval_id {
        let approval = queries::approvals::find_approval(&mut conn, id)
            .await
            .map_err(unavailable)?;
        return match approval {
            // Consumed for this token and request, and just now (a replayed open message with an
            // old approval id is refused too).
            Some(a)
                if a.status == ApprovalStatus::Used
                    && a.token_id == req.token_id
                    && a.target_id == req.target_id
                    && a.request_hash == hash
                    && a.used_at
                        .is_some_and(|t| time::OffsetDateTime::now_utc() - t < time::Duration::seconds(60)) =>
            {
                Ok(())
            }
            _ => Err(missing()),
        };
    }
    if req.agent_confirmed {
        let token = queries::tokens::find_token(&mut conn, req.token_id)
            .await
            .map_err(unavailable)?;
        if token.is_some_and(|t| t.approval_policy == ApprovalPolicy::AgentConfirm) {
            return Ok(());
        }
    }
    Err(missing())
}
