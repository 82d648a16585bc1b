//! The agent HTTP transport (`ANY /gateway/<slug>/<path>`): path safety, admission, the guard
//! and approvals, then the request to an executor of the target's pool — its body inline or
//! pumped with flow control — and the answer streamed back to the agent with its audit record.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{BodyStream, SizedStream};
use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use shellgate_shared::audit::Outcome;
use shellgate_shared::bus::messages::{BodyMode, HttpExecRequest, ResponseHead, encode_open};
use shellgate_shared::bus::stream::{Frame, Sender, StreamError};
use shellgate_shared::error::Code;
use shellgate_shared::headers::{filter_request_headers, filter_response_headers};
use shellgate_shared::http_path::{check_path, check_query};
use shellgate_shared::ids::RequestId;
use shellgate_shared::states::TargetKind;

use crate::admit::{admit, admit_principal};
use crate::audit::{AuditDraft, AuditedBody};
use crate::auth::{Grant, Principal};
use crate::context::GatewayContext;
use crate::edge::REQUEST_ID_HEADER;
use crate::error::ApiError;
use crate::exec_stream::{Answer, BodyFrames, Opened, answer, frames_to_bytes, open_stream, stream_error, wait_answer};
use crate::gate::{ApprovalAsk, Gate, gate_http, held};
use shellgate_shared::approval::ApprovalView;
use shellgate_shared::ids::is_valid_slug;

/// Splits `/gateway/<slug>/<rest>` into the slug and the raw rest (`""` or `/…`).
fn split_target(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/gateway/")?;
    let (slug, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    is_valid_slug(slug).then_some((slug, tail))
}

fn content_length(req: &HttpRequest) -> Result<Option<u64>, ApiError> {
    match req.headers().get(header::CONTENT_LENGTH) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(Some)
            .ok_or(ApiError::BadRequest(
                Code::BadContentLength,
                "Content-Length is not a number",
            )),
    }
}

/// Everything the gateway decides before any bus traffic.
struct Prepared {
    open: HttpExecRequest,
    pool: String,
    principal: Arc<Principal>,
    grant: Grant,
}

async fn prepare(
    ctx: &GatewayContext,
    req: &HttpRequest,
    draft: &mut AuditDraft,
    request_id: RequestId,
) -> Result<Prepared, ApiError> {
    let (slug, raw_path) = split_target(req.uri().path()).ok_or(ApiError::TargetNotFound)?;
    // Path safety first, before anything else is looked at.
    check_path(raw_path).map_err(ApiError::UnsafePath)?;
    if let Some(q) = req.uri().query() {
        check_query(q).map_err(ApiError::UnsafePath)?;
    }
    let (principal, grant) = admit(ctx, req, slug, TargetKind::Http, draft).await?;
    let length = content_length(req)?;
    if length.is_some_and(|n| n > ctx.max_body_bytes) {
        return Err(ApiError::PayloadTooLarge(ctx.max_body_bytes));
    }
    let chunked = req.headers().contains_key(header::TRANSFER_ENCODING);
    let inline = match length {
        Some(n) => n <= ctx.inline_body_bytes as u64,
        None => !chunked,
    };
    let headers = req
        .headers()
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    Ok(Prepared {
        pool: grant.pool.clone(),
        principal: principal.clone(),
        grant: grant.clone(),
        open: HttpExecRequest {
            request_id,
            token_id: principal.token_id(),
            target_id: grant.target_id,
            method: req.method().to_string(),
            path: raw_path.to_string(),
            query: req.uri().query().map(str::to_string),
            headers: filter_request_headers(headers),
            body: if inline { BodyMode::Inline } else { BodyMode::Stream },
            content_length: length,
            approval_id: None,
            agent_confirmed: false,
        },
    })
}

