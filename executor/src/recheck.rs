//! Defence in depth: an executor judges every request again with the same guard. A `block`
//! never runs, and an `approve` runs only with an approval that was consumed for exactly this
//! token and request (or on the agent's confirmation where the token's policy allows it) — so a
//! compromised or buggy gateway cannot make a dangerous request run.

use bytes::Bytes;
use shellgate_shared::approval::canonical_http;
use shellgate_shared::bus::messages::{BodyMode, HttpExecRequest, StreamFailure};
use shellgate_shared::db::queries;
use shellgate_shared::guard::{HttpRequestView, QueryApi, Verdict};

use crate::context::ExecutorContext;

fn refuse(status: u16, code: &str, message: &str) -> StreamFailure {
    StreamFailure::new(status, code, message)
}

pub async fn recheck_http(
    ctx: &ExecutorContext,
    req: &HttpExecRequest,
    inline: &Bytes,
    query_api: Option<&str>,
) -> Result<(), StreamFailure> {
    let query_api = match query_api {
        Some("sql") => Some(QueryApi::Sql),
        Some("graphql") => Some(QueryApi::GraphQl),
        _ => None,
    };
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
        .guards
        .for_target(&ctx.db, req.target_id)
        .await
        .map_err(|_| refuse(503, "guard_unavailable", "the executor cannot load the guard rules"))?;
    let decision = guard.check_http(&view);
    match decision.verdict {
        Verdict::Allow => Ok(()),
        Verdict::Reject => Err(refuse(400, "unsafe_path", "the path is not allowed")),
        Verdict::Block => {
            tracing::warn!(rule = ?decision.rule, "executor refused a blocked request");
            Err(refuse(403, "blocked", &decision.reason))
        }
        Verdict::Approve => approved(ctx, req, body).await,
    }
}

async fn approved(ctx: &ExecutorContext, req: &HttpExecRequest, body: Option<&[u8]>) -> Result<(), StreamFailure> {
    let missing = || {
        tracing::warn!(request_id = %req.request_id, "executor refused an unapproved request");
        refuse(403, "approval_required", "this request needs a human's approval")
    };
    let unavailable = |_| refuse(503, "executor_db_unavailable", "the executor cannot reach its database");
    let Some(body) = body else {
        // Approved requests always travel inline (their body is bound by its hash).
        return Err(missing());
    };
    let mut conn = ctx
        .db
        .get()
        .await
        .map_err(|_| refuse(503, "executor_db_unavailable", "database unavailable"))?;
    if let Some(id) = req.approval_id {
        let approval = queries::approvals::find_approval(&mut conn, id)
            .await
            .map_err(unavailable)?;
        let (_, hash) = canonical_http(&req.method, &req.path, req.query.as_deref(), body);
        return match approval {
            // Consumed for this token and request, and just now (a replayed open message with an
            // old approval id is refused too).
            Some(a)
                if a.status == "used"
                    && a.token_id == req.token_id
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
        if token.is_some_and(|t| t.approval_policy == "agent_confirm") {
            return Ok(());
        }
    }
    Err(missing())
}
