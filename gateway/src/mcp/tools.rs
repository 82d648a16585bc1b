//! The table of MCP tools. A tool is a module under `tools/` exporting a [`ToolDef`]: its name,
//! description and JSON input schema (precise enough for a model to call it right: enums,
//! required fields, an example), who may use it, and the call. Adding one is that module and a
//! line in [`TOOLS`].
//!
//! Tool failures are results with `isError: true`, a stable `error` code and a message (the model
//! reads them); protocol errors (an unknown tool, arguments of the wrong shape) are JSON-RPC
//! errors. A tool the caller may not use is absent from `tools/list` and refused like an unknown one.

mod bootstrap;

use std::sync::Arc;

use futures_util::future::BoxFuture;
use rmcp::ErrorData;
use rmcp::model::{CallToolResult, JsonObject, Tool, ToolAnnotations};

use super::Caller;
use crate::context::GatewayContext;

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
static TOOLS: &[&ToolDef] = &[&bootstrap::BOOTSTRAP, &bootstrap::DISCOVER];

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
    (tool.call)(ctx, caller, args).await
}

/// A name an agent sent, safe to echo in an error (bounded, no control characters).
fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(64).collect()
}