/// Reads a small body whose Content-Length is known.
async fn read_inline(payload: &mut web::Payload, expected: Option<u64>) -> Result<Bytes, ApiError> {
    let mut buf = BytesMut::with_capacity(usize::try_from(expected.unwrap_or(0)).unwrap_or(0));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiError::BadRequest(Code::BadBody, "the request body could not be read"))?;
        buf.extend_from_slice(&chunk);
        if expected.is_some_and(|n| buf.len() as u64 > n) {
            return Err(ApiError::BadRequest(
                Code::BadBody,
                "the request body is longer than its Content-Length",
            ));
        }
    }
    Ok(buf.freeze())
}

/// The agent's request body, pumped to the executor with flow control on this worker thread.
struct BodyPump {
    bytes: Rc<Cell<u64>>,
    too_large: Rc<Cell<bool>>,
}

fn pump_body(mut payload: web::Payload, mut tx: Sender, max: u64) -> BodyPump {
    let bytes = Rc::new(Cell::new(0u64));
    let too_large = Rc::new(Cell::new(false));
    let (b, t) = (bytes.clone(), too_large.clone());
    actix_web::rt::spawn(async move {
        while let Some(chunk) = payload.next().await {
            let Ok(chunk) = chunk else {
                let f = shellgate_shared::bus::messages::StreamFailure::new(Code::BadBody, "request body aborted");
                let _ = tx.send(Frame::Error(f)).await;
                return;
            };
            b.set(b.get() + chunk.len() as u64);
            if b.get() > max {
                t.set(true);
                let f = shellgate_shared::bus::messages::StreamFailure::new(
                    Code::PayloadTooLarge,
                    "request body too large",
                );
                let _ = tx.send(Frame::Error(f)).await;
                return;
            }
            if tx.send_data(chunk).await.is_err() {
                return;
            }
        }
        let _ = tx.send(Frame::End).await;
    });
    BodyPump { bytes, too_large }
}

/// Forwards an agent request. Audits it, whatever happens.
pub async fn forward(
    ctx: Arc<GatewayContext>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let request_id = crate::edge::request_id(&req);
    let mut draft = AuditDraft::new(ctx.clone(), &req, request_id);
    match forward_inner(&ctx, &req, payload, &mut draft, request_id).await {
        Ok(Forwarded::Answer(answer, bytes_in)) => Ok(respond(&req, answer, draft, bytes_in, request_id)),
        Ok(Forwarded::Held(approval)) => {
            draft.finish(Outcome::ApprovalRequired, 202, None);
            Ok(held(&approval, request_id))
        }
        Err(e) => {
            draft.fail(&e);
            Err(e)
        }
    }
}

async fn forward_inner(
    ctx: &GatewayContext,
    req: &HttpRequest,
    mut payload: web::Payload,
    draft: &mut AuditDraft,
    request_id: RequestId,
) -> Result<Forwarded, ApiError> {
    let Prepared {
        mut open,
        pool,
        principal,
        grant,
    } = prepare(ctx, req, draft, request_id).await?;
    let ask = ApprovalAsk::from_headers(req, ctx.max_approval_wait);
    let gated = gate_http(
        ctx,
        &ask,
        &mut payload,
        &principal,
        &grant,
        &open,
        &mut draft.event.detail,
    )
    .await?;
    let inline = match (gated, open.body) {
        (Gate::Held { approval }, _) => return Ok(Forwarded::Held(approval)),
        // The gate read the body (to hash or inspect it): it travels inline.
        (
            Gate::Proceed {
                body: Some(body),
                approval_id,
                agent_confirmed,
            },
            _,
        ) => {
            open.approval_id = approval_id;
            open.agent_confirmed = agent_confirmed;
            open.body = BodyMode::Inline;
            open.content_length = Some(body.len() as u64);
            body
        }
        (Gate::Proceed { body: None, .. }, BodyMode::Inline) => read_inline(&mut payload, open.content_length).await?,
        (Gate::Proceed { body: None, .. }, BodyMode::Stream) => Bytes::new(),
    };
    let message =
        encode_open(&open, &inline).map_err(|_| ApiError::BadRequest(Code::BadRequest, "request cannot be encoded"))?;

    let Opened {
        frame,
        tx,
        rx,
        executor,
    } = open_stream(ctx, ctx.bus.subjects.exec_http(&pool), message).await?;
    draft.event.executor = executor;
    if !matches!(frame, Frame::Accepted(_)) {
        // A fast upstream: the executor answered before it needed to say it had accepted.
        if frame.is_terminal() {
            rx.acknowledge(1).await;
        }
        drop(tx);
        return answer(frame, rx).map(|a| Forwarded::Answer(a, Rc::new(Cell::new(inline.len() as u64))));
    }
    let bytes_in = match open.body {
        BodyMode::Inline => {
            drop(tx);
            Rc::new(Cell::new(inline.len() as u64))
        }
        BodyMode::Stream => {
            let pump = pump_body(payload, tx, ctx.max_body_bytes);
            if open.content_length.is_none() {
                // Chunked uploads are checked as they stream; the flag turns the answer into 413.
                let too_large = pump.too_large.clone();
                return match wait_answer(ctx, rx).await {
                    Err(_) if too_large.get() => Err(ApiError::PayloadTooLarge(ctx.max_body_bytes)),
                    other => other.map(|a| Forwarded::Answer(a, pump.bytes)),
                };
            }
            pump.bytes
        }
    };
    Ok(Forwarded::Answer(wait_answer(ctx, rx).await?, bytes_in))
}

