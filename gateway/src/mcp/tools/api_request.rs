//! `api_request`: one HTTP request to a target, taking exactly the REST path (`/gateway/<slug>`):
//! path safety, admission, the guard and approvals, an executor with the credential injected and
//! the answer scrubbed, one audit record. The body is given whole; the answer comes back whole,
//! up to `SHELLGATE_MCP_MAX_RESPONSE_BYTES` (then cut and marked `truncated`).

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use rmcp::ErrorData;
use rmcp::model::{CallToolResult, JsonObject};
use serde::Deserialize;
use serde_json::{Value, json};
use shellgate_shared::audit::Outcome;
use shellgate_shared::bus::messages::ResponseHead;
use shellgate_shared::states::{AuditKind, Capability};

use super::{ToolDef, approval_ask, arguments, audit_draft, failure, held};
use crate::context::GatewayContext;
use crate::gate::ApprovalAsk;
use crate::http::{KnownRequest, Sent, read_answer, send_known};
use crate::mcp::Caller;

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

const DESCRIPTION: &str = "Send one HTTP request to an API target through Shellgate. Shellgate adds the \
target's credentials (never send any) and returns {status, headers, body}: body is parsed JSON when the \
answer is JSON, text when it is UTF-8, otherwise base64 (bodyEncoding: \"base64\"); a body longer than the \
limit is cut and marked truncated. If the answer is {status: \"approval_required\"}, follow its \
next_action. Example: {\"target\": \"github\", \"method\": \"GET\", \"path\": \"/repos/acme/app/issues\", \
\"query\": {\"state\": \"open\"}}";

fn input_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "target": {"type": "string", "description": "The target's slug, from bootstrap."},
            "method": {"type": "string", "enum": METHODS},
            "path": {"type": "string", "description": "Path under the target's base URL, starting with /, e.g. /v1/items/42."},
            "query": {
                "description": "Query parameters: an object of names to values, or a query string without '?'.",
                "oneOf": [
                    {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
                    {"type": "string"}
                ]
            },
            "headers": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Extra request headers (credentials are added by Shellgate)."},
            "body": {"description": "A string (text, or base64 with bodyEncoding \"base64\") or a JSON value (sent as compact JSON with sorted keys and Content-Type: application/json unless given)."},
            "bodyEncoding": {"type": "string", "enum": ["utf-8", "base64"]},
            "approval_id": {"type": "string", "description": "After a human approved this exact request: the approval_id from approval_required."},
            "wait_seconds": {"type": "integer", "minimum": 0, "maximum": 50, "description": "If the request needs approval, wait this long for a human before answering."},
            "approved": {"type": "boolean", "description": "Only for tokens whose approval policy is agent_confirm: the user confirmed this exact action."}
        },
        "required": ["target", "method", "path"],
        "additionalProperties": false
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    target: String,
    method: String,
    path: String,
    #[serde(default)]
    query: Option<Value>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: Option<Value>,
    #[serde(default, rename = "bodyEncoding")]
    body_encoding: Option<String>,
    #[serde(default)]
    approval_id: Option<String>,
    #[serde(default)]
    wait_seconds: Option<u64>,
    #[serde(default)]
    approved: Option<bool>,
}

pub(in crate::mcp) static API_REQUEST: ToolDef = ToolDef {
    name: "api_request",
    description: DESCRIPTION,
    input_schema,
    read_only: false,
    allowed: |caller| caller.principal.has(Capability::Http),
    call: |ctx, caller, args| Box::pin(call(ctx, caller, args)),
};

async fn call(ctx: &Arc<GatewayContext>, caller: &Caller, args: JsonObject) -> Result<CallToolResult, ErrorData> {
    let args: Args = arguments(args)?;
    let method = args.method.to_ascii_uppercase();
    if !METHODS.contains(&method.as_str()) {
        return Err(ErrorData::invalid_params(
            format!("method must be one of {}", METHODS.join(", ")),
            None,
        ));
    }
    if !(args.path.is_empty() || args.path.starts_with('/')) {
        return Err(ErrorData::invalid_params("path must start with /", None));
    }
    let query = query_string(args.query.as_ref())?;
    let mut headers: Vec<(String, String)> = args.headers.into_iter().collect();
    let body = body_bytes(args.body.as_ref(), args.body_encoding.as_deref(), &mut headers)?;
    let ask = approval_ask(ctx, args.approval_id.as_deref(), args.approved, args.wait_seconds);
    let request = KnownRequest {
        slug: args.target,
        method: method.clone(),
        path: args.path,
        query,
        headers,
        body,
    };
    Ok(
        match fetch(ctx, caller, "api_request", request, &ask, ctx.mcp_max_response_bytes).await {
            Fetched::Answer(head, body, truncated) => {
                CallToolResult::structured(response_json(&method, &head, &body, truncated))
            }
            Fetched::Done(result) => result,
        },
    )
}

/// How an HTTP tool call went: the upstream's answer, or already a result (held, refused,
/// failed), its audit record written either way.
pub(in crate::mcp) enum Fetched {
    /// Head, body (at most `max` bytes), and whether it was cut there.
    Answer(ResponseHead, Bytes, bool),
    Done(CallToolResult),
}

