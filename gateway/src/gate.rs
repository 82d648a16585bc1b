//! The guard and approvals on the agent HTTP path: what the guard says about a request, and what
//! happens then — it runs (allow, or an approval consumed for exactly this request), it waits
//! for a human (202, an approval created), or it never runs (blocked).

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde_json::json;
use shellgate_shared::approval::{ApprovalStatus, ApprovalView, canonical_http};
use shellgate_shared::bus::messages::HttpExecRequest;
use shellgate_shared::error::Code;
use shellgate_shared::guard::{Decision, HttpRequestView, QueryApi, Verdict};
use shellgate_shared::ids::{ApprovalId, RequestId};
use shellgate_shared::metrics::VerdictLabels;
use shellgate_shared::states::{ApprovalPolicy, TargetKind};

use crate::approvals::{Ruling, consume, create_approval, wait_for_decision};
use crate::auth::{Grant, Principal};
use crate::context::GatewayContext;
use crate::edge::REQUEST_ID_HEADER;
use crate::error::ApiError;

pub const APPROVAL_HEADER: &str = "x-shellgate-approval";
pub const APPROVED_HEADER: &str = "x-shellgate-approved";
pub const WAIT_HEADER: &str = "x-shellgate-wait";

/// What the gate decided.
pub enum Gate {
    /// Run it. `body`: the request body, when the gate had to read it (it is sent inline);
    /// `approval_id` / `agent_confirmed`: why an `approve` verdict may run (the executor checks).
    Proceed {
        body: Option<Bytes>,
        approval_id: Option<ApprovalId>,
        agent_confirmed: bool,
    },
    /// A human must decide first: answer 202 with this approval.
    Held { approval: Box<ApprovalView> },
}

/// What the agent said about approvals with its request: an approval to use, its own
/// confirmation (honoured only for `agent_confirm` tokens), and how long it will wait for a human.
#[derive(Debug, Clone, Default)]
pub struct ApprovalAsk {
    /// The approval to use; `Err` holds why what the agent sent is not an approval id (refused
    /// only if the request needs an approval).
    pub approval: Option<Result<ApprovalId, &'static str>>,
    pub agent_confirmed: bool,
    pub wait: Duration,
}

