//! `bootstrap` (and `discover`, its alias from the original Shellgate): the policy and the targets
//! the token may use — the same JSON as `GET /bootstrap`.

use rmcp::model::CallToolResult;
use serde_json::json;

use super::ToolDef;
use crate::bootstrap::bootstrap;

const DESCRIPTION: &str = "Call this first. Returns the rules for working through Shellgate and every \
target this token may use: for HTTP APIs their slug (use it as `target` in api_request) and base URL, \
for servers their slug (use it as `target` in ssh_exec), host and user. Takes no arguments. Example: {}";

fn input_schema() -> serde_json::Value {
    json!({"type": "object", "properties": {}, "additionalProperties": false})
}

fn any(_: &super::Caller) -> bool {
    true
}

pub(in crate::mcp) static BOOTSTRAP: ToolDef = ToolDef {
    name: "bootstrap",
    description: DESCRIPTION,
    input_schema,
    read_only: true,
    allowed: any,
    call: |ctx, caller, _args| {
        Box::pin(async move {
            Ok(match bootstrap(ctx, &caller.principal).await {
                Ok(b) => CallToolResult::structured(serde_json::to_value(b).unwrap_or_default()),
                Err(e) => super::failure(&e),
            })
        })
    },
};

pub(in crate::mcp) static DISCOVER: ToolDef = ToolDef {
    name: "discover",
    description: "The same as bootstrap (kept for agents written for the original Shellgate).",
    ..BOOTSTRAP
};
