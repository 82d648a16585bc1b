//! `ssh_exec`: one command on a server target, taking exactly the REST path (`POST
//! /ssh/<slug>/exec`): admission, the same body validation, the guard and approvals, an executor
//! over a pooled connection, one audit record — and the same JSON answer.

use std::collections::BTreeMap;

use rmcp::ErrorData;
use rmcp::model::{CallToolResult, JsonObject};
use serde::Deserialize;
use serde_json::{Value, json};
use shellgate_shared::audit::Outcome;
use shellgate_shared::states::{AuditKind, Capability, TargetKind};

use super::{ToolDef, approval_ask, arguments, audit_draft, failure, held};
use crate::admit::admit_principal;
use crate::mcp::Caller;
use crate::ssh::{Started, collect_output, exec_spec, start};

const DESCRIPTION: &str = "Run one shell command on a server target through Shellgate (in the login \
shell of the target's user; Shellgate holds the SSH key). Returns {exitCode, stdout, stderr, \
stdoutEncoding, stderrEncoding, signal, timedOut, durationMs}. If the answer is {status: \
\"approval_required\"}, follow its next_action. Example: {\"target\": \"web-1\", \"command\": \"systemctl \
status nginx --no-pager\", \"timeout\": 30}";

fn input_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "target": {"type": "string", "description": "The server's slug, from bootstrap."},
            "command": {"type": "string", "description": "The shell command (a script is fine)."},
            "timeout": {"type": "number", "exclusiveMinimum": 0, "description": "Seconds before the command is killed (default 30)."},
            "stdin": {"type": "string", "description": "Text fed to the command's standard input."},
            "env": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Environment variables for the command."},
            "approval_id": {"type": "string", "description": "After a human approved this exact command: the approval_id from approval_required."},
            "wait_seconds": {"type": "integer", "minimum": 0, "maximum": 50, "description": "If the command needs approval, wait this long for a human before answering."},
            "approved": {"type": "boolean", "description": "Only for tokens whose approval policy is agent_confirm: the user confirmed this exact action."}
        },
        "required": ["target", "command"],
        "additionalProperties": false
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    target: String,
    command: String,
    #[serde(default)]
    timeout: Option<f64>,
    #[serde(default)]
    stdin: Option<String>,
    #[serde(default)]
    env: Option<BTreeMap<String, String>>,
    #[serde(default)]
    approval_id: Option<String>,
    #[serde(default)]
    wait_seconds: Option<u64>,
    #[serde(default)]
    approved: Option<bool>,
}

pub(in crate::mcp) static SSH_EXEC: ToolDef = ToolDef {
    name: "ssh_exec",
    description: DESCRIPTION,
    input_schema,
    read_only: false,
    allowed: |caller| caller.principal.has(Capability::Ssh),
    call: |ctx, caller, args| Box::pin(call(ctx, caller, args)),
};

async fn call(
    ctx: &std::sync::Arc<crate::context::GatewayContext>,
    caller: &Caller,
    args: JsonObject,
) -> Result<CallToolResult, ErrorData> {
    let args: Args = arguments(args)?;
    let mut draft = audit_draft(ctx, caller, "ssh_exec", AuditKind::Ssh, None, None);
    // The REST body, validated by the same code as REST's.
    let mut body = json!({"command": args.command});
    if let Some(t) = args.timeout {
        body["timeout"] = json!(t);
    }
    if let Some(s) = &args.stdin {
        body["stdin"] = json!(s);
    }
    if let Some(e) = &args.env {
        body["env"] = json!(e);
    }
    let ask = approval_ask(ctx, args.approval_id.as_deref(), args.approved, args.wait_seconds);
    let started = async {
        let grant = admit_principal(ctx, &caller.principal, &args.target, TargetKind::Ssh, &mut draft)?;
        let spec = exec_spec(ctx, body.to_string().as_bytes())?;
        start(
            ctx,
            &caller.principal,
            &grant,
            spec,
            &ask,
            &mut draft,
            caller.request_id,
        )
        .await
    }
    .await;
    match started {
        Ok(Started::Held(approval)) => {
            draft.finish(Outcome::ApprovalRequired, 202, None);
            Ok(held(&approval, "ssh_exec"))
        }
        Ok(Started::Running(rx, spec)) => match collect_output(*rx, &spec, draft).await {
            Ok((_, answer)) => Ok(CallToolResult::structured(answer)),
            Err(e) => Ok(failure(&e)),
        },
        Err(e) => {
            draft.fail(&e);
            Ok(failure(&e))
        }
    }
}
