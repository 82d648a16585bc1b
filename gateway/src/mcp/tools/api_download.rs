//! `api_download`: a file from an API target (a GET, taking the REST path like `api_request`),
//! returned as MCP content a model can use: images (PNG, JPEG, GIF, WebP) as image content,
//! anything else as an embedded resource (text when it is text, base64 otherwise). Capped at
//! `maxBytes` (default 5 MiB, at most 20 MiB): a larger file is refused, never cut.

use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use rmcp::ErrorData;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, ResourceContents};
use serde::Deserialize;
use serde_json::{Value, json};
use shellgate_shared::states::Capability;

use super::api_request::{Fetched, fetch};
use super::{ToolDef, approval_ask, arguments};
use crate::context::GatewayContext;
use crate::http::KnownRequest;
use crate::mcp::Caller;

const DEFAULT_MAX: usize = 5 * 1024 * 1024;
const LIMIT: usize = 20 * 1024 * 1024;
const IMAGES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

const DESCRIPTION: &str = "Download a file from an API target through Shellgate (a GET with the target's \
credentials added). Images (PNG, JPEG, GIF, WebP) come back as images you can look at; other files as an \
embedded resource (text, or base64 for binary files). Files over maxBytes (default 5 MiB, at most 20 MiB) \
are refused. Example: {\"target\": \"github\", \"path\": \"/repos/acme/app/contents/logo.png\"}";

fn input_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "target": {"type": "string", "description": "The target's slug, from bootstrap."},
            "path": {"type": "string", "description": "Path under the target's base URL, starting with /; may include ?query."},
            "maxBytes": {"type": "integer", "minimum": 1, "maximum": LIMIT}
        },
        "required": ["target", "path"],
        "additionalProperties": false
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    target: String,
    path: String,
    #[serde(default, rename = "maxBytes")]
    max_bytes: Option<usize>,
}

pub(in crate::mcp) static API_DOWNLOAD: ToolDef = ToolDef {
    name: "api_download",
    description: DESCRIPTION,
    input_schema,
    read_only: true,
    allowed: |caller| caller.principal.has(Capability::Http),
    call: |ctx, caller, args| Box::pin(call(ctx, caller, args)),
};

async fn call(ctx: &Arc<GatewayContext>, caller: &Caller, args: JsonObject) -> Result<CallToolResult, ErrorData> {
    let args: Args = arguments(args)?;
    if !args.path.starts_with('/') {
        return Err(ErrorData::invalid_params("path must start with /", None));
    }
    let max = args.max_bytes.unwrap_or(DEFAULT_MAX).clamp(1, LIMIT);
    let (path, query) = match args.path.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string()).filter(|q| !q.is_empty())),
        None => (args.path.clone(), None),
    };
    let request = KnownRequest {
        slug: args.target.clone(),
        method: "GET".into(),
        path,
        query,
        headers: Vec::new(),
        body: Bytes::new(),
    };
    // One byte past the cap tells a file that fits from one that does not.
    let (head, body, truncated) = match fetch(
        ctx,
        caller,
        "api_download",
        request,
        &approval_ask(ctx, None, None, None),
        max + 1,
    )
    .await
    {
        Fetched::Answer(head, body, truncated) => (head, body, truncated),
        Fetched::Done(result) => return Ok(result),
    };
    if !(200..300).contains(&head.status) {
        return Ok(CallToolResult::structured_error(json!({
            "error": "download_failed",
            "status": head.status,
            "message": format!("the target answered {} instead of the file", head.status),
        })));
    }
    if truncated || body.len() > max {
        return Ok(CallToolResult::structured_error(json!({
            "error": "download_too_large",
            "message": format!("the file is larger than maxBytes ({max} bytes)"),
        })));
    }
    let mime = head
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "application/octet-stream".into());
    let b64 = || base64::engine::general_purpose::STANDARD.encode(&body);
    let content = if IMAGES.contains(&mime.as_str()) {
        ContentBlock::image(b64(), mime)
    } else {
        let uri = format!("shellgate://{}{}", args.target, args.path);
        let contents = match std::str::from_utf8(&body) {
            Ok(text) if is_text(&mime) => ResourceContents::text(text, uri),
            _ => ResourceContents::blob(b64(), uri),
        };
        ContentBlock::resource(contents.with_mime_type(mime))
    };
    Ok(CallToolResult::success(vec![content]))
}

fn is_text(mime: &str) -> bool {
    mime.starts_with("text/")
        || mime.ends_with("json")
        || mime.ends_with("xml")
        || mime.ends_with("+json")
        || mime.ends_with("yaml")
        || mime == "application/javascript"
}
