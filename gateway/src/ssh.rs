//! `POST /ssh/:target/exec`: an agent's command, judged by the guard, run by an executor of the
//! target's pool over a pooled SSH connection, answered as one JSON document or streamed as
//! server-sent events. Audited whatever happens.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use serde_json::json;
use shellgate_shared::approval::canonical_ssh;
use shellgate_shared::audit::Outcome;
use shellgate_shared::bus::messages::{SSH_STDERR, SSH_STDOUT, SshExecRequest, SshExit, encode_open};
use shellgate_shared::bus::stream::{Frame, Receiver, StreamError};
use shellgate_shared::error::Code;
use shellgate_shared::guard::Verdict;
use shellgate_shared::ids::RequestId;
use shellgate_shared::ssh::{ExecBody, ExecSpec, remote_script};
use shellgate_shared::states::{AuditKind, TargetKind};

use crate::admit::admit;
use crate::audit::AuditDraft;
use crate::auth::{Grant, Principal};
use crate::context::GatewayContext;
use crate::edge::REQUEST_ID_HEADER;
use crate::error::ApiError;
use crate::exec_stream::{Opened, broken_stream_code, open_stream, stream_error};
use crate::gate::{ApprovalAsk, Approved, Bound, approve, held, read_bounded, record};

/// Commands (with their stdin) up to this size are guarded on the request's own thread.
const INLINE_GUARD_BYTES: usize = 8 * 1024;

/// Time an executor has after the command's timeout to report its end (signals, then close).
const EXIT_SLACK: Duration = Duration::from_secs(10);
/// A comment line on a silent event stream this often (keeps proxies and the client's
/// disconnect detection alive).
const SSE_KEEPALIVE: Duration = Duration::from_secs(2);

/// Runs an agent's command. Audits it, whatever happens.
pub async fn exec(
    ctx: Arc<GatewayContext>,
    req: HttpRequest,
    slug: String,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let request_id = crate::edge::request_id(&req);
    let mut draft = AuditDraft::new(ctx.clone(), &req, request_id);
    draft.event.kind = AuditKind::Ssh;
    draft.event.method = None;
    draft.event.path = None;
    match run(&ctx, &req, &slug, payload, &mut draft, request_id).await {
        Ok(Started::Held(approval)) => {
            draft.finish(Outcome::ApprovalRequired, 202, None);
            Ok(held(&approval, request_id))
        }
        Ok(Started::Running(rx, spec)) => {
            let rx = *rx;
            if wants_events(&req) {
                Ok(stream_events(rx, draft, request_id))
            } else {
                Ok(collect(rx, &spec, draft, request_id).await)
            }
        }
        Err(e) => {
            draft.fail(&e);
            Err(e)
        }
    }
}

pub(crate) enum Started {
    Running(Box<Receiver>, ExecSpec),
    Held(Box<shellgate_shared::approval::ApprovalView>),
}

fn wants_events(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"))
}

/// Authenticates, validates, judges and hands the command to an executor; returns once the
/// command runs on the server (or is held for a human, or refused).
async fn run(
    ctx: &GatewayContext,
    req: &HttpRequest,
    slug: &str,
    mut payload: web::Payload,
    draft: &mut AuditDraft,
    request_id: RequestId,
) -> Result<Started, ApiError> {
    let (principal, grant) = admit(ctx, req, slug, TargetKind::Ssh, draft).await?;
    let body = read_bounded(&mut payload, ctx.ssh.max_request_bytes, |max| {
        ApiError::PayloadTooLarge(max as u64)
    })
    .await?;
    let spec = exec_spec(ctx, &body)?;
    let ask = ApprovalAsk::from_headers(req, ctx.max_approval_wait);
    start(ctx, &principal, &grant, spec, &ask, draft, request_id).await
}

/// The command an exec body asks for, validated.
pub(crate) fn exec_spec(ctx: &GatewayContext, body: &[u8]) -> Result<ExecSpec, ApiError> {
    ExecBody::parse(body)
        .and_then(|b| b.validate(ctx.ssh.max_timeout_secs))
        .map_err(|e| ApiError::Invalid(e.code, e.message))
}

