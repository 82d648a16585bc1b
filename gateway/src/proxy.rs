//! Forwarding one agent request to an executor and streaming the answer back, with its audit
//! record. The protocol is described in docs/protocol.md.

use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use actix_web::body::{BodyStream, SizedStream};
use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use shellgate_shared::audit::{AuditEvent, Outcome};
use shellgate_shared::bus::messages::{BodyMode, HttpExecRequest, ResponseHead, encode_open};
use shellgate_shared::bus::stream::{FirstFrameError, Frame, Receiver, Sender, StreamError, first_frame, link};
use shellgate_shared::headers::{filter_request_headers, filter_response_headers};
use shellgate_shared::http_path::{check_path, check_query};
use shellgate_shared::ids::{AuditEventId, RequestId};
use shellgate_shared::metrics::{KindLabels, RequestLabels};
use time::OffsetDateTime;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::auth::{Grant, Principal, bearer};
use crate::context::GatewayContext;
use crate::error::ApiError;
use crate::guarding::{Gate, gate_http};
use shellgate_shared::approval::ApprovalView;

pub const REQUEST_ID_HEADER: &str = "x-shellgate-request-id";

/// What the audit record of one request accumulates.
pub struct AuditDraft {
    pub(crate) ctx: Arc<GatewayContext>,
    pub(crate) event: AuditEvent,
    started: Instant,
}

impl AuditDraft {
    pub fn new(ctx: Arc<GatewayContext>, req: &HttpRequest, request_id: RequestId) -> Self {
        Self {
            ctx,
            started: Instant::now(),
            event: AuditEvent {
                id: AuditEventId::new(),
                occurred_at: OffsetDateTime::now_utc(),
                request_id,
                kind: "http".into(),
                token_id: None,
                target_id: None,
                target_slug: None,
                method: Some(req.method().to_string()),
                path: Some(req.uri().to_string()),
                status: None,
                duration_ms: 0,
                bytes_in: 0,
                bytes_out: 0,
                client_ip: crate::edge::client_ip(req),
                executor: None,
                outcome: Outcome::Refused,
                error_code: None,
                detail: serde_json::Value::Null,
            },
        }
    }

    pub fn finish(mut self, outcome: Outcome, status: u16, error_code: Option<String>) {
        self.event.outcome = outcome;
        self.event.status = Some(status);
        self.event.error_code = error_code;
        self.event.duration_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let metrics = &self.ctx.metrics.gateway;
        // Only a resolved target's slug is a label: anything an agent types would be unbounded.
        let target = match (&self.event.target_id, &self.event.target_slug) {
            (Some(_), Some(slug)) => slug.clone(),
            _ => "unknown".to_string(),
        };
        metrics
            .requests
            .get_or_create(&RequestLabels {
                kind: self.event.kind.clone(),
                target,
                status,
                outcome: outcome.as_str().to_string(),
            })
            .inc();
        metrics
            .duration
            .get_or_create(&KindLabels {
                kind: self.event.kind.clone(),
            })
            .observe(self.started.elapsed().as_secs_f64());
        self.ctx.audit.publish(self.event);
    }

    pub fn fail(self, e: &ApiError) {
        let outcome = match e {
            ApiError::Blocked(_) => Outcome::Blocked,
            ApiError::Approval("approval_denied", _) => Outcome::Denied,
            e if e.is_refusal() => Outcome::Refused,
            _ => Outcome::Failed,
        };
        let status = actix_web::ResponseError::status_code(e).as_u16();
        self.finish(outcome, status, Some(e.code().to_string()));
    }
}