/// Sends an HTTP tool call's request the REST way and reads the answer whole up to `max` bytes.
pub(in crate::mcp) async fn fetch(
    ctx: &Arc<GatewayContext>,
    caller: &Caller,
    tool: &str,
    request: KnownRequest,
    ask: &ApprovalAsk,
    max: usize,
) -> Fetched {
    let shown_path = match &request.query {
        Some(q) => format!("/gateway/{}{}?{q}", request.slug, request.path),
        None => format!("/gateway/{}{}", request.slug, request.path),
    };
    let mut draft = audit_draft(
        ctx,
        caller,
        tool,
        AuditKind::Http,
        Some(request.method.clone()),
        Some(shown_path),
    );
    let answer = match send_known(ctx, &caller.principal, request, ask, &mut draft, caller.request_id).await {
        Ok(Sent::Answer(answer)) => answer,
        Ok(Sent::Held(approval)) => {
            draft.finish(Outcome::ApprovalRequired, 202, None);
            return Fetched::Done(held(&approval, tool));
        }
        Err(e) => {
            draft.fail(&e);
            return Fetched::Done(failure(&e));
        }
    };
    match read_answer(answer, max).await {
        Ok((head, body, truncated)) => {
            draft.event.bytes_out = body.len() as u64;
            draft.finish(Outcome::Allowed, head.status, None);
            Fetched::Answer(head, body, truncated)
        }
        Err(e) => {
            draft.fail(&e);
            Fetched::Done(failure(&e))
        }
    }
}

/// The query as sent: a string as given, an object encoded (keys sorted, so a re-call with the
/// same arguments is the same request and matches its approval).
fn query_string(query: Option<&Value>) -> Result<Option<String>, ErrorData> {
    let object = match query {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => {
            return Ok(Some(s.strip_prefix('?').unwrap_or(s).to_string()).filter(|s| !s.is_empty()));
        }
        Some(Value::Object(o)) => o,
        Some(_) => return Err(ErrorData::invalid_params("query must be an object or a string", None)),
    };
    let sorted: BTreeMap<&String, &Value> = object.iter().collect();
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in sorted {
        let v = match v {
            Value::String(s) => s.clone(),
            Value::Number(_) | Value::Bool(_) => v.to_string(),
            _ => {
                return Err(ErrorData::invalid_params(
                    format!("query value of {k:?} must be a string, number or boolean"),
                    None,
                ));
            }
        };
        out.append_pair(k, &v);
    }
    Ok(Some(out.finish()).filter(|s| !s.is_empty()))
}

/// The body bytes: a string as text (or base64), any other JSON value as canonical JSON.
fn body_bytes(
    body: Option<&Value>,
    encoding: Option<&str>,
    headers: &mut Vec<(String, String)>,
) -> Result<Bytes, ErrorData> {
    match (body, encoding) {
        (None | Some(Value::Null), _) => Ok(Bytes::new()),
        (Some(Value::String(s)), Some("base64")) => base64::engine::general_purpose::STANDARD
            .decode(s)
            .map(Bytes::from)
            .map_err(|_| ErrorData::invalid_params("body is not valid base64", None)),
        (Some(Value::String(s)), None | Some("utf-8")) => Ok(Bytes::from(s.clone())),
        (Some(_), Some("base64")) => Err(ErrorData::invalid_params("a base64 body must be a string", None)),
        (Some(_), Some(other)) if other != "utf-8" => Err(ErrorData::invalid_params(
            "bodyEncoding must be \"utf-8\" or \"base64\"",
            None,
        )),
        (Some(v), _) => {
            if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
                headers.push(("content-type".into(), "application/json".into()));
            }
            Ok(Bytes::from(canonical(v).to_string()))
        }
    }
}

/// `v` with every object's keys in sorted order (serialised compact: deterministic bytes).
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            let sorted: BTreeMap<&String, &Value> = o.iter().collect();
            Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), canonical(v))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// `{status, headers, body[, bodyEncoding][, truncated]}`.
fn response_json(method: &str, head: &ResponseHead, body: &[u8], truncated: bool) -> Value {
    let mut headers = serde_json::Map::new();
    for (k, v) in &head.headers {
        match headers.get_mut(k) {
            Some(Value::String(prev)) => {
                prev.push_str(", ");
                prev.push_str(v);
            }
            _ => {
                headers.insert(k.clone(), Value::String(v.clone()));
            }
        }
    }
    let is_json = head
        .headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("content-type") && v.to_ascii_lowercase().contains("json"));
    let mut out = json!({"status": head.status, "headers": headers});
    if method == "HEAD" && body.is_empty() {
        out["body"] = Value::Null;
    } else if let Some(parsed) = is_json
        .then(|| serde_json::from_slice::<Value>(body).ok())
        .flatten()
        .filter(|_| !truncated)
    {
        out["body"] = parsed;
    } else if let Ok(text) = std::str::from_utf8(body) {
        out["body"] = Value::String(text.to_string());
    } else {
        out["body"] = Value::String(base64::engine::general_purpose::STANDARD.encode(body));
        out["bodyEncoding"] = json!("base64");
    }
    if truncated {
        out["truncated"] = json!(true);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_bodies_and_queries_are_deterministic() {
        let mut h = Vec::new();
        let a = body_bytes(
            Some(&json!({"b": 1, "a": {"d": [2, {"z": 0, "y": 1}], "c": "x"}})),
            None,
            &mut h,
        )
        .unwrap();
        assert_eq!(&a[..], br#"{"a":{"c":"x","d":[2,{"y":1,"z":0}]},"b":1}"#);
        assert_eq!(h, [("content-type".to_string(), "application/json".to_string())]);
        let q = query_string(Some(&json!({"z": "1 2", "a": true, "m": 3}))).unwrap();
        assert_eq!(q.as_deref(), Some("a=true&m=3&z=1+2"));
        assert_eq!(query_string(Some(&json!("?x=1"))).unwrap().as_deref(), Some("x=1"));
        assert!(query_string(Some(&json!({"a": [1]}))).is_err());
        assert!(body_bytes(Some(&json!("!!")), Some("base64"), &mut h).is_err());
    }
}