/// Judges an admitted command and hands it to an executor; returns once it runs on the server
/// (or is held for a human, or refused). Every entry (REST, MCP) starts commands here.
pub(crate) async fn start(
    ctx: &GatewayContext,
    principal: &Principal,
    grant: &Grant,
    spec: ExecSpec,
    ask: &ApprovalAsk,
    draft: &mut AuditDraft,
    request_id: RequestId,
) -> Result<Started, ApiError> {
    draft.event.bytes_in = spec.stdin.as_ref().map_or(0, |s| s.len() as u64);
    // The command exactly as the agent sent it (plus what else it asked for).
    let detail = json!({
        "command": spec.command,
        "env": spec.env.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
        "stdinBytes": draft.event.bytes_in,
        "timeoutMs": spec.timeout.as_millis() as u64,
    });
    // Added to what the entry put there (an MCP call's `via` and tool).
    match (&mut draft.event.detail, detail) {
        (serde_json::Value::Object(d), serde_json::Value::Object(more)) => d.extend(more),
        (d, more) => *d = more,
    }

    let guard = ctx
        .guard_cache
        .for_target(&ctx.db, grant.target_id)
        .await
        .map_err(|_| ApiError::Unavailable(Code::GuardUnavailable))?;
    let script = remote_script(&spec.command, &spec.env);
    let decision = if script.len() + spec.stdin.as_ref().map_or(0, String::len) <= INLINE_GUARD_BYTES {
        guard.check_ssh(&script, spec.stdin.as_deref())
    } else {
        // A long script takes milliseconds to analyse: off the request thread.
        let stdin = spec.stdin.clone();
        web::block(move || guard.check_ssh(&script, stdin.as_deref()))
            .await
            .map_err(|_| ApiError::Unavailable(Code::GuardUnavailable))?
    };
    record(ctx, TargetKind::Ssh, &mut draft.event.detail, &decision);
    let (approval_id, agent_confirmed) = match decision.verdict {
        Verdict::Allow => (None, false),
        // Nothing — no header, approval or token setting — makes a blocked command run.
        Verdict::Block | Verdict::Reject => return Err(ApiError::Blocked(decision.reason)),
        Verdict::Approve => {
            let (request, hash) = canonical_ssh(grant.binding(), &spec.command, &spec.env, spec.stdin.as_deref());
            let bound = Bound {
                kind: TargetKind::Ssh,
                request,
                hash,
                excerpt: spec
                    .stdin
                    .as_deref()
                    .and_then(|s| shellgate_shared::approval::excerpt(s.as_bytes())),
            };
            match approve(ctx, ask, principal, grant, &decision, bound, &mut draft.event.detail).await? {
                Approved::Run {
                    approval_id,
                    agent_confirmed,
                } => (approval_id, agent_confirmed),
                Approved::Held(approval) => return Ok(Started::Held(approval)),
            }
        }
    };

    let open = SshExecRequest {
        request_id,
        token_id: principal.token_id(),
        target_id: grant.target_id,
        command: spec.command.clone(),
        stdin: spec.stdin.clone(),
        env: spec.env.clone(),
        timeout_ms: u64::try_from(spec.timeout.as_millis()).unwrap_or(u64::MAX),
        approval_id,
        agent_confirmed,
    };
    let message =
        encode_open(&open, &[]).map_err(|_| ApiError::BadRequest(Code::BadRequest, "request cannot be encoded"))?;
    let Opened {
        frame,
        tx,
        mut rx,
        executor,
    } = open_stream(ctx, ctx.bus.subjects.exec_ssh(&grant.pool), message).await?;
    draft.event.executor = executor;
    drop(tx);
    if !matches!(frame, Frame::Accepted(_)) {
        return Err(unexpected(frame));
    }
    // The executor connects (or reuses a connection) and starts the command: `head`, or why not.
    match rx.next_within(ctx.ssh.connect_timeout + ctx.accept_timeout).await {
        Some(Ok(Frame::Head(_))) => Ok(Started::Running(Box::new(rx), spec)),
        Some(Ok(other)) => Err(unexpected(other)),
        Some(Err(e)) => Err(stream_error(e)),
        None => Err(ApiError::ExecutorLost),
    }
}

fn unexpected(frame: Frame) -> ApiError {
    match frame {
        Frame::Error(f) => ApiError::Upstream(f),
        _ => stream_error(StreamError::Protocol("unexpected frame".into())),
    }
}

/// Output as the agent gets it: text when it is UTF-8, base64 otherwise (never mangled).
fn encode_output(bytes: &[u8]) -> (&'static str, String) {
    match std::str::from_utf8(bytes) {
        Ok(s) => ("utf-8", s.to_string()),
        Err(_) => ("base64", base64::engine::general_purpose::STANDARD.encode(bytes)),
    }
}

fn exit_fields(exit: &SshExit) -> serde_json::Value {
    json!({
        "exitCode": exit.exit_code,
        "signal": exit.signal,
        "coreDumped": exit.core_dumped,
        "durationMs": exit.duration_ms,
        "timedOut": exit.timed_out,
        "truncated": exit.stdout_truncated || exit.stderr_truncated,
        "stdoutTruncated": exit.stdout_truncated,
        "stderrTruncated": exit.stderr_truncated,
        "stdoutBytes": exit.stdout_bytes,
        "stderrBytes": exit.stderr_bytes,
    })
}