impl ApprovalAsk {
    /// From REST headers: `X-Shellgate-Approval`, `X-Shellgate-Approved: true`, and
    /// `X-Shellgate-Wait: N` or `Prefer: wait=N` (capped at `max_wait`).
    pub fn from_headers(req: &HttpRequest, max_wait: Duration) -> Self {
        let approval = req.headers().get(APPROVAL_HEADER).map(|id| {
            id.to_str()
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .ok_or("X-Shellgate-Approval is not an approval id")
        });
        let agent_confirmed = req
            .headers()
            .get(APPROVED_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        Self {
            approval,
            agent_confirmed,
            wait: requested_wait(req, max_wait),
        }
    }
}

/// A request body the gate may need whole (to read a query, or to bind an approval).
pub trait ReadBody {
    /// The whole body; more than `max` bytes is `too_large(max)`.
    fn read_all(
        &mut self,
        max: usize,
        too_large: fn(usize) -> ApiError,
    ) -> impl Future<Output = Result<Bytes, ApiError>>;
}

impl ReadBody for web::Payload {
    fn read_all(
        &mut self,
        max: usize,
        too_large: fn(usize) -> ApiError,
    ) -> impl Future<Output = Result<Bytes, ApiError>> {
        read_bounded(self, max, too_large)
    }
}

/// A body already in memory (an MCP tool's arguments).
impl ReadBody for Bytes {
    fn read_all(
        &mut self,
        max: usize,
        too_large: fn(usize) -> ApiError,
    ) -> impl Future<Output = Result<Bytes, ApiError>> {
        let body = self.clone();
        async move {
            if body.len() > max {
                Err(too_large(max))
            } else {
                Ok(body)
            }
        }
    }
}

/// Reads the whole body, refusing more than `max` bytes with `too_large`.
pub(crate) async fn read_bounded(
    payload: &mut web::Payload,
    max: usize,
    too_large: fn(usize) -> ApiError,
) -> Result<Bytes, ApiError> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiError::BadRequest(Code::BadBody, "the request body could not be read"))?;
        if buf.len() + chunk.len() > max {
            return Err(too_large(max));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// `X-Shellgate-Wait: N` or `Prefer: wait=N`, capped.
fn requested_wait(req: &HttpRequest, max: Duration) -> Duration {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let secs = header(WAIT_HEADER).and_then(|v| v.parse::<u64>().ok()).or_else(|| {
        header("prefer")?.split([',', ';']).find_map(|p| {
            p.trim()
                .strip_prefix("wait=")
                .and_then(|v| v.trim().parse::<u64>().ok())
        })
    });
    secs.map_or(Duration::ZERO, |s| Duration::from_secs(s).min(max))
}

/// Puts the verdict in the audit record's detail and counts it.
pub fn record(ctx: &GatewayContext, kind: TargetKind, detail: &mut serde_json::Value, decision: &Decision) {
    let verdict = json!({
        "verdict": decision.verdict.as_str(),
        "rule": decision.rule,
        "reason": decision.reason,
        "matched": decision.matched,
    });
    match detail {
        serde_json::Value::Object(map) => {
            if let serde_json::Value::Object(v) = verdict {
                map.extend(v);
            }
        }
        other => *other = verdict,
    }
    ctx.metrics
        .gateway
        .guard_verdicts
        .get_or_create(&VerdictLabels {
            kind: kind.as_str().into(),
            verdict: decision.verdict.as_str().into(),
            rule: decision.rule.clone().unwrap_or_else(|| "none".into()),
        })
        .inc();
}

/// Runs the guard on an agent HTTP request and applies its verdict.
pub async fn gate_http(
    ctx: &GatewayContext,
    ask: &ApprovalAsk,
    payload: &mut impl ReadBody,
    principal: &Principal,
    grant: &Grant,
    open: &HttpExecRequest,
    detail: &mut serde_json::Value,
) -> Result<Gate, ApiError> {
    let query_api = grant.query_api.map(QueryApi::from);
    // The forwarded headers: exactly what the executor's re-check will see.
    let (raw_path, headers) = (open.path.as_str(), open.headers.as_slice());
    // Query APIs: the guard reads the query in the body, so the body is read first.
    let mut body = match query_api {
        Some(_) => Some(
            payload
                .read_all(ctx.approval_max_body_bytes, ApiError::ApprovalBodyTooLarge)
                .await?,
        ),
        None => None,
    };
    let view = HttpRequestView {
        method: &open.method,
        path: raw_path,
        query: open.query.as_deref(),
        headers,
        body: body.as_deref(),
        query_api,
    };
    let guard = ctx
        .guard_cache
        .for_target(&ctx.db, grant.target_id)
        .await
        .map_err(|_| ApiError::Unavailable(Code::GuardUnavailable))?;
    let decision = guard.check_http(&view);
    record(ctx, TargetKind::Http, detail, &decision);
    match decision.verdict {
        Verdict::Allow => {
            return Ok(Gate::Proceed {
                body,
                approval_id: None,
                agent_confirmed: false,
            });
        }
        Verdict::Reject => return Err(ApiError::BadRequest(Code::UnsafePath, "the path is not allowed")),
        // Nothing — no header, approval or token setting — makes a blocked request run.
        Verdict::Block => return Err(ApiError::Blocked(decision.reason)),
        Verdict::Approve => {}
    }
    // An approval binds the exact request, body included.
    let body = match body.take() {
        Some(b) => b,
        None => {
            payload
                .read_all(ctx.approval_max_body_bytes, ApiError::ApprovalBodyTooLarge)
                .await?
        }
    };
    let (request, hash) = canonical_http(
        grant.binding(),
        &open.method,
        raw_path,
        open.query.as_deref(),
        headers,
        &body,
    );
    let bound = Bound {
        kind: TargetKind::Http,
        request,
        hash,
        excerpt: shellgate_shared::approval::excerpt(&body),
    };
    Ok(
        match approve(ctx, ask, principal, grant, &decision, bound, detail).await? {
            Approved::Run {
                approval_id,
                agent_confirmed,
            } => Gate::Proceed {
                body: Some(body),
                approval_id,
                agent_confirmed,
            },
            Approved::Held(approval) => Gate::Held { approval },
        },
    )
}

/// The request an approval binds: its kind, canonical form and that form's hash.
pub struct Bound {
    pub kind: TargetKind,
    pub request: serde_json::Value,
    pub hash: String,
    /// The beginning of the body or stdin, for the humans deciding (not bound: the hash is).
    pub excerpt: Option<String>,
}

/// How an `approve` verdict was settled.
pub enum Approved {
    /// It runs: with an approval consumed for it, or on the agent's confirmation.
    Run {
        approval_id: Option<ApprovalId>,
        agent_confirmed: bool,
    },
    /// A human must decide first (an approval was created, or is still pending).
    Held(Box<ApprovalView>),
}

/// Settles an `approve` verdict: an approval named by `X-Shellgate-Approval` is consumed (it
/// must be for this token, this target at its current address, and exactly this request), an `agent_confirm` token may confirm
/// itself, anything else creates an approval (and waits for it when the agent asked to).
pub async fn approve(
    ctx: &GatewayContext,
    ask: &ApprovalAsk,
    principal: &Principal,
    grant: &Grant,
    decision: &Decision,
    bound: Bound,
    detail: &mut serde_json::Value,
) -> Result<Approved, ApiError> {
    let Bound {
        kind,
        request,
        hash,
        excerpt,
    } = bound;
    let token_id = principal.token_id();
    if let Some(id) = &ask.approval {
        let id = (*id).map_err(|message| ApiError::BadRequest(Code::InvalidApprovalId, message))?;
        let used = consume(ctx, id, token_id, grant.target_id, &hash).await?;
        detail["approvalId"] = json!(used.id);
        return Ok(Approved::Run {
            approval_id: Some(used.id),
            agent_confirmed: false,
        });
    }
    if ask.agent_confirmed {
        if principal.token.approval_policy == ApprovalPolicy::AgentConfirm {
            detail["approvedBy"] = json!("agent_confirm");
            return Ok(Approved::Run {
                approval_id: None,
                agent_confirmed: true,
            });
        }
        // The seed's self-approval header means nothing under the default policy; noted.
        detail["ignoredAgentApproval"] = json!(true);
    }
    let ruling = Ruling {
        rule: decision.rule.clone(),
        reason: decision.reason.clone(),
        matched: decision.matched.clone(),
    };
    let bound = Bound {
        kind,
        request,
        hash: hash.clone(),
        excerpt,
    };
    let approval = create_approval(ctx, token_id, grant.target_id, bound, ruling).await?;
    detail["approvalId"] = json!(approval.id);
    if !ask.wait.is_zero() {
        let decided = wait_for_decision(ctx, approval.id, token_id, ask.wait).await?;
        if decided.status == ApprovalStatus::Approved {
            consume(ctx, approval.id, token_id, grant.target_id, &hash).await?;
            return Ok(Approved::Run {
                approval_id: Some(approval.id),
                agent_confirmed: false,
            });
        }
        if decided.status == ApprovalStatus::Denied {
            return Err(crate::approvals::denied(decided.comment.as_deref()));
        }
        return Ok(Approved::Held(Box::new(decided)));
    }
    Ok(Approved::Held(Box::new(approval)))
}

/// The 202 for a request that waits for a human (the seed's shape plus the approval's id,
/// expiry and where to poll).
pub(crate) fn held(approval: &ApprovalView, request_id: RequestId) -> HttpResponse {
    let expires_at = approval
        .expires_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    HttpResponse::Accepted()
        .insert_header((REQUEST_ID_HEADER, request_id.to_string()))
        .json(serde_json::json!({
            "status": "approval_required",
            "reason": approval.reason,
            "matched": approval.matched,
            "rule": approval.rule,
            "request": approval.request,
            "approval_id": approval.id,
            "expires_at": expires_at,
            "poll_url": format!("/approvals/{}", approval.id),
        }))
}