/// Splits `/gateway/<slug>/<rest>` into the slug and the raw rest (`""` or `/…`).
fn split_target(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/gateway/")?;
    let (slug, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let valid = !slug.is_empty()
        && slug.len() <= 63
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    valid.then_some((slug, tail))
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
                "bad_content_length",
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
    // A protocol upgrade would hand this handler the raw connection: refused at once.
    if req.headers().contains_key(header::UPGRADE) {
        return Err(ApiError::UpgradeNotSupported);
    }
    let (slug, raw_path) = split_target(req.uri().path()).ok_or(ApiError::TargetNotFound)?;
    check_path(raw_path).map_err(ApiError::UnsafePath)?;
    if let Some(q) = req.uri().query() {
        check_query(q).map_err(ApiError::UnsafePath)?;
    }
    draft.event.target_slug = Some(slug.to_string());
    let token = bearer(req)?;
    let principal = ctx.auth.authenticate(&ctx.db, &ctx.bus, token).await?;
    draft.event.token_id = Some(principal.token_id());
    let grant = principal.grant(slug)?;
    if grant.kind != "http" {
        return Err(ApiError::TargetNotFound);
    }
    draft.event.target_id = Some(grant.target_id);
    if !grant.enabled {
        return Err(ApiError::TargetDisabled);
    }
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
        let chunk = chunk.map_err(|_| ApiError::BadRequest("bad_body", "the request body could not be read"))?;
        buf.extend_from_slice(&chunk);
        if expected.is_some_and(|n| buf.len() as u64 > n) {
            return Err(ApiError::BadRequest(
                "bad_body",
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
                let f = shellgate_shared::bus::messages::StreamFailure::new(400, "bad_body", "request body aborted");
                let _ = tx.send(Frame::Error(f)).await;
                return;
            };
            b.set(b.get() + chunk.len() as u64);
            if b.get() > max {
                t.set(true);
                let f = shellgate_shared::bus::messages::StreamFailure::new(
                    413,
                    "payload_too_large",
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

pub(crate) fn stream_error(e: StreamError) -> ApiError {
    match e {
        StreamError::Idle => ApiError::ExecutorTimeout,
        other => {
            tracing::warn!(error = %other, "stream to executor failed");
            ApiError::ExecutorLost
        }
    }
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
    let gated = gate_http(
        ctx,
        req,
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
        encode_open(&open, &inline).map_err(|_| ApiError::BadRequest("bad_request", "request cannot be encoded"))?;

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

/// A stream to the executor that took a request, with its first frame.
pub(crate) struct Opened {
    pub frame: Frame,
    pub tx: Sender,
    pub rx: Receiver,
    /// The executor's id (for the audit record).
    pub executor: Option<String>,
}

/// Publishes an open message to the executors on `subject` and links a stream with the one
/// that answers: no executor → 503 at once (NATS no-responders), none in time → 504.
pub(crate) async fn open_stream(ctx: &GatewayContext, subject: String, message: Bytes) -> Result<Opened, ApiError> {
    let nats = ctx.bus.client.clone();
    let inbox = nats.new_inbox();
    let mut sub = nats.subscribe(inbox.clone()).await.map_err(|e| {
        tracing::error!(error = %e, "cannot subscribe stream inbox");
        ApiError::Unavailable("bus_unavailable")
    })?;
    let published = Instant::now();
    // The trace continues in the executor: W3C traceparent travels in the NATS headers.
    let mut headers = async_nats::HeaderMap::new();
    shellgate_shared::telemetry::inject(&tracing::Span::current().context(), &mut headers);
    nats.publish_with_reply_and_headers(subject, inbox.clone(), headers, message)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot publish to executors");
            ApiError::Unavailable("bus_unavailable")
        })?;
    let (frame, peer, origin) = first_frame(&mut sub, ctx.accept_timeout).await.map_err(|e| match e {
        FirstFrameError::NoResponders => ApiError::NoExecutor,
        FirstFrameError::Timeout => ApiError::ExecutorTimeout,
        FirstFrameError::Stream(e) => stream_error(e),
    })?;
    ctx.metrics
        .gateway
        .executor_first_frame
        .observe(published.elapsed().as_secs_f64());
    let executor = match &frame {
        Frame::Accepted(a) => Some(a.executor.clone()),
        _ => origin,
    };
    let (tx, rx) = link(nats, ctx.stream, sub, inbox.into(), peer, 1, 0);
    Ok(Opened {
        frame,
        tx,
        rx,
        executor,
    })
}

/// How a forwarded request ended: the executor's answer, or held for a human.
pub enum Forwarded {
    Answer(Answer, Rc<Cell<u64>>),
    Held(Box<ApprovalView>),
}

/// The 202 for a request that waits for a human (the seed's shape plus the approval's id,
/// expiry and where to poll).
pub(crate) fn held(approval: &ApprovalView, request_id: RequestId) -> HttpResponse {
    let expires_at = approval
        .expires_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    HttpResponse::Accepted()
        .insert_header((REQUEST_ID_HEADER, request_id.to_string()))
        .json(serde_json::json!({
            "status": "approval_required",
            "reason": approval.reason,
            "matched": approval.matched,
            "rule": approval.rule,
            "request": approval.request,
            "approval_id": approval.id,
            "expires_at": expires_at,
            "poll_url": format!("/approvals/{}", approval.id),
        }))
}

/// The executor's answer: a head followed by a streamed body, or a whole small response.
pub enum Answer {
    Streamed(ResponseHead, Box<Receiver>),
    Whole(ResponseHead, Bytes),
}

fn answer(frame: Frame, rx: Receiver) -> Result<Answer, ApiError> {
    match frame {
        Frame::Head(head) => Ok(Answer::Streamed(head, Box::new(rx))),
        Frame::Complete(head, body) => Ok(Answer::Whole(head, body)),
        Frame::Error(f) => Err(ApiError::Upstream(f)),
        Frame::Accepted(_) | Frame::Data(_) | Frame::End | Frame::Exit(_) => {
            Err(stream_error(StreamError::Protocol("expected a response head".into())))
        }
    }
}

async fn wait_answer(ctx: &GatewayContext, mut rx: Receiver) -> Result<Answer, ApiError> {
    match rx.next_within(ctx.head_timeout).await {
        Some(Ok(frame)) => answer(frame, rx),
        Some(Err(e)) => Err(stream_error(e)),
        None => Err(ApiError::ExecutorLost),
    }
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

#[derive(Debug, thiserror::Error)]
#[error("response stream ended early: {0}")]
pub struct ResponseAborted(String);

fn frames_to_bytes(rx: Receiver) -> impl Stream<Item = Result<Bytes, ResponseAborted>> {
    futures_util::stream::unfold(rx, |mut rx| async move {
        match rx.next().await {
            Some(Ok(Frame::Data(b))) => Some((Ok(b), rx)),
            Some(Ok(Frame::End)) | None => None,
            Some(Ok(Frame::Error(f))) => Some((Err(ResponseAborted(f.code)), rx)),
            Some(Ok(_)) => Some((Err(ResponseAborted("executor_protocol_error".into())), rx)),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "response stream from the executor failed");
                let code = match e {
                    StreamError::Idle => "executor_timeout",
                    _ => "executor_lost",
                };
                Some((Err(ResponseAborted(code.into())), rx))
            }
        }
    })
}

/// The body of a response as it comes from the executor.
type BodyFrames = Pin<Box<dyn Stream<Item = Result<Bytes, ResponseAborted>>>>;

/// The response body: counts bytes and writes the audit record when it ends — completed,
/// failed mid-stream, or dropped because the agent went away.
struct AuditedBody {
    rx: BodyFrames,
    draft: Option<AuditDraft>,
    bytes_in: Rc<Cell<u64>>,
    bytes_out: u64,
    /// The upstream's Content-Length: once that much went out the agent has the whole body,
    /// even if the server drops the stream before seeing its end.
    expected_len: Option<u64>,
    status: u16,
}

impl AuditedBody {
    fn finish(&mut self, outcome: Outcome, code: Option<String>) {
        if let Some(mut draft) = self.draft.take() {
            draft.ctx.metrics.gateway.inflight_streams.dec();
            draft.event.bytes_in = self.bytes_in.get();
            draft.event.bytes_out = self.bytes_out;
            draft.finish(outcome, self.status, code);
        }
    }
}

impl Stream for AuditedBody {
    type Item = Result<Bytes, ResponseAborted>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.rx.as_mut().poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(b))) => self.bytes_out += b.len() as u64,
            Poll::Ready(Some(Err(e))) => {
                tracing::warn!(error = %e, "response aborted");
                let code = e.0.clone();
                self.finish(Outcome::Failed, Some(code));
            }
            Poll::Ready(None) => self.finish(Outcome::Allowed, None),
            Poll::Pending => {}
        }
        polled
    }
}

impl Drop for AuditedBody {
    fn drop(&mut self) {
        if self.expected_len == Some(self.bytes_out) {
            self.finish(Outcome::Allowed, None);
        } else {
            self.finish(Outcome::Cancelled, Some("client_disconnected".into()));
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
