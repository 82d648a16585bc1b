//! The table of MCP tools. A tool is a module under `tools/` exporting a [`ToolDef`]: its name,
//! description and JSON input schema (precise enough for a model to call it right: enums,
//! required fields, an example), who may use it, and the call. Adding one is that module and a
//! line in [`TOOLS`].
//!
//! Tool failures are results with `isError: true`, a stable `error` code and a message (the model
//! reads them) — arguments of the wrong shape too (`invalid_arguments`; a tool returns them as
//! `ErrorData::invalid_params`, turned into that result in one place, [`call`]). An unknown tool
//! is a JSON-RPC error. A tool the caller may not use is absent from `tools/list` and refused like
//! an unknown one.

mod api_download;
mod api_request;
mod approval_status;
mod bootstrap;
mod ssh_exec;

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use rmcp::ErrorData;
use rmcp::model::{CallToolResult, ErrorCode, JsonObject, Tool, ToolAnnotations};
use serde::de::DeserializeOwned;
use serde_json::json;
use shellgate_shared::approval::ApprovalView;
use shellgate_shared::states::AuditKind;

use super::Caller;
use crate::audit::AuditDraft;
use crate::context::GatewayContext;
use crate::error::ApiError;
use crate::gate::ApprovalAsk;

/// What a tool's call gets: the shared context, the caller and its arguments.
pub(super) type ToolFuture<'a> = BoxFuture<'a, Result<CallToolResult, ErrorData>>;

pub(super) struct ToolDef {
    pub name: &'static str,
    pub description: &'static str,
    /// The JSON schema of the arguments (an object schema).
    pub input_schema: fn() -> serde_json::Value,
    /// Reads only (no side effects): clients may call it without asking the user.
    pub read_only: bool,
    /// Whether this caller may see and call it.
    pub allowed: fn(&Caller) -> bool,
    pub call: for<'a> fn(&'a Arc<GatewayContext>, &'a Caller, JsonObject) -> ToolFuture<'a>,
}

/// Every tool, in the order `tools/list` shows them.
static TOOLS: &[&ToolDef] = &[
    &bootstrap::BOOTSTRAP,
    &bootstrap::DISCOVER,
    &api_request::API_REQUEST,
    &api_download::API_DOWNLOAD,
    &ssh_exec::SSH_EXEC,
    &approval_status::APPROVAL_STATUS,
];

/// Longest wait for a human any MCP call may ask for: clients time tools out (Codex after 60 s)
/// and balancers cut idle requests; longer waits are repeated `approval_status` calls.
pub(super) const MAX_WAIT: Duration = Duration::from_secs(50);

fn definition(t: &ToolDef) -> Tool {
    let schema = match (t.input_schema)() {
        serde_json::Value::Object(map) => map,
        _ => JsonObject::new(),
    };
    Tool::new(t.name, t.description, Arc::new(schema)).with_annotations(ToolAnnotations::new().read_only(t.read_only))
}

/// The tools this caller may use.
pub(super) fn listed(caller: &Caller) -> Vec<Tool> {
    TOOLS
        .iter()
        .filter(|t| (t.allowed)(caller))
        .map(|t| definition(t))
        .collect()
}

/// Calls a tool by name; one the caller may not use is as unknown as one that does not exist.
pub(super) async fn call(
    ctx: &Arc<GatewayContext>,
    caller: &Caller,
    name: &str,
    args: JsonObject,
) -> Result<CallToolResult, ErrorData> {
    let tool = TOOLS
        .iter()
        .find(|t| t.name == name && (t.allowed)(caller))
        .ok_or_else(|| ErrorData::invalid_params(format!("unknown tool: {}", printable(name)), None))?;
    match (tool.call)(ctx, caller, args).await {
        // Arguments of the wrong shape are the model's to correct: a tool error it reads (as the
        // protocol asks since 2025-11-25), not a protocol error its client may hide from it.
        Err(e) if e.code == ErrorCode::INVALID_PARAMS => Ok(CallToolResult::structured_error(
            json!({"error": "invalid_arguments", "message": e.message}),
        )),
        other => other,
    }
}

/// A name an agent sent, safe to echo in an error (bounded, no control characters).
fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(64).collect()
}

/// The arguments as `T`; a wrong shape is an `invalid_arguments` tool error naming what is wrong.
pub(super) fn arguments<T: DeserializeOwned>(args: JsonObject) -> Result<T, ErrorData> {
    serde_json::from_value(serde_json::Value::Object(args))
        .map_err(|e| ErrorData::invalid_params(format!("arguments: {e}"), None))
}

/// A refusal or failure the model should read: `isError: true`, with the stable code and the
/// message (both as text and as structured content).
pub(super) fn failure(e: &ApiError) -> CallToolResult {
    CallToolResult::structured_error(json!({"error": e.code_str(), "message": e.to_string()}))
}

/// A request held for a human: a normal result telling the model what to do next.
pub(super) fn held(approval: &ApprovalView, tool: &str) -> CallToolResult {
    let expires_at = approval
        .expires_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    CallToolResult::structured(json!({
        "status": "approval_required",
        "approval_id": approval.id,
        "reason": approval.reason,
        "rule": approval.rule,
        "matched": approval.matched,
        "expires_at": expires_at,
        "next_action": format!(
            "A human must approve this first. Tell the user what you asked for and why. Then call \
             approval_status with {{\"approval_id\": \"{id}\", \"wait_seconds\": 50}} until its status is \
             approved (denied or expired: stop), and call {tool} again with exactly the same arguments \
             plus \"approval_id\": \"{id}\". It runs once.",
            id = approval.id
        ),
    }))
}

/// What a call says about approvals (`approval_id`, `approved`, `wait_seconds`), as REST headers do.
pub(super) fn approval_ask(
    ctx: &GatewayContext,
    approval_id: Option<&str>,
    approved: Option<bool>,
    wait_seconds: Option<u64>,
) -> ApprovalAsk {
    ApprovalAsk {
        approval: approval_id.map(|id| id.trim().parse().map_err(|_| "approval_id is not an approval id")),
        agent_confirmed: approved == Some(true),
        wait: capped_wait(ctx, wait_seconds),
    }
}

/// `wait_seconds`, capped by the MCP limit and the gateway's.
pub(super) fn capped_wait(ctx: &GatewayContext, wait_seconds: Option<u64>) -> Duration {
    Duration::from_secs(wait_seconds.unwrap_or(0))
        .min(MAX_WAIT)
        .min(ctx.max_approval_wait)
}

/// The audit draft of a tool call: like its REST twin's, marked `via: "mcp"` with the tool name.
pub(super) fn audit_draft(
    ctx: &Arc<GatewayContext>,
    caller: &Caller,
    tool: &str,
    kind: AuditKind,
    method: Option<String>,
    path: Option<String>,
) -> AuditDraft {
    let mut draft = AuditDraft::start(
        ctx.clone(),
        caller.request_id,
        kind,
        method,
        path,
        caller.client_ip.clone(),
    );
    draft.event.detail = json!({"via": "mcp", "tool": tool});
    draft
}
