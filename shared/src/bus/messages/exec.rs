//! Agent requests to executors and what flows back: the open messages (`HttpExecRequest`,
//! `SshExecRequest`) with their length-prefixed JSON framing, and the frames' payload types.

use crate::audit::Outcome;
use crate::error::Code;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

use crate::ids::{ApprovalId, RequestId, TargetId, TokenId};

/// How the request body travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyMode {
    /// The whole body follows the JSON in the open message (small bodies, GETs).
    Inline,
    /// The body follows as `data` frames on the stream, ended by `end`.
    Stream,
}

/// First message of an agent HTTP request, published to `Subjects::exec_http(pool)` with the
/// gateway's stream inbox as reply subject. The executor resolves the target itself: the
/// gateway names it, but never supplies the URL a credential is sent to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpExecRequest {
    pub request_id: RequestId,
    pub token_id: TokenId,
    pub target_id: TargetId,
    pub method: String,
    /// Path after `/gateway/<target>`, as the agent sent it (still percent-encoded).
    pub path: String,
    pub query: Option<String>,
    /// Already filtered by the header policy (the executor filters again).
    pub headers: Vec<(String, String)>,
    pub body: BodyMode,
    /// The agent's Content-Length, kept on the upstream request.
    pub content_length: Option<u64>,
    /// The approval the gateway consumed for this request (the executor checks it again).
    #[serde(default)]
    pub approval_id: Option<ApprovalId>,
    /// The gateway let it run on the agent's own confirmation (`agent_confirm` tokens).
    #[serde(default)]
    pub agent_confirmed: bool,
}

/// First message of an agent SSH command, published to `Subjects::exec_ssh(pool)` with the
/// gateway's stream inbox as reply subject (no inline body: stdin is in the JSON). The executor
/// answers `accepted`, then `head` once the remote command runs (or `error`), `data` frames of
/// output (first byte: [`SSH_STDOUT`] or [`SSH_STDERR`]) and a final `exit`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SshExecRequest {
    pub request_id: RequestId,
    pub token_id: TokenId,
    pub target_id: TargetId,
    /// The command as the agent sent it.
    pub command: String,
    #[serde(default)]
    pub stdin: Option<String>,
    /// Exported by the remote shell before the command runs.
    #[serde(default)]
    pub env: Vec<(String, String)>,
    pub timeout_ms: u64,
    #[serde(default)]
    pub approval_id: Option<ApprovalId>,
    #[serde(default)]
    pub agent_confirmed: bool,
}

/// Tag byte of an SSH output `data` frame carrying stdout.
pub const SSH_STDOUT: u8 = 1;
/// Tag byte of an SSH output `data` frame carrying stderr.
pub const SSH_STDERR: u8 = 2;

/// How a remote command ended: the last frame of an SSH stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SshExit {
    /// The exit status; for a command killed by a signal, 128 + the signal's number (never 0).
    pub exit_code: Option<u32>,
    /// The signal that killed the command (`KILL`, `TERM`, …), if one did.
    pub signal: Option<String>,
    pub core_dumped: bool,
    /// The command outlived its timeout and was killed.
    pub timed_out: bool,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    /// Output the command produced (including what passed the cap).
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
    pub duration_ms: u64,
    /// The connection the command ran on was reused (not opened for it).
    pub reused_connection: bool,
}

/// `u32` big-endian JSON length, the JSON, then the inline body (if any).
pub fn encode_open<T: Serialize>(req: &T, inline_body: &[u8]) -> Result<Bytes, serde_json::Error> {
    let json = serde_json::to_vec(req)?;
    let mut buf = BytesMut::with_capacity(4 + json.len() + inline_body.len());
    buf.put_u32(u32::try_from(json.len()).unwrap_or(u32::MAX));
    buf.put_slice(&json);
    buf.put_slice(inline_body);
    Ok(buf.freeze())
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("message too short")]
    Short,
    #[error("bad JSON: {0}")]
    Json(#[from] serde_json::Error),
}

pub fn decode_open<T: serde::de::DeserializeOwned>(mut payload: Bytes) -> Result<(T, Bytes), DecodeError> {
    if payload.len() < 4 {
        return Err(DecodeError::Short);
    }
    let len = payload.get_u32() as usize;
    if payload.len() < len {
        return Err(DecodeError::Short);
    }
    let json = payload.split_to(len);
    Ok((serde_json::from_slice(&json)?, payload))
}

/// First frame from the executor that took a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    pub executor: String,
}

/// The upstream's status and (filtered, scrubbed) headers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseHead {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub content_length: Option<u64>,
}

/// Why a stream ended without completing: the HTTP status and stable code the agent gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamFailure {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl StreamFailure {
    /// A failure with `code`, answered with the code's status.
    pub fn new(code: Code, message: &str) -> Self {
        Self {
            status: code.status(),
            code: code.as_str().to_string(),
            message: message.to_string(),
        }
    }

    /// What the audit record says became of the request.
    pub fn outcome(&self) -> Outcome {
        Code::outcome_of(&self.code, self.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_round_trip() {
        let req = HttpExecRequest {
            request_id: RequestId::new(),
            token_id: TokenId::new(),
            target_id: TargetId::new(),
            method: "POST".into(),
            path: "/x".into(),
            query: Some("a=1".into()),
            headers: vec![("content-type".into(), "text/plain".into())],
            body: BodyMode::Inline,
            content_length: Some(3),
            approval_id: None,
            agent_confirmed: false,
        };
        let (back, body): (HttpExecRequest, _) = decode_open(encode_open(&req, b"abc").unwrap()).unwrap();
        assert_eq!(back.path, "/x");
        assert_eq!(&body[..], b"abc");
        assert!(decode_open::<HttpExecRequest>(Bytes::from_static(b"\x00\x00\x00\x09{}")).is_err());
    }
}