/// How a command that started ended, for its audit record.
enum Ended<'a> {
    Exited(&'a SshExit),
    /// The agent closed its event stream (the command was cancelled).
    Disconnected,
    /// The stream failed with this code.
    Failed(&'a str),
}

/// Completes the audit record of a command that ran (or was cut off).
fn finish_audit(mut draft: AuditDraft, ended: Ended<'_>) {
    match ended {
        Ended::Exited(exit) => {
            draft.event.bytes_out = exit.stdout_bytes + exit.stderr_bytes;
            if let (serde_json::Value::Object(detail), serde_json::Value::Object(fields)) =
                (&mut draft.event.detail, exit_fields(exit))
            {
                detail.extend(fields);
                detail.insert("reusedConnection".into(), json!(exit.reused_connection));
            }
            if exit.timed_out {
                let code = Code::CommandTimeout;
                draft.finish(code.outcome(), code.status(), Some(code.as_str().into()));
            } else {
                draft.finish(Outcome::Allowed, 200, None);
            }
        }
        Ended::Disconnected => {
            let code = Code::ClientDisconnected;
            draft.finish(code.outcome(), 200, Some(code.as_str().into()));
        }
        // The event stream already answered 200: the record keeps the failure's code.
        Ended::Failed(code) => draft.finish(Outcome::Failed, 502, Some(code.to_string())),
    }
}

/// JSON mode: the whole output, then one answer (the seed's shape plus the extras).
async fn collect(rx: Receiver, spec: &ExecSpec, draft: AuditDraft, request_id: RequestId) -> HttpResponse {
    match collect_output(rx, spec, draft).await {
        Ok((timed_out, body)) => {
            let mut response = if timed_out {
                HttpResponse::GatewayTimeout()
            } else {
                HttpResponse::Ok()
            };
            response
                .insert_header((REQUEST_ID_HEADER, request_id.to_string()))
                .json(body)
        }
        Err(e) => actix_web::ResponseError::error_response(&e),
    }
}

/// Reads a running command's whole output into the exec answer (and whether it timed out), and
/// completes its audit record either way. Every entry (REST's JSON mode, MCP) ends commands here.
pub(crate) async fn collect_output(
    mut rx: Receiver,
    spec: &ExecSpec,
    draft: AuditDraft,
) -> Result<(bool, serde_json::Value), ApiError> {
    let (mut stdout, mut stderr) = (BytesMut::new(), BytesMut::new());
    let deadline = tokio::time::Instant::now() + spec.timeout + EXIT_SLACK;
    let exit = loop {
        let frame = match tokio::time::timeout_at(deadline, rx.next()).await {
            Err(_) => Err(ApiError::ExecutorTimeout),
            Ok(None) => Err(ApiError::ExecutorLost),
            Ok(Some(Err(e))) => Err(stream_error(e)),
            Ok(Some(Ok(f))) => Ok(f),
        };
        match frame {
            Ok(Frame::Data(b)) if b.first() == Some(&SSH_STDOUT) => stdout.extend_from_slice(&b[1..]),
            Ok(Frame::Data(b)) if b.first() == Some(&SSH_STDERR) => stderr.extend_from_slice(&b[1..]),
            Ok(Frame::Exit(exit)) => break exit,
            Ok(other) => {
                let e = unexpected(other);
                draft.fail(&e);
                return Err(e);
            }
            Err(e) => {
                draft.fail(&e);
                return Err(e);
            }
        }
    };
    let (stdout_encoding, stdout_text) = encode_output(&stdout);
    let (stderr_encoding, stderr_text) = encode_output(&stderr);
    let mut body = exit_fields(&exit);
    if let serde_json::Value::Object(map) = &mut body {
        map.insert("stdout".into(), json!(stdout_text));
        map.insert("stderr".into(), json!(stderr_text));
        map.insert("stdoutEncoding".into(), json!(stdout_encoding));
        map.insert("stderrEncoding".into(), json!(stderr_encoding));
        if exit.timed_out {
            map.insert("error".into(), json!(Code::CommandTimeout));
            map.insert(
                "message".into(),
                json!("the command did not finish within its timeout and was killed"),
            );
        }
    }
    finish_audit(draft, Ended::Exited(&exit));
    Ok((exit.timed_out, body))
}

/// Event-stream mode: `stdout` / `stderr` events as output arrives, then `exit` (or `error`).
/// The client closing the connection drops the stream, which cancels the remote command.
fn stream_events(rx: Receiver, draft: AuditDraft, request_id: RequestId) -> HttpResponse {
    let mut state = EventState {
        rx,
        draft: Some(draft),
        carry: [Vec::new(), Vec::new()],
        done: false,
    };
    // The events are read by a task of their own, so the response can send keepalive comments
    // while a command is silent: writing is how a closed client connection is noticed, and
    // when it is, the response (and with it `etx`) is dropped, the task ends and the executor
    // cancels the command.
    let (etx, erx) = tokio::sync::mpsc::channel::<Bytes>(16);
    actix_web::rt::spawn(async move {
        while !state.done {
            tokio::select! {
                ev = state.next_event() => {
                    if etx.send(ev).await.is_err() {
                        break;
                    }
                }
                () = etx.closed() => break,
            }
        }
    });
    let events = futures_util::stream::unfold(erx, |mut erx| async move {
        match tokio::time::timeout(SSE_KEEPALIVE, erx.recv()).await {
            Ok(Some(ev)) => Some((Ok::<_, std::convert::Infallible>(ev), erx)),
            Ok(None) => None,
            Err(_) => Some((Ok(Bytes::from_static(b": keepalive\n\n")), erx)),
        }
    });
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .insert_header((REQUEST_ID_HEADER, request_id.to_string()))
        .streaming(events)
}

struct EventState {
    rx: Receiver,
    draft: Option<AuditDraft>,
    /// An incomplete UTF-8 sequence at the end of the last chunk, per stream.
    carry: [Vec<u8>; 2],
    done: bool,
}

fn sse(event: &str, data: &serde_json::Value) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

/// Text of a chunk, holding back a UTF-8 sequence cut at its end for the next chunk; base64
/// when the bytes are not UTF-8 at all.
fn chunk_text(carry: &mut Vec<u8>, data: &[u8]) -> Option<(&'static str, String)> {
    let mut buf = std::mem::take(carry);
    buf.extend_from_slice(data);
    match std::str::from_utf8(&buf) {
        Ok(s) => (!s.is_empty()).then(|| ("utf-8", s.to_string())),
        Err(e) if e.error_len().is_none() && buf.len() - e.valid_up_to() < 4 => {
            *carry = buf.split_off(e.valid_up_to());
            let s = String::from_utf8(buf).unwrap_or_default();
            (!s.is_empty()).then_some(("utf-8", s))
        }
        Err(_) => Some(("base64", base64::engine::general_purpose::STANDARD.encode(&buf))),
    }
}

impl EventState {
    async fn next_event(&mut self) -> Bytes {
        loop {
            let frame = match self.rx.next().await {
                Some(Ok(f)) => f,
                Some(Err(e)) => {
                    return self.fail(broken_stream_code(&e).as_str(), "the executor stopped responding");
                }
                None => return self.fail(Code::ExecutorLost.as_str(), "the executor stopped responding"),
            };
            match frame {
                Frame::Data(b) if !b.is_empty() => {
                    let (idx, name) = match b[0] {
                        SSH_STDOUT => (0, "stdout"),
                        SSH_STDERR => (1, "stderr"),
                        _ => continue,
                    };
                    if let Some((encoding, text)) = chunk_text(&mut self.carry[idx], &b[1..]) {
                        return sse(name, &json!({"data": text, "encoding": encoding}));
                    }
                }
                Frame::Exit(exit) => {
                    self.done = true;
                    let mut out = BytesMut::new();
                    for (idx, name) in [(0, "stdout"), (1, "stderr")] {
                        let rest = std::mem::take(&mut self.carry[idx]);
                        if !rest.is_empty() {
                            let data = base64::engine::general_purpose::STANDARD.encode(&rest);
                            out.extend_from_slice(&sse(name, &json!({"data": data, "encoding": "base64"})));
                        }
                    }
                    out.extend_from_slice(&sse("exit", &exit_fields(&exit)));
                    if let Some(draft) = self.draft.take() {
                        finish_audit(draft, Ended::Exited(&exit));
                    }
                    return out.freeze();
                }
                Frame::Error(f) => return self.fail(&f.code.clone(), &f.message),
                _ => {}
            }
        }
    }

    fn fail(&mut self, code: &str, message: &str) -> Bytes {
        self.done = true;
        if let Some(draft) = self.draft.take() {
            finish_audit(draft, Ended::Failed(code));
        }
        sse("error", &json!({"error": code, "message": message}))
    }
}

impl Drop for EventState {
    fn drop(&mut self) {
        if let Some(draft) = self.draft.take() {
            finish_audit(draft, Ended::Disconnected);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_cut_between_chunks_is_rejoined() {
        let mut carry = Vec::new();
        let euro = "€".as_bytes();
        assert_eq!(chunk_text(&mut carry, &[b'a', euro[0]]), Some(("utf-8", "a".into())));
        assert_eq!(chunk_text(&mut carry, &euro[1..]), Some(("utf-8", "€".into())));
        assert!(carry.is_empty());
        assert_eq!(chunk_text(&mut carry, &[0xff, 0x00]).map(|c| c.0), Some("base64"));
    }
}