/// How a forwarded request ended: the executor's answer, or held for a human.
pub enum Forwarded {
    Answer(Answer, Rc<Cell<u64>>),
    Held(Box<ApprovalView>),
}

fn respond(
    req: &HttpRequest,
    answer: Answer,
    mut draft: AuditDraft,
    bytes_in: Rc<Cell<u64>>,
    request_id: RequestId,
) -> HttpResponse {
    let (head, body): (ResponseHead, BodyFrames) = match answer {
        Answer::Streamed(head, rx) => (head, Box::pin(frames_to_bytes(*rx))),
        Answer::Whole(head, body) => (head, Box::pin(futures_util::stream::once(async move { Ok(body) }))),
    };
    let status = StatusCode::from_u16(head.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut builder = HttpResponse::build(status);
    for (name, value) in filter_response_headers(head.headers) {
        builder.append_header((name, value));
    }
    builder.insert_header((REQUEST_ID_HEADER, request_id.to_string()));
    draft.event.status = Some(head.status);
    draft.ctx.metrics.gateway.inflight_streams.inc();
    let body = AuditedBody {
        rx: body,
        draft: Some(draft),
        bytes_in,
        bytes_out: 0,
        expected_len: head.content_length,
        status: head.status,
    };
    let no_body =
        req.method() == Method::HEAD || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    match head.content_length {
        Some(n) if !no_body => builder.body(SizedStream::new(n, body)),
        _ => builder.body(BodyStream::new(body)),
    }
}

/// An agent HTTP request whose body is already in memory (an MCP tool's arguments): it takes the
/// path every request takes — path safety, admission, the gate, an executor — and answers
/// without touching actix's request types.
pub(crate) struct KnownRequest {
    pub slug: String,
    pub method: String,
    /// `""` or `/…`, as sent (percent-encoded).
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// How an in-memory request ended: the executor's answer, or held for a human.
pub(crate) enum Sent {
    Answer(Answer),
    Held(Box<ApprovalView>),
}

/// Chunks of a streamed in-memory body.
const KNOWN_CHUNK: usize = 64 * 1024;

pub(crate) async fn send_known(
    ctx: &GatewayContext,
    principal: &Principal,
    request: KnownRequest,
    ask: &ApprovalAsk,
    draft: &mut AuditDraft,
    request_id: RequestId,
) -> Result<Sent, ApiError> {
    check_path(&request.path).map_err(ApiError::UnsafePath)?;
    if let Some(q) = &request.query {
        check_query(q).map_err(ApiError::UnsafePath)?;
    }
    let grant = admit_principal(ctx, principal, &request.slug, TargetKind::Http, draft)?;
    let mut body = request.body;
    if body.len() as u64 > ctx.max_body_bytes {
        return Err(ApiError::PayloadTooLarge(ctx.max_body_bytes));
    }
    let mut open = HttpExecRequest {
        request_id,
        token_id: principal.token_id(),
        target_id: grant.target_id,
        method: request.method,
        path: request.path,
        query: request.query,
        headers: filter_request_headers(request.headers),
        body: BodyMode::Inline,
        content_length: Some(body.len() as u64),
        approval_id: None,
        agent_confirmed: false,
    };
    match gate_http(ctx, ask, &mut body, principal, &grant, &open, &mut draft.event.detail).await? {
        Gate::Held { approval } => return Ok(Sent::Held(approval)),
        Gate::Proceed {
            approval_id,
            agent_confirmed,
            ..
        } => {
            open.approval_id = approval_id;
            open.agent_confirmed = agent_confirmed;
        }
    }
    let inline = body.len() <= ctx.inline_body_bytes;
    if !inline {
        open.body = BodyMode::Stream;
    }
    let first = if inline { body.clone() } else { Bytes::new() };
    let message =
        encode_open(&open, &first).map_err(|_| ApiError::BadRequest(Code::BadRequest, "request cannot be encoded"))?;
    let Opened {
        frame,
        mut tx,
        rx,
        executor,
    } = open_stream(ctx, ctx.bus.subjects.exec_http(&grant.pool), message).await?;
    draft.event.executor = executor;
    draft.event.bytes_in = body.len() as u64;
    if !matches!(frame, Frame::Accepted(_)) {
        if frame.is_terminal() {
            rx.acknowledge(1).await;
        }
        return answer(frame, rx).map(Sent::Answer);
    }
    if !inline {
        tokio::spawn(async move {
            for chunk in body.chunks(KNOWN_CHUNK) {
                if tx.send_data(body.slice_ref(chunk)).await.is_err() {
                    return;
                }
            }
            let _ = tx.send(Frame::End).await;
        });
    }
    Ok(Sent::Answer(wait_answer(ctx, rx).await?))
}

/// An executor's answer read whole, up to `max` body bytes: (head, body, whether it was cut).
/// Cutting drops the stream, which stops the upstream transfer.
pub(crate) async fn read_answer(answer: Answer, max: usize) -> Result<(ResponseHead, Bytes, bool), ApiError> {
    let (head, mut rx) = match answer {
        Answer::Whole(head, body) if body.len() > max => return Ok((head, body.slice(..max), true)),
        Answer::Whole(head, body) => return Ok((head, body, false)),
        Answer::Streamed(head, rx) => (head, rx),
    };
    let mut buf = BytesMut::new();
    loop {
        match rx.next().await {
            Some(Ok(Frame::Data(b))) => {
                if buf.len() + b.len() > max {
                    let room = max - buf.len();
                    buf.extend_from_slice(&b[..room]);
                    return Ok((head, buf.freeze(), true));
                }
                buf.extend_from_slice(&b);
            }
            Some(Ok(Frame::End)) | None => return Ok((head, buf.freeze(), false)),
            Some(Ok(Frame::Error(f))) => return Err(ApiError::Upstream(f)),
            Some(Ok(_)) => return Err(stream_error(StreamError::Protocol("unexpected frame in a body".into()))),
            Some(Err(e)) => return Err(stream_error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split_target;

    #[test]
    fn splits_target_and_path() {
        assert_eq!(split_target("/gateway/api/v1/x"), Some(("api", "/v1/x")));
        assert_eq!(split_target("/gateway/api"), Some(("api", "")));
        assert_eq!(split_target("/gateway/api/"), Some(("api", "/")));
        assert_eq!(split_target("/gateway/API/x"), None);
        assert_eq!(split_target("/gateway/a%2fb/x"), None);
        assert_eq!(split_target("/gateway//x"), None);
    }
}
