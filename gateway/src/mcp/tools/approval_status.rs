//! `approval_status`: where an approval of this token stands — pending, approved, denied,
//! expired or used — long-polling on NATS like `GET /approvals/<id>?wait=` (at most 50 s a call).

use rmcp::ErrorData;
use rmcp::model::{CallToolResult, JsonObject};
use serde::Deserialize;
use serde_json::{Value, json};
use shellgate_shared::approval::ApprovalStatus;
use shellgate_shared::error::Code;
use shellgate_shared::ids::ApprovalId;

use super::{ToolDef, arguments, capped_wait, failure};
use crate::approvals::wait_for_decision;
use crate::error::ApiError;
use crate::mcp::Caller;

const DESCRIPTION: &str = "Where an approval stands: pending, approved, denied, expired or used. With \
wait_seconds (at most 50) it answers as soon as a human decides, or when the wait is over; call it again \
to wait longer. Once approved, repeat the original call with the same arguments plus approval_id. \
Example: {\"approval_id\": \"0193c4a2-…\", \"wait_seconds\": 50}";

fn input_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "approval_id": {"type": "string", "description": "From an approval_required answer."},
            "wait_seconds": {"type": "integer", "minimum": 0, "maximum": 50}
        },
        "required": ["approval_id"],
        "additionalProperties": false
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    approval_id: String,
    #[serde(default)]
    wait_seconds: Option<u64>,
}

pub(in crate::mcp) static APPROVAL_STATUS: ToolDef = ToolDef {
    name: "approval_status",
    description: DESCRIPTION,
    input_schema,
    read_only: true,
    allowed: |_| true,
    call: |ctx, caller, args| Box::pin(call(ctx, caller, args)),
};

async fn call(
    ctx: &std::sync::Arc<crate::context::GatewayContext>,
    caller: &Caller,
    args: JsonObject,
) -> Result<CallToolResult, ErrorData> {
    let args: Args = arguments(args)?;
    let Ok(id) = args.approval_id.trim().parse::<ApprovalId>() else {
        return Ok(failure(&ApiError::BadRequest(
            Code::InvalidApprovalId,
            "approval_id is not an approval id",
        )));
    };
    let wait = capped_wait(ctx, args.wait_seconds);
    match wait_for_decision(ctx, id, caller.principal.token_id(), wait).await {
        Ok(view) => {
            let next = match view.status {
                ApprovalStatus::Pending => "Still waiting for a human: call approval_status again.",
                ApprovalStatus::Approved => {
                    "Approved: repeat the original call with the same arguments plus this approval_id."
                }
                ApprovalStatus::Denied => "Denied by a human: do not retry; tell the user.",
                ApprovalStatus::Expired => "Nobody decided in time: ask the user before requesting it again.",
                ApprovalStatus::Used => "Already used: an approval runs its request once.",
            };
            let mut value = serde_json::to_value(&view).unwrap_or_default();
            value["next_action"] = json!(next);
            Ok(CallToolResult::structured(value))
        }
        Err(e) => Ok(failure(&e)),
    }
}
